//! A subscriber's stream: the replay from JetStream (read a page at a time,
//! as the client drains it), then the node's live feed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use ssekit::hub::Subscription;
use ssekit::Frame;

use crate::error::Error;
use crate::reader::TopicReader;
use crate::replay::Replay;

/// A started subscription: its replay, its live feed, and the reader to
/// wake when it leaves.
pub(crate) struct Joined {
    pub(crate) replay: Replay,
    pub(crate) live: Subscription,
    pub(crate) reader: Arc<TopicReader>,
}

type Start = Pin<Box<dyn Future<Output = Result<Joined, Error>> + Send>>;

/// A subscription to a [`NatsHub`](crate::NatsHub) topic: publish it as a
/// response. It yields `Err` (which ends the response cleanly, so the client
/// reconnects and resumes) if NATS cannot be reached when it starts, or while
/// it reads a resume's replay (read one page at a time, as the client drains
/// it; see [`NatsHub::subscribe`](crate::NatsHub::subscribe)).
pub struct NatsSubscription {
    state: State,
}

enum State {
    Starting(Start),
    Streaming(Joined),
    Done,
}

impl NatsSubscription {
    pub(crate) fn new(start: impl Future<Output = Result<Joined, Error>> + Send + 'static) -> Self {
        Self {
            state: State::Starting(Box::pin(start)),
        }
    }

    /// Frames of the replay read from JetStream and not yet yielded: at most
    /// one page (and a gap notice). For tests of the per-connection bound;
    /// not part of the stable API.
    #[doc(hidden)]
    pub fn replay_buffered(&self) -> usize {
        match &self.state {
            State::Streaming(joined) => joined.replay.buffered(),
            State::Starting(_) | State::Done => 0,
        }
    }

    /// Messages of the replay received from JetStream so far (a page's
    /// look-ahead is received again as the first of the next page; 0 before
    /// the start and after an error). For tests of the per-connection bound;
    /// not part of the stable API.
    #[doc(hidden)]
    pub fn replay_read(&self) -> u64 {
        match &self.state {
            State::Streaming(joined) => joined.replay.read(),
            State::Starting(_) | State::Done => 0,
        }
    }
}

impl Stream for NatsSubscription {
    type Item = Result<Frame, Error>;

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
                        self.leave();
                        return Poll::Ready(Some(Err(error)));
                    }
                },
                State::Done => return Poll::Ready(None),
            }
        }
    }
}

impl NatsSubscription {
    /// Leaves the local hub, then tells the topic's reader, which stops (and
    /// unsubscribes) when it was the last local subscriber.
    fn leave(&mut self) {
        if let State::Streaming(Joined { live, reader, .. }) =
            std::mem::replace(&mut self.state, State::Done)
        {
            drop(live);
            reader.wake();
        }
    }
}

impl Drop for NatsSubscription {
    fn drop(&mut self) {
        self.leave();
    }
}

impl fmt::Debug for NatsSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Starting(_) => "starting",
            State::Streaming(_) => "streaming",
            State::Done => "done",
        };
        f.debug_struct("NatsSubscription")
            .field("state", &state)
            .finish()
    }
}
