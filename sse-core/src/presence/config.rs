//! How presence behaves: how often nodes say they are alive, how long a
//! silent node's members stay, and the bounds.

use std::time::Duration;

/// Presence settings, for [`Presence::with_config`](super::Presence::with_config).
///
/// ```
/// use std::time::Duration;
/// use ssekit::presence::PresenceConfig;
///
/// let config = PresenceConfig::new()
///     .with_heartbeat(Duration::from_secs(2))
///     .with_max_members(1_000);
/// assert_eq!(config.node_timeout(), Duration::from_secs(6));
/// ```
#[derive(Debug, Clone)]
pub struct PresenceConfig {
    pub(crate) heartbeat: Duration,
    pub(crate) prefix: String,
    pub(crate) event_type: &'static str,
    pub(crate) max_members: usize,
    pub(crate) max_topics: usize,
    pub(crate) max_nodes: usize,
    pub(crate) sync_timeout: Duration,
}

impl PresenceConfig {
    /// The default heartbeat: 5 s.
    pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);
    /// The default [`max_members`](Self::with_max_members): 10 000.
    pub const DEFAULT_MAX_MEMBERS: usize = 10_000;
    /// The default [`max_topics`](Self::with_max_topics): 10 000.
    pub const DEFAULT_MAX_TOPICS: usize = 10_000;
    /// The default [`max_nodes`](Self::with_max_nodes): 1 024.
    pub const DEFAULT_MAX_NODES: usize = 1_024;

    /// The defaults: a heartbeat every 5 s, control topics under
    /// `_presence`, events of type `presence`, 10 000 members per topic and
    /// 10 000 topics per node, 1 024 nodes, and 2 s to hear every node.
    #[must_use]
    pub fn new() -> Self {
        Self {
            heartbeat: Self::DEFAULT_HEARTBEAT,
            prefix: "_presence".to_owned(),
            event_type: "presence",
            max_members: Self::DEFAULT_MAX_MEMBERS,
            max_topics: Self::DEFAULT_MAX_TOPICS,
            max_nodes: Self::DEFAULT_MAX_NODES,
            sync_timeout: Duration::from_secs(2),
        }
    }

    /// How often each node publishes that it is alive. A node not heard
    /// for three heartbeats ([`node_timeout`](Self::node_timeout)), say
    /// after a crash, is taken as gone and its members leave on every
    /// other node. A heartbeat is one small event per node, whatever the
    /// number of topics.
    #[must_use]
    pub fn with_heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_millis(1));
        self
    }

    /// How long a node that stopped without saying so keeps its members on
    /// the other nodes: three heartbeats.
    #[must_use]
    pub fn node_timeout(&self) -> Duration {
        self.heartbeat * 3
    }

    /// The broadcaster topics presence talks on: `<prefix>` for the nodes'
    /// heartbeats, `<prefix>/<topic>` for each topic's members. Pick one no
    /// topic of yours starts with (default `_presence`).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The event type of the presence events
    /// [`Presence::subscribe`](super::Presence::subscribe) adds to a stream
    /// (default `presence`).
    ///
    /// # Panics
    ///
    /// If `event_type` is not a valid event type (see
    /// [`Event::with_event`](crate::Event::with_event)).
    #[must_use]
    pub fn with_event_type(mut self, event_type: &'static str) -> Self {
        // Checked here, where the mistake is, not on the first event.
        let _ = crate::Event::new().with_event(event_type);
        self.event_type = event_type;
        self
    }

    /// The most members one topic has on this node; one more is refused
    /// ([`PresenceError::TopicFull`](super::PresenceError::TopicFull)). It
    /// also bounds what this node takes from another node's list for a
    /// topic, so a topic's presence holds at most `max_members` per node.
    #[must_use]
    pub fn with_max_members(mut self, max: usize) -> Self {
        self.max_members = max.max(1);
        self
    }

    /// The most topics this node tracks the presence of (topics with a
    /// member here, or watched with
    /// [`changes`](super::Presence::changes) or
    /// [`members`](super::Presence::members)); past it a join is refused
    /// ([`PresenceError::TooManyTopics`](super::PresenceError::TooManyTopics)).
    #[must_use]
    pub fn with_max_topics(mut self, max: usize) -> Self {
        self.max_topics = max.max(1);
        self
    }

    /// The most nodes this node keeps track of; heartbeats from more are
    /// ignored.
    #[must_use]
    pub fn with_max_nodes(mut self, max: usize) -> Self {
        self.max_nodes = max.max(1);
        self
    }

    /// How long [`members`](super::Presence::members) waits, the first time
    /// it is asked about a topic, for every live node to say who it has
    /// there (default 2 s); after it, it answers with the nodes it heard.
    #[must_use]
    pub fn with_sync_timeout(mut self, timeout: Duration) -> Self {
        self.sync_timeout = timeout;
        self
    }

    pub(crate) fn topic(&self, topic: &str) -> String {
        format!("{}/{topic}", self.prefix)
    }
}

impl Default for PresenceConfig {
    fn default() -> Self {
        Self::new()
    }
}
