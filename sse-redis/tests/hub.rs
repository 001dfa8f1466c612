//! The Redis hub against a real redis-server started by the test: fan-out
//! across nodes, resume at the seam, trimming, unknown ids, Redis failures.

use std::time::Duration;

use common::{data, joined, take};
use futures_util::StreamExt;
use ssekit::decode::MessageEvent;
use ssekit::Event;
use ssekit_redis::testing::RedisServer;
use ssekit_redis::{RedisHub, RedisHubConfig, RedisSubscription, StreamId};

mod common;

const WITHIN: Duration = Duration::from_secs(10);

async fn node(redis: &RedisServer) -> RedisHub {
    node_with(redis, RedisHubConfig::default()).await
}

async fn node_with(redis: &RedisServer, config: RedisHubConfig) -> RedisHub {
    RedisHub::connect(&redis.url(), config.with_block(Duration::from_millis(200)))
        .await
        .expect("connects")
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
        let (mut acknowledged, mut failed) = (Vec::new(), 0);
        for i in 0..60 {
            match a.publish("t", Event::message(i.to_string())).await {
                Ok(id) => acknowledged.push(id),
                Err(_) => failed += 1,
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        (acknowledged, failed)
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    redis.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.restart().unwrap();
    let (acknowledged, failed) = publisher.await.unwrap();
    assert!(
        acknowledged.len() >= 20,
        "publishing resumed after the restart: {}",
        acknowledged.len()
    );
    // Every acknowledged event, once, in order. A publish that failed may
    // still have been stored (Redis killed after writing it to its
    // append-only file, before answering): such an event is delivered too,
    // in its place, as history has it.
    let last = acknowledged.last().unwrap().clone();
    let mut seen_ids = Vec::new();
    while seen_ids.last() != Some(&last) {
        assert!(
            seen_ids.len() < acknowledged.len() + failed,
            "more events than were published: {seen_ids:?}"
        );
        seen_ids.push(take(&mut subscription, 1).await.remove(0).last_event_id);
    }
    let in_order = |ids: &[String]| {
        ids.windows(2)
            .all(|w| w[0].parse::<StreamId>().unwrap() < w[1].parse().unwrap())
    };
    assert!(in_order(&seen_ids), "in order, no duplicate: {seen_ids:?}");
    let delivered: Vec<&String> = seen_ids
        .iter()
        .filter(|id| acknowledged.contains(id))
        .collect();
    assert_eq!(delivered, acknowledged.iter().collect::<Vec<_>>());
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let stored: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("sse:t")
        .arg("-")
        .arg("+")
        .query_async(&mut connection)
        .await
        .unwrap();
    let stored: Vec<String> = stored.ids.into_iter().map(|entry| entry.id).collect();
    let upto = stored.iter().position(|id| *id == last).unwrap();
    assert_eq!(
        seen_ids,
        stored[..=upto],
        "what was delivered is what Redis kept"
    );
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

/// Publishes `count` events to `topic`, `concurrently` at a time; returns
/// their ids in stream order.
async fn publish_many(
    hub: &RedisHub,
    topic: &str,
    count: usize,
    concurrently: usize,
    data: impl Fn(usize) -> String,
) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(concurrently) {
        let batch = chunk
            .iter()
            .map(|&i| hub.publish(topic, Event::message(data(i))));
        for id in futures_util::future::join_all(batch).await {
            ids.push(id.unwrap());
        }
    }
    ids.sort_by_key(|id| id.parse::<StreamId>().unwrap());
    ids
}

/// The next frame of a subscription, as its one event.
async fn next_event(subscription: &mut RedisSubscription) -> MessageEvent {
    let mut events = take(subscription, 1).await;
    assert_eq!(events.len(), 1, "one event per frame");
    events.remove(0)
}

async fn xtrim_exactly(redis: &RedisServer, key: &str, keep: usize) {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: usize = redis::cmd("XTRIM")
        .arg(key)
        .arg("MAXLEN")
        .arg(keep)
        .query_async(&mut connection)
        .await
        .unwrap();
}

/// Takes `n` events into `seen` (their ids), checking that the subscription
/// never holds more than a page of replay.
async fn drain(resumed: &mut RedisSubscription, seen: &mut Vec<String>, page: usize, n: usize) {
    for _ in 0..n {
        seen.push(next_event(resumed).await.last_event_id);
        assert!(resumed.replay_buffered() <= page, "more than one page held");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_resume_comes_in_many_pages_then_live_with_no_gap_and_no_duplicate() {
    const PAGE: usize = 16;
    let redis = RedisServer::start().unwrap();
    let publisher = node(&redis).await;
    // A queue large enough for every live event published during the replay.
    let config = RedisHubConfig::default()
        .with_replay_page(PAGE)
        .with_queue(4096);
    let reader = node_with(&redis, config).await;
    // Keep the topic read on the subscribing node, so the join races a live feed.
    let watcher = joined(reader.subscribe("t", None)).await;
    let mut ids = publish_many(&publisher, "t", 600, 1, |i| i.to_string()).await;
    let background = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..100 {
                ids.push(
                    publisher
                        .publish("t", Event::message(format!("bg {i}")))
                        .await
                        .unwrap(),
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            ids
        })
    };
    let mut resumed = reader.subscribe("t", Some(&ids[0]));
    let mut seen = vec![next_event(&mut resumed).await.last_event_id];
    drain(&mut resumed, &mut seen, PAGE, 200).await;
    // Published after the join, while the replay is still being read.
    for i in 0..5 {
        ids.push(
            publisher
                .publish("t", Event::message(format!("mid {i}")))
                .await
                .unwrap(),
        );
    }
    drain(&mut resumed, &mut seen, PAGE, 200).await;
    for i in 5..10 {
        ids.push(
            publisher
                .publish("t", Event::message(format!("mid {i}")))
                .await
                .unwrap(),
        );
    }
    ids.extend(background.await.unwrap());
    ids.sort_by_key(|id| id.parse::<StreamId>().unwrap());
    let expected = &ids[1..];
    let left = expected.len() - seen.len();
    drain(&mut resumed, &mut seen, PAGE, left).await;
    assert_eq!(
        seen, expected,
        "every entry once, in order, across the seam"
    );
    assert!(
        resumed.replay_read() >= 599,
        "the replay covered the history, {} entries in pages of {PAGE}",
        resumed.replay_read()
    );
    assert_eq!(resumed.replay_buffered(), 0);
    drop(watcher);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_resume_of_a_long_stream_holds_at_most_one_page() {
    // The default page: 64 entries.
    const PAGE: usize = 64;
    const ENTRIES: usize = 2_000;
    let redis = RedisServer::start().unwrap();
    let hub = node(&redis).await;
    let body = "x".repeat(16 * 1024);
    // 2 000 × 16 KiB: a 32 MB stream.
    let ids = publish_many(&hub, "t", ENTRIES, 50, |i| format!("{i} {body}")).await;
    let mut stalled = Vec::new();
    for _ in 0..10 {
        let mut subscription = hub.subscribe("t", Some("0-0"));
        assert_eq!(next_event(&mut subscription).await.last_event_id, ids[0]);
        stalled.push(subscription);
    }
    let check = |stalled: &[RedisSubscription]| {
        for subscription in stalled {
            // The page and the next one's first entry, read ahead for its id.
            assert!(
                subscription.replay_read() <= PAGE as u64 + 1,
                "read ahead of the client: {} entries",
                subscription.replay_read()
            );
            assert!(
                subscription.replay_buffered() < PAGE,
                "holds {} frames",
                subscription.replay_buffered()
            );
        }
    };
    check(&stalled);
    // Nothing is read behind a client's back, however long it stalls.
    tokio::time::sleep(Duration::from_millis(300)).await;
    check(&stalled);
    // Once drained, one of them got every entry once, in order, never holding
    // more than a page.
    let mut subscription = stalled.pop().unwrap();
    for (delivered, id) in ids.iter().enumerate().skip(1) {
        let event = next_event(&mut subscription).await;
        assert_eq!(&event.last_event_id, id);
        assert!(event.data.starts_with(&format!("{delivered} ")));
        assert!(subscription.replay_buffered() < PAGE);
        assert!(subscription.replay_read() - (delivered as u64 + 1) <= PAGE as u64);
    }
    assert_eq!(subscription.replay_read(), ENTRIES as u64);
    check(&stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimming_past_the_last_delivered_entry_mid_replay_gives_an_expired_gap() {
    let redis = RedisServer::start().unwrap();
    let hub = node_with(&redis, RedisHubConfig::default().with_replay_page(10)).await;
    let ids = publish_many(&hub, "t", 100, 1, |i| i.to_string()).await;
    let mut resumed = hub.subscribe("t", Some("0-0"));
    let mut seen = vec![next_event(&mut resumed).await];
    // The first page (0..=9) is read; 10..=49 go before the next one.
    xtrim_exactly(&redis, "sse:t", 50).await;
    while seen.last().unwrap().data != "99" {
        seen.push(next_event(&mut resumed).await);
    }
    let gap = seen.remove(10);
    assert_eq!(
        (gap.event_type.as_str(), gap.data.as_str()),
        ("gap", r#"{"reason":"expired"}"#)
    );
    let expected: Vec<String> = (0..10).chain(50..100).map(|i| i.to_string()).collect();
    assert_eq!(data(&seen), expected, "the gap, not a silent hole");
    let expected_ids: Vec<&str> = ids[..10]
        .iter()
        .chain(&ids[50..])
        .map(String::as_str)
        .collect();
    let seen_ids: Vec<&str> = seen.iter().map(|e| e.last_event_id.as_str()).collect();
    assert_eq!(seen_ids, expected_ids);
    hub.publish("t", Event::message("live")).await.unwrap();
    assert_eq!(data(&take(&mut resumed, 1).await), ["live"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trimming_only_delivered_entries_mid_replay_gives_no_gap() {
    let redis = RedisServer::start().unwrap();
    let hub = node_with(&redis, RedisHubConfig::default().with_replay_page(10)).await;
    publish_many(&hub, "t", 100, 1, |i| i.to_string()).await;
    let mut resumed = hub.subscribe("t", Some("0-0"));
    let mut seen = vec![next_event(&mut resumed).await];
    // Exactly the first page (0..=9) goes: the next page starts with 10.
    xtrim_exactly(&redis, "sse:t", 90).await;
    while seen.last().unwrap().data != "99" {
        seen.push(next_event(&mut resumed).await);
    }
    let expected: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(data(&seen), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_failure_mid_replay_ends_the_stream_with_an_error() {
    let mut redis = RedisServer::start().unwrap();
    let config = RedisHubConfig::default()
        .with_replay_page(10)
        .with_command_timeout(Duration::from_millis(500));
    let hub = node_with(&redis, config).await;
    publish_many(&hub, "t", 100, 1, |i| i.to_string()).await;
    let mut resumed = hub.subscribe("t", Some("0-0"));
    assert_eq!(
        data(&take(&mut resumed, 10).await),
        (0..10).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    redis.kill();
    let next = tokio::time::timeout(WITHIN, resumed.next())
        .await
        .expect("fails within the command timeout, no hang");
    assert!(matches!(next, Some(Err(_))), "an error, not a silent end");
    assert!(resumed.next().await.is_none(), "the stream ends after it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_mid_replay_ends_the_stream() {
    let redis = RedisServer::start().unwrap();
    let hub = node_with(&redis, RedisHubConfig::default().with_replay_page(10)).await;
    publish_many(&hub, "t", 100, 1, |i| i.to_string()).await;
    let mut resumed = hub.subscribe("t", Some("0-0"));
    take(&mut resumed, 1).await;
    hub.shutdown();
    // What is already read goes out; no further page is read.
    assert_eq!(take(&mut resumed, 9).await.last().unwrap().data, "9");
    let next = tokio::time::timeout(WITHIN, resumed.next()).await.unwrap();
    assert!(matches!(next, Some(Err(ssekit_redis::Error::Shutdown))));
    assert!(resumed.next().await.is_none());
}
