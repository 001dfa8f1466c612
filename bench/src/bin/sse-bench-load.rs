//! The load generator: holds N connections to `GET /sse`, checks that every
//! connection receives every event in order, and times each delivery.
//!
//! `sse-bench-load --port P --conns N --events M [--topics T] [--source 127.0.x.y] [--timeout S]`
//!
//! Without `--topics` every connection asks for `GET /sse`; with it,
//! connection `i` asks for `GET /sse/<i mod T>` (each topic numbers its own
//! events from 0).
//!
//! Prints `READY <connect seconds>` once every connection has its response
//! head, then, once every connection has M events (or the timeout struck),
//! `DONE key=value …`. It is one thread on purpose (the benchmark pins it to
//! the other core), written to stay far below the servers' cost per event:
//! raw tokio TCP, an HTTP/1.1 chunked-encoding reader, and a scanner that only
//! reads the `data:` lines of the benchmark's own events (the conformance
//! suite, not this tool, checks the wire format with the full WHATWG decoder).

use std::cell::RefCell;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use ssekit_bench::{now_ns, raise_nofile_limit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Notify;

#[derive(Default)]
struct Totals {
    deliveries: u64,
    out_of_order: u64,
    complete: usize,
    first_sent_ns: u64,
    last_received_ns: u64,
    latencies_us: Vec<u32>,
}

struct Config {
    server: SocketAddr,
    source: IpAddr,
    conns: usize,
    events: u64,
    topics: Option<usize>,
    timeout: Duration,
}

fn main() {
    let mut config = Config {
        server: ([127, 0, 0, 1], 0).into(),
        source: [127, 0, 0, 1].into(),
        conns: 100,
        events: 10,
        topics: None,
        timeout: Duration::from_secs(60),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--port" => config.server.set_port(value.parse().expect("port")),
            "--conns" => config.conns = value.parse().expect("conns"),
            "--events" => config.events = value.parse().expect("events"),
            "--topics" => config.topics = Some(value.parse().expect("topics")),
            "--source" => config.source = value.parse().expect("source address"),
            "--timeout" => config.timeout = Duration::from_secs(value.parse().expect("timeout")),
            other => panic!("unknown argument {other}"),
        }
    }
    raise_nofile_limit();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, run(config));
}

async fn run(config: Config) {
    let started = Instant::now();
    let mut connections = Vec::with_capacity(config.conns);
    let mut connecting = FuturesUnordered::new();
    let mut next = 0;
    // A bounded number of connects in flight, so no listen queue overflows.
    while connections.len() < config.conns {
        while next < config.conns && connecting.len() < 64 {
            let path = match config.topics {
                Some(topics) => format!("/sse/{}", next % topics.max(1)),
                None => "/sse".to_owned(),
            };
            connecting.push(open(config.server, config.source, path));
            next += 1;
        }
        match connecting.next().await {
            Some(Ok(connection)) => connections.push(connection),
            Some(Err(error)) => panic!("connect: {error}"),
            None => break,
        }
    }
    println!("READY {:.3}", started.elapsed().as_secs_f64());
    let _ = std::io::stdout().flush();

    let totals = Rc::new(RefCell::new(Totals {
        first_sent_ns: u64::MAX,
        latencies_us: Vec::with_capacity(config.conns * config.events as usize),
        ..Totals::default()
    }));
    let all_done = Rc::new(Notify::new());
    let mut open_streams = Vec::with_capacity(config.conns);
    for (stream, leftover, chunked) in connections {
        let stream = Rc::new(stream);
        open_streams.push(stream.clone());
        let totals = totals.clone();
        let all_done = all_done.clone();
        let conns = config.conns;
        let events = config.events;
        tokio::task::spawn_local(async move {
            let mut reader = Reader::new(chunked, events);
            reader.feed(&leftover, now_ns(), &totals);
            while !reader.finished() {
                if stream.readable().await.is_err() {
                    break;
                }
                let read = BUFFER.with_borrow_mut(|buffer| match stream.try_read(buffer) {
                    Ok(0) => Err(()),
                    Ok(n) => {
                        reader.feed(&buffer[..n], now_ns(), &totals);
                        Ok(())
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
                    Err(_) => Err(()),
                });
                if read.is_err() {
                    break;
                }
            }
            if reader.finished() {
                let mut totals = totals.borrow_mut();
                totals.complete += 1;
                if totals.complete == conns {
                    all_done.notify_one();
                }
            }
        });
    }
    let finished = tokio::time::timeout(config.timeout, all_done.notified())
        .await
        .is_ok();
    let mut totals = totals.borrow_mut();
    totals.latencies_us.sort_unstable();
    let percentile = |p: f64| -> u32 {
        let n = totals.latencies_us.len();
        if n == 0 {
            return 0;
        }
        totals.latencies_us[((n as f64 * p).ceil() as usize).clamp(1, n) - 1]
    };
    println!(
        "DONE finished={} deliveries={} expected={} out_of_order={} incomplete={} first_sent_ns={} last_received_ns={} p50_us={} p99_us={} max_us={}",
        finished,
        totals.deliveries,
        config.conns as u64 * config.events,
        totals.out_of_order,
        config.conns - totals.complete,
        totals.first_sent_ns,
        totals.last_received_ns,
        percentile(0.50),
        percentile(0.99),
        totals.latencies_us.last().copied().unwrap_or(0),
    );
    let _ = std::io::stdout().flush();
    drop(open_streams);
    std::process::exit(0);
}

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0; 256 * 1024]);
}

/// Connects from `source` (a fresh loopback address per run, so earlier runs'
/// TIME_WAIT ports never collide), sends the request and reads the head.
async fn open(
    server: SocketAddr,
    source: IpAddr,
    path: String,
) -> std::io::Result<(TcpStream, Vec<u8>, bool)> {
    let socket = TcpSocket::new_v4()?;
    socket.bind((source, 0).into())?;
    let mut stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 4096];
    loop {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Err(std::io::Error::other("closed before the response head"));
        }
        head.extend_from_slice(&buffer[..n]);
        if let Some(end) = memchr::memmem::find(&head, b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
            if !text.starts_with("http/1.1 200") {
                return Err(std::io::Error::other(format!("unexpected head: {text}")));
            }
            let chunked = text.contains("transfer-encoding: chunked");
            return Ok((stream, head[end + 4..].to_vec(), chunked));
        }
    }
}

/// Undoes HTTP/1.1 chunked encoding and scans the SSE lines of one connection.
struct Reader {
    chunked: bool,
    /// Bytes left in the current chunk; `None` while reading a size line.
    chunk_left: Option<usize>,
    size_line: Vec<u8>,
    /// The chunk's trailing CRLF still to skip.
    skip: usize,
    line: Vec<u8>,
    pending: Option<(u64, u64)>,
    expected: u64,
    events: u64,
}

impl Reader {
    fn new(chunked: bool, events: u64) -> Self {
        Self {
            chunked,
            chunk_left: None,
            size_line: Vec::new(),
            skip: 0,
            line: Vec::new(),
            pending: None,
            expected: 0,
            events,
        }
    }

    fn finished(&self) -> bool {
        self.expected >= self.events
    }

    fn feed(&mut self, mut input: &[u8], now: u64, totals: &RefCell<Totals>) {
        if !self.chunked {
            self.scan(input, now, totals);
            return;
        }
        while !input.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(input.len());
                self.skip -= n;
                input = &input[n..];
                continue;
            }
            match self.chunk_left {
                Some(left) => {
                    let n = left.min(input.len());
                    self.scan(&input[..n], now, totals);
                    input = &input[n..];
                    if n == left {
                        self.chunk_left = None;
                        self.skip = 2;
                    } else {
                        self.chunk_left = Some(left - n);
                    }
                }
                None => match memchr::memchr(b'\n', input) {
                    Some(at) => {
                        self.size_line.extend_from_slice(&input[..at]);
                        input = &input[at + 1..];
                        let digits: Vec<u8> = self
                            .size_line
                            .iter()
                            .copied()
                            .take_while(u8::is_ascii_hexdigit)
                            .collect();
                        let size =
                            usize::from_str_radix(std::str::from_utf8(&digits).unwrap_or("0"), 16)
                                .unwrap_or(0);
                        self.size_line.clear();
                        if size == 0 {
                            // The last chunk: the server ended the stream.
                            return;
                        }
                        self.chunk_left = Some(size);
                    }
                    None => {
                        self.size_line.extend_from_slice(input);
                        return;
                    }
                },
            }
        }
    }

    /// Splits SSE bytes into lines, carrying a partial line over to the next call.
    fn scan(&mut self, mut input: &[u8], now: u64, totals: &RefCell<Totals>) {
        while let Some(at) = memchr::memchr(b'\n', input) {
            if self.line.is_empty() {
                self.on_line(&input[..at], now, totals);
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&input[..at]);
                self.on_line(&line, now, totals);
                line.clear();
                self.line = line;
            }
            input = &input[at + 1..];
        }
        self.line.extend_from_slice(input);
    }

    fn on_line(&mut self, line: &[u8], now: u64, totals: &RefCell<Totals>) {
        if line.is_empty() {
            if let Some((seq, sent)) = self.pending.take() {
                let mut totals = totals.borrow_mut();
                totals.deliveries += 1;
                if seq != self.expected {
                    totals.out_of_order += 1;
                }
                self.expected = seq + 1;
                totals.first_sent_ns = totals.first_sent_ns.min(sent);
                totals.last_received_ns = totals.last_received_ns.max(now);
                totals
                    .latencies_us
                    .push((now.saturating_sub(sent) / 1000).min(u32::MAX as u64) as u32);
            }
            return;
        }
        let Some(value) = line.strip_prefix(b"data:") else {
            return; // comments (keep-alives), retry
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        let mut numbers = value.split(|&b| b == b' ').map(|n| {
            n.iter().try_fold(0u64, |acc, &d| {
                d.is_ascii_digit().then(|| acc * 10 + u64::from(d - b'0'))
            })
        });
        if let (Some(Some(seq)), Some(Some(sent))) = (numbers.next(), numbers.next()) {
            self.pending = Some((seq, sent));
        }
    }
}
