//! Why a stream failed for good, and why a connection was lost.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use ssekit::decode::DecodeError;

/// How many bytes of a refused response's body an [`Error`] keeps: enough for
/// an API's error message, never an unbounded read.
pub const ERROR_BODY_BYTES: usize = 1024;

/// Why an [`EventSource`](crate::EventSource) stopped for good. After it, the
/// stream ends.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request could not be built (an invalid URL, header name or value):
    /// nothing was sent.
    #[error("the request could not be built: {0}")]
    InvalidRequest(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The server answered with a status other than 200 and 204 (and not one
    /// of the statuses chosen with
    /// [`with_retry_on_status`](crate::Builder::with_retry_on_status)).
    #[error("the server answered {status}{}", excerpt(body))]
    Status {
        /// The status.
        status: StatusCode,
        /// The body's first bytes (at most [`ERROR_BODY_BYTES`]).
        body: Bytes,
    },
    /// The server answered 200 with a `Content-Type` other than
    /// `text/event-stream` (or none).
    #[error("the server answered {status} with Content-Type {}, not text/event-stream{}", content_type.as_deref().unwrap_or("(none)"), excerpt(body))]
    ContentType {
        /// The status.
        status: StatusCode,
        /// The `Content-Type` it sent, if any (lossily decoded).
        content_type: Option<String>,
        /// The body's first bytes (at most [`ERROR_BODY_BYTES`]).
        body: Bytes,
    },
    /// A line or an event went past its limit
    /// ([`with_max_line_bytes`](crate::Builder::with_max_line_bytes),
    /// [`with_max_event_bytes`](crate::Builder::with_max_event_bytes)).
    #[error(transparent)]
    TooLarge(#[from] DecodeError),
    /// The connection was lost more times in a row than the
    /// [retry limit](crate::Builder::with_retry_limit) allows.
    #[error("gave up after {attempts} failed attempts in a row: {cause}")]
    GaveUp {
        /// How many attempts failed in a row.
        attempts: u32,
        /// Why the last one failed.
        cause: Cause,
    },
}

/// Why a connection was lost (or never opened); the stream reconnects after
/// it, unless the retry limit is reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Cause {
    /// The server ended the response body cleanly.
    #[error("the server ended the stream")]
    Ended,
    /// The request or the body failed: refused or reset connection, a
    /// network error, a broken chunked encoding.
    #[error("the connection failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// No response head arrived within the connect timeout.
    #[error("no response within {0:?}")]
    ConnectTimeout(Duration),
    /// No byte arrived (not even a comment) within the idle timeout.
    #[error("nothing arrived for {0:?}")]
    Idle(Duration),
    /// The server answered one of the statuses chosen with
    /// [`with_retry_on_status`](crate::Builder::with_retry_on_status).
    #[error("the server answered {0}")]
    Status(StatusCode),
}

fn excerpt(body: &Bytes) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {:?}", String::from_utf8_lossy(body))
    }
}
