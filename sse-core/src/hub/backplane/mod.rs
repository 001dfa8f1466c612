//! Building blocks for a hub across processes (a *backplane*, such as
//! `ssekit-redis` or `ssekit-nats`): the seam, on one node, between a
//! subscriber's replay read from the broker and the node's live feed.
//!
//! A backplane node follows each topic its local subscribers use and
//! publishes what the broker delivers to a local [`Hub`] with no history,
//! remembering the position (stream id, sequence) of the newest event it
//! published. A subscriber resuming after `after` then gets:
//!
//! 1. [`Replay`]: the range `(after, upper]` read from the broker a page at a
//!    time, as the client drains it, where `upper` is the node's position
//!    when the subscriber joined ([`Pages`] reads one page);
//! 2. the local hub's live feed from just after `upper`
//!    ([`subscribe_after`], which also covers a subscriber that is already
//!    past `upper`);
//!
//! and [`Resumed`] is the stream that yields the one, then the other. The
//! broker-specific parts (how a page is read, how a gap is detected, how
//! the node follows a topic) stay in the backplane.
//!
//! [`Hub`]: super::Hub

mod live;
mod replay;
mod resumed;

pub use live::subscribe_after;
pub use replay::{Page, PageFuture, Pages, Replay};
pub use resumed::{Joined, Resumed};

#[cfg(test)]
mod tests;
