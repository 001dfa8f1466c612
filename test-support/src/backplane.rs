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

    /// Client connections the broker holds now, the cases' own probes
    /// excluded; `None` without a broker (the in-process hub).
    fn broker_connections(&self) -> Option<u64> {
        None
    }

    /// A counter of the work the broker has done so far (Redis: commands
    /// processed; NATS: messages in and out), to measure what idle topics
    /// cost; `None` without a broker.
    fn broker_activity(&self) -> Option<u64> {
        None
    }

    /// What [`broker_activity`](Self::broker_activity) counts, for reports.
    fn activity_unit(&self) -> &'static str {
        "operations"
    }

    /// The broker's processes (a cluster's masters), which the connection
    /// and activity figures add up: the bounds on them are per process.
    fn broker_processes(&self) -> u64 {
        1
    }

    /// `count` nodes whose topics keep their history only for `keep` after
    /// their last event (the in-process hub: `max_age`; Redis: the keys'
    /// idle expiry; NATS: the stream's `max_age`), for the churn case.
    fn short_lived_nodes(
        &self,
        count: usize,
        keep: Duration,
    ) -> impl Future<Output = Vec<Self::Node>> + Send;

    /// The topics `node` holds state for now: those it follows on the
    /// broker (the in-process hub: its topics, idle ones included).
    fn node_topics(&self, node: &Self::Node) -> usize;

    /// The frames `subscription` holds for its client now (history read
    /// ahead and not yet taken, and queued events).
    fn held(&self, subscription: &<Self::Node as Broadcaster>::Subscription) -> usize;

    /// What the broker keeps for topics now; `None` without a broker.
    fn broker_footprint(&self) -> impl Future<Output = Option<BrokerFootprint>> + Send {
        std::future::ready(None)
    }
}

/// What a broker keeps for topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerFootprint {
    /// History the broker keeps (Redis: keys; NATS: messages in the
    /// streams).
    pub stored: u64,
    /// Subscriptions and consumers the broker holds for the nodes (Redis:
    /// pub/sub channels; NATS: subscriptions and consumers).
    pub subscriptions: u64,
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

/// Topics that come and go leave nothing behind: `topics` topics each get
/// a subscriber on node A and one event from node B, then the subscriber
/// leaves. Afterwards neither node holds state for any of them, the broker
/// holds no subscription more than before, and once their history is past
/// its age (2 s here) the broker keeps nothing for them either (no key, no
/// subject) and the in-process hub forgets them.
///
/// The subscribers are local ([`Broadcaster::subscribe`] on node A): what
/// is checked is what the backplane keeps, which does not depend on HTTP.
pub async fn topic_churn_leaves_nothing_behind<P: Backplane>(backplane: &P, topics: usize) {
    use futures_util::StreamExt;
    let name = backplane.name();
    let keep = Duration::from_secs(2);
    let mut nodes = backplane.short_lived_nodes(2, keep).await;
    let (a, b) = match (nodes.pop(), nodes.pop()) {
        (Some(b), Some(a)) => (a, b),
        _ => panic!("{name}: two nodes"),
    };
    let before = backplane.broker_footprint().await;
    let topic = |index: usize| format!("churn {index}");
    // A few topics at a time, as visitors come and go.
    for wave in (0..topics).collect::<Vec<_>>().chunks(50) {
        let mut subscribers = Vec::new();
        for &index in wave {
            let mut subscription = a.subscribe(&topic(index), None);
            // Polled in a task of its own: the first poll starts it, its
            // first frame ends it.
            let task = tokio::spawn(async move {
                let item = subscription.next().await?;
                Some(ssekit::IntoFrame::into_frame(item).map_err(|error| error.to_string()))
            });
            subscribers.push((index, task));
        }
        for &index in wave {
            wait_for_subscribers(&a, &topic(index), 1).await;
        }
        // The feed may start after the count rises: publish until each has
        // its event (a subscriber that joined live gets only what follows).
        for (index, task) in subscribers {
            let mut task = task;
            let frame = loop {
                b.publish(&topic(index), Event::message("visit"))
                    .await
                    .unwrap_or_else(|error| panic!("{name}: publish to {index}: {error}"));
                match tokio::time::timeout(Duration::from_millis(500), &mut task).await {
                    Ok(done) => break done.expect("the subscriber runs"),
                    Err(_) => continue,
                }
            };
            let frame = frame
                .unwrap_or_else(|| panic!("{name}: topic {index}'s stream ended"))
                .unwrap_or_else(|error| panic!("{name}: topic {index} failed: {error}"));
            let events = ssekit::decode::events(frame.as_bytes()).expect("a well-formed frame");
            assert_eq!(data(&events), ["visit"], "{name}: topic {index}");
        }
    }
    // Every subscriber left; the nodes let their topics go (at their sweep),
    // and the broker's history ages out.
    let mut last = None;
    let settled = tokio::time::timeout(PATIENCE, async {
        loop {
            let now = (
                backplane.node_topics(&a),
                backplane.node_topics(&b),
                backplane.broker_footprint().await,
            );
            let broker_clean = match (now.2, before) {
                (Some(now), Some(before)) => {
                    now.stored == 0 && now.subscriptions <= before.subscriptions
                }
                (None, None) => true,
                _ => false,
            };
            if now.0 == 0 && now.1 == 0 && broker_clean {
                return;
            }
            last = Some(now);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        settled.is_ok(),
        "{name}: after {topics} topics came and went, (node A topics, node B topics, broker) = \
         {last:?}, broker before = {before:?}"
    );
}

/// A resume from far back holds at most about one page of history for a
/// client that stops reading, whatever the history's length, and still
/// gets everything once, in order, when it reads again.
pub async fn a_stalled_resume_holds_at_most_a_page<P: Backplane>(backplane: &P) {
    use futures_util::StreamExt;
    let name = backplane.name();
    let topic = "stalled resume";
    let events = 1_000;
    let mut nodes = backplane.nodes(2, 2 * events).await;
    let (a, b) = match (nodes.pop(), nodes.pop()) {
        (Some(b), Some(a)) => (a, b),
        _ => panic!("{name}: two nodes"),
    };
    let mut ids = Vec::new();
    for n in 1..=events {
        let id = b
            .publish(topic, Event::message(n.to_string()))
            .await
            .unwrap_or_else(|error| panic!("{name}: publish {n}: {error}"));
        ids.push(id);
    }
    let bound = ssekit::hub::HubConfig::DEFAULT_QUEUE;
    let mut subscription = a.subscribe(topic, Some(&ids[0]));
    let mut seen = Vec::new();
    let mut most_held = 0;
    while seen.len() < events - 1 {
        let item = tokio::time::timeout(PATIENCE, subscription.next())
            .await
            .unwrap_or_else(|_| panic!("{name}: {} of {} replayed", seen.len(), events - 1))
            .unwrap_or_else(|| panic!("{name}: the replay ended after {}", seen.len()));
        let frame = ssekit::IntoFrame::into_frame(item)
            .unwrap_or_else(|error| panic!("{name}: the replay failed: {error}"));
        for event in ssekit::decode::events(frame.as_bytes()).expect("a well-formed frame") {
            seen.push(event.data);
        }
        // The client stops reading here and there: what waits for it is
        // what it costs.
        if seen.len() % 100 == 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        most_held = most_held.max(backplane.held(&subscription));
    }
    assert!(
        most_held <= bound,
        "{name}: a stalled resume held {most_held} frames (bound {bound}) of {events} events"
    );
    let expected: Vec<String> = (2..=events).map(|n| n.to_string()).collect();
    assert_eq!(seen, expected, "{name}: every event once, in order");
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

    fn short_lived_nodes(
        &self,
        count: usize,
        keep: Duration,
    ) -> impl Future<Output = Vec<Self::Node>> + Send {
        let hub: ssekit::hub::Hub =
            ssekit::hub::Hub::with_config(ssekit::hub::HubConfig::new().with_max_age(keep));
        std::future::ready(vec![hub; count])
    }

    /// Its topics, idle ones (history, no subscriber) included.
    fn node_topics(&self, node: &Self::Node) -> usize {
        node.topic_count()
    }

    fn held(&self, subscription: &ssekit::hub::Subscription) -> usize {
        subscription.queued()
    }
}

/// The CPU time this process has used (user and system, Linux; zero
/// elsewhere), to report what idle topics cost the nodes.
fn process_cpu() -> Duration {
    cpu_of("self")
}

/// The CPU time this process's child processes use now (the brokers the
/// tests started, Linux; zero elsewhere), to report what idle topics cost
/// the broker.
fn children_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut total = Duration::ZERO;
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for child in children.split_whitespace() {
            total += cpu_of(child);
        }
    }
    total
}

/// User and system CPU time of `/proc/<pid>`.
fn cpu_of(pid: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| {
        fields
            .get(index - 3)
            .and_then(|field| field.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // The kernel's USER_HZ is 100 on every Linux this runs on.
    Duration::from_millis((ticks(14) + ticks(15)) * 10)
}

/// What the scale case measured, for the caller to print or check.
#[derive(Debug, Clone)]
pub struct ScaleReport {
    /// Topics, each with one local subscriber on node A.
    pub topics: usize,
    /// Time to subscribe to every topic on node A (all joined).
    pub subscribe: Duration,
    /// Time to publish one event to each topic from node B, and for every
    /// one to reach its subscriber on node A.
    pub deliver: Duration,
    /// Broker connections held by the two nodes with every topic followed.
    pub connections: Option<u64>,
    /// Broker work per second while every topic was followed and idle.
    pub idle_activity_per_second: Option<f64>,
    /// CPU time of this process (both nodes) while the topics were idle.
    pub idle_cpu: Duration,
    /// CPU time of this process's children (the broker, when the test
    /// started it) while the topics were idle.
    pub idle_broker_cpu: Duration,
    /// How long the idle window was.
    pub idle_window: Duration,
}

/// Topics started at once: a node's joins go to the broker in waves of this
/// many, as clients arrive, rather than all in the same instant.
const JOIN_WAVE: usize = 1_000;
/// Publishes in flight at once from node B.
const PUBLISHING: usize = 256;
/// Broker connections one node may hold, whatever its number of topics.
const CONNECTIONS_PER_NODE: u64 = 4;

/// `topics` topics with one local subscriber each on node A, one event to
/// each published from node B: every subscriber gets its own event exactly
/// once; the nodes hold at most 4 broker connections each whatever the
/// count; with every topic followed and idle, the broker does next to no
/// work (at most `idle_bound` of [`Backplane::broker_activity`] per second:
/// pings, and the case's own probes). Both bounds are per broker process
/// ([`Backplane::broker_processes`]: a cluster's masters).
///
/// The subscribers are local, made with [`Broadcaster::subscribe`] on node
/// A directly, not 100 000 HTTP connections: what is measured is the
/// backplane (its connections, its feed, the broker), not the HTTP servers,
/// which the other cases cover. Subscriptions are started in waves of 1 000
/// (each polled until its node counts it), publishes 256 at a time.
pub async fn many_topics_each_get_their_event_once_and_cost_nothing_idle<P: Backplane>(
    backplane: &P,
    topics: usize,
    idle_bound: f64,
) -> ScaleReport {
    use futures_util::StreamExt;
    let name = backplane.name();
    let mut nodes = backplane.nodes(2, 10).await;
    let (a, b) = match (nodes.pop(), nodes.pop()) {
        (Some(b), Some(a)) => (a, b),
        _ => panic!("{name}: two nodes"),
    };
    let topic = |index: usize| format!("scale {index}");
    // Each subscription in a task of its own, reporting every frame it gets.
    let (frames, mut received) = tokio::sync::mpsc::unbounded_channel();
    let started = std::time::Instant::now();
    let mut tasks = Vec::with_capacity(topics);
    for wave in (0..topics).collect::<Vec<_>>().chunks(JOIN_WAVE) {
        for &index in wave {
            let mut subscription = a.subscribe(&topic(index), None);
            let frames = frames.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(item) = subscription.next().await {
                    let frame =
                        ssekit::IntoFrame::into_frame(item).map_err(|error| error.to_string());
                    if frames.send((index, frame)).is_err() {
                        return;
                    }
                }
            }));
        }
        let joined = tokio::time::timeout(PATIENCE, async {
            for &index in wave {
                while a.local_subscriber_count(&topic(index)) == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
        .await;
        if joined.is_err() {
            let failed = received.try_recv().ok();
            panic!(
                "{name}: the wave from topic {} never joined (first frame or error: {failed:?})",
                wave[0]
            );
        }
    }
    let subscribe = started.elapsed();
    if let Ok(early) = received.try_recv() {
        panic!("{name}: a frame before anything was published: {early:?}");
    }

    let connections = backplane.broker_connections();
    if let Some(connections) = connections {
        assert!(
            connections <= 2 * CONNECTIONS_PER_NODE * backplane.broker_processes(),
            "{name}: {connections} broker connections for 2 nodes and {topics} topics"
        );
    }

    // Idle: every topic followed, nothing published, once the joins' last
    // reads are done (on a Redis Cluster about one topic in a thousand is
    // read once more just after it joined: a cost of joining, not of idling).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_window = Duration::from_secs(3);
    let (work_before, cpu_before, broker_before) =
        (backplane.broker_activity(), process_cpu(), children_cpu());
    tokio::time::sleep(idle_window).await;
    let (work_after, idle_cpu, idle_broker_cpu) = (
        backplane.broker_activity(),
        process_cpu().saturating_sub(cpu_before),
        children_cpu().saturating_sub(broker_before),
    );
    let idle_activity_per_second = match (work_before, work_after) {
        (Some(before), Some(after)) => {
            Some(after.saturating_sub(before) as f64 / idle_window.as_secs_f64())
        }
        _ => None,
    };
    if let Some(rate) = idle_activity_per_second {
        assert!(
            rate <= idle_bound * backplane.broker_processes() as f64,
            "{name}: {rate:.1} {} per second with {topics} idle topics",
            backplane.activity_unit()
        );
    }
    if let Ok(early) = received.try_recv() {
        panic!("{name}: a frame while idle: {early:?}");
    }

    // One event to each topic, from node B.
    let delivering = std::time::Instant::now();
    let ids: Vec<String> = futures_util::stream::iter(0..topics)
        .map(|index| {
            let b = &b;
            async move {
                b.publish(&topic(index), Event::message(topic(index)))
                    .await
                    .unwrap_or_else(|error| panic!("{name}: publishing to topic {index}: {error}"))
            }
        })
        .buffered(PUBLISHING)
        .collect()
        .await;
    let mut got: Vec<Option<MessageEvent>> = vec![None; topics];
    let mut count = 0;
    let patience = PATIENCE + Duration::from_millis(topics as u64);
    while count < topics {
        let (index, frame) = tokio::time::timeout(patience, received.recv())
            .await
            .unwrap_or_else(|_| panic!("{name}: {count} of {topics} events arrived"))
            .expect("the subscriptions run");
        let frame = frame.unwrap_or_else(|error| panic!("{name}: topic {index} failed: {error}"));
        let mut events = ssekit::decode::events(frame.as_bytes()).expect("a well-formed frame");
        assert_eq!(events.len(), 1, "{name}: one event per frame");
        let event = events.remove(0);
        assert!(
            got[index].is_none(),
            "{name}: topic {index} got a second event: {event:?}"
        );
        assert_eq!(
            event.data,
            topic(index),
            "{name}: topic {index} got another's"
        );
        assert_eq!(
            event.last_event_id, ids[index],
            "{name}: topic {index}'s id"
        );
        got[index] = Some(event);
        count += 1;
    }
    let deliver = delivering.elapsed();
    // Exactly once: nothing more comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Ok(extra) = received.try_recv() {
        panic!("{name}: an event delivered twice: {extra:?}");
    }
    for task in &tasks {
        task.abort();
    }
    ScaleReport {
        topics,
        subscribe,
        deliver,
        connections,
        idle_activity_per_second,
        idle_cpu,
        idle_broker_cpu,
        idle_window,
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

/// Serves a room with presence: `GET /stream?user=NAME` subscribes to
/// `topic` with NAME present while the stream is open.
#[derive(Clone)]
pub struct PresenceRoom<B: Broadcaster> {
    /// The node's presence.
    pub presence: ssekit::presence::Presence<B>,
    /// The room's topic.
    pub topic: String,
}

impl<B: Broadcaster> Handler for PresenceRoom<B> {
    fn handle<P>(&self, publisher: P) -> impl Future<Output = P::Response> + Send
    where
        P: SsePublisher + Send + 'static,
    {
        let member = publisher
            .request()
            .query_param("user")
            .and_then(|user| ssekit::presence::Member::new(user).ok())
            .expect("the tests name their users");
        let stream = self
            .presence
            .subscribe(&self.topic, member, publisher.last_event_id())
            .expect("within the bounds");
        let options = ssekit::PublishOptions::new()
            .with_keep_alive(ssekit::KeepAlive::new().with_interval(Duration::from_millis(100)));
        async move { publisher.publish_with(stream, options) }
    }
}

/// Who `presence` sees in `topic`, as sorted ids.
async fn present<B: Broadcaster>(
    presence: &ssekit::presence::Presence<B>,
    topic: &str,
) -> Vec<String> {
    let mut ids: Vec<String> = presence
        .members(topic)
        .await
        .expect("within the bounds")
        .iter()
        .map(|member| member.id().to_owned())
        .collect();
    ids.sort();
    ids
}

/// Waits until every node sees exactly `expected` in `topic`.
async fn all_see<B: Broadcaster>(
    name: &str,
    nodes: &[ssekit::presence::Presence<B>],
    topic: &str,
    expected: &[&str],
) {
    for (n, node) in nodes.iter().enumerate() {
        let seen = tokio::time::timeout(PATIENCE, async {
            loop {
                let seen = present(node, topic).await;
                if seen == expected {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        let now = present(node, topic).await;
        assert!(
            seen.is_ok(),
            "{name}: node {n} sees {now:?}, not {expected:?}"
        );
    }
}

/// Presence across nodes over HTTP: members on three nodes (one with two
/// connections) are present on every node; a member leaves with its last
/// connection; the members of a node that stops cleanly leave at once, and
/// those of a node that goes silent (as a crash) after its node timeout;
/// and a stream's presence events say all of it, in the topic's stream.
pub async fn presence_is_the_same_on_every_node<P: Backplane>(backplane: &P) {
    use ssekit::presence::{Presence, PresenceConfig};
    let name = backplane.name();
    let topic = "presence-room";
    let config = PresenceConfig::new()
        .with_heartbeat(Duration::from_millis(300))
        .with_prefix(format!("_presence-{}", std::process::id()));
    let mut presences = Vec::new();
    let mut servers = Vec::new();
    for broadcaster in backplane.nodes(3, 1_000).await {
        let presence = Presence::with_config(broadcaster, config.clone());
        let room = PresenceRoom {
            presence: presence.clone(),
            topic: topic.to_owned(),
        };
        servers.push(Server::start(Framework::Axum, room).await);
        presences.push(presence);
    }
    let open = |node: usize, user: &str| {
        let url = servers[node].url(&format!("/stream?user={user}"));
        async move {
            let response = reqwest::get(url).await.expect("the node answers");
            assert_eq!(response.status(), 200);
            EventBody::new(response)
        }
    };
    let alice_tab1 = open(0, "alice").await;
    let alice_tab2 = open(0, "alice").await;
    all_see(name, &presences, topic, &["alice"]).await;
    let bob = open(1, "bob").await;
    all_see(name, &presences, topic, &["alice", "bob"]).await;
    let mut carol = Client {
        body: open(2, "carol").await,
    };
    let first = carol.next().await.expect("the stream goes on");
    assert_eq!(first.event_type, "presence", "{name}");
    assert_eq!(
        first.data, r#"{"present":[{"id":"alice"},{"id":"bob"},{"id":"carol"}]}"#,
        "{name}: a new stream sees who is on every node, itself included"
    );
    all_see(name, &presences, topic, &["alice", "bob", "carol"]).await;

    drop(alice_tab1);
    // Alice still has a connection: she stays; a later change proves the
    // first was seen and was not a leave.
    let dave = open(0, "dave").await;
    all_see(name, &presences, topic, &["alice", "bob", "carol", "dave"]).await;
    drop(alice_tab2);
    all_see(name, &presences, topic, &["bob", "carol", "dave"]).await;
    let mut changes = Vec::new();
    while changes.len() < 2 {
        let event = carol.next().await.expect("the stream goes on");
        if event.event_type == "presence" {
            changes.push(event.data);
        }
    }
    assert_eq!(
        changes,
        [r#"{"joined":{"id":"dave"}}"#, r#"{"left":{"id":"alice"}}"#],
        "{name}: carol's stream, in the order every node saw"
    );

    // Node 1 goes silent: bob leaves after the node timeout, not before.
    let silent = tokio::time::Instant::now();
    presences[1].abandon();
    all_see(
        name,
        &[presences[0].clone(), presences[2].clone()],
        topic,
        &["carol", "dave"],
    )
    .await;
    assert!(
        silent.elapsed() >= config.node_timeout() / 2,
        "{name}: bob left before his node could have been timed out"
    );
    drop(bob);
    // Node 0 stops cleanly: dave leaves at once on node 2.
    presences[0].shutdown().await;
    all_see(name, &presences[2..], topic, &["carol"]).await;
    drop(dave);
    drop(carol);
}

/// Presence through a broker outage longer than the node timeout: a member
/// joining while the broker is down is published once it is back, the
/// nodes (each of which timed the other out meanwhile) hear each other
/// again and resend their lists, and every node sees every member.
pub async fn presence_recovers_after_the_broker_comes_back<P: Backplane>(backplane: &P) {
    use ssekit::presence::{Member, Presence, PresenceConfig};
    let name = backplane.name();
    let topic = "presence-outage";
    let config = PresenceConfig::new()
        .with_heartbeat(Duration::from_millis(200))
        .with_prefix(format!("_presence-outage-{}", std::process::id()));
    let nodes: Vec<_> = backplane
        .nodes(2, 1_000)
        .await
        .into_iter()
        .map(|node| Presence::with_config(node, config.clone()))
        .collect();
    let member = |id: &str| Member::new(id).expect("a valid id");
    let _alice = nodes[0].join(topic, member("alice")).expect("joins");
    all_see(name, &nodes, topic, &["alice"]).await;
    assert!(backplane.kill_broker(), "{name}: this case needs a broker");
    let _bob = nodes[1]
        .join(topic, member("bob"))
        .expect("joins, locally for now");
    // Past the node timeout (0.6 s) the nodes time each other out: alice
    // leaves node 1's view, and bob is not in it yet (a view is what came
    // through the broker).
    all_see(name, &nodes[1..], topic, &[]).await;
    backplane.restart_broker();
    all_see(name, &nodes, topic, &["alice", "bob"]).await;
}
