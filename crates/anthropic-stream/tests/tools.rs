//! The tool runner against the local Messages server, with both clients: tools start at their
//! block's stop, results go back in block order, every edge case ends in an error result or a
//! typed outcome, and leaving the runner closes the connection and cancels running tools.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anthropic_stream::tools::{Outcome, RunnableTool, RunnerEvent, ToolRunner};
use anthropic_stream::{
    ClientConfig, MessageParam, MessageParams, RequestOptions, StopReason, ToolChoice,
};
use messages_test_server::{Reply, Server};
use serde_json::{Value, json};

/// One content block of a scripted message.
enum Block<'a> {
    Text(&'a str),
    /// A `tool_use` block: id, name, the input JSON as sent (in two fragments).
    Tool(&'a str, &'a str, &'a str),
    /// A `tool_use` block cut before its stop.
    CutTool(&'a str, &'a str, &'a str),
    /// A server tool call and its result.
    ServerTool,
}

/// A scripted Messages stream with these blocks and this stop reason.
fn message(blocks: &[Block<'_>], stop_reason: &str) -> String {
    let mut out = String::new();
    let mut event = |value: Value| {
        let name = value["type"].as_str().unwrap().to_owned();
        out.push_str(&format!("event: {name}\ndata: {value}\n\n"));
    };
    event(
        json!({"type": "message_start", "message": {"id": "msg_tools", "type": "message",
        "role": "assistant", "model": "claude-test", "content": [], "stop_reason": null,
        "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 1}}}),
    );
    let mut index = 0;
    for block in blocks {
        match block {
            Block::Text(text) => {
                event(
                    json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
                );
                for word in text.split_inclusive(' ') {
                    event(
                        json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": word}}),
                    );
                }
                event(json!({"type": "content_block_stop", "index": index}));
            }
            Block::Tool(id, name, input) | Block::CutTool(id, name, input) => {
                event(
                    json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                );
                let half = input.len() / 2;
                for part in [&input[..half], &input[half..]] {
                    event(
                        json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": part}}),
                    );
                }
                if matches!(block, Block::Tool(..)) {
                    event(json!({"type": "content_block_stop", "index": index}));
                }
            }
            Block::ServerTool => {
                event(
                    json!({"type": "content_block_start", "index": index, "content_block": {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}}),
                );
                event(
                    json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": "{\"query\": \"rust\"}"}}),
                );
                event(json!({"type": "content_block_stop", "index": index}));
                index += 1;
                event(
                    json!({"type": "content_block_start", "index": index, "content_block": {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}}),
                );
                event(json!({"type": "content_block_stop", "index": index}));
            }
        }
        index += 1;
    }
    event(
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null}, "usage": {"output_tokens": 20}}),
    );
    event(json!({"type": "message_stop"}));
    out
}

fn schema() -> Value {
    json!({"type": "object", "properties": {"city": {"type": "string"}}})
}

/// A weather tool that counts its calls.
fn weather(calls: &Arc<AtomicUsize>) -> RunnableTool {
    let calls = Arc::clone(calls);
    RunnableTool::new(
        "get_weather",
        "The weather",
        schema(),
        move |input: Value| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>(format!(
                "Sunny in {}",
                input["city"].as_str().unwrap_or("?")
            ))
        },
    )
}

#[derive(serde::Deserialize)]
struct Sum {
    a: i64,
    b: i64,
}

fn calculator() -> RunnableTool {
    RunnableTool::typed(
        "add",
        "Adds",
        json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}),
        |sum: Sum| Ok::<_, String>((sum.a + sum.b).to_string()),
    )
}

fn params() -> MessageParams {
    MessageParams::new("claude-test", 512)
        .message(MessageParam::user("Weather in Oslo, and 1 + 2?"))
}

fn config(server: &Server) -> ClientConfig {
    ClientConfig::new()
        .api_key("sk-test")
        .base_url(server.base_url())
}

/// The body of the server's request `i`.
fn body(server: &Server, i: usize) -> Value {
    serde_json::from_slice(&server.requests()[i].body).unwrap()
}

/// The `tool_result` blocks of the last message of request `i`.
fn results(server: &Server, i: usize) -> Vec<Value> {
    let body = body(server, i);
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "user");
    last["content"].as_array().unwrap().clone()
}

fn two_tools_then_text(server: &Server) {
    server.enqueue(Reply::recorded(message(
        &[
            Block::Text("Let me check. "),
            Block::Tool("toolu_w", "get_weather", r#"{"city": "Oslo"}"#),
            Block::Tool("toolu_a", "add", r#"{"a": 1, "b": 2}"#),
        ],
        "tool_use",
    )));
    server.enqueue(Reply::recorded(message(
        &[Block::Text("Sunny, and 3.")],
        "end_turn",
    )));
}

fn check_two_tools(server: &Server, events: &[RunnerEvent]) {
    let names: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            RunnerEvent::TurnStart { turn } => Some(format!("turn {turn}")),
            RunnerEvent::ToolStart { name, .. } => Some(format!("start {name}")),
            RunnerEvent::ToolEnd { name, error, .. } => Some(format!("end {name} {error:?}")),
            RunnerEvent::TurnEnd { turn, .. } => Some(format!("turn end {turn}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        names,
        [
            "turn 1",
            "start get_weather",
            "end get_weather None",
            "start add",
            "end add None",
            "turn end 1",
            "turn 2",
            "turn end 2"
        ]
    );
    let results = results(server, 1);
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["tool_use_id"], "toolu_w");
    assert_eq!(results[0]["content"], "Sunny in Oslo");
    assert_eq!(results[1]["tool_use_id"], "toolu_a");
    assert_eq!(results[1]["content"], "3");
    let second = body(server, 1);
    assert_eq!(second["messages"].as_array().unwrap().len(), 3);
    assert_eq!(
        second["messages"][1]["content"][1]["input"],
        json!({"city": "Oslo"})
    );
    assert_eq!(second["tools"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn async_two_tools_run_and_their_results_go_back_in_block_order() {
    let server = Server::start();
    two_tools_then_text(&server);
    let calls = Arc::new(AtomicUsize::new(0));
    let client = anthropic_stream::Client::new(config(&server));
    let mut runner = ToolRunner::new(&client, params(), vec![weather(&calls), calculator()]);
    let mut events = Vec::new();
    while let Some(event) = runner.next().await {
        events.push(event.unwrap());
    }
    check_two_tools(&server, &events);
    assert_eq!(
        runner.outcome(),
        Some(&Outcome::Done(Some(StopReason::EndTurn)))
    );
    assert_eq!(runner.final_message().unwrap().text(), "Sunny, and 3.");
    assert_eq!(
        runner.messages().len(),
        4,
        "user, assistant, tool results, assistant"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[cfg(feature = "ureq")]
#[test]
fn blocking_two_tools_run_and_their_results_go_back_in_block_order() {
    let server = Server::start();
    two_tools_then_text(&server);
    let calls = Arc::new(AtomicUsize::new(0));
    let client = anthropic_stream::blocking::Client::new(config(&server));
    let runner = ToolRunner::new(&client, params(), vec![weather(&calls), calculator()]);
    let mut runner = runner;
    let events: Vec<RunnerEvent> = runner.by_ref().map(Result::unwrap).collect();
    check_two_tools(&server, &events);
    assert_eq!(
        runner.outcome(),
        Some(&Outcome::Done(Some(StopReason::EndTurn)))
    );
    assert_eq!(runner.messages().len(), 4);
}

/// Unknown tool, invalid JSON, a handler error, a panic and a typed input that does not fit:
/// each an error result, the conversation goes on.
fn every_failure(server: &Server) {
    server.enqueue(Reply::recorded(message(
        &[
            Block::Tool("toolu_1", "teleport", r#"{"to": "Mars"}"#),
            Block::Tool("toolu_2", "get_weather", r#"{"city": "Oslo",, }"#),
            Block::Tool("toolu_3", "fails", "{}"),
            Block::Tool("toolu_4", "panics", "{}"),
            Block::Tool("toolu_5", "add", r#"{"a": "one", "b": 2}"#),
        ],
        "tool_use",
    )));
    server.enqueue(Reply::recorded(message(
        &[Block::Text("Sorry.")],
        "end_turn",
    )));
}

fn failing_tools() -> Vec<RunnableTool> {
    vec![
        weather(&Arc::new(AtomicUsize::new(0))),
        calculator(),
        RunnableTool::new("fails", "Fails", schema(), |_| {
            Err::<String, _>("the disk is full")
        }),
        RunnableTool::new(
            "panics",
            "Panics",
            schema(),
            |_| -> Result<String, String> { panic!("a bug in the tool") },
        ),
    ]
}

fn check_every_failure(server: &Server) {
    let results = results(server, 1);
    let expected = [
        "there is no tool named \"teleport\"",
        "not valid JSON",
        "the disk is full",
        "the tool panicked: a bug in the tool",
        "invalid input",
    ];
    assert_eq!(results.len(), 5);
    for (result, expected) in results.iter().zip(expected) {
        assert_eq!(result["is_error"], true, "{result}");
        let content = result["content"].as_str().unwrap();
        assert!(content.contains(expected), "{content} lacks {expected}");
    }
    let raw = results[1]["content"].as_str().unwrap();
    assert!(
        raw.contains(r#"{"city": "Oslo",, }"#),
        "the raw input: {raw}"
    );
}

#[tokio::test]
async fn async_every_failure_is_an_error_result_and_the_conversation_goes_on() {
    let server = Server::start();
    every_failure(&server);
    let client = anthropic_stream::Client::new(config(&server));
    let mut runner = ToolRunner::new(&client, params(), failing_tools());
    // The runner and its futures are `Send`: it runs on a task of its own.
    let outcome = tokio::spawn(async move { runner.until_done().await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome, Outcome::Done(Some(StopReason::EndTurn)));
    check_every_failure(&server);
}

#[cfg(feature = "ureq")]
#[test]
fn blocking_every_failure_is_an_error_result_and_the_conversation_goes_on() {
    let server = Server::start();
    every_failure(&server);
    let client = anthropic_stream::blocking::Client::new(config(&server));
    let mut runner = ToolRunner::new(&client, params(), failing_tools());
    assert_eq!(
        runner.until_done().unwrap(),
        Outcome::Done(Some(StopReason::EndTurn))
    );
    check_every_failure(&server);
}

#[tokio::test]
async fn max_tokens_inside_a_tool_call_runs_nothing_on_the_partial_input() {
    let server = Server::start();
    server.enqueue(Reply::recorded(message(
        &[
            Block::Tool("toolu_1", "get_weather", r#"{"city": "Oslo"}"#),
            Block::CutTool("toolu_2", "get_weather", r#"{"city": "Ber"#),
        ],
        "max_tokens",
    )));
    let calls = Arc::new(AtomicUsize::new(0));
    let client = anthropic_stream::Client::new(config(&server));
    let mut runner = ToolRunner::new(&client, params(), vec![weather(&calls)]);
    assert_eq!(runner.until_done().await.unwrap(), Outcome::ToolInputCut);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "only the complete call ran"
    );
    assert_eq!(server.request_count(), 1);
    assert_eq!(
        runner.messages().len(),
        2,
        "the cut assistant message ends the conversation"
    );
}

#[tokio::test]
async fn server_tools_are_not_run_and_tool_choice_passes_through() {
    let server = Server::start();
    server.enqueue(Reply::recorded(message(
        &[Block::ServerTool, Block::Text("Found it.")],
        "end_turn",
    )));
    let client = anthropic_stream::Client::new(config(&server));
    let mut params = params();
    params.tool_choice = Some(ToolChoice::Any {
        disable_parallel_tool_use: Some(true),
    });
    let mut runner = ToolRunner::new(&client, params, vec![weather(&Arc::default())]);
    let mut started = 0;
    while let Some(event) = runner.next().await {
        started += usize::from(matches!(event.unwrap(), RunnerEvent::ToolStart { .. }));
    }
    assert_eq!(started, 0);
    assert_eq!(
        runner.outcome(),
        Some(&Outcome::Done(Some(StopReason::EndTurn)))
    );
    assert_eq!(
        body(&server, 0)["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
}

#[tokio::test]
async fn the_turn_limit_ends_the_run_with_the_results_ready_to_send() {
    let server = Server::start();
    for _ in 0..3 {
        server.enqueue(Reply::recorded(message(
            &[Block::Tool("toolu_x", "get_weather", r#"{"city": "Oslo"}"#)],
            "tool_use",
        )));
    }
    let client = anthropic_stream::Client::new(config(&server));
    let mut runner = ToolRunner::new(&client, params(), vec![weather(&Arc::default())])
        .max_turns(2)
        .options(RequestOptions::new().header("x-run", "limit"));
    assert_eq!(runner.until_done().await.unwrap(), Outcome::MaxTurns);
    assert_eq!(server.request_count(), 2);
    assert_eq!(server.requests()[1].header("x-run"), Some("limit"));
    let last = runner.messages().last().unwrap();
    assert_eq!(
        serde_json::to_value(last).unwrap()["content"][0]["type"],
        "tool_result"
    );
}

/// A handler that records when it started and takes `millis`.
fn slow(name: &str, millis: u64, starts: &Arc<Mutex<Vec<Instant>>>) -> RunnableTool {
    let starts = Arc::clone(starts);
    RunnableTool::new_async(name, "Slow", schema(), move |_| {
        starts.lock().unwrap().push(Instant::now());
        async move {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            Ok::<_, String>("done")
        }
    })
}

/// Two tool calls, then a long text paced at 40 ms an event.
fn tools_early_then_long_text(server: &Server) {
    let text = "word ".repeat(20);
    server.enqueue(
        Reply::recorded(message(
            &[
                Block::Tool("toolu_1", "slow_a", "{}"),
                Block::Tool("toolu_2", "slow_b", "{}"),
                Block::Text(&text),
            ],
            "tool_use",
        ))
        .pace_events(Duration::from_millis(40)),
    );
    server.enqueue(Reply::recorded(message(
        &[Block::Text("Done.")],
        "end_turn",
    )));
}

#[tokio::test]
async fn async_tools_start_at_their_block_stop_and_run_concurrently() {
    let server = Server::start();
    tools_early_then_long_text(&server);
    let starts = Arc::new(Mutex::new(Vec::new()));
    let client = anthropic_stream::Client::new(config(&server));
    let tools = vec![slow("slow_a", 300, &starts), slow("slow_b", 300, &starts)];
    let mut runner = ToolRunner::new(&client, params(), tools);
    let mut turn_one_end = None;
    let mut ends = Vec::new();
    while let Some(event) = runner.next().await {
        match event.unwrap() {
            RunnerEvent::TurnEnd { turn: 1, .. } => turn_one_end = Some(Instant::now()),
            RunnerEvent::ToolEnd { duration, .. } => ends.push((Instant::now(), duration)),
            _ => {}
        }
    }
    let starts = starts.lock().unwrap().clone();
    let turn_one_end = turn_one_end.unwrap();
    assert_eq!(starts.len(), 2);
    // Both started long before the message ended (about 20 text events at 40 ms each later).
    for start in &starts {
        assert!(
            turn_one_end - *start > Duration::from_millis(500),
            "{:?}",
            turn_one_end - *start
        );
    }
    // Concurrent: the second started before the first finished.
    assert!(starts[1] < ends[0].0);
    // Both finished while the message still streamed.
    assert!(ends.iter().all(|(at, _)| *at < turn_one_end));
}

#[tokio::test]
async fn dropping_the_runner_cancels_running_tools_and_closes_the_connection() {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let server = Server::start();
    tools_early_then_long_text(&server);
    let dropped = Arc::new(AtomicUsize::new(0));
    let flag = Arc::clone(&dropped);
    let forever = RunnableTool::new_async("slow_a", "Never ends", schema(), move |_| {
        let guard = Flag(Arc::clone(&flag));
        async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(guard);
            Ok::<_, String>("unreachable")
        }
    });
    let client = anthropic_stream::Client::new(config(&server));
    let mut runner = ToolRunner::new(&client, params(), vec![forever]);
    while let Some(event) = runner.next().await {
        if matches!(event.unwrap(), RunnerEvent::ToolStart { .. }) {
            break;
        }
    }
    assert_eq!(dropped.load(Ordering::SeqCst), 0, "still running");
    let left = Instant::now();
    drop(runner);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "cancelled with the runner"
    );
    let closed = server
        .wait_all_closed_async(Duration::from_secs(2))
        .await
        .expect("the connection closed");
    assert!(closed.saturating_duration_since(left) < Duration::from_millis(100));
}

#[cfg(feature = "ureq")]
#[test]
fn blocking_parallel_tools_run_on_threads_while_the_stream_goes_on() {
    let server = Server::start();
    tools_early_then_long_text(&server);
    let starts = Arc::new(Mutex::new(Vec::new()));
    let sleeper = |name: &str| {
        let starts = Arc::clone(&starts);
        RunnableTool::new(name, "Slow", schema(), move |_| {
            starts.lock().unwrap().push(Instant::now());
            std::thread::sleep(Duration::from_millis(300));
            Ok::<_, String>("done")
        })
    };
    let client = anthropic_stream::blocking::Client::new(config(&server));
    let began = Instant::now();
    let mut runner = ToolRunner::new(
        &client,
        params(),
        vec![sleeper("slow_a"), sleeper("slow_b")],
    )
    .parallel(true);
    assert_eq!(
        runner.until_done().unwrap(),
        Outcome::Done(Some(StopReason::EndTurn))
    );
    let starts = starts.lock().unwrap().clone();
    assert_eq!(starts.len(), 2);
    let gap = if starts[0] > starts[1] {
        starts[0] - starts[1]
    } else {
        starts[1] - starts[0]
    };
    assert!(
        gap < Duration::from_millis(200),
        "both ran at once: {gap:?}"
    );
    // The first turn is 33 events 40 ms apart (1.28 s); the tools added nothing after it.
    assert!(
        began.elapsed() < Duration::from_millis(1_280 + 250),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(results(&server, 1).len(), 2);
}

#[cfg(feature = "ureq")]
#[test]
fn a_blocking_runner_refuses_an_async_tool_with_an_error_result() {
    let server = Server::start();
    server.enqueue(Reply::recorded(message(
        &[Block::Tool("toolu_1", "slow_a", "{}")],
        "tool_use",
    )));
    server.enqueue(Reply::recorded(message(&[Block::Text("ok")], "end_turn")));
    let client = anthropic_stream::blocking::Client::new(config(&server));
    let starts = Arc::new(Mutex::new(Vec::new()));
    let mut runner = ToolRunner::new(&client, params(), vec![slow("slow_a", 10, &starts)]);
    assert_eq!(
        runner.until_done().unwrap(),
        Outcome::Done(Some(StopReason::EndTurn))
    );
    let result = &results(&server, 1)[0];
    assert_eq!(result["is_error"], true);
    assert!(starts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_async_tool_that_panics_inside_its_future_is_an_error_result() {
    let server = Server::start();
    server.enqueue(Reply::recorded(message(
        &[Block::Tool("toolu_1", "explodes", "{}")],
        "tool_use",
    )));
    server.enqueue(Reply::recorded(message(&[Block::Text("ok")], "end_turn")));
    let explodes = RunnableTool::new_async("explodes", "Panics later", schema(), |_| async {
        tokio::task::yield_now().await;
        if true {
            panic!("inside the future");
        }
        Ok::<_, String>("unreachable")
    });
    let client = anthropic_stream::Client::new(config(&server));
    let mut runner = ToolRunner::new(&client, params(), vec![explodes]);
    assert_eq!(
        runner.until_done().await.unwrap(),
        Outcome::Done(Some(StopReason::EndTurn))
    );
    let result = &results(&server, 1)[0];
    assert_eq!(result["is_error"], true);
    assert_eq!(result["content"], "the tool panicked: inside the future");
}

#[tokio::test]
async fn helper_events_come_through_the_runner_for_every_turn() {
    use anthropic_stream::Derived;
    let server = Server::start();
    two_tools_then_text(&server);
    let client = anthropic_stream::Client::new(config(&server));
    let mut runner = ToolRunner::new(
        &client,
        params(),
        vec![weather(&Arc::default()), calculator()],
    );
    let mut texts = Vec::new();
    let mut inputs = Vec::new();
    let mut stops = 0;
    while let Some(event) = runner.next().await {
        let RunnerEvent::Event(event) = event.unwrap() else {
            continue;
        };
        match runner.helper(&event) {
            Some(Derived::Text { snapshot, .. }) => texts.push(snapshot.to_owned()),
            Some(Derived::InputJson { snapshot, .. }) => inputs.push(snapshot.clone()),
            Some(Derived::MessageStop(_)) => stops += 1,
            _ => {}
        }
    }
    assert_eq!(texts.last().map(String::as_str), Some("Sunny, and 3."));
    assert!(texts.contains(&"Let me check. ".to_owned()));
    assert_eq!(inputs.last(), Some(&json!({"a": 1, "b": 2})));
    assert_eq!(stops, 2, "one message stop per turn");
}

#[tokio::test]
async fn a_typed_async_tool_gets_its_type_or_an_error_result() {
    let server = Server::start();
    server.enqueue(Reply::recorded(message(
        &[
            Block::Tool("toolu_1", "add", r#"{"a": 2, "b": 3}"#),
            Block::Tool("toolu_2", "add", r#"{"a": "two"}"#),
        ],
        "tool_use",
    )));
    server.enqueue(Reply::recorded(message(&[Block::Text("ok")], "end_turn")));
    let add = RunnableTool::typed_async("add", "Adds", schema(), |sum: Sum| async move {
        Ok::<_, String>((sum.a + sum.b).to_string())
    });
    let client = anthropic_stream::Client::new(config(&server));
    let mut runner = ToolRunner::new(&client, params(), vec![add]);
    runner.until_done().await.unwrap();
    let results = results(&server, 1);
    assert_eq!(
        (&results[0]["content"], results[0].get("is_error")),
        (&json!("5"), None)
    );
    assert_eq!(results[1]["is_error"], true);
    assert!(
        results[1]["content"]
            .as_str()
            .unwrap()
            .starts_with("invalid input")
    );
}
