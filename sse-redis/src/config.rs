//! Settings of a [`RedisHub`](crate::RedisHub).

use std::time::Duration;

use ssekit::hub::LagPolicy;

/// How a [`RedisHub`](crate::RedisHub) stores history and treats subscribers.
///
/// ```
/// use std::time::Duration;
/// use ssekit_redis::RedisHubConfig;
///
/// let config = RedisHubConfig::default()
///     .with_max_len(10_000)
///     .with_max_age(Duration::from_secs(3600))
///     .with_key_prefix("chat:");
/// ```
#[derive(Debug, Clone)]
pub struct RedisHubConfig {
    pub(crate) key_prefix: String,
    pub(crate) max_len: Option<usize>,
    pub(crate) max_age: Option<Duration>,
    pub(crate) block: Duration,
    pub(crate) idle_expiry: Option<Duration>,
    pub(crate) command_timeout: Duration,
    pub(crate) queue: usize,
    pub(crate) replay_page: usize,
    pub(crate) lag_policy: LagPolicy,
    pub(crate) feed_queue: usize,
}

impl Default for RedisHubConfig {
    fn default() -> Self {
        Self {
            key_prefix: "sse:".to_owned(),
            max_len: Some(10_000),
            max_age: None,
            block: Duration::from_secs(1),
            idle_expiry: Some(Duration::from_secs(24 * 3600)),
            command_timeout: Duration::from_secs(2),
            queue: ssekit::hub::HubConfig::DEFAULT_QUEUE,
            replay_page: 64,
            lag_policy: LagPolicy::Disconnect,
            feed_queue: 4096,
        }
    }
}

impl RedisHubConfig {
    /// Prefix of the Redis key of each topic's stream (default `sse:`).
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: &str) -> Self {
        self.key_prefix = prefix.to_owned();
        self
    }

    /// Keep about `entries` events per topic (Redis trims approximately, in
    /// whole nodes, so slightly more may remain). Default 10 000.
    #[must_use]
    pub fn with_max_len(mut self, entries: usize) -> Self {
        self.max_len = Some(entries);
        self
    }

    /// Keep history regardless of length (bounded by age alone, if set).
    #[must_use]
    pub fn with_unbounded_len(mut self) -> Self {
        self.max_len = None;
        self
    }

    /// Trim events older than `age` (checked on every publish).
    #[must_use]
    pub fn with_max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// How often a node looks for topics whose last local subscriber left
    /// (default 1 s): it unsubscribes from their channel then, so a topic is
    /// followed at most about this long after its last local subscriber left.
    ///
    /// The name is historical: nodes used to follow each topic with a blocking
    /// `XREAD BLOCK` of this length on a connection of its own. They now share
    /// one pub/sub connection (see the crate docs), and nothing blocks; this
    /// only sets the linger, which costs no Redis command.
    #[must_use]
    pub fn with_block(mut self, block: Duration) -> Self {
        self.block = block.max(Duration::from_millis(1));
        self
    }

    /// Let a topic's stream key expire after `idle` without a publish
    /// (default 24 h): every publish sets the key's expiry again
    /// (`PEXPIRE`, in the same script as the `XADD`), so only topics nobody
    /// published to for that long lose their history, all of it at once. A
    /// client resuming after that gets `{"reason":"unknown"}`, as for any id
    /// the stream does not know. At least 1 ms.
    #[must_use]
    pub fn with_idle_expiry(mut self, idle: Duration) -> Self {
        self.idle_expiry = Some(idle.max(Duration::from_millis(1)));
        self
    }

    /// Stream keys never expire (history is then bounded by
    /// [`with_max_len`](Self::with_max_len) / [`with_max_age`](Self::with_max_age)
    /// alone, and every topic ever published to keeps a key).
    #[must_use]
    pub fn without_idle_expiry(mut self) -> Self {
        self.idle_expiry = None;
        self
    }

    /// How long `publish` and the start of a subscription wait for Redis before
    /// failing (default 2 s).
    #[must_use]
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// At most `frames` live events wait for one local subscriber (default
    /// [`HubConfig::DEFAULT_QUEUE`](ssekit::hub::HubConfig::DEFAULT_QUEUE),
    /// 256, as the in-process hub, so a burst of 200 reaches everyone). Live
    /// frames are encoded once per node and shared by its
    /// subscribers; a resume's replay is bounded apart, by
    /// [`with_replay_page`](Self::with_replay_page).
    #[must_use]
    pub fn with_queue(mut self, frames: usize) -> Self {
        self.queue = frames.max(1);
        self
    }

    /// A resume reads its replay from Redis `entries` at a time (default 64,
    /// at least 1): one `XRANGE` per page, the next one only once the client
    /// has taken the previous page. A resuming connection holds at most one
    /// page of replayed events, whatever the length of the stream, so this is
    /// the per-connection memory of a resume (about `entries` × event size)
    /// traded against the Redis round trips of a long replay.
    #[must_use]
    pub fn with_replay_page(mut self, entries: usize) -> Self {
        self.replay_page = entries.max(1);
        self
    }

    /// What to do with a local subscriber whose queue is full (default:
    /// disconnect it; its client resumes from Redis with `Last-Event-ID`).
    #[must_use]
    pub fn with_lag_policy(mut self, policy: LagPolicy) -> Self {
        self.lag_policy = policy;
        self
    }

    /// At most `notices` live notices wait for the node's feed task
    /// (default 4 096, at least 1), whatever the publish rate while the task
    /// is busy. A notice that finds the queue full is dropped and its topic
    /// read from the stream instead, from the last entry the node delivered
    /// (one `XRANGE` per 512 entries): nothing is lost, and the queue's
    /// memory is at most `notices` × the notice size (the event, plus its
    /// two ids).
    #[must_use]
    pub fn with_feed_queue(mut self, notices: usize) -> Self {
        self.feed_queue = notices.max(1);
        self
    }
}
