//! A spec-exact, reconnecting `EventSource` for Rust.
//!
//! It reads a stream as the WHATWG HTML standard's `EventSource` does, with
//! the same parser the [`ssekit`] servers are tested against
//! ([`ssekit::decode`], which agrees with Chromium byte for byte and chunk
//! for chunk), and adds what programs need beyond a browser: any method and
//! body, custom headers, timeouts, backoff, limits.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use ssekit_client::{EventSource, Item};
//!
//! # async fn run() -> Result<(), ssekit_client::Error> {
//! let mut events = EventSource::post("https://llm.example/v1/chat/completions")
//!     .with_bearer_auth("sk-...")
//!     .with_header("content-type", "application/json")
//!     .with_body(r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"Hi"}]}"#)
//!     .with_retry_limit(0) // the end of the answer is the end of the stream
//!     .build();
//! while let Some(item) = events.next().await {
//!     match item? {
//!         Item::Event(event) if event.data == "[DONE]" => break,
//!         Item::Event(event) => println!("{}: {}", event.event_type, event.data),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! What it does, as a browser does:
//!
//! * reconnects when the connection drops, after the server's `retry:` time
//!   (3 s until it sends one), sending `Last-Event-ID` when it is not empty
//!   (an `id:` with an empty value resets it);
//! * stops for good on 204 ([`Item::Closed`]), and fails on any other status
//!   but 200, or a `Content-Type` other than `text/event-stream`
//!   ([`Error::Status`], [`Error::ContentType`], with the body's first bytes);
//! * replaces invalid UTF-8 with U+FFFD, strips one leading BOM, splits lines
//!   on CR, LF and CRLF wherever the chunks fall, dispatches `data:` with an
//!   empty value as `""` and drops an event cut off by the end of the stream.
//!
//! And beyond it: repeated failures back off exponentially with jitter, up to
//! a cap ([`Builder::with_max_backoff`]); chosen statuses (429, 503, ...)
//! reconnect instead of failing, honouring `Retry-After`
//! ([`Builder::with_retry_on_status`]); a connect timeout and an idle timeout
//! ([`Builder::with_idle_timeout`]: no byte for that long, not even a
//! keep-alive comment, and it reconnects); lines and events are bounded
//! ([`Error::TooLarge`]: memory never grows with what a server sends);
//! a retry limit ([`Builder::with_retry_limit`], `0` for request/response
//! APIs whose stream ends with the answer).
//!
//! # Why reqwest
//!
//! It is the HTTP client most Rust programs already have, maintained, with
//! HTTP/2, proxies, TLS choices, cookies and decompression; a program passes
//! its own configured client with [`Builder::with_client`]. The bytes it
//! hands over are all this crate needs: everything about the stream's format
//! is [`ssekit::decode`]'s. (hyper-util's client would save a dependency
//! level but leave TLS, proxies and redirects to every user.)
//!
//! # Features
//!
//! None by default. `rustls` or `native-tls` turn on reqwest's TLS for
//! `https://` URLs; a program that passes its own client picks its TLS there.
//!
//! [`EventBody`] reads one response without reconnecting, for tools that
//! make the request themselves (the `ssekit-conformance` suite reads every
//! body with it).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backoff;
mod body;
mod builder;
mod error;
mod item;
mod source;

pub use body::{BodyError, EventBody};
pub use builder::{Builder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_BACKOFF, DEFAULT_RETRY};
pub use error::{Cause, Error, ERROR_BODY_BYTES};
pub use item::{Item, Opened, Reconnect};
pub use source::EventSource;
/// The event type, the parser and its errors, from [`ssekit::decode`].
pub use ssekit::decode::{Bound, DecodeError, Decoded, Decoder, MessageEvent};

/// The HTTP client, re-exported so that a program builds its
/// [`reqwest::Client`] (for [`Builder::with_client`]) with the same version.
pub use reqwest;
