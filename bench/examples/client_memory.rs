//! What one open, idle client stream keeps on the heap: `ssekit-client`
//! (with its own `reqwest::Client`, as `EventSource::get(url).build()` makes
//! it, and with one client shared by all streams) against
//! `reqwest-eventsource` 0.6 (`EventSource::get(url)`, a client per stream).
//!
//! ```sh
//! cargo run --release -p ssekit-bench --example client_memory
//! ```
//!
//! The server runs in a child process (this program, with `--serve`), so
//! only client-side memory is counted: each variant opens `STREAMS` streams,
//! reads each until it is open and the first comment has arrived, keeps
//! them all, and reports the heap blocks and bytes held per stream (the
//! connection, its buffers, the parser, the stream's state).

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use ssekit_bench::alloc_count::{held, Counting};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[global_allocator]
static COUNTING: Counting = Counting;

const STREAMS: usize = 500;

fn main() {
    if std::env::args().any(|a| a == "--serve") {
        return serve();
    }
    let mut child = Command::new(std::env::current_exe().expect("this program"))
        .arg("--serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("the server's port");
    let url = format!("http://{}/", line.trim());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // Warm-up: lazily made statics (DNS resolver, TLS-less connector) are
        // not per stream.
        let _ = open_ours(&url, None).await;
        let _ = open_theirs(&url).await;

        println!("| client | heap blocks per open stream | bytes per open stream |");
        println!("|---|---|---|");
        let (blocks, bytes) = measure(|| open_ours(&url, None)).await;
        println!("| ssekit-client, a client per stream (the default) | {blocks:.1} | {bytes:.0} |");
        let shared = ssekit_client::reqwest::Client::new();
        let (blocks, bytes) = measure(|| open_ours(&url, Some(shared.clone()))).await;
        println!("| ssekit-client, one shared `reqwest::Client` | {blocks:.1} | {bytes:.0} |");
        let (blocks, bytes) = measure(|| bare(&shared, &url)).await;
        println!("| for scale: a bare reqwest 0.13 response, shared client, body unread | {blocks:.1} | {bytes:.0} |");
        let (blocks, bytes) = measure(|| bare_read(&shared, &url)).await;
        println!("| for scale: the same, its first chunk read | {blocks:.1} | {bytes:.0} |");
        let (blocks, bytes) = measure(|| open_theirs(&url)).await;
        println!("| reqwest-eventsource 0.6 (`EventSource::get`) | {blocks:.1} | {bytes:.0} |");
    });
    let _ = child.kill();
    let _ = child.wait();
}

async fn measure<F, Fut, S>(mut open: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let mut streams = Vec::with_capacity(STREAMS);
    let (blocks, bytes) = held();
    for _ in 0..STREAMS {
        streams.push(open().await);
    }
    let now = held();
    drop(streams);
    // Let the connections' tasks see their streams gone.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let per = |now: isize, before: isize| (now - before) as f64 / STREAMS as f64;
    (per(now.0, blocks), per(now.1, bytes))
}

/// An open stream, read up to its first comment.
async fn open_ours(
    url: &str,
    client: Option<ssekit_client::reqwest::Client>,
) -> ssekit_client::EventSource {
    let mut builder = ssekit_client::EventSource::get(url);
    if let Some(client) = client {
        builder = builder.with_client(client);
    }
    let mut source = builder.build();
    match source.next().await {
        Some(Ok(ssekit_client::Item::Open(_))) => {}
        other => panic!("not open: {other:?}"),
    }
    // The comment is read (and skipped) while the next poll waits.
    let _ = tokio::time::timeout(Duration::from_millis(5), source.next()).await;
    source
}

async fn bare(
    client: &ssekit_client::reqwest::Client,
    url: &str,
) -> ssekit_client::reqwest::Response {
    client.get(url).send().await.expect("a response")
}

async fn bare_read(
    client: &ssekit_client::reqwest::Client,
    url: &str,
) -> ssekit_client::reqwest::Response {
    let mut response = bare(client, url).await;
    let _ = response.chunk().await;
    response
}

async fn open_theirs(url: &str) -> reqwest_eventsource::EventSource {
    let mut source = reqwest_eventsource::EventSource::get(url);
    match source.next().await {
        Some(Ok(reqwest_eventsource::Event::Open)) => {}
        other => panic!("not open: {other:?}"),
    }
    let _ = tokio::time::timeout(Duration::from_millis(5), source.next()).await;
    source
}

/// Answers every request with an event-stream head and one comment, then
/// holds the connection.
fn serve() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap());
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0; 4096];
                let mut received = Vec::new();
                while !received.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => received.extend_from_slice(&buf[..n]),
                    }
                }
                let head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n6\r\n: hi\n\n\r\n";
                if socket.write_all(head).await.is_err() {
                    return;
                }
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
}
