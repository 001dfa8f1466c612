//! Which queue bound a burst needs: a burst of events published at once to
//! one topic of many real HTTP connections (axum, the hub's default lag
//! policy, `LagPolicy::Disconnect`), for several queue sizes. A connection
//! that falls more than the queue behind is ended (its client resumes from
//! history), so the table shows, per queue size, how many connections got
//! the whole burst and how many were ended.
//!
//! `cargo run --release -p ssekit-bench --example hub_burst`
//!
//! It drives the fan-out benchmark's own binaries (`sse-bench-server` with
//! `--queue`, `sse-bench-load`), built first with
//! `cargo build --release -p ssekit-bench --bins`. A benchmark, not a test:
//! it asserts nothing.

use std::io::{BufReader, Write};
use std::path::Path;
use std::time::Duration;

use ssekit_bench::{binaries, lines, source_address, spawn};

/// The burst the issue names: 200 events of 64 bytes, published back to back.
const BURST: u64 = 200;
const BYTES: u64 = 64;
const QUEUES: [usize; 5] = [64, 128, 256, 512, 1024];
const CONNECTIONS: [usize; 2] = [1_000, 10_000];
/// How long the load waits for connections that were ended (they never
/// complete): long past the burst's delivery.
const TIMEOUT_S: u64 = 10;

fn main() {
    let bins = binaries(&["sse-bench-server", "sse-bench-load"]);
    println!("# A burst of {BURST} events against the queue bound\n");
    println!(
        "| queue | connections | got all {BURST} | ended (lagged) | deliveries | topic's log (handles) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for (run, conns) in CONNECTIONS.into_iter().enumerate() {
        for (at, queue) in QUEUES.into_iter().enumerate() {
            let (complete, deliveries) = burst(&bins, queue, conns, run * QUEUES.len() + at);
            println!(
                "| {queue} | {conns} | {complete} | {} | {deliveries} | {} bytes |",
                conns - complete,
                // A `Frame` handle is 32 bytes; the frames themselves are
                // shared with history.
                queue * 32,
            );
        }
    }
}

/// One burst: how many connections got every event, and all deliveries.
fn burst(dir: &Path, queue: usize, conns: usize, run: usize) -> (usize, u64) {
    let mut server = spawn(
        dir,
        "sse-bench-server",
        None,
        &[
            "--framework".into(),
            "axum".into(),
            "--variant".into(),
            "ours".into(),
            "--queue".into(),
            queue.to_string(),
        ],
    );
    let mut server_out = BufReader::new(server.stdout.take().expect("server stdout"));
    let port = lines::after(&mut server_out, "PORT");
    let mut server_in = server.stdin.take().expect("server stdin");
    let source = source_address(100, run);
    let mut load = spawn(
        dir,
        "sse-bench-load",
        None,
        &[
            "--port".into(),
            port,
            "--conns".into(),
            conns.to_string(),
            "--events".into(),
            BURST.to_string(),
            "--source".into(),
            source,
            "--timeout".into(),
            TIMEOUT_S.to_string(),
        ],
    );
    let mut load_out = BufReader::new(load.stdout.take().expect("load stdout"));
    lines::after(&mut load_out, "READY");
    std::thread::sleep(Duration::from_millis(500));
    writeln!(server_in, "burst {BURST} {BYTES} 0").expect("command the server");
    server_in.flush().expect("command the server");
    let done = lines::after(&mut load_out, "DONE");
    drop(server_in);
    let _ = load.wait();
    let _ = server.kill();
    let _ = server.wait();
    let incomplete = lines::field(&done, "incomplete").unwrap_or(f64::NAN) as usize;
    let deliveries = lines::field(&done, "deliveries").unwrap_or(0.0) as u64;
    (conns.saturating_sub(incomplete), deliveries)
}
