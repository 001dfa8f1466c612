//! The byte-level cases of web-platform-tests `eventsource/format-*.htm`,
//! replayed through the decoder, whole and one byte at a time.

use std::time::Duration;

use ssekit::decode::{Decoded, Decoder, MessageEvent};

/// Decodes `input` whole and byte by byte; both must agree.
fn decode(input: &[u8]) -> (Vec<Decoded>, Decoder) {
    let mut whole = Decoder::new();
    let items = whole.feed(input).unwrap();
    let mut bytewise = Decoder::new();
    let mut items_bytewise = Vec::new();
    for byte in input {
        bytewise
            .feed_into(std::slice::from_ref(byte), &mut items_bytewise)
            .unwrap();
    }
    assert_eq!(items, items_bytewise, "chunking changed the result");
    assert_eq!(whole.last_event_id(), bytewise.last_event_id());
    (items, whole)
}

fn events(input: &[u8]) -> Vec<MessageEvent> {
    decode(input)
        .0
        .into_iter()
        .filter_map(|item| match item {
            Decoded::Event(event) => Some(event),
            _ => None,
        })
        .collect()
}

fn data(input: &[u8]) -> Vec<String> {
    events(input).into_iter().map(|e| e.data).collect()
}

#[test]
fn format_bom_is_stripped_once() {
    assert_eq!(
        data("\u{feff}data:1\n\n\u{feff}data:2\n\ndata:3\n\n".as_bytes()),
        ["1", "3"]
    );
}

#[test]
fn format_bom_2_second_bom_is_data() {
    assert_eq!(
        data("\u{feff}\u{feff}data:1\n\ndata:2\n\ndata:3\n\n".as_bytes()),
        ["2", "3"]
    );
}

#[test]
fn format_comments() {
    let long = "x".repeat(2048);
    let input =
        format!("data:1\r:\0\n:\r\ndata:2\n:{long}\rdata:3\n:data:fail\r:{long}\ndata:4\n\n");
    assert_eq!(data(input.as_bytes()), ["1\n2\n3\n4"]);
}

#[test]
fn format_data_before_final_empty_line_is_not_dispatched() {
    let (items, decoder) = decode(b"retry:1000\ndata:test1\n\nid:test\ndata:test2");
    let data: Vec<_> = items
        .iter()
        .filter_map(|i| match i {
            Decoded::Event(e) => Some(e.data.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(data, ["test1"]);
    // The cut-off event's id was never committed.
    assert_eq!(decoder.last_event_id(), "");
    assert!(decoder.is_mid_event());
}

#[test]
fn format_field_data() {
    assert_eq!(
        data(b"data:\n\ndata\ndata\n\ndata:test\n\n"),
        ["", "\n", "test"]
    );
}

#[test]
fn format_field_event_empty_means_message() {
    let seen = events(b"event: \ndata:data\n\n");
    assert_eq!(seen[0].event_type, "message");
}

#[test]
fn format_field_event() {
    let seen = events(b"event:test\ndata:x\n\ndata:x\n\n");
    assert_eq!(seen[0].event_type, "test");
    assert_eq!(seen[1].event_type, "message");
}

#[test]
fn format_field_id_persists_across_events() {
    let seen = events(b"id: 1\ndata: a\n\ndata: b\n\nid:\ndata: c\n\n");
    let ids: Vec<_> = seen.iter().map(|e| e.last_event_id.as_str()).collect();
    assert_eq!(ids, ["1", "1", ""]);
}

#[test]
fn format_field_id_only_is_a_silent_checkpoint() {
    let (items, decoder) = decode(b"id: 7\n\n");
    assert!(items.is_empty());
    assert_eq!(decoder.last_event_id(), "7");
}

#[test]
fn format_field_id_with_null_is_ignored() {
    let seen = events(b"id: 1\ndata: a\n\nid: 2\0\ndata: b\n\n");
    assert_eq!(seen[1].last_event_id, "1");
}

#[test]
fn format_field_parsing() {
    let input = b"data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n";
    assert_eq!(data(input), ["\0\n 2\n1\n3\n\n4"]);
}

#[test]
fn format_field_retry_bogus_is_ignored() {
    let (items, decoder) =
        decode(b"retry:3000\nretry:1000x\nretry:  5\nretry:-1\nretry:1.5\ndata:x\n\n");
    assert_eq!(decoder.retry(), Some(Duration::from_millis(3000)));
    assert!(items.contains(&Decoded::Retry(Duration::from_millis(3000))));
}

#[test]
fn format_field_retry_empty_is_ignored() {
    let (_, decoder) = decode(b"retry\ndata:test\n\nretry:\n\n");
    assert_eq!(decoder.retry(), None);
}

#[test]
fn format_field_retry_leading_zeros() {
    let (_, decoder) = decode(b"retry:03000\ndata:x\n\n");
    assert_eq!(decoder.retry(), Some(Duration::from_millis(3000)));
}

#[test]
fn retry_too_large_for_u64_is_ignored() {
    let (_, decoder) = decode(b"retry:99999999999999999999999\n\n");
    assert_eq!(decoder.retry(), None);
}

#[test]
fn format_field_unknown() {
    assert_eq!(
        data(
            b"data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n"
        ),
        ["test\n\ntest"]
    );
}

#[test]
fn format_leading_space_only_one_stripped() {
    assert_eq!(
        data(b"data:\ttest\rdata: \ndata:test\n\n"),
        ["\ttest\n\ntest"]
    );
    assert_eq!(data(b"data:  two\n\n"), [" two"]);
}

#[test]
fn format_newlines_all_three_kinds() {
    assert_eq!(
        data(b"data:test\r\ndata\ndata:test\r\n\r"),
        ["test\n\ntest"]
    );
}

#[test]
fn format_null_character() {
    assert_eq!(data(b"data:\0\n\n\n\n"), ["\0"]);
}

#[test]
fn format_utf8() {
    assert_eq!(data("data:ÿ😀\n\n".as_bytes()), ["ÿ😀"]);
    // Invalid UTF-8 becomes U+FFFD, as the UTF-8 decode algorithm says.
    assert_eq!(data(b"data:a\xffb\xe2\x82\n\n"), ["a\u{fffd}b\u{fffd}"]);
}

#[test]
fn crlf_split_across_chunks_is_one_line_end() {
    let mut decoder = Decoder::new();
    let mut items = decoder.feed(b"data: a\r").unwrap();
    items.extend(decoder.feed(b"\ndata: b\r").unwrap());
    items.extend(decoder.feed(b"\n\r").unwrap());
    items.extend(decoder.feed(b"\n").unwrap());
    let Decoded::Event(event) = &items[0] else {
        panic!("{items:?}")
    };
    assert_eq!(event.data, "a\nb");
    assert_eq!(items.len(), 1);
}

#[test]
fn lone_cr_at_chunk_end_then_data_is_a_line_end() {
    let mut decoder = Decoder::new();
    decoder.feed(b"data: a\r").unwrap();
    let items = decoder.feed(b"\r").unwrap();
    assert_eq!(items.len(), 1);
}

#[test]
fn partial_bom_then_other_bytes_is_data() {
    // EF BB without BF is not a BOM: those bytes are part of the first line.
    let (items, _) = decode(b"\xef\xbbdata:x\n\ndata:y\n\n");
    let data: Vec<_> = items
        .iter()
        .filter_map(|i| match i {
            Decoded::Event(e) => Some(e.data.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(data, ["y"]);
}

#[test]
fn comments_are_reported() {
    let (items, _) = decode(b": keep-alive\n:x\n\n");
    assert_eq!(
        items,
        [
            Decoded::Comment("keep-alive".into()),
            Decoded::Comment("x".into())
        ]
    );
}

#[test]
fn line_without_colon_is_a_field_with_empty_value() {
    assert_eq!(data(b"data\n\n"), [""]);
}

#[test]
fn value_keeps_later_colons() {
    assert_eq!(data(b"data: a: b:c\n\n"), ["a: b:c"]);
}

#[test]
fn event_type_resets_after_dispatch_even_without_data() {
    let seen = events(b"event: x\n\ndata: y\n\n");
    assert_eq!(seen[0].event_type, "message");
}

#[test]
fn oversized_event_fails_and_stays_failed() {
    let mut decoder = Decoder::with_max_event_bytes(16);
    assert!(decoder.feed(b"data: 0123456789\n").is_ok());
    let err = decoder.feed(b"data: 0123456789\n").unwrap_err();
    assert_eq!(err.limit(), 16);
    assert!(decoder.feed(b"\n").is_err());

    // An endless line without a break is caught as well.
    let mut decoder = Decoder::with_max_event_bytes(16);
    assert!(decoder.feed(&[b'x'; 10]).is_ok());
    assert!(decoder.feed(&[b'x'; 10]).is_err());
}

#[test]
fn line_limit_is_separate_from_the_event_limit() {
    use ssekit::decode::Bound;
    // Many short lines fit an event of 64 bytes...
    let mut decoder = Decoder::with_max_event_bytes(64).with_max_line_bytes(8);
    assert!(decoder.feed(b"data: a\ndata: b\ndata: c\n\n").is_ok());
    // ...but one line of 9 bytes does not, even split across chunks.
    decoder.feed(b"data:").unwrap();
    let err = decoder.feed(b" abcd").unwrap_err();
    assert_eq!((err.bound(), err.limit()), (Bound::Line, 8));
    assert!(err.to_string().starts_with("a line"));

    // Lines of 7 bytes each pass the line limit; the third one takes the
    // event past 10 bytes (4 of data gathered, "1\n2\n").
    let mut decoder = Decoder::with_max_event_bytes(10).with_max_line_bytes(8);
    decoder.feed(b"data: 1\ndata: 2\n").unwrap();
    let err = decoder.feed(b"data: 3\n").unwrap_err();
    assert_eq!((err.bound(), err.limit()), (Bound::Event, 10));
}

#[test]
fn restart_drops_the_unfinished_event_and_keeps_the_id_and_retry() {
    let mut decoder = Decoder::new();
    decoder
        .feed(b"retry: 500\nid: 1\ndata: a\n\nid: 2\nevent: x\ndata: cut")
        .unwrap();
    assert!(decoder.is_mid_event());
    decoder.restart();
    assert!(!decoder.is_mid_event());
    // A BOM at the start of the next connection is stripped again, the
    // cut-off event's type and id are gone.
    let seen: Vec<_> = decoder
        .feed(b"\xEF\xBB\xBFdata: b\n\n")
        .unwrap()
        .into_iter()
        .collect();
    let Decoded::Event(event) = &seen[0] else {
        panic!("{seen:?}")
    };
    assert_eq!(
        (event.event_type.as_str(), event.data.as_str()),
        ("message", "b")
    );
    assert_eq!(event.last_event_id, "1");
    assert_eq!(decoder.retry(), Some(Duration::from_millis(500)));
}

#[test]
fn restart_clears_a_failure() {
    let mut decoder = Decoder::with_max_event_bytes(4);
    assert!(decoder.feed(b"data: toolong").is_err());
    decoder.restart();
    assert_eq!(decoder.feed(b"da").unwrap(), []);
}

#[test]
fn a_resumed_stream_starts_from_the_given_id() {
    let mut decoder = Decoder::new().with_last_event_id("41");
    let seen = decoder
        .feed(b"data: a\n\nid: 42\n\nid\ndata: c\n\n")
        .unwrap();
    let ids: Vec<_> = seen
        .iter()
        .filter_map(|item| match item {
            Decoded::Event(event) => Some(event.last_event_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(ids, ["41", ""]);
    assert_eq!(decoder.last_event_id(), "");
}
