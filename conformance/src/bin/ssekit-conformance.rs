//! `ssekit-conformance run BASE_URL` / `ssekit-conformance lint URL`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use http::{HeaderName, HeaderValue};
use ssekit_conformance::lint::LintOptions;

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
        options: LintArgs,
    },
}

/// The flags of `lint`; each is the [`LintOptions`] field of the same name.
#[derive(clap::Args)]
struct LintArgs {
    /// Seconds to wait for the head and read the stream, in all.
    #[arg(long, default_value_t = LintOptions::default().seconds)]
    seconds: u64,
    /// Stop reading the stream after this many bytes.
    #[arg(long, default_value_t = LintOptions::default().max_bytes)]
    max_bytes: usize,
    /// Use HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
    #[arg(long)]
    http2: bool,
    /// Send this `Last-Event-ID`, as a reconnecting client would.
    #[arg(long)]
    last_event_id: Option<String>,
    /// An extra request header, e.g. `-H 'Authorization: Bearer …'` (repeatable;
    /// replaces a default header of the same name).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl From<LintArgs> for LintOptions {
    fn from(args: LintArgs) -> Self {
        LintOptions {
            seconds: args.seconds,
            max_bytes: args.max_bytes,
            http2: args.http2,
            last_event_id: args.last_event_id,
            headers: args.headers,
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
            let report = ssekit_conformance::lint::lint(&url, &options.into()).await;
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn lint_flags_default_to_the_library_defaults() {
        let cli = Cli::try_parse_from(["ssekit-conformance", "lint", "http://x/"]).unwrap();
        let Command::Lint { options, .. } = cli.command else {
            panic!("not the lint command");
        };
        assert_eq!(LintOptions::from(options), LintOptions::default());
    }

    #[test]
    fn lint_flags_become_options() {
        let cli = Cli::try_parse_from([
            "ssekit-conformance",
            "lint",
            "http://x/",
            "--seconds",
            "3",
            "--max-bytes",
            "100",
            "--http2",
            "--last-event-id",
            "7",
            "-H",
            "Accept-Encoding: identity",
        ])
        .unwrap();
        let Command::Lint { options, .. } = cli.command else {
            panic!("not the lint command");
        };
        let options = LintOptions::from(options);
        assert_eq!(
            (options.seconds, options.max_bytes, options.http2),
            (3, 100, true)
        );
        assert_eq!(options.last_event_id.as_deref(), Some("7"));
        assert_eq!(
            options.headers,
            [(
                HeaderName::from_static("accept-encoding"),
                HeaderValue::from_static("identity")
            )]
        );
    }
}
