use actix_web::middleware::{Compress, Condition};
use actix_web::{web, App, HttpServer};
use ssekit_actix::Publisher;
use ssekit_conformance::COMPRESSED_PREFIX;
use tokio::sync::oneshot;

use crate::server::Stop;
use crate::{Framework, Handler, Options, Server};

/// A resource on every path, with a GET route (other methods get 405) or a
/// route for every method.
fn every_path<H: Handler>(handler: H, get_only: bool) -> actix_web::Resource {
    let route = if get_only { web::get() } else { web::route() };
    web::resource("/{tail:.*}").route(route.to(move |publisher: Publisher| {
        let handler = handler.clone();
        async move { handler.handle(publisher).await }
    }))
}

pub(super) async fn start<H: Handler>(handler: H, options: Options) -> Server {
    let (started, on_start) = oneshot::channel();
    let (finished, done) = oneshot::channel();
    std::thread::Builder::new()
        .name("actix-system".into())
        .spawn(move || {
            let system = actix_rt::System::new();
            let result = system.block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .service(
                            web::scope(COMPRESSED_PREFIX)
                                .wrap(Condition::new(options.compression, Compress::default()))
                                .service(every_path(handler.clone(), options.get_only)),
                        )
                        .service(every_path(handler.clone(), options.get_only))
                })
                .workers(options.workers)
                // The fan-out benchmark holds 10 000 streams on one worker.
                .max_connections(100_000)
                .disable_signals()
                // As the README recommends for SSE: notice a client's FIN at once.
                .h1_allow_half_closed(false)
                .backlog(crate::BACKLOG);
                let listener = options.std_listener();
                let server = if options.h2c {
                    server.listen_auto_h2c(listener)
                } else {
                    server.listen(listener)
                }
                .expect("listen on an ephemeral port");
                let addr = server.addrs()[0];
                let server = server.run();
                let _ = started.send((addr, server.handle()));
                server.await
            });
            if let Err(error) = result {
                eprintln!("actix server failed: {error}");
            }
            let _ = finished.send(());
        })
        .expect("a thread for the actix system");
    let (addr, handle) = on_start.await.expect("the actix server starts");
    Server {
        framework: Framework::Actix,
        addr,
        stop: Some(Stop::Actix { handle, done }),
    }
}
