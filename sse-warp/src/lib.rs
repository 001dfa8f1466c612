//! Server-Sent Events for [warp] 0.4, through [`ssekit`].
//!
//! The [`publisher`] filter extracts a [`Publisher`]; handlers written against
//! [`ssekit::SsePublisher`] are mounted as they are:
//!
//! ```
//! use futures_util::stream;
//! use ssekit::{Event, SsePublisher};
//! use warp::Filter;
//!
//! async fn hello<P: SsePublisher>(publisher: P) -> P::Response {
//!     publisher.publish(stream::iter([Event::message("hello")]))
//! }
//!
//! let route = warp::path("events")
//!     .and(warp::get())
//!     .and(ssekit_warp::publisher())
//!     .then(hello::<ssekit_warp::Publisher>);
//! ```
//!
//! warp's compression filters (`warp::compression::gzip()` ...) compress every
//! reply of the filter they wrap, whatever its headers say; mount SSE routes
//! outside them: `sse_routes.or(other_routes.with(warp::compression::gzip()))`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::convert::Infallible;

use ssekit::{RequestInfo, SseBody, LAST_EVENT_ID};
use warp::filters::path::FullPath;
use warp::http::HeaderMap;
use warp::reply::Response;
use warp::{Filter, Reply};

pub use ssekit;

/// The request side of a warp SSE route, implementing [`ssekit::SsePublisher`].
#[derive(Debug, Clone)]
pub struct Publisher {
    request: RequestInfo,
}

/// A filter extracting a [`Publisher`] from any request. Never rejects.
pub fn publisher() -> impl Filter<Extract = (Publisher,), Error = Infallible> + Clone {
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::path::full()
        .and(query)
        .and(warp::header::headers_cloned())
        .map(
            |path: FullPath, query: Option<String>, headers: HeaderMap| {
                let last_event_id = headers.get(LAST_EVENT_ID).map(|v| v.as_bytes());
                Publisher {
                    request: RequestInfo::new(path.as_str(), query.as_deref(), last_event_id),
                }
            },
        )
}

impl ssekit::SsePublisher for Publisher {
    type Response = Response;

    fn request(&self) -> &RequestInfo {
        &self.request
    }

    fn respond(self, response: warp::http::Response<SseBody>) -> Response {
        let (parts, body) = response.into_parts();
        // hyper queues chunks without copying them (vectored writes), so a
        // backlog can leave in a few large chunks.
        let mut reply = warp::reply::stream(body.coalesce(SseBody::COALESCE_BYTES)).into_response();
        *reply.status_mut() = parts.status;
        *reply.headers_mut() = parts.headers;
        reply
    }
}
