//! The node's live feed against a real redis-server: a fixed number of
//! connections whatever the number of topics, no command for idle topics,
//! recovery of missed notices and of a lost pub/sub connection, key expiry,
//! and Redis's own reason when it refuses a node.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use ssekit::decode::{events, MessageEvent};
use ssekit::Event;
use ssekit_redis::testing::RedisServer;
use ssekit_redis::{RedisHub, RedisHubConfig, RedisSubscription};
use tokio::sync::mpsc;
use tokio::time::Instant;

mod common;

const WITHIN: Duration = Duration::from_secs(20);

async fn node(redis: &RedisServer, config: RedisHubConfig) -> RedisHub {
    RedisHub::connect(&redis.url(), config.with_block(Duration::from_millis(200)))
        .await
        .expect("connects")
}

/// A plain connection of the test's own, to look at Redis from outside.
async fn admin(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn query<T: redis::FromRedisValue>(
    connection: &mut redis::aio::MultiplexedConnection,
    command: &[&str],
) -> T {
    let mut cmd = redis::cmd(command[0]);
    for arg in &command[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(connection).await.unwrap()
}

/// `CLIENT LIST` lines of connections named `ssekit:<node>:...`.
async fn node_connections(
    connection: &mut redis::aio::MultiplexedConnection,
    hub: &RedisHub,
) -> Vec<String> {
    let list: String = query(connection, &["CLIENT", "LIST"]).await;
    let name = format!("name=ssekit:{}:", hub.node_id());
    list.lines()
        .filter(|line| line.contains(&name))
        .map(str::to_owned)
        .collect()
}

/// The `id=` of a node's pub/sub connection, among its `CLIENT LIST` lines.
fn feed_id(lines: &[String]) -> Option<String> {
    lines
        .iter()
        .find(|line| line.contains(":feed "))
        .and_then(|line| line.split(' ').next())
        .map(str::to_owned)
}

async fn commands_processed(connection: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = query(connection, &["INFO", "stats"]).await;
    info.lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .expect("INFO stats has total_commands_processed")
        .trim()
        .parse()
        .unwrap()
}

/// Reads each subscription in a task of its own, sending `(index, event)`
/// for every event it gets, so that thousands are read at once.
fn read_all(
    subscriptions: Vec<RedisSubscription>,
) -> mpsc::UnboundedReceiver<(usize, MessageEvent)> {
    let (sender, receiver) = mpsc::unbounded_channel();
    for (index, mut subscription) in subscriptions.into_iter().enumerate() {
        let sender = sender.clone();
        tokio::spawn(async move {
            while let Some(frame) = subscription.next().await {
                let frame = frame.expect("no Redis error");
                for event in events(frame.as_bytes()).unwrap() {
                    if sender.send((index, event)).is_err() {
                        return;
                    }
                }
            }
        });
    }
    receiver
}

/// Waits until each topic has its local subscriber on `hub` (joined: its
/// live feed is registered).
async fn until_joined(hub: &RedisHub, topics: &[String]) {
    let deadline = Instant::now() + WITHIN;
    for topic in topics {
        while hub.local_subscriber_count(topic) == 0 {
            assert!(Instant::now() < deadline, "{topic} was never joined");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    receiver: &mut mpsc::UnboundedReceiver<(usize, MessageEvent)>,
    n: usize,
) -> Vec<(usize, MessageEvent)> {
    let mut seen = Vec::with_capacity(n);
    while seen.len() < n {
        let next = tokio::time::timeout(WITHIN, receiver.recv())
            .await
            .unwrap_or_else(|_| panic!("stalled after {} of {n} events", seen.len()))
            .expect("readers alive");
        seen.push(next);
    }
    seen
}

/// Nothing more arrives for a while.
async fn nothing_more(receiver: &mut mpsc::UnboundedReceiver<(usize, MessageEvent)>) {
    if let Ok(Some((index, event))) =
        tokio::time::timeout(Duration::from_millis(500), receiver.recv()).await
    {
        panic!("unexpected event {event:?} for subscription {index}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_2000_topics_holds_two_connections_and_gets_every_event_once() {
    const TOPICS: usize = 2_000;
    let redis = RedisServer::start().unwrap();
    let publisher = node(&redis, RedisHubConfig::default()).await;
    let reader = node(&redis, RedisHubConfig::default()).await;
    let topics: Vec<String> = (0..TOPICS).map(|i| format!("topic-{i}")).collect();
    let subscriptions = topics.iter().map(|t| reader.subscribe(t, None)).collect();
    let mut received = read_all(subscriptions);
    until_joined(&reader, &topics).await;
    assert_eq!(reader.reading_topics(), TOPICS);

    let mut admin = admin(&redis).await;
    let connections = node_connections(&mut admin, &reader).await;
    assert!(
        connections.len() <= 4,
        "{} connections for one node: {connections:#?}",
        connections.len()
    );
    // Both of them: the command connection and the pub/sub one.
    assert_eq!(connections.len(), 2, "{connections:#?}");
    let clients: String = query(&mut admin, &["CLIENT", "LIST"]).await;
    assert!(
        clients.lines().count() <= 5,
        "two nodes and this client: {clients}"
    );

    let ids = common::publish_each(&publisher, &topics).await;
    let mut seen: Vec<Option<MessageEvent>> = vec![None; TOPICS];
    for (index, event) in receive(&mut received, TOPICS).await {
        assert!(
            seen[index].is_none(),
            "a second event for {}",
            topics[index]
        );
        seen[index] = Some(event);
    }
    nothing_more(&mut received).await;
    for (topic, event) in topics.iter().zip(seen) {
        let event = event.unwrap();
        assert_eq!((&event.data, &event.last_event_id), (topic, &ids[topic]));
    }
    // Still two, after the traffic.
    assert_eq!(node_connections(&mut admin, &reader).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_topics_cost_no_redis_commands() {
    const TOPICS: usize = 1_000;
    let redis = RedisServer::start().unwrap();
    let hub = node(&redis, RedisHubConfig::default()).await;
    let topics: Vec<String> = (0..TOPICS).map(|i| format!("idle-{i}")).collect();
    let subscriptions = topics.iter().map(|t| hub.subscribe(t, None)).collect();
    let _received = read_all(subscriptions);
    until_joined(&hub, &topics).await;
    // Settled: the joins are done.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut admin = admin(&redis).await;
    let before = commands_processed(&mut admin).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = commands_processed(&mut admin).await;
    // The INFO itself, and at most a PING of the pub/sub connection.
    assert!(
        after - before < 50,
        "{} commands in 2 s for {TOPICS} idle topics",
        after - before
    );
    assert_eq!(hub.reading_topics(), TOPICS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_added_without_its_notice_is_read_from_the_stream_in_order() {
    let redis = RedisServer::start().unwrap();
    let hub = node(&redis, RedisHubConfig::default()).await;
    let topic = "t".to_owned();
    let mut received = read_all(vec![hub.subscribe(&topic, None)]);
    until_joined(&hub, std::slice::from_ref(&topic)).await;
    let first = hub.publish(&topic, Event::message("first")).await.unwrap();
    // Bypassing the script: no notice on the channel.
    let mut admin = admin(&redis).await;
    let direct: String = query(&mut admin, &["XADD", "sse:t", "*", "data", "direct"]).await;
    let last = hub.publish(&topic, Event::message("last")).await.unwrap();
    let seen: Vec<(String, String)> = receive(&mut received, 3)
        .await
        .into_iter()
        .map(|(_, event)| (event.data, event.last_event_id))
        .collect();
    assert_eq!(
        seen,
        [
            ("first".to_owned(), first),
            ("direct".to_owned(), direct),
            ("last".to_owned(), last)
        ]
    );
    nothing_more(&mut received).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_while_the_pubsub_connection_is_away_arrive_once_after_it_is_back() {
    let redis = RedisServer::start().unwrap();
    let publisher = node(&redis, RedisHubConfig::default()).await;
    let reader = node(&redis, RedisHubConfig::default()).await;
    let topics: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
    let subscriptions = topics.iter().map(|t| reader.subscribe(t, None)).collect();
    let mut received = read_all(subscriptions);
    until_joined(&reader, &topics).await;
    let mut admin = admin(&redis).await;
    let before = feed_id(&node_connections(&mut admin, &reader).await).expect("a feed connection");

    let publishing = {
        let topics = topics.clone();
        tokio::spawn(async move {
            let mut ids: HashMap<String, Vec<String>> = HashMap::new();
            for round in 0..40 {
                for topic in &topics {
                    let id = publisher
                        .publish(topic, Event::message(round.to_string()))
                        .await
                        .unwrap();
                    ids.entry(topic.clone()).or_default().push(id);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            ids
        })
    };
    // Killed three times while events go on being published.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let killed: u64 = query(&mut admin, &["CLIENT", "KILL", "TYPE", "pubsub"]).await;
        assert!(killed >= 1, "the pub/sub connection was killed");
    }
    let ids = publishing.await.unwrap();
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for (index, event) in receive(&mut received, 400).await {
        seen.entry(topics[index].clone())
            .or_default()
            .push(event.last_event_id);
    }
    nothing_more(&mut received).await;
    assert_eq!(seen, ids, "every event once, in order, per topic");
    let after = feed_id(&node_connections(&mut admin, &reader).await).expect("reconnected");
    assert_ne!(before, after, "a new pub/sub connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_publish_sets_the_stream_key_expiry_again() {
    let redis = RedisServer::start().unwrap();
    let idle = Duration::from_secs(60);
    let hub = node(&redis, RedisHubConfig::default().with_idle_expiry(idle)).await;
    let mut admin = admin(&redis).await;
    hub.publish("t", Event::message("1")).await.unwrap();
    let first: i64 = query(&mut admin, &["PTTL", "sse:t"]).await;
    assert!(
        (50_000..=60_000).contains(&first),
        "about the idle expiry: {first} ms"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let aged: i64 = query(&mut admin, &["PTTL", "sse:t"]).await;
    assert!(aged <= first - 1_000, "counting down: {first} then {aged}");
    hub.publish("t", Event::message("2")).await.unwrap();
    let refreshed: i64 = query(&mut admin, &["PTTL", "sse:t"]).await;
    assert!(refreshed > aged + 500, "set again: {aged} then {refreshed}");

    let forever = node(&redis, RedisHubConfig::default().without_idle_expiry()).await;
    forever.publish("kept", Event::message("x")).await.unwrap();
    let none: i64 = query(&mut admin, &["PTTL", "sse:kept"]).await;
    assert_eq!(none, -1, "no expiry");
    // The default: a day.
    let default = node(&redis, RedisHubConfig::default()).await;
    default.publish("day", Event::message("x")).await.unwrap();
    let day: i64 = query(&mut admin, &["PTTL", "sse:day"]).await;
    assert!((86_000_000..=86_400_000).contains(&day), "{day}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redis_is_reported_as_such() {
    let redis = RedisServer::start_with(&["--maxclients", "2"]).unwrap();
    // Two clients of the test's own take both places.
    let _first = admin(&redis).await;
    let _second = admin(&redis).await;
    let error = RedisHub::connect(&redis.url(), RedisHubConfig::default())
        .await
        .err()
        .expect("refused");
    assert!(
        error.to_string().contains("max number of clients"),
        "the cause, not a timeout: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_redis_will_not_take_back_says_why_then_recovers() {
    let redis = RedisServer::start().unwrap();
    let config = RedisHubConfig::default().with_command_timeout(Duration::from_millis(500));
    let hub = node(&redis, config).await;
    let mut admin = admin(&redis).await;
    let mut subscription = hub.subscribe("t", None);
    // Redis full from now on (lowering it keeps the clients it has), then
    // the node's connections closed: it cannot come back.
    let _: () = query(&mut admin, &["CONFIG", "SET", "maxclients", "1"]).await;
    for line in node_connections(&mut admin, &hub).await {
        let id = line.split(' ').next().unwrap().trim_start_matches("id=");
        let _: u64 = query(&mut admin, &["CLIENT", "KILL", "ID", id]).await;
    }
    let deadline = Instant::now() + WITHIN;
    loop {
        assert!(Instant::now() < deadline, "publish never told why");
        let error = hub.publish("t", Event::message("x")).await.unwrap_err();
        if error.to_string().contains("max number of clients") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = subscription.next().await.expect("an error");
    let error = first.unwrap_err().to_string();
    assert!(error.contains("max number of clients"), "{error}");

    let _: () = query(&mut admin, &["CONFIG", "SET", "maxclients", "100"]).await;
    let deadline = Instant::now() + WITHIN;
    while let Err(error) = hub.publish("t", Event::message("back")).await {
        assert!(Instant::now() < deadline, "never recovered: {error}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + WITHIN;
    while node_connections(&mut admin, &hub).await.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the pub/sub connection never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_the_password_is_told_so() {
    let redis = RedisServer::start_with(&["--requirepass", "secret"]).unwrap();
    let port = redis.url().rsplit(':').next().unwrap().to_owned();
    let without = RedisHub::connect(&redis.url(), RedisHubConfig::default())
        .await
        .err()
        .expect("refused without a password");
    assert!(without.to_string().contains("NOAUTH"), "{without}");
    let wrong = format!("redis://:wrong@127.0.0.1:{port}");
    let wrong = RedisHub::connect(&wrong, RedisHubConfig::default())
        .await
        .err()
        .expect("refused with a wrong password");
    assert!(wrong.to_string().contains("WRONGPASS"), "{wrong}");
    let right = format!("redis://:secret@127.0.0.1:{port}");
    let hub = RedisHub::connect(&right, RedisHubConfig::default())
        .await
        .expect("accepted with the password");
    hub.publish("t", Event::message("x")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_topic_unsubscribes_from_its_channel() {
    let redis = RedisServer::start().unwrap();
    let hub = node(&redis, RedisHubConfig::default()).await;
    let mut admin = admin(&redis).await;
    let topics = ["a".to_owned(), "b".to_owned()];
    let mut subscriptions: Vec<RedisSubscription> =
        topics.iter().map(|t| hub.subscribe(t, None)).collect();
    for subscription in &mut subscriptions {
        assert!(
            tokio::time::timeout(Duration::from_millis(300), subscription.next())
                .await
                .is_err()
        );
    }
    until_joined(&hub, &topics).await;
    let mut channels: Vec<String> = query(&mut admin, &["PUBSUB", "CHANNELS"]).await;
    channels.sort();
    assert_eq!(channels, ["sse:a", "sse:b"]);
    drop(subscriptions.remove(0));
    let deadline = Instant::now() + WITHIN;
    loop {
        let channels: Vec<String> = query(&mut admin, &["PUBSUB", "CHANNELS"]).await;
        if channels == ["sse:b"] {
            break;
        }
        assert!(Instant::now() < deadline, "still subscribed: {channels:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(hub.reading_topics(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_is_not_there_is_reported_as_refusing_connections() {
    let mut redis = RedisServer::start().unwrap();
    let config = RedisHubConfig::default().with_command_timeout(Duration::from_millis(500));
    let hub = node(&redis, config.clone()).await;
    redis.kill();
    let error = RedisHub::connect(&redis.url(), config)
        .await
        .err()
        .expect("nothing listens");
    assert!(error.to_string().contains("refused"), "{error}");
    let deadline = Instant::now() + WITHIN;
    loop {
        let error = hub.publish("t", Event::message("x")).await.unwrap_err();
        if error.to_string().contains("refused") {
            break;
        }
        assert!(Instant::now() < deadline, "publish never told why: {error}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_gap_is_read_in_several_pages_in_order() {
    const MISSED: usize = 1_200;
    let redis = RedisServer::start().unwrap();
    // A queue that holds the whole gap: this is about reading it, not lag.
    let hub = node(&redis, RedisHubConfig::default().with_queue(4096)).await;
    let topic = "t".to_owned();
    let mut received = read_all(vec![hub.subscribe(&topic, None)]);
    until_joined(&hub, std::slice::from_ref(&topic)).await;
    let mut admin = admin(&redis).await;
    let mut direct = redis::pipe();
    for i in 0..MISSED {
        direct
            .cmd("XADD")
            .arg("sse:t")
            .arg("*")
            .arg("data")
            .arg(i.to_string());
    }
    let mut ids: Vec<String> = direct.query_async(&mut admin).await.unwrap();
    ids.push(hub.publish(&topic, Event::message("last")).await.unwrap());
    let seen: Vec<String> = receive(&mut received, MISSED + 1)
        .await
        .into_iter()
        .map(|(_, event)| event.last_event_id)
        .collect();
    assert_eq!(seen, ids, "the gap, then the notice's entry, once each");
    nothing_more(&mut received).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reconnection_every_followed_topic_is_read_from_where_it_was() {
    const TOPICS: usize = 600;
    let redis = RedisServer::start().unwrap();
    let hub = node(&redis, RedisHubConfig::default()).await;
    let topics: Vec<String> = (0..TOPICS).map(|i| format!("t{i}")).collect();
    let subscriptions = topics.iter().map(|t| hub.subscribe(t, None)).collect();
    let mut received = read_all(subscriptions);
    until_joined(&hub, &topics).await;
    let mut admin = admin(&redis).await;
    // Entries the node cannot know of (no notice), one per topic, then the
    // pub/sub connection lost: the node must read every topic again.
    let mut direct = redis::pipe();
    for topic in &topics {
        direct
            .cmd("XADD")
            .arg(format!("sse:{topic}"))
            .arg("*")
            .arg("data")
            .arg(topic);
    }
    let ids: Vec<String> = direct.query_async(&mut admin).await.unwrap();
    let killed: u64 = query(&mut admin, &["CLIENT", "KILL", "TYPE", "pubsub"]).await;
    assert_eq!(killed, 1);
    let mut seen: Vec<Option<MessageEvent>> = vec![None; TOPICS];
    for (index, event) in receive(&mut received, TOPICS).await {
        assert!(
            seen[index].is_none(),
            "a second event for {}",
            topics[index]
        );
        seen[index] = Some(event);
    }
    nothing_more(&mut received).await;
    for ((topic, id), event) in topics.iter().zip(&ids).zip(seen) {
        let event = event.unwrap();
        assert_eq!((&event.data, &event.last_event_id), (topic, id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pubsub_connection_closed_for_its_output_buffer_loses_nothing() {
    let redis = RedisServer::start().unwrap();
    let hub = node(&redis, RedisHubConfig::default()).await;
    let topic = "t".to_owned();
    let mut received = read_all(vec![hub.subscribe(&topic, None)]);
    until_joined(&hub, std::slice::from_ref(&topic)).await;
    let mut admin = admin(&redis).await;
    let before = feed_id(&node_connections(&mut admin, &hub).await);
    assert!(before.is_some());
    // Any notice over 1 kB makes Redis close the pub/sub connection.
    let _: () = query(
        &mut admin,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1kb 1kb 0",
        ],
    )
    .await;
    let big = "x".repeat(16 * 1024);
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = hub
            .publish(&topic, Event::message(format!("{i} {big}")))
            .await
            .unwrap();
        ids.push(id);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen: Vec<String> = receive(&mut received, 3)
        .await
        .into_iter()
        .map(|(_, event)| event.last_event_id)
        .collect();
    assert_eq!(seen, ids);
    nothing_more(&mut received).await;
    let after = feed_id(&node_connections(&mut admin, &hub).await);
    assert_ne!(
        after, before,
        "Redis closed the pub/sub connection, the node opened another"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_is_not_a_stream_fails_its_own_topic_only() {
    let redis = RedisServer::start().unwrap();
    let hub = node(&redis, RedisHubConfig::default()).await;
    let mut admin = admin(&redis).await;
    let _: () = query(&mut admin, &["SET", "sse:bad", "not a stream"]).await;
    let good: Vec<String> = (0..20).map(|i| format!("good-{i}")).collect();
    // Joined together, so that they share the node's batches.
    let mut bad = hub.subscribe("bad", None);
    let subscriptions = good.iter().map(|t| hub.subscribe(t, None)).collect();
    let mut received = read_all(subscriptions);
    let error = tokio::time::timeout(WITHIN, bad.next())
        .await
        .unwrap()
        .expect("an item")
        .unwrap_err();
    assert!(error.to_string().contains("WRONGTYPE"), "{error}");
    until_joined(&hub, &good).await;
    for topic in &good {
        hub.publish(topic, Event::message(topic.clone()))
            .await
            .unwrap();
    }
    let mut seen: Vec<String> = receive(&mut received, good.len())
        .await
        .into_iter()
        .map(|(_, event)| event.data)
        .collect();
    seen.sort();
    let mut expected = good.clone();
    expected.sort();
    assert_eq!(seen, expected);
    let deadline = Instant::now() + WITHIN;
    loop {
        let channels: Vec<String> = query(&mut admin, &["PUBSUB", "CHANNELS", "sse:bad"]).await;
        if channels.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still subscribed to sse:bad");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// While the feed task is busy, notices wait in a bounded queue; those that
/// find it full are dropped, and their topics read from the stream: every
/// event still arrives once, in order, and the queue never held more than
/// its bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_beyond_the_feed_queue_are_dropped_and_read_from_the_stream() {
    let redis = RedisServer::start().unwrap();
    let queue = 8;
    let subscriber = node(&redis, RedisHubConfig::default().with_feed_queue(queue)).await;
    let publisher = node(&redis, RedisHubConfig::default()).await;
    let topics: Vec<String> = (0..4).map(|n| format!("busy {n}")).collect();
    let mut received = read_all(
        topics
            .iter()
            .map(|t| subscriber.subscribe(t, None))
            .collect(),
    );
    until_joined(&subscriber, &topics).await;
    let dropped_before = RedisHub::dropped_notices();
    // The feed task does nothing for a while: 4 × 50 notices for a queue of 8.
    subscriber.stall_feed(Duration::from_secs(1));
    let per_topic = 50;
    for n in 0..per_topic {
        for topic in &topics {
            publisher
                .publish(topic, Event::message(n.to_string()))
                .await
                .unwrap();
        }
    }
    let seen = receive(&mut received, topics.len() * per_topic).await;
    let mut by_topic: HashMap<usize, Vec<String>> = HashMap::new();
    for (topic, event) in seen {
        by_topic.entry(topic).or_default().push(event.data);
    }
    let expected: Vec<String> = (0..per_topic).map(|n| n.to_string()).collect();
    for topic in 0..topics.len() {
        assert_eq!(
            by_topic[&topic], expected,
            "topic {topic}: every event once, in order"
        );
    }
    nothing_more(&mut received).await;
    assert!(
        RedisHub::dropped_notices() - dropped_before >= (topics.len() * per_topic - queue) as u64,
        "the queue held no more than {queue} notices"
    );
}
