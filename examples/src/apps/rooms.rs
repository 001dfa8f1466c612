//! Three topics on one connection: `GET /rooms/stream` follows the rooms
//! `rooms/a` and `rooms/b` and the feed `feeds/c` on one `EventSource`
//! ([`ssekit::hub::Topics`]), resuming each exactly after the browser's one
//! `Last-Event-ID`; `POST /rooms/send` publishes to one of them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use ssekit::hub::{Broadcaster, Topics};
use ssekit::{Event, PublishOptions, SsePublisher};

use crate::{App, Backplane, JsonReply, OnBroadcaster};

/// The topics every page follows, in the order of the stream's id.
pub const TOPICS: [&str; 3] = ["rooms/a", "rooms/b", "feeds/c"];
const MAX_TEXT: usize = 2000;

/// Where the rooms keep their messages: the last 500 of each topic, for
/// resume, under the name `rooms`.
pub const BACKPLANE: Backplane = Backplane {
    name: "rooms",
    history: 500,
    max_age: None,
};

/// The rooms application, on any [`Broadcaster`].
#[derive(Clone)]
pub struct Rooms<B> {
    broadcaster: B,
}

impl<B: Broadcaster> Rooms<B> {
    /// The rooms on `broadcaster`.
    pub fn on(broadcaster: B) -> Self {
        Self { broadcaster }
    }
}

/// What `POST /rooms/send` takes.
#[derive(Deserialize)]
pub struct Incoming {
    /// One of [`TOPICS`].
    pub topic: String,
    /// What to say.
    pub text: String,
}

#[derive(Serialize)]
struct Message<'a> {
    topic: &'a str,
    text: &'a str,
}

/// Names the rooms for [`crate::main_on`].
pub struct RoomsOn;

impl OnBroadcaster for RoomsOn {
    const BACKPLANE: Backplane = BACKPLANE;

    fn on<B: Broadcaster>(self, broadcaster: B) -> impl App {
        Rooms::on(broadcaster)
    }
}

impl<B: Broadcaster> App for Rooms<B> {
    const PAGE: &'static str = include_str!("../../pages/rooms.html");
    const STREAM: &'static str = "/rooms/stream";
    const POST: Option<&'static str> = Some("/rooms/send");
    type Request = Incoming;

    async fn stream<P: SsePublisher + Send + 'static>(&self, publisher: P) -> P::Response {
        // Reconnect quickly after a restart: this is a demo.
        let options = PublishOptions::new().with_retry(Duration::from_millis(500));
        match Topics::subscribe(&self.broadcaster, &TOPICS, publisher.last_event_id()) {
            Ok(stream) => publisher.publish_with(stream, options),
            // Three topics always fit; a broadcaster with unbounded ids does not.
            Err(refused) => {
                publisher.reject(http::StatusCode::INTERNAL_SERVER_ERROR, refused.to_string())
            }
        }
    }

    async fn post(&self, incoming: Incoming) -> JsonReply {
        let text = incoming.text.trim();
        let Some(topic) = TOPICS.into_iter().find(|t| *t == incoming.topic) else {
            return JsonReply::error(http::StatusCode::BAD_REQUEST, "topic: one of the three");
        };
        if text.is_empty() || text.chars().count() > MAX_TEXT {
            return JsonReply::error(http::StatusCode::BAD_REQUEST, "text: 1-2000 chars");
        }
        let event = match Event::new().with_json(&Message { topic, text }) {
            Ok(event) => event,
            Err(error) => {
                return JsonReply::error(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    &error.to_string(),
                )
            }
        };
        match self.broadcaster.publish(topic, event).await {
            Ok(id) => JsonReply::ok(serde_json::json!({ "id": id })),
            Err(error) => {
                JsonReply::error(http::StatusCode::SERVICE_UNAVAILABLE, &error.to_string())
            }
        }
    }

    fn shutdown(&self) {
        self.broadcaster.shutdown();
    }
}
