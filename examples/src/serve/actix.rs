use actix_web::http::{header, Method, StatusCode};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse, HttpServer};
use ssekit::SsePublisher;
use tokio::net::TcpListener;

use crate::App;

pub(super) async fn serve<A: App>(
    app: A,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.into_std()?;
    let server = HttpServer::new(move || {
        let app = app.clone();
        actix_web::App::new().default_service(web::to(
            move |request: HttpRequest, publisher: ssekit_actix::Publisher, body: Bytes| {
                handle(app.clone(), request.method().clone(), publisher, body)
            },
        ))
    })
    .h1_allow_half_closed(false)
    .disable_signals()
    .shutdown_timeout(5)
    .listen_auto_h2c(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        stop.await;
        handle.stop(true).await;
    });
    server.await
}

async fn handle<A: App>(
    app: A,
    method: Method,
    publisher: ssekit_actix::Publisher,
    body: Bytes,
) -> HttpResponse {
    let path = publisher.request().path().to_owned();
    match super::route(&app, method == Method::POST, &path) {
        super::Route::Post => {
            let (status, json) = app.post(&path, body).await;
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            HttpResponse::build(status)
                .content_type("application/json")
                .body(json)
        }
        super::Route::Page(page) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .body(page),
        super::Route::Stream => app.stream(publisher).await,
        super::Route::NotFound => HttpResponse::NotFound().body(super::NOT_FOUND),
    }
}
