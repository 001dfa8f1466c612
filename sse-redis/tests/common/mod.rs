//! Helpers shared by the test files (each uses some of them: every file is
//! its own crate, hence the `allow`).
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use ssekit::decode::{events, MessageEvent};
use ssekit::Event;
use ssekit_redis::{RedisHub, RedisSubscription};

/// How long a test waits for what it is owed: generous, these are
/// correctness tests on a shared machine.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The next `n` dispatched events of a subscription.
pub async fn take(subscription: &mut RedisSubscription, n: usize) -> Vec<MessageEvent> {
    let mut seen = Vec::new();
    while seen.len() < n {
        let frame = tokio::time::timeout(PATIENCE, subscription.next())
            .await
            .unwrap_or_else(|_| panic!("stalled after {} of {n} events: {seen:?}", seen.len()))
            .expect("stream ended")
            .expect("no Redis error");
        seen.extend(events(frame.as_bytes()).unwrap());
    }
    seen
}

/// The data of each event.
pub fn data(events: &[MessageEvent]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

/// Polls once so the subscription joins its topic before publishing starts.
pub async fn joined(mut subscription: RedisSubscription) -> RedisSubscription {
    assert!(
        tokio::time::timeout(Duration::from_millis(300), subscription.next())
            .await
            .is_err()
    );
    subscription
}

/// Polls `subscription` (which must yield nothing meanwhile) until `hub`
/// counts it among `topic`'s local subscribers, its live feed registered:
/// only events published after that are owed to it, and a machine busy
/// with other builds may take longer than [`joined`]'s one poll.
pub async fn joined_on(
    hub: &RedisHub,
    topic: &str,
    mut subscription: RedisSubscription,
) -> RedisSubscription {
    let before = hub.local_subscriber_count(topic);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while hub.local_subscriber_count(topic) <= before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{topic} was never joined"
        );
        let polled = tokio::time::timeout(Duration::from_millis(50), subscription.next()).await;
        assert!(
            polled.is_err(),
            "{topic}: something before any publish: {polled:?}"
        );
    }
    subscription
}

/// Publishes one event to each topic, its data the topic's name, 100 at a
/// time; returns each topic's event id.
pub async fn publish_each(publisher: &RedisHub, topics: &[String]) -> HashMap<String, String> {
    let mut ids = HashMap::new();
    for chunk in topics.chunks(100) {
        let batch = chunk
            .iter()
            .map(|topic| publisher.publish(topic, Event::message(topic.clone())));
        for (topic, id) in chunk
            .iter()
            .zip(futures_util::future::join_all(batch).await)
        {
            ids.insert(topic.clone(), id.unwrap());
        }
    }
    ids
}
