//! Server-Sent Events for [axum] 0.8, through [`ssekit`].
//!
//! [`Publisher`] is an extractor; handlers written against
//! [`ssekit::SsePublisher`] are mounted as they are:
//!
//! ```
//! use axum::{routing::get, Router};
//! use futures_util::stream;
//! use ssekit::{Event, SsePublisher};
//!
//! async fn hello<P: SsePublisher>(publisher: P) -> P::Response {
//!     publisher.publish(stream::iter([Event::message("hello")]))
//! }
//!
//! let app: Router = Router::new().route("/events", get(hello::<ssekit_axum::Publisher>));
//! ```
//!
//! tower-http's `CompressionLayer` leaves `text/event-stream` alone by default;
//! a custom `compress_when` predicate must keep excluding it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::convert::Infallible;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::{self, request::Parts};
use axum::response::Response;
use ssekit::adapter::{self, Adapter, SseBody};
use ssekit::RequestInfo;

pub use ssekit;

/// The axum extractor implementing [`ssekit::SsePublisher`]. Never rejects.
#[derive(Debug, Clone)]
pub struct Publisher {
    request: RequestInfo,
}

impl<S: Send + Sync> FromRequestParts<S> for Publisher {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        // Nested routers strip their prefix from `uri`; handlers see the path the
        // client asked for.
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(&parts.uri, |original| &original.0);
        Ok(Self {
            request: adapter::request_info(parts.method.clone(), uri, parts.headers.clone()),
        })
    }
}

impl Adapter for Publisher {
    type Response = Response;
    const NAME: &'static str = "axum";

    fn request_info(&self) -> &RequestInfo {
        &self.request
    }

    fn respond(&self, response: http::Response<SseBody>) -> Response {
        // hyper queues chunks without copying them (vectored writes), so a
        // backlog can leave in a few large chunks.
        response.map(|body| axum::body::Body::new(body.coalesce(SseBody::COALESCE_BYTES)))
    }
}
