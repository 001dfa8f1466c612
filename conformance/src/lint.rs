//! `sse-conformance lint URL`: checks any SSE endpoint's head and stream.
//! (Placeholder API; being written.)

use serde::Serialize;

/// How long and how much to read.
#[derive(Debug, Clone, clap::Args)]
pub struct LintOptions {
    /// Seconds to keep reading the stream.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
}

/// Findings of one lint run.
#[derive(Debug, Clone, Serialize, Default)]
pub struct LintReport {}

impl LintReport {
    /// A plain-text table.
    pub fn to_table(&self) -> String {
        String::new()
    }
    /// JSON.
    pub fn to_json(&self) -> String {
        String::new()
    }
    /// True if any finding is an error.
    pub fn has_errors(&self) -> bool {
        false
    }
}

/// Lints the endpoint at `url`.
pub async fn lint(_url: &str, _options: &LintOptions) -> LintReport {
    LintReport::default()
}
