use std::collections::HashSet;

use rocket::fairing::AdHoc;
use rocket::http::Method;
use rocket::route::{Handler as RocketHandler, Outcome, Route};
use rocket::{Data, Request};
use tokio::sync::oneshot;

use crate::server::Stop;
use crate::{Framework, Handler, Options, Server};

/// The handler as a Rocket route handler: `routes!` takes only functions
/// that are not generic, Rocket's custom handlers are the way for others.
#[derive(Clone)]
struct Serve<H>(H);

#[rocket::async_trait]
impl<H: Handler> RocketHandler for Serve<H> {
    async fn handle<'r>(&self, request: &'r Request<'_>, _: Data<'r>) -> Outcome<'r> {
        let publisher = ssekit_rocket::Publisher::from(request);
        Outcome::from(request, self.0.handle(publisher).await)
    }
}

/// Rocket 0.5 binds its own listener from its config (it has no public way
/// to serve one it is given): the port is learnt at liftoff, and the
/// options' stall timeout cannot be set, nor is there stock compression.
pub(super) async fn start<H: Handler>(handler: H, options: Options) -> Server {
    let config = rocket::Config {
        address: options.ip.into(),
        port: options.port,
        log_level: rocket::config::LogLevel::Off,
        shutdown: rocket::config::Shutdown {
            ctrlc: false,
            signals: HashSet::new(),
            ..Default::default()
        },
        ..rocket::Config::debug_default()
    };
    let (port_sender, port) = oneshot::channel();
    let port_sender = std::sync::Mutex::new(Some(port_sender));
    // `<_..>` matches every path, `/` too; a route without query parameters
    // takes any query.
    let methods: &[Method] = if options.get_only {
        &[Method::Get]
    } else {
        // Rocket routes one method each.
        &[
            Method::Get,
            Method::Post,
            Method::Put,
            Method::Delete,
            Method::Patch,
        ]
    };
    let routes: Vec<Route> = methods
        .iter()
        .map(|&method| Route::new(method, "/<_..>", Serve(handler.clone())))
        .collect();
    let rocket = rocket::custom(config)
        .mount("/", routes)
        .attach(AdHoc::on_liftoff("port", move |rocket| {
            let port = rocket.config().port;
            Box::pin(async move {
                if let Some(sender) = port_sender.lock().expect("not poisoned").take() {
                    let _ = sender.send(port);
                }
            })
        }))
        .ignite()
        .await
        .expect("Rocket ignites");
    let shutdown = rocket.shutdown();
    let (signal, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let launch = rocket.launch();
        tokio::pin!(launch);
        tokio::select! {
            _ = &mut launch => {}
            _ = stopped => {
                shutdown.notify();
                let _ = launch.await;
            }
        }
    });
    let port = port.await.expect("Rocket lifts off");
    Server {
        framework: Framework::Rocket,
        addr: (options.ip, port).into(),
        stop: Some(Stop::Tokio { signal, task }),
    }
}
