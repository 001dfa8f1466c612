//! A subscriber's stream: the replay from Redis (read a page at a time, as
//! the client drains it), then the node's live feed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use ssekit::hub::backplane::{Joined, Resumed};
use ssekit::Frame;

use crate::error::Error;
use crate::reader::Control;
use crate::replay::Range;

/// A subscription to a [`RedisHub`](crate::RedisHub) topic: publish it as a
/// response. It yields `Err` (which ends the response cleanly, so the client
/// reconnects and resumes) if Redis cannot be reached when it starts, or while
/// it reads a resume's replay (read one page at a time, as the client drains
/// it; see [`RedisHub::subscribe`](crate::RedisHub::subscribe)).
pub struct RedisSubscription {
    stream: Resumed<Range>,
    /// Told of the topic when this subscription goes, so the node's sweep
    /// checks that topic (and only the topics subscribers left). Held from
    /// the start, not from the join: a subscription dropped while it joins
    /// may have made the node follow the topic.
    leave: Option<(tokio::sync::mpsc::UnboundedSender<Control>, String)>,
}

impl RedisSubscription {
    pub(crate) fn new(
        start: impl Future<Output = Result<Joined<Range>, Error>> + Send + 'static,
        leave: (tokio::sync::mpsc::UnboundedSender<Control>, String),
    ) -> Self {
        Self {
            stream: Resumed::new(start),
            leave: Some(leave),
        }
    }

    /// Frames of the replay read from Redis and not yet yielded: at most one
    /// page (and a gap notice). For tests of the per-connection bound; not
    /// part of the stable API.
    #[doc(hidden)]
    pub fn replay_buffered(&self) -> usize {
        self.stream.replay().map_or(0, |replay| replay.buffered())
    }

    /// Entries of the replay received from Redis so far, each counted once
    /// (one more than yielded and buffered while the next page's first entry,
    /// read ahead to know where it starts, is pending; 0 before the start and
    /// after an error). For tests of the per-connection bound; not part of
    /// the stable API.
    #[doc(hidden)]
    pub fn replay_read(&self) -> u64 {
        self.stream.replay().map_or(0, |replay| replay.read())
    }
}

impl Stream for RedisSubscription {
    type Item = Result<Frame, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.stream).poll_next(cx)
    }
}

impl Drop for RedisSubscription {
    fn drop(&mut self) {
        // The local subscription goes first, so the sweep that checks the
        // topic counts it gone.
        self.stream.close();
        if let Some((feed, topic)) = self.leave.take() {
            let _ = feed.send(Control::Left(topic));
        }
    }
}

impl fmt::Debug for RedisSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSubscription")
            .field("state", &self.stream.stage())
            .finish()
    }
}
