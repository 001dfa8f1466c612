//! What a handler may want to know about the request.

use http::HeaderName;

/// The `Last-Event-ID` request header a reconnecting `EventSource` sends.
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// The longest `Last-Event-ID` accepted, in bytes. A longer header is treated as
/// absent: no id this library sends is that long, and the limit keeps a hostile
/// header from reaching history look-ups.
pub const MAX_LAST_EVENT_ID_LEN: usize = 1024;

/// The parts of the request an SSE handler reads, taken from the request by
/// each adapter's extractor.
///
/// ```
/// use ssekit::RequestInfo;
///
/// let info = RequestInfo::new("/chat/stream", Some("room=42"), Some(b"41"));
/// assert_eq!(info.path(), "/chat/stream");
/// assert_eq!(info.last_event_id(), Some("41"));
/// assert_eq!(info.query_param("room").as_deref(), Some("42"));
///
/// // Invalid headers never fail the request; they are treated as absent.
/// assert_eq!(RequestInfo::new("/", None, Some(b"\xff\xfe")).last_event_id(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    path: String,
    query: Option<String>,
    last_event_id: Option<String>,
}

impl RequestInfo {
    /// Builds the info from the request path, the query string (without `?`)
    /// and the raw `Last-Event-ID` header value.
    pub fn new(path: &str, query: Option<&str>, last_event_id: Option<&[u8]>) -> Self {
        Self {
            path: path.to_owned(),
            query: query.filter(|q| !q.is_empty()).map(str::to_owned),
            last_event_id: last_event_id.and_then(parse_last_event_id),
        }
    }

    /// The request path, as the client sent it (without the query).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The client's last event id, if it sent a usable one.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The raw query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The first value of query parameter `name`, percent-decoded (`+` is a
    /// space), if present and valid UTF-8.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key)? == name).then(|| percent_decode(value))?
        })
    }
}

/// Parses a raw `Last-Event-ID` header value. `None` (treated as absent) when it
/// is empty, longer than [`MAX_LAST_EVENT_ID_LEN`], not UTF-8, or contains CR, LF
/// or NUL (no id the encoder writes can).
pub fn parse_last_event_id(raw: &[u8]) -> Option<String> {
    if raw.is_empty() || raw.len() > MAX_LAST_EVENT_ID_LEN {
        return None;
    }
    if memchr::memchr3(b'\r', b'\n', b'\0', raw).is_some() {
        return None;
    }
    std::str::from_utf8(raw).ok().map(str::to_owned)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_event_id_bounds() {
        assert_eq!(parse_last_event_id(b"abc").as_deref(), Some("abc"));
        assert_eq!(parse_last_event_id("é".as_bytes()).as_deref(), Some("é"));
        assert_eq!(parse_last_event_id(b""), None);
        assert_eq!(
            parse_last_event_id(&[b'x'; MAX_LAST_EVENT_ID_LEN]).map(|s| s.len()),
            Some(1024)
        );
        assert_eq!(
            parse_last_event_id(&[b'x'; MAX_LAST_EVENT_ID_LEN + 1]),
            None
        );
        assert_eq!(parse_last_event_id(&vec![b'x'; 1 << 20]), None);
        assert_eq!(parse_last_event_id(b"\xc3"), None);
        assert_eq!(parse_last_event_id(b"a\0"), None);
        assert_eq!(parse_last_event_id(b"a\nb"), None);
    }

    #[test]
    fn query_params() {
        let info = RequestInfo::new("/", Some("a=1&b=x%20y+z&flag&c=%ZZ"), None);
        assert_eq!(info.query_param("a").as_deref(), Some("1"));
        assert_eq!(info.query_param("b").as_deref(), Some("x y z"));
        assert_eq!(info.query_param("flag").as_deref(), Some(""));
        assert_eq!(info.query_param("c"), None);
        assert_eq!(info.query_param("missing"), None);
        assert_eq!(RequestInfo::new("/", Some(""), None).query(), None);
    }
}
