//! Streams a reply's text to the terminal as it arrives, with the async client.
//!
//! ```text
//! cargo run -p anthropic-stream --example async_text -- "Write a haiku about Rust"
//! ```

#[path = "support/mod.rs"]
mod support;

use std::io::Write as _;

use anthropic_stream::{Client, Error, MessageParam, MessageParams};
use messages_test_server::{Generate, Reply};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Say hello.".to_owned());
    let (config, _local) = support::config_or_local(Reply::generated(Generate::text(40)));
    let client = Client::new(config);
    let params = MessageParams::new(support::model(), 1024).message(MessageParam::user(prompt));

    let mut text = client
        .messages()
        .stream(params)
        .enter()
        .await?
        .text_stream();
    while let Some(delta) = text.next().await {
        print!("{}", delta?);
        let _ = std::io::stdout().flush();
    }
    let message = text.final_message().await?;
    println!();
    eprintln!(
        "[{} output tokens, stop reason {:?}]",
        message.usage().output_tokens,
        message.stop_reason()
    );
    Ok(())
}
