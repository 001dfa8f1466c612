//! Server-Sent Events for hyper 1, tower and any service built on `http` 1.x
//! types, through [`ssekit`].
//!
//! [`Publisher`] is made from the request; its response is an
//! `http::Response` of an [`SseBody`], which hyper serves as it is. Handlers
//! written against [`ssekit::SsePublisher`] run unchanged:
//!
//! ```
//! use futures_util::stream;
//! use ssekit::{Event, SsePublisher};
//! use ssekit_hyper::Publisher;
//!
//! async fn hello<P: SsePublisher>(publisher: P) -> P::Response {
//!     publisher.publish(stream::iter([Event::message("hello")]))
//! }
//!
//! // In a hyper `service_fn` or a tower service:
//! async fn serve<B>(request: http::Request<B>) -> Result<http::Response<ssekit_hyper::SseBody>, std::convert::Infallible> {
//!     Ok(hello(Publisher::new(&request)).await)
//! }
//! ```
//!
//! The body is an [`http_body::Body`](https://docs.rs/http-body) with
//! `Bytes` data and no error, so tower-http layers (compression, which
//! leaves `text/event-stream` alone by default, tracing, timeouts) wrap it
//! as any other.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

use ssekit::adapter::{self, Adapter};
use ssekit::RequestInfo;

pub use ssekit;
pub use ssekit::adapter::SseBody;

/// The publisher for a request of any `http` 1.x server, implementing
/// [`ssekit::SsePublisher`].
#[derive(Debug, Clone)]
pub struct Publisher {
    request: RequestInfo,
}

impl Publisher {
    /// The publisher of `request` (its method, URI and headers are copied;
    /// the body is left alone).
    #[must_use]
    pub fn new<B>(request: &http::Request<B>) -> Self {
        Self::from_parts_of(request.method(), request.uri(), request.headers())
    }

    /// The publisher of a request already split into its parts.
    #[must_use]
    pub fn from_parts(parts: &http::request::Parts) -> Self {
        Self::from_parts_of(&parts.method, &parts.uri, &parts.headers)
    }

    fn from_parts_of(method: &http::Method, uri: &http::Uri, headers: &http::HeaderMap) -> Self {
        Self {
            request: adapter::request_info(method.clone(), uri, headers.clone()),
        }
    }
}

impl Adapter for Publisher {
    type Response = http::Response<SseBody>;
    const NAME: &'static str = "hyper";

    fn request_info(&self) -> &RequestInfo {
        &self.request
    }

    fn respond(&self, response: http::Response<SseBody>) -> Self::Response {
        // hyper queues chunks without copying them (vectored writes), so a
        // backlog can leave in a few large chunks.
        response.map(|body| body.coalesce(SseBody::COALESCE_BYTES))
    }
}
