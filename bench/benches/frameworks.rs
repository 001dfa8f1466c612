//! Our encoder against the SSE encoders of axum, actix-web-lab, warp and poem,
//! on the same inputs, from owned input to the bytes a connection writes.
//! Run: `cargo bench -p ssekit-bench --bench frameworks`.
//!
//! Each framework is driven the cheapest way that still runs its own code
//! path, since none of them exposes its encoder:
//!
//! * axum: an `Sse` response body over an endless stream that builds the
//!   event, polled for one frame per iteration (axum encodes while the event
//!   is built, from `&str`, and `finalize`s in `poll_frame`);
//! * actix-web-lab: `Sse` as a `MessageBody`, polled the same way, fed owned
//!   strings through a slot (it takes `ByteString`, so a `String` is moved);
//! * warp and poem: `event.to_string()` into `Bytes`, exactly what their SSE
//!   replies do with each event (`Display`).
//!
//! Inputs come as owned `String`s made outside the timed part (apps usually
//! hold a `String`: `format!`, `serde_json::to_string`); `ours_from_str` also
//! copies the data from a `&str`, for readers whose data is borrowed.
//! Those owned inputs are made a few at a time for large inputs
//! ([`batch_size`]), so that they are as warm in the cache as the input axum
//! borrows over and over.
//! Note that the native encoders do not split on CR (the multi-line input is
//! written wrong by all four): their figures are for their own output.

use std::cell::RefCell;
use std::hint::black_box;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_web::body::MessageBody;
use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{criterion_group, BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use futures_util::stream;
use http_body::Body as _;
use ssekit::Event;

#[derive(Clone)]
struct Input {
    name: &'static str,
    data: String,
    event: Option<&'static str>,
    id: Option<&'static str>,
}

fn inputs() -> Vec<Input> {
    let json = serde_json::json!({
        "user": "alice",
        "text": "hello, world",
        "at": "2026-11-21T12:00:00Z",
        "tags": ["a", "b", "c"],
        "n": 12345,
    });
    vec![
        Input {
            name: "small",
            data: "hello world".into(),
            event: Some("greeting"),
            id: Some("42"),
        },
        Input {
            name: "multi_line",
            data: "first line\r\nsecond line\rthird line\nfourth line\n".repeat(4),
            event: None,
            id: None,
        },
        Input {
            name: "large_64k",
            data: "x".repeat(64 * 1024),
            event: None,
            id: None,
        },
        Input {
            name: "json",
            data: json.to_string(),
            event: None,
            id: Some("7"),
        },
    ]
}

// Encoders that take the input over hand the event back, so that freeing the
// input (the application's string, not the encoder's work) happens outside the
// timed part for them as for axum, which borrows it.

fn ours(input: Input) -> (Bytes, Event) {
    let mut event = Event::message(input.data);
    if let Some(name) = input.event {
        event = event.try_with_event(name).unwrap();
    }
    if let Some(id) = input.id {
        event = event.try_with_id(id).unwrap();
    }
    (event.encode().into_bytes(), event)
}

fn ours_from_str(input: &Input) -> (Bytes, Event) {
    ours(Input {
        data: input.data.as_str().into(),
        ..input.clone()
    })
}

fn axum_event(input: &Input) -> axum::response::sse::Event {
    let mut event = axum::response::sse::Event::default();
    if let Some(name) = input.event {
        event = event.event(name);
    }
    if let Some(id) = input.id {
        event = event.id(id);
    }
    event.data(&input.data)
}

fn warp(input: Input) -> (Bytes, warp::sse::Event) {
    let mut event = warp::sse::Event::default();
    if let Some(name) = input.event {
        event = event.event(name);
    }
    if let Some(id) = input.id {
        event = event.id(id);
    }
    let event = event.data(input.data);
    (Bytes::from(event.to_string()), event)
}

fn poem(input: Input) -> (Bytes, poem::web::sse::Event) {
    let mut event = poem::web::sse::Event::message(input.data);
    if let Some(name) = input.event {
        event = event.event_type(name);
    }
    if let Some(id) = input.id {
        event = event.id(id);
    }
    (Bytes::from(event.to_string()), event)
}

fn actix_event(input: Input) -> actix_web_lab::sse::Event {
    let mut data = actix_web_lab::sse::Data::new(input.data);
    if let Some(name) = input.event {
        data = data.event(name);
    }
    if let Some(id) = input.id {
        data = data.id(id);
    }
    data.into()
}

/// axum's `Sse` body, building each event from `input` when polled.
fn axum_body(input: Arc<Input>) -> axum::body::Body {
    use axum::response::IntoResponse;
    let events = stream::repeat_with(move || Ok::<_, std::convert::Infallible>(axum_event(&input)));
    axum::response::sse::Sse::new(events)
        .into_response()
        .into_body()
}

fn poll_axum(body: &mut axum::body::Body) -> Bytes {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(body).poll_frame(&mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap(),
        _ => unreachable!("the stream is endless and always ready"),
    }
}

type ActixSse = actix_web_lab::sse::Sse<
    actix_web_lab::util::InfallibleStream<
        stream::RepeatWith<Box<dyn FnMut() -> actix_web_lab::sse::Event>>,
    >,
>;

/// actix-web-lab's `Sse` body over an endless stream of `next()`'s events.
fn actix_body(next: Box<dyn FnMut() -> actix_web_lab::sse::Event>) -> Pin<Box<ActixSse>> {
    Box::pin(actix_web_lab::sse::Sse::from_infallible_stream(
        stream::repeat_with(next),
    ))
}

/// An actix body taking each owned input from `slot` when polled.
fn actix_slot_body(slot: Rc<RefCell<Option<Input>>>) -> Pin<Box<ActixSse>> {
    actix_body(Box::new(move || {
        actix_event(slot.borrow_mut().take().expect("filled before each poll"))
    }))
}

fn poll_actix(body: &mut Pin<Box<ActixSse>>) -> Bytes {
    let mut cx = Context::from_waker(Waker::noop());
    match body.as_mut().poll_next(&mut cx) {
        Poll::Ready(Some(Ok(bytes))) => bytes,
        _ => unreachable!("the stream is endless and always ready"),
    }
}

/// How many owned inputs criterion makes ahead of each timed batch. Small
/// inputs: criterion's default for small ones (thousands, so the timer's own
/// cost vanishes). Large ones: a few, or the batch of fresh 64 KiB copies
/// would be cold in the cache (and each output a first touch of new memory)
/// while axum, which borrows its input, reads the same warm bytes each time.
/// Measured here: ours on 64 KiB took 41 µs per iteration in batches of
/// thousands, 2.3 µs in batches of four.
fn batch_size(bytes: usize) -> BatchSize {
    if bytes > 16 * 1024 {
        BatchSize::NumIterations(4)
    } else {
        BatchSize::SmallInput
    }
}

/// The "mixed" figure of an encoder that takes owned input: all inputs,
/// freshly cloned outside the timed part, encoded in one iteration.
fn bench_mixed_owned<T>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    all: &[Input],
    encode: fn(Input) -> T,
) {
    let batch = batch_size(all.iter().map(|input| input.data.len()).sum());
    group.bench_function(name, |b| {
        b.iter_batched(
            || all.to_vec(),
            |inputs| inputs.into_iter().map(encode).collect::<Vec<_>>(),
            batch,
        )
    });
}

fn encoders(c: &mut Criterion) {
    let mut group = c.benchmark_group("frameworks");
    for input in inputs() {
        group.throughput(Throughput::Bytes(input.data.len() as u64));
        let batch = batch_size(input.data.len());
        let id = |encoder: &str| BenchmarkId::new(encoder, input.name);
        group.bench_function(id("ours"), |b| {
            b.iter_batched(|| input.clone(), ours, batch)
        });
        group.bench_function(id("ours_from_str"), |b| {
            b.iter_batched(|| (), |()| ours_from_str(black_box(&input)), batch)
        });
        group.bench_function(id("axum"), |b| {
            let mut body = axum_body(Arc::new(input.clone()));
            b.iter(|| poll_axum(&mut body))
        });
        group.bench_function(id("actix_web_lab"), |b| {
            let slot = Rc::new(RefCell::new(None));
            let mut body = actix_slot_body(slot.clone());
            b.iter_batched(
                || input.clone(),
                |input| {
                    *slot.borrow_mut() = Some(input);
                    poll_actix(&mut body)
                },
                batch,
            )
        });
        group.bench_function(id("warp"), |b| {
            b.iter_batched(|| input.clone(), warp, batch)
        });
        group.bench_function(id("poem"), |b| {
            b.iter_batched(|| input.clone(), poem, batch)
        });
    }
    group.finish();

    // All four inputs per iteration: the "mixed" figure.
    let all = inputs();
    let bytes: usize = all.iter().map(|i| i.data.len()).sum();
    let mut group = c.benchmark_group("frameworks_mixed");
    group.throughput(Throughput::Bytes(bytes as u64));
    bench_mixed_owned(&mut group, "ours", &all, ours);
    group.bench_function("axum", |b| {
        let mut bodies: Vec<_> = all.iter().map(|i| axum_body(Arc::new(i.clone()))).collect();
        b.iter(|| bodies.iter_mut().map(poll_axum).collect::<Vec<_>>())
    });
    group.bench_function("actix_web_lab", |b| {
        let slot = Rc::new(RefCell::new(None));
        let mut body = actix_slot_body(slot.clone());
        b.iter_batched(
            || all.clone(),
            |inputs| {
                inputs
                    .into_iter()
                    .map(|input| {
                        *slot.borrow_mut() = Some(input);
                        poll_actix(&mut body)
                    })
                    .collect::<Vec<_>>()
            },
            batch_size(bytes),
        )
    });
    bench_mixed_owned(&mut group, "warp", &all, warp);
    bench_mixed_owned(&mut group, "poem", &all, poem);
    group.finish();
}

/// One 256-byte event for N subscribers. Ours: what `Hub::publish` does,
/// encode once and hand every subscriber the same bytes (a reference count).
/// Native: the broadcast recipe, where each subscriber's response body
/// receives its own clone of the `String` and builds and encodes its event.
fn broadcast(c: &mut Criterion) {
    let data = format!("{:x<256}", "0 1700000000000000000 ");
    let mut group = c.benchmark_group("broadcast");
    for subscribers in [1usize, 100, 10_000] {
        group.throughput(Throughput::Elements(subscribers as u64));
        let mut out: Vec<Bytes> = Vec::with_capacity(subscribers);
        let id = |name: &str| BenchmarkId::new(name, subscribers);
        group.bench_function(id("ours"), |b| {
            b.iter(|| {
                out.clear();
                let frame = Event::message(black_box(data.as_str()))
                    .encode()
                    .into_bytes();
                out.extend(std::iter::repeat_n(frame, subscribers));
            })
        });
        group.bench_function(id("axum"), |b| {
            let message = Arc::new(data.clone());
            let mut bodies: Vec<_> = (0..subscribers)
                .map(|_| {
                    let message = message.clone();
                    let events = stream::repeat_with(move || {
                        let received = String::clone(&message);
                        Ok::<_, std::convert::Infallible>(
                            axum::response::sse::Event::default().data(received),
                        )
                    });
                    use axum::response::IntoResponse;
                    axum::response::sse::Sse::new(events)
                        .into_response()
                        .into_body()
                })
                .collect();
            b.iter(|| {
                out.clear();
                out.extend(bodies.iter_mut().map(poll_axum));
            })
        });
        group.bench_function(id("actix_web_lab"), |b| {
            let message = Rc::new(data.clone());
            let mut bodies: Vec<_> = (0..subscribers)
                .map(|_| {
                    let message = message.clone();
                    actix_body(Box::new(move || {
                        actix_web_lab::sse::Data::new(String::clone(&message)).into()
                    }))
                })
                .collect();
            b.iter(|| {
                out.clear();
                out.extend(bodies.iter_mut().map(poll_actix));
            })
        });
        group.bench_function(id("warp"), |b| {
            b.iter(|| {
                out.clear();
                out.extend((0..subscribers).map(|_| {
                    let received = black_box(&data).clone();
                    Bytes::from(warp::sse::Event::default().data(received).to_string())
                }));
            })
        });
        group.bench_function(id("poem"), |b| {
            b.iter(|| {
                out.clear();
                out.extend((0..subscribers).map(|_| {
                    let received = black_box(&data).clone();
                    Bytes::from(poem::web::sse::Event::message(received).to_string())
                }));
            })
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
    targets = encoders, broadcast
}

/// Keeps freed memory in the process, as a long-running server's heap does.
/// By default glibc hands the top of the heap back to the kernel once 128 KiB
/// of it is free, which a batch of 64 KiB outputs freed at once triggers: every
/// next batch then wrote to fresh pages, and the 64 KiB figure of the encoders
/// that take owned input measured the kernel's page faults (a million in three
/// seconds), while axum's, freeing one output per iteration, did not.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes a setting of glibc's allocator, before any
    // benchmark thread exists.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn main() {
    keep_freed_memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
