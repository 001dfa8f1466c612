//! The test kit: handlers run with `TestPublisher`, their answers read back,
//! the client leaving, and paused time.
#![cfg(feature = "testing")]

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use http::{HeaderValue, Method, StatusCode};
use ssekit::decode::Decoded;
use ssekit::hub::Hub;
use ssekit::testing::TestPublisher;
use ssekit::{Event, KeepAlive, PublishOptions, SsePublisher};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Echoes what the handler saw of the request as one event per field.
async fn echo<P: SsePublisher>(publisher: P) -> P::Response {
    let request = publisher.request();
    let tags: Vec<_> = request
        .headers()
        .get_all("x-tag")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let fields = [
        ("method", request.method().to_string()),
        ("path", request.path().to_owned()),
        ("query", request.query().unwrap_or("-").to_owned()),
        ("from", request.query_param("from").unwrap_or_default()),
        (
            "last-event-id",
            publisher.last_event_id().unwrap_or("-").to_owned(),
        ),
        ("tags", tags.join(",")),
    ];
    let events = fields.map(|(name, value)| Event::message(value).with_event(name));
    publisher.publish(stream::iter(events))
}

fn pairs(events: &[ssekit::decode::MessageEvent]) -> Vec<(&str, &str)> {
    events
        .iter()
        .map(|event| (event.event_type.as_str(), event.data.as_str()))
        .collect()
}

#[tokio::test]
async fn the_handler_sees_method_path_query_headers_and_last_event_id() {
    let publisher = TestPublisher::new(Method::PUT, "/echo/here?from=3&x=%C3%A9")
        .with_last_event_id("41")
        .with_last_event_id("abc-é-42") // replaces
        .with_header("x-tag", "a")
        .with_header("x-tag", HeaderValue::from_static("b")); // adds
    let mut response = echo(publisher).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(
        response.headers()["cache-control"],
        "no-cache, no-transform"
    );
    assert_eq!(
        pairs(&response.collect_events().await),
        [
            ("method", "PUT"),
            ("path", "/echo/here"),
            ("query", "from=3&x=%C3%A9"),
            ("from", "3"),
            ("last-event-id", "abc-é-42"),
            ("tags", "a,b"),
        ]
    );
    assert!(response.is_finished());
}

#[tokio::test]
async fn an_unusable_last_event_id_counts_as_absent_as_for_a_real_request() {
    let empty = TestPublisher::get("/").with_last_event_id("");
    assert_eq!(empty.last_event_id(), None);
    let long = TestPublisher::get("/").with_last_event_id(&"x".repeat(2048));
    assert_eq!(long.last_event_id(), None);
    let not_utf8 = TestPublisher::get("/")
        .with_header("last-event-id", HeaderValue::from_bytes(b"\xff").unwrap());
    assert_eq!(not_utf8.last_event_id(), None);
}

#[test]
#[should_panic(expected = "Last-Event-ID")]
fn a_last_event_id_no_browser_sends_panics() {
    let _ = TestPublisher::get("/").with_last_event_id("a\nb");
}

#[tokio::test]
async fn items_come_in_order_with_retry_comments_and_ids() {
    let events = stream::iter([
        Event::message("one").with_id(1),
        Event::new().with_comment("just saying"),
        Event::message("two\nlines").with_event("multi"),
    ]);
    let options = PublishOptions::new().with_retry(Duration::from_millis(1500));
    let mut response = TestPublisher::get("/").publish_with(events, options);
    assert_eq!(
        response.next_item().await,
        Some(Decoded::Retry(Duration::from_millis(1500)))
    );
    let Some(Decoded::Event(one)) = response.next_item().await else {
        panic!("an event")
    };
    assert_eq!(
        (one.data.as_str(), one.last_event_id.as_str()),
        ("one", "1")
    );
    assert_eq!(
        response.next_item().await,
        Some(Decoded::Comment("just saying".into()))
    );
    let two = response.next_event().await.unwrap();
    assert_eq!(
        (two.event_type.as_str(), two.data.as_str()),
        ("multi", "two\nlines")
    );
    assert_eq!(
        two.last_event_id, "1",
        "the id carries over, as in a browser"
    );
    assert_eq!(response.next_item().await, None);
    assert_eq!(response.next_event().await, None, "stays ended");
    assert_eq!(response.retry(), Some(Duration::from_millis(1500)));
    assert_eq!(
        String::from_utf8(response.received().to_vec()).unwrap(),
        "retry: 1500\n\nid: 1\ndata: one\n\n: just saying\n\nevent: multi\ndata: two\ndata: lines\n\n"
    );
    assert_eq!(
        response.text().await,
        String::from_utf8_lossy(response.received())
    );
}

#[tokio::test]
async fn next_events_stops_at_n_or_at_the_end() {
    let events = (1..=5).map(|n| Event::message(n.to_string()));
    let mut response = TestPublisher::get("/").publish(stream::iter(events));
    let data = |events: Vec<ssekit::decode::MessageEvent>| -> Vec<String> {
        events.into_iter().map(|event| event.data).collect()
    };
    assert_eq!(data(response.next_events(2).await), ["1", "2"]);
    assert_eq!(data(response.next_events(10).await), ["3", "4", "5"]);
    assert!(response.next_events(1).await.is_empty());
}

#[tokio::test]
async fn complete_answers_have_their_status_headers_and_body() {
    let publisher = TestPublisher::get("/");
    let mut refused = publisher.reject(StatusCode::FORBIDDEN, "not you");
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(refused.text().await, "not you");

    let mut done = publisher.no_content();
    assert_eq!(done.status(), 204);
    assert!(done.collect_events().await.is_empty());
    assert!(done.is_finished());

    let busy = publisher.too_many_streams(Duration::from_secs(5));
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "5");
}

/// A handler in the imperative style, that reports when it saw the client go.
async fn watcher<P: SsePublisher>(publisher: P, saw_close: oneshot::Sender<()>) -> P::Response {
    let (sender, receiver) = ssekit::channel(4);
    tokio::spawn(async move {
        // Fails if the client has gone already: closed() still resolves.
        let _ = sender.send_data("hello").await;
        sender.closed().await;
        assert!(sender.send_data("anyone?").await.is_err());
        saw_close.send(()).unwrap();
    });
    publisher.publish(receiver)
}

#[tokio::test(start_paused = true)]
async fn disconnecting_fires_the_handlers_closed() {
    let (saw_close, closed) = oneshot::channel();
    let mut response = watcher(TestPublisher::get("/"), saw_close).await;
    assert_eq!(response.next_event().await.unwrap().data, "hello");
    let mut closed = std::pin::pin!(closed);
    // Still connected: the handler is waiting (the keep-alives keep coming).
    assert!(
        tokio::time::timeout(Duration::from_secs(60), closed.as_mut())
            .await
            .is_err()
    );
    response.disconnect();
    tokio::time::timeout(Duration::from_secs(1), closed)
        .await
        .expect("closed() fired")
        .unwrap();
}

#[tokio::test]
async fn dropping_the_response_fires_closed_too_on_real_time() {
    let (saw_close, closed) = oneshot::channel();
    let response = watcher(TestPublisher::get("/"), saw_close).await;
    drop(response); // before reading anything
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("closed() fired")
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_hub_subscription_leaves_when_the_client_does() {
    let hub: Hub = Hub::new();
    let subscribe = |publisher: TestPublisher| {
        let hub = hub.clone();
        async move { publisher.publish(hub.subscribe("room", publisher.last_event_id())) }
    };
    let mut alice = subscribe(TestPublisher::get("/room")).await;
    let bob = subscribe(TestPublisher::get("/room")).await;
    assert_eq!(hub.subscriber_count("room"), 2);

    let report = hub.publish("room", Event::message("hi"));
    assert_eq!(report.delivered, 2);
    let hi = alice.next_event().await.unwrap();
    assert_eq!(hi.data, "hi");

    bob.disconnect();
    assert_eq!(hub.subscriber_count("room"), 1);
    alice.disconnect();
    assert_eq!(hub.subscriber_count("room"), 0);

    // Back with the id it saw: the hub replays what it missed.
    hub.publish("room", Event::message("missed"));
    let mut back =
        subscribe(TestPublisher::get("/room").with_last_event_id(&hi.last_event_id)).await;
    assert_eq!(back.next_event().await.unwrap().data, "missed");
}

#[tokio::test(start_paused = true)]
async fn keep_alives_arrive_on_paused_time_without_waiting() {
    let started_real = std::time::Instant::now();
    let started = Instant::now();
    let options = PublishOptions::new().with_keep_alive(KeepAlive::new()); // every 15 s
    let mut response = TestPublisher::get("/").publish_with(stream::pending::<Event>(), options);
    for n in 1..=3 {
        assert_eq!(
            response.next_item().await,
            Some(Decoded::Comment("keep-alive".into()))
        );
        assert_eq!(started.elapsed(), KeepAlive::DEFAULT_INTERVAL * n);
    }
    assert!(
        started_real.elapsed() < Duration::from_secs(5),
        "no real waiting"
    );
}

/// Ticks once a second, from the query's `from` down to 1.
async fn ticker<P: SsePublisher>(publisher: P) -> P::Response {
    let from: u64 = publisher
        .request()
        .query_param("from")
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let ticks = stream::iter((1..=from).rev()).then(|n| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Event::message(n.to_string()).with_id(n)
    });
    publisher.publish(ticks)
}

#[tokio::test(start_paused = true)]
async fn a_ticking_handler_runs_on_paused_time() {
    let started = Instant::now();
    let mut response =
        ticker(TestPublisher::get("/tick?from=100").with_timeout(Duration::from_secs(200))).await;
    let first = response.next_event().await.unwrap();
    assert_eq!(first.data, "100");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    let rest = response.collect_events().await;
    assert_eq!(rest.len(), 99);
    assert_eq!(rest.last().unwrap().data, "1");
    assert_eq!(started.elapsed(), Duration::from_secs(100));
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "waited 30s (Tokio time) for the end of the stream")]
async fn collecting_an_endless_stream_fails_instead_of_hanging() {
    let mut response = TestPublisher::get("/").publish(stream::pending::<Event>());
    let _ = response.collect_events().await;
}

#[tokio::test(start_paused = true)]
#[should_panic(expected = "waited 5s (Tokio time) for the next event")]
async fn keep_alives_do_not_satisfy_a_wait_for_an_event() {
    let options = PublishOptions::new()
        .with_keep_alive(KeepAlive::new().with_interval(Duration::from_secs(1)));
    let publisher = TestPublisher::get("/").with_timeout(Duration::from_secs(5));
    let mut response = publisher.publish_with(stream::pending::<Event>(), options);
    let _ = response.next_event().await;
}

#[tokio::test(start_paused = true)]
async fn a_read_cut_short_by_a_timeout_leaves_the_response_usable() {
    let (sender, receiver) = ssekit::channel(4);
    let options = PublishOptions::new().without_keep_alive();
    let mut response = TestPublisher::get("/").publish_with(receiver, options);
    // Nothing for a while: a shorter timeout around the read says so.
    let waited = tokio::time::timeout(Duration::from_secs(3), response.next_event()).await;
    assert!(waited.is_err());
    let started = Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        sender.send_data("late").await.unwrap();
        sender.closed().await;
    });
    assert_eq!(response.next_event().await.unwrap().data, "late");
    assert_eq!(started.elapsed(), Duration::from_secs(2));
}
