//! For adapter authors: what it takes to bring every handler to another
//! framework.
//!
//! Handlers never need this module. An adapter is two things:
//!
//! 1. **An extractor**: the framework's way of handing a request to a handler
//!    produces a publisher type holding the [`RequestInfo`] made by
//!    [`request_info`] from the request's method, URI and headers (or by
//!    [`request_info_from_raw`] from their text and bytes, for frameworks
//!    whose request types are not `http` 1.x).
//! 2. **A response mapping**: [`Adapter::respond`] turns the `http::Response`
//!    of an [`SseBody`] that the core builds (for streams, 204, 503 and
//!    refusals alike) into the framework's response type. The body is both an
//!    [`http_body::Body`] and a [`Stream`](futures_core::Stream) of
//!    `Result<Bytes, Infallible>`, so every framework can take it.
//!
//! Implementing [`Adapter`] makes the type an [`SsePublisher`](crate::SsePublisher)
//! (a blanket implementation provides every handler-facing method), so every
//! framework answers with the same head and the same bytes.
//!
//! # Writing an adapter for another framework
//!
//! Here is a whole adapter for a server that speaks `http` 1.x types (hyper 1
//! and tower services, or a framework built on them), and a handler mounted on
//! it. It is the `ssekit-hyper` crate's, which such servers can use as it is:
//!
//! ```
//! use ssekit::adapter::{self, Adapter, SseBody};
//! use ssekit::{Event, RequestInfo, SsePublisher};
//!
//! /// The publisher a hyper service hands its SSE handlers.
//! pub struct HyperPublisher(RequestInfo);
//!
//! impl HyperPublisher {
//!     pub fn new<B>(request: &http::Request<B>) -> Self {
//!         let (method, uri, headers) = (request.method(), request.uri(), request.headers());
//!         Self(adapter::request_info(method.clone(), uri, headers.clone()))
//!     }
//! }
//!
//! impl Adapter for HyperPublisher {
//!     type Response = http::Response<SseBody>;
//!     // The `adapter` label of the metrics (feature `metrics`).
//!     const NAME: &'static str = "hyper";
//!
//!     fn request_info(&self) -> &RequestInfo {
//!         &self.0
//!     }
//!
//!     fn respond(&self, response: http::Response<SseBody>) -> Self::Response {
//!         // hyper writes queued chunks with vectored writes: let a backlog
//!         // leave in a few large chunks.
//!         response.map(|body| body.coalesce(SseBody::COALESCE_BYTES))
//!     }
//! }
//!
//! async fn hello<P: SsePublisher>(publisher: P) -> P::Response {
//!     publisher.publish(futures_util::stream::iter([Event::message("hello")]))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let request = http::Request::get("/events").body(()).unwrap();
//! let response = hello(HyperPublisher::new(&request)).await;
//! assert_eq!(response.headers()["content-type"], "text/event-stream");
//! # }
//! ```
//!
//! Then check it: mount [`ssekit_conformance::routes::handle`] (it takes any
//! publisher) on the framework's server and run the suite against it, as this
//! repository's `test-support/tests/conformance.rs` does for every adapter;
//! the suite's `run BASE_URL` command does the same for a server already
//! running. The adapter above, served by plain hyper, passes the whole suite
//! (`test-support/src/frameworks/hyper.rs` serves it). The
//! suite covers what frameworks get wrong: the head before the first event,
//! events one by one through compression, client disconnects reaching
//! `closed()`, HTTP/2, refusals with a body.
//!
//! Things to get right, which the suite checks:
//!
//! * Take the path the client asked for (before any router stripped a
//!   prefix) and all headers; the core parses `Last-Event-ID`.
//! * Copy status and *every* header value (two `Set-Cookie` stay two).
//! * Stream the body as it comes: no buffering until the end, no
//!   `Content-Length` for streams.
//! * Pick the body's chunking for how the framework writes: [`SseBody::coalesce`]
//!   with [`SseBody::COALESCE_BYTES`] where the server writes chunks without
//!   copying them (hyper with vectored writes), and
//!   [`SseBody::COPIED_CHUNK_BYTES`] with [`SseBody::write_each_chunk`] where
//!   it copies each chunk into a per-connection buffer (actix-web).
//!
//! [`ssekit_conformance::routes::handle`]: https://docs.rs/ssekit-conformance

mod head;

use http::{HeaderMap, Method, Uri};

/// The `http` crate the core builds requests and responses with, for
/// adapters of frameworks that use another version of it.
pub use http;

pub use crate::body::SseBody;
pub use head::{
    no_content, reject, reply, response, standard_headers, too_many_streams, CACHE_CONTROL,
    CONTENT_TYPE, HOP_BY_HOP, X_ACCEL_BUFFERING,
};

use crate::request::RequestInfo;
pub use crate::request::{parse_last_event_id, LAST_EVENT_ID};

/// What an adapter implements; every [`SsePublisher`](crate::SsePublisher)
/// method comes with it.
pub trait Adapter {
    /// The framework's response type.
    type Response;

    /// A short fixed name for the framework (`"axum"`): the `adapter` label
    /// of the stream metrics and a field of each stream's span (feature
    /// `metrics`, see the `metrics` module). Keep it to a few lowercase
    /// letters, the same for every request: it must never come from one.
    const NAME: &'static str = "other";

    /// The request, as the extractor took it.
    fn request_info(&self) -> &RequestInfo;

    /// Turns a finished response (a stream, or a complete answer such as 204,
    /// 503 or a refusal) into the framework's response.
    fn respond(&self, response: http::Response<SseBody>) -> Self::Response;
}

/// The [`RequestInfo`] of a request with this method, URI and headers.
///
/// `uri` should be the URI the client sent, before any router rewrote it.
/// The `Last-Event-ID` header is parsed here (see
/// [`RequestInfo::last_event_id`]): an invalid one counts as absent.
#[must_use]
pub fn request_info(method: Method, uri: &Uri, headers: HeaderMap) -> RequestInfo {
    RequestInfo::new(method, uri, headers)
}

/// The [`RequestInfo`] of a request given as text and bytes, for frameworks
/// whose request types are not `http` 1.x (actix-web's `http` 0.2, Rocket's
/// own): the method's name, the URI as the client sent it (an origin form
/// such as `/events?topic=a` is enough) and each header as a name and a value.
///
/// What does not carry over is left out rather than failing the request
/// (none of it can fail, coming from a request the framework parsed): an
/// invalid method counts as `GET`, an invalid URI as `/`, an invalid header
/// is skipped. Repeated headers all stay.
///
/// ```
/// let headers = [("last-event-id", "42"), ("x-tag", "a"), ("x-tag", "b")];
/// let request = ssekit::adapter::request_info_from_raw("GET", "/events?topic=a", headers);
/// assert_eq!(request.path(), "/events");
/// assert_eq!(request.query_param("topic").as_deref(), Some("a"));
/// assert_eq!(request.last_event_id(), Some("42"));
/// assert_eq!(request.headers().get_all("x-tag").iter().count(), 2);
/// ```
pub fn request_info_from_raw<N, V>(
    method: &str,
    uri: &str,
    headers: impl IntoIterator<Item = (N, V)>,
) -> RequestInfo
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let method = Method::from_bytes(method.as_bytes()).unwrap_or_default();
    let uri = uri.parse().unwrap_or_else(|_| Uri::from_static("/"));
    let headers = headers.into_iter();
    let mut map = HeaderMap::with_capacity(headers.size_hint().0);
    for (name, value) in headers {
        let name = http::HeaderName::from_bytes(name.as_ref());
        let value = http::HeaderValue::from_bytes(value.as_ref());
        if let (Ok(name), Ok(value)) = (name, value) {
            map.append(name, value);
        }
    }
    RequestInfo::new(method, &uri, map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_parts_that_do_not_carry_over_are_left_out() {
        let headers: [(&[u8], &[u8]); 3] = [
            (b"bad name", b"x"),
            (b"x-bad-value", b"a\nb"),
            (b"x-good", b"yes"),
        ];
        let request = request_info_from_raw("NOT A METHOD", "not a uri", headers);
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.path(), "/");
        assert_eq!(request.headers().len(), 1);
        assert_eq!(request.headers()["x-good"], "yes");
    }

    #[test]
    fn raw_parts_keep_method_path_and_query() {
        let request = request_info_from_raw("POST", "/a/b?c=d", [("host", "h")]);
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.path(), "/a/b");
        assert_eq!(request.query(), Some("c=d"));
    }
}
