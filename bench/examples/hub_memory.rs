//! What the hub holds per idle topic, per subscriber and per resuming
//! connection, counted exactly with a counting allocator: the figures of the
//! README's hub section.
//!
//! `cargo run --release -p ssekit-bench --example hub_memory`
//!
//! Events are 64 bytes of data published with the hub's defaults (ids
//! assigned, history of 1000 per topic).

use futures_util::FutureExt;
use futures_util::StreamExt;
use ssekit::hub::{Hub, HubConfig};
use ssekit::Event;
use ssekit_bench::alloc_count::{held, Counting};

#[global_allocator]
static COUNTING: Counting = Counting;

const TOPICS: usize = 10_000;
const SUBSCRIBERS: usize = 10_000;
const DATA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Bytes held per item after `make` ran `count` times (keeping what it made).
fn per_item<T>(count: usize, mut make: impl FnMut(usize) -> T) -> (f64, Vec<T>) {
    let before = held().1;
    let items: Vec<T> = (0..count).map(&mut make).collect();
    // The vector holding the items is the harness's, not the hub's.
    let harness = std::mem::size_of::<T>() * items.capacity();
    let after = held().1;
    (
        (after - before) as f64 / count as f64 - harness as f64 / count as f64,
        items,
    )
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        // An idle topic: one event of history, no subscriber.
        let hub: Hub = Hub::new();
        let names: Vec<String> = (0..TOPICS).map(|n| format!("user:{n:06}")).collect();
        let (idle, _) = per_item(TOPICS, |n| {
            hub.publish(&names[n], Event::message(DATA));
        });
        assert_eq!(hub.topic_count(), TOPICS);
        println!(
            "idle topic (one {}-byte event of history): {idle:.0} bytes; history_bytes() counts {} per topic",
            DATA.len(),
            hub.history_bytes() / TOPICS
        );

        // A subscriber of a busy topic, caught up.
        let hub: Hub = Hub::new();
        let mut first = hub.subscribe("room", None);
        hub.publish("room", Event::message(DATA));
        let _ = first.next().now_or_never();
        let (subscriber, subscriptions) = per_item(SUBSCRIBERS, |_| hub.subscribe("room", None));
        println!("subscriber (unfiltered, caught up): {subscriber:.0} bytes");
        drop(subscriptions);

        // A connection resuming from the oldest id of a full history, that
        // has read one event and stalled: it holds the rest of one page
        // (the queue bound) of handles to the shared frames.
        let hub: Hub = Hub::with_config(HubConfig::new().with_history(1000));
        let mut first = hub.subscribe("room", None);
        for _ in 0..1000 {
            hub.publish("room", Event::message(DATA));
            let _ = first.next().now_or_never();
        }
        let (resuming, _subscriptions) =
            per_item(1000, |_| {
                let mut resuming = hub.subscribe("room", Some("1"));
                let _ = resuming.next().now_or_never();
                resuming
            });
        println!(
            "resuming connection (1000 events of history to replay, one read): {resuming:.0} bytes"
        );
    });
}
