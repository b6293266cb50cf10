//! Extended thinking: the model's thinking streams on standard error, the answer on standard
//! output.
//!
//! ```text
//! cargo run -p anthropic-stream --example thinking -- "How many primes are below 100?"
//! ```

#[path = "support/mod.rs"]
mod support;

use std::io::Write as _;

use anthropic_stream::{Client, Delta, Error, MessageParam, MessageParams, StreamEvent};
use messages_test_server::{Generate, Reply};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "How many primes are below 100?".to_owned());
    let (config, _local) =
        support::config_or_local(Reply::generated(Generate::text(20).thinking(20)));
    let client = Client::new(config);
    let params = MessageParams::new(support::model(), 4096)
        .thinking(2048)
        .message(MessageParam::user(prompt));

    let mut stream = client.messages().stream(params).enter().await?;
    while let Some(event) = stream.next().await {
        if let StreamEvent::ContentBlockDelta { delta, .. } = event? {
            match delta {
                Delta::Thinking(thinking) => eprint!("{thinking}"),
                Delta::Text(text) => {
                    print!("{text}");
                    let _ = std::io::stdout().flush();
                }
                _ => {}
            }
        }
    }
    println!();
    let message = stream.final_message().await?;
    let signed = message.content().iter().any(|b| b.signature().is_some());
    eprintln!(
        "\n[thinking signed: {signed}; pass the thinking block back unchanged in the next turn]"
    );
    Ok(())
}
