//! An imperative handle for pushing events into one response: send, comment,
//! close, and learn when the client has gone.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::encode::Frame;
use crate::event::Event;

/// Creates a channel whose [`Receiver`] is published as a response and whose
/// [`Sender`] pushes events into it.
///
/// At most `capacity` frames wait in the queue (a capacity of 0 is raised to 1):
/// when the client reads slower than the sender sends, [`Sender::send`] waits,
/// and [`Sender::try_send`] fails with [`TrySendError::Full`]. Server memory per
/// connection is bounded either way.
///
/// ```
/// use ssekit::{channel, Event};
/// use futures_util::StreamExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let (sender, mut receiver) = channel(16);
/// sender.send(Event::message("hello")).await.unwrap();
/// sender.close();
/// assert_eq!(receiver.next().await.unwrap().as_bytes(), b"data: hello\n\n");
/// assert!(receiver.next().await.is_none()); // closed, after delivering what was queued
/// # }
/// ```
pub fn channel(capacity: usize) -> (Sender, Receiver) {
    let (frames, queue) = mpsc::channel(capacity.max(1));
    let closed = CancellationToken::new();
    let close_requested = Box::pin(closed.clone().cancelled_owned());
    (
        Sender {
            frames,
            closed: closed.clone(),
        },
        Receiver {
            queue,
            closed,
            close_requested,
        },
    )
}

/// Pushes events into one stream. Cheap to clone; all clones feed the same
/// stream.
///
/// A sender learns that the client has gone from an error (every `send` fails
/// with [`SendError::Closed`] once the response is dropped) and from
/// [`closed`](Self::closed), never from a silent drop.
#[derive(Clone)]
pub struct Sender {
    frames: mpsc::Sender<Frame>,
    closed: CancellationToken,
}

/// The receiving end: publish it as a response (it is a [`Stream`] of
/// [`Frame`]s). Dropping it, as the framework does when the client goes away,
/// closes the channel for every sender.
pub struct Receiver {
    queue: mpsc::Receiver<Frame>,
    closed: CancellationToken,
    close_requested: Pin<Box<WaitForCancellationFutureOwned>>,
}

/// Why a send failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The stream was closed, by [`Sender::close`] or because the client went
    /// away. Nothing more will be delivered.
    Closed,
    /// The value could not be serialised to JSON.
    #[cfg(feature = "json")]
    Json(serde_json::Error),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("the event stream is closed"),
            #[cfg(feature = "json")]
            SendError::Json(error) => write!(f, "could not serialise event data: {error}"),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Closed => None,
            #[cfg(feature = "json")]
            SendError::Json(error) => Some(error),
        }
    }
}

/// Why [`Sender::try_send`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrySendError {
    /// The queue is full: the client is reading slower than events are sent.
    Full,
    /// The stream is closed.
    Closed,
}

impl fmt::Display for TrySendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::Full => "the event stream's queue is full",
            TrySendError::Closed => "the event stream is closed",
        })
    }
}

impl std::error::Error for TrySendError {}

impl Sender {
    /// Queues `event`, waiting while the queue is full (backpressure).
    ///
    /// Fails with [`SendError::Closed`] once the stream is closed, including
    /// while waiting.
    pub async fn send(&self, event: Event) -> Result<(), SendError> {
        self.send_frame(event.encode()).await
    }

    /// Queues an already encoded frame (see [`Frame`]), waiting while the queue
    /// is full.
    pub async fn send_frame(&self, frame: Frame) -> Result<(), SendError> {
        if self.closed.is_cancelled() {
            return Err(SendError::Closed);
        }
        let mut closed = pin!(self.closed.cancelled());
        let mut send = pin!(self.frames.send(frame));
        poll_fn(|cx| {
            if closed.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(SendError::Closed));
            }
            send.as_mut().poll(cx).map_err(|_| SendError::Closed)
        })
        .await
    }

    /// Queues `event` if there is room now.
    pub fn try_send(&self, event: Event) -> Result<(), TrySendError> {
        if self.closed.is_cancelled() {
            return Err(TrySendError::Closed);
        }
        self.frames
            .try_send(event.encode())
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => TrySendError::Full,
                mpsc::error::TrySendError::Closed(_) => TrySendError::Closed,
            })
    }

    /// Sends an event carrying `data`.
    pub async fn send_data(&self, data: impl Into<String>) -> Result<(), SendError> {
        self.send(Event::message(data)).await
    }

    /// Sends an event whose data is `value` as JSON.
    #[cfg(feature = "json")]
    pub async fn send_json<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
    ) -> Result<(), SendError> {
        self.send(Event::json(value).map_err(SendError::Json)?)
            .await
    }

    /// Sends a comment (clients ignore it; useful for debugging and keep-alive).
    pub async fn comment(&self, text: &str) -> Result<(), SendError> {
        self.send_frame(Frame::comment(text)).await
    }

    /// Closes the stream for every sender. What is already queued is still
    /// delivered, then the response ends cleanly.
    pub fn close(&self) {
        self.closed.cancel();
    }

    /// Resolves when the stream is closed: by [`close`](Self::close), or because
    /// the response was dropped (the client went away). Use it to stop producing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (sender, receiver) = ssekit::channel(1);
    /// drop(receiver); // what the framework does when the client disconnects
    /// sender.closed().await;
    /// assert!(sender.is_closed());
    /// # }
    /// ```
    pub async fn closed(&self) {
        self.closed.cancelled().await
    }

    /// True once the stream is closed.
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled() || self.frames.is_closed()
    }
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Stream for Receiver {
    type Item = Frame;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = this.queue.poll_recv(cx) {
            return Poll::Ready(frame);
        }
        if this.close_requested.as_mut().poll(cx).is_ready() {
            // Refuse new frames, then drain what is queued.
            this.queue.close();
            return this.queue.poll_recv(cx);
        }
        Poll::Pending
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}
