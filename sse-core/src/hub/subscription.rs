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

pub(crate) struct Queue {
    capacity: usize,
    config: Arc<HubConfig>,
    state: Mutex<QueueState>,
}

#[derive(Default)]
struct QueueState {
    frames: VecDeque<Frame>,
    waker: Option<Waker>,
    /// No more frames will be pushed: end after draining (and `last`).
    closed: bool,
    last: Option<Frame>,
    /// Frames dropped under `LagPolicy::DropOldest` not yet reported.
    missed: u64,
}

impl Queue {
    pub(crate) fn new(config: Arc<HubConfig>) -> Self {
        Self {
            capacity: config.queue,
            config,
            state: Mutex::new(QueueState::default()),
        }
    }

    /// Queues a published frame; false when the subscriber must be dropped
    /// from its topic (closed, or disconnected for lagging).
    pub(crate) fn push(&self, frame: Frame) -> bool {
        let mut state = lock(&self.state);
        if state.closed {
            return false;
        }
        if state.frames.len() >= self.capacity {
            match self.config.lag_policy {
                LagPolicy::Disconnect => {
                    state.closed = true;
                    wake(state);
                    return false;
                }
                LagPolicy::DropOldest => {
                    state.frames.pop_front();
                    state.missed += 1;
                }
            }
        }
        state.frames.push_back(frame);
        wake(state);
        true
    }

    /// Queues replayed history ahead of live frames. Not subject to the queue
    /// bound: history is bounded on its own.
    pub(crate) fn preload(&self, frames: Vec<Frame>) {
        lock(&self.state).frames.extend(frames);
    }

    pub(crate) fn close(&self, last: Option<Frame>) {
        let mut state = lock(&self.state);
        state.closed = true;
        state.last = last;
        wake(state);
    }
}

fn wake(mut state: std::sync::MutexGuard<'_, QueueState>) {
    let waker = state.waker.take();
    drop(state);
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// A subscriber's stream of frames: publish it as a response. Dropping it
/// (as the framework does when the client goes away) leaves the topic.
pub struct Subscription {
    queue: Arc<Queue>,
    leave: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Subscription {
    pub(crate) fn new(queue: Arc<Queue>, leave: Box<dyn FnOnce() + Send + Sync>) -> Self {
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
    /// configured queue size, plus replayed history right after subscribing).
    pub fn queued(&self) -> usize {
        lock(&self.queue.state).frames.len()
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
        if let Some(frame) = state.frames.pop_front() {
            return Poll::Ready(Some(frame));
        }
        if state.closed {
            return Poll::Ready(state.last.take());
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
        if let Some(leave) = self.leave.take() {
            leave();
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
