use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, HttpServer};
use ssekit_actix::Publisher;
use tokio::net::TcpListener;

use crate::{App, TEXT_CONTENT_TYPE};

pub(super) async fn serve<A: App>(
    app: A,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.into_std()?;
    let server = HttpServer::new(move || {
        let mut routes = actix_web::App::new()
            .app_data(web::Data::new(app.clone()))
            .route("/", web::get().to(page::<A>))
            .route(A::STREAM, web::get().to(stream::<A>));
        if let Some(path) = A::POST {
            routes = routes.route(path, web::post().to(action::<A>));
        }
        if let Some(path) = A::TEXT {
            routes = routes.route(path, web::get().to(text::<A>));
        }
        routes
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

async fn page<A: App>() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(A::PAGE)
}

async fn stream<A: App>(app: web::Data<A>, publisher: Publisher) -> HttpResponse {
    app.stream(publisher).await
}

async fn text<A: App>(app: web::Data<A>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(TEXT_CONTENT_TYPE)
        .body(app.text())
}

async fn action<A: App>(app: web::Data<A>, request: web::Json<A::Request>) -> HttpResponse {
    let reply = app.post(request.into_inner()).await;
    // actix-web has its own status type: every valid status carries over.
    let status =
        StatusCode::from_u16(reply.status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(reply.body)
}
