//! One reader per topic per node: follows the topic's stream with
//! `XREAD BLOCK` while the node has local subscribers, and publishes each
//! entry to the node's local hub (encoded once, shared by all of them).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::ConnectionManager;
use ssekit::hub::{Published, Subscription};
use tokio::sync::OnceCell;

use crate::entry;
use crate::error::{within, Error};
use crate::hub::{lock, manager_config, RedisHub};
use crate::id::StreamId;

/// Entries read per `XREAD`.
const READ_BATCH: usize = 512;
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub(crate) struct TopicReader {
    /// Set once the reader knows where the stream ends and is running.
    started: OnceCell<()>,
    state: Mutex<ReaderState>,
}

#[derive(Default)]
struct ReaderState {
    /// The newest entry published to the local hub: the live feed of a
    /// subscriber joining now starts right after it.
    last_seen: StreamId,
    /// The reader has exited; joiners must start a new one.
    stopped: bool,
}

impl TopicReader {
    /// Joins `topic` on this node: a local subscription receiving every entry
    /// after `after` from now on, and the id up to which entries were already
    /// read (the subscriber's replay must cover up to it).
    pub(crate) async fn join(
        hub: &RedisHub,
        topic: &str,
        after: StreamId,
    ) -> Result<(Subscription, StreamId), Error> {
        loop {
            let reader = {
                let mut readers = lock(&hub.inner.readers);
                readers
                    .entry(topic.to_owned())
                    .or_insert_with(|| {
                        Arc::new(TopicReader {
                            started: OnceCell::new(),
                            state: Mutex::new(ReaderState::default()),
                        })
                    })
                    .clone()
            };
            let started = reader
                .started
                .get_or_try_init(|| reader.clone().start(hub.clone(), topic.to_owned()))
                .await;
            if let Err(error) = started {
                reader.forget_unstarted(hub, topic);
                return Err(error);
            }
            let state = lock(&reader.state);
            if state.stopped {
                continue;
            }
            // Registered under the state lock, which the reader holds while it
            // publishes: no entry can fall between `last_seen` and the feed.
            let newer = move |event: &Published<'_>| {
                event
                    .id
                    .and_then(|id| id.parse::<StreamId>().ok())
                    .is_some_and(|id| id > after)
            };
            let live = hub
                .inner
                .local
                .subscribe_filtered(topic, None, Some(Arc::new(newer)));
            return Ok((live, state.last_seen));
        }
    }

    /// After a failed start, takes this reader out of the map, unless another
    /// joiner holds it too (that one tries to start it in turn), so a topic
    /// nobody could join while Redis was away leaves nothing behind.
    fn forget_unstarted(self: &Arc<Self>, hub: &RedisHub, topic: &str) {
        let mut readers = lock(&hub.inner.readers);
        let listed = readers.get(topic).is_some_and(|r| Arc::ptr_eq(r, self));
        // Joiners take their handle under this lock: the map's and ours are
        // the only ones left when nobody else is trying.
        if listed && Arc::strong_count(self) == 2 && self.started.get().is_none() {
            readers.remove(topic);
        }
    }

    /// Finds the end of the stream, then runs the read loop in a task.
    async fn start(self: Arc<Self>, hub: RedisHub, topic: String) -> Result<(), Error> {
        let inner = &hub.inner;
        let key = inner.key(&topic);
        let timeout = inner.config.command_timeout;
        let mut commands = inner.commands.clone();
        let newest: redis::streams::StreamRangeReply = within(
            timeout,
            redis::cmd("XREVRANGE")
                .arg(&key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut commands),
        )
        .await?;
        let last_seen = newest
            .ids
            .first()
            .and_then(|entry| entry.id.parse().ok())
            .unwrap_or_default();
        lock(&self.state).last_seen = last_seen;
        // A connection of its own: a blocking XREAD holds up its connection.
        let connection = within(
            timeout,
            inner
                .client
                .get_connection_manager_with_config(manager_config(&inner.config)),
        )
        .await?;
        tokio::spawn(self.run(hub.clone(), topic, key, connection));
        Ok(())
    }

    async fn run(
        self: Arc<Self>,
        hub: RedisHub,
        topic: String,
        key: String,
        mut connection: ConnectionManager,
    ) {
        let inner = &hub.inner;
        let block_ms = inner.config.block.as_millis() as u64;
        let mut backoff = Duration::from_millis(100);
        loop {
            if self.stop_if_unused(&hub, &topic) {
                return;
            }
            let from = lock(&self.state).last_seen;
            let read: redis::RedisResult<Option<redis::streams::StreamReadReply>> =
                redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(READ_BATCH)
                    .arg("BLOCK")
                    .arg(block_ms)
                    .arg("STREAMS")
                    .arg(&key)
                    .arg(from.to_string())
                    .query_async(&mut connection)
                    .await;
            match read {
                Ok(reply) => {
                    backoff = Duration::from_millis(100);
                    let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
                    let mut state = lock(&self.state);
                    for entry in entries {
                        let Ok(id) = entry.id.parse::<StreamId>() else {
                            continue;
                        };
                        if id <= state.last_seen {
                            continue;
                        }
                        inner
                            .local
                            .publish(topic.as_str(), entry::event(&entry.id, &entry.map));
                        state.last_seen = id;
                    }
                }
                Err(error) => {
                    // Redis is away: open streams stay up (keep-alives go on) and
                    // reading resumes from `last_seen` once it is back.
                    tracing::warn!(%error, topic, "reading from Redis failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Stops (and forgets this reader) when no local subscriber is left or the
    /// hub is shut down. Decided under the state lock that joiners take.
    fn stop_if_unused(&self, hub: &RedisHub, topic: &str) -> bool {
        let inner = &hub.inner;
        let mut readers = lock(&inner.readers);
        let mut state = lock(&self.state);
        let unused =
            inner.local.subscriber_count(topic) == 0 || inner.shut_down.load(Ordering::Acquire);
        if unused {
            state.stopped = true;
            if readers
                .get(topic)
                .is_some_and(|r| std::ptr::eq(Arc::as_ptr(r), self))
            {
                readers.remove(topic);
            }
        }
        unused
    }
}
