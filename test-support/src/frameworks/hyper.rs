use std::convert::Infallible;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::Layer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::CompressionLayer;

use crate::{Framework, Handler, Options, Server};

pub(super) fn start<H: Handler>(handler: H, options: Options) -> Server {
    let listener = options.listener();
    let addr = listener.local_addr().expect("a local address");
    // The stock compression layer leaves event streams alone by default and
    // compresses only for clients that ask, so it wraps every path (the
    // conformance routes strip the compressed prefix themselves). Without
    // the option it never compresses: one service type either way.
    let enabled = options.compression;
    let compression = CompressionLayer::new().compress_when(DefaultPredicate::new().and(
        move |_: http::StatusCode, _: http::Version, _: &http::HeaderMap, _: &http::Extensions| {
            enabled
        },
    ));
    let get_only = options.get_only;
    let service = tower::service_fn(move |request: http::Request<Incoming>| {
        let handler = handler.clone();
        async move {
            if get_only && request.method() != http::Method::GET {
                return Ok(not_allowed());
            }
            let publisher = ssekit_hyper::Publisher::new(&request);
            Ok::<_, Infallible>(handler.handle(publisher).await)
        }
    });
    let service = TowerToHyperService::new(compression.layer(service));
    Server::spawn_tokio(Framework::Hyper, addr, |mut stopped| async move {
        let builder = auto::Builder::new(TokioExecutor::new());
        let graceful = GracefulShutdown::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    // Accept errors (out of descriptors) are transient here.
                    let Ok((stream, _)) = accepted else { continue };
                    let connection = builder.serve_connection(TokioIo::new(stream), service.clone());
                    let connection = graceful.watch(connection.into_owned());
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                }
                _ = &mut stopped => break,
            }
        }
        drop(listener);
        graceful.shutdown().await;
    })
}

/// What a router answers a method it has no route for.
fn not_allowed() -> http::Response<ssekit_hyper::SseBody> {
    let mut response = http::Response::new(ssekit_hyper::SseBody::full("".into()));
    *response.status_mut() = http::StatusCode::METHOD_NOT_ALLOWED;
    response
        .headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static("GET"));
    response
}
