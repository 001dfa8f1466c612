//! The node's tasks: one that heartbeats, reads the heartbeat topic and
//! publishes what changed here; one per tracked topic that reads the
//! topic's lists from every node into its view.

use std::future::poll_fn;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::Poll;

use futures_core::Stream;
use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};

use super::wire::{self, Control};
use super::{Member, Shared, State};
use crate::decode::{Decoded, Decoder};
use crate::hub::Broadcaster;
use crate::source::IntoFrame;

/// How many heartbeats a node taken for gone and heard again is asked to
/// resend its lists, until one of them comes.
const RESEND_ATTEMPTS: u8 = 3;

/// The most publishes one wake-up makes before reading the heartbeat topic
/// again.
const BATCH: usize = 256;

/// 64 random bits, as hex: std's hasher keys are random per process, and
/// the clock and a counter tell apart nodes in one process.
pub(crate) fn node_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
    if let Ok(since) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

async fn next_event<S>(subscription: &mut S, decoder: &mut Decoder) -> Option<Vec<Decoded>>
where
    S: Stream<Item: IntoFrame> + Unpin,
{
    let item = poll_fn(|cx| Pin::new(&mut *subscription).poll_next(cx)).await?;
    let Ok(frame) = item.into_frame() else {
        return Some(Vec::new());
    };
    Some(decoder.feed(frame.as_bytes()).unwrap_or_else(|_| {
        // A frame too big for the decoder: not presence's.
        *decoder = Decoder::new();
        Vec::new()
    }))
}

fn events(decoded: Vec<Decoded>) -> impl Iterator<Item = crate::decode::MessageEvent> {
    decoded.into_iter().filter_map(|item| match item {
        Decoded::Event(event) => Some(event),
        _ => None,
    })
}

/// Subscribes to `topic` exactly from where it stands, retrying while the
/// broker is away; `None` once the node is gone.
async fn follow<B: Broadcaster>(shared: &Weak<Shared<B>>, topic: &str) -> Option<B::Subscription> {
    loop {
        let (broadcaster, heartbeat) = {
            let shared = shared.upgrade()?;
            (shared.broadcaster.clone(), shared.config.heartbeat)
        };
        match broadcaster.head(topic).await {
            Ok(head) => return Some(broadcaster.subscribe(topic, head.as_deref())),
            Err(error) => {
                tracing::debug!(topic, %error, "presence: cannot read the topic yet");
                tokio::time::sleep(heartbeat).await;
            }
        }
    }
}

/// The node's task, until its last handle is gone (then it says so) or it
/// is stopped.
pub(crate) async fn drive<B: Broadcaster>(shared: Weak<Shared<B>>, wake: Arc<Notify>) {
    let Some((broadcaster, node, heartbeat_topic, heartbeat, max_members)) =
        shared.upgrade().map(|s| {
            (
                s.broadcaster.clone(),
                s.node.clone(),
                s.config.prefix.clone(),
                s.config.heartbeat,
                s.config.max_members,
            )
        })
    else {
        return;
    };
    let Some(mut control) = follow(&shared, &heartbeat_topic).await else {
        return say_gone(&broadcaster, &heartbeat_topic, &node).await;
    };
    let mut decoder = Decoder::new();
    let mut hello_said = false;
    let mut ticks = tokio::time::interval(heartbeat);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if !hello_said {
            hello_said = broadcaster
                .publish(&heartbeat_topic, wire::hello(&node))
                .await
                .is_ok();
        }
        let woke = woken(&mut ticks, &wake, &mut control, &mut decoder).await;
        if let Some(read) = woke.read {
            let Some(decoded) = read else {
                // Ended while the node lives (a hub's lag policy, a
                // backplane that gave up; a shut-down broadcaster ends it
                // at once again): followed anew after a heartbeat, with the
                // lists published again for requests that may be lost.
                pause(&shared).await;
                let Some(followed) = follow(&shared, &heartbeat_topic).await else {
                    break;
                };
                control = followed;
                decoder = Decoder::new();
                let Some(shared) = shared.upgrade() else {
                    break;
                };
                let mut state = shared.lock();
                if state.stopped {
                    return;
                }
                heard(&shared, &mut state, Control::Gap);
                continue;
            };
            let Some(shared) = shared.upgrade() else {
                break;
            };
            let mut state = shared.lock();
            for event in events(decoded) {
                if let Some(control) = wire::parse(&event, max_members) {
                    heard(&shared, &mut state, control);
                }
            }
        }
        let tick = woke.tick;
        let Some(shared) = shared.upgrade() else {
            break;
        };
        if shared.lock().stopped {
            return;
        }
        if tick {
            let _ = broadcaster
                .publish(&heartbeat_topic, wire::alive(&node))
                .await;
            expire(&shared);
        }
        publish(&shared).await;
    }
    say_gone(&broadcaster, &heartbeat_topic, &node).await;
}

/// What woke the node's task: each of them, so that none starves the
/// others (a flood of control events does not stop the heartbeat).
struct Woke {
    tick: bool,
    /// A read from the heartbeat topic, if one was ready; `Some(None)` when
    /// it ended.
    read: Option<Option<Vec<Decoded>>>,
}

/// Waits for the heartbeat, a wake-up (something to publish) or a control
/// event, without `tokio::select!` (no proc-macro for every user). Reading
/// is cancel-safe: an item is taken only when the read completes.
async fn woken<S>(
    ticks: &mut tokio::time::Interval,
    wake: &Notify,
    control: &mut S,
    decoder: &mut Decoder,
) -> Woke
where
    S: Stream<Item: IntoFrame> + Unpin,
{
    let mut notified = std::pin::pin!(wake.notified());
    let mut read = std::pin::pin!(next_event(control, decoder));
    poll_fn(|cx| {
        let tick = ticks.poll_tick(cx).is_ready();
        let woken = notified.as_mut().poll(cx).is_ready();
        let read = match read.as_mut().poll(cx) {
            Poll::Ready(read) => Some(read),
            Poll::Pending => None,
        };
        if tick || woken || read.is_some() {
            Poll::Ready(Woke { tick, read })
        } else {
            Poll::Pending
        }
    })
    .await
}

pub(crate) async fn say_gone<B: Broadcaster>(broadcaster: &B, heartbeat_topic: &str, node: &str) {
    // Best effort: if the broker is down, the others time the node out.
    let _ = broadcaster.publish(heartbeat_topic, wire::gone(node)).await;
}

/// What the heartbeat topic said.
fn heard<B>(shared: &Shared<B>, state: &mut State, control: Control) {
    match control {
        Control::Alive(node) => heard_from(shared, state, &node),
        Control::Hello(node) => {
            if node != shared.node {
                heard_from(shared, state, &node);
                state.say_alive = true;
            }
        }
        Control::Gone(node) => {
            state.nodes.remove(&node);
            state.expired.remove(&node);
            for view in state.views.values_mut() {
                view.remove_node(&node);
            }
        }
        Control::Sync { node, topic } => {
            heard_from(shared, state, &node);
            state.dirty.insert(topic);
        }
        Control::Resend(node) => {
            if node == shared.node {
                let topics: Vec<String> = state.local.keys().cloned().collect();
                state.dirty.extend(topics);
            }
        }
        // Requests to this node may have been missed (a sync, a resend):
        // publish every list again.
        Control::Gap => {
            let topics: Vec<String> = state.local.keys().cloned().collect();
            state.dirty.extend(topics);
        }
        Control::State { .. } => {}
    }
}

/// Notes that `node` is alive; one taken for gone is asked to resend what
/// it has, since its members were dropped here.
fn heard_from<B>(shared: &Shared<B>, state: &mut State, node: &str) {
    if node == shared.node {
        return;
    }
    if let Some(last) = state.nodes.get_mut(node) {
        *last = Instant::now();
        return;
    }
    if state.nodes.len() >= shared.config.max_nodes {
        return;
    }
    state.nodes.insert(node.to_owned(), Instant::now());
    if state.expired.remove(node) {
        state.resends.insert(node.to_owned());
        // Asked again at the next heartbeats until a list of it comes: a
        // request can be lost as a broker comes back.
        state
            .resend_pending
            .insert(node.to_owned(), RESEND_ATTEMPTS);
    }
}

/// Drops the nodes not heard for a node timeout, and the views nobody uses
/// any more.
fn expire<B: Broadcaster>(shared: &Shared<B>) {
    let mut state = shared.lock();
    let now = Instant::now();
    let timeout = shared.config.node_timeout();
    let silent: Vec<String> = state
        .nodes
        .iter()
        .filter(|(_, last)| now.duration_since(**last) > timeout)
        .map(|(node, _)| node.clone())
        .collect();
    for node in silent {
        tracing::debug!(node, "presence: a node went silent, its members leave");
        state.nodes.remove(&node);
        if state.expired.len() < shared.config.max_nodes {
            state.expired.insert(node.clone());
        }
        for view in state.views.values_mut() {
            view.remove_node(&node);
        }
    }
    state
        .views
        .retain(|_, view| view.users > 0 || view.linger_until.is_some_and(|until| until > now));
}

enum Job {
    Alive,
    Sync(String),
    Resend(String),
    State(String, Vec<Member>),
}

/// Publishes what is owed, in one batch; what fails stays owed, for the
/// next heartbeat.
async fn publish<B: Broadcaster>(shared: &Arc<Shared<B>>) {
    let node = shared.node.as_str();
    let heartbeat_topic = shared.config.prefix.as_str();
    for _ in 0..BATCH {
        let job = {
            let mut state = shared.lock();
            if state.stopped {
                return;
            }
            if std::mem::take(&mut state.say_alive) {
                Job::Alive
            } else if let Some(topic) = state.syncs.pop_first() {
                Job::Sync(topic)
            } else if let Some(node) = state.resends.pop_first() {
                Job::Resend(node)
            } else if let Some(topic) = state.dirty.pop_first() {
                let members = state
                    .local
                    .get(&topic)
                    .map(|members| members.values().map(|local| local.member.clone()).collect())
                    .unwrap_or_default();
                Job::State(topic, members)
            } else {
                return;
            }
        };
        let published = match &job {
            Job::Alive => {
                shared
                    .broadcaster
                    .publish(heartbeat_topic, wire::alive(node))
                    .await
            }
            Job::Sync(topic) => {
                shared
                    .broadcaster
                    .publish(heartbeat_topic, wire::sync(node, topic))
                    .await
            }
            Job::Resend(other) => {
                shared
                    .broadcaster
                    .publish(heartbeat_topic, wire::resend(other))
                    .await
            }
            Job::State(topic, members) => {
                shared
                    .broadcaster
                    .publish(
                        &shared.config.topic(topic),
                        wire::state(node, members.iter()),
                    )
                    .await
            }
        };
        if let Err(error) = published {
            tracing::debug!(%error, "presence: a publish failed, retried at the next heartbeat");
            let mut state = shared.lock();
            match job {
                Job::Alive => state.say_alive = true,
                Job::Sync(topic) => {
                    state.syncs.insert(topic);
                }
                Job::Resend(node) => {
                    state.resends.insert(node);
                }
                Job::State(topic, _) => {
                    state.dirty.insert(topic);
                }
            }
            return;
        }
    }
    // More owed: come back after reading the heartbeat topic.
    shared.wake.notify_one();
}

/// A tracked topic's task: reads every node's list of the topic into its
/// view, until the view is dropped (which aborts it) or the node is gone.
pub(crate) async fn watch_topic<B: Broadcaster>(shared: Weak<Shared<B>>, topic: String) {
    let control_topic = match shared.upgrade() {
        Some(shared) => shared.config.topic(&topic),
        None => return,
    };
    // A subscription that ends while the node lives (a hub's lag policy
    // dropped it, a backplane gave up) is made anew, and the lists asked
    // for again: a view is never left silently stale.
    loop {
        let Some(mut subscription) = follow(&shared, &control_topic).await else {
            return;
        };
        request_sync(&shared, &topic);
        let mut decoder = Decoder::new();
        while let Some(decoded) = next_event(&mut subscription, &mut decoder).await {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            read_lists(&shared, &topic, decoded);
        }
        pause(&shared).await;
    }
}

/// Waits a heartbeat before following a topic again.
async fn pause<B: Broadcaster>(shared: &Weak<Shared<B>>) {
    let Some(heartbeat) = shared.upgrade().map(|shared| shared.config.heartbeat) else {
        return;
    };
    tokio::time::sleep(heartbeat).await;
}

/// What a topic's control stream said: the nodes' lists into its view.
fn read_lists<B: Broadcaster>(shared: &Arc<Shared<B>>, topic: &str, decoded: Vec<Decoded>) {
    let max_members = shared.config.max_members;
    let mut resync = false;
    {
        let mut state = shared.lock();
        for event in events(decoded) {
            match wire::parse(&event, max_members) {
                Some(Control::State { node, members }) => {
                    heard_from(shared, &mut state, &node);
                    state.resend_pending.remove(&node);
                    // Past `max_nodes`, a node is not heard: its list would
                    // be memory nothing bounds.
                    let known = node == shared.node || state.nodes.contains_key(&node);
                    if let Some(view) = state.views.get_mut(topic).filter(|_| known) {
                        view.apply_state(&node, members);
                    }
                }
                // Lists were missed: ask for all of them again.
                Some(Control::Gap) => resync = true,
                _ => {}
            }
        }
    }
    if resync {
        request_sync(&Arc::downgrade(shared), topic);
    }
}

/// Asks every node for its list of `topic`; the view is complete once every
/// node alive now answered.
fn request_sync<B: Broadcaster>(shared: &Weak<Shared<B>>, topic: &str) {
    let Some(shared) = shared.upgrade() else {
        return;
    };
    let mut state = shared.lock();
    let State { nodes, views, .. } = &mut *state;
    if let Some(view) = views.get_mut(topic) {
        let awaited = nodes.keys().cloned().chain([shared.node.clone()]);
        view.begin_sync(awaited);
    }
    state.syncs.insert(topic.to_owned());
    shared.wake.notify_one();
}
