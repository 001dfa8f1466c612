//! The examples' shared part: an [`App`] is written once against
//! [`ssekit::SsePublisher`] and served by any framework with an adapter.
//!
//! Each example binary (`chat`, `countdown`, `dashboard`, `progress`) takes
//! `--framework axum|actix|warp|poem|hyper` (default axum) and `--port` (default 3000).
#![warn(missing_docs)]

pub mod apps;
mod serve;

use std::future::Future;
use std::net::SocketAddr;

use serde::de::DeserializeOwned;
use ssekit::SsePublisher;

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
}

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
