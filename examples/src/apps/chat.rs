//! A chat room: `GET /chat/stream?user=NAME` subscribes to the room
//! (resuming after the browser's `Last-Event-ID`) with NAME online while the
//! page is open, `POST /chat/send` broadcasts to everyone. Who is online
//! comes to every page as `presence` events, from every node.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use ssekit::hub::{Broadcaster, Hub};
use ssekit::presence::{Member, Presence};
use ssekit::{Event, KeepAlive, PublishOptions, SsePublisher};
use ssekit_nats::NatsHub;
use ssekit_redis::RedisHub;

use crate::{App, Backplane, JsonReply, OnBroadcaster};

const ROOM: &str = "chat";
const MAX_USER: usize = 32;
const MAX_TEXT: usize = 2000;

/// Where the chat keeps its messages, whichever the broadcaster: the last 500,
/// for resume, under the name `chat` (Redis keys `chat:*`, the NATS stream
/// `CHAT` with subjects `chat.>`).
pub const BACKPLANE: Backplane = Backplane {
    name: "chat",
    history: 500,
    max_age: None,
};

/// The chat application, on any [`Broadcaster`]: this process's [`Hub`]
/// ([`Chat::new`]), or a hub shared by every process on a broker
/// ([`Chat::with_redis`], [`Chat::with_nats`]). Its handlers use only the
/// trait, and its [`Presence`] on the same broadcaster says who is online
/// on every node.
#[derive(Clone)]
pub struct Chat<B: Broadcaster = Hub> {
    room: B,
    presence: Presence<B>,
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
    /// A chat room in this process with the last 500 messages kept for
    /// resume. Ids come from the clock, so they keep growing when the server
    /// restarts.
    pub fn new() -> Self {
        Self::on(BACKPLANE.local())
    }
}

impl Chat<RedisHub> {
    /// A chat room shared by every process connected to the Redis at `url`:
    /// a message sent to any of them reaches the pages of all of them, and a
    /// page can reconnect to any of them and resume.
    pub async fn with_redis(url: &str) -> Result<Self, ssekit_redis::Error> {
        Ok(Self::on(BACKPLANE.redis(url).await?))
    }
}

impl Chat<NatsHub> {
    /// A chat room shared by every process connected to the NATS server (with
    /// JetStream) at `url`, as [`Chat::with_redis`] on Redis.
    pub async fn with_nats(url: &str) -> Result<Self, ssekit_nats::Error> {
        Ok(Self::on(BACKPLANE.nats(url).await?))
    }
}

impl<B: Broadcaster> Chat<B> {
    /// A chat room on `broadcaster`, in its topic `chat`, with who is online
    /// (call it inside a tokio runtime: presence has a task).
    pub fn on(broadcaster: B) -> Self {
        Self {
            presence: Presence::new(broadcaster.clone()),
            room: broadcaster,
        }
    }

    /// Who is online in the room, on every node.
    pub fn presence(&self) -> &Presence<B> {
        &self.presence
    }
}

impl Default for Chat {
    fn default() -> Self {
        Self::new()
    }
}

/// Names the chat for [`crate::main_on`]: the chat on the broadcaster the
/// command line chose.
pub struct ChatOn;

impl OnBroadcaster for ChatOn {
    const BACKPLANE: Backplane = BACKPLANE;

    fn on<B: Broadcaster>(self, broadcaster: B) -> impl App {
        Chat::on(broadcaster)
    }
}

impl<B: Broadcaster> App for Chat<B> {
    const PAGE: &'static str = include_str!("../../pages/chat.html");
    const STREAM: &'static str = "/chat/stream";
    const POST: Option<&'static str> = Some("/chat/send");
    type Request = Incoming;

    async fn stream<P: SsePublisher + Send + 'static>(&self, publisher: P) -> P::Response {
        // Reconnect quickly after a restart: this is a demo. Keep-alives
        // every 5 s: a framework notices a closed page at a write (Rocket
        // at the next, poem at the second), so a user who closed the page
        // goes offline within 10 s.
        let options = PublishOptions::new()
            .with_retry(Duration::from_millis(500))
            .with_keep_alive(KeepAlive::new().with_interval(Duration::from_secs(5)));
        let Some(user) = publisher.request().query_param("user") else {
            // A reader who does not chat: not online.
            let subscription = self.room.subscribe(ROOM, publisher.last_event_id());
            return publisher.publish_with(subscription, options);
        };
        let user = user.trim();
        let member = match Member::new(user) {
            Ok(member) if user.chars().count() <= MAX_USER => member,
            _ => {
                return publisher.reject(
                    http::StatusCode::BAD_REQUEST,
                    "user: 1-32 characters, no control characters",
                )
            }
        };
        match self
            .presence
            .subscribe(ROOM, member, publisher.last_event_id())
        {
            Ok(stream) => publisher.publish_with(stream, options),
            // Presence's bounds (members per room, rooms per node).
            Err(full) => publisher.reject(http::StatusCode::SERVICE_UNAVAILABLE, full.to_string()),
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
        // The pages on this node it goes to (on one node, every page); a
        // shared broadcaster also delivers it to the other nodes' pages.
        let delivered = self.room.local_subscriber_count(ROOM);
        match self.room.publish(ROOM, event).await {
            Ok(id) => JsonReply::ok(serde_json::json!({ "id": id, "delivered": delivered })),
            // Not kept (a full hub) or not acknowledged by the broker: the
            // sender must know, to retry.
            Err(error) => {
                JsonReply::error(http::StatusCode::SERVICE_UNAVAILABLE, &error.to_string())
            }
        }
    }

    fn shutdown(&self) {
        // Tell the other nodes this one's users are gone, without holding up
        // the shutdown (if it does not make it, they time the node out).
        let presence = self.presence.clone();
        tokio::spawn(async move { presence.shutdown().await });
        self.room.shutdown();
    }
}
