//! Presence on the in-process hub: several `Presence` nodes on one hub
//! stand for the nodes of a backplane (the backplane suite runs the same
//! over Redis and NATS).

use std::time::Duration;

use futures_util::StreamExt;
use ssekit::decode::{Decoded, Decoder};
use ssekit::hub::Hub;
use ssekit::presence::{Member, Presence, PresenceConfig, PresenceError, PresenceEvent};
use ssekit::{Event, IntoFrame};

fn member(id: &str) -> Member {
    Member::new(id).expect("a valid id")
}

fn quick() -> PresenceConfig {
    PresenceConfig::new().with_heartbeat(Duration::from_millis(100))
}

async fn next<S: futures_core::Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .expect("an item within 30 s")
        .expect("the stream goes on")
}

/// The ids of who `presence` sees in `topic`.
async fn present(presence: &Presence<Hub>, topic: &str) -> Vec<String> {
    let members = presence.members(topic).await.expect("within the bounds");
    members.iter().map(|m| m.id().to_owned()).collect()
}

#[tokio::test]
async fn a_member_with_two_connections_joins_once_and_leaves_with_the_last() {
    let hub: Hub = Hub::new();
    let presence = Presence::with_config(hub, quick());
    let mut changes = presence.changes("room").unwrap();
    assert_eq!(next(&mut changes).await, PresenceEvent::Present(vec![]));
    let tab1 = presence.join("room", member("alice")).unwrap();
    let tab2 = presence.join("room", member("alice")).unwrap();
    assert_eq!(
        next(&mut changes).await,
        PresenceEvent::Joined(member("alice"))
    );
    assert_eq!(presence.local_members("room"), [member("alice")]);
    drop(tab1);
    let bob = presence.join("room", member("bob")).unwrap();
    // Bob's join comes next: alice did not leave in between.
    assert_eq!(
        next(&mut changes).await,
        PresenceEvent::Joined(member("bob"))
    );
    drop(tab2);
    assert_eq!(
        next(&mut changes).await,
        PresenceEvent::Left(member("alice"))
    );
    assert_eq!(presence.members("room").await.unwrap(), [member("bob")]);
    drop(bob);
    assert_eq!(next(&mut changes).await, PresenceEvent::Left(member("bob")));
}

#[tokio::test]
async fn every_node_sees_every_member_in_one_order() {
    let hub: Hub = Hub::new();
    let nodes: Vec<_> = (0..3)
        .map(|_| Presence::with_config(hub.clone(), quick()))
        .collect();
    let mut watchers = Vec::new();
    for node in &nodes {
        let mut changes = node.changes("room").unwrap();
        assert_eq!(next(&mut changes).await, PresenceEvent::Present(vec![]));
        watchers.push(changes);
    }
    let mut held = Vec::new();
    for (i, id) in ["alice", "bob", "carol", "dave"].iter().enumerate() {
        held.push(nodes[i % 3].join("room", member(id)).unwrap());
    }
    let mut orders = Vec::new();
    for changes in &mut watchers {
        let mut order = Vec::new();
        for _ in 0..4 {
            order.push(next(changes).await);
        }
        orders.push(order);
    }
    held.remove(1); // bob
    for (changes, order) in watchers.iter_mut().zip(&mut orders) {
        order.push(next(changes).await);
    }
    assert_eq!(orders[0][4], PresenceEvent::Left(member("bob")));
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "one order: {orders:?}"
    );
    for node in &nodes {
        assert_eq!(present(node, "room").await, ["alice", "carol", "dave"]);
    }
    // A late node learns who is there from the others.
    let late = Presence::with_config(hub.clone(), quick());
    assert_eq!(present(&late, "room").await, ["alice", "carol", "dave"]);
}

#[tokio::test]
async fn a_node_that_shuts_down_takes_its_members_at_once() {
    let hub: Hub = Hub::new();
    // A long heartbeat: only the goodbye can make the member leave in time.
    let slow = PresenceConfig::new().with_heartbeat(Duration::from_secs(3600));
    let a = Presence::with_config(hub.clone(), slow.clone());
    let b = Presence::with_config(hub.clone(), slow);
    let mut changes = b.changes("room").unwrap();
    assert_eq!(next(&mut changes).await, PresenceEvent::Present(vec![]));
    let _alice = a.join("room", member("alice")).unwrap();
    assert_eq!(
        next(&mut changes).await,
        PresenceEvent::Joined(member("alice"))
    );
    a.shutdown().await;
    assert_eq!(
        next(&mut changes).await,
        PresenceEvent::Left(member("alice"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_silent_node_s_members_leave_after_the_node_timeout() {
    let hub: Hub = Hub::new();
    let config = PresenceConfig::new().with_heartbeat(Duration::from_secs(5));
    let a = Presence::with_config(hub.clone(), config.clone());
    let b = Presence::with_config(hub.clone(), config.clone());
    let mut changes = b.changes("room").unwrap();
    assert_eq!(next(&mut changes).await, PresenceEvent::Present(vec![]));
    let _alice = a.join("room", member("alice")).unwrap();
    assert_eq!(
        next(&mut changes).await,
        PresenceEvent::Joined(member("alice"))
    );
    let crashed = tokio::time::Instant::now();
    a.abandon();
    assert_eq!(
        next(&mut changes).await,
        PresenceEvent::Left(member("alice"))
    );
    let waited = crashed.elapsed();
    assert!(
        waited >= config.node_timeout() && waited <= config.node_timeout() + Duration::from_secs(6),
        "left after {waited:?}"
    );
}

#[tokio::test]
async fn presence_events_join_the_topic_s_stream_without_ids() {
    let hub: Hub = Hub::new();
    let presence = Presence::with_config(hub.clone(), quick());
    let mut alice = presence.subscribe("room", member("alice"), None).unwrap();
    let mut decoder = Decoder::new();
    let mut read = async |stream: &mut ssekit::presence::PresenceStream<Hub>| {
        let frame = next(stream).await.into_frame().expect("a frame");
        match decoder.feed(frame.as_bytes()).unwrap().remove(0) {
            Decoded::Event(event) => event,
            other => panic!("{other:?}"),
        }
    };
    let first = read(&mut alice).await;
    assert_eq!(first.event_type, "presence");
    assert_eq!(first.data, r#"{"present":[{"id":"alice"}]}"#);
    hub.publish("room", Event::message("hello"));
    let message = read(&mut alice).await;
    assert_eq!(message.data, "hello");
    let id = message.last_event_id;
    let bob = presence
        .subscribe("room", member("bob").with_info("Bob \"B\"").unwrap(), None)
        .unwrap();
    let joined = read(&mut alice).await;
    assert_eq!(joined.data, r#"{"joined":{"id":"bob","info":"Bob \"B\""}}"#);
    assert_eq!(
        joined.last_event_id, id,
        "presence events leave the last event id alone"
    );
    drop(bob);
    assert_eq!(
        read(&mut alice).await.data,
        r#"{"left":{"id":"bob","info":"Bob \"B\""}}"#
    );
}

#[tokio::test]
async fn members_and_topics_are_bounded() {
    let hub: Hub = Hub::new();
    let config = quick().with_max_members(2).with_max_topics(2);
    let presence = Presence::with_config(hub, config);
    let _a = presence.join("one", member("a")).unwrap();
    let _b = presence.join("one", member("b")).unwrap();
    let _b_again = presence
        .join("one", member("b"))
        .expect("a second connection is no new member");
    assert_eq!(
        presence.join("one", member("c")).unwrap_err(),
        PresenceError::TopicFull { max_members: 2 }
    );
    let _t = presence.join("two", member("a")).unwrap();
    assert_eq!(
        presence.join("three", member("a")).unwrap_err(),
        PresenceError::TooManyTopics { max_topics: 2 }
    );
    assert!(presence.changes("three").is_err());
    assert_eq!(presence.tracked_topics(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_topic_nobody_follows_is_forgotten() {
    let hub: Hub = Hub::new();
    let presence = Presence::with_config(hub.clone(), quick());
    for n in 0..50 {
        let topic = format!("short-lived/{n}");
        let guard = presence.join(&topic, member("a")).unwrap();
        assert_eq!(presence.members(&topic).await.unwrap(), [member("a")]);
        drop(guard);
    }
    assert_eq!(presence.tracked_topics(), 50);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(presence.tracked_topics(), 0, "views linger, then go");
}

#[tokio::test]
async fn a_watcher_that_falls_behind_gets_the_whole_list_again() {
    let hub: Hub = Hub::new();
    let presence = Presence::with_config(hub.clone(), quick());
    let mut behind = presence.changes("room").unwrap();
    let mut reader = presence.changes("room").unwrap();
    assert_eq!(next(&mut behind).await, PresenceEvent::Present(vec![]));
    assert_eq!(next(&mut reader).await, PresenceEvent::Present(vec![]));
    let mut held = Vec::new();
    for n in 0..300 {
        held.push(presence.join("room", member(&format!("m{n:03}"))).unwrap());
        // One list per join, so that there are 300 changes.
        assert!(matches!(next(&mut reader).await, PresenceEvent::Joined(_)));
    }
    match next(&mut behind).await {
        PresenceEvent::Present(members) => assert_eq!(members.len(), 300),
        other => panic!("the whole list, not {other:?}"),
    }
    drop(held.pop());
    assert_eq!(next(&mut behind).await, PresenceEvent::Left(member("m299")));
}

#[tokio::test]
async fn a_flood_of_nodes_and_members_is_bounded() {
    let hub: Hub = Hub::new();
    // The default heartbeat: the made-up nodes are not timed out meanwhile.
    let config = PresenceConfig::new().with_max_nodes(10).with_max_members(5);
    let presence = Presence::with_config(hub.clone(), config);
    let mut changes = presence.changes("room").unwrap();
    assert_eq!(next(&mut changes).await, PresenceEvent::Present(vec![]));
    // Fifty made-up nodes, each claiming twenty members: what a buggy or
    // hostile publisher on the control topics could send.
    for node in 0..50 {
        hub.publish(
            "_presence",
            Event::new()
                .with_event("alive")
                .with_data(format!("fake{node}")),
        );
        let mut list = format!("fake{node}");
        for m in 0..20 {
            list.push_str(&format!("\nn{node}m{m}"));
        }
        hub.publish(
            "_presence/room",
            Event::new().with_event("state").with_data(list),
        );
    }
    // A last list from a node it does hear, to know the flood was read.
    let _marker = presence.join("room", member("marker")).unwrap();
    loop {
        if let PresenceEvent::Joined(m) = next(&mut changes).await {
            if m.id() == "marker" {
                break;
            }
        }
    }
    assert_eq!(presence.nodes(), 10, "at most max_nodes heard");
    let members = presence.members("room").await.unwrap();
    assert_eq!(
        members.len(),
        10 * 5 + 1,
        "max_members from each of max_nodes, and ours"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_control_subscription_dropped_for_lagging_is_made_anew() {
    use ssekit::hub::{HubConfig, LagPolicy};
    // A queue of 4 and disconnect on lag: a flood on the control topics
    // drops the nodes' subscriptions to them.
    let hub: Hub = Hub::with_config(
        HubConfig::default()
            .with_queue(4)
            .with_lag_policy(LagPolicy::Disconnect),
    );
    let a = Presence::with_config(hub.clone(), quick());
    let b = Presence::with_config(hub.clone(), quick());
    let mut changes = b.changes("room").unwrap();
    assert_eq!(next(&mut changes).await, PresenceEvent::Present(vec![]));
    // No await in between: the tasks cannot read, and fall behind.
    for n in 0..100 {
        hub.publish(
            "_presence/room",
            Event::new().with_event("junk").with_data(n.to_string()),
        );
        hub.publish(
            "_presence",
            Event::new().with_event("junk").with_data(n.to_string()),
        );
    }
    let _alice = a.join("room", member("alice")).unwrap();
    assert_eq!(
        next(&mut changes).await,
        PresenceEvent::Joined(member("alice"))
    );
}
