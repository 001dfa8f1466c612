//! The response body every adapter sends: a source's frames, interleaved with
//! keep-alive comments, ended by the source, a shutdown, or the client leaving.

use std::convert::Infallible;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use sync_wrapper::SyncWrapper;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::WaitForCancellationFutureOwned;

use crate::encode::Frame;
use crate::event::Event;
use crate::options::{ErrorMapper, PublishOptions};
use crate::shutdown::Shutdown;
use crate::source::{boxed, BoxError, BoxSource, IntoFrame};

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
///   (after the event from [`PublishOptions::on_error`], if any; the error is
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
    streaming: Option<SyncWrapper<Box<Streaming>>>,
}

struct Streaming {
    first: Option<Bytes>,
    source: Option<BoxSource>,
    keep_alive: Option<KeepAliveTimer>,
    shutdown: Option<(Shutdown, Pin<Box<WaitForCancellationFutureOwned>>)>,
    on_error: Option<ErrorMapper>,
    last: Option<Bytes>,
}

struct KeepAliveTimer {
    interval: Duration,
    frame: Bytes,
    /// Created on first poll, inside the runtime.
    sleep: Option<Pin<Box<Sleep>>>,
    last_activity: Option<Instant>,
}

impl SseBody {
    /// A body streaming `source` with `options`' keep-alive, retry hint, shutdown
    /// and error handling (the status and headers are the response's business:
    /// see [`response`](crate::response)).
    pub fn new<S>(source: S, options: &PublishOptions) -> Self
    where
        S: Stream + Send + 'static,
        S::Item: IntoFrame,
    {
        let first = options
            .retry
            .map(|retry| Event::new().with_retry(retry).encode().into_bytes());
        let keep_alive = options
            .keep_alive
            .as_ref()
            .map(|keep_alive| KeepAliveTimer {
                interval: keep_alive.get_interval(),
                frame: keep_alive.frame().clone().into_bytes(),
                sleep: None,
                last_activity: None,
            });
        let shutdown = options
            .shutdown
            .as_ref()
            .map(|shutdown| (shutdown.clone(), Box::pin(shutdown.wait())));
        Self {
            streaming: Some(SyncWrapper::new(Box::new(Streaming {
                first,
                source: Some(boxed(source)),
                keep_alive,
                shutdown,
                on_error: options.on_error.clone(),
                last: None,
            }))),
        }
    }

    /// A body with no bytes, for answers such as 204 No Content.
    pub fn empty() -> Self {
        Self { streaming: None }
    }

    /// True once the body has nothing more to send.
    pub fn is_finished(&self) -> bool {
        self.streaming.is_none()
    }

    fn poll_bytes(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let Some(streaming) = self.streaming.as_mut() else {
            return Poll::Ready(None);
        };
        match streaming.get_mut().poll_bytes(cx) {
            Poll::Ready(None) => {
                self.streaming = None;
                Poll::Ready(None)
            }
            other => other,
        }
    }
}

impl Streaming {
    fn poll_bytes(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(first));
        }
        self.poll_shutdown(cx);
        while let Some(source) = self.source.as_mut() {
            let polled = catch_unwind(AssertUnwindSafe(|| source.as_mut().poll_next(cx)));
            match polled {
                Ok(Poll::Ready(Some(Ok(frame)))) => {
                    if frame.is_empty() {
                        continue;
                    }
                    if let Some(keep_alive) = &mut self.keep_alive {
                        keep_alive.last_activity = Some(Instant::now());
                    }
                    return Poll::Ready(Some(frame.into_bytes()));
                }
                Ok(Poll::Ready(Some(Err(error)))) => self.fail(error),
                Ok(Poll::Ready(None)) => self.source = None,
                Ok(Poll::Pending) => return self.poll_keep_alive(cx),
                Err(_panic) => self.fail("the event source panicked".into()),
            }
        }
        Poll::Ready(self.last.take())
    }

    fn poll_keep_alive(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let Some(keep_alive) = self.keep_alive.as_mut() else {
            return Poll::Pending;
        };
        if keep_alive.sleep.is_none() && tokio::runtime::Handle::try_current().is_err() {
            tracing::warn!("SSE body polled outside a Tokio runtime; keep-alive disabled");
            self.keep_alive = None;
            return Poll::Pending;
        }
        keep_alive.poll(cx).map(Some)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) {
        let Some((shutdown, wait)) = self.shutdown.as_mut() else {
            return;
        };
        if self.source.is_some() && wait.as_mut().poll(cx).is_ready() {
            self.last = shutdown.final_frame().map(Frame::into_bytes);
            self.source = None;
        }
    }

    fn fail(&mut self, error: BoxError) {
        tracing::warn!(%error, "SSE source failed; ending the stream");
        self.source = None;
        self.last = self
            .on_error
            .as_ref()
            .and_then(|map| map(&error))
            .map(|event| event.encode().into_bytes())
            .filter(|bytes| !bytes.is_empty());
    }
}

impl KeepAliveTimer {
    /// Ready with the keep-alive comment once the stream has been idle for the
    /// whole interval. Needs a Tokio runtime (checked by the caller). Frames only record the time they were sent; the timer
    /// is moved lazily when it fires early, which keeps per-event cost to one
    /// clock read.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Bytes> {
        let now = Instant::now();
        let sleep = match &mut self.sleep {
            Some(sleep) => sleep,
            None => {
                let start = self.last_activity.unwrap_or(now);
                self.sleep
                    .insert(Box::pin(tokio::time::sleep_until(start + self.interval)))
            }
        };
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
