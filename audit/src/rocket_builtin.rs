//! The routes with Rocket's own `rocket::response::stream::{EventStream, Event}`.

use std::time::Duration;

use futures_util::future;
use futures_util::stream::{self, Stream, StreamExt};
use rocket::fairing::AdHoc;
use rocket::http::{Header, HeaderMap, Status};
use rocket::request::{self, FromRequest, Request};
use rocket::response::stream::{Event, EventStream};
use rocket::response::{self as rocket_response, Responder, Response};
use rocket::{catch, catchers, get, routes, State};
use ssekit_conformance::routes::{
    PRIVATE_AUTHORIZATION, PRIVATE_CHALLENGE, PRIVATE_COOKIES, PRIVATE_REFUSAL,
};
use ssekit_conformance::ConformanceState;
use tokio::sync::mpsc;

use crate::common::{self, Params, StreamCaps, INJECTION};

/// Serves the routes on an ephemeral port of 127.0.0.1; returns the base URL.
/// Rocket has no compression of its own: there is no compressed mount.
pub async fn start(state: ConformanceState) -> std::io::Result<String> {
    let config = rocket::Config {
        address: std::net::Ipv4Addr::LOCALHOST.into(),
        port: 0,
        log_level: rocket::config::LogLevel::Off,
        shutdown: rocket::config::Shutdown {
            ctrlc: false,
            ..Default::default()
        },
        ..rocket::Config::release_default()
    };
    let (port_sender, port) = tokio::sync::oneshot::channel();
    let port_sender = std::sync::Mutex::new(Some(port_sender));
    let rocket = rocket::custom(config)
        .mount(
            "/",
            routes![
                script,
                no_content,
                last_event_id,
                count,
                large,
                lockstep,
                gate,
                keep_alive,
                disconnect,
                disconnect_report,
                flood,
                flood_report,
                fail_mid_stream,
                panic_mid_stream,
                injection,
                limited,
                private,
            ],
        )
        .register("/", catchers![unknown_path])
        .manage(state)
        .manage(StreamCaps::default())
        .attach(AdHoc::on_liftoff("port", move |rocket| {
            let port = rocket.config().port;
            Box::pin(async move {
                if let Some(sender) = port_sender.lock().ok().and_then(|mut s| s.take()) {
                    let _ = sender.send(port);
                }
            })
        }));
    tokio::spawn(rocket.launch());
    let port = port
        .await
        .map_err(|_| std::io::Error::other("rocket did not lift off"))?;
    Ok(format!("http://127.0.0.1:{port}"))
}

/// A path no route matches gets 204, as from the other frameworks.
#[catch(404)]
fn unknown_path() -> Status {
    Status::NoContent
}

/// The request's headers, as a request guard: Rocket has no header extractor,
/// and its guide writes one like this.
struct Headers<'r>(&'r HeaderMap<'r>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Headers<'r> {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        request::Outcome::Success(Headers(req.headers()))
    }
}

/// `EventStream::from` turns a heartbeat on (30 s); the routes have none
/// unless stated, so each turns it off (or sets it) as Rocket's docs show.
fn events<S: Stream<Item = Event>>(events: S, heartbeat: Option<Duration>) -> EventStream<S> {
    EventStream::from(events).heartbeat(heartbeat)
}

type Finite = EventStream<stream::Iter<std::vec::IntoIter<Event>>>;

fn finite(list: Vec<Event>) -> Finite {
    events(stream::iter(list), None)
}

fn numbered(n: u64) -> Event {
    Event::data(n.to_string()).id(n.to_string())
}

#[get("/script")]
fn script() -> Finite {
    finite(vec![
        // No response-level retry: the hint is an event of its own.
        Event::retry(common::SCRIPT_RETRY),
        Event::comment("conformance script"),
        Event::data("hello").event("greeting"),
        Event::data(common::MULTI_LINE),
        Event::data(""),
        Event::data(common::TRAILING),
        // Every Event has a data field (`Event::empty()` is `data:`): an
        // id-only event cannot be written.
        Event::empty().id("7"),
        Event::data(common::LEADING_SPACES),
        Event::data(common::UNICODE),
        Event::data("with id")
            .id("8")
            .with_retry(common::WITH_ID_RETRY),
        Event::data("id reset").id(""),
        Event::data("bye").event("done"),
    ])
}

#[get("/no-content")]
fn no_content() -> Status {
    Status::NoContent
}

/// Rocket drops a header whose value is not UTF-8 before any guard sees it.
#[get("/last-event-id")]
fn last_event_id(headers: Headers<'_>) -> Finite {
    let event = match headers.0.get_one("Last-Event-ID") {
        Some(id) => Event::data(id.to_owned()).event("last-event-id"),
        None => Event::data("").event("no-last-event-id"),
    };
    finite(vec![event])
}

#[get("/count?<n>")]
fn count(n: Option<u64>) -> Finite {
    let params = Params {
        n,
        ..Params::default()
    };
    finite((1..=params.n()).map(numbered).collect())
}

#[get("/large")]
fn large() -> Finite {
    finite(vec![Event::data(common::large_data("\r\n"))])
}

#[get("/lockstep?<token>&<count>")]
fn lockstep(
    state: &State<ConformanceState>,
    token: Option<String>,
    count: Option<u32>,
) -> EventStream<impl Stream<Item = Event>> {
    let params = Params {
        token,
        count,
        n: None,
    };
    let numbers = common::lockstep_numbers(params.token(state), params.count());
    events(numbers.map(|n| numbered(n.into())), None)
}

#[get("/gate?<token>")]
fn gate(state: &State<ConformanceState>, token: Option<String>) -> Finite {
    token_params(token).token(state).open_gate();
    finite(vec![Event::data("opened")])
}

fn token_params(token: Option<String>) -> Params {
    Params {
        token,
        ..Params::default()
    }
}

#[get("/keep-alive")]
fn keep_alive() -> EventStream<stream::Pending<Event>> {
    events(stream::pending(), Some(common::KEEP_ALIVE))
}

#[get("/disconnect?<token>")]
fn disconnect(
    state: &State<ConformanceState>,
    token: Option<String>,
) -> EventStream<impl Stream<Item = Event>> {
    let (sender, receiver) = mpsc::channel(4);
    tokio::spawn(common::hold_until_closed(
        sender,
        Event::data("connected"),
        token_params(token).token(state),
    ));
    events(
        common::receiver_stream(receiver),
        Some(common::DISCONNECT_KEEP_ALIVE),
    )
}

#[get("/disconnect-report?<token>")]
fn disconnect_report(
    state: &State<ConformanceState>,
    token: Option<String>,
) -> EventStream<impl Stream<Item = Event>> {
    let token = token_params(token).token(state);
    let report = async move { Event::data(common::disconnect_verdict(token).await) };
    events(stream::once(report), None)
}

#[get("/flood?<token>")]
fn flood(
    state: &State<ConformanceState>,
    token: Option<String>,
) -> EventStream<impl Stream<Item = Event>> {
    let (sender, receiver) = mpsc::channel(common::FLOOD_QUEUE);
    let payload = common::flood_payload();
    tokio::spawn(common::flood(
        sender,
        move || Event::data(payload.clone()),
        token_params(token).token(state),
    ));
    events(common::receiver_stream(receiver), None)
}

#[get("/flood-report?<token>")]
fn flood_report(state: &State<ConformanceState>, token: Option<String>) -> Finite {
    let queued = token_params(token).token(state).flood_events();
    finite(vec![Event::data(queued.to_string())])
}

/// `EventStream` takes a stream of `Event`s only, nothing fallible: the handler
/// has to decide what an error means. Here it ends the stream at the first
/// one (`scan` stops at the first `None`).
#[get("/fail-mid-stream")]
fn fail_mid_stream() -> EventStream<impl Stream<Item = Event>> {
    let numbers = common::failing_numbers().scan((), |(), item| future::ready(item.ok()));
    events(numbers.map(numbered), None)
}

#[get("/panic-mid-stream")]
fn panic_mid_stream() -> EventStream<impl Stream<Item = Event>> {
    events(common::panicking_numbers().map(numbered), None)
}

/// Rocket's builder takes any text; it writes CR and LF in `event` and `id`
/// as spaces (silently), and splits data into lines.
#[get("/injection")]
fn injection() -> Finite {
    finite(vec![
        Event::data("x").event(format!("x{INJECTION}")),
        Event::data("x").id(format!("1{INJECTION}")),
        Event::data(format!("x{INJECTION}")),
    ])
}

/// The refusal of `/limited`: 503 with `Retry-After`, as Rocket's derive writes it.
#[derive(rocket::Responder)]
#[response(status = 503)]
struct Busy {
    inner: (),
    retry_after: Header<'static>,
}

#[get("/limited?<token>")]
fn limited(
    caps: &State<StreamCaps>,
    token: Option<String>,
) -> Result<EventStream<impl Stream<Item = Event>>, Busy> {
    let Some(permit) = caps.try_acquire(&token_params(token)) else {
        return Err(Busy {
            inner: (),
            retry_after: Header::new("Retry-After", common::retry_after()),
        });
    };
    let admitted = common::admitted(permit, Event::data("admitted"));
    Ok(events(admitted, Some(common::LIMITED_KEEP_ALIVE)))
}

/// The refusal of `/private`: 401 with a challenge and a text body.
#[derive(rocket::Responder)]
#[response(status = 401, content_type = "plain")]
struct Refusal {
    inner: &'static str,
    challenge: Header<'static>,
}

/// A responder adding `Set-Cookie` headers to another. Rocket's `CookieJar`
/// would add `SameSite=Strict` to each cookie, and the derive's header fields
/// replace one another: two raw headers are adjoined instead.
struct WithCookies<R>(R);

impl<'r, 'o: 'r, R: Responder<'r, 'o>> Responder<'r, 'o> for WithCookies<R> {
    fn respond_to(self, req: &'r Request<'_>) -> rocket_response::Result<'o> {
        let mut response = Response::build_from(self.0.respond_to(req)?);
        for cookie in PRIVATE_COOKIES {
            response.raw_header_adjoin("Set-Cookie", cookie);
        }
        response.ok()
    }
}

#[get("/private")]
fn private(headers: Headers<'_>) -> Result<WithCookies<Finite>, Refusal> {
    if headers
        .0
        .get_one("Authorization")
        .is_none_or(|v| v != PRIVATE_AUTHORIZATION)
    {
        return Err(Refusal {
            inner: PRIVATE_REFUSAL,
            challenge: Header::new("WWW-Authenticate", PRIVATE_CHALLENGE),
        });
    }
    Ok(WithCookies(finite(vec![Event::data("welcome")])))
}
