//! A subscriber's stream: the replay from Redis, then the node's live feed.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use ssekit::hub::Subscription;
use ssekit::Frame;

use crate::error::Error;

type Start = Pin<Box<dyn Future<Output = Result<(VecDeque<Frame>, Subscription), Error>> + Send>>;

/// A subscription to a [`RedisHub`](crate::RedisHub) topic: publish it as a
/// response. It yields `Err` (which ends the response cleanly, so the client
/// reconnects and resumes) if Redis cannot be reached when it starts.
pub struct RedisSubscription {
    state: State,
}

enum State {
    Starting(Start),
    Streaming {
        replay: VecDeque<Frame>,
        live: Subscription,
    },
    Done,
}

impl RedisSubscription {
    pub(crate) fn new(
        start: impl Future<Output = Result<(VecDeque<Frame>, Subscription), Error>> + Send + 'static,
    ) -> Self {
        Self {
            state: State::Starting(Box::pin(start)),
        }
    }
}

impl Stream for RedisSubscription {
    type Item = Result<Frame, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match &mut self.state {
                State::Starting(start) => match start.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok((replay, live))) => {
                        self.state = State::Streaming { replay, live }
                    }
                    Poll::Ready(Err(error)) => {
                        self.state = State::Done;
                        return Poll::Ready(Some(Err(error)));
                    }
                },
                State::Streaming { replay, live } => {
                    if let Some(frame) = replay.pop_front() {
                        return Poll::Ready(Some(Ok(frame)));
                    }
                    return Pin::new(live).poll_next(cx).map(|frame| frame.map(Ok));
                }
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

impl fmt::Debug for RedisSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Starting(_) => "starting",
            State::Streaming { .. } => "streaming",
            State::Done => "done",
        };
        f.debug_struct("RedisSubscription")
            .field("state", &state)
            .finish()
    }
}
