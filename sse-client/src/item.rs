//! What an [`EventSource`](crate::EventSource) yields.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Version};
use ssekit::decode::MessageEvent;

use crate::error::Cause;

/// One step of an [`EventSource`](crate::EventSource): an event, or a change
/// of the connection's state (the `open` and `error` events of a browser's
/// `EventSource`, told apart).
#[derive(Debug)]
#[non_exhaustive]
pub enum Item {
    /// A connection is open: the server answered 200 with
    /// `Content-Type: text/event-stream`. Its head is there for what a
    /// program reads from it (a request id, rate-limit headers).
    Open(Opened),
    /// An event was dispatched: its type (`"message"` unless the server named
    /// one), its data (line ends normalised to LF) and the last event id at
    /// the time.
    Event(MessageEvent),
    /// The connection was lost (or could not be made); the next attempt
    /// starts after [`Reconnect::delay`].
    Reconnecting(Reconnect),
    /// The stream is over for good: the server answered 204, or the body
    /// ended and no retry is left. Nothing follows.
    Closed,
}

/// The head of the response a connection opened with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Opened {
    /// The status (200).
    pub status: StatusCode,
    /// The HTTP version.
    pub version: Version,
    /// The response headers.
    pub headers: HeaderMap,
}

/// A reconnection about to happen.
#[derive(Debug)]
#[non_exhaustive]
pub struct Reconnect {
    /// How long the stream waits before the next attempt.
    pub delay: Duration,
    /// How many attempts in a row have failed, this one included (1 after a
    /// connection that had opened).
    pub attempt: u32,
    /// Why the connection was lost.
    pub cause: Cause,
}
