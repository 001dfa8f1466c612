//! Which topics a hub keeps: which are added to and removed from its
//! directory, the least-recently-used order of idle ones (no subscriber,
//! some history), and when their history ages out.
//!
//! Lock order: a topic's lock may be held while the lifecycle lock is
//! taken, never the other way round; a directory shard's lock is taken last
//! and held alone. Under the lifecycle lock a topic is only ever
//! `try_lock`ed (a busy topic is in use, so not one to forget), so that lock
//! is never held while waiting for a topic, and no topic waits for another.
//! Finding a topic takes no lifecycle lock at all.

use std::cmp::{Ordering as Order, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use std::hash::Hash;
use std::sync::atomic::Ordering;
use std::sync::TryLockError;

use tokio::time::Instant;

use super::{Shared, Topic, TopicCell};
use crate::hub::config::HubConfig;

/// How many busy idle topics one eviction skips before giving up: a busy
/// topic is in use, and a bounded look keeps the map's lock short. Topics
/// that can be forgotten are, as many as it takes: each gives back what an
/// earlier publish added, so the work is paid for once.
const BUSY_SKIPS: usize = 16;

/// When the event published `at` is too old for `max_age`: history keeps an
/// event while its age is at most `max_age`, so it is due just after (a
/// millisecond: timers are no finer).
fn expiry(at: Instant, max_age: std::time::Duration) -> Instant {
    at + max_age + std::time::Duration::from_millis(1)
}

/// The hub's topics and their idle order, under one lock.
pub(super) struct Topics<K> {
    /// Idle topics by the tick of their last use, oldest first.
    idle: BTreeMap<u64, K>,
    next_tick: u64,
    /// When an idle topic's history is due to be looked at (with `max_age`):
    /// one entry per topic whose `expiry` is set.
    pub(super) expiries: BinaryHeap<Reverse<Expiry<K>>>,
}

/// A topic to look at when its history may have aged out.
pub(super) struct Expiry<K> {
    due: Instant,
    key: K,
}

impl<K> PartialEq for Expiry<K> {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}

impl<K> Eq for Expiry<K> {}

impl<K> PartialOrd for Expiry<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Order> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Expiry<K> {
    fn cmp(&self, other: &Self) -> Order {
        self.due.cmp(&other.due)
    }
}

impl<K> Default for Topics<K> {
    fn default() -> Self {
        Self {
            idle: BTreeMap::new(),
            next_tick: 0,
            expiries: BinaryHeap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Topics<K> {
    /// How many topics are idle.
    pub(super) fn idle_count(&self) -> usize {
        self.idle.len()
    }

    /// Takes `topic` out of the idle order (it has a subscriber again, or is
    /// about to be used).
    pub(super) fn mark_active(&mut self, topic: &mut Topic) {
        if let Some(tick) = topic.idle_tick.take() {
            self.idle.remove(&tick);
        }
    }

    /// Puts `topic` (which has history and no subscriber) last in the idle
    /// order, and schedules a look at its history unless one is due already
    /// (that look schedules the next); returns the new expiry, if any.
    pub(super) fn mark_idle(
        &mut self,
        key: &K,
        topic: &mut Topic,
        config: &HubConfig,
    ) -> Option<Instant> {
        self.mark_active(topic);
        let tick = self.next_tick;
        self.next_tick += 1;
        topic.idle_tick = Some(tick);
        self.idle.insert(tick, key.clone());
        if topic.expiry.is_some() {
            return None;
        }
        let due = config
            .max_age
            .zip(topic.history.back())
            .map(|(max_age, newest)| expiry(newest.at, max_age))?;
        topic.expiry = Some(due);
        self.expiries.push(Reverse(Expiry {
            due,
            key: key.clone(),
        }));
        Some(due)
    }

    /// Forgets the idle topic `key` (locked by the caller): out of the idle
    /// order and the map, its history let go.
    fn drop_topic(&mut self, shared: &Shared<K>, key: &K, topic: &mut Topic) {
        self.mark_active(topic);
        shared.forget(topic);
        shared.directory.remove(key);
    }

    /// The earliest scheduled expiry.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.expiries.peek().map(|Reverse(expiry)| expiry.due)
    }

    /// Forgets the least recently used idle topics, other than `keep`, until
    /// `enough` says so; false if it could not get there.
    pub(super) fn evict(
        &mut self,
        shared: &Shared<K>,
        keep: Option<&TopicCell<K>>,
        mut enough: impl FnMut(&Self, &Shared<K>) -> bool,
    ) -> bool {
        let mut busy = Vec::new();
        while !enough(self, shared) && busy.len() < BUSY_SKIPS {
            let Some((tick, key)) = self.idle.pop_first() else {
                break;
            };
            let Some(cell) = shared.directory.get(&key) else {
                continue;
            };
            if keep.is_some_and(|keep| std::ptr::eq(keep, &*cell)) {
                busy.push((tick, key));
                continue;
            }
            let mut topic = match cell.state.try_lock() {
                Ok(topic) => topic,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    busy.push((tick, key));
                    continue;
                }
            };
            if topic.idle_tick != Some(tick) || topic.subscriber_count() > 0 || topic.removed {
                continue;
            }
            self.drop_topic(shared, &key, &mut topic);
        }
        // Still idle, just busy now: they keep their place.
        self.idle.extend(busy);
        enough(self, shared)
    }

    /// Forgets the idle topics whose history has all aged out by `now`, and
    /// trims the others that are due.
    pub(super) fn sweep(&mut self, shared: &Shared<K>, now: Instant) {
        let Some(max_age) = shared.config.max_age else {
            return;
        };
        let mut busy = Vec::new();
        while let Some(Reverse(next)) = self.expiries.peek() {
            if next.due > now {
                break;
            }
            let Some(Reverse(Expiry { key, .. })) = self.expiries.pop() else {
                break;
            };
            let Some(cell) = shared.directory.get(&key) else {
                continue;
            };
            let mut topic = match cell.state.try_lock() {
                Ok(topic) => topic,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    // In use right now: look again a little later (its
                    // `expiry` stays set: this entry is still its one).
                    busy.push(key);
                    continue;
                }
            };
            if topic.expiry.take().is_none() {
                // Not scheduled: an entry left by a topic of the same name
                // that was forgotten.
                continue;
            }
            if topic.subscriber_count() > 0 || topic.removed {
                // Scheduled again when its last subscriber leaves.
                continue;
            }
            shared.trim(&mut topic, now);
            if topic.history.is_empty() {
                self.drop_topic(shared, &key, &mut topic);
            } else {
                let newest = topic.history.back().map_or(now, |entry| entry.at);
                // Later than now, so this loop ends whatever the clock does.
                let due = expiry(newest, max_age).max(now + std::time::Duration::from_millis(1));
                topic.expiry = Some(due);
                self.expiries.push(Reverse(Expiry { due, key }));
            }
        }
        let later = now + std::time::Duration::from_millis(100);
        for key in busy {
            self.expiries.push(Reverse(Expiry { due: later, key }));
        }
    }
}

impl<K> Shared<K> {
    /// Marks `topic` removed and lets go of its history, remembering how far
    /// its numbers went: a client resuming from one of them is told it
    /// missed events (`expired`) instead of silently getting nothing.
    pub(super) fn forget(&self, topic: &mut Topic) {
        topic.removed = true;
        if let Some(newest) = topic.history.back() {
            self.forgotten_through
                .fetch_max(newest.number, Ordering::Relaxed);
        }
        topic.history.clear();
        self.history_bytes
            .fetch_sub(std::mem::take(&mut topic.history_bytes), Ordering::Relaxed);
    }

    /// Drops the events of `topic` that are too many or too old.
    pub(super) fn trim(&self, topic: &mut Topic, now: Instant) {
        let freed = topic.trim(&self.config, now);
        self.account(0, freed);
    }

    /// Counts `added` bytes of history kept and `freed` let go, touching the
    /// hub-wide count only if they differ.
    pub(super) fn account(&self, added: usize, freed: usize) {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match added.cmp(&freed) {
            Greater => {
                self.history_bytes
                    .fetch_add(added - freed, Ordering::Relaxed);
            }
            Less => {
                self.history_bytes
                    .fetch_sub(freed - added, Ordering::Relaxed);
            }
            Equal => {}
        }
    }
}
