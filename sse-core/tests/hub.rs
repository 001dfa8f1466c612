//! The broadcast hub: fan-out, resume, lag policies, churn, shutdown.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use ssekit::decode::{events, MessageEvent};
use ssekit::hub::{Hub, HubConfig, IdMode, LagPolicy, Published, Subscription};
use ssekit::{Event, Frame};

fn decode(frame: &Frame) -> MessageEvent {
    let mut seen = events(frame.as_bytes()).unwrap();
    assert_eq!(seen.len(), 1, "{frame:?}");
    seen.remove(0)
}

/// Everything queued right now, without waiting.
fn drain(subscription: &mut Subscription) -> Vec<MessageEvent> {
    let mut out = Vec::new();
    while let Some(Some(frame)) = subscription.next().now_or_never() {
        out.push(decode(&frame));
    }
    out
}

fn ids(events: &[MessageEvent]) -> Vec<String> {
    events.iter().map(|e| e.last_event_id.clone()).collect()
}

fn publish_n(hub: &Hub, topic: &str, n: usize) {
    for i in 0..n {
        hub.publish(topic, Event::message(format!("m{i}")));
    }
}

#[tokio::test]
async fn one_encoding_shared_by_every_subscriber() {
    let hub: Hub = Hub::new();
    let mut a = hub.subscribe("t", None);
    let mut b = hub.subscribe("t", None);
    let report = hub.publish("t", Event::message("hello"));
    assert_eq!(report.delivered, 2);
    assert_eq!(report.id.as_deref(), Some("1"));
    let (fa, fb) = (a.next().await.unwrap(), b.next().await.unwrap());
    assert_eq!(fa.as_bytes(), b"id: 1\ndata: hello\n\n");
    assert_eq!(
        fa.as_bytes().as_ptr(),
        fb.as_bytes().as_ptr(),
        "same bytes, not a copy"
    );
}

#[tokio::test]
async fn topics_are_separate_and_ids_grow() {
    let hub: Hub = Hub::new();
    let mut a = hub.subscribe("a", None);
    let mut b = hub.subscribe("b", None);
    hub.publish("a", Event::message("1"));
    hub.publish("b", Event::message("2"));
    hub.publish("a", Event::message("3"));
    let a_seen = drain(&mut a);
    assert_eq!(
        a_seen.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(),
        ["1", "3"]
    );
    let a_ids: Vec<u64> = ids(&a_seen).iter().map(|i| i.parse().unwrap()).collect();
    assert!(a_ids[0] < a_ids[1]);
    assert_eq!(drain(&mut b).len(), 1);
}

/// What `IdMode::Assign` documents: topics take numbers from one counter
/// for the hub in blocks of 64, so a topic's ids increase, are consecutive
/// within a block and jump between blocks, and no two topics share an id.
#[tokio::test]
async fn assigned_ids_come_from_one_hub_wide_counter_in_blocks() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_first_id(10));
    let mut a = hub.subscribe("a", None);
    let mut b = hub.subscribe("b", None);
    for (topic, data) in [
        ("a", "a1"),
        ("b", "b1"),
        ("a", "a2"),
        ("b", "b2"),
        ("a", "a3"),
    ] {
        hub.publish(topic, Event::message(data));
    }
    assert_eq!(ids(&drain(&mut a)), ["10", "11", "12"]);
    assert_eq!(ids(&drain(&mut b)), ["74", "75"]);
    // Past its block, a topic takes the next one free.
    for n in 0..62 {
        hub.publish("a", Event::message(n.to_string()));
    }
    let a_ids = ids(&drain(&mut a));
    assert_eq!(a_ids[60..], ["73", "138"]);
    hub.publish("b", Event::message("b3"));
    assert_eq!(ids(&drain(&mut b)), ["76"]);
}

#[tokio::test]
async fn resume_gets_exactly_what_was_missed_then_live() {
    let hub: Hub = Hub::new();
    publish_n(&hub, "t", 10);
    let mut resumed = hub.subscribe("t", Some("4"));
    hub.publish("t", Event::message("live"));
    let seen = drain(&mut resumed);
    assert_eq!(ids(&seen), ["5", "6", "7", "8", "9", "10", "11"]);
    assert_eq!(seen.last().unwrap().data, "live");
}

#[tokio::test]
async fn resume_from_the_newest_id_replays_nothing() {
    let hub: Hub = Hub::new();
    publish_n(&hub, "t", 3);
    let mut resumed = hub.subscribe("t", Some("3"));
    assert!(drain(&mut resumed).is_empty());
}

#[tokio::test]
async fn an_expired_id_gets_a_gap_then_all_history() {
    let hub: Hub = Hub::with_config(HubConfig::default().with_history(3));
    publish_n(&hub, "t", 10);
    let mut resumed = hub.subscribe("t", Some("2"));
    let seen = drain(&mut resumed);
    assert_eq!(seen[0].event_type, "gap");
    assert_eq!(seen[0].data, r#"{"reason":"expired"}"#);
    assert_eq!(ids(&seen[1..]), ["8", "9", "10"]);

    // The newest evicted id is still exactly resumable: what follows it is kept.
    let mut resumed = hub.subscribe("t", Some("7"));
    assert_eq!(ids(&drain(&mut resumed)), ["8", "9", "10"]);
}

#[tokio::test]
async fn an_unknown_id_gets_a_gap_then_live_only() {
    let hub: Hub = Hub::new();
    publish_n(&hub, "t", 3);
    for unknown in ["abc", "99", "-1", ""] {
        let mut resumed = hub.subscribe("t", Some(unknown));
        hub.publish("t", Event::message("live"));
        let seen = drain(&mut resumed);
        assert_eq!(seen[0].event_type, "gap", "{unknown:?}");
        assert_eq!(seen[0].data, r#"{"reason":"unknown"}"#);
        assert_eq!(
            seen[1..]
                .iter()
                .map(|e| e.data.as_str())
                .collect::<Vec<_>>(),
            ["live"]
        );
    }
}

#[tokio::test(start_paused = true)]
async fn history_is_bounded_by_age() {
    let hub: Hub = Hub::with_config(HubConfig::default().with_max_age(Duration::from_secs(60)));
    publish_n(&hub, "t", 2); // ids 1, 2
    tokio::time::advance(Duration::from_secs(45)).await;
    publish_n(&hub, "t", 1); // id 3
    tokio::time::advance(Duration::from_secs(30)).await; // 1 and 2 are now 75 s old
    let seen = drain(&mut hub.subscribe("t", Some("1")));
    assert_eq!(seen[0].event_type, "gap");
    assert_eq!(ids(&seen[1..]), ["3"]);
    assert_eq!(ids(&drain(&mut hub.subscribe("t", Some("2")))), ["3"]);
}

#[tokio::test]
async fn keep_mode_resumes_by_the_publishers_ids() {
    let hub: Hub = Hub::with_config(HubConfig::default().with_ids(IdMode::Keep));
    for id in ["a", "b", "c"] {
        hub.publish("t", Event::message(id).try_with_id(id).unwrap());
    }
    assert_eq!(ids(&drain(&mut hub.subscribe("t", Some("a")))), ["b", "c"]);
    let seen = drain(&mut hub.subscribe("t", Some("zzz")));
    assert_eq!(seen[0].event_type, "gap");
}

#[tokio::test]
async fn lagging_subscriber_is_disconnected_and_resumes_without_loss() {
    let hub: Hub = Hub::with_config(HubConfig::default().with_queue(4));
    let mut slow = hub.subscribe("t", None);
    let mut at_the_bound = hub.subscribe("t", None);
    let mut fast = hub.subscribe("t", None);
    hub.publish("t", Event::message("0"));
    // The slow one reads the first event, then stops reading.
    assert_eq!(decode(&slow.next().await.unwrap()).last_event_id, "1");
    let mut fast_seen = drain(&mut fast);
    for i in 1..10 {
        hub.publish("t", Event::message(i.to_string()));
        fast_seen.extend(drain(&mut fast));
        assert!(slow.queued() <= 4);
        if i == 3 {
            // Exactly its queue's worth behind: not lagging.
            let caught_up = drain(&mut at_the_bound);
            assert_eq!(ids(&caught_up), ["1", "2", "3", "4"]);
        }
    }
    assert_eq!(
        fast_seen.len(),
        10,
        "a slow subscriber never holds up the others"
    );
    assert_eq!(
        hub.subscriber_count("t"),
        3,
        "lag is found out when the subscriber reads, not by the publisher"
    );
    // Nine behind, more than its queue: its stream ends at once, after what
    // it had read, and it leaves the topic.
    assert!(slow.next().await.is_none());
    assert_eq!(hub.subscriber_count("t"), 2);
    // Reconnecting with its last id, it gets the rest.
    let rest = drain(&mut hub.subscribe("t", Some("1")));
    assert_eq!(ids(&rest), ["2", "3", "4", "5", "6", "7", "8", "9", "10"]);
    // The one that caught up at the bound, then fell behind again, lags too.
    assert!(at_the_bound.next().await.is_none());
}

#[tokio::test]
async fn drop_oldest_policy_reports_the_gap() {
    let hub: Hub = Hub::with_config(
        HubConfig::default()
            .with_queue(4)
            .with_lag_policy(LagPolicy::DropOldest),
    );
    let mut slow = hub.subscribe("t", None);
    publish_n(&hub, "t", 10);
    assert_eq!(slow.queued(), 4);
    let seen = drain(&mut slow);
    assert_eq!(seen[0].event_type, "gap");
    assert_eq!(seen[0].data, r#"{"reason":"lagged","missed":6}"#);
    assert_eq!(ids(&seen[1..]), ["7", "8", "9", "10"]);
    assert_eq!(hub.subscriber_count("t"), 1, "still subscribed");
}

#[tokio::test]
async fn filters_apply_to_live_and_replayed_events() {
    let hub: Hub = Hub::new();
    hub.publish("t", Event::message("a").with_event("alert"));
    hub.publish("t", Event::message("b"));
    let only_alerts = Arc::new(|e: &Published<'_>| e.event_type == Some("alert"));
    let mut sub = hub.subscribe_filtered("t", Some("0"), Some(only_alerts));
    hub.publish("t", Event::message("c").with_event("alert"));
    hub.publish("t", Event::message("d"));
    let seen = drain(&mut sub);
    assert_eq!(
        seen.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(),
        ["a", "c"]
    );
}

#[tokio::test]
async fn churn_leaves_no_subscriber_behind() {
    // Room for every event, so the idle `keep` subscriber is not dropped for lagging.
    let hub: Hub = Hub::with_config(HubConfig::default().with_queue(200));
    let keep = hub.subscribe("busy", None);
    for i in 0..10_000 {
        let topic = if i % 2 == 0 { "busy" } else { "quiet" };
        let sub = hub.subscribe(topic, None);
        if i % 100 == 0 {
            hub.publish("busy", Event::message("x"));
        }
        drop(sub);
    }
    assert_eq!(hub.subscriber_count("busy"), 1);
    assert_eq!(hub.subscriber_count("quiet"), 0);
    drop(keep);
    assert_eq!(hub.subscriber_count("busy"), 0);
    // A topic that never carried an event is forgotten; one with history stays.
    assert_eq!(hub.topic_count(), 1);
    hub.remove_topic("busy");
    assert_eq!(hub.topic_count(), 0);
}

#[tokio::test]
async fn shutdown_ends_every_stream_with_the_final_event() {
    let hub: Hub = Hub::new();
    let mut a = hub.subscribe("a", None);
    let mut b = hub.subscribe("b", None);
    hub.publish("a", Event::message("before"));
    hub.shutdown_with(Event::message("bye").with_event("shutdown"));
    let a_seen: Vec<_> = a.by_ref().map(|f| decode(&f)).collect().await;
    assert_eq!(
        a_seen.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(),
        ["before", "bye"]
    );
    assert_eq!(
        b.next().await.map(|f| decode(&f).event_type).as_deref(),
        Some("shutdown")
    );
    assert!(b.next().await.is_none());
    // Late subscribers end at once, with the same final event.
    let late: Vec<_> = hub.subscribe("c", None).collect().await;
    assert_eq!(late.len(), 1);
    assert_eq!(hub.publish("a", Event::message("after")).delivered, 0);
}

#[tokio::test]
async fn a_waiting_subscriber_is_woken_by_publish() {
    let hub: Hub = Hub::new();
    let mut sub = hub.subscribe("t", None);
    let waiting = tokio::spawn(async move { sub.next().await.map(|f| decode(&f).data) });
    tokio::task::yield_now().await;
    hub.publish("t", Event::message("wake"));
    let got = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.as_deref(), Some("wake"));
}

/// Publishers and reconnecting subscribers race; every subscriber still sees
/// every event after its first one exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_in_order_across_replay_and_live_under_concurrency() {
    const TOTAL: u64 = 3000;
    let hub: Hub = Hub::with_config(
        HubConfig::default()
            .with_history(TOTAL as usize)
            .with_queue(8),
    );
    let mut consumers = Vec::new();
    for c in 0..6u64 {
        let hub = hub.clone();
        // Subscribed before the publisher starts: a task first run after
        // the last event would wait for one that never comes.
        let mut sub = hub.subscribe("t", None);
        consumers.push(tokio::spawn(async move {
            let mut seen: Vec<u64> = Vec::new();
            while seen.last() != Some(&TOTAL) {
                let next = tokio::time::timeout(Duration::from_secs(10), sub.next()).await;
                let next = next
                    .unwrap_or_else(|_| panic!("stalled: consumer {c} after {:?}", seen.last()));
                match next {
                    Some(frame) => {
                        let event = decode(&frame);
                        seen.push(event.last_event_id.parse().unwrap());
                        // Reconnect now and then, as browsers do, with the last id.
                        if (seen.len() as u64 + c) % 97 == 0 {
                            let last = event.last_event_id.clone();
                            drop(sub);
                            sub = hub.subscribe("t", Some(&last));
                        }
                    }
                    // Disconnected for lagging: resume (from the start if it
                    // had nothing yet, or it could wait for an event that
                    // was already published).
                    None => {
                        let last = seen.last().map_or("0".to_owned(), u64::to_string);
                        sub = hub.subscribe("t", Some(&last));
                    }
                }
            }
            seen
        }));
    }
    let publisher = tokio::spawn({
        let hub = hub.clone();
        async move {
            for i in 1..=TOTAL {
                hub.publish("t", Event::message(i.to_string()));
                if i % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }
    });
    publisher.await.unwrap();
    for consumer in consumers {
        let seen = consumer.await.unwrap();
        let first = seen[0];
        let expected: Vec<u64> = (first..=TOTAL).collect();
        assert_eq!(seen, expected, "duplicates, gaps or disorder");
    }
    assert_eq!(hub.subscriber_count("t"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_subscription_is_a_source_with_keep_alive() {
    use ssekit::adapter::SseBody;
    use ssekit::{KeepAlive, PublishOptions};
    let hub: Hub = Hub::new();
    let options = PublishOptions::new()
        .with_keep_alive(KeepAlive::new().with_interval(Duration::from_secs(5)));
    let mut body = SseBody::new(hub.subscribe("t", None), &options);
    hub.publish("t", Event::message("x"));
    assert_eq!(body.next().await.unwrap().unwrap(), "id: 1\ndata: x\n\n");
    assert_eq!(body.next().await.unwrap().unwrap(), ": keep-alive\n\n");
    assert_eq!(hub.subscriber_count("t"), 1);
    drop(body); // the client went away
    assert_eq!(hub.subscriber_count("t"), 0);
}

#[test]
fn hub_and_subscription_are_thread_safe() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Hub>();
    assert_send_sync::<Subscription>();
}

#[tokio::test]
async fn clock_based_ids_survive_a_restart() {
    let before = Hub::<String>::with_config(HubConfig::default().with_ids_from_clock());
    let old_id = before.publish("t", Event::message("old")).id.unwrap();
    drop(before); // the process restarts
    tokio::time::sleep(Duration::from_millis(2)).await;
    let after = Hub::<String>::with_config(HubConfig::default().with_ids_from_clock());
    let mut resumed = after.subscribe("t", Some(&old_id));
    after.publish("t", Event::message("new"));
    let seen = drain(&mut resumed);
    assert_eq!(seen.len(), 1, "no gap notice, just the new event: {seen:?}");
    assert!(seen[0].last_event_id.parse::<u64>().unwrap() > old_id.parse::<u64>().unwrap());
}

#[tokio::test]
async fn delivered_counts_the_subscribers_an_event_was_offered_to() {
    let hub: Hub = Hub::with_config(HubConfig::default().with_queue(2));
    let mut stalled = hub.subscribe("t", None);
    let mut healthy = hub.subscribe("t", None);
    for n in 1..=3 {
        // The stalled one is still subscribed: it has not read since.
        assert_eq!(hub.publish("t", Event::message(n.to_string())).delivered, 2);
        drain(&mut healthy);
    }
    // Three behind with a queue of two: found out as it reads, and gone.
    assert!(stalled.next().await.is_none());
    assert_eq!(hub.subscriber_count("t"), 1);
    assert_eq!(hub.publish("t", Event::message("4")).delivered, 1);
}

#[tokio::test]
async fn a_subscription_can_outlive_its_hub() {
    let hub: Hub<u32> = Hub::new();
    let mut subscription = hub.subscribe(&7, None);
    hub.publish(&7, Event::message("last words"));
    drop(hub);
    // What was queued is still delivered; leaving needs no hub.
    assert_eq!(
        decode(&subscription.next().await.unwrap()).data,
        "last words"
    );
    drop(subscription);
}

/// A waker that uses the hub from inside `wake`: counts the topic's
/// subscribers and, the first time, publishes again (as an executor that
/// polls on the spot, or a wake hook, might).
struct HubUsingWaker {
    hub: Hub,
    wakes: std::sync::atomic::AtomicUsize,
}

impl std::task::Wake for HubUsingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        let first = self.wakes.fetch_add(1, Ordering::SeqCst) == 0;
        // Takes the hub's map and the topic's lock.
        let _ = self.hub.subscriber_count("t");
        if first {
            self.hub.publish("t", Event::message("from the waker"));
        }
    }
}

/// Waking runs foreign code, so the hub wakes subscribers with none of its
/// locks held: here a waker that uses the hub would otherwise deadlock on the
/// topic's lock, in publish and in shutdown (lag disconnection and topic
/// removal gather their wakers the same way).
#[test]
fn a_waker_may_use_the_hub_while_it_is_woken() {
    use std::task::{Context, Poll, Waker};
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let hub: Hub = Hub::new();
        let mut subscription = hub.subscribe("t", None);
        let waker = Arc::new(HubUsingWaker {
            hub: hub.clone(),
            wakes: Default::default(),
        });
        let waker = Waker::from(waker.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(subscription.poll_next_unpin(&mut cx).is_pending());
        hub.publish("t", Event::message("first"));
        let mut got = Vec::new();
        while let Poll::Ready(Some(frame)) = subscription.poll_next_unpin(&mut cx) {
            got.push(decode(&frame).data);
        }
        // Waiting again, then the hub shuts down: the waker runs once more.
        hub.shutdown();
        let ended = subscription.poll_next_unpin(&mut cx);
        let _ = done.send((got, matches!(ended, Poll::Ready(None))));
    });
    let (got, ended) = finished
        .recv_timeout(Duration::from_secs(30))
        .expect("publishing deadlocked in a waker that uses the hub");
    assert_eq!(got, ["first", "from the waker"]);
    assert!(ended);
}
