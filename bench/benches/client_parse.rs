//! Parse throughput of the client's decoder (`ssekit::decode`, what
//! `ssekit-client` reads every connection with) against `eventsource-stream`
//! (the parser under `reqwest-eventsource`) and LaunchDarkly's
//! `eventsource-client` (its parser, copied into `vendor/` because the crate
//! keeps it private).
//!
//! ```sh
//! cargo bench -p ssekit-bench --bench client_parse
//! ```
//!
//! Each input is a whole stream cut into 4 KiB chunks, as a socket hands
//! them over, fed to a fresh parser per iteration; every parser yields every
//! event as owned strings (type, data, id), which the bench counts so that
//! none of the work can be skipped:
//!
//! * `small`: 1000 events like `event: tick` / `id: 123` / `data: {"n":123}`;
//! * `multi_line`: 200 events of 10 data lines of 40 bytes;
//! * `large_64k`: 16 events of one 64 KiB data line.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use futures_util::StreamExt;
use ssekit::decode::{Decoded, Decoder};

#[path = "vendor/ld_event_parser.rs"]
mod ld_event_parser;

const CHUNK: usize = 4096;

fn small() -> Vec<u8> {
    let mut out = Vec::new();
    for n in 0..1000 {
        out.extend_from_slice(format!("event: tick\nid: {n}\ndata: {{\"n\":{n}}}\n\n").as_bytes());
    }
    out
}

fn multi_line() -> Vec<u8> {
    let line = "0123456789".repeat(4);
    let mut out = Vec::new();
    for _ in 0..200 {
        for _ in 0..10 {
            out.extend_from_slice(format!("data: {line}\n").as_bytes());
        }
        out.push(b'\n');
    }
    out
}

fn large_64k() -> Vec<u8> {
    let data = "x".repeat(64 * 1024);
    let mut out = Vec::new();
    for _ in 0..16 {
        out.extend_from_slice(format!("data: {data}\n\n").as_bytes());
    }
    out
}

fn chunks(stream: &[u8]) -> Vec<Bytes> {
    stream.chunks(CHUNK).map(Bytes::copy_from_slice).collect()
}

fn ours(chunks: &[Bytes]) -> usize {
    let mut decoder = Decoder::new();
    let mut out = Vec::new();
    let mut events = 0;
    for chunk in chunks {
        decoder.feed_into(chunk, &mut out).expect("within limits");
        for item in out.drain(..) {
            if let Decoded::Event(event) = item {
                black_box(&event);
                events += 1;
            }
        }
    }
    events
}

fn eventsource_stream(chunks: &[Bytes]) -> usize {
    let input = futures_util::stream::iter(chunks.iter().cloned().map(Ok::<_, Infallible>));
    let events = eventsource_stream::EventStream::new(input).map(|event| {
        black_box(&event.expect("parses"));
    });
    futures::executor::block_on(events.count())
}

fn launchdarkly(chunks: &[Bytes]) -> usize {
    let mut parser = ld_event_parser::EventParser::new();
    let mut events = 0;
    for chunk in chunks {
        parser.process_bytes(chunk.clone()).expect("parses");
        while let Some(item) = parser.get_event() {
            if let ld_event_parser::SSE::Event(event) = item {
                black_box(&event);
                events += 1;
            }
        }
    }
    events
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("client_parse");
    for (name, stream, expected) in [
        ("small", small(), 1000),
        ("multi_line", multi_line(), 200),
        ("large_64k", large_64k(), 16),
    ] {
        let chunks = chunks(&stream);
        // All three dispatch the same number of events.
        assert_eq!(ours(&chunks), expected, "ours on {name}");
        assert_eq!(
            eventsource_stream(&chunks),
            expected,
            "eventsource-stream on {name}"
        );
        assert_eq!(
            launchdarkly(&chunks),
            expected,
            "eventsource-client on {name}"
        );
        group.throughput(Throughput::Bytes(stream.len() as u64));
        group.bench_with_input(BenchmarkId::new("ours", name), &chunks, |b, c| {
            b.iter(|| ours(c))
        });
        group.bench_with_input(
            BenchmarkId::new("eventsource_stream", name),
            &chunks,
            |b, c| b.iter(|| eventsource_stream(c)),
        );
        group.bench_with_input(BenchmarkId::new("launchdarkly", name), &chunks, |b, c| {
            b.iter(|| launchdarkly(c))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
