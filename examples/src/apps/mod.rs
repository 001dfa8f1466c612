//! The four example applications.

pub mod chat;
pub mod countdown;
pub mod dashboard;
pub mod progress;
