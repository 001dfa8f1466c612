//! Instructions per delivery, ours against each framework's native recipe,
//! counted by valgrind's callgrind: unlike time, the count does not move
//! with the machine's noise, so a small difference is real.
//!
//! `cargo build --release -p ssekit-bench --bins && cargo run --release -p ssekit-bench --example instructions`
//!
//! Runs `sse-bench-server` under `valgrind --tool=callgrind` with 1 000
//! connections from `sse-bench-load`, twice per case with different event
//! counts, and divides the difference in instructions by the difference in
//! deliveries: what the connections, the start-up and the exit cost cancels
//! out. Paced: events 4 per second, so each is written on its own (one write
//! per connection per event); burst: every event at once (written
//! coalesced). Counts user-space instructions of the server process only
//! (the kernel's share of a write is not in them: both variants make the
//! same system calls per delivery, one `writev` each). Needs `valgrind`.
//! A benchmark, not a test: it asserts nothing.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ssekit_bench::{binaries, lines, source_address, spawn};

const CONNECTIONS: u64 = 1_000;
const FRAMEWORKS: [&str; 6] = ["axum", "actix", "warp", "poem", "rocket", "salvo"];

/// Events published in the two runs of a case, and their rate (0: at once).
struct Mode {
    name: &'static str,
    events: [u64; 2],
    per_second: u64,
}

const MODES: [Mode; 2] = [
    Mode {
        name: "paced",
        events: [10, 30],
        per_second: 4,
    },
    Mode {
        name: "burst",
        events: [50, 150],
        per_second: 0,
    },
];

fn main() {
    let dir = binaries(&["sse-bench-server", "sse-bench-load"]);
    let out = std::env::temp_dir().join(format!("ssekit-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("output directory");
    println!(
        "# Instructions per delivery (callgrind, {CONNECTIONS} connections, 64-byte events)\n"
    );
    println!("| framework | paced: ours | paced: native | ours ÷ native | burst: ours | burst: native | ours ÷ native |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut run = 0;
    for framework in FRAMEWORKS {
        let mut cells = Vec::new();
        for mode in &MODES {
            let mut per_variant = Vec::new();
            for variant in ["ours", "native"] {
                let counts = mode.events.map(|events| {
                    run += 1;
                    let file = out.join(format!("{framework}-{variant}-{}-{events}", mode.name));
                    instructions(
                        &dir,
                        &file,
                        framework,
                        variant,
                        events,
                        mode.per_second,
                        run,
                    )
                });
                let deliveries = (mode.events[1] - mode.events[0]) * CONNECTIONS;
                per_variant.push(counts[1].saturating_sub(counts[0]) as f64 / deliveries as f64);
            }
            cells.push(format!(
                "{:.0} | {:.0} | {:.2}",
                per_variant[0],
                per_variant[1],
                per_variant[0] / per_variant[1]
            ));
        }
        println!("| {framework} | {} |", cells.join(" | "));
        let _ = std::io::stdout().flush();
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// The instructions the server ran in one whole run: start, `events`
/// events to every connection, exit.
fn instructions(
    dir: &Path,
    file: &Path,
    framework: &str,
    variant: &str,
    events: u64,
    per_second: u64,
    run: usize,
) -> u64 {
    let mut server = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", file.display()))
        .arg(dir.join("sse-bench-server"))
        .args(["--framework", framework, "--variant", variant])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn valgrind (is it installed?)");
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
            CONNECTIONS.to_string(),
            "--events".into(),
            events.to_string(),
            "--source".into(),
            source,
            "--timeout".into(),
            "600".into(),
        ],
    );
    let mut load_out = BufReader::new(load.stdout.take().expect("load stdout"));
    lines::after(&mut load_out, "READY");
    std::thread::sleep(Duration::from_secs(1));
    writeln!(server_in, "burst {events} 64 {per_second}").expect("command the server");
    server_in.flush().expect("command the server");
    let done = lines::after(&mut load_out, "DONE");
    let _ = load.wait();
    let deliveries = lines::field(&done, "deliveries").unwrap_or(0.0) as u64;
    assert_eq!(
        deliveries,
        events * CONNECTIONS,
        "{framework} {variant}: every connection must get every event"
    );
    // Closing stdin ends the server; callgrind writes its file on exit.
    drop(server_in);
    let _ = server.wait();
    total(file)
}

/// The `summary:` line of a callgrind output file: instructions executed.
fn total(file: &Path) -> u64 {
    let reader = BufReader::new(std::fs::File::open(file).expect("callgrind output"));
    reader
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("summary:")?.trim().parse().ok())
        .expect("a summary line in the callgrind output")
}
