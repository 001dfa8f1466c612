//! The chat example as real processes sharing one broker (a Redis, or a NATS
//! server with JetStream, started by the test): fan-out across nodes of
//! different frameworks, and failover when a node is killed with SIGKILL
//! mid-stream. The same tests run on each broker (`redis::`, `nats::`).

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
    /// The chat binary's flag for it.
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
            async fn a_client_survives_its_node_being_killed() {
                super::a_client_survives_its_node_being_killed($start).await;
            }
        }
    )*};
}

on_each_broker! {
    redis: Broker::Redis(RedisServer::start().unwrap());
    nats: Broker::Nats(NatsServer::start().unwrap());
}

/// A chat process on a free port; SIGKILLed on drop.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    fn start(framework: &str, broker: &Broker) -> Node {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_chat"))
            .args(["--framework", framework, "--port", &port.to_string()])
            .args(broker.flag())
            .stdout(Stdio::piped())
            .spawn()
            .expect("chat starts");
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

/// An EventSource-like reader of `/chat/stream`.
struct Stream {
    response: reqwest::Response,
    decoder: Decoder,
    pending: std::collections::VecDeque<MessageEvent>,
}

impl Stream {
    async fn open(node: &Node, last_event_id: Option<&str>) -> Stream {
        let mut request = reqwest::Client::new().get(format!("{}/chat/stream", node.base));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        Stream {
            response,
            decoder: Decoder::new(),
            pending: Default::default(),
        }
    }

    /// The next chat message, or `None` if the connection ended or broke.
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
