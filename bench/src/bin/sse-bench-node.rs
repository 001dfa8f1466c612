//! One node of the cross-node benchmark: axum serving `GET /sse/{topic}`
//! from one of four broadcasters.
//!
//! `sse-bench-node --backend hub|redis|nats|recipe [--url URL]`
//!
//! * `hub`: the in-process [`Hub`] (one process: the baseline);
//! * `redis`: [`RedisHub`] on the Redis at `URL`;
//! * `nats`: [`NatsHub`] on the NATS JetStream server at `URL`;
//! * `recipe`: what users write by hand, no history and no resume: one
//!   Redis pub/sub connection (`PSUBSCRIBE recipe:*`) relayed into a
//!   `tokio::sync::broadcast` channel per topic, served by axum's own SSE
//!   type; publishing is a `PUBLISH recipe:<topic>`.
//!
//! The first three are served the same way, through `ssekit-axum` and the
//! [`Broadcaster`] trait. Prints `PORT <n>` once listening, then takes
//! commands on stdin, one per line:
//! `burst <topics> <rounds> <bytes> <rounds per second, 0 = at once>`
//! publishes `rounds` rounds, each one event to every topic `0..topics`
//! (event `r` of every topic in round `r`, up to 64 publishes in flight, so
//! that a topic's events never overtake each other), and answers
//! `SENT errors=<n>`. The process exits when stdin closes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::get;
use futures_util::{future, stream, StreamExt};
use ssekit::hub::{Broadcaster, Hub, HubConfig};
use ssekit::{Event, SsePublisher};
use ssekit_bench::{listener, now_ns, payload, raise_nofile_limit, QUEUE};
use ssekit_nats::{NatsHub, NatsHubConfig};
use ssekit_redis::{RedisHub, RedisHubConfig};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

/// Publishes in flight at once during a round (to distinct topics).
const IN_FLIGHT: usize = 64;

#[derive(Clone)]
enum Backend {
    Hub(Hub),
    Redis(RedisHub),
    Nats(NatsHub),
    Recipe(Recipe),
}

/// The hand-written recipe: a broadcast channel per topic, fed from one
/// Redis pub/sub connection.
#[derive(Clone)]
struct Recipe {
    channels: Arc<Mutex<HashMap<String, broadcast::Sender<String>>>>,
    commands: redis::aio::MultiplexedConnection,
}

impl Recipe {
    async fn connect(url: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.psubscribe("recipe:*").await?;
        let channels: Arc<Mutex<HashMap<String, broadcast::Sender<String>>>> = Arc::default();
        let relay = channels.clone();
        tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let Some(topic) = message.get_channel_name().strip_prefix("recipe:") else {
                    continue;
                };
                let Ok(data) = message.get_payload::<String>() else {
                    continue;
                };
                if let Some(sender) = relay.lock().expect("not poisoned").get(topic) {
                    let _ = sender.send(data);
                }
            }
        });
        let commands = client.get_multiplexed_async_connection().await?;
        Ok(Self { channels, commands })
    }

    fn subscribe(&self, topic: &str) -> broadcast::Receiver<String> {
        self.channels
            .lock()
            .expect("not poisoned")
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(QUEUE).0)
            .subscribe()
    }

    async fn publish(&self, topic: &str, data: String) -> redis::RedisResult<()> {
        let mut commands = self.commands.clone();
        redis::cmd("PUBLISH")
            .arg(format!("recipe:{topic}"))
            .arg(data)
            .query_async(&mut commands)
            .await
    }
}

impl Backend {
    async fn publish(&self, topic: &str, data: String) -> bool {
        match self {
            Backend::Hub(hub) => Broadcaster::publish(hub, topic, Event::message(data))
                .await
                .is_ok(),
            Backend::Redis(hub) => hub.publish(topic, Event::message(data)).await.is_ok(),
            Backend::Nats(hub) => hub.publish(topic, Event::message(data)).await.is_ok(),
            Backend::Recipe(recipe) => recipe.publish(topic, data).await.is_ok(),
        }
    }
}

fn main() -> std::io::Result<()> {
    let mut backend = String::new();
    let mut url = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--backend" => backend = args.next().unwrap_or_default(),
            "--url" => url = args.next().unwrap_or_default(),
            other => panic!("unknown argument {other}"),
        }
    }
    raise_nofile_limit();
    // One worker thread: the benchmark pins the node to one core.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let backend = match backend.as_str() {
            "hub" => Backend::Hub(Hub::with_config(HubConfig::default())),
            "redis" => Backend::Redis(
                RedisHub::connect(&url, RedisHubConfig::default())
                    .await
                    .map_err(std::io::Error::other)?,
            ),
            "nats" => Backend::Nats(
                NatsHub::connect(&url, NatsHubConfig::default())
                    .await
                    .map_err(std::io::Error::other)?,
            ),
            "recipe" => {
                Backend::Recipe(Recipe::connect(&url).await.map_err(std::io::Error::other)?)
            }
            other => panic!("unknown backend {other:?}"),
        };
        let app = match backend.clone() {
            Backend::Hub(hub) => ours(hub),
            Backend::Redis(hub) => ours(hub),
            Backend::Nats(hub) => ours(hub),
            Backend::Recipe(recipe) => native(recipe),
        };
        let listener = tokio::net::TcpListener::from_std(listener()?)?;
        println!("PORT {}", listener.local_addr()?.port());
        std::io::stdout().flush()?;
        // The publisher has its own thread and runtime, as a publisher
        // outside the serving runtime would; the node's runtime only serves.
        let handle = tokio::runtime::Handle::current();
        std::thread::spawn(move || commands(backend, handle));
        axum::serve(listener, app).await
    })
}

/// Our adapter over any broadcaster: the handler the README shows.
fn ours<B: Broadcaster>(broadcaster: B) -> axum::Router {
    let route = get(
        move |Path(topic): Path<String>, publisher: ssekit_axum::Publisher| {
            let subscription = broadcaster.subscribe(&topic, publisher.last_event_id());
            future::ready(publisher.publish(subscription))
        },
    );
    axum::Router::new().route("/sse/{topic}", route)
}

/// The recipe: axum's own SSE type over the topic's broadcast channel; a
/// lagging receiver skips what it missed (the load generator reports it).
fn native(recipe: Recipe) -> axum::Router {
    use axum::response::sse::{Event as AxumEvent, KeepAlive, Sse};
    let route = get(move |Path(topic): Path<String>| {
        let events = BroadcastStream::new(recipe.subscribe(&topic))
            .filter_map(|item| future::ready(item.ok()))
            .map(|data| Ok::<_, Infallible>(AxumEvent::default().data(data)));
        future::ready(Sse::new(events).keep_alive(KeepAlive::default()))
    });
    axum::Router::new().route("/sse/{topic}", route)
}

fn commands(backend: Backend, node: tokio::runtime::Handle) {
    let publisher = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|w| w.parse().ok())
            .collect();
        if let ("burst", [topics, rounds, bytes, rate]) =
            (line.split_whitespace().next().unwrap_or(""), &words[..])
        {
            // The backplanes' clients live on the node's runtime; the hub
            // needs none, so its publisher stays off the serving thread.
            let burst = burst(&backend, *topics, *rounds, *bytes as usize, *rate);
            let errors = match backend {
                Backend::Hub(_) => publisher.block_on(burst),
                _ => node.block_on(burst),
            };
            println!("SENT errors={errors}");
            let _ = std::io::stdout().flush();
        }
    }
    // The benchmark closed stdin: this run is over.
    std::process::exit(0);
}

async fn burst(backend: &Backend, topics: u64, rounds: u64, bytes: usize, rate: u64) -> u64 {
    let names: Vec<String> = (0..topics).map(|topic| topic.to_string()).collect();
    let started = Instant::now();
    let mut errors = 0;
    for round in 0..rounds {
        if rate > 0 {
            let due = started + Duration::from_secs_f64(round as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        errors += stream::iter(&names)
            .map(|topic| backend.publish(topic, payload(round, now_ns(), bytes)))
            .buffer_unordered(IN_FLIGHT)
            .filter(|published| future::ready(!published))
            .count()
            .await as u64;
    }
    errors
}
