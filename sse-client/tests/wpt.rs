//! The byte cases of web-platform-tests `eventsource/format-*.htm`, end to
//! end: served over real HTTP (whole, and one byte per TCP segment) and read
//! by the client, which must dispatch what the WPT expects.

mod support;

use futures_util::StreamExt;
use ssekit_client::{EventSource, Item};
use support::{stream_head, RawServer, Step};

/// (case, body bytes, expected events as (type, data, last event id)).
type Case = (
    &'static str,
    Vec<u8>,
    Vec<(&'static str, &'static str, &'static str)>,
);

fn cases() -> Vec<Case> {
    let long = "x".repeat(2048);
    vec![
        (
            "format-bom",
            "\u{feff}data:1\n\n\u{feff}data:2\n\ndata:3\n\n".into(),
            vec![("message", "1", ""), ("message", "3", "")],
        ),
        (
            "format-bom-2",
            "\u{feff}\u{feff}data:1\n\ndata:2\n\ndata:3\n\n".into(),
            vec![("message", "2", ""), ("message", "3", "")],
        ),
        (
            "format-comments",
            format!("data:1\r:\0\n:\r\ndata:2\n:{long}\rdata:3\n:data:fail\r:{long}\ndata:4\n\n")
                .into(),
            vec![("message", "1\n2\n3\n4", "")],
        ),
        (
            "format-data-before-final-empty-line",
            b"retry:1000\ndata:test1\n\nid:test\ndata:test2".to_vec(),
            vec![("message", "test1", "")],
        ),
        (
            "format-field-data",
            b"data:\n\ndata\ndata\n\ndata:test\n\n".to_vec(),
            vec![("message", "", ""), ("message", "\n", ""), ("message", "test", "")],
        ),
        (
            "format-field-event-empty",
            b"event: \ndata:data\n\n".to_vec(),
            vec![("message", "data", "")],
        ),
        (
            "format-field-event",
            b"event:test\ndata:x\n\ndata:x\n\n".to_vec(),
            vec![("test", "x", ""), ("message", "x", "")],
        ),
        (
            "format-field-id",
            b"id: 1\ndata: a\n\ndata: b\n\nid:\ndata: c\n\n".to_vec(),
            vec![("message", "a", "1"), ("message", "b", "1"), ("message", "c", "")],
        ),
        (
            "format-field-id-2",
            b"id: 7\n\ndata: after\n\n".to_vec(),
            vec![("message", "after", "7")],
        ),
        (
            "format-field-id-null",
            b"id: 1\ndata: a\n\nid: 2\0\ndata: b\n\n".to_vec(),
            vec![("message", "a", "1"), ("message", "b", "1")],
        ),
        (
            "format-field-parsing",
            b"data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n".to_vec(),
            vec![("message", "\0\n 2\n1\n3\n\n4", "")],
        ),
        (
            "format-field-retry-bogus",
            b"retry:3000\nretry:1000x\nretry:  5\nretry:-1\nretry:1.5\ndata:x\n\n".to_vec(),
            vec![("message", "x", "")],
        ),
        (
            "format-field-unknown",
            b"data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n".to_vec(),
            vec![("message", "test\n\ntest", "")],
        ),
        (
            "format-leading-space",
            b"data:\ttest\rdata: \ndata:test\n\n".to_vec(),
            vec![("message", "\ttest\n\ntest", "")],
        ),
        (
            "format-newlines",
            b"data:test\r\ndata\ndata:test\r\n\r".to_vec(),
            vec![("message", "test\n\ntest", "")],
        ),
        (
            "format-null-character",
            b"data:\0\n\n\n\n".to_vec(),
            vec![("message", "\0", "")],
        ),
        (
            "format-utf-8",
            "data:ÿ😀\n\n".into(),
            vec![("message", "ÿ😀", "")],
        ),
        (
            "invalid-utf-8",
            b"data:a\xffb\xe2\x82\n\n".to_vec(),
            vec![("message", "a\u{fffd}b\u{fffd}", "")],
        ),
        (
            "crlf-across-chunks",
            b"data: a\r\ndata: b\r\n\r\n".to_vec(),
            vec![("message", "a\nb", "")],
        ),
    ]
}

/// Everything the client dispatches from one response, then `Closed`.
async fn dispatched(steps: Vec<Step>) -> Vec<(String, String, String)> {
    let server = RawServer::start(vec![steps]).await;
    let mut source = EventSource::get(server.url()).with_retry_limit(0).build();
    let mut seen = Vec::new();
    let mut opened = false;
    while let Some(item) = source.next().await {
        match item.expect("no error") {
            Item::Open(_) => opened = true,
            Item::Event(event) => seen.push((event.event_type, event.data, event.last_event_id)),
            Item::Closed => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(opened);
    seen
}

fn owned(expected: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    expected
        .iter()
        .map(|(t, d, i)| (t.to_string(), d.to_string(), i.to_string()))
        .collect()
}

#[tokio::test]
async fn format_cases_whole() {
    for (name, body, expected) in cases() {
        let mut bytes = stream_head();
        bytes.extend_from_slice(&body);
        let seen = dispatched(vec![Step::Write(bytes)]).await;
        assert_eq!(seen, owned(&expected), "{name}");
    }
}

#[tokio::test]
async fn format_cases_one_byte_per_segment() {
    for (name, body, expected) in cases() {
        if body.len() > 512 {
            continue; // the comments case: its 4 KiB would take seconds
        }
        let seen = dispatched(vec![Step::Write(stream_head()), Step::Trickle(body)]).await;
        assert_eq!(seen, owned(&expected), "{name}");
    }
}
