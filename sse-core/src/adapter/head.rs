//! The response heads every adapter sends, defined once so adapters cannot drift.

use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode};

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
/// HTTP/1.1. Never copied from user options or replies.
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
/// let headers = ssekit::adapter::standard_headers();
/// assert_eq!(headers["content-type"], "text/event-stream");
/// assert_eq!(headers["cache-control"], "no-cache, no-transform");
/// assert_eq!(headers["x-accel-buffering"], "no");
/// ```
#[must_use]
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
/// A header set in `options` replaces the standard header of the same name;
/// several values of one name (two `Set-Cookie`) all go out; hop-by-hop
/// headers are dropped with a `tracing` warning.
///
/// ```
/// use futures_util::stream;
/// use ssekit::{Event, PublishOptions};
///
/// let response = ssekit::adapter::response(stream::iter([Event::message("hi")]), PublishOptions::new());
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
    merge_headers(&mut headers, options.headers);
    let mut response = Response::new(body);
    *response.status_mut() = options.status;
    *response.headers_mut() = headers;
    response
}

/// `204 No Content` with an empty body: tells an `EventSource` to stop
/// reconnecting.
///
/// ```
/// assert_eq!(ssekit::adapter::no_content().status(), 204);
/// ```
#[must_use]
pub fn no_content() -> Response<SseBody> {
    let mut response = Response::new(SseBody::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// `503 Service Unavailable` with `Retry-After` (whole seconds, rounded up),
/// and an empty body: the answer to a stream over a
/// [`StreamLimits`](crate::StreamLimits) cap.
///
/// A browser's `EventSource` treats any status but 200 as fatal: it fires
/// `error`, closes, and does **not** reconnect by itself, whatever
/// `Retry-After` says. Pages that want to come back must create a new
/// `EventSource` themselves (for instance after a delay). Custom clients can
/// honour `Retry-After`.
///
/// ```
/// use std::time::Duration;
///
/// let response = ssekit::adapter::too_many_streams(Duration::from_millis(1500));
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.headers()["retry-after"], "2");
/// ```
#[must_use]
pub fn too_many_streams(retry_after: Duration) -> Response<SseBody> {
    let seconds = retry_after
        .as_secs()
        .saturating_add(u64::from(retry_after.subsec_nanos() > 0));
    let mut response = Response::new(SseBody::empty());
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// A plain-text answer: `status`, `Content-Type: text/plain; charset=utf-8`
/// and `message` as the body. For refusing a stream (401, 403, 404, 429 ...).
///
/// ```
/// use http::StatusCode;
///
/// let response = ssekit::adapter::reject(StatusCode::UNAUTHORIZED, "sign in first");
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
/// ```
#[must_use]
pub fn reject(status: StatusCode, message: impl Into<Bytes>) -> Response<SseBody> {
    let mut response = Response::new(message.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    reply(response)
}

/// Any complete answer (status, headers, body), as a response with an
/// [`SseBody`] that sends `response`'s body at once. Hop-by-hop headers are
/// dropped, as from streams.
///
/// ```
/// let answer = http::Response::builder()
///     .status(401)
///     .header("www-authenticate", "Bearer")
///     .body(bytes::Bytes::from_static(b"token expired"))
///     .unwrap();
/// let response = ssekit::adapter::reply(answer);
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], "Bearer");
/// ```
#[must_use]
pub fn reply(response: Response<Bytes>) -> Response<SseBody> {
    let (mut parts, body) = response.into_parts();
    let headers = std::mem::take(&mut parts.headers);
    merge_headers(&mut parts.headers, headers);
    Response::from_parts(parts, SseBody::full(body))
}

/// Moves `extra` into `headers`: each name of `extra` replaces that name's
/// values in `headers` with all of its own (`HeaderMap::extend`); hop-by-hop
/// names are dropped.
fn merge_headers(headers: &mut HeaderMap, mut extra: HeaderMap) {
    for name in &HOP_BY_HOP {
        if extra.remove(name).is_some() {
            tracing::warn!(header = %name, "dropping hop-by-hop header from an SSE response");
        }
    }
    headers.extend(extra);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_headers_all_go_out_and_replace_standard_ones() {
        let mut extra = HeaderMap::new();
        extra.append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
        extra.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
        extra.append(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        );
        extra.append(header::CONNECTION, HeaderValue::from_static("close"));
        extra.append(header::CONNECTION, HeaderValue::from_static("upgrade"));
        let mut headers = standard_headers();
        merge_headers(&mut headers, extra);
        let cookies: Vec<_> = headers.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        let types: Vec<_> = headers.get_all(header::CONTENT_TYPE).iter().collect();
        assert_eq!(types, ["text/event-stream; charset=utf-8"]);
        assert!(!headers.contains_key(header::CONNECTION));
        assert_eq!(headers[header::CACHE_CONTROL], CACHE_CONTROL);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let header = |d| too_many_streams(d).headers()[header::RETRY_AFTER].clone();
        assert_eq!(header(Duration::from_secs(10)), "10");
        assert_eq!(header(Duration::from_millis(1)), "1");
        assert_eq!(header(Duration::ZERO), "0");
    }
}
