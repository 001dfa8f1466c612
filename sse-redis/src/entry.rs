//! How an event is stored in a stream entry, and read back.

use std::collections::HashMap;
use std::time::Duration;

use redis::Value;
use ssekit::Event;

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
