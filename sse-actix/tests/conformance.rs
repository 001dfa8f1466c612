//! The shared conformance suite against actix-web with this adapter, over real HTTP.

use actix_web::middleware::Compress;
use actix_web::{web, App, HttpServer};
use ssekit_actix::Publisher;
use ssekit_conformance::{handle, ConformanceState, COMPRESSED_PREFIX};

#[actix_web::test]
async fn conformance() {
    let state = ConformanceState::new();
    let server =
        HttpServer::new(move || {
            let plain = state.clone();
            let compressed = state.clone();
            // A resource with a GET route: other methods get 405, as on the other frameworks.
            App::new()
                .service(
                    web::scope(COMPRESSED_PREFIX)
                        .wrap(Compress::default())
                        .service(web::resource("/{tail:.*}").route(
                            web::get().to(move |p: Publisher| handle(p, compressed.clone())),
                        )),
                )
                .service(
                    web::resource("/{tail:.*}")
                        .route(web::get().to(move |p: Publisher| handle(p, plain.clone()))),
                )
        })
        .workers(2)
        .disable_signals()
        // Notice a client's FIN at once instead of at the next failed write.
        .h1_allow_half_closed(false)
        .bind_auto_h2c(("127.0.0.1", 0))
        .unwrap();
    let base = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    // The suite's client runs on its own runtime, off the server's threads.
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(ssekit_conformance::assert_conformance(
                &base,
                "actix",
                &std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance"),
            ))
    })
    .await
    .unwrap();
    handle.stop(false).await;
}
