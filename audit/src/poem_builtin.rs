//! The routes with poem's own `poem::web::sse::{SSE, Event}`.

use futures_util::future;
use futures_util::stream::{self, StreamExt};
use poem::error::NotFoundError;
use poem::http::{header, StatusCode};
use poem::listener::TcpAcceptor;
use poem::middleware::Compression;
use poem::web::sse::{Event, SSE};
use poem::web::{Data, Query};
use poem::{get, handler, EndpointExt, IntoResponse, Request, Response, Route, Server};
use ssekit_conformance::routes::{
    PRIVATE_AUTHORIZATION, PRIVATE_CHALLENGE, PRIVATE_COOKIES, PRIVATE_REFUSAL,
};
use ssekit_conformance::{ConformanceState, COMPRESSED_PREFIX};
use tokio::sync::mpsc;

use crate::common::{self, Params, StreamCaps, INJECTION};

/// Serves the routes on an ephemeral port of 127.0.0.1; returns the base URL.
pub async fn start(state: ConformanceState) -> std::io::Result<String> {
    let app = routes()
        .nest(COMPRESSED_PREFIX, routes().with(Compression::new()))
        .data(state)
        .data(StreamCaps::default())
        .catch_error(|_: NotFoundError| async { StatusCode::NO_CONTENT });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    Ok(base)
}

fn routes() -> Route {
    Route::new()
        .at("/script", get(script))
        .at("/no-content", get(no_content))
        .at("/last-event-id", get(last_event_id))
        .at("/count", get(count))
        .at("/large", get(large))
        .at("/lockstep", get(lockstep))
        .at("/gate", get(gate))
        .at("/keep-alive", get(keep_alive))
        .at("/disconnect", get(disconnect))
        .at("/disconnect-report", get(disconnect_report))
        .at("/flood", get(flood))
        .at("/flood-report", get(flood_report))
        .at("/fail-mid-stream", get(fail_mid_stream))
        .at("/panic-mid-stream", get(panic_mid_stream))
        .at("/injection", get(injection))
        .at("/limited", get(limited))
        .at("/private", get(private))
}

fn finite(events: Vec<Event>) -> SSE {
    SSE::new(stream::iter(events))
}

#[handler]
fn script() -> SSE {
    finite(vec![
        // poem has no response-level retry: the hint is an event of its own.
        Event::retry(common::SCRIPT_RETRY.as_millis() as u64),
        // poem's Event has no comment variant: the comment is left out.
        Event::message("hello").event_type("greeting"),
        Event::message(common::MULTI_LINE),
        Event::message(""),
        Event::message(common::TRAILING),
        // Empty data writes no data field, so this is an id-only event.
        Event::message("").id("7"),
        Event::message(common::LEADING_SPACES),
        Event::message(common::UNICODE),
        // A retry cannot ride on a message: it goes just before it.
        Event::retry(common::WITH_ID_RETRY.as_millis() as u64),
        Event::message("with id").id("8"),
        // `id("")` writes no id field, so the last event id cannot be reset.
        Event::message("id reset").id(""),
        Event::message("bye").event_type("done"),
    ])
}

#[handler]
fn no_content() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// poem has no Last-Event-ID extractor; `Request::header` is its way to read
/// one, and gives `None` for a value that is not visible ASCII.
#[handler]
fn last_event_id(request: &Request) -> SSE {
    let event = match request.header("last-event-id") {
        Some(id) => Event::message(id).event_type("last-event-id"),
        None => Event::message("").event_type("no-last-event-id"),
    };
    finite(vec![event])
}

#[handler]
fn count(Query(params): Query<Params>) -> SSE {
    finite(
        (1..=params.n())
            .map(|i| Event::message(i.to_string()).id(i.to_string()))
            .collect(),
    )
}

#[handler]
fn large() -> SSE {
    finite(vec![Event::message(common::large_data("\r\n"))])
}

#[handler]
fn lockstep(Data(state): Data<&ConformanceState>, Query(params): Query<Params>) -> SSE {
    let numbers = common::lockstep_numbers(params.token(state), params.count());
    SSE::new(numbers.map(|n| Event::message(n.to_string()).id(n.to_string())))
}

#[handler]
fn gate(Data(state): Data<&ConformanceState>, Query(params): Query<Params>) -> SSE {
    params.token(state).open_gate();
    finite(vec![Event::message("opened")])
}

#[handler]
fn keep_alive() -> SSE {
    SSE::new(stream::pending()).keep_alive(common::KEEP_ALIVE)
}

#[handler]
fn disconnect(Data(state): Data<&ConformanceState>, Query(params): Query<Params>) -> SSE {
    let (sender, receiver) = mpsc::channel(4);
    tokio::spawn(common::hold_until_closed(
        sender,
        Event::message("connected"),
        params.token(state),
    ));
    SSE::new(common::receiver_stream(receiver)).keep_alive(common::DISCONNECT_KEEP_ALIVE)
}

#[handler]
fn disconnect_report(Data(state): Data<&ConformanceState>, Query(params): Query<Params>) -> SSE {
    let token = params.token(state);
    SSE::new(stream::once(async move {
        Event::message(common::disconnect_verdict(token).await)
    }))
}

#[handler]
fn flood(Data(state): Data<&ConformanceState>, Query(params): Query<Params>) -> SSE {
    let (sender, receiver) = mpsc::channel(common::FLOOD_QUEUE);
    let payload = common::flood_payload();
    tokio::spawn(common::flood(
        sender,
        move || Event::message(payload.clone()),
        params.token(state),
    ));
    SSE::new(common::receiver_stream(receiver))
}

#[handler]
fn flood_report(Data(state): Data<&ConformanceState>, Query(params): Query<Params>) -> SSE {
    finite(vec![Event::message(
        params.token(state).flood_events().to_string(),
    )])
}

/// poem's `SSE` takes a stream of `Event`s only, nothing fallible: the handler
/// has to decide what an error means. Here it ends the stream at the first
/// one (`scan` stops at the first `None`).
#[handler]
fn fail_mid_stream() -> SSE {
    let numbers = common::failing_numbers().scan((), |(), item| future::ready(item.ok()));
    SSE::new(numbers.map(|n| Event::message(n.to_string()).id(n.to_string())))
}

#[handler]
fn panic_mid_stream() -> SSE {
    SSE::new(common::panicking_numbers().map(|n| Event::message(n.to_string()).id(n.to_string())))
}

/// poem's builder takes any text, and writes it as it is.
#[handler]
fn injection() -> SSE {
    finite(vec![
        Event::message("x").event_type(format!("x{INJECTION}")),
        Event::message("x").id(format!("1{INJECTION}")),
        Event::message(format!("x{INJECTION}")),
    ])
}

#[handler]
fn limited(Data(caps): Data<&StreamCaps>, Query(params): Query<Params>) -> Response {
    match caps.try_acquire(&params) {
        Some(permit) => SSE::new(common::admitted(permit, Event::message("admitted")))
            .keep_alive(common::LIMITED_KEEP_ALIVE)
            .into_response(),
        None => Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header(header::RETRY_AFTER, common::retry_after())
            .finish(),
    }
}

/// `Request::header` reads the `Authorization` header, as `/last-event-id`
/// does (poem's `TypedHeader<Authorization<Bearer>>` would also take the scheme
/// in any case, and reject a request without the header unless wrapped in
/// `Option`). The refusal is a `&str` (sent as `text/plain; charset=utf-8`)
/// with `IntoResponse::with_status` and `with_header`; the same `with_header`
/// on `SSE` appends, so two calls give two `Set-Cookie`s. (poem's `CookieJar`
/// needs its `cookie` feature and the `CookieJarManager` middleware; plain
/// headers need neither.)
#[handler]
fn private(request: &Request) -> Response {
    if request
        .header(header::AUTHORIZATION)
        .is_none_or(|v| v != PRIVATE_AUTHORIZATION)
    {
        return PRIVATE_REFUSAL
            .with_status(StatusCode::UNAUTHORIZED)
            .with_header(header::WWW_AUTHENTICATE, PRIVATE_CHALLENGE)
            .into_response();
    }
    let [first, second] = PRIVATE_COOKIES;
    finite(vec![Event::message("welcome")])
        .with_header(header::SET_COOKIE, first)
        .with_header(header::SET_COOKIE, second)
        .into_response()
}
