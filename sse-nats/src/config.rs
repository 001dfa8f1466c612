//! Settings of a [`NatsHub`](crate::NatsHub).

use std::time::Duration;

use ssekit::hub::{HubConfig, LagPolicy};

/// How a [`NatsHub`](crate::NatsHub) stores history and treats subscribers.
///
/// The defaults keep an unconfigured server bounded: at most 10 000 events
/// per topic and 1 GiB for the whole stream (oldest events go first), no
/// age limit.
///
/// ```
/// use std::time::Duration;
/// use ssekit_nats::NatsHubConfig;
///
/// let config = NatsHubConfig::default()
///     .with_stream("CHAT")
///     .with_subject_prefix("chat")
///     .with_max_messages_per_topic(1_000)
///     .with_max_age(Duration::from_secs(3600));
/// ```
#[derive(Debug, Clone)]
pub struct NatsHubConfig {
    pub(crate) stream: String,
    pub(crate) subject_prefix: String,
    pub(crate) max_messages_per_topic: Option<i64>,
    pub(crate) max_age: Option<Duration>,
    pub(crate) max_bytes: Option<i64>,
    pub(crate) replicas: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) heartbeat: Duration,
    pub(crate) queue: usize,
    pub(crate) replay_page: usize,
    pub(crate) lag_policy: LagPolicy,
}

impl Default for NatsHubConfig {
    fn default() -> Self {
        Self {
            stream: "SSE".to_owned(),
            subject_prefix: "sse".to_owned(),
            max_messages_per_topic: Some(10_000),
            max_age: None,
            max_bytes: Some(1 << 30),
            replicas: 1,
            request_timeout: Duration::from_secs(2),
            heartbeat: Duration::from_secs(5),
            queue: HubConfig::DEFAULT_QUEUE,
            replay_page: 64,
            lag_policy: LagPolicy::Disconnect,
        }
    }
}

impl NatsHubConfig {
    /// The JetStream stream holding every topic (default `SSE`). Every node
    /// of one deployment must use the same stream and subject prefix.
    #[must_use]
    pub fn with_stream(mut self, name: &str) -> Self {
        self.stream = name.to_owned();
        self
    }

    /// The subjects of the stream are `<prefix>.<topic token>` (default
    /// prefix `sse`, so the stream's subjects are `sse.>`); see
    /// [`topic_subject`](crate::topic_subject) for the token.
    #[must_use]
    pub fn with_subject_prefix(mut self, prefix: &str) -> Self {
        self.subject_prefix = prefix.to_owned();
        self
    }

    /// Keep at most `events` per topic (JetStream's `max_msgs_per_subject`;
    /// the oldest go first). Default 10 000.
    #[must_use]
    pub fn with_max_messages_per_topic(mut self, events: u64) -> Self {
        self.max_messages_per_topic = Some(events.min(i64::MAX as u64) as i64);
        self
    }

    /// No per-topic count limit (the stream stays bounded by bytes and age).
    #[must_use]
    pub fn with_unbounded_messages_per_topic(mut self) -> Self {
        self.max_messages_per_topic = None;
        self
    }

    /// Drop events older than `age` (JetStream's `max_age`). Default: none.
    #[must_use]
    pub fn with_max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Keep at most `bytes` in the whole stream, all topics together (the
    /// oldest events go first). Default 1 GiB.
    #[must_use]
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes.min(i64::MAX as u64) as i64);
        self
    }

    /// No byte limit on the stream.
    #[must_use]
    pub fn with_unbounded_bytes(mut self) -> Self {
        self.max_bytes = None;
        self
    }

    /// Replicas of the stream in a JetStream cluster (default 1).
    #[must_use]
    pub fn with_replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }

    /// How long `connect`, `publish` (until the PubAck), the start of a
    /// subscription and each replay page wait for NATS before failing
    /// (default 2 s).
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How often the client PINGs the server on the node's one connection
    /// (default 5 s): a connection that stops answering is noticed within
    /// about two intervals, and once the client is connected again every
    /// followed topic is read from the stream after the last event the node
    /// delivered. One PING per node per interval, whatever the number of
    /// topics: an idle topic costs no message.
    #[must_use]
    pub fn with_heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = interval.max(Duration::from_millis(100));
        self
    }

    /// At most `frames` live events wait for one local subscriber (default
    /// [`HubConfig::DEFAULT_QUEUE`], 256, as the in-process hub). Live frames are encoded once per node and shared by its
    /// subscribers; a resume's replay is bounded apart, by
    /// [`with_replay_page`](Self::with_replay_page).
    #[must_use]
    pub fn with_queue(mut self, frames: usize) -> Self {
        self.queue = frames.max(1);
        self
    }

    /// A resume reads its replay from JetStream `events` at a time (default
    /// 64, at least 1): one short-lived pull consumer and one fetch per page,
    /// the next page only once the client has taken the previous one. A
    /// resuming connection holds at most one page (plus two events read
    /// ahead, to know where the next page starts), whatever the length of
    /// the stream.
    #[must_use]
    pub fn with_replay_page(mut self, events: usize) -> Self {
        self.replay_page = events.max(1);
        self
    }

    /// What to do with a local subscriber whose queue is full (default:
    /// disconnect it; its client resumes from JetStream with `Last-Event-ID`).
    #[must_use]
    pub fn with_lag_policy(mut self, policy: LagPolicy) -> Self {
        self.lag_policy = policy;
        self
    }
}
