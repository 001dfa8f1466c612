//! The example applications.

pub mod chat;
pub mod countdown;
pub mod dashboard;
pub mod progress;
pub mod rooms;
