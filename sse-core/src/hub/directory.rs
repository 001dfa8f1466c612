//! Where a hub finds a topic by its key: a map split into shards, each under
//! its own read-write lock, so that finding one topic never waits for, nor
//! shares a cache line with, work on another (a crowd joining and leaving
//! one topic, the creation or removal of others).
//!
//! Finding a topic takes its shard's read lock alone. Adding and removing
//! topics happens only under the hub's lifecycle lock (`Topics`), which
//! orders them, and takes the shard's write lock last: a shard lock is never
//! held while another lock is taken.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::observe::TopicGauge;

/// Shards per hub: well above the cores publishing at once on any machine a
/// hub runs on, and small enough that an empty hub costs 8 KiB.
const SHARDS: usize = 64;

/// One shard, alone on its cache lines (128 bytes: adjacent-line prefetch
/// pairs lines on x86), so that locking one never slows a core using another.
#[repr(align(128))]
struct Shard<K, V> {
    map: RwLock<HashMap<K, Arc<V>>>,
}

pub(super) struct Directory<K, V> {
    shards: Box<[Shard<K, V>]>,
    /// Picks a key's shard; the shard's map hashes it again its own way.
    hasher: RandomState,
    len: AtomicUsize,
    /// Moves with `len` (feature `metrics`).
    gauge: TopicGauge,
}

impl<K: Hash + Eq, V> Directory<K, V> {
    pub(super) fn new() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    map: RwLock::new(HashMap::new()),
                })
                .collect(),
            hasher: RandomState::new(),
            len: AtomicUsize::new(0),
            gauge: TopicGauge::new(),
        }
    }

    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> &Shard<K, V> {
        // The high bits: the shard maps use the low ones for their buckets.
        let hash = self.hasher.hash_one(key);
        &self.shards[(hash >> 32) as usize % SHARDS]
    }

    /// The topic listed under `key`.
    pub(super) fn get<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        read(&self.shard(key).map).get(key).cloned()
    }

    /// Lists `value` under `key`. Only under the hub's lifecycle lock.
    pub(super) fn insert(&self, key: K, value: Arc<V>) {
        if write(&self.shard(&key).map).insert(key, value).is_none() {
            self.len.fetch_add(1, Ordering::Relaxed);
            self.gauge.added();
        }
    }

    /// Takes `key` out, if it lists `value` (a topic of the same name made
    /// since stays). Only under the hub's lifecycle lock.
    pub(super) fn remove_if_listed(&self, key: &K, value: &V) -> bool {
        let mut map = write(&self.shard(key).map);
        let listed = map
            .get(key)
            .is_some_and(|listed| std::ptr::eq(Arc::as_ptr(listed), value));
        if listed {
            map.remove(key);
            self.len.fetch_sub(1, Ordering::Relaxed);
            self.gauge.removed(1);
        }
        listed
    }

    /// Takes `key` out, whatever it lists. Only under the hub's lifecycle
    /// lock.
    pub(super) fn remove<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let removed = write(&self.shard(key).map).remove(key);
        if removed.is_some() {
            self.len.fetch_sub(1, Ordering::Relaxed);
            self.gauge.removed(1);
        }
        removed
    }

    /// How many topics are listed.
    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Every listed topic, at some moment during the call.
    pub(super) fn values(&self) -> Vec<Arc<V>> {
        self.shards
            .iter()
            .flat_map(|shard| read(&shard.map).values().cloned().collect::<Vec<_>>())
            .collect()
    }
}

impl<K, V> Drop for Directory<K, V> {
    fn drop(&mut self) {
        // A dropped hub's topics leave the gauge with it.
        self.gauge.removed(*self.len.get_mut());
    }
}

// A panic elsewhere must not take every stream down with it.
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_it_lists_and_removes_only_the_listed_value() {
        let directory: Directory<String, u8> = Directory::new();
        let first = Arc::new(1);
        directory.insert("a".into(), first.clone());
        directory.insert("b".into(), Arc::new(2));
        assert_eq!(directory.len(), 2);
        let second = Arc::new(1);
        directory.insert("a".into(), second.clone());
        assert_eq!(directory.len(), 2, "a replaced, not added");
        assert!(!directory.remove_if_listed(&"a".to_owned(), &first));
        assert!(directory.remove_if_listed(&"a".to_owned(), &second));
        assert_eq!(directory.len(), 1);
        assert!(directory.get("a").is_none());
        assert_eq!(directory.remove("b").as_deref(), Some(&2));
        assert_eq!(directory.len(), 0);
        assert!(directory.values().is_empty());
    }
}
