//! How a stream is published: keep-alive, retry hint, status, headers, shutdown.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::event::Event;
use crate::keep_alive::KeepAlive;
use crate::shutdown::Shutdown;
use crate::source::BoxError;

pub(crate) type ErrorMapper = Arc<dyn Fn(&BoxError) -> Option<Event> + Send + Sync>;

/// Options for [`SsePublisher::publish_with`](crate::SsePublisher::publish_with).
///
/// The defaults suit browsers: status 200, keep-alive every 15 s while idle, no
/// retry hint, no shutdown signal.
///
/// ```
/// use std::time::Duration;
/// use http::StatusCode;
/// use ssekit::{KeepAlive, PublishOptions, Shutdown};
///
/// let shutdown = Shutdown::new();
/// let options = PublishOptions::new()
///     .keep_alive(KeepAlive::default().interval(Duration::from_secs(10)))
///     .retry(Duration::from_secs(2))
///     .header(http::header::HeaderName::from_static("x-stream"), http::HeaderValue::from_static("chat"))
///     .shutdown(&shutdown);
/// assert_eq!(options.get_status(), StatusCode::OK);
/// ```
#[derive(Clone)]
pub struct PublishOptions {
    pub(crate) keep_alive: Option<KeepAlive>,
    pub(crate) retry: Option<Duration>,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) shutdown: Option<Shutdown>,
    pub(crate) on_error: Option<ErrorMapper>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self {
            keep_alive: Some(KeepAlive::default()),
            retry: None,
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            shutdown: None,
            on_error: None,
        }
    }
}

impl fmt::Debug for PublishOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishOptions")
            .field("keep_alive", &self.keep_alive)
            .field("retry", &self.retry)
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("shutdown", &self.shutdown)
            .field("on_error", &self.on_error.as_ref().map(|_| ".."))
            .finish()
    }
}

impl PublishOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the keep-alive comment and interval.
    pub fn keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.keep_alive = Some(keep_alive);
        self
    }

    /// Sends no keep-alive comments.
    pub fn no_keep_alive(mut self) -> Self {
        self.keep_alive = None;
        self
    }

    /// Sends `retry: <ms>` as the first bytes of the stream, telling the client
    /// how long to wait before reconnecting.
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Sets the status code. `EventSource` treats anything but 200 as a fatal
    /// error and does not reconnect; to stop a client from reconnecting, answer
    /// [`SsePublisher::no_content`](crate::SsePublisher::no_content) instead.
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a response header, replacing any standard one of the same name.
    /// Hop-by-hop headers (`Connection`, `Keep-Alive`, `Transfer-Encoding`, ...)
    /// are dropped: they are illegal in HTTP/2 and the server manages them.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Adds response headers, as [`header`](Self::header) does for one.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        for (name, value) in headers {
            if let Some(name) = name {
                self.headers.insert(name, value);
            }
        }
        self
    }

    /// Ends the stream when `shutdown` is triggered.
    pub fn shutdown(mut self, shutdown: &Shutdown) -> Self {
        self.shutdown = Some(shutdown.clone());
        self
    }

    /// Decides what a client sees when a fallible source yields an error: the
    /// returned event (if any) is sent, then the stream ends cleanly. Without
    /// this, the stream just ends cleanly. Either way the error is logged with
    /// `tracing` and the client reconnects with its `Last-Event-ID`.
    ///
    /// Ending cleanly, rather than aborting the connection, is deliberate: every
    /// framework and HTTP version then behaves the same, and the events already
    /// sent are never cut in half.
    ///
    /// ```
    /// use ssekit::{Event, PublishOptions};
    ///
    /// let options = PublishOptions::new().on_error(|error| {
    ///     Event::message(error.to_string()).with_event("error").ok()
    /// });
    /// ```
    pub fn on_error<F>(mut self, map: F) -> Self
    where
        F: Fn(&BoxError) -> Option<Event> + Send + Sync + 'static,
    {
        self.on_error = Some(Arc::new(map));
        self
    }

    /// The status code to answer with.
    pub fn get_status(&self) -> StatusCode {
        self.status
    }
}
