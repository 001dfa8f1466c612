//! Runs the whole fan-out benchmark and writes the report.
//!
//! `cargo run --release -p ssekit-bench --bin bench-all [-- options]`
//!
//! For every mode, every round runs the eight variants one after the other
//! (axum, actix, warp, poem, hyper, rocket and salvo; ours and, but for
//! hyper, native), each on a fresh server
//! process, so ratios compare runs taken minutes apart at most under the same
//! machine load. The server is pinned to core 0 with one worker thread and the
//! load generator to core 1 (`taskset`). Figures are medians over rounds.
//!
//! Options: `--conns 1000,10000` `--events 200` `--bytes 256` `--rounds 3`
//! `--paced-rate 5` `--paced-events 20` `--paced-conns 10000`
//! `--frameworks axum,actix,warp,poem,hyper,rocket,salvo` `--no-pin`
//! `--svg docs/bench-fanout.svg` `--report target/sse-bench/report.md`
//! `--quick` (a smoke run: 50 connections, 20 events, one round, nothing
//! written to docs/).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ssekit_bench::{lines, proc, spawn};

const FRAMEWORKS: [&str; 7] = ["axum", "actix", "warp", "poem", "hyper", "rocket", "salvo"];

/// Frameworks without an SSE type of their own: only our variant runs.
const WITHOUT_NATIVE: [&str; 1] = ["hyper"];

struct Options {
    conns: Vec<usize>,
    events: u64,
    bytes: usize,
    rounds: usize,
    paced_rate: u64,
    paced_events: u64,
    paced_conns: usize,
    frameworks: Vec<String>,
    pin: bool,
    svg: Option<PathBuf>,
    report: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    Burst(usize),
    Paced(usize),
}

impl Mode {
    fn title(self, options: &Options) -> String {
        match self {
            Mode::Burst(n) => format!(
                "Burst: {n} connections, {} events of {} bytes published at once",
                options.events, options.bytes
            ),
            Mode::Paced(n) => format!(
                "Paced: {n} connections, {} events of {} bytes at {} events/s",
                options.paced_events, options.bytes, options.paced_rate
            ),
        }
    }
}

/// One measured run.
#[derive(Debug, Clone, Default)]
struct Run {
    deliveries: u64,
    expected: u64,
    lost_or_unordered: u64,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    cpu_us_per_delivery: f64,
    /// The share of that CPU time spent in the kernel.
    kernel_share: f64,
    idle_kib_per_conn: f64,
    burst_kib_per_conn: f64,
    peak_mib: f64,
    load: f64,
}

fn main() {
    let options = parse_options();
    let bin_dir = ensure_binaries();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pin = options.pin && cores >= 2 && Command::new("taskset").arg("-V").output().is_ok();
    if options.pin && !pin {
        eprintln!("note: not pinning (needs taskset and 2 cores)");
    }
    let mut modes: Vec<Mode> = options.conns.iter().map(|&n| Mode::Burst(n)).collect();
    if options.paced_events > 0 {
        modes.push(Mode::Paced(options.paced_conns));
    }
    let variants: Vec<(String, &str)> = options
        .frameworks
        .iter()
        .flat_map(|f| {
            let native = (!WITHOUT_NATIVE.contains(&f.as_str())).then(|| (f.clone(), "native"));
            std::iter::once((f.clone(), "ours")).chain(native)
        })
        .collect();

    let mut results: BTreeMap<(Mode, String, String), Vec<Run>> = BTreeMap::new();
    let mut run_number = 0u32;
    for &mode in &modes {
        for round in 0..options.rounds {
            for (framework, variant) in &variants {
                run_number += 1;
                let run = measure(
                    &bin_dir, &options, mode, framework, variant, run_number, pin,
                );
                eprintln!(
                    "{mode:?} round {} {framework}/{variant}: {:.0}/s p99 {:.1} ms cpu {:.3} us ({:.0}% kernel) idle {:.1} KiB burst {:.1} KiB lost {} load {:.2}",
                    round + 1,
                    run.per_second,
                    run.p99_ms,
                    run.cpu_us_per_delivery,
                    run.kernel_share * 100.0,
                    run.idle_kib_per_conn,
                    run.burst_kib_per_conn,
                    run.lost_or_unordered,
                    run.load,
                );
                results
                    .entry((mode, framework.clone(), variant.to_string()))
                    .or_default()
                    .push(run);
            }
        }
    }

    let medians: BTreeMap<(Mode, String, String), Run> = results
        .iter()
        .map(|(key, runs)| (key.clone(), median(runs)))
        .collect();
    let report = render_report(&options, &modes, &medians, pin);
    print!("{report}");
    if let Some(parent) = options.report.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(&options.report, &report).expect("write report");
    eprintln!("report written to {}", options.report.display());
    if let Some(svg) = &options.svg {
        if let Some(parent) = svg.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(svg, render_svg(&options, &modes, &medians)).expect("write svg");
        eprintln!("chart written to {}", svg.display());
    }
}

fn parse_options() -> Options {
    let mut options = Options {
        conns: vec![1000, 10_000],
        events: 200,
        bytes: 256,
        rounds: 3,
        paced_rate: 5,
        paced_events: 20,
        paced_conns: 10_000,
        frameworks: FRAMEWORKS.iter().map(|f| f.to_string()).collect(),
        pin: true,
        svg: Some(PathBuf::from("docs/bench-fanout.svg")),
        report: PathBuf::from("target/sse-bench/report.md"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--conns" => {
                options.conns = value()
                    .split(',')
                    .map(|n| n.parse().expect("conns"))
                    .collect()
            }
            "--events" => options.events = value().parse().expect("events"),
            "--bytes" => options.bytes = value().parse().expect("bytes"),
            "--rounds" => options.rounds = value().parse().expect("rounds"),
            "--paced-rate" => options.paced_rate = value().parse().expect("paced rate"),
            "--paced-events" => options.paced_events = value().parse().expect("paced events"),
            "--paced-conns" => options.paced_conns = value().parse().expect("paced conns"),
            "--frameworks" => options.frameworks = value().split(',').map(str::to_owned).collect(),
            "--no-pin" => options.pin = false,
            "--svg" => options.svg = Some(PathBuf::from(value())),
            "--report" => options.report = PathBuf::from(value()),
            "--quick" => {
                options.conns = vec![50];
                options.events = 20;
                options.rounds = 1;
                options.paced_events = 3;
                options.paced_rate = 20;
                options.paced_conns = 50;
                options.svg = None;
                options.report = PathBuf::from("target/sse-bench/quick.md");
            }
            other => panic!("unknown option {other}"),
        }
    }
    assert!(
        options.events as usize <= ssekit_bench::QUEUE
            && options.paced_events as usize <= ssekit_bench::QUEUE,
        "a burst must fit the {} frames each subscriber may queue",
        ssekit_bench::QUEUE
    );
    options
}

/// The server and load generator sit next to this binary; under `cargo run`
/// they are built first, in the same profile.
fn ensure_binaries() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("bin dir").to_path_buf();
    if let Ok(cargo) = std::env::var("CARGO") {
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "ssekit-bench", "--bins", "--quiet"]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo build");
        assert!(status.success(), "building the benchmark binaries failed");
    }
    for bin in ["sse-bench-server", "sse-bench-load"] {
        assert!(
            dir.join(bin).exists(),
            "{bin} missing: run `cargo build --release -p ssekit-bench`"
        );
    }
    dir
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|l| l.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn field(done: &str, key: &str) -> f64 {
    lines::field(done, key).unwrap_or(0.0)
}

fn measure(
    bin_dir: &Path,
    options: &Options,
    mode: Mode,
    framework: &str,
    variant: &str,
    run_number: u32,
    pin: bool,
) -> Run {
    let (conns, events, rate) = match mode {
        Mode::Burst(n) => (n, options.events, 0),
        Mode::Paced(n) => (n, options.paced_events, options.paced_rate),
    };
    let load_before = loadavg();
    let mut server = spawn(
        bin_dir,
        "sse-bench-server",
        pin.then_some(0),
        &[
            "--framework".into(),
            framework.into(),
            "--variant".into(),
            variant.into(),
        ],
    );
    let pid = server.id();
    let mut server_out = BufReader::new(server.stdout.take().expect("server stdout"));
    let port = lines::after(&mut server_out, "PORT");
    let mut server_in: ChildStdin = server.stdin.take().expect("server stdin");
    std::thread::sleep(Duration::from_millis(300));
    let base_kib = proc::rss_kib(pid).unwrap_or(0) as f64;

    let source = ssekit_bench::source_address(1, run_number as usize);
    let timeout = 30 + events / rate.max(1);
    let mut load = spawn(
        bin_dir,
        "sse-bench-load",
        pin.then_some(1),
        &[
            "--port".into(),
            port,
            "--conns".into(),
            conns.to_string(),
            "--events".into(),
            events.to_string(),
            "--source".into(),
            source,
            "--timeout".into(),
            timeout.to_string(),
        ],
    );
    let mut load_out = BufReader::new(load.stdout.take().expect("load stdout"));
    lines::after(&mut load_out, "READY");
    // Let every connection settle (first body poll, timers) before measuring idle.
    std::thread::sleep(Duration::from_millis(500));
    let idle_kib = proc::rss_kib(pid).unwrap_or(0) as f64;

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(proc::rss_kib(pid).unwrap_or(0));
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    let cpu_before = proc::cpu_time(pid).unwrap_or_default();
    writeln!(server_in, "burst {events} {} {rate}", options.bytes).expect("command the server");
    server_in.flush().expect("command the server");
    let done = lines::after(&mut load_out, "DONE");
    let cpu = proc::cpu_time(pid).unwrap_or_default() - cpu_before;
    stop.store(true, Ordering::Relaxed);
    let burst_peak_kib = sampler.join().unwrap_or(0) as f64;
    let peak_kib = proc::peak_rss_kib(pid).unwrap_or(0) as f64;
    drop(server_in); // the server exits when its stdin closes
    let _ = load.wait();
    wait_or_kill(&mut server);

    let deliveries = field(&done, "deliveries") as u64;
    let expected = field(&done, "expected") as u64;
    let seconds = (field(&done, "last_received_ns") - field(&done, "first_sent_ns")) / 1e9;
    Run {
        deliveries,
        expected,
        lost_or_unordered: expected.saturating_sub(deliveries)
            + field(&done, "out_of_order") as u64,
        per_second: if seconds > 0.0 {
            deliveries as f64 / seconds
        } else {
            0.0
        },
        p50_ms: field(&done, "p50_us") / 1000.0,
        p99_ms: field(&done, "p99_us") / 1000.0,
        max_ms: field(&done, "max_us") / 1000.0,
        cpu_us_per_delivery: cpu.total() * 1e6 / deliveries.max(1) as f64,
        kernel_share: cpu.system / cpu.total().max(f64::MIN_POSITIVE),
        idle_kib_per_conn: (idle_kib - base_kib) / conns as f64,
        burst_kib_per_conn: (burst_peak_kib.max(idle_kib) - base_kib) / conns as f64,
        peak_mib: peak_kib / 1024.0,
        load: load_before.max(loadavg()),
    }
}

fn wait_or_kill(child: &mut Child) {
    for _ in 0..100 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn median(runs: &[Run]) -> Run {
    let pick = |f: &dyn Fn(&Run) -> f64| -> f64 {
        let mut values: Vec<f64> = runs.iter().map(f).collect();
        values.sort_by(|a, b| a.total_cmp(b));
        values[values.len() / 2]
    };
    Run {
        deliveries: runs.iter().map(|r| r.deliveries).min().unwrap_or(0),
        expected: runs.iter().map(|r| r.expected).max().unwrap_or(0),
        lost_or_unordered: runs.iter().map(|r| r.lost_or_unordered).sum(),
        per_second: pick(&|r| r.per_second),
        p50_ms: pick(&|r| r.p50_ms),
        p99_ms: pick(&|r| r.p99_ms),
        max_ms: pick(&|r| r.max_ms),
        cpu_us_per_delivery: pick(&|r| r.cpu_us_per_delivery),
        kernel_share: pick(&|r| r.kernel_share),
        idle_kib_per_conn: pick(&|r| r.idle_kib_per_conn),
        burst_kib_per_conn: pick(&|r| r.burst_kib_per_conn),
        peak_mib: pick(&|r| r.peak_mib),
        load: runs.iter().map(|r| r.load).fold(0.0, f64::max),
    }
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|v| v.split(':').nth(1))
        })
        .map_or("unknown".to_owned(), |m| m.trim().to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores} cores (nproc), {model}, Linux {}", kernel.trim())
}

fn render_report(
    options: &Options,
    modes: &[Mode],
    medians: &BTreeMap<(Mode, String, String), Run>,
    pin: bool,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Machine: {}. Server {}, load generator {}. Medians of {} round(s); `load` is the highest 1-minute load average seen during the runs.\n",
        machine(),
        if pin { "pinned to core 0, one worker thread" } else { "unpinned, one worker thread" },
        if pin { "pinned to core 1" } else { "unpinned" },
        options.rounds,
    );
    for &mode in modes {
        let _ = writeln!(out, "**{}**\n", mode.title(options));
        let fastest_native = options
            .frameworks
            .iter()
            .filter_map(|f| medians.get(&(mode, f.clone(), "native".into())))
            .map(|r| r.per_second)
            .fold(0.0, f64::max);
        let paced = matches!(mode, Mode::Paced(_));
        if paced {
            out.push_str("| variant | p50 ms | p99 ms | p99 vs native | max ms | CPU µs/delivery | CPU in kernel | RSS/conn idle KiB | RSS/conn burst KiB | peak RSS MiB | lost | load |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        } else {
            out.push_str("| variant | deliveries/s | vs own native | vs fastest native | p50 ms | p99 ms | max ms | CPU µs/delivery | CPU in kernel | RSS/conn idle KiB | RSS/conn burst KiB | peak RSS MiB | lost | load |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        }
        for framework in &options.frameworks {
            let native = medians.get(&(mode, framework.clone(), "native".into()));
            for variant in ["ours", "native"] {
                let Some(run) = medians.get(&(mode, framework.clone(), variant.into())) else {
                    continue;
                };
                let name = if variant == "ours" {
                    format!("ssekit-{framework} + hub")
                } else {
                    format!("{framework} native")
                };
                let ratio = |ours: f64, theirs: Option<f64>| match theirs {
                    Some(theirs) if variant == "ours" && theirs > 0.0 => {
                        format!("{:.2}x", ours / theirs)
                    }
                    _ => "".to_owned(),
                };
                let lost = if run.lost_or_unordered == 0 {
                    "0".to_owned()
                } else {
                    format!("**{}**", run.lost_or_unordered)
                };
                if paced {
                    let _ = writeln!(
                        out,
                        "| {name} | {:.2} | {:.2} | {} | {:.2} | {:.3} | {:.0}% | {:.1} | {:.1} | {:.0} | {lost} | {:.2} |",
                        run.p50_ms,
                        run.p99_ms,
                        ratio(run.p99_ms, native.map(|n| n.p99_ms)),
                        run.max_ms,
                        run.cpu_us_per_delivery,
                        run.kernel_share * 100.0,
                        run.idle_kib_per_conn,
                        run.burst_kib_per_conn,
                        run.peak_mib,
                        run.load,
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "| {name} | {:.0} | {} | {} | {:.1} | {:.1} | {:.1} | {:.3} | {:.0}% | {:.1} | {:.1} | {:.0} | {lost} | {:.2} |",
                        run.per_second,
                        ratio(run.per_second, native.map(|n| n.per_second)),
                        if variant == "ours" { format!("{:.2}x", run.per_second / fastest_native.max(1.0)) } else { String::new() },
                        run.p50_ms,
                        run.p99_ms,
                        run.max_ms,
                        run.cpu_us_per_delivery,
                        run.kernel_share * 100.0,
                        run.idle_kib_per_conn,
                        run.burst_kib_per_conn,
                        run.peak_mib,
                        run.load,
                    );
                }
            }
        }
        out.push('\n');
    }
    out
}

/// Three panels of paired bars (ours, native) per framework: burst
/// deliveries/s and RSS per connection at the largest burst, paced p99.
fn render_svg(
    options: &Options,
    modes: &[Mode],
    medians: &BTreeMap<(Mode, String, String), Run>,
) -> String {
    let burst = modes
        .iter()
        .rev()
        .find(|m| matches!(m, Mode::Burst(_)))
        .copied();
    let paced = modes.iter().find(|m| matches!(m, Mode::Paced(_))).copied();
    type Metric = (fn(&Run) -> f64, fn(f64) -> String);
    let mut panels: Vec<(String, Mode, Metric)> = Vec::new();
    if let Some(mode @ Mode::Burst(n)) = burst {
        panels.push((
            format!("deliveries/s, {n} conns (higher is better)"),
            mode,
            (|r| r.per_second, |v| format!("{:.2}M", v / 1e6)),
        ));
        panels.push((
            "RSS per conn during burst, KiB (lower is better)".to_owned(),
            mode,
            (|r| r.burst_kib_per_conn, |v| format!("{v:.1}")),
        ));
        panels.push((
            "server CPU µs per delivery (lower is better)".to_owned(),
            mode,
            (|r| r.cpu_us_per_delivery, |v| format!("{v:.2}")),
        ));
    }
    if let Some(mode @ Mode::Paced(n)) = paced {
        panels.push((
            format!("paced p99 latency ms, {n} conns (lower is better)"),
            mode,
            (|r| r.p99_ms, |v| format!("{v:.1}")),
        ));
    }
    let (panel_w, panel_h, gap) = (300.0, 230.0, 20.0);
    let width = panels.len() as f64 * (panel_w + gap) + gap;
    let height = panel_h + 90.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{gap}" y="20" font-size="14" font-weight="bold">SSE fan-out: ssekit-* adapter + hub (blue) vs the framework's own SSE type + tokio broadcast (grey)</text>"#
    );
    for (index, (title, mode, (value, label))) in panels.iter().enumerate() {
        let x0 = gap + index as f64 * (panel_w + gap);
        let y0 = 40.0;
        let _ = writeln!(
            svg,
            r#"<text x="{x0}" y="{}" font-weight="bold">{title}</text>"#,
            y0 + 12.0
        );
        let values: Vec<(String, f64, f64)> = options
            .frameworks
            .iter()
            .map(|f| {
                let get = |v: &str| {
                    medians
                        .get(&(*mode, f.clone(), v.into()))
                        .map_or(0.0, value)
                };
                (f.clone(), get("ours"), get("native"))
            })
            .collect();
        let max = values
            .iter()
            .flat_map(|(_, a, b)| [*a, *b])
            .fold(0.0, f64::max)
            .max(1e-9);
        let plot_top = y0 + 30.0;
        let plot_h = panel_h - 50.0;
        let base = plot_top + plot_h;
        let _ = writeln!(
            svg,
            r##"<line x1="{x0}" y1="{base}" x2="{}" y2="{base}" stroke="#333"/>"##,
            x0 + panel_w
        );
        let group_w = panel_w / values.len().max(1) as f64;
        for (i, (framework, ours, native)) in values.iter().enumerate() {
            let gx = x0 + i as f64 * group_w;
            let bar_w = group_w * 0.35;
            for (j, (v, color)) in [(*ours, "#1f77b4"), (*native, "#999999")]
                .iter()
                .enumerate()
            {
                let h = v / max * plot_h;
                let bx = gx + group_w * 0.1 + j as f64 * bar_w;
                let _ = writeln!(
                    svg,
                    r#"<rect x="{bx:.1}" y="{:.1}" width="{bar_w:.1}" height="{h:.1}" fill="{color}"/>"#,
                    base - h
                );
                let _ = writeln!(
                    svg,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="9">{}</text>"#,
                    bx + bar_w / 2.0,
                    base - h - 3.0,
                    label(*v)
                );
            }
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{framework}</text>"#,
                gx + group_w * 0.1 + bar_w,
                base + 14.0
            );
        }
    }
    let _ = writeln!(
        svg,
        r#"<text x="{gap}" y="{}" font-size="10">Server pinned to one core with one worker thread, load generator on the other core; medians of {} rounds. {}</text>"#,
        height - 12.0,
        options.rounds,
        machine()
    );
    svg.push_str("</svg>\n");
    svg
}
