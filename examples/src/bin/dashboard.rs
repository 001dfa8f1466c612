//! Runs the dashboard example: `cargo run -p ssekit-examples --bin dashboard -- --framework axum`.

fn main() -> std::io::Result<()> {
    ssekit_examples::main_with(|| {
        ssekit_examples::apps::dashboard::Dashboard::start(std::time::Duration::from_secs(1))
    })
}
