//! What a backplane counts, under ssekit's metric names, so that a
//! dashboard reads the same whichever broker a deployment runs on.

use std::sync::Arc;

use crate::observe::BackplaneHandles;

/// A backplane's metrics (`ssekit_backplane_*`, labelled with its name;
/// see the `metrics` module, feature `metrics`): acknowledged publishes, failed
/// ones, resumes and the events each replayed. For crates implementing
/// [`Broadcaster`](super::Broadcaster) over a broker, as `ssekit-redis`
/// and `ssekit-nats` do. Without ssekit's `metrics` feature every call
/// does nothing.
///
/// ```
/// use ssekit::hub::BackplaneMetrics;
///
/// let metrics = BackplaneMetrics::new("my-broker"); // once per hub
/// metrics.published(); // the broker acknowledged an event
/// let mut replay = metrics.resumed(); // a subscription placed its last event id
/// replay.add(3); // a page of 3 events replayed
/// drop(replay); // the replay is done with: 3 recorded
/// ```
#[derive(Clone)]
pub struct BackplaneMetrics {
    handles: Arc<BackplaneHandles>,
}

impl BackplaneMetrics {
    /// The handles of backplane `name` (the `backplane` label: a fixed
    /// name such as `redis`, never anything from a client).
    #[must_use]
    pub fn new(name: &'static str) -> Self {
        Self {
            handles: Arc::new(BackplaneHandles::new(name)),
        }
    }

    /// The broker acknowledged an event.
    pub fn published(&self) {
        self.handles.published();
    }

    /// A publish failed.
    pub fn publish_failed(&self) {
        self.handles.failed();
    }

    /// Counts a publish by its outcome: [`published`](Self::published) or
    /// [`publish_failed`](Self::publish_failed).
    pub fn publish_outcome<T, E>(&self, outcome: &Result<T, E>) {
        match outcome {
            Ok(_) => self.published(),
            Err(_) => self.publish_failed(),
        }
    }

    /// A subscription resumes after a last event id the backplane could
    /// place: counts the resume, and the events added to the returned
    /// count when it is dropped (the replay finished, was cut short, or its
    /// subscriber left).
    #[must_use = "the replay is recorded when the count is dropped"]
    pub fn resumed(&self) -> ReplayCount {
        self.handles.resumed();
        ReplayCount {
            handles: Arc::clone(&self.handles),
            events: 0,
        }
    }
}

impl std::fmt::Debug for BackplaneMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackplaneMetrics").finish_non_exhaustive()
    }
}

/// The events one resume replayed, recorded when dropped; from
/// [`BackplaneMetrics::resumed`].
pub struct ReplayCount {
    handles: Arc<BackplaneHandles>,
    events: u64,
}

impl ReplayCount {
    /// `events` more were replayed.
    pub fn add(&mut self, events: usize) {
        self.events += events as u64;
    }
}

impl Drop for ReplayCount {
    fn drop(&mut self) {
        self.handles.replayed(self.events);
    }
}

impl std::fmt::Debug for ReplayCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayCount")
            .field("events", &self.events)
            .finish()
    }
}
