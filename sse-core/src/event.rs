//! The event model: what a server can say to an `EventSource`.

use std::fmt;
use std::time::Duration;

/// The event field a validation error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The `event:` field (the event type).
    Event,
    /// The `id:` field.
    Id,
}

impl Field {
    /// The field's name as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Event => "event",
            Field::Id => "id",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field value that cannot be written to the wire without changing its meaning.
///
/// A line break in `event` or `id` would end the field early and let the rest of
/// the value be read as further fields (an injection); a NUL in `id` makes every
/// client ignore the id. Such values are refused when the event is built, so they
/// never reach the wire.
///
/// ```
/// use ssekit::{Event, Field};
///
/// let err = Event::message("hi").with_event("x\n\ndata: evil").unwrap_err();
/// assert_eq!(err.field(), Field::Event);
/// assert_eq!(err.character(), '\n');
/// assert_eq!(err.position(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    field: Field,
    character: char,
    position: usize,
}

impl EventError {
    /// The field whose value was refused.
    pub fn field(&self) -> Field {
        self.field
    }

    /// The offending character (CR, LF or NUL).
    pub fn character(&self) -> char {
        self.character
    }

    /// Byte offset of the offending character in the value.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.character {
            '\r' => "CARRIAGE RETURN",
            '\n' => "LINE FEED",
            _ => "NULL",
        };
        write!(
            f,
            "the `{}` field cannot contain U+{:04X} {} (found at byte {})",
            self.field, self.character as u32, name, self.position
        )
    }
}

impl std::error::Error for EventError {}

/// One server-sent event: optional type, id, retry hint, data and comments.
///
/// Data that is absent and data that is empty are different things on the wire:
/// an event without data is not dispatched by clients (an id-only event is a
/// silent checkpoint that still moves the client's last event id), while empty
/// data dispatches an event whose `data` is `""`.
///
/// Setters for `event` and `id` validate and return [`EventError`] on values that
/// cannot be encoded; everything else is infallible. Data and comments may contain
/// any text: line breaks (CR, LF, CRLF) split them into several lines on the wire.
///
/// ```
/// use std::time::Duration;
/// use ssekit::Event;
///
/// let event = Event::message("line one\nline two")
///     .with_event("update")?
///     .with_id("42")?
///     .with_retry(Duration::from_secs(3))
///     .with_comment("for humans");
/// assert_eq!(
///     event.encode().as_bytes(),
///     b": for humans\nevent: update\nid: 42\nretry: 3000\ndata: line one\ndata: line two\n\n"
/// );
/// # Ok::<(), ssekit::EventError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    pub(crate) event: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) retry: Option<Duration>,
    pub(crate) data: Option<String>,
    pub(crate) comment: Option<String>,
}

impl Event {
    /// An event with nothing set; encodes to no bytes at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// An event carrying `data` (dispatched as a `message` event unless a type is set).
    pub fn message(data: impl Into<String>) -> Self {
        Self::new().with_data(data)
    }

    /// An event whose data is `value` serialised as JSON.
    ///
    /// JSON text never contains a raw line break, so the data is always one line.
    ///
    /// ```
    /// let event = ssekit::Event::json(&serde_json::json!({"n": 1}))?;
    /// assert_eq!(event.data(), Some(r#"{"n":1}"#));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self::message(serde_json::to_string(value)?))
    }

    /// Sets the data, replacing any previous data.
    pub fn with_data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Sets the data to `value` serialised as JSON.
    #[cfg(feature = "json")]
    pub fn with_json<T: serde::Serialize + ?Sized>(
        self,
        value: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(self.with_data(serde_json::to_string(value)?))
    }

    /// Sets the event type. Refuses CR and LF.
    pub fn with_event(mut self, event_type: impl Into<String>) -> Result<Self, EventError> {
        let event_type = event_type.into();
        check(Field::Event, &event_type)?;
        self.event = Some(event_type);
        Ok(self)
    }

    /// Sets the id. Refuses CR, LF and NUL.
    ///
    /// An empty id is allowed: it resets the client's last event id, so a
    /// reconnecting client sends no `Last-Event-ID` header.
    pub fn with_id(mut self, id: impl Into<String>) -> Result<Self, EventError> {
        let id = id.into();
        check(Field::Id, &id)?;
        self.id = Some(id);
        Ok(self)
    }

    /// Sets the client's reconnection delay. Written in whole milliseconds (any
    /// sub-millisecond part is dropped).
    pub fn with_retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Adds a comment. Clients ignore comments; they are for humans and for keeping
    /// idle connections open. Text with line breaks becomes several comment lines.
    pub fn with_comment(mut self, text: impl AsRef<str>) -> Self {
        let text = text.as_ref();
        match &mut self.comment {
            Some(existing) => {
                existing.push('\n');
                existing.push_str(text);
            }
            None => self.comment = Some(text.to_owned()),
        }
        self
    }

    /// The data, if any.
    pub fn data(&self) -> Option<&str> {
        self.data.as_deref()
    }

    /// The event type, if any.
    pub fn event_type(&self) -> Option<&str> {
        self.event.as_deref()
    }

    /// The id, if any.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The reconnection delay, if any.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// All comment text, lines joined with `\n`, if any.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }
}

impl From<String> for Event {
    fn from(data: String) -> Self {
        Event::message(data)
    }
}

impl From<&str> for Event {
    fn from(data: &str) -> Self {
        Event::message(data)
    }
}

fn check(field: Field, value: &str) -> Result<(), EventError> {
    let bytes = value.as_bytes();
    let found = match field {
        Field::Event => memchr::memchr2(b'\r', b'\n', bytes),
        Field::Id => memchr::memchr3(b'\r', b'\n', b'\0', bytes),
    };
    match found {
        Some(position) => Err(EventError {
            field,
            character: char::from(bytes[position]),
            position,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_refuses_line_breaks() {
        for (bad, ch) in [("a\rb", '\r'), ("a\nb", '\n'), ("a\r\nb", '\r')] {
            let err = Event::new().with_event(bad).unwrap_err();
            assert_eq!(
                (err.field(), err.character(), err.position()),
                (Field::Event, ch, 1)
            );
        }
    }

    #[test]
    fn event_type_allows_nul_and_unicode() {
        assert!(Event::new().with_event("a\0b").is_ok());
        assert!(Event::new().with_event("événement").is_ok());
    }

    #[test]
    fn id_refuses_line_breaks_and_nul() {
        for (bad, ch, pos) in [("1\r", '\r', 1), ("\n", '\n', 0), ("ab\0", '\0', 2)] {
            let err = Event::new().with_id(bad).unwrap_err();
            assert_eq!(
                (err.field(), err.character(), err.position()),
                (Field::Id, ch, pos)
            );
        }
    }

    #[test]
    fn empty_id_is_allowed() {
        assert_eq!(Event::new().with_id("").unwrap().id(), Some(""));
    }

    #[test]
    fn error_message_names_field_and_character() {
        let err = Event::new().with_id("a\0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the `id` field cannot contain U+0000 NULL (found at byte 1)"
        );
    }

    #[test]
    fn comments_accumulate() {
        let event = Event::new().with_comment("a").with_comment("b\nc");
        assert_eq!(event.comment(), Some("a\nb\nc"));
    }
}
