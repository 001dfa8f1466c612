//! The node's live feed: ONE pub/sub connection per node, whatever the number
//! of topics, driven by one task ([`Feed::run`]).
//!
//! * `publish` runs a script that appends the entry and announces it on the
//!   topic's channel with the id of the entry before it (`prev`).
//! * The node subscribes to a topic's channel while it has local subscribers
//!   for it ([`TopicReader`], one per followed topic, keeps `last_seen`). A
//!   notice whose `prev` is `last_seen` is delivered as it is, with no
//!   command; any other (a notice was missed, or the node just subscribed)
//!   makes the node read the stream after `last_seen` (`XRANGE`) instead, on
//!   the command connection, in order.
//! * When the pub/sub connection is lost, the task reconnects (with backoff),
//!   subscribes again to every followed topic, then reads each of them from
//!   its `last_seen`: nothing acknowledged is skipped.
//! * An idle topic costs no command: the node only listens. A `PING` every
//!   few seconds checks the connection (one per node, not per topic).
//!
//! Everything the task does is done in order, one thing at a time, so the
//! handling of a topic's notices, its catch-ups, its subscription and its
//! unsubscription never race each other.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use redis::streams::StreamRangeReply;
use redis::{AsyncConnectionConfig, PushInfo, PushKind};
use ssekit::hub::backplane::subscribe_after;
use ssekit::hub::Subscription;
use tokio::sync::{mpsc, oneshot, OnceCell};
use tokio::time::Instant;

use crate::backend::{Endpoint, FeedLink};
use crate::entry;
use crate::error::{refusal, within, Error};
use crate::hub::{lock, Inner, RedisHub};
use crate::id::StreamId;
use crate::pushes::{self, PushReceiver};

/// Entries read per `XRANGE` of a catch-up.
const READ_BATCH: usize = 512;
/// Topics caught up per pipeline after a reconnection.
const CATCH_UP_BATCH: usize = 256;
/// Channels per `SUBSCRIBE` / `UNSUBSCRIBE`.
const SUBSCRIBE_BATCH: usize = 1024;
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often an otherwise silent pub/sub connection is checked.
const PING_EVERY: Duration = Duration::from_secs(5);

/// One topic followed by this node.
pub(crate) struct TopicReader {
    /// Set once the node is subscribed to the topic and knows where its
    /// stream ends.
    started: OnceCell<()>,
    state: Mutex<ReaderState>,
}

#[derive(Default)]
struct ReaderState {
    /// The newest entry published to the local hub: the live feed of a
    /// subscriber joining now starts right after it.
    last_seen: StreamId,
    /// The node stopped following the topic; joiners must start anew.
    stopped: bool,
}

/// What the rest of the hub asks of the feed task.
pub(crate) enum Control {
    /// Follow a topic: subscribe to its channel and find where it ends.
    Follow(Follow),
    /// A local subscription to this topic ended (or was dropped before it
    /// joined): the next sweep checks whether the topic is still used.
    Left(String),
    /// The hub was shut down.
    Shutdown,
    /// Do nothing for this long (a test's way to make notices queue up).
    Stall(Duration),
}

pub(crate) struct Follow {
    topic: String,
    reader: Arc<TopicReader>,
    done: oneshot::Sender<Result<(), Error>>,
}

impl Follow {
    /// Answers the joiner, having let go of the reader first: a joiner that
    /// failed counts the handles left to know whether it may forget it.
    fn answer(self, result: Result<(), Error>) {
        let Follow { reader, done, .. } = self;
        drop(reader);
        let _ = done.send(result);
    }
}

impl TopicReader {
    /// Joins `topic` on this node: a local subscription receiving every entry
    /// after `after` from now on, and the id up to which entries were already
    /// published to the node's local hub (the subscriber's replay must cover
    /// up to it).
    pub(crate) async fn join(
        hub: &RedisHub,
        topic: &str,
        after: StreamId,
    ) -> Result<(Subscription, StreamId), Error> {
        loop {
            let reader = {
                let mut readers = lock(&hub.inner.readers);
                readers
                    .entry(topic.to_owned())
                    .or_insert_with(|| {
                        Arc::new(TopicReader {
                            started: OnceCell::new(),
                            state: Mutex::new(ReaderState::default()),
                        })
                    })
                    .clone()
            };
            let started = reader
                .started
                .get_or_try_init(|| reader.clone().start(hub, topic))
                .await;
            if let Err(error) = started {
                reader.forget_unstarted(hub, topic);
                return Err(error);
            }
            let state = lock(&reader.state);
            if state.stopped {
                continue;
            }
            // Registered under the state lock, which the feed task holds while
            // it publishes: no entry can fall between `last_seen` and the feed.
            let live = subscribe_after(&hub.inner.local, topic, after, &state.last_seen);
            return Ok((live, state.last_seen));
        }
    }

    /// After a failed start, takes this reader out of the map, unless another
    /// joiner holds it too (that one tries to start it in turn), so a topic
    /// nobody could join while Redis was away leaves nothing behind.
    fn forget_unstarted(self: &Arc<Self>, hub: &RedisHub, topic: &str) {
        let mut readers = lock(&hub.inner.readers);
        let listed = readers.get(topic).is_some_and(|r| Arc::ptr_eq(r, self));
        // Joiners take their handle under this lock: the map's and ours are
        // the only ones left when nobody else is trying.
        if listed && Arc::strong_count(self) == 2 && self.started.get().is_none() {
            readers.remove(topic);
        }
    }

    /// Asks the feed task to follow the topic, and waits until it does.
    async fn start(self: Arc<Self>, hub: &RedisHub, topic: &str) -> Result<(), Error> {
        let (done, started) = oneshot::channel();
        let follow = Follow {
            topic: topic.to_owned(),
            reader: self,
            done,
        };
        hub.inner
            .feed
            .send(Control::Follow(follow))
            .map_err(|_| Error::Shutdown)?;
        // A SUBSCRIBE and an XREVRANGE, each within the command timeout.
        let timeout = hub.inner.config.command_timeout * 2;
        match tokio::time::timeout(timeout, started).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Shutdown),
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }
}

/// The pub/sub connection and the pushes (messages, and the library's
/// disconnection notice) it receives, the messages in a bounded queue
/// (`pushes.rs`).
pub(crate) struct FeedConnection {
    connection: FeedLink,
    pushes: PushReceiver,
}

/// Opens the pub/sub connection and names it. It speaks RESP3, so one
/// multiplexed connection (per master, in a cluster) takes both the pushes
/// and the subscribing commands.
pub(crate) async fn connect_feed(
    endpoint: &Endpoint,
    name: &str,
    timeout: Duration,
    queue: usize,
) -> Result<FeedConnection, Error> {
    let (sender, pushes) = pushes::channel(queue);
    let mut connection = match endpoint {
        Endpoint::Single(client) => {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_push_sender(sender);
            let connected = within(
                timeout,
                client.get_multiplexed_async_connection_with_config(&config),
            )
            .await;
            match connected {
                Ok(connection) => FeedLink::Single(connection),
                Err(error) if error.is_unreachable() => {
                    let addr = client.get_connection_info().addr();
                    return Err(refusal(addr, timeout).await.unwrap_or(error));
                }
                Err(error) => return Err(error),
            }
        }
        Endpoint::Cluster(nodes) => {
            let client = Endpoint::cluster_client(nodes, timeout, Some(sender))?;
            FeedLink::Cluster(within(timeout, client.get_async_connection()).await?)
        }
    };
    connection.set_name(name, timeout).await?;
    Ok(FeedConnection { connection, pushes })
}

/// The feed task's state.
pub(crate) struct Feed {
    hub: Weak<Inner>,
    endpoint: Endpoint,
    name: String,
    control: mpsc::UnboundedReceiver<Control>,
    connection: Option<FeedConnection>,
    reconnect_at: Instant,
    backoff: Duration,
    /// The topics subscribed to, each with its reader.
    followed: HashMap<String, Arc<TopicReader>>,
    /// Followed topics that may have entries after `last_seen` not yet
    /// delivered (a catch-up failed, or the connection is down).
    behind: HashSet<String>,
    /// Topics that may have no local subscriber left: a subscription to
    /// them ended, or they were just followed (their joiner may never
    /// join). The sweep checks these only, so its cost follows the topics
    /// subscribers left, not the topics followed (100 000 idle followed
    /// topics cost it nothing).
    to_check: HashSet<String>,
    /// A cluster shard's connections were lost: the library's new ones have
    /// no name until the node names them again (at a sweep).
    unnamed: bool,
    /// A cluster shard's connections were lost: every followed topic is
    /// subscribed to again by the node itself once the shards answer (at a
    /// sweep), then read from its `last_seen`. The library subscribes again
    /// by itself too, but not always: after the whole cluster was killed
    /// and restarted, a topic's channel was sometimes left unsubscribed,
    /// its live events never coming.
    resubscribe: bool,
    /// Cluster topics this node just subscribed to, whose `ssubscribe`
    /// confirmation push has not been handled yet: that one is the node's
    /// own and needs no read (the join read where the stream ends), where a
    /// later one is the library subscribing again after a shard came back.
    /// At most one entry per followed topic.
    confirming: HashSet<String>,
}

enum Wake {
    Push(Option<PushInfo>),
    Control(Option<Control>),
    Sweep,
    Ping,
    Reconnect,
}

impl Feed {
    pub(crate) fn new(
        hub: Weak<Inner>,
        endpoint: Endpoint,
        name: String,
        control: mpsc::UnboundedReceiver<Control>,
        connection: FeedConnection,
    ) -> Self {
        Self {
            hub,
            endpoint,
            name,
            control,
            connection: Some(connection),
            reconnect_at: Instant::now(),
            backoff: MIN_BACKOFF,
            followed: HashMap::new(),
            behind: HashSet::new(),
            to_check: HashSet::new(),
            unnamed: false,
            resubscribe: false,
            confirming: HashSet::new(),
        }
    }

    /// Runs until the hub is shut down or dropped.
    pub(crate) async fn run(mut self, sweep_every: Duration) {
        let mut sweep = tokio::time::interval(sweep_every);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.reset();
        loop {
            let wake = match &mut self.connection {
                Some(connection) => tokio::select! {
                    push = connection.pushes.notices.recv() => Wake::Push(push),
                    push = connection.pushes.others.recv() => Wake::Push(push),
                    control = self.control.recv() => Wake::Control(control),
                    _ = sweep.tick() => Wake::Sweep,
                    _ = ping.tick() => Wake::Ping,
                },
                None => tokio::select! {
                    control = self.control.recv() => Wake::Control(control),
                    _ = sweep.tick() => Wake::Sweep,
                    _ = tokio::time::sleep_until(self.reconnect_at) => Wake::Reconnect,
                },
            };
            let Some(inner) = self.hub.upgrade() else {
                return;
            };
            if inner.shut_down.load(Ordering::Acquire) {
                self.stop_all(&inner);
                return;
            }
            match wake {
                Wake::Control(None | Some(Control::Shutdown)) => {
                    self.stop_all(&inner);
                    return;
                }
                Wake::Control(Some(Control::Follow(first))) => {
                    let mut batch = vec![first];
                    while batch.len() < SUBSCRIBE_BATCH {
                        match self.control.try_recv() {
                            Ok(Control::Follow(follow)) => batch.push(follow),
                            Ok(Control::Left(topic)) => {
                                self.to_check.insert(topic);
                            }
                            Ok(Control::Stall(pause)) => tokio::time::sleep(pause).await,
                            Ok(Control::Shutdown)
                            | Err(mpsc::error::TryRecvError::Disconnected) => {
                                self.stop_all(&inner);
                                return;
                            }
                            Err(mpsc::error::TryRecvError::Empty) => break,
                        }
                    }
                    self.follow(&inner, batch).await;
                }
                Wake::Control(Some(Control::Left(topic))) => {
                    self.to_check.insert(topic);
                }
                // Nothing comes on it again, in a cluster too: replaced.
                Wake::Push(None) => {
                    self.drop_connection(&inner, closed("the pub/sub connection closed"))
                }
                Wake::Push(Some(push)) => {
                    self.on_push(&inner, push).await;
                    self.catch_up_dropped(&inner).await;
                }
                Wake::Control(Some(Control::Stall(pause))) => tokio::time::sleep(pause).await,
                Wake::Sweep => {
                    self.sweep(&inner).await;
                    if self.unnamed {
                        self.name_again(&inner).await;
                    }
                    if self.resubscribe && !self.unnamed {
                        self.subscribe_again(&inner).await;
                    }
                    if self.connection.is_some() && !self.behind.is_empty() {
                        let behind = self.behind.iter().cloned().collect();
                        self.catch_up(&inner, behind).await;
                    }
                }
                Wake::Ping => self.ping(&inner).await,
                Wake::Reconnect => self.reconnect(&inner).await,
            }
        }
    }

    /// Subscribes to the channels of `batch`, then reads where each stream
    /// ends: an entry added in between comes both ways, and its notice is
    /// skipped (its id is not after `last_seen`).
    async fn follow(&mut self, inner: &Inner, batch: Vec<Follow>) {
        let mut new = Vec::with_capacity(batch.len());
        for follow in batch {
            let known = self
                .followed
                .get(&follow.topic)
                .is_some_and(|reader| Arc::ptr_eq(reader, &follow.reader));
            if known {
                follow.answer(Ok(()));
            } else {
                new.push(follow);
            }
        }
        if new.is_empty() {
            return;
        }
        let timeout = inner.config.command_timeout;
        let Some(connection) = &mut self.connection else {
            let cause = lock(&inner.feed_down)
                .as_ref()
                .map_or(Error::Timeout(timeout), Error::duplicate);
            for follow in new {
                follow.answer(Err(Error::Disconnected(Box::new(cause.duplicate()))));
            }
            return;
        };
        let keys: Vec<String> = new.iter().map(|f| inner.key(&f.topic)).collect();
        let subscribed = match connection.connection.subscribe(&keys, timeout).await {
            Ok(subscribed) => subscribed,
            Err(error) => {
                for follow in new {
                    follow.answer(Err(error.duplicate()));
                }
                self.lost(inner, error);
                return;
            }
        };
        // In a cluster, a shard that is down fails its own topics' joins.
        let (new, keys): (Vec<Follow>, Vec<String>) = new
            .into_iter()
            .zip(keys)
            .zip(subscribed)
            .filter_map(|(follow_key, subscribed)| match subscribed {
                Ok(()) => Some(follow_key),
                Err(error) => {
                    follow_key.0.answer(Err(error));
                    None
                }
            })
            .unzip();
        if new.is_empty() {
            return;
        }
        if connection.connection.is_cluster() {
            // Subscribed: the confirmations are already in the push queue,
            // ahead of any the library sends after a reconnection.
            self.confirming
                .extend(new.iter().map(|follow| follow.topic.clone()));
        }
        let ends = keys
            .iter()
            .map(|key| {
                let mut end = redis::cmd("XREVRANGE");
                end.arg(key).arg("+").arg("-").arg("COUNT").arg(1);
                end
            })
            .collect();
        let ends = match inner
            .commands
            .query_each::<StreamRangeReply>(ends, timeout)
            .await
        {
            Ok(ends) => ends,
            Err(error) => {
                let all = new
                    .into_iter()
                    .zip(keys)
                    .map(|(f, key)| (f, key, error.duplicate()));
                self.unfollow_failed(timeout, all.collect()).await;
                return;
            }
        };
        let mut failed = Vec::new();
        for ((follow, key), end) in new.into_iter().zip(keys).zip(ends) {
            // One key that is not a stream fails its own join only.
            let end = match end {
                Ok(end) => end,
                Err(error) => {
                    failed.push((follow, key, Error::Redis(error)));
                    continue;
                }
            };
            let last_seen = end
                .ids
                .first()
                .and_then(|entry| entry.id.parse().ok())
                .unwrap_or_default();
            lock(&follow.reader.state).last_seen = last_seen;
            if let Some(old) = self
                .followed
                .insert(follow.topic.clone(), follow.reader.clone())
            {
                lock(&old.state).stopped = true;
            }
            self.behind.remove(&follow.topic);
            self.to_check.insert(follow.topic.clone());
            follow.answer(Ok(()));
        }
        if !failed.is_empty() {
            self.unfollow_failed(timeout, failed).await;
        }
    }

    /// Answers joins that failed after their channels were subscribed to, and
    /// unsubscribes from those no other reader of the node follows.
    async fn unfollow_failed(&mut self, timeout: Duration, failed: Vec<(Follow, String, Error)>) {
        let unused: Vec<&String> = failed
            .iter()
            .filter(|(follow, _, _)| !self.followed.contains_key(&follow.topic))
            .map(|(_, key, _)| key)
            .collect();
        if let (Some(connection), false) = (&mut self.connection, unused.is_empty()) {
            let unused: Vec<String> = unused.into_iter().cloned().collect();
            let _ = connection.connection.unsubscribe(&unused, timeout).await;
        }
        for (follow, _, error) in failed {
            follow.answer(Err(error));
        }
    }

    async fn on_push(&mut self, inner: &Inner, push: PushInfo) {
        match push.kind {
            PushKind::Disconnection => {
                self.lost(inner, closed("the pub/sub connection was lost"));
            }
            // Sharded pub/sub (a cluster) delivers `smessage`s.
            PushKind::Message | PushKind::SMessage => {
                let mut data = push.data.into_iter();
                let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
                    return;
                };
                let (Ok(channel), Ok(payload)) = (
                    redis::from_redis_value::<String>(channel),
                    redis::from_redis_value::<Vec<u8>>(payload),
                ) else {
                    return;
                };
                self.on_message(inner, &channel, &payload).await;
            }
            // In a cluster, the library subscribes again by itself to the
            // channels of a shard it reconnected to (or whose slots moved),
            // and says so with an `ssubscribe` push; notices published while
            // the shard was away were lost, so the topic is read from its
            // `last_seen`, now that nothing more can be missed.
            PushKind::SSubscribe => {
                let Some(channel) = push.data.into_iter().next() else {
                    return;
                };
                let Ok(channel) = redis::from_redis_value::<String>(channel) else {
                    return;
                };
                let Some(topic) = channel.strip_prefix(&inner.config.key_prefix) else {
                    return;
                };
                if self.confirming.remove(topic) {
                    return;
                }
                if self.followed.contains_key(topic) {
                    let topic = topic.to_owned();
                    self.behind.insert(topic.clone());
                    self.catch_up(inner, vec![topic]).await;
                }
            }
            _ => {}
        }
    }

    /// Reads from the stream the topics whose notices found the queue full
    /// and were dropped.
    async fn catch_up_dropped(&mut self, inner: &Inner) {
        let Some(connection) = &self.connection else {
            return;
        };
        let topics: Vec<String> = connection
            .pushes
            .take_dropped()
            .into_iter()
            .filter_map(|channel| {
                let topic = channel.strip_prefix(&inner.config.key_prefix)?;
                self.followed.contains_key(topic).then(|| topic.to_owned())
            })
            .collect();
        if topics.is_empty() {
            return;
        }
        self.behind.extend(topics.iter().cloned());
        self.catch_up(inner, topics).await;
    }

    /// Delivers the notice's entry if it follows `last_seen`; otherwise reads
    /// the stream from `last_seen`.
    async fn on_message(&mut self, inner: &Inner, channel: &str, payload: &[u8]) {
        let Some(topic) = channel.strip_prefix(&inner.config.key_prefix) else {
            return;
        };
        let Some(reader) = self.followed.get(topic) else {
            return;
        };
        if let Some(notice) = entry::notice(payload) {
            let mut state = lock(&reader.state);
            if notice.id <= state.last_seen {
                return;
            }
            if notice.prev == state.last_seen {
                inner
                    .local
                    .publish(topic, entry::event(&notice.id_text, &notice.fields));
                state.last_seen = notice.id;
                drop(state);
                self.behind.remove(topic);
                return;
            }
        } else {
            tracing::warn!(
                topic,
                "not a notice of this crate on the topic's channel; reading the stream"
            );
        }
        let topic = topic.to_owned();
        self.behind.insert(topic.clone());
        self.catch_up(inner, vec![topic]).await;
    }

    /// Reads each topic's stream after its `last_seen` and delivers what is
    /// there, in order, pipelined across topics. A topic stays `behind` if it
    /// could not be read (retried at the next sweep).
    async fn catch_up(&mut self, inner: &Inner, mut topics: Vec<String>) {
        let timeout = inner.config.command_timeout;
        while !topics.is_empty() {
            let mut more = Vec::new();
            for chunk in topics.chunks(CATCH_UP_BATCH) {
                let readers: Vec<(&String, Arc<TopicReader>)> = chunk
                    .iter()
                    .filter_map(|topic| Some((topic, self.followed.get(topic)?.clone())))
                    .collect();
                let reads = readers
                    .iter()
                    .map(|(topic, reader)| {
                        let from = lock(&reader.state).last_seen;
                        let mut read = redis::cmd("XRANGE");
                        read.arg(inner.key(topic))
                            .arg(format!("({from}"))
                            .arg("+")
                            .arg("COUNT")
                            .arg(READ_BATCH);
                        read
                    })
                    .collect();
                let replies = inner
                    .commands
                    .query_each::<StreamRangeReply>(reads, timeout)
                    .await;
                let replies = match replies {
                    Ok(replies) => replies,
                    Err(error) => {
                        // Open streams stay up; `behind` is retried later.
                        tracing::warn!(%error, "reading from Redis failed; retrying");
                        return;
                    }
                };
                for ((topic, reader), reply) in readers.into_iter().zip(replies) {
                    let reply = match reply {
                        Ok(reply) => reply,
                        // A shard that is down (cluster): read again later.
                        Err(error) if Error::Redis(error.clone()).is_unreachable() => {
                            tracing::warn!(%error, topic, "reading from Redis failed; retrying");
                            continue;
                        }
                        Err(error) => {
                            // Not a stream (or not readable): nothing to
                            // deliver, and no use trying again and again.
                            tracing::warn!(%error, topic, "cannot read the topic's stream");
                            self.behind.remove(topic);
                            continue;
                        }
                    };
                    let full = reply.ids.len() >= READ_BATCH;
                    let mut state = lock(&reader.state);
                    for entry in reply.ids {
                        let Ok(id) = entry.id.parse::<StreamId>() else {
                            continue;
                        };
                        if id <= state.last_seen {
                            continue;
                        }
                        inner
                            .local
                            .publish(topic.as_str(), entry::event(&entry.id, &entry.map));
                        state.last_seen = id;
                    }
                    drop(state);
                    if full {
                        more.push(topic.clone());
                    } else {
                        self.behind.remove(topic);
                    }
                }
            }
            topics = more;
        }
    }

    /// Stops following the topics to check that have no local subscriber
    /// left (decided under the state lock that joiners take) and
    /// unsubscribes from them.
    async fn sweep(&mut self, inner: &Inner) {
        let mut unused = Vec::new();
        {
            let mut readers = lock(&inner.readers);
            for topic in std::mem::take(&mut self.to_check) {
                let Some(reader) = self.followed.get(&topic) else {
                    continue;
                };
                let mut state = lock(&reader.state);
                if state.stopped || inner.local.subscriber_count(&topic) == 0 {
                    state.stopped = true;
                    if readers.get(&topic).is_some_and(|r| Arc::ptr_eq(r, reader)) {
                        readers.remove(&topic);
                    }
                    drop(state);
                    unused.push(topic);
                }
            }
        }
        if unused.is_empty() {
            return;
        }
        for topic in &unused {
            self.followed.remove(topic);
            self.confirming.remove(topic);
            self.behind.remove(topic);
        }
        let Some(connection) = &mut self.connection else {
            return;
        };
        let timeout = inner.config.command_timeout;
        for chunk in unused.chunks(SUBSCRIBE_BATCH) {
            let keys: Vec<String> = chunk.iter().map(|topic| inner.key(topic)).collect();
            if let Err(error) = connection.connection.unsubscribe(&keys, timeout).await {
                self.lost(inner, error);
                return;
            }
        }
    }

    async fn ping(&mut self, inner: &Inner) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        let timeout = inner.config.command_timeout;
        if let Err(error) = connection.connection.ping(timeout).await {
            self.lost(inner, error);
        }
    }

    /// The connection is gone: every followed topic must be read from its
    /// `last_seen` once it is back.
    ///
    /// In a cluster, only some shard is: the connection stays, the library
    /// reconnects that shard and subscribes again by itself (each topic is
    /// then read from its `last_seen`, see the `ssubscribe` push), and the
    /// sweep retries reading every followed topic meanwhile. Which shard is
    /// not said, so all followed topics are read; those of the shards that
    /// are up find nothing new, with no notice lost.
    fn lost(&mut self, inner: &Inner, cause: Error) {
        if self
            .connection
            .as_ref()
            .is_some_and(|c| c.connection.is_cluster())
        {
            tracing::warn!(error = %cause, "a Redis Cluster shard's pub/sub connection is down");
            self.behind.extend(self.followed.keys().cloned());
            self.unnamed = true;
            self.resubscribe = true;
            return;
        }
        self.drop_connection(inner, cause);
    }

    /// Lets go of the pub/sub connection, to connect again (with backoff);
    /// every followed topic is read from its `last_seen` once it is back.
    fn drop_connection(&mut self, inner: &Inner, cause: Error) {
        if self.connection.take().is_some() {
            tracing::warn!(error = %cause, "the pub/sub connection to Redis is down; reconnecting");
            self.backoff = MIN_BACKOFF;
            self.reconnect_at = Instant::now();
        }
        *lock(&inner.feed_down) = Some(cause);
        self.behind.extend(self.followed.keys().cloned());
        // Its pushes went with it.
        self.confirming.clear();
    }

    /// Connects again, subscribes to every followed topic, then catches each
    /// of them up from its `last_seen`.
    async fn reconnect(&mut self, inner: &Inner) {
        let timeout = inner.config.command_timeout;
        let attempt = async {
            let mut connection =
                connect_feed(&self.endpoint, &self.name, timeout, inner.config.feed_queue).await?;
            let keys: Vec<String> = self.followed.keys().map(|t| inner.key(t)).collect();
            for chunk in keys.chunks(SUBSCRIBE_BATCH) {
                for subscribed in connection.connection.subscribe(chunk, timeout).await? {
                    subscribed?;
                }
            }
            Ok::<_, Error>(connection)
        };
        match attempt.await {
            Ok(connection) => {
                tracing::info!("the pub/sub connection to Redis is back");
                self.connection = Some(connection);
                *lock(&inner.feed_down) = None;
                // The command connection may have been reconnected too, which
                // loses its name: named again, best effort.
                let _ = inner
                    .commands
                    .set_name(&commands_name(&inner.node_id), timeout)
                    .await;
                let behind = self.behind.iter().cloned().collect();
                self.catch_up(inner, behind).await;
            }
            Err(error) => {
                tracing::debug!(%error, "reconnecting to Redis failed");
                *lock(&inner.feed_down) = Some(error);
                self.reconnect_at = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    /// Names both connections again on every master (`CLIENT SETNAME`), so
    /// `CLIENT LIST` still tells whose they are; tried at each sweep until
    /// every master takes it.
    async fn name_again(&mut self, inner: &Inner) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        let timeout = inner.config.command_timeout;
        let feed = connection.connection.set_name(&self.name, timeout).await;
        let commands = inner
            .commands
            .set_name(&commands_name(&inner.node_id), timeout)
            .await;
        self.unnamed = feed.is_err() || commands.is_err();
    }

    /// Subscribes to every followed topic again, in batches (an `ssubscribe`
    /// of a channel already subscribed to changes nothing but a
    /// confirmation), and reads each from its `last_seen`: what was
    /// published while its channel had no subscription is not lost. Tried at
    /// each sweep until every shard takes it.
    async fn subscribe_again(&mut self, inner: &Inner) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        let timeout = inner.config.command_timeout;
        let topics: Vec<String> = self.followed.keys().cloned().collect();
        for chunk in topics.chunks(SUBSCRIBE_BATCH) {
            let keys: Vec<String> = chunk.iter().map(|topic| inner.key(topic)).collect();
            let Ok(answers) = connection.connection.subscribe(&keys, timeout).await else {
                return;
            };
            for (topic, answer) in chunk.iter().zip(answers) {
                if answer.is_err() {
                    return;
                }
                // Its confirmation is this node's own: no read for it.
                self.confirming.insert(topic.clone());
            }
        }
        self.resubscribe = false;
        self.behind.extend(topics);
    }

    /// The hub is shut down: nothing is followed any more.
    fn stop_all(&mut self, inner: &Inner) {
        let mut readers = lock(&inner.readers);
        for reader in self.followed.values() {
            lock(&reader.state).stopped = true;
        }
        self.followed.clear();
        readers.clear();
    }
}

/// The name of a node's command connection (`CLIENT SETNAME`).
pub(crate) fn commands_name(node_id: &str) -> String {
    format!("ssekit:{node_id}:commands")
}

/// The name of a node's pub/sub connection (`CLIENT SETNAME`).
pub(crate) fn feed_name(node_id: &str) -> String {
    format!("ssekit:{node_id}:feed")
}

fn closed(what: &str) -> Error {
    Error::Redis(std::io::Error::new(std::io::ErrorKind::ConnectionReset, what.to_owned()).into())
}
