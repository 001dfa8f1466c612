//! The Redis hub against a real redis-server started by the test: fan-out
//! across nodes, resume at the seam, trimming, unknown ids, Redis failures.

use std::time::Duration;

use futures_util::StreamExt;
use ssekit::decode::{events, MessageEvent};
use ssekit::Event;
use ssekit_redis::testing::RedisServer;
use ssekit_redis::{RedisHub, RedisHubConfig, RedisSubscription};

const WITHIN: Duration = Duration::from_secs(10);

async fn node(redis: &RedisServer) -> RedisHub {
    node_with(redis, RedisHubConfig::default()).await
}

async fn node_with(redis: &RedisServer, config: RedisHubConfig) -> RedisHub {
    RedisHub::connect(&redis.url(), config.with_block(Duration::from_millis(200)))
        .await
        .expect("connects")
}

/// The next `n` dispatched events of a subscription.
async fn take(subscription: &mut RedisSubscription, n: usize) -> Vec<MessageEvent> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let frame = tokio::time::timeout(WITHIN, subscription.next())
            .await
            .unwrap_or_else(|_| panic!("stalled after {} of {n} events: {seen:?}", seen.len()))
            .expect("stream ended")
            .expect("no Redis error");
        seen.extend(events(frame.as_bytes()).unwrap());
    }
    seen
}

fn data(events: &[MessageEvent]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

/// Polls once so the subscription joins its topic before publishing starts.
async fn joined(mut subscription: RedisSubscription) -> RedisSubscription {
    assert!(
        tokio::time::timeout(Duration::from_millis(300), subscription.next())
            .await
            .is_err()
    );
    subscription
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_gets_every_event_once_in_one_order() {
    let redis = RedisServer::start().unwrap();
    let nodes = [node(&redis).await, node(&redis).await, node(&redis).await];
    let mut subscriptions = Vec::new();
    for node in &nodes {
        for _ in 0..2 {
            subscriptions.push(joined(node.subscribe("room", None)).await);
        }
    }
    let mut ids = Vec::new();
    for round in 0..20 {
        for (n, node) in nodes.iter().enumerate() {
            ids.push(
                node.publish("room", Event::message(format!("{round}-{n}")))
                    .await
                    .unwrap(),
            );
        }
    }
    for subscription in &mut subscriptions {
        let seen = take(subscription, 60).await;
        let seen_ids: Vec<_> = seen.iter().map(|e| e.last_event_id.clone()).collect();
        assert_eq!(
            seen_ids, ids,
            "same global order everywhere, no loss, no duplicate"
        );
    }
    assert!(ids
        .windows(2)
        .all(|w| w[0].parse::<ssekit_redis::StreamId>().unwrap() < w[1].parse().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_on_another_node_gets_exactly_the_missed_events() {
    let redis = RedisServer::start().unwrap();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(a.publish("t", Event::message(i.to_string())).await.unwrap());
    }
    let mut resumed = b.subscribe("t", Some(&ids[3]));
    let replayed = take(&mut resumed, 6).await;
    assert_eq!(data(&replayed), ["4", "5", "6", "7", "8", "9"]);
    a.publish("t", Event::message("live")).await.unwrap();
    assert_eq!(data(&take(&mut resumed, 1).await), ["live"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_while_publishing_has_no_gap_and_no_duplicate_at_the_seam() {
    let redis = RedisServer::start().unwrap();
    let (publisher_node, reader_node) = (node(&redis).await, node(&redis).await);
    // Keep the topic read on the subscribing node, so joins race a live feed.
    let _watcher = joined(reader_node.subscribe("t", None)).await;
    let total = 400;
    let publishing = tokio::spawn(async move {
        let mut ids = Vec::new();
        for i in 0..total {
            ids.push(
                publisher_node
                    .publish("t", Event::message(i.to_string()))
                    .await
                    .unwrap(),
            );
        }
        ids
    });
    // Join repeatedly mid-stream, each time resuming after the first event seen.
    let mut first = reader_node.subscribe("t", None);
    let start = take(&mut first, 1).await.remove(0);
    let mut checks = Vec::new();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        checks.push(reader_node.subscribe("t", Some(&start.last_event_id)));
    }
    let ids = publishing.await.unwrap();
    let from = ids
        .iter()
        .position(|id| *id == start.last_event_id)
        .unwrap();
    for mut check in checks {
        let seen = take(&mut check, total - from - 1).await;
        let seen_ids: Vec<_> = seen.iter().map(|e| e.last_event_id.as_str()).collect();
        let expected: Vec<_> = ids[from + 1..].iter().map(String::as_str).collect();
        assert_eq!(seen_ids, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trimmed_id_gets_an_expired_gap_then_what_is_left() {
    let redis = RedisServer::start().unwrap();
    let hub = node_with(&redis, RedisHubConfig::default().with_max_len(5)).await;
    let mut ids = Vec::new();
    for i in 0..300 {
        ids.push(
            hub.publish("t", Event::message(i.to_string()))
                .await
                .unwrap(),
        );
    }
    let mut resumed = hub.subscribe("t", Some(&ids[0]));
    let first = take(&mut resumed, 1).await.remove(0);
    assert_eq!(first.event_type, "gap");
    assert_eq!(first.data, r#"{"reason":"expired"}"#);
    // What follows is the kept tail, in order, ending with the newest event.
    let mut rest = Vec::new();
    while rest.last().map(|e: &MessageEvent| e.data.as_str()) != Some("299") {
        rest.extend(take(&mut resumed, 1).await);
    }
    assert!(rest.len() < 300, "history was trimmed: {} kept", rest.len());
    let numbers: Vec<u32> = rest.iter().map(|e| e.data.parse().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_id_gets_an_unknown_gap_then_live() {
    let redis = RedisServer::start().unwrap();
    let hub = node(&redis).await;
    hub.publish("t", Event::message("old")).await.unwrap();
    for unknown in ["not-an-id", "99999999999999-0", "5"] {
        let mut resumed = hub.subscribe("t", Some(unknown));
        let gap = take(&mut resumed, 1).await.remove(0);
        assert_eq!(
            (gap.event_type.as_str(), gap.data.as_str()),
            ("gap", r#"{"reason":"unknown"}"#),
            "{unknown}"
        );
        hub.publish("t", Event::message("live")).await.unwrap();
        assert_eq!(data(&take(&mut resumed, 1).await), ["live"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reads_only_topics_with_local_subscribers() {
    let redis = RedisServer::start().unwrap();
    let hub = node(&redis).await;
    hub.publish("quiet", Event::message("x")).await.unwrap();
    assert_eq!(hub.reading_topics(), 0);
    let subscription = joined(hub.subscribe("busy", None)).await;
    assert_eq!(hub.reading_topics(), 1);
    drop(subscription);
    let deadline = tokio::time::Instant::now() + WITHIN;
    while hub.reading_topics() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "reader kept running without subscribers"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_that_cannot_reach_redis_fails_and_leaves_no_reader_behind() {
    let mut redis = RedisServer::start().unwrap();
    let config = RedisHubConfig::default().with_command_timeout(Duration::from_millis(500));
    let hub = node_with(&redis, config).await;
    redis.kill();
    let mut subscription = hub.subscribe("unreachable", None);
    let first = tokio::time::timeout(WITHIN, subscription.next())
        .await
        .expect("fails within the command timeout, no hang");
    assert!(
        matches!(first, Some(Err(_))),
        "a Redis error, not an empty stream"
    );
    assert_eq!(hub.reading_topics(), 0, "a reader entry was left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_fields_survive_the_round_trip() {
    let redis = RedisServer::start().unwrap();
    let hub = node(&redis).await;
    let mut subscription = joined(hub.subscribe("t", None)).await;
    let event = Event::message("line 1\nline 2")
        .with_event("update")
        .with_comment("note");
    let id = hub.publish("t", event).await.unwrap();
    let frame = tokio::time::timeout(WITHIN, subscription.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        String::from_utf8(frame.as_bytes().to_vec()).unwrap(),
        format!(": note\nevent: update\nid: {id}\ndata: line 1\ndata: line 2\n\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_without_redis_fails_fast_and_recovers() {
    let mut redis = RedisServer::start().unwrap();
    let config = RedisHubConfig::default().with_command_timeout(Duration::from_millis(500));
    let (a, b) = (
        node_with(&redis, config.clone()).await,
        node_with(&redis, config).await,
    );
    let mut subscription = joined(b.subscribe("t", None)).await;
    let first = a.publish("t", Event::message("before")).await.unwrap();
    assert_eq!(take(&mut subscription, 1).await[0].last_event_id, first);

    redis.kill();
    let started = tokio::time::Instant::now();
    assert!(
        a.publish("t", Event::message("lost?")).await.is_err(),
        "an error, not an acknowledgement"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no hang: {:?}",
        started.elapsed()
    );

    // Redis comes back (from its append-only file): no restart of the nodes.
    redis.restart().unwrap();
    let mut acknowledged = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while acknowledged.len() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "nodes did not reconnect"
        );
        if let Ok(id) = a.publish("t", Event::message("after")).await {
            acknowledged.push(id);
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let seen = take(&mut subscription, 5).await;
    let seen_ids: Vec<_> = seen.iter().map(|e| e.last_event_id.clone()).collect();
    assert_eq!(
        seen_ids, acknowledged,
        "the open stream carried on, nothing acknowledged lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_a_redis_restart_mid_stream() {
    let mut redis = RedisServer::start().unwrap();
    let config = RedisHubConfig::default().with_command_timeout(Duration::from_millis(500));
    let (a, b) = (
        node_with(&redis, config.clone()).await,
        node_with(&redis, config).await,
    );
    let mut subscription = joined(b.subscribe("t", None)).await;
    let publisher = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for i in 0..60 {
            if let Ok(id) = a.publish("t", Event::message(i.to_string())).await {
                acknowledged.push(id);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        acknowledged
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    redis.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.restart().unwrap();
    let acknowledged = publisher.await.unwrap();
    assert!(
        acknowledged.len() >= 20,
        "publishing resumed after the restart: {}",
        acknowledged.len()
    );
    let seen = take(&mut subscription, acknowledged.len()).await;
    let seen_ids: Vec<_> = seen.iter().map(|e| e.last_event_id.clone()).collect();
    assert_eq!(seen_ids, acknowledged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_local_streams() {
    let redis = RedisServer::start().unwrap();
    let hub = node(&redis).await;
    let mut subscription = joined(hub.subscribe("t", None)).await;
    hub.shutdown();
    assert!(tokio::time::timeout(WITHIN, subscription.next())
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        hub.publish("t", Event::message("x")).await,
        Err(ssekit_redis::Error::Shutdown)
    ));
}
