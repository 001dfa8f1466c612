//! Runs the chat example: `cargo run -p sse-examples --bin chat -- --framework axum`.
//! With `--redis redis://127.0.0.1:6379`, every process on that Redis shares one chat.

use clap::Parser;
use sse_examples::apps::chat::Chat;

#[derive(Parser)]
struct ChatArgs {
    #[command(flatten)]
    common: sse_examples::Args,
    /// Share the chat with every process connected to this Redis.
    #[arg(long)]
    redis: Option<String>,
}

fn main() -> std::io::Result<()> {
    let args = ChatArgs::parse();
    let redis = args.redis.clone();
    sse_examples::run(&args.common, async move {
        match redis {
            Some(url) => Chat::with_redis(&url).await.map_err(std::io::Error::other),
            None => Ok(Chat::new()),
        }
    })
}
