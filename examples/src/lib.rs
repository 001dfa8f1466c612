//! The examples' shared part: an [`App`] is written once against
//! [`ssekit::SsePublisher`] and served by any of the four frameworks.
//!
//! Each example binary (`chat`, `countdown`, `dashboard`, `progress`) takes
//! `--framework axum|actix|warp|poem` (default axum) and `--port` (default 3000).
#![warn(missing_docs)]

pub mod apps;
mod serve;

use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use ssekit::SsePublisher;

pub use serve::{serve, Framework};

/// An example application: pages, SSE streams and `POST` actions, written once
/// for every framework.
pub trait App: Clone + Send + Sync + 'static {
    /// The HTML page served at `path`, if any.
    fn page(&self, path: &str) -> Option<&'static str>;

    /// True if `GET path` is an event stream answered by [`stream`](Self::stream).
    fn is_stream(&self, path: &str) -> bool;

    /// Answers an event-stream request. The same code runs on every framework.
    fn stream<P>(&self, publisher: P) -> impl Future<Output = P::Response> + Send
    where
        P: SsePublisher + Send + 'static;

    /// Answers `POST path` with a status and a JSON body.
    fn post(&self, path: &str, body: Bytes) -> impl Future<Output = (u16, String)> + Send;

    /// Ends every open stream, so the server's graceful shutdown completes.
    fn shutdown(&self);
}

/// Command-line options shared by the example binaries.
#[derive(Debug, Clone, clap::Parser)]
pub struct Args {
    /// Which framework serves the app.
    #[arg(long, value_enum, default_value_t = Framework::Axum)]
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
