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

/// Takes one frame's data (`None` once the stream ended, `Some(None)` if
/// nothing is ready).
fn next_data(subscription: &mut ssekit::hub::Subscription) -> Option<Option<String>> {
    match subscription.next().now_or_never() {
        Some(Some(frame)) => Some(Some(
            events(frame.as_bytes())
                .unwrap()
                .into_iter()
                .map(|event| format!("{}:{}", event.event_type, event.data))
                .collect::<Vec<_>>()
                .join(","),
        )),
        Some(None) => None,
        None => Some(None),
    }
}

#[tokio::test]
async fn a_stalled_resume_from_the_oldest_id_holds_at_most_one_page() {
    let queue = 16;
    let hub: Hub = Hub::with_config(HubConfig::new().with_history(1_000).with_queue(queue));
    for n in 1..=1_000 {
        hub.publish("t", Event::message(n.to_string()));
    }
    let mut stalled = hub.subscribe("t", Some("1"));
    assert_eq!(stalled.queued(), 0, "nothing is fetched before it reads");
    assert_eq!(next_data(&mut stalled), Some(Some("message:2".into())));
    // It stops reading: it holds the rest of one page, not the history.
    assert!(stalled.queued() < queue, "{}", stalled.queued());
    let mut seen = vec![2];
    while let Some(Some(data)) = next_data(&mut stalled) {
        seen.push(data.strip_prefix("message:").unwrap().parse().unwrap());
        assert!(stalled.queued() <= queue);
    }
    assert_eq!(
        seen,
        (2..=1_000).collect::<Vec<u32>>(),
        "all, once, in order"
    );
    hub.publish("t", Event::message("live"));
    assert_eq!(next_data(&mut stalled), Some(Some("message:live".into())));
}

#[tokio::test]
async fn history_dropped_during_a_paged_replay_gives_an_expired_gap_then_what_is_left() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_history(100).with_queue(10));
    for n in 1..=100 {
        hub.publish("t", Event::message(n.to_string()));
    }
    let mut resumed = hub.subscribe("t", Some("0"));
    let first: Vec<_> = (0..10).map(|_| next_data(&mut resumed)).collect();
    let expected: Vec<_> = (1..=10)
        .map(|n| Some(Some(format!("message:{n}"))))
        .collect();
    assert_eq!(first, expected);
    // 50 more push events 1..=50 out of history; 11..=50 were never sent.
    for n in 101..=150 {
        hub.publish("t", Event::message(n.to_string()));
    }
    let rest = drain(&mut resumed);
    assert_eq!(
        rest.first().map(String::as_str),
        Some(r#"{"reason":"expired"}"#)
    );
    // The replay covers what history held when it joined (through 100); the
    // live events after it come from the log, whose bound of 10 it fell
    // behind: it ends there, to resume with its last id.
    let replayed: Vec<u32> = rest[1..].iter().map(|d| d.parse().unwrap()).collect();
    assert_eq!(replayed, (51..=100).collect::<Vec<u32>>());
    assert_eq!(next_data(&mut resumed), None, "lagged: ended");
}

#[tokio::test]
async fn a_paged_replay_with_a_filter_sends_only_what_passes_it() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_history(1_000).with_queue(4));
    for n in 1..=1_000 {
        let event = Event::message(n.to_string());
        hub.publish(
            "t",
            if n % 100 == 0 {
                event.with_event("rare")
            } else {
                event
            },
        );
    }
    let rare =
        std::sync::Arc::new(|event: &ssekit::hub::Published<'_>| event.event_type == Some("rare"));
    let mut resumed = hub.subscribe_filtered("t", Some("0"), Some(rare));
    let data = drain(&mut resumed);
    let expected: Vec<String> = (1..=10).map(|n| (n * 100).to_string()).collect();
    assert_eq!(data, expected);
}

#[tokio::test]
async fn shutdown_during_a_paged_replay_ends_the_stream_after_its_page() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_history(1_000).with_queue(8));
    for n in 1..=1_000 {
        hub.publish("t", Event::message(n.to_string()));
    }
    let mut resumed = hub.subscribe("t", Some("0"));
    assert_eq!(next_data(&mut resumed), Some(Some("message:1".into())));
    hub.shutdown_with(Event::message("bye").with_event("shutdown"));
    let mut rest = Vec::new();
    while let Some(Some(data)) = next_data(&mut resumed) {
        rest.push(data);
    }
    assert_eq!(next_data(&mut resumed), None, "ended");
    let expected: Vec<String> = (2..=8)
        .map(|n| format!("message:{n}"))
        .chain(["shutdown:bye".to_owned()])
        .collect();
    assert_eq!(rest, expected, "the page it held, then the final event");
}
