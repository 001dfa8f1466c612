//! Any bytes, cut anywhere, decode the same as when they arrive whole: the
//! decoder streams a `data` line cut by a chunk's end straight into the data,
//! so a cut exercises another path than a whole line does.

use proptest::prelude::*;
use ssekit::decode::Decoder;

/// Bytes rich in what matters: field names, colons, spaces, line ends, a BOM
/// and invalid or split UTF-8.
fn stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"data:".to_vec()),
        Just(b"data: ".to_vec()),
        Just(b"data".to_vec()),
        Just(b"event: x".to_vec()),
        Just(b"id: 1".to_vec()),
        Just(b"id".to_vec()),
        Just(b"retry: 10".to_vec()),
        Just(b":c".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just("é😀".as_bytes().to_vec()),
        Just(b"\xff\xe2\x82".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
        "[a-z ]{0,12}".prop_map(String::into_bytes),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn chunking_never_changes_the_result(
        bytes in stream_bytes(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut whole = Decoder::new();
        let expected = whole.feed(&bytes).unwrap();

        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        let mut chunked = Decoder::new();
        let mut got = Vec::new();
        let mut from = 0;
        for to in at.into_iter().chain([bytes.len()]) {
            chunked.feed_into(&bytes[from..to], &mut got).unwrap();
            from = to;
        }
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(chunked.last_event_id(), whole.last_event_id());
        prop_assert_eq!(chunked.is_mid_event(), whole.is_mid_event());

        let mut bytewise = Decoder::new();
        let mut got = Vec::new();
        for byte in &bytes {
            bytewise.feed_into(std::slice::from_ref(byte), &mut got).unwrap();
        }
        prop_assert_eq!(&got, &expected);
    }

    #[test]
    fn limits_hold_whatever_the_chunking(
        bytes in stream_bytes(),
        split in any::<prop::sample::Index>(),
    ) {
        // Failing or not, at the same limit, for whole and cut input.
        let at = split.index(bytes.len() + 1);
        let whole = Decoder::with_max_event_bytes(24).with_max_line_bytes(12).feed(&bytes);
        let mut cut = Decoder::with_max_event_bytes(24).with_max_line_bytes(12);
        let first = cut.feed(&bytes[..at]);
        let second = first.as_ref().ok().map(|_| cut.feed(&bytes[at..]));
        let cut_failed = first.is_err() || second.is_some_and(|r| r.is_err());
        prop_assert_eq!(whole.is_err(), cut_failed);
    }
}
