//! One generic handler served by any framework, with its adapter: what the
//! conformance suite, the reliability tests and the fan-out benchmark start.
//!
//! A handler is written once against [`SsePublisher`] ([`Handler`]); a
//! [`Server`] serves it on every path of an ephemeral port with one of the
//! [`Framework`]s, each with its own server and graceful shutdown. Adding a
//! framework is its adapter crate plus one module in `frameworks/` and a
//! variant here.
#![warn(missing_docs)]

pub mod backplane;
mod frameworks;
pub mod recorder;
mod server;

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use ssekit::SsePublisher;

pub use server::{Options, Server, BACKLOG};

/// A handler written once against [`SsePublisher`], as an application would.
///
/// A trait rather than a closure because a closure cannot be generic over the
/// publisher type, and every framework gets the same handler.
pub trait Handler: Clone + Send + Sync + 'static {
    /// Answers one request.
    fn handle<P>(&self, publisher: P) -> impl Future<Output = P::Response> + Send
    where
        P: SsePublisher + Send + 'static;
}

/// The handler most tests need: every request subscribes to `topic` on
/// `hub`, resuming after the client's `Last-Event-ID`.
#[derive(Clone)]
pub struct Subscribe {
    /// The hub subscribed to.
    pub hub: ssekit::hub::Hub,
    /// The topic every stream follows.
    pub topic: &'static str,
}

impl Handler for Subscribe {
    fn handle<P>(&self, publisher: P) -> impl Future<Output = P::Response> + Send
    where
        P: SsePublisher + Send + 'static,
    {
        let subscription = self.hub.subscribe(self.topic, publisher.last_event_id());
        async move { publisher.publish(subscription) }
    }
}

/// The conformance routes ([`ssekit_conformance::handle`]) on one shared state.
#[derive(Clone, Default)]
pub struct Conformance(pub ssekit_conformance::ConformanceState);

impl Handler for Conformance {
    fn handle<P>(&self, publisher: P) -> impl Future<Output = P::Response> + Send
    where
        P: SsePublisher + Send + 'static,
    {
        ssekit_conformance::handle(publisher, self.0.clone())
    }
}

/// The frameworks with an adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framework {
    /// axum 0.8 with `ssekit-axum`.
    Axum,
    /// actix-web 4 with `ssekit-actix`.
    Actix,
    /// warp 0.4 with `ssekit-warp`.
    Warp,
    /// poem 3 with `ssekit-poem`.
    Poem,
    /// A plain hyper 1 server (hyper-util, tower) with `ssekit-hyper`.
    Hyper,
    /// Rocket 0.5 with `ssekit-rocket`.
    Rocket,
    /// Salvo 1 with `ssekit-salvo`.
    Salvo,
}

impl Framework {
    /// Every framework, in the order of the README's tables.
    pub const ALL: [Framework; 7] = [
        Framework::Axum,
        Framework::Actix,
        Framework::Warp,
        Framework::Poem,
        Framework::Hyper,
        Framework::Rocket,
        Framework::Salvo,
    ];

    /// The lowercase name used on command lines and in report names.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Framework::Axum => "axum",
            Framework::Actix => "actix",
            Framework::Warp => "warp",
            Framework::Poem => "poem",
            Framework::Hyper => "hyper",
            Framework::Rocket => "rocket",
            Framework::Salvo => "salvo",
        }
    }

    /// Whether the framework ships compression middleware, for
    /// [`Options::with_compression`] (Rocket does not).
    #[must_use]
    pub const fn has_stock_compression(self) -> bool {
        !matches!(self, Framework::Rocket)
    }

    /// Whether [`Options::with_stall_timeout`] reaches the framework's
    /// connections: not on Rocket 0.5, which binds its own listener.
    #[must_use]
    pub const fn takes_a_listener(self) -> bool {
        !matches!(self, Framework::Rocket)
    }
}

impl fmt::Display for Framework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`Framework::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFramework(pub String);

impl fmt::Display for UnknownFramework {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = Framework::ALL.iter().map(|f| f.name()).collect();
        write!(
            f,
            "unknown framework {:?} (one of: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownFramework {}

impl FromStr for Framework {
    type Err = UnknownFramework;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Framework::ALL
            .into_iter()
            .find(|framework| framework.name() == name)
            .ok_or_else(|| UnknownFramework(name.to_owned()))
    }
}

/// A Tokio runtime with two workers, as the machine has two cores: each test
/// starts its servers and clients on a fresh one.
#[must_use]
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// Declares one `#[test]` per framework, `name::axum` … `name::salvo`, each
/// calling `runner(Framework::X, body)`; with a list, one per framework
/// listed (by [`Framework::name`]).
///
/// ```text
/// per_framework!(my_runner; #[ignore = "long"] soak => soak_body);
/// per_framework!(my_runner; [axum hyper] fast => fast_body);
/// ```
#[macro_export]
macro_rules! per_framework {
    ($runner:path; [$($framework:ident)*] $(#[$attr:meta])* $name:ident => $body:path) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::per_framework!(@each $runner; $body; [$(#[$attr])*] $($framework)*);
        }
    };
    ($runner:path; $(#[$attr:meta])* $name:ident => $body:path) => {
        $crate::per_framework!(
            $runner; [axum actix warp poem hyper rocket salvo] $(#[$attr])* $name => $body
        );
    };
    (@each $runner:path; $body:path; [$(#[$attr:meta])*] $framework:ident $($rest:ident)*) => {
        $(#[$attr])*
        #[test]
        fn $framework() {
            $runner($crate::framework(stringify!($framework)), $body)
        }
        $crate::per_framework!(@each $runner; $body; [$(#[$attr])*] $($rest)*);
    };
    (@each $runner:path; $body:path; [$(#[$attr:meta])*]) => {};
}

/// The framework named `name`; for [`per_framework!`].
///
/// # Panics
///
/// When `name` is not one of [`Framework::ALL`].
#[doc(hidden)]
#[must_use]
pub fn framework(name: &str) -> Framework {
    name.parse().unwrap_or_else(|unknown| panic!("{unknown}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for framework in Framework::ALL {
            assert_eq!(framework.name().parse::<Framework>(), Ok(framework));
        }
        assert_eq!(
            Framework::ALL.len(),
            7,
            "per_framework! lists every framework by name"
        );
        let unknown = "django".parse::<Framework>().unwrap_err();
        assert!(unknown.to_string().contains("axum, actix"), "{unknown}");
    }
}
