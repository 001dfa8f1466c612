//! The report of one lint run, as a table or JSON.

use std::fmt::Write as _;

use serde::Serialize;

use super::code::Code;
use super::finding::{Finding, Severity};

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
    /// short by the limits or failing. A 204 has no body, so it has ended at
    /// its head; with any other status than 200 the body is not read, and
    /// this is false.
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
            .map(|f| f.code.as_str().len())
            .max()
            .unwrap_or(0);
        for f in &self.findings {
            let _ = write!(out, "{:7}  {:width$}  {}", f.severity(), f.code, f.message);
            if let Some(location) = f.location {
                let _ = write!(out, " ({location})");
            }
            if f.count > 1 {
                let _ = write!(out, " x{}", f.count);
            }
            out.push('\n');
        }
        match self.status {
            None => {}
            Some(status) if status != 200 && !self.ended => {
                let _ = writeln!(
                    out,
                    "the body was not read: clients ignore it with status {status}"
                );
            }
            Some(_) => {
                let _ = writeln!(
                    out,
                    "read {} bytes, {} events, {} comments; the body {}",
                    self.bytes_read,
                    self.events_seen,
                    self.comments_seen,
                    if self.ended { "ended" } else { "did not end" }
                );
            }
        }
        let count = |s: Severity| self.findings.iter().filter(|f| f.severity() == s).count();
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
        self.findings
            .iter()
            .any(|f| f.severity() == Severity::Error)
    }

    /// The findings with this code.
    pub fn with_code(&self, code: Code) -> impl Iterator<Item = &Finding> + '_ {
        self.findings.iter().filter(move |f| f.code == code)
    }

    pub(super) fn push(&mut self, code: Code, message: String) {
        self.findings.push(Finding {
            code,
            detail: None,
            message,
            location: None,
            count: 1,
        });
    }

    pub(super) fn finish(mut self) -> Self {
        // Stable, so findings of one severity keep their order of occurrence.
        self.findings.sort_by_key(|f| f.severity());
        self
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;
    use crate::lint::{analyse_head, analyse_stream};

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
        assert_eq!(report.with_code(Code::LoneCr).count(), 1);
    }

    #[test]
    fn table_says_when_the_body_was_not_read() {
        let head_only = |status| LintReport {
            url: "http://x/events".into(),
            status: Some(status),
            http_version: Some("HTTP/1.1".into()),
            findings: analyse_head(status, http::Version::HTTP_11, &HeaderMap::new()),
            ended: status == 204,
            ..LintReport::default()
        };
        let table = head_only(404).to_table();
        assert!(
            table.contains("the body was not read: clients ignore it with status 404"),
            "{table}"
        );
        assert!(!table.contains("did not end"), "{table}");
        let table = head_only(204).to_table();
        assert!(
            table.contains("read 0 bytes, 0 events, 0 comments; the body ended"),
            "{table}"
        );
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
