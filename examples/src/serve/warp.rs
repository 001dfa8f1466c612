use tokio::net::TcpListener;
use warp::filters::BoxedFilter;
use warp::{Filter, Reply};

use crate::{App, TEXT_CONTENT_TYPE};

pub(super) async fn serve<A: App>(
    app: A,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let with_app = warp::any().map(move || app.clone());
    let page = warp::path::end()
        .and(warp::get())
        .map(|| warp::reply::html(A::PAGE).into_response());
    let stream = at(A::STREAM)
        .and(warp::get())
        .and(with_app.clone())
        .and(ssekit_warp::publisher())
        .then(|app: A, publisher| async move { app.stream(publisher).await });
    let mut routes = page.or(stream).unify().boxed();
    if let Some(path) = A::TEXT {
        let text = at(path)
            .and(warp::get())
            .and(with_app.clone())
            .map(|app: A| {
                warp::reply::with_header(app.text(), "content-type", TEXT_CONTENT_TYPE)
                    .into_response()
            });
        routes = routes.or(text).unify().boxed();
    }
    if let Some(path) = A::POST {
        let action = at(path)
            .and(warp::post())
            .and(with_app)
            .and(warp::body::json())
            .then(|app: A, request| async move {
                let reply = app.post(request).await;
                warp::reply::with_status(warp::reply::json(&reply.body), reply.status)
                    .into_response()
            });
        routes = routes.or(action).unify().boxed();
    }
    warp::serve(routes)
        .incoming(listener)
        .graceful(stop)
        .run()
        .await;
    Ok(())
}

/// `path` (`/a/b`) as warp path filters, one per segment.
fn at(path: &'static str) -> BoxedFilter<()> {
    path.split('/')
        .filter(|segment| !segment.is_empty())
        .fold(warp::any().boxed(), |filter, segment| {
            filter.and(warp::path(segment)).boxed()
        })
        .and(warp::path::end())
        .boxed()
}
