//! Building blocks for a hub across processes (a *backplane*, such as
//! `ssekit-redis` or `ssekit-nats`): the seam, on one node, between a
//! subscriber's replay read from the broker and the node's live feed.
//!
//! A backplane node follows each topic its local subscribers use and
//! publishes what the broker delivers to a local [`Hub`] with no history,
//! remembering the position (stream id, sequence) of the newest event it
//! published. A subscriber resuming after `after` joins the local hub's
//! live feed with [`subscribe_after`], which also covers a subscriber that
//! is already past the node's position.
//!
//! [`Hub`]: super::Hub

mod live;

pub use live::subscribe_after;
