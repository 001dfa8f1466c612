//! How a hub keeps history, assigns ids and treats slow subscribers.

use std::borrow::Cow;
use std::time::Duration;

use crate::event::{Event, EventError};

/// What happens when a subscriber's queue is full because its client reads
/// slower than events are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LagPolicy {
    /// End the slow subscriber's stream. A subscriber without a filter finds
    /// out when it next reads (publishing never visits it): its stream ends
    /// after what it had read. One with a filter is ended by the publish that
    /// finds its queue full, after what is queued. Either way its client
    /// reconnects with `Last-Event-ID` and resumes from history with nothing
    /// lost (as long as history still holds what it missed).
    #[default]
    Disconnect,
    /// Drop the oldest queued events to make room, and send the subscriber a
    /// `gap` event (see [`Hub`](super::Hub)) saying how many it missed, then
    /// the newest `queue` events.
    DropOldest,
}

/// Where event ids come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdMode {
    /// The hub numbers events (replacing any id the event had), so resume can
    /// tell an expired id from an unknown one.
    ///
    /// Each topic's ids are increasing decimal integers, unique across the
    /// hub's topics: topics take numbers from one counter for the whole hub
    /// in blocks of 64, so that publishers to different topics share no
    /// counter per event. A topic's ids are consecutive within a block and
    /// jump between blocks when other topics were published to (`a` may get
    /// 1 to 64, `b` 65 to 128, then `a` 129). A client may compare two ids of
    /// one topic as numbers: the larger was published later (across topics
    /// the numbers say nothing about order). A topic made anew after being
    /// forgotten starts above every number issued before. Nothing should
    /// count on a topic's ids having no holes.
    #[default]
    Assign,
    /// The publisher's ids are kept as they are. Events without an id cannot be
    /// resumed after.
    Keep,
}

/// Settings of a [`Hub`](super::Hub).
///
/// ```
/// use std::time::Duration;
/// use ssekit::hub::{HubConfig, LagPolicy};
///
/// let config = HubConfig::new()
///     .with_history(500)
///     .with_max_age(Duration::from_secs(300))
///     .with_queue(32)
///     .with_lag_policy(LagPolicy::DropOldest);
/// ```
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub(crate) history: usize,
    pub(crate) max_age: Option<Duration>,
    pub(crate) queue: usize,
    pub(crate) lag_policy: LagPolicy,
    pub(crate) ids: IdMode,
    pub(crate) gap_event: Cow<'static, str>,
    pub(crate) first_id: u64,
    pub(crate) max_topics: usize,
    pub(crate) max_history_bytes: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            history: 1000,
            max_age: None,
            queue: Self::DEFAULT_QUEUE,
            lag_policy: LagPolicy::default(),
            ids: IdMode::default(),
            gap_event: Cow::Borrowed("gap"),
            first_id: 1,
            max_topics: Self::DEFAULT_MAX_TOPICS,
            max_history_bytes: Self::DEFAULT_MAX_HISTORY_BYTES,
        }
    }
}

impl HubConfig {
    /// The default [`with_max_topics`](Self::with_max_topics): 100 000.
    pub const DEFAULT_MAX_TOPICS: usize = 100_000;
    /// The default [`with_queue`](Self::with_queue): 256 frames, so that a
    /// burst of 200 events published at once reaches every subscriber (the
    /// `hub_burst` benchmark: with 64 or 128, every one of 1 000 and 10 000
    /// connections was ended for lagging). Unfiltered subscribers share their
    /// topic's log of that many frames (a 32-byte handle each, 8 KiB per
    /// topic with subscribers; the frames are shared with history); a
    /// subscriber with a filter has a queue of its own of up to that many.
    pub const DEFAULT_QUEUE: usize = 256;
    /// The default [`with_max_history_bytes`](Self::with_max_history_bytes):
    /// 64 MiB.
    pub const DEFAULT_MAX_HISTORY_BYTES: usize = 64 * 1024 * 1024;

    /// The defaults: history of 1000 events per topic, no age limit, a queue
    /// of 256 events per subscriber, [`LagPolicy::Disconnect`],
    /// [`IdMode::Assign`] from 1, gap notices of type `gap`.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep at most `events` past events per topic for resume (0 disables resume).
    #[must_use]
    pub fn with_history(mut self, events: usize) -> Self {
        self.history = events;
        self
    }

    /// Forget events older than `age`.
    #[must_use]
    pub fn with_max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// At most `frames` events wait for one subscriber (raised to at least 1).
    #[must_use]
    pub fn with_queue(mut self, frames: usize) -> Self {
        self.queue = frames.max(1);
        self
    }

    /// What to do with a subscriber whose queue is full.
    #[must_use]
    pub fn with_lag_policy(mut self, policy: LagPolicy) -> Self {
        self.lag_policy = policy;
        self
    }

    /// Where event ids come from.
    #[must_use]
    pub fn with_ids(mut self, mode: IdMode) -> Self {
        self.ids = mode;
        self
    }

    /// With [`IdMode::Assign`], the first number the hub issues (default 1).
    #[must_use]
    pub fn with_first_id(mut self, id: u64) -> Self {
        self.first_id = id.max(1);
        self
    }

    /// With [`IdMode::Assign`], starts ids at the current time in microseconds
    /// since the Unix epoch, so ids keep growing across restarts of the process
    /// (while it averages under a million events a second). A client that
    /// reconnects to a restarted server then resumes without a gap notice; the
    /// events the old process held in memory are gone, though (for history
    /// that survives restarts, use a shared backplane such as `ssekit-redis`).
    #[must_use]
    pub fn with_ids_from_clock(self) -> Self {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_micros() as u64);
        self.with_first_id(micros)
    }

    /// Holds at most `topics` topics at once (raised to at least 1; default
    /// [`DEFAULT_MAX_TOPICS`](Self::DEFAULT_MAX_TOPICS)). A new topic over
    /// the cap makes the hub forget the least recently used idle topic (no
    /// subscriber, kept for its history); when every topic has subscribers,
    /// the new topic is refused: [`Hub::try_subscribe`](super::Hub::try_subscribe)
    /// returns [`HubFull`](super::HubFull), and a publish to it is not kept.
    ///
    /// Evicting rather than refusing keeps topics people are subscribed to
    /// working when topic names come from requests: a flood of new names
    /// pushes out other idle history, never a live stream.
    #[must_use]
    pub fn with_max_topics(mut self, topics: usize) -> Self {
        self.max_topics = topics.max(1);
        self
    }

    /// Keeps at most `bytes` of history across all topics (default
    /// [`DEFAULT_MAX_HISTORY_BYTES`](Self::DEFAULT_MAX_HISTORY_BYTES)):
    /// counted as each event's text, its encoded frame and its entry. Over
    /// it, idle topics are forgotten first (least recently used first), then
    /// the publishing topic's oldest events (a client resuming from one of
    /// those is told `expired`).
    #[must_use]
    pub fn with_max_history_bytes(mut self, bytes: usize) -> Self {
        self.max_history_bytes = bytes;
        self
    }

    /// The event type of gap notices (default `gap`), fixed in the program.
    ///
    /// # Panics
    ///
    /// If `event_type` contains CR or LF (see [`Event::with_event`]).
    #[must_use]
    #[track_caller]
    pub fn with_gap_event_type(mut self, event_type: &'static str) -> Self {
        let checked = Event::new().with_event(event_type);
        self.gap_event = checked.event.unwrap_or_default();
        self
    }

    /// The event type of gap notices, from any text. Refuses CR and LF.
    pub fn try_with_gap_event_type(
        mut self,
        event_type: impl Into<String>,
    ) -> Result<Self, EventError> {
        let checked = Event::new().try_with_event(event_type)?;
        self.gap_event = checked.event.unwrap_or_default();
        Ok(self)
    }

    /// The gap event this configuration sends: type `gap` (or as set) with
    /// JSON data `{"reason": reason}`, plus `"missed": n` when given. For
    /// backplanes that resume from their own history, so clients see one
    /// format whatever the hub. Make it only to send it: with the feature
    /// `metrics`, each one counts in `ssekit_gap_notices_total` under its
    /// reason (`other` for a reason the hub does not use).
    pub fn gap_notice(&self, reason: &str, missed: Option<u64>) -> Event {
        self.gap(reason, missed)
    }

    pub(crate) fn gap(&self, reason: &str, missed: Option<u64>) -> Event {
        // Every notice, the hub's and the backplanes', is made here.
        crate::observe::gap_notice(reason);
        let data = match missed {
            Some(n) => format!(r#"{{"reason":"{reason}","missed":{n}}}"#),
            None => format!(r#"{{"reason":"{reason}"}}"#),
        };
        let gap = Event::message(data);
        // Validated when configured.
        Event {
            event: Some(self.gap_event.clone()),
            ..gap
        }
    }
}

/// A hub's settings as its queues share them: on cache lines of their own,
/// apart from the `Arc`'s counts, which every subscribe and leave changes
/// and which would otherwise drag the settings every publish reads from
/// core to core.
#[repr(align(128))]
pub(crate) struct SharedConfig(pub(crate) HubConfig);

impl std::ops::Deref for SharedConfig {
    type Target = HubConfig;

    fn deref(&self) -> &HubConfig {
        &self.0
    }
}
