//! The tool runner over several turns: a weather tool (async) and a calculator (typed), each
//! started the moment its `tool_use` block stops; the runner sends the results back and
//! streams the next turn until the model answers.
//!
//! ```text
//! cargo run -p anthropic-stream --example tool_runner
//! ```

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::time::Duration;

use anthropic_stream::tools::{RunnableTool, RunnerEvent, ToolRunner};
use anthropic_stream::{Client, Delta, Error, MessageParam, MessageParams, StreamEvent};
use messages_test_server::Reply;
use serde_json::json;

/// The calculator's input.
#[derive(serde::Deserialize)]
struct Calculation {
    /// `add`, `subtract`, `multiply` or `divide`.
    operation: String,
    a: f64,
    b: f64,
}

fn calculate(c: &Calculation) -> Result<String, String> {
    let value = match c.operation.as_str() {
        "add" => c.a + c.b,
        "subtract" => c.a - c.b,
        "multiply" => c.a * c.b,
        "divide" if c.b == 0.0 => return Err("division by zero".to_owned()),
        "divide" => c.a / c.b,
        other => return Err(format!("unknown operation {other:?}")),
    };
    Ok(value.to_string())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, _local) = support::config_or_local(Reply::answer());
    let client = Client::new(config);

    let weather = RunnableTool::new_async(
        "get_weather",
        "The current weather in a city.",
        json!({
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city"}},
            "required": ["city"]
        }),
        |input| async move {
            // A network call would go here.
            tokio::time::sleep(Duration::from_millis(150)).await;
            let city = input["city"].as_str().unwrap_or("somewhere").to_owned();
            Ok::<_, String>(json!({"city": city, "sky": "clear", "celsius": 21}))
        },
    );
    let calculator = RunnableTool::typed(
        "calculator",
        "Arithmetic on two numbers.",
        json!({
            "type": "object",
            "properties": {
                "operation": {"type": "string", "enum": ["add", "subtract", "multiply", "divide"]},
                "a": {"type": "number"},
                "b": {"type": "number"}
            },
            "required": ["operation", "a", "b"]
        }),
        |c: Calculation| calculate(&c),
    );

    let params = MessageParams::new(support::model(), 1024).message(MessageParam::user(
        "Use get_weather for Oslo, then the calculator to turn its celsius into fahrenheit.",
    ));
    let mut runner = ToolRunner::new(&client, params, vec![weather, calculator]).max_turns(6);
    let mut out = std::io::stdout();
    while let Some(event) = runner.next().await {
        match event? {
            RunnerEvent::TurnStart { turn } => println!("── turn {turn}"),
            RunnerEvent::Event(StreamEvent::ContentBlockDelta {
                delta: Delta::Text(text),
                ..
            }) => {
                print!("{text}");
                out.flush().ok();
            }
            RunnerEvent::ToolStart { name, id } => println!("\n[start {name} {id}]"),
            RunnerEvent::ToolEnd {
                name,
                duration,
                error,
                ..
            } => match error {
                None => println!("[done  {name} in {} ms]", duration.as_millis()),
                Some(error) => println!("[error {name}: {error}]"),
            },
            RunnerEvent::TurnEnd { message, .. } => {
                println!("\n[turn ends: {:?}]", message.stop_reason());
            }
            _ => {}
        }
    }
    println!(
        "── {:?} after {} turns; the conversation has {} messages",
        runner.outcome(),
        runner.turns(),
        runner.messages().len()
    );
    Ok(())
}
