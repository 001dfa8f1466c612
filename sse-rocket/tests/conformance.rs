//! The shared conformance suite against Rocket with this adapter, over real
//! HTTP (HTTP/1.1 and h2c).

use rocket::fairing::AdHoc;
use rocket::{get, routes, State};
use ssekit_conformance::{handle, Config, ConformanceState};
use ssekit_rocket::{Publisher, SseResponse};

/// Every conformance route: `<_..>` matches any path, and a route without
/// query parameters any query.
#[get("/<_..>")]
async fn conformance_routes(publisher: Publisher, state: &State<ConformanceState>) -> SseResponse {
    handle(publisher, state.inner().clone()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    let config = rocket::Config {
        address: std::net::Ipv4Addr::LOCALHOST.into(),
        port: 0,
        log_level: rocket::config::LogLevel::Off,
        shutdown: rocket::config::Shutdown {
            ctrlc: false,
            ..Default::default()
        },
        ..rocket::Config::debug_default()
    };
    let (port_sender, port) = tokio::sync::oneshot::channel();
    let port_sender = std::sync::Mutex::new(Some(port_sender));
    let rocket = rocket::custom(config)
        .mount("/", routes![conformance_routes])
        .manage(ConformanceState::new())
        .attach(AdHoc::on_liftoff("port", move |rocket| {
            let port = rocket.config().port;
            Box::pin(async move {
                if let Some(sender) = port_sender.lock().unwrap().take() {
                    let _ = sender.send(port);
                }
            })
        }));
    tokio::spawn(rocket.launch());
    let base = format!("http://127.0.0.1:{}", port.await.unwrap());

    // Rocket has no compression of its own (no stock middleware to put the
    // compressed routes behind), so the compression case is skipped.
    let config = Config {
        compressed_prefix: None,
        ..Config::default()
    };
    let report = ssekit_conformance::run(&base, &config).await;
    println!("{}", report.to_table());
    let reports = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    report.save(&reports, "rocket").unwrap();
    assert!(report.all_passed(), "{}", report.to_table());
}
