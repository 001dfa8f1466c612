//! `builtin-audit [DIR]`: the conformance suite against the SSE types that
//! axum, actix-web-lab, warp, poem, Rocket and Salvo ship themselves, each serving the
//! conformance routes the way its documentation shows.
//!
//! It answers "what would a user of the framework's own SSE support get?", next
//! to the same suite run against this project's adapters. It is a report, not
//! a test: it prints each table, saves each report as `DIR/<name>.json`
//! (default `target/conformance`) for `ssekit-conformance matrix`, and exits 0
//! whatever the cases found. It exits 1 only when a server cannot start or a
//! report cannot be written.

mod actix_builtin;
mod axum_builtin;
mod common;
mod poem_builtin;
mod rocket_builtin;
mod salvo_builtin;
mod warp_builtin;

use std::path::PathBuf;
use std::process::ExitCode;

use ssekit_conformance::{Config, ConformanceState};

fn main() -> ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/conformance"), PathBuf::from);
    // Two workers, like the adapters' conformance tests: the servers of axum,
    // warp, poem, Rocket and Salvo share this runtime with the suite's client.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if runtime.block_on(audit(&dir)) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Starts every server, then runs the suite against one after another (not
/// at once, so that the timing cases of one do not compete with another's on
/// two cores). False if something other than a case went wrong.
async fn audit(dir: &std::path::Path) -> bool {
    let mut ok = true;
    let (actix_base, actix_handle) = match actix_builtin::start(ConformanceState::new()) {
        Ok(running) => (Ok(running.base), Some(running.handle)),
        Err(e) => (Err(e), None),
    };
    let compressed = Config {
        compressed_prefix: Some(ssekit_conformance::COMPRESSED_PREFIX.into()),
        ..Config::default()
    };
    // Rocket ships no compression: nothing to mount the compressed routes behind.
    let uncompressed = Config::default();
    let servers = [
        (
            "axum-builtin",
            axum_builtin::start(ConformanceState::new()).await,
            &compressed,
        ),
        ("actix-web-lab-builtin", actix_base, &compressed),
        (
            "warp-builtin",
            warp_builtin::start(ConformanceState::new()).await,
            &compressed,
        ),
        (
            "poem-builtin",
            poem_builtin::start(ConformanceState::new()).await,
            &compressed,
        ),
        (
            "rocket-builtin",
            rocket_builtin::start(ConformanceState::new()).await,
            &uncompressed,
        ),
        (
            "salvo-builtin",
            salvo_builtin::start(ConformanceState::new()).await,
            &compressed,
        ),
    ];
    for (name, base, config) in servers {
        let base = match base {
            Ok(base) => base,
            Err(e) => {
                eprintln!("{name}: the server did not start: {e}");
                ok = false;
                continue;
            }
        };
        println!("== {name}");
        let report = ssekit_conformance::run(&base, config).await;
        println!("{}", report.to_table());
        match report.save(dir, name) {
            Ok(path) => println!("saved {}\n", path.display()),
            Err(e) => {
                eprintln!("{name}: cannot save the report in {}: {e}", dir.display());
                ok = false;
            }
        }
    }
    if let Some(handle) = actix_handle {
        handle.stop(false).await;
    }
    ok
}
