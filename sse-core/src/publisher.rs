//! The contract between handlers and frameworks.

use futures_core::Stream;
use http::Response;

use crate::body::SseBody;
use crate::options::PublishOptions;
use crate::request::RequestInfo;
use crate::source::IntoFrame;

/// What a handler receives instead of a framework's request and response types.
///
/// Each adapter crate provides a type that its framework extracts from the
/// request and that implements this trait with the framework's own response
/// type. Handlers written against the trait run unchanged on every framework:
///
/// ```
/// use std::time::Duration;
/// use futures_util::stream::{self, StreamExt};
/// use ssekit::{Event, SsePublisher};
///
/// /// Counts down from 3, resuming after the client's last event id.
/// async fn countdown<P: SsePublisher>(publisher: P) -> P::Response {
///     let start: u32 = publisher.last_event_id().and_then(|id| id.parse().ok()).unwrap_or(4);
///     if start <= 1 {
///         return publisher.no_content(); // done: stop reconnecting
///     }
///     let events = stream::iter((1..start).rev()).map(|n| {
///         Event::message(n.to_string()).with_id(n.to_string())
///     });
///     publisher.publish(events)
/// }
/// ```
///
/// Adapters implement [`request`](Self::request) and [`respond`](Self::respond);
/// the rest is provided here, so every framework answers with the same head and
/// the same bytes.
pub trait SsePublisher: Sized {
    /// The framework's response type.
    type Response;

    /// The request's SSE-relevant parts.
    fn request(&self) -> &RequestInfo;

    /// Turns a finished response into the framework's response. Called by the
    /// provided methods; handlers do not need it.
    fn respond(self, response: Response<SseBody>) -> Self::Response;

    /// The client's `Last-Event-ID`, if it sent a usable one (see
    /// [`RequestInfo::last_event_id`]).
    fn last_event_id(&self) -> Option<&str> {
        self.request().last_event_id()
    }

    /// Streams `source` with the default options.
    ///
    /// `source` is any [`Stream`] of [`Event`](crate::Event)s or
    /// [`Frame`](crate::Frame)s, or of `Result`s of them (an `Err` ends the
    /// stream), such as a [`Receiver`](crate::channel::Receiver) or a hub
    /// subscription.
    fn publish<S>(self, source: S) -> Self::Response
    where
        S: Stream + Send + 'static,
        S::Item: IntoFrame,
    {
        self.publish_with(source, PublishOptions::default())
    }

    /// Streams `source` with `options`.
    fn publish_with<S>(self, source: S, options: PublishOptions) -> Self::Response
    where
        S: Stream + Send + 'static,
        S::Item: IntoFrame,
    {
        self.respond(crate::head::response(source, options))
    }

    /// Answers `204 No Content`, which tells an `EventSource` to stop reconnecting.
    fn no_content(self) -> Self::Response {
        self.respond(crate::head::no_content())
    }

    /// Answers `503 Service Unavailable` with `Retry-After`, for a stream over
    /// a [`StreamLimits`](crate::StreamLimits) cap (see
    /// [`too_many_streams`](crate::too_many_streams): a browser's
    /// `EventSource` does not reconnect after it by itself).
    fn too_many_streams(self, retry_after: std::time::Duration) -> Self::Response {
        self.respond(crate::limits::too_many_streams(retry_after))
    }
}
