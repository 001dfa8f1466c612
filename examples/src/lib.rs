//! The examples' shared part: an [`App`] is written once against
//! [`ssekit::SsePublisher`] and served by any framework with an adapter.
//!
//! Each example binary (`chat`, `countdown`, `dashboard`, `progress`) takes
//! `--framework axum|actix|warp|poem|hyper|rocket|salvo` (default axum) and
//! `--port` (default 3000) ([`Args`]). Those that broadcast through a hub also
//! take `--redis URL` or `--nats URL` ([`BroadcastArgs`]), to share it with
//! every process on that broker; their apps are written once against
//! [`Broadcaster`].
#![warn(missing_docs)]

pub mod apps;
mod serve;

use std::future::Future;
use std::net::SocketAddr;

use serde::de::DeserializeOwned;
use ssekit::hub::{Broadcaster, Hub, HubConfig};
use ssekit::SsePublisher;
use ssekit_nats::{NatsHub, NatsHubConfig};
use ssekit_redis::{RedisHub, RedisHubConfig};

pub use serve::{serve, Framework};

/// An example application: a page, an event stream and a JSON `POST`
/// action, written once; each framework mounts them with its own router,
/// state and JSON extractor (`src/serve/`).
pub trait App: Clone + Send + Sync + 'static {
    /// The HTML page served at `/`.
    const PAGE: &'static str;

    /// The path of the event stream, answered by [`stream`](Self::stream).
    const STREAM: &'static str;

    /// The path of the `POST` action, answered by [`post`](Self::post), if
    /// the app has one.
    const POST: Option<&'static str>;

    /// The path of a plain-text `GET` of the app's own, answered by
    /// [`text`](Self::text) as [`TEXT_CONTENT_TYPE`], if the app has one
    /// (the dashboard's Prometheus `/metrics`).
    const TEXT: Option<&'static str> = None;

    /// The JSON body of the `POST` action.
    type Request: DeserializeOwned + Send + 'static;

    /// Answers an event-stream request. The same code runs on every framework.
    fn stream<P>(&self, publisher: P) -> impl Future<Output = P::Response> + Send
    where
        P: SsePublisher + Send + 'static;

    /// Answers the `POST` action.
    fn post(&self, request: Self::Request) -> impl Future<Output = JsonReply> + Send;

    /// Ends every open stream, so the server's graceful shutdown completes.
    fn shutdown(&self);

    /// Answers the [`TEXT`](Self::TEXT) route.
    fn text(&self) -> String {
        String::new()
    }
}

/// The content type of an [`App::TEXT`] answer: Prometheus's text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The answer to a `POST`: a status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonReply {
    /// The HTTP status.
    pub status: http::StatusCode,
    /// The body.
    pub body: serde_json::Value,
}

impl JsonReply {
    /// `200 OK` with `body`.
    #[must_use]
    pub fn ok(body: serde_json::Value) -> Self {
        Self {
            status: http::StatusCode::OK,
            body,
        }
    }

    /// `status` with `{"error": message}`.
    #[must_use]
    pub fn error(status: http::StatusCode, message: &str) -> Self {
        Self {
            status,
            body: serde_json::json!({ "error": message }),
        }
    }
}

/// Command-line options shared by the example binaries.
#[derive(Debug, Clone, clap::Parser)]
pub struct Args {
    /// Which framework serves the app.
    #[arg(long, default_value_t = Framework::Axum)]
    pub framework: Framework,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
}

impl Args {
    /// The address to listen on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

/// Command-line options of the examples that broadcast through a hub: the
/// shared [`Args`], and which broadcaster (this process's [`Hub`] unless one
/// of `--redis` and `--nats` is given; not both).
#[derive(Debug, Clone, clap::Parser)]
#[command(about = None, long_about = None)]
pub struct BroadcastArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: Args,
    /// Share the app with every process connected to this Redis
    /// (e.g. redis://127.0.0.1:6379).
    #[arg(long, value_name = "URL", conflicts_with = "nats")]
    pub redis: Option<String>,
    /// Share the app with every process connected to this NATS server, which
    /// needs JetStream (e.g. nats://127.0.0.1:4222).
    #[arg(long, value_name = "URL")]
    pub nats: Option<String>,
}

/// How an app's topics are kept, whichever the broadcaster: its name (the
/// Redis key prefix `<name>:`, the NATS stream `<NAME>` and subjects
/// `<name>.>`) and how many events each topic keeps for resume.
#[derive(Debug, Clone, Copy)]
pub struct Backplane {
    /// The app's name, lowercase ASCII letters (`chat`).
    pub name: &'static str,
    /// Events kept per topic for `Last-Event-ID` resume.
    pub history: usize,
    /// Events older than this are forgotten, so topics that are done with
    /// (a finished job's) go by themselves; `None` keeps them until
    /// `history` or the broadcaster's own bounds drop them.
    pub max_age: Option<std::time::Duration>,
}

impl Backplane {
    /// This process's hub, ids from the clock (so they keep growing when the
    /// server restarts).
    pub fn local(&self) -> Hub {
        let config = HubConfig::default()
            .with_history(self.history)
            .with_ids_from_clock();
        Hub::with_config(match self.max_age {
            Some(age) => config.with_max_age(age),
            None => config,
        })
    }

    /// A hub shared by every process connected to the Redis at `url`.
    pub async fn redis(&self, url: &str) -> Result<RedisHub, ssekit_redis::Error> {
        let config = RedisHubConfig::default()
            .with_max_len(self.history)
            .with_key_prefix(&format!("{}:", self.name));
        // Redis trims by age only on a publish to the topic: the key's idle
        // expiry drops a topic nobody publishes to any more.
        let config = match self.max_age {
            Some(age) => config.with_max_age(age).with_idle_expiry(age),
            None => config,
        };
        RedisHub::connect(url, config).await
    }

    /// A hub shared by every process connected to the NATS server at `url`
    /// (with JetStream).
    pub async fn nats(&self, url: &str) -> Result<NatsHub, ssekit_nats::Error> {
        let config = NatsHubConfig::default()
            .with_stream(&self.name.to_ascii_uppercase())
            .with_subject_prefix(self.name)
            .with_max_messages_per_topic(self.history as u64);
        let config = match self.max_age {
            Some(age) => config.with_max_age(age),
            None => config,
        };
        NatsHub::connect(url, config).await
    }
}

/// Builds an app on whichever broadcaster the command line chose (a
/// closure cannot be generic, so a binary names its app with this).
pub trait OnBroadcaster: Send + 'static {
    /// Where the app's topics are kept.
    const BACKPLANE: Backplane;

    /// The app on `broadcaster` (called inside the runtime, so it may spawn
    /// tasks).
    fn on<B: Broadcaster>(self, broadcaster: B) -> impl App;
}

/// Runs the app `make` builds, on the broadcaster the binary's arguments
/// ([`BroadcastArgs`]) choose, until Ctrl-C.
pub fn main_on<M: OnBroadcaster>(make: M) -> std::io::Result<()> {
    use clap::Parser;
    let args = BroadcastArgs::parse();
    let backplane = M::BACKPLANE;
    match (args.redis, args.nats) {
        (Some(url), _) => run(&args.common, async move {
            let hub = backplane.redis(&url).await.map_err(std::io::Error::other)?;
            Ok(make.on(hub))
        }),
        (None, Some(url)) => run(&args.common, async move {
            let hub = backplane.nats(&url).await.map_err(std::io::Error::other)?;
            Ok(make.on(hub))
        }),
        (None, None) => run(&args.common, async move { Ok(make.on(backplane.local())) }),
    }
}

/// Runs the app made by `make_app` (called inside the runtime, so it may
/// spawn tasks) as the binary's arguments say, until Ctrl-C.
pub fn main_with<A: App>(make_app: impl FnOnce() -> A) -> std::io::Result<()> {
    use clap::Parser;
    let args = Args::parse();
    run(&args, async move { Ok(make_app()) })
}

/// Runs the app that `app` resolves to (inside the runtime) as `args` say,
/// until Ctrl-C.
pub fn run<A: App>(
    args: &Args,
    app: impl Future<Output = std::io::Result<A>>,
) -> std::io::Result<()> {
    serve::run_until_signal(app, args.framework, args.addr())
}

/// The repository's README: every Rust block in it is a doctest here, so the
/// code users copy first compiles (and runs where it can).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
