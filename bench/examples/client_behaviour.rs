//! Measures the behaviour table of the README's "Client" section:
//! `ssekit-client` against `reqwest-eventsource` 0.6 (on `eventsource-stream`
//! 0.2), each case served as raw bytes by a loopback server that records
//! every request, and prints the table's rows.
//!
//! ```sh
//! cargo run -p ssekit-bench --example client_behaviour
//! ```

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What one connection is answered with.
#[derive(Clone)]
enum Answer {
    /// These bytes (head and body), then close.
    Bytes(Vec<u8>),
    /// These bytes one at a time, each in its own segment, then close.
    Trickle(Vec<u8>),
    /// An event-stream head, then `x` for ever.
    Endless,
}

#[derive(Debug, Clone)]
struct Request {
    at: Instant,
    last_event_id: Option<String>,
}

struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    sent: Arc<AtomicUsize>,
}

fn head(content_type: Option<&str>) -> Vec<u8> {
    let mut head = b"HTTP/1.1 200 OK\r\nconnection: close\r\n".to_vec();
    if let Some(content_type) = content_type {
        head.extend_from_slice(format!("content-type: {content_type}\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

fn stream(body: &[u8]) -> Answer {
    let mut bytes = head(Some("text/event-stream"));
    bytes.extend_from_slice(body);
    Answer::Bytes(bytes)
}

fn status(line: &str) -> Answer {
    Answer::Bytes(
        format!("HTTP/1.1 {line}\r\nconnection: close\r\ncontent-length: 4\r\n\r\nboom")
            .into_bytes(),
    )
}

/// Serves `answers` in order, the last one again to any later connection.
async fn serve(answers: Vec<Answer>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(AtomicUsize::new(0));
    let (log, counter) = (requests.clone(), sent.clone());
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let answer = answers[n.min(answers.len() - 1)].clone();
            n += 1;
            let (log, counter) = (log.clone(), counter.clone());
            tokio::spawn(async move {
                socket.set_nodelay(true).unwrap();
                let mut received = Vec::new();
                let mut buf = [0; 4096];
                while !received.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => received.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&received).to_ascii_lowercase();
                let last_event_id = head
                    .lines()
                    .find_map(|l| l.strip_prefix("last-event-id:"))
                    .map(|v| v.trim().to_owned());
                log.lock().unwrap().push(Request {
                    at: Instant::now(),
                    last_event_id,
                });
                match answer {
                    Answer::Bytes(bytes) => {
                        let _ = socket.write_all(&bytes).await;
                    }
                    Answer::Trickle(bytes) => {
                        for byte in bytes {
                            if socket.write_all(&[byte]).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                    Answer::Endless => {
                        let _ = socket.write_all(&head_bytes()).await;
                        let chunk = vec![b'x'; 64 * 1024];
                        let _ = socket.write_all(b"data: ").await;
                        while socket.write_all(&chunk).await.is_ok() {
                            counter.fetch_add(chunk.len(), Ordering::Relaxed);
                        }
                    }
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    Server {
        addr,
        requests,
        sent,
    }
}

fn head_bytes() -> Vec<u8> {
    head(Some("text/event-stream"))
}

/// What a client did in a case, as short strings.
#[derive(Default)]
struct Seen {
    items: Vec<String>,
    ended: bool,
}

fn show(data: &str) -> String {
    format!("{data:?}")
}

async fn ours(url: String, window: Duration, fast_retry: bool) -> Seen {
    let mut builder = ssekit_client::EventSource::get(url);
    if fast_retry {
        builder = builder.with_retry(Duration::from_millis(100));
    }
    let mut source = builder.build();
    let mut seen = Seen::default();
    let _ = tokio::time::timeout(window, async {
        while let Some(item) = source.next().await {
            seen.items.push(match item {
                Ok(ssekit_client::Item::Open(_)) => "open".into(),
                Ok(ssekit_client::Item::Event(e)) => format!("event {}", show(&e.data)),
                Ok(ssekit_client::Item::Reconnecting(_)) => "reconnecting".into(),
                Ok(ssekit_client::Item::Closed) => "closed".into(),
                Ok(_) => "other".into(),
                Err(ssekit_client::Error::Status { status, .. }) => {
                    format!("error Status({status})")
                }
                Err(ssekit_client::Error::ContentType { .. }) => "error ContentType".into(),
                Err(ssekit_client::Error::TooLarge(e)) => {
                    format!("error TooLarge({:?})", e.bound())
                }
                Err(e) => format!("error {e}"),
            });
        }
        seen.ended = true;
    })
    .await;
    seen
}

async fn theirs(url: String, window: Duration, fast_retry: bool) -> Seen {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = seen.clone();
    // In a task of its own: its parser may panic (it does on a BOM).
    let task = tokio::spawn(async move {
        let mut source = reqwest_eventsource::EventSource::get(url);
        if fast_retry {
            source.set_retry_policy(Box::new(reqwest_eventsource::retry::Constant::new(
                Duration::from_millis(100),
                None,
            )));
        }
        let _ = tokio::time::timeout(window, async {
            while let Some(item) = source.next().await {
                use reqwest_eventsource::{Error, Event};
                log.lock().unwrap().items.push(match item {
                    Ok(Event::Open) => "open".into(),
                    Ok(Event::Message(e)) => format!("event {}", show(&e.data)),
                    Err(Error::StreamEnded) => "error StreamEnded".into(),
                    Err(Error::Utf8(_)) => "error Utf8".into(),
                    Err(Error::Parser(_)) => "error Parser".into(),
                    Err(Error::Transport(_)) => "error Transport".into(),
                    Err(Error::InvalidContentType(..)) => "error InvalidContentType".into(),
                    Err(Error::InvalidStatusCode(status, _)) => {
                        format!("error InvalidStatusCode({status})")
                    }
                    Err(e) => format!("error {e}"),
                });
            }
            log.lock().unwrap().ended = true;
        })
        .await;
        source.close();
    });
    let panicked = task.await.is_err_and(|e| e.is_panic());
    let mut seen = std::mem::take(&mut *seen.lock().unwrap());
    if panicked {
        seen.items.push("error: the parser panicked".into());
    }
    seen
}

/// The events dispatched on the first connection, and the error that ended
/// it, if any.
fn events(seen: &Seen) -> String {
    let mut shown: Vec<&str> = Vec::new();
    for item in &seen.items {
        if item == "reconnecting" {
            break;
        }
        if item.starts_with("event") || item.starts_with("error") {
            shown.push(item);
        }
        if item.starts_with("error") {
            break;
        }
    }
    if shown.is_empty() {
        "nothing".into()
    } else {
        shown.join(", ")
    }
}

/// First error, and how many requests the server got in the window.
fn outcome(seen: &Seen, server: &Server) -> String {
    let first_error = seen
        .items
        .iter()
        .find(|i| i.starts_with("error") || *i == "closed")
        .cloned()
        .unwrap_or_else(|| "no error".into());
    let requests = server.requests.lock().unwrap().len();
    let more = if requests > 1 {
        format!(", retried ({requests} requests)")
    } else {
        ", no retry".into()
    };
    format!("{first_error}{more}")
}

type Cell = fn(&Seen, &Server) -> String;

struct Case {
    row: &'static str,
    answers: Vec<Answer>,
    window: Duration,
    fast_retry: bool,
    cell: Cell,
}

fn cases() -> Vec<Case> {
    let short = Duration::from_millis(1500);
    vec![
        Case {
            row: "`data:` with an empty value dispatches `\"\"`",
            answers: vec![stream(b"data:\n\ndata: x\n\n")],
            window: short,
            fast_retry: false,
            cell: |seen, _| events(seen),
        },
        Case {
            row: "CRLF line ends split across chunks (one byte per segment)",
            answers: vec![Answer::Trickle(
                [head_bytes(), b"data: a\r\ndata: b\r\n\r\n".to_vec()].concat(),
            )],
            window: short,
            fast_retry: false,
            cell: |seen, _| events(seen),
        },
        Case {
            row: "lone CR line ends",
            answers: vec![stream(b"data: a\rdata: b\r\r")],
            window: short,
            fast_retry: false,
            cell: |seen, _| events(seen),
        },
        Case {
            row: "invalid UTF-8 (`data: a\\xFFb`)",
            answers: vec![stream(b"data: a\xffb\n\ndata: next\n\n")],
            window: short,
            fast_retry: false,
            cell: |seen, _| events(seen),
        },
        Case {
            row: "a leading BOM is stripped, once",
            answers: vec![stream(
                "\u{feff}data: 1\n\n\u{feff}data: 2\n\ndata: 3\n\n".as_bytes(),
            )],
            window: short,
            fast_retry: false,
            cell: |seen, _| events(seen),
        },
        Case {
            row: "an event cut off by the end of the body is dropped",
            answers: vec![stream(b"data: a\n\ndata: cut")],
            window: short,
            fast_retry: false,
            cell: |seen, _| events(seen),
        },
        Case {
            row: "`Last-Event-ID` on reconnecting after a stream with no id",
            answers: vec![stream(b"data: a\n\n")],
            window: Duration::from_millis(600),
            fast_retry: true,
            cell: |_, server| last_event_ids(server),
        },
        Case {
            row: "`Last-Event-ID` after `id: 7`, then after `id:` (reset)",
            answers: vec![stream(b"id: 7\ndata: a\n\n"), stream(b"id:\ndata: b\n\n")],
            window: Duration::from_millis(600),
            fast_retry: true,
            cell: |_, server| last_event_ids(server),
        },
        Case {
            row: "reconnects after the body ends, waiting the server's `retry: 500`",
            answers: vec![stream(b"retry: 500\ndata: a\n\n")],
            window: Duration::from_millis(1800),
            fast_retry: false,
            cell: |_, server| {
                let requests = server.requests.lock().unwrap();
                match requests.get(1) {
                    Some(second) => format!(
                        "yes, after {} ms",
                        second.at.duration_since(requests[0].at).as_millis() / 10 * 10
                    ),
                    None => "no reconnection within 1.8 s".into(),
                }
            },
        },
        Case {
            row: "204 No Content",
            answers: vec![status("204 No Content")],
            window: short,
            fast_retry: true,
            cell: outcome,
        },
        Case {
            row: "500 Internal Server Error",
            answers: vec![status("500 Internal Server Error")],
            window: short,
            fast_retry: true,
            cell: outcome,
        },
        Case {
            row: "200 with `Content-Type: text/plain`",
            answers: vec![Answer::Bytes(
                [head(Some("text/plain")), b"data: a\n\n".to_vec()].concat(),
            )],
            window: short,
            fast_retry: true,
            cell: outcome,
        },
        Case {
            row: "200 with no `Content-Type`",
            answers: vec![Answer::Bytes(
                [head(None), b"data: a\n\n".to_vec()].concat(),
            )],
            window: short,
            fast_retry: true,
            cell: outcome,
        },
        Case {
            row: "an endless line (64 KiB chunks of `x`, no line end), for 3 s",
            answers: vec![Answer::Endless],
            window: Duration::from_secs(3),
            fast_retry: false,
            cell: |seen, server| {
                let mib = server.sent.load(Ordering::Relaxed) / (1024 * 1024);
                let error = seen.items.iter().find(|i| i.starts_with("error"));
                match error {
                    Some(error) => format!("{error} after the server sent {mib} MiB"),
                    None => format!("no error: {mib} MiB sent and buffered"),
                }
            },
        },
    ]
}

fn last_event_ids(server: &Server) -> String {
    let requests = server.requests.lock().unwrap();
    requests
        .iter()
        .take(3)
        .map(|r| match &r.last_event_id {
            None => "none".to_owned(),
            Some(id) => format!("{id:?}"),
        })
        .collect::<Vec<_>>()
        .join(", then ")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("| behaviour | ssekit-client | reqwest-eventsource 0.6 |");
    println!("|---|---|---|");
    for case in cases() {
        let server = serve(case.answers.clone()).await;
        let seen = ours(
            format!("http://{}/", server.addr),
            case.window,
            case.fast_retry,
        )
        .await;
        let ours_cell = (case.cell)(&seen, &server);
        let server = serve(case.answers.clone()).await;
        let seen = theirs(
            format!("http://{}/", server.addr),
            case.window,
            case.fast_retry,
        )
        .await;
        let theirs_cell = (case.cell)(&seen, &server);
        println!("| {} | {} | {} |", case.row, ours_cell, theirs_cell);
    }
}
