//! Streams a reply to the terminal as it arrives, with the blocking transport.
//!
//! ```text
//! ANTHROPIC_API_KEY=... cargo run -p transport-ureq --example stream_blocking -- "Write a haiku about Rust"
//! ANTHROPIC_BASE_URL=http://127.0.0.1:8080 cargo run -p transport-ureq --example stream_blocking -- "Hi"
//! ```

use std::io::Write as _;

use transport_ureq::{Client, Error, MessageParam, MessageParams};

fn main() -> Result<(), Error> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Say hello.".to_owned());
    let model = std::env::var("ANTHROPIC_MODEL").unwrap_or_else(|_| "claude-sonnet-4-5".to_owned());
    let client = Client::from_env()?;
    let params = MessageParams::new(model, 1024).message(MessageParam::user(prompt));
    let mut text = client.messages().stream(params).enter()?.text_stream();
    let mut stdout = std::io::stdout();
    for delta in &mut text {
        print!("{}", delta?);
        let _ = stdout.flush();
    }
    let message = text.final_message()?;
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
