//! Runs the countdown example: `cargo run -p ssekit-examples --bin countdown -- --framework axum`.
//!
//! No `--redis`/`--nats`: it broadcasts nothing. Each connection counts down
//! on its own and resumes from its `Last-Event-ID` alone, so any process
//! already continues any page's countdown.

fn main() -> std::io::Result<()> {
    ssekit_examples::main_with(ssekit_examples::apps::countdown::Countdown::new)
}
