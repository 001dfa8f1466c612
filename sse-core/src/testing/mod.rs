//! Handlers in tests, without a server (feature `testing`).
//!
//! A handler written against [`SsePublisher`](crate::SsePublisher) runs with
//! any publisher, and [`TestPublisher`] is one more: it hands the handler a
//! request (method, URI with its query, headers, `Last-Event-ID`), and the
//! handler's answer comes back as a [`TestResponse`], whose status, headers and
//! body a test reads, the body decoded by the [WHATWG decoder](crate::decode)
//! exactly as an `EventSource` would. The response and its body are the very
//! ones every adapter serves, so what a test sees is what a browser gets.
//!
//! ```
//! use std::time::Duration;
//! use futures_util::stream::{self, StreamExt};
//! use ssekit::testing::TestPublisher;
//! use ssekit::{Event, SsePublisher};
//!
//! /// Counts down once a second, resuming after the client's last event id.
//! async fn countdown<P: SsePublisher>(publisher: P) -> P::Response {
//!     let start: u64 = publisher.last_event_id().and_then(|id| id.parse().ok()).unwrap_or(4);
//!     if start <= 1 {
//!         return publisher.no_content();
//!     }
//!     publisher.publish(stream::iter((1..start).rev()).then(|n| async move {
//!         tokio::time::sleep(Duration::from_secs(1)).await;
//!         Event::message(n.to_string()).with_id(n)
//!     }))
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // With paused time (`#[tokio::test(start_paused = true)]`) the seconds
//! // pass at once.
//! let mut response = countdown(TestPublisher::get("/countdown")).await;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["content-type"], "text/event-stream");
//! assert_eq!(response.next_event().await.unwrap().data, "3");
//!
//! // The client leaves after "3", and comes back with the id it last saw.
//! let last_seen = response.last_event_id().to_owned();
//! response.disconnect();
//! let request = TestPublisher::get("/countdown").with_last_event_id(&last_seen);
//! let events = countdown(request).await.collect_events().await;
//! let data: Vec<_> = events.iter().map(|event| event.data.as_str()).collect();
//! assert_eq!(data, ["2", "1"]);
//!
//! let request = TestPublisher::get("/countdown").with_last_event_id("1");
//! assert_eq!(countdown(request).await.status(), 204);
//! # }
//! ```
//!
//! Add the feature to the dev-dependency only:
//!
//! ```toml
//! [dev-dependencies]
//! ssekit = { version = "0.1", features = ["testing"] }
//! tokio = { version = "1", features = ["macros", "rt", "test-util"] }
//! ```
//!
//! (an adapter crate's own `ssekit` re-export is the same crate, so handlers
//! written against `ssekit_axum::ssekit` run with it too). Tokio's `test-util`
//! is what `#[tokio::test(start_paused = true)]` needs.
//!
//! # Time, and tests that cannot hang
//!
//! The body's timers (keep-alive comments, a handler's own `sleep`s) are
//! Tokio's, so under paused time they fire as soon as the test has nothing
//! else to do: a keep-alive 15 seconds away arrives at once, and
//! `tokio::time::Instant::now()` says 15 seconds have passed.
//!
//! Every reader of a [`TestResponse`] waits at most its timeout (30 seconds
//! of Tokio time unless [`TestPublisher::with_timeout`] says otherwise) and
//! then panics, saying what it waited for: a test waiting for an event that
//! never comes, or for the end of a stream that never ends (a hub
//! subscription, a stream with keep-alives), fails instead of hanging. Read
//! an endless stream with [`TestResponse::next_event`] or
//! [`TestResponse::next_events`]; to check that nothing arrives for a while,
//! wrap a read in a shorter `tokio::time::timeout`.
//!
//! # The client leaving
//!
//! Dropping the [`TestResponse`] (or [`TestResponse::disconnect`], which says
//! so) drops the body, as a framework does when the client goes away: the
//! handler's [`Sender::closed`](crate::channel::Sender::closed) resolves and
//! its sends fail, a hub subscription leaves its topic, a stream permit is
//! released.

mod response;

use std::fmt;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};

use crate::adapter::{self, Adapter, SseBody};
use crate::request::{RequestInfo, LAST_EVENT_ID};

pub use response::TestResponse;

/// A publisher for tests: the request a handler is given, built in code.
///
/// It implements [`Adapter`], so every [`SsePublisher`](crate::SsePublisher)
/// handler runs with it unchanged, and answers with a [`TestResponse`].
/// The `Last-Event-ID` header is parsed as for a real request: an empty or
/// unusable one counts as absent.
///
/// ```
/// use ssekit::testing::TestPublisher;
/// use ssekit::SsePublisher;
///
/// let publisher = TestPublisher::get("/chat/stream?room=42")
///     .with_last_event_id("41")
///     .with_header("authorization", "Bearer t0ken");
/// assert_eq!(publisher.request().path(), "/chat/stream");
/// assert_eq!(publisher.request().query_param("room").as_deref(), Some("42"));
/// assert_eq!(publisher.last_event_id(), Some("41"));
/// assert_eq!(publisher.request().header("authorization").unwrap(), "Bearer t0ken");
/// ```
#[derive(Clone)]
#[must_use]
pub struct TestPublisher {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    request: RequestInfo,
    timeout: Duration,
}

impl TestPublisher {
    /// How long a [`TestResponse`]'s readers wait, unless
    /// [`with_timeout`](Self::with_timeout) says otherwise: 30 seconds (of
    /// Tokio time, so no real wait under paused time).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// A request with `method` for `uri` (a path with its query, such as
    /// `"/events?topic=a"`, or an absolute URI), and no headers.
    ///
    /// # Panics
    ///
    /// If `uri` is not a valid URI.
    pub fn new<U>(method: Method, uri: U) -> Self
    where
        U: TryInto<Uri>,
        U::Error: fmt::Debug,
    {
        let uri = uri
            .try_into()
            .unwrap_or_else(|error| panic!("TestPublisher: invalid URI: {error:?}"));
        Self {
            request: adapter::request_info(method.clone(), &uri, HeaderMap::new()),
            method,
            uri,
            headers: HeaderMap::new(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// A `GET` request for `uri`, as an `EventSource` sends.
    ///
    /// # Panics
    ///
    /// If `uri` is not a valid URI.
    pub fn get<U>(uri: U) -> Self
    where
        U: TryInto<Uri>,
        U::Error: fmt::Debug,
    {
        Self::new(Method::GET, uri)
    }

    /// Sets the `Last-Event-ID` header, as a reconnecting `EventSource` does
    /// (replacing any set before). An empty id counts as no id, as it does
    /// for a browser, which then sends none; so the
    /// [`last_event_id`](TestResponse::last_event_id) of a response that
    /// saw no id can be passed as it is.
    ///
    /// # Panics
    ///
    /// If `id` holds a character no header value may (CR, LF, NUL and other
    /// control characters): an `EventSource` never sends those. To test a
    /// handler with hostile bytes, use [`with_header`](Self::with_header)
    /// with a `HeaderValue` made from them.
    pub fn with_last_event_id(mut self, id: &str) -> Self {
        let value = HeaderValue::from_bytes(id.as_bytes()).unwrap_or_else(|error| {
            panic!("TestPublisher: Last-Event-ID {id:?} is no header value: {error}")
        });
        self.headers.insert(LAST_EVENT_ID, value);
        self.rebuild()
    }

    /// Adds a request header (repeatable: a second value of the same name is
    /// added, not replaced).
    ///
    /// # Panics
    ///
    /// If `name` or `value` is not a valid header name or value.
    pub fn with_header<N, V>(mut self, name: N, value: V) -> Self
    where
        N: TryInto<HeaderName>,
        N::Error: fmt::Display,
        V: TryInto<HeaderValue>,
        V::Error: fmt::Display,
    {
        let name = name
            .try_into()
            .unwrap_or_else(|error| panic!("TestPublisher: invalid header name: {error}"));
        let value = value
            .try_into()
            .unwrap_or_else(|error| panic!("TestPublisher: invalid value for {name}: {error}"));
        self.headers.append(name, value);
        self.rebuild()
    }

    /// Sets how long each reader of the [`TestResponse`] waits before it
    /// panics (default [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT)). Tokio
    /// time: under paused time a long timeout costs nothing.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn rebuild(mut self) -> Self {
        self.request = adapter::request_info(self.method.clone(), &self.uri, self.headers.clone());
        self
    }
}

impl Adapter for TestPublisher {
    type Response = TestResponse;
    const NAME: &'static str = "test";

    fn request_info(&self) -> &RequestInfo {
        &self.request
    }

    fn respond(&self, response: http::Response<SseBody>) -> TestResponse {
        TestResponse::new(response, self.timeout)
    }
}

impl fmt::Debug for TestPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPublisher")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("headers", &self.headers)
            .field("timeout", &self.timeout)
            .finish()
    }
}
