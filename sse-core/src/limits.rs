//! Caps on concurrent streams, overall and per topic.
//!
//! Every open SSE stream holds a connection, a task and its buffers for as long
//! as the client stays. Without a cap, a burst of clients degrades every stream
//! at once; with one, the streams over the cap are refused up front with a
//! clear answer ([`SsePublisher::too_many_streams`](crate::SsePublisher::too_many_streams):
//! `503 Service Unavailable` with `Retry-After`) and the admitted ones keep their quality.
//!
//! ```
//! use std::time::Duration;
//! use futures_util::stream;
//! use ssekit::limits::{StreamCaps, StreamLimits};
//! use ssekit::{Event, SsePublisher};
//!
//! async fn chat<P: SsePublisher>(publisher: P, limits: StreamLimits) -> P::Response {
//!     match limits.try_acquire(Some("chat")) {
//!         // The permit lives in the body: released when the client goes.
//!         Ok(permit) => publisher.publish(permit.attach(stream::iter([Event::message("hi")]))),
//!         Err(_) => publisher.too_many_streams(Duration::from_secs(10)),
//!     }
//! }
//!
//! let limits = StreamLimits::with_caps(StreamCaps::new().with_global(10_000).with_per_topic(500));
//! ```

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_core::Stream;

/// The caps a [`StreamLimits`] enforces, fixed when it is made.
///
/// Both caps are off by default.
///
/// ```
/// use ssekit::limits::StreamCaps;
///
/// let caps = StreamCaps::new().with_global(10_000).with_per_topic(500);
/// assert_eq!(caps.global(), Some(10_000));
/// assert_eq!(caps.per_topic(), Some(500));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCaps {
    global: Option<usize>,
    per_topic: Option<usize>,
}

impl StreamCaps {
    /// No caps.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Admits at most `max` streams at once in total.
    #[must_use]
    pub fn with_global(mut self, max: usize) -> Self {
        self.global = Some(max);
        self
    }

    /// Admits at most `max` streams at once per topic.
    #[must_use]
    pub fn with_per_topic(mut self, max: usize) -> Self {
        self.per_topic = Some(max);
        self
    }

    /// The cap on all streams, if any.
    #[must_use]
    pub fn global(&self) -> Option<usize> {
        self.global
    }

    /// The cap on the streams of one topic, if any.
    #[must_use]
    pub fn per_topic(&self) -> Option<usize> {
        self.per_topic
    }
}

/// Concurrent-stream caps and counts, shared by all clones (an `Arc` inside:
/// cloning is cheap, and every clone counts against the same totals).
///
/// The caps ([`StreamCaps`]) are set when the limits are made and never
/// change, so a clone handed to a handler enforces exactly what its maker
/// configured. A stream takes a [`StreamPermit`] with
/// [`try_acquire`](Self::try_acquire) and gives it back when the permit is
/// dropped. Topic counts live only while a topic has streams, so the
/// bookkeeping is proportional to the streams open, never to the topics ever
/// seen. When topic names come from the request, set a global cap too: it
/// bounds how many topics can be open at once.
///
/// ```
/// use ssekit::limits::{LimitExceeded, StreamCaps, StreamLimits};
///
/// let limits = StreamLimits::with_caps(StreamCaps::new().with_global(3).with_per_topic(2));
/// let a = limits.try_acquire(Some("news"))?;
/// let b = limits.try_acquire(Some("news"))?;
/// assert_eq!(
///     limits.try_acquire(Some("news")).unwrap_err(),
///     LimitExceeded::Topic { topic: "news".into(), max: 2 }
/// );
/// let c = limits.try_acquire(Some("sport"))?;
/// assert_eq!(limits.try_acquire(None).unwrap_err(), LimitExceeded::Global { max: 3 });
///
/// drop(a); // a stream ended: its slot is free again
/// assert_eq!(limits.active(), 2);
/// assert!(limits.try_acquire(Some("news")).is_ok());
/// # Ok::<(), LimitExceeded>(())
/// ```
#[derive(Clone, Default)]
pub struct StreamLimits {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    caps: StreamCaps,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    /// Only topics with at least one open stream: entries go when they reach zero.
    topics: HashMap<Box<str>, usize>,
}

impl StreamLimits {
    /// No caps: every stream is admitted (and counted).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Limits enforcing `caps`.
    #[must_use]
    pub fn with_caps(caps: StreamCaps) -> Self {
        Self {
            shared: Arc::new(Shared {
                caps,
                counts: Mutex::default(),
            }),
        }
    }

    /// The caps enforced.
    #[must_use]
    pub fn caps(&self) -> StreamCaps {
        self.shared.caps
    }

    /// Takes a slot for one stream on `topic` (or on no topic: then only the
    /// global cap applies), or says which cap is reached.
    ///
    /// Hold the permit for as long as the stream is open; the simplest way is
    /// to publish [`StreamPermit::attach`]'s stream, which owns it.
    pub fn try_acquire(&self, topic: Option<&str>) -> Result<StreamPermit, LimitExceeded> {
        let caps = self.shared.caps;
        let mut counts = self.counts();
        if let Some(max) = caps.global {
            if counts.total >= max {
                crate::observe::limit_refused("global");
                return Err(LimitExceeded::Global { max });
            }
        }
        if let Some(topic) = topic {
            let open = counts.topics.get(topic).copied().unwrap_or(0);
            if let Some(max) = caps.per_topic {
                if open >= max {
                    crate::observe::limit_refused("topic");
                    return Err(LimitExceeded::Topic {
                        topic: topic.to_owned(),
                        max,
                    });
                }
            }
            counts.topics.insert(topic.into(), open + 1);
        }
        counts.total += 1;
        drop(counts);
        Ok(StreamPermit {
            limits: self.clone(),
            topic: topic.map(Into::into),
        })
    }

    /// How many streams hold a permit now.
    pub fn active(&self) -> usize {
        self.counts().total
    }

    /// How many streams on `topic` hold a permit now.
    pub fn active_on(&self, topic: &str) -> usize {
        self.counts().topics.get(topic).copied().unwrap_or(0)
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // Nothing panics while the lock is held, and the counts stay
        // consistent even if something did: recovering beats failing every
        // stream afterwards.
        self.shared.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release(&self, topic: Option<&str>) {
        let mut counts = self.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(topic) = topic {
            match counts.topics.get_mut(topic) {
                Some(open) if *open > 1 => *open -= 1,
                Some(_) => {
                    counts.topics.remove(topic);
                }
                None => {}
            }
        }
    }
}

impl fmt::Debug for StreamLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = self.counts();
        f.debug_struct("StreamLimits")
            .field("caps", &self.shared.caps)
            .field("active", &counts.total)
            .field("active_topics", &counts.topics.len())
            .finish()
    }
}

/// Which cap refused a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitExceeded {
    /// The server-wide cap ([`StreamCaps::with_global`]).
    Global {
        /// The cap.
        max: usize,
    },
    /// The cap of one topic ([`StreamCaps::with_per_topic`]).
    Topic {
        /// The topic that is full.
        topic: String,
        /// The cap.
        max: usize,
    },
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitExceeded::Global { max } => {
                write!(f, "the server already has {max} open streams, its limit")
            }
            LimitExceeded::Topic { topic, max } => {
                write!(
                    f,
                    "topic {topic:?} already has {max} open streams, its limit"
                )
            }
        }
    }
}

impl std::error::Error for LimitExceeded {}

/// One stream's slot under a [`StreamLimits`]; the slot is free again when
/// the permit is dropped.
#[must_use = "the slot is released as soon as the permit is dropped"]
pub struct StreamPermit {
    limits: StreamLimits,
    topic: Option<Box<str>>,
}

impl StreamPermit {
    /// Wraps `source` so that it owns this permit: publish the result, and the
    /// slot is released when the source ends or the response body is dropped
    /// (which the framework does when the client goes away), whichever comes
    /// first.
    ///
    /// ```
    /// use futures_util::{stream, StreamExt};
    /// use ssekit::adapter::SseBody;
    /// use ssekit::limits::{StreamCaps, StreamLimits};
    /// use ssekit::{Event, PublishOptions};
    ///
    /// let limits = StreamLimits::with_caps(StreamCaps::new().with_global(1));
    /// let source = limits.try_acquire(None)?.attach(stream::pending::<Event>());
    /// let body = SseBody::new(source, &PublishOptions::new());
    /// assert!(limits.try_acquire(None).is_err());
    /// drop(body); // the client went away
    /// assert!(limits.try_acquire(None).is_ok());
    /// # Ok::<(), ssekit::limits::LimitExceeded>(())
    /// ```
    pub fn attach<S: Stream>(self, source: S) -> Limited<S> {
        Limited {
            source,
            permit: Some(self),
        }
    }

    /// The topic this permit counts against, if any.
    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref()
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        self.limits.release(self.topic.as_deref());
    }
}

impl fmt::Debug for StreamPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamPermit")
            .field("topic", &self.topic)
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// A source that holds a [`StreamPermit`] until it ends or is dropped
    /// (from [`StreamPermit::attach`]). Yields the source's items unchanged.
    pub struct Limited<S> {
        #[pin]
        source: S,
        permit: Option<StreamPermit>,
    }
}

impl<S: Stream> Stream for Limited<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        let polled = this.source.poll_next(cx);
        if let Poll::Ready(None) = polled {
            // A finished source needs no slot, even if its body lingers.
            this.permit.take();
        }
        polled
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.source.size_hint()
    }
}

impl<S: fmt::Debug> fmt::Debug for Limited<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limited")
            .field("source", &self.source)
            .field("permit", &self.permit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::stream::{self, StreamExt};

    use super::*;
    use crate::body::SseBody;
    use crate::event::Event;
    use crate::options::PublishOptions;

    fn tracked_topics(limits: &StreamLimits) -> usize {
        limits.counts().topics.len()
    }

    #[test]
    fn no_caps_admits_everything_and_counts_it() {
        let limits = StreamLimits::new();
        let permits: Vec<_> = (0..100)
            .map(|i| limits.try_acquire(Some(&i.to_string())).unwrap())
            .collect();
        assert_eq!(limits.active(), 100);
        assert_eq!(limits.active_on("7"), 1);
        drop(permits);
        assert_eq!(limits.active(), 0);
        assert_eq!(tracked_topics(&limits), 0);
    }

    #[test]
    fn global_cap_counts_streams_with_and_without_topic() {
        let limits = StreamLimits::with_caps(StreamCaps::new().with_global(2));
        let _a = limits.try_acquire(None).unwrap();
        let _b = limits.try_acquire(Some("t")).unwrap();
        assert_eq!(
            limits.try_acquire(Some("u")).unwrap_err(),
            LimitExceeded::Global { max: 2 }
        );
        assert_eq!(
            limits.try_acquire(None).unwrap_err(),
            LimitExceeded::Global { max: 2 }
        );
    }

    #[test]
    fn topic_cap_is_per_topic() {
        let limits = StreamLimits::with_caps(StreamCaps::new().with_per_topic(1));
        let _a = limits.try_acquire(Some("a")).unwrap();
        let _b = limits.try_acquire(Some("b")).unwrap();
        let err = limits.try_acquire(Some("a")).unwrap_err();
        assert_eq!(
            err,
            LimitExceeded::Topic {
                topic: "a".into(),
                max: 1
            }
        );
        assert_eq!(
            err.to_string(),
            "topic \"a\" already has 1 open streams, its limit"
        );
        // Streams without a topic are not held back by topic caps.
        let _c = limits.try_acquire(None).unwrap();
    }

    #[test]
    fn a_refused_stream_takes_nothing() {
        let limits = StreamLimits::with_caps(StreamCaps::new().with_global(5).with_per_topic(1));
        let _a = limits.try_acquire(Some("a")).unwrap();
        for _ in 0..10 {
            assert!(limits.try_acquire(Some("a")).is_err());
        }
        assert_eq!(limits.active(), 1);
        assert_eq!(limits.active_on("a"), 1);
    }

    #[test]
    fn zero_cap_refuses_all() {
        let limits = StreamLimits::with_caps(StreamCaps::new().with_global(0));
        assert_eq!(
            limits.try_acquire(None).unwrap_err(),
            LimitExceeded::Global { max: 0 }
        );
    }

    #[test]
    fn clones_share_counts_and_caps() {
        let limits = StreamLimits::with_caps(StreamCaps::new().with_per_topic(1));
        let clone = limits.clone();
        let _a = limits.try_acquire(Some("t")).unwrap();
        assert!(clone.try_acquire(Some("t")).is_err());
        assert_eq!(clone.active(), 1);
        assert_eq!(clone.caps(), limits.caps());
    }

    #[test]
    fn topic_entries_do_not_outlive_their_streams() {
        let limits = StreamLimits::with_caps(StreamCaps::new().with_per_topic(3));
        for round in 0..1000 {
            let topic = format!("topic-{round}");
            let a = limits.try_acquire(Some(&topic)).unwrap();
            let b = limits.try_acquire(Some(&topic)).unwrap();
            drop(a);
            assert_eq!(limits.active_on(&topic), 1);
            drop(b);
        }
        assert_eq!(tracked_topics(&limits), 0);
        assert_eq!(limits.active(), 0);
    }

    #[test]
    fn concurrent_acquire_and_release_balance() {
        let limits = StreamLimits::with_caps(StreamCaps::new().with_global(8).with_per_topic(4));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let limits = limits.clone();
                std::thread::spawn(move || {
                    let topic = if t % 2 == 0 { "even" } else { "odd" };
                    for _ in 0..2000 {
                        if let Ok(permit) = limits.try_acquire(Some(topic)) {
                            assert!(limits.active_on(topic) <= 4);
                            assert!(limits.active() <= 8);
                            drop(permit);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(limits.active(), 0);
        assert_eq!(tracked_topics(&limits), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn attached_permit_lives_as_long_as_the_body() {
        let limits = StreamLimits::with_caps(StreamCaps::new().with_global(1));
        let source = limits
            .try_acquire(None)
            .unwrap()
            .attach(stream::pending::<Event>());
        let mut body = SseBody::new(source, &PublishOptions::new());
        // An idle stream keeps its slot across keep-alives.
        tokio::time::advance(Duration::from_secs(31)).await;
        let keep_alive = body.next().await.unwrap().unwrap();
        assert!(keep_alive.starts_with(b":"));
        assert!(limits.try_acquire(None).is_err());
        drop(body);
        assert_eq!(limits.active(), 0);
    }

    #[tokio::test]
    async fn attached_permit_is_released_when_the_source_ends() {
        let limits = StreamLimits::with_caps(StreamCaps::new().with_per_topic(1));
        let permit = limits.try_acquire(Some("t")).unwrap();
        assert_eq!(permit.topic(), Some("t"));
        let mut source = permit.attach(stream::iter([Event::message("a")]));
        assert!(source.next().await.is_some());
        assert_eq!(limits.active_on("t"), 1);
        assert!(source.next().await.is_none());
        assert_eq!(limits.active_on("t"), 0);
        // Dropping it afterwards does not release twice.
        let other = limits.try_acquire(Some("t")).unwrap();
        drop(source);
        assert_eq!(limits.active_on("t"), 1);
        drop(other);
        assert_eq!(tracked_topics(&limits), 0);
    }

    #[tokio::test]
    async fn attached_permit_is_released_when_the_source_panics() {
        let limits = StreamLimits::with_caps(StreamCaps::new().with_global(1));
        let source = limits
            .try_acquire(None)
            .unwrap()
            .attach(stream::iter([1, 2]).map(|n| {
                assert!(n < 2, "deliberate panic in a test source");
                Event::message(n.to_string())
            }));
        let body = SseBody::new(source, &PublishOptions::new().without_keep_alive());
        let chunks: Vec<_> = body.map(|chunk| chunk.unwrap()).collect().await;
        assert_eq!(chunks, [&b"data: 1\n\n"[..]]);
        assert_eq!(limits.active(), 0);
    }
}
