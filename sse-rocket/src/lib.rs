//! Server-Sent Events for [Rocket] 0.5, through [`ssekit`].
//!
//! [`Publisher`] is a request guard; handlers written against
//! [`ssekit::SsePublisher`] are called from a route, which returns their
//! [`SseResponse`] (a [`Responder`]):
//!
//! ```
//! use rocket::{get, routes};
//! use rocket::futures::stream;
//! use ssekit::{Event, SsePublisher};
//! use ssekit_rocket::{Publisher, SseResponse};
//!
//! async fn hello<P: SsePublisher>(publisher: P) -> P::Response {
//!     publisher.publish(stream::iter([Event::message("hello")]))
//! }
//!
//! #[get("/events")]
//! async fn events(publisher: Publisher) -> SseResponse {
//!     hello(publisher).await
//! }
//!
//! let rocket = rocket::build().mount("/", routes![events]);
//! ```
//!
//! Rocket ships no compression (nothing compresses, or holds back, an event
//! stream), and serves HTTP/2 with its `http2` feature (on by default), over
//! TLS as browsers need and as h2c with prior knowledge.
//!
//! Rocket hands a response body to hyper through a channel it only writes
//! to: a client that leaves is noticed at the next write, which the
//! keep-alive comment bounds (15 s by default; prefer a shorter one with
//! Rocket). Rocket's header values are text: a response header that is not
//! UTF-8 is sent with its invalid bytes replaced.
//!
//! [Rocket]: https://rocket.rs
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::convert::Infallible;
use std::io::Cursor;

use rocket::futures::StreamExt;
use rocket::http::Status;
use rocket::request::{self, FromRequest, Request};
use rocket::response::{self, stream::ReaderStream, Responder, Response};
use ssekit::adapter::{self, http as http1, Adapter, SseBody};
use ssekit::RequestInfo;

pub use ssekit;

/// The Rocket request guard implementing [`ssekit::SsePublisher`]. Never fails.
#[derive(Debug, Clone)]
pub struct Publisher {
    request: RequestInfo,
}

impl From<&Request<'_>> for Publisher {
    fn from(req: &Request<'_>) -> Self {
        // Rocket's own types: carried over to `http` 1 as text. `uri()` is the
        // origin the client sent, whatever base the route is mounted on.
        let headers = req
            .headers()
            .iter()
            .map(|h| (h.name.as_str().to_owned(), h.value.into_owned()));
        Self {
            request: adapter::request_info_from_raw(
                req.method().as_str(),
                &req.uri().to_string(),
                headers,
            ),
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Publisher {
    type Error = Infallible;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Infallible> {
        request::Outcome::Success(Self::from(req))
    }
}

/// What an SSE handler answers on Rocket: a stream, or a complete answer such
/// as 204, 503 or a refusal. A [`Responder`].
#[derive(Debug)]
pub struct SseResponse(http1::Response<SseBody>);

impl<'r> Responder<'r, 'static> for SseResponse {
    fn respond_to(self, _: &'r Request<'_>) -> response::Result<'static> {
        let (parts, body) = self.0.into_parts();
        let mut builder = Response::build();
        builder.status(Status::new(parts.status.as_u16()));
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            builder.raw_header_adjoin(name.as_str().to_owned(), value);
        }
        if !body.is_finished() {
            // Rocket reads the body in chunks of at most `DEFAULT_MAX_CHUNK`
            // bytes, each sent at once: join ready frames up to that size.
            let chunks = body
                .coalesce(response::Body::DEFAULT_MAX_CHUNK)
                .map(|chunk| Cursor::new(chunk.unwrap_or_else(|never| match never {})));
            builder.streamed_body(ReaderStream::from(chunks));
        }
        builder.ok()
    }
}

impl Adapter for Publisher {
    type Response = SseResponse;
    const NAME: &'static str = "rocket";

    fn request_info(&self) -> &RequestInfo {
        &self.request
    }

    fn respond(&self, response: http1::Response<SseBody>) -> SseResponse {
        SseResponse(response)
    }
}
