//! ssekit-client against every adapter (all seven frameworks, through
//! `ssekit-test-support`), over real HTTP: the conformance
//! script, a server killed and restarted mid-stream, `retry`, 204, 500, a
//! wrong Content-Type, an endless line and a stalled stream.

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use ssekit::hub::Hub;
use ssekit::{Event, PublishOptions, Shutdown, SsePublisher};
use ssekit_client::reqwest::StatusCode;
use ssekit_client::{Bound, Cause, Error, EventSource, Item, MessageEvent};
use ssekit_conformance::script;
use ssekit_reliability::{per_framework, Framework, Handler, Options, Server};

/// The routes of these tests; the hub and the shutdown signal are the
/// server's (a restarted server gets a new signal, the same hub).
#[derive(Clone)]
struct Routes {
    hub: Hub,
    shutdown: Shutdown,
}

impl Routes {
    fn new(hub: Hub) -> Self {
        Self {
            hub,
            shutdown: Shutdown::new(),
        }
    }
}

impl Handler for Routes {
    async fn handle<P>(&self, publisher: P) -> P::Response
    where
        P: SsePublisher + Send + 'static,
    {
        let quiet = PublishOptions::new().without_keep_alive();
        match publisher.request().path() {
            "/script" => publisher.publish_with(
                stream::iter(script::script_events()),
                quiet.with_retry(script::SCRIPT_RETRY),
            ),
            "/topic" => {
                let subscription = self.hub.subscribe("topic", publisher.last_event_id());
                publisher.publish_with(subscription, quiet.with_shutdown(&self.shutdown))
            }
            "/retry" => publisher.publish_with(
                stream::iter([Event::message("once")]),
                quiet.with_retry(Duration::from_millis(300)),
            ),
            "/chat" => {
                let request = publisher.request();
                let authorized = request
                    .header("authorization")
                    .is_some_and(|v| v == "Bearer sk-test");
                if request.method() != http::Method::POST || !authorized {
                    return publisher.reject(StatusCode::UNAUTHORIZED, "POST with a key");
                }
                let deltas =
                    ["Hel", "lo", "!"].map(|d| Event::message(format!("{{\"delta\":\"{d}\"}}")));
                publisher.publish_with(
                    stream::iter(deltas).chain(stream::iter([Event::message("[DONE]")])),
                    quiet,
                )
            }
            "/no-content" => publisher.no_content(),
            "/error" => publisher.reject(StatusCode::INTERNAL_SERVER_ERROR, "boom: it broke"),
            "/json" => publisher.reply(
                http::Response::builder()
                    .header("content-type", "application/json")
                    .body(b"{\"error\":\"no stream here\"}"[..].into())
                    .expect("a valid response"),
            ),
            "/endless-line" => {
                // The encoder splits data on line ends only, so one long
                // line of data is one long line on the wire; more follow.
                let line = "x".repeat(256 * 1024);
                publisher.publish_with(
                    stream::iter([Event::message("ok")])
                        .chain(stream::repeat_with(move || Event::message(line.clone()))),
                    quiet,
                )
            }
            "/stalled" => publisher.publish_with(
                stream::iter([Event::message("then nothing")]).chain(stream::pending()),
                quiet,
            ),
            _ => publisher.no_content(),
        }
    }
}

async fn start(framework: Framework) -> Server {
    Server::start(framework, Routes::new(Hub::new())).await
}

async fn next(source: &mut EventSource) -> Result<Item, Error> {
    tokio::time::timeout(Duration::from_secs(20), source.next())
        .await
        .expect("an item within 20 s")
        .expect("the stream goes on")
}

async fn script_body(framework: Framework) {
    let server = start(framework).await;
    let mut source = EventSource::get(server.url("/script"))
        .with_retry_limit(0)
        .build();
    let mut events: Vec<MessageEvent> = Vec::new();
    loop {
        match next(&mut source).await.expect("no error") {
            Item::Open(_) => {}
            Item::Event(event) => events.push(event),
            Item::Closed => break,
            other => panic!("{framework}: {other:?}"),
        }
    }
    assert_eq!(events, script::script_expected(), "{framework}");
}
per_framework!(shared conformance_script => script_body);

/// The server goes away mid-stream (its streams end, it stops listening) and
/// comes back on the same port while events keep being published: the
/// client resumes with `Last-Event-ID` and gets every event exactly once, in
/// order.
async fn restart_body(framework: Framework) {
    let hub = Hub::new();
    let routes = Routes::new(hub.clone());
    let server = Server::start(framework, routes.clone()).await;
    let port = server.addr().port();
    let mut source = EventSource::get(server.url("/topic"))
        .with_retry(Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(200))
        .build();
    assert!(matches!(next(&mut source).await, Ok(Item::Open(_))));
    // The subscription exists once the head has arrived.
    for n in 1..=3 {
        hub.publish("topic", Event::message(n.to_string()));
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        if let Item::Event(event) = next(&mut source).await.unwrap() {
            seen.push(event.data);
        }
    }

    routes.shutdown.trigger();
    server
        .shutdown(Duration::from_secs(10))
        .await
        .expect("graceful shutdown");
    // Published while no server runs: kept in the hub's history.
    for n in 4..=6 {
        hub.publish("topic", Event::message(n.to_string()));
    }
    let server = Server::start_with(
        framework,
        Routes::new(hub.clone()),
        Options::new().with_port(port),
    )
    .await;
    let mut reconnections = 0;
    while seen.len() < 6 {
        match next(&mut source).await.unwrap() {
            Item::Event(event) => seen.push(event.data),
            Item::Reconnecting(_) => reconnections += 1,
            Item::Open(_) => {
                // Live events after the resume.
                if seen.len() == 3 && reconnections > 0 {
                    hub.publish("topic", Event::message("7"));
                }
            }
            other => panic!("{framework}: {other:?}"),
        }
    }
    while seen.len() < 7 {
        if let Item::Event(event) = next(&mut source).await.unwrap() {
            seen.push(event.data);
        }
    }
    assert!(reconnections >= 1, "{framework}");
    assert_eq!(seen, ["1", "2", "3", "4", "5", "6", "7"], "{framework}");
    drop(server);
}
per_framework!(shared restart_mid_stream => restart_body);

/// An LLM-style call: a `POST` with a key and a body, answered by a stream
/// that ends with the answer; with no retry left, its end is the end.
async fn llm_post_body(framework: Framework) {
    let server = start(framework).await;
    let mut source = EventSource::post(server.url("/chat"))
        .with_bearer_auth("sk-test")
        .with_header("content-type", "application/json")
        .with_body(r#"{"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#)
        .with_retry_limit(0)
        .build();
    let mut data = Vec::new();
    loop {
        match next(&mut source).await.expect("no error") {
            Item::Open(_) => {}
            Item::Event(event) => data.push(event.data),
            Item::Closed => break,
            other => panic!("{framework}: {other:?}"),
        }
    }
    assert_eq!(
        data,
        [
            r#"{"delta":"Hel"}"#,
            r#"{"delta":"lo"}"#,
            r#"{"delta":"!"}"#,
            "[DONE]"
        ],
        "{framework}"
    );
    assert!(source.next().await.is_none());

    // Without the key: the 401 and its body, once.
    let mut source = EventSource::post(server.url("/chat")).build();
    match next(&mut source).await {
        Err(Error::Status { status, body }) => {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{framework}");
            assert_eq!(&body[..], b"POST with a key");
        }
        other => panic!("{framework}: {other:?}"),
    }
}
per_framework!(shared llm_style_post => llm_post_body);

async fn retry_body(framework: Framework) {
    let server = start(framework).await;
    let mut source = EventSource::get(server.url("/retry")).build();
    next(&mut source).await.unwrap();
    assert!(matches!(next(&mut source).await, Ok(Item::Event(_))));
    let Ok(Item::Reconnecting(lost)) = next(&mut source).await else {
        panic!("{framework}: a reconnection")
    };
    assert_eq!(lost.delay, Duration::from_millis(300), "{framework}");
    let before = Instant::now();
    assert!(matches!(next(&mut source).await, Ok(Item::Open(_))));
    assert!(
        before.elapsed() >= Duration::from_millis(300),
        "{framework}"
    );
}
per_framework!(shared retry_honoured => retry_body);

async fn statuses_body(framework: Framework) {
    let server = start(framework).await;

    let mut source = EventSource::get(server.url("/no-content")).build();
    assert!(
        matches!(next(&mut source).await, Ok(Item::Closed)),
        "{framework}"
    );
    assert!(source.next().await.is_none());

    let mut source = EventSource::get(server.url("/error")).build();
    match next(&mut source).await {
        Err(Error::Status { status, body }) => {
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(&body[..], b"boom: it broke", "{framework}");
        }
        other => panic!("{framework}: {other:?}"),
    }
    assert!(source.next().await.is_none());

    let mut source = EventSource::get(server.url("/json")).build();
    match next(&mut source).await {
        Err(Error::ContentType {
            status,
            content_type,
            body,
        }) => {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(
                content_type.as_deref(),
                Some("application/json"),
                "{framework}"
            );
            assert_eq!(&body[..], b"{\"error\":\"no stream here\"}");
        }
        other => panic!("{framework}: {other:?}"),
    }
}
per_framework!(shared statuses => statuses_body);

async fn endless_line_body(framework: Framework) {
    let server = start(framework).await;
    let mut source = EventSource::get(server.url("/endless-line"))
        .with_max_line_bytes(64 * 1024)
        .build();
    next(&mut source).await.unwrap();
    let Ok(Item::Event(event)) = next(&mut source).await else {
        panic!("{framework}: the first event")
    };
    assert_eq!(event.data, "ok");
    match next(&mut source).await {
        Err(Error::TooLarge(error)) => assert_eq!(error.bound(), Bound::Line, "{framework}"),
        other => panic!("{framework}: {other:?}"),
    }
    assert!(source.next().await.is_none());
}
per_framework!(shared endless_line => endless_line_body);

async fn stalled_body(framework: Framework) {
    let server = start(framework).await;
    let mut source = EventSource::get(server.url("/stalled"))
        .with_idle_timeout(Some(Duration::from_millis(300)))
        .with_retry(Duration::from_millis(10))
        .build();
    for _ in 0..2 {
        assert!(
            matches!(next(&mut source).await, Ok(Item::Open(_))),
            "{framework}"
        );
        assert!(matches!(next(&mut source).await, Ok(Item::Event(_))));
        let Ok(Item::Reconnecting(lost)) = next(&mut source).await else {
            panic!("{framework}: a reconnection")
        };
        assert!(
            matches!(lost.cause, Cause::Idle(_)),
            "{framework}: {lost:?}"
        );
    }
}
per_framework!(shared stalled_stream => stalled_body);
