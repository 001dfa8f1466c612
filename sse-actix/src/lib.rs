//! Server-Sent Events for [actix-web] 4, through [`ssekit`].
//!
//! [`Publisher`] is an extractor; handlers written against
//! [`ssekit::SsePublisher`] are mounted as they are:
//!
//! ```
//! use actix_web::{web, App};
//! use futures_util::stream;
//! use ssekit::{Event, SsePublisher};
//!
//! async fn hello<P: SsePublisher>(publisher: P) -> P::Response {
//!     publisher.publish(stream::iter([Event::message("hello")]))
//! }
//!
//! let app = App::new().route("/events", web::get().to(hello::<ssekit_actix::Publisher>));
//! ```
//!
//! Two server settings matter for SSE:
//!
//! * `HttpServer::h1_allow_half_closed(false)`: otherwise actix notices a client
//!   that closed its connection only when a later write fails (the keep-alive
//!   comment bounds that delay).
//! * `middleware::Compress` skips SSE responses: they carry
//!   `Content-Encoding: identity`, the opt-out `Compress` honours, so events are
//!   never held back in a compressor.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::convert::Infallible;
use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header::{ContentEncoding, CONTENT_ENCODING};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use ssekit::adapter::{self, http as http1, Adapter, SseBody};
use ssekit::RequestInfo;

pub use ssekit;

/// The actix-web extractor implementing [`ssekit::SsePublisher`]. Never fails.
#[derive(Debug, Clone)]
pub struct Publisher {
    request: RequestInfo,
}

impl FromRequest for Publisher {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(Self {
            request: request_info(req),
        }))
    }
}

/// actix-web speaks `http` 0.2: the request is carried over to `http` 1 types
/// part by part (what does not carry over is left out).
fn request_info(req: &HttpRequest) -> RequestInfo {
    let headers = req
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()));
    adapter::request_info_from_raw(req.method().as_str(), &req.uri().to_string(), headers)
}

impl Adapter for Publisher {
    type Response = HttpResponse;
    const NAME: &'static str = "actix";

    fn request_info(&self) -> &RequestInfo {
        &self.request
    }

    fn respond(&self, response: http1::Response<SseBody>) -> HttpResponse {
        // actix-web speaks http 0.2: carry status and headers over as raw parts.
        let (parts, body) = response.into_parts();
        let status = StatusCode::from_u16(parts.status.as_u16())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut builder = HttpResponse::build(status);
        for (name, value) in &parts.headers {
            builder.append_header((name.as_str(), value.as_bytes()));
        }
        if body.is_finished() {
            return builder.finish();
        }
        if !parts.headers.contains_key(CONTENT_ENCODING.as_str()) {
            builder.insert_header(ContentEncoding::Identity);
        }
        // actix copies each chunk into its write buffer until the body is
        // pending: small chunks, written one by one, keep that buffer at its
        // initial 8 KiB on every connection.
        builder.streaming(
            body.coalesce(SseBody::COPIED_CHUNK_BYTES)
                .write_each_chunk(),
        )
    }
}
