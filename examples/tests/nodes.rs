//! The chat and progress examples as real processes sharing one broker (a
//! Redis, or a NATS server with JetStream, started by the test): fan-out
//! across nodes of different frameworks, and failover when a node is killed
//! with SIGKILL mid-stream. The same tests run on each broker (`redis::`,
//! `nats::`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ssekit::decode::{Decoded, Decoder, MessageEvent};
use ssekit_nats::testing::NatsServer;
use ssekit_redis::testing::RedisServer;

const WITHIN: Duration = Duration::from_secs(15);

/// The broker the nodes share, killed on drop.
enum Broker {
    Redis(RedisServer),
    Nats(NatsServer),
}

impl Broker {
    /// The example binaries' flag for it.
    fn flag(&self) -> [String; 2] {
        match self {
            Broker::Redis(redis) => ["--redis".into(), redis.url()],
            Broker::Nats(nats) => ["--nats".into(), nats.url()],
        }
    }
}

macro_rules! on_each_broker {
    ($($broker:ident: $start:expr;)*) => {$(
        mod $broker {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn three_nodes_on_three_frameworks_share_one_chat_in_one_order() {
                super::three_nodes_on_three_frameworks_share_one_chat_in_one_order($start).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn who_is_online_is_known_on_every_node_and_a_killed_node_s_users_leave() {
                super::who_is_online_is_known_on_every_node_and_a_killed_node_s_users_leave($start).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_client_survives_its_node_being_killed() {
                super::a_client_survives_its_node_being_killed($start).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_job_is_followed_and_resumed_on_other_nodes_and_its_end_known_on_all() {
                super::a_job_is_followed_and_resumed_on_other_nodes_and_its_end_known_on_all($start).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn the_followers_of_a_job_whose_node_dies_are_told_it_is_lost() {
                super::the_followers_of_a_job_whose_node_dies_are_told_it_is_lost($start).await;
            }
        }
    )*};
}

on_each_broker! {
    redis: Broker::Redis(RedisServer::start().unwrap());
    nats: Broker::Nats(NatsServer::start().unwrap());
}

/// An example's process on a free port; SIGKILLed on drop.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    /// A chat process.
    fn start(framework: &str, broker: &Broker) -> Node {
        Node::start_example(env!("CARGO_BIN_EXE_chat"), framework, broker)
    }

    /// A progress process (one step every 250 ms).
    fn start_progress(framework: &str, broker: &Broker) -> Node {
        Node::start_example(env!("CARGO_BIN_EXE_progress"), framework, broker)
    }

    fn start_example(binary: &str, framework: &str, broker: &Broker) -> Node {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(binary)
            .args(["--framework", framework, "--port", &port.to_string()])
            .args(broker.flag())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the example starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.contains("serving on"),
            "{framework} node said {line:?}"
        );
        Node {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    async fn send(&self, text: &str) -> String {
        send(&self.base, text).await
    }
}

/// Posts a chat message to the node at `base`; returns its event id.
async fn send(base: &str, text: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/chat/send"))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "user": "test", "text": text }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    body["id"].as_str().unwrap().to_owned()
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An EventSource-like reader of an event stream.
struct Stream {
    response: reqwest::Response,
    decoder: Decoder,
    pending: std::collections::VecDeque<MessageEvent>,
}

/// `GET base+path`, with `Last-Event-ID: last_event_id` if given.
async fn get(base: &str, path: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    request.send().await.unwrap()
}

impl Stream {
    /// The chat's stream.
    async fn open(node: &Node, last_event_id: Option<&str>) -> Stream {
        Stream::open_path(node, "/chat/stream", last_event_id).await
    }

    /// The stream at `path`, which must answer 200.
    async fn open_path(node: &Node, path: &str, last_event_id: Option<&str>) -> Stream {
        let response = get(&node.base, path, last_event_id).await;
        assert_eq!(response.status(), 200, "{path} on {}", node.base);
        Stream {
            response,
            decoder: Decoder::new(),
            pending: Default::default(),
        }
    }

    /// The next event, or `None` if the connection ended or broke.
    async fn next(&mut self) -> Option<MessageEvent> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            let chunk = tokio::time::timeout(WITHIN, self.response.chunk())
                .await
                .expect("stalled")
                .ok()??;
            for item in self.decoder.feed(&chunk).unwrap() {
                if let Decoded::Event(event) = item {
                    assert_ne!(event.event_type, "gap", "unexpected gap: {}", event.data);
                    self.pending.push_back(event);
                }
            }
        }
    }
}

fn text(event: &MessageEvent) -> String {
    let message: serde_json::Value = serde_json::from_str(&event.data).unwrap();
    message["text"].as_str().unwrap().to_owned()
}

/// Lets new subscriptions join before publishing starts.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

impl Stream {
    /// Applies the stream's `presence` events to `online` until it is
    /// `expected`, within `limit` (a node's users leave only once it is
    /// timed out: three 5 s heartbeats).
    async fn online_until(&mut self, online: &mut Vec<String>, expected: &[&str], limit: Duration) {
        let reached = tokio::time::timeout(limit, async {
            while online != expected {
                let Some(event) = self.pending.pop_front() else {
                    let chunk = self
                        .response
                        .chunk()
                        .await
                        .ok()
                        .flatten()
                        .expect("stream open");
                    for item in self.decoder.feed(&chunk).unwrap() {
                        if let Decoded::Event(event) = item {
                            self.pending.push_back(event);
                        }
                    }
                    continue;
                };
                if event.event_type != "presence" {
                    continue;
                }
                let change: serde_json::Value = serde_json::from_str(&event.data).unwrap();
                if let Some(present) = change["present"].as_array() {
                    *online = present
                        .iter()
                        .map(|m| m["id"].as_str().unwrap().to_owned())
                        .collect();
                }
                if let Some(id) = change["joined"]["id"].as_str() {
                    online.push(id.to_owned());
                }
                if let Some(id) = change["left"]["id"].as_str() {
                    online.retain(|other| other != id);
                }
                online.sort();
            }
        })
        .await;
        assert!(reached.is_ok(), "online: {online:?}, never {expected:?}");
    }
}

/// Users online on two chat processes of different frameworks: each page
/// learns who is online on both; the one whose node is SIGKILLed leaves on
/// the other once that node is timed out (no goodbye from a killed process).
async fn who_is_online_is_known_on_every_node_and_a_killed_node_s_users_leave(broker: Broker) {
    let mut axum = Node::start("axum", &broker);
    let actix = Node::start("actix", &broker);
    let mut alice = Stream::open_path(&axum, "/chat/stream?user=alice", None).await;
    let mut alice_online = Vec::new();
    alice
        .online_until(&mut alice_online, &["alice"], WITHIN)
        .await;
    let mut bob = Stream::open_path(&actix, "/chat/stream?user=bob", None).await;
    let mut bob_online = Vec::new();
    bob.online_until(&mut bob_online, &["alice", "bob"], WITHIN)
        .await;
    alice
        .online_until(&mut alice_online, &["alice", "bob"], WITHIN)
        .await;
    // A message still reaches both, among the presence events.
    let id = actix.send("hello").await;
    for stream in [&mut alice, &mut bob] {
        loop {
            let event = stream.next().await.expect("stream open");
            if event.event_type == "chat" {
                assert_eq!(
                    (text(&event), event.last_event_id),
                    ("hello".to_owned(), id.clone())
                );
                break;
            }
        }
    }
    axum.kill();
    bob.online_until(&mut bob_online, &["bob"], Duration::from_secs(60))
        .await;
}

async fn three_nodes_on_three_frameworks_share_one_chat_in_one_order(broker: Broker) {
    let nodes: Vec<Node> = ["axum", "actix", "poem"]
        .iter()
        .map(|f| Node::start(f, &broker))
        .collect();
    let mut streams = Vec::new();
    for node in &nodes {
        for _ in 0..2 {
            streams.push(Stream::open(node, None).await);
        }
    }
    settle().await;
    let mut ids = Vec::new();
    for round in 0..10 {
        for (n, node) in nodes.iter().enumerate() {
            ids.push(node.send(&format!("{round}-{n}")).await);
        }
    }
    for stream in &mut streams {
        let mut seen = Vec::new();
        while seen.len() < ids.len() {
            seen.push(stream.next().await.expect("stream open").last_event_id);
        }
        assert_eq!(
            seen, ids,
            "every message once, in one global order, on every node"
        );
    }
}

async fn a_client_survives_its_node_being_killed(broker: Broker) {
    let b = Node::start("warp", &broker);
    for round in 0..3 {
        let mut a = Node::start(["axum", "actix", "poem"][round], &broker);
        let mut stream = Stream::open(&a, None).await;
        settle().await;
        let total = 120;
        let publisher = {
            let base = b.base.clone();
            tokio::spawn(async move {
                for i in 0..total {
                    send(&base, &i.to_string()).await;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };
        let mut seen: Vec<String> = Vec::new();
        let mut last_id = None;
        while seen.len() < total {
            match stream.next().await {
                Some(event) => {
                    seen.push(text(&event));
                    last_id = Some(event.last_event_id);
                    if seen.len() == 40 {
                        a.kill(); // mid-stream, with no warning
                    }
                }
                // The connection died: reconnect to the other node, as a load
                // balancer would send it, with the last event id.
                None => stream = Stream::open(&b, last_id.as_deref()).await,
            }
        }
        publisher.await.unwrap();
        let expected: Vec<String> = (0..total).map(|i| i.to_string()).collect();
        assert_eq!(
            seen, expected,
            "round {round}: every event exactly once, in order"
        );
    }
}

/// Starts a job of `steps` steps on the node at `base`; returns its id.
async fn start_job(base: &str, steps: u32) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/jobs"))
        .json(&serde_json::json!({ "steps": steps }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["steps"], steps);
    body["id"].as_str().unwrap().to_owned()
}

/// The step a `progress` event reports.
fn step(event: &MessageEvent) -> u64 {
    assert_eq!(
        event.event_type, "progress",
        "{}: {}",
        event.event_type, event.data
    );
    let progress: serde_json::Value = serde_json::from_str(&event.data).unwrap();
    progress["step"].as_u64().unwrap()
}

/// Reads `stream` as a page would, each step into `seen` and each id into
/// `last_id`, to the job's `complete` event (then its id) or to the
/// connection's end (then `None`).
async fn read_job(
    stream: &mut Stream,
    seen: &mut Vec<u64>,
    last_id: &mut String,
) -> Option<String> {
    while let Some(event) = stream.next().await {
        last_id.clone_from(&event.last_event_id);
        if event.event_type == "complete" {
            return Some(event.last_event_id);
        }
        seen.push(step(&event));
    }
    None
}

/// Asks `node` for the job's stream after its `complete` (id `last`) until it
/// answers 204, as a page's reconnects would: the "job finished" record comes
/// from the node that ran the job through the broker, so it may lag the
/// `complete` event by the broker's delivery. Within [`WITHIN`].
async fn ends_with_204(node: &Node, job: &str, last: &str) {
    let path = format!("/jobs/stream?id={job}");
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let response = get(&node.base, &path, Some(last)).await;
        if response.status() == 204 {
            return;
        }
        assert_eq!(response.status(), 200, "{}", node.base);
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: no 204 after the job's end within {WITHIN:?}",
            node.base
        );
        drop(response);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_job_is_followed_and_resumed_on_other_nodes_and_its_end_known_on_all(broker: Broker) {
    let a = Node::start_progress("axum", &broker);
    let mut b = Node::start_progress("actix", &broker);
    let c = Node::start_progress("poem", &broker);

    // Ids from clients are checked before they reach the broadcaster.
    for bad in ["1", "..%2F..", "finished", &"g".repeat(32), &"a".repeat(33)] {
        let response = get(&c.base, &format!("/jobs/stream?id={bad}"), None).await;
        assert_eq!(response.status(), 204, "id {bad:?}");
    }

    let steps = 16;
    let job = start_job(&a.base, steps).await;
    assert_ne!(start_job(&b.base, 1).await, job, "ids differ across nodes");
    let path = format!("/jobs/stream?id={job}");
    let mut whole = Stream::open_path(&c, &path, None).await;
    let mut moving = Stream::open_path(&b, &path, None).await;
    let expected: Vec<u64> = (1..=u64::from(steps)).collect();

    // One follower, on B, reads 3 steps; then B is killed mid-job (4 s of
    // steps), and it resumes on C from the last event id it got.
    let (mut seen, mut last_id) = (Vec::new(), String::new());
    while seen.len() < 3 {
        let event = moving.next().await.expect("open");
        seen.push(step(&event));
        last_id = event.last_event_id;
    }
    b.kill();
    let mut end = read_job(&mut moving, &mut seen, &mut last_id).await;
    assert!(end.is_none(), "B died before the job's end: {seen:?}");
    let mut moving = Stream::open_path(&c, &path, Some(&last_id)).await;
    end = read_job(&mut moving, &mut seen, &mut last_id).await;
    let last = end.expect("the job completes");
    assert_eq!(seen, expected, "across the move: no repeat, no gap");

    // The other, on C throughout.
    let (mut seen, mut last_id) = (Vec::new(), String::new());
    let end = read_job(&mut whole, &mut seen, &mut last_id).await;
    assert_eq!(seen, expected, "every step once, in order");
    assert_eq!(end.as_deref(), Some(&*last), "then the same complete");

    // A reconnect after the end gets 204 from a node that did not run the
    // job, and from one started after it ended (from the records' history).
    ends_with_204(&c, &job, &last).await;
    let d = Node::start_progress("warp", &broker);
    ends_with_204(&d, &job, &last).await;
    // And a first connection to the finished job still replays it all.
    let mut late = Stream::open_path(&d, &path, None).await;
    let (mut seen, mut last_id) = (Vec::new(), String::new());
    let end = read_job(&mut late, &mut seen, &mut last_id).await;
    assert_eq!((seen, end), (expected, Some(last)));
}

async fn the_followers_of_a_job_whose_node_dies_are_told_it_is_lost(broker: Broker) {
    let mut a = Node::start_progress("axum", &broker);
    let b = Node::start_progress("actix", &broker);
    let job = start_job(&a.base, 1000).await;
    let mut stream = Stream::open_path(&b, &format!("/jobs/stream?id={job}"), None).await;
    for expected in 1..=3 {
        assert_eq!(step(&stream.next().await.expect("open")), expected);
    }
    a.kill();
    // The node's stall bound (10 s at this step) is within `next`'s 15 s.
    let lost = loop {
        let event = stream.next().await.expect("told before the stream ends");
        if event.event_type == "lost" {
            break event;
        }
        step(&event); // a step published before the kill
    };
    assert!(lost.data.contains("may be gone"), "{}", lost.data);
    assert!(
        stream.next().await.is_none(),
        "the stream ends after `lost`"
    );
}
