use poem::http::{header, Method, StatusCode};
use poem::listener::TcpAcceptor;
use poem::{Request, Response, Server};
use ssekit::SsePublisher;
use tokio::net::TcpListener;

use crate::App;

pub(super) async fn serve<A: App>(
    app: A,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let endpoint = poem::endpoint::make(move |request: Request| handle(app.clone(), request));
    Server::new_with_acceptor(TcpAcceptor::from_tokio(listener)?)
        .run_with_graceful_shutdown(endpoint, stop, Some(std::time::Duration::from_secs(5)))
        .await
}

async fn handle<A: App>(app: A, mut request: Request) -> Response {
    let publisher = ssekit_poem::Publisher::from(&request);
    let path = publisher.request().path().to_owned();
    match super::route(&app, request.method() == Method::POST, &path) {
        super::Route::Post => {
            let body = request.take_body().into_bytes().await.unwrap_or_default();
            let (status, json) = app.post(&path, body).await;
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Response::builder()
                .status(status)
                .content_type("application/json")
                .body(json)
        }
        super::Route::Page(page) => Response::builder()
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .body(page),
        super::Route::Stream => app.stream(publisher).await,
        super::Route::NotFound => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(super::NOT_FOUND),
    }
}
