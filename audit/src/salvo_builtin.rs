//! The routes with Salvo's own `salvo::sse::{stream, SseEvent, SseKeepAlive}`.

use std::convert::Infallible;

use futures_util::stream::{self, Stream, StreamExt, TryStreamExt};
use salvo::affix_state;
use salvo::compression::Compression;
use salvo::conn::{Acceptor, TcpListener};
use salvo::http::header::{RETRY_AFTER, SET_COOKIE, WWW_AUTHENTICATE};
use salvo::http::StatusCode;
use salvo::prelude::{handler, Depot, Request, Response, Router, Server, Text};
use salvo::sse::{self, SseEvent, SseKeepAlive};
use salvo::Listener;
use ssekit_conformance::routes::{
    PRIVATE_AUTHORIZATION, PRIVATE_CHALLENGE, PRIVATE_COOKIES, PRIVATE_REFUSAL,
};
use ssekit_conformance::{ConformanceState, COMPRESSED_PREFIX};
use tokio::sync::mpsc;

use crate::common::{self, Params, StreamCaps, INJECTION};

/// Serves the routes on an ephemeral port of 127.0.0.1; returns the base URL.
pub async fn start(state: ConformanceState) -> std::io::Result<String> {
    let router = Router::new()
        .hoop(affix_state::inject(state).inject(StreamCaps::default()))
        .push(
            Router::with_path(COMPRESSED_PREFIX.trim_start_matches('/'))
                .hoop(Compression::new())
                .push(routes()),
        )
        .push(routes())
        .push(Router::with_path("{**rest}").goal(unknown_path));
    let acceptor = TcpListener::new("127.0.0.1:0").bind().await;
    let addr = acceptor.holdings()[0]
        .local_addr
        .clone()
        .into_std()
        .ok_or_else(|| std::io::Error::other("salvo bound no IP address"))?;
    tokio::spawn(Server::new(acceptor).serve(router));
    Ok(format!("http://{addr}"))
}

fn routes() -> Router {
    Router::new()
        .push(Router::with_path("script").get(script))
        .push(Router::with_path("no-content").get(no_content))
        .push(Router::with_path("last-event-id").get(last_event_id))
        .push(Router::with_path("count").get(count))
        .push(Router::with_path("large").get(large))
        .push(Router::with_path("lockstep").get(lockstep))
        .push(Router::with_path("gate").get(gate))
        .push(Router::with_path("keep-alive").get(keep_alive))
        .push(Router::with_path("disconnect").get(disconnect))
        .push(Router::with_path("disconnect-report").get(disconnect_report))
        .push(Router::with_path("flood").get(flood))
        .push(Router::with_path("flood-report").get(flood_report))
        .push(Router::with_path("fail-mid-stream").get(fail_mid_stream))
        .push(Router::with_path("panic-mid-stream").get(panic_mid_stream))
        .push(Router::with_path("injection").get(injection))
        .push(Router::with_path("limited").get(limited))
        .push(Router::with_path("private").get(private))
}

/// A path no route matches gets 204, as from the other frameworks.
#[handler]
fn unknown_path(res: &mut Response) {
    res.status_code(StatusCode::NO_CONTENT);
}

fn params(req: &mut Request) -> Params {
    req.parse_queries().unwrap_or_default()
}

fn state(depot: &Depot) -> &ConformanceState {
    depot.get_typed().expect("the state is injected")
}

fn finite(res: &mut Response, events: Vec<SseEvent>) {
    sse::stream(res, stream::iter(events).map(Ok::<_, Infallible>));
}

fn infallible<S: Stream<Item = SseEvent>>(
    events: S,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    events.map(Ok)
}

fn numbered(n: u64) -> SseEvent {
    SseEvent::default().id(n.to_string()).text(n.to_string())
}

#[handler]
fn script(res: &mut Response) {
    finite(
        res,
        vec![
            // No response-level retry: the hint is an event of its own.
            SseEvent::default().retry(common::SCRIPT_RETRY),
            SseEvent::default().comment("conformance script"),
            SseEvent::default().name("greeting").text("hello"),
            SseEvent::default().text(common::MULTI_LINE),
            SseEvent::default().text(""),
            SseEvent::default().text(common::TRAILING),
            SseEvent::default().id("7"),
            SseEvent::default().text(common::LEADING_SPACES),
            SseEvent::default().text(common::UNICODE),
            SseEvent::default()
                .id("8")
                .retry(common::WITH_ID_RETRY)
                .text("with id"),
            SseEvent::default().id("").text("id reset"),
            SseEvent::default().name("done").text("bye"),
        ],
    );
}

#[handler]
fn no_content(res: &mut Response) {
    res.status_code(StatusCode::NO_CONTENT);
}

/// `Request::header` deserialises the value from its text.
#[handler]
fn last_event_id(req: &mut Request, res: &mut Response) {
    let event = match req.header::<String>("last-event-id") {
        Some(id) => SseEvent::default().name("last-event-id").text(id),
        None => SseEvent::default().name("no-last-event-id").text(""),
    };
    finite(res, vec![event]);
}

#[handler]
fn count(req: &mut Request, res: &mut Response) {
    finite(res, (1..=params(req).n()).map(numbered).collect());
}

#[handler]
fn large(res: &mut Response) {
    finite(
        res,
        vec![SseEvent::default().text(common::large_data("\r\n"))],
    );
}

#[handler]
fn lockstep(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let params = params(req);
    let numbers = common::lockstep_numbers(params.token(state(depot)), params.count());
    sse::stream(res, infallible(numbers.map(|n| numbered(n.into()))));
}

#[handler]
fn gate(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    params(req).token(state(depot)).open_gate();
    finite(res, vec![SseEvent::default().text("opened")]);
}

#[handler]
fn keep_alive(res: &mut Response) {
    SseKeepAlive::new(infallible(stream::pending()))
        .max_interval(common::KEEP_ALIVE)
        .stream(res);
}

#[handler]
fn disconnect(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let (sender, receiver) = mpsc::channel(4);
    tokio::spawn(common::hold_until_closed(
        sender,
        SseEvent::default().text("connected"),
        params(req).token(state(depot)),
    ));
    SseKeepAlive::new(infallible(common::receiver_stream(receiver)))
        .max_interval(common::DISCONNECT_KEEP_ALIVE)
        .stream(res);
}

#[handler]
fn disconnect_report(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let token = params(req).token(state(depot));
    let report = async move {
        Ok::<_, Infallible>(SseEvent::default().text(common::disconnect_verdict(token).await))
    };
    sse::stream(res, stream::once(report));
}

#[handler]
fn flood(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let (sender, receiver) = mpsc::channel(common::FLOOD_QUEUE);
    let payload = common::flood_payload();
    tokio::spawn(common::flood(
        sender,
        move || SseEvent::default().text(payload.clone()),
        params(req).token(state(depot)),
    ));
    sse::stream(res, infallible(common::receiver_stream(receiver)));
}

#[handler]
fn flood_report(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let queued = params(req).token(state(depot)).flood_events();
    finite(res, vec![SseEvent::default().text(queued.to_string())]);
}

/// `sse::stream` takes a `TryStream`: Salvo logs the error and fails the body.
#[handler]
fn fail_mid_stream(res: &mut Response) {
    sse::stream(res, common::failing_numbers().map_ok(numbered));
}

#[handler]
fn panic_mid_stream(res: &mut Response) {
    sse::stream(res, infallible(common::panicking_numbers().map(numbered)));
}

/// Salvo's builder panics on CR or LF in `name` and `id` (in the handler,
/// before anything is sent), and splits data into lines.
#[handler]
fn injection(res: &mut Response) {
    finite(
        res,
        vec![
            SseEvent::default().text("x").name(format!("x{INJECTION}")),
            SseEvent::default().text("x").id(format!("1{INJECTION}")),
            SseEvent::default().text(format!("x{INJECTION}")),
        ],
    );
}

/// A 503 without a body: Salvo's catcher gives it its error page.
#[handler]
fn limited(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let caps: &StreamCaps = depot.get_typed().expect("the caps are injected");
    let Some(permit) = caps.try_acquire(&params(req)) else {
        res.status_code(StatusCode::SERVICE_UNAVAILABLE);
        let _ = res.add_header(RETRY_AFTER, common::retry_after(), true);
        return;
    };
    let admitted = common::admitted(permit, SseEvent::default().text("admitted"));
    SseKeepAlive::new(infallible(admitted))
        .max_interval(common::LIMITED_KEEP_ALIVE)
        .stream(res);
}

/// `Request::header` reads `Authorization`; the refusal is a `Text::Plain`
/// with a status and a header. The cookies are appended as headers: Salvo's
/// `add_cookie` would send both, but in its jar's hash order, which changes
/// from run to run.
#[handler]
fn private(req: &mut Request, res: &mut Response) {
    if req
        .header::<String>("authorization")
        .is_none_or(|v| v != PRIVATE_AUTHORIZATION)
    {
        res.status_code(StatusCode::UNAUTHORIZED);
        let _ = res.add_header(WWW_AUTHENTICATE, PRIVATE_CHALLENGE, true);
        res.render(Text::Plain(PRIVATE_REFUSAL));
        return;
    }
    for cookie in PRIVATE_COOKIES {
        let _ = res.add_header(SET_COOKIE, cookie, false);
    }
    finite(res, vec![SseEvent::default().text("welcome")]);
}
