//! What one idle SSE stream keeps allocated, ours against axum's native
//! recipe: the heap side of the "RSS/conn idle" column of `bench-all`, counted
//! exactly instead of read off RSS.
//!
//! `cargo run --release -p ssekit-bench --example allocs_per_stream`
//!
//! Each variant builds 1 000 response bodies the way its server in
//! `sse-bench-server` does (ours: a hub subscription published through
//! `ssekit-axum`'s extractor; native: axum's `Sse` over a `BroadcastStream`),
//! polls each once (so lazily made timers exist, as on a connection waiting
//! for its first event), keeps them all, and reports the heap blocks and
//! bytes still held per body. The framework's own connection state (hyper's buffers, the
//! task) is the same for both and not counted.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Waker};

use axum::extract::FromRequestParts;
use axum::response::IntoResponse;
use futures_util::{FutureExt, StreamExt};
use http_body::Body as _;
use ssekit::SsePublisher;
use ssekit_bench::alloc_count::{held, Counting};

#[global_allocator]
static COUNTING: Counting = Counting;

const BODIES: usize = 1000;

/// Heap blocks and bytes held per body, once `BODIES` bodies exist and were
/// each polled once.
fn held_per_body(mut make: impl FnMut() -> axum::body::Body) -> (f64, f64) {
    let mut cx = Context::from_waker(Waker::noop());
    let mut bodies = Vec::with_capacity(BODIES);
    // The first one may set up shared state (the hub's topic): not counted.
    bodies.push(make());
    let (blocks, bytes) = held();
    for _ in 1..BODIES {
        let mut body = make();
        let _ = Pin::new(&mut body).poll_frame(&mut cx);
        bodies.push(body);
    }
    let per_body = |now: isize, before: isize| (now - before) as f64 / (BODIES - 1) as f64;
    (per_body(held().0, blocks), per_body(held().1, bytes))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Bodies start their timers on first poll, inside a runtime.
    let _inside = runtime.enter();

    let hub: ssekit::hub::Hub = ssekit::hub::Hub::new();
    let ours = held_per_body(|| {
        // The adapter's own extractor and response, as a handler gets them.
        let (mut request, ()) = axum::http::Request::get("/sse")
            .body(())
            .expect("request")
            .into_parts();
        let publisher = ssekit_axum::Publisher::from_request_parts(&mut request, &())
            .now_or_never()
            .expect("the extractor is ready at once")
            .expect("the extractor never fails");
        publisher
            .publish(hub.subscribe(ssekit_bench::TOPIC, None))
            .into_body()
    });

    let (sender, _keep_open) = tokio::sync::broadcast::channel::<String>(ssekit_bench::QUEUE);
    let native = held_per_body(|| {
        use axum::response::sse::{Event, KeepAlive, Sse};
        let events = tokio_stream::wrappers::BroadcastStream::new(sender.subscribe())
            .filter_map(|item| std::future::ready(item.ok()))
            .map(|data| Ok::<_, Infallible>(Event::default().data(data)));
        Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response()
            .into_body()
    });

    println!("| variant | heap blocks per idle stream | bytes per idle stream |");
    println!("|---|---|---|");
    for (name, (blocks, bytes)) in [("ssekit-axum + hub", ours), ("axum native", native)] {
        println!("| {name} | {blocks:.2} | {bytes:.0} |");
    }
}
