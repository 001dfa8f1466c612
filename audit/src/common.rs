//! Pieces every framework module shares: the query parameters of the routes,
//! the coordination with the suite through [`ConformanceState`], and the
//! payloads. Only framework-neutral code lives here, so that each module shows
//! how its own built-in is used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use ssekit_conformance::routes::TokenState;
use ssekit_conformance::routes::{FLOOD_EVENT_BYTES, LIMITED_RETRY_AFTER, LIMITED_STREAMS};
use ssekit_conformance::ConformanceState;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

pub use ssekit_conformance::routes::{FLOOD_QUEUE, INJECTION};
pub use ssekit_conformance::script::{large_data, SCRIPT_RETRY};

/// Keep-alive interval of `/keep-alive`.
pub const KEEP_ALIVE: Duration = Duration::from_millis(100);
/// Keep-alive interval of `/disconnect`.
pub const DISCONNECT_KEEP_ALIVE: Duration = Duration::from_millis(500);
/// How long `/disconnect-report` waits before answering `open`.
const DISCONNECT_REPORT_WAIT: Duration = Duration::from_secs(10);

// The script's data strings, shared so that every framework is handed exactly
// the text (CR, LF and CRLF included) of `ssekit_conformance::script::script_events`.
pub const MULTI_LINE: &str = "multi\nline\r\ncrlf\rcr";
pub const TRAILING: &str = "trailing\n";
pub const LEADING_SPACES: &str = "  two leading spaces";
pub const UNICODE: &str = "héllo wörld 😀 ñ 中文";
pub const WITH_ID_RETRY: Duration = Duration::from_millis(1000);

/// Keep-alive interval of `/limited`, so that a client that left is noticed.
pub const LIMITED_KEEP_ALIVE: Duration = Duration::from_millis(500);

/// The `Retry-After` value (seconds) of a refused `/limited` stream.
pub fn retry_after() -> String {
    LIMITED_RETRY_AFTER.as_secs().to_string()
}

/// Query parameters of the routes, deserialised by each framework's own
/// `Query` extractor as its users would.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    pub token: Option<String>,
    pub n: Option<u64>,
    pub count: Option<u32>,
}

impl Params {
    /// The coordination state of the request's `token`.
    pub fn token(&self, state: &ConformanceState) -> Arc<TokenState> {
        state.token(self.token.as_deref().unwrap_or_default())
    }

    /// `/count`'s `n`, capped like the reference routes.
    pub fn n(&self) -> u64 {
        self.n.unwrap_or(10).min(100_000)
    }

    /// `/lockstep`'s `count`.
    pub fn count(&self) -> u32 {
        self.count.unwrap_or(3)
    }
}

/// One `/flood` payload (4 KiB).
pub fn flood_payload() -> String {
    "x".repeat(FLOOD_EVENT_BYTES)
}

/// A tokio receiver as a stream. `Sync` as well as `Send`, because warp's
/// `sse::reply` demands both of its event stream.
pub fn receiver_stream<T: Send>(
    mut receiver: mpsc::Receiver<T>,
) -> impl Stream<Item = T> + Send + Sync {
    stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

/// The `/lockstep` counter: `n` is yielded only after the `n`-th `/gate`.
pub fn lockstep_numbers(
    token: Arc<TokenState>,
    count: u32,
) -> impl Stream<Item = u32> + Send + Sync {
    stream::unfold(1, move |n| {
        let token = token.clone();
        async move {
            if n > count {
                return None;
            }
            token.pass_gate().await;
            Some((n, n + 1))
        }
    })
}

/// What `/disconnect-report` answers: `closed` once the `/disconnect` stream
/// of the token saw its client go, `open` after 10 s.
pub async fn disconnect_verdict(token: Arc<TokenState>) -> &'static str {
    if token.wait_disconnected(DISCONNECT_REPORT_WAIT).await {
        "closed"
    } else {
        "open"
    }
}

/// The producer of `/disconnect`: sends `connected`, then waits until the
/// response stream (and with it the receiver) is dropped, and records it.
pub async fn hold_until_closed<E>(sender: mpsc::Sender<E>, connected: E, token: Arc<TokenState>) {
    if sender.send(connected).await.is_ok() {
        sender.closed().await;
    }
    token.mark_disconnected();
}

/// The producer of `/flood`: queues events as fast as the bounded channel
/// lets it, counting them, until the response stream is dropped.
pub async fn flood<E>(
    sender: mpsc::Sender<E>,
    mut event: impl FnMut() -> E,
    token: Arc<TokenState>,
) {
    while sender.send(event()).await.is_ok() {
        token.count_flood_event();
    }
}

/// The source of `/fail-mid-stream`: 1 and 2, then an error.
pub fn failing_numbers() -> impl Stream<Item = Result<u64, std::io::Error>> + Send + Sync {
    stream::iter(1..=3).map(|n| match n {
        1 | 2 => Ok(n),
        _ => Err(std::io::Error::other(
            "audit: deliberate source error in /fail-mid-stream",
        )),
    })
}

/// The source of `/panic-mid-stream`: 1 and 2, then a panic (not caught).
pub fn panicking_numbers() -> impl Stream<Item = u64> + Send + Sync {
    stream::iter(1..=3).map(|n| {
        assert!(n < 3, "audit: deliberate panic in /panic-mid-stream");
        n
    })
}

/// The cap of `/limited` as a user of a built-in would write it: a tokio
/// semaphore of [`LIMITED_STREAMS`] permits per token, the permit held by the
/// response stream. (Tokens are never forgotten: fine for a report.)
#[derive(Clone, Default)]
pub struct StreamCaps(Arc<Mutex<HashMap<String, Arc<Semaphore>>>>);

impl StreamCaps {
    /// A slot for one more stream of the request's token, or `None` at the cap.
    pub fn try_acquire(&self, params: &Params) -> Option<OwnedSemaphorePermit> {
        let semaphore = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(params.token.clone().unwrap_or_default())
            .or_insert_with(|| Arc::new(Semaphore::new(LIMITED_STREAMS)))
            .clone();
        semaphore.try_acquire_owned().ok()
    }
}

/// `/limited`'s events: `admitted`, then nothing until the client leaves,
/// holding `permit` as long as the stream lives.
pub fn admitted<E: Send + Sync>(
    permit: OwnedSemaphorePermit,
    admitted: E,
) -> impl Stream<Item = E> + Send + Sync {
    stream::iter([admitted])
        .chain(stream::pending())
        .map(move |event| {
            let _slot = &permit;
            event
        })
}
