//! Streams a reply's text to the terminal as it arrives, with the blocking client (no async
//! runtime).
//!
//! ```text
//! cargo run -p anthropic-stream --features ureq --example blocking_text -- "Write a haiku"
//! ```

#[path = "support/mod.rs"]
mod support;

use std::io::Write as _;

use anthropic_stream::blocking::Client;
use anthropic_stream::{Error, MessageParam, MessageParams};
use messages_test_server::{Generate, Reply};

fn main() -> Result<(), Error> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Say hello.".to_owned());
    let (config, _local) = support::config_or_local(Reply::generated(Generate::text(40)));
    let client = Client::new(config);
    let params = MessageParams::new(support::model(), 1024).message(MessageParam::user(prompt));

    let mut text = client.messages().stream(params).enter()?.text_stream();
    for delta in &mut text {
        print!("{}", delta?);
        let _ = std::io::stdout().flush();
    }
    let message = text.final_message()?;
    println!();
    eprintln!(
        "[{} output tokens, stop reason {:?}]",
        message.usage().output_tokens,
        message.stop_reason()
    );
    Ok(())
}
