//! Server-Sent Events for [poem] 3, through [`ssekit`].
//!
//! [`Publisher`] is an extractor; handlers written against
//! [`ssekit::SsePublisher`] are mounted as they are:
//!
//! ```
//! use futures_util::stream;
//! use poem::{get, Route};
//! use ssekit::{Event, SsePublisher};
//!
//! async fn hello<P: SsePublisher>(publisher: P) -> P::Response {
//!     publisher.publish(stream::iter([Event::message("hello")]))
//! }
//!
//! let app = Route::new().at("/events", get(ssekit_poem::endpoint(hello::<ssekit_poem::Publisher>)));
//! ```
//!
//! In a `#[poem::handler]`, take a [`Publisher`] argument as any extractor.
//!
//! poem's `Compression` middleware compresses whatever the client accepts;
//! with a recent async-compression (it flushes whenever the stream waits)
//! events still arrive one by one, but keep SSE routes outside it if in doubt.
//!
//! poem 3.1's server keeps streaming to a client that half-closed its
//! connection (sent FIN), so a client that leaves is noticed only when a
//! later write fails, up to two keep-alive intervals after it left: prefer a
//! shorter keep-alive than the 15 s default with poem (the other frameworks
//! notice at once).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::future::Future;

use futures_util::TryStreamExt;
use poem::{Endpoint, FromRequest, Request, RequestBody, Response, ResponseParts};
use ssekit::adapter::{self, Adapter, SseBody};
use ssekit::RequestInfo;

pub use ssekit;

/// The poem extractor implementing [`ssekit::SsePublisher`]. Never fails.
#[derive(Debug, Clone)]
pub struct Publisher {
    request: RequestInfo,
}

impl From<&Request> for Publisher {
    fn from(req: &Request) -> Self {
        // `original_uri` is what the client sent, before `Route::nest` rewrote it.
        Self {
            request: adapter::request_info(
                req.method().clone(),
                req.original_uri(),
                req.headers().clone(),
            ),
        }
    }
}

impl<'a> FromRequest<'a> for Publisher {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        Ok(Self::from(req))
    }
}

impl Adapter for Publisher {
    type Response = Response;
    const NAME: &'static str = "poem";

    fn request_info(&self) -> &RequestInfo {
        &self.request
    }

    fn respond(&self, response: poem::http::Response<SseBody>) -> Response {
        let (parts, body) = response.into_parts();
        // poem's server hands hyper a connection without vectored writes, so
        // hyper copies each chunk into its write buffer until the body is
        // pending: small chunks, written one by one, keep that buffer at its
        // initial 8 KiB on every connection.
        let body = body
            .coalesce(SseBody::COPIED_CHUNK_BYTES)
            .write_each_chunk()
            .map_err(|never| -> std::io::Error { match never {} });
        Response::from_parts(
            ResponseParts {
                status: parts.status,
                version: parts.version,
                headers: parts.headers,
                extensions: parts.extensions,
            },
            poem::Body::from_bytes_stream(body),
        )
    }
}

/// An endpoint running `handler` with the request's [`Publisher`]: how a
/// generic handler is mounted without writing a `#[poem::handler]` wrapper.
pub fn endpoint<F, Fut>(handler: F) -> impl Endpoint<Output = Response>
where
    F: Fn(Publisher) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    poem::endpoint::make(move |request: Request| handler(Publisher::from(&request)))
}
