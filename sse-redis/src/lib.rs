//! The [`ssekit`] broadcast hub across many processes, with history in
//! Redis Streams.
//!
//! Run several servers behind a load balancer; a client may reconnect to any
//! of them with its `Last-Event-ID` and get exactly what it missed.
//!
//! ```no_run
//! use ssekit::{Event, SsePublisher};
//! use ssekit_redis::{RedisHub, RedisHubConfig};
//!
//! // A handler, on any framework: the same as with the in-process hub.
//! async fn chat<P: SsePublisher>(publisher: P, hub: RedisHub) -> P::Response {
//!     publisher.publish(hub.subscribe("chat", publisher.last_event_id()))
//! }
//!
//! # async fn example() -> Result<(), ssekit_redis::Error> {
//! let hub = RedisHub::connect("redis://127.0.0.1:6379", RedisHubConfig::default()).await?;
//!
//! // On any node:
//! let id = hub.publish("chat", Event::message("hello")).await?; // e.g. "1700000000000-0"
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//!
//! * **Ordering and ids.** Event ids are Redis Stream entry ids: one global,
//!   increasing order per topic, the same on every node.
//! * **Delivery.** Every subscriber of a topic, on every node, receives every
//!   event published to it after the subscription started, once, in stream
//!   order, as long as it keeps up (see *slow subscribers*).
//! * **Resume.** A subscription with a `Last-Event-ID` replays, from Redis, the
//!   entries after it, then continues live, with no duplicate and no gap at the
//!   seam, on whichever node it lands. If the stream was trimmed past that id
//!   (by `max_len` / `max_age`), a `gap` event with `{"reason":"expired"}` comes
//!   first, then all that is left; an id this stream never issued gives
//!   `{"reason":"unknown"}`, then live events. (Trimming is only known to the
//!   oldest kept entry, so a resume from exactly the newest trimmed id is
//!   also reported as `expired`, never silently cut.) History trimmed while
//!   the replay is being sent is reported the same way: if entries after the
//!   last one delivered were trimmed away, an `expired` gap comes there, then
//!   what is left (trimming only what was already delivered gives no gap).
//!   A Redis failure mid-replay ends the stream with an `Err`, so the client
//!   resumes after the last event it got.
//! * **Bounded resume.** The replay is read from Redis in pages of
//!   [`with_replay_page`](RedisHubConfig::with_replay_page) entries (default
//!   64), each requested only once the client has taken the previous one: a
//!   resuming connection holds at most one page of replayed events (about
//!   64 × the event size by default), however long the stream and however
//!   slowly its client reads. A resume from the start of a long stream costs
//!   Redis round trips, not memory.
//! * **Publishing.** `publish` returns the id once Redis has acknowledged the
//!   event, or an error after the command timeout: never a hang, never a
//!   silent loss. An acknowledged event survives a Redis restart only if
//!   Redis persists it (`appendonly yes`, `appendfsync always`) or replicates it.
//! * **Redis going away.** Open streams stay up (keep-alives continue);
//!   publishing fails; new subscriptions end at once, so their clients retry.
//!   Nodes reconnect by themselves, and each reader continues from the last
//!   entry it delivered, so nothing acknowledged is skipped.
//! * **Encode once per node.** Each node decodes and encodes an entry once and
//!   shares the bytes among its local subscribers. A node reads Redis only
//!   for topics with local subscribers (one connection per such topic).
//! * **Slow subscribers.** Each local subscriber has a bounded queue; by
//!   default a subscriber that falls behind is disconnected and resumes from
//!   Redis history with its `Last-Event-ID`.
//! * **Node failure.** A node killed mid-stream loses nothing: history is in
//!   Redis, and its clients resume on another node.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod entry;
mod error;
mod hub;
mod id;
mod reader;
mod replay;
mod subscription;
pub mod testing;

pub use config::RedisHubConfig;
pub use error::Error;
pub use hub::RedisHub;
pub use id::StreamId;
pub use subscription::RedisSubscription;
