use std::collections::HashSet;
use std::marker::PhantomData;

use rocket::data::FromData;
use rocket::http::{ContentType, Method, Status};
use rocket::outcome::Outcome as Guarded;
use rocket::response::content::RawHtml;
use rocket::route::{Handler, Outcome, Route};
use rocket::serde::json::Json;
use rocket::{Data, Request, State};
use ssekit_rocket::Publisher;
use tokio::net::TcpListener;

use crate::{App, TEXT_CONTENT_TYPE};

pub(super) async fn serve<A: App>(
    app: A,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Rocket 0.5 binds its own socket: it gets the listener's address (and
    // not its stall timeout; see the README's Rocket notes).
    let addr = listener.local_addr()?;
    drop(listener);
    let config = rocket::Config {
        address: addr.ip(),
        port: addr.port(),
        log_level: rocket::config::LogLevel::Critical,
        shutdown: rocket::config::Shutdown {
            ctrlc: false,
            signals: HashSet::new(),
            ..Default::default()
        },
        ..rocket::Config::release_default()
    };
    let mut routes = vec![
        Route::new(Method::Get, "/", AppRoute::<A>::new(Endpoint::Page)),
        Route::new(Method::Get, A::STREAM, AppRoute::<A>::new(Endpoint::Stream)),
    ];
    if let Some(path) = A::POST {
        routes.push(Route::new(
            Method::Post,
            path,
            AppRoute::<A>::new(Endpoint::Action),
        ));
    }
    if let Some(path) = A::TEXT {
        routes.push(Route::new(
            Method::Get,
            path,
            AppRoute::<A>::new(Endpoint::Text),
        ));
    }
    let rocket = rocket::custom(config)
        .manage(app)
        .mount("/", routes)
        .ignite()
        .await
        .map_err(std::io::Error::other)?;
    let shutdown = rocket.shutdown();
    tokio::spawn(async move {
        stop.await;
        shutdown.notify();
    });
    rocket
        .launch()
        .await
        .map(drop)
        .map_err(std::io::Error::other)
}

#[derive(Clone, Copy)]
enum Endpoint {
    Page,
    Stream,
    Action,
    Text,
}

/// One of the app's routes. `routes!` takes functions that are not generic;
/// Rocket's custom handlers serve any app, with the same guards (`State`,
/// `Json`) a `#[get]` function takes.
struct AppRoute<A> {
    endpoint: Endpoint,
    app: PhantomData<fn() -> A>,
}

impl<A> AppRoute<A> {
    fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            app: PhantomData,
        }
    }
}

impl<A> Clone for AppRoute<A> {
    fn clone(&self) -> Self {
        Self::new(self.endpoint)
    }
}

#[rocket::async_trait]
impl<A: App> Handler for AppRoute<A> {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> Outcome<'r> {
        let Guarded::Success(app) = request.guard::<&State<A>>().await else {
            return Outcome::error(Status::InternalServerError);
        };
        match self.endpoint {
            Endpoint::Page => Outcome::from(request, RawHtml(A::PAGE)),
            Endpoint::Stream => Outcome::from(request, app.stream(Publisher::from(request)).await),
            Endpoint::Text => {
                let content_type =
                    ContentType::parse_flexible(TEXT_CONTENT_TYPE).unwrap_or(ContentType::Plain);
                Outcome::from(request, (content_type, app.text()))
            }
            Endpoint::Action => match Json::<A::Request>::from_data(request, data).await {
                Guarded::Success(Json(body)) => {
                    let reply = app.post(body).await;
                    Outcome::from(
                        request,
                        (Status::new(reply.status.as_u16()), Json(reply.body)),
                    )
                }
                Guarded::Error((status, _)) => Outcome::error(status),
                Guarded::Forward((data, status)) => Outcome::forward(data, status),
            },
        }
    }
}
