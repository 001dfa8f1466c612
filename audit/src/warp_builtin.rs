//! The routes with warp's own `warp::sse::{reply, keep_alive, Event}`.

use std::convert::Infallible;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use ssekit_conformance::routes::{
    PRIVATE_AUTHORIZATION, PRIVATE_CHALLENGE, PRIVATE_COOKIES, PRIVATE_REFUSAL,
};
use ssekit_conformance::{ConformanceState, COMPRESSED_PREFIX};
use tokio::sync::mpsc;
use warp::filters::BoxedFilter;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::{Reply, Response};
use warp::sse::Event;
use warp::{Filter, Rejection};

use crate::common::{self, Params, StreamCaps, INJECTION};

/// Serves the routes on an ephemeral port of 127.0.0.1; returns the base URL.
pub async fn start(state: ConformanceState) -> std::io::Result<String> {
    let caps = StreamCaps::default();
    let compressed = warp::path(COMPRESSED_PREFIX.trim_start_matches('/'))
        .and(routes(state.clone(), caps.clone()))
        .with(warp::compression::gzip());
    let app = compressed.or(routes(state, caps));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(warp::serve(app).incoming(listener).run());
    Ok(base)
}

/// One filter per route, as warp's examples compose them. A path no route
/// matches gets 204 from `recover`; any other rejection (such as a
/// Last-Event-ID that `warp::sse::last_event_id` cannot parse) keeps warp's
/// own answer.
fn routes(state: ConformanceState, caps: StreamCaps) -> BoxedFilter<(Response,)> {
    let state = warp::any().map(move || state.clone());
    let caps = warp::any().map(move || caps.clone());
    let params = warp::query::<Params>();

    let script = warp::path!("script").map(|| script().into_response());
    let no_content = warp::path!("no-content").map(|| StatusCode::NO_CONTENT.into_response());
    let last_event_id = warp::path!("last-event-id")
        .and(warp::sse::last_event_id::<String>())
        .map(|id: Option<String>| {
            let event = match id {
                Some(id) => Event::default().event("last-event-id").data(id),
                None => Event::default().event("no-last-event-id").data(""),
            };
            finite(vec![event])
        });
    let count = warp::path!("count").and(params).map(|params: Params| {
        finite(
            (1..=params.n())
                .map(|i| Event::default().id(i.to_string()).data(i.to_string()))
                .collect(),
        )
    });
    let large = warp::path!("large")
        .map(|| finite(vec![Event::default().data(common::large_data("\r\n"))]));
    let lockstep = warp::path!("lockstep").and(state.clone()).and(params).map(
        |state: ConformanceState, params: Params| {
            let numbers = common::lockstep_numbers(params.token(&state), params.count());
            let events = numbers.map(|n| {
                Ok::<_, Infallible>(Event::default().id(n.to_string()).data(n.to_string()))
            });
            warp::sse::reply(events).into_response()
        },
    );
    let gate = warp::path!("gate").and(state.clone()).and(params).map(
        |state: ConformanceState, params: Params| {
            params.token(&state).open_gate();
            finite(vec![Event::default().data("opened")])
        },
    );
    let keep_alive = warp::path!("keep-alive").map(|| {
        let idle = stream::pending::<Result<Event, Infallible>>();
        warp::sse::reply(
            warp::sse::keep_alive()
                .interval(common::KEEP_ALIVE)
                .stream(idle),
        )
        .into_response()
    });
    let disconnect = warp::path!("disconnect")
        .and(state.clone())
        .and(params)
        .map(|state: ConformanceState, params: Params| {
            let (sender, receiver) = mpsc::channel(4);
            tokio::spawn(common::hold_until_closed(
                sender,
                Event::default().data("connected"),
                params.token(&state),
            ));
            let events = common::receiver_stream(receiver).map(Ok::<_, Infallible>);
            warp::sse::reply(
                warp::sse::keep_alive()
                    .interval(common::DISCONNECT_KEEP_ALIVE)
                    .stream(events),
            )
            .into_response()
        });
    let disconnect_report = warp::path!("disconnect-report")
        .and(state.clone())
        .and(params)
        .map(|state: ConformanceState, params: Params| {
            let token = params.token(&state);
            let report = async move {
                Ok::<_, Infallible>(Event::default().data(common::disconnect_verdict(token).await))
            };
            warp::sse::reply(stream::once(report)).into_response()
        });
    let flood = warp::path!("flood").and(state.clone()).and(params).map(
        |state: ConformanceState, params: Params| {
            let (sender, receiver) = mpsc::channel(common::FLOOD_QUEUE);
            let payload = common::flood_payload();
            // warp's Event is not Clone: each one is built afresh.
            tokio::spawn(common::flood(
                sender,
                move || Event::default().data(payload.clone()),
                params.token(&state),
            ));
            warp::sse::reply(common::receiver_stream(receiver).map(Ok::<_, Infallible>))
                .into_response()
        },
    );
    let flood_report = warp::path!("flood-report").and(state).and(params).map(
        |state: ConformanceState, params: Params| {
            finite(vec![
                Event::default().data(params.token(&state).flood_events().to_string())
            ])
        },
    );
    // `reply` takes a `TryStream`: warp logs the error and fails the body.
    let fail_mid_stream = warp::path!("fail-mid-stream").map(|| {
        let events = common::failing_numbers()
            .map_ok(|n| Event::default().id(n.to_string()).data(n.to_string()));
        warp::sse::reply(events).into_response()
    });
    let panic_mid_stream = warp::path!("panic-mid-stream").map(|| {
        let events = common::panicking_numbers()
            .map(|n| Ok::<_, Infallible>(Event::default().id(n.to_string()).data(n.to_string())));
        warp::sse::reply(events).into_response()
    });
    // warp's builder takes any text, and writes it as it is.
    let injection = warp::path!("injection").map(|| {
        finite(vec![
            Event::default().data("x").event(format!("x{INJECTION}")),
            Event::default().data("x").id(format!("1{INJECTION}")),
            Event::default().data(format!("x{INJECTION}")),
        ])
    });
    let limited = warp::path!("limited")
        .and(caps)
        .and(params)
        .map(limited_stream);
    let private = warp::path!("private")
        .and(warp::header::optional::<String>("authorization"))
        .map(private_stream);

    // Boxed one by one and joined pairwise: a single 17-deep `or` chain
    // makes a type that took rustc minutes to check.
    let routes = [
        script.boxed(),
        no_content.boxed(),
        last_event_id.boxed(),
        count.boxed(),
        large.boxed(),
        lockstep.boxed(),
        gate.boxed(),
        keep_alive.boxed(),
        disconnect.boxed(),
        disconnect_report.boxed(),
        flood.boxed(),
        flood_report.boxed(),
        fail_mid_stream.boxed(),
        panic_mid_stream.boxed(),
        injection.boxed(),
        limited.boxed(),
        private.boxed(),
    ];
    let any_route = routes
        .into_iter()
        .reduce(|all, route| all.or(route).unify().boxed())
        .expect("at least one route");
    warp::get()
        .and(any_route)
        .recover(unknown_path)
        .unify()
        .boxed()
}

async fn unknown_path(rejection: Rejection) -> Result<Response, Rejection> {
    if rejection.is_not_found() {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(rejection)
    }
}

fn finite(events: Vec<Event>) -> Response {
    warp::sse::reply(stream::iter(events.into_iter().map(Ok::<_, Infallible>))).into_response()
}

fn script() -> Response {
    finite(vec![
        // warp has no response-level retry: the hint is an event of its own.
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

fn limited_stream(caps: StreamCaps, params: Params) -> Response {
    let Some(permit) = caps.try_acquire(&params) else {
        return warp::reply::with_header(
            StatusCode::SERVICE_UNAVAILABLE,
            header::RETRY_AFTER,
            common::retry_after(),
        )
        .into_response();
    };
    let events =
        common::admitted(permit, Event::default().data("admitted")).map(Ok::<_, Infallible>);
    warp::sse::reply(
        warp::sse::keep_alive()
            .interval(common::LIMITED_KEEP_ALIVE)
            .stream(events),
    )
    .into_response()
}

/// The header comes from `warp::header::optional` (`warp::header::exact` would
/// reject, and the rejection would not be a 401 with a body). The refusal is a
/// `&str` reply (sent as `text/plain; charset=utf-8`) wrapped in
/// `with_header` and `with_status`.
///
/// `warp::reply::with_header` inserts, so wrapping the SSE reply in it twice
/// keeps only the last cookie (seanmonstar/warp#609; the maintainer's answer,
/// in #773, is to return an `http::Response` and use its `HeaderMap`). That is
/// what warp users do: the SSE reply becomes a `Response` and the cookies are
/// appended to its headers.
fn private_stream(authorization: Option<String>) -> Response {
    if authorization.is_none_or(|v| v != PRIVATE_AUTHORIZATION) {
        return warp::reply::with_status(
            warp::reply::with_header(PRIVATE_REFUSAL, header::WWW_AUTHENTICATE, PRIVATE_CHALLENGE),
            StatusCode::UNAUTHORIZED,
        )
        .into_response();
    }
    let mut response = finite(vec![Event::default().data("welcome")]);
    for cookie in PRIVATE_COOKIES {
        response
            .headers_mut()
            .append(header::SET_COOKIE, HeaderValue::from_static(cookie));
    }
    response
}
