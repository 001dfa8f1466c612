//! Runs the rooms example (three topics on one `EventSource`):
//! `cargo run -p ssekit-examples --bin rooms -- --framework axum`, with
//! `--redis` or `--nats` as the chat.

fn main() -> std::io::Result<()> {
    ssekit_examples::main_on(ssekit_examples::apps::rooms::RoomsOn)
}
