//! The reconnecting stream.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use futures_util::stream::{self, BoxStream, StreamExt};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use ssekit::decode::{Decoded, Decoder};

use crate::backoff;
use crate::body::{BodyError, EventBody};
use crate::builder::{Builder, Config};
use crate::error::{Cause, Error, ERROR_BODY_BYTES};
use crate::item::{Item, Opened, Reconnect};

/// A stream of [`Item`]s from one URL, reconnecting as the WHATWG
/// `EventSource` does: built by [`get`](EventSource::get),
/// [`post`](EventSource::post) or [`builder`](EventSource::builder).
///
/// It yields [`Item::Open`] each time a connection opens, every event, and
/// [`Item::Reconnecting`] when a connection is lost. It ends after
/// [`Item::Closed`] (the server answered 204) or after an [`Error`]. Dropping
/// it closes the connection.
#[must_use = "streams do nothing unless polled"]
pub struct EventSource {
    inner: BoxStream<'static, Result<Item, Error>>,
}

impl fmt::Debug for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSource").finish_non_exhaustive()
    }
}

impl EventSource {
    /// A `GET` stream from `url`, as a browser's `EventSource` makes it.
    pub fn get(url: impl reqwest::IntoUrl) -> Builder {
        Builder::new(Method::GET, url)
    }

    /// A `POST` stream from `url`: streaming APIs (LLM completions, MCP)
    /// answer a posted request with an event stream. Add the body with
    /// [`Builder::with_body`].
    pub fn post(url: impl reqwest::IntoUrl) -> Builder {
        Builder::new(Method::POST, url)
    }

    /// A stream from `url` requested with any `method`.
    pub fn builder(method: Method, url: impl reqwest::IntoUrl) -> Builder {
        Builder::new(method, url)
    }

    pub(crate) fn from_builder(builder: Builder) -> Self {
        let driver = match builder.invalid {
            Some(error) => Driver::failed(error),
            None => Driver::new(builder.config),
        };
        let inner = stream::unfold(driver, |mut driver| async move {
            let item = driver.next().await?;
            Some((item, driver))
        })
        .boxed();
        Self { inner }
    }
}

impl Stream for EventSource {
    type Item = Result<Item, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

/// The state between two items.
struct Driver {
    config: Config,
    client: reqwest::Client,
    /// The open connection's body, or between connections, its decoder.
    connection: Connection,
    /// Failed attempts in a row; an opened connection resets it.
    failures: u32,
    /// The wait before the next attempt.
    wait: Option<Duration>,
    /// An error to report before anything else (a mistake in the builder).
    invalid: Option<Error>,
    done: bool,
}

// Inline on purpose: the driver is boxed once per stream, and an open
// connection is its usual state; boxing the body would cost an allocation per
// reconnection for nothing.
#[allow(clippy::large_enum_variant)]
enum Connection {
    Closed(Decoder),
    Open(EventBody),
    /// Only while moving from one to the other.
    Moving,
}

/// What one attempt came to.
enum Attempt {
    Opened(Box<reqwest::Response>),
    NoContent,
    Retry(Cause, Option<Duration>),
    Fatal(Error),
}

impl Driver {
    fn new(config: Config) -> Self {
        let decoder = Decoder::with_max_event_bytes(config.max_event_bytes)
            .with_max_line_bytes(config.max_line_bytes)
            .with_last_event_id(config.last_event_id.clone());
        let client = config.client.clone().unwrap_or_else(default_client);
        Self {
            config,
            client,
            connection: Connection::Closed(decoder),
            failures: 0,
            wait: None,
            invalid: None,
            done: false,
        }
    }

    fn failed(error: Error) -> Self {
        let mut driver = Self::new(Builder::new(Method::GET, "http://invalid.").config);
        driver.invalid = Some(error);
        driver
    }

    async fn next(&mut self) -> Option<Result<Item, Error>> {
        if let Some(error) = self.invalid.take() {
            self.done = true;
            return Some(Err(error));
        }
        if self.done {
            return None;
        }
        loop {
            let body = match &mut self.connection {
                Connection::Open(body) => body,
                Connection::Closed(_) => return Some(self.connect().await),
                Connection::Moving => unreachable!("a connection is never left moving"),
            };
            match body.next_item().await {
                Ok(Some(Decoded::Event(event))) => return Some(Ok(Item::Event(event))),
                // The decoder keeps the retry time; comments are for tools.
                Ok(Some(_)) => continue,
                Ok(None) => return Some(self.lost(Cause::Ended, None)),
                Err(BodyError::Idle(limit)) => return Some(self.lost(Cause::Idle(limit), None)),
                Err(BodyError::Transport(error)) => {
                    return Some(self.lost(Cause::Transport(error), None))
                }
                Err(BodyError::TooLarge(error)) => return Some(Err(self.fail(error.into()))),
            }
        }
    }

    async fn connect(&mut self) -> Result<Item, Error> {
        if let Some(wait) = self.wait.take() {
            tokio::time::sleep(wait).await;
        }
        let Connection::Closed(decoder) = &self.connection else {
            unreachable!("connect is only called between connections")
        };
        match self.attempt(decoder.last_event_id()).await {
            Attempt::Opened(body) => {
                let opened = Opened {
                    status: body.status(),
                    version: body.version(),
                    headers: body.headers().clone(),
                };
                let Connection::Closed(decoder) =
                    std::mem::replace(&mut self.connection, Connection::Moving)
                else {
                    unreachable!()
                };
                let body = EventBody::new(*body)
                    .with_decoder(decoder)
                    .with_idle_timeout(self.config.idle_timeout);
                self.connection = Connection::Open(body);
                self.failures = 0;
                Ok(Item::Open(opened))
            }
            Attempt::NoContent => {
                self.done = true;
                Ok(Item::Closed)
            }
            Attempt::Retry(cause, retry_after) => self.lost(cause, retry_after),
            Attempt::Fatal(error) => Err(self.fail(error)),
        }
    }

    /// One request: its response, if it is an event stream.
    async fn attempt(&self, last_event_id: &str) -> Attempt {
        let url = self.config.url.clone().expect("a valid builder has a URL");
        let mut request = self
            .client
            .request(self.config.method.clone(), url)
            .headers(self.config.headers.clone());
        // Only a non-empty id is sent: an empty one means "no id", and some
        // servers would read an empty header as "resume from the start".
        if !last_event_id.is_empty() {
            // Sent as its UTF-8 bytes, as browsers send it (`from_str` would
            // refuse anything but ASCII). An id that cannot be a header value
            // at all (a control character) is not sent, rather than failing
            // the stream.
            if let Ok(value) = HeaderValue::from_bytes(last_event_id.as_bytes()) {
                request = request.header("last-event-id", value);
            }
        }
        if let Some(body) = &self.config.body {
            request = request.body(body.clone());
        }
        let sent = request.send();
        let response = match self.config.connect_timeout {
            Some(limit) => match tokio::time::timeout(limit, sent).await {
                Ok(response) => response,
                Err(_) => return Attempt::Retry(Cause::ConnectTimeout(limit), None),
            },
            None => sent.await,
        };
        let mut response = match response {
            Ok(response) => response,
            Err(error) if error.is_builder() => {
                return Attempt::Fatal(Error::InvalidRequest(Box::new(error)))
            }
            Err(error) => return Attempt::Retry(Cause::Transport(error), None),
        };
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            return Attempt::NoContent;
        }
        if status != StatusCode::OK {
            if self.config.retry_statuses.contains(&status) {
                let retry_after = backoff::retry_after(response.headers());
                return Attempt::Retry(Cause::Status(status), retry_after);
            }
            let body = self.first_bytes(&mut response).await;
            return Attempt::Fatal(Error::Status { status, body });
        }
        if self.config.check_content_type && !is_event_stream(response.headers().get(CONTENT_TYPE))
        {
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
            let body = self.first_bytes(&mut response).await;
            return Attempt::Fatal(Error::ContentType {
                status,
                content_type,
                body,
            });
        }
        Attempt::Opened(Box::new(response))
    }

    /// The start of a refused response's body, for the error: bounded in
    /// size and in time (a server may hold the rest back).
    async fn first_bytes(&self, response: &mut reqwest::Response) -> Bytes {
        let limit = self
            .config
            .connect_timeout
            .unwrap_or(Duration::from_secs(5));
        let mut body = BytesMut::new();
        let read = async {
            while body.len() < ERROR_BODY_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    _ => break,
                }
            }
        };
        let _ = tokio::time::timeout(limit, read).await;
        body.truncate(ERROR_BODY_BYTES);
        body.freeze()
    }

    /// The connection is gone: schedules the next attempt, or gives up.
    fn lost(&mut self, cause: Cause, retry_after: Option<Duration>) -> Result<Item, Error> {
        let mut decoder = match std::mem::replace(&mut self.connection, Connection::Moving) {
            Connection::Open(body) => body.into_decoder(),
            Connection::Closed(decoder) => decoder,
            Connection::Moving => unreachable!("a connection is never left moving"),
        };
        decoder.restart();
        let retry = decoder.retry().unwrap_or(self.config.retry);
        self.connection = Connection::Closed(decoder);
        self.failures = self.failures.saturating_add(1);
        if self
            .config
            .retry_limit
            .is_some_and(|limit| self.failures > limit)
        {
            self.done = true;
            return match cause {
                Cause::Ended => Ok(Item::Closed),
                cause => Err(Error::GaveUp {
                    attempts: self.failures,
                    cause,
                }),
            };
        }
        let delay = retry_after
            .unwrap_or_else(|| backoff::delay(self.failures, retry, self.config.max_backoff));
        self.wait = Some(delay);
        Ok(Item::Reconnecting(Reconnect {
            delay,
            attempt: self.failures,
            cause,
        }))
    }

    fn fail(&mut self, error: Error) -> Error {
        self.done = true;
        error
    }
}

/// A client of its own for a stream that brings none. Not one shared by the
/// process: hyper's pooled connections belong to the Tokio runtime that made
/// them, and a stream on another runtime would get dead ones.
fn default_client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Whether a `Content-Type` is `text/event-stream` (parameters allowed,
/// case-insensitive), as the fetch standard's MIME type parsing sees it.
fn is_event_stream(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("text/event-stream")
}
