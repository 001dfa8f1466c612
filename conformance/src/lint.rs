//! `ssekit-conformance lint URL`: connects to any SSE endpoint, reads its head and
//! (for a bounded time and size) its stream, and reports what a browser's
//! `EventSource`, a proxy or a non-browser client would trip over.
//!
//! The rules come from the WHATWG HTML standard's server-sent events section,
//! plus the practical ones about proxies and buffering. The pure parts,
//! [`analyse_head`] and [`analyse_stream`], work on values already in hand and
//! can be used without a network.
//!
//! # Findings
//!
//! Each [`Finding`] has a [`Severity`], a stable kebab-case code, a message and,
//! for stream findings, the [`Location`] of the first occurrence. Repeats of
//! the same code and detail are folded into one finding with a count.
//!
//! | code | severity | what |
//! |---|---|---|
//! | `connect-failed` | error | the request failed before a response head arrived |
//! | `head-timeout` | error | no response head within the time limit |
//! | `redirected` | info | redirects were followed to another URL |
//! | `no-content` | info | status 204: `EventSource` stops reconnecting; nothing else is checked |
//! | `status` | error | a status other than 200 (or 204): `EventSource` fails the connection |
//! | `content-type` | error | the MIME type essence is not `text/event-stream` |
//! | `charset` | info | a `charset` other than UTF-8, which clients ignore |
//! | `no-cache-control` | warning | no `Cache-Control: no-cache` or `no-store` |
//! | `compressed` | warning | a `Content-Encoding` other than `identity` |
//! | `no-x-accel-buffering` | info | no `X-Accel-Buffering: no` |
//! | `content-length` | warning | a `Content-Length`: the stream is finite |
//! | `hop-by-hop-over-h2` | error | a connection-specific header over HTTP/2 or later |
//! | `stream-not-analysed` | info | the body was compressed, so its bytes were not checked |
//! | `body-failed` | error | reading the body failed before it ended |
//! | `bom` | info | a UTF-8 BOM at the start (clients strip it) |
//! | `invalid-utf8` | error | bytes that are not UTF-8 (clients see U+FFFD) |
//! | `lone-cr` | warning | a line ends in a lone CR |
//! | `mixed-line-endings` | info | more than one line-ending style |
//! | `no-space-after-colon` | info | `data:x` rather than `data: x` |
//! | `unknown-field` | warning | a field name other than `data`, `event`, `id`, `retry` |
//! | `invalid-retry` | error | a `retry` value that is not all ASCII digits |
//! | `id-with-nul` | error | an `id` value containing NUL |
//! | `event-type-empty` | info | `event:` with an empty value (dispatched as `message`) |
//! | `event-type-whitespace` | warning | an event type with leading or trailing whitespace |
//! | `event-without-data` | warning | a block with `event:` but no `data:`: nothing is dispatched |
//! | `unterminated-event` | error | the body ended in the middle of an event |
//! | `no-events` | warning | the body ended without dispatching any event |
//! | `read-limit` | info | reading stopped at the time or byte limit |
//! | `no-bytes` | info | nothing arrived after the head before the time limit |

use std::fmt::{self, Write as _};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use ssekit::decode::{Decoded, Decoder};

use crate::client::describe;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How many distinct unknown field names get a finding of their own; the rest
/// are folded into one, so that a non-SSE body (say, an HTML page) does not
/// bury everything else.
const MAX_UNKNOWN_FIELD_NAMES: usize = 10;

/// What to send and how long and how much to read.
#[derive(Debug, Clone, clap::Args)]
pub struct LintOptions {
    /// Seconds to wait for the head and read the stream, in all.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Stop reading the stream after this many bytes.
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub max_bytes: usize,
    /// Use HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
    #[arg(long)]
    pub http2: bool,
    /// Send this `Last-Event-ID`, as a reconnecting client would.
    #[arg(long)]
    pub last_event_id: Option<String>,
    /// An extra request header, e.g. `-H 'Authorization: Bearer …'` (repeatable;
    /// replaces a default header of the same name).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = parse_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Default for LintOptions {
    fn default() -> Self {
        Self {
            seconds: 10,
            max_bytes: 8 * 1024 * 1024,
            http2: false,
            last_event_id: None,
            headers: Vec::new(),
        }
    }
}

/// Parses `Name: value` for `--header`.
fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not `Name: value`"))?;
    let name =
        HeaderName::try_from(name.trim()).map_err(|e| format!("header name {name:?}: {e}"))?;
    let value =
        HeaderValue::try_from(value.trim()).map_err(|e| format!("header value {value:?}: {e}"))?;
    Ok((name, value))
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Clients lose events, fail or misbehave.
    Error,
    /// Works with browsers, but proxies or some clients get it wrong.
    Warning,
    /// Worth knowing; nothing is wrong.
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
            Severity::Info => "INFO",
        })
    }
}

/// Where in the body a finding first occurred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    /// 1-based line number; CRLF, LF and a lone CR each end one line, and a
    /// leading BOM is not counted.
    pub line: usize,
    /// 0-based byte offset into the body as received (BOM included).
    pub byte: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, byte {}", self.line, self.byte)
    }
}

/// One problem (or fact) found in the head or stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// Stable kebab-case code, e.g. `lone-cr` (see the [module docs](self)).
    pub code: &'static str,
    /// What distinguishes findings of the same code that are reported
    /// separately, e.g. the unknown field's name or the header's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What was found and why it matters, for people; describes the first occurrence.
    pub message: String,
    /// Where it first occurred, for findings in the stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// How many times it occurred (at least 1).
    pub count: usize,
}

/// Gathers findings, folding repeats of one code and detail together.
#[derive(Debug, Default)]
struct Findings(Vec<Finding>);

impl Findings {
    /// The message is built only for the first occurrence, since repeats in a
    /// large stream would otherwise allocate for nothing.
    fn add(
        &mut self,
        severity: Severity,
        code: &'static str,
        detail: Option<String>,
        location: Option<Location>,
        message: impl FnOnce() -> String,
    ) {
        if let Some(existing) = self
            .0
            .iter_mut()
            .find(|f| f.code == code && f.detail == detail)
        {
            existing.count += 1;
            return;
        }
        self.0.push(Finding {
            severity,
            code,
            detail,
            message: message(),
            location,
            count: 1,
        });
    }
}

/// Checks a response head: status, then (for 200 only) the headers.
///
/// A 204 yields only `no-content` and any other status other than 200 only
/// `status`, since clients never read the body of either.
pub fn analyse_head(status: u16, version: http::Version, headers: &HeaderMap) -> Vec<Finding> {
    let mut out = Findings::default();
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    if status == 204 {
        out.add(Severity::Info, "no-content", None, None, || {
            "status 204 No Content tells EventSource to stop reconnecting; nothing else is checked"
                .into()
        });
        return out.0;
    }
    if status != 200 {
        out.add(Severity::Error, "status", None, None, || {
            format!("status {status}{reason}: EventSource fails the connection on anything but 200 and does not reconnect")
        });
        return out.0;
    }

    let text = |name: &HeaderName| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
    };

    match text(&header::CONTENT_TYPE) {
        None => out.add(Severity::Error, "content-type", None, None, || {
            "no Content-Type: EventSource fails the connection unless it is text/event-stream"
                .into()
        }),
        Some(content_type) => {
            let mut parts = content_type.split(';');
            let essence = parts.next().unwrap_or("").trim();
            if !essence.eq_ignore_ascii_case("text/event-stream") {
                out.add(Severity::Error, "content-type", None, None, || {
                    format!("Content-Type is {content_type:?}: EventSource fails the connection unless it is text/event-stream")
                });
            } else {
                let charset = parts
                    .filter_map(|p| p.split_once('='))
                    .find_map(|(name, value)| {
                        name.trim()
                            .eq_ignore_ascii_case("charset")
                            .then(|| value.trim().trim_matches('"').to_owned())
                    });
                if let Some(charset) = charset.filter(|c| !c.eq_ignore_ascii_case("utf-8")) {
                    out.add(Severity::Info, "charset", None, None, || {
                        format!("Content-Type says charset={charset}, but clients always decode the stream as UTF-8")
                    });
                }
            }
        }
    }

    let no_cache = headers.get_all(header::CACHE_CONTROL).iter().any(|value| {
        String::from_utf8_lossy(value.as_bytes())
            .split(',')
            .any(|directive| {
                let name = directive.split('=').next().unwrap_or("").trim();
                name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store")
            })
    });
    if !no_cache {
        out.add(Severity::Warning, "no-cache-control", None, None, || {
            match text(&header::CACHE_CONTROL) {
                Some(value) => format!("Cache-Control is {value:?}, without no-cache or no-store: a cache may store or replay the stream"),
                None => "no Cache-Control: no-cache: a cache may store or replay the stream".into(),
            }
        });
    }

    if let Some(encoding) = text(&header::CONTENT_ENCODING) {
        if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") {
            out.add(Severity::Warning, "compressed", None, None, || {
                format!("Content-Encoding is {encoding:?} although none was asked for: a compressor may hold events back until its buffer fills")
            });
        }
    }

    let accel_off = text(&HeaderName::from_static("x-accel-buffering"))
        .is_some_and(|v| v.eq_ignore_ascii_case("no"));
    if !accel_off {
        out.add(Severity::Info, "no-x-accel-buffering", None, None, || {
            "no X-Accel-Buffering: no: nginx (and proxies that honour it) would buffer the stream"
                .into()
        });
    }

    if let Some(length) = text(&header::CONTENT_LENGTH) {
        out.add(Severity::Warning, "content-length", None, None, || {
            format!(
                "Content-Length is {length}: the stream is finite and ends after that many bytes"
            )
        });
    }

    if version >= http::Version::HTTP_2 {
        for name in &ssekit::adapter::HOP_BY_HOP {
            if headers.contains_key(name) {
                out.add(Severity::Error, "hop-by-hop-over-h2", Some(name.as_str().to_owned()), None, || {
                    format!("{name} is a connection-specific header, forbidden over {version:?}: clients treat the response as malformed")
                });
            }
        }
    }
    out.0
}

/// What [`StreamAnalysis::new`] found in a body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct StreamAnalysis {
    /// The findings, in order of first occurrence.
    pub findings: Vec<Finding>,
    /// How many events an `EventSource` would dispatch from these bytes.
    pub events: usize,
    /// How many comment lines arrived.
    pub comments: usize,
}

impl StreamAnalysis {
    /// Analyses a body's bytes. `ended` says the body really ended there; when
    /// it is false (reading was cut short) the bytes after the last line end
    /// are left alone, since they may be a line, a UTF-8 sequence or a CRLF
    /// cut in two.
    pub fn new(bytes: &[u8], ended: bool) -> Self {
        let mut decoder = Decoder::with_max_event_bytes(usize::MAX);
        // With no limit, decoding cannot fail.
        let items = decoder.feed(bytes).unwrap_or_default();
        let events = items
            .iter()
            .filter(|i| matches!(i, Decoded::Event(_)))
            .count();
        let comments = items
            .iter()
            .filter(|i| matches!(i, Decoded::Comment(_)))
            .count();

        let mut scan = Scan::new();
        scan.run(bytes, ended);
        let mut out = scan.out;

        if ended && decoder.is_mid_event() {
            let location = scan.pending.unwrap_or(scan.block_start);
            out.add(Severity::Error, "unterminated-event", None, Some(location), || {
                "the body ended in the middle of an event (no blank line after it): the last event is never dispatched".into()
            });
        }
        if ended && events == 0 {
            out.add(Severity::Warning, "no-events", None, None, || {
                if bytes.is_empty() {
                    "the body ended without any bytes".into()
                } else {
                    "the body ended without dispatching any event (an event needs a data field and a blank line)".into()
                }
            });
        }
        Self {
            findings: out.0,
            events,
            comments,
        }
    }
}

/// Checks a body's bytes line by line; see [`StreamAnalysis::new`] for `ended`.
pub fn analyse_stream(bytes: &[u8], ended: bool) -> Vec<Finding> {
    StreamAnalysis::new(bytes, ended).findings
}

/// A line ending style, as an index into [`Scan::endings`].
#[derive(Debug, Clone, Copy)]
enum Ending {
    Lf = 0,
    CrLf = 1,
    Cr = 2,
}

const ENDING_NAMES: [&str; 3] = ["LF", "CRLF", "CR"];

/// The state of the raw line scan. It works on raw bytes because the decoder
/// normalises away exactly what is checked here: line endings, the BOM and
/// invalid UTF-8.
#[derive(Debug)]
struct Scan {
    out: Findings,
    endings: [usize; 3],
    /// Where the first non-comment line after the last blank line is.
    pending: Option<Location>,
    /// Where the current block (after the last blank line) starts.
    block_start: Location,
    block_has_event: bool,
    block_has_data: bool,
    unknown_names: usize,
}

impl Scan {
    fn new() -> Self {
        Self {
            out: Findings::default(),
            endings: [0; 3],
            pending: None,
            block_start: Location { line: 1, byte: 0 },
            block_has_event: false,
            block_has_data: false,
            unknown_names: 0,
        }
    }

    fn run(&mut self, bytes: &[u8], ended: bool) {
        let mut pos = 0;
        if bytes.starts_with(BOM) {
            self.out.add(
                Severity::Info,
                "bom",
                None,
                Some(Location { line: 1, byte: 0 }),
                || "the stream starts with a UTF-8 BOM, which clients strip".into(),
            );
            pos = BOM.len();
        }
        let mut line_no = 1;
        self.block_start = Location { line: 1, byte: pos };
        while let Some(at) = bytes[pos..].iter().position(|&b| b == b'\r' || b == b'\n') {
            let end = pos + at;
            let (ending, len) = match (bytes[end], bytes.get(end + 1)) {
                (b'\n', _) => (Ending::Lf, 1),
                (_, Some(b'\n')) => (Ending::CrLf, 2),
                (_, Some(_)) => (Ending::Cr, 1),
                // A CR as the last byte read may be the first half of a CRLF.
                (_, None) if !ended => break,
                (_, None) => (Ending::Cr, 1),
            };
            let location = Location {
                line: line_no,
                byte: pos,
            };
            self.line(&bytes[pos..end], location);
            self.ending(
                ending,
                Location {
                    line: line_no,
                    byte: end,
                },
            );
            pos = end + len;
            line_no += 1;
            if at == 0 {
                self.block_start = Location {
                    line: line_no,
                    byte: pos,
                };
            }
        }
        if ended && pos < bytes.len() {
            self.line(
                &bytes[pos..],
                Location {
                    line: line_no,
                    byte: pos,
                },
            );
        }
    }

    fn ending(&mut self, ending: Ending, location: Location) {
        let index = ending as usize;
        let first_of_style = self.endings[index] == 0;
        self.endings[index] += 1;
        if matches!(ending, Ending::Cr) {
            self.out.add(Severity::Warning, "lone-cr", None, Some(location), || {
                "a line ends in a lone CR: valid, but many non-browser clients only split lines at LF".into()
            });
        }
        if first_of_style && self.endings.iter().filter(|&&n| n > 0).count() == 2 {
            let endings = self.endings;
            self.out.add(
                Severity::Info,
                "mixed-line-endings",
                None,
                Some(location),
                || {
                    let used: Vec<&str> = (0..3)
                        .filter(|&i| endings[i] > 0)
                        .map(|i| ENDING_NAMES[i])
                        .collect();
                    format!(
                        "line endings mix {}: valid, but a sign of text pasted together",
                        used.join(" and ")
                    )
                },
            );
        }
    }

    fn line(&mut self, line: &[u8], location: Location) {
        if line.is_empty() {
            if self.block_has_event && !self.block_has_data {
                let at = self.pending.unwrap_or(self.block_start);
                self.out.add(Severity::Warning, "event-without-data", None, Some(at), || {
                    "an event with an event type but no data field: clients dispatch nothing for it".into()
                });
            }
            self.pending = None;
            self.block_has_event = false;
            self.block_has_data = false;
            return;
        }
        if let Err(e) = std::str::from_utf8(line) {
            let at = Location {
                line: location.line,
                byte: location.byte + e.valid_up_to(),
            };
            self.out
                .add(Severity::Error, "invalid-utf8", None, Some(at), || {
                    "a line is not valid UTF-8: clients see U+FFFD in its place".into()
                });
        }
        if line[0] == b':' {
            return;
        }
        self.pending.get_or_insert(location);

        let (name, value, spaced) = match line.iter().position(|&b| b == b':') {
            Some(colon) => match line[colon + 1..].strip_prefix(b" ") {
                Some(value) => (&line[..colon], value, true),
                None => (&line[..colon], &line[colon + 1..], false),
            },
            None => (line, &[][..], true),
        };
        let known = matches!(name, b"data" | b"event" | b"id" | b"retry");
        if known && !spaced && !value.is_empty() {
            self.out.add(Severity::Info, "no-space-after-colon", None, Some(location), || {
                format!(
                    "{:?} has no space after the colon: valid, but a value that ever starts with a space loses it",
                    lossy_prefix(line)
                )
            });
        }
        match name {
            b"data" => self.block_has_data = true,
            b"event" => {
                self.block_has_event = true;
                if value.is_empty() {
                    self.out.add(Severity::Info, "event-type-empty", None, Some(location), || {
                        "an event field with an empty value: the event is dispatched as \"message\"".into()
                    });
                } else if value.first().is_some_and(u8::is_ascii_whitespace)
                    || value.last().is_some_and(u8::is_ascii_whitespace)
                {
                    self.out.add(Severity::Warning, "event-type-whitespace", None, Some(location), || {
                        format!(
                            "event type {:?} has leading or trailing whitespace, which is kept: listeners for the trimmed name never fire",
                            String::from_utf8_lossy(value)
                        )
                    });
                }
            }
            b"id" => {
                if value.contains(&0) {
                    self.out
                        .add(Severity::Error, "id-with-nul", None, Some(location), || {
                            "an id contains NUL: clients ignore the whole id field".into()
                        });
                }
            }
            b"retry" => {
                if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                    self.out.add(
                        Severity::Error,
                        "invalid-retry",
                        None,
                        Some(location),
                        || {
                            format!(
                                "retry value {:?} is not all ASCII digits: clients ignore it",
                                lossy_prefix(value)
                            )
                        },
                    );
                }
            }
            _ => self.unknown_field(name, location),
        }
    }

    fn unknown_field(&mut self, name: &[u8], location: Location) {
        let name = lossy_prefix(name);
        let hint = if ["data", "event", "id", "retry"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(name.trim()))
        {
            if name.trim() != name {
                " (whitespace around the name counts as part of it)"
            } else {
                " (field names are case-sensitive)"
            }
        } else {
            ""
        };
        let is_new = !self
            .out
            .0
            .iter()
            .any(|f| f.code == "unknown-field" && f.detail.as_deref() == Some(&name));
        if is_new && self.unknown_names >= MAX_UNKNOWN_FIELD_NAMES {
            self.out.add(Severity::Warning, "unknown-field", None, Some(location), || {
                format!(
                    "more than {MAX_UNKNOWN_FIELD_NAMES} unknown field names, e.g. {name:?}: clients ignore these lines (is this an event stream?)"
                )
            });
            return;
        }
        if is_new {
            self.unknown_names += 1;
        }
        self.out.add(
            Severity::Warning,
            "unknown-field",
            Some(name.clone()),
            Some(location),
            || format!("unknown field {name:?}{hint}: clients ignore the line"),
        );
    }
}

/// The start of `bytes` as text, short enough for a message.
fn lossy_prefix(bytes: &[u8]) -> String {
    const MAX: usize = 40;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]).into_owned();
    if bytes.len() > MAX {
        text + "…"
    } else {
        text
    }
}

/// Why reading the body stopped short of its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Time(Duration),
    Bytes(usize),
}

/// The `read-limit` (and, if nothing came, `no-bytes`) findings for a read cut short.
fn limit_findings(limit: Limit, analysis: &StreamAnalysis, bytes: usize) -> Vec<Finding> {
    let mut out = Findings::default();
    let reason = match limit {
        Limit::Time(d) => format!("the time limit of {} s", d.as_secs_f64()),
        Limit::Bytes(n) => format!("the limit of {n} bytes"),
    };
    out.add(Severity::Info, "read-limit", None, None, || {
        format!(
            "stopped reading at {reason} (the body had not ended): read {bytes} bytes, {} events, {} comments",
            analysis.events, analysis.comments
        )
    });
    if bytes == 0 {
        out.add(Severity::Info, "no-bytes", None, None, || {
            "nothing arrived after the head: proxies drop idle connections, so servers usually send a comment every 15-30 s".into()
        });
    }
    out.0
}

/// Findings of one lint run, with what was read.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LintReport {
    /// The URL that was requested.
    pub url: String,
    /// The URL that answered, if redirects led elsewhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    /// The response status, if a head arrived.
    pub status: Option<u16>,
    /// The response's HTTP version, e.g. `HTTP/1.1`, if a head arrived.
    pub http_version: Option<String>,
    /// Everything found, errors first, otherwise in order of first occurrence.
    pub findings: Vec<Finding>,
    /// How many events an `EventSource` would have dispatched from what was read.
    pub events_seen: usize,
    /// How many comment lines were read.
    pub comments_seen: usize,
    /// How many body bytes were read.
    pub bytes_read: usize,
    /// True if the body ended (the server closed it) rather than being cut
    /// short by the limits or failing.
    pub ended: bool,
}

impl LintReport {
    /// A plain-text table: one line per finding, then what was read, then counts.
    pub fn to_table(&self) -> String {
        let mut out = format!("SSE lint: {}", self.url);
        if let (Some(version), Some(status)) = (&self.http_version, self.status) {
            let _ = write!(out, " ({version} {status})");
        }
        out.push('\n');
        if let Some(final_url) = &self.final_url {
            let _ = writeln!(out, "answered by {final_url}");
        }
        let width = self
            .findings
            .iter()
            .map(|f| f.code.len())
            .max()
            .unwrap_or(0);
        for f in &self.findings {
            let _ = write!(out, "{:7}  {:width$}  {}", f.severity, f.code, f.message);
            if let Some(location) = f.location {
                let _ = write!(out, " ({location})");
            }
            if f.count > 1 {
                let _ = write!(out, " x{}", f.count);
            }
            out.push('\n');
        }
        if self.status.is_some() {
            let _ = writeln!(
                out,
                "read {} bytes, {} events, {} comments; the body {}",
                self.bytes_read,
                self.events_seen,
                self.comments_seen,
                if self.ended { "ended" } else { "did not end" }
            );
        }
        let count = |s: Severity| self.findings.iter().filter(|f| f.severity == s).count();
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let _ = writeln!(
            out,
            "{}, {}, {} info",
            plural(count(Severity::Error), "error"),
            plural(count(Severity::Warning), "warning"),
            count(Severity::Info)
        );
        out
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a lint report always serialises")
    }

    /// True if any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The findings with this code.
    pub fn with_code<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.findings.iter().filter(move |f| f.code == code)
    }

    fn push(&mut self, severity: Severity, code: &'static str, message: String) {
        self.findings.push(Finding {
            severity,
            code,
            detail: None,
            message,
            location: None,
            count: 1,
        });
    }

    fn finish(mut self) -> Self {
        // Stable, so findings of one severity keep their order of occurrence.
        self.findings.sort_by_key(|f| f.severity);
        self
    }
}

/// Lints the endpoint at `url`: requests it as an `EventSource` would, checks
/// the head, reads the body until it ends or a limit in `options` is reached,
/// and checks what was read. Never fails: a failed connection is a finding.
pub async fn lint(url: &str, options: &LintOptions) -> LintReport {
    let mut report = LintReport {
        url: url.to_owned(),
        ..LintReport::default()
    };
    let time_limit = Duration::from_secs(options.seconds);
    let deadline = tokio::time::Instant::now() + time_limit;

    let builder = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        // Without this reqwest would decompress and hide a Content-Encoding.
        .gzip(false)
        .connect_timeout(time_limit);
    let builder = if options.http2 {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    };
    let client = match builder.build() {
        Ok(client) => client,
        Err(e) => {
            report.push(
                Severity::Error,
                "connect-failed",
                format!("could not build an HTTP client: {}", describe(e)),
            );
            return report.finish();
        }
    };

    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static("text/event-stream"),
    );
    // EventSource fetches with cache mode "no-store", which browsers send as this.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Some(id) = &options.last_event_id {
        match HeaderValue::try_from(id.as_str()) {
            Ok(value) => {
                headers.insert("last-event-id", value);
            }
            Err(_) => {
                report.push(
                    Severity::Error,
                    "connect-failed",
                    format!("--last-event-id {id:?} is not a valid header value"),
                );
                return report.finish();
            }
        }
    }
    for (name, value) in &options.headers {
        headers.insert(name.clone(), value.clone());
    }

    let mut response = match tokio::time::timeout_at(
        deadline,
        client.get(url).headers(headers).send(),
    )
    .await
    {
        Err(_) => {
            report.push(
                Severity::Error,
                "head-timeout",
                format!("no response head within {} s: EventSource stays connecting (does the server hold the head back until the first event?)", options.seconds),
            );
            return report.finish();
        }
        Ok(Err(e)) => {
            let mut message = format!("the request failed: {}", describe(e));
            if url.starts_with("https:") {
                message.push_str(" (this build has no TLS support; use http://)");
            }
            report.push(Severity::Error, "connect-failed", message);
            return report.finish();
        }
        Ok(Ok(response)) => response,
    };

    let status = response.status().as_u16();
    report.status = Some(status);
    report.http_version = Some(format!("{:?}", response.version()));
    // Compared parsed, since reqwest normalises what it was given (a trailing
    // slash, a default port).
    if reqwest::Url::parse(url).ok().as_ref() != Some(response.url()) {
        report.final_url = Some(response.url().to_string());
        report.push(
            Severity::Info,
            "redirected",
            format!(
                "redirects led to {}; EventSource follows them too",
                response.url()
            ),
        );
    }
    report
        .findings
        .extend(analyse_head(status, response.version(), response.headers()));
    if status != 200 {
        return report.finish();
    }

    let mut body = Vec::new();
    let mut limit = None;
    loop {
        if body.len() >= options.max_bytes {
            limit = Some(Limit::Bytes(options.max_bytes));
            break;
        }
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Err(_) => {
                limit = Some(Limit::Time(time_limit));
                break;
            }
            Ok(Ok(Some(chunk))) => {
                let room = options.max_bytes - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(Ok(None)) => {
                report.ended = true;
                break;
            }
            Ok(Err(e)) => {
                report.push(
                    Severity::Error,
                    "body-failed",
                    format!("reading the body failed after {} bytes: {}; clients treat this as a network error and reconnect", body.len(), describe(e)),
                );
                break;
            }
        }
    }
    report.bytes_read = body.len();

    if report.findings.iter().any(|f| f.code == "compressed") {
        report.push(
            Severity::Info,
            "stream-not-analysed",
            "the body is compressed, so its lines were not checked".into(),
        );
        return report.finish();
    }
    let analysis = StreamAnalysis::new(&body, report.ended);
    report.events_seen = analysis.events;
    report.comments_seen = analysis.comments;
    if let Some(limit) = limit {
        report
            .findings
            .extend(limit_findings(limit, &analysis, body.len()));
    }
    report.findings.extend(analysis.findings);
    report.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.code).collect()
    }

    fn good_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        h
    }

    fn head_with(f: impl FnOnce(&mut HeaderMap)) -> Vec<&'static str> {
        let mut h = good_headers();
        f(&mut h);
        codes(&analyse_head(200, http::Version::HTTP_11, &h))
    }

    #[test]
    fn clean_head_has_no_findings() {
        assert_eq!(head_with(|_| {}), Vec::<&str>::new());
        assert_eq!(
            codes(&analyse_head(200, http::Version::HTTP_2, &good_headers())),
            Vec::<&str>::new()
        );
        let clean_variants = head_with(|h| {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(" Text/Event-Stream ; charset=UTF-8"),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, No-Store"),
            );
            h.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static("identity"),
            );
            h.insert(
                header::TRANSFER_ENCODING,
                HeaderValue::from_static("chunked"),
            );
        });
        assert_eq!(clean_variants, Vec::<&str>::new());
    }

    #[test]
    fn status_204_is_info_and_ends_the_checks() {
        let findings = analyse_head(204, http::Version::HTTP_11, &HeaderMap::new());
        assert_eq!(codes(&findings), ["no-content"]);
        assert_eq!(findings[0].severity, Severity::Info);
        assert!(findings[0].message.contains("stop reconnecting"));
    }

    #[test]
    fn other_status_is_an_error() {
        for status in [201, 301, 404, 500] {
            let findings = analyse_head(status, http::Version::HTTP_11, &good_headers());
            assert_eq!(codes(&findings), ["status"], "{status}");
            assert_eq!(findings[0].severity, Severity::Error);
        }
        assert!(
            analyse_head(404, http::Version::HTTP_11, &good_headers())[0]
                .message
                .contains("404 Not Found")
        );
    }

    #[test]
    fn wrong_or_missing_content_type_is_an_error() {
        assert_eq!(
            head_with(|h| {
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            }),
            ["content-type"]
        );
        assert_eq!(
            head_with(|h| {
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/event-streamx"),
                );
            }),
            ["content-type"]
        );
        assert_eq!(
            head_with(|h| {
                h.remove(header::CONTENT_TYPE);
            }),
            ["content-type"]
        );
    }

    #[test]
    fn foreign_charset_is_info() {
        assert_eq!(
            head_with(|h| {
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/event-stream; charset=\"latin1\""),
                );
            }),
            ["charset"]
        );
    }

    #[test]
    fn missing_no_cache_is_a_warning() {
        assert_eq!(
            head_with(|h| {
                h.remove(header::CACHE_CONTROL);
            }),
            ["no-cache-control"]
        );
        assert_eq!(
            head_with(|h| {
                h.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("max-age=60"),
                );
            }),
            ["no-cache-control"]
        );
    }

    #[test]
    fn compression_is_a_warning() {
        assert_eq!(
            head_with(|h| {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }),
            ["compressed"]
        );
    }

    #[test]
    fn missing_x_accel_buffering_is_info() {
        assert_eq!(
            head_with(|h| {
                h.remove("x-accel-buffering");
            }),
            ["no-x-accel-buffering"]
        );
        assert_eq!(
            head_with(|h| {
                h.insert("x-accel-buffering", HeaderValue::from_static("yes"));
            }),
            ["no-x-accel-buffering"]
        );
    }

    #[test]
    fn content_length_is_a_warning() {
        assert_eq!(
            head_with(|h| {
                h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("42"));
            }),
            ["content-length"]
        );
    }

    #[test]
    fn hop_by_hop_headers_over_h2_are_errors_each() {
        let mut h = good_headers();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        assert_eq!(
            codes(&analyse_head(200, http::Version::HTTP_11, &h)),
            Vec::<&str>::new()
        );
        let findings = analyse_head(200, http::Version::HTTP_2, &h);
        assert_eq!(codes(&findings), ["hop-by-hop-over-h2"; 5]);
        let details: Vec<_> = findings
            .iter()
            .map(|f| f.detail.as_deref().unwrap())
            .collect();
        assert_eq!(
            details,
            // In the order of `ssekit::adapter::HOP_BY_HOP`, which the lint walks.
            [
                "connection",
                "keep-alive",
                "proxy-connection",
                "transfer-encoding",
                "upgrade"
            ]
        );
        assert!(findings.iter().all(|f| f.severity == Severity::Error));
    }

    /// The codes an ended body yields.
    fn stream(bytes: &[u8]) -> Vec<&'static str> {
        codes(&analyse_stream(bytes, true))
    }

    #[test]
    fn clean_stream_has_no_findings() {
        let clean = b": keep-alive\n\nretry: 2500\n\nid: 1\nevent: greet\ndata: hello\ndata\ndata: \n\nid\ndata: x\n\n";
        assert_eq!(stream(clean), Vec::<&str>::new());
        let crlf = b": hi\r\nid: 1\r\ndata: a\r\n\r\n";
        assert_eq!(stream(crlf), Vec::<&str>::new());
        let analysis = StreamAnalysis::new(clean, true);
        assert_eq!((analysis.events, analysis.comments), (2, 1));
    }

    #[test]
    fn bom_is_info() {
        let findings = analyse_stream(b"\xEF\xBB\xBFdata: a\n\n", true);
        assert_eq!(codes(&findings), ["bom"]);
        assert_eq!(findings[0].severity, Severity::Info);
    }

    #[test]
    fn invalid_utf8_is_an_error_at_its_byte() {
        let findings = analyse_stream(b"data: a\n\ndata: \xff\n\n", true);
        assert_eq!(codes(&findings), ["invalid-utf8"]);
        assert_eq!(findings[0].location, Some(Location { line: 3, byte: 15 }));
        assert_eq!(findings[0].severity, Severity::Error);
    }

    #[test]
    fn lone_cr_is_a_warning_counted() {
        let findings = analyse_stream(b"data: a\r\rdata: b\r\r", true);
        assert_eq!(codes(&findings), ["lone-cr"]);
        assert_eq!(findings[0].count, 4);
        assert_eq!(findings[0].location, Some(Location { line: 1, byte: 7 }));
        assert_eq!(findings[0].severity, Severity::Warning);
    }

    #[test]
    fn mixed_line_endings_are_info_once() {
        let findings = analyse_stream(b"data: a\n\ndata: b\r\n\r\ndata: c\n\n", true);
        assert_eq!(codes(&findings), ["mixed-line-endings"]);
        assert_eq!(findings[0].location, Some(Location { line: 3, byte: 16 }));
        assert!(findings[0].message.contains("LF and CRLF"));
        // A lone CR among LFs is both.
        assert_eq!(
            stream(b"data: a\r\rdata: b\n\n"),
            ["lone-cr", "mixed-line-endings"]
        );
    }

    #[test]
    fn no_space_after_colon_is_info_once() {
        let findings = analyse_stream(b"data:a\n\nevent:x\ndata:b\n\n", true);
        assert_eq!(codes(&findings), ["no-space-after-colon"]);
        assert_eq!(findings[0].count, 3);
        // An empty value needs no space.
        assert_eq!(stream(b"data:\ndata: a\n\n"), Vec::<&str>::new());
    }

    #[test]
    fn unknown_fields_are_warnings_per_name() {
        let findings = analyse_stream(b"foo: 1\ndata: a\n\nfoo: 2\nData: b\ndata: c\n\n", true);
        assert_eq!(codes(&findings), ["unknown-field", "unknown-field"]);
        assert_eq!(findings[0].detail.as_deref(), Some("foo"));
        assert_eq!(findings[0].count, 2);
        assert_eq!(findings[1].detail.as_deref(), Some("Data"));
        assert!(findings[1].message.contains("case-sensitive"));
        assert!(findings.iter().all(|f| f.severity == Severity::Warning));
    }

    #[test]
    fn unknown_field_names_are_capped() {
        let mut body = String::new();
        for i in 0..25 {
            body.push_str(&format!("junk{i}: x\n"));
        }
        body.push_str("data: a\n\n");
        let findings = analyse_stream(body.as_bytes(), true);
        assert_eq!(findings.len(), MAX_UNKNOWN_FIELD_NAMES + 1);
        let folded = findings.last().unwrap();
        assert_eq!((folded.detail.as_ref(), folded.count), (None, 15));
    }

    #[test]
    fn invalid_retry_is_an_error() {
        for junk in [
            "retry: 1s",
            "retry: 1000 ",
            "retry: -5",
            "retry:",
            "retry",
            "retry: 1.5",
        ] {
            let body = format!("{junk}\ndata: a\n\n");
            let findings = analyse_stream(body.as_bytes(), true);
            assert_eq!(codes(&findings), ["invalid-retry"], "{junk:?}");
            assert_eq!(findings[0].severity, Severity::Error);
        }
    }

    #[test]
    fn id_with_nul_is_an_error() {
        let findings = analyse_stream(b"id: a\0b\ndata: a\n\n", true);
        assert_eq!(codes(&findings), ["id-with-nul"]);
        assert_eq!(findings[0].severity, Severity::Error);
    }

    #[test]
    fn empty_event_type_is_info() {
        assert_eq!(stream(b"event:\ndata: a\n\n"), ["event-type-empty"]);
        assert_eq!(stream(b"event: \ndata: a\n\n"), ["event-type-empty"]);
    }

    #[test]
    fn event_type_with_whitespace_is_a_warning() {
        assert_eq!(
            stream(b"event: ping \ndata: a\n\n"),
            ["event-type-whitespace"]
        );
        assert_eq!(
            stream(b"event:  ping\ndata: a\n\n"),
            ["event-type-whitespace"]
        );
    }

    #[test]
    fn event_without_data_is_a_warning() {
        let findings = analyse_stream(b"data: a\n\nevent: ping\n\n", true);
        assert_eq!(codes(&findings), ["event-without-data"]);
        assert_eq!(findings[0].location, Some(Location { line: 3, byte: 9 }));
        // An id or retry on its own is a normal thing to send.
        assert_eq!(
            stream(b"id: 7\n\nretry: 10\n\ndata: a\n\n"),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn unterminated_final_event_is_an_error_only_when_the_body_ended() {
        let body = b"data: a\n\n: note\ndata: b\n";
        let findings = analyse_stream(body, true);
        assert_eq!(codes(&findings), ["unterminated-event"]);
        assert_eq!(findings[0].location, Some(Location { line: 4, byte: 16 }));
        assert!(findings[0].message.contains("never dispatched"));
        assert_eq!(stream(b"data: a\n\ndata: b"), ["unterminated-event"]);
        assert_eq!(codes(&analyse_stream(body, false)), Vec::<&str>::new());
    }

    #[test]
    fn ended_without_events_is_a_warning() {
        assert_eq!(stream(b": only a comment\n\nid: 3\n\n"), ["no-events"]);
        assert_eq!(stream(b""), ["no-events"]);
        assert_eq!(codes(&analyse_stream(b"", false)), Vec::<&str>::new());
    }

    #[test]
    fn a_cut_off_tail_is_not_judged() {
        // A CR that may be half a CRLF, a UTF-8 sequence cut in two, a half field name.
        assert_eq!(
            codes(&analyse_stream(b"data: a\r\n\r\ndata: b\r", false)),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(&analyse_stream(b"data: a\n\ndata: \xC3", false)),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(&analyse_stream(b"data: a\n\nda", false)),
            Vec::<&str>::new()
        );
        assert_eq!(
            stream(b"data: a\n\nda"),
            ["unknown-field", "unterminated-event"]
        );
    }

    #[test]
    fn limit_findings_say_how_much_was_read() {
        let analysis = StreamAnalysis::new(b": hi\n\ndata: a\n\n", false);
        let findings = limit_findings(Limit::Time(Duration::from_secs(10)), &analysis, 15);
        assert_eq!(codes(&findings), ["read-limit"]);
        assert!(
            findings[0]
                .message
                .contains("15 bytes, 1 events, 1 comments"),
            "{}",
            findings[0].message
        );
        let findings = limit_findings(Limit::Bytes(0), &StreamAnalysis::default(), 0);
        assert_eq!(codes(&findings), ["read-limit", "no-bytes"]);
        assert!(findings.iter().all(|f| f.severity == Severity::Info));
    }

    #[test]
    fn header_option_parses() {
        let (name, value) = parse_header("Authorization:  Bearer x ").unwrap();
        assert_eq!(
            (name.as_str(), value.to_str().unwrap()),
            ("authorization", "Bearer x")
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: x").is_err());
    }

    fn sample_report() -> LintReport {
        let mut report = LintReport {
            url: "http://x/events".into(),
            status: Some(200),
            http_version: Some("HTTP/1.1".into()),
            bytes_read: 20,
            events_seen: 1,
            ended: true,
            ..LintReport::default()
        };
        report.findings = analyse_head(200, http::Version::HTTP_11, &HeaderMap::new());
        report
            .findings
            .extend(analyse_stream(b"data: a\r\rdata: b\r\rretry: x\n", true));
        report.finish()
    }

    #[test]
    fn table_lists_findings_and_counts() {
        let report = sample_report();
        let table = report.to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "SSE lint: http://x/events (HTTP/1.1 200)");
        assert!(lines[1].starts_with("ERROR    content-type "), "{table}");
        assert!(table.contains("WARNING  lone-cr"), "{table}");
        assert!(table.contains("(line 1, byte 7) x4"), "{table}");
        assert_eq!(*lines.last().unwrap(), "3 errors, 2 warnings, 2 info");
        assert!(report.has_errors());
        assert_eq!(report.with_code("lone-cr").count(), 1);
    }

    #[test]
    fn json_has_the_summary_fields() {
        let json: serde_json::Value = serde_json::from_str(&sample_report().to_json()).unwrap();
        assert_eq!(json["url"], "http://x/events");
        assert_eq!(json["status"], 200);
        assert_eq!(json["http_version"], "HTTP/1.1");
        assert_eq!(json["ended"], true);
        assert_eq!(json["events_seen"], 1);
        assert_eq!(json["bytes_read"], 20);
        let first = &json["findings"][0];
        assert_eq!(
            (first["severity"].as_str(), first["code"].as_str()),
            (Some("error"), Some("content-type"))
        );
        let lone_cr = json["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == "lone-cr")
            .unwrap();
        assert_eq!(lone_cr["count"], 4);
        assert_eq!(lone_cr["location"]["line"], 1);
        assert!(!LintReport::default().has_errors());
        assert!(LintReport::default()
            .to_table()
            .ends_with("0 errors, 0 warnings, 0 info\n"));
    }
}
