//! Runs the progress example: `cargo run -p sse-examples --bin progress -- --framework axum`.

fn main() -> std::io::Result<()> {
    sse_examples::main_with(|| {
        sse_examples::apps::progress::Progress::new(std::time::Duration::from_millis(250))
    })
}
