//! A countdown in the async-generator style: `GET /countdown/stream?from=N`
//! ticks once a second with ids, resumes after `Last-Event-ID`, and answers
//! 204 once there is nothing left, so the browser stops reconnecting.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use ssekit::{Event, EventId, PublishOptions, Shutdown, SsePublisher};

use crate::{App, JsonReply};

/// The countdown application.
#[derive(Clone)]
pub struct Countdown {
    tick: Duration,
    shutdown: Shutdown,
}

impl Countdown {
    /// Ticks once a second.
    pub fn new() -> Self {
        Self::with_tick(Duration::from_secs(1))
    }

    /// Ticks every `tick` (tests use a short one).
    pub fn with_tick(tick: Duration) -> Self {
        Self {
            tick,
            shutdown: Shutdown::new(),
        }
    }
}

impl Default for Countdown {
    fn default() -> Self {
        Self::new()
    }
}

impl App for Countdown {
    const PAGE: &'static str = include_str!("../../pages/countdown.html");
    const STREAM: &'static str = "/countdown/stream";
    const POST: Option<&'static str> = None;
    type Request = serde_json::Value;

    async fn stream<P: SsePublisher + Send + 'static>(&self, publisher: P) -> P::Response {
        let from: u32 = publisher
            .request()
            .query_param("from")
            .and_then(|n| n.parse().ok())
            .unwrap_or(10)
            .min(3600);
        // The id is the number shown: resuming after it continues below it.
        let next = match publisher.last_event_id().map(str::parse::<u32>) {
            Some(Ok(shown)) => shown.saturating_sub(1),
            _ => from,
        };
        if publisher.last_event_id() == Some("done") {
            return publisher.no_content();
        }
        let tick = self.tick;
        let ticks = stream::unfold(Some(next), move |state| async move {
            let n = state?;
            if n < next {
                tokio::time::sleep(tick).await;
            }
            let event = if n == 0 {
                Event::message("liftoff")
                    .with_event("done")
                    .with_id(EventId::from_static("done"))
            } else {
                Event::message(n.to_string()).with_event("tick").with_id(n)
            };
            Some((event, (n > 0).then(|| n - 1)))
        })
        .boxed();
        let options = PublishOptions::new()
            .with_retry(Duration::from_secs(1))
            .with_shutdown(&self.shutdown);
        publisher.publish_with(ticks, options)
    }

    async fn post(&self, _request: serde_json::Value) -> JsonReply {
        JsonReply::error(http::StatusCode::NOT_FOUND, "not found")
    }

    fn shutdown(&self) {
        self.shutdown.trigger();
    }
}
