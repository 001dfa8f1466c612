//! The shared conformance suite against axum with this adapter, over real HTTP.

use std::future::IntoFuture;

use axum::routing::get;
use axum::Router;
use ssekit_axum::Publisher;
use ssekit_conformance::{handle, ConformanceState, COMPRESSED_PREFIX};
use tower_http::compression::CompressionLayer;

fn routes(state: ConformanceState) -> Router {
    Router::new().route(
        "/{*path}",
        get(move |publisher: Publisher| handle(publisher, state.clone())),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let state = ConformanceState::new();
    let app = routes(state.clone()).nest(
        COMPRESSED_PREFIX,
        routes(state).layer(CompressionLayer::new()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());

    let reports = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    ssekit_conformance::assert_conformance(&base, "axum", &reports).await;
}
