//! What a handler may want to know about the request.

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

/// The `Last-Event-ID` request header a reconnecting `EventSource` sends.
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// The longest `Last-Event-ID` accepted, in bytes. A longer header is treated as
/// absent: no id this library sends is that long, and the limit keeps a hostile
/// header from reaching history look-ups.
pub const MAX_LAST_EVENT_ID_LEN: usize = 1024;

/// The request as an SSE handler sees it, whatever the framework: method,
/// path, query, headers and the client's last event id.
///
/// Each adapter's extractor builds it (see
/// [`adapter::request_info`](crate::adapter::request_info)); handlers read it
/// through [`SsePublisher::request`](crate::SsePublisher::request), for
/// example to authorize a stream before opening it.
///
/// ```
/// use ssekit::adapter;
///
/// let uri: http::Uri = "/chat/stream?room=42".parse().unwrap();
/// let mut headers = http::HeaderMap::new();
/// headers.insert("last-event-id", "41".parse().unwrap());
/// headers.insert("authorization", "Bearer t0ken".parse().unwrap());
/// let info = adapter::request_info(http::Method::GET, &uri, headers);
///
/// assert_eq!(info.path(), "/chat/stream");
/// assert_eq!(info.last_event_id(), Some("41"));
/// assert_eq!(info.query_param("room").as_deref(), Some("42"));
/// assert_eq!(info.header("authorization").unwrap(), "Bearer t0ken");
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    last_event_id: Option<String>,
}

impl RequestInfo {
    pub(crate) fn new(method: Method, uri: &Uri, headers: HeaderMap) -> Self {
        let last_event_id = headers
            .get(LAST_EVENT_ID)
            .and_then(|value| parse_last_event_id(value.as_bytes()));
        Self {
            method,
            path: uri.path().to_owned(),
            query: uri.query().filter(|q| !q.is_empty()).map(str::to_owned),
            headers,
            last_event_id,
        }
    }

    /// The request method.
    #[must_use]
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request path, as the client sent it (without the query).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The client's last event id, if it sent a usable one: a `Last-Event-ID`
    /// that is empty, longer than [`MAX_LAST_EVENT_ID_LEN`], not UTF-8, or
    /// holds CR, LF or NUL counts as absent (it never fails the request).
    #[must_use]
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The raw query string (without `?`), if any.
    #[must_use]
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The first value of query parameter `name`, decoded as
    /// `application/x-www-form-urlencoded` (the WHATWG URL standard's rules:
    /// `+` is a space, `%XX` a byte, a `%` not followed by two hex digits is
    /// kept as it is, and bytes that are not UTF-8 become U+FFFD).
    ///
    /// ```
    /// # let info = ssekit::adapter::request_info(http::Method::GET, &"/?q=a+b%21&p=%+5".parse().unwrap(), Default::default());
    /// assert_eq!(info.query_param("q").as_deref(), Some("a b!"));
    /// assert_eq!(info.query_param("p").as_deref(), Some("% 5"));
    /// ```
    #[must_use]
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query()?.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The request headers.
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The first value of request header `name`, if present.
    #[must_use]
    pub fn header(&self, name: impl http::header::AsHeaderName) -> Option<&HeaderValue> {
        self.headers.get(name)
    }
}

/// Parses a raw `Last-Event-ID` header value. `None` (treated as absent) when it
/// is empty, longer than [`MAX_LAST_EVENT_ID_LEN`], not UTF-8, or contains CR, LF
/// or NUL (no id the encoder writes can).
///
/// ```
/// assert_eq!(ssekit::adapter::parse_last_event_id(b"42").as_deref(), Some("42"));
/// assert_eq!(ssekit::adapter::parse_last_event_id(b"\xff"), None);
/// ```
#[must_use]
pub fn parse_last_event_id(raw: &[u8]) -> Option<String> {
    if raw.is_empty() || raw.len() > MAX_LAST_EVENT_ID_LEN {
        return None;
    }
    if memchr::memchr3(b'\r', b'\n', b'\0', raw).is_some() {
        return None;
    }
    std::str::from_utf8(raw).ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(uri: &str, last_event_id: Option<&[u8]>) -> RequestInfo {
        let mut headers = HeaderMap::new();
        if let Some(raw) = last_event_id {
            headers.insert(LAST_EVENT_ID, HeaderValue::from_bytes(raw).unwrap());
        }
        RequestInfo::new(Method::GET, &uri.parse().unwrap(), headers)
    }

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
    fn the_header_reaches_last_event_id_only_when_usable() {
        assert_eq!(info("/", Some(b"41")).last_event_id(), Some("41"));
        assert_eq!(info("/", Some(b"\xff\xfe")).last_event_id(), None);
        assert_eq!(info("/", None).last_event_id(), None);
    }

    #[test]
    fn query_params() {
        let info = info("/?a=1&b=x%20y+z&flag&c=%ZZ&d=%+5&e=%C3%A9&f=%FF", None);
        assert_eq!(info.query_param("a").as_deref(), Some("1"));
        assert_eq!(info.query_param("b").as_deref(), Some("x y z"));
        assert_eq!(info.query_param("flag").as_deref(), Some(""));
        // Not an escape: kept as it is (it used to be dropped).
        assert_eq!(info.query_param("c").as_deref(), Some("%ZZ"));
        // `%+5` is not `%05`: the `+` is a space and the `%` stays.
        assert_eq!(info.query_param("d").as_deref(), Some("% 5"));
        assert_eq!(info.query_param("e").as_deref(), Some("é"));
        assert_eq!(info.query_param("f").as_deref(), Some("\u{FFFD}"));
        assert_eq!(info.query_param("missing"), None);
    }

    #[test]
    fn an_empty_query_is_none() {
        assert_eq!(info("/?", None).query(), None);
        assert_eq!(info("/x", None).query(), None);
    }
}
