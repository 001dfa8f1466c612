//! What a finding is, and how repeats are folded into one.

use std::fmt;

use serde::{Serialize, Serializer};

use super::code::Code;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What it is about; it also fixes the [`severity`](Finding::severity).
    pub code: Code,
    /// What distinguishes findings of the same code that are reported
    /// separately, e.g. the unknown field's name or the header's name.
    pub detail: Option<String>,
    /// What was found and why it matters, for people; describes the first occurrence.
    pub message: String,
    /// Where it first occurred, for findings in the stream.
    pub location: Option<Location>,
    /// How many times it occurred (at least 1).
    pub count: usize,
}

impl Finding {
    /// How much it matters: its code's severity.
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
}

/// The JSON form of a [`Finding`], which carries the severity next to the code
/// so that readers of the output need no table.
#[derive(Serialize)]
struct FindingJson<'a> {
    severity: Severity,
    code: Code,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: &'a Option<String>,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<Location>,
    count: usize,
}

impl Serialize for Finding {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        FindingJson {
            severity: self.severity(),
            code: self.code,
            detail: &self.detail,
            message: &self.message,
            location: self.location,
            count: self.count,
        }
        .serialize(serializer)
    }
}

/// Gathers findings, folding repeats of one code and detail together.
#[derive(Debug, Default)]
pub(super) struct Findings(pub(super) Vec<Finding>);

impl Findings {
    /// The message is built only for the first occurrence, since repeats in a
    /// large stream would otherwise allocate for nothing.
    pub(super) fn add(
        &mut self,
        code: Code,
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
            code,
            detail,
            message: message(),
            location,
            count: 1,
        });
    }
}

/// The code names of `findings`, in order, for tests to compare.
#[cfg(test)]
pub(super) fn codes(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.code.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_the_severity_before_the_code_name() {
        let finding = Finding {
            code: Code::LoneCr,
            detail: None,
            message: "m".into(),
            location: Some(Location { line: 1, byte: 7 }),
            count: 4,
        };
        assert_eq!(
            serde_json::to_string(&finding).unwrap(),
            r#"{"severity":"warning","code":"lone-cr","message":"m","location":{"line":1,"byte":7},"count":4}"#
        );
        let finding = Finding {
            code: Code::UnknownField,
            detail: Some("foo".into()),
            location: None,
            count: 1,
            ..finding
        };
        assert_eq!(
            serde_json::to_string(&finding).unwrap(),
            r#"{"severity":"warning","code":"unknown-field","detail":"foo","message":"m","count":1}"#
        );
    }
}
