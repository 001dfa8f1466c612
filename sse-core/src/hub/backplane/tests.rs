use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures_core::Stream;

use super::*;
use crate::encode::Frame;
use crate::event::Event;
use crate::hub::{Hub, HubConfig, IdMode};

fn local() -> Hub {
    Hub::with_config(HubConfig::default().with_history(0).with_ids(IdMode::Keep))
}

fn frame(id: u64) -> Frame {
    Event::message(id.to_string()).with_id(id).encode()
}

async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// Ids 1 to `last` of one topic, `size` per page.
struct Numbers {
    size: u64,
    last: u64,
    shut_down: Arc<AtomicBool>,
}

impl Pages for Numbers {
    type Cursor = u64;
    type Error = &'static str;

    fn fetch(&self, from: &u64) -> PageFuture<Self> {
        let (from, size, last) = (*from, self.size, self.last);
        Box::pin(async move {
            let to = (from + size - 1).min(last);
            Ok(Page {
                frames: (from..=to).map(frame).collect(),
                received: (to + 1 - from) as usize,
                next: (to < last).then_some(to + 1),
                notice: false,
            })
        })
    }

    fn closed(&self) -> Option<&'static str> {
        self.shut_down
            .load(Ordering::Acquire)
            .then_some("shut down")
    }
}

fn numbers(size: u64, last: u64) -> (Numbers, Arc<AtomicBool>) {
    let shut_down = Arc::new(AtomicBool::new(false));
    let pages = Numbers {
        size,
        last,
        shut_down: shut_down.clone(),
    };
    (pages, shut_down)
}

#[tokio::test]
async fn a_subscriber_ahead_of_the_node_skips_what_it_has() {
    let hub = local();
    let mut behind = subscribe_after(&hub, "t", 2u64, &5);
    let mut ahead = subscribe_after(&hub, "t", 7u64, &5);
    for id in 6..=8 {
        hub.publish("t", Event::message("x").with_id(id));
    }
    assert!(next(&mut behind)
        .await
        .unwrap()
        .as_bytes()
        .starts_with(b"id: 6\n"));
    assert!(next(&mut ahead)
        .await
        .unwrap()
        .as_bytes()
        .starts_with(b"id: 8\n"));
}

#[tokio::test]
async fn a_replay_holds_one_page_and_reads_the_next_when_drained() {
    let (pages, _) = numbers(3, 7);
    let first = pages.fetch(&1).await.unwrap();
    let mut replay = Replay::new(pages, first);
    assert_eq!((replay.buffered(), replay.read()), (3, 3));
    let mut ids = Vec::new();
    while let Some(frame) = poll_fn(|cx| replay.poll_frame(cx)).await {
        ids.push(frame.unwrap());
        assert!(replay.buffered() < 3);
    }
    assert_eq!(ids, (1..=7).map(frame).collect::<Vec<_>>());
    assert_eq!(replay.read(), 7);
}

#[tokio::test]
async fn a_shut_down_hub_ends_the_replay_with_an_error_after_the_page() {
    let (pages, shut_down) = numbers(2, 7);
    let first = pages.fetch(&1).await.unwrap();
    let mut replay = Replay::new(pages, first);
    shut_down.store(true, Ordering::Release);
    let mut got = Vec::new();
    while let Some(frame) = poll_fn(|cx| replay.poll_frame(cx)).await {
        got.push(frame);
    }
    assert_eq!(got, vec![Ok(frame(1)), Ok(frame(2)), Err("shut down")]);
}

#[tokio::test]
async fn resumed_yields_the_replay_then_the_live_feed_and_leaves_before_its_guard() {
    struct Guard(Hub, Arc<AtomicBool>);
    impl Drop for Guard {
        fn drop(&mut self) {
            // The live feed has left by now.
            self.1
                .store(self.0.subscriber_count("t") == 0, Ordering::Release);
        }
    }
    let hub = local();
    let (pages, _) = numbers(2, 3);
    let left = Arc::new(AtomicBool::new(false));
    let start = {
        let (hub, left) = (hub.clone(), left.clone());
        async move {
            let first = pages.fetch(&1).await?;
            Ok(Joined {
                replay: Replay::new(pages, first),
                live: subscribe_after(&hub, "t", 3, &3),
                guard: Guard(hub, left),
            })
        }
    };
    let mut stream = Resumed::new(start);
    assert_eq!(stream.stage(), "starting");
    for id in 1..=3 {
        assert_eq!(next(&mut stream).await, Some(Ok(frame(id))));
    }
    hub.publish("t", Event::message("4").with_id(4u64));
    assert_eq!(next(&mut stream).await, Some(Ok(frame(4))));
    drop(stream);
    assert!(left.load(Ordering::Acquire));
}

#[tokio::test]
async fn a_failed_start_ends_resumed_after_its_error() {
    let start = async { Err::<Joined<Numbers>, _>("unreachable") };
    let mut stream = Resumed::new(start);
    assert_eq!(next(&mut stream).await, Some(Err("unreachable")));
    assert_eq!(next(&mut stream).await, None);
    assert_eq!(stream.stage(), "done");
}
