use bytes::Bytes;
use ssekit::SsePublisher;
use tokio::net::TcpListener;
use warp::http::{header, Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::App;

pub(super) async fn serve<A: App>(
    app: A,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let routes = warp::method()
        .and(ssekit_warp::publisher())
        .and(warp::body::bytes())
        .then(
            move |method: Method, publisher: ssekit_warp::Publisher, body: Bytes| {
                handle(app.clone(), method, publisher, body)
            },
        );
    warp::serve(routes)
        .incoming(listener)
        .graceful(stop)
        .run()
        .await;
    Ok(())
}

async fn handle<A: App>(
    app: A,
    method: Method,
    publisher: ssekit_warp::Publisher,
    body: Bytes,
) -> Response {
    let path = publisher.request().path().to_owned();
    match super::route(&app, method == Method::POST, &path) {
        super::Route::Post => {
            let (status, json) = app.post(&path, body).await;
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reply = warp::reply::with_header(json, header::CONTENT_TYPE, "application/json");
            warp::reply::with_status(reply, status).into_response()
        }
        super::Route::Page(page) => warp::reply::html(page).into_response(),
        super::Route::Stream => app.stream(publisher).await,
        super::Route::NotFound => {
            warp::reply::with_status(super::NOT_FOUND, StatusCode::NOT_FOUND).into_response()
        }
    }
}
