//! The response head every adapter sends, defined once so adapters cannot drift.

use futures_core::Stream;
use http::header::{self, HeaderName, HeaderValue};
/// The `http` response type the head functions build.
pub use http::Response;
use http::{HeaderMap, StatusCode};

use crate::body::SseBody;
use crate::options::PublishOptions;
use crate::source::IntoFrame;

/// `text/event-stream`, the only content type `EventSource` accepts.
pub const CONTENT_TYPE: &str = "text/event-stream";
/// `no-cache, no-transform`: nothing may cache the stream, and proxies must not
/// re-encode (compress, buffer) it.
pub const CACHE_CONTROL: &str = "no-cache, no-transform";
/// The header that tells nginx not to buffer the response.
pub const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

/// Connection-specific headers: forbidden in HTTP/2, owned by the server in
/// HTTP/1.1. [`response`] never copies them from user options.
pub const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The standard headers of an SSE response: `Content-Type`, `Cache-Control`
/// and `X-Accel-Buffering`.
///
/// ```
/// let headers = ssekit::head::standard_headers();
/// assert_eq!(headers["content-type"], "text/event-stream");
/// assert_eq!(headers["cache-control"], "no-cache, no-transform");
/// assert_eq!(headers["x-accel-buffering"], "no");
/// ```
pub fn standard_headers() -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    headers.insert(X_ACCEL_BUFFERING, HeaderValue::from_static("no"));
    headers
}

/// A complete SSE response streaming `source`: status and headers from
/// `options` over the standard ones, and an [`SseBody`].
///
/// Adapters turn this into their framework's response; it is also usable as is
/// with hyper or any server that takes an `http::Response` of an
/// [`http_body::Body`].
///
/// ```
/// use futures_util::stream;
/// use ssekit::{Event, PublishOptions};
///
/// let response = ssekit::response(stream::iter([Event::message("hi")]), PublishOptions::new());
/// assert_eq!(response.status(), 200);
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// ```
pub fn response<S>(source: S, options: PublishOptions) -> Response<SseBody>
where
    S: Stream + Send + 'static,
    S::Item: IntoFrame,
{
    let body = SseBody::new(source, &options);
    let mut headers = standard_headers();
    for (name, value) in options.headers {
        let Some(name) = name else { continue };
        if HOP_BY_HOP.contains(&name) {
            tracing::warn!(header = %name, "dropping hop-by-hop header from an SSE response");
            continue;
        }
        headers.insert(name, value);
    }
    let mut response = Response::new(body);
    *response.status_mut() = options.status;
    *response.headers_mut() = headers;
    response
}

/// `204 No Content` with an empty body: tells an `EventSource` to stop
/// reconnecting.
///
/// ```
/// assert_eq!(ssekit::no_content().status(), 204);
/// ```
pub fn no_content() -> Response<SseBody> {
    let mut response = Response::new(SseBody::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}
