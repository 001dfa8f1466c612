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

use ssekit::adapter::{self, Adapter, SseBody};
use ssekit::RequestInfo;
use warp::filters::path::FullPath;
use warp::http::{HeaderMap, Method, Uri};
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
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .map(
            |method: Method, path: FullPath, query: Option<String>, headers: HeaderMap| {
                // warp hands out the path and query apart; a path warp
                // accepted, with its query, is a valid URI again.
                let uri = match query {
                    Some(query) => format!("{}?{query}", path.as_str()),
                    None => path.as_str().to_owned(),
                };
                let uri = uri.parse().unwrap_or_else(|_| Uri::from_static("/"));
                Publisher {
                    request: adapter::request_info(method, &uri, headers),
                }
            },
        )
}

impl Adapter for Publisher {
    type Response = Response;
    const NAME: &'static str = "warp";

    fn request_info(&self) -> &RequestInfo {
        &self.request
    }

    fn respond(&self, response: warp::http::Response<SseBody>) -> Response {
        let (parts, body) = response.into_parts();
        // hyper queues chunks without copying them (vectored writes), so a
        // backlog can leave in a few large chunks.
        let mut reply = warp::reply::stream(body.coalesce(SseBody::COALESCE_BYTES)).into_response();
        *reply.status_mut() = parts.status;
        *reply.headers_mut() = parts.headers;
        reply
    }
}
