//! Runs the progress example: `cargo run -p ssekit-examples --bin progress -- --framework axum`.
//! With `--redis redis://127.0.0.1:6379` or `--nats nats://127.0.0.1:4222`
//! (a NATS server with JetStream), every process on that broker shares the
//! jobs: a job started on any of them can be followed from any of them, a
//! page resumes on any of them from its `Last-Event-ID`, and a reconnect
//! after a job's `complete` gets 204 on any of them (job ids are random, so
//! unique across processes).
//!
//! A job runs in the process that started it, one step every 250 ms. If that
//! process dies, the job stops (nothing resumes it): its followers, on any
//! node, get a `lost` event once no step came for 10 s, and their stream
//! ends (the page then stops reconnecting).

fn main() -> std::io::Result<()> {
    ssekit_examples::main_on(ssekit_examples::apps::progress::ProgressOn(
        std::time::Duration::from_millis(250),
    ))
}
