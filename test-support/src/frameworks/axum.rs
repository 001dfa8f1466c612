use axum::routing::{any, get};
use axum::Router;
use ssekit_conformance::COMPRESSED_PREFIX;
use tower_http::compression::CompressionLayer;

use crate::{Framework, Handler, Options, Server};

fn routes<H: Handler>(handler: H, get_only: bool) -> Router {
    let handle = move |publisher: ssekit_axum::Publisher| {
        let handler = handler.clone();
        async move { handler.handle(publisher).await }
    };
    let route = if get_only { get(handle) } else { any(handle) };
    Router::new()
        .route("/", route.clone())
        .route("/{*path}", route)
}

pub(super) fn start<H: Handler>(handler: H, options: Options) -> Server {
    let listener = options.listener();
    let addr = listener.local_addr().expect("a local address");
    let mut app = routes(handler.clone(), options.get_only);
    if options.compression {
        app = app.nest(
            COMPRESSED_PREFIX,
            routes(handler, options.get_only).layer(CompressionLayer::new()),
        );
    }
    Server::spawn_tokio(Framework::Axum, addr, |stopped| async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            .expect("axum::serve only fails on accept");
    })
}
