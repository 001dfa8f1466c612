//! `ssekit::hub::Topics` over real HTTP on every adapter: one
//! `EventSource` following three topics, the server stopped and a new one
//! started on the same port and the same hub (the hub outlives the server,
//! as a backplane outlives a node), and the client's one `Last-Event-ID`
//! resumes all three exactly.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use ssekit::hub::{Hub, Topics};
use ssekit::{Event, PublishOptions, Shutdown, SsePublisher};
use ssekit_client::{EventSource, Item};
use ssekit_test_support::{per_framework, Framework, Handler, Options, Server};

const TOPICS: [&str; 3] = ["rooms/a", "rooms/b", "feeds/c"];

/// Every request follows the three topics; the shutdown signal is the
/// server's (a new server gets a new one), the hub outlives it.
#[derive(Clone)]
struct Follow {
    hub: Hub,
    shutdown: Shutdown,
}

impl Handler for Follow {
    async fn handle<P>(&self, publisher: P) -> P::Response
    where
        P: SsePublisher + Send + 'static,
    {
        let stream = Topics::subscribe(&self.hub, &TOPICS, publisher.last_event_id())
            .expect("three topics fit");
        let options = PublishOptions::new()
            .without_keep_alive()
            .with_shutdown(&self.shutdown);
        publisher.publish_with(stream, options)
    }
}

fn run<Fut: std::future::Future<Output = ()>>(framework: Framework, body: fn(Framework) -> Fut) {
    ssekit_test_support::runtime().block_on(body(framework));
}

/// Generous: a correctness test, not a timing test.
async fn next(source: &mut EventSource) -> Item {
    tokio::time::timeout(Duration::from_secs(30), source.next())
        .await
        .expect("an item within 30 s")
        .expect("the stream goes on")
        .expect("no error")
}

async fn wait_for_subscribers(hub: &Hub) {
    let joined = tokio::time::timeout(Duration::from_secs(30), async {
        while TOPICS.iter().any(|topic| hub.subscriber_count(*topic) == 0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(joined.is_ok(), "the stream never joined every topic");
}

/// Reads events until `count` more arrived, into `seen` (topic → data),
/// counting reconnections.
async fn read(
    source: &mut EventSource,
    count: usize,
    seen: &mut BTreeMap<String, Vec<String>>,
    reconnections: &mut usize,
) {
    let mut got = 0;
    while got < count {
        match next(source).await {
            Item::Event(event) => {
                assert_eq!(event.event_type, "message", "no gap expected: {event:?}");
                let (topic, n) = event.data.split_once(' ').expect("topic n");
                seen.entry(topic.to_owned()).or_default().push(n.to_owned());
                got += 1;
            }
            Item::Reconnecting(_) => *reconnections += 1,
            Item::Open(_) => {}
            other => panic!("{other:?}"),
        }
    }
}

impl Follow {
    fn new(hub: &Hub) -> Self {
        Self {
            hub: hub.clone(),
            shutdown: Shutdown::new(),
        }
    }
}

/// A server following the three topics, and an `EventSource` on it, open
/// and subscribed.
async fn open(framework: Framework, hub: &Hub) -> (Follow, Server, EventSource) {
    let follow = Follow::new(hub);
    let server = Server::start(framework, follow.clone()).await;
    let mut source = EventSource::get(server.url("/rooms"))
        .with_retry(Duration::from_millis(50))
        .with_max_backoff(Duration::from_millis(200))
        .build();
    assert!(matches!(next(&mut source).await, Item::Open(_)));
    wait_for_subscribers(hub).await;
    (follow, server, source)
}

/// Ends the server's streams (its shutdown signal) and the server.
async fn stop(follow: Follow, server: Server) {
    follow.shutdown.trigger();
    server
        .shutdown(Duration::from_secs(10))
        .await
        .expect("graceful shutdown");
}

async fn resume_on_three_topics(framework: Framework) {
    let hub = Hub::new();
    let (follow, server, mut source) = open(framework, &hub).await;
    let port = server.addr().port();
    // Only topic a has events before the server goes: b and c are resumed
    // from the positions of the stream's id-only first frame.
    let mut seen = BTreeMap::new();
    let mut reconnections = 0;
    for n in 1..=2 {
        hub.publish("rooms/a", Event::message(format!("rooms/a {n}")));
    }
    read(&mut source, 2, &mut seen, &mut reconnections).await;

    stop(follow, server).await;
    // Published while no server runs, on every topic.
    hub.publish("rooms/a", Event::message("rooms/a 3"));
    hub.publish("rooms/b", Event::message("rooms/b 1"));
    hub.publish("feeds/c", Event::message("feeds/c 1"));
    hub.publish("rooms/b", Event::message("rooms/b 2"));
    let server =
        Server::start_with(framework, Follow::new(&hub), Options::new().with_port(port)).await;
    read(&mut source, 4, &mut seen, &mut reconnections).await;
    assert!(reconnections >= 1, "{framework}: never reconnected");
    // Live again on all three.
    for topic in TOPICS {
        hub.publish(topic, Event::message(format!("{topic} live")));
    }
    read(&mut source, 3, &mut seen, &mut reconnections).await;
    let expected: BTreeMap<String, Vec<String>> = [
        ("feeds/c", &["1", "live"][..]),
        ("rooms/a", &["1", "2", "3", "live"][..]),
        ("rooms/b", &["1", "2", "live"][..]),
    ]
    .into_iter()
    .map(|(topic, ns)| {
        (
            topic.to_owned(),
            ns.iter().map(|n| (*n).to_owned()).collect(),
        )
    })
    .collect();
    assert_eq!(seen, expected, "{framework}");
    drop(source);
    drop(server);
}
per_framework!(run; three_topics_resume_exactly_after_a_restart => resume_on_three_topics);

/// A client whose server goes before any event at all still resumes every
/// topic exactly: the stream's id-only first frame set its last event id
/// (per WHATWG, an event with no data is not dispatched, its id is kept),
/// and the reconnect sends it.
async fn resume_before_any_event(framework: Framework) {
    let hub = Hub::new();
    // History from before the stream: not owed to it.
    hub.publish("rooms/b", Event::message("rooms/b before"));
    let (follow, server, mut source) = open(framework, &hub).await;
    let port = server.addr().port();
    stop(follow, server).await;
    for topic in TOPICS {
        hub.publish(topic, Event::message(format!("{topic} away")));
    }
    let server =
        Server::start_with(framework, Follow::new(&hub), Options::new().with_port(port)).await;
    let mut seen = BTreeMap::new();
    let mut reconnections = 0;
    read(&mut source, 3, &mut seen, &mut reconnections).await;
    assert!(reconnections >= 1, "{framework}: never reconnected");
    for topic in TOPICS {
        hub.publish(topic, Event::message(format!("{topic} live")));
    }
    read(&mut source, 3, &mut seen, &mut reconnections).await;
    for topic in TOPICS {
        assert_eq!(
            seen[topic],
            ["away", "live"],
            "{framework}: {topic}: {seen:?}"
        );
    }
    drop(source);
    drop(server);
}
per_framework!(run; a_client_with_no_event_yet_resumes_exactly => resume_before_any_event);
