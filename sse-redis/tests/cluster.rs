//! The hub on a real Redis Cluster of three masters that the tests start
//! (`testing::RedisCluster`): topics spread over every shard, every event
//! once in order on every node, resume and gaps, two connections per master
//! whatever the number of topics, and a master killed and restarted.

use std::time::Duration;

use common::{data, joined_on, publish_each, take, PATIENCE as WITHIN};
use futures_util::StreamExt;
use ssekit::decode::events;
use ssekit::Event;
use ssekit_redis::testing::RedisCluster;
use ssekit_redis::{Error, RedisHub, RedisHubConfig};
use tokio::time::Instant;

mod common;

async fn node(cluster: &RedisCluster, config: RedisHubConfig) -> RedisHub {
    RedisHub::connect_cluster(
        cluster.urls(),
        config.with_block(Duration::from_millis(200)),
    )
    .await
    .expect("connects to the cluster")
}

/// `per_master` topics on each master, found by asking the cluster where
/// each candidate's key lives, in master order.
fn topics_on_every_master(cluster: &RedisCluster, per_master: usize) -> Vec<Vec<String>> {
    let mut on = vec![Vec::new(); 3];
    for n in 0.. {
        let topic = format!("room-{n}");
        let master = cluster.master_of(&format!("sse:{topic}")).unwrap();
        if on[master].len() < per_master {
            on[master].push(topic);
        }
        if on.iter().all(|topics| topics.len() == per_master) {
            break;
        }
        assert!(n < 10_000, "no topic on some master: {on:?}");
    }
    on
}

/// `CLIENT LIST` lines on the master at `port` of connections named
/// `ssekit:<node>:...`.
async fn node_connections(url: &str, hub: &RedisHub) -> Vec<String> {
    let mut connection = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut connection)
        .await
        .unwrap();
    let name = format!("name=ssekit:{}:", hub.node_id());
    list.lines()
        .filter(|line| line.contains(&name))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_on_every_shard_reach_every_node_once_in_order_over_two_connections_per_master() {
    let cluster = RedisCluster::start().unwrap();
    let by_master = topics_on_every_master(&cluster, 2);
    let topics: Vec<String> = by_master.concat();
    let nodes = [
        node(&cluster, RedisHubConfig::default()).await,
        node(&cluster, RedisHubConfig::default()).await,
        node(&cluster, RedisHubConfig::default()).await,
    ];
    let mut subscriptions = Vec::new();
    for node in &nodes {
        for topic in &topics {
            subscriptions.push((
                topic.clone(),
                joined_on(node, topic, node.subscribe(topic, None)).await,
            ));
        }
    }
    let mut ids: Vec<Vec<String>> = vec![Vec::new(); topics.len()];
    for round in 0..10 {
        for (n, node) in nodes.iter().enumerate() {
            for (t, topic) in topics.iter().enumerate() {
                let id = node
                    .publish(topic, Event::message(format!("{round}-{n}")))
                    .await
                    .unwrap();
                ids[t].push(id);
            }
        }
    }
    for (topic, subscription) in &mut subscriptions {
        let t = topics.iter().position(|known| known == topic).unwrap();
        let seen = take(subscription, 30).await;
        let seen_ids: Vec<&str> = seen.iter().map(|e| e.last_event_id.as_str()).collect();
        assert_eq!(seen_ids, ids[t], "{topic}: every event once, in one order");
    }
    // Each topic's stream is on the master of its slot, as found above.
    for (master, topics) in by_master.iter().enumerate() {
        for topic in topics {
            assert_eq!(cluster.master_of(&format!("sse:{topic}")).unwrap(), master);
        }
    }
    // Two connections per master for each node, whatever its six topics.
    for url in cluster.urls() {
        for node in &nodes {
            let lines = node_connections(&url, node).await;
            assert_eq!(lines.len(), 2, "{url}: {lines:?}");
            assert!(
                lines.iter().any(|line| line.contains(":feed ")),
                "{lines:?}"
            );
            assert!(
                lines.iter().any(|line| line.contains(":commands ")),
                "{lines:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_and_gaps_work_on_every_shard() {
    let cluster = RedisCluster::start().unwrap();
    let topics: Vec<String> = topics_on_every_master(&cluster, 1).concat();
    let config = RedisHubConfig::default().with_max_len(10);
    let (a, b) = (
        node(&cluster, config.clone()).await,
        node(&cluster, config).await,
    );
    for topic in &topics {
        let mut ids = Vec::new();
        for i in 0..10 {
            ids.push(
                a.publish(topic, Event::message(i.to_string()))
                    .await
                    .unwrap(),
            );
        }
        // Resumed on the other node: exactly the missed events, then live.
        let mut resumed = b.subscribe(topic, Some(&ids[3]));
        assert_eq!(
            data(&take(&mut resumed, 6).await),
            ["4", "5", "6", "7", "8", "9"],
            "{topic}"
        );
        a.publish(topic, Event::message("live")).await.unwrap();
        assert_eq!(data(&take(&mut resumed, 1).await), ["live"], "{topic}");
        // Past `MAXLEN ~ 10` (trimmed in whole nodes of about 100 entries).
        for i in 10..400 {
            a.publish(topic, Event::message(i.to_string()))
                .await
                .unwrap();
        }
        let mut trimmed = b.subscribe(topic, Some(&ids[0]));
        let first = take(&mut trimmed, 1).await.remove(0);
        assert_eq!(first.event_type, "gap", "{topic}: {first:?}");
        assert!(first.data.contains(r#""reason":"expired""#), "{first:?}");
        let mut unknown = b.subscribe(topic, Some("99999999999999-0"));
        let first = take(&mut unknown, 1).await.remove(0);
        assert!(first.data.contains(r#""reason":"unknown""#), "{first:?}");
    }
}

/// Publishes to `topic` until one is acknowledged (the master is back),
/// within `WITHIN`; returns its id.
async fn publish_once_back(node: &RedisHub, topic: &str, text: &str) -> String {
    let deadline = Instant::now() + WITHIN;
    loop {
        match node.publish(topic, Event::message(text)).await {
            Ok(id) => return id,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("{topic}: the node never recovered: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_and_restarted_fails_its_publishes_fast_then_loses_nothing() {
    let mut cluster = RedisCluster::start().unwrap();
    let by_master = topics_on_every_master(&cluster, 1);
    // The master to kill holds `down`; `up` is on another one.
    let (down, up) = (by_master[1][0].clone(), by_master[2][0].clone());
    let config = RedisHubConfig::default().with_command_timeout(Duration::from_secs(1));
    let (reader, publisher) = (
        node(&cluster, config.clone()).await,
        node(&cluster, config).await,
    );
    let mut down_live = joined_on(&reader, &down, reader.subscribe(&down, None)).await;
    let mut up_live = joined_on(&reader, &up, reader.subscribe(&up, None)).await;
    let mut acknowledged = Vec::new();
    for i in 0..10 {
        let id = publisher
            .publish(&down, Event::message(format!("before {i}")))
            .await
            .unwrap();
        acknowledged.push(id);
    }
    assert_eq!(take(&mut down_live, 10).await.len(), 10);

    cluster.kill(1);
    // For a while (past the cluster's own node timeout, 1 s, when the other
    // masters mark it failed): its slots' publishes fail fast, with an error
    // that says Redis could not be reached, never a hang; the other shards
    // carry on, and so does the open stream of `up`.
    for round in 0..5 {
        let started = Instant::now();
        let failed = publisher.publish(&down, Event::message("lost?")).await;
        let took = started.elapsed();
        let error = failed.expect_err("a publish to a master that is down");
        assert!(
            took < Duration::from_secs(3),
            "round {round}: took {took:?} to fail: {error}"
        );
        let unreachable = match &error {
            Error::Redis(error) => {
                error.is_io_error()
                    || error.is_connection_refusal()
                    || error.is_cluster_error()
                    || error.kind() == redis::ErrorKind::ClusterConnectionNotFound
            }
            Error::Timeout(_) => true,
            _ => false,
        };
        assert!(unreachable, "round {round}: {error:?}");
        let text = format!("still up {round}");
        publisher
            .publish(&up, Event::message(text.as_str()))
            .await
            .unwrap();
        assert_eq!(data(&take(&mut up_live, 1).await), [text.as_str()]);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // A resume on that shard cannot start: it ends at once with an error.
    let mut resuming = publisher.subscribe(&down, Some(&acknowledged[0]));
    let started = tokio::time::timeout(WITHIN, resuming.next())
        .await
        .expect("a resume with its shard down ends within the patience");
    assert!(matches!(started, Some(Err(_))), "{started:?}");
    // Published while the reader's shard is away: delivered once it is back.
    cluster.restart(1).unwrap();
    let mut after = Vec::new();
    after.push(publish_once_back(&publisher, &down, "after 0").await);
    for i in 1..10 {
        after.push(
            publisher
                .publish(&down, Event::message(format!("after {i}")))
                .await
                .unwrap(),
        );
    }
    // The open stream of `down` stayed up and now gets the events published
    // since, once, in order (a failed publish may still have been stored).
    let mut seen = Vec::new();
    while seen.len() < after.len() {
        let event = take(&mut down_live, 1).await.remove(0);
        if event.data != "lost?" {
            seen.push(event.last_event_id);
        }
    }
    assert_eq!(seen, after, "after the restart: once, in order");
    // Every acknowledged event survived the restart: a fresh node resumes
    // them all from the first.
    let fresh = node(&cluster, RedisHubConfig::default()).await;
    let mut resumed = fresh.subscribe(&down, Some(&acknowledged[0]));
    let mut replayed = Vec::new();
    while replayed.len() < 9 + after.len() {
        let event = take(&mut resumed, 1).await.remove(0);
        if event.data != "lost?" {
            replayed.push(event.last_event_id);
        }
    }
    let mut expected = acknowledged[1..].to_vec();
    expected.extend(after);
    assert_eq!(replayed, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_600_topics_on_three_shards_holds_two_connections_per_master() {
    const TOPICS: usize = 600;
    let cluster = RedisCluster::start().unwrap();
    let publisher = node(&cluster, RedisHubConfig::default()).await;
    let reader = node(&cluster, RedisHubConfig::default()).await;
    let topics: Vec<String> = (0..TOPICS).map(|i| format!("many-{i}")).collect();
    let (sender, mut received) = tokio::sync::mpsc::unbounded_channel();
    for (index, topic) in topics.iter().enumerate() {
        let mut subscription = reader.subscribe(topic, None);
        let sender = sender.clone();
        tokio::spawn(async move {
            while let Some(Ok(frame)) = subscription.next().await {
                for event in events(frame.as_bytes()).unwrap() {
                    let _ = sender.send((index, event));
                }
            }
        });
    }
    let deadline = Instant::now() + WITHIN;
    for topic in &topics {
        while reader.local_subscriber_count(topic) == 0 {
            assert!(Instant::now() < deadline, "{topic} was never joined");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Joined once `reading_topics` counts each, and the feed answered them all.
    while reader.reading_topics() < TOPICS {
        assert!(Instant::now() < deadline, "{}", reader.reading_topics());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut on_master = [0; 3];
    for topic in &topics {
        on_master[cluster.master_of(&format!("sse:{topic}")).unwrap()] += 1;
    }
    assert!(on_master.iter().all(|&n| n > 100), "{on_master:?}");
    for url in cluster.urls() {
        assert_eq!(node_connections(&url, &reader).await.len(), 2, "{url}");
    }
    let ids = publish_each(&publisher, &topics).await;
    let mut seen = vec![None; TOPICS];
    for _ in 0..TOPICS {
        let (index, event) = tokio::time::timeout(WITHIN, received.recv())
            .await
            .expect("every topic's event within the patience")
            .expect("subscriptions alive");
        assert!(
            seen[index].is_none(),
            "a second event for {}",
            topics[index]
        );
        seen[index] = Some(event);
    }
    let more = tokio::time::timeout(Duration::from_millis(500), received.recv()).await;
    assert!(more.is_err(), "one more event: {more:?}");
    for (topic, event) in topics.iter().zip(seen) {
        let event = event.unwrap();
        assert_eq!((&event.data, &event.last_event_id), (topic, &ids[topic]));
    }
    // Still two per master, after the traffic.
    for url in cluster.urls() {
        assert_eq!(node_connections(&url, &reader).await.len(), 2, "{url}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_is_not_there_is_reported_as_refusing_connections() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = RedisHubConfig::default().with_command_timeout(Duration::from_secs(1));
    let started = Instant::now();
    let connected = RedisHub::connect_cluster([format!("redis://127.0.0.1:{port}")], config).await;
    let Err(error) = connected else {
        panic!("connected to nothing");
    };
    assert!(started.elapsed() < Duration::from_secs(5), "{error}");
    assert!(
        matches!(&error, Error::Redis(error) if error.to_string().contains("refused")),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_pubsub_connection_killed_while_publishing_loses_nothing() {
    let cluster = RedisCluster::start().unwrap();
    let topic = topics_on_every_master(&cluster, 1)[0][0].clone();
    let url = &cluster.urls()[0];
    let (reader, publisher) = (
        node(&cluster, RedisHubConfig::default()).await,
        node(&cluster, RedisHubConfig::default()).await,
    );
    let mut live = joined_on(&reader, &topic, reader.subscribe(&topic, None)).await;
    let total = 300;
    // Read as it comes (300 events are more than a subscriber's queue).
    let reading = tokio::spawn(async move { take(&mut live, total + 1).await });
    let publishing = {
        let (publisher, topic) = (publisher.clone(), topic.clone());
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..total {
                let id = publisher
                    .publish(&topic, Event::message(i.to_string()))
                    .await
                    .unwrap();
                ids.push(id);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            ids
        })
    };
    let mut admin = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut kills = 0;
    while kills < 3 && !publishing.is_finished() {
        tokio::time::sleep(Duration::from_millis(150)).await;
        // Not back, or not named again, yet: skipped.
        if let Some(id) = feed_connection_id(url, &reader).await {
            kills += kill_client(&mut admin, &id).await;
        }
    }
    assert_eq!(
        kills, 3,
        "the shard's pub/sub connection was killed 3 times"
    );
    let mut ids = publishing.await.unwrap();
    // Killed once more with nothing published after the one event that
    // follows at once: that event's notice is lost with the connection (but
    // for a reconnection faster than one publish), and only the node's own
    // reading of the stream, once the shard is back, delivers it.
    let deadline = Instant::now() + WITHIN;
    let id = loop {
        if let Some(id) = feed_connection_id(url, &reader).await {
            break id;
        }
        assert!(Instant::now() < deadline, "the feed never came back, named");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(kill_client(&mut admin, &id).await, 1);
    let last = publisher.publish(&topic, Event::message("last")).await;
    ids.push(last.unwrap());
    let seen = reading.await.unwrap();
    let seen: Vec<&str> = seen.iter().map(|e| e.last_event_id.as_str()).collect();
    assert_eq!(seen, ids, "once each, in order, across the kills");
}

/// The `id=` of `hub`'s pub/sub connection on the master at `url`, if it
/// has one named.
async fn feed_connection_id(url: &str, hub: &RedisHub) -> Option<String> {
    let lines = node_connections(url, hub).await;
    let line = lines.iter().find(|line| line.contains(":feed "))?;
    let id = line.split_whitespace().next()?.strip_prefix("id=")?;
    Some(id.to_owned())
}

/// `CLIENT KILL ID`: how many connections it closed.
async fn kill_client(admin: &mut redis::aio::MultiplexedConnection, id: &str) -> i64 {
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(admin)
        .await
        .unwrap()
}

/// `total_commands_processed` of the master at `url` (`INFO stats`).
async fn commands_processed(url: &str) -> u64 {
    let mut connection = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut connection)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("INFO stats has total_commands_processed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_topics_on_every_shard_cost_no_commands() {
    let cluster = RedisCluster::start().unwrap();
    let reader = node(&cluster, RedisHubConfig::default()).await;
    let topics: Vec<String> = (0..300).map(|i| format!("idle-{i}")).collect();
    let mut subscriptions: Vec<_> = topics
        .iter()
        .map(|topic| reader.subscribe(topic, None))
        .collect();
    // Polled together until every one has joined (none has an event).
    let polling = futures_util::future::join_all(subscriptions.iter_mut().map(|s| s.next()));
    let deadline = Instant::now() + WITHIN;
    tokio::select! {
        _ = polling => panic!("an idle topic yielded something"),
        _ = async {
            while reader.reading_topics() < topics.len()
                || topics.iter().any(|t| reader.local_subscriber_count(t) == 0)
            {
                assert!(Instant::now() < deadline, "never joined");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // The reads that follow each subscription's confirmation.
            tokio::time::sleep(Duration::from_millis(500)).await;
        } => {}
    }
    let urls = cluster.urls();
    let mut before = Vec::new();
    for url in &urls {
        before.push(commands_processed(url).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (url, before) in urls.iter().zip(before) {
        // This test's own `INFO` is one; a ping of the node's is at most
        // one more (every 5 s).
        let spent = commands_processed(url).await - before;
        assert!(spent < 10, "{url}: {spent} commands in 2 s for idle topics");
    }
    drop(subscriptions);
}

/// The whole cluster killed and restarted: once it is whole again and the
/// node has caught up, a topic it followed from before gets new events live
/// (its shard's pub/sub subscription is back), not only by a catch-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_whole_cluster_restarts_followed_topics_get_live_events_again() {
    let mut cluster = RedisCluster::start().unwrap();
    let topics: Vec<String> = topics_on_every_master(&cluster, 1)
        .into_iter()
        .flatten()
        .collect();
    let config = RedisHubConfig::default().with_command_timeout(Duration::from_secs(1));
    let (reader, publisher) = (
        node(&cluster, config.clone()).await,
        node(&cluster, config).await,
    );
    let mut streams = Vec::new();
    for topic in &topics {
        streams.push(joined_on(&reader, topic, reader.subscribe(topic, None)).await);
    }
    cluster.kill_all();
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.restart_all().unwrap();
    for topic in &topics {
        publish_once_back(&publisher, topic, "back").await;
    }
    for stream in &mut streams {
        assert_eq!(data(&take(stream, 1).await), ["back"]);
    }
    // Long after any catch-up: live delivery alone.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for (topic, stream) in topics.iter().zip(&mut streams) {
        publisher
            .publish(topic, Event::message("live"))
            .await
            .unwrap();
        assert_eq!(data(&take(stream, 1).await), ["live"], "{topic}");
    }
}
