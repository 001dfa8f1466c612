//! Runs the chat example: `cargo run -p sse-examples --bin chat -- --framework axum`.

fn main() -> std::io::Result<()> {
    sse_examples::main_with(sse_examples::apps::chat::Chat::new)
}
