//! The rules on a response head: status, then headers.

use http::header::{self, HeaderMap, HeaderName};

use super::code::Code;
use super::finding::{Finding, Findings};

/// Checks a response head: status, then (for 200 only) the headers.
///
/// A 204 yields only `no-content` and any other status other than 200 only
/// `status`, since clients never read the body of either.
pub fn analyse_head(status: u16, version: http::Version, headers: &HeaderMap) -> Vec<Finding> {
    let mut out = Findings::default();
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default();
    if status == 204 {
        out.add(Code::NoContent, None, None, || {
            "status 204 No Content tells EventSource to stop reconnecting; nothing else is checked"
                .into()
        });
        return out.0;
    }
    if status != 200 {
        out.add(Code::Status, None, None, || {
            format!("status {status}{reason}: EventSource fails the connection on anything but 200 and does not reconnect")
        });
        return out.0;
    }

    let text = |name: &HeaderName| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
    };

    match text(&header::CONTENT_TYPE) {
        None => out.add(Code::ContentType, None, None, || {
            "no Content-Type: EventSource fails the connection unless it is text/event-stream"
                .into()
        }),
        Some(content_type) => {
            let mut parts = content_type.split(';');
            let essence = parts.next().unwrap_or("").trim();
            if !essence.eq_ignore_ascii_case("text/event-stream") {
                out.add(Code::ContentType, None, None, || {
                    format!("Content-Type is {content_type:?}: EventSource fails the connection unless it is text/event-stream")
                });
            } else {
                let charset = parts
                    .filter_map(|p| p.split_once('='))
                    .find_map(|(name, value)| {
                        name.trim()
                            .eq_ignore_ascii_case("charset")
                            .then(|| value.trim().trim_matches('"').to_owned())
                    });
                if let Some(charset) = charset.filter(|c| !c.eq_ignore_ascii_case("utf-8")) {
                    out.add(Code::Charset, None, None, || {
                        format!("Content-Type says charset={charset}, but clients always decode the stream as UTF-8")
                    });
                }
            }
        }
    }

    let no_cache = headers.get_all(header::CACHE_CONTROL).iter().any(|value| {
        String::from_utf8_lossy(value.as_bytes())
            .split(',')
            .any(|directive| {
                let name = directive.split('=').next().unwrap_or("").trim();
                name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store")
            })
    });
    if !no_cache {
        out.add(Code::NoCacheControl, None, None, || {
            match text(&header::CACHE_CONTROL) {
                Some(value) => format!("Cache-Control is {value:?}, without no-cache or no-store: a cache may store or replay the stream"),
                None => "no Cache-Control: no-cache: a cache may store or replay the stream".into(),
            }
        });
    }

    if let Some(encoding) = text(&header::CONTENT_ENCODING) {
        if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") {
            out.add(Code::Compressed, None, None, || {
                format!("Content-Encoding is {encoding:?}: a compressor may hold events back until its buffer fills, unless it flushes after every event")
            });
        }
    }

    let accel_off = text(&HeaderName::from_static("x-accel-buffering"))
        .is_some_and(|v| v.eq_ignore_ascii_case("no"));
    if !accel_off {
        out.add(Code::NoXAccelBuffering, None, None, || {
            "no X-Accel-Buffering: no: nginx (and proxies that honour it) would buffer the stream"
                .into()
        });
    }

    if let Some(length) = text(&header::CONTENT_LENGTH) {
        out.add(Code::ContentLength, None, None, || {
            format!(
                "Content-Length is {length}: the stream is finite and ends after that many bytes"
            )
        });
    }

    if version >= http::Version::HTTP_2 {
        for name in &ssekit::adapter::HOP_BY_HOP {
            if headers.contains_key(name) {
                out.add(Code::HopByHopOverH2, Some(name.as_str().to_owned()), None, || {
                    format!("{name} is a connection-specific header, forbidden over {version:?}: clients treat the response as malformed")
                });
            }
        }
    }
    out.0
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::lint::finding::codes;
    use crate::lint::Severity;

    fn good_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        h
    }

    fn head_with(f: impl FnOnce(&mut HeaderMap)) -> Vec<&'static str> {
        let mut h = good_headers();
        f(&mut h);
        codes(&analyse_head(200, http::Version::HTTP_11, &h))
    }

    #[test]
    fn clean_head_has_no_findings() {
        assert_eq!(head_with(|_| {}), Vec::<&str>::new());
        assert_eq!(
            codes(&analyse_head(200, http::Version::HTTP_2, &good_headers())),
            Vec::<&str>::new()
        );
        let clean_variants = head_with(|h| {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(" Text/Event-Stream ; charset=UTF-8"),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, No-Store"),
            );
            h.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static("identity"),
            );
            h.insert(
                header::TRANSFER_ENCODING,
                HeaderValue::from_static("chunked"),
            );
        });
        assert_eq!(clean_variants, Vec::<&str>::new());
    }

    #[test]
    fn status_204_is_info_and_ends_the_checks() {
        let findings = analyse_head(204, http::Version::HTTP_11, &HeaderMap::new());
        assert_eq!(codes(&findings), ["no-content"]);
        assert_eq!(findings[0].severity(), Severity::Info);
        assert!(findings[0].message.contains("stop reconnecting"));
    }

    #[test]
    fn other_status_is_an_error() {
        for status in [201, 301, 404, 500] {
            let findings = analyse_head(status, http::Version::HTTP_11, &good_headers());
            assert_eq!(codes(&findings), ["status"], "{status}");
            assert_eq!(findings[0].severity(), Severity::Error);
        }
        assert!(
            analyse_head(404, http::Version::HTTP_11, &good_headers())[0]
                .message
                .contains("404 Not Found")
        );
    }

    #[test]
    fn wrong_or_missing_content_type_is_an_error() {
        assert_eq!(
            head_with(|h| {
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            }),
            ["content-type"]
        );
        assert_eq!(
            head_with(|h| {
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/event-streamx"),
                );
            }),
            ["content-type"]
        );
        assert_eq!(
            head_with(|h| {
                h.remove(header::CONTENT_TYPE);
            }),
            ["content-type"]
        );
    }

    #[test]
    fn foreign_charset_is_info() {
        assert_eq!(
            head_with(|h| {
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/event-stream; charset=\"latin1\""),
                );
            }),
            ["charset"]
        );
    }

    #[test]
    fn missing_no_cache_is_a_warning() {
        assert_eq!(
            head_with(|h| {
                h.remove(header::CACHE_CONTROL);
            }),
            ["no-cache-control"]
        );
        assert_eq!(
            head_with(|h| {
                h.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("max-age=60"),
                );
            }),
            ["no-cache-control"]
        );
    }

    #[test]
    fn compression_is_a_warning() {
        assert_eq!(
            head_with(|h| {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }),
            ["compressed"]
        );
    }

    #[test]
    fn missing_x_accel_buffering_is_info() {
        assert_eq!(
            head_with(|h| {
                h.remove("x-accel-buffering");
            }),
            ["no-x-accel-buffering"]
        );
        assert_eq!(
            head_with(|h| {
                h.insert("x-accel-buffering", HeaderValue::from_static("yes"));
            }),
            ["no-x-accel-buffering"]
        );
    }

    #[test]
    fn content_length_is_a_warning() {
        assert_eq!(
            head_with(|h| {
                h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("42"));
            }),
            ["content-length"]
        );
    }

    #[test]
    fn hop_by_hop_headers_over_h2_are_errors_each() {
        let mut h = good_headers();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        assert_eq!(
            codes(&analyse_head(200, http::Version::HTTP_11, &h)),
            Vec::<&str>::new()
        );
        let findings = analyse_head(200, http::Version::HTTP_2, &h);
        assert_eq!(codes(&findings), ["hop-by-hop-over-h2"; 5]);
        let details: Vec<_> = findings
            .iter()
            .map(|f| f.detail.as_deref().unwrap())
            .collect();
        assert_eq!(
            details,
            // In the order of `ssekit::adapter::HOP_BY_HOP`, which the lint walks.
            [
                "connection",
                "keep-alive",
                "proxy-connection",
                "transfer-encoding",
                "upgrade"
            ]
        );
        assert!(findings.iter().all(|f| f.severity() == Severity::Error));
    }
}
