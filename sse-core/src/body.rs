//! The response body every adapter sends: a source's frames, interleaved with
//! keep-alive comments, ended by the source, a shutdown, or the client leaving.

use std::convert::Infallible;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use sync_wrapper::SyncWrapper;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::encode::Frame;
use crate::event::Event;
use crate::observe::StreamObserver;
use crate::options::{ErrorMapper, PublishOptions};
use crate::shutdown::Shutdown;
use crate::source::{BoxError, FrameSource, Frames, IntoFrame};

/// The body of an SSE response, for any framework.
///
/// It is both a [`Stream`] of `Result<Bytes, Infallible>` and an
/// [`http_body::Body`], so every framework can take it as its streaming body.
/// Each item is one whole frame, yielded as soon as the source produces it.
///
/// * The retry hint, if any, comes first.
/// * While the source is idle for the keep-alive interval, a keep-alive comment
///   is sent; every frame restarts the interval.
/// * The body ends when the source ends, when the source fails or panics
///   (after the event from [`PublishOptions::with_error_event`], if any; the error is
///   logged), or when the [`Shutdown`] is triggered (after its final event).
///   It always ends cleanly, between two events.
/// * Dropping the body (the framework does so when the client goes away) drops
///   the source: a [`Receiver`](crate::channel::Receiver) then tells its
///   senders, whose `closed()` resolves and whose `send` fails.
///
/// The keep-alive timer needs a Tokio runtime when the body is first polled;
/// polled anywhere else, the body sends no keep-alives (and says so in a
/// `tracing` warning) rather than panic.
pub struct SseBody {
    // `SyncWrapper` makes the body `Sync` without asking sources to be: the
    // body is only ever polled through `&mut`, and some frameworks (warp,
    // poem's conversions) require `Sync` bodies.
    streaming: Option<SyncWrapper<BoxStreaming>>,
}

/// A stream's state, whatever its source.
type BoxStreaming = Pin<Box<Streaming<dyn FrameSource>>>;

pin_project_lite::pin_project! {
    /// A stream's whole state in one allocation: an idle connection holds
    /// thousands of these, so the keep-alive timer and the source live inline
    /// rather than in boxes of their own (the source last, so that the box
    /// can hold any source behind one type).
    struct Streaming<S: ?Sized> {
        // Bytes due before anything from the source: the retry hint at first,
        // later a frame that did not fit the chunk being built, and at the end
        // the last frame of a shutdown or a failure.
        carry: Option<Bytes>,
        // The most bytes one chunk may join from frames already ready (0: one
        // frame per chunk).
        coalesce: usize,
        // Return `Pending` once after each chunk (see `write_each_chunk`), and
        // whether that is due now.
        write_each_chunk: bool,
        chunk_sent: bool,
        keep_alive: Option<KeepAliveTimer>,
        // The keep-alive timer's `Sleep`, made on first poll, inside the runtime.
        #[pin]
        sleep: Option<Sleep>,
        // Boxed: most streams have none, and it is bigger than its pointer.
        shutdown: Option<Pin<Box<ShutdownWait>>>,
        on_error: Option<ErrorMapper>,
        // The stream's metrics and span (feature `metrics`; empty without).
        observer: StreamObserver,
        #[pin]
        source: S,
    }
}

pin_project_lite::pin_project! {
    struct ShutdownWait {
        shutdown: Shutdown,
        #[pin]
        wait: WaitForCancellationFutureOwned,
    }
}

struct KeepAliveTimer {
    interval: Duration,
    frame: Bytes,
    last_activity: Option<Instant>,
}

impl SseBody {
    /// A body streaming `source` with `options`' keep-alive, retry hint, shutdown
    /// and error handling (the status and headers are the response's business:
    /// see [`response`](crate::adapter::response)).
    #[must_use]
    pub fn new<S>(source: S, options: &PublishOptions) -> Self
    where
        S: Stream + Send + 'static,
        S::Item: IntoFrame,
    {
        let retry = options
            .retry
            .map(|retry| Event::new().with_retry(retry).encode().into_bytes());
        let keep_alive = options
            .keep_alive
            .as_ref()
            .map(|keep_alive| KeepAliveTimer {
                interval: keep_alive.interval(),
                frame: keep_alive.frame().clone().into_bytes(),
                last_activity: None,
            });
        let shutdown = options.shutdown.as_ref().map(|shutdown| {
            Box::pin(ShutdownWait {
                shutdown: shutdown.clone(),
                wait: shutdown.wait(),
            })
        });
        let streaming: BoxStreaming = Box::pin(Streaming {
            carry: retry,
            coalesce: 0,
            write_each_chunk: false,
            chunk_sent: false,
            keep_alive,
            sleep: None,
            shutdown,
            on_error: options.on_error.clone(),
            observer: StreamObserver::none(),
            source: Frames::new(source),
        });
        Self {
            streaming: Some(SyncWrapper::new(streaming)),
        }
    }

    /// A body with no bytes, for answers such as 204 No Content.
    #[must_use]
    pub fn empty() -> Self {
        Self { streaming: None }
    }

    /// A body that sends `bytes` at once and ends: a complete answer, such
    /// as a refusal's message.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use ssekit::adapter::SseBody;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut body = SseBody::full("not here".into());
    /// assert_eq!(body.next().await.unwrap().unwrap(), "not here");
    /// assert!(body.next().await.is_none());
    /// # }
    /// ```
    #[must_use]
    pub fn full(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            return Self::empty();
        }
        let streaming: BoxStreaming = Box::pin(Streaming {
            carry: Some(bytes),
            coalesce: 0,
            write_each_chunk: false,
            chunk_sent: false,
            keep_alive: None,
            sleep: None,
            shutdown: None,
            on_error: None,
            observer: StreamObserver::none(),
            source: Frames::new(NoFrames),
        });
        Self {
            streaming: Some(SyncWrapper::new(streaming)),
        }
    }

    /// What adapters pass to [`coalesce`](Self::coalesce): a burst of a few
    /// hundred small events leaves in one or two writes.
    pub const COALESCE_BYTES: usize = 64 * 1024;

    /// Joins the frames the source already has ready into one chunk of at
    /// most `max_bytes` (a single larger frame still goes whole), instead of
    /// yielding one chunk per frame. It never waits for frames to batch: a
    /// lone frame goes out alone, at once. Adapters turn this on, so that a
    /// connection with a backlog (a hub subscriber after a burst) costs the
    /// server one write instead of one per event; frames are never split, so
    /// a chunk always ends at an event boundary.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use ssekit::adapter::SseBody;
    /// use ssekit::{Event, PublishOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let events = futures_util::stream::iter([Event::message("a"), Event::message("b")]);
    /// let mut body = SseBody::new(events, &PublishOptions::new()).coalesce(16 * 1024);
    /// assert_eq!(body.next().await.unwrap().unwrap(), "data: a\n\ndata: b\n\n");
    /// # }
    /// ```
    #[must_use]
    pub fn coalesce(mut self, max_bytes: usize) -> Self {
        if let Some(streaming) = self.streaming.as_mut() {
            *streaming.get_mut().as_mut().project().coalesce = max_bytes;
        }
        self
    }

    /// What adapters pass to [`coalesce`](Self::coalesce) together with
    /// [`write_each_chunk`](Self::write_each_chunk): a chunk and its
    /// chunked-encoding line fit the 8 KiB write buffer that actix-web and
    /// hyper (on connections without vectored writes, such as poem's) start
    /// each connection with, so that buffer never grows.
    pub const COPIED_CHUNK_BYTES: usize = 8 * 1024 - 64;

    /// Returns `Pending` once after each chunk, having asked to be polled
    /// again at once. Frameworks that copy chunks into their own write buffer
    /// until the body is `Pending` (actix-web; hyper when the connection has no
    /// vectored writes) then write each chunk before copying the next, so a
    /// backlog never grows that per-connection buffer past one chunk.
    #[must_use]
    pub fn write_each_chunk(mut self) -> Self {
        if let Some(streaming) = self.streaming.as_mut() {
            *streaming.get_mut().as_mut().project().write_each_chunk = true;
        }
        self
    }

    /// Counts this body as a stream of `adapter` in the metrics, with a
    /// span of its own (see [`crate::metrics`]); `resumed` when the request
    /// carried a `Last-Event-ID`.
    #[cfg(feature = "metrics")]
    #[must_use]
    pub(crate) fn observed(mut self, adapter: &'static str, resumed: bool) -> Self {
        if let Some(streaming) = self.streaming.as_mut() {
            let this = streaming.get_mut().as_mut().project();
            *this.observer = StreamObserver::open(adapter, resumed);
        }
        self
    }

    /// True once the body has nothing more to send.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.streaming.is_none()
    }

    fn poll_bytes(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let Some(streaming) = self.streaming.as_mut() else {
            return Poll::Ready(None);
        };
        match streaming.get_mut().as_mut().poll_bytes(cx) {
            Poll::Ready(None) => {
                self.streaming = None;
                Poll::Ready(None)
            }
            other => other,
        }
    }
}

impl Streaming<dyn FrameSource> {
    fn poll_bytes(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if std::mem::take(self.as_mut().project().chunk_sent) {
            return self.pause_after_chunk(cx);
        }
        let polled = self.as_mut().poll_chunk(cx);
        let this = self.project();
        *this.chunk_sent = *this.write_each_chunk && matches!(polled, Poll::Ready(Some(_)));
        match &polled {
            Poll::Ready(Some(chunk)) => this.observer.sent(chunk.len()),
            Poll::Ready(None) => this.observer.ending("ended"),
            Poll::Pending => {}
        }
        polled
    }

    /// The `Pending` that `write_each_chunk` owes the framework between two
    /// chunks. When nothing more is ready it is the ordinary `Pending` (the
    /// source, timer and shutdown will wake the task): a stream that keeps
    /// up with its events costs one poll per event, not two. Only when more
    /// is ready at once is it kept back (in `carry`) and the task woken.
    fn pause_after_chunk(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.carry.is_none() {
            self.as_mut().poll_shutdown(cx);
            let (next, is_frame) = match self.as_mut().poll_frame(cx) {
                Poll::Pending => match self.as_mut().poll_keep_alive(cx) {
                    Poll::Pending => return Poll::Pending,
                    ready => (ready, false),
                },
                ready => (ready, true),
            };
            // The end (`None`) is only reported by the next poll: the owed
            // `Pending` comes first there too.
            if let Poll::Ready(Some(bytes)) = next {
                let this = self.project();
                *this.carry = Some(bytes);
                this.observer.carry(is_frame);
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn poll_chunk(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        // Already out of the source: it goes before any shutdown's last frame.
        let first = match self.as_mut().project().carry.take() {
            Some(carried) => {
                self.as_mut().project().observer.carried();
                carried
            }
            None => {
                self.as_mut().poll_shutdown(cx);
                match self.as_mut().poll_frame(cx) {
                    Poll::Ready(Some(frame)) => {
                        self.as_mut().project().observer.frame();
                        frame
                    }
                    // The source is done; a shutdown or a failure may have
                    // left a last frame to send.
                    Poll::Ready(None) => match self.as_mut().project().carry.take() {
                        Some(last) => {
                            self.as_mut().project().observer.carried();
                            last
                        }
                        None => return Poll::Ready(None),
                    },
                    Poll::Pending => return self.poll_keep_alive(cx),
                }
            }
        };
        if let Some(keep_alive) = self.as_mut().project().keep_alive {
            keep_alive.last_activity = Some(Instant::now());
        }
        let coalesce = self.coalesce;
        if first.len() >= coalesce {
            return Poll::Ready(Some(first));
        }
        let mut chunk: Option<BytesMut> = None;
        // Only frames that are ready now: Pending (or the end) sends what we have.
        while let Poll::Ready(Some(frame)) = self.as_mut().poll_frame(cx) {
            let joined = chunk.as_ref().map_or(first.len(), BytesMut::len);
            if joined + frame.len() > coalesce {
                let this = self.as_mut().project();
                *this.carry = Some(frame);
                this.observer.carry(true);
                break;
            }
            self.as_mut().project().observer.frame();
            chunk
                .get_or_insert_with(|| {
                    // One allocation: pages never written are never resident.
                    let mut chunk = BytesMut::with_capacity(coalesce);
                    chunk.extend_from_slice(&first);
                    chunk
                })
                .extend_from_slice(&frame);
        }
        Poll::Ready(Some(chunk.map_or(first, BytesMut::freeze)))
    }

    /// The source's next non-empty frame; `Ready(None)` once it has ended,
    /// failed or panicked (what to send last is then in `carry`).
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        loop {
            let mut source = self.as_mut().project().source;
            let polled = catch_unwind(AssertUnwindSafe(|| source.as_mut().poll_next_frame(cx)));
            match polled {
                Ok(Poll::Ready(Some(Ok(frame)))) => {
                    if !frame.is_empty() {
                        return Poll::Ready(Some(frame.into_bytes()));
                    }
                }
                Ok(Poll::Ready(Some(Err(error)))) => self.as_mut().fail(error),
                Ok(Poll::Ready(None)) => {
                    source.end();
                    return Poll::Ready(None);
                }
                Ok(Poll::Pending) => return Poll::Pending,
                Err(_panic) => self.as_mut().fail("the event source panicked".into()),
            }
        }
    }

    fn poll_keep_alive(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut this = self.project();
        let Some(keep_alive) = this.keep_alive.as_mut() else {
            return Poll::Pending;
        };
        if this.sleep.is_none() {
            if tokio::runtime::Handle::try_current().is_err() {
                this.observer.in_span(|| {
                    tracing::warn!("SSE body polled outside a Tokio runtime; keep-alive disabled");
                });
                *this.keep_alive = None;
                return Poll::Pending;
            }
            let start = keep_alive.last_activity.unwrap_or_else(Instant::now);
            this.sleep
                .set(Some(tokio::time::sleep_until(start + keep_alive.interval)));
        }
        match this.sleep.as_pin_mut() {
            Some(sleep) => keep_alive.poll(sleep, cx).map(Some),
            None => Poll::Pending,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) {
        let this = self.project();
        let Some(shutdown) = this.shutdown.as_mut() else {
            return;
        };
        if !this.source.is_ended() && shutdown.as_mut().project().wait.poll(cx).is_ready() {
            let last = shutdown.shutdown.final_frame().map(Frame::into_bytes);
            this.observer.ending("shutdown");
            if last.is_some() {
                this.observer.carry(true);
            }
            this.source.end();
            end_with(this.carry, last);
        }
    }

    fn fail(self: Pin<&mut Self>, error: BoxError) {
        let this = self.project();
        this.observer
            .in_span(|| tracing::warn!(%error, "SSE source failed; ending the stream"));
        let last = this
            .on_error
            .as_ref()
            .and_then(|map| map(&error))
            .map(|event| event.encode().into_bytes())
            .filter(|bytes| !bytes.is_empty());
        this.observer.ending("failed");
        if last.is_some() {
            this.observer.carry(true);
        }
        this.source.end();
        end_with(this.carry, last);
    }
}

/// Queues `last` after what was already taken from the source (the source has
/// just been ended). Nothing is carried when this runs today, as the source is
/// only polled with nothing carried; were something carried, both would still
/// go.
fn end_with(carry: &mut Option<Bytes>, last: Option<Bytes>) {
    *carry = match (carry.take(), last) {
        (Some(carried), Some(last)) => Some(Bytes::from([&carried[..], &last[..]].concat())),
        (carried, last) => carried.or(last),
    };
}

impl KeepAliveTimer {
    /// Ready with the keep-alive comment once the stream has been idle for the
    /// whole interval. Frames only record the time they were sent; the timer
    /// is moved lazily when it fires early, which keeps per-event cost to one
    /// clock read.
    fn poll(&mut self, mut sleep: Pin<&mut Sleep>, cx: &mut Context<'_>) -> Poll<Bytes> {
        let now = Instant::now();
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let due = self.last_activity.map(|at| at + self.interval);
            match due {
                Some(due) if due > now => sleep.as_mut().reset(due),
                _ => {
                    self.last_activity = Some(now);
                    sleep.as_mut().reset(now + self.interval);
                    return Poll::Ready(self.frame.clone());
                }
            }
        }
    }
}

/// The source of a complete answer, whose bytes are all carried.
struct NoFrames;

impl Stream for NoFrames {
    type Item = Frame;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        Poll::Ready(None)
    }
}

impl Stream for SseBody {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_bytes(cx).map(|bytes| bytes.map(Ok))
    }
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.get_mut()
            .poll_bytes(cx)
            .map(|bytes| bytes.map(|bytes| Ok(http_body::Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.is_finished()
    }
}

impl std::fmt::Debug for SseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseBody")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use futures_util::{stream, StreamExt};

    use super::*;

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn poll(body: &mut SseBody, waker: &Waker) -> Poll<Option<String>> {
        let mut cx = Context::from_waker(waker);
        Pin::new(body)
            .poll_next(&mut cx)
            .map(|item| item.map(|bytes| String::from_utf8(bytes.unwrap().to_vec()).unwrap()))
    }

    fn events(data: &[&str]) -> SseBody {
        let events: Vec<Event> = data.iter().map(|d| Event::message(*d)).collect();
        SseBody::new(
            stream::iter(events),
            &PublishOptions::new().without_keep_alive(),
        )
    }

    #[test]
    fn coalescing_joins_ready_frames_up_to_the_limit_and_never_splits_one() {
        // Each frame is 9 bytes: two fit in 18, the third goes next.
        let mut body = events(&["a", "b", "c", "a long one"]).coalesce(18);
        let waker = Waker::noop();
        assert_eq!(
            poll(&mut body, waker),
            Poll::Ready(Some("data: a\n\ndata: b\n\n".into()))
        );
        assert_eq!(
            poll(&mut body, waker),
            Poll::Ready(Some("data: c\n\n".into()))
        );
        assert_eq!(
            poll(&mut body, waker),
            Poll::Ready(Some("data: a long one\n\n".into()))
        );
        assert_eq!(poll(&mut body, waker), Poll::Ready(None));
    }

    #[test]
    fn the_retry_hint_leads_the_first_chunk() {
        let options = PublishOptions::new()
            .without_keep_alive()
            .with_retry(Duration::from_secs(1));
        let source = stream::iter([Event::message("a")]);
        let mut body = SseBody::new(source, &options).coalesce(1024);
        assert_eq!(
            poll(&mut body, Waker::noop()),
            Poll::Ready(Some("retry: 1000\n\ndata: a\n\n".into()))
        );
    }

    #[test]
    fn a_frame_carried_over_goes_before_the_shutdown_event() {
        let shutdown = Shutdown::new();
        let options = PublishOptions::new()
            .without_keep_alive()
            .with_shutdown(&shutdown);
        let source =
            stream::iter([Event::message("a"), Event::message("b")]).chain(stream::pending());
        let mut body = SseBody::new(source, &options).coalesce(10);
        let waker = Waker::noop();
        assert_eq!(
            poll(&mut body, waker),
            Poll::Ready(Some("data: a\n\n".into()))
        );
        shutdown.trigger_with(Event::message("bye"));
        assert_eq!(
            poll(&mut body, waker),
            Poll::Ready(Some("data: b\n\n".into()))
        );
        assert_eq!(
            poll(&mut body, waker),
            Poll::Ready(Some("data: bye\n\n".into()))
        );
        assert_eq!(poll(&mut body, waker), Poll::Ready(None));
    }

    #[test]
    fn write_each_chunk_yields_between_chunks_and_asks_to_be_polled_again() {
        let mut body = events(&["a", "b"]).coalesce(9).write_each_chunk();
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        assert_eq!(
            poll(&mut body, &waker),
            Poll::Ready(Some("data: a\n\n".into()))
        );
        assert_eq!(poll(&mut body, &waker), Poll::Pending);
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
        assert_eq!(
            poll(&mut body, &waker),
            Poll::Ready(Some("data: b\n\n".into()))
        );
        assert_eq!(poll(&mut body, &waker), Poll::Pending);
        assert_eq!(poll(&mut body, &waker), Poll::Ready(None));
    }

    #[test]
    fn write_each_chunk_costs_no_extra_poll_when_nothing_more_is_ready() {
        let (sender, receiver) = crate::channel(4);
        let options = PublishOptions::new().without_keep_alive();
        let mut body = SseBody::new(receiver, &options)
            .coalesce(1024)
            .write_each_chunk();
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        sender.try_send(Event::message("a")).unwrap();
        assert_eq!(
            poll(&mut body, &waker),
            Poll::Ready(Some("data: a\n\n".into()))
        );
        // The owed Pending is the ordinary one: no wake-up is asked for...
        assert_eq!(poll(&mut body, &waker), Poll::Pending);
        assert_eq!(wakes.0.load(Ordering::Relaxed), 0);
        // ...and the source's own wake-up brings the next event.
        sender.try_send(Event::message("b")).unwrap();
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
        assert_eq!(
            poll(&mut body, &waker),
            Poll::Ready(Some("data: b\n\n".into()))
        );
        // Two events ready at once: still a Pending between their chunks.
        sender.try_send(Event::message("c")).unwrap();
        sender.try_send(Event::message("d")).unwrap();
        let before = wakes.0.load(Ordering::Relaxed);
        assert_eq!(poll(&mut body, &waker), Poll::Pending);
        assert_eq!(
            wakes.0.load(Ordering::Relaxed),
            before + 1,
            "with more ready, the owed Pending asks to be polled again"
        );
        assert_eq!(
            poll(&mut body, &waker),
            Poll::Ready(Some("data: c\n\ndata: d\n\n".into()))
        );
        drop(sender);
        assert_eq!(poll(&mut body, &waker), Poll::Pending);
        assert_eq!(poll(&mut body, &waker), Poll::Ready(None));
    }
}

/// The stream metrics as the body counts them (feature `metrics`): frames
/// are events and last events, never the retry hint nor keep-alives, however
/// the body chunks them. One recorder for the test binary; each test counts
/// under an adapter name of its own.
#[cfg(all(test, feature = "metrics"))]
mod metrics_tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, LazyLock, Mutex, Once};

    use futures_util::{stream, StreamExt};
    use metrics::{
        Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
    };

    use super::*;
    use crate::KeepAlive;

    #[derive(Default)]
    struct Counts(Mutex<HashMap<String, Arc<AtomicU64>>>);

    static COUNTS: LazyLock<Arc<Counts>> = LazyLock::new(Arc::default);

    struct Shared(Arc<Counts>);

    impl Counts {
        fn slot(&self, key: &Key) -> Arc<AtomicU64> {
            let mut labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            labels.sort();
            let id = format!("{}{{{}}}", key.name(), labels.join(","));
            self.0.lock().unwrap().entry(id).or_default().clone()
        }
    }

    fn get(id: &str) -> u64 {
        COUNTS
            .0
            .lock()
            .unwrap()
            .get(id)
            .map_or(0, |value| value.load(Ordering::SeqCst))
    }

    fn gauge(id: &str) -> f64 {
        f64::from_bits(get(id))
    }

    impl Recorder for Shared {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(self.0.slot(key))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(self.0.slot(key))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    /// `body`, counted as a stream of `adapter`.
    fn observed(adapter: &'static str, body: SseBody) -> SseBody {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            // Another recorder or subscriber, were one installed, would see
            // for itself and these tests would fail: nothing else here
            // installs one. Global, and before any test makes a stream:
            // `tracing` caches whether a call site is enabled when first
            // hit, which a subscriber scoped to one test's thread can miss.
            let _ = metrics::set_global_recorder(Shared(COUNTS.clone()));
            let _ = tracing::subscriber::set_global_default(SpanSubscriber(SPANS.clone()));
        });
        body.observed(adapter, true)
    }

    async fn next_len(body: &mut SseBody) -> u64 {
        body.next().await.unwrap().unwrap().len() as u64
    }

    async fn drain(body: &mut SseBody) -> u64 {
        let mut bytes = 0;
        while let Some(chunk) = body.next().await {
            bytes += chunk.unwrap().len() as u64;
        }
        bytes
    }

    #[tokio::test(start_paused = true)]
    async fn the_retry_hint_and_keep_alives_are_bytes_not_frames() {
        let (sender, receiver) = crate::channel(8);
        let options = PublishOptions::new()
            .with_retry(Duration::from_secs(1))
            .with_keep_alive(KeepAlive::new().with_interval(Duration::from_secs(1)));
        // Chunks joined and paused after, as adapters copying chunks have them.
        let body = SseBody::new(receiver, &options)
            .coalesce(1024)
            .write_each_chunk();
        let mut body = observed("unit-keep-alive", body);
        assert_eq!(gauge("ssekit_streams_open{adapter=unit-keep-alive}"), 1.0);
        assert_eq!(
            get("ssekit_streams_opened_total{adapter=unit-keep-alive,resumed=true}"),
            1
        );
        sender.try_send(Event::message("a")).unwrap();
        let mut bytes = next_len(&mut body).await;
        assert_eq!(bytes, "retry: 1000\n\ndata: a\n\n".len() as u64);
        // Idle: two keep-alive comments (time is paused: no wait).
        bytes += next_len(&mut body).await;
        bytes += next_len(&mut body).await;
        sender.try_send(Event::message("b")).unwrap();
        sender.try_send(Event::message("c")).unwrap();
        drop(sender);
        bytes += drain(&mut body).await;
        assert!(bytes > "retry: 1000\n\ndata: a\n\ndata: b\n\ndata: c\n\n".len() as u64);
        assert_eq!(get("ssekit_frames_sent_total{adapter=unit-keep-alive}"), 3);
        assert_eq!(
            get("ssekit_bytes_sent_total{adapter=unit-keep-alive}"),
            bytes
        );
        assert_eq!(
            get("ssekit_streams_closed_total{adapter=unit-keep-alive,reason=ended}"),
            1
        );
        assert_eq!(gauge("ssekit_streams_open{adapter=unit-keep-alive}"), 0.0);
    }

    #[tokio::test]
    async fn a_frame_kept_back_between_chunks_is_counted_once() {
        let events = [
            Event::message("a"),
            Event::message("b"),
            Event::message("c"),
        ];
        // 9 bytes a frame: one per chunk, each next one kept back.
        let body = SseBody::new(
            stream::iter(events),
            &PublishOptions::new().without_keep_alive(),
        )
        .coalesce(9)
        .write_each_chunk();
        let mut body = observed("unit-carry", body);
        let bytes = drain(&mut body).await;
        assert_eq!(bytes, 27);
        assert_eq!(get("ssekit_frames_sent_total{adapter=unit-carry}"), 3);
        assert_eq!(get("ssekit_bytes_sent_total{adapter=unit-carry}"), 27);
    }

    #[tokio::test]
    async fn a_shutdown_counts_its_last_event_and_its_reason() {
        let shutdown = Shutdown::new();
        let options = PublishOptions::new()
            .without_keep_alive()
            .with_shutdown(&shutdown);
        let source = stream::iter([Event::message("a")]).chain(stream::pending());
        let mut body = observed(
            "unit-shutdown",
            SseBody::new(source, &options).coalesce(1024),
        );
        let mut bytes = next_len(&mut body).await;
        shutdown.trigger_with(Event::message("bye"));
        bytes += drain(&mut body).await;
        assert_eq!(
            get("ssekit_frames_sent_total{adapter=unit-shutdown}"),
            2,
            "a, and the shutdown's bye"
        );
        assert_eq!(get("ssekit_bytes_sent_total{adapter=unit-shutdown}"), bytes);
        assert_eq!(
            get("ssekit_streams_closed_total{adapter=unit-shutdown,reason=shutdown}"),
            1
        );
    }

    #[tokio::test]
    async fn a_failed_source_counts_its_error_event_and_its_reason() {
        let source = stream::iter([Ok(Event::message("a")), Err("broken")]);
        let options = PublishOptions::new()
            .without_keep_alive()
            .with_error_event(|_| Some(Event::message("sorry")));
        let mut body = observed("unit-failed", SseBody::new(source, &options));
        drain(&mut body).await;
        assert_eq!(get("ssekit_frames_sent_total{adapter=unit-failed}"), 2);
        assert_eq!(
            get("ssekit_streams_closed_total{adapter=unit-failed,reason=failed}"),
            1
        );
    }

    #[tokio::test]
    async fn a_body_dropped_before_its_end_counts_as_disconnected() {
        let (sender, receiver) = crate::channel(8);
        let options = PublishOptions::new().without_keep_alive();
        let mut body = observed("unit-drop", SseBody::new(receiver, &options));
        sender.try_send(Event::message("a")).unwrap();
        next_len(&mut body).await;
        assert_eq!(gauge("ssekit_streams_open{adapter=unit-drop}"), 1.0);
        drop(body);
        assert_eq!(gauge("ssekit_streams_open{adapter=unit-drop}"), 0.0);
        assert_eq!(
            get("ssekit_streams_closed_total{adapter=unit-drop,reason=disconnected}"),
            1
        );
        assert_eq!(get("ssekit_frames_sent_total{adapter=unit-drop}"), 1);
    }

    /// What the test binary's `tracing` subscriber saw: each `sse_stream`
    /// span's fields, by its adapter (each test has its own), and `warned`
    /// when a warning came while that span was entered.
    #[derive(Default)]
    struct Spans {
        next_id: AtomicU64,
        adapters: Mutex<HashMap<u64, String>>,
        fields: Mutex<HashMap<String, HashMap<String, String>>>,
    }

    static SPANS: LazyLock<Arc<Spans>> = LazyLock::new(Arc::default);

    std::thread_local! {
        static ENTERED: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
    }

    /// The fields of `adapter`'s stream span.
    fn span_fields(adapter: &str) -> HashMap<String, String> {
        SPANS
            .fields
            .lock()
            .unwrap()
            .get(adapter)
            .cloned()
            .unwrap_or_default()
    }

    struct Visit<'a>(&'a mut HashMap<String, String>);

    impl tracing::field::Visit for Visit<'_> {
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            self.0.insert(field.name().to_owned(), value.to_owned());
        }

        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
    }

    struct SpanSubscriber(Arc<Spans>);

    impl SpanSubscriber {
        fn with_fields_of(&self, id: u64, f: impl FnOnce(&mut HashMap<String, String>)) {
            let adapter = self.0.adapters.lock().unwrap().get(&id).cloned();
            if let Some(adapter) = adapter {
                f(self.0.fields.lock().unwrap().entry(adapter).or_default());
            }
        }
    }

    impl tracing::Subscriber for SpanSubscriber {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }

        fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            let id = self.0.next_id.fetch_add(1, Ordering::SeqCst) + 1;
            if span.metadata().name() == "sse_stream" {
                let mut fields = HashMap::new();
                span.record(&mut Visit(&mut fields));
                if let Some(adapter) = fields.get("adapter").cloned() {
                    self.0.adapters.lock().unwrap().insert(id, adapter.clone());
                    self.0.fields.lock().unwrap().insert(adapter, fields);
                }
            }
            tracing::span::Id::from_u64(id)
        }

        fn record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>) {
            self.with_fields_of(id.into_u64(), |fields| values.record(&mut Visit(fields)));
        }

        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

        fn event(&self, event: &tracing::Event<'_>) {
            if *event.metadata().level() == tracing::Level::WARN {
                if let Some(id) = ENTERED.get() {
                    self.with_fields_of(id, |fields| {
                        fields.insert("warned".into(), "true".into());
                    });
                }
            }
        }

        fn enter(&self, id: &tracing::span::Id) {
            ENTERED.set(Some(id.into_u64()));
        }

        fn exit(&self, _: &tracing::span::Id) {
            ENTERED.set(None);
        }
    }

    #[test]
    fn a_stream_has_a_span_with_its_adapter_and_how_it_ended() {
        let events = [Event::message("a"), Event::message("b")];
        let options = PublishOptions::new().without_keep_alive();
        let mut body = observed("unit-span", SseBody::new(stream::iter(events), &options));
        let opened = span_fields("unit-span");
        assert_eq!(opened["adapter"], "unit-span");
        assert_eq!(opened["resumed"], "true");
        assert!(!opened.contains_key("reason"), "not closed yet");
        let mut cx = Context::from_waker(std::task::Waker::noop());
        while let Poll::Ready(Some(_)) = Pin::new(&mut body).poll_next(&mut cx) {}
        let closed = span_fields("unit-span");
        assert_eq!(closed["reason"], "ended");
        assert_eq!(closed["frames"], "2");
        assert_eq!(closed["bytes"], "18");
    }

    #[test]
    fn a_failing_source_warns_inside_its_span() {
        let source = stream::iter([Err::<Event, _>("broken")]);
        let options = PublishOptions::new().without_keep_alive();
        let mut body = observed("unit-warn", SseBody::new(source, &options));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        while let Poll::Ready(Some(_)) = Pin::new(&mut body).poll_next(&mut cx) {}
        let fields = span_fields("unit-warn");
        assert_eq!(
            fields.get("warned").map(String::as_str),
            Some("true"),
            "{fields:?}"
        );
        assert_eq!(fields["reason"], "failed");
    }
}
