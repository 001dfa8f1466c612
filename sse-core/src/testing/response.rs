//! A handler's answer, read as an `EventSource` would.

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use http::{HeaderMap, StatusCode};

use crate::adapter::SseBody;
use crate::decode::{Decoded, Decoder, MessageEvent};

/// What a handler answered a [`TestPublisher`](super::TestPublisher): status,
/// headers, and the body, decoded as it arrives.
///
/// The readers ([`next_item`](Self::next_item), [`next_event`](Self::next_event),
/// [`next_events`](Self::next_events), [`collect_events`](Self::collect_events),
/// [`text`](Self::text)) poll the body, so the handler's stream runs while a
/// reader waits, and each waits at most the publisher's
/// [timeout](super::TestPublisher::with_timeout) before it panics, saying
/// what it waited for.
///
/// Dropping the response, or [`disconnect`](Self::disconnect), is the client
/// leaving.
///
/// ```
/// use ssekit::testing::TestPublisher;
/// use ssekit::{Event, PublishOptions, SsePublisher};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let publisher = TestPublisher::get("/events");
/// let events = futures_util::stream::iter([Event::message("a").with_id(1)]);
/// let options = PublishOptions::new().with_retry(Duration::from_secs(2));
/// let mut response = publisher.publish_with(events, options);
///
/// let event = response.next_event().await.unwrap();
/// assert_eq!((event.event_type.as_str(), event.data.as_str()), ("message", "a"));
/// assert_eq!(response.last_event_id(), "1");
/// assert_eq!(response.retry(), Some(Duration::from_secs(2)));
/// assert_eq!(response.next_event().await, None); // the stream ended
/// assert!(response.is_finished());
/// assert_eq!(response.received(), b"retry: 2000\n\nid: 1\ndata: a\n\n");
/// # }
/// ```
#[must_use = "dropping the response is the client leaving"]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    // `None` once the body has ended.
    body: Option<SseBody>,
    decoder: Decoder,
    // Decoded, not yet read.
    pending: VecDeque<Decoded>,
    received: Vec<u8>,
    timeout: Duration,
}

impl TestResponse {
    pub(super) fn new(response: http::Response<SseBody>, timeout: Duration) -> Self {
        let (parts, body) = response.into_parts();
        Self {
            status: parts.status,
            headers: parts.headers,
            body: Some(body),
            decoder: Decoder::new(),
            pending: VecDeque::new(),
            received: Vec::new(),
            timeout,
        }
    }

    /// The response status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The response headers.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The next thing the stream says, in order: an event, a retry hint, or
    /// a comment (keep-alives are comments); `None` once the body has ended.
    ///
    /// Cancel-safe: wrapped in a `tokio::time::timeout` that fires, nothing
    /// that arrived is lost.
    ///
    /// # Panics
    ///
    /// If nothing arrives within the timeout, or the body is no event
    /// stream the decoder can read (an event over its 16 MiB limit).
    pub async fn next_item(&mut self) -> Option<Decoded> {
        let timeout = self.timeout;
        within(timeout, "the next item", self.read_item()).await
    }

    /// The next event, skipping comments and retry hints; `None` once the
    /// body has ended. Cancel-safe, as [`next_item`](Self::next_item).
    ///
    /// # Panics
    ///
    /// If no event arrives within the timeout (keep-alives do not count), or
    /// the body is no event stream the decoder can read.
    pub async fn next_event(&mut self) -> Option<MessageEvent> {
        let timeout = self.timeout;
        within(timeout, "the next event", self.read_event()).await
    }

    /// The next `n` events, or fewer if the body ends first. Not
    /// cancel-safe: cancelled, it loses the events it had read.
    ///
    /// # Panics
    ///
    /// If the `n` events (or the end) do not all arrive within the timeout,
    /// or the body is no event stream the decoder can read.
    pub async fn next_events(&mut self, n: usize) -> Vec<MessageEvent> {
        let timeout = self.timeout;
        let what = format!("{n} events");
        within(timeout, &what, async {
            let mut events = Vec::with_capacity(n.min(1024));
            while events.len() < n {
                match self.read_event().await {
                    Some(event) => events.push(event),
                    None => break,
                }
            }
            events
        })
        .await
    }

    /// Every event until the body ends (those not read yet).
    ///
    /// For streams that end: a countdown, a refusal, a `204`. A hub
    /// subscription or a stream sending keep-alives never ends by itself: read
    /// it with [`next_events`](Self::next_events) instead.
    ///
    /// # Panics
    ///
    /// If the body has not ended within the timeout, or is no event stream
    /// the decoder can read.
    pub async fn collect_events(&mut self) -> Vec<MessageEvent> {
        let timeout = self.timeout;
        within(timeout, "the end of the stream", async {
            let mut events = Vec::new();
            while let Some(event) = self.read_event().await {
                events.push(event);
            }
            events
        })
        .await
    }

    /// The whole body as text (invalid UTF-8 replaced), once it has ended: a
    /// refusal's message, or a stream's exact bytes. It includes what other
    /// readers read already; the items not read yet are dropped.
    ///
    /// ```
    /// use http::StatusCode;
    /// use ssekit::testing::TestPublisher;
    /// use ssekit::SsePublisher;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut response = TestPublisher::get("/events").reject(StatusCode::UNAUTHORIZED, "sign in");
    /// assert_eq!(response.status(), 401);
    /// assert_eq!(response.text().await, "sign in");
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// If the body has not ended within the timeout.
    pub async fn text(&mut self) -> String {
        let timeout = self.timeout;
        within(timeout, "the end of the body", async {
            while self.read_chunk().await {}
        })
        .await;
        self.pending.clear();
        String::from_utf8_lossy(&self.received).into_owned()
    }

    /// Every byte of the body received so far, exactly as it would go out.
    #[must_use]
    pub fn received(&self) -> &[u8] {
        &self.received
    }

    /// The stream's last event id so far (empty if none): what a
    /// reconnecting `EventSource` would send as `Last-Event-ID`, ready for
    /// [`TestPublisher::with_last_event_id`](super::TestPublisher::with_last_event_id).
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        self.decoder.last_event_id()
    }

    /// The reconnection time the stream set so far, if any.
    #[must_use]
    pub fn retry(&self) -> Option<Duration> {
        self.decoder.retry()
    }

    /// True once the body has ended (a reader saw its end).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.body.is_none()
    }

    /// The client leaves: drops the body, as a framework does when the
    /// connection closes. The same as dropping the response, said aloud.
    pub fn disconnect(self) {
        drop(self);
    }

    async fn read_event(&mut self) -> Option<MessageEvent> {
        loop {
            match self.read_item().await? {
                Decoded::Event(event) => return Some(event),
                _ => continue,
            }
        }
    }

    async fn read_item(&mut self) -> Option<Decoded> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if !self.read_chunk().await {
                return None;
            }
        }
    }

    /// Reads one chunk of the body into the decoder; false at the end.
    /// Cancel-safe: a chunk is stored as soon as it is read.
    async fn read_chunk(&mut self) -> bool {
        let Some(body) = self.body.as_mut() else {
            return false;
        };
        match poll_fn(|cx| Pin::new(&mut *body).poll_next(cx)).await {
            Some(Ok(chunk)) => {
                self.received.extend_from_slice(&chunk);
                let mut items = Vec::new();
                if let Err(error) = self.decoder.feed_into(&chunk, &mut items) {
                    panic!("TestResponse: the body is no readable event stream: {error}");
                }
                self.pending.extend(items);
                true
            }
            Some(Err(never)) => match never {},
            None => {
                self.body = None;
                false
            }
        }
    }
}

/// `future`, or a panic saying what did not arrive within `timeout`.
async fn within<T>(timeout: Duration, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(timeout, future).await {
        Ok(output) => output,
        Err(_) => panic!(
            "TestResponse: waited {timeout:?} (Tokio time) for {what}; the stream is still \
             open. An endless stream needs a bounded read (next_event, next_events); a slow \
             one a longer TestPublisher::with_timeout"
        ),
    }
}

impl fmt::Debug for TestResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("finished", &self.is_finished())
            .field("received_bytes", &self.received.len())
            .field("unread", &self.pending.len())
            .finish_non_exhaustive()
    }
}
