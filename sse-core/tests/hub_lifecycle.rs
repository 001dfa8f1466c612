//! The hub at scale: topics that come and go leave nothing behind, and the
//! caps on topics and history bytes hold.

use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use ssekit::decode::events;
use ssekit::hub::{Hub, HubConfig, HubFull};
use ssekit::Event;

fn drain(subscription: &mut ssekit::hub::Subscription) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(Some(frame)) = subscription.next().now_or_never() {
        for event in events(frame.as_bytes()).unwrap() {
            out.push(event.data);
        }
    }
    out
}

#[tokio::test]
async fn a_topic_without_history_is_forgotten_with_its_last_subscriber() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_history(0));
    let mut subscription = hub.subscribe("t", None);
    let data = "x".repeat(16 * 1024);
    let mut seen = 0;
    for _ in 0..100 {
        hub.publish("t", Event::message(data.as_str()));
        seen += drain(&mut subscription).len();
    }
    assert_eq!(seen, 100);
    assert_eq!(hub.topic_count(), 1);
    drop(subscription);
    assert_eq!(hub.topic_count(), 0);
    assert_eq!(hub.history_bytes(), 0);
}

#[tokio::test]
async fn a_million_topics_published_once_without_history_leave_nothing() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_history(0));
    for n in 0..1_000_000 {
        hub.publish(&format!("user:{n}"), Event::message("hi"));
    }
    assert_eq!(hub.topic_count(), 0);
    assert_eq!(hub.history_bytes(), 0);
}

#[tokio::test]
async fn churning_topics_leave_nothing_behind() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_history(0));
    for n in 0..100_000 {
        let topic = format!("room:{n}");
        let mut subscription = hub.subscribe(&topic, None);
        hub.publish(&topic, Event::message("hello"));
        assert_eq!(drain(&mut subscription), ["hello"]);
    }
    assert_eq!(hub.topic_count(), 0);
}

#[tokio::test]
async fn distinct_topics_with_history_stay_within_the_topic_cap() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_max_topics(1_000));
    let mut ids = Vec::new();
    for n in 0..20_000 {
        let report = hub.publish(&format!("user:{n}"), Event::message("hi"));
        assert!(report.kept);
        assert!(hub.topic_count() <= 1_000);
        ids.push(report.id.unwrap());
    }
    assert_eq!(hub.topic_count(), 1_000);
    assert_eq!(hub.idle_topic_count(), 1_000);
    // The newest are kept, the least recently used went first: resuming from
    // an evicted topic's id says events may be missing.
    let mut newest = hub.subscribe("user:19999", Some(&ids[19_999]));
    assert!(drain(&mut newest).is_empty());
    let mut oldest = hub.subscribe("user:0", Some(&ids[0]));
    let seen = drain(&mut oldest);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains("expired"), "{seen:?}");
}

#[tokio::test]
async fn histories_stay_within_the_byte_cap() {
    let cap = 1024 * 1024;
    let hub: Hub = Hub::with_config(HubConfig::new().with_max_history_bytes(cap));
    let data = "y".repeat(4096);
    let mut most = 0;
    for n in 0..2_000 {
        hub.publish(&format!("t{}", n % 50), Event::message(data.as_str()));
        most = most.max(hub.history_bytes());
    }
    // Never more than the cap plus the newest event (text, frame, entry).
    assert!(most <= cap + 2 * 4096 + 256, "{most}");
    // A topic with a subscriber gives up its oldest events, not its stream.
    let mut live = hub.subscribe("busy", None);
    for _ in 0..1_000 {
        hub.publish("busy", Event::message(data.as_str()));
        assert!(hub.history_bytes() <= cap + 2 * 4096 + 256);
        drain(&mut live);
    }
    assert_eq!(hub.subscriber_count("busy"), 1);
}

#[tokio::test]
async fn a_full_hub_refuses_a_new_topic_and_says_why() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_max_topics(2));
    let _a = hub.subscribe("a", None);
    let _b = hub.subscribe("b", None);
    assert_eq!(
        hub.try_subscribe("c", None).unwrap_err(),
        HubFull { max_topics: 2 }
    );
    // The infallible form tells the client, then ends.
    let mut refused = hub.subscribe("c", None);
    let frame = refused.next().await.unwrap();
    let notice = &events(frame.as_bytes()).unwrap()[0];
    assert_eq!(notice.event_type, "gap");
    assert_eq!(notice.data, r#"{"reason":"full"}"#);
    assert!(refused.next().await.is_none());
    // A publish to a topic that cannot be made is not kept.
    assert!(!hub.publish("c", Event::message("lost")).kept);
    // Existing topics carry on.
    assert!(hub.publish("a", Event::message("fine")).kept);
    assert_eq!(hub.topic_count(), 2);
}

#[tokio::test]
async fn an_idle_topic_makes_room_for_a_new_one() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_max_topics(2));
    hub.publish("idle", Event::message("old news"));
    let _live = hub.subscribe("live", None);
    let _new = hub
        .try_subscribe("new", None)
        .expect("the idle topic makes room");
    assert_eq!(hub.topic_count(), 2);
    assert_eq!(hub.idle_topic_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn idle_topics_are_forgotten_when_their_history_ages_out_with_no_further_calls() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_max_age(Duration::from_secs(60)));
    for n in 0..1_000 {
        hub.publish(&format!("job:{n}"), Event::message("done"));
    }
    {
        // And one that had a subscriber.
        let _subscription = hub.subscribe("room", None);
        hub.publish("room", Event::message("bye"));
    }
    assert_eq!(hub.topic_count(), 1_001);
    assert!(hub.history_bytes() > 0);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(hub.topic_count(), 1_001, "not before the age");
    tokio::time::sleep(Duration::from_secs(31)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(hub.topic_count(), 0);
    assert_eq!(hub.history_bytes(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_topic_republished_while_idle_lives_on_until_its_newest_event_ages_out() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_max_age(Duration::from_secs(60)));
    hub.publish("t", Event::message("one"));
    tokio::time::sleep(Duration::from_secs(50)).await;
    hub.publish("t", Event::message("two"));
    tokio::time::sleep(Duration::from_secs(20)).await;
    tokio::task::yield_now().await;
    assert_eq!(hub.topic_count(), 1, "its newest event is 20 s old");
    let mut resumed = hub.subscribe("t", Some("1"));
    assert_eq!(drain(&mut resumed), ["two"]);
    drop(resumed);
    tokio::time::sleep(Duration::from_secs(41)).await;
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(hub.topic_count(), 0);
}

#[tokio::test]
async fn a_resume_from_the_oldest_id_holds_at_most_the_history() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_history(100));
    for n in 0..1_000 {
        hub.publish("t", Event::message(n.to_string()));
    }
    // A client that resumes and never reads: its queue holds handles to the
    // shared frames of at most the history, plus the gap notice.
    let stalled = hub.subscribe("t", Some("1"));
    assert_eq!(stalled.queued(), 100 + 1);
}
