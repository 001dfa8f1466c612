use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ssekit_axum::Publisher;
use tokio::net::TcpListener;

use crate::{App, TEXT_CONTENT_TYPE};

pub(super) async fn serve<A: App>(
    app: A,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut router = Router::new()
        .route("/", get(page::<A>))
        .route(A::STREAM, get(stream::<A>));
    if let Some(path) = A::POST {
        router = router.route(path, post(action::<A>));
    }
    if let Some(path) = A::TEXT {
        router = router.route(path, get(text::<A>));
    }
    axum::serve(listener, router.with_state(app))
        .with_graceful_shutdown(stop)
        .await
}

async fn page<A: App>() -> Html<&'static str> {
    Html(A::PAGE)
}

async fn stream<A: App>(State(app): State<A>, publisher: Publisher) -> Response {
    app.stream(publisher).await
}

async fn text<A: App>(State(app): State<A>) -> ([(header::HeaderName, &'static str); 1], String) {
    ([(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)], app.text())
}

async fn action<A: App>(
    State(app): State<A>,
    Json(request): Json<A::Request>,
) -> (StatusCode, Json<serde_json::Value>) {
    let reply = app.post(request).await;
    (reply.status, Json(reply.body))
}
