//! How an event is stored in a stream entry, and read back.

use std::collections::HashMap;
use std::time::Duration;

use redis::Value;
use ssekit::Event;

use crate::id::StreamId;

const EVENT: &str = "event";
const DATA: &str = "data";
const COMMENT: &str = "comment";
const RETRY: &str = "retry";

/// The entry's field-value pairs for `event` (its id is left to Redis).
pub(crate) fn fields(event: &Event) -> Vec<(&'static str, String)> {
    let mut fields = Vec::with_capacity(4);
    if let Some(event_type) = event.event_type() {
        fields.push((EVENT, event_type.to_owned()));
    }
    if let Some(data) = event.data() {
        fields.push((DATA, data.to_owned()));
    }
    if let Some(comment) = event.comment() {
        fields.push((COMMENT, comment.to_owned()));
    }
    if let Some(retry) = event.retry() {
        fields.push((RETRY, retry.as_millis().to_string()));
    }
    fields
}

/// Rebuilds the event of an entry, with the entry id as its id. Entries this
/// crate did not write are read as well as they can be: unknown fields are
/// ignored, and an invalid event type is dropped rather than failing the
/// stream.
pub(crate) fn event(id: &str, map: &HashMap<String, Value>) -> Event {
    let text = |name: &str| {
        map.get(name)
            .and_then(|value| redis::from_redis_value_ref::<String>(value).ok())
    };
    let mut event = Event::new();
    if let Some(data) = text(DATA) {
        event = event.with_data(data);
    }
    if let Some(comment) = text(COMMENT) {
        event = event.with_comment(comment);
    }
    if let Some(retry) = text(RETRY).and_then(|ms| ms.parse().ok()) {
        event = event.with_retry(Duration::from_millis(retry));
    }
    if let Some(event_type) = text(EVENT) {
        event = match event.clone().try_with_event(event_type) {
            Ok(typed) => typed,
            Err(error) => {
                tracing::warn!(%error, id, "ignoring an invalid event type in a Redis entry");
                event
            }
        };
    }
    // Stream ids are `digits-digits`: always a valid event id.
    event.clone().try_with_id(id).unwrap_or(event)
}

/// What `publish` announces on a topic's channel: the id of the stream's
/// newest entry before this one, this entry's id, and its fields, so a node
/// that saw `prev` last can deliver the entry with no command of its own.
///
/// Written by the publish script as netstrings, `<length>:<bytes>` each:
/// `prev`, `id`, then the field names and values in pairs.
pub(crate) struct Notice {
    pub(crate) prev: StreamId,
    pub(crate) id: StreamId,
    pub(crate) id_text: String,
    pub(crate) fields: HashMap<String, Value>,
}

/// Reads a notice; `None` if it is not one (the node then reads the stream).
pub(crate) fn notice(payload: &[u8]) -> Option<Notice> {
    let mut parts = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let colon = rest.iter().position(|&b| b == b':')?;
        let len: usize = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
        let end = (colon + 1).checked_add(len)?;
        parts.push(rest.get(colon + 1..end)?);
        rest = &rest[end..];
    }
    if parts.len() < 2 || parts.len() % 2 != 0 {
        return None;
    }
    let text = |part: &[u8]| std::str::from_utf8(part).ok().map(str::to_owned);
    let prev = text(parts[0])?.parse().ok()?;
    let id_text = text(parts[1])?;
    let id = id_text.parse().ok()?;
    let mut fields = HashMap::with_capacity(parts.len() / 2 - 1);
    for pair in parts[2..].chunks(2) {
        fields.insert(text(pair[0])?, Value::BulkString(pair[1].to_vec()));
    }
    Some(Notice {
        prev,
        id,
        id_text,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn netstrings(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            out.extend_from_slice(format!("{}:", part.len()).as_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    #[test]
    fn reads_a_notice_and_refuses_garbage() {
        let value = "a:b\nc\n\u{2713}";
        let payload = netstrings(&[b"0-0", b"5-1", b"data", value.as_bytes()]);
        let read = notice(&payload).unwrap();
        assert_eq!(read.prev, StreamId::ZERO);
        assert_eq!(
            (read.id, read.id_text.as_str()),
            (StreamId { ms: 5, seq: 1 }, "5-1")
        );
        assert_eq!(
            read.fields.get("data"),
            Some(&Value::BulkString(value.as_bytes().to_vec()))
        );
        let id_only = netstrings(&[b"1-0", b"2-0"]);
        assert!(notice(&id_only).unwrap().fields.is_empty());
        let odd = netstrings(&[b"0-0", b"1-0", b"data"]);
        let not_ids = netstrings(&[b"x", b"1-0"]);
        for bad in [&b""[..], b"3:0-0", b"9:0-0", b"x:0-0", &odd, &not_ids] {
            assert!(notice(bad).is_none(), "{bad:?}");
        }
    }
}
