//! What to request, and how to behave when the connection is lost.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use ssekit::decode::DEFAULT_MAX_EVENT_BYTES;

use crate::error::Error;
use crate::source::EventSource;

/// The reconnection time until the server sets one with `retry:`: 3 s, what
/// browsers use.
pub const DEFAULT_RETRY: Duration = Duration::from_secs(3);

/// The longest wait between attempts that the backoff grows to, unless set
/// with [`Builder::with_max_backoff`] (a server's own `retry:` may be longer).
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How long a connection may take to get its response head, unless set with
/// [`Builder::with_connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Configures an [`EventSource`]; made by [`EventSource::get`],
/// [`EventSource::post`] or [`EventSource::builder`], finished by
/// [`build`](Builder::build).
///
/// A mistake in a URL, header name or value is kept and reported as the
/// stream's first item ([`Error::InvalidRequest`]), as `reqwest` does, so
/// the calls chain without a `?` each.
#[derive(Debug)]
#[must_use = "a Builder does nothing until built and polled"]
pub struct Builder {
    pub(crate) config: Config,
    pub(crate) invalid: Option<Error>,
}

/// Everything an [`EventSource`] needs to (re)connect.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) client: Option<reqwest::Client>,
    pub(crate) method: Method,
    pub(crate) url: Option<Url>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
    pub(crate) last_event_id: String,
    pub(crate) retry: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) retry_limit: Option<u32>,
    pub(crate) retry_statuses: Vec<StatusCode>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_line_bytes: usize,
    pub(crate) max_event_bytes: usize,
    pub(crate) check_content_type: bool,
}

impl Builder {
    /// A request with `method` to `url`; see [`EventSource::builder`].
    pub fn new(method: Method, url: impl reqwest::IntoUrl) -> Self {
        let mut invalid = None;
        let url = match url.into_url() {
            Ok(url) => Some(url),
            Err(error) => {
                invalid = Some(Error::InvalidRequest(Box::new(error)));
                None
            }
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        // What a browser's EventSource sends (its fetch is in no-store mode):
        // proxies and caches must not answer from a stored copy.
        headers.insert(
            reqwest::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
        Self {
            config: Config {
                client: None,
                method,
                url,
                headers,
                body: None,
                last_event_id: String::new(),
                retry: DEFAULT_RETRY,
                max_backoff: DEFAULT_MAX_BACKOFF,
                retry_limit: None,
                retry_statuses: Vec::new(),
                connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
                idle_timeout: None,
                max_line_bytes: DEFAULT_MAX_EVENT_BYTES,
                max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
                check_content_type: true,
            },
            invalid,
        }
    }

    /// Sends every request through `client` (its TLS, proxy, pool and
    /// default headers). Without it, each [`EventSource`] makes a plain
    /// `reqwest::Client`; never set a total `timeout` on a client for
    /// streams: it would cut every stream off at that age.
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.config.client = Some(client);
        self
    }

    /// Adds a request header, sent on every attempt (after the defaults
    /// `Accept: text/event-stream` and `Cache-Control: no-cache`, which it
    /// replaces if the name is the same).
    pub fn with_header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: std::error::Error + Send + Sync + 'static,
        V: TryInto<HeaderValue>,
        V::Error: std::error::Error + Send + Sync + 'static,
    {
        let name = name.try_into();
        let value = value.try_into();
        match (name, value) {
            (Ok(name), Ok(value)) => {
                self.config.headers.insert(name, value);
            }
            (Err(error), _) => self.invalid(Box::new(error)),
            (_, Err(error)) => self.invalid(Box::new(error)),
        }
        self
    }

    /// Sends `Authorization: Bearer <token>`, marked sensitive (kept out of
    /// `Debug` output and HTTP/2 header compression tables).
    pub fn with_bearer_auth(mut self, token: &str) -> Self {
        match HeaderValue::try_from(format!("Bearer {token}")) {
            Ok(mut value) => {
                value.set_sensitive(true);
                self.config
                    .headers
                    .insert(reqwest::header::AUTHORIZATION, value);
            }
            Err(error) => self.invalid(Box::new(error)),
        }
        self
    }

    /// Sends `body` with every attempt (an LLM API's prompt, say); set its
    /// `Content-Type` with [`with_header`](Self::with_header).
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.config.body = Some(body.into());
        self
    }

    /// Starts as a client resuming after `id` does: the first request sends
    /// it as `Last-Event-ID` (unless empty).
    pub fn with_last_event_id(mut self, id: impl Into<String>) -> Self {
        self.config.last_event_id = id.into();
        self
    }

    /// The reconnection time until the server sets one with `retry:`
    /// (default [`DEFAULT_RETRY`]).
    pub fn with_retry(mut self, retry: Duration) -> Self {
        self.config.retry = retry;
        self
    }

    /// The cap on the backoff after repeated failures (default
    /// [`DEFAULT_MAX_BACKOFF`]).
    pub fn with_max_backoff(mut self, cap: Duration) -> Self {
        self.config.max_backoff = cap;
        self
    }

    /// Gives up after `limit` failed attempts in a row (a connection that
    /// opened resets the count): the stream then ends with [`Error::GaveUp`],
    /// or with [`Item::Closed`](crate::Item::Closed) if the last connection
    /// ended cleanly. `0` never reconnects: the end of the body is the end
    /// of the stream, as an LLM API's answer is. Unlimited by default, as in
    /// a browser.
    pub fn with_retry_limit(mut self, limit: u32) -> Self {
        self.config.retry_limit = Some(limit);
        self
    }

    /// Reconnects, instead of failing, when the server answers `status`
    /// (say 429, 502, 503), waiting what its `Retry-After` asks if it sends
    /// one. May be called once per status.
    pub fn with_retry_on_status(mut self, status: StatusCode) -> Self {
        self.config.retry_statuses.push(status);
        self
    }

    /// How long an attempt may wait for the response head, connecting
    /// included (default [`DEFAULT_CONNECT_TIMEOUT`]; `None`: for ever).
    pub fn with_connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Reconnects when no byte at all (not even a keep-alive comment)
    /// arrives for `timeout` (default `None`: a quiet stream is fine). Set
    /// it above the server's keep-alive interval.
    pub fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Fails with [`Error::TooLarge`] when one line exceeds `limit` bytes
    /// (default: the event limit).
    pub fn with_max_line_bytes(mut self, limit: usize) -> Self {
        self.config.max_line_bytes = limit;
        self
    }

    /// Fails with [`Error::TooLarge`] when one event (its data plus the
    /// line being read) exceeds `limit` bytes (default
    /// [`DEFAULT_MAX_EVENT_BYTES`], 16 MiB). This bounds the memory a stream
    /// can make the client hold, whatever the server sends.
    pub fn with_max_event_bytes(mut self, limit: usize) -> Self {
        self.config.max_event_bytes = limit;
        self
    }

    /// With `false`, accepts a 200 whatever its `Content-Type` (or none),
    /// for servers that get it wrong; browsers refuse those (the default).
    pub fn with_content_type_check(mut self, check: bool) -> Self {
        self.config.check_content_type = check;
        self
    }

    /// The stream. Nothing is sent until it is polled.
    pub fn build(self) -> EventSource {
        EventSource::from_builder(self)
    }

    fn invalid(&mut self, error: Box<dyn std::error::Error + Send + Sync>) {
        if self.invalid.is_none() {
            self.invalid = Some(Error::InvalidRequest(error));
        }
    }
}
