//! A broadcast hub: topics, encode-once fan-out to every subscriber, history
//! for `Last-Event-ID` resume, and a bounded queue per subscriber.
//!
//! ```
//! use futures_util::StreamExt;
//! use ssekit::{hub::Hub, Event};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let hub: Hub = Hub::new();
//! let mut alice = hub.subscribe("chat", None);
//! hub.publish("chat", Event::message("hi"));               // gets id 1
//! assert_eq!(alice.next().await.unwrap().as_bytes(), b"id: 1\ndata: hi\n\n");
//!
//! // A client reconnecting with `Last-Event-ID: 1` gets what it missed, then live events.
//! hub.publish("chat", Event::message("missed"));
//! let mut again = hub.subscribe("chat", Some("1"));
//! assert_eq!(again.next().await.unwrap().as_bytes(), b"id: 2\ndata: missed\n\n");
//! # }
//! ```
//!
//! # Resume
//!
//! [`Hub::subscribe`] with the client's last event id replays the history after
//! it, then continues live, with no duplicate and no gap at the seam (both
//! happen under the topic's lock). When the id cannot be resumed from, the
//! subscriber first gets a *gap event* (type `gap`, configurable), whose data
//! is JSON with a `reason`:
//!
//! * `expired`: the id is older than the history kept; the whole history
//!   follows, then live events.
//! * `unknown`: the hub never issued that id (or, with [`IdMode::Keep`], no
//!   longer has it); live events follow.
//! * `lagged`: sent mid-stream under [`LagPolicy::DropOldest`], with `missed`,
//!   the number of events dropped for this subscriber.
//!
//! # Bounds
//!
//! History is bounded by count and optionally age. Each subscriber has a
//! bounded queue: publishing never waits for a subscriber and a stuck client
//! never holds more than its queue (see [`LagPolicy`]). Subscriptions leave
//! their topic when dropped (the framework drops the response when the client
//! goes); a topic with no subscribers and no history is forgotten.

mod config;
mod subscription;

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Waker;

use tokio::time::Instant;

pub use config::{HubConfig, IdMode, LagPolicy};
pub use subscription::Subscription;
use subscription::{Leave, LeaveTopic, Log, Queue, Subscriber};

use crate::encode::Frame;
use crate::event::Event;

/// Facts about an event passed to a subscription filter.
#[derive(Debug, Clone, Copy)]
pub struct Published<'a> {
    /// The event's id, if it has one.
    pub id: Option<&'a str>,
    /// The event's type, if set.
    pub event_type: Option<&'a str>,
    /// The event's data, if any.
    pub data: Option<&'a str>,
}

/// A filter choosing which published events a subscriber receives.
pub type Filter = Arc<dyn Fn(&Published<'_>) -> bool + Send + Sync>;

/// What [`Hub::publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReport {
    /// The event's id (assigned by the hub with [`IdMode::Assign`]).
    pub id: Option<String>,
    /// How many subscribers it was queued for.
    pub delivered: usize,
}

/// A broadcast hub; cheap to clone (all clones are the same hub).
///
/// `K` is the topic key: `String` by default, any `Hash + Eq` type otherwise.
pub struct Hub<K = String> {
    shared: Arc<Shared<K>>,
}

impl<K> Clone for Hub<K> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<K> {
    config: Arc<HubConfig>,
    topics: Mutex<HashMap<K, Arc<TopicCell<K>>>>,
    shutdown: Mutex<Option<Option<Frame>>>,
    /// Event numbers are hub-wide, so a topic's numbers only grow, even across
    /// topics, and a number tells where in every topic's timeline it falls.
    last_number: AtomicU64,
}

struct Entry {
    event: Event,
    number: u64,
    at: Instant,
    frame: Frame,
}

impl Entry {
    fn published(&self) -> Published<'_> {
        Published::of(&self.event)
    }
}

impl<'a> Published<'a> {
    fn of(event: &'a Event) -> Self {
        Published {
            id: event.id.as_deref(),
            event_type: event.event.as_deref(),
            data: event.data.as_deref(),
        }
    }
}

/// A topic, with what its subscriptions need to leave it: its key and the
/// hub. A subscription holds the topic itself, so leaving costs it no
/// allocation of its own (no closure, no copy of the key).
struct TopicCell<K> {
    key: K,
    /// Weak: the hub owns its topics.
    hub: Weak<Shared<K>>,
    state: Mutex<Topic>,
}

impl<K> TopicCell<K> {
    /// Wakes what a publish gathered, with no lock held, then gives the
    /// emptied buffer back for the next publish. A buffer far larger than
    /// the topic's subscribers now need is shrunk: a crowd that has left is
    /// not paid for forever, and small comings and goings move nothing.
    fn wake_gathered(&self, mut wakers: Vec<Waker>) {
        for waker in wakers.drain(..) {
            waker.wake();
        }
        let mut topic = lock(&self.state);
        if wakers.capacity() > topic.wakers.capacity() {
            let needed = topic.subscribers.len();
            if wakers.capacity() > 2 * needed.max(16) {
                wakers.shrink_to(needed);
            }
            topic.wakers = wakers;
        }
    }
}

impl<K: Hash + Eq + Send + Sync> LeaveTopic for TopicCell<K> {
    fn leave(&self, id: u64) {
        let Some(shared) = self.hub.upgrade() else {
            // The hub is gone, and its map with it: just let go of the queue.
            lock(&self.state).subscribers.remove(&id);
            return;
        };
        let mut topics = lock(&shared.topics);
        let mut topic = lock(&self.state);
        topic.subscribers.remove(&id);
        // A topic that carried events is kept: its history and eviction mark
        // are what resume relies on.
        if topic.subscribers.is_empty() && !topic.used && !topic.removed {
            topic.removed = true;
            let listed = topics
                .get(&self.key)
                .is_some_and(|listed| std::ptr::eq(Arc::as_ptr(listed), self));
            if listed {
                topics.remove(&self.key);
            }
        }
    }
}

#[derive(Default)]
struct Topic {
    history: VecDeque<Entry>,
    /// The number of the newest event evicted from history (0: none yet).
    evicted_through: u64,
    /// The topic has carried events: it is kept, so resume knows its past.
    used: bool,
    subscribers: HashMap<u64, Subscriber>,
    /// Live frames for the subscribers without a filter.
    log: Arc<Log>,
    next_subscriber: u64,
    closed: bool,
    /// Taken out of the hub's map: whoever holds it must look the key up again.
    removed: bool,
    /// The tasks a publish must wake, gathered under the lock and woken after
    /// it; kept between publishes so that fan-out allocates nothing per event.
    wakers: Vec<Waker>,
}

/// Ends every subscription of `topic` after what each has queued (and
/// `last`), and wakes them once the topic is unlocked.
fn end_subscriptions(mut topic: MutexGuard<'_, Topic>, last: Option<&Frame>) {
    let wakers: Vec<Waker> = topic
        .subscribers
        .drain()
        .filter_map(|(_, subscriber)| subscriber.queue.close(last.cloned()))
        .collect();
    drop(topic);
    wakers.into_iter().for_each(Waker::wake);
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take every stream down with it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Default for Hub<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Hub<K> {
    /// A hub with the default [`HubConfig`].
    pub fn new() -> Self {
        Self::with_config(HubConfig::default())
    }

    /// A hub with `config`.
    pub fn with_config(config: HubConfig) -> Self {
        let last_number = AtomicU64::new(config.first_id - 1);
        Self {
            shared: Arc::new(Shared {
                config: Arc::new(config),
                topics: Mutex::new(HashMap::new()),
                shutdown: Mutex::new(None),
                last_number,
            }),
        }
    }

    fn topic<Q>(&self, key: &Q, create: bool) -> Option<Arc<TopicCell<K>>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut topics = lock(&self.shared.topics);
        if let Some(topic) = topics.get(key) {
            return Some(topic.clone());
        }
        if !create {
            return None;
        }
        let closed = lock(&self.shared.shutdown).is_some();
        let topic = Arc::new(TopicCell {
            key: key.to_owned(),
            hub: Arc::downgrade(&self.shared),
            state: Mutex::new(Topic {
                closed,
                log: Arc::new(Log::new(self.shared.config.queue)),
                ..Topic::default()
            }),
        });
        topics.insert(key.to_owned(), topic.clone());
        Some(topic)
    }

    /// Runs `f` on the live topic `key` (created if `create`), retrying if the
    /// topic was removed between the look-up and the lock.
    fn with_topic<Q, R>(
        &self,
        key: &Q,
        create: bool,
        mut f: impl FnMut(&mut Topic, &Arc<TopicCell<K>>) -> R,
    ) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        loop {
            let topic_ref = self.topic(key, create)?;
            let mut topic = lock(&topic_ref.state);
            if !topic.removed {
                return Some(f(&mut topic, &topic_ref));
            }
        }
    }

    /// Publishes `event` to every subscriber of `topic`: encoded once, the same
    /// bytes queued for all. Never waits: a full queue is handled by the
    /// [`LagPolicy`]. With [`IdMode::Assign`] the event gets the hub's next number as its id (one counter for all topics: see [`IdMode::Assign`]).
    ///
    /// The subscribers' tasks are woken once the event is queued for all of
    /// them and the topic is unlocked, so joining and leaving the topic never
    /// wait for the wakes (each one a system call when the publisher runs
    /// outside the subscribers' runtime), and a waker may use the hub.
    pub fn publish<Q>(&self, topic: &Q, event: Event) -> PublishReport
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let config = &self.shared.config;
        let keep = config.history > 0;
        let mut event = Some(event);
        let published = self.with_topic(topic, keep, |topic, topic_ref| {
            let mut event = event.take().expect("published once");
            let number = self.shared.last_number.fetch_add(1, Ordering::Relaxed) + 1;
            topic.used = true;
            if config.ids == IdMode::Assign {
                event.id = Some(itoa::Buffer::new().format(number).to_owned().into());
            }
            let frame = event.encode();
            let published = Published::of(&event);
            topic.log.push(frame.clone());
            let mut delivered = 0;
            let mut wakers = std::mem::take(&mut topic.wakers);
            topic.subscribers.retain(|_, subscriber| {
                let pushed = match &subscriber.filter {
                    Some(filter) if !filter(&published) => return true,
                    Some(_) => subscriber.queue.push(frame.clone()),
                    None => subscriber.queue.push_live(),
                };
                wakers.extend(pushed.wake);
                // A subscriber dropped for lagging did not get this one.
                delivered += usize::from(pushed.queued);
                pushed.queued
            });
            let id = event.id.as_deref().map(str::to_owned);
            if keep {
                let now = Instant::now();
                topic.history.push_back(Entry {
                    event,
                    number,
                    at: now,
                    frame,
                });
                topic.trim(config, now);
            }
            (PublishReport { id, delivered }, wakers, topic_ref.clone())
        });
        match published {
            Some((report, wakers, topic)) => {
                topic.wake_gathered(wakers);
                report
            }
            None => PublishReport {
                id: event.and_then(|e| e.id).map(std::borrow::Cow::into_owned),
                delivered: 0,
            },
        }
    }

    /// Subscribes to `topic`, resuming after `last_event_id` when given (pass
    /// the publisher's [`last_event_id`](crate::SsePublisher::last_event_id)).
    ///
    /// The subscription is a source any adapter can publish.
    pub fn subscribe<Q>(&self, topic: &Q, last_event_id: Option<&str>) -> Subscription
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.subscribe_filtered(topic, last_event_id, None)
    }

    /// Like [`subscribe`](Self::subscribe), receiving only the events `filter`
    /// accepts (replayed ones included).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ssekit::hub::Hub;
    ///
    /// let hub: Hub = Hub::new();
    /// let alerts_only = hub.subscribe_filtered(
    ///     "metrics",
    ///     None,
    ///     Some(Arc::new(|event: &ssekit::hub::Published<'_>| event.event_type == Some("alert"))),
    /// );
    /// ```
    pub fn subscribe_filtered<Q>(
        &self,
        topic: &Q,
        last_event_id: Option<&str>,
        filter: Option<Filter>,
    ) -> Subscription
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let config = &self.shared.config;
        let queue = Arc::new(Queue::new(config.clone()));
        let latest = self.shared.last_number.load(Ordering::Relaxed);
        let joined = self.with_topic(topic, true, |topic, topic_ref| {
            if topic.closed {
                return None;
            }
            topic.trim(config, Instant::now());
            if let Some(last) = last_event_id {
                queue.preload(topic.replay_after(last, config, latest, filter.as_ref()));
            }
            if filter.is_none() {
                queue.attach(topic.log.clone());
            }
            topic.next_subscriber += 1;
            let id = topic.next_subscriber;
            let subscriber = Subscriber {
                queue: queue.clone(),
                filter: filter.clone(),
            };
            topic.subscribers.insert(id, subscriber);
            Some((id, topic_ref.clone()))
        });
        match joined.flatten() {
            Some((id, topic)) => Subscription::new(queue, Leave { topic, id }),
            None => {
                // Nothing has polled the new queue: no task to wake.
                let _ = queue.close(lock(&self.shared.shutdown).clone().flatten());
                Subscription::detached(queue)
            }
        }
    }

    /// How many subscribers `topic` has now.
    pub fn subscriber_count<Q>(&self, topic: &Q) -> usize
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.topic(topic, false)
            .map_or(0, |topic| lock(&topic.state).subscribers.len())
    }

    /// Forgets `topic`: its history, and its subscribers, whose streams end
    /// after what they have queued.
    pub fn remove_topic<Q>(&self, topic: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let removed = lock(&self.shared.topics).remove(topic);
        if let Some(topic) = removed {
            let mut topic = lock(&topic.state);
            topic.removed = true;
            end_subscriptions(topic, None);
        }
    }

    /// How many topics the hub holds: those with subscribers, and those that
    /// have carried events (until [`remove_topic`](Self::remove_topic)).
    pub fn topic_count(&self) -> usize {
        lock(&self.shared.topics).len()
    }

    /// Ends every subscription (after what each has queued) and every future
    /// one, so a graceful server shutdown is not held up by open streams.
    pub fn shutdown(&self) {
        self.close_all(None);
    }

    /// Like [`shutdown`](Self::shutdown), with `event` as each stream's last.
    pub fn shutdown_with(&self, event: Event) {
        self.close_all(Some(event.encode()));
    }

    fn close_all(&self, last: Option<Frame>) {
        *lock(&self.shared.shutdown) = Some(last.clone());
        let topics: Vec<_> = lock(&self.shared.topics).values().cloned().collect();
        for topic in topics {
            let mut topic = lock(&topic.state);
            topic.closed = true;
            end_subscriptions(topic, last.as_ref());
        }
    }
}

impl Topic {
    fn trim(&mut self, config: &HubConfig, now: Instant) {
        let expired = |entry: &Entry| {
            config
                .max_age
                .is_some_and(|max_age| now.saturating_duration_since(entry.at) > max_age)
        };
        while self.history.len() > config.history || self.history.front().is_some_and(expired) {
            if let Some(entry) = self.history.pop_front() {
                self.evicted_through = entry.number;
            }
        }
    }

    /// The frames a subscriber resuming after `last` must get first, with a gap
    /// notice in front when `last` cannot be resumed from exactly. `latest` is
    /// the newest number the hub has issued.
    fn replay_after(
        &self,
        last: &str,
        config: &HubConfig,
        latest: u64,
        filter: Option<&Filter>,
    ) -> Vec<Frame> {
        let start = match config.ids {
            IdMode::Assign => match last.parse::<u64>() {
                Ok(number) if number > latest => Err("unknown"),
                Ok(number) if number < self.evicted_through => Err("expired"),
                Ok(number) => Ok(self.history.partition_point(|e| e.number <= number)),
                Err(_) => Err("unknown"),
            },
            IdMode::Keep => self
                .history
                .iter()
                .rposition(|e| e.event.id.as_deref() == Some(last))
                .map(|at| at + 1)
                .ok_or("unknown"),
        };
        let wanted = |entry: &&Entry| filter.is_none_or(|filter| filter(&entry.published()));
        match start {
            Ok(start) => self
                .history
                .range(start..)
                .filter(wanted)
                .map(|e| e.frame.clone())
                .collect(),
            Err("expired") => std::iter::once(config.gap("expired", None).encode())
                .chain(self.history.iter().filter(wanted).map(|e| e.frame.clone()))
                .collect(),
            Err(reason) => vec![config.gap(reason, None).encode()],
        }
    }
}
