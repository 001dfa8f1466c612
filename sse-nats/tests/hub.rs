//! The NATS hub against a real nats-server started by the test: fan-out
//! across nodes, resume at the seam, dropped history, unknown ids, NATS
//! failures, connection and consumer counts.

use std::time::Duration;

use futures_util::StreamExt;
use ssekit::decode::{events, MessageEvent};
use ssekit::Event;
use ssekit_nats::testing::NatsServer;
use ssekit_nats::{NatsHub, NatsHubConfig, NatsSubscription};

const WITHIN: Duration = Duration::from_secs(10);

async fn node(nats: &NatsServer) -> NatsHub {
    node_with(nats, NatsHubConfig::default()).await
}

async fn node_with(nats: &NatsServer, config: NatsHubConfig) -> NatsHub {
    NatsHub::connect(&nats.url(), config.with_heartbeat(Duration::from_secs(1)))
        .await
        .expect("connects")
}

/// The next `n` dispatched events of a subscription.
async fn take(subscription: &mut NatsSubscription, n: usize) -> Vec<MessageEvent> {
    take_within(subscription, n, WITHIN).await
}

async fn take_within(
    subscription: &mut NatsSubscription,
    n: usize,
    within: Duration,
) -> Vec<MessageEvent> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let frame = tokio::time::timeout(within, subscription.next())
            .await
            .unwrap_or_else(|_| panic!("stalled after {} of {n} events: {seen:?}", seen.len()))
            .expect("stream ended")
            .expect("no NATS error");
        seen.extend(events(frame.as_bytes()).unwrap());
    }
    seen
}

fn data(events: &[MessageEvent]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

fn ids(events: &[MessageEvent]) -> Vec<String> {
    events.iter().map(|e| e.last_event_id.clone()).collect()
}

/// Subscribes live to `topic` on `hub` and polls the subscription until it
/// joined (it connects lazily), so nothing published after this is missed.
async fn joined(hub: &NatsHub, topic: &str) -> NatsSubscription {
    let before = hub.local_subscriber_count(topic);
    let mut subscription = hub.subscribe(topic, None);
    let deadline = tokio::time::Instant::now() + WITHIN;
    while hub.local_subscriber_count(topic) == before {
        assert!(tokio::time::Instant::now() < deadline, "never joined");
        assert!(
            tokio::time::timeout(Duration::from_millis(20), subscription.next())
                .await
                .is_err(),
            "nothing to receive yet"
        );
    }
    subscription
}

/// Waits (generously) until `check` holds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A number field of a monitoring endpoint's JSON (`"name": 12`).
fn field(json: &str, name: &str) -> u64 {
    ssekit_nats::testing::json_number(json, name).unwrap_or_else(|| panic!("no {name} in {json}"))
}

/// This process's resident memory (Linux), for the measurements printed.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn consumers(nats: &NatsServer) -> u64 {
    field(&nats.monitor("/jsz").unwrap(), "consumers")
}

/// Subscriptions the server holds for its clients (`/subsz`); the server
/// holds some of its own (JetStream's API) too.
fn server_subscriptions(nats: &NatsServer) -> u64 {
    field(&nats.monitor("/subsz").unwrap(), "num_subscriptions")
}

/// Messages the server received and sent so far (`/varz`).
fn server_messages(nats: &NatsServer) -> u64 {
    let varz = nats.monitor("/varz").unwrap();
    field(&varz, "in_msgs") + field(&varz, "out_msgs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_gets_every_event_once_in_one_order() {
    let nats = NatsServer::start().unwrap();
    let nodes = [node(&nats).await, node(&nats).await, node(&nats).await];
    let mut subscriptions = Vec::new();
    for node in &nodes {
        for _ in 0..2 {
            subscriptions.push(joined(node, "room").await);
        }
    }
    let mut published = Vec::new();
    for round in 0..20 {
        for (n, node) in nodes.iter().enumerate() {
            published.push(
                node.publish("room", Event::message(format!("{round}-{n}")))
                    .await
                    .unwrap(),
            );
        }
    }
    for subscription in &mut subscriptions {
        let seen = take(subscription, 60).await;
        assert_eq!(
            ids(&seen),
            published,
            "same global order everywhere, no loss, no duplicate"
        );
    }
    assert!(published
        .windows(2)
        .all(|w| w[0].parse::<u64>().unwrap() < w[1].parse::<u64>().unwrap()));
    for node in &nodes {
        assert_eq!(node.local_subscriber_count("room"), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_on_another_node_gets_exactly_the_missed_events() {
    let nats = NatsServer::start().unwrap();
    let (a, b) = (node(&nats).await, node(&nats).await);
    let mut published = Vec::new();
    for i in 0..10 {
        published.push(a.publish("t", Event::message(i.to_string())).await.unwrap());
        // Another topic interleaved: its events are not this topic's.
        a.publish("other", Event::message("x")).await.unwrap();
    }
    let mut resumed = b.subscribe("t", Some(&published[3]));
    let replayed = take(&mut resumed, 6).await;
    assert_eq!(data(&replayed), ["4", "5", "6", "7", "8", "9"]);
    assert_eq!(ids(&replayed), published[4..]);
    a.publish("t", Event::message("live")).await.unwrap();
    assert_eq!(data(&take(&mut resumed, 1).await), ["live"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_while_publishing_has_no_gap_and_no_duplicate_at_the_seam() {
    let nats = NatsServer::start().unwrap();
    let (publisher_node, reader_node) = (node(&nats).await, node(&nats).await);
    // Keep the topic followed on the subscribing node, so joins race a live feed.
    let _watcher = joined(&reader_node, "t").await;
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
    let published = publishing.await.unwrap();
    let from = published
        .iter()
        .position(|id| *id == start.last_event_id)
        .unwrap();
    for mut check in checks {
        let seen = take(&mut check, total - from - 1).await;
        assert_eq!(ids(&seen), published[from + 1..]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_id_gets_an_expired_gap_then_what_is_left() {
    let nats = NatsServer::start().unwrap();
    let hub = node_with(
        &nats,
        NatsHubConfig::default().with_max_messages_per_topic(5),
    )
    .await;
    let mut published = Vec::new();
    for i in 0..300 {
        published.push(
            hub.publish("t", Event::message(i.to_string()))
                .await
                .unwrap(),
        );
    }
    let mut resumed = hub.subscribe("t", Some(&published[0]));
    let first = take(&mut resumed, 1).await.remove(0);
    assert_eq!(first.event_type, "gap");
    assert_eq!(first.data, r#"{"reason":"expired"}"#);
    // What follows is the kept tail, in order, ending with the newest event.
    let rest = take(&mut resumed, 5).await;
    assert_eq!(data(&rest), ["295", "296", "297", "298", "299"]);
    hub.publish("t", Event::message("live")).await.unwrap();
    assert_eq!(data(&take(&mut resumed, 1).await), ["live"]);
    // An id still kept resumes exactly, with no gap.
    let mut exact = hub.subscribe("t", Some(&published[296]));
    assert_eq!(
        data(&take(&mut exact, 4).await),
        ["297", "298", "299", "live"]
    );
}

/// Another topic's dropped events (interior deletes in the stream) are no
/// gap for this one: a resume from a sequence that is not one of its own
/// (a position taken before its first event) gets what followed, with no
/// notice; while a topic at its own limit, whose oldest went, does get one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_topics_own_dropped_events_give_an_expired_gap() {
    let nats = NatsServer::start().unwrap();
    let hub = node_with(
        &nats,
        NatsHubConfig::default().with_max_messages_per_topic(2),
    )
    .await;
    // `keep` first, then `busy` drops its oldest around it: interior deletes.
    hub.publish("keep", Event::message("kept")).await.unwrap();
    let mut last = String::new();
    for i in 0..5 {
        last = hub
            .publish("busy", Event::message(i.to_string()))
            .await
            .unwrap();
    }
    // `quiet` has no event yet: a position before its first is the
    // stream's newest sequence.
    hub.publish("quiet", Event::message("first")).await.unwrap();
    let mut resumed = hub.subscribe("quiet", Some(&last));
    assert_eq!(
        data(&take(&mut resumed, 1).await),
        ["first"],
        "no gap notice first"
    );
    // `busy` is at its limit: resuming from before what it keeps is a gap.
    let mut behind = hub.subscribe(
        "busy",
        Some(&last.parse::<u64>().unwrap().saturating_sub(3).to_string()),
    );
    let first = take(&mut behind, 1).await.remove(0);
    assert_eq!(first.event_type, "gap");
    assert_eq!(first.data, r#"{"reason":"expired"}"#);
    assert_eq!(data(&take(&mut behind, 2).await), ["3", "4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_id_gets_an_unknown_gap_then_live() {
    let nats = NatsServer::start().unwrap();
    let hub = node(&nats).await;
    hub.publish("t", Event::message("old")).await.unwrap();
    for unknown in ["not-an-id", "99999999", "1-0", "01", "-1", ""] {
        let mut resumed = hub.subscribe("t", Some(unknown));
        let gap = take(&mut resumed, 1).await.remove(0);
        assert_eq!(
            (gap.event_type.as_str(), gap.data.as_str()),
            ("gap", r#"{"reason":"unknown"}"#),
            "{unknown:?}"
        );
        hub.publish("t", Event::message("live")).await.unwrap();
        assert_eq!(data(&take(&mut resumed, 1).await), ["live"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_fields_survive_the_round_trip() {
    let nats = NatsServer::start().unwrap();
    let hub = node(&nats).await;
    let mut subscription = joined(&hub, "a.b *>%").await;
    let cases = [
        Event::message("line 1\nline 2\r\nline 3")
            .with_event("update")
            .with_comment("note: 100%"),
        Event::message(""),
        Event::message("☃ é 日本 🎉").with_retry(Duration::from_millis(2500)),
        Event::new().with_retry(Duration::from_secs(3)),
        Event::message("  spaced  ").try_with_id("ignored").unwrap(),
    ];
    for event in cases {
        let id = hub.publish("a.b *>%", event.clone()).await.unwrap();
        let frame = tokio::time::timeout(WITHIN, subscription.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let expected = event.try_with_id(id.clone()).unwrap().encode();
        assert_eq!(frame.as_bytes(), expected.as_bytes(), "live, {id}");
        // And the same bytes when replayed from the stream.
        let before = (id.parse::<u64>().unwrap() - 1).to_string();
        let mut replayed = hub.subscribe("a.b *>%", Some(&before));
        let frame = tokio::time::timeout(WITHIN, replayed.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(frame.as_bytes(), expected.as_bytes(), "replayed, {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_that_cannot_reach_nats_fails_and_leaves_no_reader_behind() {
    let mut nats = NatsServer::start().unwrap();
    let config = NatsHubConfig::default().with_request_timeout(Duration::from_millis(500));
    let hub = node_with(&nats, config).await;
    nats.kill();
    let mut subscription = hub.subscribe("unreachable", None);
    let first = tokio::time::timeout(WITHIN, subscription.next())
        .await
        .expect("fails within the request timeout, no hang");
    assert!(
        matches!(first, Some(Err(_))),
        "a NATS error, not an empty stream"
    );
    assert_eq!(hub.reading_topics(), 0, "a reader entry was left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_without_nats_fails_fast_and_recovers() {
    let mut nats = NatsServer::start().unwrap();
    let config = NatsHubConfig::default().with_request_timeout(Duration::from_millis(500));
    let (a, b) = (
        node_with(&nats, config.clone()).await,
        node_with(&nats, config).await,
    );
    let mut subscription = joined(&b, "t").await;
    let first = a.publish("t", Event::message("before")).await.unwrap();
    assert_eq!(take(&mut subscription, 1).await[0].last_event_id, first);

    nats.kill();
    let started = tokio::time::Instant::now();
    for _ in 0..3 {
        let error = a.publish("t", Event::message("lost?")).await.unwrap_err();
        // At once once the client knows; after the request timeout before.
        assert!(
            matches!(
                error,
                ssekit_nats::Error::Disconnected | ssekit_nats::Error::Timeout(_)
            ),
            "{error}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no hang: {:?}",
        started.elapsed()
    );

    // NATS comes back (from its store): no restart of the nodes.
    nats.restart().unwrap();
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
    // The open stream carried on; an unacknowledged publish may still have
    // been stored (as with any timed-out write), never an acknowledged one lost.
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let event = take_within(&mut subscription, 1, Duration::from_secs(20))
            .await
            .remove(0);
        if event.data == "after" {
            seen.push(event.last_event_id);
        }
    }
    assert_eq!(seen, acknowledged, "nothing acknowledged lost or repeated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_a_nats_restart_mid_stream() {
    let mut nats = NatsServer::start().unwrap();
    let config = NatsHubConfig::default().with_request_timeout(Duration::from_millis(500));
    let (a, b) = (
        node_with(&nats, config.clone()).await,
        // Its subscriber is read only at the end: room for every event.
        node_with(&nats, config.with_queue(1024)).await,
    );
    let mut subscription = joined(&b, "t").await;
    let publisher = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for i in 0..120 {
            if let Ok(id) = a.publish("t", Event::message(i.to_string())).await {
                acknowledged.push(id);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        acknowledged
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    nats.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    nats.restart().unwrap();
    let acknowledged = publisher.await.unwrap();
    assert!(
        acknowledged.len() >= 20,
        "publishing resumed after the restart: {}",
        acknowledged.len()
    );
    // Events published before the kill were acknowledged and are kept: a
    // resume from the start on a fresh node has them all.
    let seen = take_within(
        &mut subscription,
        acknowledged.len(),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(ids(&seen), acknowledged);
    let fresh = node(&nats).await;
    let mut resumed = fresh.subscribe("t", Some("0"));
    assert_eq!(
        ids(&take(&mut resumed, acknowledged.len()).await),
        acknowledged
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_local_streams() {
    let nats = NatsServer::start().unwrap();
    let hub = node(&nats).await;
    let mut subscription = joined(&hub, "t").await;
    hub.shutdown();
    assert!(tokio::time::timeout(WITHIN, subscription.next())
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        hub.publish("t", Event::message("x")).await,
        Err(ssekit_nats::Error::Shutdown)
    ));
    eventually("the reader stops and leaves nothing on the server", || {
        hub.reading_topics() == 0 && consumers(&nats) == 0
    })
    .await;
}

/// Publishes `count` events to `topic`, `concurrently` at a time; returns
/// their ids in stream order.
async fn publish_many(
    hub: &NatsHub,
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
    ids.sort_by_key(|id| id.parse::<u64>().unwrap());
    ids
}

/// The next frame of a subscription, as its one event.
async fn next_event(subscription: &mut NatsSubscription) -> MessageEvent {
    let mut events = take(subscription, 1).await;
    assert_eq!(events.len(), 1, "one event per frame");
    events.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_resume_comes_in_many_pages_then_live_with_no_gap_and_no_duplicate() {
    const PAGE: usize = 16;
    let nats = NatsServer::start().unwrap();
    let publisher = node(&nats).await;
    // A queue large enough for every live event published during the replay.
    let config = NatsHubConfig::default()
        .with_replay_page(PAGE)
        .with_queue(4096);
    let reader = node_with(&nats, config).await;
    let watcher = joined(&reader, "t").await;
    let mut published = publish_many(&publisher, "t", 600, 1, |i| i.to_string()).await;
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
    let mut resumed = reader.subscribe("t", Some(&published[0]));
    let mut seen = Vec::new();
    for _ in 0..300 {
        seen.push(next_event(&mut resumed).await.last_event_id);
        assert!(
            resumed.replay_buffered() <= PAGE + 1,
            "more than one page held"
        );
    }
    published.extend(background.await.unwrap());
    published.sort_by_key(|id| id.parse::<u64>().unwrap());
    let expected = &published[1..];
    while seen.len() < expected.len() {
        seen.push(next_event(&mut resumed).await.last_event_id);
        assert!(
            resumed.replay_buffered() <= PAGE + 1,
            "more than one page held"
        );
    }
    assert_eq!(
        seen, expected,
        "every event once, in order, across the seam"
    );
    assert_eq!(resumed.replay_buffered(), 0);
    drop(watcher);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_resume_of_a_long_stream_holds_at_most_one_page() {
    // The default page: 64 events.
    const PAGE: u64 = 64;
    const EVENTS: usize = 2_000;
    let nats = NatsServer::start().unwrap();
    let hub = node(&nats).await;
    let body = "x".repeat(16 * 1024);
    // 2 000 × 16 KiB: a 32 MB stream.
    let published = publish_many(&hub, "t", EVENTS, 50, |i| format!("{i} {body}")).await;
    let mut stalled = Vec::new();
    for _ in 0..10 {
        let mut subscription = hub.subscribe("t", Some("0"));
        assert_eq!(
            next_event(&mut subscription).await.last_event_id,
            published[0]
        );
        stalled.push(subscription);
    }
    let check = |stalled: &[NatsSubscription]| {
        for subscription in stalled {
            // The page and the two read ahead.
            assert!(
                subscription.replay_read() <= PAGE + 2,
                "read ahead of the client: {} events",
                subscription.replay_read()
            );
            assert!(
                subscription.replay_buffered() < PAGE as usize,
                "holds {} frames",
                subscription.replay_buffered()
            );
        }
    };
    check(&stalled);
    // Nothing is read behind a client's back, however long it stalls, and
    // no consumer stays on the server for it meanwhile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    check(&stalled);
    // No replay consumer waits with them (the topic's live feed is a core
    // subscription, not a consumer).
    eventually("no replay consumer left while stalled", || {
        consumers(&nats) == 0
    })
    .await;
    // Once drained, one of them got every event once, in order, never
    // holding more than a page.
    let mut subscription = stalled.pop().unwrap();
    let draining = std::time::Instant::now();
    let mut delivered = 1u64;
    let mut numbers = vec![0];
    for id in &published[1..] {
        let event = next_event(&mut subscription).await;
        assert_eq!(&event.last_event_id, id);
        assert!(event.data.ends_with(&body));
        numbers.push(
            event
                .data
                .split(' ')
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap(),
        );
        delivered += 1;
        assert!(subscription.replay_buffered() < PAGE as usize);
        // Each page reads its look-ahead again: at most two extra a page.
        let pages = delivered.div_ceil(PAGE) + 1;
        assert!(subscription.replay_read() <= delivered + PAGE + 2 * pages);
    }
    // Measured, not asserted.
    eprintln!(
        "replayed {EVENTS} × 16 KiB in pages of {PAGE} in {:?}, test process RSS {} KiB",
        draining.elapsed(),
        rss_kib()
    );
    numbers.sort_unstable();
    assert_eq!(numbers, (0..EVENTS).collect::<Vec<_>>(), "each event once");
    check(&stalled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_topics_use_one_connection_and_leave_no_consumers() {
    let nats = NatsServer::start().unwrap();
    let hub = node(&nats).await;
    let memory_before = field(&nats.monitor("/varz").unwrap(), "mem");
    let node_before = rss_kib();
    let before = field(&nats.monitor("/connz").unwrap(), "num_connections");
    assert_eq!(before, 1, "the node's one connection");
    let subscriptions_before = server_subscriptions(&nats);
    let mut subscriptions = Vec::new();
    for topic in 0..1_000 {
        let name = format!("topic {topic}");
        let mut subscription = hub.subscribe(&name, None);
        // Polled until it joined (the subscription connects lazily).
        while hub.local_subscriber_count(&name) == 0 {
            assert!(
                tokio::time::timeout(Duration::from_millis(5), subscription.next())
                    .await
                    .is_err()
            );
        }
        subscriptions.push(subscription);
    }
    eventually("1 000 topics followed", || hub.reading_topics() == 1_000).await;
    assert_eq!(
        consumers(&nats),
        0,
        "no JetStream consumer for the live feed"
    );
    let subscriptions_held = server_subscriptions(&nats);
    assert!(
        subscriptions_held >= subscriptions_before + 1_000,
        "one core subscription per topic: {subscriptions_before} -> {subscriptions_held}"
    );
    let jsz = nats.monitor("/jsz").unwrap();
    // Measured, not asserted: the JetStream API requests the 1 000 joins made
    // (a stream info each), and memory.
    eprintln!(
        "1 000 topics joined: {} JetStream API requests, {} server subscriptions, \
         nats-server RSS {} -> {} KiB, test process RSS {node_before} -> {} KiB",
        field(&jsz, "total"),
        subscriptions_held - subscriptions_before,
        memory_before / 1024,
        field(&nats.monitor("/varz").unwrap(), "mem") / 1024,
        rss_kib(),
    );
    assert_eq!(
        field(&nats.monitor("/connz").unwrap(), "num_connections"),
        1,
        "still one connection for 1 000 topics"
    );
    // Idle, they cost no message (the client's PINGs, one per second per
    // connection here, are not counted as messages; the monitor reads are
    // HTTP).
    let idle_from = server_messages(&nats);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = server_messages(&nats) - idle_from;
    eprintln!("1 000 idle followed topics: {idle} server messages in 3 s");
    assert!(idle < 20, "{idle} messages in 3 s for idle topics");
    // Each topic gets its events.
    for topic in [0, 499, 999] {
        hub.publish(&format!("topic {topic}"), Event::message(topic.to_string()))
            .await
            .unwrap();
        assert_eq!(
            data(&take(&mut subscriptions[topic], 1).await),
            [topic.to_string()]
        );
    }
    drop(subscriptions);
    eventually("no reader left", || hub.reading_topics() == 0).await;
    eventually("no consumer left", || consumers(&nats) == 0).await;
    eventually("no topic subscription left", || {
        server_subscriptions(&nats) <= subscriptions_before
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_failure_mid_replay_ends_the_stream_with_an_error() {
    let mut nats = NatsServer::start().unwrap();
    let config = NatsHubConfig::default()
        .with_replay_page(10)
        .with_request_timeout(Duration::from_millis(500));
    let hub = node_with(&nats, config).await;
    publish_many(&hub, "t", 100, 1, |i| i.to_string()).await;
    let mut resumed = hub.subscribe("t", Some("0"));
    assert_eq!(
        data(&take(&mut resumed, 10).await),
        (0..10).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    nats.kill();
    let next = tokio::time::timeout(WITHIN, resumed.next())
        .await
        .expect("fails within the request timeout, no hang");
    assert!(matches!(next, Some(Err(_))), "an error, not a silent end");
    assert!(resumed.next().await.is_none(), "the stream ends after it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_mid_replay_ends_the_stream() {
    let nats = NatsServer::start().unwrap();
    let hub = node_with(&nats, NatsHubConfig::default().with_replay_page(10)).await;
    publish_many(&hub, "t", 100, 1, |i| i.to_string()).await;
    let mut resumed = hub.subscribe("t", Some("0"));
    take(&mut resumed, 1).await;
    hub.shutdown();
    // What is already read goes out; no further page is read.
    assert_eq!(take(&mut resumed, 9).await.last().unwrap().data, "9");
    let next = tokio::time::timeout(WITHIN, resumed.next()).await.unwrap();
    assert!(matches!(next, Some(Err(ssekit_nats::Error::Shutdown))));
    assert!(resumed.next().await.is_none());
}

/// Drops every event of the stream before `sequence`, as limits would.
async fn purge_before(hub: &NatsHub, sequence: u64) {
    let jetstream = async_nats::jetstream::new(hub.client().clone());
    let stream = jetstream.get_stream("SSE").await.unwrap();
    stream.purge().sequence(sequence).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_past_the_last_delivered_event_mid_replay_gives_an_expired_gap() {
    let nats = NatsServer::start().unwrap();
    let hub = node_with(&nats, NatsHubConfig::default().with_replay_page(10)).await;
    let published = publish_many(&hub, "t", 100, 1, |i| i.to_string()).await;
    let mut resumed = hub.subscribe("t", Some("0"));
    let mut seen = vec![next_event(&mut resumed).await];
    // The first page (0..=9) is read; 10..=49 go before the next one.
    purge_before(&hub, published[50].parse().unwrap()).await;
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
    let expected_ids: Vec<String> = published[..10]
        .iter()
        .chain(&published[50..])
        .cloned()
        .collect();
    assert_eq!(ids(&seen), expected_ids);
    hub.publish("t", Event::message("live")).await.unwrap();
    assert_eq!(data(&take(&mut resumed, 1).await), ["live"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_only_delivered_events_mid_replay_gives_no_gap() {
    let nats = NatsServer::start().unwrap();
    let hub = node_with(&nats, NatsHubConfig::default().with_replay_page(10)).await;
    let published = publish_many(&hub, "t", 100, 1, |i| i.to_string()).await;
    let mut resumed = hub.subscribe("t", Some("0"));
    let mut seen = vec![next_event(&mut resumed).await];
    // Exactly the first page (0..=9) goes: the next page starts with 10.
    purge_before(&hub, published[10].parse().unwrap()).await;
    while seen.last().unwrap().data != "99" {
        seen.push(next_event(&mut resumed).await);
    }
    let expected: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert_eq!(data(&seen), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_notices_are_read_from_the_stream_once_in_order() {
    let nats = NatsServer::start().unwrap();
    let (a, b) = (node(&nats).await, node(&nats).await);
    let mut subscription = joined(&b, "t").await;
    let mut published = Vec::new();
    for i in 0..3 {
        published.push(a.publish("t", Event::message(i.to_string())).await.unwrap());
    }
    assert_eq!(ids(&take(&mut subscription, 3).await), published);
    // The node misses the next 3 notices (as a lost connection would); the
    // fourth shows the gap, and the missed events are read from the stream.
    b.skip_notices("t", 3);
    let mut after = Vec::new();
    for i in 3..7 {
        after.push(a.publish("t", Event::message(i.to_string())).await.unwrap());
    }
    assert_eq!(ids(&take(&mut subscription, 4).await), after);
    // Live again after the gap, and nothing read from the stream comes twice.
    a.publish("t", Event::message("live")).await.unwrap();
    assert_eq!(data(&take(&mut subscription, 1).await), ["live"]);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), subscription.next())
            .await
            .is_err(),
        "nothing twice"
    );
}

/// A long gap (300 notices missed) is read a page at a time after the first
/// few direct gets: every event once, in order, in far fewer requests than
/// one per event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_gap_is_read_in_pages_once_in_order() {
    let nats = NatsServer::start().unwrap();
    let (a, b) = (node(&nats).await, node(&nats).await);
    let mut subscription = joined(&b, "t").await;
    a.publish("t", Event::message("first")).await.unwrap();
    assert_eq!(data(&take(&mut subscription, 1).await), ["first"]);
    b.skip_notices("t", 300);
    let mut published = Vec::new();
    for i in 0..300 {
        published.push(a.publish("t", Event::message(i.to_string())).await.unwrap());
    }
    // Received by the server from here: the last publish, and the gap's reads.
    let before = field(&nats.monitor("/varz").unwrap(), "in_msgs");
    published.push(a.publish("t", Event::message("300")).await.unwrap());
    let seen = take_within(&mut subscription, 301, Duration::from_secs(30)).await;
    assert_eq!(ids(&seen), published, "once each, in order");
    let requests = field(&nats.monitor("/varz").unwrap(), "in_msgs") - before;
    assert!(
        requests < 100,
        "{requests} messages to the server for a gap of 300: not one request an event"
    );
    eventually("the page consumers are deleted", || consumers(&nats) == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_without_republish_is_reported_not_silently_used() {
    let nats = NatsServer::start().unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    // As an older version of this crate made it: no RePublish.
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: "SSE".to_owned(),
            subjects: vec!["sse.>".to_owned()],
            ..Default::default()
        })
        .await
        .unwrap();
    let refused = NatsHub::connect(&nats.url(), NatsHubConfig::default()).await;
    assert!(
        matches!(refused, Err(ssekit_nats::Error::IncompatibleStream(ref name)) if name == "SSE"),
        "{:?}",
        refused.err()
    );
    // Another stream and prefix next to it work.
    let hub = NatsHub::connect(
        &nats.url(),
        NatsHubConfig::default()
            .with_stream("SSE2")
            .with_subject_prefix("sse2"),
    )
    .await
    .unwrap();
    let mut subscription = joined(&hub, "t").await;
    let id = hub.publish("t", Event::message("x")).await.unwrap();
    assert_eq!(ids(&take(&mut subscription, 1).await), [id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_dropped_while_starting_leave_no_consumers() {
    let nats = NatsServer::start().unwrap();
    let hub = node(&nats).await;
    let subscriptions_before = server_subscriptions(&nats);
    publish_many(&hub, "t", 200, 20, |i| i.to_string()).await;
    // Dropped at different points of their start: joining, first page.
    for micros in [0, 200, 500, 1_000, 2_000, 5_000] {
        for last_event_id in [None, Some("0"), Some("100")] {
            let mut subscription = hub.subscribe("t", last_event_id);
            let _ = tokio::time::timeout(Duration::from_micros(micros), subscription.next()).await;
            drop(subscription);
        }
    }
    eventually("no reader left", || hub.reading_topics() == 0).await;
    eventually("no consumer left", || consumers(&nats) == 0).await;
    eventually("no topic subscription left", || {
        server_subscriptions(&nats) <= subscriptions_before
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_over_the_servers_max_payload_is_refused() {
    let nats = NatsServer::start().unwrap();
    let hub = node(&nats).await;
    let started = tokio::time::Instant::now();
    let error = hub
        .publish("t", Event::message("x".repeat(2 << 20)))
        .await
        .unwrap_err();
    assert!(matches!(error, ssekit_nats::Error::Nats(_)), "{error}");
    assert!(started.elapsed() < WITHIN, "no hang");
    // The hub goes on.
    hub.publish("t", Event::message("small")).await.unwrap();
}

/// Code written against the core's trait, as for the in-process hub.
async fn relay<B: ssekit::hub::Broadcaster>(rooms: &B, last: &str) -> (String, B::Subscription) {
    let subscription = rooms.subscribe("lobby", Some(last));
    let id = rooms
        .publish("lobby", Event::message("welcome"))
        .await
        .unwrap();
    (id, subscription)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_is_a_broadcaster() {
    let nats = NatsServer::start().unwrap();
    let hub = node(&nats).await;
    let first = hub.publish("lobby", Event::message("first")).await.unwrap();
    let (id, mut subscription) = relay(&hub, &first).await;
    let seen = take(&mut subscription, 1).await;
    assert_eq!(ids(&seen), [id]);
    assert_eq!(
        ssekit::hub::Broadcaster::local_subscriber_count(&hub, "lobby"),
        1
    );
    ssekit::hub::Broadcaster::shutdown(&hub);
    assert!(subscription.next().await.is_none());
}

/// The server's memory for followed topics, at the issue's scale: one core
/// subscription each (about 42 KiB each with the consumers of before); and
/// 100 000 joins at once all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "100 000 topics: run alone, with --ignored --test-threads=1"]
async fn a_hundred_thousand_topics_joined_at_once_cost_the_server_little_memory() {
    const TOPICS: usize = 100_000;
    let nats = NatsServer::start().unwrap();
    let hub = node(&nats).await;
    let memory_before = field(&nats.monitor("/varz").unwrap(), "mem");
    let subscriptions_before = server_subscriptions(&nats);
    // All at once, as clients arriving together after a node restart: the
    // node queues the joins (256 at a time), none times out.
    let subscriptions: Vec<_> = (0..TOPICS)
        .map(|topic| {
            let mut subscription = hub.subscribe(&format!("topic {topic}"), None);
            // Driven by a task of its own (a subscription joins as it is
            // polled); an error (a join that timed out) ends it.
            tokio::spawn(async move {
                match subscription.next().await {
                    Some(Err(error)) => Err(error.to_string()),
                    _ => Ok(()),
                }
            })
        })
        .collect();
    let joined = |hub: &NatsHub| {
        (0..TOPICS)
            .filter(|topic| hub.local_subscriber_count(&format!("topic {topic}")) == 1)
            .count()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut subscriptions = subscriptions;
    while joined(&hub) < TOPICS {
        if let Some(ended) = subscriptions.iter().position(|task| task.is_finished()) {
            let result = subscriptions.swap_remove(ended).await;
            panic!("a join ended: {result:?}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {TOPICS} topics joined",
            joined(&hub)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eventually("every topic followed", || hub.reading_topics() == TOPICS).await;
    let memory_after = field(&nats.monitor("/varz").unwrap(), "mem");
    let held = server_subscriptions(&nats) - subscriptions_before;
    let per_topic = memory_after.saturating_sub(memory_before) / TOPICS as u64;
    eprintln!(
        "{TOPICS} followed topics: {held} server subscriptions, nats-server RSS {} -> {} KiB, \
         {per_topic} bytes per topic, {} consumers",
        memory_before / 1024,
        memory_after / 1024,
        consumers(&nats),
    );
    assert!(held >= TOPICS as u64);
    assert_eq!(consumers(&nats), 0);
    // Against 42 KiB per topic with a consumer each.
    assert!(per_topic < 4 * 1024, "{per_topic} bytes per topic");
    for task in subscriptions {
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reconnection_every_followed_topic_is_read_from_where_it_was() {
    const TOPICS: usize = 300;
    let mut nats = NatsServer::start().unwrap();
    let config = NatsHubConfig::default().with_request_timeout(Duration::from_millis(500));
    let (a, b) = (
        node_with(&nats, config.clone()).await,
        node_with(&nats, config).await,
    );
    let mut subscriptions = Vec::new();
    for topic in 0..TOPICS {
        subscriptions.push(joined(&b, &format!("t{topic}")).await);
    }
    // Each topic's notice is lost, and the topics stay idle: no later notice
    // shows the gap. Only the catch-up after a reconnection can find them.
    let mut published = Vec::new();
    for topic in 0..TOPICS {
        b.skip_notices(&format!("t{topic}"), 1);
        published.push(
            a.publish(&format!("t{topic}"), Event::message(topic.to_string()))
                .await
                .unwrap(),
        );
    }
    for subscription in &mut subscriptions {
        assert!(
            tokio::time::timeout(Duration::from_millis(5), subscription.next())
                .await
                .is_err(),
            "the notice was skipped"
        );
    }
    nats.restart().unwrap();
    for (topic, subscription) in subscriptions.iter_mut().enumerate() {
        let seen = take_within(subscription, 1, Duration::from_secs(20)).await;
        assert_eq!(ids(&seen), [published[topic].clone()], "topic {topic}");
    }
    // Once each: nothing more comes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for subscription in &mut subscriptions {
        assert!(
            tokio::time::timeout(Duration::from_millis(1), subscription.next())
                .await
                .is_err(),
            "nothing twice"
        );
    }
}
