use axum::body::Bytes;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use ssekit::SsePublisher;
use tokio::net::TcpListener;

use crate::App;

pub(super) async fn serve<A: App>(
    app: A,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = Router::new().fallback(any(
        move |method: Method, publisher: ssekit_axum::Publisher, body: Bytes| {
            let app = app.clone();
            async move { handle(app, method, publisher, body).await }
        },
    ));
    axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .await
}

async fn handle<A: App>(
    app: A,
    method: Method,
    publisher: ssekit_axum::Publisher,
    body: Bytes,
) -> Response {
    let path = publisher.request().path().to_owned();
    match super::route(&app, method == Method::POST, &path) {
        super::Route::Post => {
            let (status, json) = app.post(&path, body).await;
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, [(header::CONTENT_TYPE, "application/json")], json).into_response()
        }
        super::Route::Page(page) => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
        }
        super::Route::Stream => app.stream(publisher).await,
        super::Route::NotFound => (StatusCode::NOT_FOUND, super::NOT_FOUND).into_response(),
    }
}
