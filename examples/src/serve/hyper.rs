use std::convert::Infallible;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use ssekit_hyper::{Publisher, SseBody};
use tokio::net::TcpListener;

use crate::{App, TEXT_CONTENT_TYPE};

pub(super) async fn serve<A: App>(
    app: A,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let builder = auto::Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => accepted?.0,
            () = &mut stop => break,
        };
        let app = app.clone();
        let service = service_fn(move |request| route(app.clone(), request));
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(connection);
    }
    graceful.shutdown().await;
    Ok(())
}

/// The app's routes, matched by hand as plain hyper services do.
async fn route<A: App>(
    app: A,
    request: Request<Incoming>,
) -> Result<Response<SseBody>, Infallible> {
    let path = request.uri().path();
    Ok(match *request.method() {
        Method::GET if path == "/" => {
            with_type(StatusCode::OK, "text/html; charset=utf-8", A::PAGE)
        }
        Method::GET if path == A::STREAM => app.stream(Publisher::new(&request)).await,
        Method::POST if Some(path) == A::POST => action(app, request).await,
        Method::GET if Some(path) == A::TEXT => {
            with_type(StatusCode::OK, TEXT_CONTENT_TYPE, app.text())
        }
        _ => with_type(StatusCode::NOT_FOUND, "text/plain", "not found"),
    })
}

async fn action<A: App>(app: A, request: Request<Incoming>) -> Response<SseBody> {
    let Ok(body) = request.into_body().collect().await else {
        return with_type(StatusCode::BAD_REQUEST, "text/plain", "unreadable body");
    };
    let Ok(request) = serde_json::from_slice::<A::Request>(&body.to_bytes()) else {
        return with_type(
            StatusCode::BAD_REQUEST,
            "text/plain",
            "expected a JSON body",
        );
    };
    let reply = app.post(request).await;
    with_type(reply.status, "application/json", reply.body.to_string())
}

fn with_type(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<SseBody> {
    let mut response = Response::new(SseBody::full(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_str(content_type).expect("a valid content type"),
    );
    response
}
