use poem::listener::TcpAcceptor;
use poem::middleware::Compression;
use poem::{get, EndpointExt, Route};
use ssekit_conformance::COMPRESSED_PREFIX;

use crate::{Framework, Handler, Options, Server};

fn routes<H: Handler>(handler: H, get_only: bool) -> Route {
    let endpoint = ssekit_poem::endpoint(move |publisher| {
        let handler = handler.clone();
        async move { handler.handle(publisher).await }
    });
    if get_only {
        Route::new().at("/*path", get(endpoint))
    } else {
        Route::new().at("/*path", endpoint)
    }
}

pub(super) fn start<H: Handler>(handler: H, options: Options) -> Server {
    let listener = options.listener();
    let addr = listener.local_addr().expect("a local address");
    let acceptor = TcpAcceptor::from_tokio(listener).expect("a poem acceptor");
    let mut app = routes(handler.clone(), options.get_only);
    if options.compression {
        app = app.nest(
            COMPRESSED_PREFIX,
            routes(handler, options.get_only).with(Compression::new()),
        );
    }
    Server::spawn_tokio(Framework::Poem, addr, |stopped| async move {
        poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                app,
                async move {
                    let _ = stopped.await;
                },
                // No forced deadline: the tests measure how long a graceful
                // shutdown takes, which a timeout here would hide.
                None,
            )
            .await
            .expect("poem's server only fails on accept");
    })
}
