//! Runs the chat example: `cargo run -p ssekit-examples --bin chat -- --framework axum`.
//! With `--redis redis://127.0.0.1:6379` or `--nats nats://127.0.0.1:4222`
//! (a NATS server with JetStream), every process on that broker shares one chat.

fn main() -> std::io::Result<()> {
    ssekit_examples::main_on(ssekit_examples::apps::chat::ChatOn)
}
