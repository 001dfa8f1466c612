//! Reliability tests for the SSE adapters, over real HTTP on loopback.
//!
//! The library is the harness; the tests in `tests/` are the point:
//!
//! | file | what it proves, on every adapter |
//! |---|---|
//! | `slow_consumer.rs` | a client that stops reading costs a bounded amount of memory, the hub's lag policy drops it, and a healthy client on the same topic still gets every event in order |
//! | `vanishing.rs` | a client that resets, closes, half-closes or silently disappears (its network unplugged) is noticed by the handler within a bound |
//! | `churn.rs` | after many connect/disconnect cycles, the hub has no subscriber left, every close callback ran, and memory is back near its baseline |
//! | `shutdown.rs` | hub shutdown plus the framework's graceful shutdown end thousands of open streams, each with the final event and a clean end of body, in bounded time |
//!
//! Tests that take more than a few seconds, or need root (network
//! namespaces, [`RemoteHost`]), are `#[ignore]`d and run in CI with
//! `cargo test -p ssekit-reliability -- --ignored --test-threads=1`.
//! Tests that fail today because of a known gap are behind the `known-bugs`
//! feature (`cargo test -p ssekit-reliability --features known-bugs`):
//!
//! * `vanishing.rs`, `stopped_reader_is_noticed::*`: a client that keeps
//!   acknowledging but stops reading, on an idle stream, is noticed only once
//!   keep-alives fill its buffers (hours); until then TCP sees a healthy
//!   connection. (With full buffers, the stall timeout cuts it off:
//!   `stopped_reader_with_full_buffers_is_noticed::*` passes.)
//! * `vanishing.rs`, `half_close_is_noticed::poem`: poem's server keeps
//!   streaming to a client that sent
//!   FIN (it awaits hyper's connection again after hyper reported the
//!   incomplete message), so the handler learns of it only when a later
//!   keep-alive write fails, up to two keep-alive intervals later.
#![warn(missing_docs)]

pub mod client;
pub mod netns;
pub mod process;
pub mod server;

use std::future::Future;

pub use client::{http_client, End, Next, RawClient, RawOptions, SseReader};
pub use netns::RemoteHost;
pub use process::{
    exclusive, open_fds, raise_open_files, rss_bytes, trimmed_rss_bytes, PeakRss, MIB,
};
pub use server::{Framework, Handler, Server, Subscribe};

/// Runs one test body for `framework` on a fresh two-worker runtime (the
/// machine has two cores), holding [`exclusive`] so no other test of the same
/// binary disturbs its measurements.
pub fn run_exclusive<F, Fut>(framework: Framework, body: F)
where
    F: FnOnce(Framework) -> Fut,
    Fut: Future<Output = ()>,
{
    let _alone = exclusive();
    run(framework, body);
}

/// Runs one test body for `framework` on a fresh two-worker runtime.
pub fn run<F, Fut>(framework: Framework, body: F)
where
    F: FnOnce(Framework) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(body(framework));
    // Streams a test left open must not keep their tasks alive past it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
}

/// Declares one test per framework, `name::axum` ... `name::poem`, each running
/// `body(framework)` with [`run_exclusive`] (or [`run`] with `shared`);
/// `shared with_hyper` adds `name::hyper`.
///
/// ```text
/// per_framework!(#[ignore = "long"] soak => soak_body);
/// per_framework!(shared with_hyper script => script_body);
/// ```
#[macro_export]
macro_rules! per_framework {
    ($(#[$attr:meta])* $name:ident => $body:path) => {
        $crate::per_framework!(@ run_exclusive $(#[$attr])* $name => $body);
    };
    ($(#[$attr:meta])* shared $name:ident => $body:path) => {
        $crate::per_framework!(@ run $(#[$attr])* $name => $body);
    };
    (shared with_hyper $name:ident => $body:path) => {
        $crate::per_framework!(@ run $name => $body; hyper);
    };
    (@ $runner:ident $(#[$attr:meta])* $name:ident => $body:path $(; $hyper:ident)?) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$attr])*
            #[test]
            fn axum() {
                $crate::$runner($crate::Framework::Axum, $body)
            }
            $(#[$attr])*
            #[test]
            fn actix() {
                $crate::$runner($crate::Framework::Actix, $body)
            }
            $(#[$attr])*
            #[test]
            fn warp() {
                $crate::$runner($crate::Framework::Warp, $body)
            }
            $(#[$attr])*
            #[test]
            fn poem() {
                $crate::$runner($crate::Framework::Poem, $body)
            }
            $(
                #[test]
                fn $hyper() {
                    $crate::$runner($crate::Framework::Hyper, $body)
                }
            )?
        }
    };
}
