//! A subscriber's stream: the replay from Redis (read a page at a time, as
//! the client drains it), then the node's live feed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use ssekit::hub::Subscription;
use ssekit::Frame;

use crate::error::Error;
use crate::reader::Control;
use crate::replay::Replay;

type Start = Pin<Box<dyn Future<Output = Result<(Replay, Subscription), Error>> + Send>>;

/// A subscription to a [`RedisHub`](crate::RedisHub) topic: publish it as a
/// response. It yields `Err` (which ends the response cleanly, so the client
/// reconnects and resumes) if Redis cannot be reached when it starts, or while
/// it reads a resume's replay (read one page at a time, as the client drains
/// it; see [`RedisHub::subscribe`](crate::RedisHub::subscribe)).
pub struct RedisSubscription {
    state: State,
    /// Told of the topic when this subscription goes, so the node's sweep
    /// checks that topic (and only the topics subscribers left).
    leave: Option<(tokio::sync::mpsc::UnboundedSender<Control>, String)>,
}

enum State {
    Starting(Start),
    Streaming { replay: Replay, live: Subscription },
    Done,
}

impl RedisSubscription {
    pub(crate) fn new(
        start: impl Future<Output = Result<(Replay, Subscription), Error>> + Send + 'static,
        leave: (tokio::sync::mpsc::UnboundedSender<Control>, String),
    ) -> Self {
        Self {
            state: State::Starting(Box::pin(start)),
            leave: Some(leave),
        }
    }

    /// Frames of the replay read from Redis and not yet yielded: at most one
    /// page (and a gap notice). For tests of the per-connection bound; not
    /// part of the stable API.
    #[doc(hidden)]
    pub fn replay_buffered(&self) -> usize {
        match &self.state {
            State::Streaming { replay, .. } => replay.buffered(),
            State::Starting(_) | State::Done => 0,
        }
    }

    /// Entries of the replay received from Redis so far, each counted once
    /// (one more than yielded and buffered while the next page's first entry,
    /// read ahead to know where it starts, is pending; 0 before the start and
    /// after an error). For tests of the per-connection bound; not part of
    /// the stable API.
    #[doc(hidden)]
    pub fn replay_read(&self) -> u64 {
        match &self.state {
            State::Streaming { replay, .. } => replay.read(),
            State::Starting(_) | State::Done => 0,
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
                State::Streaming { replay, live } => match replay.poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => return Poll::Ready(Some(Ok(frame))),
                    Poll::Pending => return Poll::Pending,
                    // The replay reached `upper`: the live feed starts after it.
                    Poll::Ready(None) => {
                        return Pin::new(live).poll_next(cx).map(|frame| frame.map(Ok))
                    }
                    Poll::Ready(Some(Err(error))) => {
                        self.state = State::Done;
                        return Poll::Ready(Some(Err(error)));
                    }
                },
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

impl Drop for RedisSubscription {
    fn drop(&mut self) {
        // The local subscription goes first, so the sweep that checks the
        // topic counts it gone.
        self.state = State::Done;
        if let Some((feed, topic)) = self.leave.take() {
            let _ = feed.send(Control::Left(topic));
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
