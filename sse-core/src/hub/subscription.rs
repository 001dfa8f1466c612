//! One subscriber's bounded queue, and the stream that drains it.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use super::{lock, Filter, HubConfig, LagPolicy};
use crate::encode::Frame;

pub(crate) struct Subscriber {
    pub(crate) queue: Arc<Queue>,
    pub(crate) filter: Option<Filter>,
}

/// The frames a topic published lately, shared by its subscribers without a
/// filter: a subscriber holds a position in it, not copies of the frames, so
/// a burst costs each connection a counter instead of a queue of handles.
#[derive(Default)]
pub(crate) struct Log {
    /// The subscribers' queue bound plus one: an unfiltered subscriber never
    /// has more than that many frames pending in it (see `Queue::push_live`).
    capacity: usize,
    frames: Mutex<LogFrames>,
}

#[derive(Default)]
struct LogFrames {
    frames: VecDeque<Frame>,
    /// The position of `frames[0]`.
    base: u64,
}

impl Log {
    pub(crate) fn new(queue: usize) -> Self {
        Self {
            capacity: queue + 1,
            frames: Mutex::default(),
        }
    }

    pub(crate) fn push(&self, frame: Frame) {
        let mut log = lock(&self.frames);
        log.frames.push_back(frame);
        if log.frames.len() > self.capacity {
            log.frames.pop_front();
            log.base += 1;
        }
    }

    /// The position the next frame will have.
    pub(crate) fn end(&self) -> u64 {
        let log = lock(&self.frames);
        log.base + log.frames.len() as u64
    }

    fn get(&self, position: u64) -> Option<Frame> {
        let log = lock(&self.frames);
        let index = usize::try_from(position.checked_sub(log.base)?).ok()?;
        log.frames.get(index).cloned()
    }
}

pub(crate) struct Queue {
    config: Arc<HubConfig>,
    state: Mutex<QueueState>,
}

/// What a subscriber has queued: `frames` (its own: replayed history, frames
/// that passed its filter, a window copied out of the log on close), then
/// `live` frames of the topic's log from `cursor` on.
#[derive(Default)]
struct QueueState {
    frames: VecDeque<Frame>,
    log: Option<Arc<Log>>,
    cursor: u64,
    live: usize,
    waker: Option<Waker>,
    /// No more frames will be pushed: end after draining `frames` (which
    /// then hold the closing frame, if any, last).
    closed: bool,
    /// Frames dropped under `LagPolicy::DropOldest` not yet reported.
    missed: u64,
}

impl Queue {
    pub(crate) fn new(config: Arc<HubConfig>) -> Self {
        Self {
            config,
            state: Mutex::new(QueueState::default()),
        }
    }

    /// Queues a published frame.
    pub(crate) fn push(&self, frame: Frame) -> Pushed {
        let mut state = lock(&self.state);
        let queued = self.make_room(&mut state);
        if queued {
            state.frames.push_back(frame);
        }
        Pushed::taking_waker(queued, &mut state)
    }

    /// Queues the frame just pushed to the topic's log, as [`push`] does.
    pub(crate) fn push_live(&self) -> Pushed {
        let mut state = lock(&self.state);
        let queued = self.make_room(&mut state);
        if queued {
            state.live += 1;
        }
        Pushed::taking_waker(queued, &mut state)
    }

    /// Applies the lag policy when the queue is full; false when the
    /// subscriber is (or was already) closed.
    fn make_room(&self, state: &mut QueueState) -> bool {
        if state.closed {
            return false;
        }
        if state.frames.len() + state.live >= self.config.queue {
            match self.config.lag_policy {
                LagPolicy::Disconnect => {
                    state.closed = true;
                    state.detach();
                    return false;
                }
                LagPolicy::DropOldest => {
                    if state.frames.pop_front().is_none() {
                        state.cursor += 1;
                        state.live -= 1;
                    }
                    state.missed += 1;
                }
            }
        }
        true
    }

    /// Follows the topic's log from its current end. Called under the topic's
    /// lock, so no publish falls between the end read and the registration.
    pub(crate) fn attach(&self, log: Arc<Log>) {
        let mut state = lock(&self.state);
        state.cursor = log.end();
        state.log = Some(log);
    }

    /// Queues replayed history ahead of live frames. Not subject to the queue
    /// bound: history is bounded on its own.
    pub(crate) fn preload(&self, frames: Vec<Frame>) {
        lock(&self.state).frames.extend(frames);
    }

    /// Ends the queue after what it holds, then `last`; returns the task to
    /// wake, as [`Pushed::wake`]. Closing a closed queue changes nothing.
    #[must_use]
    pub(crate) fn close(&self, last: Option<Frame>) -> Option<Waker> {
        let mut state = lock(&self.state);
        if state.closed {
            return None;
        }
        state.closed = true;
        state.detach();
        state.frames.extend(last);
        state.waker.take()
    }
}

/// What a push did.
#[must_use]
pub(crate) struct Pushed {
    /// False when the subscriber must leave its topic (closed, or
    /// disconnected for lagging).
    pub(crate) queued: bool,
    /// The subscriber's task, to be woken once the pusher holds no lock: a
    /// waker runs code of its own, which may poll the subscription or use
    /// the hub on the spot.
    pub(crate) wake: Option<Waker>,
}

impl Pushed {
    /// A refused push wakes the subscriber too: if it was just disconnected
    /// for lagging, its stream has an end to report.
    fn taking_waker(queued: bool, state: &mut QueueState) -> Self {
        Self {
            queued,
            wake: state.waker.take(),
        }
    }
}

impl QueueState {
    /// Copies the frames still due from the log: nothing more will be
    /// pushed, and the log moves on without this subscriber.
    fn detach(&mut self) {
        if let Some(log) = self.log.take() {
            for position in self.cursor..self.cursor + self.live as u64 {
                self.frames.extend(log.get(position));
            }
            self.live = 0;
        }
    }

    fn pop(&mut self) -> Option<Frame> {
        if let Some(frame) = self.frames.pop_front() {
            return Some(frame);
        }
        while self.live > 0 {
            let position = self.cursor;
            self.cursor += 1;
            self.live -= 1;
            // Always there: the log keeps more than a subscriber can have due.
            if let Some(frame) = self.log.as_ref().and_then(|log| log.get(position)) {
                return Some(frame);
            }
        }
        None
    }
}

/// A topic a subscription can leave (the hub's topics, whatever their key
/// type: `Subscription` is not generic).
pub(crate) trait LeaveTopic: Send + Sync {
    fn leave(&self, id: u64);
}

/// Where a subscription is registered: which topic, under which id.
pub(crate) struct Leave {
    pub(crate) topic: Arc<dyn LeaveTopic>,
    pub(crate) id: u64,
}

/// A subscriber's stream of frames: publish it as a response. Dropping it
/// (as the framework does when the client goes away) leaves the topic.
pub struct Subscription {
    queue: Arc<Queue>,
    leave: Option<Leave>,
}

impl Subscription {
    pub(crate) fn new(queue: Arc<Queue>, leave: Leave) -> Self {
        Self {
            queue,
            leave: Some(leave),
        }
    }

    /// A subscription to nothing: for a hub that has shut down.
    pub(crate) fn detached(queue: Arc<Queue>) -> Self {
        Self { queue, leave: None }
    }

    /// How many frames wait in this subscriber's queue (never more than the
    /// configured queue size, plus replayed history right after subscribing,
    /// or a shutdown's final event).
    pub fn queued(&self) -> usize {
        let state = lock(&self.queue.state);
        state.frames.len() + state.live
    }
}

impl Stream for Subscription {
    type Item = Frame;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        let mut state = lock(&self.queue.state);
        if state.missed > 0 {
            let missed = std::mem::take(&mut state.missed);
            return Poll::Ready(Some(self.queue.config.gap("lagged", Some(missed)).encode()));
        }
        if let Some(frame) = state.pop() {
            return Poll::Ready(Some(frame));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        match &mut state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(Leave { topic, id }) = self.leave.take() {
            topic.leave(id);
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}
