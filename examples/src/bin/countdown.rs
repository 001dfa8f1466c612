//! Runs the countdown example: `cargo run -p ssekit-examples --bin countdown -- --framework axum`.

fn main() -> std::io::Result<()> {
    ssekit_examples::main_with(ssekit_examples::apps::countdown::Countdown::new)
}
