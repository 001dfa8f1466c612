use poem::endpoint::make_sync;
use poem::listener::TcpAcceptor;
use poem::web::{Data, Html, Json};
use poem::{get, handler, post, EndpointExt, IntoResponse, Response, Route, Server};
use ssekit_poem::Publisher;
use tokio::net::TcpListener;

use crate::{App, TEXT_CONTENT_TYPE};

pub(super) async fn serve<A: App>(
    app: A,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut routes = Route::new()
        .at("/", get(make_sync(|_| Html(A::PAGE))))
        .at(A::STREAM, get(stream::<A>::default()));
    if let Some(path) = A::POST {
        routes = routes.at(path, post(action::<A>::default()));
    }
    if let Some(path) = A::TEXT {
        routes = routes.at(path, get(text::<A>::default()));
    }
    Server::new_with_acceptor(TcpAcceptor::from_tokio(listener)?)
        .run_with_graceful_shutdown(
            routes.data(app),
            stop,
            Some(std::time::Duration::from_secs(5)),
        )
        .await
}

#[handler]
async fn stream<A: App>(app: Data<&A>, publisher: Publisher) -> Response {
    app.stream(publisher).await
}

#[handler]
async fn text<A: App>(app: Data<&A>) -> Response {
    Response::builder()
        .content_type(TEXT_CONTENT_TYPE)
        .body(app.text())
}

#[handler]
async fn action<A: App>(app: Data<&A>, Json(request): Json<A::Request>) -> Response {
    let reply = app.post(request).await;
    Json(reply.body).with_status(reply.status).into_response()
}
