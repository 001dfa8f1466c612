//! `ssekit::presence` over real HTTP on every adapter: each `EventSource`
//! is a member of the room while its connection is open, sees who is
//! present when it connects, then who joins and leaves, among the room's
//! own events.

use std::time::Duration;

use futures_util::StreamExt;
use ssekit::hub::Hub;
use ssekit::presence::{Member, Presence, PresenceConfig};
use ssekit::{Event, KeepAlive, PublishOptions, SsePublisher};
use ssekit_client::{EventSource, Item, MessageEvent};
use ssekit_test_support::{per_framework, Framework, Handler, Server};

/// `GET /room?user=NAME`: the room's stream, with NAME present while it is
/// open.
#[derive(Clone)]
struct Room {
    presence: Presence<Hub>,
}

impl Handler for Room {
    async fn handle<P>(&self, publisher: P) -> P::Response
    where
        P: SsePublisher + Send + 'static,
    {
        let member = publisher.request().query_param("user").map(Member::new);
        let Some(Ok(member)) = member else {
            return publisher.reject(http::StatusCode::BAD_REQUEST, "user=NAME is required");
        };
        match self
            .presence
            .subscribe("room", member, publisher.last_event_id())
        {
            // Keep-alives let every framework notice a client gone at once.
            Ok(stream) => publisher.publish_with(
                stream,
                PublishOptions::new()
                    .with_keep_alive(KeepAlive::new().with_interval(Duration::from_millis(100))),
            ),
            Err(refused) => {
                publisher.reject(http::StatusCode::SERVICE_UNAVAILABLE, refused.to_string())
            }
        }
    }
}

fn run<Fut: std::future::Future<Output = ()>>(framework: Framework, body: fn(Framework) -> Fut) {
    ssekit_test_support::runtime().block_on(body(framework));
}

/// The next event, skipping the open; generous: a correctness test.
async fn next_event(source: &mut EventSource) -> MessageEvent {
    loop {
        let item = tokio::time::timeout(Duration::from_secs(30), source.next())
            .await
            .expect("an item within 30 s")
            .expect("the stream goes on")
            .expect("no error");
        match item {
            Item::Event(event) => return event,
            Item::Open(_) => {}
            other => panic!("{other:?}"),
        }
    }
}

async fn connect(server: &Server, user: &str) -> EventSource {
    EventSource::get(server.url(&format!("/room?user={user}"))).build()
}

async fn presence_over_http(framework: Framework) {
    let hub = Hub::new();
    let config = PresenceConfig::new().with_max_members(2);
    let room = Room {
        presence: Presence::with_config(hub.clone(), config),
    };
    let server = Server::start(framework, room.clone()).await;

    let mut alice = connect(&server, "alice").await;
    let present = next_event(&mut alice).await;
    assert_eq!(present.event_type, "presence", "{framework}");
    assert_eq!(
        present.data, r#"{"present":[{"id":"alice"}]}"#,
        "{framework}"
    );

    let mut bob = connect(&server, "bob").await;
    assert_eq!(
        next_event(&mut bob).await.data,
        r#"{"present":[{"id":"alice"},{"id":"bob"}]}"#,
        "{framework}"
    );
    assert_eq!(
        next_event(&mut alice).await.data,
        r#"{"joined":{"id":"bob"}}"#,
        "{framework}"
    );

    // The room's own events, among presence's, with their ids.
    let id = hub
        .publish("room", Event::message("hello"))
        .id
        .expect("an id");
    for source in [&mut alice, &mut bob] {
        let event = next_event(source).await;
        assert_eq!(
            (event.data.as_str(), event.last_event_id.as_str()),
            ("hello", id.as_str())
        );
    }

    // A third member is over the bound: refused with the cause.
    let refused = reqwest::get(server.url("/room?user=carol"))
        .await
        .expect("an answer");
    assert_eq!(refused.status(), 503, "{framework}");
    assert!(
        refused.text().await.unwrap().contains("2 members"),
        "{framework}"
    );
    let no_name = reqwest::get(server.url("/room")).await.expect("an answer");
    assert_eq!(no_name.status(), 400, "{framework}");

    // The client goes: the framework drops the stream, bob leaves.
    drop(bob);
    let left = next_event(&mut alice).await;
    assert_eq!(left.data, r#"{"left":{"id":"bob"}}"#, "{framework}");
    assert_eq!(
        left.last_event_id, id,
        "{framework}: presence events carry no id"
    );
    assert_eq!(
        room.presence.local_members("room"),
        [Member::new("alice").unwrap()]
    );
    drop(alice);
}
per_framework!(run; members_join_and_leave_with_their_connections => presence_over_http);
