//! ssekit's metrics (feature `metrics`) over real HTTP on every backplane:
//! a stream of the in-process hub, of Redis Streams and of NATS JetStream,
//! each served by axum, counts as an open stream while the client stays and
//! as a disconnected one once it leaves; the gap notice a backplane sends
//! for an id it never issued counts with its reason; the frames counted are
//! at least those the client got.
//!
//! Their streams go through the same response body as the hub's, and their
//! gap notices through `HubConfig::gap_notice`; each backplane counts its
//! own publishes, failures, resumes and replays (`ssekit_backplane_*`,
//! through `ssekit::hub::BackplaneMetrics`). The brokers are started by the
//! test.

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

/// `backplane`: the label of its `ssekit_backplane_*` metrics, if it is one.
async fn counted<B: Broadcaster>(name: &str, backplane: Option<&str>, node: B) {
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
    if let Some(backplane) = backplane {
        backplane_counted(name, backplane, &nodes[0], &live.last_event_id, since).await;
    }
}

/// A backplane's own: acknowledged publishes, a resume and the events it
/// replayed, a failed publish.
async fn backplane_counted<B: Broadcaster>(
    name: &str,
    backplane: &str,
    node: &backplane::Node<B>,
    last_id: &str,
    since: Since,
) {
    let series = |metric: &str| format!("{metric}{{backplane={backplane}}}");
    let published = since.counter(&series("ssekit_backplane_events_published_total"));
    assert!(
        published >= 2,
        "{name}: the live event and a poke at least, not {published}"
    );
    let topic = "metered";
    for n in 0..3 {
        node.broadcaster
            .publish(topic, Event::message(format!("missed {n}")))
            .await
            .expect("publish");
    }
    let mut resumed = Client::connect(node, Some(last_id)).await;
    // Everything after the live event: the pokes that found the client
    // gone, then the three missed.
    let mut replayed = Vec::new();
    while replayed.last().is_none_or(|data| data != "missed 2") {
        replayed.push(resumed.next().await.expect("the replay").data);
    }
    assert_eq!(
        since.counter(&series("ssekit_backplane_resumes_total")),
        1,
        "{name}"
    );
    // Recorded when the replay is dropped: with the subscription.
    drop(resumed);
    let recorded = tokio::time::timeout(PATIENCE, async {
        loop {
            let samples = since.samples(&series("ssekit_backplane_replay_events"));
            if !samples.is_empty() {
                return samples;
            }
            node.broadcaster
                .publish(topic, Event::message("poke"))
                .await
                .expect("publish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{name}: the replay was never recorded"));
    assert_eq!(recorded, [replayed.len() as f64], "{name}: {replayed:?}");
    node.broadcaster.shutdown();
    assert!(node
        .broadcaster
        .publish(topic, Event::message("late"))
        .await
        .is_err());
    assert_eq!(
        since.counter(&series("ssekit_backplane_publish_failures_total")),
        1,
        "{name}: the publish after shutdown"
    );
}

#[test]
fn counted_on_the_in_process_hub() {
    run(counted("in-process hub", None, Hub::<String>::new()));
}

#[test]
fn counted_on_redis() {
    run(async {
        let server = RedisServer::start().expect("redis-server starts (is it installed?)");
        let node = RedisHub::connect(&server.url(), RedisHubConfig::default())
            .await
            .expect("connect to Redis");
        counted("Redis Streams", Some("redis"), node).await;
    });
}

#[test]
fn counted_on_nats() {
    run(async {
        let server = NatsServer::start().expect("nats-server starts (is it installed?)");
        let node = NatsHub::connect(&server.url(), NatsHubConfig::default())
            .await
            .expect("connect to NATS");
        counted("NATS JetStream", Some("nats"), node).await;
    });
}
