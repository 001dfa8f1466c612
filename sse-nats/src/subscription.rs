//! A subscriber's stream: the replay from JetStream (read a page at a time,
//! as the client drains it), then the node's live feed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;
use ssekit::hub::backplane::{Joined, Resumed};
use ssekit::Frame;

use crate::error::Error;
use crate::reader::TopicReader;
use crate::replay::Range;

/// A started subscription: its replay, its live feed, and the reader to
/// wake when it leaves.
pub(crate) type Started = Joined<Range, Leave>;

/// Wakes the topic's reader once the local subscription is gone, so it
/// stops (and unsubscribes) when that was the last local subscriber.
pub(crate) struct Leave(pub(crate) Arc<TopicReader>);

impl Drop for Leave {
    fn drop(&mut self) {
        self.0.wake();
    }
}

/// A subscription to a [`NatsHub`](crate::NatsHub) topic: publish it as a
/// response. It yields `Err` (which ends the response cleanly, so the client
/// reconnects and resumes) if NATS cannot be reached when it starts, or while
/// it reads a resume's replay (read one page at a time, as the client drains
/// it; see [`NatsHub::subscribe`](crate::NatsHub::subscribe)).
pub struct NatsSubscription {
    stream: Resumed<Range, Leave>,
}

impl NatsSubscription {
    pub(crate) fn new(
        start: impl Future<Output = Result<Started, Error>> + Send + 'static,
    ) -> Self {
        Self {
            stream: Resumed::new(start),
        }
    }

    /// Frames of the replay read from JetStream and not yet yielded: at most
    /// one page (and a gap notice). For tests of the per-connection bound;
    /// not part of the stable API.
    #[doc(hidden)]
    pub fn replay_buffered(&self) -> usize {
        self.stream.replay().map_or(0, |replay| replay.buffered())
    }

    /// Messages of the replay received from JetStream so far (a page's
    /// look-ahead is received again as the first of the next page; 0 before
    /// the start and after an error). For tests of the per-connection bound;
    /// not part of the stable API.
    #[doc(hidden)]
    pub fn replay_read(&self) -> u64 {
        self.stream.replay().map_or(0, |replay| replay.read())
    }
}

impl Stream for NatsSubscription {
    type Item = Result<Frame, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.stream).poll_next(cx)
    }
}

impl fmt::Debug for NatsSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsSubscription")
            .field("state", &self.stream.stage())
            .finish()
    }
}
