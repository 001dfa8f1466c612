//! The shared conformance suite against poem with this adapter, over real HTTP.

use poem::listener::TcpAcceptor;
use poem::middleware::Compression;
use poem::{get, EndpointExt, Route, Server};
use ssekit_conformance::{handle, ConformanceState, COMPRESSED_PREFIX};

fn routes(state: ConformanceState) -> Route {
    Route::new().at(
        "/*path",
        get(ssekit_poem::endpoint(move |p| handle(p, state.clone()))),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let state = ConformanceState::new();
    let app = routes(state.clone()).nest(COMPRESSED_PREFIX, routes(state).with(Compression::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let acceptor = TcpAcceptor::from_tokio(listener).unwrap();
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));

    let reports = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    ssekit_conformance::assert_conformance(&base, "poem", &reports).await;
}
