//! The metrics of ssekit's `metrics` feature, over real HTTP on every
//! adapter: a recorder installed once for this binary sees the open-streams
//! gauge go up and back down, the frames and bytes the client received, a
//! resume and its replay size, gap notices by reason, a lag disconnect and
//! a stream-limit refusal.
//!
//! The recorder is global: the tests run one at a time (`ALONE`) and read
//! what changed since their start, so the unlabelled hub metrics add up
//! exactly; the stream metrics also carry each framework's `adapter` label.

use std::cell::Cell;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ssekit::decode::{Decoded, Decoder, MessageEvent};
use ssekit::hub::{Hub, HubConfig};
use ssekit::{Event, SsePublisher, StreamCaps, StreamLimits};
use ssekit_test_support::recorder::{self, Since};
use ssekit_test_support::{per_framework, Framework, Handler, Server};

/// One framework at a time: the hub metrics have no label to tell them apart.
static ALONE: Mutex<()> = Mutex::new(());

/// Generous: every wait here takes milliseconds.
const PATIENCE: Duration = Duration::from_secs(20);

fn run<Fut: Future<Output = ()>>(framework: Framework, body: fn(Framework) -> Fut) {
    let _alone = ALONE.lock().unwrap_or_else(PoisonError::into_inner);
    recorder::install();
    ssekit_test_support::runtime().block_on(body(framework));
}

/// Subscribes to the hub topic `?topic=`; `/lag` to the small-queue hub;
/// `/limited` is always over its global cap, `/limited?topic=` over its cap
/// per topic.
#[derive(Clone)]
struct App {
    hub: Hub,
    lagging: Hub,
    full: StreamLimits,
}

impl Handler for App {
    async fn handle<P>(&self, publisher: P) -> P::Response
    where
        P: SsePublisher + Send + 'static,
    {
        let request = publisher.request();
        match request.path() {
            "/limited" => match self
                .full
                .try_acquire(request.query_param("topic").as_deref())
            {
                Ok(permit) => publisher.publish(permit.attach(self.hub.subscribe("limited", None))),
                Err(_) => publisher.too_many_streams(Duration::from_secs(1)),
            },
            "/lag" => publisher.publish(self.lagging.subscribe("lag", None)),
            _ => {
                let topic = request.query_param("topic").unwrap_or_default();
                publisher.publish(self.hub.subscribe(&topic, publisher.last_event_id()))
            }
        }
    }
}

/// A client's stream: what it received, decoded and in bytes.
struct Client {
    response: reqwest::Response,
    decoder: Decoder,
    events: Vec<MessageEvent>,
    bytes: u64,
}

impl Client {
    async fn open(server: &Server, path: &str, last_event_id: Option<&str>) -> Self {
        let mut request = reqwest::Client::new().get(server.url(path));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = tokio::time::timeout(PATIENCE, request.send())
            .await
            .expect("the head in time")
            .expect("a response");
        assert_eq!(response.status(), 200, "{path}");
        Self {
            response,
            decoder: Decoder::new(),
            events: Vec::new(),
            bytes: 0,
        }
    }

    /// Reads one chunk; false at the end of the body.
    async fn read(&mut self) -> bool {
        let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
            .await
            .expect("a chunk in time")
            .expect("the body");
        let Some(chunk) = chunk else { return false };
        self.bytes += chunk.len() as u64;
        for decoded in self.decoder.feed(&chunk).expect("a valid stream") {
            if let Decoded::Event(event) = decoded {
                self.events.push(event);
            }
        }
        true
    }

    /// Reads until it has `count` events.
    async fn events(&mut self, count: usize) -> &[MessageEvent] {
        while self.events.len() < count {
            assert!(
                self.read().await,
                "the stream ended after {:?}",
                self.events
            );
        }
        &self.events
    }

    /// Reads to the end of the body.
    async fn read_to_end(&mut self) {
        while self.read().await {}
    }
}

/// Waits until `done` holds, doing `meanwhile` between looks.
async fn eventually(what: &str, mut done: impl FnMut() -> bool, mut meanwhile: impl FnMut()) {
    let start = tokio::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "still not: {what}");
        meanwhile();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn metrics_over_http(framework: Framework) {
    let adapter = framework.name();
    // The topics gauge counts every hub of the process: those of a test
    // before this one (even a failed one) go with it.
    eventually(
        "no hub left from another test",
        || recorder::gauge("ssekit_hub_topics{}") == 0.0,
        || {},
    )
    .await;
    let since = Since::now();
    let open = format!("ssekit_streams_open{{adapter={adapter}}}");
    let opened = format!("ssekit_streams_opened_total{{adapter={adapter},resumed=false}}");
    let resumed = format!("ssekit_streams_opened_total{{adapter={adapter},resumed=true}}");
    let closed =
        |reason: &str| format!("ssekit_streams_closed_total{{adapter={adapter},reason={reason}}}");
    let frames = format!("ssekit_frames_sent_total{{adapter={adapter}}}");
    let bytes = format!("ssekit_bytes_sent_total{{adapter={adapter}}}");
    let gaps = |reason: &str| format!("ssekit_gap_notices_total{{reason={reason}}}");
    let topics = "ssekit_hub_topics{}";
    let published = "ssekit_hub_events_published_total{}";
    let replays = "ssekit_hub_replay_events{}";

    let hub: Hub = Hub::with_config(HubConfig::new().with_history(4));
    let lagging: Hub = Hub::with_config(HubConfig::new().with_queue(2).with_history(0));
    // Room for one stream, on no topic: the second ever asked for is refused
    // by the global cap; any on a topic by the topic's.
    let full = StreamLimits::with_caps(StreamCaps::new().with_global(1).with_per_topic(0));
    let server = Server::start(
        framework,
        App {
            hub: hub.clone(),
            lagging: lagging.clone(),
            full,
        },
    )
    .await;
    // Every publish of this test, for the published counter.
    let publishes = Cell::new(0);
    let publish = |hub: &Hub, topic: &str, data: &str| {
        publishes.set(publishes.get() + 1);
        // No id when nobody follows a topic without history (the lag
        // bursts once the subscriber is gone).
        hub.publish(topic, Event::message(data.to_owned()))
            .id
            .unwrap_or_default()
    };

    // A stream the server ends: the gauge goes up and down, and the frames
    // and bytes counted are what the client received.
    let mut client = Client::open(&server, "/?topic=ends", None).await;
    assert_eq!(since.gauge(&open), 1.0, "{framework}: open while streaming");
    assert_eq!(since.counter(&opened), 1, "{framework}");
    assert_eq!(since.gauge(topics), 1.0, "{framework}: the topic made");
    for data in ["one", "two", "three"] {
        publish(&hub, "ends", data);
    }
    client.events(3).await;
    hub.remove_topic("ends");
    client.read_to_end().await;
    assert_eq!(since.gauge(topics), 0.0, "{framework}: the topic removed");
    assert_eq!(since.gauge(&open), 0.0, "{framework}: closed at the end");
    assert_eq!(since.counter(&closed("ended")), 1, "{framework}");
    assert_eq!(since.counter(&frames), 3, "{framework}: the three events");
    assert_eq!(
        since.counter(&bytes),
        client.bytes,
        "{framework}: the bytes the client got"
    );

    // A resume: it counts, and its replay size is the two events missed;
    // then the client leaves, and the server counts the stream closed.
    let first = publish(&hub, "resume", "a");
    publish(&hub, "resume", "b");
    publish(&hub, "resume", "c");
    let mut client = Client::open(&server, "/?topic=resume", Some(&first)).await;
    let data: Vec<&str> = client.events(2).await.iter().map(|e| &*e.data).collect();
    assert_eq!(data, ["b", "c"], "{framework}: the replay");
    assert_eq!(since.counter(&resumed), 1, "{framework}");
    assert_eq!(
        since.counter("ssekit_hub_resumes_total{}"),
        1,
        "{framework}"
    );
    eventually(
        "the replay's size recorded",
        || !since.samples(replays).is_empty(),
        || {},
    )
    .await;
    assert_eq!(since.samples(replays), [2.0], "{framework}");
    let received = client.bytes;
    drop(client);
    // The server finds the client gone when it next writes to it.
    eventually(
        "the stream closed after the client left",
        || since.gauge(&open) == 0.0,
        || {
            publish(&hub, "resume", "poke");
        },
    )
    .await;
    assert_eq!(since.counter(&closed("disconnected")), 1, "{framework}");
    assert!(
        since.counter(&bytes) >= received,
        "{framework}: at least what the client got"
    );

    // Gap notices, by reason: an id the hub never issued, and one older
    // than the history kept (4 events: the first two of six are gone).
    let mut client = Client::open(&server, "/?topic=resume", Some("999999999999")).await;
    let gap = &client.events(1).await[0];
    assert_eq!(gap.event_type, "gap", "{framework}");
    assert!(gap.data.contains("unknown"), "{framework}: {}", gap.data);
    assert_eq!(since.counter(&gaps("unknown")), 1, "{framework}");
    drop(client);
    let mut ids = Vec::new();
    for data in ["1", "2", "3", "4", "5", "6"] {
        ids.push(publish(&hub, "expires", data));
    }
    let mut client = Client::open(&server, "/?topic=expires", Some(&ids[0])).await;
    let got: Vec<String> = client
        .events(5)
        .await
        .iter()
        .map(|e| e.data.clone())
        .collect();
    assert!(got[0].contains("expired"), "{framework}: {got:?}");
    assert_eq!(got[1..], ["3", "4", "5", "6"], "{framework}");
    assert_eq!(since.counter(&gaps("expired")), 1, "{framework}");
    assert_eq!(since.counter(&gaps("lagged")), 0, "{framework}");
    assert_eq!(
        since.counter("ssekit_hub_resumes_total{}"),
        3,
        "{framework}"
    );
    eventually(
        "the second replay recorded",
        || since.samples(replays).len() == 2,
        || {},
    )
    .await;
    assert_eq!(since.samples(replays), [2.0, 4.0], "{framework}");
    drop(client);

    // A lag disconnect: a queue of 2, and bursts far faster than any
    // connection drains, until one leaves the subscriber behind.
    let lag = "ssekit_hub_lag_disconnects_total{}";
    let mut client = Client::open(&server, "/lag", None).await;
    eventually(
        "a lag disconnect",
        || since.counter(lag) > 0,
        || {
            for _ in 0..200 {
                publish(&lagging, "lag", "burst");
            }
        },
    )
    .await;
    client.read_to_end().await;
    assert_eq!(since.counter(lag), 1, "{framework}: one subscriber, once");

    // Stream-limit refusals, by cap: a 503 each, and no stream. With no
    // stream open, a topic's cap of 0 refuses; with one open, the global cap
    // of 1 (checked first).
    let refusals = |cap: &str| format!("ssekit_stream_limit_refusals_total{{cap={cap}}}");
    let at = &server;
    let refused = move |path: &'static str| async move {
        let response = reqwest::get(at.url(path)).await.expect("a response");
        assert_eq!(response.status(), 503, "{framework} {path}");
    };
    let before = since.counter(&opened);
    refused("/limited?topic=t").await;
    assert_eq!(since.counter(&refusals("topic")), 1, "{framework}");
    assert_eq!(since.counter(&opened), before, "{framework}: not a stream");
    let mut admitted = Client::open(&server, "/limited", None).await;
    refused("/limited").await;
    assert_eq!(since.counter(&refusals("global")), 1, "{framework}");
    assert_eq!(
        since.counter(&opened),
        before + 1,
        "{framework}: only the one admitted"
    );
    hub.remove_topic("limited");
    admitted.read_to_end().await;

    // The two clients that left idle streams behind are found gone.
    eventually(
        "every stream closed",
        || since.gauge(&open) == 0.0,
        || {
            publish(&hub, "resume", "poke");
            publish(&hub, "expires", "poke");
        },
    )
    .await;
    assert_eq!(since.counter(published), publishes.get(), "{framework}");
    server
        .shutdown(PATIENCE)
        .await
        .expect("a graceful shutdown");
    // A hub's topics leave the gauge with the hub (the last clones go with
    // the server's handler); the next test starts from none.
    drop((hub, lagging));
    eventually(
        "the topics gone with their hubs",
        || recorder::gauge(topics) == 0.0,
        || {},
    )
    .await;
}

per_framework!(run; counted => metrics_over_http);
