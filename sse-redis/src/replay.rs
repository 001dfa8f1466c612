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
use std::sync::atomic::Ordering;

use redis::streams::StreamRangeReply;
use redis::Value;
use ssekit::hub::backplane::{self, PageFuture, Pages};

use crate::entry;
use crate::error::{within, Error};
use crate::hub::{RedisHub, StreamInfo};
use crate::id::StreamId;

/// The replay part of a subscription. Its cursor is the first entry of the
/// next page: read as the look-ahead of the last page, not delivered yet.
pub(crate) type Replay = backplane::Replay<Range>;

/// One page: its `received` counts the entries no page before it had (the
/// look-ahead is counted when first received).
type Page = backplane::Page<String>;

/// The rest of a replay's range, up to `upper`.
pub(crate) struct Range {
    hub: RedisHub,
    key: String,
    upper: StreamId,
}

impl Pages for Range {
    type Cursor = String;
    type Error = Error;

    fn fetch(&self, next: &String) -> PageFuture<Self> {
        Box::pin(fetch(
            self.hub.clone(),
            self.key.clone(),
            next.clone(),
            self.upper,
        ))
    }

    fn closed(&self) -> Option<Error> {
        let shut_down = self.hub.inner.shut_down.load(Ordering::Acquire);
        shut_down.then_some(Error::Shutdown)
    }
}

/// Reads the first page of `(after, upper]` of `topic`, with the `expired`
/// gap notice first when history was trimmed past `after`.
pub(crate) async fn start(
    hub: &RedisHub,
    topic: &str,
    after: StreamId,
    upper: StreamId,
) -> Result<Replay, Error> {
    let resumed = hub.inner.metrics.resumed();
    if upper <= after {
        return Ok(Replay::ready(VecDeque::new()).counted(resumed));
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
    let page = page(hub, entries, expired, page_size);
    let range = Range {
        hub: hub.clone(),
        key,
        upper,
    };
    Ok(Replay::new(range, page).counted(resumed))
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
    let mut page = page(&hub, entries, expired, page_size);
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

/// The page of the first `size` entries of `entries`, going on at the id of
/// the one after them (read only to know where the next page starts: its
/// frame is made by that page).
fn page(hub: &RedisHub, entries: StreamRangeReply, expired: bool, size: usize) -> Page {
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
    Page {
        frames,
        received,
        next,
        notice: expired,
    }
}
