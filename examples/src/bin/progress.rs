//! Runs the progress example: `cargo run -p ssekit-examples --bin progress -- --framework axum`.

fn main() -> std::io::Result<()> {
    ssekit_examples::main_with(|| {
        ssekit_examples::apps::progress::Progress::new(std::time::Duration::from_millis(250))
    })
}
