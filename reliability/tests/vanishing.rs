//! Clients that vanish from an idle stream: the handler must learn of it (its
//! channel sender's `closed()` fires, its hub subscription leaves the topic)
//! within a bound, on every adapter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ssekit::decode::Decoded;
use ssekit::hub::Hub;
use ssekit::{Event, KeepAlive, PublishOptions, SsePublisher};
use ssekit_reliability::{
    per_framework, Framework, Handler, Next, Options, RawClient, RawOptions, RemoteHost, Server,
};
use tokio::time::Instant;

/// The keep-alive interval K of the idle streams.
const KEEP_ALIVE: Duration = Duration::from_secs(1);
/// The servers' stall timeout (`ssekit::tcp::set_stall_timeout`).
const STALL: Duration = Duration::from_secs(1);

/// How soon a client that resets, closes or half-closes must be noticed:
/// 2K + 2 s.
///
/// A reset is noticed at the latest when the next keep-alive write fails
/// (within K). After a FIN, the first write still succeeds (the client's
/// kernel answers it with RST) and the second fails: within 2K for a server
/// that only notices on writes, as poem does. A half-closed client that keeps
/// reading is only noticed by a server that reads the connection while it
/// streams: axum, warp, and actix with `h1_allow_half_closed(false)` (which
/// the README requires) do, within milliseconds. The 2 s on top are
/// scheduling slack on a loaded 2-core machine.
const BOUND: Duration = Duration::from_secs(2 * KEEP_ALIVE.as_secs() + 2);

/// How soon a client that silently disappears must be noticed: 2K + STALL + 1 s.
///
/// Nothing arrives from it, so the first sign is the next keep-alive (within
/// K) going unacknowledged; the stall timeout aborts the connection STALL
/// later. axum, warp and actix see the abort at once (they read the socket
/// while streaming); poem only at its next write, K later. The 1 s on top is
/// scheduling slack.
const UNPLUGGED_BOUND: Duration =
    Duration::from_secs(2 * KEEP_ALIVE.as_secs() + STALL.as_secs() + 1);

/// When each stream's handler learnt its client had gone.
#[derive(Clone, Default)]
struct Gone {
    at: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Gone {
    fn record(&self, token: String) {
        self.at
            .lock()
            .expect("no panic while held")
            .insert(token, Instant::now());
    }

    fn get(&self, token: &str) -> Option<Instant> {
        self.at
            .lock()
            .expect("no panic while held")
            .get(token)
            .copied()
    }
}

/// `/channel?token=T`: an imperative stream that sends `connected`, then idles,
/// recording when `closed()` fires. `/hub?token=T`: a subscription to topic T.
/// Both with keep-alive K. `/burst?token=T`: like `/channel`, but after
/// `connected` sends 16 MiB, so a client that stops reading fills its buffers.
#[derive(Clone)]
struct Idle {
    gone: Gone,
    hub: Hub,
}

impl Handler for Idle {
    async fn handle<P>(&self, publisher: P) -> P::Response
    where
        P: SsePublisher + Send + 'static,
    {
        let token = publisher.request().query_param("token").unwrap_or_default();
        let options =
            PublishOptions::new().with_keep_alive(KeepAlive::new().with_interval(KEEP_ALIVE));
        let path = publisher.request().path().to_owned();
        if path == "/hub" {
            let subscription = self.hub.subscribe(&token, None);
            self.hub.publish(&token, Event::message("connected"));
            return publisher.publish_with(subscription, options);
        }
        let (sender, receiver) = ssekit::channel(8);
        let gone = self.gone.clone();
        tokio::spawn(async move {
            if sender.send(Event::message("connected")).await.is_err() {
                return gone.record(token);
            }
            if path == "/burst" {
                // `send` waits while the client's buffers are full, and fails
                // once the stream is closed.
                let filler = "x".repeat(64 * 1024 - 10);
                for _ in 0..256 {
                    if sender.send_data(filler.clone()).await.is_err() {
                        break;
                    }
                }
            }
            sender.closed().await;
            gone.record(token);
        });
        publisher.publish_with(receiver, options)
    }
}

/// How a client vanishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `SO_LINGER` 0, then close: RST.
    Reset,
    /// Close the socket: FIN, as a closed browser tab does.
    Close,
    /// Shut down the writing side (FIN), keep reading.
    HalfClose,
    /// Connect from another host, then unplug its network: no FIN, no RST,
    /// no ACK, nothing ever again, as when a laptop closes or a NAT forgets
    /// the connection.
    Unplugged,
    /// Stop reading, with a small receive buffer, and keep the socket open.
    #[cfg_attr(not(feature = "known-bugs"), allow(dead_code))]
    StopReading,
    /// As `StopReading`, on a stream that sends 16 MiB right after the client
    /// stops: the buffers fill within a second.
    StopReadingFull,
}

struct Measured {
    channel: Option<Duration>,
    hub: Option<Duration>,
}

/// Opens a `/channel` (or `/burst`) and a `/hub` stream, waits for a
/// keep-alive on each (so they are idle and the next keep-alive is a whole K
/// away), makes both clients vanish the `kind` way, and measures how long the
/// handler took to notice, up to `horizon`.
async fn vanish(framework: Framework, kind: Kind, horizon: Duration) -> Measured {
    let gone = Gone::default();
    let hub: Hub = Hub::new();
    // As a deployment should: `TCP_USER_TIMEOUT` on the listener, so data a
    // client does not acknowledge (it vanished, or stopped reading and its
    // buffers are full) aborts the connection after STALL.
    let idle = Idle {
        gone: gone.clone(),
        hub: hub.clone(),
    };
    let remote = (kind == Kind::Unplugged)
        .then(|| Arc::new(RemoteHost::create().expect("a network namespace for the client")));
    let options = Options::new().with_stall_timeout(STALL);
    let server = match &remote {
        Some(remote) => {
            Server::start_with(framework, idle, options.with_ip(remote.host_ip())).await
        }
        None => Server::start_with(framework, idle, options).await,
    };
    let token = format!("{framework}-{kind:?}");
    let options = RawOptions {
        recv_buffer: matches!(kind, Kind::StopReading | Kind::StopReadingFull).then_some(4096),
        from: remote.clone(),
        ..RawOptions::default()
    };
    let channel_path = if kind == Kind::StopReadingFull {
        "/burst"
    } else {
        "/channel"
    };
    let mut clients = Vec::new();
    for path in [channel_path, "/hub"] {
        let mut client = RawClient::get(server.addr(), &format!("{path}?token={token}"), &options)
            .await
            .expect("connect");
        let deadline = Instant::now() + Duration::from_secs(10);
        assert_eq!(client.read_head(deadline).await.expect("head"), 200);
        let event = client.next_event(deadline).await.expect("first event");
        assert_eq!(event.data, "connected");
        clients.push(client);
    }
    assert_eq!(hub.subscriber_count(&token), 1);
    // The `/burst` stream is not idle: its client stops reading at once.
    let idle = if kind == Kind::StopReadingFull { 1 } else { 0 };
    for client in &mut clients[idle..] {
        let deadline = Instant::now() + KEEP_ALIVE * 3;
        match client
            .next(deadline)
            .await
            .expect("a keep-alive while idle")
        {
            Next::Item(Decoded::Comment(_)) => {}
            Next::Item(item) => panic!("{framework}: the idle stream sent {item:?}"),
            Next::End(end) => panic!("{framework}: the idle stream ended: {end:?}"),
        }
    }
    assert!(gone.get(&token).is_none(), "{framework}: noticed too early");

    let vanished = Instant::now();
    if let Some(remote) = &remote {
        remote.unplug().expect("unplug the client's network");
    }
    let mut kept = Vec::new();
    for mut client in clients {
        match kind {
            Kind::Reset => client.reset(),
            Kind::Close => drop(client),
            Kind::HalfClose => {
                client.half_close().await.expect("shutdown(Write)");
                // Keeps reading, so the server's writes keep succeeding.
                kept.push(tokio::spawn(async move {
                    let deadline = Instant::now() + Duration::from_secs(600);
                    while let Ok(Next::Item(_)) = client.next(deadline).await {}
                }));
            }
            Kind::StopReading | Kind::StopReadingFull | Kind::Unplugged => {
                kept.push(tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    drop(client);
                }));
            }
        }
    }

    let mut measured = Measured {
        channel: None,
        hub: None,
    };
    let until = vanished + horizon;
    while Instant::now() < until && (measured.channel.is_none() || measured.hub.is_none()) {
        if measured.channel.is_none() {
            measured.channel = gone.get(&token).map(|at| at - vanished);
        }
        if measured.hub.is_none() && hub.subscriber_count(&token) == 0 {
            measured.hub = Some(vanished.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    eprintln!(
        "{framework} {kind:?}: channel closed() after {:?}, hub subscriber left after {:?} (horizon {horizon:?})",
        measured.channel, measured.hub
    );
    for task in kept {
        task.abort();
    }
    measured
}

async fn assert_noticed(framework: Framework, kind: Kind) {
    assert_noticed_within(framework, kind, BOUND).await;
}

async fn assert_noticed_within(framework: Framework, kind: Kind, bound: Duration) {
    let measured = vanish(framework, kind, bound + Duration::from_secs(3)).await;
    for (what, took) in [
        ("channel closed()", measured.channel),
        ("hub subscriber", measured.hub),
    ] {
        let took = took.unwrap_or_else(|| {
            panic!("{framework} {kind:?}: {what} not noticed within {bound:?} + 3 s")
        });
        assert!(
            took <= bound,
            "{framework} {kind:?}: {what} noticed after {took:?} (bound {bound:?})"
        );
    }
}

async fn reset(framework: Framework) {
    assert_noticed(framework, Kind::Reset).await;
}

async fn close(framework: Framework) {
    assert_noticed(framework, Kind::Close).await;
}

async fn half_close(framework: Framework) {
    assert_noticed(framework, Kind::HalfClose).await;
}

/// Without the stall timeout, a vanished client would hold its stream until
/// TCP gave up retransmitting (about 15 minutes with Linux defaults).
async fn unplugged(framework: Framework) {
    assert_noticed_within(framework, Kind::Unplugged, UNPLUGGED_BOUND).await;
}

per_framework!(shared reset_is_noticed => reset);
per_framework!(shared close_is_noticed => close);
per_framework!(
    [axum actix warp poem hyper salvo]
    #[ignore = "needs root, for a network namespace; run by .ci/run"]
    shared unplugged_client_is_noticed => unplugged
);

/// Fails: Rocket 0.5 binds its own listener and has no public way to serve
/// one it is given, so the stall timeout (`TCP_USER_TIMEOUT` on the
/// listening socket) cannot be set: a client that vanishes silently or stops
/// reading is noticed only when TCP gives up retransmitting.
#[cfg(feature = "known-bugs")]
mod without_a_stall_timeout {
    use super::*;

    per_framework!(
        [rocket]
        #[ignore = "needs root, for a network namespace; run by .ci/run"]
        shared unplugged_client_is_noticed => unplugged
    );
    per_framework!([rocket] shared stopped_reader_with_full_buffers_is_noticed => stop_reading_full);
}

mod half_close_is_noticed {
    use super::*;

    #[test]
    fn axum() {
        ssekit_reliability::run(Framework::Axum, half_close);
    }

    #[test]
    fn actix() {
        ssekit_reliability::run(Framework::Actix, half_close);
    }

    #[test]
    fn warp() {
        ssekit_reliability::run(Framework::Warp, half_close);
    }

    #[test]
    fn hyper() {
        ssekit_reliability::run(Framework::Hyper, half_close);
    }

    #[test]
    fn rocket() {
        ssekit_reliability::run(Framework::Rocket, half_close);
    }

    #[test]
    fn salvo() {
        ssekit_reliability::run(Framework::Salvo, half_close);
    }

    /// Fails: poem's `serve_connection` awaits hyper's connection again after
    /// it has ended with `IncompleteMessage` (the client's FIN), and that
    /// second await keeps streaming the body to the half-closed client. The
    /// handler learns of the client only once its reading side closes too and
    /// a keep-alive write fails (`close_is_noticed::poem`: within K).
    #[cfg(feature = "known-bugs")]
    #[test]
    fn poem() {
        ssekit_reliability::run(Framework::Poem, half_close);
    }
}

/// A client that stops reading but keeps its connection open and keeps
/// acknowledging. On an idle stream only keep-alives (14 bytes per K) flow, so
/// its buffers take hours to fill, and until they do nothing is unacknowledged
/// and TCP sees a healthy connection: a known limitation (it costs only those
/// buffers meanwhile). Fails by design; kept under `known-bugs` to show it.
#[cfg(feature = "known-bugs")]
async fn stop_reading(framework: Framework) {
    assert_noticed(framework, Kind::StopReading).await;
}

/// Once the stopped client's buffers are full, the pending write is
/// unacknowledged and the stall timeout aborts the connection: the handler's
/// `closed()` fires within STALL of the buffers filling (well under a second
/// for 16 MiB on loopback), inside the 2K + 2 s bound.
async fn stop_reading_full(framework: Framework) {
    let measured = vanish(framework, Kind::StopReadingFull, Duration::from_secs(30)).await;
    let took = measured.channel.unwrap_or_else(|| {
        panic!("{framework}: a client whose buffers are full not noticed within 30 s")
    });
    assert!(
        took <= BOUND + Duration::from_secs(1),
        "{framework}: noticed after {took:?}"
    );
}

#[cfg(feature = "known-bugs")]
per_framework!(shared stopped_reader_is_noticed => stop_reading);
per_framework!(
    [axum actix warp poem hyper salvo]
    shared stopped_reader_with_full_buffers_is_noticed => stop_reading_full
);
