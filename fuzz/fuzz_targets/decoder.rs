//! The decoder on arbitrary bytes, cut into arbitrary chunks.
//!
//! Properties: it never panics, and feeding the bytes in pieces gives exactly
//! what feeding them at once gives: the same items, the same last event id,
//! retry and mid-event state, and the same failure when a size limit is hit.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ssekit::decode::{Decoded, Decoder};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// A small limit reaches the size-limit path; `None` uses the default.
    limit: Option<u16>,
    /// Cut points, taken modulo the input length. Repeats give empty chunks,
    /// which must be harmless (for instance between the CR and LF of a CRLF).
    cuts: Vec<u16>,
    bytes: &'a [u8],
}

fn decoder(limit: Option<u16>) -> Decoder {
    match limit {
        Some(limit) => Decoder::with_max_event_bytes(usize::from(limit)),
        None => Decoder::new(),
    }
}

/// What one run of the decoder left behind.
#[derive(Debug, PartialEq)]
struct Outcome {
    items: Vec<Decoded>,
    failed_with: Option<usize>,
    last_event_id: String,
    retry: Option<std::time::Duration>,
    mid_event: bool,
}

fn run<'a>(limit: Option<u16>, chunks: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut decoder = decoder(limit);
    let mut items = Vec::new();
    let mut failed_with = None;
    for chunk in chunks {
        match decoder.feed(chunk) {
            Ok(more) => items.extend(more),
            Err(error) => {
                failed_with = Some(error.limit());
                // A failed decoder stays failed.
                assert!(decoder.feed(b"data: more\n\n").is_err());
                break;
            }
        }
    }
    Outcome {
        items,
        failed_with,
        last_event_id: decoder.last_event_id().to_owned(),
        retry: decoder.retry(),
        mid_event: decoder.is_mid_event(),
    }
}

fuzz_target!(|input: Input<'_>| {
    let bytes = input.bytes;
    let mut cuts: Vec<usize> = input
        .cuts
        .iter()
        .map(|&cut| usize::from(cut) % (bytes.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut chunks = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        chunks.push(&bytes[start..cut]);
        start = cut;
    }
    chunks.push(&bytes[start..]);

    let whole = run(input.limit, [bytes]);
    let pieces = run(input.limit, chunks.iter().copied());

    match whole.failed_with {
        None => assert_eq!(pieces, whole, "chunks {chunks:?}"),
        Some(limit) => {
            // At once, a failure discards the whole call's output; in pieces,
            // the chunks before the failing one were already returned. They
            // must be exactly the start of what an unlimited decoder sees.
            assert_eq!(pieces.failed_with, Some(limit), "chunks {chunks:?}");
            let unlimited = run(None, [bytes]);
            assert!(
                unlimited.items.starts_with(&pieces.items),
                "chunks {chunks:?}: {:?} is not a prefix of {:?}",
                pieces.items,
                unlimited.items
            );
        }
    }
    for item in &whole.items {
        if let Decoded::Event(event) = item {
            assert!(!event.event_type.is_empty());
            assert!(!event.last_event_id.contains(['\0', '\r', '\n']));
        }
    }
});
