//! The event model: what a server can say to an `EventSource`.

use std::borrow::Cow;
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
/// let err = Event::message("hi").try_with_event("x\n\ndata: evil").unwrap_err();
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
/// A value that would change the event's meaning on the wire never gets in:
/// an event type with CR or LF, an id with CR, LF or NUL. Names fixed in the
/// program need no `Result` ([`with_event`](Self::with_event) takes a
/// `&'static str`, [`with_id`](Self::with_id) a number or an [`EventId`]);
/// text from input goes through [`try_with_event`](Self::try_with_event) and
/// [`try_with_id`](Self::try_with_id), which return an [`EventError`]. Data
/// and comments may contain any text: line breaks (CR, LF, CRLF) split them
/// into several lines on the wire.
///
/// ```
/// use std::time::Duration;
/// use ssekit::Event;
///
/// let event = Event::message("line one\nline two")
///     .with_event("update")
///     .with_id(42_u64)
///     .with_retry(Duration::from_secs(3))
///     .with_comment("for humans");
/// assert_eq!(
///     event.encode().as_bytes(),
///     b": for humans\nevent: update\nid: 42\nretry: 3000\ndata: line one\ndata: line two\n\n"
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    pub(crate) event: Option<Cow<'static, str>>,
    pub(crate) id: Option<Cow<'static, str>>,
    pub(crate) retry: Option<Duration>,
    pub(crate) data: Option<String>,
    pub(crate) comment: Option<String>,
}

impl Event {
    /// An event with nothing set; encodes to no bytes at all.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An event carrying `data` (dispatched as a `message` event unless a type is set).
    #[must_use]
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
    #[must_use]
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

    /// Sets the event type to a name fixed in the program, such as
    /// `"update"`: no `Result` to handle.
    ///
    /// # Panics
    ///
    /// If `event_type` contains CR or LF, as [`http::HeaderValue::from_static`]
    /// panics on an invalid literal: a bug in the program, which the first
    /// test that builds the event finds. Names that come from input go
    /// through [`try_with_event`](Self::try_with_event), which returns the
    /// error instead.
    ///
    /// ```
    /// let event = ssekit::Event::message("hi").with_event("greeting");
    /// assert_eq!(event.event_type(), Some("greeting"));
    /// ```
    #[must_use]
    #[track_caller]
    pub fn with_event(mut self, event_type: &'static str) -> Self {
        if let Err(error) = check(Field::Event, event_type) {
            panic!("invalid event type {event_type:?}: {error}");
        }
        self.event = Some(Cow::Borrowed(event_type));
        self
    }

    /// Sets the event type from any text. Refuses CR and LF with an
    /// [`EventError`].
    ///
    /// ```
    /// let room = String::from("room-42");
    /// let event = ssekit::Event::message("hi").try_with_event(room)?;
    /// assert_eq!(event.event_type(), Some("room-42"));
    /// assert!(ssekit::Event::message("hi").try_with_event("a\nb").is_err());
    /// # Ok::<(), ssekit::EventError>(())
    /// ```
    pub fn try_with_event(mut self, event_type: impl Into<String>) -> Result<Self, EventError> {
        let event_type = event_type.into();
        check(Field::Event, &event_type)?;
        self.event = Some(Cow::Owned(event_type));
        Ok(self)
    }

    /// Sets the id: a number, or an [`EventId`] checked earlier.
    ///
    /// ```
    /// use ssekit::{Event, EventId};
    ///
    /// assert_eq!(Event::message("a").with_id(42_u64).id(), Some("42"));
    /// assert_eq!(Event::message("b").with_id(EventId::from_static("x-1")).id(), Some("x-1"));
    /// ```
    #[must_use]
    pub fn with_id(mut self, id: impl Into<EventId>) -> Self {
        self.id = Some(id.into().0);
        self
    }

    /// Sets the id from any text. Refuses CR, LF and NUL with an
    /// [`EventError`].
    ///
    /// An empty id is allowed: it resets the client's last event id, so a
    /// reconnecting client sends no `Last-Event-ID` header.
    pub fn try_with_id(self, id: impl Into<String>) -> Result<Self, EventError> {
        Ok(self.with_id(EventId::new(id)?))
    }

    /// Sets the client's reconnection delay. Written in whole milliseconds (any
    /// sub-millisecond part is dropped).
    #[must_use]
    pub fn with_retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Adds a comment. Clients ignore comments; they are for humans and for keeping
    /// idle connections open. Text with line breaks becomes several comment lines.
    #[must_use]
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
    #[must_use]
    pub fn data(&self) -> Option<&str> {
        self.data.as_deref()
    }

    /// The event type, if any.
    #[must_use]
    pub fn event_type(&self) -> Option<&str> {
        self.event.as_deref()
    }

    /// The id, if any.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The reconnection delay, if any.
    #[must_use]
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// All comment text, lines joined with `\n`, if any.
    #[must_use]
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

/// An event id known to be writable: no CR, LF or NUL.
///
/// Numbers convert without a check (`EventId::from(42_u64)`); text goes
/// through [`EventId::new`], or [`EventId::from_static`] for a literal,
/// which is checked at compile time when used in a constant.
///
/// ```
/// use ssekit::EventId;
///
/// const FIRST: EventId = EventId::from_static("first");
/// assert_eq!(FIRST.as_str(), "first");
/// assert_eq!(EventId::from(7_u32).as_str(), "7");
/// assert!(EventId::new("a\0b").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(Cow<'static, str>);

impl EventId {
    /// Checks `id`: refuses CR, LF and NUL.
    pub fn new(id: impl Into<String>) -> Result<Self, EventError> {
        let id = id.into();
        check(Field::Id, &id)?;
        Ok(Self(Cow::Owned(id)))
    }

    /// An id fixed in the program.
    ///
    /// # Panics
    ///
    /// If `id` contains CR, LF or NUL; in a `const`, that is a compile error.
    #[must_use]
    #[track_caller]
    pub const fn from_static(id: &'static str) -> Self {
        let bytes = id.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            assert!(
                !matches!(bytes[i], b'\r' | b'\n' | b'\0'),
                "an event id cannot contain CR, LF or NUL"
            );
            i += 1;
        }
        Self(Cow::Borrowed(id))
    }

    /// The id's text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for EventId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EventId {
    type Error = EventError;

    fn try_from(id: String) -> Result<Self, EventError> {
        Self::new(id)
    }
}

impl TryFrom<&str> for EventId {
    type Error = EventError;

    fn try_from(id: &str) -> Result<Self, EventError> {
        Self::new(id)
    }
}

impl std::str::FromStr for EventId {
    type Err = EventError;

    fn from_str(id: &str) -> Result<Self, EventError> {
        Self::new(id)
    }
}

macro_rules! event_id_from_integers {
    ($($int:ty),*) => {$(
        impl From<$int> for EventId {
            fn from(n: $int) -> Self {
                Self(Cow::Owned(itoa::Buffer::new().format(n).to_owned()))
            }
        }
    )*};
}

event_id_from_integers!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);

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
            let err = Event::new().try_with_event(bad).unwrap_err();
            assert_eq!(
                (err.field(), err.character(), err.position()),
                (Field::Event, ch, 1)
            );
        }
    }

    #[test]
    fn event_type_allows_nul_and_unicode() {
        assert!(Event::new().try_with_event("a\0b").is_ok());
        assert_eq!(
            Event::new().with_event("événement").event_type(),
            Some("événement")
        );
    }

    #[test]
    fn id_refuses_line_breaks_and_nul() {
        for (bad, ch, pos) in [("1\r", '\r', 1), ("\n", '\n', 0), ("ab\0", '\0', 2)] {
            let err = Event::new().try_with_id(bad).unwrap_err();
            assert_eq!(
                (err.field(), err.character(), err.position()),
                (Field::Id, ch, pos)
            );
        }
    }

    #[test]
    fn empty_id_is_allowed() {
        assert_eq!(Event::new().try_with_id("").unwrap().id(), Some(""));
        assert_eq!(
            Event::new().with_id(EventId::from_static("")).id(),
            Some("")
        );
    }

    #[test]
    fn error_message_names_field_and_character() {
        let err = Event::new().try_with_id("a\0").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the `id` field cannot contain U+0000 NULL (found at byte 1)"
        );
    }

    #[test]
    #[should_panic(expected = "invalid event type")]
    fn a_static_event_type_with_a_line_break_is_a_bug() {
        let _ = Event::new().with_event("a\nb");
    }

    #[test]
    #[should_panic(expected = "cannot contain CR, LF or NUL")]
    fn a_static_id_with_nul_is_a_bug() {
        let _ = EventId::from_static("a\0");
    }

    #[test]
    fn numeric_ids_need_no_check() {
        assert_eq!(
            Event::new().with_id(u64::MAX).id(),
            Some("18446744073709551615")
        );
        assert_eq!(Event::new().with_id(-3_i32).id(), Some("-3"));
    }

    #[test]
    fn comments_accumulate() {
        let event = Event::new().with_comment("a").with_comment("b\nc");
        assert_eq!(event.comment(), Some("a\nb\nc"));
    }
}
