//! Streams a reply to the terminal as it arrives, with the async transport.
//!
//! ```text
//! ANTHROPIC_API_KEY=... cargo run -p transport-hyper --example stream_async -- "Write a haiku about Rust"
//! ANTHROPIC_BASE_URL=http://127.0.0.1:8080 cargo run -p transport-hyper --example stream_async -- "Hi"
//! ```

use std::io::Write as _;

use transport_hyper::{Client, Error, MessageParam, MessageParams};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Say hello.".to_owned());
    let model = std::env::var("ANTHROPIC_MODEL").unwrap_or_else(|_| "claude-sonnet-4-5".to_owned());
    let client = Client::from_env()?;
    let params = MessageParams::new(model, 1024).message(MessageParam::user(prompt));
    let mut text = client
        .messages()
        .stream(params)
        .enter()
        .await?
        .text_stream();
    let mut stdout = std::io::stdout();
    while let Some(delta) = text.next().await {
        print!("{}", delta?);
        let _ = stdout.flush();
    }
    let message = text.final_message().await?;
    println!();
    eprintln!(
        "[{} output tokens, stop reason {}]",
        message.usage().output_tokens,
        message
            .stop_reason()
            .map_or_else(|| "none".to_owned(), |r| r.to_string())
    );
    Ok(())
}
