//! The fixed script every server must send byte for byte, and what a client
//! must make of it.

use std::time::Duration;

use ssekit::decode::MessageEvent;
use ssekit::{Event, EventId};

/// The retry hint sent first by `/script`.
pub const SCRIPT_RETRY: Duration = Duration::from_millis(2500);

/// The events of `/script`, in order (sent after the `retry: 2500` hint, with
/// keep-alive off).
pub fn script_events() -> Vec<Event> {
    vec![
        Event::new().with_comment("conformance script"),
        Event::message("hello").with_event("greeting"),
        Event::message("multi\nline\r\ncrlf\rcr"),
        Event::message(""),
        Event::message("trailing\n"),
        Event::new().with_id(7_u32),
        Event::message("  two leading spaces"),
        Event::message("héllo wörld 😀 ñ 中文"),
        Event::message("with id")
            .with_id(8_u32)
            .with_retry(Duration::from_millis(1000)),
        Event::message("id reset").with_id(EventId::from_static("")),
        Event::message("bye").with_event("done"),
    ]
}

/// The exact bytes of `/script`, written out by hand from the WHATWG rules
/// (not produced by the encoder under test).
pub const SCRIPT_BYTES: &str = concat!(
    "retry: 2500\n\n",
    ": conformance script\n\n",
    "event: greeting\ndata: hello\n\n",
    "data: multi\ndata: line\ndata: crlf\ndata: cr\n\n",
    "data: \n\n",
    "data: trailing\ndata: \n\n",
    "id: 7\n\n",
    "data:   two leading spaces\n\n",
    "data: héllo wörld 😀 ñ 中文\n\n",
    "id: 8\nretry: 1000\ndata: with id\n\n",
    "id: \ndata: id reset\n\n",
    "event: done\ndata: bye\n\n",
);

/// What an `EventSource` dispatches for `/script`.
pub fn script_expected() -> Vec<MessageEvent> {
    let event = |event_type: &str, data: &str, last_event_id: &str| MessageEvent {
        event_type: event_type.to_owned(),
        data: data.to_owned(),
        last_event_id: last_event_id.to_owned(),
    };
    vec![
        event("greeting", "hello", ""),
        event("message", "multi\nline\ncrlf\ncr", ""),
        event("message", "", ""),
        event("message", "trailing\n", ""),
        event("message", "  two leading spaces", "7"),
        event("message", "héllo wörld 😀 ñ 中文", "7"),
        event("message", "with id", "8"),
        event("message", "id reset", ""),
        event("done", "bye", ""),
    ]
}

/// Size of the `/large` event's data.
pub const LARGE_LEN: usize = 1024 * 1024;

/// The data of the `/large` event: 1 MiB of printable text in lines of 1000
/// bytes (line breaks alternate LF and CRLF on the way out; a client sees LF).
pub fn large_data(line_break: &str) -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut data = String::with_capacity(LARGE_LEN + LARGE_LEN / 500);
    let mut written = 0;
    while written < LARGE_LEN {
        let line_len = 999.min(LARGE_LEN - written);
        for i in 0..line_len {
            data.push(char::from(alphabet[(written + i) % alphabet.len()]));
        }
        written += line_len;
        if written < LARGE_LEN {
            data.push_str(line_break);
            written += 1;
        }
    }
    data
}
