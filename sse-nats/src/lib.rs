//! The [`ssekit`] broadcast hub across many processes, with history in NATS
//! JetStream.
//!
//! Run several servers behind a load balancer; a client may reconnect to any
//! of them with its `Last-Event-ID` and get exactly what it missed.
//!
//! ```no_run
//! use ssekit::{Event, SsePublisher};
//! use ssekit_nats::{NatsHub, NatsHubConfig};
//!
//! // A handler, on any framework: the same as with the in-process hub.
//! async fn chat<P: SsePublisher>(publisher: P, hub: NatsHub) -> P::Response {
//!     publisher.publish(hub.subscribe("chat", publisher.last_event_id()))
//! }
//!
//! # async fn example() -> Result<(), ssekit_nats::Error> {
//! let hub = NatsHub::connect("nats://127.0.0.1:4222", NatsHubConfig::default()).await?;
//!
//! // On any node:
//! let id = hub.publish("chat", Event::message("hello")).await?; // e.g. "42"
//! # Ok(()) }
//! ```
//!
//! [`NatsHub`] implements [`ssekit::hub::Broadcaster`], so code written
//! against it runs unchanged on the in-process hub, `ssekit-redis` or here.
//!
//! # Layout in NATS
//!
//! One JetStream stream (default `SSE`, file storage) holds every topic, on
//! subjects `<prefix>.<token>` (default prefix `sse`): see [`topic_subject`]
//! for how a topic becomes one safe subject token. Its limits come from
//! [`NatsHubConfig`]; by default at most 10 000 events per topic and 1 GiB in
//! all, oldest first, so an unconfigured server stays bounded. An event's
//! data is the message payload; its event type, retry and comment are
//! headers (`Sse-Event`, `Sse-Retry`, `Sse-Comment`).
//!
//! # Guarantees
//!
//! * **Ordering and ids.** Event ids are stream sequences, in decimal: one
//!   global, increasing order per stream (so per topic), the same on every
//!   node.
//! * **Delivery.** Every subscriber of a topic, on every node, receives every
//!   event published to it after the subscription started, once, in stream
//!   order, as long as it keeps up (see *slow subscribers*).
//! * **Resume.** A subscription with a `Last-Event-ID` replays, from the
//!   stream, the topic's events after it, then continues live, with no
//!   duplicate and no gap at the seam, on whichever node it lands. If the
//!   stream dropped the topic's events past that id (its limits), a `gap`
//!   event with `{"reason":"expired"}` comes first, then all that is left; an
//!   id this stream never issued (not a decimal sequence, or beyond the last
//!   one) gives `{"reason":"unknown"}`, then live events. `0` resumes from
//!   the start of the kept history. (What was dropped is known only up to
//!   the topic's oldest kept event, so a resume from a dropped id is reported
//!   as `expired` even if only that event went: never silently cut.) Events
//!   dropped while the replay is being sent, past the last one delivered,
//!   give an `expired` gap there, then what is left. A NATS failure
//!   mid-replay ends the stream with an `Err`, so the client resumes after
//!   the last event it got.
//! * **Bounded resume.** The replay is read in pages of
//!   [`with_replay_page`](NatsHubConfig::with_replay_page) events (default
//!   64), each by a pull consumer created for it and deleted after one
//!   no-wait fetch, the next only once the client has taken the previous
//!   page: a resuming connection holds at most one page of replayed events
//!   (plus two read ahead, about 66 × the event size by default), and no
//!   consumer on the server while its client stalls, however long the
//!   stream. A resume from the start of a long stream costs three requests a
//!   page, not memory.
//! * **Publishing.** `publish` returns the id once JetStream acknowledged
//!   (stored) the event, or an error: [`Error::Disconnected`] at once while
//!   the client is reconnecting, [`Error::Timeout`] when no PubAck comes
//!   within the request timeout. Never a hang, never a silent loss. With file
//!   storage an acknowledged event survives a crash of `nats-server` (a
//!   machine crash too only with the server's `sync_interval: always`, or
//!   replicas).
//! * **NATS going away.** Open streams stay up (keep-alives continue);
//!   publishing fails fast; a new subscription that needs NATS (a resume,
//!   or a topic this node does not follow yet) ends at once with an error,
//!   so its client retries, while one joining a followed topic live just
//!   joins. The client reconnects by itself (it notices a silent connection
//!   by its own PING, see [`with_heartbeat`](NatsHubConfig::with_heartbeat))
//!   and sends its subscriptions again; then every followed topic is read
//!   from the stream after the last event the node delivered, at most 64
//!   topics at a time, so nothing acknowledged is skipped or duplicated.
//! * **Encode once per node, one connection, idle topics free.** Each node
//!   decodes and encodes an event once and shares the bytes among its local
//!   subscribers. The stream republishes every event it stores (its
//!   `RePublish` setting) to a core NATS subject per topic,
//!   `_SSE_LIVE.<prefix>.<token>`, with its sequence and the sequence of the
//!   topic's event before it. A node follows only the topics it has local
//!   subscribers for, each with one plain core NATS subscription to that
//!   subject (no JetStream consumer), all over its single connection: a
//!   notice that follows the last event the node delivered is delivered as
//!   it is; any other means notices were missed, and the node reads the
//!   topic's events after its last from the stream (the first few one
//!   direct get each, a long gap 64 a request),
//!   in order. An idle followed topic costs the server one subscription and
//!   sends nothing; when its last local subscriber leaves, the node
//!   unsubscribes. A node starts following at most 256 topics at a time
//!   (a subscribe, a flush and a stream info request each), so many
//!   subscribers arriving at once queue rather than time out. The stream must be created by this version: nats-server
//!   2.9 cannot add `RePublish` to an existing stream
//!   ([`Error::IncompatibleStream`]).
//! * **Slow subscribers.** Each local subscriber has a bounded queue; by
//!   default a subscriber that falls behind is disconnected and resumes from
//!   the stream with its `Last-Event-ID`.
//! * **Node failure.** A node killed mid-stream loses nothing: history is in
//!   JetStream, and its clients resume on another node. Its subscriptions
//!   go with its connection; it leaves nothing on the server.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod error;
mod hub;
mod message;
mod reader;
mod replay;
mod subject;
mod subscription;
pub mod testing;

pub use config::NatsHubConfig;
pub use error::Error;
pub use hub::NatsHub;
pub use subject::topic_subject;
pub use subscription::NatsSubscription;
