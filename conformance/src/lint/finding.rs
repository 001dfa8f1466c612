//! What a finding is, and how repeats are folded into one.

use std::fmt;

use serde::Serialize;

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
    /// Stable kebab-case code, e.g. `lone-cr` (see the [module docs](super)).
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
pub(super) struct Findings(pub(super) Vec<Finding>);

impl Findings {
    /// The message is built only for the first occurrence, since repeats in a
    /// large stream would otherwise allocate for nothing.
    pub(super) fn add(
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

/// The codes of `findings`, in order, for tests to compare.
#[cfg(test)]
pub(super) fn codes(findings: &[Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.code).collect()
}
