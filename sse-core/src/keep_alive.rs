//! Keep-alive comments for idle streams.

use std::time::Duration;

use crate::encode::Frame;

/// Sends a comment when a stream has been idle for an interval, so proxies and
/// load balancers do not close it, and so a vanished client is noticed (the
/// write fails) even when there is nothing to say.
///
/// The timer restarts with every frame the stream sends: keep-alives are only
/// written while idle. Default: every 15 seconds, the comment `: keep-alive`.
///
/// ```
/// use std::time::Duration;
/// use ssekit::KeepAlive;
///
/// let keep_alive = KeepAlive::new().with_interval(Duration::from_secs(5)).with_text("ping");
/// assert_eq!(keep_alive.interval(), Duration::from_secs(5));
/// assert_eq!(keep_alive.frame().as_bytes(), b": ping\n\n");
/// ```
#[derive(Debug, Clone)]
pub struct KeepAlive {
    interval: Duration,
    frame: Frame,
}

impl KeepAlive {
    /// The default interval: 15 seconds, as the WHATWG standard suggests.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
    /// The shortest interval accepted; shorter ones are raised to it, so a zero
    /// interval cannot turn into a busy loop of comments.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(1);
    /// The longest interval accepted (a year); longer ones are lowered to it, so
    /// timer arithmetic cannot overflow. To send no keep-alives at all, use
    /// [`PublishOptions::without_keep_alive`](crate::PublishOptions::without_keep_alive).
    pub const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 60 * 60);

    /// The default keep-alive.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets how long the stream must be idle before a comment is sent.
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval.clamp(Self::MIN_INTERVAL, Self::MAX_INTERVAL);
        self
    }

    /// Sets the comment text (line breaks make several comment lines).
    #[must_use]
    pub fn with_text(mut self, text: &str) -> Self {
        self.frame = Frame::comment(text);
        self
    }

    /// The idle interval.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The encoded comment that is sent.
    #[must_use]
    pub fn frame(&self) -> &Frame {
        &self.frame
    }
}

impl Default for KeepAlive {
    fn default() -> Self {
        Self {
            interval: Self::DEFAULT_INTERVAL,
            // Static: options made per request cost no allocation for it, and
            // every stream shares it for free.
            frame: Frame::from_static(b": keep-alive\n\n"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_comment_is_what_encoding_it_gives() {
        assert_eq!(KeepAlive::default().frame(), &Frame::comment("keep-alive"));
    }
}
