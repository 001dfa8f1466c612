//! The byte streams of the browser agreement test, and what `ssekit-client`
//! makes of them.
//!
//! Serves each case's raw bytes at `/case/<n>` (in the chunks the case says,
//! each written on its own, then the connection closes), runs
//! `ssekit-client` over each of them, and serves what it dispatched at
//! `/cases.json`; `/` is an empty page for the browser to open the same
//! URLs from.
//!
//! Reconnection cases at `/resume/<n>/<who>`: the first request gets the
//! case's bytes (after `retry: 20`), the next one `204` (which stops any
//! `EventSource`), and the `Last-Event-ID` each request carried is recorded
//! under `who` (`client` or `browser`), reported at `/resume.json`. `examples/browser-tests/tests/agreement.test.js` compares what
//! headless Chromium's `EventSource` dispatches with that.
//!
//! Takes `--port` (and ignores `--framework`, which the harness passes to
//! every example).

use std::time::Duration;

use futures_util::StreamExt;
use ssekit_client::{EventSource, Item};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One case: a name, and its body in the chunks to write.
struct Case {
    name: String,
    chunks: Vec<Vec<u8>>,
}

/// The event types the cases use (a browser needs a listener for each).
const TYPES: [&str; 3] = ["message", "test", "greeting"];

fn cases() -> Vec<Case> {
    let long = "x".repeat(2048);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("bom", "\u{feff}data:1\n\n\u{feff}data:2\n\ndata:3\n\n".into()),
        ("bom-2", "\u{feff}\u{feff}data:1\n\ndata:2\n\ndata:3\n\n".into()),
        (
            "comments",
            format!("data:1\r:\0\n:\r\ndata:2\n:{long}\rdata:3\n:data:fail\r:{long}\ndata:4\n\n").into(),
        ),
        ("data-before-final-empty-line", b"retry:1000\ndata:test1\n\nid:test\ndata:test2".to_vec()),
        ("field-data", b"data:\n\ndata\ndata\n\ndata:test\n\n".to_vec()),
        ("field-event-empty", b"event: \ndata:data\n\n".to_vec()),
        ("field-event", b"event:test\ndata:x\n\ndata:x\n\n".to_vec()),
        ("field-id", b"id: 1\ndata: a\n\ndata: b\n\nid:\ndata: c\n\n".to_vec()),
        ("field-id-only", b"id: 7\n\ndata: after\n\n".to_vec()),
        ("field-id-null", b"id: 1\ndata: a\n\nid: 2\0\ndata: b\n\n".to_vec()),
        (
            "field-parsing",
            b"data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n".to_vec(),
        ),
        ("field-retry-bogus", b"retry:3000\nretry:1000x\nretry:  5\nretry:-1\nretry:1.5\ndata:x\n\n".to_vec()),
        (
            "field-unknown",
            b"data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n".to_vec(),
        ),
        ("leading-space", b"data:\ttest\rdata: \ndata:test\n\n".to_vec()),
        ("newlines", b"data:test\r\ndata\ndata:test\r\n\r".to_vec()),
        ("null-character", b"data:\0\n\n\n\n".to_vec()),
        ("utf-8", "data:ÿ😀\n\n".into()),
        ("invalid-utf-8", b"data:a\xffb\xe2\x82\n\nevent: greeting\ndata:\xf0\x9f\n\n".to_vec()),
        ("crlf-and-cr", b"data: a\r\ndata: b\rdata: c\n\r\n".to_vec()),
        ("named-and-ids", b"event: greeting\nid: 5\ndata: hi\n\nid\ndata: reset\n\n".to_vec()),
        ("multi-line-json", b"data: {\"a\":\ndata:  1}\n\n".to_vec()),
    ];
    let mut cases = Vec::new();
    for (name, body) in bodies {
        cases.push(Case {
            name: format!("{name} (whole)"),
            chunks: vec![body.clone()],
        });
        // Cut everywhere: between CR and LF, inside the BOM and UTF-8
        // sequences, between a field's name and its colon.
        if body.len() <= 256 {
            cases.push(Case {
                name: format!("{name} (byte by byte)"),
                chunks: body.iter().map(|b| vec![*b]).collect(),
            });
        }
    }
    cases
}

/// Bodies after which a client reconnects: what `Last-Event-ID` it sends.
fn resume_cases() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("no id", b"data: a\n\n".to_vec()),
        ("an id", b"id: 1\ndata: a\n\n".to_vec()),
        ("id-only checkpoint", b"data: a\n\nid: 5\n\n".to_vec()),
        (
            "id reset by an empty id",
            b"id: 1\ndata: a\n\nid\ndata: b\n\n".to_vec(),
        ),
        (
            "id reset by id: with no value",
            b"id: 1\ndata: a\n\nid:\n\n".to_vec(),
        ),
        (
            "id with NUL ignored",
            b"id: 1\ndata: a\n\nid: 2\0\ndata: b\n\n".to_vec(),
        ),
        (
            "cut-off event's id not kept",
            b"id: 1\ndata: a\n\nid: 2\ndata: cut".to_vec(),
        ),
        ("non-ASCII id", "id: é😀\ndata: a\n\n".as_bytes().to_vec()),
        ("id with inner spaces", b"id: a b\ndata: x\n\n".to_vec()),
        (
            "a BOM not at the start is data: its id line is ignored",
            b"\xEF\xBB\xBFid: 9\r\ndata: x\r\n\r\n".to_vec(),
        ),
    ]
}

/// The `Last-Event-ID` of each request, by who made it and case.
type Resumes = std::sync::Mutex<std::collections::BTreeMap<(String, usize), Vec<Option<String>>>>;

const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
    let cases = std::sync::Arc::new(cases());
    let served = cases.clone();
    let results = std::sync::Arc::new(tokio::sync::OnceCell::new());
    let resumes = std::sync::Arc::new(Resumes::default());
    let for_server = (results.clone(), resumes.clone());
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.expect("accept");
            let (cases, (results, resumes)) = (served.clone(), for_server.clone());
            tokio::spawn(async move {
                let _ = answer(socket, &cases, &results, &resumes).await;
            });
        }
    });

    for i in 0..resume_cases().len() {
        let mut source =
            EventSource::get(format!("http://127.0.0.1:{port}/resume/{i}/client")).build();
        while let Some(item) = source.next().await {
            if matches!(item.expect("no client error"), Item::Closed) {
                break;
            }
        }
    }

    let mut all = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let mut source = EventSource::get(format!("http://127.0.0.1:{port}/case/{i}"))
            .with_retry_limit(0)
            .build();
        let mut events = Vec::new();
        while let Some(item) = source.next().await {
            match item.expect("no client error in these cases") {
                Item::Event(e) => {
                    events.push(serde_json::json!([e.event_type, e.data, e.last_event_id]))
                }
                Item::Closed => break,
                _ => {}
            }
        }
        all.push(serde_json::json!({ "name": case.name, "events": events }));
    }
    let names: Vec<&str> = resume_cases().iter().map(|(name, _)| *name).collect();
    let json =
        serde_json::json!({ "types": TYPES, "cases": all, "resume_cases": names }).to_string();
    results.set(json).expect("set once");
    println!("serving on http://127.0.0.1:{port}/");
    std::future::pending::<()>().await;
}

async fn answer(
    mut socket: TcpStream,
    cases: &[Case],
    results: &tokio::sync::OnceCell<String>,
    resumes: &Resumes,
) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let mut received = Vec::new();
    let mut buf = [0; 4096];
    while !received.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        received.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&received);
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    let case = path
        .strip_prefix("/case/")
        .and_then(|n| n.parse::<usize>().ok())
        .and_then(|n| cases.get(n));
    if let Some(case) = case {
        socket.write_all(STREAM_HEAD).await?;
        for chunk in &case.chunks {
            socket.write_all(chunk).await?;
            if case.chunks.len() > 1 {
                // Nagle is off: a pause puts each chunk in a segment of its own.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        return socket.shutdown().await;
    }
    if let Some(rest) = path.strip_prefix("/resume/") {
        let (n, who) = rest.split_once('/').unwrap_or((rest, "unknown"));
        let n: usize = n.parse().unwrap_or(usize::MAX);
        let Some((_, body)) = resume_cases().into_iter().nth(n) else {
            return socket
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                )
                .await;
        };
        let last_event_id = header(&received, b"last-event-id");
        let first = {
            let mut resumes = resumes.lock().expect("not poisoned");
            let seen = resumes.entry((who.to_owned(), n)).or_default();
            seen.push(last_event_id);
            seen.len() == 1
        };
        if !first {
            return socket
                .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .await;
        }
        socket.write_all(STREAM_HEAD).await?;
        socket.write_all(b"retry: 20\n\n").await?;
        socket.write_all(&body).await?;
        return socket.shutdown().await;
    }
    let resume_report = || {
        let resumes = resumes.lock().expect("not poisoned");
        let report: Vec<serde_json::Value> = resumes
            .iter()
            .map(|((who, n), ids)| serde_json::json!({ "who": who, "case": n, "last_event_ids": ids }))
            .collect();
        serde_json::Value::from(report).to_string()
    };
    let (status, content_type, body) = match path.as_str() {
        "/resume.json" => ("200 OK", "application/json", resume_report()),
        "/" => (
            "200 OK",
            "text/html",
            "<!doctype html><title>agreement</title>".to_owned(),
        ),
        "/cases.json" => (
            "200 OK",
            "application/json",
            results.get().cloned().unwrap_or_default(),
        ),
        _ => ("404 Not Found", "text/plain", "not found".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}

/// A request header's value, as UTF-8 (lossily), if present.
fn header(request: &[u8], name: &[u8]) -> Option<String> {
    let head_end = request.windows(4).position(|w| w == b"\r\n\r\n")?;
    request[..head_end].split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        line[..colon]
            .eq_ignore_ascii_case(name)
            .then(|| String::from_utf8_lossy(line[colon + 1..].trim_ascii()).into_owned())
    })
}
