//! The finding codes, each with its stable name, severity and description in
//! one table.

use std::fmt;

use serde::{Serialize, Serializer};

use super::finding::Severity;

/// Defines [`Code`] from one table, so that a code's name, severity and
/// description live on one line and [`Code::ALL`] cannot miss a variant.
macro_rules! codes {
    ($($variant:ident = $name:literal, $severity:ident, $description:literal;)*) => {
        /// What a [`Finding`](super::Finding) is about.
        ///
        /// Each code has a stable kebab-case name ([`Code::as_str`]), which is
        /// what the JSON and table output carry, a fixed [`Severity`] and a
        /// one-line description; the [module docs](super) list them all.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $(
                #[doc = $description]
                $variant,
            )*
        }

        impl Code {
            /// Every code, in the order of the module docs' table.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            const fn spec(self) -> (&'static str, Severity, &'static str) {
                match self {
                    $(Code::$variant => ($name, Severity::$severity, $description),)*
                }
            }
        }
    };
}

codes! {
    ConnectFailed = "connect-failed", Error, "the request failed before a response head arrived";
    HeadTimeout = "head-timeout", Error, "no response head within the time limit";
    Redirected = "redirected", Info, "redirects were followed to another URL";
    NoContent = "no-content", Info, "status 204: `EventSource` stops reconnecting; nothing else is checked";
    Status = "status", Error, "a status other than 200 (or 204): `EventSource` fails the connection";
    ContentType = "content-type", Error, "the MIME type essence is not `text/event-stream`";
    Charset = "charset", Info, "a `charset` other than UTF-8, which clients ignore";
    NoCacheControl = "no-cache-control", Warning, "no `Cache-Control: no-cache` or `no-store`";
    Compressed = "compressed", Warning, "a `Content-Encoding` other than `identity`";
    NoXAccelBuffering = "no-x-accel-buffering", Info, "no `X-Accel-Buffering: no`";
    ContentLength = "content-length", Warning, "a `Content-Length`: the stream is finite";
    HopByHopOverH2 = "hop-by-hop-over-h2", Error, "a connection-specific header over HTTP/2 or later";
    StreamNotAnalysed = "stream-not-analysed", Info, "the body was compressed, so its bytes were not checked";
    BodyFailed = "body-failed", Error, "reading the body failed before it ended";
    Bom = "bom", Info, "a UTF-8 BOM at the start (clients strip it)";
    InvalidUtf8 = "invalid-utf8", Error, "bytes that are not UTF-8 (clients see U+FFFD)";
    LoneCr = "lone-cr", Warning, "a line ends in a lone CR";
    MixedLineEndings = "mixed-line-endings", Info, "more than one line-ending style";
    NoSpaceAfterColon = "no-space-after-colon", Info, "`data:x` rather than `data: x`";
    UnknownField = "unknown-field", Warning, "a field name other than `data`, `event`, `id`, `retry`";
    InvalidRetry = "invalid-retry", Error, "a `retry` value that is not all ASCII digits";
    IdWithNul = "id-with-nul", Error, "an `id` value containing NUL";
    EventTypeEmpty = "event-type-empty", Info, "`event:` with an empty value (dispatched as `message`)";
    EventTypeWhitespace = "event-type-whitespace", Warning, "an event type with leading or trailing whitespace";
    EventWithoutData = "event-without-data", Warning, "a block with `event:` but no `data:`: nothing is dispatched";
    UnterminatedEvent = "unterminated-event", Error, "the body ended in the middle of an event";
    NoEvents = "no-events", Warning, "the body ended without dispatching any event";
    ReadLimit = "read-limit", Info, "reading stopped at the time or byte limit";
    NoBytes = "no-bytes", Info, "nothing arrived after the head before the time limit";
}

impl Code {
    /// The stable kebab-case name, e.g. `lone-cr`: what the JSON output and
    /// the table carry.
    pub const fn as_str(self) -> &'static str {
        self.spec().0
    }

    /// How much a finding with this code matters.
    pub const fn severity(self) -> Severity {
        self.spec().1
    }

    /// One line on what the code means, as in the module docs' table.
    pub const fn description(self) -> &'static str {
        self.spec().2
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_module_docs_table_matches_the_codes() {
        let rows: Vec<&str> = include_str!("mod.rs")
            .lines()
            .filter(|line| line.starts_with("//! | `"))
            .collect();
        let expected: Vec<String> = Code::ALL
            .iter()
            .map(|code| {
                format!(
                    "//! | `{code}` | {} | {} |",
                    code.severity().to_string().to_lowercase(),
                    code.description()
                )
            })
            .collect();
        assert!(
            rows == expected,
            "the table in lint/mod.rs should read:\n{}",
            expected.join("\n")
        );
    }

    #[test]
    fn names_are_unique_kebab_case() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "{name} twice");
            assert!(
                !name.is_empty()
                    && !name.starts_with('-')
                    && !name.ends_with('-')
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name:?} is not kebab-case"
            );
        }
    }

    #[test]
    fn serialises_as_its_name() {
        assert_eq!(
            serde_json::to_string(&Code::HopByHopOverH2).unwrap(),
            "\"hop-by-hop-over-h2\""
        );
        assert_eq!(format!("{:>9}", Code::Bom), "      bom");
    }
}
