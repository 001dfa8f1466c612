//! The shared conformance suite against axum with this adapter, over real HTTP.

use std::future::IntoFuture;

use axum::routing::get;
use axum::Router;
use sse_axum::Publisher;
use sse_conformance::{handle, Config, ConformanceState, COMPRESSED_PREFIX};
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

    let config = Config {
        compressed_prefix: Some(COMPRESSED_PREFIX.into()),
        ..Config::default()
    };
    let report = sse_conformance::run(&base, &config).await;
    println!("{}", report.to_table());
    // Input of `sse-conformance matrix` (see the README).
    let saved = report.save(
        &std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance"),
        "axum",
    );
    saved.expect("report written");
    assert!(report.all_passed(), "{}", report.to_table());
    assert_eq!(report.results.len(), sse_conformance::case_names().len());
}
