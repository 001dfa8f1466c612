//! The one interface of every broadcaster: the in-process [`Hub`], and the
//! hubs across processes (`ssekit-redis`, `ssekit-nats`), so that handlers
//! and publishing code move from one process to many unchanged, as they move
//! between frameworks.

use std::future::Future;

use futures_core::Stream;

use super::{Hub, HubFull, Subscription};
use crate::event::Event;
use crate::source::IntoFrame;

/// Publishes events to topics and subscribes streams to them, with
/// `Last-Event-ID` resume: in one process ([`Hub`]) or across many
/// (`ssekit_redis::RedisHub`, `ssekit_nats::NatsHub`). Write handlers and
/// publishing code against it, and choose the broadcaster where the server
/// starts.
///
/// ```
/// use ssekit::hub::{Broadcaster, Hub};
/// use ssekit::{Event, SsePublisher};
///
/// // A handler on any framework, for any broadcaster.
/// async fn room<P: SsePublisher, B: Broadcaster>(publisher: P, rooms: B) -> P::Response {
///     let subscription = rooms.subscribe("lobby", publisher.last_event_id());
///     publisher.publish(subscription)
/// }
///
/// // Publishing code, the same whatever the broadcaster.
/// async fn announce<B: Broadcaster>(rooms: &B) -> Result<String, B::Error> {
///     rooms.publish("lobby", Event::message("welcome")).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let hub: Hub = Hub::new();
/// let _lobby = hub.subscribe("lobby", None);
/// assert_eq!(announce(&hub).await.unwrap(), "1");
/// # }
/// ```
pub trait Broadcaster: Clone + Send + Sync + 'static {
    /// A subscriber's stream: publish it as the response, with any adapter.
    type Subscription: Stream<Item: IntoFrame> + Send + Unpin + 'static;

    /// Why a publish failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Publishes `event` to every subscriber of `topic` (on every node), and
    /// resolves to its id once the broadcaster has it: kept in history (the
    /// [`Hub`]) or acknowledged by the broker. A broadcaster that assigns ids
    /// replaces the event's own; an event it cannot give an id to (a [`Hub`]
    /// with [`IdMode::Keep`](super::IdMode::Keep) and an event without one)
    /// resolves to the empty string.
    fn publish(
        &self,
        topic: &str,
        event: Event,
    ) -> impl Future<Output = Result<String, Self::Error>> + Send;

    /// Subscribes to `topic`, resuming after `last_event_id` (pass the
    /// publisher's [`last_event_id`](crate::SsePublisher::last_event_id)):
    /// the events after it first, then live ones, with no gap and no
    /// duplicate at the seam, or a `gap` event first when it cannot resume
    /// exactly (`expired`, `unknown`).
    fn subscribe(&self, topic: &str, last_event_id: Option<&str>) -> Self::Subscription;

    /// Where `topic` stands now, as an id to pass to
    /// [`subscribe`](Self::subscribe): the stream then gets exactly the
    /// events published after `head` resolved, with none lost in between
    /// (within the history kept), even when the topic has no event yet (the
    /// id then means "before its first event"). [`Topics`](super::Topics)
    /// uses it so that a fresh stream has an exact position on every topic
    /// from its first byte.
    ///
    /// `None` when the broadcaster has no such id to give (a [`Hub`] with
    /// [`IdMode::Keep`](super::IdMode::Keep) and nothing kept).
    fn head(&self, topic: &str)
        -> impl Future<Output = Result<Option<String>, Self::Error>> + Send;

    /// The longest id this broadcaster gives its events, in bytes, or `None`
    /// when ids are not bounded (events keep the publisher's own). What
    /// [`Topics`](super::Topics) checks a topic list against, so that its
    /// combined id always fits in [`MAX_LAST_EVENT_ID_LEN`](crate::MAX_LAST_EVENT_ID_LEN).
    fn max_id_len(&self) -> Option<usize>;

    /// How many subscribers `topic` has in this process.
    fn local_subscriber_count(&self, topic: &str) -> usize;

    /// Ends every stream of this process after what it has queued, and every
    /// later one, so a graceful server shutdown is not held up by open
    /// streams.
    fn shutdown(&self);
}

impl Broadcaster for Hub<String> {
    type Subscription = Subscription;
    type Error = HubFull;

    /// Resolves at once. Fails only when the hub is full (see
    /// [`Hub::try_publish`]).
    fn publish(
        &self,
        topic: &str,
        event: Event,
    ) -> impl Future<Output = Result<String, Self::Error>> + Send {
        let published = self
            .try_publish(topic, event)
            .map(|report| report.id.unwrap_or_default());
        std::future::ready(published)
    }

    fn subscribe(&self, topic: &str, last_event_id: Option<&str>) -> Subscription {
        Hub::subscribe(self, topic, last_event_id)
    }

    /// [`Hub::head`]: resolves at once.
    fn head(
        &self,
        topic: &str,
    ) -> impl Future<Output = Result<Option<String>, Self::Error>> + Send {
        std::future::ready(Ok(Hub::head(self, topic)))
    }

    /// 20 (the digits of `u64::MAX`) with [`IdMode::Assign`](super::IdMode::Assign),
    /// unbounded with [`IdMode::Keep`](super::IdMode::Keep).
    fn max_id_len(&self) -> Option<usize> {
        (self.shared.config.ids == super::IdMode::Assign).then_some(20)
    }

    fn local_subscriber_count(&self, topic: &str) -> usize {
        self.subscriber_count(topic)
    }

    fn shutdown(&self) {
        Hub::shutdown(self);
    }
}
