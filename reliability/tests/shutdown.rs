//! Graceful shutdown with thousands of open streams: the hub's shutdown ends
//! every stream with the final event and a clean end of body, and the
//! framework's graceful shutdown then completes in bounded time.

use std::time::Duration;

use ssekit::decode::{Decoded, MessageEvent};
use ssekit::hub::Hub;
use ssekit::Event;
use ssekit_reliability::{
    http_client, per_framework, raise_open_files, End, Framework, Next, Server, SseReader,
    Subscribe,
};
use tokio::time::Instant;

const TOPIC: &str = "news";

/// How long the framework's graceful shutdown may take once the hub has shut
/// down. Every stream ends at once (each subscription's queue is closed under
/// one lock pass), so what remains is writing the final event and the last
/// chunk to each connection and the clients closing them: measured 15 to 200
/// ms for 2 000 streams. 10 s is generous for a loaded 2-core machine, and far
/// below a hang (every framework here waits forever, or 30 s for actix,
/// for a stream that never ends).
const SHUTDOWN_BOUND: Duration = Duration::from_secs(10);

/// Reads a stream to its end: every event, and how it ended.
async fn read_all(
    mut reader: SseReader,
    deadline: Instant,
) -> Result<(Vec<MessageEvent>, End), String> {
    let mut events = Vec::new();
    loop {
        match reader.next(deadline).await? {
            Next::Item(Decoded::Event(event)) => events.push(event),
            Next::Item(_) => {}
            Next::End(end) => return Ok((events, end)),
        }
    }
}

async fn shutdown_with_streams(framework: Framework, streams: usize) {
    // Each stream is two sockets in this process (client and server side).
    let wanted = streams as u64 * 2 + 512;
    let limit = raise_open_files(wanted);
    assert!(limit >= wanted, "RLIMIT_NOFILE is {limit}, {wanted} needed");

    let hub: Hub = Hub::new();
    let server = Server::start(
        framework,
        Subscribe {
            hub: hub.clone(),
            topic: TOPIC,
        },
    )
    .await;
    let client = http_client();
    let patience = Duration::from_secs(60);
    let deadline = Instant::now() + patience;

    let readers: Vec<_> = (0..streams)
        .map(|_| {
            let request = client.get(server.url("/news")).send();
            tokio::spawn(async move {
                let response = tokio::time::timeout_at(deadline, request)
                    .await
                    .map_err(|_| "no response head before the deadline".to_owned())?
                    .map_err(|e| format!("request failed: {e}"))?;
                if response.status() != 200 {
                    return Err(format!("status {}", response.status()));
                }
                read_all(SseReader::new(response), deadline).await
            })
        })
        .collect();
    while hub.subscriber_count(TOPIC) < streams {
        assert!(
            Instant::now() < deadline,
            "{framework}: only {} of {streams} streams subscribed",
            hub.subscriber_count(TOPIC)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let live = hub.publish(TOPIC, Event::message("live"));
    assert_eq!(live.delivered, streams);

    let farewell = Event::message("bye").with_event("shutdown");
    let started = Instant::now();
    hub.shutdown_with(farewell);
    let stopped = server.shutdown(SHUTDOWN_BOUND).await;
    let took = started.elapsed();
    eprintln!("{framework}: {streams} streams, graceful shutdown took {took:?}");
    stopped.unwrap_or_else(|e| panic!("{framework}: {e}"));

    let mut failures = Vec::new();
    for (index, reader) in readers.into_iter().enumerate() {
        let outcome = reader.await.expect("a reader task");
        let verdict = match outcome {
            Err(error) => Err(error),
            Ok((events, End::Clean)) => {
                let seen: Vec<_> = events
                    .iter()
                    .map(|e| (e.event_type.as_str(), e.data.as_str()))
                    .collect();
                if seen == [("message", "live"), ("shutdown", "bye")] {
                    Ok(())
                } else {
                    Err(format!("received {seen:?}"))
                }
            }
            Ok((_, End::Broken(why))) => Err(format!("the body broke: {why}")),
        };
        if let Err(why) = verdict {
            failures.push(format!("stream {index}: {why}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{framework}: {} of {streams} streams did not end with the final event and a clean end; first: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert_eq!(hub.subscriber_count(TOPIC), 0);
}

async fn small(framework: Framework) {
    shutdown_with_streams(framework, 200).await;
}

async fn full(framework: Framework) {
    shutdown_with_streams(framework, 2_000).await;
}

per_framework!(graceful_shutdown => small);
per_framework!(#[ignore = "long: 2 000 streams, run by CI"] graceful_shutdown_2000_streams => full);
