//! The shared conformance suite against warp with this adapter, over real HTTP.

use ssekit_conformance::{handle, ConformanceState, COMPRESSED_PREFIX};
use ssekit_warp::{publisher, Publisher};
use warp::Filter;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let state = ConformanceState::new();
    let compressed_state = state.clone();
    let compressed = warp::path(COMPRESSED_PREFIX.trim_start_matches('/'))
        .and(warp::get())
        .and(publisher())
        .then(move |p: Publisher| handle(p, compressed_state.clone()))
        .with(warp::compression::gzip());
    let plain = warp::get()
        .and(publisher())
        .then(move |p: Publisher| handle(p, state.clone()));
    let routes = compressed.or(plain);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(routes).incoming(listener).run());

    let reports = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    ssekit_conformance::assert_conformance(&base, "warp", &reports).await;
}
