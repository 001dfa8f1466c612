//! One suite for every broadcaster, as the adapters have one: the same
//! cases, over real HTTP, against the in-process hub and each backplane
//! (Redis, NATS JetStream). A backplane is a set of nodes, each a
//! [`Broadcaster`] served by its own HTTP server; with the in-process hub
//! the "nodes" share one hub, so the cases also pin down what moving from
//! one process to many keeps.
//!
//! Each case is an `async fn` taking a [`Backplane`]; a test file runs them
//! per backend (`test-support/tests/backplane.rs`). Failures panic with the
//! backend's name and what differed.

use std::future::Future;
use std::time::Duration;

use ssekit::decode::{Decoded, MessageEvent};
use ssekit::hub::Broadcaster;
use ssekit::{Event, SsePublisher};
use ssekit_client::EventBody;

use crate::{Framework, Handler, Server};

/// A broker and the nodes connected to it.
pub trait Backplane: Send + Sync {
    /// One node's broadcaster.
    type Node: Broadcaster;

    /// Its name in failure messages.
    fn name(&self) -> &'static str;

    /// `count` nodes on the same broker (with the in-process hub: clones of
    /// one hub), each keeping at most about `history` events per topic.
    fn nodes(&self, count: usize, history: usize) -> impl Future<Output = Vec<Self::Node>> + Send;

    /// Kills the broker (SIGKILL, as a crash would); false if there is none
    /// (the in-process hub), which the cases that need one refuse.
    fn kill_broker(&self) -> bool {
        false
    }

    /// Starts the killed broker again, on the same port and data.
    fn restart_broker(&self) {}
}

/// Serves one topic of a broadcaster: every request subscribes, resuming
/// after its `Last-Event-ID`.
#[derive(Clone)]
pub struct Follow<B> {
    /// The node's broadcaster.
    pub broadcaster: B,
    /// The topic every stream follows.
    pub topic: String,
}

impl<B: Broadcaster> Handler for Follow<B> {
    fn handle<P>(&self, publisher: P) -> impl Future<Output = P::Response> + Send
    where
        P: SsePublisher + Send + 'static,
    {
        let subscription = self
            .broadcaster
            .subscribe(&self.topic, publisher.last_event_id());
        async move { publisher.publish(subscription) }
    }
}

/// A node of the backplane with its HTTP server.
pub struct Node<B> {
    /// Its broadcaster.
    pub broadcaster: B,
    /// Its server (axum).
    pub server: Server,
}

/// Starts one HTTP server per node, each following `topic`.
pub async fn serve<B: Broadcaster>(nodes: Vec<B>, topic: &str) -> Vec<Node<B>> {
    let mut served = Vec::new();
    for broadcaster in nodes {
        let handler = Follow {
            broadcaster: broadcaster.clone(),
            topic: topic.to_owned(),
        };
        let server = Server::start(Framework::Axum, handler).await;
        served.push(Node {
            broadcaster,
            server,
        });
    }
    served
}

/// A client's stream of events from one node.
pub struct Client {
    body: EventBody,
}

/// Generous: these are correctness tests, not timing tests.
const PATIENCE: Duration = Duration::from_secs(30);

impl Client {
    /// Opens a stream from `node`, sending `last_event_id` if given.
    pub async fn connect<B>(node: &Node<B>, last_event_id: Option<&str>) -> Client {
        let mut request = reqwest::Client::new().get(node.server.url("/stream"));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.expect("the node answers");
        assert_eq!(response.status(), 200);
        Client {
            body: EventBody::new(response),
        }
    }

    /// The next event, skipping comments (keep-alives); `None` once the
    /// stream ended.
    pub async fn next(&mut self) -> Option<MessageEvent> {
        loop {
            let item = tokio::time::timeout(PATIENCE, self.body.next_item())
                .await
                .expect("an event within the patience")
                .expect("a well-formed stream")?;
            if let Decoded::Event(event) = item {
                return Some(event);
            }
        }
    }

    /// The next `n` events.
    pub async fn take(&mut self, n: usize) -> Vec<MessageEvent> {
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            events.push(self.next().await.expect("the stream goes on"));
        }
        events
    }
}

/// Waits until `node` counts `count` subscribers of `topic`: a stream's
/// response head can come before its subscription starts (a backplane may
/// subscribe lazily), and only events published after it are owed to it.
pub async fn wait_for_subscribers<B: Broadcaster>(node: &B, topic: &str, count: usize) {
    let waited = tokio::time::timeout(PATIENCE, async {
        while node.local_subscriber_count(topic) < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "{count} subscribers never joined {topic}");
}

/// Waits, beyond the count, until each client's stream has really started
/// on its node: a probe event published to `topic` reaches every one of
/// them (the backplane's feed may start after the count rises). Returns the
/// probe's id.
async fn settle<B: Broadcaster>(publisher: &B, topic: &str, clients: &mut [Client]) -> String {
    let id = publisher
        .publish(topic, Event::message("probe"))
        .await
        .expect("the probe is published");
    for client in clients {
        loop {
            let event = client.next().await.expect("the stream goes on");
            if event.data == "probe" {
                break;
            }
        }
    }
    id
}

fn data(events: &[MessageEvent]) -> Vec<&str> {
    events.iter().map(|event| event.data.as_str()).collect()
}

/// Every subscriber on every node receives every event once, in one order
/// (the order the acknowledged publishes were made), whichever node
/// published it.
pub async fn every_node_delivers_every_event_once_in_one_order<P: Backplane>(backplane: &P) {
    let name = backplane.name();
    let topic = "fan-out";
    let nodes = serve(backplane.nodes(3, 1_000).await, topic).await;
    let mut clients = Vec::new();
    for node in &nodes {
        for _ in 0..2 {
            clients.push(Client::connect(node, None).await);
        }
        wait_for_subscribers(&node.broadcaster, topic, 2).await;
    }
    settle(&nodes[0].broadcaster, topic, &mut clients).await;
    let mut published = Vec::new();
    for n in 0..60 {
        let node = &nodes[n % nodes.len()].broadcaster;
        let text = format!("event {n}");
        node.publish(topic, Event::message(text.as_str()))
            .await
            .unwrap_or_else(|error| panic!("{name}: publish {n} failed: {error}"));
        published.push(text);
    }
    for (at, client) in clients.iter_mut().enumerate() {
        let events = client.take(published.len()).await;
        assert_eq!(
            data(&events),
            published,
            "{name}: client {at} (node {}) got another sequence",
            at / 2
        );
        let ids: Vec<&str> = events
            .iter()
            .map(|event| event.last_event_id.as_str())
            .collect();
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{name}: an id repeats: {ids:?}");
    }
}

/// A client that leaves one node and resumes on another with its
/// `Last-Event-ID`, while events keep being published, gets every event
/// exactly once: nothing lost, nothing repeated at the seam.
pub async fn resuming_on_another_node_while_publishing_loses_and_repeats_nothing<P: Backplane>(
    backplane: &P,
) {
    let name = backplane.name();
    let topic = "seam";
    let total = 300;
    let nodes = serve(backplane.nodes(3, 10_000).await, topic).await;
    let mut first = Client::connect(&nodes[0], None).await;
    wait_for_subscribers(&nodes[0].broadcaster, topic, 1).await;
    settle(
        &nodes[0].broadcaster,
        topic,
        std::slice::from_mut(&mut first),
    )
    .await;
    let publisher = nodes[2].broadcaster.clone();
    let publishing = tokio::spawn(async move {
        for n in 0..total {
            publisher
                .publish(topic, Event::message(n.to_string()))
                .await
                .expect("publish");
            if n % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let read = first.take(50).await;
    let last_id = read.last().expect("read").last_event_id.clone();
    let mut seen: Vec<String> = data(&read).into_iter().map(str::to_owned).collect();
    drop(first);
    let mut resumed = Client::connect(&nodes[1], Some(&last_id)).await;
    while seen.len() < total {
        let event = resumed.next().await.expect("the stream goes on");
        seen.push(event.data);
    }
    publishing.await.expect("the publisher");
    let expected: Vec<String> = (0..total).map(|n| n.to_string()).collect();
    assert_eq!(seen, expected, "{name}: a gap or a repeat at the seam");
}

/// An id the broadcaster never issued gives a gap event with reason
/// `unknown`, then live events.
pub async fn an_unknown_id_gets_an_unknown_gap_then_live<P: Backplane>(backplane: &P) {
    let name = backplane.name();
    let topic = "unknown";
    let nodes = serve(backplane.nodes(1, 1_000).await, topic).await;
    nodes[0]
        .broadcaster
        .publish(topic, Event::message("before"))
        .await
        .expect("publish");
    let mut client = Client::connect(&nodes[0], Some("not-an-id-of-this-stream")).await;
    let gap = client.next().await.expect("a gap event");
    assert_eq!(gap.event_type, "gap", "{name}: {gap:?}");
    assert!(
        gap.data.contains(r#""reason":"unknown""#),
        "{name}: {gap:?}"
    );
    wait_for_subscribers(&nodes[0].broadcaster, topic, 1).await;
    let node = &nodes[0].broadcaster;
    let mut live = None;
    // Live only: "before" is not replayed. Published until it arrives, as
    // the live feed may start a moment after the gap was sent.
    for _ in 0..100 {
        node.publish(topic, Event::message("after"))
            .await
            .expect("publish");
        if let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(300), client.next()).await
        {
            live = Some(event);
            break;
        }
    }
    let live = live.unwrap_or_else(|| panic!("{name}: no live event after the gap"));
    assert_eq!(live.data, "after", "{name}: {live:?}");
}

/// A resume from an id whose events were trimmed from history gives a gap
/// event with reason `expired`, then what is left, in order, with no
/// duplicate, up to the newest.
pub async fn a_trimmed_id_gets_an_expired_gap_then_what_is_left<P: Backplane>(backplane: &P) {
    let name = backplane.name();
    let topic = "trimmed";
    let history = 10;
    let total = 400;
    let nodes = serve(backplane.nodes(2, history).await, topic).await;
    let mut first_id = None;
    for n in 0..total {
        let id = nodes[n % 2]
            .broadcaster
            .publish(topic, Event::message(n.to_string()))
            .await
            .expect("publish");
        first_id.get_or_insert(id);
    }
    let first_id = first_id.expect("published");
    let mut client = Client::connect(&nodes[1], Some(&first_id)).await;
    let gap = client.next().await.expect("a gap event");
    assert_eq!(gap.event_type, "gap", "{name}: {gap:?}");
    assert!(
        gap.data.contains(r#""reason":"expired""#),
        "{name}: {gap:?}"
    );
    let mut left = Vec::new();
    loop {
        let event = client.next().await.expect("what is left");
        left.push(event.data.parse::<usize>().expect("a number"));
        if left.last() == Some(&(total - 1)) {
            break;
        }
    }
    let start = left[0];
    assert!(start > 1, "{name}: nothing was trimmed: starts at {start}");
    assert_eq!(
        left,
        (start..total).collect::<Vec<_>>(),
        "{name}: what is left comes in order, once"
    );
}

/// With the broker down, a publish fails within a bound (an error, never a
/// hang), open streams stay up, and once the broker is back the nodes carry
/// on by themselves: a publish succeeds and the open stream delivers it.
pub async fn with_the_broker_down_publish_fails_fast_streams_stay_up_and_nodes_recover<
    P: Backplane,
>(
    backplane: &P,
) {
    let name = backplane.name();
    let topic = "outage";
    let nodes = serve(backplane.nodes(2, 1_000).await, topic).await;
    let mut client = Client::connect(&nodes[0], None).await;
    wait_for_subscribers(&nodes[0].broadcaster, topic, 1).await;
    settle(
        &nodes[1].broadcaster,
        topic,
        std::slice::from_mut(&mut client),
    )
    .await;
    assert!(backplane.kill_broker(), "{name}: this case needs a broker");
    let publisher = &nodes[1].broadcaster;
    let failed = tokio::time::timeout(PATIENCE, publisher.publish(topic, Event::message("lost")))
        .await
        .unwrap_or_else(|_| panic!("{name}: a publish with the broker down hung"));
    assert!(
        failed.is_err(),
        "{name}: a publish with the broker down succeeded"
    );
    // The open stream stays up: it neither ends nor fails while the broker
    // is away.
    let quiet = tokio::time::timeout(Duration::from_secs(2), client.next()).await;
    assert!(
        quiet.is_err(),
        "{name}: the stream did not stay up: {quiet:?}"
    );
    backplane.restart_broker();
    // The nodes reconnect by themselves: publish until one is acknowledged.
    let mut acknowledged = false;
    for _ in 0..300 {
        if let Ok(Ok(_)) = tokio::time::timeout(
            Duration::from_secs(5),
            publisher.publish(topic, Event::message("after")),
        )
        .await
        {
            acknowledged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(acknowledged, "{name}: the nodes never recovered");
    let event = client.next().await.expect("the stream goes on");
    // A publish that failed as the broker went away may still have been
    // stored (the broker may have taken it before the connection broke).
    let event = if event.data == "lost" {
        client.next().await.expect("the stream goes on")
    } else {
        event
    };
    assert_eq!(event.data, "after", "{name}: {event:?}");
}

/// Events the broker acknowledged survive its restart (with its
/// persistence on, as the tests' brokers run): a client resuming after the
/// first gets every later one, once, in order.
pub async fn acknowledged_events_survive_a_broker_restart<P: Backplane>(backplane: &P) {
    let name = backplane.name();
    let topic = "restart";
    let nodes = serve(backplane.nodes(2, 1_000).await, topic).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        let id = nodes[n % 2]
            .broadcaster
            .publish(topic, Event::message(n.to_string()))
            .await
            .expect("publish");
        ids.push(id);
    }
    assert!(backplane.kill_broker(), "{name}: this case needs a broker");
    backplane.restart_broker();
    let mut resumed = None;
    for _ in 0..300 {
        // A fresh node: what it reads comes from the restarted broker alone.
        let node = serve(backplane.nodes(1, 1_000).await, topic).await;
        let mut client = Client::connect(&node[0], Some(&ids[0])).await;
        if let Ok(Some(first)) = tokio::time::timeout(Duration::from_secs(5), client.next()).await {
            resumed = Some((first, client, node));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (first, mut client, _node) =
        resumed.unwrap_or_else(|| panic!("{name}: no resume after the restart"));
    let mut seen = vec![first.data];
    seen.extend(client.take(18).await.into_iter().map(|event| event.data));
    let expected: Vec<String> = (1..20).map(|n| n.to_string()).collect();
    assert_eq!(
        seen, expected,
        "{name}: acknowledged events lost or repeated"
    );
}

/// The in-process hub as a backplane of one process: its "nodes" are clones
/// of one [`ssekit::hub::Hub`].
pub struct InProcess;

impl Backplane for InProcess {
    type Node = ssekit::hub::Hub;

    fn name(&self) -> &'static str {
        "in-process hub"
    }

    fn nodes(&self, count: usize, history: usize) -> impl Future<Output = Vec<Self::Node>> + Send {
        let hub: ssekit::hub::Hub =
            ssekit::hub::Hub::with_config(ssekit::hub::HubConfig::new().with_history(history));
        std::future::ready(vec![hub; count])
    }
}

/// Serves several topics of a broadcaster on one stream
/// ([`ssekit::hub::Topics`]): every request follows them all, resuming
/// each after its position in the `Last-Event-ID`.
#[derive(Clone)]
pub struct FollowTopics<B> {
    /// The node's broadcaster.
    pub broadcaster: B,
    /// The topics every stream follows, in this order.
    pub topics: Vec<String>,
}

impl<B: Broadcaster> Handler for FollowTopics<B> {
    fn handle<P>(&self, publisher: P) -> impl Future<Output = P::Response> + Send
    where
        P: SsePublisher + Send + 'static,
    {
        let stream = ssekit::hub::Topics::subscribe(
            &self.broadcaster,
            &self.topics,
            publisher.last_event_id(),
        )
        .expect("the topics fit in an id");
        async move { publisher.publish(stream) }
    }
}

/// A client follows three topics on one stream from node A; node A's
/// server goes away and the client resumes on node B with its one
/// `Last-Event-ID` while events keep being published to all three: every
/// topic's events arrive exactly once, in order, with no gap notice.
pub async fn three_topics_on_one_stream_resume_exactly_on_another_node<P: Backplane>(
    backplane: &P,
) {
    let name = backplane.name();
    // The fourth gets events only while the client is away: it resumes
    // from the position the stream's id-only first frame gave it.
    let topics = ["multi/a", "multi/b", "multi/c", "multi/d"].map(str::to_owned);
    let mut nodes = Vec::new();
    for broadcaster in backplane.nodes(2, 10_000).await {
        let handler = FollowTopics {
            broadcaster: broadcaster.clone(),
            topics: topics.to_vec(),
        };
        let server = Server::start(Framework::Axum, handler).await;
        nodes.push(Node {
            broadcaster,
            server,
        });
    }
    // From before the stream: not owed to it.
    nodes[1]
        .broadcaster
        .publish("multi/a", Event::message("multi/a before"))
        .await
        .expect("publish");
    let mut first = Client::connect(&nodes[0], None).await;
    // Joined once each topic's position is taken: what follows is owed.
    for topic in &topics {
        wait_for_subscribers(&nodes[0].broadcaster, topic, 1).await;
    }
    let topic_of = |n: usize| &topics[[0, 0, 1, 2][n % 4]];
    let total = 240;
    let publisher = nodes[1].broadcaster.clone();
    let published = topics.clone();
    let publishing = tokio::spawn(async move {
        for n in 0..total {
            let topic = &published[[0, 0, 1, 2][n % 4]];
            publisher
                .publish(topic, Event::message(format!("{topic} {n}")))
                .await
                .expect("publish");
            if n % 8 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let mut seen: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    let take = |event: MessageEvent, seen: &mut std::collections::BTreeMap<_, Vec<_>>| {
        assert_eq!(event.event_type, "message", "{name}: {event:?}");
        let (topic, n) = event.data.split_once(' ').expect("topic n");
        assert_ne!(n, "before", "{name}: an event from before the stream came");
        seen.entry(topic.to_owned())
            .or_default()
            .push(n.parse().expect("a number"));
        event.last_event_id
    };
    let mut last_id = String::new();
    for event in first.take(60).await {
        last_id = take(event, &mut seen);
    }
    drop(first);
    let node_a = nodes.remove(0);
    node_a
        .server
        .shutdown(PATIENCE)
        .await
        .unwrap_or_else(|error| panic!("{name}: node A does not stop: {error}"));
    let away = 5;
    for n in 0..away {
        nodes[0]
            .broadcaster
            .publish("multi/d", Event::message(format!("multi/d {n}")))
            .await
            .expect("publish");
    }
    let mut resumed = Client::connect(&nodes[0], Some(&last_id)).await;
    while seen.values().map(Vec::len).sum::<usize>() < total + away {
        let event = resumed.next().await.expect("the stream goes on");
        take(event, &mut seen);
    }
    publishing.await.expect("the publisher");
    assert_eq!(
        seen.remove("multi/d"),
        Some((0..away).collect()),
        "{name}: the topic with no event before the switch"
    );
    for topic in &topics[..3] {
        let expected: Vec<usize> = (0..total).filter(|&n| topic_of(n) == topic).collect();
        assert_eq!(
            seen.get(topic),
            Some(&expected),
            "{name}: {topic} lost or repeated events at the seam"
        );
    }
}
