//! Runs the dashboard example: `cargo run -p sse-examples --bin dashboard -- --framework axum`.

fn main() -> std::io::Result<()> {
    sse_examples::main_with(|| {
        sse_examples::apps::dashboard::Dashboard::start(std::time::Duration::from_secs(1))
    })
}
