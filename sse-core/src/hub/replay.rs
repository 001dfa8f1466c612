//! A resume's replay, read from the topic's history a page at a time as the
//! subscriber drains it, so that a resuming connection holds at most one
//! page of frames however long the history and however slowly its client
//! reads.

use std::collections::VecDeque;

use super::Filter;
use crate::encode::Frame;
use crate::observe::ReplayTally;

/// Where a subscriber stands in its replay.
pub(crate) struct Replay {
    /// Fetched and not yet yielded: at most one page (and a gap notice).
    pub(crate) page: VecDeque<Frame>,
    /// The number of the newest entry looked at: the next page starts after it.
    after: u64,
    /// The newest entry the replay covers: the live feed starts right after
    /// it.
    through: u64,
    filter: Option<Filter>,
    /// Nothing more to fetch: everything through `through` was looked at, or
    /// the replay was cut short (the subscription closed).
    pub(crate) done: bool,
    /// The events replayed, for the metrics (feature `metrics`).
    tally: ReplayTally,
}

/// What a subscriber asks its topic for: the entries after `after`, up to
/// `through`, at most `max` of them.
pub(crate) struct PageRequest {
    pub(crate) after: u64,
    pub(crate) through: u64,
    pub(crate) max: usize,
    pub(crate) filter: Option<Filter>,
}

/// What the topic answered.
pub(crate) struct Page {
    pub(crate) frames: Vec<Frame>,
    /// Entries after `after` were dropped from history before they could be
    /// sent: a gap notice comes before `frames`.
    pub(crate) expired: bool,
    /// The number of the newest entry looked at.
    pub(crate) last: u64,
    pub(crate) done: bool,
}

impl Replay {
    pub(crate) fn new(after: u64, through: u64, filter: Option<Filter>) -> Self {
        Self {
            page: VecDeque::new(),
            after,
            through,
            filter,
            done: false,
            tally: ReplayTally::new(),
        }
    }

    pub(crate) fn request(&self, max: usize) -> PageRequest {
        PageRequest {
            after: self.after,
            through: self.through,
            max,
            filter: self.filter.clone(),
        }
    }

    /// Takes in a fetched page, `gap` (built by the caller) first if entries
    /// were lost.
    pub(crate) fn receive(&mut self, page: Page, gap: impl FnOnce() -> Frame) {
        if self.done {
            return;
        }
        if page.expired {
            self.page.push_back(gap());
        }
        self.tally.add(page.frames.len());
        self.page.extend(page.frames);
        self.after = page.last.max(self.after);
        self.done = page.done;
    }
}
