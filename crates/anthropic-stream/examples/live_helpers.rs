//! Helper events, as the official SDKs' `MessageStream` fires them: thinking and text as they
//! stream (each delta with the block's text so far), the tool input's live value after every
//! fragment, each finished block, and the final message. `stream.helper(&event)` borrows from
//! the stream's snapshot, so none of this copies the text so far.
//!
//! ```text
//! cargo run -p anthropic-stream --example live_helpers
//! ```

#[path = "support/mod.rs"]
mod support;

use std::io::Write as _;

use anthropic_stream::{Client, Derived, Error, MessageParam, MessageParams, Tool};
use messages_test_server::{Generate, Reply};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, _local) = support::config_or_local(Reply::generated(
        Generate::text(12)
            .thinking(8)
            .tool_use(200)
            .tool_delta_len(24),
    ));
    let client = Client::new(config);
    let forecast = Tool::new(
        "get_forecast",
        "The weather forecast for a city.",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    );
    let params = MessageParams::new(support::model(), 4096)
        .thinking(2048)
        .tool(forecast)
        .message(MessageParam::user(
            "Think it over, then get the forecast for Paris.",
        ));

    let mut stream = client.messages().stream(params).enter().await?;
    while let Some(event) = stream.next().await {
        let event = event?;
        match stream.helper(&event) {
            Some(Derived::Thinking { delta, .. }) => eprint!("{delta}"),
            Some(Derived::Text { delta, .. }) => print!("{delta}"),
            Some(Derived::InputJson {
                index, snapshot, ..
            }) => {
                println!("\n[tool input of block {index} so far: {snapshot}]");
            }
            Some(Derived::ContentBlockStop { index, block }) => {
                println!("\n[block {index} done: {}]", block.block_type());
            }
            Some(Derived::MessageStop(message)) => {
                println!("[message done: {:?}]", message.stop_reason());
            }
            _ => {}
        }
        let _ = std::io::stdout().flush();
    }
    let message = stream.final_message().await?;
    println!(
        "{} blocks, {} output tokens",
        message.content().len(),
        message.usage().output_tokens
    );
    Ok(())
}
