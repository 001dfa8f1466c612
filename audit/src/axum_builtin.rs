//! The routes with axum's own `axum::response::sse::{Sse, Event, KeepAlive}`.

use std::convert::Infallible;
use std::future::IntoFuture;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream, StreamExt, TryStreamExt};
use ssekit_conformance::routes::{
    PRIVATE_AUTHORIZATION, PRIVATE_CHALLENGE, PRIVATE_COOKIES, PRIVATE_REFUSAL,
};
use ssekit_conformance::{ConformanceState, COMPRESSED_PREFIX};
use tokio::sync::mpsc;
use tower_http::compression::CompressionLayer;

use crate::common::{self, Params, StreamCaps, INJECTION};

/// Serves the routes on an ephemeral port of 127.0.0.1; returns the base URL.
pub async fn start(state: ConformanceState) -> std::io::Result<String> {
    let caps = StreamCaps::default();
    let app = routes(state.clone(), caps.clone()).nest(
        COMPRESSED_PREFIX,
        routes(state, caps).layer(CompressionLayer::new()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(axum::serve(listener, app).into_future());
    Ok(base)
}

fn routes(state: ConformanceState, caps: StreamCaps) -> Router {
    Router::new()
        .route("/script", get(script))
        .route("/no-content", get(no_content))
        .route("/last-event-id", get(last_event_id))
        .route("/count", get(count))
        .route("/large", get(large))
        .route("/lockstep", get(lockstep))
        .route("/gate", get(gate))
        .route("/keep-alive", get(keep_alive))
        .route("/disconnect", get(disconnect))
        .route("/disconnect-report", get(disconnect_report))
        .route("/flood", get(flood))
        .route("/flood-report", get(flood_report))
        .route("/fail-mid-stream", get(fail_mid_stream))
        .route("/panic-mid-stream", get(panic_mid_stream))
        .route("/injection", get(injection))
        .route("/limited", get(limited).with_state(caps))
        .route("/private", get(private))
        .fallback(no_content)
        .with_state(state)
}

/// The events of a finite route, as axum's docs build them.
fn finite(events: Vec<Event>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(stream::iter(events.into_iter().map(Ok::<_, Infallible>)))
}

// Nothing here but `/injection` reaches axum's panicking asserts (`Event::id`
// with NUL, a field with CR/LF, a field set twice).
async fn script() -> impl IntoResponse {
    finite(vec![
        // axum has no response-level retry: the hint is an event of its own.
        Event::default().retry(common::SCRIPT_RETRY),
        Event::default().comment("conformance script"),
        Event::default().event("greeting").data("hello"),
        Event::default().data(common::MULTI_LINE),
        Event::default().data(""),
        Event::default().data(common::TRAILING),
        Event::default().id("7"),
        Event::default().data(common::LEADING_SPACES),
        Event::default().data(common::UNICODE),
        Event::default()
            .id("8")
            .retry(common::WITH_ID_RETRY)
            .data("with id"),
        Event::default().id("").data("id reset"),
        Event::default().event("done").data("bye"),
    ])
}

async fn no_content() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// axum has no Last-Event-ID extractor; users read the header from the
/// `HeaderMap`, and `to_str` drops a value that is not visible ASCII.
async fn last_event_id(headers: HeaderMap) -> impl IntoResponse {
    let event = match headers.get("last-event-id").and_then(|v| v.to_str().ok()) {
        Some(id) => Event::default().event("last-event-id").data(id),
        None => Event::default().event("no-last-event-id").data(""),
    };
    finite(vec![event])
}

async fn count(Query(params): Query<Params>) -> impl IntoResponse {
    finite(
        (1..=params.n())
            .map(|i| Event::default().id(i.to_string()).data(i.to_string()))
            .collect(),
    )
}

async fn large() -> impl IntoResponse {
    finite(vec![Event::default().data(common::large_data("\r\n"))])
}

async fn lockstep(
    State(state): State<ConformanceState>,
    Query(params): Query<Params>,
) -> impl IntoResponse {
    let numbers = common::lockstep_numbers(params.token(&state), params.count());
    Sse::new(
        numbers
            .map(|n| Ok::<_, Infallible>(Event::default().id(n.to_string()).data(n.to_string()))),
    )
}

async fn gate(
    State(state): State<ConformanceState>,
    Query(params): Query<Params>,
) -> impl IntoResponse {
    params.token(&state).open_gate();
    finite(vec![Event::default().data("opened")])
}

async fn keep_alive() -> impl IntoResponse {
    Sse::new(stream::pending::<Result<Event, Infallible>>())
        .keep_alive(KeepAlive::new().interval(common::KEEP_ALIVE))
}

async fn disconnect(
    State(state): State<ConformanceState>,
    Query(params): Query<Params>,
) -> impl IntoResponse {
    let (sender, receiver) = mpsc::channel(4);
    tokio::spawn(common::hold_until_closed(
        sender,
        Event::default().data("connected"),
        params.token(&state),
    ));
    Sse::new(common::receiver_stream(receiver).map(Ok::<_, Infallible>))
        .keep_alive(KeepAlive::new().interval(common::DISCONNECT_KEEP_ALIVE))
}

async fn disconnect_report(
    State(state): State<ConformanceState>,
    Query(params): Query<Params>,
) -> impl IntoResponse {
    let token = params.token(&state);
    let report = async move {
        Ok::<_, Infallible>(Event::default().data(common::disconnect_verdict(token).await))
    };
    Sse::new(stream::once(report))
}

async fn flood(
    State(state): State<ConformanceState>,
    Query(params): Query<Params>,
) -> impl IntoResponse {
    let (sender, receiver) = mpsc::channel(common::FLOOD_QUEUE);
    let payload = common::flood_payload();
    tokio::spawn(common::flood(
        sender,
        move || Event::default().data(&payload),
        params.token(&state),
    ));
    Sse::new(common::receiver_stream(receiver).map(Ok::<_, Infallible>))
}

async fn flood_report(
    State(state): State<ConformanceState>,
    Query(params): Query<Params>,
) -> impl IntoResponse {
    finite(vec![
        Event::default().data(params.token(&state).flood_events().to_string())
    ])
}

/// `Sse` takes a `TryStream`: the error reaches hyper as a body error.
async fn fail_mid_stream() -> impl IntoResponse {
    Sse::new(
        common::failing_numbers()
            .map_ok(|n| Event::default().id(n.to_string()).data(n.to_string())),
    )
}

async fn panic_mid_stream() -> impl IntoResponse {
    Sse::new(
        common::panicking_numbers()
            .map(|n| Ok::<_, Infallible>(Event::default().id(n.to_string()).data(n.to_string()))),
    )
}

/// axum's builder panics on a line break in `event` or `id`. The panic is
/// caught around the builders only, so that the server lives on; what the
/// user gets is a failed request: a 500 (as behind tower-http's
/// `CatchPanicLayer`; without it, hyper drops the connection).
async fn injection() -> Response {
    let attempts = std::panic::catch_unwind(|| {
        [
            Event::default().data("x").event(format!("x{INJECTION}")),
            Event::default().data("x").id(format!("1{INJECTION}")),
        ]
    });
    match attempts {
        Ok(attempts) => {
            let mut events = Vec::from(attempts);
            events.push(Event::default().data(format!("x{INJECTION}")));
            finite(events).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn limited(State(caps): State<StreamCaps>, Query(params): Query<Params>) -> Response {
    match caps.try_acquire(&params) {
        Some(permit) => Sse::new(
            common::admitted(permit, Event::default().data("admitted")).map(Ok::<_, Infallible>),
        )
        .keep_alive(KeepAlive::new().interval(common::LIMITED_KEEP_ALIVE))
        .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, common::retry_after())],
        )
            .into_response(),
    }
}

/// axum's `TypedHeader` lives in axum-extra: with axum alone, users read the
/// `Authorization` header from the `HeaderMap`. The refusal is a tuple of
/// status, headers and a `&str` body (which axum sends as
/// `text/plain; charset=utf-8`). The cookies go in `AppendHeaders`, as axum's
/// docs show for two `set-cookie`s: a plain `[(name, value); N]` would insert,
/// and keep only the last.
async fn private(headers: HeaderMap) -> Response {
    if headers
        .get(header::AUTHORIZATION)
        .is_none_or(|v| v != PRIVATE_AUTHORIZATION)
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, PRIVATE_CHALLENGE)],
            PRIVATE_REFUSAL,
        )
            .into_response();
    }
    (
        AppendHeaders(PRIVATE_COOKIES.map(|cookie| (header::SET_COOKIE, cookie))),
        finite(vec![Event::default().data("welcome")]),
    )
        .into_response()
}
