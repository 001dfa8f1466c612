//! The contract between handlers and frameworks.

use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http::StatusCode;

use crate::adapter::{self, Adapter};
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
/// use futures_util::stream::{self, StreamExt};
/// use http::StatusCode;
/// use ssekit::{Event, SsePublisher};
///
/// /// Counts down from 3, resuming after the client's last event id.
/// async fn countdown<P: SsePublisher>(publisher: P) -> P::Response {
///     if publisher.request().query_param("key").as_deref() != Some("let-me-in") {
///         return publisher.reject(StatusCode::UNAUTHORIZED, "a key, please");
///     }
///     let start: u32 = publisher.last_event_id().and_then(|id| id.parse().ok()).unwrap_or(4);
///     if start <= 1 {
///         return publisher.no_content(); // done: stop reconnecting
///     }
///     let events = stream::iter((1..start).rev()).map(|n| Event::message(n.to_string()).with_id(n));
///     publisher.publish(events)
/// }
/// ```
///
/// Every method takes `&self`, so a handler may read the request while it
/// builds the source it publishes, in one expression:
/// `publisher.publish(hub.subscribe("chat", publisher.last_event_id()))`.
///
/// The trait is implemented for every [`Adapter`]; adapters implement that
/// one (see [`adapter`](crate::adapter)), and every framework then answers
/// with the same head and the same bytes.
pub trait SsePublisher: Adapter {
    /// The request: method, path, query, headers.
    fn request(&self) -> &RequestInfo {
        self.request_info()
    }

    /// The client's `Last-Event-ID`, if it sent a usable one (see
    /// [`RequestInfo::last_event_id`]).
    fn last_event_id(&self) -> Option<&str> {
        self.request_info().last_event_id()
    }

    /// Streams `source` with the default options.
    ///
    /// `source` is any [`Stream`] of [`Event`](crate::Event)s or
    /// [`Frame`](crate::Frame)s, or of `Result`s of them (an `Err` ends the
    /// stream), such as a [`Receiver`](crate::channel::Receiver) or a hub
    /// subscription.
    fn publish<S>(&self, source: S) -> Self::Response
    where
        S: Stream + Send + 'static,
        S::Item: IntoFrame,
    {
        self.publish_with(source, PublishOptions::default())
    }

    /// Streams `source` with `options` (keep-alive, retry hint, status,
    /// headers, shutdown, error event).
    fn publish_with<S>(&self, source: S, options: PublishOptions) -> Self::Response
    where
        S: Stream + Send + 'static,
        S::Item: IntoFrame,
    {
        let response = adapter::response(source, options);
        // Counted as a stream of this adapter (the 204, 503 and refusals
        // below are not streams).
        #[cfg(feature = "metrics")]
        let response =
            response.map(|body| body.observed(Self::NAME, self.last_event_id().is_some()));
        self.respond(response)
    }

    /// Answers `204 No Content`, which tells an `EventSource` to stop reconnecting.
    fn no_content(&self) -> Self::Response {
        self.respond(adapter::no_content())
    }

    /// Answers `503 Service Unavailable` with `Retry-After`, for a stream over
    /// a [`StreamLimits`](crate::StreamLimits) cap (a browser's `EventSource`
    /// does not reconnect after it by itself: see
    /// [`adapter::too_many_streams`]).
    fn too_many_streams(&self, retry_after: Duration) -> Self::Response {
        self.respond(adapter::too_many_streams(retry_after))
    }

    /// Refuses the stream: `status` (401, 403, 404, 429 ...) with `message` as
    /// a plain-text body. An `EventSource` fires `error` and does not
    /// reconnect after any status but 200.
    fn reject(&self, status: StatusCode, message: impl Into<Bytes>) -> Self::Response {
        self.respond(adapter::reject(status, message))
    }

    /// Answers with any complete response: status, headers (say
    /// `WWW-Authenticate`) and body.
    ///
    /// ```
    /// use ssekit::SsePublisher;
    ///
    /// fn challenge<P: SsePublisher>(publisher: &P) -> P::Response {
    ///     let response = http::Response::builder()
    ///         .status(401)
    ///         .header("www-authenticate", r#"Bearer realm="chat""#)
    ///         .body(bytes::Bytes::from_static(b"sign in first"))
    ///         .expect("a valid response");
    ///     publisher.reply(response)
    /// }
    /// ```
    fn reply(&self, response: http::Response<Bytes>) -> Self::Response {
        self.respond(adapter::reply(response))
    }
}

impl<T: Adapter + ?Sized> SsePublisher for T {}
