//! Runs the chat example: `cargo run -p ssekit-examples --bin chat -- --framework axum`.
//! With `--redis redis://127.0.0.1:6379`, every process on that Redis shares one chat.

use clap::Parser;
use ssekit_examples::apps::chat::Chat;

#[derive(Parser)]
struct ChatArgs {
    #[command(flatten)]
    common: ssekit_examples::Args,
    /// Share the chat with every process connected to this Redis.
    #[arg(long)]
    redis: Option<String>,
}

fn main() -> std::io::Result<()> {
    let args = ChatArgs::parse();
    let redis = args.redis.clone();
    ssekit_examples::run(&args.common, async move {
        match redis {
            Some(url) => Chat::with_redis(&url).await.map_err(std::io::Error::other),
            None => Ok(Chat::new()),
        }
    })
}
