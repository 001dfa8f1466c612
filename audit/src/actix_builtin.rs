//! The routes with actix-web-lab's `actix_web_lab::sse` (actix-web itself has
//! no SSE type; actix-web-lab is where its maintainers ship one).

use std::sync::mpsc as std_mpsc;

use actix_web::dev::ServerHandle;
use actix_web::http::header::{self, ContentType};
use actix_web::middleware::Compress;
use actix_web::{web, App, Either, HttpRequest, HttpResponse, HttpServer, Responder};
use actix_web_lab::sse::{Data, Event, Sse};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use ssekit_conformance::routes::{
    PRIVATE_AUTHORIZATION, PRIVATE_CHALLENGE, PRIVATE_COOKIES, PRIVATE_REFUSAL,
};
use ssekit_conformance::{ConformanceState, COMPRESSED_PREFIX};
use tokio::sync::mpsc;

use crate::common::{self, Params, StreamCaps, INJECTION};

/// A running server: its base URL and the handle that stops it.
pub struct Running {
    pub base: String,
    pub handle: ServerHandle,
}

/// Serves the routes on an ephemeral port of 127.0.0.1.
///
/// actix-web's server future is not `Send` and needs an actix `System`, so it
/// runs on a thread of its own, like `#[actix_web::main]` would give it.
pub fn start(state: ConformanceState) -> std::io::Result<Running> {
    let (ready, started) = std_mpsc::channel();
    let caps = StreamCaps::default();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            // Server settings as in ssekit-actix's conformance test, so that only
            // the SSE type differs.
            let bound = HttpServer::new(move || {
                App::new()
                    .app_data(web::Data::new(state.clone()))
                    .app_data(web::Data::new(caps.clone()))
                    .service(
                        web::scope(COMPRESSED_PREFIX)
                            .wrap(Compress::default())
                            .configure(routes),
                    )
                    .configure(routes)
            })
            .workers(2)
            .disable_signals()
            .h1_allow_half_closed(false)
            .bind_auto_h2c(("127.0.0.1", 0));
            let server = match bound {
                Ok(server) => server,
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            let base = format!("http://{}", server.addrs()[0]);
            let server = server.run();
            let _ = ready.send(Ok(Running {
                base,
                handle: server.handle(),
            }));
            let _ = server.await;
        });
    });
    started
        .recv()
        .map_err(|_| std::io::Error::other("the actix-web server thread ended before binding"))?
}

fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/script", web::get().to(script))
        .route("/no-content", web::get().to(no_content))
        .route("/last-event-id", web::get().to(last_event_id))
        .route("/count", web::get().to(count))
        .route("/large", web::get().to(large))
        .route("/lockstep", web::get().to(lockstep))
        .route("/gate", web::get().to(gate))
        .route("/keep-alive", web::get().to(keep_alive))
        .route("/disconnect", web::get().to(disconnect))
        .route("/disconnect-report", web::get().to(disconnect_report))
        .route("/flood", web::get().to(flood))
        .route("/flood-report", web::get().to(flood_report))
        .route("/fail-mid-stream", web::get().to(fail_mid_stream))
        .route("/panic-mid-stream", web::get().to(panic_mid_stream))
        .route("/injection", web::get().to(injection))
        .route("/limited", web::get().to(limited))
        .route("/private", web::get().to(private))
        .default_service(web::to(no_content));
}

fn finite(events: Vec<Event>) -> impl Responder {
    Sse::from_infallible_stream(stream::iter(events))
}

async fn script() -> impl Responder {
    let events: Vec<Event> = vec![
        Event::Comment("conformance script".into()),
        Data::new("hello").event("greeting").into(),
        Data::new(common::MULTI_LINE).into(),
        Data::new("").into(),
        Data::new(common::TRAILING).into(),
        // `Data` always writes a data field, so an id-only event cannot be
        // expressed: this is the closest, and it dispatches an extra empty event.
        Data::new("").id("7").into(),
        Data::new(common::LEADING_SPACES).into(),
        Data::new(common::UNICODE).into(),
        // No per-event retry: only `with_retry_duration`, once, at the start.
        // The 1000 ms hint is therefore lost.
        Data::new("with id").id("8").into(),
        Data::new("id reset").id("").into(),
        Data::new("bye").event("done").into(),
    ];
    Sse::from_infallible_stream(stream::iter(events)).with_retry_duration(common::SCRIPT_RETRY)
}

async fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

/// actix-web has no Last-Event-ID extractor; users read the header, and
/// `to_str` drops a value that is not visible ASCII.
async fn last_event_id(request: HttpRequest) -> impl Responder {
    let event = match request
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
    {
        Some(id) => Data::new(id.to_owned()).event("last-event-id"),
        None => Data::new("").event("no-last-event-id"),
    };
    finite(vec![event.into()])
}

async fn count(params: web::Query<Params>) -> impl Responder {
    finite(
        (1..=params.n())
            .map(|i| Data::new(i.to_string()).id(i.to_string()).into())
            .collect(),
    )
}

async fn large() -> impl Responder {
    finite(vec![Data::new(common::large_data("\r\n")).into()])
}

async fn lockstep(
    state: web::Data<ConformanceState>,
    params: web::Query<Params>,
) -> impl Responder {
    let numbers = common::lockstep_numbers(params.token(&state), params.count());
    Sse::from_infallible_stream(
        numbers.map(|n| Event::from(Data::new(n.to_string()).id(n.to_string()))),
    )
}

async fn gate(state: web::Data<ConformanceState>, params: web::Query<Params>) -> impl Responder {
    params.token(&state).open_gate();
    finite(vec![Data::new("opened").into()])
}

async fn keep_alive() -> impl Responder {
    Sse::from_infallible_stream(stream::pending::<Event>()).with_keep_alive(common::KEEP_ALIVE)
}

async fn disconnect(
    state: web::Data<ConformanceState>,
    params: web::Query<Params>,
) -> impl Responder {
    let (sender, receiver) = mpsc::channel(4);
    actix_web::rt::spawn(common::hold_until_closed(
        sender,
        Data::new("connected").into(),
        params.token(&state),
    ));
    Sse::from_infallible_receiver(receiver).with_keep_alive(common::DISCONNECT_KEEP_ALIVE)
}

async fn disconnect_report(
    state: web::Data<ConformanceState>,
    params: web::Query<Params>,
) -> impl Responder {
    let token = params.token(&state);
    let report = async move { Event::from(Data::new(common::disconnect_verdict(token).await)) };
    Sse::from_infallible_stream(stream::once(report))
}

async fn flood(state: web::Data<ConformanceState>, params: web::Query<Params>) -> impl Responder {
    let (sender, receiver) = mpsc::channel(common::FLOOD_QUEUE);
    let payload = common::flood_payload();
    actix_web::rt::spawn(common::flood(
        sender,
        move || Data::new(payload.clone()).into(),
        params.token(&state),
    ));
    Sse::from_infallible_receiver(receiver)
}

async fn flood_report(
    state: web::Data<ConformanceState>,
    params: web::Query<Params>,
) -> impl Responder {
    finite(vec![Data::new(
        params.token(&state).flood_events().to_string(),
    )
    .into()])
}

/// `Sse::from_stream` takes `Result` items: the error becomes a body error.
async fn fail_mid_stream() -> impl Responder {
    Sse::from_stream(
        common::failing_numbers()
            .map_ok(|n| Event::from(Data::new(n.to_string()).id(n.to_string()))),
    )
}

async fn panic_mid_stream() -> impl Responder {
    Sse::from_infallible_stream(
        common::panicking_numbers()
            .map(|n| Event::from(Data::new(n.to_string()).id(n.to_string()))),
    )
}

/// `Data::event` and `Data::id` take any text without complaint: the line
/// breaks are refused only when the body encodes the event, as a body error.
async fn injection() -> impl Responder {
    finite(vec![
        Data::new("x").event(format!("x{INJECTION}")).into(),
        Data::new("x").id(format!("1{INJECTION}")).into(),
        Data::new(format!("x{INJECTION}")).into(),
    ])
}

async fn limited(
    caps: web::Data<StreamCaps>,
    params: web::Query<Params>,
) -> Either<impl Responder, HttpResponse> {
    match caps.try_acquire(&params) {
        Some(permit) => Either::Left(
            Sse::from_infallible_stream(common::admitted(
                permit,
                Event::from(Data::new("admitted")),
            ))
            .with_keep_alive(common::LIMITED_KEEP_ALIVE),
        ),
        None => Either::Right(
            HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, common::retry_after()))
                .finish(),
        ),
    }
}

/// actix-web has no typed `Authorization` header (that is actix-web-httpauth):
/// users read it from `HttpRequest::headers`. The refusal is built with
/// `HttpResponse::Unauthorized()`. `Sse` is a `Responder` that builds its own
/// response, so the cookies are added with `Responder::customize`, whose
/// `append_header` keeps both (`insert_header` would keep the last). Without
/// actix-web's `cookies` feature there is no `HttpResponseBuilder::cookie`,
/// and it would not reach the `Sse` responder anyway.
async fn private(request: HttpRequest) -> Either<impl Responder, HttpResponse> {
    let authorization = request.headers().get(header::AUTHORIZATION);
    if authorization.is_none_or(|v| v != PRIVATE_AUTHORIZATION) {
        return Either::Right(
            HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, PRIVATE_CHALLENGE))
                .content_type(ContentType::plaintext())
                .body(PRIVATE_REFUSAL),
        );
    }
    let [first, second] = PRIVATE_COOKIES;
    Either::Left(
        finite(vec![Data::new("welcome").into()])
            .customize()
            .append_header((header::SET_COOKIE, first))
            .append_header((header::SET_COOKIE, second)),
    )
}
