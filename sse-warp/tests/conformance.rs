//! The shared conformance suite against warp with this adapter, over real HTTP.

use sse_conformance::{handle, Config, ConformanceState, COMPRESSED_PREFIX};
use sse_warp::{publisher, Publisher};
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

    let config = Config {
        compressed_prefix: Some(COMPRESSED_PREFIX.into()),
        ..Config::default()
    };
    let report = sse_conformance::run(&base, &config).await;
    println!("{}", report.to_table());
    // Input of `sse-conformance matrix` (see the README).
    let saved = report.save(
        &std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance"),
        "warp",
    );
    saved.expect("report written");
    assert!(report.all_passed(), "{}", report.to_table());
    assert_eq!(report.results.len(), sse_conformance::case_names().len());
}
