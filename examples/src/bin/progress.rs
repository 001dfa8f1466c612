//! Runs the progress example: `cargo run -p ssekit-examples --bin progress -- --framework axum`.
//!
//! No `--redis`/`--nats` yet: its job ids come from a counter of this process
//! and it alone knows when a job finished (to answer a reconnect 204), so
//! another node would reuse the ids and keep a finished job's watcher waiting.

fn main() -> std::io::Result<()> {
    ssekit_examples::main_with(|| {
        ssekit_examples::apps::progress::Progress::new(std::time::Duration::from_millis(250))
    })
}
