//! One HTTP/1.1 exchange written by hand over a plain TCP connection, for
//! requests no client library sends: header values with a lone CR or a NUL,
//! which `reqwest` (rightly) refuses to build.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most a raw response may take: the raw requests only ask routes with
/// tiny answers, so a server streaming more is broken, not slow.
const MAX_RESPONSE: usize = 1 << 20;

/// What came back.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    /// The body, with any chunked transfer coding removed.
    pub(crate) body: Vec<u8>,
}

/// Sends `GET path` with one extra header line `name: value` (sent as bytes,
/// unchecked) and `Connection: close`, and reads the response, all `within`.
///
/// The request is written while the response is read: a server may answer
/// (say `431`) and close before it has read a large request, and its answer
/// must not be lost to the failed write.
pub(crate) async fn get(
    base: &str,
    path: &str,
    (name, value): (&str, &[u8]),
    within: Duration,
) -> Result<RawResponse, String> {
    let url = reqwest::Url::parse(base).map_err(|e| format!("bad base URL {base:?}: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!(
            "raw requests need a plain http:// base URL, not {:?}",
            url.scheme()
        ));
    }
    let host = url.host_str().ok_or("the base URL has no host")?;
    let port = url.port_or_known_default().unwrap_or(80);
    let prefix = url.path().trim_end_matches('/');

    let mut request = format!(
        "GET {prefix}{path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\nConnection: close\r\n{name}: "
    )
    .into_bytes();
    request.extend_from_slice(value);
    request.extend_from_slice(b"\r\n\r\n");

    let exchange = async {
        let stream = TcpStream::connect((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| format!("connect failed: {e}"))?;
        let (mut reader, mut writer) = stream.into_split();
        let write = writer.write_all(&request);
        let read = read_response(&mut reader);
        tokio::pin!(write, read);
        let mut write_error = None;
        loop {
            tokio::select! {
                written = &mut write, if write_error.is_none() => {
                    // Keep the write half open: a FIN may read as the client leaving.
                    write_error = Some(written.err());
                }
                response = &mut read => {
                    return response.map_err(|e| match write_error.flatten() {
                        Some(write) => format!("{e} (writing the request failed: {write})"),
                        None => e,
                    });
                }
            }
        }
    };
    tokio::time::timeout(within, exchange)
        .await
        .map_err(|_| format!("no complete response within {within:?}"))?
}

/// Reads until the response is complete (by its length, its last chunk, or
/// the end of the connection).
async fn read_response(reader: &mut (impl AsyncReadExt + Unpin)) -> Result<RawResponse, String> {
    let mut received = Vec::new();
    let mut buf = vec![0; 16 * 1024];
    loop {
        let read = reader.read(&mut buf).await;
        let at_eof = match read {
            Ok(0) => true,
            Ok(n) => {
                received.extend_from_slice(&buf[..n]);
                false
            }
            Err(e) => {
                return Err(format!(
                    "the connection failed after {} bytes of response: {e}",
                    received.len()
                ))
            }
        };
        if let Some(response) = parse(&received, at_eof)? {
            return Ok(response);
        }
        if received.len() > MAX_RESPONSE {
            return Err(format!("a response of over {MAX_RESPONSE} bytes"));
        }
    }
}

/// The response, if `received` holds all of it; an error if it never will.
fn parse(received: &[u8], at_eof: bool) -> Result<Option<RawResponse>, String> {
    let incomplete = |what: &str| {
        if at_eof {
            Err(format!(
                "the connection closed {what} ({} bytes received)",
                received.len()
            ))
        } else {
            Ok(None)
        }
    };
    let Some(head_len) = find(received, b"\r\n\r\n") else {
        return incomplete("before a complete response head");
    };
    let head = String::from_utf8_lossy(&received[..head_len]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let header = |wanted: &str| {
        lines.clone().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case(wanted)
                .then(|| value.trim().to_ascii_lowercase())
        })
    };
    let body = &received[head_len + 4..];
    let chunked = header("transfer-encoding").is_some_and(|coding| coding.ends_with("chunked"));
    let length = header("content-length");
    let complete = if status == 204 || status == 304 {
        Some(Vec::new())
    } else if chunked {
        dechunk(body)?
    } else if let Some(length) = length {
        let length: usize = length
            .parse()
            .map_err(|_| format!("bad Content-Length {length:?}"))?;
        body.get(..length).map(<[u8]>::to_vec)
    } else {
        at_eof.then(|| body.to_vec())
    };
    match complete {
        Some(body) => Ok(Some(RawResponse { status, body })),
        None => incomplete("in the middle of the body"),
    }
}

/// The body of a chunked transfer coding, once its last chunk has arrived.
fn dechunk(mut coded: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    loop {
        let Some(line_len) = find(coded, b"\r\n") else {
            return Ok(None);
        };
        let size_line = String::from_utf8_lossy(&coded[..line_len]);
        let size_text = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size line {size_line:?}"))?;
        coded = &coded[line_len + 2..];
        if size == 0 {
            // Trailers are not used by these routes; the last chunk suffices.
            return Ok(Some(body));
        }
        let Some(chunk) = coded.get(..size) else {
            return Ok(None);
        };
        body.extend_from_slice(chunk);
        coded = &coded[size..];
        match coded.get(..2) {
            Some(b"\r\n") => coded = &coded[2..],
            Some(_) => return Err("a chunk not followed by CRLF".into()),
            None => return Ok(None),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chunked_length_and_close_delimited_bodies() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let response = parse(chunked, false).unwrap().unwrap();
        assert_eq!((response.status, &response.body[..]), (200, &b"abcde"[..]));
        assert!(parse(&chunked[..chunked.len() - 7], false)
            .unwrap()
            .is_none());
        assert!(parse(&chunked[..chunked.len() - 7], true).is_err());

        let sized = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 2\r\n\r\nok";
        let response = parse(sized, false).unwrap().unwrap();
        assert_eq!((response.status, &response.body[..]), (431, &b"ok"[..]));

        let close = b"HTTP/1.0 200 OK\r\n\r\nrest";
        assert!(parse(close, false).unwrap().is_none());
        assert_eq!(parse(close, true).unwrap().unwrap().body, b"rest");

        assert!(parse(b"garbage\r\n\r\n", false).is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\n", true).is_err());
    }
}
