//! A real HTTP client reading a response as an `EventSource` would.

use std::time::Duration;

use ssekit::decode::{Decoded, Decoder, MessageEvent};
use ssekit_client::{BodyError, EventBody};

/// What went wrong with a request, with its causes (reqwest's own message
/// rarely says), and without the URL, whose port changes from run to run:
/// a report must read the same each time.
pub(crate) fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An HTTP client for one case: no connection reuse (so dropping a response
/// closes its connection), HTTP/1.1 or HTTP/2 with prior knowledge, and
/// compression only when asked for.
pub(crate) fn client(http2: bool, gzip: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .gzip(gzip)
        .connect_timeout(Duration::from_secs(10));
    let builder = if http2 {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    };
    builder.build().expect("a plain HTTP client always builds")
}

/// A response body read through the client's [`EventBody`] (the WHATWG
/// decoder `ssekit-client` reads every connection with), with deadlines, and
/// the raw bytes kept for the byte-exact cases.
pub(crate) struct EventReader {
    body: EventBody,
    raw: Vec<u8>,
}

impl EventReader {
    pub(crate) fn new(response: reqwest::Response) -> Self {
        Self {
            body: EventBody::new(response),
            raw: Vec::new(),
        }
    }

    /// The next decoded item, `None` at the end of the body.
    pub(crate) async fn next_item(&mut self, within: Duration) -> Result<Option<Decoded>, String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(item) = self.body.pop_item() {
                return Ok(Some(item));
            }
            // A chunk's decoded items are queued, and taken above.
            match tokio::time::timeout_at(deadline, self.body.next_chunk()).await {
                Err(_) => return Err(format!("nothing arrived within {within:?}")),
                Ok(Err(BodyError::Transport(e))) => {
                    return Err(format!("body failed: {}", describe(e)))
                }
                Ok(Err(e)) => return Err(e.to_string()),
                Ok(Ok(Some(chunk))) => self.raw.extend_from_slice(&chunk),
                Ok(Ok(None)) => return Ok(None),
            }
        }
    }

    /// The next dispatched event; comments and retry changes are skipped.
    pub(crate) async fn next_event(&mut self, within: Duration) -> Result<MessageEvent, String> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_item(left).await? {
                Some(Decoded::Event(event)) => return Ok(event),
                Some(_) => continue,
                None => return Err("the stream ended before the expected event".into()),
            }
        }
    }

    /// Reads to the end of the body; returns every event.
    pub(crate) async fn read_to_end(
        &mut self,
        within: Duration,
    ) -> Result<Vec<MessageEvent>, String> {
        let deadline = tokio::time::Instant::now() + within;
        let mut events = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self
                .next_item(left)
                .await
                .map_err(|e| format!("before the end of the body: {e}"))?
            {
                Some(Decoded::Event(event)) => events.push(event),
                Some(_) => {}
                None => return Ok(events),
            }
        }
    }

    pub(crate) fn raw(&self) -> &[u8] {
        &self.raw
    }

    pub(crate) fn decoder(&self) -> &Decoder {
        self.body.decoder()
    }
}

/// Describes where two byte strings first differ.
pub(crate) fn first_difference(expected: &[u8], actual: &[u8]) -> String {
    let at = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    let around = |bytes: &[u8]| {
        let start = at.saturating_sub(20);
        let end = (at + 20).min(bytes.len());
        format!("{:?}", String::from_utf8_lossy(&bytes[start.min(end)..end]))
    };
    format!(
        "bytes differ at offset {at} (expected {} bytes, got {}): expected …{}…, got …{}…",
        expected.len(),
        actual.len(),
        around(expected),
        around(actual)
    )
}
