//! The four example applications.

pub mod chat;
pub mod countdown;
pub mod dashboard;
pub mod progress;

/// A JSON error body.
pub(crate) fn error(status: u16, message: &str) -> (u16, String) {
    (status, serde_json::json!({ "error": message }).to_string())
}
