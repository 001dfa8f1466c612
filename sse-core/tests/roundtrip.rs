//! Property tests: everything the encoder writes decodes back to what was sent
//! (line ends normalised to LF), in any chunking, and invalid fields never reach
//! the wire.

use std::time::Duration;

use proptest::prelude::*;
use ssekit::decode::{Decoded, Decoder};
use ssekit::{Event, Field};

/// Text drawn from the characters that matter on the wire.
fn wire_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("\r".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\0".to_owned()),
        Just("\u{feff}".to_owned()),
        Just(" ".to_owned()),
        Just(":".to_owned()),
        Just("data: ".to_owned()),
        Just("é😀".to_owned()),
        "[a-z]{1,4}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(pieces, 0..8).prop_map(|p| p.concat())
}

#[derive(Debug, Clone)]
struct Fields {
    event: Option<String>,
    id: Option<String>,
    retry: Option<u32>,
    data: Option<String>,
    comment: Option<String>,
}

fn fields() -> impl Strategy<Value = Fields> {
    (
        prop::option::of(wire_text()),
        prop::option::of(wire_text()),
        prop::option::of(any::<u32>()),
        prop::option::of(wire_text()),
        prop::option::of(wire_text()),
    )
        .prop_map(|(event, id, retry, data, comment)| Fields {
            event,
            id,
            retry,
            data,
            comment,
        })
}

fn build(fields: &Fields) -> Result<Event, ssekit::EventError> {
    let mut event = Event::new();
    if let Some(data) = &fields.data {
        event = event.with_data(data.clone());
    }
    if let Some(comment) = &fields.comment {
        event = event.with_comment(comment);
    }
    if let Some(retry) = fields.retry {
        event = event.with_retry(Duration::from_millis(retry.into()));
    }
    if let Some(name) = &fields.event {
        event = event.try_with_event(name.clone())?;
    }
    if let Some(id) = &fields.id {
        event = event.try_with_id(id.clone())?;
    }
    Ok(event)
}

fn normalise(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

fn is_invalid(field: Field, value: &str) -> bool {
    match field {
        Field::Id => value.contains(['\r', '\n', '\0']),
        _ => value.contains(['\r', '\n']),
    }
}

fn decode_in_chunks(bytes: &[u8], cuts: &[usize]) -> (Vec<Decoded>, Decoder) {
    let mut decoder = Decoder::new();
    let mut items = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut start = 0;
    for point in points.into_iter().chain([bytes.len()]) {
        decoder.feed_into(&bytes[start..point], &mut items).unwrap();
        start = point;
    }
    (items, decoder)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn valid_events_round_trip_and_invalid_ones_are_refused(
        fields in fields(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let invalid = fields.event.as_deref().is_some_and(|v| is_invalid(Field::Event, v))
            || fields.id.as_deref().is_some_and(|v| is_invalid(Field::Id, v));
        let event = match build(&fields) {
            Ok(event) => event,
            Err(error) => {
                prop_assert!(invalid, "refused a valid event: {error}");
                prop_assert!(['\r', '\n', '\0'].contains(&error.character()));
                return Ok(());
            }
        };
        prop_assert!(!invalid, "accepted an invalid event");

        let frame = event.encode();
        let (items, decoder) = decode_in_chunks(frame.as_bytes(), &cuts);
        let (whole, _) = decode_in_chunks(frame.as_bytes(), &[]);
        prop_assert_eq!(&items, &whole);

        let mut expected = Vec::new();
        if let Some(comment) = &fields.comment {
            for line in normalise(comment).split('\n') {
                expected.push(Decoded::Comment(line.to_owned()));
            }
        }
        if let Some(retry) = fields.retry {
            expected.push(Decoded::Retry(Duration::from_millis(retry.into())));
        }
        let last_event_id = fields.id.clone().unwrap_or_default();
        if let Some(data) = &fields.data {
            let event_type = match fields.event.as_deref() {
                None | Some("") => "message".to_owned(),
                Some(name) => name.to_owned(),
            };
            expected.push(Decoded::Event(ssekit::decode::MessageEvent {
                event_type,
                data: normalise(data),
                last_event_id: last_event_id.clone(),
            }));
        }
        prop_assert_eq!(items, expected);
        prop_assert_eq!(decoder.last_event_id(), last_event_id.as_str());
        prop_assert!(!decoder.is_mid_event());
    }

    #[test]
    fn arbitrary_bytes_in_any_chunks_decode_the_same(
        bytes in prop::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b':'), Just(b' '), Just(0xEF), Just(0xBB), Just(0xBF), any::<u8>()],
            0..200,
        ),
        prefix in prop::collection::vec(prop_oneof![Just(&b"data"[..]), Just(&b"id"[..]), Just(&b"event"[..]), Just(&b"retry"[..])], 0..3),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut input = prefix.concat();
        input.extend_from_slice(&bytes);
        let (chunked, chunked_decoder) = decode_in_chunks(&input, &cuts);
        let (whole, whole_decoder) = decode_in_chunks(&input, &[]);
        prop_assert_eq!(chunked, whole);
        prop_assert_eq!(chunked_decoder.last_event_id(), whole_decoder.last_event_id());
    }

    #[test]
    fn a_stream_of_events_keeps_ids_in_order(
        ids in prop::collection::vec("[0-9a-z]{0,3}", 1..10),
    ) {
        let mut wire = Vec::new();
        for id in &ids {
            wire.extend_from_slice(Event::message("x").try_with_id(id.clone()).unwrap().encode().as_bytes());
        }
        let seen = ssekit::decode::events(&wire).unwrap();
        let seen_ids: Vec<_> = seen.into_iter().map(|e| e.last_event_id).collect();
        prop_assert_eq!(seen_ids, ids);
    }
}
