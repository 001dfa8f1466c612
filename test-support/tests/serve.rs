//! Every framework serves the handler on every path, with the request as the
//! client sent it (path and query), and stops on a graceful shutdown.

use std::time::Duration;

use futures_util::stream;
use ssekit::{Event, SsePublisher};
use ssekit_test_support::{per_framework, Framework, Handler, Server};

/// Answers with one event: the path and query the handler saw.
#[derive(Clone)]
struct Echo;

impl Handler for Echo {
    async fn handle<P>(&self, publisher: P) -> P::Response
    where
        P: SsePublisher + Send + 'static,
    {
        let request = publisher.request();
        let seen = format!(
            "{} {}?{}",
            request.method(),
            request.path(),
            request.query().unwrap_or("")
        );
        publisher.publish(stream::iter([Event::message(seen)]))
    }
}

fn run<Fut: std::future::Future<Output = ()>>(framework: Framework, body: fn(Framework) -> Fut) {
    ssekit_test_support::runtime().block_on(body(framework));
}

async fn every_path(framework: Framework) {
    let server = Server::start(framework, Echo).await;
    let client = reqwest::Client::new();
    for (path, seen) in [("/", "GET /?"), ("/a/b?x=1&y", "GET /a/b?x=1&y")] {
        let response = client
            .get(server.url(path))
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status(), 200, "{framework} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{framework} {path}"
        );
        let body = response.text().await.expect("the whole stream");
        assert_eq!(body, format!("data: {seen}\n\n"), "{framework} {path}");
    }
    // Without idle keep-alive connections: Salvo 1.1's graceful stop waits
    // for those to close (observed; the other frameworks close them).
    drop(client);
    server
        .shutdown(Duration::from_secs(10))
        .await
        .expect("a graceful shutdown with no stream open");
}

per_framework!(run; serves_every_path => every_path);
