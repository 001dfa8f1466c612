//! Framework-neutral Server-Sent Events.
//!
//! Handlers are written once against [`SsePublisher`] and run on any framework
//! that has an adapter (`ssekit-axum`, `ssekit-actix`, `ssekit-warp`, `ssekit-poem`). This
//! crate holds everything that is not framework-specific:
//!
//! * [`Event`]: the event model, validated when built ([`EventError`]);
//! * [`Frame`]: an event encoded once to its exact WHATWG wire form, cheap to
//!   share among many connections;
//! * [`decode`]: the WHATWG parser, the oracle for tests and clients;
//! * [`SsePublisher`], [`PublishOptions`], [`KeepAlive`], [`Shutdown`]: the
//!   contract and its options;
//! * [`SseBody`]: the response body every adapter sends;
//! * [`channel()`]: an imperative handle (send, comment, close, `closed().await`);
//! * [`limits`]: caps on concurrent streams, overall and per topic;
//! * [`tcp`]: the socket setting that bounds how long a vanished client lingers.
//!
//! ```
//! use futures_util::stream;
//! use ssekit::{decode, Event, SseBody, PublishOptions};
//! use futures_util::StreamExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let events = stream::iter([Event::message("multi\nline"), Event::message("")]);
//! let body = SseBody::new(events, &PublishOptions::new());
//! let bytes: Vec<u8> = body.map(|chunk| chunk.unwrap().to_vec()).concat().await;
//!
//! let seen = decode::events(&bytes).unwrap();
//! assert_eq!(seen[0].data, "multi\nline");
//! assert_eq!(seen[1].data, "");
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body;
pub mod channel;
pub mod decode;
mod encode;
mod event;
pub mod head;
pub mod hub;
mod keep_alive;
pub mod limits;
mod options;
mod publisher;
mod request;
mod shutdown;
mod source;
pub mod tcp;

pub use body::SseBody;
pub use channel::channel;
pub use encode::Frame;
pub use event::{Event, EventError, Field};
pub use head::{no_content, response};
pub use keep_alive::KeepAlive;
pub use limits::{too_many_streams, LimitExceeded, StreamLimits, StreamPermit};
pub use options::PublishOptions;
pub use publisher::SsePublisher;
pub use request::{parse_last_event_id, RequestInfo, LAST_EVENT_ID, MAX_LAST_EVENT_ID_LEN};
pub use shutdown::Shutdown;
pub use source::{BoxError, IntoFrame};
