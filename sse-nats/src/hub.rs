//! The hub across processes: publish stores the event in a JetStream
//! stream; each node follows the subjects of the topics it has local
//! subscribers for and fans them out through a local `ssekit` hub.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_nats::jetstream::context::{CreateStreamErrorKind, PublishErrorKind};
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::{self, stream};
use ssekit::hub::{Hub, HubConfig, IdMode};
use ssekit::{Event, Frame};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::config::NatsHubConfig;
use crate::error::{within, Error};
use crate::message;
use crate::reader::{TopicReader, CATCH_UPS, STARTS};
use crate::replay::{self, Replay};
use crate::subject::{live_subject, topic_subject, LIVE};
use crate::subscription::{Leave, NatsSubscription, Started};

/// Where a new subscription starts.
enum Resume {
    /// No `Last-Event-ID`: live events only.
    Live,
    /// An id this stream never issued.
    Unknown,
    /// After this stream sequence (0: from the start of the history).
    After(u64),
}

/// A broadcast hub shared by every process connected to the same NATS
/// (JetStream) server or cluster. Cheap to clone.
///
/// * `publish` stores the event in the stream, on the topic's subject, and
///   waits for the PubAck; its id is the stream sequence, global per stream
///   and increasing.
/// * Every node follows (with one core NATS subscription to the subject the
///   stream republishes the topic's events to) only the topics it has local subscribers for,
///   decodes and encodes each event once, and shares the bytes among its
///   subscribers. All of it goes over the node's one NATS connection.
/// * `subscribe` with a `Last-Event-ID` replays the topic's events after it
///   from the stream, then continues live, with no duplicate and no gap: the
///   replay ends exactly where the node's live feed for the new subscriber
///   starts. The replay is read in pages of
///   [`with_replay_page`](NatsHubConfig::with_replay_page) events, each
///   requested once the client has taken the previous one, so a resume holds
///   at most one page per connection however long the stream.
#[derive(Clone)]
pub struct NatsHub {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) client: async_nats::Client,
    pub(crate) jetstream: jetstream::Context,
    /// The stream, for direct message gets (no request to make it).
    pub(crate) stream: stream::Stream<()>,
    /// Bumped once the client is connected again (and when it reports a
    /// notice dropped for a full subscription buffer): every reader then
    /// reads its topic from the stream after its last event.
    pub(crate) epoch: watch::Sender<u64>,
    /// Readers catching up at once.
    pub(crate) catch_ups: Semaphore,
    /// Readers starting at once.
    pub(crate) starts: Semaphore,
    pub(crate) config: NatsHubConfig,
    pub(crate) gaps: HubConfig,
    /// `ssekit_backplane_*`, labelled `nats`.
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

impl NatsHub {
    /// Connects to NATS at `url` (e.g. `nats://127.0.0.1:4222`) and creates
    /// the stream, or updates its subjects and limits to `config` (so the
    /// last node to connect sets them: give every node the same config).
    /// The stream republishes every event to `_SSE_LIVE.<prefix>.>`, the
    /// live feed of the nodes; a stream that exists without that setting
    /// (made by an earlier version of this crate) cannot get it on
    /// nats-server 2.9 and fails with [`Error::IncompatibleStream`].
    ///
    /// The client reconnects by itself after NATS restarts; while NATS is
    /// away, `publish` fails at once (or after the request timeout) and new
    /// subscriptions end with an error (their clients retry), while open
    /// streams stay up and carry on from the last event they delivered when
    /// NATS is back.
    pub async fn connect(url: &str, config: NatsHubConfig) -> Result<Self, Error> {
        let timeout = config.request_timeout;
        // The client's events, coalesced: one pending "read everything again"
        // is enough however many reconnections or drops it stands for.
        let (resync, resyncs) = mpsc::channel(1);
        let client = within(
            timeout,
            async_nats::ConnectOptions::new()
                .connection_timeout(timeout)
                .request_timeout(Some(timeout))
                // The liveness of the one connection: every topic relies on it.
                .ping_interval(config.heartbeat)
                .event_callback(move |event| {
                    let resync = resync.clone();
                    async move {
                        if matches!(
                            event,
                            async_nats::Event::Connected | async_nats::Event::SlowConsumer(_)
                        ) {
                            let _ = resync.try_send(());
                        }
                    }
                })
                .max_reconnects(None)
                .reconnect_delay_callback(|attempts| {
                    let step = Duration::from_millis(100) * 2u32.saturating_pow(attempts as u32);
                    step.min(Duration::from_secs(2))
                })
                .connect(url),
        )
        .await?;
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(timeout)
            .build(client.clone());
        let created = tokio::time::timeout(
            timeout,
            jetstream.create_or_update_stream(stream_config(&config)),
        )
        .await
        .map_err(|_| Error::Timeout(timeout))?;
        match created {
            Ok(_) => {}
            // nats-server 2.9 refuses to add or change `RePublish` on an
            // existing stream (error 10052), e.g. one made by an older
            // version of this crate, which followed topics with consumers.
            Err(error)
                if matches!(
                    error.kind(),
                    CreateStreamErrorKind::JetStream(ref js)
                        if js.error_code() == ErrorCode::STREAM_INVALID_CONFIG
                            && js.to_string().contains("RePublish")
                ) =>
            {
                return Err(Error::IncompatibleStream(config.stream.clone()));
            }
            Err(error) => return Err(Error::Nats(error.into())),
        }
        let stream = within(timeout, jetstream.get_stream_no_info(&config.stream)).await?;
        let local_config = HubConfig::default()
            .with_history(0)
            .with_ids(IdMode::Keep)
            .with_queue(config.queue)
            .with_lag_policy(config.lag_policy);
        let hub = Self {
            inner: Arc::new(Inner {
                client,
                jetstream,
                stream,
                epoch: watch::channel(0).0,
                catch_ups: Semaphore::new(CATCH_UPS),
                starts: Semaphore::new(STARTS),
                local: Hub::with_config(local_config.clone()),
                gaps: local_config,
                metrics: ssekit::hub::BackplaneMetrics::new("nats"),
                config,
                readers: Mutex::new(HashMap::new()),
                shut_down: AtomicBool::new(false),
            }),
        };
        tokio::spawn(resync_on_reconnect(Arc::downgrade(&hub.inner), resyncs));
        Ok(hub)
    }

    /// Stores `event` in the stream on `topic`'s subject and returns its id
    /// (the stream sequence, in decimal). Every node's subscribers of `topic`
    /// receive it. The event's own id, if any, is replaced.
    ///
    /// An `Ok` means JetStream acknowledged (stored) the event. Fails fast
    /// rather than waits: [`Error::Disconnected`] at once while the client is
    /// reconnecting (nothing is sent), [`Error::Timeout`] when no PubAck comes
    /// within the request timeout (the event may then still have been
    /// stored, as with any timed-out write). An event larger than the
    /// server's `max_payload` (1 MiB by default) is refused with
    /// [`Error::Nats`].
    pub async fn publish(&self, topic: &str, event: Event) -> Result<String, Error> {
        let published = self.publish_to_jetstream(topic, event).await;
        self.inner.metrics.publish_outcome(&published);
        published
    }

    async fn publish_to_jetstream(&self, topic: &str, event: Event) -> Result<String, Error> {
        let inner = &self.inner;
        if inner.shut_down.load(Ordering::Acquire) {
            return Err(Error::Shutdown);
        }
        if inner.client.connection_state() != async_nats::connection::State::Connected {
            return Err(Error::Disconnected);
        }
        let (headers, payload) = message::encode(&event);
        let subject = inner.subject(topic);
        let timeout = inner.config.request_timeout;
        let acknowledged = tokio::time::timeout(timeout, async {
            let ack = inner
                .jetstream
                .publish_with_headers(subject, headers, payload)
                .await?;
            ack.await
        })
        .await;
        match acknowledged {
            Ok(Ok(ack)) => Ok(ack.sequence.to_string()),
            // The context's own ack deadline (the same timeout) is a timeout too.
            Ok(Err(error)) if error.kind() == PublishErrorKind::TimedOut => {
                Err(Error::Timeout(timeout))
            }
            Ok(Err(error)) => Err(Error::Nats(error.into())),
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }

    /// Subscribes to `topic` on this node, resuming after `last_event_id`
    /// (pass the publisher's [`last_event_id`](ssekit::SsePublisher::last_event_id)).
    /// The subscription is a source any adapter can publish; it starts talking
    /// to NATS when first polled, so the response head goes out at once.
    ///
    /// `last_event_id` is a stream sequence in decimal (`0` resumes from the
    /// start of the kept history). When it cannot be resumed from exactly, a
    /// gap event comes first (as with [`ssekit::hub`]): `expired` if the
    /// stream dropped events of the topic after it (then the whole remaining
    /// history follows), `unknown` if it is not a sequence this stream issued
    /// (then live events follow). Events dropped while the replay is read,
    /// past what was delivered, give an `expired` gap there too.
    ///
    /// The replay is read a page at a time
    /// ([`with_replay_page`](NatsHubConfig::with_replay_page) events), the
    /// next page only once the client has taken the last frame of the previous
    /// one: a stalled client holds one page at most. A page that cannot be
    /// read ends the stream with an `Err`, as a failed start does.
    pub fn subscribe(&self, topic: &str, last_event_id: Option<&str>) -> NatsSubscription {
        let hub = self.clone();
        let topic = topic.to_owned();
        let last = last_event_id.map(str::to_owned);
        NatsSubscription::new(async move { hub.start_subscription(&topic, last.as_deref()).await })
    }

    /// How many subscribers `topic` has on this node.
    pub fn local_subscriber_count(&self, topic: &str) -> usize {
        self.inner.local.subscriber_count(topic)
    }

    /// How many topics this node follows now (one core NATS subscription
    /// each, on the node's one connection).
    pub fn reading_topics(&self) -> usize {
        lock(&self.inner.readers).len()
    }

    /// Ends every local subscription and stops following topics (their
    /// subscriptions end), so a graceful server shutdown is not held up
    /// by open streams.
    pub fn shutdown(&self) {
        self.inner.shut_down.store(true, Ordering::Release);
        self.inner.local.shutdown();
        for reader in lock(&self.inner.readers).values() {
            reader.wake();
        }
    }

    /// The underlying NATS client (one connection, shared by everything this
    /// hub does).
    pub fn client(&self) -> &async_nats::Client {
        &self.inner.client
    }

    async fn start_subscription(
        &self,
        topic: &str,
        last_event_id: Option<&str>,
    ) -> Result<Started, Error> {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return Err(Error::Shutdown);
        }
        // Classified before joining, so the live feed's filter is right: an id
        // past the end of the stream must not hide the events that follow.
        let resume = match last_event_id.map(parse_sequence) {
            None => Resume::Live,
            Some(None) => Resume::Unknown,
            Some(Some(after)) => {
                if after > self.stream_state().await?.last_sequence {
                    Resume::Unknown
                } else {
                    Resume::After(after)
                }
            }
        };
        let after = match resume {
            Resume::After(after) => after,
            Resume::Live | Resume::Unknown => 0,
        };
        let (live, upper, reader) = TopicReader::join(self, topic, after).await?;
        // From here the reader is woken however this ends, the first page's
        // read failing or this future dropped while it waits (a client gone
        // at once): else a reader whose only joiner left would wait for a
        // notice to find that out. Rebound after the guard, `live` is dropped
        // before it, so the woken reader finds the local subscription gone.
        let guard = Leave(reader);
        let live = live;
        let replay = match resume {
            Resume::Live => Replay::ready(VecDeque::new()),
            Resume::Unknown => Replay::ready(VecDeque::from([self.gap("unknown")])),
            // Only the first page is read here; the rest as the client drains.
            Resume::After(after) => replay::start(self, topic, after, upper).await?,
        };
        Ok(Started {
            replay,
            live,
            guard,
        })
    }

    pub(crate) async fn stream_state(&self) -> Result<stream::State, Error> {
        let inner = &self.inner;
        let stream = within(
            inner.config.request_timeout,
            inner.jetstream.get_stream(&inner.config.stream),
        )
        .await?;
        Ok(stream.cached_info().state.clone())
    }

    pub(crate) fn gap(&self, reason: &str) -> Frame {
        self.inner.gaps.gap_notice(reason, None).encode()
    }

    /// Makes the reader of `topic` on this node drop its next `count`
    /// notices unread, as a lost connection would. For tests of the gap
    /// reads; not part of the stable API.
    #[doc(hidden)]
    pub fn skip_notices(&self, topic: &str, count: usize) {
        if let Some(reader) = lock(&self.inner.readers).get(topic) {
            reader.skip_notices(count);
        }
    }
}

/// Once the client is connected again (or dropped a notice), and the server
/// has its subscriptions back (the flush), tells every reader to read its
/// topic from the stream after its last event. Ends with the client (its
/// event callback, holding the sender, goes with it) or the hub.
async fn resync_on_reconnect(inner: std::sync::Weak<Inner>, mut resyncs: mpsc::Receiver<()>) {
    while resyncs.recv().await.is_some() {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        // The client sends its subscriptions again before anything queued
        // after the reconnection, so once this flush is answered the server
        // has them: what is stored from then on comes as notices.
        let timeout = inner.config.request_timeout;
        if let Err(error) = within(timeout, inner.client.flush()).await {
            tracing::debug!(%error, "flush after a reconnection failed; readers catch up anyway");
        }
        inner.epoch.send_modify(|epoch| *epoch += 1);
    }
}

impl Inner {
    pub(crate) fn subject(&self, topic: &str) -> String {
        topic_subject(&self.config.subject_prefix, topic)
    }

    /// The core NATS subject the stream republishes `topic`'s events to.
    pub(crate) fn live_subject(&self, topic: &str) -> String {
        live_subject(&self.config.subject_prefix, topic)
    }

    /// A consumer name no other consumer has: the unique part of a new inbox.
    pub(crate) fn consumer_name(&self, kind: &str) -> String {
        let inbox = self.client.new_inbox();
        let unique = inbox.rsplit('.').next().unwrap_or(&inbox);
        format!("sse_{kind}_{unique}")
    }
}

/// A stream sequence as a client sends it back: decimal digits, no sign, no
/// leading zero (except `0` itself, "before the first event").
fn parse_sequence(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical {
        text.parse().ok()
    } else {
        None
    }
}

fn stream_config(config: &NatsHubConfig) -> stream::Config {
    stream::Config {
        name: config.stream.clone(),
        subjects: vec![format!("{}.>", config.subject_prefix)],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        max_messages_per_subject: config.max_messages_per_topic.unwrap_or(-1),
        max_bytes: config.max_bytes.unwrap_or(-1),
        max_messages: -1,
        max_age: config.max_age.unwrap_or_default(),
        num_replicas: config.replicas,
        // Every stored event, to a core subject per topic that following
        // nodes subscribe to: the live feed (see `reader`).
        republish: Some(stream::Republish {
            source: format!("{}.>", config.subject_prefix),
            destination: format!("{LIVE}.{}.>", config.subject_prefix),
            headers_only: false,
        }),
        ..Default::default()
    }
}

/// The same handlers and publishing code as with the in-process
/// [`Hub`](ssekit::hub::Hub) or `ssekit_redis::RedisHub`.
impl ssekit::hub::Broadcaster for NatsHub {
    type Subscription = NatsSubscription;
    type Error = Error;

    /// [`NatsHub::publish`]: resolves once JetStream acknowledged the event.
    fn publish(
        &self,
        topic: &str,
        event: Event,
    ) -> impl std::future::Future<Output = Result<String, Error>> + Send {
        NatsHub::publish(self, topic, event)
    }

    fn subscribe(&self, topic: &str, last_event_id: Option<&str>) -> NatsSubscription {
        NatsHub::subscribe(self, topic, last_event_id)
    }

    fn local_subscriber_count(&self, topic: &str) -> usize {
        NatsHub::local_subscriber_count(self, topic)
    }

    /// The sequence of the topic's last kept event, or, for a topic with
    /// none, the stream's last sequence read just before (`0` for an empty
    /// stream): sequences are the stream's, so every later event of the
    /// topic comes after it. Resuming from an event still kept never gives
    /// a gap notice; resuming a topic from a sequence of another topic
    /// gives `expired` only if the topic is at its limit of events or the
    /// stream dropped its oldest past that sequence (see
    /// [`NatsHub::subscribe`]).
    fn head(
        &self,
        topic: &str,
    ) -> impl std::future::Future<Output = Result<Option<String>, Error>> + Send {
        let hub = self.clone();
        let topic = topic.to_owned();
        async move {
            let inner = &hub.inner;
            let timeout = inner.config.request_timeout;
            let stream = within(timeout, inner.jetstream.get_stream(&inner.config.stream)).await?;
            // Read before the topic's last event: a topic event published in
            // between is found, or comes after it.
            let stream_last = stream.cached_info().state.last_sequence;
            let subject = inner.subject(&topic);
            let last =
                tokio::time::timeout(timeout, stream.get_last_raw_message_by_subject(&subject))
                    .await
                    .map_err(|_| Error::Timeout(timeout))?;
            match last {
                Ok(message) => Ok(Some(message.sequence.to_string())),
                Err(error)
                    if error.kind()
                        == async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
                {
                    Ok(Some(stream_last.to_string()))
                }
                Err(error) => Err(Error::Nats(error.into())),
            }
        }
    }

    /// 20: the digits of `u64::MAX`.
    fn max_id_len(&self) -> Option<usize> {
        Some(20)
    }

    fn shutdown(&self) {
        NatsHub::shutdown(self);
    }
}

#[cfg(test)]
mod tests {
    use super::parse_sequence;

    #[test]
    fn sequences_are_canonical_decimals() {
        assert_eq!(parse_sequence("0"), Some(0));
        assert_eq!(parse_sequence("42"), Some(42));
        for bad in [
            "",
            "-1",
            "+1",
            "01",
            "1.0",
            "1-0",
            " 1",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_sequence(bad), None, "{bad}");
        }
    }
}
