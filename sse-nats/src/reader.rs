//! One reader per topic per node: follows the topic's subject with an
//! ephemeral push consumer while the node has local subscribers, and
//! publishes each event to the node's local hub (encoded once, shared by all
//! of them).
//!
//! The consumer starts right after `last_seen`, the newest sequence the
//! reader published locally. When it goes quiet for longer than two
//! heartbeats (NATS restarted and forgot it, or the connection was lost) or
//! skips a delivery (its consumer sequence jumps), it is deleted and a new one
//! starts again after `last_seen`: nothing acknowledged is skipped, nothing is
//! delivered twice.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::consumer::{push, AckPolicy, DeliverPolicy};
use async_nats::{StatusCode, Subscriber};
use futures_util::StreamExt;
use ssekit::hub::{Published, Subscription};
use tokio::sync::{Notify, OnceCell};
use tokio::time::Instant;

use crate::error::{within, Error};
use crate::hub::{lock, NatsHub};
use crate::message;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

pub(crate) struct TopicReader {
    /// Set once the reader knows where the stream ends and is running.
    started: OnceCell<()>,
    state: Mutex<ReaderState>,
    /// Woken when a local subscriber leaves or the hub shuts down.
    wake: Notify,
}

#[derive(Default)]
struct ReaderState {
    /// The newest sequence published to the local hub: the live feed of a
    /// subscriber joining now starts right after it.
    last_seen: u64,
    /// The reader has exited; joiners must start a new one.
    stopped: bool,
}

/// The current consumer and its delivery subscription.
struct Feed {
    subscriber: Subscriber,
    /// Deletes the consumer when the feed is dropped (replaced or stopped).
    _consumer: Consumer,
    /// The consumer sequence of the last delivery taken.
    delivered: u64,
}

impl TopicReader {
    /// Joins `topic` on this node: a local subscription receiving every event
    /// after `after` from now on, the sequence up to which events were already
    /// read (the subscriber's replay must cover up to it), and the reader, to
    /// wake when the subscriber leaves.
    pub(crate) async fn join(
        hub: &NatsHub,
        topic: &str,
        after: u64,
    ) -> Result<(Subscription, u64, Arc<TopicReader>), Error> {
        loop {
            let reader = {
                let mut readers = lock(&hub.inner.readers);
                readers
                    .entry(topic.to_owned())
                    .or_insert_with(|| {
                        Arc::new(TopicReader {
                            started: OnceCell::new(),
                            state: Mutex::new(ReaderState::default()),
                            wake: Notify::new(),
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
            // publishes: no event can fall between `last_seen` and the feed.
            let newer = move |event: &Published<'_>| {
                event
                    .id
                    .and_then(|id| id.parse::<u64>().ok())
                    .is_some_and(|id| id > after)
            };
            let live = hub
                .inner
                .local
                .subscribe_filtered(topic, None, Some(Arc::new(newer)));
            let upper = state.last_seen;
            drop(state);
            return Ok((live, upper, reader));
        }
    }

    /// Tells the reader to check whether it still has local subscribers.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// After a failed start, takes this reader out of the map, unless another
    /// joiner holds it too (that one tries to start it in turn), so a topic
    /// nobody could join while NATS was away leaves nothing behind.
    fn forget_unstarted(self: &Arc<Self>, hub: &NatsHub, topic: &str) {
        let mut readers = lock(&hub.inner.readers);
        let listed = readers.get(topic).is_some_and(|r| Arc::ptr_eq(r, self));
        // Joiners take their handle under this lock: the map's and ours are
        // the only ones left when nobody else is trying.
        if listed && Arc::strong_count(self) == 2 && self.started.get().is_none() {
            readers.remove(topic);
        }
    }

    /// Finds the end of the stream, starts a consumer right after it, then
    /// runs the read loop in a task.
    async fn start(self: Arc<Self>, hub: NatsHub, topic: String) -> Result<(), Error> {
        connected(&hub)?;
        // Every event of the topic up to the stream's last sequence is
        // history (replayed from the stream); every later one comes live.
        let last = hub.stream_state().await?.last_sequence;
        lock(&self.state).last_seen = last;
        let feed = self.open(&hub, &topic).await?;
        tokio::spawn(self.run(hub, topic, feed));
        Ok(())
    }

    /// A new consumer delivering the topic's events after `last_seen`.
    async fn open(&self, hub: &NatsHub, topic: &str) -> Result<Feed, Error> {
        let inner = &hub.inner;
        let timeout = inner.config.request_timeout;
        let heartbeat = inner.config.heartbeat;
        // Fails at once while reconnecting, rather than after a timeout.
        connected(hub)?;
        let start = lock(&self.state).last_seen + 1;
        let inbox = inner.client.new_inbox();
        // Subscribed first, so nothing the consumer sends is missed.
        let subscriber = within(timeout, inner.client.subscribe(inbox.clone())).await?;
        let name = inner.consumer_name("live");
        // Deleted if anything below fails, or this start is cancelled.
        let consumer = Consumer {
            hub: hub.clone(),
            name: name.clone(),
        };
        let config = push::Config {
            deliver_subject: inbox,
            name: Some(name.clone()),
            filter_subject: inner.subject(topic),
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ack_policy: AckPolicy::None,
            flow_control: true,
            idle_heartbeat: heartbeat,
            // Only for a node that died: a running reader deletes its own.
            inactive_threshold: (heartbeat * 3).max(Duration::from_secs(30)),
            memory_storage: true,
            ..Default::default()
        };
        within(
            timeout,
            inner
                .jetstream
                .create_consumer_on_stream(config, &inner.config.stream),
        )
        .await?;
        Ok(Feed {
            subscriber,
            _consumer: consumer,
            delivered: 0,
        })
    }

    async fn run(self: Arc<Self>, hub: NatsHub, topic: String, feed: Feed) {
        let silence = hub.inner.config.heartbeat * 2 + Duration::from_secs(1);
        let mut feed = Some(feed);
        // Heartbeats or events come at least once a heartbeat while the
        // consumer lives; silence past this means it does not.
        let mut quiet_until = Instant::now() + silence;
        let mut backoff = FIRST_BACKOFF;
        // Not checked before the first delivery or wake-up: the joiner that
        // started this reader subscribes locally just after the start, and
        // must not find it stopped (and its consumer deleted) for nothing.
        let mut first = true;
        loop {
            if !std::mem::take(&mut first) && self.stop_if_unused(&hub, &topic) {
                // Dropping the feed deletes its consumer.
                return;
            }
            let Some(current) = feed.as_mut() else {
                let opened = tokio::select! {
                    _ = self.wake.notified() => continue,
                    opened = self.open(&hub, &topic) => opened,
                };
                match opened {
                    Ok(opened) => {
                        backoff = FIRST_BACKOFF;
                        quiet_until = Instant::now() + silence;
                        feed = Some(opened);
                    }
                    Err(error) => {
                        // NATS is away: open streams stay up (keep-alives go on)
                        // and reading resumes after `last_seen` once it is back.
                        if backoff == FIRST_BACKOFF {
                            tracing::warn!(%error, topic, "following a topic in NATS failed; retrying");
                        } else {
                            tracing::debug!(%error, topic, "following a topic in NATS failed again");
                        }
                        tokio::select! {
                            _ = self.wake.notified() => {}
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
                continue;
            };
            let next = tokio::select! {
                _ = self.wake.notified() => continue,
                _ = tokio::time::sleep_until(quiet_until) => None,
                next = current.subscriber.next() => Some(next),
            };
            let in_step = match next {
                Some(Some(delivery)) => {
                    quiet_until = Instant::now() + silence;
                    self.take(&hub, &topic, current, delivery).await
                }
                // No heartbeat: the consumer is gone (NATS restarted) or
                // unreachable.
                Some(None) | None => false,
            };
            if !in_step {
                tracing::debug!(
                    topic,
                    "restarting the topic's consumer after {}",
                    self.last_seen()
                );
                // Dropping the old feed deletes its consumer.
                feed = None;
            }
        }
    }

    /// Handles one delivery; `false` when the consumer is out of step and must
    /// be replaced.
    async fn take(
        &self,
        hub: &NatsHub,
        topic: &str,
        feed: &mut Feed,
        delivery: async_nats::Message,
    ) -> bool {
        let inner = &hub.inner;
        match delivery.status {
            None => {}
            Some(StatusCode::IDLE_HEARTBEAT) => {
                if let Some(reply) = delivery.reply {
                    // Flow control: the consumer waits for this answer.
                    let _ = inner.client.publish(reply, bytes::Bytes::new()).await;
                    return true;
                }
                // A heartbeat says which delivery was last: missing any means
                // the consumer went on without us.
                let last = delivery
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Last-Consumer"))
                    .and_then(|v| v.as_str().parse::<u64>().ok());
                return last.is_none_or(|last| last == feed.delivered);
            }
            Some(_) => return false,
        }
        let message = async_nats::jetstream::Message {
            message: delivery,
            context: inner.jetstream.clone(),
        };
        let Ok(info) = message.info() else {
            return false;
        };
        let (stream_sequence, consumer_sequence) = (info.stream_sequence, info.consumer_sequence);
        if consumer_sequence != feed.delivered + 1 {
            return false;
        }
        feed.delivered = consumer_sequence;
        let mut state = lock(&self.state);
        if stream_sequence > state.last_seen {
            let event = message::decode(
                stream_sequence,
                message.message.headers.as_ref(),
                &message.message.payload,
            );
            inner.local.publish(topic, event);
            state.last_seen = stream_sequence;
        }
        true
    }

    fn last_seen(&self) -> u64 {
        lock(&self.state).last_seen
    }

    /// Stops (and forgets this reader) when no local subscriber is left or the
    /// hub is shut down. Decided under the state lock that joiners take.
    fn stop_if_unused(&self, hub: &NatsHub, topic: &str) -> bool {
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

/// `Err(Disconnected)` while the client is not connected.
fn connected(hub: &NatsHub) -> Result<(), Error> {
    match hub.inner.client.connection_state() {
        async_nats::connection::State::Connected => Ok(()),
        _ => Err(Error::Disconnected),
    }
}

/// A consumer this node made, deleted in the background when dropped (best
/// effort: one that cannot be deleted then goes by itself after its
/// inactivity threshold).
pub(crate) struct Consumer {
    pub(crate) hub: NatsHub,
    pub(crate) name: String,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let hub = self.hub.clone();
        let name = std::mem::take(&mut self.name);
        runtime.spawn(async move {
            let inner = &hub.inner;
            let deleted = within(
                inner.config.request_timeout,
                inner
                    .jetstream
                    .delete_consumer_from_stream(&name, &inner.config.stream),
            )
            .await;
            if let Err(error) = deleted {
                tracing::debug!(%error, name, "deleting a consumer failed");
            }
        });
    }
}
