//! Runs the countdown example: `cargo run -p sse-examples --bin countdown -- --framework axum`.

fn main() -> std::io::Result<()> {
    sse_examples::main_with(sse_examples::apps::countdown::Countdown::new)
}
