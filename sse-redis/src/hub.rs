//! The hub across processes: publish appends to a Redis Stream and announces
//! the entry on the topic's channel; each node follows (on one pub/sub
//! connection) the topics it has local subscribers for and fans them out
//! through a local `ssekit` hub.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use redis::aio::ConnectionManagerConfig;
use redis::Value;
use ssekit::hub::backplane::Joined;
use ssekit::hub::{Hub, HubConfig, IdMode};
use ssekit::{Event, Frame};

use crate::backend::{all_masters, Commands, Endpoint};
use crate::config::RedisHubConfig;
use crate::entry;
use crate::error::{within, Error};
use crate::id::StreamId;
use crate::reader::{
    commands_name, connect_feed, feed_name, Control, Feed, FeedConnection, TopicReader,
};
use crate::replay::{self, Range, Replay};
use crate::subscription::RedisSubscription;

/// Where a new subscription starts.
enum Resume {
    /// No `Last-Event-ID`: live events only.
    Live,
    /// An id this stream never issued.
    Unknown,
    /// After this entry.
    After(StreamId),
}

/// A broadcast hub shared by every process connected to the same Redis (or
/// the same Redis Cluster, with [`connect_cluster`](Self::connect_cluster)).
/// Cheap to clone.
///
/// * `publish` appends the event to the topic's stream (`XADD`) and
///   announces it on the topic's channel, in one script; its id is the entry
///   id, global per topic and ordered.
/// * Every node follows only the topics it has local subscribers for, all of
///   them on one pub/sub connection, decodes and encodes each entry once, and
///   shares the bytes among its subscribers.
/// * `subscribe` with a `Last-Event-ID` replays the entries after it from
///   Redis, then continues live, with no duplicate and no gap: the replay
///   range ends exactly where the node's live feed for the new subscriber
///   starts. The replay is read in pages of
///   [`with_replay_page`](RedisHubConfig::with_replay_page) entries, each
///   requested once the client has taken the previous one, so a resume
///   holds at most one page per connection however long the stream.
#[derive(Clone)]
pub struct RedisHub {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) node_id: String,
    pub(crate) commands: Commands,
    pub(crate) feed: tokio::sync::mpsc::UnboundedSender<Control>,
    /// Why the node's pub/sub connection is down, while it is.
    pub(crate) feed_down: Mutex<Option<Error>>,
    pub(crate) config: RedisHubConfig,
    pub(crate) gaps: HubConfig,
    /// `ssekit_backplane_*`, labelled `redis`.
    pub(crate) metrics: ssekit::hub::BackplaneMetrics,
    pub(crate) local: Hub,
    pub(crate) readers: Mutex<HashMap<String, Arc<TopicReader>>>,
    pub(crate) shut_down: AtomicBool,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RedisHub {
    /// Connects to Redis at `url` (e.g. `redis://127.0.0.1:6379`).
    ///
    /// Opens the node's two connections, whatever the number of topics: the
    /// pub/sub one (RESP3, whatever `url` asks) and a multiplexed command
    /// connection. Both reconnect by themselves after Redis restarts; while
    /// Redis is away, `publish` fails after the command timeout and new
    /// subscriptions end at once (their clients retry), while open streams
    /// stay up and carry on when Redis is back.
    ///
    /// When Redis refuses the node, the error says why: Redis's own answer
    /// (`NOAUTH`, `WRONGPASS`, ...) or, for a Redis at `maxclients`,
    /// [`Error::Refused`] with its `ERR max number of clients reached`.
    pub async fn connect(url: &str, config: RedisHubConfig) -> Result<Self, Error> {
        let client = redis::Client::open(url)?;
        let node_id = next_node_id();
        // The pub/sub connection speaks RESP3, so that one multiplexed
        // connection takes both the pushes and the commands that subscribe.
        let info = client.get_connection_info().clone();
        let resp3 = info.clone().set_redis_settings(
            info.redis_settings()
                .clone()
                .set_protocol(redis::ProtocolVersion::RESP3),
        );
        let endpoint = Endpoint::Single(redis::Client::open(resp3)?);
        // Opened first, in one attempt: if Redis refuses (max clients,
        // authentication), its answer is the error, not a timeout of retries.
        let feed_connection = connect_feed(
            &endpoint,
            &feed_name(&node_id),
            config.command_timeout,
            config.feed_queue,
        )
        .await?;
        let mut commands = within(
            config.command_timeout,
            client.get_connection_manager_with_config(manager_config(&config)),
        )
        .await?;
        // Named, and the publish script loaded, so that the first publishes
        // are not each answered NOSCRIPT and sent again, out of order.
        let mut setup = redis::pipe();
        setup
            .cmd("CLIENT")
            .arg("SETNAME")
            .arg(commands_name(&node_id))
            .ignore();
        setup.cmd("SCRIPT").arg("LOAD").arg(&*PUBLISH_LUA).ignore();
        within(
            config.command_timeout,
            setup.query_async::<()>(&mut commands),
        )
        .await?;
        Ok(Self::start(
            node_id,
            Commands::Single(commands),
            endpoint,
            feed_connection,
            config,
        ))
    }

    /// Connects to a Redis Cluster through some of its nodes (`urls`, e.g.
    /// `["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]`; the others are
    /// found from them, one is enough).
    ///
    /// The same hub as [`connect`](Self::connect), with the same guarantees,
    /// sharded: a topic's stream (`<prefix><topic>`) and its notices (sharded
    /// pub/sub, `SPUBLISH` on a channel named as the key) live on the master
    /// of the key's slot, so each publish is one script on one shard. The
    /// node holds two connections per master, whatever its number of topics:
    /// a command connection, and a RESP3 pub/sub connection on which it
    /// `SSUBSCRIBE`s each followed topic on its shard.
    ///
    /// A master that goes away fails the publishes and the new
    /// subscriptions of its slots (within the command timeout); the other
    /// shards carry on (if the cluster lets them: a cluster without replicas
    /// needs `cluster-require-full-coverage no`, or every master refuses
    /// while one is down), and so do open streams. The node reconnects to the
    /// master by itself, subscribes there again, and reads each of its
    /// topics from the last entry it delivered. Connection errors are those
    /// of the cluster client (for instance, all nodes refusing), not the
    /// reasons [`connect`](Self::connect) reads from a refusing Redis.
    pub async fn connect_cluster<I, S>(urls: I, config: RedisHubConfig) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        use redis::IntoConnectionInfo;
        let nodes = urls
            .into_iter()
            .map(|url| url.as_ref().into_connection_info())
            .collect::<Result<Vec<_>, _>>()?;
        let node_id = next_node_id();
        let timeout = config.command_timeout;
        let endpoint = Endpoint::Cluster(nodes.clone());
        let feed_connection =
            connect_feed(&endpoint, &feed_name(&node_id), timeout, config.feed_queue).await?;
        let client = Endpoint::cluster_client(&nodes, timeout, None)?;
        let mut connection = within(timeout, client.get_async_connection()).await?;
        // Each its own command, to every master (a cluster pipeline stays
        // within one slot): the script loaded, and the connections named.
        let mut load = redis::cmd("SCRIPT");
        load.arg("LOAD").arg(&*SPUBLISH_LUA);
        within(timeout, connection.route_command(load, all_masters())).await?;
        let commands = Commands::Cluster(connection);
        commands.set_name(&commands_name(&node_id), timeout).await?;
        Ok(Self::start(
            node_id,
            commands,
            endpoint,
            feed_connection,
            config,
        ))
    }

    fn start(
        node_id: String,
        commands: Commands,
        endpoint: Endpoint,
        feed_connection: FeedConnection,
        config: RedisHubConfig,
    ) -> Self {
        let local_config = HubConfig::default()
            .with_history(0)
            .with_ids(IdMode::Keep)
            .with_queue(config.queue)
            .with_lag_policy(config.lag_policy);
        let (feed, control) = tokio::sync::mpsc::unbounded_channel();
        let sweep_every = config.block;
        let inner = Arc::new(Inner {
            node_id,
            commands,
            feed,
            feed_down: Mutex::new(None),
            local: Hub::with_config(local_config.clone()),
            gaps: local_config,
            metrics: ssekit::hub::BackplaneMetrics::new("redis"),
            config,
            readers: Mutex::new(HashMap::new()),
            shut_down: AtomicBool::new(false),
        });
        let task = Feed::new(
            Arc::downgrade(&inner),
            endpoint,
            feed_name(&inner.node_id),
            control,
            feed_connection,
        );
        tokio::spawn(task.run(sweep_every));
        Self { inner }
    }

    /// This node's id (`<pid>-<counter>-<time>`, different for each hub of
    /// a process and, but for a clash of process id and millisecond, across
    /// machines): its connections are named
    /// `ssekit:<id>:commands` and `ssekit:<id>:feed` (`CLIENT SETNAME`), so
    /// `CLIENT LIST` tells which node holds which connection.
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// Appends `event` to `topic`'s stream and returns its id. Every node's
    /// subscribers of `topic` receive it. The event's own id, if any, is
    /// replaced by the stream entry id.
    ///
    /// Fails, rather than waits, when Redis does not answer within the
    /// command timeout: an `Ok` means Redis acknowledged the event.
    pub async fn publish(&self, topic: &str, event: Event) -> Result<String, Error> {
        let published = self.publish_to_redis(topic, event).await;
        self.inner.metrics.publish_outcome(&published);
        published
    }

    async fn publish_to_redis(&self, topic: &str, event: Event) -> Result<String, Error> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(Error::Shutdown);
        }
        let config = &self.inner.config;
        let script = match &self.inner.commands {
            Commands::Single(_) => &*PUBLISH,
            Commands::Cluster(_) => &*SPUBLISH,
        };
        let mut invocation = script.key(self.inner.key(topic));
        invocation.arg(config.max_len.map(|n| n.to_string()).unwrap_or_default());
        let min_id = config.max_age.map(|max_age| {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            format!("{}-0", now_ms.saturating_sub(max_age.as_millis()))
        });
        invocation.arg(min_id.unwrap_or_default());
        invocation.arg(
            config
                .idle_expiry
                .map(|idle| idle.as_millis().max(1).to_string())
                .unwrap_or_default(),
        );
        let fields = entry::fields(&event);
        if fields.is_empty() {
            // XADD needs a field; an entry without known fields is an id-only event.
            invocation.arg("_").arg("");
        }
        for (name, value) in fields {
            invocation.arg(name).arg(value);
        }
        let mut commands = self.inner.commands.clone();
        within(
            config.command_timeout,
            invocation.invoke_async::<String>(&mut commands),
        )
        .await
        .map_err(|error| self.inner.with_cause(error))
    }

    /// Subscribes to `topic` on this node, resuming after `last_event_id`
    /// (pass the publisher's [`last_event_id`](ssekit::SsePublisher::last_event_id)).
    /// The subscription is a source any adapter can publish; it starts talking
    /// to Redis when first polled, so the response head goes out at once.
    ///
    /// When the id cannot be resumed from exactly, a gap event comes first
    /// (as with [`ssekit::hub`]): `expired` if the stream was trimmed past it
    /// (then the whole remaining history follows), `unknown` if it is not an
    /// id of this stream (then live events follow). History trimmed away
    /// while the replay is read, past what was delivered, gives an `expired`
    /// gap there too, then what is left.
    ///
    /// The replay is read from Redis a page at a time
    /// ([`with_replay_page`](RedisHubConfig::with_replay_page) entries), the
    /// next page only once the client has taken the last frame of the previous
    /// one: a stalled client holds one page at most. A page that cannot be read
    /// ends the stream with an `Err`, as a failed start does.
    pub fn subscribe(&self, topic: &str, last_event_id: Option<&str>) -> RedisSubscription {
        let hub = self.clone();
        let topic = topic.to_owned();
        let last = last_event_id.map(str::to_owned);
        let leave = (self.inner.feed.clone(), topic.clone());
        RedisSubscription::new(
            async move {
                let started = hub.start_subscription(&topic, last.as_deref()).await;
                started.map_err(|error| hub.inner.with_cause(error))
            },
            leave,
        )
    }

    /// How many subscribers `topic` has on this node.
    pub fn local_subscriber_count(&self, topic: &str) -> usize {
        self.inner.local.subscriber_count(topic)
    }

    /// Makes the node's feed task do nothing for `pause`, so that notices
    /// queue up behind it. For tests of the feed queue's bound; not part of
    /// the stable API.
    #[doc(hidden)]
    pub fn stall_feed(&self, pause: Duration) {
        let _ = self.inner.feed.send(Control::Stall(pause));
    }

    /// Notices dropped so far because a node's feed queue was full, by every
    /// node in this process. For tests; not part of the stable API.
    #[doc(hidden)]
    pub fn dropped_notices() -> u64 {
        crate::pushes::dropped_notices()
    }

    /// How many topics this node is following now (subscribed to, or
    /// starting to).
    pub fn reading_topics(&self) -> usize {
        lock(&self.inner.readers).len()
    }

    /// Ends every local subscription and stops following topics (the
    /// pub/sub connection is closed), so a graceful
    /// server shutdown is not held up by open streams.
    pub fn shutdown(&self) {
        self.inner.shut_down.store(true, Ordering::Release);
        let _ = self.inner.feed.send(Control::Shutdown);
        self.inner.local.shutdown();
    }

    async fn start_subscription(
        &self,
        topic: &str,
        last_event_id: Option<&str>,
    ) -> Result<Joined<Range>, Error> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(Error::Shutdown);
        }
        // Classified before joining, so the live feed's filter is right: an id
        // past the end of the stream must not hide the events that follow.
        let resume = match last_event_id.map(str::parse::<StreamId>) {
            None => Resume::Live,
            Some(Err(())) => Resume::Unknown,
            Some(Ok(after)) => match self.stream_info(topic).await? {
                info if after > info.last_generated => Resume::Unknown,
                _ => Resume::After(after),
            },
        };
        let after = match resume {
            Resume::After(after) => after,
            Resume::Live | Resume::Unknown => StreamId::ZERO,
        };
        let (live, upper) = TopicReader::join(self, topic, after).await?;
        let replay = match resume {
            Resume::Live => Replay::ready(VecDeque::new()),
            Resume::Unknown => Replay::ready(VecDeque::from([self.gap("unknown")])),
            // Only the first page is read here; the rest as the client drains.
            Resume::After(after) => replay::start(self, topic, after, upper).await?,
        };
        Ok(Joined {
            replay,
            live,
            guard: (),
        })
    }

    async fn stream_info(&self, topic: &str) -> Result<StreamInfo, Error> {
        let mut commands = self.inner.commands.clone();
        let mut xinfo = redis::cmd("XINFO");
        xinfo.arg("STREAM").arg(self.inner.key(topic));
        let info = xinfo.query_async::<Value>(&mut commands);
        StreamInfo::or_empty(within(self.inner.config.command_timeout, info).await)
    }

    pub(crate) fn gap(&self, reason: &str) -> Frame {
        self.inner.gaps.gap_notice(reason, None).encode()
    }
}

impl Inner {
    /// A command that could not reach Redis, with why the node cannot
    /// connect to it, if it knows.
    pub(crate) fn with_cause(&self, error: Error) -> Error {
        if !error.is_unreachable() {
            return error;
        }
        match lock(&self.feed_down).as_ref() {
            // A timeout says no more than the error itself.
            Some(cause) if !matches!(cause, Error::Timeout(_)) => Error::Unreachable {
                error: Box::new(error),
                cause: Box::new(cause.duplicate()),
            },
            _ => error,
        }
    }

    pub(crate) fn key(&self, topic: &str) -> String {
        format!("{}{topic}", self.config.key_prefix)
    }
}

fn manager_config(config: &RedisHubConfig) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.command_timeout))
        .set_response_timeout(Some(config.command_timeout))
        .set_max_delay(std::time::Duration::from_secs(2))
}

/// A node id: the process id, a counter, and the time it was made (in
/// milliseconds, base 36), so that nodes on different machines whose
/// processes have the same id still differ.
fn next_node_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut time = Vec::new();
    while millis > 0 {
        time.push(char::from_digit((millis % 36) as u32, 36).unwrap_or('0'));
        millis /= 36;
    }
    let time: String = time.into_iter().rev().collect();
    format!(
        "{}-{}-{time}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The publish script, atomic: reads the stream's newest id (`prev`), appends
/// the entry (`XADD`, trimmed to `MAXLEN ~`), trims by age (`XTRIM MINID ~`),
/// sets the key's idle expiry (`PEXPIRE`), and announces the entry on the
/// topic's channel (named as the key) with `prev`, so a node that saw `prev`
/// last knows it missed nothing. Returns the new id.
///
/// `KEYS[1]` the stream; `ARGV[1]` max length, `ARGV[2]` min id, `ARGV[3]`
/// expiry in ms (each empty for none); then the fields, name and value.
static PUBLISH: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(&PUBLISH_LUA));

/// The same for a Redis Cluster: the notice goes out with `SPUBLISH`, on the
/// shard of the key (the channel has the key's name, so the key's slot).
static SPUBLISH: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(&SPUBLISH_LUA));

static PUBLISH_LUA: LazyLock<String> = LazyLock::new(|| SCRIPT.replace("$PUBLISH", "PUBLISH"));
static SPUBLISH_LUA: LazyLock<String> = LazyLock::new(|| SCRIPT.replace("$PUBLISH", "SPUBLISH"));

const SCRIPT: &str = r#"
local key = KEYS[1]
local newest = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
local prev = '0-0'
if newest[1] then prev = newest[1][1] end
local xadd = {'XADD', key}
if ARGV[1] ~= '' then
  xadd[#xadd + 1] = 'MAXLEN'
  xadd[#xadd + 1] = '~'
  xadd[#xadd + 1] = ARGV[1]
end
xadd[#xadd + 1] = '*'
for i = 4, #ARGV do xadd[#xadd + 1] = ARGV[i] end
local id = redis.call(unpack(xadd))
if ARGV[2] ~= '' then redis.call('XTRIM', key, 'MINID', '~', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('PEXPIRE', key, ARGV[3]) end
local notice = {#prev, ':', prev, #id, ':', id}
for i = 4, #ARGV do
  notice[#notice + 1] = #ARGV[i]
  notice[#notice + 1] = ':'
  notice[#notice + 1] = ARGV[i]
end
redis.call('$PUBLISH', key, table.concat(notice))
return id
"#;

/// The parts of `XINFO STREAM` resume needs.
#[derive(Default)]
pub(crate) struct StreamInfo {
    pub(crate) length: usize,
    pub(crate) entries_added: u64,
    pub(crate) last_generated: StreamId,
    pub(crate) first_entry: Option<StreamId>,
}

impl StreamInfo {
    /// A missing key is a stream that never had an entry.
    pub(crate) fn or_empty(reply: Result<Value, Error>) -> Result<Self, Error> {
        match reply {
            Ok(value) => Ok(Self::parse(value)),
            Err(Error::Redis(error)) if error.to_string().contains("no such key") => {
                Ok(Self::default())
            }
            Err(error) => Err(error),
        }
    }

    fn parse(value: Value) -> Self {
        let mut info = StreamInfo::default();
        let pairs: Vec<(Value, Value)> = match value {
            Value::Map(pairs) => pairs,
            Value::Array(items) => {
                let mut items = items.into_iter();
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    pairs.push((k, v));
                }
                pairs
            }
            _ => return info,
        };
        for (name, value) in pairs {
            let Ok(name) = redis::from_redis_value::<String>(name) else {
                continue;
            };
            match name.as_str() {
                "length" => info.length = redis::from_redis_value(value).unwrap_or(0),
                "entries-added" => info.entries_added = redis::from_redis_value(value).unwrap_or(0),
                "last-generated-id" => {
                    info.last_generated = redis::from_redis_value::<String>(value)
                        .ok()
                        .and_then(|id| id.parse().ok())
                        .unwrap_or_default()
                }
                "first-entry" => {
                    info.first_entry = match value {
                        Value::Array(entry) => entry
                            .into_iter()
                            .next()
                            .and_then(|id| redis::from_redis_value::<String>(id).ok())
                            .and_then(|id| id.parse().ok()),
                        _ => None,
                    }
                }
                _ => {}
            }
        }
        info
    }
}

/// The same handlers and publishing code as with the in-process
/// [`Hub`](ssekit::hub::Hub) or `ssekit_nats::NatsHub`.
impl ssekit::hub::Broadcaster for RedisHub {
    type Subscription = RedisSubscription;
    type Error = Error;

    /// [`RedisHub::publish`]: resolves once Redis acknowledged the event.
    fn publish(
        &self,
        topic: &str,
        event: Event,
    ) -> impl std::future::Future<Output = Result<String, Error>> + Send {
        RedisHub::publish(self, topic, event)
    }

    fn subscribe(&self, topic: &str, last_event_id: Option<&str>) -> RedisSubscription {
        RedisHub::subscribe(self, topic, last_event_id)
    }

    fn local_subscriber_count(&self, topic: &str) -> usize {
        RedisHub::local_subscriber_count(self, topic)
    }

    /// The stream's `last-generated-id` (`XINFO STREAM`, on the key's node
    /// in a cluster), or `0-0` for a stream that does not exist: resuming
    /// after it replays every later entry, even one added by a node that
    /// made the key anew.
    fn head(
        &self,
        topic: &str,
    ) -> impl std::future::Future<Output = Result<Option<String>, Error>> + Send {
        let hub = self.clone();
        let topic = topic.to_owned();
        async move {
            let info = hub.stream_info(&topic).await;
            let info = info.map_err(|error| hub.inner.with_cause(error))?;
            Ok(Some(info.last_generated.to_string()))
        }
    }

    /// 41: `u64::MAX-u64::MAX`.
    fn max_id_len(&self) -> Option<usize> {
        Some(41)
    }

    fn shutdown(&self) {
        RedisHub::shutdown(self);
    }
}
