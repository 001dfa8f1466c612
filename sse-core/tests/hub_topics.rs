//! `hub::Topics` on the in-process hub: one stream of several topics whose
//! combined id resumes every topic exactly.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use ssekit::decode::events;
use ssekit::hub::{Hub, HubConfig, IdMode, Topics, TopicsError};
use ssekit::{Event, Frame, MAX_LAST_EVENT_ID_LEN};

const TOPICS: [&str; 3] = ["rooms/a", "rooms/b", "feeds/c"];

/// What an `EventSource` keeps: the last event id (set by id-only frames
/// too), and the events dispatched.
#[derive(Default)]
struct Client {
    last_event_id: Option<String>,
    /// (type, data) of each event, in order.
    seen: Vec<(String, String)>,
}

impl Client {
    fn take(&mut self, frame: &Frame) {
        let bytes = frame.as_bytes();
        for line in std::str::from_utf8(bytes).unwrap().lines() {
            if let Some(id) = line.strip_prefix("id: ") {
                self.last_event_id = Some(id.to_owned());
            }
        }
        for event in events(bytes).unwrap() {
            self.seen.push((event.event_type, event.data));
        }
    }

    /// Reads what is queued now, without waiting.
    fn drain(&mut self, stream: &mut Topics<Hub>) {
        while let Some(Some(frame)) = stream.next().now_or_never() {
            self.take(&frame.unwrap());
        }
    }

    fn messages(&self) -> Vec<&str> {
        self.seen
            .iter()
            .filter(|(kind, _)| kind == "message")
            .map(|(_, data)| data.as_str())
            .collect()
    }

    fn gaps(&self) -> Vec<serde_json::Value> {
        self.seen
            .iter()
            .filter(|(kind, _)| kind == "gap")
            .map(|(_, data)| serde_json::from_str(data).unwrap())
            .collect()
    }
}

fn publish_round(hub: &Hub, round: &str) {
    for topic in TOPICS {
        hub.publish(topic, Event::message(format!("{topic} {round}")));
    }
}

/// Each topic's events in the order received.
fn per_topic<'a>(messages: &[&'a str]) -> HashMap<&'a str, Vec<&'a str>> {
    let mut by_topic: HashMap<&str, Vec<&str>> = HashMap::new();
    for message in messages {
        let (topic, round) = message.split_once(' ').unwrap();
        by_topic.entry(topic).or_default().push(round);
    }
    by_topic
}

#[tokio::test]
async fn a_reconnect_resumes_every_topic_exactly() {
    let hub: Hub = Hub::new();
    let mut client = Client::default();
    let mut stream = Topics::subscribe(&hub, &TOPICS, None).unwrap();
    client.drain(&mut stream);
    assert!(
        client.last_event_id.is_some(),
        "the id-only frame came first"
    );
    assert!(
        client.seen.is_empty(),
        "an id-only frame dispatches nothing"
    );
    publish_round(&hub, "1");
    // Topic a gets a few more than the others, so its ids move apart.
    hub.publish("rooms/a", Event::message("rooms/a 1b"));
    client.drain(&mut stream);
    drop(stream);
    // While disconnected, every topic gets events, interleaved.
    for round in 2..=6 {
        publish_round(&hub, &round.to_string());
    }
    let mut stream = Topics::subscribe(&hub, &TOPICS, client.last_event_id.as_deref()).unwrap();
    client.drain(&mut stream);
    publish_round(&hub, "7");
    client.drain(&mut stream);
    assert!(client.gaps().is_empty(), "{:?}", client.gaps());
    let messages = client.messages();
    let by_topic = per_topic(&messages);
    let all: Vec<String> = (2..=7).map(|r| r.to_string()).collect();
    for topic in TOPICS {
        let mut expected = vec!["1"];
        if topic == "rooms/a" {
            expected.push("1b");
        }
        expected.extend(all.iter().map(String::as_str));
        assert_eq!(by_topic[topic], expected, "{topic}: {messages:?}");
    }
}

/// A client that goes before any event still resumes exactly: the id-only
/// frame gave it a position on every topic, topics with no event yet
/// included.
#[tokio::test]
async fn a_client_gone_before_any_event_misses_nothing() {
    let hub: Hub = Hub::new();
    // One topic has history, the others none (and one does not exist yet).
    hub.publish("rooms/b", Event::message("rooms/b old"));
    let mut client = Client::default();
    let mut stream = Topics::subscribe(&hub, &TOPICS, None).unwrap();
    client.drain(&mut stream);
    drop(stream);
    assert!(client.seen.is_empty());
    publish_round(&hub, "1");
    let mut stream = Topics::subscribe(&hub, &TOPICS, client.last_event_id.as_deref()).unwrap();
    client.drain(&mut stream);
    let messages = client.messages();
    let mut sorted = messages.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["feeds/c 1", "rooms/a 1", "rooms/b 1"],
        "{messages:?}"
    );
    assert!(client.gaps().is_empty());
}

/// An id made for another topic list (or no combined id at all) is
/// unknown: a gap notice per topic, naming it, then live events only.
#[tokio::test]
async fn an_id_of_another_list_is_unknown_on_every_topic() {
    let hub: Hub = Hub::new();
    let mut other = Topics::subscribe(&hub, &["rooms/a", "rooms/b"], None).unwrap();
    publish_round(&hub, "1");
    let mut first = Client::default();
    first.drain(&mut other);
    let foreign = first.last_event_id.clone().unwrap();
    let giant = format!("t1:00000000:{}", "9".repeat(10_000));
    let reordered = {
        let mut stream = Topics::subscribe(&hub, &["rooms/b", "rooms/a", "feeds/c"], None).unwrap();
        let mut client = Client::default();
        client.drain(&mut stream);
        client.last_event_id.unwrap()
    };
    for id in [
        foreign.as_str(),
        "42",
        "",
        "t1:zz:1,2,3",
        &giant,
        &reordered,
    ] {
        let mut client = Client::default();
        let mut stream = Topics::subscribe(&hub, &TOPICS, Some(id)).unwrap();
        client.drain(&mut stream);
        let gaps = client.gaps();
        let named: Vec<(&str, &str)> = gaps
            .iter()
            .map(|gap| {
                (
                    gap["reason"].as_str().unwrap(),
                    gap["topic"].as_str().unwrap(),
                )
            })
            .collect();
        let expected: Vec<(&str, &str)> = TOPICS.iter().map(|t| ("unknown", *t)).collect();
        assert_eq!(named, expected, "{id:.40}");
        assert!(client.messages().is_empty(), "nothing replayed: {id:.40}");
        // A fresh position after the notices: this stream resumes exactly.
        let position = client.last_event_id.clone().unwrap();
        assert!(position.starts_with("t1:"), "{position}");
        drop(stream);
        publish_round(&hub, "after");
        let mut stream = Topics::subscribe(&hub, &TOPICS, Some(&position)).unwrap();
        let mut again = Client::default();
        again.drain(&mut stream);
        assert_eq!(again.messages().len(), 3, "{:?}", again.seen);
        assert!(again.gaps().is_empty());
    }
}

/// A topic whose history no longer reaches back gets its own `expired`
/// notice, naming it, then what it kept; the other topics resume exactly.
#[tokio::test]
async fn a_trimmed_topic_gets_its_own_gap_and_the_others_stay_exact() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_history(4));
    let mut client = Client::default();
    let mut stream = Topics::subscribe(&hub, &TOPICS, None).unwrap();
    // A fresh stream's positions are taken when it is first polled.
    client.drain(&mut stream);
    publish_round(&hub, "0");
    client.drain(&mut stream);
    drop(stream);
    for round in 1..=2 {
        publish_round(&hub, &round.to_string());
    }
    // Topic b alone gets more than its history holds.
    for n in 1..=10 {
        hub.publish("rooms/b", Event::message(format!("rooms/b x{n}")));
    }
    let mut stream = Topics::subscribe(&hub, &TOPICS, client.last_event_id.as_deref()).unwrap();
    client.drain(&mut stream);
    let gaps = client.gaps();
    assert_eq!(
        gaps,
        [serde_json::json!({"reason": "expired", "topic": "rooms/b"})],
        "{:?}",
        client.seen
    );
    let messages = client.messages();
    let by_topic = per_topic(&messages);
    assert_eq!(by_topic["rooms/a"], ["0", "1", "2"]);
    assert_eq!(by_topic["feeds/c"], ["0", "1", "2"]);
    assert_eq!(by_topic["rooms/b"], ["0", "x7", "x8", "x9", "x10"]);
}

#[test]
fn lists_whose_id_could_exceed_the_header_cap_are_refused() {
    let hub: Hub = Hub::new();
    let names: Vec<String> = (0..49).map(|n| format!("t{n}")).collect();
    assert_eq!(
        Topics::subscribe(&hub, &names, None).unwrap_err(),
        TopicsError::TooManyTopics {
            topics: 49,
            max: 48
        }
    );
    assert!(Topics::subscribe(&hub, &names[..48], None).is_ok());
    let none: [&str; 0] = [];
    assert_eq!(
        Topics::subscribe(&hub, &none, None).unwrap_err(),
        TopicsError::NoTopic
    );
    assert_eq!(
        Topics::subscribe(&hub, &["a", "b", "a"], None).unwrap_err(),
        TopicsError::Duplicate("a".into())
    );
    let keep: Hub = Hub::with_config(HubConfig::new().with_ids(IdMode::Keep));
    assert_eq!(
        Topics::subscribe(&keep, &["a"], None).unwrap_err(),
        TopicsError::UnboundedIds
    );
}

/// The most topics allowed, every one at a 20-digit id: the combined id
/// fits the cap (the server keeps a `Last-Event-ID` up to it), and it
/// resumes.
#[tokio::test]
async fn the_longest_combined_id_fits_and_resumes() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_first_id(10_000_000_000_000_000_000));
    let names: Vec<String> = (0..48).map(|n| format!("t{n}")).collect();
    let mut client = Client::default();
    let mut stream = Topics::subscribe(&hub, &names, None).unwrap();
    for name in &names {
        hub.publish(name, Event::message(format!("{name} 1")));
    }
    client.drain(&mut stream);
    drop(stream);
    let id = client.last_event_id.clone().unwrap();
    assert_eq!(id.len(), 3 + 8 + 1 + 48 * 20 + 47);
    assert!(id.len() <= MAX_LAST_EVENT_ID_LEN);
    for name in &names {
        hub.publish(name, Event::message(format!("{name} 2")));
    }
    let mut stream = Topics::subscribe(&hub, &names, Some(&id)).unwrap();
    let mut again = Client::default();
    again.drain(&mut stream);
    assert_eq!(again.messages().len(), 48);
    assert!(again.messages().iter().all(|m| m.ends_with(" 2")));
    assert!(again.gaps().is_empty());
}

/// One topic with a thousand events queued does not hold the others back:
/// each poll starts after the topic that yielded last.
#[tokio::test]
async fn a_busy_topic_does_not_starve_the_others() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_queue(2048).with_history(2048));
    let mut stream = Topics::subscribe(&hub, &TOPICS, None).unwrap();
    let mut client = Client::default();
    client.drain(&mut stream);
    for n in 0..1000 {
        hub.publish("rooms/a", Event::message(format!("rooms/a {n}")));
    }
    hub.publish("rooms/b", Event::message("rooms/b quiet"));
    hub.publish("feeds/c", Event::message("feeds/c quiet"));
    let mut first = Vec::new();
    for _ in 0..4 {
        let frame = stream.next().await.unwrap().unwrap();
        first.push(events(frame.as_bytes()).unwrap().remove(0).data);
    }
    assert!(first.contains(&"rooms/b quiet".to_owned()), "{first:?}");
    assert!(first.contains(&"feeds/c quiet".to_owned()), "{first:?}");
}

/// Shutting the hub down ends the stream, as it ends one topic's.
#[tokio::test]
async fn shutdown_ends_the_stream() {
    let hub: Hub = Hub::new();
    let mut stream = Topics::subscribe(&hub, &TOPICS, None).unwrap();
    let start = stream.next().await.unwrap().unwrap();
    assert!(start.as_bytes().starts_with(b"id: t1:"));
    hub.shutdown();
    let end = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .unwrap();
    assert!(end.is_none());
}

/// A subscriber that falls behind under `DropOldest` gets the hub's
/// `lagged` notice, naming the topic, then the newest events.
#[tokio::test]
async fn a_lagged_notice_names_its_topic() {
    use ssekit::hub::LagPolicy;
    let config = HubConfig::new()
        .with_queue(4)
        .with_lag_policy(LagPolicy::DropOldest);
    let hub: Hub = Hub::with_config(config);
    let mut stream = Topics::subscribe(&hub, &TOPICS, None).unwrap();
    let mut client = Client::default();
    client.drain(&mut stream);
    for n in 0..20 {
        hub.publish("rooms/b", Event::message(format!("rooms/b {n}")));
    }
    client.drain(&mut stream);
    let gaps = client.gaps();
    assert_eq!(gaps.len(), 1, "{:?}", client.seen);
    assert_eq!(gaps[0]["reason"], "lagged");
    assert_eq!(gaps[0]["topic"], "rooms/b");
    assert!(gaps[0]["missed"].as_u64().unwrap() > 0);
    assert_eq!(client.messages().last(), Some(&"rooms/b 19"));
}

/// Under `Disconnect` (the default), a subscriber that falls behind on one
/// topic has its stream ended, as with one topic; its reconnect resumes
/// every topic from history with nothing lost.
#[tokio::test]
async fn a_lagging_stream_ends_and_resumes_every_topic() {
    let hub: Hub = Hub::with_config(HubConfig::new().with_queue(4));
    let mut stream = Topics::subscribe(&hub, &TOPICS, None).unwrap();
    let mut client = Client::default();
    client.drain(&mut stream);
    hub.publish("feeds/c", Event::message("feeds/c 0"));
    client.take(&stream.next().await.unwrap().unwrap());
    for n in 0..20 {
        hub.publish("rooms/b", Event::message(format!("rooms/b {n}")));
    }
    hub.publish("feeds/c", Event::message("feeds/c 1"));
    // Ends after what it had read, or yields a little first.
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(frame) = stream.next().await {
            client.take(&frame.unwrap());
        }
    })
    .await;
    assert!(ended.is_ok(), "a lagging stream ends");
    let mut stream = Topics::subscribe(&hub, &TOPICS, client.last_event_id.as_deref()).unwrap();
    client.drain(&mut stream);
    assert!(client.gaps().is_empty(), "{:?}", client.gaps());
    let messages = client.messages();
    let by_topic = per_topic(&messages);
    let all: Vec<String> = (0..20).map(|n| n.to_string()).collect();
    assert_eq!(
        by_topic["rooms/b"],
        all.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(by_topic["feeds/c"], ["0", "1"]);
}

/// The rest of a frame goes through as the hub encoded it: type, retry,
/// comment, data; only the id is the stream's.
#[tokio::test]
async fn only_the_id_of_a_frame_changes() {
    let hub: Hub = Hub::new();
    let mut stream = Topics::subscribe(&hub, &TOPICS, None).unwrap();
    let start = stream.next().await.unwrap().unwrap();
    let start = std::str::from_utf8(start.as_bytes()).unwrap().to_owned();
    let event = Event::message("two\nlines")
        .with_event("chat")
        .with_retry(Duration::from_millis(1500))
        .with_comment("note");
    let report = hub.publish("feeds/c", event);
    let frame = stream.next().await.unwrap().unwrap();
    let text = std::str::from_utf8(frame.as_bytes()).unwrap();
    // The start's position of feeds/c replaced by the event's own id.
    let (prefix, _) = start.trim_end().rsplit_once(',').unwrap();
    let id = format!("{prefix},{}", report.id.unwrap());
    let expected = format!(": note\nevent: chat\n{id}\nretry: 1500\ndata: two\ndata: lines\n\n");
    assert_eq!(text, expected);
    assert_eq!(stream.last_event_id().as_deref(), id.strip_prefix("id: "));
}

/// With another gap type on the broadcaster, told to the stream, its
/// notices get the topic too.
#[tokio::test]
async fn another_gap_type_gets_the_topic_when_told() {
    let config = HubConfig::new()
        .with_history(2)
        .with_gap_event_type("notice");
    let hub: Hub = Hub::with_config(config);
    let mut stream = Topics::subscribe(&hub, &TOPICS, None)
        .unwrap()
        .with_gap_event_type("notice");
    let mut client = Client::default();
    client.drain(&mut stream);
    drop(stream);
    for n in 0..5 {
        hub.publish("rooms/a", Event::message(format!("rooms/a {n}")));
    }
    let mut stream = Topics::subscribe(&hub, &TOPICS, client.last_event_id.as_deref())
        .unwrap()
        .with_gap_event_type("notice");
    client.drain(&mut stream);
    let notices: Vec<serde_json::Value> = client
        .seen
        .iter()
        .filter(|(kind, _)| kind == "notice")
        .map(|(_, data)| serde_json::from_str(data).unwrap())
        .collect();
    assert_eq!(
        notices,
        [serde_json::json!({"reason": "expired", "topic": "rooms/a"})]
    );
}

/// A combined id of this list that the broadcaster no longer knows on a
/// topic (here: a hub made anew, as after a restart without a backplane)
/// gets the broadcaster's `unknown` notice for each such topic, naming
/// it; the topic is then positioned anew from `head`, and an id-only frame
/// hands the client the new positions, so a resume from it is exact again.
#[tokio::test]
async fn a_topic_the_broadcaster_does_not_know_is_positioned_anew() {
    let old: Hub = Hub::new();
    let mut stream = Topics::subscribe(&old, &TOPICS, None).unwrap();
    let mut client = Client::default();
    client.drain(&mut stream);
    publish_round(&old, "old");
    client.drain(&mut stream);
    drop(stream);
    let old_id = client.last_event_id.clone().unwrap();

    let hub: Hub = Hub::new();
    let mut client = Client::default();
    let mut stream = Topics::subscribe(&hub, &TOPICS, Some(&old_id)).unwrap();
    client.drain(&mut stream);
    let named: Vec<(String, String)> = client
        .gaps()
        .iter()
        .map(|gap| (gap["reason"].to_string(), gap["topic"].to_string()))
        .collect();
    assert_eq!(named.len(), 3, "{:?}", client.seen);
    assert!(named.iter().all(|(reason, _)| reason == "\"unknown\""));
    let fresh = client.last_event_id.clone().unwrap();
    assert_ne!(fresh, old_id, "an id-only frame with the new positions");
    drop(stream);
    publish_round(&hub, "new");
    let mut again = Client::default();
    let mut stream = Topics::subscribe(&hub, &TOPICS, Some(&fresh)).unwrap();
    again.drain(&mut stream);
    let mut messages = again.messages();
    messages.sort_unstable();
    assert_eq!(messages, ["feeds/c new", "rooms/a new", "rooms/b new"]);
    assert!(again.gaps().is_empty());
}
