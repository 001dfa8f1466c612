//! A chat room: `GET /chat/stream` subscribes to the room (resuming after the
//! browser's `Last-Event-ID`), `POST /chat/send` broadcasts to everyone.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sse_core::hub::{Hub, HubConfig};
use sse_core::{Event, PublishOptions, SsePublisher};

use crate::App;

const ROOM: &str = "chat";
const MAX_USER: usize = 32;
const MAX_TEXT: usize = 2000;

/// The chat application.
#[derive(Clone)]
pub struct Chat {
    hub: Hub,
}

#[derive(Deserialize)]
struct Incoming {
    user: String,
    text: String,
}

#[derive(Serialize)]
struct Message<'a> {
    user: &'a str,
    text: &'a str,
}

impl Chat {
    /// A chat room with the last 500 messages kept for resume. Ids come from
    /// the clock, so they keep growing when the server restarts.
    pub fn new() -> Self {
        Self {
            hub: Hub::with_config(HubConfig::default().history(500).ids_from_clock()),
        }
    }
}

impl Default for Chat {
    fn default() -> Self {
        Self::new()
    }
}

impl App for Chat {
    fn page(&self, path: &str) -> Option<&'static str> {
        (path == "/").then_some(include_str!("../../pages/chat.html"))
    }

    fn is_stream(&self, path: &str) -> bool {
        path == "/chat/stream"
    }

    async fn stream<P: SsePublisher + Send + 'static>(&self, publisher: P) -> P::Response {
        let subscription = self.hub.subscribe(ROOM, publisher.last_event_id());
        // Reconnect quickly after a restart: this is a demo.
        let options = PublishOptions::new().retry(Duration::from_millis(500));
        publisher.publish_with(subscription, options)
    }

    async fn post(&self, path: &str, body: Bytes) -> (u16, String) {
        if path != "/chat/send" {
            return super::error(404, "not found");
        }
        let Ok(incoming) = serde_json::from_slice::<Incoming>(&body) else {
            return super::error(400, "expected JSON {\"user\": ..., \"text\": ...}");
        };
        let user = incoming.user.trim();
        let text = incoming.text.trim();
        if user.is_empty()
            || text.is_empty()
            || user.chars().count() > MAX_USER
            || text.chars().count() > MAX_TEXT
        {
            return super::error(
                400,
                "user (1-32 chars) and text (1-2000 chars) are required",
            );
        }
        let event = Event::new()
            .with_json(&Message { user, text })
            .and_then(|e| e.with_event("chat").map_err(serde::ser::Error::custom));
        match event {
            Ok(event) => {
                let report = self.hub.publish(ROOM, event);
                (
                    200,
                    serde_json::json!({ "id": report.id, "delivered": report.delivered })
                        .to_string(),
                )
            }
            Err(error) => super::error(500, &error.to_string()),
        }
    }

    fn shutdown(&self) {
        self.hub.shutdown();
    }
}
