//! Runs the dashboard example: `cargo run -p ssekit-examples --bin dashboard -- --framework axum`.
//!
//! No `--redis`/`--nats`: it broadcasts through this process's hub the
//! metrics of this machine, so a shared topic would interleave every node's
//! machine in one chart.

fn main() -> std::io::Result<()> {
    ssekit_examples::main_with(|| {
        ssekit_examples::apps::dashboard::Dashboard::start(std::time::Duration::from_secs(1))
    })
}
