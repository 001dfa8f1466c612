//! A client that stops reading while a topic carries a flood: server memory
//! stays bounded, a healthy client on the same topic gets every event, in
//! order, and when the stalled client reads again the hub's lag policy ends
//! its stream after a clean prefix of the events, and it leaves the topic.

use std::time::Duration;

use ssekit::decode::{Decoded, MessageEvent};
use ssekit::hub::Hub;
use ssekit_reliability::{
    http_client, per_framework, rss_bytes, End, Framework, Next, PeakRss, RawClient, RawOptions,
    Server, SseReader, Subscribe, MIB,
};
use tokio::sync::watch;
use tokio::time::Instant;

const TOPIC: &str = "flood";
/// Data bytes per event (the frame adds `id: N\ndata: ` and the blank line).
const EVENT_BYTES: usize = 4096;
/// The hub's default queue per subscriber (`HubConfig::default()`).
const QUEUE: usize = ssekit::hub::HubConfig::DEFAULT_QUEUE;
/// How far the publisher may run ahead of the healthy client. Publishing never
/// waits for a subscriber, so an unpaced publisher would overrun the healthy
/// client's queue too and the lag policy would rightly drop it: the publisher
/// goes as fast as the hub accepts while the healthy client keeps up. Below
/// `QUEUE`, so the healthy subscriber's queue can never be full.
const WINDOW: u64 = QUEUE as u64 / 2;
/// A receive buffer small enough that the stalled client's window closes
/// after a few KiB (the kernel doubles it and keeps a floor).
const STALLED_RECV_BUFFER: u32 = 4096;

/// Memory growth allowed over the baseline taken once the streams are open.
///
/// From the design, with the hub's defaults and 4 KiB events (frame ≈ 4.1 KiB):
/// * history: 1000 entries, each the event (4 KiB of data) and its frame
///   (4.1 KiB): ≈ 8 MiB, whatever the number of clients;
/// * the topic's log, shared by every subscriber: 256 frame handles, the
///   frames themselves shared with history; per
///   stalled subscriber its cursor, plus what the framework buffers before
///   it stops polling the body (hyper: ≈ 400 KiB): < 1 MiB per stalled
///   connection, < 4 MiB for 4;
/// * the healthy path: 32 frames in flight plus the framework's and the
///   client's buffers: ≈ 1 MiB;
/// * what a stalled client has not read beyond that (≈ 3 MB here: it had
///   read ~700 events when it stalled) sits in kernel socket buffers, which
///   are not part of the process's RSS;
/// * allocator slack: 200 MB of events are allocated and freed while the
///   peak is sampled.
///
/// ≈ 13 MiB of live data at most; measured growth: 0.4 to 12.1 MiB on the
/// seven adapters, for 3 000 events as for 50 000. 32 MiB leaves room for
/// allocator noise and fails on anything that grows with the traffic (200
/// MB) or with what a stalled client has missed.
const GROWTH_BOUND: u64 = 32 * MIB;

fn data_of(number: u64) -> String {
    let mut data = format!("{number:010}:");
    data.extend(std::iter::repeat_n('x', EVENT_BYTES - data.len()));
    data
}

/// Checks event `expected` (ids are the hub's numbers, from 1).
fn check(event: &MessageEvent, expected: u64) -> Result<(), String> {
    if event.last_event_id != expected.to_string() {
        return Err(format!(
            "expected event {expected}, got id {:?}",
            event.last_event_id
        ));
    }
    if event.data.len() != EVENT_BYTES || !event.data.starts_with(&format!("{expected:010}:")) {
        return Err(format!("event {expected} arrived damaged"));
    }
    Ok(())
}

async fn wait_for_subscribers(hub: &Hub, count: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while hub.subscriber_count(TOPIC) != count {
        assert!(
            Instant::now() < deadline,
            "expected {count} subscribers, have {}",
            hub.subscriber_count(TOPIC)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Publishes `events` to a topic with `stalled` clients that read nothing and
/// one that reads everything, and checks the bounds.
async fn soak(framework: Framework, events: u64, stalled: usize) {
    let hub: Hub = Hub::new();
    let server = Server::start(
        framework,
        Subscribe {
            hub: hub.clone(),
            topic: TOPIC,
        },
    )
    .await;
    let patience = Duration::from_secs(30);

    let mut stalled_clients = Vec::new();
    let raw = RawOptions {
        recv_buffer: Some(STALLED_RECV_BUFFER),
        ..RawOptions::default()
    };
    for _ in 0..stalled {
        let client = RawClient::get(server.addr(), "/flood", &raw)
            .await
            .expect("the stalled client connects");
        stalled_clients.push(client);
    }
    let response = http_client()
        .get(server.url("/flood"))
        .send()
        .await
        .expect("the healthy client connects");
    assert_eq!(response.status(), 200);
    let mut healthy = SseReader::new(response);
    wait_for_subscribers(&hub, stalled + 1, patience).await;

    let baseline = rss_bytes();
    let peak = PeakRss::start(Duration::from_millis(10));
    let started = Instant::now();

    let (progress, mut received) = watch::channel(0u64);
    let reader = tokio::spawn(async move {
        for expected in 1..=events {
            let deadline = Instant::now() + Duration::from_secs(30);
            let event = healthy.next_event(deadline).await?;
            check(&event, expected)?;
            progress.send_replace(expected);
        }
        Ok::<_, String>(healthy)
    });

    for number in 1..=events {
        if number > WINDOW {
            let caught_up =
                tokio::time::timeout(patience, received.wait_for(|&got| got >= number - WINDOW))
                    .await
                    .map(|result| result.is_ok());
            match caught_up {
                Ok(true) => {}
                Ok(false) => {
                    let failure = reader.await.expect("the reader task").err();
                    panic!("{framework}: healthy client: {failure:?}");
                }
                Err(_) => panic!(
                    "{framework}: the healthy client stalled at {}",
                    *received.borrow()
                ),
            }
        }
        hub.publish(TOPIC, ssekit::Event::message(data_of(number)));
    }
    let healthy = reader
        .await
        .expect("the reader task")
        .unwrap_or_else(|e| panic!("{framework}: healthy client: {e}"));
    let elapsed = started.elapsed();
    let peak = peak.finish();
    let growth = peak.saturating_sub(baseline);
    assert!(
        growth < GROWTH_BOUND,
        "{framework}: RSS grew by {} MiB (bound {} MiB)",
        growth / MIB,
        GROWTH_BOUND / MIB
    );

    // Publishing never visits a subscriber that reads the topic's log: a
    // stalled one is found out when it reads again. It gets the events it had
    // read (they wait in socket buffers), in order, then, being far more than
    // its queue behind, a clean end of body, and it leaves the topic.
    let mut ends = Vec::new();
    for mut client in stalled_clients {
        let deadline = Instant::now() + patience;
        let status = client
            .read_head(deadline)
            .await
            .expect("the stalled client's head");
        assert_eq!(status, 200);
        let mut next = 1;
        loop {
            match client
                .next(deadline)
                .await
                .expect("the stalled client reads")
            {
                Next::Item(Decoded::Event(event)) => {
                    check(&event, next)
                        .unwrap_or_else(|e| panic!("{framework}: stalled client: {e}"));
                    next += 1;
                }
                Next::Item(_) => {}
                Next::End(end) => {
                    assert_eq!(
                        end,
                        End::Clean,
                        "{framework}: the dropped stream ends cleanly"
                    );
                    break;
                }
            }
        }
        ends.push(next);
    }
    ends.sort_unstable();
    eprintln!(
        "{framework}: {events} events × {EVENT_BYTES} B in {elapsed:?} ({:.0} MB/s); \
         RSS baseline {} MiB, peak {} MiB, growth {:.1} MiB; the stalled clients read \
         events up to {ends:?}, then their streams ended",
        (events * EVENT_BYTES as u64) as f64 / elapsed.as_secs_f64() / 1e6,
        baseline / MIB,
        peak / MIB,
        growth as f64 / MIB as f64,
    );
    assert!(
        ends.iter().all(|&next| next > 1 && next <= events - QUEUE as u64),
        "{framework}: each stalled client read some events and fell more than its queue behind: {ends:?}"
    );
    wait_for_subscribers(&hub, 1, patience).await;
    drop(healthy);
}

async fn small(framework: Framework) {
    // 12 MB: more than a stalled connection's socket buffers (≤ 4 MiB sent,
    // a few KiB received) and queue, so the lag policy must fire.
    soak(framework, 3_000, 1).await;
}

async fn full(framework: Framework) {
    // 200 MB: 50 000 events of 4 KiB.
    soak(framework, 50_000, 4).await;
}

per_framework!(stalled_reader => small);
per_framework!(#[ignore = "long: 200 MB per adapter, run by CI"] soak_200mb => full);
