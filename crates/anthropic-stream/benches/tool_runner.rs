//! What starting each tool at its block's stop saves, end to end against the local server.
//!
//! One conversation, three ways: turn 1 streams two tool calls early in a long, paced message
//! (55 events 25 ms apart, about 1.35 s); each tool takes 200 ms; turn 2 sends the results and
//! streams a short answer. Timed from the first request to the end of turn 2:
//!
//! - **ours**: `ToolRunner` (async), each tool started as its block stops, both concurrently
//!   with the stream;
//! - **after `message_stop`, in order**: the official SDKs' runner loop (the Python SDK's
//!   `_generate_tool_call_response` calls the tools one after another once the message is
//!   complete);
//! - **after `message_stop`, concurrently**: the TypeScript SDK's runner loop
//!   (`generateToolResponse` runs the finished message's calls with `Promise.all`), the best a
//!   loop that waits for the message can do.
//!
//! `cargo bench -p anthropic-stream --bench tool_runner` (`TOOL_BENCH_RUNS`, default 7, runs
//! of each; the medians are printed).

use std::time::{Duration, Instant};

use anthropic_stream::tools::{RunnableTool, ToolRunner};
use anthropic_stream::{
    BlockKind, BlockParam, Client, ClientConfig, MessageParam, MessageParams, Tool,
};
use messages_test_server::{Reply, Server};
use serde_json::{Value, json};

const TOOL_TIME: Duration = Duration::from_millis(200);
const PACE: Duration = Duration::from_millis(25);

/// Turn 1: two tool calls, then 44 words of text, paced; turn 2: a short answer.
fn script(server: &Server) {
    let mut events = Vec::new();
    events.push(
        json!({"type": "message_start", "message": {"id": "msg_bench", "type": "message",
        "role": "assistant", "model": "claude-test", "content": [], "stop_reason": null,
        "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
    );
    for (index, id) in [(0, "toolu_a"), (1, "toolu_b")] {
        events.push(json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": "slow", "input": {}}}));
        events.push(json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": "{\"q\": "}}));
        events.push(json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": format!("\"{id}\"}}")}}));
        events.push(json!({"type": "content_block_stop", "index": index}));
    }
    events.push(json!({"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}}));
    for _ in 0..44 {
        events.push(json!({"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "word "}}));
    }
    events.push(json!({"type": "content_block_stop", "index": 2}));
    events.push(json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 60}}));
    events.push(json!({"type": "message_stop"}));
    let body: String = events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect();
    server.enqueue(Reply::recorded(body).pace_events(PACE));
    server.enqueue(Reply::answer());
}

fn params() -> MessageParams {
    MessageParams::new("claude-test", 512).message(MessageParam::user("Look both up."))
}

fn schema() -> Value {
    json!({"type": "object", "properties": {"q": {"type": "string"}}})
}

async fn tool() -> String {
    tokio::time::sleep(TOOL_TIME).await;
    "result".to_owned()
}

async fn ours(client: &Client) -> Duration {
    let started = Instant::now();
    let slow = RunnableTool::new_async("slow", "Slow", schema(), |_| async {
        Ok::<_, String>(tool().await)
    });
    let mut runner = ToolRunner::new(client, params(), vec![slow]);
    runner.until_done().await.expect("the run");
    assert_eq!(runner.turns(), 2);
    started.elapsed()
}

async fn after_message_stop(client: &Client, concurrently: bool) -> Duration {
    let started = Instant::now();
    let mut params = params().tool(Tool::new("slow", "Slow", schema()));
    let message = client
        .messages()
        .stream(params.clone())
        .enter()
        .await
        .expect("turn 1")
        .final_message()
        .await
        .expect("turn 1's message");
    let ids: Vec<String> = message
        .content()
        .iter()
        .filter(|b| b.kind() == BlockKind::ToolUse)
        .map(|b| b.id().unwrap_or_default().to_owned())
        .collect();
    let outputs = if concurrently {
        let (a, b) = tokio::join!(tool(), tool());
        vec![a, b]
    } else {
        let mut outputs = Vec::new();
        for _ in &ids {
            outputs.push(tool().await);
        }
        outputs
    };
    params.messages.push(MessageParam::from(&message));
    let results = ids
        .iter()
        .zip(outputs)
        .map(|(id, output)| BlockParam::tool_result(id, output))
        .collect();
    params.messages.push(MessageParam::user_blocks(results));
    client
        .messages()
        .stream(params)
        .enter()
        .await
        .expect("turn 2")
        .final_message()
        .await
        .expect("turn 2's message");
    started.elapsed()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo test --benches` runs this too: once, quickly, as a smoke test.
    let smoke = std::env::args().any(|a| a == "--test" || a == "--list");
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runs: usize = if smoke {
        1
    } else {
        std::env::var("TOOL_BENCH_RUNS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(7)
    };
    let server = Server::start();
    let client = Client::new(
        ClientConfig::new()
            .api_key("sk-bench")
            .base_url(server.base_url()),
    );
    let mut rows = Vec::new();
    for (label, mode) in [
        ("ours: each tool at its block's stop", 0),
        ("after message_stop, in order (the Python SDK's loop)", 1),
        (
            "after message_stop, concurrently (the TypeScript SDK's loop)",
            2,
        ),
    ] {
        let mut times = Vec::new();
        for _ in 0..runs {
            script(&server);
            times.push(match mode {
                0 => ours(&client).await,
                1 => after_message_stop(&client, false).await,
                _ => after_message_stop(&client, true).await,
            });
        }
        rows.push((label, median(times)));
    }
    let ours = rows[0].1;
    println!("| loop | request to the last turn's end (median of {runs}) | vs ours |");
    println!("|---|---|---|");
    for (label, time) in &rows {
        println!(
            "| {label} | {} ms | {:+} ms |",
            time.as_millis(),
            i128::try_from(time.as_millis()).unwrap_or(0)
                - i128::try_from(ours.as_millis()).unwrap_or(0)
        );
    }
}
