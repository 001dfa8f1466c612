//! One reader per topic per node, all on the node's one NATS connection.
//!
//! The stream republishes every event it stores (its `RePublish` config) to
//! a core NATS subject, `_SSE_LIVE.<prefix>.<token>`, with headers
//! `Nats-Sequence` (its sequence) and `Nats-Last-Sequence` (the sequence of
//! the topic's event before it, 0 for the first). While the node has local
//! subscribers for a topic, its reader holds a plain core subscription to
//! that subject (no JetStream consumer, no heartbeat) and keeps `last_seen`,
//! the newest sequence it published to the local hub:
//!
//! * a notice whose previous sequence is at most `last_seen` is the next
//!   event of the topic: delivered as it is, with no request;
//! * any other (a notice was missed: the connection was lost, or the client
//!   dropped one for a full subscription buffer) makes the reader read the
//!   stream after `last_seen` instead (one direct message get per event,
//!   "first message of this subject from sequence n"), in order;
//! * notices at or before `last_seen` were already read from the stream and
//!   are ignored.
//!
//! After a reconnection (and a slow-consumer report from the client), every
//! reader catches up from its `last_seen` in the same way, at most
//! [`CATCH_UPS`] at a time: nothing acknowledged is skipped or delivered
//! twice. An idle followed topic costs the server one subscription and the
//! node a parked task; the connection's liveness comes from the client's
//! own PING (`with_heartbeat`), one per node, not per topic.
//!
//! Each reader does everything for its topic in order, in its own task, so
//! its notices and catch-ups never race each other.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::stream::LastRawMessageErrorKind;
use async_nats::{HeaderMap, Subscriber};
use futures_util::StreamExt;
use ssekit::hub::backplane::subscribe_after;
use ssekit::hub::Subscription;
use tokio::sync::{watch, Notify, OnceCell};

use crate::error::{within, Error};
use crate::hub::{lock, NatsHub};
use crate::message;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Topics of one node catching up at once after a reconnection: bounds the
/// requests in flight (and the burst on the server) whatever the number of
/// followed topics.
pub(crate) const CATCH_UPS: usize = 64;

/// Events of a gap read one direct get each before reading it a page at a
/// time.
const DIRECT_GETS: usize = 4;

/// Events a page of a long gap holds.
const CATCH_UP_PAGE: usize = 64;
/// Topics of one node starting to be followed at once (each a subscribe, a
/// flush and a stream info request): 100 000 subscribers arriving at once
/// queue here, rather than send 100 000 requests that time out on the
/// server's queue. The wait for a turn is not under the request timeout.
pub(crate) const STARTS: usize = 256;

pub(crate) struct TopicReader {
    /// Set once the reader is subscribed, knows where the stream ends, and
    /// runs.
    started: OnceCell<()>,
    state: Mutex<ReaderState>,
    /// Woken when a local subscriber leaves or the hub shuts down.
    wake: Notify,
}

#[derive(Default)]
struct ReaderState {
    /// The newest sequence published to the local hub: the live feed of a
    /// subscriber joining now starts right after it.
    last_seen: u64,
    /// The reader has exited; joiners must start a new one.
    stopped: bool,
    /// Notices to drop unread, as a lost connection would (tests only).
    skip: usize,
}

/// What a notice means for the reader.
enum Notice {
    /// Delivered, or already delivered from the stream.
    InStep,
    /// Events before it were missed: read the stream after `last_seen`.
    Behind,
}

/// A joiner waiting for its reader to start: if it is dropped meanwhile (a
/// client gone at once), the start is dropped with it and the reader, never
/// started, would stay in the map with no task; it is taken out instead,
/// once every handle of the dropped join is gone.
struct Unstarted<'a> {
    reader: Option<Arc<TopicReader>>,
    hub: &'a NatsHub,
    topic: &'a str,
}

impl Drop for Unstarted<'_> {
    fn drop(&mut self) {
        let Some(reader) = self.reader.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (hub, topic) = (self.hub.clone(), self.topic.to_owned());
        // After the rest of the join is dropped (the start's own handle too),
        // so that the handles left are the map's and this one.
        runtime.spawn(async move { reader.forget_unstarted(&hub, &topic) });
    }
}

impl TopicReader {
    /// Joins `topic` on this node: a local subscription receiving every event
    /// after `after` from now on, the sequence up to which events were already
    /// read (the subscriber's replay must cover up to it), and the reader, to
    /// wake when the subscriber leaves.
    pub(crate) async fn join(
        hub: &NatsHub,
        topic: &str,
        after: u64,
    ) -> Result<(Subscription, u64, Arc<TopicReader>), Error> {
        loop {
            let reader = {
                let mut readers = lock(&hub.inner.readers);
                readers
                    .entry(topic.to_owned())
                    .or_insert_with(|| {
                        Arc::new(TopicReader {
                            started: OnceCell::new(),
                            state: Mutex::new(ReaderState::default()),
                            wake: Notify::new(),
                        })
                    })
                    .clone()
            };
            let mut unstarted = Unstarted {
                reader: Some(reader.clone()),
                hub,
                topic,
            };
            let started = reader
                .started
                .get_or_try_init(|| reader.clone().start(hub.clone(), topic.to_owned()))
                .await;
            unstarted.reader = None;
            if let Err(error) = started {
                reader.forget_unstarted(hub, topic);
                return Err(error);
            }
            let state = lock(&reader.state);
            if state.stopped {
                continue;
            }
            // Registered under the state lock, which the reader holds while it
            // publishes: no event can fall between `last_seen` and the feed.
            let live = subscribe_after(&hub.inner.local, topic, after, &state.last_seen);
            let upper = state.last_seen;
            drop(state);
            return Ok((live, upper, reader));
        }
    }

    /// Tells the reader to check whether it still has local subscribers.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Drops the next `count` notices unread, as a lost connection would.
    pub(crate) fn skip_notices(&self, count: usize) {
        lock(&self.state).skip += count;
    }

    /// After a failed start, takes this reader out of the map, unless another
    /// joiner holds it too (that one tries to start it in turn), so a topic
    /// nobody could join while NATS was away leaves nothing behind.
    fn forget_unstarted(self: &Arc<Self>, hub: &NatsHub, topic: &str) {
        let mut readers = lock(&hub.inner.readers);
        let listed = readers.get(topic).is_some_and(|r| Arc::ptr_eq(r, self));
        // Joiners take their handle under this lock: the map's and ours are
        // the only ones left when nobody else is trying.
        if listed && Arc::strong_count(self) == 2 && self.started.get().is_none() {
            readers.remove(topic);
        }
    }

    /// Subscribes to the topic's notices, then finds the end of the stream,
    /// then runs the read loop in a task.
    async fn start(self: Arc<Self>, hub: NatsHub, topic: String) -> Result<(), Error> {
        connected(&hub)?;
        let inner = &hub.inner;
        let turn = inner.starts.acquire().await.map_err(|_| Error::Shutdown)?;
        connected(&hub)?;
        let timeout = inner.config.request_timeout;
        // Taken first: a reconnection from now on makes the reader catch up.
        let epoch = inner.epoch.subscribe();
        let notices = within(timeout, inner.client.subscribe(inner.live_subject(&topic))).await?;
        // Once the server answered the flush it has the interest: every event
        // stored from then on comes as a notice, and every event before the
        // last sequence read next is history (replayed from the stream).
        within(timeout, inner.client.flush()).await?;
        let last = hub.stream_state().await?.last_sequence;
        lock(&self.state).last_seen = last;
        drop(turn);
        tokio::spawn(self.run(hub, topic, notices, epoch));
        Ok(())
    }

    async fn run(
        self: Arc<Self>,
        hub: NatsHub,
        topic: String,
        mut notices: Subscriber,
        mut epoch: watch::Receiver<u64>,
    ) {
        // A catch-up is due (a notice showed a gap, the connection came back)
        // and, after a failure, retried after `backoff`.
        let mut behind = false;
        let mut failed = false;
        let mut backoff = FIRST_BACKOFF;
        // Not checked before the first notice or wake-up: the joiner that
        // started this reader subscribes locally just after the start, and
        // must not find it stopped (and unsubscribed) for nothing.
        let mut first = true;
        loop {
            if !std::mem::take(&mut first) && self.stop_if_unused(&hub, &topic) {
                // Dropping `notices` unsubscribes.
                return;
            }
            if behind && !failed {
                if self.catch_up_now(&hub, &topic).await {
                    (behind, backoff) = (false, FIRST_BACKOFF);
                } else {
                    failed = true;
                }
                continue;
            }
            let retry = retry_after(failed.then_some(backoff));
            tokio::select! {
                _ = self.wake.notified() => {}
                changed = epoch.changed() => {
                    if changed.is_err() {
                        // The hub is gone.
                        return;
                    }
                    (behind, failed, backoff) = (true, false, FIRST_BACKOFF);
                }
                _ = retry => {
                    failed = false;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                notice = notices.next() => match notice {
                    Some(notice) => {
                        if matches!(self.on_notice(&hub, &topic, &notice), Notice::Behind) {
                            behind = true;
                        }
                    }
                    // The client was closed (drained): nothing more will
                    // come. Joiners after this start a reader of their own.
                    None => {
                        self.stop(&hub, &topic);
                        return;
                    }
                },
            }
        }
    }

    /// Catches up with one of the hub's catch-up permits; `false` when it
    /// failed (NATS away), to retry after a backoff.
    async fn catch_up_now(&self, hub: &NatsHub, topic: &str) -> bool {
        let inner = &hub.inner;
        let Ok(_permit) = inner.catch_ups.acquire().await else {
            return false;
        };
        match self.catch_up(hub, topic).await {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(%error, topic, "reading a topic from the stream failed; retrying");
                false
            }
        }
    }

    /// Reads the topic's events after `last_seen` from the stream, up to its
    /// end: the first few one direct get each (a gap of an event or two, the
    /// common case, costs a request an event), then, if the gap goes on, a
    /// page of [`CATCH_UP_PAGE`] a request (a pull consumer made for it):
    /// a long gap costs a request per page, not per event.
    async fn catch_up(&self, hub: &NatsHub, topic: &str) -> Result<(), Error> {
        let inner = &hub.inner;
        let timeout = inner.config.request_timeout;
        let subject = inner.subject(topic);
        for _ in 0..DIRECT_GETS {
            if inner.shut_down.load(Ordering::Acquire) {
                return Ok(());
            }
            let from = lock(&self.state).last_seen + 1;
            let got = tokio::time::timeout(
                timeout,
                inner
                    .stream
                    .get_first_raw_message_by_subject(&subject, from),
            )
            .await
            .map_err(|_| Error::Timeout(timeout))?;
            match got {
                Ok(stored) => {
                    let mut state = lock(&self.state);
                    self.deliver(
                        hub,
                        topic,
                        &mut state,
                        stored.sequence,
                        Some(&stored.headers),
                        &stored.payload,
                    );
                }
                Err(error) if error.kind() == LastRawMessageErrorKind::NoMessageFound => {
                    return Ok(())
                }
                Err(error) => return Err(Error::Nats(error.into())),
            }
        }
        loop {
            if inner.shut_down.load(Ordering::Acquire) {
                return Ok(());
            }
            let from = lock(&self.state).last_seen + 1;
            let page = crate::replay::read(hub, topic, from, CATCH_UP_PAGE).await?;
            let Some(pending) = page.last().map(|read| read.pending) else {
                return Ok(());
            };
            let mut state = lock(&self.state);
            for read in page {
                if read.sequence > state.last_seen {
                    inner.local.publish(topic, read.event);
                    state.last_seen = read.sequence;
                }
            }
            if pending == 0 {
                return Ok(());
            }
        }
    }

    /// Delivers a notice that follows `last_seen`, ignores one already read,
    /// reports a gap otherwise.
    fn on_notice(&self, hub: &NatsHub, topic: &str, notice: &async_nats::Message) -> Notice {
        let header = |name: &str| {
            notice
                .headers
                .as_ref()
                .and_then(|headers| headers.get(name))
                .and_then(|value| value.as_str().parse::<u64>().ok())
        };
        let mut state = lock(&self.state);
        if state.skip > 0 {
            state.skip -= 1;
            return Notice::InStep;
        }
        let (Some(sequence), Some(previous)) =
            (header("Nats-Sequence"), header("Nats-Last-Sequence"))
        else {
            // Not a republished event: read the stream rather than guess.
            return Notice::Behind;
        };
        if sequence <= state.last_seen {
            return Notice::InStep;
        }
        if previous > state.last_seen {
            return Notice::Behind;
        }
        self.deliver(
            hub,
            topic,
            &mut state,
            sequence,
            notice.headers.as_ref(),
            &notice.payload,
        );
        Notice::InStep
    }

    /// Publishes one event to the local hub, under the state lock that
    /// joiners take (so none falls between `last_seen` and a joiner's feed).
    fn deliver(
        &self,
        hub: &NatsHub,
        topic: &str,
        state: &mut ReaderState,
        sequence: u64,
        headers: Option<&HeaderMap>,
        payload: &[u8],
    ) {
        if sequence <= state.last_seen {
            return;
        }
        hub.inner
            .local
            .publish(topic, message::decode(sequence, headers, payload));
        state.last_seen = sequence;
    }

    /// Stops (and forgets this reader) when no local subscriber is left or the
    /// hub is shut down. Decided under the state lock that joiners take.
    fn stop_if_unused(&self, hub: &NatsHub, topic: &str) -> bool {
        let inner = &hub.inner;
        let mut readers = lock(&inner.readers);
        let mut state = lock(&self.state);
        let unused =
            inner.local.subscriber_count(topic) == 0 || inner.shut_down.load(Ordering::Acquire);
        if unused {
            self.forget(&mut readers, &mut state, topic);
        }
        unused
    }

    /// Stops (and forgets this reader) whatever its subscribers.
    fn stop(&self, hub: &NatsHub, topic: &str) {
        let mut readers = lock(&hub.inner.readers);
        let mut state = lock(&self.state);
        self.forget(&mut readers, &mut state, topic);
    }

    /// Marks the reader stopped (joiners holding it start anew) and takes it
    /// out of the map, if it is still the topic's reader there.
    fn forget(
        &self,
        readers: &mut HashMap<String, Arc<TopicReader>>,
        state: &mut ReaderState,
        topic: &str,
    ) {
        state.stopped = true;
        if readers
            .get(topic)
            .is_some_and(|r| std::ptr::eq(Arc::as_ptr(r), self))
        {
            readers.remove(topic);
        }
    }
}

/// Resolves after `backoff`, or never when there is nothing to retry: an
/// idle reader has no timer.
async fn retry_after(backoff: Option<Duration>) {
    match backoff {
        Some(backoff) => tokio::time::sleep(backoff).await,
        None => std::future::pending().await,
    }
}

/// `Err(Disconnected)` while the client is not connected.
pub(crate) fn connected(hub: &NatsHub) -> Result<(), Error> {
    match hub.inner.client.connection_state() {
        async_nats::connection::State::Connected => Ok(()),
        _ => Err(Error::Disconnected),
    }
}
