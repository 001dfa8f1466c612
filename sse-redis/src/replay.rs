//! A resume's replay from Redis, read in pages as the client drains it.
//!
//! The range is `(after, upper]`: `after` is the client's `Last-Event-ID`,
//! `upper` the newest entry the node's reader had published when the
//! subscriber joined (its live feed starts right after it). Each page is one
//! `XRANGE` of at most [`replay_page`](crate::RedisHubConfig::with_replay_page)
//! entries plus one look-ahead entry, of which only the id is kept: the next
//! page starts at that id, inclusive. The next page is requested only when the
//! client asks for a frame after the last one of the page, so a stalled client
//! holds at most one page, however long the stream.
//!
//! * **First page.** Read in one `MULTI` with `XINFO STREAM`, so whether
//!   history was trimmed past `after` (the `expired` gap) is decided on the
//!   same snapshot as the read.
//! * **Later pages.** The look-ahead id is an entry that existed and was not
//!   delivered yet. Redis trims only from the oldest end, so if the page does
//!   not start with exactly that entry, it and possibly more after it were
//!   trimmed away: an `expired` gap notice comes first, then what is left. If
//!   it is there, nothing after the last delivered entry is missing (trimming
//!   entries already delivered gives no gap).
//! * **Errors.** A page that fails (Redis error or command timeout) ends the
//!   stream with an `Err`, as a failed start does: the client resumes after the
//!   last event it got.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use redis::streams::StreamRangeReply;
use redis::Value;
use ssekit::Frame;

use crate::entry;
use crate::error::{within, Error};
use crate::hub::{RedisHub, StreamInfo};
use crate::id::StreamId;

type Fetch = Pin<Box<dyn Future<Output = Result<Page, Error>> + Send>>;

/// The replay part of a subscription: frames of the current page, and where
/// the next page starts.
pub(crate) struct Replay {
    /// Fetched and not yet yielded: at most one page (and a gap notice).
    frames: VecDeque<Frame>,
    /// The range still to read; `None` once it is read through `upper`.
    rest: Option<Rest>,
    /// The page being read, requested once `frames` ran out.
    fetching: Option<Fetch>,
    /// Entries received from Redis so far, each counted once (the
    /// look-ahead is counted when first received).
    read: u64,
    /// The resume's count for the metrics: the events of the pages fetched
    /// (not the gap notice nor the look-ahead), recorded when the replay is
    /// dropped; `None` for a replay that is no resume.
    resumed: Option<ssekit::hub::ReplayCount>,
}

struct Rest {
    hub: RedisHub,
    key: String,
    /// The first entry of the next page: read as the look-ahead of the last
    /// page, not delivered yet.
    next: String,
    upper: StreamId,
}

/// One page: its frames (a gap notice first, if any), how many entries it
/// received that no page before it had, and the id of the entry after its
/// frames, if the range goes on.
struct Page {
    frames: VecDeque<Frame>,
    received: usize,
    next: Option<String>,
    /// The first frame is the `expired` gap notice.
    notice: bool,
}

impl Replay {
    fn count(&mut self, page: &Page) {
        if let Some(resumed) = &mut self.resumed {
            resumed.add(page.frames.len() - usize::from(page.notice));
        }
    }

    /// A replay of these frames only (nothing to read from Redis).
    pub(crate) fn ready(frames: VecDeque<Frame>) -> Self {
        Self {
            frames,
            rest: None,
            fetching: None,
            read: 0,
            resumed: None,
        }
    }

    /// Reads the first page of `(after, upper]` of `topic`, with the
    /// `expired` gap notice first when history was trimmed past `after`.
    pub(crate) async fn start(
        hub: &RedisHub,
        topic: &str,
        after: StreamId,
        upper: StreamId,
    ) -> Result<Self, Error> {
        let resumed = Some(hub.inner.metrics.resumed());
        if upper <= after {
            let mut replay = Self::ready(VecDeque::new());
            replay.resumed = resumed;
            return Ok(replay);
        }
        let inner = &hub.inner;
        let key = inner.key(topic);
        let page_size = inner.config.replay_page;
        let mut snapshot = redis::pipe();
        snapshot.atomic();
        snapshot.cmd("XINFO").arg("STREAM").arg(&key);
        snapshot.add_command(page_range(&key, &format!("({after}"), upper, page_size));
        let mut commands = inner.commands.clone();
        let (info, entries): (Value, StreamRangeReply) = within(
            inner.config.command_timeout,
            snapshot.query_async(&mut commands),
        )
        .await?;
        let info = StreamInfo::or_empty(Ok(info))?;
        // Trimming is only known up to the oldest kept entry: an id older than
        // it may have missed events, and is told so (never silently cut).
        let expired = info.entries_added > info.length as u64
            && info.first_entry.is_some_and(|first| after < first);
        let page = Page::new(hub, entries, expired, page_size);
        let mut replay = Self {
            frames: VecDeque::new(),
            rest: Some(Rest {
                hub: hub.clone(),
                key,
                next: String::new(),
                upper,
            }),
            fetching: None,
            read: 0,
            resumed,
        };
        replay.take(page);
        Ok(replay)
    }

    /// Frames fetched and not yet yielded.
    pub(crate) fn buffered(&self) -> usize {
        self.frames.len()
    }

    /// Entries received from Redis so far, each counted once.
    pub(crate) fn read(&self) -> u64 {
        self.read
    }

    /// The next frame of the replay, reading the next page when the current
    /// one is used up; `None` once the replay reached `upper`; an `Err` (after
    /// which it ends) when a page cannot be read.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame, Error>>> {
        loop {
            if let Some(frame) = self.frames.pop_front() {
                return Poll::Ready(Some(Ok(frame)));
            }
            let fetching = match &mut self.fetching {
                Some(fetching) => fetching,
                None => {
                    let Some(rest) = &self.rest else {
                        return Poll::Ready(None);
                    };
                    if rest.hub.inner.shut_down.load(Ordering::Acquire) {
                        // An `Err`, not a quiet end that could read as the
                        // end of the replay: the client resumes after what it got.
                        self.rest = None;
                        return Poll::Ready(Some(Err(Error::Shutdown)));
                    }
                    let page = fetch(
                        rest.hub.clone(),
                        rest.key.clone(),
                        rest.next.clone(),
                        rest.upper,
                    );
                    self.fetching.insert(Box::pin(page))
                }
            };
            let Poll::Ready(result) = fetching.as_mut().poll(cx) else {
                return Poll::Pending;
            };
            self.fetching = None;
            match result {
                Ok(page) => self.take(page),
                Err(error) => {
                    self.rest = None;
                    return Poll::Ready(Some(Err(error)));
                }
            }
        }
    }

    fn take(&mut self, page: Page) {
        self.count(&page);
        self.frames = page.frames;
        self.read += page.received as u64;
        match (page.next, &mut self.rest) {
            (Some(next), Some(rest)) => rest.next = next,
            _ => self.rest = None,
        }
    }
}

/// Reads the page starting at `next` (inclusive), up to `upper`.
async fn fetch(hub: RedisHub, key: String, next: String, upper: StreamId) -> Result<Page, Error> {
    let inner = &hub.inner;
    let page_size = inner.config.replay_page;
    let mut commands = inner.commands.clone();
    let entries: StreamRangeReply = within(
        inner.config.command_timeout,
        page_range(&key, &next, upper, page_size).query_async(&mut commands),
    )
    .await?;
    // `next` existed and was not delivered: if it is gone, it was trimmed
    // (with whatever else was older), and events may have been missed.
    let expired = entries.ids.first().is_none_or(|first| first.id != next);
    let mut page = Page::new(&hub, entries, expired, page_size);
    // Unless expired, the first entry is the last page's look-ahead, counted then.
    page.received -= usize::from(!expired);
    Ok(page)
}

/// `XRANGE` of one page from `from` (an id, or `(id` for after it) up to
/// `upper`: `size` entries and the look-ahead one.
fn page_range(key: &str, from: &str, upper: StreamId, size: usize) -> redis::Cmd {
    let mut xrange = redis::cmd("XRANGE");
    xrange
        .arg(key)
        .arg(from)
        .arg(upper.to_string())
        .arg("COUNT")
        .arg(size.saturating_add(1));
    xrange
}

impl Page {
    /// The frames of the first `size` entries of `entries`, and the id of the
    /// one after them (read only to know where the next page starts: its
    /// frame is made by that page).
    fn new(hub: &RedisHub, entries: StreamRangeReply, expired: bool, size: usize) -> Self {
        let kept = entries.ids.len().min(size);
        let mut frames = VecDeque::with_capacity(kept + usize::from(expired));
        if expired {
            frames.push_back(hub.gap("expired"));
        }
        frames.extend(
            entries.ids[..kept]
                .iter()
                .map(|entry| entry::event(&entry.id, &entry.map).encode()),
        );
        let received = entries.ids.len();
        let next = entries.ids.into_iter().nth(size).map(|entry| entry.id);
        Self {
            frames,
            received,
            next,
            notice: expired,
        }
    }
}
