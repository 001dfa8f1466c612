//! Arbitrary event fields through the encoder and back through the decoder.
//!
//! Properties: a value that cannot be written (CR or LF in `event`; CR, LF or
//! NUL in `id`) is refused with an `EventError` naming the field, the first
//! offending character and its byte offset; everything else decodes back to
//! exactly what was set, with the line ends of data and comments turned into
//! LF, as one event at most: no value can smuggle in a field or an event.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ssekit::decode::{Decoded, Decoder};
use ssekit::{Event, EventError, Field};

#[derive(Arbitrary, Debug)]
struct Input {
    event: Option<String>,
    id: Option<String>,
    /// Milliseconds and a sub-millisecond part the encoder must drop.
    retry: Option<(u64, u16)>,
    data: Option<String>,
    comments: Vec<String>,
}

/// What `check` in `ssekit::event` must find: the first forbidden byte.
fn first_forbidden(value: &str, forbidden: &[u8]) -> Option<(char, usize)> {
    value
        .bytes()
        .position(|b| forbidden.contains(&b))
        .map(|at| (char::from(value.as_bytes()[at]), at))
}

fn expect_refusal(
    result: Result<Event, EventError>,
    field: Field,
    value: &str,
    forbidden: &[u8],
) -> Option<Event> {
    match (result, first_forbidden(value, forbidden)) {
        (Ok(event), None) => Some(event),
        (Err(error), Some((character, position))) => {
            assert_eq!(
                (error.field(), error.character(), error.position()),
                (field, character, position),
                "{value:?}"
            );
            assert!(!error.to_string().is_empty());
            None
        }
        (Ok(_), Some(found)) => panic!("{field} {value:?} accepted despite {found:?}"),
        (Err(error), None) => panic!("{field} {value:?} refused: {error}"),
    }
}

/// Line ends as a client reads them back: CRLF and CR become LF.
fn normalised(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

fuzz_target!(|input: Input| {
    let mut event = Event::new();
    if let Some(data) = &input.data {
        event = event.with_data(data.as_str());
    }
    if let Some(value) = &input.event {
        match expect_refusal(
            event.clone().try_with_event(value.as_str()),
            Field::Event,
            value,
            b"\r\n",
        ) {
            Some(accepted) => event = accepted,
            None => return,
        }
    }
    if let Some(value) = &input.id {
        match expect_refusal(
            event.clone().try_with_id(value.as_str()),
            Field::Id,
            value,
            b"\r\n\0",
        ) {
            Some(accepted) => event = accepted,
            None => return,
        }
    }
    let retry = input.retry.map(|(ms, micros)| {
        Duration::from_millis(ms) + Duration::from_micros(u64::from(micros % 1000))
    });
    if let Some(retry) = retry {
        event = event.with_retry(retry);
    }
    for comment in &input.comments {
        event = event.with_comment(comment);
    }

    let frame = event.encode();
    let bytes = frame.as_bytes();
    let nothing_set = input.data.is_none()
        && input.event.is_none()
        && input.id.is_none()
        && retry.is_none()
        && input.comments.is_empty();
    assert_eq!(bytes.is_empty(), nothing_set);
    if !bytes.is_empty() {
        assert!(bytes.ends_with(b"\n\n"), "{frame:?}");
    }
    // Every line end is written as LF, whatever the input used.
    assert!(!bytes.contains(&b'\r'), "{frame:?}");

    let mut decoder = Decoder::new();
    let items = decoder
        .feed(bytes)
        .expect("one small frame is within the limit");
    assert!(!decoder.is_mid_event(), "{frame:?}");

    let mut expected = Vec::new();
    if !input.comments.is_empty() {
        let joined = normalised(&input.comments.join("\n"));
        expected.extend(
            joined
                .split('\n')
                .map(|line| Decoded::Comment(line.to_owned())),
        );
    }
    if let Some(retry) = retry {
        expected.push(Decoded::Retry(Duration::from_millis(
            retry.as_millis() as u64
        )));
    }
    let last_event_id = input.id.clone().unwrap_or_default();
    if let Some(data) = &input.data {
        let event_type = match input.event.as_deref() {
            None | Some("") => "message".to_owned(),
            Some(named) => named.to_owned(),
        };
        expected.push(Decoded::Event(ssekit::decode::MessageEvent {
            event_type,
            data: normalised(data),
            last_event_id: last_event_id.clone(),
        }));
    }
    assert_eq!(items, expected, "{frame:?}");
    assert_eq!(decoder.last_event_id(), last_event_id);
    assert_eq!(
        decoder.retry(),
        retry.map(|r| Duration::from_millis(r.as_millis() as u64))
    );
});
