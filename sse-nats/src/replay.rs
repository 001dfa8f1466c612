//! A resume's replay from JetStream, read in pages as the client drains it.
//!
//! The range is `(after, upper]`: `after` is the client's `Last-Event-ID`,
//! `upper` the newest sequence the node's reader had published when the
//! subscriber joined (its live feed starts right after it). Each page is read
//! by a short-lived pull consumer filtered to the topic's subject (created,
//! one no-wait fetch of at most
//! [`replay_page`](crate::NatsHubConfig::with_replay_page) events plus the
//! look-ahead one, deleted): nothing stays on the server between pages, and
//! the next page is requested only when the client asks for a frame after the
//! last one of the page, so a stalled client holds at most one page, however
//! long the stream.
//!
//! JetStream drops a topic's events oldest first (per-subject count, stream
//! age and bytes), which is what the gap checks rely on:
//!
//! * **First page.** Read from `after` itself: if the client's last event is
//!   still there, nothing after it was dropped (it is skipped, not resent).
//!   Otherwise, if the topic's oldest kept event is newer than `after` and the
//!   stream ever dropped anything, events may have been missed: an `expired`
//!   gap notice comes first (never a silent cut), then what is left.
//! * **Later pages.** The look-ahead sequence is an event that existed and was
//!   not delivered yet: if the page does not start with exactly it, it (and
//!   possibly more) was dropped meanwhile: an `expired` gap notice, then what
//!   is left.
//! * **Errors.** A page that fails (NATS error or request timeout) ends the
//!   stream with an `Err`, as a failed start does: the client resumes after
//!   the last event it got.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use futures_util::StreamExt;
use ssekit::hub::backplane::{self, PageFuture, Pages};
use ssekit::Event;

use crate::error::{within, Error};
use crate::hub::NatsHub;
use crate::message;

/// The replay part of a subscription. Its `read` counts the messages
/// received from JetStream (look-aheads read twice are counted twice).
pub(crate) type Replay = backplane::Replay<Range>;

/// One page: its frames (a gap notice first, if any), how many messages it
/// received, and where the next page starts, if the range goes on.
type Page = backplane::Page<Start>;

/// The rest of a replay's range, up to `upper`.
pub(crate) struct Range {
    hub: NatsHub,
    topic: String,
    upper: u64,
}

impl Pages for Range {
    type Cursor = Start;
    type Error = Error;

    fn fetch(&self, next: &Start) -> PageFuture<Self> {
        Box::pin(fetch(
            self.hub.clone(),
            self.topic.clone(),
            *next,
            self.upper,
        ))
    }

    fn closed(&self) -> Option<Error> {
        let shut_down = self.hub.inner.shut_down.load(Ordering::Acquire);
        shut_down.then_some(Error::Shutdown)
    }
}

/// Where a page starts, and what is known of that sequence.
#[derive(Clone, Copy)]
pub(crate) enum Start {
    /// The client's `Last-Event-ID` (first page): skipped if still there.
    Resumed(u64),
    /// The previous page's look-ahead: an event not delivered yet.
    Expected(u64),
    /// Just after the last delivered event, with no look-ahead (a short page).
    After(u64),
}

/// One message read: its sequence, how many of the topic's messages followed
/// it when it was delivered, and its frame.
pub(crate) struct Read {
    pub(crate) sequence: u64,
    /// The topic's messages after this one, when it was read.
    pub(crate) pending: u64,
    pub(crate) event: Event,
}

/// Reads the first page of `(after, upper]` of `topic`, with the `expired`
/// gap notice first when events after `after` were dropped.
pub(crate) async fn start(
    hub: &NatsHub,
    topic: &str,
    after: u64,
    upper: u64,
) -> Result<Replay, Error> {
    let resumed = hub.inner.metrics.resumed();
    if upper <= after {
        return Ok(Replay::ready(VecDeque::new()).counted(resumed));
    }
    let page = fetch(hub.clone(), topic.to_owned(), Start::Resumed(after), upper).await?;
    let range = Range {
        hub: hub.clone(),
        topic: topic.to_owned(),
        upper,
    };
    Ok(Replay::new(range, page).counted(resumed))
}

/// Reads the page at `start`, up to `upper`.
async fn fetch(hub: NatsHub, topic: String, start: Start, upper: u64) -> Result<Page, Error> {
    let size = hub.inner.config.replay_page;
    let (from, extra) = match start {
        // The resumed-from event itself, then the page and its look-ahead.
        Start::Resumed(after) => (after.max(1), 2),
        Start::Expected(next) => (next, 1),
        Start::After(last) => (last + 1, 1),
    };
    let mut messages = read(&hub, &topic, from, size + extra).await?;
    let received = messages.len();
    let expired = match start {
        Start::Resumed(after) => {
            if after >= 1 && messages.first().is_some_and(|m| m.sequence == after) {
                messages.remove(0);
                false
            } else {
                dropped_after(&hub, &topic, after).await?
            }
        }
        Start::Expected(next) => messages.first().is_none_or(|m| m.sequence != next),
        Start::After(_) => false,
    };
    // Later events come live.
    let beyond = messages.iter().any(|m| m.sequence > upper);
    messages.retain(|m| m.sequence <= upper);
    let next = match messages.get(size) {
        Some(lookahead) => Some(Start::Expected(lookahead.sequence)),
        None => match messages.last() {
            // A short page that is not the end (the server sent less than
            // asked): go on after it.
            Some(last) if !beyond && last.pending > 0 && last.sequence < upper => {
                Some(Start::After(last.sequence))
            }
            _ => None,
        },
    };
    messages.truncate(size);
    let mut frames = VecDeque::with_capacity(messages.len() + usize::from(expired));
    if expired {
        frames.push_back(hub.gap("expired"));
    }
    frames.extend(messages.into_iter().map(|m| m.event.encode()));
    Ok(Page {
        frames,
        received,
        next,
        notice: expired,
    })
}

/// Whether events of `topic` after `after` may have been dropped: its oldest
/// kept event is newer than `after` (or none is kept), and either the
/// stream dropped its oldest messages past `after` (by age, size or count:
/// whose they were is not known) or the topic is at its own limit of events
/// (it drops its oldest). Deletions of other topics' messages (the stream's
/// interior deletes) say nothing about this one, so they are not counted.
/// Checked after the page was read, so a drop racing the read is reported
/// too.
async fn dropped_after(hub: &NatsHub, topic: &str, after: u64) -> Result<bool, Error> {
    use futures_util::StreamExt;
    let inner = &hub.inner;
    let timeout = inner.config.request_timeout;
    let stream = within(timeout, inner.jetstream.get_stream(&inner.config.stream)).await?;
    let subject = inner.subject(topic);
    let first = tokio::time::timeout(
        timeout,
        stream.get_first_raw_message_by_subject(&subject, 1),
    )
    .await
    .map_err(|_| Error::Timeout(timeout))?;
    if let Ok(first) = first {
        if first.sequence <= after {
            return Ok(false);
        }
    }
    // One request: the stream's state, and how many events this subject keeps.
    let mut info = within(timeout, stream.info_with_subjects(&subject)).await?;
    let truncated = info.info.state.first_sequence > after.saturating_add(1);
    let kept = match tokio::time::timeout(timeout, info.next()).await {
        Ok(Some(Ok((_, count)))) => count,
        Ok(Some(Err(error))) => return Err(Error::Nats(error.into())),
        Ok(None) => 0,
        Err(_) => return Err(Error::Timeout(timeout)),
    };
    let at_limit = inner
        .config
        .max_messages_per_topic
        .is_some_and(|limit| i64::try_from(kept).unwrap_or(i64::MAX) >= limit);
    Ok(truncated || at_limit)
}

/// At most `count` of `topic`'s messages from sequence `from` on, with a
/// pull consumer made for this read and deleted after it.
pub(crate) async fn read(
    hub: &NatsHub,
    topic: &str,
    from: u64,
    count: usize,
) -> Result<Vec<Read>, Error> {
    let inner = &hub.inner;
    let timeout = inner.config.request_timeout;
    let name = inner.consumer_name("replay");
    // Deleted when this read ends, however it ends (a dropped replay too).
    let _delete = Consumer {
        hub: hub.clone(),
        name: name.clone(),
    };
    let config = pull::Config {
        name: Some(name.clone()),
        filter_subject: inner.subject(topic),
        deliver_policy: DeliverPolicy::ByStartSequence {
            start_sequence: from,
        },
        ack_policy: AckPolicy::None,
        // Only if this node dies mid-read: the read deletes its own.
        inactive_threshold: std::time::Duration::from_secs(30),
        memory_storage: true,
        ..Default::default()
    };
    let consumer = within(
        timeout,
        inner
            .jetstream
            .create_consumer_on_stream(config, &inner.config.stream),
    )
    .await?;
    let messages = within(timeout, async {
        let mut batch = consumer.fetch().max_messages(count).messages().await?;
        let mut messages = Vec::with_capacity(count);
        while let Some(message) = batch.next().await {
            let message = message?;
            let info = message.info()?;
            let (sequence, pending) = (info.stream_sequence, info.pending);
            let event = message::decode(sequence, message.headers.as_ref(), &message.payload);
            messages.push(Read {
                sequence,
                pending,
                event,
            });
        }
        Ok::<_, async_nats::Error>(messages)
    })
    .await;
    messages
}

/// A replay consumer this node made, deleted in the background when dropped
/// (best effort: one that cannot be deleted then goes by itself after its
/// inactivity threshold).
struct Consumer {
    hub: NatsHub,
    name: String,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let hub = self.hub.clone();
        let name = std::mem::take(&mut self.name);
        runtime.spawn(async move {
            let inner = &hub.inner;
            let deleted = within(
                inner.config.request_timeout,
                inner
                    .jetstream
                    .delete_consumer_from_stream(&name, &inner.config.stream),
            )
            .await;
            if let Err(error) = deleted {
                tracing::debug!(%error, name, "deleting a consumer failed");
            }
        });
    }
}
