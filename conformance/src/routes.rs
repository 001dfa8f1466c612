//! The conformance routes, written once against [`SsePublisher`] and mounted by
//! every adapter's test server. Servers in other languages implement the same
//! routes (see the crate documentation) to be checked by `ssekit-conformance run`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use ssekit::limits::{StreamCaps, StreamLimits};
use ssekit::{BoxError, Event, EventError, KeepAlive, PublishOptions, SsePublisher};
use tokio::sync::{Notify, Semaphore};

use crate::script;

/// Path prefix under which a test server mounts the routes a second time,
/// behind its framework's stock compression middleware.
pub const COMPRESSED_PREFIX: &str = "/compressed";

/// How many `/flood` events may wait in the server's queue for one client.
pub const FLOOD_QUEUE: usize = 8;
/// Size of each `/flood` event's data.
pub const FLOOD_EVENT_BYTES: usize = 4096;
/// How many `/limited` streams of one token may be open at once.
pub const LIMITED_STREAMS: usize = 2;
/// The `Retry-After` of a refused `/limited` stream.
pub const LIMITED_RETRY_AFTER: Duration = Duration::from_secs(1);
/// The `Authorization` header `/private` admits.
pub const PRIVATE_AUTHORIZATION: &str = "Bearer conformance";
/// The body of `/private`'s refusal.
pub const PRIVATE_REFUSAL: &str = "sign in first";
/// The `WWW-Authenticate` of `/private`'s refusal.
pub const PRIVATE_CHALLENGE: &str = "Bearer realm=\"conformance\"";
/// The two `Set-Cookie` values of `/private`'s stream, in order.
pub const PRIVATE_COOKIES: [&str; 2] = ["a=1; Path=/", "b=2; Path=/"];

/// What `/injection` tries to smuggle into a field: a blank line that would
/// end the event, then a field of the attacker's choosing.
pub const INJECTION: &str = "\n\ndata: evil";

/// Shared state of the routes that coordinate with the client (gates,
/// disconnect records, flood counters), keyed by the `token` query parameter,
/// and the stream cap of `/limited`.
///
/// Public so that other implementations of the routes (such as the audit of
/// the frameworks' built-in SSE types) coordinate exactly as [`handle`] does.
#[derive(Clone)]
pub struct ConformanceState {
    tokens: Arc<Mutex<HashMap<String, Arc<TokenState>>>>,
    limited: StreamLimits,
}

impl Default for ConformanceState {
    fn default() -> Self {
        Self {
            tokens: Arc::default(),
            // Each token is its own topic, so runs of the suite against one
            // server do not take each other's slots.
            limited: StreamLimits::with_caps(StreamCaps::new().with_per_topic(LIMITED_STREAMS)),
        }
    }
}

/// The coordination state of one `token`.
pub struct TokenState {
    gate: Semaphore,
    disconnected: Notify,
    disconnected_flag: AtomicBool,
    flood_sent: AtomicU64,
}

impl Default for TokenState {
    fn default() -> Self {
        Self {
            gate: Semaphore::new(0),
            disconnected: Notify::new(),
            disconnected_flag: AtomicBool::new(false),
            flood_sent: AtomicU64::new(0),
        }
    }
}

impl TokenState {
    /// Lets one more `/lockstep` event be produced (`/gate`).
    pub fn open_gate(&self) {
        self.gate.add_permits(1);
    }

    /// Waits until `/gate` lets the next `/lockstep` event be produced.
    pub async fn pass_gate(&self) {
        if let Ok(permit) = self.gate.acquire().await {
            permit.forget();
        }
    }

    /// Records that the `/disconnect` stream saw its client go.
    pub fn mark_disconnected(&self) {
        self.disconnected_flag.store(true, Ordering::SeqCst);
        self.disconnected.notify_waiters();
    }

    /// True once [`mark_disconnected`](Self::mark_disconnected) was called, waiting up to `timeout`.
    pub async fn wait_disconnected(&self, timeout: Duration) -> bool {
        // Created before the check, so a notification in between is not missed.
        let notified = self.disconnected.notified();
        self.disconnected_flag.load(Ordering::SeqCst)
            || tokio::time::timeout(timeout, notified).await.is_ok()
    }

    /// Counts one more `/flood` event queued.
    pub fn count_flood_event(&self) {
        self.flood_sent.fetch_add(1, Ordering::SeqCst);
    }

    /// How many `/flood` events were queued so far.
    pub fn flood_events(&self) -> u64 {
        self.flood_sent.load(Ordering::SeqCst)
    }
}

/// At most this many tokens are remembered; older ones are forgotten, so a
/// long-running conformance server does not grow without bound.
const MAX_TOKENS: usize = 4096;

impl ConformanceState {
    /// Fresh state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state of `token`, created on first use.
    pub fn token(&self, token: &str) -> Arc<TokenState> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= MAX_TOKENS && !tokens.contains_key(token) {
            tokens.clear();
        }
        tokens.entry(token.to_owned()).or_default().clone()
    }

    /// The cap of `/limited`: [`LIMITED_STREAMS`] per topic, the topic being
    /// the `token`.
    pub fn limited_streams(&self) -> &StreamLimits {
        &self.limited
    }

    fn token_of(&self, publisher: &impl SsePublisher) -> Arc<TokenState> {
        self.token(&publisher.request().query_param("token").unwrap_or_default())
    }
}

/// Answers any conformance route; unknown paths get `204 No Content`.
///
/// Mount it for every `GET` path (and again under [`COMPRESSED_PREFIX`] behind
/// compression middleware); it routes on [`RequestInfo::path`](ssekit::RequestInfo::path).
pub async fn handle<P: SsePublisher>(publisher: P, state: ConformanceState) -> P::Response {
    let path = publisher.request().path().to_owned();
    let route = path.strip_prefix(COMPRESSED_PREFIX).unwrap_or(&path);
    let quiet = PublishOptions::new().without_keep_alive();
    match route {
        "/script" => publisher.publish_with(
            stream::iter(script::script_events()),
            quiet.with_retry(script::SCRIPT_RETRY),
        ),
        "/no-content" => publisher.no_content(),
        "/last-event-id" => {
            let event = match publisher.last_event_id() {
                Some(id) => Event::message(id).with_event("last-event-id"),
                None => Event::message("").with_event("no-last-event-id"),
            };
            publisher.publish_with(stream::iter([event]), quiet)
        }
        "/count" => {
            let n: u64 = publisher
                .request()
                .query_param("n")
                .and_then(|n| n.parse().ok())
                .unwrap_or(10)
                .min(100_000);
            let events = stream::iter(1..=n).map(|i| Event::message(i.to_string()).with_id(i));
            publisher.publish_with(events, quiet)
        }
        "/large" => publisher.publish_with(
            stream::iter([Event::message(script::large_data("\r\n"))]),
            quiet,
        ),
        "/lockstep" => lockstep(publisher, &state),
        "/gate" => {
            state.token_of(&publisher).open_gate();
            publisher.publish_with(stream::iter([Event::message("opened")]), quiet)
        }
        "/keep-alive" => publisher.publish_with(
            stream::pending::<Event>(),
            PublishOptions::new()
                .with_keep_alive(KeepAlive::new().with_interval(Duration::from_millis(100))),
        ),
        "/disconnect" => disconnect(publisher, &state),
        "/disconnect-report" => disconnect_report(publisher, &state),
        "/flood" => flood(publisher, &state),
        "/flood-report" => {
            let sent = state.token_of(&publisher).flood_events();
            publisher.publish_with(stream::iter([Event::message(sent.to_string())]), quiet)
        }
        "/fail-mid-stream" => {
            let events = stream::iter(1..=3).map(|n| match n {
                1 | 2 => Ok::<_, BoxError>(numbered(n)),
                _ => Err("conformance: deliberate source error in /fail-mid-stream".into()),
            });
            publisher.publish_with(events, quiet)
        }
        "/panic-mid-stream" => {
            let events = stream::iter(1..=3).map(|n| {
                assert!(n < 3, "conformance: deliberate panic in /panic-mid-stream");
                numbered(n)
            });
            publisher.publish_with(events, quiet)
        }
        "/injection" => publisher.publish_with(stream::iter(injection()), quiet),
        "/limited" => limited(publisher, &state),
        "/private" => private(publisher),
        _ => publisher.no_content(),
    }
}

/// Authorization in a generic handler: a 401 with a challenge and a message
/// unless the request carries [`PRIVATE_AUTHORIZATION`], else one event
/// `welcome` from a stream that sets two cookies.
fn private<P: SsePublisher>(publisher: P) -> P::Response {
    let authorization = publisher.request().header(http::header::AUTHORIZATION);
    if authorization.is_none_or(|value| value != PRIVATE_AUTHORIZATION) {
        let refusal = http::Response::builder()
            .status(http::StatusCode::UNAUTHORIZED)
            .header(http::header::WWW_AUTHENTICATE, PRIVATE_CHALLENGE)
            .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(bytes::Bytes::from_static(PRIVATE_REFUSAL.as_bytes()))
            .expect("a valid response");
        return publisher.reply(refusal);
    }
    let options = PRIVATE_COOKIES.iter().fold(
        PublishOptions::new().without_keep_alive(),
        |options, cookie| {
            options.with_header(
                http::header::SET_COOKIE,
                http::HeaderValue::from_static(cookie),
            )
        },
    );
    publisher.publish_with(stream::iter([Event::message("welcome")]), options)
}

/// Event `n`, with id `n`.
fn numbered(n: u64) -> Event {
    Event::message(n.to_string()).with_id(n)
}

/// Tries to inject a field through `event` and through `id`: each refusal is
/// reported as a `rejected` event naming the field (a wrongly accepted event
/// is sent as it is, so the client sees the injection). Then the same text as
/// data, where it is harmless: it arrives as data, nothing more.
fn injection() -> Vec<Result<Event, EventError>> {
    let attempts = [
        Event::message("x").try_with_event(format!("x{INJECTION}")),
        Event::message("x").try_with_id(format!("1{INJECTION}")),
    ];
    let mut events: Vec<_> = attempts
        .into_iter()
        .map(|attempt| match attempt {
            Ok(injected) => Ok(injected),
            Err(refused) => Ok(Event::message(refused.field().as_str()).with_event("rejected")),
        })
        .collect();
    events.push(Ok(Event::message(format!("x{INJECTION}"))));
    events
}

/// Admits [`LIMITED_STREAMS`] streams per token: each gets `admitted`, then
/// stays open (with keep-alive, so a client that left is noticed) holding its
/// slot until the client goes. Streams over the cap get `503`.
fn limited<P: SsePublisher>(publisher: P, state: &ConformanceState) -> P::Response {
    let token = publisher.request().query_param("token").unwrap_or_default();
    match state.limited.try_acquire(Some(&token)) {
        Ok(permit) => {
            let events = stream::iter([Event::message("admitted")]).chain(stream::pending());
            publisher.publish_with(
                permit.attach(events),
                PublishOptions::new()
                    .with_keep_alive(KeepAlive::new().with_interval(Duration::from_millis(500))),
            )
        }
        Err(_) => publisher.too_many_streams(LIMITED_RETRY_AFTER),
    }
}

/// Sends event `n` only after the client opened the gate for it: the client
/// sees the head while nothing has been produced, and each event before the
/// next exists.
fn lockstep<P: SsePublisher>(publisher: P, state: &ConformanceState) -> P::Response {
    let token = state.token_of(&publisher);
    let count: u32 = publisher
        .request()
        .query_param("count")
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let events = stream::unfold(1, move |n| {
        let token = token.clone();
        async move {
            if n > count {
                return None;
            }
            token.pass_gate().await;
            Some((Event::message(n.to_string()).with_id(n), n + 1))
        }
    });
    publisher.publish_with(events, PublishOptions::new().without_keep_alive())
}

/// Streams from a channel and records when the channel's `closed()` fires:
/// the way a client's disconnect reaches a handler.
fn disconnect<P: SsePublisher>(publisher: P, state: &ConformanceState) -> P::Response {
    let token = state.token_of(&publisher);
    let (sender, receiver) = ssekit::channel(4);
    tokio::spawn(async move {
        if sender.send_data("connected").await.is_ok() {
            sender.closed().await;
        }
        token.mark_disconnected();
    });
    publisher.publish_with(
        receiver,
        PublishOptions::new()
            .with_keep_alive(KeepAlive::new().with_interval(Duration::from_millis(500))),
    )
}

/// One event: `closed` as soon as the `/disconnect` stream of the same token has
/// seen its client go, or `open` after 10 seconds.
fn disconnect_report<P: SsePublisher>(publisher: P, state: &ConformanceState) -> P::Response {
    let token = state.token_of(&publisher);
    let report = async move {
        let closed = token.wait_disconnected(Duration::from_secs(10)).await;
        Event::message(if closed { "closed" } else { "open" })
    };
    publisher.publish_with(
        stream::once(report),
        PublishOptions::new().without_keep_alive(),
    )
}

/// Produces 4 KiB events as fast as the client's bounded queue lets it,
/// counting them, until the client goes away.
fn flood<P: SsePublisher>(publisher: P, state: &ConformanceState) -> P::Response {
    let token = state.token_of(&publisher);
    let (sender, receiver) = ssekit::channel(FLOOD_QUEUE);
    let frame = Event::message("x".repeat(FLOOD_EVENT_BYTES)).encode();
    tokio::spawn(async move {
        while sender.send_frame(frame.clone()).await.is_ok() {
            token.count_flood_event();
        }
    });
    publisher.publish_with(receiver, PublishOptions::new().without_keep_alive())
}
