//! Publish on node B, deliver on node A: the backplanes (`RedisHub`,
//! `NatsHub`) against the recipe users write by hand (Redis PUB/SUB relayed
//! into a `tokio::sync::broadcast` channel per topic, no history, no resume)
//! and against the in-process hub (one process publishes and serves: the
//! baseline a backplane adds its hop to).
//!
//! `cargo build --release -p ssekit-bench --bins && cargo run --release -p ssekit-bench --example cross_node [-- --quick]`
//!
//! For each backend and for two shapes (one topic with 10 000 subscribers;
//! 10 000 topics with one subscriber each), over real HTTP (axum, node A
//! pinned to core 0, the load generator to core 1; the broker and node B
//! share both): a burst of rounds published at once gives deliveries/s,
//! a paced run gives publish→deliver p50/p99 (node B stamps each event when
//! it publishes it, the load generator when it reads it: both on this
//! machine's clock). Also the broker connections node A holds and node A's
//! resident memory after the burst. Each run starts its own broker
//! (`redis-server`, `nats-server -js`) on a free port. A benchmark, not a
//! test: it asserts nothing, and prints any event not delivered.

use std::io::{BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin};
use std::time::Duration;

use ssekit_bench::{binaries, lines, proc, source_address, spawn};
use ssekit_nats::testing::NatsServer;
use ssekit_redis::testing::RedisServer;

const BYTES: u64 = 64;
const CONNECTIONS: usize = 10_000;

/// One shape of traffic: how many topics the connections spread over, and
/// the rounds (one event to every topic each) of the burst and the paced run.
struct Shape {
    name: &'static str,
    topics: u64,
    burst_rounds: u64,
    paced_rounds: u64,
    rounds_per_second: u64,
}

const SHAPES: [Shape; 2] = [
    Shape {
        name: "1 topic × 10 000",
        topics: 1,
        burst_rounds: 100,
        paced_rounds: 20,
        rounds_per_second: 10,
    },
    Shape {
        name: "10 000 topics × 1",
        topics: 10_000,
        burst_rounds: 10,
        paced_rounds: 6,
        rounds_per_second: 2,
    },
];

const BACKENDS: [&str; 4] = ["hub", "recipe", "redis", "nats"];

enum Broker {
    None,
    Redis(RedisServer),
    Nats(NatsServer),
}

impl Broker {
    fn start(backend: &str) -> Broker {
        match backend {
            "redis" | "recipe" => Broker::Redis(RedisServer::start().expect("start redis-server")),
            "nats" => Broker::Nats(NatsServer::start().expect("start nats-server")),
            _ => Broker::None,
        }
    }

    fn url(&self) -> String {
        match self {
            Broker::None => String::new(),
            Broker::Redis(redis) => redis.url(),
            Broker::Nats(nats) => nats.url(),
        }
    }

    /// Client connections the broker has now (none for the in-process hub).
    fn connections(&self) -> Option<u64> {
        match self {
            Broker::None => None,
            Broker::Redis(redis) => {
                let client = redis::Client::open(redis.url()).ok()?;
                let mut connection = client.get_connection().ok()?;
                let info: String = redis::cmd("INFO")
                    .arg("clients")
                    .query(&mut connection)
                    .ok()?;
                let connected = info.lines().find_map(|line| {
                    line.strip_prefix("connected_clients:")?
                        .trim()
                        .parse::<u64>()
                        .ok()
                })?;
                // Not counting this query's own connection.
                Some(connected.saturating_sub(1))
            }
            Broker::Nats(nats) => {
                let connz = nats.monitor("/connz").ok()?;
                let at = connz.find("\"num_connections\":")? + "\"num_connections\":".len();
                connz[at..]
                    .trim_start()
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            }
        }
    }
}

struct Node {
    child: Child,
    input: ChildStdin,
    output: BufReader<std::process::ChildStdout>,
    port: String,
}

impl Node {
    fn start(dir: &Path, backend: &str, url: &str, core: Option<u32>) -> Node {
        let mut args = vec!["--backend".to_owned(), backend.to_owned()];
        if !url.is_empty() {
            args.extend(["--url".to_owned(), url.to_owned()]);
        }
        let mut child = spawn(dir, "sse-bench-node", core, &args);
        let mut output = BufReader::new(child.stdout.take().expect("node stdout"));
        let port = lines::after(&mut output, "PORT");
        let input = child.stdin.take().expect("node stdin");
        Node {
            child,
            input,
            output,
            port,
        }
    }

    /// Publishes and waits for the node to have sent everything; the number
    /// of publishes that failed.
    fn burst(&mut self, topics: u64, rounds: u64, rate: u64) -> u64 {
        writeln!(self.input, "burst {topics} {rounds} {BYTES} {rate}").expect("command the node");
        self.input.flush().expect("command the node");
        let sent = lines::after(&mut self.output, "SENT");
        lines::field(&sent, "errors").unwrap_or(f64::NAN) as u64
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the load generator saw of one phase.
struct Seen {
    deliveries: u64,
    expected: u64,
    out_of_order: u64,
    seconds: f64,
    p50_us: f64,
    p99_us: f64,
}

struct Run<'a> {
    dir: &'a Path,
    port: String,
    run: usize,
}

impl Run<'_> {
    /// Connects the load, lets every subscription settle, has `publisher`
    /// publish, and reads what the load saw.
    fn phase(
        &mut self,
        shape: &Shape,
        publisher: &mut Node,
        rounds: u64,
        rate: u64,
    ) -> (Seen, u64) {
        self.run += 1;
        let source = source_address(100, self.run);
        let mut load = spawn(
            self.dir,
            "sse-bench-load",
            Some(1),
            &[
                "--port".into(),
                self.port.clone(),
                "--conns".into(),
                CONNECTIONS.to_string(),
                "--events".into(),
                rounds.to_string(),
                "--topics".into(),
                shape.topics.to_string(),
                "--source".into(),
                source,
                "--timeout".into(),
                "60".into(),
            ],
        );
        let mut load_out = BufReader::new(load.stdout.take().expect("load stdout"));
        lines::after(&mut load_out, "READY");
        // A backplane node answers a request at once and starts following
        // the topic meanwhile; events published before it follows would
        // not reach the new subscriber.
        std::thread::sleep(Duration::from_secs(3));
        let errors = publisher.burst(shape.topics, rounds, rate);
        let done = lines::after(&mut load_out, "DONE");
        let _ = load.wait();
        let field = |key| lines::field(&done, key).unwrap_or(f64::NAN);
        let seen = Seen {
            deliveries: field("deliveries") as u64,
            expected: field("expected") as u64,
            out_of_order: field("out_of_order") as u64,
            seconds: (field("last_received_ns") - field("first_sent_ns")) / 1e9,
            p50_us: field("p50_us"),
            p99_us: field("p99_us"),
        };
        (seen, errors)
    }
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let dir = binaries(&["sse-bench-node", "sse-bench-load"]);
    println!("# Publish on node B, deliver on node A ({CONNECTIONS} connections)\n");
    println!(
        "| shape | backend | deliveries/s (burst) | paced p50 | paced p99 | broker connections (node A) | node A RSS after the burst | node A CPU µs per delivery (burst) | lost or out of order |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut run = 0;
    for shape in &SHAPES {
        for backend in BACKENDS {
            let broker = Broker::start(backend);
            let before = broker.connections();
            let mut node_a = Node::start(&dir, backend, &broker.url(), Some(0));
            let connections = broker
                .connections()
                .zip(before)
                .map_or("–".to_owned(), |(after, before)| {
                    (after - before).to_string()
                });
            // With the in-process hub, node A publishes itself.
            let mut node_b =
                (backend != "hub").then(|| Node::start(&dir, backend, &broker.url(), None));
            let mut phases = Run {
                dir: &dir,
                port: node_a.port.clone(),
                run,
            };
            let node_a_pid = node_a.child.id();
            let cpu_before = proc::cpu_time(node_a_pid).unwrap_or_default();
            let publisher = node_b.as_mut().unwrap_or(&mut node_a);
            let (burst, burst_errors) = phases.phase(shape, publisher, shape.burst_rounds, 0);
            let cpu = proc::cpu_time(node_a_pid).unwrap_or_default() - cpu_before;
            let rss = proc::rss_kib(node_a_pid).unwrap_or(0);
            let (paced, paced_errors) = if quick {
                (None, 0)
            } else {
                let publisher = node_b.as_mut().unwrap_or(&mut node_a);
                let (paced, errors) = phases.phase(
                    shape,
                    publisher,
                    shape.paced_rounds,
                    shape.rounds_per_second,
                );
                (Some(paced), errors)
            };
            run = phases.run;
            let lost = [Some(&burst), paced.as_ref()]
                .into_iter()
                .flatten()
                .map(|seen| seen.expected.saturating_sub(seen.deliveries) + seen.out_of_order)
                .sum::<u64>()
                + burst_errors
                + paced_errors;
            let latency = |at: fn(&Seen) -> f64| {
                paced.as_ref().map_or("–".to_owned(), |paced| {
                    format!("{:.1} ms", at(paced) / 1000.0)
                })
            };
            println!(
                "| {} | {backend} | {:.0} | {} | {} | {connections} | {:.1} MiB | {:.2} | {lost} |",
                shape.name,
                burst.deliveries as f64 / burst.seconds,
                latency(|seen| seen.p50_us),
                latency(|seen| seen.p99_us),
                rss as f64 / 1024.0,
                cpu.total() * 1e6 / burst.deliveries.max(1) as f64,
            );
            let _ = std::io::stdout().flush();
            drop(node_b);
            drop(node_a);
            drop(broker);
        }
    }
}
