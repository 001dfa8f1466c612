//! How a hub keeps history, assigns ids and treats slow subscribers.

use std::time::Duration;

use crate::event::{Event, EventError};

/// What happens when a subscriber's queue is full because its client reads
/// slower than events are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LagPolicy {
    /// End the slow subscriber's stream after what is already queued. Its
    /// client reconnects with `Last-Event-ID` and resumes from history with
    /// nothing lost (as long as history still holds what it missed).
    #[default]
    Disconnect,
    /// Drop the oldest queued events to make room, and send the subscriber a
    /// `gap` event (see [`Hub`](super::Hub)) saying how many it missed.
    DropOldest,
}

/// Where event ids come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdMode {
    /// The hub numbers each topic's events 1, 2, 3, … (replacing any id the
    /// event had), so resume can tell an expired id from an unknown one.
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
/// let config = HubConfig::default()
///     .history(500)
///     .max_age(Duration::from_secs(300))
///     .queue(32)
///     .lag_policy(LagPolicy::DropOldest);
/// ```
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub(crate) history: usize,
    pub(crate) max_age: Option<Duration>,
    pub(crate) queue: usize,
    pub(crate) lag_policy: LagPolicy,
    pub(crate) ids: IdMode,
    pub(crate) gap_event: String,
    pub(crate) first_id: u64,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            history: 1000,
            max_age: None,
            queue: 64,
            lag_policy: LagPolicy::default(),
            ids: IdMode::default(),
            gap_event: "gap".to_owned(),
            first_id: 1,
        }
    }
}

impl HubConfig {
    /// Keep at most `events` past events per topic for resume (0 disables resume).
    pub fn history(mut self, events: usize) -> Self {
        self.history = events;
        self
    }

    /// Forget events older than `age`.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// At most `frames` events wait for one subscriber (raised to at least 1).
    pub fn queue(mut self, frames: usize) -> Self {
        self.queue = frames.max(1);
        self
    }

    /// What to do with a subscriber whose queue is full.
    pub fn lag_policy(mut self, policy: LagPolicy) -> Self {
        self.lag_policy = policy;
        self
    }

    /// Where event ids come from.
    pub fn ids(mut self, mode: IdMode) -> Self {
        self.ids = mode;
        self
    }

    /// With [`IdMode::Assign`], the first id the hub issues (default 1).
    pub fn first_id(mut self, id: u64) -> Self {
        self.first_id = id.max(1);
        self
    }

    /// With [`IdMode::Assign`], starts ids at the current time in microseconds
    /// since the Unix epoch, so ids keep growing across restarts of the process
    /// (while it averages under a million events a second). A client that
    /// reconnects to a restarted server then resumes without a gap notice; the
    /// events the old process held in memory are gone, though (for history
    /// that survives restarts, use a shared backplane such as `ssekit-redis`).
    pub fn ids_from_clock(self) -> Self {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |elapsed| elapsed.as_micros() as u64);
        self.first_id(micros)
    }

    /// The event type of gap notices (default `gap`). Refuses CR and LF.
    pub fn gap_event_type(mut self, event_type: &str) -> Result<Self, EventError> {
        Event::new().with_event(event_type)?;
        self.gap_event = event_type.to_owned();
        Ok(self)
    }

    /// The gap event this configuration sends: type `gap` (or as set) with
    /// JSON data `{"reason": reason}`, plus `"missed": n` when given. For
    /// backplanes that resume from their own history, so clients see one
    /// format whatever the hub.
    pub fn gap_notice(&self, reason: &str, missed: Option<u64>) -> Event {
        self.gap(reason, missed)
    }

    pub(crate) fn gap(&self, reason: &str, missed: Option<u64>) -> Event {
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
