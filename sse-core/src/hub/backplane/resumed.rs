//! A subscriber's stream: started, then its replay, then the live feed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::super::Subscription;
use super::replay::{Pages, Replay};
use crate::encode::Frame;

/// A started subscription: its replay, its live feed, and a guard dropped
/// just after the live feed when the subscription ends (for instance one
/// telling the node's reader that a local subscriber left).
pub struct Joined<S: Pages, G = ()> {
    /// The events up to where `live` starts.
    pub replay: Replay<S>,
    /// The node's live feed, from just after the replay.
    pub live: Subscription,
    /// Dropped after `live` when the stream ends or is dropped.
    pub guard: G,
}

type Start<S, G> = Pin<Box<dyn Future<Output = Result<Joined<S, G>, <S as Pages>::Error>> + Send>>;

/// A backplane subscription as a stream of frames: it starts (joins the
/// topic on the node and reads the first page) when first polled, so the
/// response head goes out at once, then yields the replay, then the live
/// feed. An `Err`, from the start or a page, ends it: the client reconnects
/// and resumes after the last event it got.
pub struct Resumed<S: Pages, G = ()> {
    state: State<S, G>,
}

enum State<S: Pages, G> {
    Starting(Start<S, G>),
    Streaming(Joined<S, G>),
    Done,
}

// Nothing in it is ever pinned in place: the start is boxed, and the replay
// and live feed are polled through `&mut`.
impl<S: Pages, G> Unpin for Resumed<S, G> {}

impl<S: Pages, G> Resumed<S, G> {
    /// A stream that runs `start` when first polled.
    pub fn new(
        start: impl Future<Output = Result<Joined<S, G>, S::Error>> + Send + 'static,
    ) -> Self {
        Self {
            state: State::Starting(Box::pin(start)),
        }
    }

    /// The replay, while streaming.
    pub fn replay(&self) -> Option<&Replay<S>> {
        match &self.state {
            State::Streaming(joined) => Some(&joined.replay),
            State::Starting(_) | State::Done => None,
        }
    }

    /// `"starting"`, `"streaming"` or `"done"`, for a `Debug` impl.
    pub fn stage(&self) -> &'static str {
        match &self.state {
            State::Starting(_) => "starting",
            State::Streaming(_) => "streaming",
            State::Done => "done",
        }
    }

    /// Ends the stream: the live feed leaves the local hub, then the guard
    /// is dropped (so whatever it tells counts the subscriber gone).
    pub fn close(&mut self) {
        if let State::Streaming(Joined {
            replay,
            live,
            guard,
        }) = std::mem::replace(&mut self.state, State::Done)
        {
            drop(live);
            drop(guard);
            drop(replay);
        }
    }
}

impl<S: Pages, G> Stream for Resumed<S, G> {
    type Item = Result<Frame, S::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match &mut self.state {
                State::Starting(start) => match start.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(joined)) => self.state = State::Streaming(joined),
                    Poll::Ready(Err(error)) => {
                        self.state = State::Done;
                        return Poll::Ready(Some(Err(error)));
                    }
                },
                State::Streaming(Joined { replay, live, .. }) => match replay.poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => return Poll::Ready(Some(Ok(frame))),
                    Poll::Pending => return Poll::Pending,
                    // The replay reached `upper`: the live feed starts after it.
                    Poll::Ready(None) => {
                        return Pin::new(live).poll_next(cx).map(|frame| frame.map(Ok))
                    }
                    Poll::Ready(Some(Err(error))) => {
                        self.close();
                        return Poll::Ready(Some(Err(error)));
                    }
                },
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

impl<S: Pages, G> Drop for Resumed<S, G> {
    fn drop(&mut self) {
        self.close();
    }
}

impl<S: Pages, G> fmt::Debug for Joined<S, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Joined")
            .field("replay", &self.replay)
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

impl<S: Pages, G> fmt::Debug for Resumed<S, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resumed")
            .field("state", &self.stage())
            .finish()
    }
}
