//! One conformance suite for Server-Sent Events servers.
//!
//! The routes the suite requests are one generic handler, [`handle`]: mount
//! it for every `GET` path of a framework's router, with the publisher of
//! that framework's adapter, and run the suite against the server:
//!
//! ```no_run
//! use ssekit::SsePublisher;
//! use ssekit_conformance::{handle, ConformanceState};
//!
//! /// The conformance routes, for any framework: mount it for every path.
//! async fn conformance_routes<P: SsePublisher>(publisher: P, state: ConformanceState) -> P::Response {
//!     handle(publisher, state).await
//! }
//!
//! # async fn check() {
//! // In a test, once the server listens on `base`:
//! let base = "http://127.0.0.1:8080";
//! ssekit_conformance::assert_conformance(base, "my-framework", std::path::Path::new("target/conformance")).await;
//! # }
//! ```
//!
//! Every case runs over real HTTP on a real connection and judges what arrives
//! with the WHATWG parser of [`ssekit::decode`]. The same cases run against
//! each adapter of this project (the repository's `test-support` crate),
//! and against any server by URL with the `ssekit-conformance` binary:
//!
//! ```text
//! ssekit-conformance run http://127.0.0.1:8080          # the suite, as a table
//! ssekit-conformance run http://127.0.0.1:8080 --json   # for machines
//! ssekit-conformance lint http://127.0.0.1:8080/events  # any SSE endpoint
//! ```
//!
//! # The conformance routes
//!
//! A server under test answers `GET` on these paths (relative to the base URL).
//! Unless stated, responses are `200`, `text/event-stream`, keep-alive off,
//! and end after their events. `token` ties requests of one case together.
//!
//! | route | answer |
//! |---|---|
//! | `/script` | `retry: 2500`, then exactly [`script::SCRIPT_BYTES`] |
//! | `/no-content` | `204`, empty body |
//! | `/last-event-id` | one event: type `last-event-id` with the request's `Last-Event-ID` as data, or type `no-last-event-id` with empty data when it is absent, over 1024 bytes, not UTF-8, or has CR/LF/NUL |
//! | `/count?n=N` | events `1`..=`N`, each with id = data |
//! | `/large` | one event whose data is [`script::large_data`]`("\r\n")` (1 MiB) |
//! | `/lockstep?token=T&count=N` | event `k` (id and data `k`) is produced only after the `k`-th `/gate?token=T` |
//! | `/gate?token=T` | opens one step of `/lockstep?token=T`, then one event `opened` |
//! | `/keep-alive` | no events; a comment every 100 ms, forever |
//! | `/disconnect?token=T` | one event `connected`, then idle (keep-alive 500 ms); records when the client is gone |
//! | `/disconnect-report?token=T` | one event: `closed` once `/disconnect?token=T` noticed its client left, else `open` after 10 s |
//! | `/flood?token=T` | 4 KiB events as fast as a bounded (8) queue allows, until the client leaves |
//! | `/flood-report?token=T` | one event: how many `/flood?token=T` events were queued so far |
//! | `/fail-mid-stream` | events `1` and `2` (id = data), then the source fails: the body ends cleanly |
//! | `/panic-mid-stream` | events `1` and `2` (id = data), then the source panics: the body ends cleanly |
//! | `/injection` | two events of type `rejected` with data `event`, then `id`: the refused fields of events that tried to carry `"\n\ndata: evil"` in them; then one event with data `"x\n\ndata: evil"` |
//! | `/private` | without `Authorization: Bearer conformance`: `401`, `WWW-Authenticate: Bearer realm="conformance"`, `text/plain` body `sign in first`; with it: one event `welcome`, and the headers `Set-Cookie: a=1; Path=/` and `Set-Cookie: b=2; Path=/` |
//! | `/limited?token=T` | at most [`routes::LIMITED_STREAMS`] (2) at once per token: one event `admitted`, then idle (keep-alive 500 ms) until the client leaves; over the cap, `503` with `Retry-After` |
//!
//! Other methods than `GET` (the suite tries `POST`, `PUT` and `DELETE` on
//! `/script`) may get any answer but a `5xx`.
//!
//! With `--compressed-prefix P`, the `/lockstep` route is also requested under
//! `P` (served behind compression middleware) with `Accept-Encoding: gzip`.
//!
//! [`routes::handle`] implements all of them once, for any [`ssekit::SsePublisher`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cases;
mod client;
pub mod lint;
mod raw;
pub mod report;
pub mod routes;
pub mod script;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

pub use cases::DISCONNECT_BOUND;
pub use report::{markdown_matrix, replace_between_markers, CaseResult, Outcome, Report};
pub use routes::{handle, ConformanceState, COMPRESSED_PREFIX};

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Run the HTTP/2 (h2c, prior knowledge) case.
    pub http2: bool,
    /// Run the compression case against routes mounted under this prefix.
    pub compressed_prefix: Option<String>,
    /// How many streams the concurrency case opens at once.
    pub concurrent_streams: usize,
    /// Only run cases with these names (all when empty).
    pub only: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http2: true,
            compressed_prefix: None,
            concurrent_streams: 500,
            only: Vec::new(),
        }
    }
}

type CaseFn =
    for<'a> fn(&'a cases::Ctx<'a>) -> Pin<Box<dyn Future<Output = cases::CaseOutcome> + Send + 'a>>;

/// Each case: name, what it checks, and the function.
struct Case {
    name: &'static str,
    checks: &'static str,
    run: CaseFn,
    /// `Some(reason)` when the configuration turns the case off.
    skip: fn(&Config) -> Option<&'static str>,
}

macro_rules! case {
    ($name:literal, $checks:literal, $fn:path) => {
        case!($name, $checks, $fn, |_| None)
    };
    ($name:literal, $checks:literal, $fn:path, $skip:expr) => {
        Case {
            name: $name,
            checks: $checks,
            run: |ctx| Box::pin($fn(ctx)),
            skip: $skip,
        }
    };
}

fn all_cases() -> Vec<Case> {
    vec![
        case!(
            "head",
            "status 200, Content-Type, Cache-Control, X-Accel-Buffering, no length",
            cases::head
        ),
        case!(
            "script-bytes",
            "exact body bytes of the fixed script",
            cases::script_bytes
        ),
        case!(
            "script-events",
            "what an EventSource dispatches for the script",
            cases::script_events
        ),
        case!(
            "head-before-first-event",
            "the head arrives while the handler has produced nothing",
            cases::head_before_first_event
        ),
        case!(
            "event-by-event",
            "each event arrives before the next is produced",
            cases::event_by_event
        ),
        case!(
            "keep-alive",
            "keep-alive comments while idle, no events",
            cases::keep_alive
        ),
        case!(
            "client-disconnect",
            "a client's disconnect reaches the handler's closed()",
            cases::client_disconnect
        ),
        case!(
            "clean-end",
            "server-side end gives a clean end of body",
            cases::clean_end
        ),
        case!(
            "last-event-id",
            "Last-Event-ID reaches the handler",
            cases::last_event_id
        ),
        case!(
            "last-event-id-invalid",
            "over-long, non-UTF-8 or huge Last-Event-ID do not break the request",
            cases::last_event_id_invalid
        ),
        case!(
            "large-event",
            "a 1 MiB event arrives intact",
            cases::large_event
        ),
        case!(
            "concurrent-streams",
            "many concurrent streams all complete",
            cases::concurrent_streams
        ),
        case!(
            "stalled-reader",
            "a client that stops reading holds back the producer",
            cases::stalled_reader
        ),
        case!(
            "compression",
            "compression middleware does not hold back events",
            cases::compression,
            |c| {
                c.compressed_prefix
                    .is_none()
                    .then_some("no --compressed-prefix given")
            }
        ),
        case!(
            "http2",
            "HTTP/2 (h2c): same bytes, no hop-by-hop headers",
            cases::http2,
            |c| { (!c.http2).then_some("HTTP/2 disabled") }
        ),
        case!(
            "no-content",
            "204 tells clients to stop reconnecting",
            cases::no_content
        ),
        case!(
            "method-not-get",
            "POST, PUT, DELETE get no 5xx, and the server keeps serving",
            cases::method_not_get
        ),
        case!(
            "last-event-id-hostile",
            "Last-Event-ID with a lone CR, a NUL or 1 MiB: refused or ignored, never a crash",
            cases::last_event_id_hostile
        ),
        case!(
            "source-error",
            "a source failing mid-stream ends its stream cleanly, and only that one",
            cases::source_error
        ),
        case!(
            "source-panic",
            "a source panicking mid-stream ends its stream cleanly; the server lives on",
            cases::source_panic
        ),
        case!(
            "injection",
            "line breaks cannot inject fields or events",
            cases::injection
        ),
        case!(
            "stream-limit",
            "streams over a cap get 503 with Retry-After; a freed slot is reused",
            cases::stream_limit
        ),
        case!(
            "private",
            "a handler reads Authorization: without it 401 with a challenge and a text body, with it the stream and both of its Set-Cookie values",
            cases::private
        ),
    ]
}

/// The names of all cases, in run order.
pub fn case_names() -> Vec<&'static str> {
    all_cases().iter().map(|c| c.name).collect()
}

/// Runs the suite against the server at `base_url` (no trailing slash needed).
pub async fn run(base_url: &str, config: &Config) -> Report {
    let base = base_url.trim_end_matches('/');
    let ctx = cases::Ctx { base, config };
    let mut results = Vec::new();
    for case in all_cases() {
        if !config.only.is_empty() && !config.only.iter().any(|n| n == case.name) {
            continue;
        }
        let started = Instant::now();
        let (outcome, detail) = match (case.skip)(config) {
            Some(reason) => (Outcome::Skipped(reason.to_owned()), None),
            None => match tokio::time::timeout(Duration::from_secs(120), (case.run)(&ctx)).await {
                Ok(Ok(detail)) => (Outcome::Pass, detail),
                Ok(Err(reason)) => (Outcome::Fail(reason), None),
                Err(_) => (
                    Outcome::Fail("the case did not finish within 120 s".into()),
                    None,
                ),
            },
        };
        results.push(CaseResult {
            case: case.name.to_owned(),
            checks: case.checks.to_owned(),
            outcome,
            detail,
            duration: started.elapsed(),
        });
    }
    Report {
        base_url: base.to_owned(),
        results,
    }
}

/// Runs the whole suite against an adapter's test server and fails the test
/// unless every case passed: what the repository's conformance test does for
/// each adapter.
///
/// The server must also mount the routes under [`COMPRESSED_PREFIX`] behind its
/// stock compression middleware. The report is printed and saved as
/// `<report_dir>/<name>.json` for `ssekit-conformance matrix`.
pub async fn assert_conformance(base_url: &str, name: &str, report_dir: &std::path::Path) {
    let config = Config {
        compressed_prefix: Some(COMPRESSED_PREFIX.into()),
        ..Config::default()
    };
    assert_conformance_with(base_url, name, report_dir, &config).await;
}

/// [`assert_conformance`] with the cases `config` enables: say, no
/// compression case for a framework that ships no compression.
pub async fn assert_conformance_with(
    base_url: &str,
    name: &str,
    report_dir: &std::path::Path,
    config: &Config,
) {
    let report = run(base_url, config).await;
    println!("{}", report.to_table());
    report.save(report_dir, name).expect("report written");
    assert!(report.all_passed(), "{}", report.to_table());
    assert_eq!(report.results.len(), case_names().len(), "every case ran");
}
