use std::marker::PhantomData;

use salvo::affix_state;
use salvo::conn::tcp::TcpAcceptor;
use salvo::http::StatusCode;
use salvo::prelude::*;
use ssekit_salvo::Publisher;
use tokio::net::TcpListener;

use crate::{App, TEXT_CONTENT_TYPE};

pub(super) async fn serve<A: App>(
    app: A,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut router = Router::new()
        .hoop(affix_state::inject(app))
        .get(Page::<A>(PhantomData))
        .push(Router::with_path(A::STREAM.trim_start_matches('/')).get(Stream::<A>(PhantomData)));
    if let Some(path) = A::POST {
        router = router
            .push(Router::with_path(path.trim_start_matches('/')).post(Action::<A>(PhantomData)));
    }
    if let Some(path) = A::TEXT {
        router = router
            .push(Router::with_path(path.trim_start_matches('/')).get(TextRoute::<A>(PhantomData)));
    }
    let server = Server::new(TcpAcceptor::try_from(listener)?);
    let handle = server.handle();
    tokio::spawn(async move {
        stop.await;
        // Salvo 1.1 waits for idle keep-alive connections too: give them 5 s.
        handle.stop_graceful(std::time::Duration::from_secs(5));
    });
    server.serve(router).await;
    Ok(())
}

/// The app from the depot, where `affix_state::inject` put it.
fn app<A: App>(depot: &Depot) -> &A {
    depot
        .get_typed::<A>()
        .expect("the app is injected for every route")
}

// `#[handler]` functions cannot be generic: these are the same handlers as
// structs, the other way Salvo documents.
struct Page<A>(PhantomData<fn() -> A>);
struct Stream<A>(PhantomData<fn() -> A>);
struct Action<A>(PhantomData<fn() -> A>);
struct TextRoute<A>(PhantomData<fn() -> A>);

#[async_trait]
impl<A: App> Handler for TextRoute<A> {
    async fn handle(
        &self,
        _: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        _: &mut FlowCtrl,
    ) {
        // Both fail only on a body already streaming or an invalid header
        // value, neither of which this one is.
        let _ = res.add_header("content-type", TEXT_CONTENT_TYPE, true);
        let _ = res.write_body(app::<A>(depot).text());
    }
}

#[async_trait]
impl<A: App> Handler for Page<A> {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        res.render(Text::Html(A::PAGE));
    }
}

#[async_trait]
impl<A: App> Handler for Stream<A> {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        _: &mut FlowCtrl,
    ) {
        res.render(app::<A>(depot).stream(Publisher::from(&*req)).await);
    }
}

#[async_trait]
impl<A: App> Handler for Action<A> {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        _: &mut FlowCtrl,
    ) {
        match req.parse_json::<A::Request>().await {
            Ok(body) => {
                let reply = app::<A>(depot).post(body).await;
                res.status_code(reply.status);
                res.render(Json(reply.body));
            }
            Err(error) => {
                res.status_code(StatusCode::BAD_REQUEST);
                res.render(Text::Plain(error.to_string()));
            }
        }
    }
}
