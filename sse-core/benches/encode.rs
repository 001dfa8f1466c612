//! Encoder throughput on the inputs of a typical stream.
//! Run: `cargo bench -p ssekit --bench encode`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ssekit::Event;

fn inputs() -> Vec<(&'static str, Event)> {
    let multi_line = "first line\r\nsecond line\rthird line\nfourth line\n".repeat(4);
    let large = "x".repeat(64 * 1024);
    let json = serde_json::json!({
        "user": "alice",
        "text": "hello, world",
        "at": "2026-11-21T12:00:00Z",
        "tags": ["a", "b", "c"],
        "n": 12345,
    });
    vec![
        (
            "small",
            Event::message("hello world")
                .with_event("greeting")
                .try_with_id("42")
                .unwrap(),
        ),
        ("multi_line", Event::message(multi_line)),
        ("large_64k", Event::message(large)),
        (
            "json",
            Event::json(&json).unwrap().try_with_id("7").unwrap(),
        ),
    ]
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (name, event) in inputs() {
        group.throughput(Throughput::Bytes(event.encode().len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &event, |b, event| {
            b.iter(|| black_box(event).encode())
        });
    }
    group.finish();

    // Building from a serialisable value and encoding, as a broadcaster would.
    c.bench_function("encode/json_from_value", |b| {
        let value = serde_json::json!({"user": "alice", "text": "hello, world", "n": 12345});
        b.iter(|| Event::json(black_box(&value)).unwrap().encode())
    });
}

criterion_group!(benches, encode);
criterion_main!(benches);
