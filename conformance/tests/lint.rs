//! `lint()` against hand-made HTTP/1.1 responses from a raw TCP server, so the
//! bytes on the wire are exactly what each test says.

use std::time::Duration;

use http::header::{HeaderValue, ACCEPT_ENCODING};
use ssekit_conformance::lint::{lint, LintOptions, LintReport, Severity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Serves one connection: reads the request head, writes what `respond`
/// makes of it, then keeps the connection open for `hold` before closing it.
/// Returns the URL and a handle yielding the request head.
async fn serve(
    respond: impl FnOnce(&str) -> Vec<u8> + Send + 'static,
    hold: Duration,
) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed before sending its request");
            request.extend_from_slice(&buf[..n]);
        }
        let request = String::from_utf8_lossy(&request).into_owned();
        socket.write_all(&respond(&request)).await.unwrap();
        socket.flush().await.unwrap();
        tokio::time::sleep(hold).await;
        let _ = socket.shutdown().await;
        request
    });
    (url, server)
}

/// [`serve`] with the same `response` whatever the request.
async fn serve_once(response: &'static [u8], hold: Duration) -> (String, JoinHandle<String>) {
    serve(move |_| response.to_vec(), hold).await
}

fn codes(report: &LintReport) -> Vec<&'static str> {
    report.findings.iter().map(|f| f.code.as_str()).collect()
}

fn options(seconds: u64) -> LintOptions {
    LintOptions {
        seconds,
        ..LintOptions::default()
    }
}

#[tokio::test]
async fn a_bad_stream_reports_its_problems() {
    // Body ends at close: no Content-Length, no chunking.
    let response = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n\
        data: one\r\r\
        retry: 3s\n\
        data: two\n\n\
        data: cut off";
    let (url, server) = serve_once(response, Duration::ZERO).await;
    let report = lint(&url, &options(10)).await;
    let request = server.await.unwrap().to_ascii_lowercase();
    assert!(request.contains("accept: text/event-stream"), "{request}");

    let found = codes(&report);
    for code in [
        "content-type",
        "lone-cr",
        "invalid-retry",
        "unterminated-event",
    ] {
        assert!(found.contains(&code), "{code} missing from {found:?}");
    }
    assert!(report.has_errors());
    assert!(report.ended);
    assert_eq!(
        (report.status, report.http_version.as_deref()),
        (Some(200), Some("HTTP/1.1"))
    );
    assert_eq!(report.events_seen, 2);
    assert_eq!(
        report.bytes_read,
        response.len() - response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() - 4
    );
    let first = &report.findings[0];
    assert_eq!(
        first.severity(),
        Severity::Error,
        "errors come first: {found:?}"
    );
    let table = report.to_table();
    assert!(table.contains("ERROR    content-type"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["ended"], true);
}

#[tokio::test]
async fn a_clean_stream_has_no_errors_or_warnings() {
    let response = b"HTTP/1.1 200 OK\r\n\
        Content-Type: text/event-stream; charset=utf-8\r\n\
        Cache-Control: no-cache\r\n\
        X-Accel-Buffering: no\r\n\
        Connection: close\r\n\r\n\
        : hello\n\nretry: 1000\n\nid: 1\nevent: greet\ndata: hi\n\ndata: second\n\n";
    let (url, _server) = serve_once(response, Duration::ZERO).await;
    let report = lint(&url, &options(10)).await;
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.severity() == Severity::Info),
        "{}",
        report.to_table()
    );
    assert!(!report.has_errors());
    assert!(report.ended);
    assert_eq!((report.events_seen, report.comments_seen), (2, 1));
    assert!(
        report
            .to_table()
            .ends_with("0 errors, 0 warnings, 0 info\n"),
        "{}",
        report.to_table()
    );
}

#[tokio::test]
async fn no_content_is_complete_with_only_the_no_content_finding() {
    // Kept open afterwards: a 204 is complete at its head, so nothing may wait
    // for the connection to close.
    let response = b"HTTP/1.1 204 No Content\r\n\r\n";
    let (url, _server) = serve_once(response, Duration::from_secs(30)).await;
    let report = lint(&url, &options(10)).await;
    assert_eq!(codes(&report), ["no-content"], "{}", report.to_table());
    assert!(!report.has_errors());
    assert!(report.ended, "a 204 has no body, so it is complete");
    assert_eq!(report.bytes_read, 0);
    let table = report.to_table();
    assert!(!table.contains("did not end"), "{table}");
    assert!(table.contains("the body ended"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["ended"], true);
}

#[tokio::test]
async fn a_refused_connection_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    drop(listener);
    let report = lint(&url, &options(10)).await;
    assert_eq!(codes(&report), ["connect-failed"]);
    assert!(report.has_errors());
    assert_eq!(report.status, None);
}

const OPEN_STREAM: &[u8] = b"HTTP/1.1 200 OK\r\n\
    Content-Type: text/event-stream\r\n\
    Cache-Control: no-store\r\n\
    X-Accel-Buffering: no\r\n\r\n\
    : hi\n\ndata: a\n\ndata: b";

#[tokio::test]
async fn an_open_stream_is_read_until_the_time_limit() {
    let (url, _server) = serve_once(OPEN_STREAM, Duration::from_secs(30)).await;
    let report = lint(&url, &options(1)).await;
    // The half-sent event is not an error: the body has not ended.
    assert_eq!(codes(&report), ["read-limit"], "{}", report.to_table());
    assert!(!report.ended);
    assert_eq!((report.events_seen, report.comments_seen), (1, 1));
    assert!(
        report.findings[0].message.contains("time limit"),
        "{}",
        report.findings[0].message
    );
}

#[tokio::test]
async fn reading_stops_at_the_byte_limit() {
    let (url, _server) = serve_once(OPEN_STREAM, Duration::from_secs(30)).await;
    let options = LintOptions {
        max_bytes: 8,
        ..options(10)
    };
    let report = lint(&url, &options).await;
    assert_eq!(codes(&report), ["read-limit"], "{}", report.to_table());
    assert_eq!(report.bytes_read, 8);
    assert!(!report.ended);
    assert!(
        report.findings[0].message.contains("8 bytes"),
        "{}",
        report.findings[0].message
    );
}

/// `data: hi\n\n` as brotli: WBITS 16, one uncompressed meta-block of 10
/// bytes, then the empty last one. Made by hand, since no brotli encoder is
/// among the dependencies, and checked against a brotli decoder.
const BROTLI_BODY: &[u8] = b"\x90\x00\x10data: hi\n\n\x03";

/// Answers as compression middleware does: `br` if the request accepts it,
/// uncompressed otherwise.
fn negotiating(request: &str) -> Vec<u8> {
    let accepts_br = request.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("accept-encoding")
                && value
                    .split(',')
                    .any(|e| e.trim().eq_ignore_ascii_case("br"))
        })
    });
    let head: &[u8] = b"HTTP/1.1 200 OK\r\n\
        Content-Type: text/event-stream\r\n\
        Cache-Control: no-cache\r\n\
        X-Accel-Buffering: no\r\n\
        Connection: close\r\n";
    if accepts_br {
        [head, b"Content-Encoding: br\r\n\r\n", BROTLI_BODY].concat()
    } else {
        [head, b"\r\ndata: hi\n\n"].concat()
    }
}

#[tokio::test]
async fn the_request_accepts_what_browsers_accept_and_sees_their_compression() {
    let (url, server) = serve(negotiating, Duration::ZERO).await;
    let report = lint(&url, &options(10)).await;
    let request = server.await.unwrap().to_ascii_lowercase();
    assert!(
        request.contains("\r\naccept-encoding: gzip, deflate, br, zstd\r\n"),
        "{request}"
    );
    assert_eq!(
        codes(&report),
        ["compressed", "stream-not-analysed"],
        "{}",
        report.to_table()
    );
    assert_eq!(report.findings[0].severity(), Severity::Warning);
    assert!(
        report.findings[0].message.contains("\"br\""),
        "{}",
        report.findings[0].message
    );
    assert!(
        report.findings[1]
            .message
            .contains("Accept-Encoding: identity"),
        "{}",
        report.findings[1].message
    );
    assert!(report.ended);
    // Counted as received, not decoded.
    assert_eq!(report.bytes_read, BROTLI_BODY.len());
    assert_eq!((report.events_seen, report.comments_seen), (0, 0));
}

#[tokio::test]
async fn accept_encoding_identity_gets_the_stream_analysed() {
    let (url, server) = serve(negotiating, Duration::ZERO).await;
    let options = LintOptions {
        headers: vec![(ACCEPT_ENCODING, HeaderValue::from_static("identity"))],
        ..options(10)
    };
    let report = lint(&url, &options).await;
    let request = server.await.unwrap().to_ascii_lowercase();
    assert!(
        request.contains("\r\naccept-encoding: identity\r\n"),
        "{request}"
    );
    assert_eq!(request.matches("accept-encoding").count(), 1, "{request}");
    assert_eq!(codes(&report), Vec::<&str>::new(), "{}", report.to_table());
    assert_eq!(report.events_seen, 1);
}
