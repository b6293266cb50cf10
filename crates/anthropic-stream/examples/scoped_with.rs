//! The scoped form: `with` runs an async closure with the stream and closes the connection
//! however the closure ends (here: as soon as enough text has arrived).
//!
//! ```text
//! cargo run -p anthropic-stream --example scoped_with -- "Tell me a long story"
//! ```

#[path = "support/mod.rs"]
mod support;

use anthropic_stream::{Client, Delta, Error, MessageParam, MessageParams, StreamEvent};
use messages_test_server::{Generate, Reply};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Tell me a long story.".to_owned());
    let (config, _local) = support::config_or_local(Reply::generated(Generate::text(500)));
    let client = Client::new(config);
    let params = MessageParams::new(support::model(), 4096).message(MessageParam::user(prompt));

    // Keep the first 200 characters; the connection closes when the closure returns.
    let opening = client
        .messages()
        .stream(params)
        .with(async |stream| {
            let mut text = String::new();
            while let Some(event) = stream.next().await {
                if let Ok(StreamEvent::ContentBlockDelta {
                    delta: Delta::Text(delta),
                    ..
                }) = event
                {
                    text.push_str(&delta);
                    if text.chars().count() >= 200 {
                        break;
                    }
                }
            }
            text
        })
        .await?;
    println!("{opening}...");
    eprintln!(
        "[stopped reading after {} characters; the connection is closed]",
        opening.chars().count()
    );
    Ok(())
}
