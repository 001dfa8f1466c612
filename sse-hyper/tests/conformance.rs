//! The shared conformance suite against a plain hyper server with this
//! adapter, over real HTTP (HTTP/1.1 and h2c), with tower-http's stock
//! compression under the compressed prefix.

use std::convert::Infallible;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use ssekit_conformance::{handle, ConformanceState};
use tower::Layer;
use tower_http::compression::CompressionLayer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let state = ConformanceState::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let state = state.clone();
            let service = tower::service_fn(move |request: http::Request<Incoming>| {
                let state = state.clone();
                async move {
                    let publisher = ssekit_hyper::Publisher::new(&request);
                    Ok::<_, Infallible>(handle(publisher, state).await)
                }
            });
            // `handle` serves the routes under the compressed prefix too; the
            // stock compression layer (which leaves event streams alone by
            // default) wraps them all, and compresses only for clients that
            // ask, as the suite does under the prefix.
            let service = CompressionLayer::new().layer(service);
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                    .await;
            });
        }
    });

    let reports = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    ssekit_conformance::assert_conformance(&base, "hyper", &reports).await;
}
