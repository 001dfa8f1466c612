//! `ssekit-conformance run BASE_URL` / `ssekit-conformance lint URL`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Checks Server-Sent Events servers against the WHATWG rules"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the conformance suite against a server implementing the conformance routes.
    Run {
        /// Base URL of the routes, e.g. http://127.0.0.1:8080
        base_url: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Skip the HTTP/2 (h2c) case.
        #[arg(long)]
        no_http2: bool,
        /// Path prefix under which the routes sit behind compression middleware.
        #[arg(long)]
        compressed_prefix: Option<String>,
        /// Streams opened at once by the concurrency case.
        #[arg(long, default_value_t = 500)]
        concurrent_streams: usize,
        /// Run only these cases (repeatable).
        #[arg(long = "case")]
        only: Vec<String>,
    },
    /// Builds the markdown matrix (cases × servers) from saved JSON reports.
    Matrix {
        /// Report files (`NAME.json`, as written by `Report::save`); columns in this order.
        reports: Vec<std::path::PathBuf>,
        /// Write the matrix into this file between
        /// `<!-- conformance-matrix:start -->` and `<!-- conformance-matrix:end -->`.
        #[arg(long)]
        update: Option<std::path::PathBuf>,
    },
    /// Connects to any SSE endpoint and reports problems in its head and stream.
    Lint {
        /// The endpoint's URL.
        url: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        options: ssekit_conformance::lint::LintOptions,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run {
            base_url,
            json,
            no_http2,
            compressed_prefix,
            concurrent_streams,
            only,
        } => {
            let config = ssekit_conformance::Config {
                http2: !no_http2,
                compressed_prefix,
                concurrent_streams,
                only,
            };
            let report = ssekit_conformance::run(&base_url, &config).await;
            finish(
                json,
                report.to_json(),
                report.to_table(),
                report.all_passed(),
            )
        }
        Command::Matrix { reports, update } => matrix(&reports, update.as_deref()),
        Command::Lint { url, json, options } => {
            let report = ssekit_conformance::lint::lint(&url, &options).await;
            finish(
                json,
                report.to_json(),
                report.to_table(),
                !report.has_errors(),
            )
        }
    }
}

/// Prints the report in the form asked for; fails the process unless `ok`.
fn finish(json: bool, as_json: String, as_table: String, ok: bool) -> ExitCode {
    print!("{}", if json { as_json } else { as_table });
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn matrix(paths: &[std::path::PathBuf], update: Option<&std::path::Path>) -> ExitCode {
    match write_matrix(paths, update) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

fn write_matrix(
    paths: &[std::path::PathBuf],
    update: Option<&std::path::Path>,
) -> Result<(), String> {
    let mut reports = Vec::new();
    for path in paths {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let report = ssekit_conformance::Report::load(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        reports.push((name, report));
    }
    let columns: Vec<(&str, &ssekit_conformance::Report)> =
        reports.iter().map(|(n, r)| (n.as_str(), r)).collect();
    let table = ssekit_conformance::markdown_matrix(&columns);
    let Some(target) = update else {
        print!("{table}");
        return Ok(());
    };
    let document = std::fs::read_to_string(target)
        .map_err(|error| format!("cannot read {}: {error}", target.display()))?;
    let updated =
        ssekit_conformance::replace_between_markers(&document, "conformance-matrix", &table)
            .ok_or_else(|| format!("{} has no conformance-matrix markers", target.display()))?;
    std::fs::write(target, updated)
        .map_err(|error| format!("cannot write {}: {error}", target.display()))
}
