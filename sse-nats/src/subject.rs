//! Topic names as single NATS subject tokens.

/// The NATS subject events of `topic` are published on: `<prefix>.<token>`.
///
/// The token keeps ASCII letters, digits, `-` and `_` as they are and writes
/// every other byte of the topic's UTF-8 as `%XX` (upper-case hex), so any
/// string, including ones with `.`, `*`, `>`, spaces or `%`, is one safe
/// subject token, and distinct topics get distinct subjects. The empty topic
/// is `%` alone (which no other topic encodes to).
///
/// ```
/// assert_eq!(ssekit_nats::topic_subject("sse", "chat"), "sse.chat");
/// assert_eq!(ssekit_nats::topic_subject("sse", "room.1 *"), "sse.room%2E1%20%2A");
/// assert_eq!(ssekit_nats::topic_subject("sse", ""), "sse.%");
/// ```
pub fn topic_subject(prefix: &str, topic: &str) -> String {
    let mut subject = String::with_capacity(prefix.len() + 1 + topic.len());
    subject.push_str(prefix);
    subject.push('.');
    if topic.is_empty() {
        subject.push('%');
    }
    for byte in topic.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            subject.push(byte as char);
        } else {
            subject.push('%');
            subject.push(HEX[usize::from(byte >> 4)] as char);
            subject.push(HEX[usize::from(byte & 0xf)] as char);
        }
    }
    subject
}

/// The first token of the subjects the stream republishes events to.
pub(crate) const LIVE: &str = "_SSE_LIVE";

/// The core NATS subject the stream republishes `topic`'s events to:
/// `_SSE_LIVE.<prefix>.<token>`.
pub(crate) fn live_subject(prefix: &str, topic: &str) -> String {
    format!("{LIVE}.{}", topic_subject(prefix, topic))
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_topic_is_one_token() {
        for topic in [
            "",
            "a",
            "a.b",
            "*",
            ">",
            "a b\tc\r\n",
            "%",
            "%25",
            "é☃",
            "x>",
        ] {
            let subject = topic_subject("p", topic);
            let token = subject.strip_prefix("p.").unwrap();
            assert!(!token.is_empty());
            assert!(token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_%".contains(&b)));
        }
        assert_ne!(topic_subject("p", "%"), topic_subject("p", ""));
        assert_ne!(topic_subject("p", "%25"), topic_subject("p", "%"));
        assert_eq!(topic_subject("p", "é"), "p.%C3%A9");
    }
}
