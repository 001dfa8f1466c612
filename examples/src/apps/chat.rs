//! A chat room: `GET /chat/stream` subscribes to the room (resuming after the
//! browser's `Last-Event-ID`), `POST /chat/send` broadcasts to everyone.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use ssekit::hub::{Hub, HubConfig};
use ssekit::{Event, PublishOptions, SsePublisher};
use ssekit_redis::{RedisHub, RedisHubConfig};

use crate::{App, JsonReply};

const ROOM: &str = "chat";
const MAX_USER: usize = 32;
const MAX_TEXT: usize = 2000;

/// The chat application.
#[derive(Clone)]
pub struct Chat {
    room: Room,
}

/// Where messages go: this process, or every process sharing a Redis.
#[derive(Clone)]
enum Room {
    Local(Hub),
    Redis(RedisHub),
}

/// What `POST /chat/send` takes.
#[derive(Deserialize)]
pub struct Incoming {
    /// Who sends it.
    pub user: String,
    /// What they say.
    pub text: String,
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
            room: Room::Local(Hub::with_config(
                HubConfig::default().with_history(500).with_ids_from_clock(),
            )),
        }
    }

    /// A chat room shared by every process connected to the Redis at `url`:
    /// a message sent to any of them reaches the pages of all of them, and a
    /// page can reconnect to any of them and resume.
    pub async fn with_redis(url: &str) -> Result<Self, ssekit_redis::Error> {
        let hub = RedisHub::connect(
            url,
            RedisHubConfig::default()
                .with_max_len(500)
                .with_key_prefix("chat:"),
        )
        .await?;
        Ok(Self {
            room: Room::Redis(hub),
        })
    }
}

impl Default for Chat {
    fn default() -> Self {
        Self::new()
    }
}

impl App for Chat {
    const PAGE: &'static str = include_str!("../../pages/chat.html");
    const STREAM: &'static str = "/chat/stream";
    const POST: Option<&'static str> = Some("/chat/send");
    type Request = Incoming;

    async fn stream<P: SsePublisher + Send + 'static>(&self, publisher: P) -> P::Response {
        // Reconnect quickly after a restart: this is a demo.
        let options = PublishOptions::new().with_retry(Duration::from_millis(500));
        match &self.room {
            Room::Local(hub) => {
                let subscription = hub.subscribe(ROOM, publisher.last_event_id());
                publisher.publish_with(subscription, options)
            }
            Room::Redis(hub) => {
                let subscription = hub.subscribe(ROOM, publisher.last_event_id());
                publisher.publish_with(subscription, options)
            }
        }
    }

    async fn post(&self, incoming: Incoming) -> JsonReply {
        let user = incoming.user.trim();
        let text = incoming.text.trim();
        if user.is_empty()
            || text.is_empty()
            || user.chars().count() > MAX_USER
            || text.chars().count() > MAX_TEXT
        {
            return JsonReply::error(
                http::StatusCode::BAD_REQUEST,
                "user (1-32 chars) and text (1-2000 chars) are required",
            );
        }
        let event = Event::new()
            .with_json(&Message { user, text })
            .map(|e| e.with_event("chat"));
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                return JsonReply::error(
                    http::StatusCode::INTERNAL_SERVER_ERROR,
                    &error.to_string(),
                )
            }
        };
        match &self.room {
            Room::Local(hub) => {
                let report = hub.publish(ROOM, event);
                JsonReply::ok(serde_json::json!({ "id": report.id, "delivered": report.delivered }))
            }
            Room::Redis(hub) => match hub.publish(ROOM, event).await {
                Ok(id) => JsonReply::ok(serde_json::json!({ "id": id })),
                // Not acknowledged by Redis: the sender must know, to retry.
                Err(error) => {
                    JsonReply::error(http::StatusCode::SERVICE_UNAVAILABLE, &error.to_string())
                }
            },
        }
    }

    fn shutdown(&self) {
        match &self.room {
            Room::Local(hub) => hub.shutdown(),
            Room::Redis(hub) => hub.shutdown(),
        }
    }
}
