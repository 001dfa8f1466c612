//! One SSE server for the fan-out benchmark: `GET /sse` subscribes the
//! connection to one topic.
//!
//! `sse-bench-server --framework axum|actix|warp|poem|hyper|rocket|salvo --variant ours|native [--queue N]`
//!
//! * `ours`: the framework's adapter publishing a [`Hub`] subscription,
//!   served as every test serves it (`ssekit-test-support`).
//! * `native`: the framework's own SSE type fed by a `tokio::sync::broadcast`
//!   channel, the recipe their documentation and examples show: every
//!   connection receives the `String` and builds and encodes its own event.
//!   Plain hyper has no SSE type, so no native variant.
//!
//! Both keep the default 15 s keep-alive, and both buffer [`QUEUE`] events per
//! connection (or `--queue N`). The hub keeps the publisher's ids (there are none), so both
//! variants put exactly the same bytes on the wire: `data: <payload>\n\n`.
//!
//! Prints `PORT <n>` once listening, then takes commands on stdin, one per
//! line: `burst <events> <bytes> <per second, 0 = at once>` publishes from a
//! dedicated thread and answers `SENT`. The process exits when stdin closes.

use std::convert::Infallible;
use std::io::{BufRead, Write};
use std::time::Duration;

use futures_util::{future, Stream, StreamExt};
use ssekit::hub::{Hub, HubConfig, IdMode};
use ssekit::Event;
use ssekit_bench::{listener, now_ns, payload, raise_nofile_limit, QUEUE, TOPIC};
use ssekit_test_support::{Framework, Options, Server, Subscribe};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

#[derive(Clone)]
enum Source {
    Ours(Hub),
    Native(broadcast::Sender<String>),
}

impl Source {
    fn publish(&self, data: String) {
        match self {
            Source::Ours(hub) => {
                hub.publish(TOPIC, Event::message(data));
            }
            Source::Native(sender) => {
                let _ = sender.send(data);
            }
        }
    }
}

/// The native recipe's stream: what the channel holds; a lagging receiver
/// skips what it missed (the load generator would report the loss).
fn native_stream(sender: &broadcast::Sender<String>) -> impl Stream<Item = String> + Send + Sync {
    BroadcastStream::new(sender.subscribe()).filter_map(|item| future::ready(item.ok()))
}

fn main() -> std::io::Result<()> {
    let mut framework = String::new();
    let mut variant = String::new();
    let mut queue = QUEUE;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--framework" => framework = args.next().unwrap_or_default(),
            "--variant" => variant = args.next().unwrap_or_default(),
            "--queue" => queue = args.next().and_then(|n| n.parse().ok()).expect("--queue N"),
            other => panic!("unknown argument {other}"),
        }
    }
    raise_nofile_limit();
    let framework: Framework = framework.parse().map_err(std::io::Error::other)?;
    let source = match variant.as_str() {
        "ours" => Source::Ours(Hub::with_config(
            HubConfig::default()
                .with_queue(queue)
                .with_ids(IdMode::Keep),
        )),
        "native" => Source::Native(broadcast::channel(queue).0),
        other => panic!("unknown variant {other:?}"),
    };
    let publisher = source.clone();
    let sender = match source {
        Source::Ours(hub) => return current_thread().block_on(ours(framework, hub, publisher)),
        Source::Native(sender) => sender,
    };
    if framework == Framework::Rocket {
        // Rocket binds its own listener: it prints the port once lifted off.
        return current_thread().block_on(rocket_native(sender, publisher));
    }
    let listener = listener()?;
    println!("PORT {}", listener.local_addr()?.port());
    std::io::stdout().flush()?;
    std::thread::spawn(move || commands(publisher));
    match framework {
        Framework::Axum => current_thread().block_on(axum_native(listener, sender)),
        Framework::Actix => actix_web::rt::System::new().block_on(actix_native(listener, sender)),
        Framework::Warp => current_thread().block_on(warp_native(listener, sender)),
        Framework::Poem => current_thread().block_on(poem_native(listener, sender)),
        Framework::Salvo => current_thread().block_on(salvo_native(listener, sender)),
        Framework::Hyper => panic!("plain hyper has no SSE type of its own"),
        Framework::Rocket => unreachable!("served above"),
    }
}

/// The adapter on the framework's server, as the tests run it; actix-web
/// gets one worker thread, the others this one-thread runtime.
async fn ours(framework: Framework, hub: Hub, source: Source) -> std::io::Result<()> {
    let handler = Subscribe { hub, topic: TOPIC };
    let server = Server::start_with(framework, handler, Options::new().with_workers(1)).await;
    println!("PORT {}", server.addr().port());
    std::io::stdout().flush()?;
    std::thread::spawn(move || commands(source));
    std::future::pending().await
}

fn commands(source: Source) {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|w| w.parse().ok())
            .collect();
        if let ("burst", [events, bytes, rate]) =
            (line.split_whitespace().next().unwrap_or(""), &words[..])
        {
            for seq in 0..*events {
                if *rate > 0 && seq > 0 {
                    std::thread::sleep(Duration::from_secs_f64(1.0 / *rate as f64));
                }
                source.publish(payload(seq, now_ns(), *bytes as usize));
            }
            println!("SENT");
            let _ = std::io::stdout().flush();
        }
    }
    // The benchmark closed stdin: this run is over.
    std::process::exit(0);
}

/// One worker thread: the benchmark pins the server to one core.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn axum_native(
    listener: std::net::TcpListener,
    sender: broadcast::Sender<String>,
) -> std::io::Result<()> {
    use axum::response::sse::{Event as AxumEvent, KeepAlive, Sse};
    use axum::routing::get;
    let route = get(move || {
        let events =
            native_stream(&sender).map(|data| Ok::<_, Infallible>(AxumEvent::default().data(data)));
        async move { Sse::new(events).keep_alive(KeepAlive::default()) }
    });
    let app = axum::Router::new().route("/sse", route);
    axum::serve(tokio::net::TcpListener::from_std(listener)?, app).await
}

async fn actix_native(
    listener: std::net::TcpListener,
    sender: broadcast::Sender<String>,
) -> std::io::Result<()> {
    use actix_web::{web, App, HttpServer};
    use actix_web_lab::sse;
    HttpServer::new(move || {
        let sender = sender.clone();
        let route = web::get().to(move || {
            let events = native_stream(&sender)
                .map(|data| Ok::<_, Infallible>(sse::Event::Data(sse::Data::new(data))));
            async move { sse::Sse::from_stream(events).with_keep_alive(Duration::from_secs(15)) }
        });
        App::new().route("/sse", route)
    })
    .workers(1)
    .backlog(4096)
    .max_connections(100_000)
    .h1_allow_half_closed(false)
    .disable_signals()
    .listen(listener)?
    .run()
    .await
}

async fn warp_native(
    listener: std::net::TcpListener,
    sender: broadcast::Sender<String>,
) -> std::io::Result<()> {
    use warp::{Filter, Reply};
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let route = warp::path("sse").and(warp::get()).map(move || {
        let events = native_stream(&sender)
            .map(|data| Ok::<_, Infallible>(warp::sse::Event::default().data(data)));
        warp::sse::reply(warp::sse::keep_alive().stream(events)).into_response()
    });
    warp::serve(route).incoming(listener).run().await;
    Ok(())
}

async fn poem_native(
    listener: std::net::TcpListener,
    sender: broadcast::Sender<String>,
) -> std::io::Result<()> {
    use poem::listener::TcpAcceptor;
    use poem::web::sse::{Event as PoemEvent, SSE};
    use poem::{endpoint::make, get, IntoResponse, Route, Server};
    let acceptor = TcpAcceptor::from_tokio(tokio::net::TcpListener::from_std(listener)?)?;
    let endpoint = get(make(move |_request| {
        let events = native_stream(&sender).map(PoemEvent::message);
        async move {
            SSE::new(events)
                .keep_alive(Duration::from_secs(15))
                .into_response()
        }
    }));
    let app = Route::new().at("/sse", endpoint);
    Server::new_with_acceptor(acceptor).run(app).await
}

async fn salvo_native(
    listener: std::net::TcpListener,
    sender: broadcast::Sender<String>,
) -> std::io::Result<()> {
    use salvo::conn::tcp::TcpAcceptor;
    use salvo::sse::{SseEvent, SseKeepAlive};
    use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, Server};

    /// The recipe of Salvo's SSE example, with the channel as its state.
    struct Native(broadcast::Sender<String>);

    #[salvo::async_trait]
    impl Handler for Native {
        async fn handle(
            &self,
            _: &mut Request,
            _: &mut Depot,
            res: &mut Response,
            _: &mut FlowCtrl,
        ) {
            let events = native_stream(&self.0)
                .map(|data| Ok::<_, Infallible>(SseEvent::default().text(data)));
            SseKeepAlive::new(events)
                .max_interval(Duration::from_secs(15))
                .stream(res);
        }
    }

    let acceptor = TcpAcceptor::try_from(tokio::net::TcpListener::from_std(listener)?)?;
    let router = Router::with_path("sse").get(Native(sender));
    Server::new(acceptor).serve(router).await;
    Ok(())
}

/// Rocket's `EventStream!` recipe; Rocket binds its own port (0: any),
/// printed once it has lifted off, and then the commands start.
async fn rocket_native(sender: broadcast::Sender<String>, source: Source) -> std::io::Result<()> {
    use rocket::fairing::AdHoc;
    use rocket::response::stream::{Event as RocketEvent, EventStream};
    use rocket::{get, routes, State};

    #[get("/sse")]
    fn sse(sender: &State<broadcast::Sender<String>>) -> EventStream![] {
        let events = native_stream(sender.inner());
        EventStream! {
            for await data in events {
                yield RocketEvent::data(data);
            }
        }
        .heartbeat(Duration::from_secs(15))
    }

    let config = rocket::Config {
        address: std::net::Ipv4Addr::LOCALHOST.into(),
        port: 0,
        log_level: rocket::config::LogLevel::Off,
        ..rocket::Config::release_default()
    };
    let source = std::sync::Mutex::new(Some(source));
    rocket::custom(config)
        .manage(sender)
        .mount("/", routes![sse])
        .attach(AdHoc::on_liftoff("port", move |rocket| {
            let port = rocket.config().port;
            let source = source.lock().expect("not poisoned").take();
            Box::pin(async move {
                println!("PORT {port}");
                let _ = std::io::stdout().flush();
                if let Some(source) = source {
                    std::thread::spawn(move || commands(source));
                }
            })
        }))
        .launch()
        .await
        .map(drop)
        .map_err(std::io::Error::other)
}
