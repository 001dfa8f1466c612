//! How an event is stored in a JetStream message, and read back.
//!
//! The payload is the event's data, as is (so other NATS consumers can read
//! it). Headers carry the rest: `Sse-Event` (event type), `Sse-Retry`
//! (milliseconds), `Sse-Comment` (percent-escaped, as header values cannot
//! hold line breaks), and `Sse-Data: none` for an event without a data field
//! (an empty payload is otherwise empty data). The id is the stream sequence.

use std::time::Duration;

use async_nats::HeaderMap;
use bytes::Bytes;
use ssekit::Event;

const EVENT: &str = "Sse-Event";
const RETRY: &str = "Sse-Retry";
const COMMENT: &str = "Sse-Comment";
const DATA: &str = "Sse-Data";

/// Headers and payload for `event` (its id is left to the stream).
pub(crate) fn encode(event: &Event) -> (HeaderMap, Bytes) {
    let mut headers = HeaderMap::new();
    if let Some(event_type) = event.event_type() {
        headers.insert(EVENT, event_type);
    }
    if let Some(retry) = event.retry() {
        headers.insert(RETRY, retry.as_millis().to_string().as_str());
    }
    if let Some(comment) = event.comment() {
        headers.insert(COMMENT, escape(comment).as_str());
    }
    let payload = match event.data() {
        Some(data) => Bytes::copy_from_slice(data.as_bytes()),
        None => {
            headers.insert(DATA, "none");
            Bytes::new()
        }
    };
    (headers, payload)
}

/// Rebuilds the event of a message, with `sequence` as its id. Messages this
/// crate did not write are read as well as they can be: a payload that is
/// not UTF-8 is read lossily, and an invalid event type is dropped rather
/// than failing the stream.
pub(crate) fn decode(sequence: u64, headers: Option<&HeaderMap>, payload: &[u8]) -> Event {
    let header = |name: &str| {
        headers
            .and_then(|headers| headers.get(name))
            .map(|value| value.as_str().to_owned())
    };
    let mut event = Event::new();
    if header(DATA).as_deref() != Some("none") {
        event = event.with_data(String::from_utf8_lossy(payload).into_owned());
    }
    if let Some(comment) = header(COMMENT) {
        event = event.with_comment(unescape(&comment));
    }
    if let Some(retry) = header(RETRY).and_then(|ms| ms.parse().ok()) {
        event = event.with_retry(Duration::from_millis(retry));
    }
    if let Some(event_type) = header(EVENT) {
        event = match event.clone().try_with_event(event_type) {
            Ok(typed) => typed,
            Err(error) => {
                tracing::warn!(%error, sequence, "ignoring an invalid event type in a NATS message");
                event
            }
        };
    }
    // Decimal digits: always a valid event id.
    event
        .clone()
        .try_with_id(sequence.to_string())
        .unwrap_or(event)
}

/// `%`, spaces and control characters as `%XX`.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '%' || c == ' ' || c.is_ascii_control() {
            escaped.push_str(&format!("%{:02X}", c as u32));
        } else {
            escaped.push(c);
        }
    }
    escaped
}

fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(event: Event) {
        let (headers, payload) = encode(&event);
        let back = decode(7, Some(&headers), &payload);
        let expected = event.clone().try_with_id("7").unwrap();
        assert_eq!(back.encode().as_bytes(), expected.encode().as_bytes());
    }

    #[test]
    fn fields_round_trip() {
        round_trip(Event::message("line 1\nline 2\r\nline 3"));
        round_trip(Event::message(""));
        round_trip(Event::message("☃ é 日本"));
        round_trip(Event::new().with_retry(Duration::from_millis(1500)));
        round_trip(
            Event::message("x")
                .with_event("update")
                .with_comment(" 100% sure\nsecond line ☃"),
        );
    }
}
