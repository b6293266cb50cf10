//! A tool call whose input is shown live, as it streams: the input snapshot after every
//! `input_json_delta` is a valid JSON value (the parser is incremental, so this costs O(1)
//! per byte however large the input grows).
//!
//! ```text
//! cargo run -p anthropic-stream --example tool_use
//! ```

#[path = "support/mod.rs"]
mod support;

use anthropic_stream::{
    Client, Delta, Error, MessageParam, MessageParams, StreamEvent, Tool, ToolChoice,
};
use messages_test_server::{Generate, Reply};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, _local) = support::config_or_local(Reply::generated(
        Generate::text(3).tool_use(600).tool_delta_len(48),
    ));
    let client = Client::new(config);
    let weather = Tool::new(
        "get_weather",
        "The weather forecast for a city, day by day.",
        json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "array", "items": {"type": "integer"}}
            },
            "required": ["city"]
        }),
    );
    let params = MessageParams::new(support::model(), 1024)
        .message(MessageParam::user(
            "What is the weather in Paris for the next three days?",
        ))
        .tool(weather)
        .tool_choice(ToolChoice::Any {
            disable_parallel_tool_use: None,
        });

    let mut stream = client.messages().stream(params).enter().await?;
    while let Some(event) = stream.next().await {
        if let StreamEvent::ContentBlockDelta {
            index,
            delta: Delta::InputJson(_),
        } = event?
        {
            // The live partial value of the block's input, valid JSON at every step.
            if let Some(input) = stream.tool_input_snapshot(index) {
                let json = input.to_string();
                let tail: String = json
                    .chars()
                    .rev()
                    .take(60)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                eprintln!("input so far ({:>5} bytes): ...{tail}", json.len());
            }
        }
    }
    let message = stream.final_message().await?;
    for block in message.content() {
        if let (Some(name), Some(input)) = (block.name(), block.input()) {
            println!("{name}({input})");
        }
    }
    Ok(())
}
