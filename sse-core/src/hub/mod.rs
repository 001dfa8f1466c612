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
//! Several topics on one stream, resumed exactly on each from one
//! `Last-Event-ID` (on this hub and on the backplanes): [`Topics`].
//!
//! # Bounds
//!
//! History is bounded by count and optionally age per topic, and in bytes
//! across topics ([`HubConfig::with_max_history_bytes`]). Each subscriber has
//! a bounded queue: publishing never waits for a subscriber and a stuck
//! client never holds more than its queue (see [`LagPolicy`]).
//!
//! Subscribers without a filter share one log per topic, the last `queue`
//! frames, each reading it with its own cursor: a publish appends one frame
//! and takes the list of waiting tasks, whatever the number of subscribers,
//! and a subscriber that fell more than `queue` frames behind finds out when
//! it next reads (as tokio's broadcast channel does). A stuck subscriber
//! therefore costs its cursor, not a queue, and stays counted by
//! [`Hub::subscriber_count`] until it reads again or its connection goes.
//! Subscribers with a filter get their own queue of the frames that pass it,
//! and a publish visits each of them. Subscriptions
//! leave their topic when dropped (the framework drops the response when the
//! client goes).
//!
//! A topic with no subscriber is kept only while it holds history: at once
//! forgotten without history, and once its newest event is older than
//! [`max_age`](HubConfig::with_max_age), by one sweeper task per hub. The
//! hub holds at most [`max_topics`](HubConfig::with_max_topics) topics:
//! past it, the least recently used idle topic is forgotten, and a new topic
//! is refused ([`HubFull`]) only when every topic has subscribers.

pub mod backplane;
mod backplane_metrics;
mod broadcaster;
mod config;
mod directory;
mod lifecycle;
mod replay;
mod subscription;
mod topics;

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Waker;

use tokio::sync::Notify;
use tokio::time::Instant;

use directory::Directory;
use lifecycle::Topics as Lifecycle;

pub use backplane_metrics::{BackplaneMetrics, ReplayCount};
pub use broadcaster::Broadcaster;
use config::SharedConfig;
pub use config::{HubConfig, IdMode, LagPolicy};
use replay::{Page, PageRequest};
pub use subscription::Subscription;
use subscription::{Leave, LeaveTopic, Log, Queue, Subscriber};
pub use topics::{Topics, TopicsError};

use crate::encode::Frame;
use crate::event::Event;
use crate::observe::HubMetrics;

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
#[non_exhaustive]
pub struct PublishReport {
    /// The event's id (assigned by the hub with [`IdMode::Assign`]).
    pub id: Option<String>,
    /// How many subscribers it was offered to: every subscriber without a
    /// filter (one that fell behind by more than its queue is found out, and
    /// dropped, when it next reads), and those whose filter took it and
    /// whose queue had room.
    pub delivered: usize,
    /// Whether it was kept in the topic's history for resume: false with no
    /// history configured, or when the hub is at
    /// [`max_topics`](HubConfig::with_max_topics) with no idle topic to make
    /// room and this is a new topic.
    pub kept: bool,
}

/// The hub holds [`max_topics`](HubConfig::with_max_topics) topics, every
/// one with subscribers, so a new topic cannot be made (idle topics are
/// forgotten, least recently used first, to make room before this happens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubFull {
    /// The cap.
    pub max_topics: usize,
}

impl fmt::Display for HubFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the hub already holds {} topics, its limit, all with subscribers",
            self.max_topics
        )
    }
}

impl std::error::Error for HubFull {}

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

/// Aligned so that what every publish reads sits on cache lines of its own,
/// apart from the `Arc`'s counts, which every leave touches (through the
/// topic's `Weak`) and which would otherwise drag those lines from core to
/// core.
#[repr(align(128))]
struct Shared<K> {
    config: Arc<SharedConfig>,
    /// Finds a topic by key, without the lifecycle lock.
    directory: Directory<K, TopicCell<K>>,
    /// The topics' lifecycle: idle order, expiries, and the only place
    /// topics are added to or removed from the directory.
    topics: Mutex<Lifecycle<K>>,
    /// Set when expiries are scheduled with no Tokio runtime to sweep them:
    /// look-ups then sweep what is due.
    sweeps_inline: AtomicBool,
    shutdown: Mutex<Option<Option<Frame>>>,
    /// The newest event number handed out to a topic. Topics take numbers
    /// in blocks ([`NUMBER_BLOCK`]), so that publishers to different topics
    /// do not pass this counter's cache line between them on every event;
    /// a topic made anew starts a new block, so its numbers are above every
    /// number issued before.
    last_number: AtomicU64,
    /// The newest number of an event forgotten with its topic: a topic made
    /// anew treats ids up to it as expired.
    forgotten_through: AtomicU64,
    /// What all topics' histories hold, in bytes (see `Entry::cost`).
    history_bytes: AtomicUsize,
    /// The one task per hub that forgets idle topics whose history aged out.
    sweeper_running: AtomicBool,
    sweeper_wake: Arc<Notify>,
    /// Handles taken when the hub is made (feature `metrics`).
    metrics: HubMetrics,
}

struct Entry {
    event: Event,
    number: u64,
    at: Instant,
    frame: Frame,
    cost: usize,
}

impl Entry {
    /// What an entry holds on the heap and inline: the event's text, its
    /// encoded frame, and the entry itself.
    fn cost_of(event: &Event, frame: &Frame) -> usize {
        let text = [
            event.data.as_deref(),
            event.id.as_deref(),
            event.event.as_deref(),
            event.comment.as_deref(),
        ]
        .iter()
        .map(|part| part.map_or(0, str::len))
        .sum::<usize>();
        text + frame.len() + std::mem::size_of::<Entry>()
    }
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
    fn wake_gathered(&self, mut wakers: Vec<Option<Waker>>) {
        for waker in wakers.drain(..).flatten() {
            waker.wake();
        }
        let mut topic = lock(&self.state);
        if wakers.capacity() > topic.wakers.capacity() {
            let needed = topic.subscriber_count();
            if wakers.capacity() > 2 * needed.max(16) {
                wakers.shrink_to(needed);
            }
            topic.wakers = wakers;
        }
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> LeaveTopic for TopicCell<K> {
    fn leave(&self, id: u64) {
        let Some(shared) = self.hub.upgrade() else {
            // The hub is gone, and its map with it: just let go of the queue.
            lock(&self.state).remove_subscriber(id);
            return;
        };
        let mut topic = lock(&self.state);
        if !topic.remove_subscriber(id) || topic.subscriber_count() > 0 || topic.removed {
            return;
        }
        shared.trim(&mut topic, Instant::now());
        // The topic's lock is held while the lifecycle lock is taken (never
        // the other way round), so a join cannot slip in between the check
        // and the bookkeeping; the lifecycle lock is never held while
        // waiting for a topic.
        let mut topics = lock(&shared.topics);
        let expires = if topic.history.is_empty() {
            // Nothing a resume could need: forgotten at once.
            topic.removed = true;
            shared.directory.remove_if_listed(&self.key, self);
            None
        } else {
            // Kept for its history: the recent frames kept for subscribers
            // go with the last of them (a forgotten topic drops its own).
            topic.log = None;
            topics.mark_idle(&self.key, &mut topic, &shared.config)
        };
        drop(topics);
        drop(topic);
        if expires.is_some() {
            shared.schedule_sweep();
        }
    }

    fn replay_page(&self, request: PageRequest) -> Page {
        lock(&self.state).replay_page(&request)
    }
}

/// How many event numbers a topic takes from the hub's counter at a time.
const NUMBER_BLOCK: u64 = 64;

#[derive(Default)]
struct Topic {
    /// The numbers this topic may still give its events.
    numbers: std::ops::Range<u64>,
    history: VecDeque<Entry>,
    /// The number of the newest event evicted from history (0: none yet).
    evicted_through: u64,
    /// Bytes its history holds (see `Entry::cost_of`).
    history_bytes: usize,
    /// Where the topic stands in the hub's idle order while it has no
    /// subscriber (see `lifecycle`).
    idle_tick: Option<u64>,
    /// When the hub's sweep looks at this topic's history next, if it is
    /// scheduled (then it has one entry in the hub's expiry queue).
    expiry: Option<Instant>,
    /// The subscribers without a filter: they read `log`, and a publish
    /// never visits them.
    live: HashMap<u64, Arc<Queue>>,
    /// The subscribers with a filter, each given the frames that pass it.
    filtered: HashMap<u64, Subscriber>,
    /// Live frames for the subscribers without a filter.
    /// Made for the first such subscriber, so an idle topic has none.
    log: Option<Arc<Log>>,
    next_subscriber: u64,
    closed: bool,
    /// Taken out of the hub's map: whoever holds it must look the key up again.
    removed: bool,
    /// The tasks a publish must wake, taken under the lock and woken after
    /// it; kept between publishes so that fan-out allocates nothing per event.
    wakers: Vec<Option<Waker>>,
}

impl Topic {
    /// The next event's number: from this topic's block, taking a new one
    /// from the hub when it runs out.
    fn next_number<K>(&mut self, shared: &Shared<K>) -> u64 {
        if self.numbers.is_empty() {
            let first = shared
                .last_number
                .fetch_add(NUMBER_BLOCK, Ordering::Relaxed)
                + 1;
            self.numbers = first..first + NUMBER_BLOCK;
        }
        let number = self.numbers.start;
        self.numbers.start += 1;
        number
    }

    fn subscriber_count(&self) -> usize {
        self.live.len() + self.filtered.len()
    }

    /// False if it was not (or no longer) subscribed.
    fn remove_subscriber(&mut self, id: u64) -> bool {
        self.live.remove(&id).is_some() || self.filtered.remove(&id).is_some()
    }
}

/// Ends every subscription of `topic` after what each has queued (and
/// `last`), and wakes them once the topic is unlocked.
fn end_subscriptions(mut topic: MutexGuard<'_, Topic>, last: Option<&Frame>) {
    let Topic { live, filtered, .. } = &mut *topic;
    let wakers: Vec<Waker> = live
        .drain()
        .map(|(_, queue)| queue)
        .chain(filtered.drain().map(|(_, subscriber)| subscriber.queue))
        .filter_map(|queue| queue.close(last.cloned()))
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

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Shared<K> {
    /// Makes sure idle topics are forgotten when their history ages out,
    /// with no further calls: one task per hub, started on first need, that
    /// sleeps until the next expiry. Outside a Tokio runtime there is no
    /// task, and expiries are swept as the hub is used instead.
    fn schedule_sweep(self: &Arc<Self>) {
        if self.sweeper_running.swap(true, Ordering::AcqRel) {
            self.sweeper_wake.notify_one();
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(sweeper(Arc::downgrade(self), self.sweeper_wake.clone()));
            }
            Err(_) => {
                self.sweeps_inline.store(true, Ordering::Relaxed);
                self.sweeper_running.store(false, Ordering::Release);
            }
        }
    }
}

/// Forgets idle topics as their history ages out, until none is scheduled
/// (or the hub is gone: it holds the hub weakly, and never while asleep).
async fn sweeper<K: Hash + Eq + Clone + Send + Sync + 'static>(
    hub: Weak<Shared<K>>,
    wake: Arc<Notify>,
) {
    loop {
        let next = {
            let Some(shared) = hub.upgrade() else { return };
            let next = lock(&shared.topics).next_expiry();
            if next.is_none() {
                shared.sweeper_running.store(false, Ordering::Release);
                // An expiry scheduled between the look and the store saw the
                // task running and only notified it: look once more.
                let again = lock(&shared.topics).next_expiry();
                if again.is_none() || shared.sweeper_running.swap(true, Ordering::AcqRel) {
                    return;
                }
            }
            next
        };
        if let Some(next) = next {
            let _ = tokio::time::timeout_at(next, wake.notified()).await;
        }
        let Some(shared) = hub.upgrade() else { return };
        lock(&shared.topics).sweep(&shared, Instant::now());
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Hub<K> {
    /// A hub with the default [`HubConfig`].
    #[must_use]
    pub fn new() -> Self {
        Self::with_config(HubConfig::default())
    }

    /// A hub with `config`.
    #[must_use]
    pub fn with_config(config: HubConfig) -> Self {
        let last_number = AtomicU64::new(config.first_id - 1);
        Self {
            shared: Arc::new(Shared {
                config: Arc::new(SharedConfig(config)),
                directory: Directory::new(),
                topics: Mutex::new(Lifecycle::default()),
                sweeps_inline: AtomicBool::new(false),
                shutdown: Mutex::new(None),
                last_number,
                forgotten_through: AtomicU64::new(0),
                history_bytes: AtomicUsize::new(0),
                sweeper_running: AtomicBool::new(false),
                sweeper_wake: Arc::new(Notify::new()),
                metrics: HubMetrics::new(),
            }),
        }
    }

    fn topic<Q>(&self, key: &Q, create: bool) -> Result<Option<Arc<TopicCell<K>>>, HubFull>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let shared = &*self.shared;
        if shared.sweeps_inline.load(Ordering::Relaxed) {
            // Without a sweeper task (no runtime), expiries are swept here.
            let mut topics = lock(&shared.topics);
            if let Some(due) = topics.next_expiry() {
                let now = Instant::now();
                if due <= now {
                    topics.sweep(shared, now);
                }
            }
        }
        if let Some(topic) = shared.directory.get(key) {
            return Ok(Some(topic));
        }
        if !create {
            return Ok(None);
        }
        let mut topics = lock(&shared.topics);
        // Made by another caller since the look above?
        if let Some(topic) = shared.directory.get(key) {
            return Ok(Some(topic));
        }
        let max_topics = shared.config.max_topics;
        if shared.directory.len() >= max_topics
            && !topics.evict(shared, None, |_, shared| {
                shared.directory.len() < max_topics
            })
        {
            return Err(HubFull { max_topics });
        }
        let closed = lock(&shared.shutdown).is_some();
        let topic = Arc::new(TopicCell {
            key: key.to_owned(),
            hub: Arc::downgrade(&self.shared),
            state: Mutex::new(Topic {
                closed,
                // Ids up to a forgotten topic's newest may be this topic's past.
                evicted_through: shared.forgotten_through.load(Ordering::Relaxed),
                ..Topic::default()
            }),
        });
        shared.directory.insert(key.to_owned(), topic.clone());
        drop(topics);
        Ok(Some(topic))
    }

    /// Runs `f` on the live topic `key` (created if `create`), retrying if the
    /// topic was removed between the look-up and the lock.
    fn with_topic<Q, R>(
        &self,
        key: &Q,
        create: bool,
        mut f: impl FnMut(&mut Topic, &Arc<TopicCell<K>>) -> R,
    ) -> Result<Option<R>, HubFull>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        loop {
            let Some(topic_ref) = self.topic(key, create)? else {
                return Ok(None);
            };
            let mut topic = lock(&topic_ref.state);
            if !topic.removed {
                return Ok(Some(f(&mut topic, &topic_ref)));
            }
            // Being taken out of the map by whoever removed it: its lock is
            // the only thing it waits for, so this is brief.
            drop(topic);
            std::thread::yield_now();
        }
    }

    /// Publishes `event` to every subscriber of `topic`: encoded once, the same
    /// bytes queued for all. Never waits: a full queue is handled by the
    /// [`LagPolicy`]. Under the topic's lock it appends the frame to the
    /// topic's log and takes the waiting tasks, in constant time however many
    /// subscribers read the log (those with a filter are visited one by one). With [`IdMode::Assign`] the event gets the hub's next
    /// number as its id (one counter for all topics: see [`IdMode::Assign`]).
    ///
    /// The event is kept in the topic's history (for resume) within the
    /// history bounds of [`HubConfig`]; a topic nobody subscribes to is kept
    /// only while its history lasts, and idle topics are the first forgotten
    /// when the hub reaches [`max_topics`](HubConfig::with_max_topics) or
    /// [`max_history_bytes`](HubConfig::with_max_history_bytes).
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
        self.publish_or_refuse(topic, event)
            .unwrap_or_else(|(HubFull { .. }, event)| PublishReport {
                id: event.id.map(std::borrow::Cow::into_owned),
                delivered: 0,
                kept: false,
            })
    }

    /// Like [`publish`](Self::publish), but says when the event could not be
    /// kept because the hub is full: `topic` is new, and the hub holds
    /// [`max_topics`](HubConfig::with_max_topics) topics, all with
    /// subscribers (nobody subscribes to a new topic, so nobody got it).
    ///
    /// ```
    /// use ssekit::hub::{Hub, HubConfig, HubFull};
    /// use ssekit::Event;
    ///
    /// let hub: Hub = Hub::with_config(HubConfig::new().with_max_topics(1));
    /// let _busy = hub.subscribe("busy", None);
    /// let refused = hub.try_publish("another", Event::message("hi"));
    /// assert_eq!(refused, Err(HubFull { max_topics: 1 }));
    /// ```
    pub fn try_publish<Q>(&self, topic: &Q, event: Event) -> Result<PublishReport, HubFull>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.publish_or_refuse(topic, event)
            .map_err(|(full, _)| full)
    }

    fn publish_or_refuse<Q>(
        &self,
        topic: &Q,
        event: Event,
    ) -> Result<PublishReport, (HubFull, Event)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let shared = &*self.shared;
        let config = &shared.config;
        let keep = config.history > 0;
        let mut event = Some(event);
        let published = self.with_topic(topic, keep, |topic, topic_ref| {
            let mut event = event.take().expect("published once");
            let number = topic.next_number(shared);
            if config.ids == IdMode::Assign {
                event.id = Some(itoa::Buffer::new().format(number).to_owned().into());
            }
            let frame = event.encode();
            let published = Published::of(&event);
            let mut wakers = std::mem::take(&mut topic.wakers);
            // However many read the log, this is one push and one swap.
            let mut delivered = topic.live.len();
            if let Some(log) = topic.log.as_ref().filter(|_| delivered > 0) {
                log.push(frame.clone(), &mut wakers);
            }
            topic.filtered.retain(|_, subscriber| {
                if !(subscriber.filter)(&published) {
                    return true;
                }
                let pushed = subscriber.queue.push(frame.clone());
                wakers.push(pushed.wake);
                // A subscriber dropped for lagging did not get this one.
                delivered += usize::from(pushed.queued);
                pushed.queued
            });
            let id = event.id.as_deref().map(str::to_owned);
            let mut expires = None;
            if keep {
                let now = Instant::now();
                let cost = Entry::cost_of(&event, &frame);
                topic.history.push_back(Entry {
                    event,
                    number,
                    at: now,
                    frame,
                    cost,
                });
                topic.history_bytes += cost;
                // One change to the hub-wide count, and none when the event
                // takes the place of one of its size: two topics published
                // to side by side then share no cache line.
                let freed = topic.trim(config, now);
                shared.account(cost, freed);
                expires = shared.fit_history(topic, topic_ref);
            }
            let report = PublishReport {
                id,
                delivered,
                kept: keep,
            };
            (report, wakers, topic_ref.clone(), expires)
        });
        match published {
            Ok(Some((report, wakers, topic, expires))) => {
                self.shared.metrics.published();
                topic.wake_gathered(wakers);
                if expires.is_some() {
                    self.shared.schedule_sweep();
                }
                Ok(report)
            }
            // No history, and nobody subscribed: nothing to do.
            Ok(None) => Ok({
                self.shared.metrics.published();
                PublishReport {
                    id: event.and_then(|e| e.id).map(std::borrow::Cow::into_owned),
                    delivered: 0,
                    kept: false,
                }
            }),
            Err(full) => Err((full, event.expect("not published"))),
        }
    }

    /// Subscribes to `topic`, resuming after `last_event_id` when given (pass
    /// the publisher's [`last_event_id`](crate::SsePublisher::last_event_id)).
    ///
    /// The subscription is a source any adapter can publish. When the hub is
    /// full (see [`try_subscribe`](Self::try_subscribe)), it sends a gap
    /// event `{"reason":"full"}` and ends; the client retries after its
    /// reconnection delay.
    pub fn subscribe<Q>(&self, topic: &Q, last_event_id: Option<&str>) -> Subscription
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.subscribe_filtered(topic, last_event_id, None)
    }

    /// Like [`subscribe`](Self::subscribe), but says when the hub is full:
    /// it holds [`max_topics`](HubConfig::with_max_topics) topics, all with
    /// subscribers, and `topic` is not one of them. A handler can then answer
    /// 503 ([`SsePublisher::too_many_streams`](crate::SsePublisher::too_many_streams)).
    pub fn try_subscribe<Q>(
        &self,
        topic: &Q,
        last_event_id: Option<&str>,
    ) -> Result<Subscription, HubFull>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.join(topic, last_event_id, None)
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
        self.join(topic, last_event_id, filter)
            .unwrap_or_else(|HubFull { .. }| {
                let queue = Arc::new(Queue::new(self.shared.config.clone()));
                let _ = queue.close(Some(self.shared.config.gap("full", None).encode()));
                Subscription::detached(queue)
            })
    }

    fn join<Q>(
        &self,
        topic: &Q,
        last_event_id: Option<&str>,
        filter: Option<Filter>,
    ) -> Result<Subscription, HubFull>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let shared = &*self.shared;
        let config = &shared.config;
        let queue = Arc::new(Queue::new(config.clone()));
        let latest = shared.last_number.load(Ordering::Relaxed);
        let joined = self.with_topic(topic, true, |topic, topic_ref| {
            if topic.closed {
                if topic.subscriber_count() == 0 && topic.history.is_empty() {
                    // Made by this call on a hub that has shut down.
                    topic.removed = true;
                    let _topics = lock(&shared.topics);
                    shared.directory.remove_if_listed(&topic_ref.key, topic_ref);
                }
                return None;
            }
            if topic.idle_tick.is_some() {
                lock(&shared.topics).mark_active(topic);
            }
            shared.trim(topic, Instant::now());
            if let Some(last) = last_event_id {
                crate::observe::resume();
                match topic.resume_point(last, config, latest) {
                    Ok(after) => {
                        let through = topic.history.back().map_or(0, |entry| entry.number);
                        // Past the newest entry, and nothing lost: live only.
                        if through > after || topic.evicted_through > after {
                            queue.begin_replay(after, through, filter.clone());
                        } else {
                            crate::observe::replay_events(0);
                        }
                    }
                    Err(reason) => queue.preload(config.gap(reason, None).encode()),
                }
            }
            topic.next_subscriber += 1;
            let id = topic.next_subscriber;
            match &filter {
                Some(filter) => {
                    let subscriber = Subscriber {
                        queue: queue.clone(),
                        filter: filter.clone(),
                    };
                    topic.filtered.insert(id, subscriber);
                }
                None => {
                    let log = topic
                        .log
                        .get_or_insert_with(|| Arc::new(Log::new(config.queue)));
                    queue.attach(log.clone());
                    topic.live.insert(id, queue.clone());
                }
            }
            Some((id, topic_ref.clone()))
        })?;
        Ok(match joined.flatten() {
            Some((id, topic)) => Subscription::new(queue, Leave { topic, id }),
            None => {
                // Nothing has polled the new queue: no task to wake.
                let _ = queue.close(lock(&shared.shutdown).clone().flatten());
                Subscription::detached(queue)
            }
        })
    }

    /// Where `topic` stands now, as an id to resume from: `subscribe(topic,
    /// Some(&head))` gets exactly the events published after this call
    /// (replayed from history, then live), none before, however much
    /// happens in between (within the history kept). For a topic with no
    /// event yet it is a "before its first event" position, so that a
    /// stream subscribed with it misses no first event either.
    ///
    /// `None` with [`IdMode::Keep`] and no event kept: ids are then the
    /// events' own, and there is none to give.
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use ssekit::{hub::Hub, Event};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let hub: Hub = Hub::new();
    /// hub.publish("news", Event::message("old"));
    /// let head = hub.head("news").unwrap();
    /// hub.publish("news", Event::message("new"));
    /// let mut news = hub.subscribe("news", Some(&head));
    /// assert_eq!(news.next().await.unwrap().as_bytes(), b"id: 2\ndata: new\n\n");
    /// # }
    /// ```
    #[must_use]
    pub fn head<Q>(&self, topic: &Q) -> Option<String>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let shared = &*self.shared;
        let cell = shared.directory.get(topic);
        let topic = cell.as_ref().map(|cell| lock(&cell.state));
        match shared.config.ids {
            IdMode::Assign => {
                // The newest number the topic gave out (or that a topic made
                // anew treats as its past): every later event of the topic
                // has a greater number, even one taken from a block after
                // other topics' blocks, and resuming after it is never
                // `expired` unless events after it were dropped.
                let forgotten = shared.forgotten_through.load(Ordering::Relaxed);
                let number = topic.as_ref().map_or(forgotten, |topic| {
                    topic
                        .numbers
                        .start
                        .saturating_sub(1)
                        .max(topic.evicted_through)
                });
                Some(itoa::Buffer::new().format(number).to_owned())
            }
            IdMode::Keep => topic?
                .history
                .back()
                .and_then(|entry| entry.event.id.as_deref().map(str::to_owned)),
        }
    }

    /// How many subscribers `topic` has now.
    pub fn subscriber_count<Q>(&self, topic: &Q) -> usize
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let cell = self.shared.directory.get(topic);
        cell.map_or(0, |topic| lock(&topic.state).subscriber_count())
    }

    /// Forgets `topic`: its history, and its subscribers, whose streams end
    /// after what they have queued. A client resuming from one of its ids
    /// later is told it missed events (`expired`).
    pub fn remove_topic<Q>(&self, topic: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let removed = {
            let _topics = lock(&self.shared.topics);
            self.shared.directory.remove(topic)
        };
        if let Some(cell) = removed {
            let mut topic = lock(&cell.state);
            self.shared.forget(&mut topic);
            if topic.idle_tick.is_some() {
                lock(&self.shared.topics).mark_active(&mut topic);
            }
            end_subscriptions(topic, None);
        }
    }

    /// How many topics the hub holds: those with subscribers, and idle ones
    /// (no subscriber) while their history lasts. At most
    /// [`max_topics`](HubConfig::with_max_topics).
    pub fn topic_count(&self) -> usize {
        self.shared.directory.len()
    }

    /// How many topics have no subscriber and are kept for their history.
    pub fn idle_topic_count(&self) -> usize {
        lock(&self.shared.topics).idle_count()
    }

    /// What all topics' histories hold, in bytes: the events' text, their
    /// encoded frames and the bookkeeping of each. At most
    /// [`max_history_bytes`](HubConfig::with_max_history_bytes) plus the
    /// newest event.
    pub fn history_bytes(&self) -> usize {
        self.shared.history_bytes.load(Ordering::Relaxed)
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
        let topics = self.shared.directory.values();
        for topic in topics {
            let mut topic = lock(&topic.state);
            topic.closed = true;
            end_subscriptions(topic, last.as_ref());
        }
    }
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Shared<K> {
    /// After a publish to `topic` (locked by the caller): keeps an idle topic
    /// in the idle order, and brings all histories back under
    /// `max_history_bytes` by forgetting idle topics, least recently used
    /// first, then this topic's oldest events. Returns the topic's expiry,
    /// when one was scheduled.
    fn fit_history(&self, topic: &mut Topic, topic_ref: &TopicCell<K>) -> Option<Instant> {
        let max_bytes = self.config.max_history_bytes;
        let over = |shared: &Self| shared.history_bytes.load(Ordering::Relaxed) > max_bytes;
        let idle = topic.subscriber_count() == 0;
        if !idle && !over(self) {
            return None;
        }
        let mut topics = lock(&self.topics);
        let expires = if idle {
            topics.mark_idle(&topic_ref.key, topic, &self.config)
        } else {
            None
        };
        if over(self) && !topics.evict(self, Some(topic_ref), |_, shared| !over(shared)) {
            drop(topics);
            while over(self) && topic.history.len() > 1 {
                let freed = topic.pop_oldest();
                self.history_bytes.fetch_sub(freed, Ordering::Relaxed);
            }
        }
        expires
    }
}

impl Topic {
    /// Drops the events that are too many or too old; returns the bytes freed.
    fn trim(&mut self, config: &HubConfig, now: Instant) -> usize {
        let expired = |entry: &Entry| {
            config
                .max_age
                .is_some_and(|max_age| now.saturating_duration_since(entry.at) > max_age)
        };
        let mut freed = 0;
        while self.history.len() > config.history || self.history.front().is_some_and(expired) {
            freed += self.pop_oldest();
        }
        freed
    }

    /// Drops the oldest event, remembering its number for resume; returns
    /// the bytes freed (0 with no history).
    fn pop_oldest(&mut self) -> usize {
        let Some(entry) = self.history.pop_front() else {
            return 0;
        };
        self.evicted_through = entry.number;
        self.history_bytes -= entry.cost;
        entry.cost
    }

    /// The number of the entry a subscriber resuming after `last` has seen
    /// (the replay starts after it; a gap notice comes first if entries
    /// after it were dropped), or why it cannot resume. `latest` is the
    /// newest number the hub has issued.
    fn resume_point(
        &self,
        last: &str,
        config: &HubConfig,
        latest: u64,
    ) -> Result<u64, &'static str> {
        match config.ids {
            IdMode::Assign => match last.parse::<u64>() {
                Ok(number) if number > latest => Err("unknown"),
                Ok(number) => Ok(number),
                Err(_) => Err("unknown"),
            },
            IdMode::Keep => self
                .history
                .iter()
                .rev()
                .find(|e| e.event.id.as_deref() == Some(last))
                .map(|e| e.number)
                .ok_or("unknown"),
        }
    }

    /// The next page of a replay: the frames of the entries after
    /// `request.after` through `request.through` that pass its filter, at
    /// most `max` of them (and at most `4 × max` entries looked at, so that a
    /// filter taking few holds the lock no longer than a full page does).
    fn replay_page(&self, request: &PageRequest) -> Page {
        // Entries after `after` were dropped before being sent: those still
        // kept follow a gap notice.
        let expired = self.evicted_through > request.after;
        let after = request.after.max(self.evicted_through);
        let start = self.history.partition_point(|e| e.number <= after);
        let mut page = Page {
            frames: Vec::new(),
            expired,
            last: after,
            done: true,
        };
        let max = request.max.max(1);
        for (looked, entry) in self.history.range(start..).enumerate() {
            if entry.number > request.through {
                break;
            }
            if page.frames.len() == max || looked == 4 * max {
                page.done = false;
                break;
            }
            page.last = entry.number;
            if request
                .filter
                .as_ref()
                .is_none_or(|filter| filter(&entry.published()))
            {
                page.frames.push(entry.frame.clone());
            }
        }
        page
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// Leaving a topic whose lock is held elsewhere (a long fan-out, say)
    /// waits for that topic only: the hub's map stays free, so other topics
    /// are joined and published to meanwhile.
    #[test]
    fn leaving_a_busy_topic_holds_up_no_other_topic() {
        let hub: Hub = Hub::new();
        let busy = hub.subscribe("busy", None);
        let cell = hub.shared.directory.get("busy").unwrap();
        let held = lock(&cell.state);
        let (left, leaving) = mpsc::channel();
        let leaver = std::thread::spawn(move || {
            drop(busy);
            left.send(()).unwrap();
        });
        // The leaver is now waiting for the busy topic's lock.
        std::thread::sleep(Duration::from_millis(50));
        let (done, published) = mpsc::channel();
        let other = hub.clone();
        std::thread::spawn(move || {
            let _quiet = other.subscribe("quiet", None);
            other.publish("quiet", Event::message("on time"));
            done.send(()).unwrap();
        });
        // Generous: it takes microseconds; before, it waited for the busy topic.
        published
            .recv_timeout(Duration::from_secs(30))
            .expect("a quiet topic was held up by another topic's leave");
        assert!(
            leaving.try_recv().is_err(),
            "the leave waits for its own topic"
        );
        drop(held);
        leaver.join().unwrap();
        leaving.recv().unwrap();
        assert_eq!(hub.subscriber_count("busy"), 0);
    }

    /// The expiry queue holds one entry per idle topic, however often an
    /// idle topic is published to.
    #[tokio::test]
    async fn republishing_an_idle_topic_schedules_one_expiry() {
        let hub: Hub = Hub::with_config(HubConfig::new().with_max_age(Duration::from_secs(60)));
        for _ in 0..10_000 {
            hub.publish("idle", Event::message("again"));
        }
        for n in 0..100 {
            hub.publish(&format!("other:{n}"), Event::message("once"));
        }
        assert_eq!(lock(&hub.shared.topics).expiries.len(), 101);
    }

    /// A big event over the byte cap makes room by forgetting as many small
    /// idle topics as it takes, not a fixed handful.
    #[tokio::test]
    async fn a_big_event_evicts_as_many_idle_topics_as_it_takes() {
        let cap = 1024 * 1024;
        let hub: Hub = Hub::with_config(HubConfig::new().with_max_history_bytes(cap));
        let mut n = 0;
        while hub.history_bytes() < cap - 1024 {
            hub.publish(&format!("small:{n}"), Event::message("tiny"));
            n += 1;
        }
        // Text and frame: about half the cap in all.
        let big = "z".repeat(cap / 4);
        hub.publish("big", Event::message(big));
        assert!(hub.history_bytes() <= cap, "{}", hub.history_bytes());
        assert!(
            hub.topic_count() < n * 3 / 4,
            "{} of {n}",
            hub.topic_count()
        );
    }
}
