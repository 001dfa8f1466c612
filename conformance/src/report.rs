//! Results of a run, as a table for people and JSON for machines.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// How one case ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "lowercase")]
pub enum Outcome {
    /// The server behaved as required.
    Pass,
    /// It did not; the reason says how.
    Fail(String),
    /// Not run: the feature flag for it is off.
    Skipped(String),
}

/// One case's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Short stable name, e.g. `script-bytes`.
    pub case: &'static str,
    /// What it checks.
    pub checks: &'static str,
    /// Pass, fail or skipped.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// A measured figure worth reporting (e.g. how fast a disconnect was noticed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Wall-clock time the case took.
    #[serde(serialize_with = "millis")]
    pub duration: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// All results of one run against one server.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The base URL that was checked.
    pub base_url: String,
    /// One result per case, in run order.
    pub results: Vec<CaseResult>,
}

impl Report {
    /// True when no case failed (skipped cases do not count as failures).
    pub fn all_passed(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The failed cases.
    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
    }

    /// A plain-text table, one line per case.
    pub fn to_table(&self) -> String {
        let mut out = format!("SSE conformance: {}\n", self.base_url);
        let width = self.results.iter().map(|r| r.case.len()).max().unwrap_or(4);
        for r in &self.results {
            let (mark, text) = match &r.outcome {
                Outcome::Pass => ("pass", r.detail.clone().unwrap_or_default()),
                Outcome::Fail(reason) => ("FAIL", reason.clone()),
                Outcome::Skipped(reason) => ("skip", reason.clone()),
            };
            let _ = writeln!(out, "{mark}  {:width$}  {:>6} ms  {text}", r.case, r.duration.as_millis());
        }
        let count = |m: fn(&Outcome) -> bool| self.results.iter().filter(|r| m(&r.outcome)).count();
        let _ = writeln!(
            out,
            "{} passed, {} failed, {} skipped",
            count(|o| *o == Outcome::Pass),
            count(|o| matches!(o, Outcome::Fail(_))),
            count(|o| matches!(o, Outcome::Skipped(_))),
        );
        out
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }
}

/// A markdown table of cases (rows) by servers (columns): ✅ pass, ❌ fail,
/// ➖ skipped. Failures are footnoted with their reason.
pub fn markdown_matrix(reports: &[(&str, &Report)]) -> String {
    let mut out = String::from("| case |");
    for (name, _) in reports {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(reports.len()));
    out.push('\n');
    let mut notes = Vec::new();
    let cases: Vec<&CaseResult> = reports.first().map(|(_, r)| r.results.iter().collect()).unwrap_or_default();
    for case in cases {
        let _ = write!(out, "| `{}` |", case.case);
        for (name, report) in reports {
            let cell = match report.results.iter().find(|r| r.case == case.case).map(|r| &r.outcome) {
                Some(Outcome::Pass) => "✅".to_owned(),
                Some(Outcome::Skipped(_)) | None => "➖".to_owned(),
                Some(Outcome::Fail(reason)) => {
                    notes.push(format!("{name} / `{}`: {reason}", case.case));
                    format!("❌[^{}]", notes.len())
                }
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    if !notes.is_empty() {
        out.push('\n');
        for (i, note) in notes.iter().enumerate() {
            let flat = note.replace('\n', " ");
            let _ = writeln!(out, "[^{}]: {flat}", i + 1);
        }
    }
    out
}
