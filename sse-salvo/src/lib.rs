//! Server-Sent Events for [Salvo] 1, through [`ssekit`].
//!
//! [`handler`] mounts a handler written against [`ssekit::SsePublisher`] as
//! it is; in a `#[handler]` function, take a [`Publisher`] argument (it is
//! [`Extractible`]) and return its [`SseResponse`] (a [`Scribe`]):
//!
//! ```
//! use futures_util::stream;
//! use salvo::prelude::*;
//! use ssekit::{Event, SsePublisher};
//!
//! async fn hello<P: SsePublisher>(publisher: P) -> P::Response {
//!     publisher.publish(stream::iter([Event::message("hello")]))
//! }
//!
//! #[handler]
//! async fn events(publisher: ssekit_salvo::Publisher) -> ssekit_salvo::SseResponse {
//!     hello(publisher).await
//! }
//!
//! let router = Router::new()
//!     .push(Router::with_path("hello").get(ssekit_salvo::handler(hello::<ssekit_salvo::Publisher>)))
//!     .push(Router::with_path("events").get(events));
//! ```
//!
//! Salvo's `Compression` leaves these responses alone (it honours their
//! `Cache-Control: no-transform`): events are never held back in a compressor.
//!
//! [Salvo]: https://salvo.rs
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::{convert::Infallible, future::Future};

use salvo::http::ResBody;
use salvo::{async_trait, Depot, Extractible, FlowCtrl, Handler, Request, Response, Scribe};
use ssekit::adapter::{self, http, Adapter, SseBody};
use ssekit::RequestInfo;

pub use ssekit;

/// The Salvo extractor implementing [`ssekit::SsePublisher`]. Never fails.
#[derive(Debug, Clone)]
pub struct Publisher {
    request: RequestInfo,
}

impl From<&Request> for Publisher {
    fn from(req: &Request) -> Self {
        // Salvo's routers never rewrite `uri()`: it is what the client asked for.
        Self {
            request: adapter::request_info(req.method().clone(), req.uri(), req.headers().clone()),
        }
    }
}

impl<'ex> Extractible<'ex> for Publisher {
    fn metadata() -> &'static salvo::extract::Metadata {
        static METADATA: salvo::extract::Metadata = salvo::extract::Metadata::new("Publisher");
        &METADATA
    }

    #[allow(refining_impl_trait)]
    async fn extract(req: &'ex mut Request, _depot: &'ex mut Depot) -> Result<Self, Infallible> {
        Ok(Self::from(&*req))
    }
}

/// What an SSE handler answers on Salvo: a stream, or a complete answer such
/// as 204, 503 or a refusal. A [`Scribe`].
#[derive(Debug)]
pub struct SseResponse(http::Response<SseBody>);

impl Scribe for SseResponse {
    fn render(self, res: &mut Response) {
        let (parts, body) = self.0.into_parts();
        res.status_code(parts.status);
        // Each name replaces what earlier handlers set; other headers stay.
        res.headers_mut().extend(parts.headers);
        if body.is_finished() {
            // Not `None`: Salvo's catcher would replace a bodiless 503 with its page.
            res.body(ResBody::Once(Default::default()));
        } else {
            // hyper writes chunks without copying (vectored): a backlog goes in few.
            res.stream(body.coalesce(SseBody::COALESCE_BYTES));
        }
    }
}

impl Adapter for Publisher {
    type Response = SseResponse;
    const NAME: &'static str = "salvo";

    fn request_info(&self) -> &RequestInfo {
        &self.request
    }

    fn respond(&self, response: http::Response<SseBody>) -> SseResponse {
        SseResponse(response)
    }
}

/// A Salvo [`Handler`] running `handler` with the request's [`Publisher`]:
/// how a generic handler is mounted without writing a `#[handler]` wrapper.
pub fn handler<F>(handler: F) -> SseHandler<F> {
    SseHandler(handler)
}

/// The [`Handler`] made by [`handler`].
pub struct SseHandler<F>(F);

#[async_trait]
impl<F, Fut> Handler for SseHandler<F>
where
    F: Fn(Publisher) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = SseResponse> + Send + 'static,
{
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        (self.0)(Publisher::from(&*req)).await.render(res);
    }
}
