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
/// [`PublishOptions::on_error`](crate::PublishOptions::on_error) for what the
/// client sees then).
///
/// ```
/// use futures_util::stream;
/// use sse_core::{Event, EventError};
///
/// // The async-generator style: a stream of events.
/// let plain = stream::iter(vec![Event::message("a"), Event::message("b")]);
/// // A fallible stream: building an event may fail, and so may the source.
/// let fallible = stream::iter(vec![Event::message("a").with_id("1")]);
/// # fn is_source<S: futures_core::Stream>(_: S) where S::Item: sse_core::IntoFrame {}
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

/// A source with its item type erased, as the response body holds it.
pub(crate) type BoxSource = Pin<Box<dyn Stream<Item = Result<Frame, BoxError>> + Send>>;

pub(crate) fn boxed<S>(source: S) -> BoxSource
where
    S: Stream + Send + 'static,
    S::Item: IntoFrame,
{
    Box::pin(Frames { source })
}

pin_project_lite::pin_project! {
    struct Frames<S> {
        #[pin]
        source: S,
    }
}

impl<S> Stream for Frames<S>
where
    S: Stream,
    S::Item: IntoFrame,
{
    type Item = Result<Frame, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.project()
            .source
            .poll_next(cx)
            .map(|item| item.map(IntoFrame::into_frame))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.source.size_hint()
    }
}
