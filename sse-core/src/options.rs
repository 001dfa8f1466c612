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
/// Setters are `with_*` and take and return the options by value; getters
/// are the bare names.
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
///     .with_keep_alive(KeepAlive::new().with_interval(Duration::from_secs(10)))
///     .with_retry(Duration::from_secs(2))
///     .with_header(http::header::HeaderName::from_static("x-stream"), http::HeaderValue::from_static("chat"))
///     .with_shutdown(&shutdown);
/// assert_eq!(options.status(), StatusCode::OK);
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
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the keep-alive comment and interval.
    #[must_use]
    pub fn with_keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.keep_alive = Some(keep_alive);
        self
    }

    /// Sends no keep-alive comments.
    #[must_use]
    pub fn without_keep_alive(mut self) -> Self {
        self.keep_alive = None;
        self
    }

    /// Sends `retry: <ms>` as the first bytes of the stream, telling the client
    /// how long to wait before reconnecting.
    #[must_use]
    pub fn with_retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Sets the status code. `EventSource` treats anything but 200 as a fatal
    /// error and does not reconnect; to stop a client from reconnecting, answer
    /// [`SsePublisher::no_content`](crate::SsePublisher::no_content) instead; to
    /// refuse a stream with a message, [`SsePublisher::reject`](crate::SsePublisher::reject).
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a response header. Several values of one name all go out (two
    /// `Set-Cookie`), and a name among the standard SSE headers
    /// (`Content-Type`, `Cache-Control`, `X-Accel-Buffering`) replaces the
    /// standard value. Hop-by-hop headers (`Connection`, `Keep-Alive`,
    /// `Transfer-Encoding`, ...) are dropped: they are illegal in HTTP/2 and
    /// the server manages them.
    ///
    /// ```
    /// use http::header::{HeaderValue, SET_COOKIE};
    /// use ssekit::PublishOptions;
    ///
    /// let options = PublishOptions::new()
    ///     .with_header(SET_COOKIE, HeaderValue::from_static("a=1"))
    ///     .with_header(SET_COOKIE, HeaderValue::from_static("b=2"));
    /// assert_eq!(options.headers().get_all(SET_COOKIE).iter().count(), 2);
    /// ```
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Adds every header of `headers`, as [`with_header`](Self::with_header)
    /// does for one.
    #[must_use]
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        for (name, value) in &headers {
            self.headers.append(name.clone(), value.clone());
        }
        self
    }

    /// Ends the stream when `shutdown` is triggered.
    #[must_use]
    pub fn with_shutdown(mut self, shutdown: &Shutdown) -> Self {
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
    /// let options = PublishOptions::new().with_error_event(|error| {
    ///     Some(Event::message(error.to_string()).with_event("error"))
    /// });
    /// ```
    #[must_use]
    pub fn with_error_event<F>(mut self, map: F) -> Self
    where
        F: Fn(&BoxError) -> Option<Event> + Send + Sync + 'static,
    {
        self.on_error = Some(Arc::new(map));
        self
    }

    /// The status code to answer with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The extra response headers.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The keep-alive, unless turned off.
    #[must_use]
    pub fn keep_alive(&self) -> Option<&KeepAlive> {
        self.keep_alive.as_ref()
    }

    /// The retry hint sent first, if any.
    #[must_use]
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }
}

#[cfg(test)]
mod tests {
    use http::header::SET_COOKIE;

    use super::*;

    #[test]
    fn with_headers_adds_every_value() {
        let mut cookies = HeaderMap::new();
        cookies.append(SET_COOKIE, HeaderValue::from_static("b=2"));
        cookies.append(SET_COOKIE, HeaderValue::from_static("c=3"));
        let options = PublishOptions::new()
            .with_header(SET_COOKIE, HeaderValue::from_static("a=1"))
            .with_headers(cookies);
        let all: Vec<_> = options.headers().get_all(SET_COOKIE).iter().collect();
        assert_eq!(all, ["a=1", "b=2", "c=3"]);
    }
}
