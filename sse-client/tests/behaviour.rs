//! The client's behaviour over real HTTP against a scripted server: resume,
//! retry and backoff, statuses, Content-Type, limits and timeouts, methods
//! and bodies.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use ssekit_client::reqwest::StatusCode;
use ssekit_client::{Bound, Cause, Error, EventSource, Item};
use support::{response, stream, stream_head, RawServer, Step};
use tokio::time::Instant;

/// The next item, within a generous bound.
async fn next(source: &mut EventSource) -> Result<Item, Error> {
    tokio::time::timeout(Duration::from_secs(20), source.next())
        .await
        .expect("an item within 20 s")
        .expect("the stream has not ended")
}

fn data(item: Result<Item, Error>) -> String {
    match item {
        Ok(Item::Event(event)) => event.data,
        other => panic!("expected an event, got {other:?}"),
    }
}

fn reconnect(item: Result<Item, Error>) -> ssekit_client::Reconnect {
    match item {
        Ok(Item::Reconnecting(reconnect)) => reconnect,
        other => panic!("expected a reconnection, got {other:?}"),
    }
}

#[tokio::test]
async fn resumes_with_last_event_id_only_when_not_empty() {
    let mut server = RawServer::start(vec![
        // The cut-off event's id (3) is never committed.
        stream(b"id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: cut"),
        // An empty id resets it.
        stream(b"id:\ndata: c\n\n"),
        stream(b"data: d\n\n"),
        response("204 No Content", &[], b""),
    ])
    .await;
    let mut source = EventSource::get(server.url())
        .with_retry(Duration::from_millis(10))
        .build();

    assert!(matches!(next(&mut source).await, Ok(Item::Open(_))));
    let first = server.request().await;
    assert_eq!(first.method, "GET");
    assert_eq!(first.header("accept"), Some("text/event-stream"));
    assert_eq!(first.header("cache-control"), Some("no-cache"));
    assert_eq!(first.header("last-event-id"), None);
    assert_eq!(data(next(&mut source).await), "a");
    assert_eq!(data(next(&mut source).await), "b");
    let lost = reconnect(next(&mut source).await);
    assert!(matches!(lost.cause, Cause::Ended), "{lost:?}");
    assert_eq!((lost.attempt, lost.delay), (1, Duration::from_millis(10)));

    assert!(matches!(next(&mut source).await, Ok(Item::Open(_))));
    assert_eq!(server.request().await.header("last-event-id"), Some("2"));
    let Ok(Item::Event(event)) = next(&mut source).await else {
        panic!()
    };
    assert_eq!(
        (event.data.as_str(), event.last_event_id.as_str()),
        ("c", "")
    );
    reconnect(next(&mut source).await);

    assert!(matches!(next(&mut source).await, Ok(Item::Open(_))));
    assert_eq!(server.request().await.header("last-event-id"), None);
    assert_eq!(data(next(&mut source).await), "d");
    reconnect(next(&mut source).await);

    // 204: closed for good, no further request.
    assert!(matches!(next(&mut source).await, Ok(Item::Closed)));
    server.request().await;
    assert!(source.next().await.is_none());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(server.requests.try_recv().is_err(), "no request after 204");
}

#[tokio::test]
async fn a_given_last_event_id_is_sent_on_the_first_request() {
    let mut server = RawServer::start(vec![stream(b"data: x\n\n")]).await;
    let mut source = EventSource::get(server.url())
        .with_last_event_id("41")
        .with_retry_limit(0)
        .build();
    assert!(matches!(next(&mut source).await, Ok(Item::Open(_))));
    assert_eq!(server.request().await.header("last-event-id"), Some("41"));
    let Ok(Item::Event(event)) = next(&mut source).await else {
        panic!()
    };
    assert_eq!(event.last_event_id, "41");
}

#[tokio::test(start_paused = true)]
async fn waits_the_servers_retry_then_the_default() {
    let mut server = RawServer::start(vec![
        stream(b"retry: 1500\ndata: a\n\n"),
        stream(b"data: b\n\n"),
        response("204 No Content", &[], b""),
    ])
    .await;
    let mut source = EventSource::get(server.url()).build();
    next(&mut source).await.unwrap();
    assert_eq!(data(next(&mut source).await), "a");
    let lost = reconnect(next(&mut source).await);
    assert_eq!(lost.delay, Duration::from_millis(1500));
    let before = Instant::now();
    assert!(matches!(next(&mut source).await, Ok(Item::Open(_))));
    // Paused time: the wait is exact, give or take the clock's resolution.
    let waited = before.elapsed();
    assert!(
        (Duration::from_millis(1500)..Duration::from_millis(1600)).contains(&waited),
        "{waited:?}"
    );
    server.request().await;
    server.request().await;
    // The retry time holds for the next connection too.
    assert_eq!(data(next(&mut source).await), "b");
    assert_eq!(
        reconnect(next(&mut source).await).delay,
        Duration::from_millis(1500)
    );

    // Without a retry field: 3 s.
    let server = RawServer::start(vec![stream(b"data: a\n\n")]).await;
    let mut source = EventSource::get(server.url()).build();
    next(&mut source).await.unwrap();
    next(&mut source).await.unwrap();
    assert_eq!(
        reconnect(next(&mut source).await).delay,
        Duration::from_secs(3)
    );
}

#[tokio::test(start_paused = true)]
async fn repeated_failures_back_off_with_jitter_up_to_the_cap() {
    let server = RawServer::start(vec![response("503 Service Unavailable", &[], b"")]).await;
    let retry = Duration::from_millis(100);
    let cap = Duration::from_millis(1000);
    let mut source = EventSource::get(server.url())
        .with_retry(retry)
        .with_max_backoff(cap)
        .with_retry_on_status(StatusCode::SERVICE_UNAVAILABLE)
        .build();
    let mut delays = Vec::new();
    for attempt in 1..=8 {
        let lost = reconnect(next(&mut source).await);
        assert_eq!(lost.attempt, attempt);
        assert!(matches!(
            lost.cause,
            Cause::Status(StatusCode::SERVICE_UNAVAILABLE)
        ));
        delays.push(lost.delay);
    }
    assert_eq!(delays[0], retry);
    for (i, delay) in delays.iter().enumerate().skip(1) {
        let grown = (retry * (1 << i)).min(cap);
        assert!(
            (grown / 2..=grown).contains(delay),
            "attempt {}: {delay:?} not within {:?}..={grown:?}",
            i + 1,
            grown / 2
        );
    }
    assert!(delays.iter().all(|d| *d <= cap));
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_on_a_chosen_status() {
    let mut server = RawServer::start(vec![
        response("429 Too Many Requests", &["retry-after: 7"], b""),
        stream(b"data: ok\n\n"),
    ])
    .await;
    let mut source = EventSource::get(server.url())
        .with_retry_on_status(StatusCode::TOO_MANY_REQUESTS)
        .with_retry_limit(1)
        .build();
    let lost = reconnect(next(&mut source).await);
    assert_eq!(lost.delay, Duration::from_secs(7));
    let before = Instant::now();
    assert!(matches!(next(&mut source).await, Ok(Item::Open(_))));
    assert!(before.elapsed() >= Duration::from_secs(7));
    server.request().await;
    server.request().await;
    assert_eq!(data(next(&mut source).await), "ok");
}

#[tokio::test]
async fn gives_up_after_the_retry_limit() {
    let server = RawServer::start(vec![response("503 Service Unavailable", &[], b"")]).await;
    let mut source = EventSource::get(server.url())
        .with_retry(Duration::from_millis(1))
        .with_retry_on_status(StatusCode::SERVICE_UNAVAILABLE)
        .with_retry_limit(2)
        .build();
    reconnect(next(&mut source).await);
    reconnect(next(&mut source).await);
    match next(&mut source).await {
        Err(Error::GaveUp {
            attempts: 3,
            cause: Cause::Status(status),
        }) => {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE)
        }
        other => panic!("{other:?}"),
    }
    assert!(source.next().await.is_none());
}

#[tokio::test]
async fn no_reconnect_ends_with_the_body() {
    let mut server = RawServer::start(vec![stream(b"data: answer\n\n")]).await;
    let mut source = EventSource::post(server.url()).with_retry_limit(0).build();
    next(&mut source).await.unwrap();
    assert_eq!(data(next(&mut source).await), "answer");
    assert!(matches!(next(&mut source).await, Ok(Item::Closed)));
    assert!(source.next().await.is_none());
    server.request().await;
    assert!(server.requests.try_recv().is_err());
}

#[tokio::test]
async fn another_status_fails_with_the_body_start() {
    let mut body = b"boom: the database is down".to_vec();
    body.extend(std::iter::repeat_n(b'.', 5000));
    let length = format!("content-length: {}", body.len());
    let mut server = RawServer::start(vec![response(
        "500 Internal Server Error",
        &["content-type: text/plain", &length],
        &body,
    )])
    .await;
    let mut source = EventSource::get(server.url()).build();
    match next(&mut source).await {
        Err(Error::Status { status, body }) => {
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert!(body.starts_with(b"boom: the database is down"));
            assert_eq!(body.len(), ssekit_client::ERROR_BODY_BYTES);
        }
        other => panic!("{other:?}"),
    }
    assert!(source.next().await.is_none());
    server.request().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(server.requests.try_recv().is_err(), "no retry after a 500");
}

#[tokio::test]
async fn a_wrong_or_missing_content_type_fails() {
    for (headers, expected) in [
        (
            &["content-type: application/json"][..],
            Some("application/json"),
        ),
        (&[][..], None),
    ] {
        let server = RawServer::start(vec![response("200 OK", headers, b"{\"error\":1}")]).await;
        let mut source = EventSource::get(server.url()).build();
        match next(&mut source).await {
            Err(Error::ContentType {
                status,
                content_type,
                body,
            }) => {
                assert_eq!(status, StatusCode::OK);
                assert_eq!(content_type.as_deref(), expected);
                assert_eq!(&body[..], b"{\"error\":1}");
            }
            other => panic!("{other:?}"),
        }
        assert!(source.next().await.is_none());
    }
    // Parameters and case do not matter; the check can be turned off.
    let server = RawServer::start(vec![response(
        "200 OK",
        &["content-type: Text/Event-Stream; charset=utf-8"],
        b"data: x\n\n",
    )])
    .await;
    let mut source = EventSource::get(server.url()).with_retry_limit(0).build();
    assert!(matches!(next(&mut source).await, Ok(Item::Open(_))));
    let server = RawServer::start(vec![response("200 OK", &[], b"data: x\n\n")]).await;
    let mut source = EventSource::get(server.url())
        .with_content_type_check(false)
        .with_retry_limit(0)
        .build();
    assert!(matches!(next(&mut source).await, Ok(Item::Open(_))));
    assert_eq!(data(next(&mut source).await), "x");
}

#[tokio::test]
async fn an_endless_line_fails_with_a_typed_error() {
    let mut head = stream_head();
    head.extend_from_slice(b"data: ok\n\ndata: ");
    let server = RawServer::start(vec![vec![
        Step::Write(head),
        Step::Endless(vec![b'x'; 8192]),
    ]])
    .await;
    let mut source = EventSource::get(server.url())
        .with_max_line_bytes(64 * 1024)
        .build();
    next(&mut source).await.unwrap();
    assert_eq!(data(next(&mut source).await), "ok");
    match next(&mut source).await {
        Err(Error::TooLarge(error)) => {
            assert_eq!((error.bound(), error.limit()), (Bound::Line, 64 * 1024))
        }
        other => panic!("{other:?}"),
    }
    assert!(source.next().await.is_none());
}

#[tokio::test]
async fn an_endless_event_fails_with_a_typed_error() {
    let mut head = stream_head();
    head.extend_from_slice(b"data: ok\n\n");
    let server = RawServer::start(vec![vec![
        Step::Write(head),
        Step::Endless(b"data: 0123456789abcdef\n".to_vec()),
    ]])
    .await;
    let mut source = EventSource::get(server.url())
        .with_max_event_bytes(100_000)
        .build();
    next(&mut source).await.unwrap();
    assert_eq!(data(next(&mut source).await), "ok");
    match next(&mut source).await {
        Err(Error::TooLarge(error)) => assert_eq!(error.bound(), Bound::Event),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_stalled_stream_is_left_after_the_idle_timeout() {
    let mut head = stream_head();
    head.extend_from_slice(b": keep-alive\n\ndata: a\n\n");
    let mut server = RawServer::start(vec![
        // Keep-alive comments reset the idle timer: 4 × 100 ms of comments
        // outlast a 300 ms timeout.
        vec![
            Step::Write(head),
            Step::Sleep(Duration::from_millis(100)),
            Step::Write(b":\n".to_vec()),
            Step::Sleep(Duration::from_millis(100)),
            Step::Write(b":\n".to_vec()),
            Step::Sleep(Duration::from_millis(100)),
            Step::Write(b":\n".to_vec()),
            Step::Sleep(Duration::from_millis(100)),
            Step::Write(b"data: b\n\n".to_vec()),
            Step::Hold,
        ],
        stream(b"data: again\n\n"),
    ])
    .await;
    let mut source = EventSource::get(server.url())
        .with_idle_timeout(Some(Duration::from_millis(300)))
        .with_retry(Duration::from_millis(10))
        .build();
    next(&mut source).await.unwrap();
    assert_eq!(data(next(&mut source).await), "a");
    assert_eq!(data(next(&mut source).await), "b");
    let lost = reconnect(next(&mut source).await);
    assert!(
        matches!(lost.cause, Cause::Idle(d) if d == Duration::from_millis(300)),
        "{lost:?}"
    );
    assert!(matches!(next(&mut source).await, Ok(Item::Open(_))));
    assert_eq!(data(next(&mut source).await), "again");
    server.request().await;
    server.request().await;
}

#[tokio::test]
async fn a_server_that_never_answers_hits_the_connect_timeout() {
    let server = RawServer::start(vec![vec![Step::Hold], stream(b"data: late\n\n")]).await;
    let mut source = EventSource::get(server.url())
        .with_connect_timeout(Some(Duration::from_millis(200)))
        .with_retry(Duration::from_millis(10))
        .build();
    let lost = reconnect(next(&mut source).await);
    assert!(matches!(lost.cause, Cause::ConnectTimeout(_)), "{lost:?}");
    assert!(matches!(next(&mut source).await, Ok(Item::Open(_))));
    assert_eq!(data(next(&mut source).await), "late");
}

#[tokio::test]
async fn a_refused_connection_is_retried() {
    // A port nobody listens on, then a server there.
    let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let mut source = EventSource::get(format!("http://{addr}/"))
        .with_retry(Duration::from_millis(10))
        .with_retry_limit(1)
        .build();
    let lost = reconnect(next(&mut source).await);
    assert!(matches!(lost.cause, Cause::Transport(_)), "{lost:?}");
    assert!(matches!(
        next(&mut source).await,
        Err(Error::GaveUp {
            attempts: 2,
            cause: Cause::Transport(_)
        })
    ));
}

#[tokio::test]
async fn posts_the_body_and_headers_on_every_attempt() {
    let mut server = RawServer::start(vec![
        stream(b"id: 5\ndata: one\n\n"),
        stream(b"data: two\n\n"),
        response("204 No Content", &[], b""),
    ])
    .await;
    let prompt = r#"{"model":"m","stream":true}"#;
    let mut source = EventSource::post(server.url())
        .with_bearer_auth("sk-test")
        .with_header("content-type", "application/json")
        .with_header("x-trace", "abc")
        .with_body(prompt)
        .with_retry(Duration::from_millis(10))
        .build();
    let mut seen = Vec::new();
    while let Some(item) = source.next().await {
        if let Item::Event(event) = item.unwrap() {
            seen.push(event.data);
        }
    }
    assert_eq!(seen, ["one", "two"]);
    for expected_id in [None, Some("5"), Some("5")] {
        let request = server.request().await;
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/stream");
        assert_eq!(request.body, prompt.as_bytes());
        assert_eq!(request.header("authorization"), Some("Bearer sk-test"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("x-trace"), Some("abc"));
        assert_eq!(request.header("last-event-id"), expected_id);
    }
}

#[tokio::test]
async fn any_method() {
    let mut server = RawServer::start(vec![stream(b"data: x\n\n")]).await;
    let mut source = EventSource::builder(ssekit_client::reqwest::Method::PUT, server.url())
        .with_retry_limit(0)
        .build();
    next(&mut source).await.unwrap();
    assert_eq!(server.request().await.method, "PUT");
}

#[tokio::test]
async fn a_bad_url_or_header_is_the_first_item() {
    let mut source = EventSource::get("not a url").build();
    assert!(matches!(
        next(&mut source).await,
        Err(Error::InvalidRequest(_))
    ));
    assert!(source.next().await.is_none());
    let mut source = EventSource::get("http://127.0.0.1:1/")
        .with_header("x-bad", "line\nbreak")
        .build();
    assert!(matches!(
        next(&mut source).await,
        Err(Error::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn a_body_cut_mid_chunk_reconnects_as_a_transport_failure() {
    // A chunked body whose connection closes before its last chunk: a
    // network error, not a clean end (the cut-off event is dropped too).
    let head =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    let mut bytes = head.to_vec();
    bytes.extend_from_slice(b"f\r\nid: 1\ndata: a\n\n\r\n9\r\ndata: cut");
    let mut server = RawServer::start(vec![vec![Step::Write(bytes)], stream(b"data: b\n\n")]).await;
    let mut source = EventSource::get(server.url())
        .with_retry(Duration::from_millis(10))
        .build();
    next(&mut source).await.unwrap();
    assert_eq!(data(next(&mut source).await), "a");
    let lost = reconnect(next(&mut source).await);
    assert!(matches!(lost.cause, Cause::Transport(_)), "{lost:?}");
    assert!(matches!(next(&mut source).await, Ok(Item::Open(_))));
    assert_eq!(data(next(&mut source).await), "b");
    server.request().await;
    assert_eq!(server.request().await.header("last-event-id"), Some("1"));
}

#[tokio::test]
async fn open_carries_the_response_head() {
    let server = RawServer::start(vec![response(
        "200 OK",
        &["content-type: text/event-stream", "x-request-id: req-42"],
        b"data: x\n\n",
    )])
    .await;
    let mut source = EventSource::get(server.url()).with_retry_limit(0).build();
    let Ok(Item::Open(opened)) = next(&mut source).await else {
        panic!("open")
    };
    assert_eq!(opened.status, StatusCode::OK);
    assert_eq!(opened.headers["x-request-id"], "req-42");
}

#[tokio::test]
async fn a_non_ascii_id_is_sent_as_its_utf8_bytes() {
    let mut server = RawServer::start(vec![
        stream("id: é1\ndata: a\n\n".as_bytes()),
        response("204 No Content", &[], b""),
    ])
    .await;
    let mut source = EventSource::get(server.url())
        .with_retry(Duration::from_millis(10))
        .build();
    while let Some(item) = source.next().await {
        item.unwrap();
    }
    server.request().await;
    assert_eq!(server.request().await.header("last-event-id"), Some("é1"));
}
