//! The byte scanner: a body's lines, checked as they are on the wire.

use serde::Serialize;
use ssekit::decode::{Decoded, Decoder};

use super::code::Code;
use super::finding::{Finding, Findings, Location};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// How many distinct unknown field names get a finding of their own; the rest
/// are folded into one, so that a non-SSE body (say, an HTML page) does not
/// bury everything else.
const MAX_UNKNOWN_FIELD_NAMES: usize = 10;

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
            out.add(Code::UnterminatedEvent, None, Some(location), || {
                "the body ended in the middle of an event (no blank line after it): the last event is never dispatched".into()
            });
        }
        if ended && events == 0 {
            out.add(Code::NoEvents, None, None, || {
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
            self.out
                .add(Code::Bom, None, Some(Location { line: 1, byte: 0 }), || {
                    "the stream starts with a UTF-8 BOM, which clients strip".into()
                });
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
            self.out.add(Code::LoneCr, None, Some(location), || {
                "a line ends in a lone CR: valid, but many non-browser clients only split lines at LF".into()
            });
        }
        if first_of_style && self.endings.iter().filter(|&&n| n > 0).count() == 2 {
            let endings = self.endings;
            self.out
                .add(Code::MixedLineEndings, None, Some(location), || {
                    let used: Vec<&str> = (0..3)
                        .filter(|&i| endings[i] > 0)
                        .map(|i| ENDING_NAMES[i])
                        .collect();
                    format!(
                        "line endings mix {}: valid, but a sign of text pasted together",
                        used.join(" and ")
                    )
                });
        }
    }

    fn line(&mut self, line: &[u8], location: Location) {
        if line.is_empty() {
            if self.block_has_event && !self.block_has_data {
                let at = self.pending.unwrap_or(self.block_start);
                self.out.add(Code::EventWithoutData, None, Some(at), || {
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
            self.out.add(Code::InvalidUtf8, None, Some(at), || {
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
            self.out.add(Code::NoSpaceAfterColon, None, Some(location), || {
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
                    self.out.add(Code::EventTypeEmpty, None, Some(location), || {
                        "an event field with an empty value: the event is dispatched as \"message\"".into()
                    });
                } else if value.first().is_some_and(u8::is_ascii_whitespace)
                    || value.last().is_some_and(u8::is_ascii_whitespace)
                {
                    self.out.add(Code::EventTypeWhitespace, None, Some(location), || {
                        format!(
                            "event type {:?} has leading or trailing whitespace, which is kept: listeners for the trimmed name never fire",
                            String::from_utf8_lossy(value)
                        )
                    });
                }
            }
            b"id" => {
                if value.contains(&0) {
                    self.out.add(Code::IdWithNul, None, Some(location), || {
                        "an id contains NUL: clients ignore the whole id field".into()
                    });
                }
            }
            b"retry" => {
                if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                    self.out.add(Code::InvalidRetry, None, Some(location), || {
                        format!(
                            "retry value {:?} is not all ASCII digits: clients ignore it",
                            lossy_prefix(value)
                        )
                    });
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
            .any(|f| f.code == Code::UnknownField && f.detail.as_deref() == Some(&name));
        if is_new && self.unknown_names >= MAX_UNKNOWN_FIELD_NAMES {
            self.out.add(Code::UnknownField, None, Some(location), || {
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
            Code::UnknownField,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::finding::codes;
    use crate::lint::Severity;

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
        assert_eq!(findings[0].severity(), Severity::Info);
    }

    #[test]
    fn invalid_utf8_is_an_error_at_its_byte() {
        let findings = analyse_stream(b"data: a\n\ndata: \xff\n\n", true);
        assert_eq!(codes(&findings), ["invalid-utf8"]);
        assert_eq!(findings[0].location, Some(Location { line: 3, byte: 15 }));
        assert_eq!(findings[0].severity(), Severity::Error);
    }

    #[test]
    fn lone_cr_is_a_warning_counted() {
        let findings = analyse_stream(b"data: a\r\rdata: b\r\r", true);
        assert_eq!(codes(&findings), ["lone-cr"]);
        assert_eq!(findings[0].count, 4);
        assert_eq!(findings[0].location, Some(Location { line: 1, byte: 7 }));
        assert_eq!(findings[0].severity(), Severity::Warning);
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
        assert!(findings.iter().all(|f| f.severity() == Severity::Warning));
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
            assert_eq!(findings[0].severity(), Severity::Error);
        }
    }

    #[test]
    fn id_with_nul_is_an_error() {
        let findings = analyse_stream(b"id: a\0b\ndata: a\n\n", true);
        assert_eq!(codes(&findings), ["id-with-nul"]);
        assert_eq!(findings[0].severity(), Severity::Error);
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
}
