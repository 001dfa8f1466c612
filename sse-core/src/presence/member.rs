//! Who is present: a member's id and what it shows of itself, checked so
//! that they travel on any backplane and fit in one line of a control event.

use std::fmt;

/// The longest member id, in bytes.
pub const MAX_MEMBER_ID_LEN: usize = 128;

/// The longest [`Member::info`], in bytes.
pub const MAX_MEMBER_INFO_LEN: usize = 256;

/// One member of a topic's presence: an id (a user name, an account id)
/// and optional info shown to the others (a display name, an avatar URL, a
/// small JSON object).
///
/// A member with several connections to a topic (tabs, devices, nodes) is
/// present once: it joins with its first connection anywhere and leaves with
/// its last.
///
/// ```
/// use ssekit::presence::Member;
///
/// let alice = Member::new("alice")?.with_info(r#"{"name":"Alice"}"#)?;
/// assert_eq!(alice.id(), "alice");
/// assert!(Member::new("two\nlines").is_err());
/// # Ok::<(), ssekit::presence::PresenceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Member {
    id: String,
    info: Option<String>,
}

impl Member {
    /// A member with `id`: 1 to [`MAX_MEMBER_ID_LEN`] bytes, no control
    /// characters.
    pub fn new(id: impl Into<String>) -> Result<Self, PresenceError> {
        let id = id.into();
        if id.is_empty() {
            return Err(PresenceError::InvalidMember("the id is empty"));
        }
        if id.len() > MAX_MEMBER_ID_LEN {
            return Err(PresenceError::InvalidMember("the id is over 128 bytes"));
        }
        if id.chars().any(char::is_control) {
            return Err(PresenceError::InvalidMember(
                "the id has a control character",
            ));
        }
        Ok(Self { id, info: None })
    }

    /// Sets the info the other subscribers see: up to
    /// [`MAX_MEMBER_INFO_LEN`] bytes, no control characters.
    pub fn with_info(mut self, info: impl Into<String>) -> Result<Self, PresenceError> {
        let info = info.into();
        if info.len() > MAX_MEMBER_INFO_LEN {
            return Err(PresenceError::InvalidMember("the info is over 256 bytes"));
        }
        if info.chars().any(char::is_control) {
            return Err(PresenceError::InvalidMember(
                "the info has a control character",
            ));
        }
        self.info = Some(info);
        Ok(self)
    }

    /// The member's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The member's info, if it has some.
    #[must_use]
    pub fn info(&self) -> Option<&str> {
        self.info.as_deref()
    }

    /// `{"id":…}` or `{"id":…,"info":…}`.
    pub(crate) fn write_json(&self, out: &mut String) {
        out.push_str("{\"id\":");
        json_string(out, &self.id);
        if let Some(info) = &self.info {
            out.push_str(",\"info\":");
            json_string(out, info);
        }
        out.push('}');
    }
}

/// Members hold no control characters, so only the quote and the backslash
/// need escaping.
fn json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Why a member could not join, or presence could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PresenceError {
    /// The member's id or info is not allowed (empty, too long, a control
    /// character).
    InvalidMember(&'static str),
    /// The topic already has its
    /// [`max_members`](super::PresenceConfig::with_max_members) members on
    /// this node.
    TopicFull {
        /// The limit.
        max_members: usize,
    },
    /// This node already tracks its
    /// [`max_topics`](super::PresenceConfig::with_max_topics) topics.
    TooManyTopics {
        /// The limit.
        max_topics: usize,
    },
}

impl fmt::Display for PresenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidMember(why) => write!(f, "invalid presence member: {why}"),
            Self::TopicFull { max_members } => {
                write!(f, "the topic has its {max_members} members on this node")
            }
            Self::TooManyTopics { max_topics } => {
                write!(
                    f,
                    "this node tracks the presence of {max_topics} topics already"
                )
            }
        }
    }
}

impl std::error::Error for PresenceError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_info_are_checked() {
        assert!(Member::new("").is_err());
        assert!(Member::new("a".repeat(MAX_MEMBER_ID_LEN)).is_ok());
        assert!(Member::new("a".repeat(MAX_MEMBER_ID_LEN + 1)).is_err());
        for bad in ["a\nb", "a\rb", "a\tb", "a\0b", "a\u{7f}b", "a\u{85}b"] {
            assert!(Member::new(bad).is_err(), "{bad:?}");
            let member = Member::new("a").unwrap();
            assert!(member.with_info(bad).is_err(), "{bad:?}");
        }
        let member = Member::new("a").unwrap();
        assert!(member
            .clone()
            .with_info("i".repeat(MAX_MEMBER_INFO_LEN))
            .is_ok());
        assert!(member
            .with_info("i".repeat(MAX_MEMBER_INFO_LEN + 1))
            .is_err());
    }

    #[test]
    fn json_escapes_quotes_and_backslashes() {
        let member = Member::new(r#"a"b\c"#).unwrap().with_info("é").unwrap();
        let mut out = String::new();
        member.write_json(&mut out);
        assert_eq!(out, r#"{"id":"a\"b\\c","info":"é"}"#);
    }
}
