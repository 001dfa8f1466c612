//! The HTTP request, as an `EventSource` makes it, and the bounded read of
//! the response.

use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use ssekit::decode::Decoder;
use ssekit_client::{BodyError, EventBody};

use super::code::Code;
use super::finding::{Finding, Findings};
use super::head::analyse_head;
use super::report::LintReport;
use super::scan::StreamAnalysis;
use crate::client::describe;

/// What to send, and how long and how much to read.
///
/// [`Default`] gives what the CLI uses without flags: 10 s, 8 MiB, HTTP/1.1,
/// no `Last-Event-ID`, no extra headers. Set the fields to change them:
///
/// ```
/// use ssekit_conformance::lint::LintOptions;
///
/// let options = LintOptions {
///     seconds: 3,
///     last_event_id: Some("42".into()),
///     ..LintOptions::default()
/// };
/// assert_eq!(options.max_bytes, 8 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintOptions {
    /// Seconds to wait for the head and read the stream, in all; also the
    /// connect timeout.
    pub seconds: u64,
    /// Stop reading the stream after this many bytes.
    pub max_bytes: usize,
    /// Use HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
    pub http2: bool,
    /// Send this `Last-Event-ID`, as a reconnecting client would.
    pub last_event_id: Option<String>,
    /// Extra request headers, sent after the defaults; each replaces a default
    /// header of the same name (e.g. `Accept-Encoding`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Default for LintOptions {
    fn default() -> Self {
        Self {
            seconds: 10,
            max_bytes: 8 * 1024 * 1024,
            http2: false,
            last_event_id: None,
            headers: Vec::new(),
        }
    }
}

/// What Chrome and Firefox send as `Accept-Encoding`, also on an
/// `EventSource` request: servers that negotiate compression choose by it, so
/// anything else would show the lint another response than browsers get.
const BROWSER_ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// Why reading the body stopped short of its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Time(Duration),
    Bytes(usize),
}

/// The `read-limit` (and, if nothing came, `no-bytes`) findings for a read cut short.
fn limit_findings(limit: Limit, analysis: &StreamAnalysis, bytes: usize) -> Vec<Finding> {
    let mut out = Findings::default();
    let reason = match limit {
        Limit::Time(d) => format!("the time limit of {} s", d.as_secs_f64()),
        Limit::Bytes(n) => format!("the limit of {n} bytes"),
    };
    out.add(Code::ReadLimit, None, None, || {
        format!(
            "stopped reading at {reason} (the body had not ended): read {bytes} bytes, {} events, {} comments",
            analysis.events, analysis.comments
        )
    });
    if bytes == 0 {
        out.add(Code::NoBytes, None, None, || {
            "nothing arrived after the head: proxies drop idle connections, so servers usually send a comment every 15-30 s".into()
        });
    }
    out.0
}

/// Lints the endpoint at `url`: requests it as an `EventSource` would, checks
/// the head, reads the body until it ends or a limit in `options` is reached,
/// and checks what was read. Never fails: a failed connection is a finding.
pub async fn lint(url: &str, options: &LintOptions) -> LintReport {
    let mut report = LintReport {
        url: url.to_owned(),
        ..LintReport::default()
    };
    let time_limit = Duration::from_secs(options.seconds);
    let deadline = tokio::time::Instant::now() + time_limit;

    let builder = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        // Decoding would remove the Content-Encoding the head rules judge,
        // and each decoder that a feature of reqwest enables anywhere in the
        // build would be on by default.
        .no_gzip()
        .no_deflate()
        .no_brotli()
        .no_zstd()
        .connect_timeout(time_limit);
    let builder = if options.http2 {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    };
    let client = match builder.build() {
        Ok(client) => client,
        Err(e) => {
            report.push(
                Code::ConnectFailed,
                format!("could not build an HTTP client: {}", describe(e)),
            );
            return report.finish();
        }
    };

    let mut headers = HeaderMap::new();
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static("text/event-stream"),
    );
    // EventSource fetches with cache mode "no-store", which browsers send as this.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static(BROWSER_ACCEPT_ENCODING),
    );
    if let Some(id) = &options.last_event_id {
        match HeaderValue::try_from(id.as_str()) {
            Ok(value) => {
                headers.insert("last-event-id", value);
            }
            Err(_) => {
                report.push(
                    Code::ConnectFailed,
                    format!("--last-event-id {id:?} is not a valid header value"),
                );
                return report.finish();
            }
        }
    }
    for (name, value) in &options.headers {
        headers.insert(name.clone(), value.clone());
    }

    let response = match tokio::time::timeout_at(deadline, client.get(url).headers(headers).send())
        .await
    {
        Err(_) => {
            report.push(
                Code::HeadTimeout,
                format!("no response head within {} s: EventSource stays connecting (does the server hold the head back until the first event?)", options.seconds),
            );
            return report.finish();
        }
        Ok(Err(e)) => {
            let mut message = format!("the request failed: {}", describe(e));
            if url.starts_with("https:") {
                message.push_str(" (this build has no TLS support; use http://)");
            }
            report.push(Code::ConnectFailed, message);
            return report.finish();
        }
        Ok(Ok(response)) => response,
    };

    let status = response.status().as_u16();
    report.status = Some(status);
    report.http_version = Some(format!("{:?}", response.version()));
    // Compared parsed, since reqwest normalises what it was given (a trailing
    // slash, a default port).
    if reqwest::Url::parse(url).ok().as_ref() != Some(response.url()) {
        report.final_url = Some(response.url().to_string());
        report.push(
            Code::Redirected,
            format!(
                "redirects led to {}; EventSource follows them too",
                response.url()
            ),
        );
    }
    report
        .findings
        .extend(analyse_head(status, response.version(), response.headers()));
    match status {
        200 => {}
        // A 204 has no body: the response is complete at its head, and
        // reading on would only wait for a connection the server may keep.
        204 => {
            report.ended = true;
            return report.finish();
        }
        // Clients never read the body of any other status.
        _ => return report.finish(),
    }

    // Read as the client reads a stream (its EventBody, so through the same
    // decoder), with no size limit of the decoder's own: the lint's limit is
    // on bytes read, and it reports on the raw bytes.
    let mut reader =
        EventBody::new(response).with_decoder(Decoder::with_max_event_bytes(usize::MAX));
    let mut body = Vec::new();
    let mut limit = None;
    loop {
        if body.len() >= options.max_bytes {
            limit = Some(Limit::Bytes(options.max_bytes));
            break;
        }
        match tokio::time::timeout_at(deadline, reader.next_chunk()).await {
            Err(_) => {
                limit = Some(Limit::Time(time_limit));
                break;
            }
            Ok(Ok(Some(chunk))) => {
                let room = options.max_bytes - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(Ok(None)) => {
                report.ended = true;
                break;
            }
            Ok(Err(BodyError::Transport(e))) => {
                report.push(
                    Code::BodyFailed,
                    format!("reading the body failed after {} bytes: {}; clients treat this as a network error and reconnect", body.len(), describe(e)),
                );
                break;
            }
            // Neither happens: no idle timeout is set, and the decoder has no limit.
            Ok(Err(e)) => {
                report.push(
                    Code::BodyFailed,
                    format!("reading the body failed after {} bytes: {e}", body.len()),
                );
                break;
            }
        }
    }
    report.bytes_read = body.len();

    if report.findings.iter().any(|f| f.code == Code::Compressed) {
        report.push(
            Code::StreamNotAnalysed,
            "the body is compressed, so its lines were not checked; to check them, ask for it uncompressed with -H 'Accept-Encoding: identity'".into(),
        );
        return report.finish();
    }
    let analysis = StreamAnalysis::new(&body, report.ended);
    report.events_seen = analysis.events;
    report.comments_seen = analysis.comments;
    if let Some(limit) = limit {
        report
            .findings
            .extend(limit_findings(limit, &analysis, body.len()));
    }
    report.findings.extend(analysis.findings);
    report.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::finding::codes;
    use crate::lint::Severity;

    #[test]
    fn limit_findings_say_how_much_was_read() {
        let analysis = StreamAnalysis::new(b": hi\n\ndata: a\n\n", false);
        let findings = limit_findings(Limit::Time(Duration::from_secs(10)), &analysis, 15);
        assert_eq!(codes(&findings), ["read-limit"]);
        assert!(
            findings[0]
                .message
                .contains("15 bytes, 1 events, 1 comments"),
            "{}",
            findings[0].message
        );
        let findings = limit_findings(Limit::Bytes(0), &StreamAnalysis::default(), 0);
        assert_eq!(codes(&findings), ["read-limit", "no-bytes"]);
        assert!(findings.iter().all(|f| f.severity() == Severity::Info));
    }
}
