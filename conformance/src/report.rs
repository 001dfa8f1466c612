//! Results of a run, as a table for people and JSON for machines.

use std::fmt::Write as _;
use std::time::Duration;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How one case ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    /// Short stable name, e.g. `script-bytes`.
    pub case: String,
    /// What it checks.
    pub checks: String,
    /// Pass, fail or skipped.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// A measured figure worth reporting (e.g. how fast a disconnect was noticed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Wall-clock time the case took.
    #[serde(rename = "millis", with = "millis")]
    pub duration: Duration,
}

mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(serde::Deserialize::deserialize(d)?))
    }
}

/// All results of one run against one server.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
            let _ = writeln!(
                out,
                "{mark}  {:width$}  {:>6} ms  {text}",
                r.case,
                r.duration.as_millis()
            );
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

    /// Writes the report as `<dir>/<name>.json`, for [`markdown_matrix`]
    /// (`ssekit-conformance matrix`). Returns the file written.
    pub fn save(&self, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{name}.json"));
        std::fs::write(&path, self.to_json())?;
        Ok(path)
    }

    /// Reads a report written by [`save`](Self::save).
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(std::io::Error::other)
    }
}

/// Replaces the text between `<!-- {marker}:start -->` and `<!-- {marker}:end -->`
/// in `document` with `content`. `None` if the markers are missing.
pub fn replace_between_markers(document: &str, marker: &str, content: &str) -> Option<String> {
    let start = format!("<!-- {marker}:start -->");
    let end = format!("<!-- {marker}:end -->");
    let from = document.find(&start)? + start.len();
    let to = from + document[from..].find(&end)?;
    Some(format!(
        "{}\n{}\n{}",
        &document[..from],
        content.trim_end(),
        &document[to..]
    ))
}

/// A markdown table of cases (rows) by servers (columns): ✅ pass, ❌ fail,
/// ➖ skipped. Failures are footnoted with their reason.
pub fn markdown_matrix(reports: &[(&str, &Report)]) -> String {
    let mut out = String::from("| case | checks |");
    for (name, _) in reports {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(reports.len()));
    out.push('\n');
    let mut notes = Vec::new();
    let mut cases: Vec<(&str, &str)> = Vec::new();
    for (_, report) in reports {
        for result in &report.results {
            if !cases.iter().any(|(name, _)| *name == result.case) {
                cases.push((&result.case, &result.checks));
            }
        }
    }
    for (case, checks) in cases {
        let _ = write!(out, "| `{case}` | {checks} |");
        for (name, report) in reports {
            let cell = match report
                .results
                .iter()
                .find(|r| r.case == case)
                .map(|r| &r.outcome)
            {
                Some(Outcome::Pass) => "✅".to_owned(),
                Some(Outcome::Skipped(_)) | None => "➖".to_owned(),
                Some(Outcome::Fail(reason)) => {
                    notes.push(format!("{name} / `{case}`: {reason}"));
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
