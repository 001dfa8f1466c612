//! A replay read from the broker a page at a time, as the client drains it.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::encode::Frame;
use crate::hub::ReplayCount;

/// The range of a replay still to read, and how to read a page of it: the
/// broker-specific half of a [`Replay`].
pub trait Pages: Send + 'static {
    /// Where a page starts (and what is known of that position, for gap
    /// checks), as found by the page before it.
    type Cursor: Send + 'static;
    /// Why a page could not be read.
    type Error: Send + 'static;

    /// Reads the page starting at `from`.
    fn fetch(&self, from: &Self::Cursor) -> PageFuture<Self>;

    /// The error to end the replay with, instead of reading another page,
    /// once the hub was shut down (an `Err`, not a quiet end that could read
    /// as the end of the replay: the client resumes after what it got).
    fn closed(&self) -> Option<Self::Error>;
}

/// A page being read.
pub type PageFuture<S> =
    Pin<Box<dyn Future<Output = Result<Page<<S as Pages>::Cursor>, <S as Pages>::Error>> + Send>>;

/// One page of a replay.
#[derive(Debug)]
pub struct Page<C> {
    /// Its frames, a gap notice first if events were missed before them.
    pub frames: VecDeque<Frame>,
    /// How much it adds to [`Replay::read`] (what it received from the
    /// broker, as the backplane counts it).
    pub received: usize,
    /// Where the next page starts; `None` once the range is read through.
    pub next: Option<C>,
    /// The first frame is a gap notice, not an event (for the replay's
    /// [count](Replay::counted)).
    pub notice: bool,
}

/// The replay part of a subscription: the frames of the current page, and
/// where the next page starts. The next page is read only when the client
/// asks for a frame after the last one of the page, so a stalled client
/// holds at most one page, however long the range.
pub struct Replay<S: Pages> {
    frames: VecDeque<Frame>,
    /// `None` once the range is read through, or after an error.
    rest: Option<(S, S::Cursor)>,
    /// Requested once `frames` ran out.
    fetching: Option<PageFuture<S>>,
    read: u64,
    /// The events of the pages read (gap notices left out).
    events: usize,
    /// Where `events` goes when the replay is dropped, for the metrics.
    count: Option<ReplayCount>,
}

impl<S: Pages> Replay<S> {
    /// A replay of these frames only (nothing to read from the broker).
    pub fn ready(frames: VecDeque<Frame>) -> Self {
        Self {
            frames,
            rest: None,
            fetching: None,
            read: 0,
            events: 0,
            count: None,
        }
    }

    /// A replay that starts with `first` (read before the subscription is
    /// handed out, so a broker that cannot be reached fails the start) and
    /// goes on with `pages`.
    pub fn new(pages: S, first: Page<S::Cursor>) -> Self {
        let events = first.events();
        Self {
            frames: first.frames,
            rest: first.next.map(|next| (pages, next)),
            fetching: None,
            read: first.received as u64,
            events,
            count: None,
        }
    }

    /// Counts this replay's events (those of every page read, whole pages,
    /// gap notices left out) into `count`, recorded when the replay is
    /// dropped: a resume's replay size for
    /// [`BackplaneMetrics`](crate::hub::BackplaneMetrics).
    #[must_use]
    pub fn counted(mut self, count: ReplayCount) -> Self {
        self.count = Some(count);
        self
    }

    /// Frames fetched and not yet yielded: at most one page (and a gap
    /// notice).
    pub fn buffered(&self) -> usize {
        self.frames.len()
    }

    /// The sum of the pages' [`received`](Page::received) so far.
    pub fn read(&self) -> u64 {
        self.read
    }

    /// The next frame of the replay, reading the next page when the current
    /// one is used up; `None` once the replay is read through; an `Err`
    /// (after which it ends) when a page cannot be read.
    pub fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame, S::Error>>> {
        loop {
            if let Some(frame) = self.frames.pop_front() {
                return Poll::Ready(Some(Ok(frame)));
            }
            let fetching = match &mut self.fetching {
                Some(fetching) => fetching,
                None => {
                    let Some((pages, next)) = &self.rest else {
                        return Poll::Ready(None);
                    };
                    if let Some(error) = pages.closed() {
                        self.rest = None;
                        return Poll::Ready(Some(Err(error)));
                    }
                    let page = pages.fetch(next);
                    self.fetching.insert(page)
                }
            };
            let Poll::Ready(result) = fetching.as_mut().poll(cx) else {
                return Poll::Pending;
            };
            self.fetching = None;
            match result {
                Ok(page) => self.take(page),
                Err(error) => {
                    self.rest = None;
                    return Poll::Ready(Some(Err(error)));
                }
            }
        }
    }

    fn take(&mut self, page: Page<S::Cursor>) {
        self.events += page.events();
        self.frames = page.frames;
        self.read += page.received as u64;
        match (page.next, &mut self.rest) {
            (Some(next), Some((_, cursor))) => *cursor = next,
            _ => self.rest = None,
        }
    }
}

impl<C> Page<C> {
    fn events(&self) -> usize {
        self.frames.len() - usize::from(self.notice && !self.frames.is_empty())
    }
}

impl<S: Pages> Drop for Replay<S> {
    fn drop(&mut self) {
        if let Some(count) = &mut self.count {
            count.add(self.events);
        }
    }
}

impl<S: Pages> std::fmt::Debug for Replay<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replay")
            .field("buffered", &self.frames.len())
            .field("read", &self.read)
            .field("more", &self.rest.is_some())
            .finish()
    }
}
