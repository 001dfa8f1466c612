//! A streaming parser for `text/event-stream`, exactly as the WHATWG HTML
//! standard's "event stream interpretation" describes it.
//!
//! This is what a browser's `EventSource` does with the bytes it receives, so it
//! is the oracle for testing a server: feed it what came over the wire, in
//! whatever chunks it came, and compare what it dispatches.
//!
//! Data read back has its line ends normalised: CR and CRLF arrive as LF. So for
//! any valid [`Event`](crate::Event), decoding its encoding gives back its data
//! with `\r\n` and `\r` replaced by `\n`.
//!
//! ```
//! use ssekit::decode::{Decoded, Decoder};
//!
//! let mut decoder = Decoder::new();
//! let mut items = decoder.feed(b"id: 1\nevent: greet\nda").unwrap();
//! assert!(items.is_empty()); // nothing is dispatched before the blank line
//! items = decoder.feed(b"ta: hello\n\n").unwrap();
//! let Decoded::Event(event) = &items[0] else { panic!() };
//! assert_eq!((event.event_type.as_str(), event.data.as_str()), ("greet", "hello"));
//! assert_eq!(event.last_event_id, "1");
//! ```

use std::fmt;
use std::time::Duration;

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// The most a [`Decoder`] buffers for one event (the line being read plus the
/// data gathered so far) unless told otherwise: 16 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// Field names are short: a plain scan over the first bytes beats the
/// setup of a vector search, which takes over for longer ones.
const SHORT_SCAN: usize = 16;

/// Where a line's first colon is, if it has one.
fn colon(line: &[u8]) -> Option<usize> {
    let head = &line[..line.len().min(SHORT_SCAN)];
    if let Some(at) = head.iter().position(|&b| b == b':') {
        return Some(at);
    }
    let tail = line.get(SHORT_SCAN..)?;
    memchr::memchr(b':', tail).map(|at| at + SHORT_SCAN)
}

/// A value as text: borrowed when it is valid UTF-8 (checked by the fast
/// validator), invalid sequences replaced with U+FFFD otherwise.
fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Where the `data` line being streamed into the data started.
#[derive(Debug, Clone, Copy)]
struct StreamedLine {
    /// The data's length before the line's value.
    start: usize,
    /// The bytes of the line before its value: `data:` and the space, if any.
    prefix: usize,
}

impl StreamedLine {
    fn line_len(self, data_len: usize) -> usize {
        self.prefix + (data_len - self.start)
    }
}

/// A dispatched event, as an `EventSource` would hand it to a listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageEvent {
    /// The event type: the last `event:` value, or `"message"` if none or empty.
    pub event_type: String,
    /// The data lines joined with `\n`.
    pub data: String,
    /// The stream's last event id at the time of dispatch.
    pub last_event_id: String,
}

/// What the parser produces.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decoded {
    /// An event was dispatched.
    Event(MessageEvent),
    /// The server set the reconnection time.
    Retry(Duration),
    /// A comment line (clients ignore these), without the colon and with one
    /// leading space stripped. Reported for tools such as keep-alive checks.
    Comment(String),
}

/// Which of a [`Decoder`]'s bounds a stream went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Bound {
    /// One line (the pending line, before its line end) was too long.
    Line,
    /// One event (its pending line plus the data gathered so far) was too large.
    Event,
}

/// The decoder was asked to buffer more than one of its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    limit: usize,
    bound: Bound,
}

impl DecodeError {
    /// The limit in bytes that was exceeded.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Which limit it was: a line's or an event's.
    pub fn bound(&self) -> Bound {
        self.bound
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.bound {
            Bound::Line => "a line",
            Bound::Event => "an event",
        };
        write!(
            f,
            "{what} grew past the decoder's limit of {} bytes",
            self.limit
        )
    }
}

impl std::error::Error for DecodeError {}

/// Incremental `text/event-stream` parser. Feed it chunks; it returns what they
/// complete. Chunk boundaries never matter, not even between the CR and LF of a
/// CRLF or inside a UTF-8 sequence or the BOM.
///
/// Memory is bounded: a line or event longer than the limit
/// ([`DEFAULT_MAX_EVENT_BYTES`] unless set with [`Decoder::with_max_event_bytes`],
/// and a line alone can be held to less with [`Decoder::with_max_line_bytes`])
/// makes `feed` fail, and the decoder stays failed until [`Decoder::restart`].
#[derive(Debug, Clone)]
pub struct Decoder {
    line: Vec<u8>,
    after_cr: bool,
    bom_matched: usize,
    bom_done: bool,
    /// The data lines so far, each followed by LF, as raw bytes: validated
    /// as UTF-8 once, when the event is dispatched.
    data: Vec<u8>,
    /// Set while the pending line is a `data` line whose value is being
    /// appended to `data` as it arrives, instead of to `line`.
    streaming: Option<StreamedLine>,
    event_type: String,
    id_buffer: String,
    last_event_id: String,
    retry: Option<Duration>,
    mid_event: bool,
    max_event_bytes: usize,
    max_line_bytes: usize,
    failed: Option<Bound>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder at the start of a stream, with the default size limit.
    pub fn new() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder that fails once one event (pending line plus data) exceeds `limit` bytes.
    pub fn with_max_event_bytes(limit: usize) -> Self {
        Self {
            line: Vec::new(),
            after_cr: false,
            bom_matched: 0,
            bom_done: false,
            data: Vec::new(),
            streaming: None,
            event_type: String::new(),
            id_buffer: String::new(),
            last_event_id: String::new(),
            retry: None,
            mid_event: false,
            max_event_bytes: limit,
            max_line_bytes: usize::MAX,
            failed: None,
        }
    }

    /// Also fails once one line exceeds `limit` bytes, whatever the event's
    /// size (the event limit still applies to the line too).
    #[must_use]
    pub fn with_max_line_bytes(mut self, limit: usize) -> Self {
        self.max_line_bytes = limit;
        self
    }

    /// Starts with `id` as the last event id, as a client resuming a stream
    /// does (it sent `id` as `Last-Event-ID`).
    #[must_use]
    pub fn with_last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = id.into();
        self.id_buffer.clone_from(&self.last_event_id);
        self
    }

    /// Gets ready for the next connection of the same `EventSource`: what
    /// the last one left unfinished (a partial line, an undispatched event
    /// and its uncommitted id, a failure) is dropped, and a BOM is stripped
    /// again; the last event id and the retry time are kept.
    pub fn restart(&mut self) {
        self.line.clear();
        self.after_cr = false;
        self.bom_matched = 0;
        self.bom_done = false;
        self.data.clear();
        self.streaming = None;
        self.event_type.clear();
        self.id_buffer.clone_from(&self.last_event_id);
        self.mid_event = false;
        self.failed = None;
    }

    /// Parses `chunk` and returns everything it completed, in order.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Decoded>, DecodeError> {
        let mut out = Vec::new();
        self.feed_into(chunk, &mut out)?;
        Ok(out)
    }

    /// Like [`feed`](Self::feed), appending to `out` instead of allocating.
    pub fn feed_into(
        &mut self,
        mut chunk: &[u8],
        out: &mut Vec<Decoded>,
    ) -> Result<(), DecodeError> {
        if let Some(bound) = self.failed {
            return Err(self.error(bound));
        }
        if !self.bom_done {
            chunk = self.skip_bom(chunk, out)?;
        }
        self.feed_lines(chunk, out)
    }

    /// The stream's last event id: the value a reconnecting client would send in
    /// `Last-Event-ID` (it is sent only when not empty).
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The reconnection time the server last set, if it set one.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// True if bytes have arrived since the last blank line: if the stream ended
    /// now, they would be discarded (an event cut off by the end of the stream
    /// is never dispatched).
    pub fn is_mid_event(&self) -> bool {
        self.mid_event
            || !self.line.is_empty()
            || self.streaming.is_some()
            || (!self.bom_done && self.bom_matched > 0)
    }

    fn error(&self, bound: Bound) -> DecodeError {
        let limit = match bound {
            Bound::Line => self.max_line_bytes,
            Bound::Event => self.max_event_bytes,
        };
        DecodeError { limit, bound }
    }

    /// Strips a UTF-8 BOM at the very start of the stream, even when it arrives
    /// split across chunks. Bytes that looked like a BOM start but were not are
    /// parsed as ordinary input.
    fn skip_bom<'a>(
        &mut self,
        mut chunk: &'a [u8],
        out: &mut Vec<Decoded>,
    ) -> Result<&'a [u8], DecodeError> {
        while let Some((&byte, rest)) = chunk.split_first() {
            if byte == BOM[self.bom_matched] {
                self.bom_matched += 1;
                chunk = rest;
                if self.bom_matched == BOM.len() {
                    self.bom_done = true;
                    return Ok(chunk);
                }
            } else {
                self.bom_done = true;
                let matched = self.bom_matched;
                self.feed_lines(&BOM[..matched], out)?;
                return Ok(chunk);
            }
        }
        Ok(chunk)
    }

    fn feed_lines(&mut self, mut chunk: &[u8], out: &mut Vec<Decoded>) -> Result<(), DecodeError> {
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        if let Some(streamed) = self.streaming {
            let Some(at) = memchr::memchr2(b'\r', b'\n', chunk) else {
                self.check_limit(
                    streamed.line_len(self.data.len()) + chunk.len(),
                    streamed.start,
                )?;
                self.data.extend_from_slice(chunk);
                return Ok(());
            };
            self.check_limit(streamed.line_len(self.data.len()) + at, streamed.start)?;
            self.data.extend_from_slice(&chunk[..at]);
            self.data.push(b'\n');
            self.streaming = None;
            chunk = self.after_line_end(chunk, at);
        }
        while let Some(at) = memchr::memchr2(b'\r', b'\n', chunk) {
            if self.line.is_empty() {
                self.check_limit(at, self.data.len())?;
                self.process_line(&chunk[..at], out);
            } else {
                self.check_limit(self.line.len() + at, self.data.len())?;
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&chunk[..at]);
                self.process_line(&line, out);
                line.clear();
                self.line = line;
            }
            chunk = self.after_line_end(chunk, at);
        }
        if !chunk.is_empty() {
            self.check_limit(self.line.len() + chunk.len(), self.data.len())?;
            self.line.extend_from_slice(chunk);
            self.stream_data_line();
        }
        Ok(())
    }

    /// What follows the line end at `chunk[at]`; a CR at the very end of the
    /// chunk may be the first half of a CRLF, so a leading LF of the next
    /// chunk is then skipped.
    fn after_line_end<'a>(&mut self, chunk: &'a [u8], at: usize) -> &'a [u8] {
        let is_cr = chunk[at] == b'\r';
        let rest = &chunk[at + 1..];
        if is_cr {
            match rest.first() {
                Some(b'\n') => return &rest[1..],
                Some(_) => {}
                None => self.after_cr = true,
            }
        }
        rest
    }

    /// A `data` line cut by the end of a chunk goes on straight into the
    /// data, so a long one (a 64 KiB JSON payload, say) is copied once, not
    /// into the line buffer first.
    fn stream_data_line(&mut self) {
        // Six bytes tell whether the value starts with the space to strip.
        if self.line.len() < 6 || !self.line.starts_with(b"data:") {
            return;
        }
        let prefix = if self.line[5] == b' ' { 6 } else { 5 };
        let start = self.data.len();
        self.data.extend_from_slice(&self.line[prefix..]);
        self.line.clear();
        self.mid_event = true;
        self.streaming = Some(StreamedLine { start, prefix });
    }

    /// `line_len` is the pending line's length, `data_before` the data
    /// gathered before that line.
    fn check_limit(&mut self, line_len: usize, data_before: usize) -> Result<(), DecodeError> {
        let bound = if line_len > self.max_line_bytes {
            Bound::Line
        } else if line_len.saturating_add(data_before) > self.max_event_bytes {
            Bound::Event
        } else {
            return Ok(());
        };
        self.failed = Some(bound);
        // Give the memory back: a failed stream is usually dropped, but a
        // restarted one must not keep a huge buffer's capacity around.
        self.line = Vec::new();
        self.data = Vec::new();
        self.streaming = None;
        Err(self.error(bound))
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<Decoded>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        // Lines end only at CR and LF, and names at a colon, none of which
        // occurs inside a multi-byte sequence: so decoding each value (and
        // the data, once, at dispatch) equals decoding the whole stream.
        if let Some(comment) = line.strip_prefix(b":") {
            let comment = comment.strip_prefix(b" ").unwrap_or(comment);
            out.push(Decoded::Comment(text(comment).into_owned()));
            return;
        }
        self.mid_event = true;
        let (name, value) = match colon(line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        self.process_field(name, value, out);
    }

    fn process_field(&mut self, name: &[u8], value: &[u8], out: &mut Vec<Decoded>) {
        match name {
            b"data" => {
                // One allocation for a one-line event's data, not a second
                // one for its LF.
                self.data.reserve(value.len() + 1);
                self.data.extend_from_slice(value);
                self.data.push(b'\n');
            }
            b"event" => {
                self.event_type.clear();
                self.event_type.push_str(&text(value));
            }
            b"id" if !value.contains(&0) => {
                self.id_buffer.clear();
                self.id_buffer.push_str(&text(value));
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // A value too large for u64 milliseconds is ignored rather than wrapped.
                let ms = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok());
                if let Some(ms) = ms {
                    let retry = Duration::from_millis(ms);
                    self.retry = Some(retry);
                    out.push(Decoded::Retry(retry));
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Decoded>) {
        self.mid_event = false;
        if self.last_event_id != self.id_buffer {
            self.last_event_id.clone_from(&self.id_buffer);
        }
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        self.data.pop(); // the LF after the last data line
        let event_type = match std::mem::take(&mut self.event_type) {
            empty if empty.is_empty() => "message".to_owned(),
            named => named,
        };
        let data = match String::from_utf8(std::mem::take(&mut self.data)) {
            Ok(data) => data,
            // Invalid UTF-8 becomes U+FFFD, as the UTF-8 decode algorithm says.
            Err(invalid) => String::from_utf8_lossy(invalid.as_bytes()).into_owned(),
        };
        out.push(Decoded::Event(MessageEvent {
            event_type,
            data,
            last_event_id: self.last_event_id.clone(),
        }));
    }
}

/// Decodes a complete stream held in memory. Anything after the last blank line
/// is discarded, as a client would at the end of the stream.
///
/// ```
/// let items = ssekit::decode::decode_all(b"data: a\n\ndata: cut off").unwrap();
/// assert_eq!(items.len(), 1);
/// ```
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Decoded>, DecodeError> {
    Decoder::new().feed(bytes)
}

/// Just the dispatched events of [`decode_all`]; a convenience for tests.
pub fn events(bytes: &[u8]) -> Result<Vec<MessageEvent>, DecodeError> {
    Ok(decode_all(bytes)?
        .into_iter()
        .filter_map(|item| match item {
            Decoded::Event(event) => Some(event),
            _ => None,
        })
        .collect())
}
