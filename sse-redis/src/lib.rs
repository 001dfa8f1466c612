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
//!   An error does not say the event was not stored: Redis may have stored
//!   it and gone away before answering, and it is then delivered like any
//!   other (publishing it again would store it twice).
//! * **Redis going away.** Open streams stay up (keep-alives continue);
//!   publishing fails; new subscriptions end at once, so their clients retry.
//!   Nodes reconnect by themselves; once a node's pub/sub connection is back,
//!   it subscribes again to every topic it follows and reads each stream from
//!   the last entry it delivered, so nothing acknowledged is skipped and
//!   nothing is delivered twice.
//! * **Errors with their cause.** When Redis refuses a node, `connect`, the
//!   start of a subscription and `publish` say why: Redis's own answer
//!   (`NOAUTH`, `WRONGPASS`, ...), [`Error::Refused`] with `ERR max number
//!   of clients reached` for a Redis at `maxclients`, or the system's
//!   `connection refused` when nothing listens. A command that times out or
//!   loses its connection while the node cannot reconnect carries that cause
//!   too ([`Error::Unreachable`]); a subscription that cannot start because
//!   the node's pub/sub connection is down says so ([`Error::Disconnected`]).
//!   Redis closing a pub/sub connection that fell behind
//!   (`client-output-buffer-limit pubsub`) is a lost connection like any
//!   other: the node reconnects and reads what it missed from the streams.
//! * **Encode once per node.** Each node decodes and encodes an entry once and
//!   shares the bytes among its local subscribers. A node follows only the
//!   topics it has local subscribers for.
//! * **A fixed number of connections.** Each node holds two Redis connections
//!   (two per master on a Redis Cluster) whatever its number of topics (see *How a node follows its topics*),
//!   named `ssekit:<node-id>:commands` and `ssekit:<node-id>:feed`
//!   ([`RedisHub::node_id`]). An idle topic costs no Redis command.
//! * **Idle expiry.** Each publish sets the stream key's expiry again
//!   ([`with_idle_expiry`](RedisHubConfig::with_idle_expiry), default 24 h):
//!   a topic nobody published to for that long loses its key, and with it its
//!   whole history (a resume then gets `{"reason":"unknown"}`).
//! * **Slow subscribers.** Each local subscriber has a bounded queue; by
//!   default a subscriber that falls behind is disconnected and resumes from
//!   Redis history with its `Last-Event-ID`.
//! * **Node failure.** A node killed mid-stream loses nothing: history is in
//!   Redis, and its clients resume on another node.
//!
//! # How a node follows its topics
//!
//! * **Publish: one script.** `publish` is one `EVALSHA` of a Lua script
//!   that, atomically, reads the id of the stream's newest entry
//!   (`XREVRANGE … COUNT 1`), appends the event (`XADD`, `MAXLEN ~`), trims
//!   by age (`XTRIM MINID ~`), sets the key's expiry (`PEXPIRE`) and
//!   `PUBLISH`es a *notice* on the topic's channel: the previous id, the new
//!   id and the entry's fields. The channel has the stream key's name
//!   (`<prefix><topic>`; channels and keys are apart in Redis), so on a
//!   Redis Cluster the script `SPUBLISH`es on the very slot of the key,
//!   whatever braces a topic holds (see *Redis Cluster*).
//! * **One pub/sub connection per node.** A node subscribes to a topic's
//!   channel while it has local subscribers for it (it unsubscribes at the
//!   next sweep, every [`with_block`](RedisHubConfig::with_block), after the
//!   last one left). A notice whose previous id is the last entry the node
//!   delivered is delivered as it is: no command. Any other notice (one was
//!   missed, or an entry was added without the script) makes the node read
//!   the stream after its last entry (`XRANGE`, on the command connection),
//!   in order, instead. Starting to follow a topic is a `SUBSCRIBE`, then an
//!   `XREVRANGE` for where the stream ends (batched across topics starting
//!   together); an entry added in between comes both ways and is delivered
//!   once.
//! * **Why.** Following each topic with its own blocking `XREAD` cost a Redis
//!   connection per topic per node (2 000 topics made 2 003 clients; at
//!   10 000, Redis's `maxclients` refused everyone) and, for idle topics, a
//!   command per topic per block time. One blocking `XREAD` over all of a
//!   node's streams (not tried here) would still cost a command per block
//!   time and send every stream's id with each read; pub/sub costs nothing
//!   while a topic is idle, and the stream stays the source of truth: a
//!   notice only saves the read, and any doubt is settled by reading the
//!   stream. The price: a notice carries the event, so each event leaves
//!   Redis once per node following its topic (as it did with `XREAD`), and
//!   a node lets go of a topic's channel only at its next sweep.
//! * **Requirements.** Redis 7.0 or later (`XINFO STREAM`'s `entries-added`,
//!   exclusive `XRANGE` bounds, RESP3 for the pub/sub connection), with Lua
//!   scripting and pub/sub allowed to the node's user.
//!
//! # Redis Cluster
//!
//! [`RedisHub::connect_cluster`] gives the same hub on a Redis Cluster, with
//! the same guarantees, sharded: a topic's stream and its notices live on the
//! master of the key's slot (the channel has the key's name; the script
//! announces with `SPUBLISH`, and nodes follow with `SSUBSCRIBE`), so a
//! publish is one script on one shard.
//!
//! ```no_run
//! use ssekit::Event;
//! use ssekit_redis::{RedisHub, RedisHubConfig};
//!
//! # async fn example() -> Result<(), ssekit_redis::Error> {
//! // Any of the masters: the others are found from them.
//! let urls = ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"];
//! let hub = RedisHub::connect_cluster(urls, RedisHubConfig::default()).await?;
//! let id = hub.publish("chat", Event::message("hello")).await?;
//! # Ok(()) }
//! ```
//!
//! * **Connections.** Two per master, whatever the number of topics: a
//!   command connection and a RESP3 pub/sub connection, each a redis-rs
//!   cluster connection (one multiplexed connection per master, routed by
//!   slot, each master reconnected by the library on its own), named as on
//!   one Redis on every master, and named again at the next sweep after the
//!   library replaced a master's connection.
//! * **A master going away** fails the publishes and new subscriptions of
//!   its slots only (run a cluster without replicas with
//!   `cluster-require-full-coverage no`, or every master refuses while one
//!   is down); open streams stay up. The library reconnects to it and
//!   subscribes again; each such subscription, once confirmed, makes the
//!   node read the topic from the last entry it delivered, so nothing
//!   acknowledged is skipped. A lost pub/sub connection does not say which
//!   master it was to: the node reads every followed topic once, at the
//!   next sweep.
//! * **Costs.** A sharded subscription and a cluster pipeline stay within one
//!   slot: following a topic is its own `SSUBSCRIBE` and `XREVRANGE`, plus
//!   one `XRANGE` when the subscription is confirmed; catch-ups send one
//!   `XRANGE` per topic, together. An idle topic costs no command.
//! * **Errors** are those of the cluster client ([`Error::Redis`], e.g.
//!   `Connection refused`, or [`Error::Timeout`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backend;
mod config;
mod entry;
mod error;
mod hub;
mod id;
mod pushes;
mod reader;
mod replay;
mod subscription;
pub mod testing;

pub use config::RedisHubConfig;
pub use error::Error;
pub use hub::RedisHub;
pub use id::StreamId;
pub use subscription::RedisSubscription;
