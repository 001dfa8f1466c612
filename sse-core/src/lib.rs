//! Server-Sent Events for every Rust web framework: write a handler once,
//! against [`SsePublisher`], and mount it on axum, actix-web, warp or poem
//! through their adapter crates (`ssekit-axum`, `ssekit-actix`, `ssekit-warp`,
//! `ssekit-poem`), which re-export this crate.
//!
//! ```
//! use std::time::Duration;
//! use futures_util::stream::{self, StreamExt};
//! use http::StatusCode;
//! use ssekit::hub::Hub;
//! use ssekit::{Event, PublishOptions, SsePublisher};
//!
//! /// A chat room's stream: resumes after the client's last event id, and
//! /// refuses clients without a name.
//! async fn chat<P: SsePublisher>(publisher: P, hub: Hub) -> P::Response {
//!     if publisher.request().query_param("name").is_none() {
//!         return publisher.reject(StatusCode::UNAUTHORIZED, "who are you?");
//!     }
//!     publisher.publish(hub.subscribe("chat", publisher.last_event_id()))
//! }
//!
//! /// Counts down from 3, then tells the client to stop reconnecting.
//! async fn countdown<P: SsePublisher>(publisher: P) -> P::Response {
//!     let start: u64 = publisher.last_event_id().and_then(|id| id.parse().ok()).unwrap_or(4);
//!     if start <= 1 {
//!         return publisher.no_content();
//!     }
//!     let events = stream::iter((1..start).rev()).map(|n| {
//!         Event::message(n.to_string()).with_event("tick").with_id(n)
//!     });
//!     publisher.publish_with(events, PublishOptions::new().with_retry(Duration::from_secs(1)))
//! }
//!
//! // Anywhere: every subscriber of "chat" gets these bytes, encoded once.
//! # let hub: Hub = Hub::new();
//! hub.publish("chat", Event::message("hello").with_event("message"));
//! ```
//!
//! What is here:
//!
//! * [`Event`]: the event model, validated when built ([`EventError`]);
//!   [`Frame`]: an event encoded once to its exact WHATWG wire form, cheap to
//!   share among many connections;
//! * [`SsePublisher`], [`PublishOptions`], [`KeepAlive`], [`Shutdown`]: the
//!   contract handlers are written against, and its options;
//! * [`channel()`]: an imperative handle (send, comment, close, `closed().await`);
//! * [`hub`]: topics, encode-once fan-out, history and `Last-Event-ID` resume
//!   (feature `hub`);
//! * [`limits`]: caps on concurrent streams, overall and per topic;
//! * [`presence`]: who is subscribed to a topic, on every node of any
//!   broadcaster, with join and leave events (feature `presence`);
//! * [`decode`]: the WHATWG parser, the oracle for tests and clients (feature
//!   `decode`);
//! * [`tcp`]: the socket setting that bounds how long a vanished client
//!   lingers (feature `tcp`);
//! * `testing`: `TestPublisher`, to run a
//!   handler in a test without a server and read its answer as an
//!   `EventSource` would (feature `testing`, not default);
//! * `metrics`: what the crate reports through the `metrics` facade, and
//!   the `tracing` span of each stream (feature `metrics`, not default);
//! * [`adapter`]: for adapter authors only: what it takes to bring every
//!   handler to another framework.
//!
//! # Features
//!
//! On by default: `hub`, `decode`, `tcp` (the `socket2` dependency),
//! `json` (`serde` and `serde_json`: [`Event::json`], `Sender::send_json`),
//! `presence` (with `hub` and `decode`).
//! Off by default: `testing` (with `decode`), for the dev-dependency of
//! crates that test their handlers; `metrics` (the `metrics` dependency),
//! counters, gauges and a histogram through the `metrics` facade and a
//! `tracing` span per stream, listed in the `metrics` module.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adapter;
mod body;
pub mod channel;
#[cfg(feature = "decode")]
pub mod decode;
mod encode;
mod event;
#[cfg(feature = "hub")]
pub mod hub;
mod keep_alive;
pub mod limits;
#[cfg(feature = "metrics")]
pub mod metrics;
mod observe;
mod options;
#[cfg(feature = "presence")]
pub mod presence;
mod publisher;
mod request;
mod shutdown;
mod source;
#[cfg(feature = "tcp")]
pub mod tcp;
#[cfg(feature = "testing")]
pub mod testing;

pub use channel::channel;
pub use encode::Frame;
pub use event::{Event, EventError, EventId, Field};
pub use keep_alive::KeepAlive;
pub use limits::{LimitExceeded, StreamCaps, StreamLimits, StreamPermit};
pub use options::PublishOptions;
pub use publisher::SsePublisher;
pub use request::{RequestInfo, MAX_LAST_EVENT_ID_LEN};
pub use shutdown::Shutdown;
pub use source::{BoxError, IntoFrame};
