use salvo::compression::Compression;
use salvo::conn::tcp::TcpAcceptor;
use salvo::{Router, Server as SalvoServer};
use ssekit_conformance::COMPRESSED_PREFIX;

use crate::{Framework, Handler, Options, Server};

fn routes<H: Handler>(handler: H, get_only: bool) -> Router {
    let handler = ssekit_salvo::handler(move |publisher| {
        let handler = handler.clone();
        async move { handler.handle(publisher).await }
    });
    let every_path = Router::with_path("{**rest}");
    if get_only {
        every_path.get(handler)
    } else {
        every_path.goal(handler)
    }
}

pub(super) fn start<H: Handler>(handler: H, options: Options) -> Server {
    let listener = options.listener();
    let addr = listener.local_addr().expect("a local address");
    let acceptor = TcpAcceptor::try_from(listener).expect("a Salvo acceptor");
    let mut router = Router::new();
    if options.compression {
        router = router.push(
            Router::with_path(COMPRESSED_PREFIX.trim_start_matches('/'))
                .hoop(Compression::new())
                .push(routes(handler.clone(), options.get_only)),
        );
    }
    let router = router.push(routes(handler, options.get_only));
    Server::spawn_tokio(Framework::Salvo, addr, |stopped| async move {
        let server = SalvoServer::new(acceptor);
        let handle = server.handle();
        tokio::spawn(async move {
            let _ = stopped.await;
            // No forced deadline: the tests measure how long it takes.
            handle.stop_graceful(None);
        });
        server.serve(router).await;
    })
}
