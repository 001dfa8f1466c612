//! The shared conformance suite against Salvo with this adapter, over real
//! HTTP (HTTP/1.1 and h2c), with Salvo's `Compression` under the compressed
//! prefix.

use salvo::compression::Compression;
use salvo::conn::{Acceptor, TcpListener};
use salvo::{Listener, Router, Server};
use ssekit_conformance::{handle, ConformanceState, COMPRESSED_PREFIX};

/// Every path, served by the conformance routes.
fn routes(state: ConformanceState) -> Router {
    Router::with_path("{**rest}").get(ssekit_salvo::handler(move |p| handle(p, state.clone())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let state = ConformanceState::new();
    let router = Router::new()
        .push(
            Router::with_path(COMPRESSED_PREFIX.trim_start_matches('/'))
                .hoop(Compression::new())
                .push(routes(state.clone())),
        )
        .push(routes(state));
    let acceptor = TcpListener::new("127.0.0.1:0").bind().await;
    let addr = acceptor.holdings()[0]
        .local_addr
        .clone()
        .into_std()
        .unwrap();
    let base = format!("http://{addr}");
    tokio::spawn(Server::new(acceptor).serve(router));

    let reports = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    ssekit_conformance::assert_conformance(&base, "salvo", &reports).await;
}
