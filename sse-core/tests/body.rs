//! The response body and the channel on a Tokio runtime, with paused time.

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use futures_util::FutureExt;
use ssekit::adapter::SseBody;
use ssekit::channel::{SendError, TrySendError};
use ssekit::{channel, Event, Frame, KeepAlive, PublishOptions, Shutdown};

fn text(bytes: Bytes) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The next chunk of the body, waiting up to `within` of (paused) time.
async fn next_within(body: &mut SseBody, within: Duration) -> Option<String> {
    tokio::time::timeout(within, body.next())
        .await
        .ok()
        .map(|chunk| text(chunk.expect("body ended").unwrap()))
}

async fn collect(body: SseBody) -> String {
    body.map(|chunk| text(chunk.unwrap()))
        .collect::<Vec<_>>()
        .await
        .concat()
}

#[tokio::test(start_paused = true)]
async fn each_event_is_its_own_frame_and_the_body_ends_with_the_source() {
    let events = stream::iter([Event::message("a"), Event::new(), Event::message("b")]);
    let mut body = SseBody::new(events, &PublishOptions::new());
    assert_eq!(body.next().await.unwrap().unwrap(), "data: a\n\n");
    // The empty event produced no bytes and no empty chunk.
    assert_eq!(body.next().await.unwrap().unwrap(), "data: b\n\n");
    assert!(body.next().await.is_none());
    assert!(body.is_finished());
    assert!(body.next().await.is_none(), "stays ended");
}

#[tokio::test(start_paused = true)]
async fn retry_hint_comes_first() {
    let options = PublishOptions::new().with_retry(Duration::from_millis(2500));
    let body = SseBody::new(stream::iter([Event::message("x")]), &options);
    assert_eq!(collect(body).await, "retry: 2500\n\ndata: x\n\n");
}

#[tokio::test(start_paused = true)]
async fn keep_alive_fires_only_when_idle() {
    let (sender, receiver) = channel(8);
    let options = PublishOptions::new()
        .with_keep_alive(KeepAlive::new().with_interval(Duration::from_secs(10)));
    let mut body = SseBody::new(receiver, &options);

    // Idle: nothing before 10 s, a comment at 10 s.
    assert_eq!(
        next_within(&mut body, Duration::from_millis(9_999)).await,
        None
    );
    assert_eq!(
        next_within(&mut body, Duration::from_millis(2))
            .await
            .as_deref(),
        Some(": keep-alive\n\n")
    );

    // An event 4 s later restarts the interval: nothing until 10 s after it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    sender.send_data("hi").await.unwrap();
    assert_eq!(
        next_within(&mut body, Duration::from_millis(1))
            .await
            .as_deref(),
        Some("data: hi\n\n")
    );
    assert_eq!(
        next_within(&mut body, Duration::from_millis(9_990)).await,
        None
    );
    assert_eq!(
        next_within(&mut body, Duration::from_millis(20))
            .await
            .as_deref(),
        Some(": keep-alive\n\n")
    );
}

#[tokio::test(start_paused = true)]
async fn busy_stream_gets_no_keep_alive() {
    let (sender, receiver) = channel(8);
    let options = PublishOptions::new().with_keep_alive(
        KeepAlive::new()
            .with_interval(Duration::from_secs(1))
            .with_text("ka"),
    );
    let mut body = SseBody::new(receiver, &options);
    for n in 0..30 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        sender.send_data(n.to_string()).await.unwrap();
        let chunk = next_within(&mut body, Duration::from_millis(1))
            .await
            .unwrap();
        assert_eq!(chunk, format!("data: {n}\n\n"));
    }
}

#[tokio::test(start_paused = true)]
async fn no_keep_alive_when_disabled() {
    let (_sender, receiver) = channel(1);
    let mut body = SseBody::new(receiver, &PublishOptions::new().without_keep_alive());
    assert_eq!(
        next_within(&mut body, Duration::from_secs(3600)).await,
        None
    );
}

#[tokio::test(start_paused = true)]
async fn default_keep_alive_is_fifteen_seconds() {
    let (_sender, receiver) = channel(1);
    let mut body = SseBody::new(receiver, &PublishOptions::new());
    assert_eq!(
        next_within(&mut body, Duration::from_millis(14_999)).await,
        None
    );
    assert!(next_within(&mut body, Duration::from_millis(2))
        .await
        .is_some());
}

#[test]
fn polling_outside_a_runtime_does_not_panic() {
    let (_sender, receiver) = channel(1);
    let mut body = SseBody::new(receiver, &PublishOptions::new());
    assert!(body.next().now_or_never().is_none());
    assert!(body.next().now_or_never().is_none());
}

#[tokio::test(start_paused = true)]
async fn shutdown_sends_final_event_and_ends() {
    let shutdown = Shutdown::new();
    let (sender, receiver) = channel(8);
    let mut body = SseBody::new(receiver, &PublishOptions::new().with_shutdown(&shutdown));
    sender.send_data("1").await.unwrap();
    assert_eq!(body.next().await.unwrap().unwrap(), "data: 1\n\n");
    shutdown.trigger_with(Event::message("bye").with_event("shutdown"));
    assert_eq!(collect(body).await, "event: shutdown\ndata: bye\n\n");
    // The body was dropped, so the producer learns the stream is gone.
    assert!(matches!(
        sender.send_data("2").await,
        Err(SendError::Closed)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_lets_go_of_the_source_before_the_body_is_dropped() {
    let shutdown = Shutdown::new();
    let (sender, receiver) = channel(8);
    let mut body = SseBody::new(receiver, &PublishOptions::new().with_shutdown(&shutdown));
    shutdown.trigger_with(Event::message("bye"));
    assert_eq!(
        body.next().await.unwrap().unwrap(),
        "data: bye

"
    );
    // The framework still holds the body (a slow client may not have read the
    // last event yet), but the producer already knows.
    assert!(sender.is_closed());
    assert!(body.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_failed_source_is_let_go_of_before_the_body_is_dropped() {
    let (sender, receiver) = channel(8);
    let dropped = std::sync::Arc::new(());
    let guard = dropped.clone();
    let source = receiver.map(move |frame| {
        let _keep = &guard;
        if frame.as_bytes() == b"data: fail\n\n" {
            Err("bad")
        } else {
            Ok(frame)
        }
    });
    let options = PublishOptions::new().with_error_event(|_| Some(Event::message("sorry")));
    let mut body = SseBody::new(source, &options);
    sender.send_data("fail").await.unwrap();
    assert_eq!(body.next().await.unwrap().unwrap(), "data: sorry\n\n");
    assert!(sender.is_closed());
    assert_eq!(
        std::sync::Arc::strong_count(&dropped),
        1,
        "the source is gone"
    );
    assert!(body.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn shutdown_triggered_before_first_poll_ends_at_once() {
    let shutdown = Shutdown::new();
    shutdown.trigger();
    let body = SseBody::new(
        stream::pending::<Event>(),
        &PublishOptions::new().with_shutdown(&shutdown),
    );
    assert_eq!(collect(body).await, "");
}

#[tokio::test(start_paused = true)]
async fn source_error_ends_cleanly_with_the_mapped_event() {
    let source = stream::iter(vec![
        Ok(Event::message("ok")),
        Err(std::io::Error::other("database gone")),
        Ok(Event::message("never")),
    ]);
    let options = PublishOptions::new().with_error_event(|error| {
        Event::message(error.to_string())
            .try_with_event("error")
            .ok()
    });
    assert_eq!(
        collect(SseBody::new(source, &options)).await,
        "data: ok\n\nevent: error\ndata: database gone\n\n"
    );
}

#[tokio::test(start_paused = true)]
async fn source_error_without_mapper_just_ends() {
    let source = stream::iter(vec![Ok(Event::message("ok")), Err("boom")]);
    assert_eq!(
        collect(SseBody::new(source, &PublishOptions::new())).await,
        "data: ok\n\n"
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_source_ends_the_stream_cleanly() {
    let source = stream::iter(0..3).map(|n| {
        if n == 1 {
            panic!("handler bug");
        }
        Event::message(n.to_string())
    });
    assert_eq!(
        collect(SseBody::new(source, &PublishOptions::new())).await,
        "data: 0\n\n"
    );
}

#[tokio::test(start_paused = true)]
async fn invalid_events_from_a_fallible_source_end_the_stream() {
    let source = stream::iter(["ok", "bad\nid"]).map(|id| Event::message("x").try_with_id(id));
    assert_eq!(
        collect(SseBody::new(source, &PublishOptions::new())).await,
        "id: ok\ndata: x\n\n"
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_the_body_tells_the_sender() {
    let (sender, receiver) = channel(4);
    let body = SseBody::new(receiver, &PublishOptions::new());
    assert!(!sender.is_closed());
    let closed = tokio::spawn({
        let sender = sender.clone();
        async move { sender.closed().await }
    });
    drop(body); // the client went away
    tokio::time::timeout(Duration::from_secs(1), closed)
        .await
        .unwrap()
        .unwrap();
    assert!(sender.is_closed());
    assert!(matches!(
        sender.send_data("x").await,
        Err(SendError::Closed)
    ));
    assert_eq!(
        sender.try_send(Event::message("x")),
        Err(TrySendError::Closed)
    );
}

#[tokio::test(start_paused = true)]
async fn send_waits_while_the_queue_is_full() {
    let (sender, mut receiver) = channel(2);
    sender.send_data("1").await.unwrap();
    sender.try_send(Event::message("2")).unwrap();
    assert_eq!(
        sender.try_send(Event::message("3")),
        Err(TrySendError::Full)
    );

    let blocked = tokio::spawn({
        let sender = sender.clone();
        async move { sender.send_data("3").await }
    });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!blocked.is_finished(), "send must wait for room");

    assert_eq!(receiver.next().await.unwrap().as_bytes(), b"data: 1\n\n");
    blocked.await.unwrap().unwrap();
    assert_eq!(receiver.next().await.unwrap().as_bytes(), b"data: 2\n\n");
    assert_eq!(receiver.next().await.unwrap().as_bytes(), b"data: 3\n\n");
}

#[tokio::test(start_paused = true)]
async fn a_send_waiting_on_a_full_queue_fails_when_the_client_leaves() {
    let (sender, receiver) = channel(1);
    sender.send_data("1").await.unwrap();
    let blocked = tokio::spawn({
        let sender = sender.clone();
        async move { sender.send_data("2").await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(receiver);
    assert!(matches!(blocked.await.unwrap(), Err(SendError::Closed)));
}

#[tokio::test(start_paused = true)]
async fn a_send_waiting_on_a_full_queue_fails_on_close() {
    let (sender, _receiver) = channel(1);
    sender.send_data("1").await.unwrap();
    let blocked = tokio::spawn({
        let sender = sender.clone();
        async move { sender.send_data("2").await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    sender.close();
    assert!(matches!(blocked.await.unwrap(), Err(SendError::Closed)));
}

#[tokio::test(start_paused = true)]
async fn close_from_the_sender_delivers_what_is_queued_then_ends() {
    let (sender, receiver) = channel(8);
    let mut body = SseBody::new(receiver, &PublishOptions::new());
    sender.send_data("1").await.unwrap();
    sender.comment("note").await.unwrap();
    sender.close();
    assert!(sender.is_closed());
    assert!(matches!(
        sender.send_data("late").await,
        Err(SendError::Closed)
    ));
    assert_eq!(body.next().await.unwrap().unwrap(), "data: 1\n\n");
    assert_eq!(body.next().await.unwrap().unwrap(), ": note\n\n");
    assert!(body.next().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn close_wakes_an_idle_body() {
    let (sender, receiver) = channel(8);
    let body = SseBody::new(receiver, &PublishOptions::new().without_keep_alive());
    let collected = tokio::spawn(collect(body));
    tokio::time::sleep(Duration::from_secs(1)).await;
    sender.close();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(1), collected)
            .await
            .unwrap()
            .unwrap(),
        ""
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_every_sender_ends_the_body() {
    let (sender, receiver) = channel(8);
    let body = SseBody::new(receiver, &PublishOptions::new());
    sender.send_data("last").await.unwrap();
    drop(sender);
    assert_eq!(collect(body).await, "data: last\n\n");
}

#[tokio::test(start_paused = true)]
async fn json_helpers() {
    let (sender, mut receiver) = channel(8);
    sender
        .send_json(&serde_json::json!({"a": [1, 2]}))
        .await
        .unwrap();
    assert_eq!(
        receiver.next().await.unwrap().as_bytes(),
        b"data: {\"a\":[1,2]}\n\n"
    );
    let event = Event::new().with_json(&"line\nbreak").unwrap();
    assert_eq!(event.data(), Some("\"line\\nbreak\""));
}

#[tokio::test(start_paused = true)]
async fn a_frame_is_shared_not_copied() {
    let frame = Event::message("x".repeat(1000)).encode();
    let (a, mut ra) = channel(1);
    let (b, mut rb) = channel(1);
    a.send_frame(frame.clone()).await.unwrap();
    b.send_frame(frame.clone()).await.unwrap();
    let (fa, fb): (Frame, Frame) = (ra.next().await.unwrap(), rb.next().await.unwrap());
    assert_eq!(fa.as_bytes().as_ptr(), frame.as_bytes().as_ptr());
    assert_eq!(fb.as_bytes().as_ptr(), frame.as_bytes().as_ptr());
}

#[tokio::test(start_paused = true)]
async fn http_body_view_matches_stream_view() {
    use http_body_util::BodyExt;
    let events = stream::iter([Event::message("a"), Event::message("b")]);
    let body = SseBody::new(events, &PublishOptions::new());
    let bytes = BodyExt::collect(body).await.unwrap().to_bytes();
    assert_eq!(bytes, "data: a\n\ndata: b\n\n");
    assert!(http_body::Body::is_end_stream(&SseBody::empty()));
}

#[test]
fn the_body_is_send_and_sync_whatever_the_source() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    // A source that is Send but not Sync.
    let source = stream::iter([Event::message("x")]).map(|e| (std::cell::Cell::new(0), e).1);
    assert_send_sync(&SseBody::new(source, &PublishOptions::new()));
}
