//! What a handler can publish: any stream whose items turn into frames.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::encode::Frame;
use crate::event::Event;

/// The error type a fallible source may end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An item a source may yield: an [`Event`], a pre-encoded [`Frame`], or a
/// `Result` of either, whose `Err` ends the stream (see
/// [`PublishOptions::with_error_event`](crate::PublishOptions::with_error_event) for what the
/// client sees then).
///
/// ```
/// use futures_util::stream;
/// use ssekit::{Event, EventError};
///
/// // The async-generator style: a stream of events.
/// let plain = stream::iter(vec![Event::message("a"), Event::message("b")]);
/// // A fallible stream: building an event may fail, and so may the source.
/// let fallible = stream::iter(vec![Event::message("a").try_with_id("1")]);
/// # fn is_source<S: futures_core::Stream>(_: S) where S::Item: ssekit::IntoFrame {}
/// # is_source(plain); is_source(fallible);
/// ```
pub trait IntoFrame {
    /// Encodes the item, or reports that the source failed.
    fn into_frame(self) -> Result<Frame, BoxError>;
}

impl IntoFrame for Frame {
    fn into_frame(self) -> Result<Frame, BoxError> {
        Ok(self)
    }
}

impl IntoFrame for Event {
    fn into_frame(self) -> Result<Frame, BoxError> {
        Ok(self.encode())
    }
}

impl<T, E> IntoFrame for Result<T, E>
where
    T: IntoFrame,
    E: Into<BoxError>,
{
    fn into_frame(self) -> Result<Frame, BoxError> {
        self.map_err(Into::into)?.into_frame()
    }
}

/// A source with its item type erased, as the response body holds it: inline,
/// at the end of the body's one allocation (see `body::Streaming`), which is
/// why ending it is a method rather than dropping a box.
pub(crate) trait FrameSource: Send {
    /// The next frame; `Ready(None)` once the source has ended or was ended.
    fn poll_next_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame, BoxError>>>;

    /// Drops the source now, so that whatever its drop announces (a channel's
    /// senders see it closed, a hub subscription leaves its topic) happens
    /// when the stream ends, not when the response is dropped.
    fn end(self: Pin<&mut Self>);

    /// True once the source has ended or was ended.
    fn is_ended(&self) -> bool;
}

pin_project_lite::pin_project! {
    /// Any stream of [`IntoFrame`] items, as a [`FrameSource`].
    pub(crate) struct Frames<S> {
        #[pin]
        source: Option<S>,
    }
}

impl<S> Frames<S> {
    pub(crate) fn new(source: S) -> Self {
        Self {
            source: Some(source),
        }
    }
}

impl<S> FrameSource for Frames<S>
where
    S: Stream + Send,
    S::Item: IntoFrame,
{
    fn poll_next_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame, BoxError>>> {
        match self.project().source.as_pin_mut() {
            Some(source) => source
                .poll_next(cx)
                .map(|item| item.map(IntoFrame::into_frame)),
            None => Poll::Ready(None),
        }
    }

    fn end(self: Pin<&mut Self>) {
        self.project().source.set(None);
    }

    fn is_ended(&self) -> bool {
        self.source.is_none()
    }
}
