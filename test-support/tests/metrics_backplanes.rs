//! ssekit's metrics (feature `metrics`) over real HTTP on every backplane:
//! a stream of the in-process hub, of Redis Streams and of NATS JetStream,
//! each served by axum, counts as an open stream while the client stays and
//! as a disconnected one once it leaves; the gap notice a backplane sends
//! for an id it never issued counts with its reason; the frames counted are
//! at least those the client got.
//!
//! Backplanes count nothing of their own: their streams go through the same
//! response body as the hub's, and their gap notices through
//! `HubConfig::gap_notice`. The brokers are started by the test.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ssekit::hub::{Broadcaster, Hub};
use ssekit::Event;
use ssekit_nats::testing::NatsServer;
use ssekit_nats::{NatsHub, NatsHubConfig};
use ssekit_redis::testing::RedisServer;
use ssekit_redis::{RedisHub, RedisHubConfig};
use ssekit_test_support::backplane::{self, Client};
use ssekit_test_support::recorder::{self, Since};

/// One backplane at a time: all are served by axum, under one label.
static ALONE: Mutex<()> = Mutex::new(());

/// Generous: every wait here takes well under a second.
const PATIENCE: Duration = Duration::from_secs(30);

const OPEN: &str = "ssekit_streams_open{adapter=axum}";

fn run(body: impl std::future::Future<Output = ()>) {
    let _alone = ALONE.lock().unwrap_or_else(PoisonError::into_inner);
    recorder::install();
    ssekit_test_support::runtime().block_on(body);
}

async fn counted<B: Broadcaster>(name: &str, node: B) {
    let topic = "metered";
    let nodes = backplane::serve(vec![node], topic).await;
    let node = &nodes[0].broadcaster;
    let since = Since::now();

    let mut client = Client::connect(&nodes[0], Some("not-an-id-of-this-stream")).await;
    let gap = client.next().await.expect("a gap event");
    assert_eq!(gap.event_type, "gap", "{name}: {gap:?}");
    assert_eq!(
        since.counter("ssekit_gap_notices_total{reason=unknown}"),
        1,
        "{name}: the gap notice, by reason"
    );
    assert_eq!(since.gauge(OPEN), 1.0, "{name}: open while streaming");
    assert_eq!(
        since.counter("ssekit_streams_opened_total{adapter=axum,resumed=true}"),
        1,
        "{name}: opened with a Last-Event-ID"
    );

    // Live events follow (the live feed may start a moment after the gap).
    backplane::wait_for_subscribers(node, topic, 1).await;
    let mut received = 1;
    let live = tokio::time::timeout(PATIENCE, async {
        loop {
            node.publish(topic, Event::message("live"))
                .await
                .expect("publish");
            if let Ok(Some(event)) =
                tokio::time::timeout(Duration::from_millis(300), client.next()).await
            {
                return event;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{name}: no live event"));
    assert_eq!(live.data, "live", "{name}");
    received += 1;
    assert!(
        since.counter("ssekit_frames_sent_total{adapter=axum}") >= received,
        "{name}: at least the frames the client got"
    );

    // The client leaves: the server finds out when it next writes.
    drop(client);
    let closed = tokio::time::timeout(PATIENCE, async {
        while since.gauge(OPEN) != 0.0 {
            node.publish(topic, Event::message("poke"))
                .await
                .expect("publish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(closed.is_ok(), "{name}: the stream never closed");
    assert_eq!(
        since.counter("ssekit_streams_closed_total{adapter=axum,reason=disconnected}"),
        1,
        "{name}"
    );
}

#[test]
fn counted_on_the_in_process_hub() {
    run(counted("in-process hub", Hub::<String>::new()));
}

#[test]
fn counted_on_redis() {
    run(async {
        let server = RedisServer::start().expect("redis-server starts (is it installed?)");
        let node = RedisHub::connect(&server.url(), RedisHubConfig::default())
            .await
            .expect("connect to Redis");
        counted("Redis Streams", node).await;
    });
}

#[test]
fn counted_on_nats() {
    run(async {
        let server = NatsServer::start().expect("nats-server starts (is it installed?)");
        let node = NatsHub::connect(&server.url(), NatsHubConfig::default())
            .await
            .expect("connect to NATS");
        counted("NATS JetStream", node).await;
    });
}
