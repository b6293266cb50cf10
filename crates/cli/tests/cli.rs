//! The `anthropic-stream` command end to end, against the local Messages server: standard
//! output, standard error and the exit status, for success and for each error class, with
//! both transports.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anthropic_stream::ndjson;
use messages_test_server::{Fault, Feed, Generate, Reply, Server};
use serde_json::Value;

const TRANSPORTS: [&str; 2] = ["hyper", "ureq"];

/// The command with a clean environment: no credential, no base URL, no standard input.
fn cli() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_anthropic-stream"));
    command
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("ANTHROPIC_AUTH_TOKEN")
        .env_remove("ANTHROPIC_BASE_URL")
        .stdin(Stdio::null());
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "ANTHROPIC_BEDROCK_BASE_URL",
        "ANTHROPIC_VERTEX_ACCESS_TOKEN",
        "ANTHROPIC_VERTEX_PROJECT_ID",
        "ANTHROPIC_VERTEX_BASE_URL",
        "CLOUD_ML_REGION",
    ] {
        command.env_remove(name);
    }
    command
}

/// The command pointed at `server` with a key and a transport.
fn against(server: &Server, transport: &str) -> Command {
    let mut command = cli();
    command.env("ANTHROPIC_API_KEY", "sk-test-key").args([
        "--base-url",
        server.base_url(),
        "--transport",
        transport,
    ]);
    command
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(command: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("the command runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// Starts `anthropic-stream serve --port 0` with these arguments; returns it and the base URL
/// it printed.
fn serve(args: &[&str]) -> (Child, String) {
    let mut serve = cli()
        .args(["serve", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    (serve, url.trim().to_owned())
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/anthropic")
}

#[test]
fn text_streams_to_stdout_with_either_transport() {
    let spec = Generate::text(12);
    for transport in TRANSPORTS {
        let server = Server::start();
        let out = run(against(&server, transport).arg("Hello"));
        assert_eq!(out.code, 0, "{transport}: {}", out.stderr);
        assert_eq!(
            out.stdout,
            format!("{}\n", spec.expected_text()),
            "{transport}"
        );
        assert_eq!(out.stderr, "", "no summary when stderr is not a terminal");
        let request = &server.requests()[0];
        let body = request.json().unwrap();
        assert_eq!(body["model"], "claude-sonnet-4-5");
        assert_eq!(body["max_tokens"], 1024);
        assert_eq!(body["messages"][0]["content"], "Hello");
    }
}

#[test]
fn stats_give_first_token_time_tokens_stop_reason_and_request_id() {
    let server = Server::start();
    let out = run(against(&server, "hyper").args(["--stats", "Hello"]));
    assert_eq!(out.code, 0);
    let line = out.stderr.trim();
    assert!(line.starts_with("[first token "), "{line}");
    for part in ["total", "25 in / ", "out tokens", "stop end_turn"] {
        assert!(line.contains(part), "{line}");
    }
    assert!(line.contains(&server.requests()[0].request_id), "{line}");
}

#[test]
fn json_prints_every_event_then_the_final_message() {
    let spec = Generate::text(5).thinking(2).tool_use(300);
    for transport in TRANSPORTS {
        let server = Server::builder()
            .default_reply(Reply::generated(spec.clone()))
            .start();
        let out = run(against(&server, transport).args(["--json", "--model", "m-1", "Hi"]));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let lines: Vec<&str> = out.stdout.lines().collect();
        let (last, events) = lines.split_last().unwrap();
        let final_message: Value = serde_json::from_str(last).unwrap();
        assert_eq!(final_message, spec.expected_message("m-1"));
        // The lines fold back into the same message.
        let mut accumulator = anthropic_stream::Accumulator::new();
        for line in events {
            accumulator
                .apply(&ndjson::parse_line(line).unwrap())
                .unwrap();
        }
        assert_eq!(accumulator.finish().unwrap().to_json(), final_message);
    }
}

#[test]
fn final_prints_only_the_final_message() {
    let server = Server::start();
    let out = run(against(&server, "ureq").args(["--final", "--model", "m-2", "Hi"]));
    assert_eq!(out.code, 0);
    let message: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(message, Generate::text(12).expected_message("m-2"));
    assert_eq!(out.stdout.lines().count(), 1);
}

#[test]
fn options_and_params_file_shape_the_request() {
    let dir = std::env::temp_dir().join(format!("anthropic-stream-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let params = dir.join("params.json");
    std::fs::write(
        &params,
        r#"{"model":"from-file","max_tokens":50,"temperature":0.5,"messages":[{"role":"user","content":"first"}],"metadata":{"user_id":"u1"}}"#,
    )
    .unwrap();
    let server = Server::start();
    let out = run(against(&server, "hyper").args([
        "--params",
        params.to_str().unwrap(),
        "--max-tokens",
        "3000",
        "--system",
        "Be brief.",
        "--thinking",
        "2048",
        "second",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let body = server.requests()[0].json().unwrap();
    assert_eq!(body["model"], "from-file");
    assert_eq!(body["max_tokens"], 3000);
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["system"], "Be brief.");
    assert_eq!(body["thinking"]["budget_tokens"], 2048);
    assert_eq!(body["metadata"]["user_id"], "u1");
    assert_eq!(body["messages"][1]["content"], "second");
    assert_eq!(body["stream"], true);
}

#[test]
fn the_prompt_can_come_from_stdin() {
    let server = Server::start();
    let mut child = against(&server, "hyper")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"Hi from standard input\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        server.requests()[0].json().unwrap()["messages"][0]["content"],
        "Hi from standard input"
    );
}

#[test]
fn api_errors_exit_1_with_one_line_naming_status_message_and_request_id() {
    for transport in TRANSPORTS {
        let server = Server::start();
        server.enqueue(Reply::error_with(
            400,
            "invalid_request_error",
            "max_tokens: too large",
        ));
        let out = run(against(&server, transport).arg("Hello"));
        assert_eq!(out.code, 1, "{transport}");
        assert_eq!(out.stdout, "");
        let line = out.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{line}");
        for part in [
            "invalid_request",
            "400",
            "max_tokens: too large",
            &server.requests()[0].request_id,
        ] {
            assert!(line.contains(part), "{transport}: {line}");
        }

        // An `error` event mid-stream: the text before it, then exit 1.
        let server = Server::start();
        server.enqueue(Reply::generated(Generate::text(10)).fault(Fault::ErrorEventAt(6)));
        let out = run(against(&server, transport).arg("Hello"));
        assert_eq!(out.code, 1, "{transport}");
        assert_eq!(out.stdout.trim_end().len(), 3 * 16);
        assert!(out.stderr.contains("overloaded_error"), "{}", out.stderr);
        assert!(out.stderr.contains("mid-stream"), "{}", out.stderr);
    }
}

#[test]
fn transport_failures_exit_3() {
    for transport in TRANSPORTS {
        let server = Server::start();
        server.enqueue(Reply::generated(Generate::text(10)).fault(Fault::ResetAfterEvents(6)));
        let out = run(against(&server, transport).arg("Hello"));
        assert_eq!(out.code, 3, "{transport}: {}", out.stderr);
        assert_eq!(
            out.stdout.trim_end().len(),
            3 * 16,
            "the text before the reset"
        );
        assert!(out.stderr.contains("connection reset"), "{}", out.stderr);
        assert!(out.stderr.contains(&server.requests()[0].request_id));

        // Nothing listens there.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let out = run(cli()
            .env("ANTHROPIC_API_KEY", "sk-test-key")
            .args(["--transport", transport, "--base-url"])
            .arg(format!("http://{closed}"))
            .arg("Hello"));
        assert_eq!(out.code, 3, "{transport}: {}", out.stderr);
        assert!(
            out.stderr
                .starts_with("anthropic-stream: transport: connect"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn protocol_errors_and_truncation_exit_4() {
    for transport in TRANSPORTS {
        let server = Server::start();
        server.enqueue(Reply::generated(Generate::text(4)).fault(Fault::EndBeforeMessageStop));
        let out = run(against(&server, transport).arg("Hello"));
        assert_eq!(out.code, 4, "{transport}: {}", out.stderr);
        assert!(out.stderr.contains("truncated"), "{}", out.stderr);
        assert_eq!(out.stdout.trim_end().len(), 4 * 16);

        let server = Server::start();
        server.enqueue(Reply::html());
        let out = run(against(&server, transport).arg("Hello"));
        assert_eq!(out.code, 4, "{transport}: {}", out.stderr);
        assert!(out.stderr.contains("text/html"), "{}", out.stderr);
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = run(cli().args(["--transport", "carrier-pigeon", "Hi"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("carrier-pigeon"));
    let out = run(cli().env("ANTHROPIC_API_KEY", "k"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no prompt"), "{}", out.stderr);
    let out = run(cli().args(["--params", "/nonexistent/params.json", "Hi"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("cannot read"), "{}", out.stderr);
    let out = run(cli().args(["--max-tokens", "0", "Hi"]));
    assert_eq!(out.code, 2);
    let out = run(cli().args(["--json", "--final", "Hi"]));
    assert_eq!(out.code, 2);
    let help = run(cli().arg("--help"));
    assert_eq!(help.code, 0);
    for part in [
        "--transport",
        "--replay",
        "Exit status",
        "130",
        "decode",
        "serve",
    ] {
        assert!(help.stdout.contains(part), "{part}");
    }
}

#[test]
fn with_no_key_it_streams_from_the_built_in_server() {
    let out = run(cli().arg("Hello"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.len() > 100);
    assert_eq!(out.stderr.lines().count(), 1);
    assert!(
        out.stderr.contains("built-in local server"),
        "{}",
        out.stderr
    );
}

#[test]
fn replay_streams_a_recorded_file() {
    let file = fixtures().join("recorded/stream-b-fallback.sse");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../stream-core/tests/expected/recorded__stream-b-fallback.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for transport in TRANSPORTS {
        let out = run(cli()
            .args(["--transport", transport, "--final", "--replay"])
            .arg(&file)
            .arg("Hi"));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(out.stderr.contains("replaying"));
        let message: Value = serde_json::from_str(out.stdout.trim()).unwrap();
        assert_eq!(message, expected);
    }
}

fn pipe(command: &mut Command, input: &[u8]) -> Run {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[test]
fn decode_and_accumulate_follow_their_contracts() {
    let out = pipe(
        cli().arg("decode"),
        b"\xEF\xBB\xBFretry: 100\nid: 7\ndata: a\ndata: b\n\nevent: x\ndata: \xFF\r\n\r\ndata: lost",
    );
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout,
        "{\"data\":\"a\\nb\",\"event\":\"message\",\"id\":\"7\",\"retry\":100}\n{\"data\":\"\u{FFFD}\",\"event\":\"x\",\"id\":\"7\"}\n"
    );

    let file = fixtures().join("recorded/stream-b-fallback.sse");
    let out = pipe(cli().arg("accumulate"), &std::fs::read(&file).unwrap());
    assert_eq!(out.code, 0);
    let expected = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../stream-core/tests/expected/recorded__stream-b-fallback.json"),
    )
    .unwrap();
    let got: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(got, serde_json::from_str::<Value>(&expected).unwrap());

    let text = std::fs::read_to_string(&file).unwrap();
    let truncated = text.split("event: message_stop").next().unwrap();
    let out = pipe(cli().arg("accumulate"), truncated.as_bytes());
    assert_eq!(out.code, 1);
    let failure: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(failure["error"]["kind"], "truncated");
    assert!(failure["partial"]["content"].is_array());
}

/// Sends SIGINT, as Ctrl-C does.
fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn ctrl_c_closes_the_connection_and_exits_130() {
    for transport in TRANSPORTS {
        let server = Server::start();
        server.enqueue(Reply::generated(Generate::text(20)).fault(Fault::StallAfterEvents(6)));
        let mut child = against(&server, transport)
            .arg("Hello")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the text before the stall.
        let mut stdout = child.stdout.take().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        while seen.len() < 3 * 16 {
            let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
            assert!(n > 0, "{transport}: output ended early");
            seen.extend_from_slice(&buf[..n]);
        }
        let interrupted = Instant::now();
        interrupt(&child);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{transport}");
        let closed = server
            .wait_all_closed(Duration::from_secs(2))
            .expect("the server saw the close");
        let latency = closed.saturating_duration_since(interrupted);
        eprintln!("{transport}: closed {latency:?} after SIGINT");
        assert!(latency < Duration::from_millis(500), "{latency:?}");
    }
}

#[cfg(unix)]
#[test]
fn serve_runs_the_local_server_with_faults() {
    let (mut serve, url) = serve(&["--fault", "status=529*1", "--fault", "retry-after=0"]);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // No credential needed; the first request is overloaded and retried.
    let out = run(cli().args(["--base-url", &url, "--stats", "Hello"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.len() > 100);
    interrupt(&serve);
    assert_eq!(serve.wait().unwrap().code(), Some(130));

    let bad = run(cli().args(["serve", "--port", "0", "--fault", "teleport"]));
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("teleport"));
}

/// A `--final` run against the built-in server (no key): the final message.
fn built_in_final(args: &[&str]) -> Value {
    let out = run(cli().arg("--final").args(args));
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(out.stdout.trim()).unwrap()
}

#[test]
fn the_built_in_server_answers_the_prompt_and_honours_max_tokens() {
    let message = built_in_final(&["-m", "claude-echo", "-s", "Be terse.", "What is SSE?"]);
    assert_eq!(message["model"], "claude-echo");
    let text = message["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("You said: “What is SSE?”."), "{text}");
    assert!(text.contains("“Be terse.”"), "{text}");
    assert_eq!(message["stop_reason"], "end_turn");
    let words = text.split_inclusive(' ').count() as u64;
    assert_eq!(message["usage"]["output_tokens"], words);

    let message = built_in_final(&["-t", "20", "x"]);
    let text = message["content"][0]["text"].as_str().unwrap();
    assert_eq!(text.split_inclusive(' ').count(), 20, "{text}");
    assert_eq!(message["stop_reason"], "max_tokens");
    assert_eq!(message["usage"]["output_tokens"], 20);

    let message = built_in_final(&["--stop", "system", "--stop", "said", "-s", "S", "x"]);
    assert_eq!(message["stop_reason"], "stop_sequence");
    assert_eq!(message["stop_sequence"], "said");
    assert_eq!(message["content"][0]["text"], "You ");
}

#[test]
fn thinking_comes_first_and_text_mode_shows_it_plainly_off_a_terminal() {
    let message = built_in_final(&["--thinking", "2000", "Plan a picnic"]);
    assert_eq!(message["content"][0]["type"], "thinking");
    assert!(
        message["content"][0]["signature"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(message["content"][1]["type"], "text");

    let out = run(cli().args(["--thinking", "2000", "Plan a picnic"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let thinking = message["content"][0]["thinking"].as_str().unwrap();
    let text = message["content"][1]["text"].as_str().unwrap();
    assert_eq!(out.stdout, format!("{thinking}\n\n{text}\n"));
    assert!(!out.stdout.contains('\x1b'), "no escapes off a terminal");
}

#[test]
fn tools_from_a_file_and_tool_choice_give_a_tool_call_shown_as_it_streams() {
    let dir = std::env::temp_dir().join(format!("anthropic-stream-tools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tools = dir.join("tools.json");
    std::fs::write(
        &tools,
        r#"[{"name": "get_weather", "description": "The weather.", "input_schema": {"type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1},
                           "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"]}},
           {"name": "get_time", "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}}}]"#,
    )
    .unwrap();
    let tools = tools.to_str().unwrap();
    let message = built_in_final(&["--tools", tools, "--tool-choice", "get_weather", "Oslo"]);
    assert_eq!(message["stop_reason"], "tool_use");
    let call = &message["content"][0];
    assert_eq!(
        (call["type"].as_str(), call["name"].as_str()),
        (Some("tool_use"), Some("get_weather"))
    );
    assert_eq!(
        call["input"],
        serde_json::json!({"city": "Oslo", "unit": "celsius"})
    );

    for transport in TRANSPORTS {
        let out = run(cli().args([
            "--transport",
            transport,
            "--tools",
            tools,
            "--tool-choice",
            "any",
            "Oslo",
        ]));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.stdout,
            "[tool call] get_weather {\"city\":\"Oslo\",\"unit\":\"celsius\"}\n"
        );
    }
    let message = built_in_final(&["--tools", tools, "--tool-choice", "none", "get_weather"]);
    assert_eq!(message["stop_reason"], "end_turn");
    let message = built_in_final(&["--tools", tools, "--tool-choice", "auto", "use get_time"]);
    assert_eq!(message["content"][1]["name"], "get_time");

    let bad = run(cli().args(["--tools", "/nonexistent/tools.json", "x"]));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn citations_become_numbered_references_and_server_tools_one_line_each() {
    let server = Server::builder()
        .default_reply(Reply::generated(
            Generate::text(4).delta_len(8).citations(2),
        ))
        .start();
    let out = run(against(&server, "hyper").arg("Cite"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("[1]") && out.stdout.contains("[2]"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with("[1] “cited passage 0” (Generated document)\n[2] “cited passage 1” (Generated document)\n"),
        "{}",
        out.stdout
    );

    let file = fixtures().join("recorded/stream-a-toolrefusal.sse");
    let out = run(cli().arg("--replay").arg(&file).arg("Hi"));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("[web_search] {")),
        "{}",
        out.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[web_search_tool_result] ")),
        "{}",
        out.stdout
    );
}

#[test]
fn every_request_option_reaches_the_server() {
    let server = Server::start();
    let out = run(against(&server, "ureq").args([
        "--temperature",
        "0.25",
        "--top-p",
        "0.9",
        "--top-k",
        "7",
        "--stop",
        "END",
        "--stop",
        "STOP",
        "--beta",
        "b-one",
        "--beta",
        "b-two",
        "-H",
        "X-Team: search",
        "-H",
        "x-team: batch",
        "--api-version",
        "2099-01-01",
        "--max-retries",
        "0",
        "--timeout",
        "30",
        "--idle-timeout",
        "5",
        "-j",
        "Hi",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.lines().count() > 3, "JSON lines with -j");
    let request = &server.requests()[0];
    let body = request.json().unwrap();
    assert_eq!(body["temperature"], 0.25);
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["top_k"], 7);
    assert_eq!(body["stop_sequences"], serde_json::json!(["END", "STOP"]));
    assert_eq!(request.header("anthropic-beta"), Some("b-one,b-two"));
    assert_eq!(
        request.header("x-team"),
        Some("batch"),
        "the last setting wins"
    );
    assert_eq!(request.header("anthropic-version"), Some("2099-01-01"));

    // --max-retries 0: one attempt at a 529.
    let server = Server::builder().default_reply(Reply::error(529)).start();
    let out = run(against(&server, "hyper").args(["--max-retries", "0", "Hi"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(server.request_count(), 1);

    // --idle-timeout: a stall ends in a deadline (exit 3) well before the default 90 s.
    let server = Server::builder()
        .default_reply(Reply::generated(Generate::text(50)).fault(Fault::StallAfterEvents(4)))
        .start();
    for transport in TRANSPORTS {
        let started = Instant::now();
        let out = run(against(&server, transport).args(["--idle-timeout", "0.3", "Hi"]));
        assert_eq!(out.code, 3, "{}", out.stderr);
        assert!(out.stderr.contains("went silent"), "{}", out.stderr);
        assert!(started.elapsed() < Duration::from_secs(5));
        // --timeout: the total deadline.
        let out = run(against(&server, transport).args(["--timeout", "0.5", "Hi"]));
        assert_eq!(out.code, 3, "{}", out.stderr);
        assert!(out.stderr.contains("total"), "{}", out.stderr);
    }

    for header in ["no colon", "bad name: v", ": v"] {
        let bad = run(cli().args(["-H", header, "Hi"]));
        assert_eq!(bad.code, 2, "{header}: {}", bad.stderr);
    }
    let bad = run(cli().args(["--idle-timeout", "1e19", "Hi"]));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    let bad = run(cli().args(["--timeout", "-1", "Hi"]));
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

#[test]
fn serve_answers_the_request_too() {
    let (mut serve, url) = serve(&[]);
    let out = run(cli().args(["--base-url", &url, "--final", "-t", "3", "Ping"]));
    interrupt(&serve);
    let _ = serve.wait();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let message: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(message["content"][0]["text"], "You said: “Ping”. ");
    assert_eq!(message["stop_reason"], "max_tokens");
}

/// The ids of `sse` output lines, each checked to be a `decode`-format object of the feed.
fn feed_ids(stdout: &str) -> Vec<u64> {
    stdout
        .lines()
        .map(|line| {
            let event: Value = serde_json::from_str(line).unwrap();
            assert_eq!(event["event"], "tick", "{line}");
            let id: u64 = event["id"].as_str().unwrap().parse().unwrap();
            assert_eq!(event["data"], format!("{{\"n\": {id}}}"), "{line}");
            id
        })
        .collect()
}

#[test]
fn sse_reconnects_across_drops_with_last_event_id_on_both_transports() {
    for transport in TRANSPORTS {
        let server = Server::builder()
            .default_reply(Reply::feed(Feed::new(25).drop_every(10).retry_ms(20)))
            .start();
        let url = format!("{}/feed", server.base_url());
        let out = run(cli().args([
            "sse",
            "--reconnect",
            "--stats",
            "--transport",
            transport,
            &url,
        ]));
        assert_eq!(out.code, 0, "{transport}: {}", out.stderr);
        assert_eq!(
            feed_ids(&out.stdout),
            (1..=25).collect::<Vec<_>>(),
            "{transport}"
        );
        assert!(
            out.stderr
                .contains("[25 events · 3 reconnections · last id 25"),
            "{transport}: {}",
            out.stderr
        );
        let requests = server.requests();
        let sent: Vec<Option<&str>> = requests.iter().map(|r| r.header("last-event-id")).collect();
        assert_eq!(
            sent,
            [None, Some("10"), Some("20"), Some("25")],
            "{transport}"
        );
        for request in &requests {
            assert_eq!(request.method, "GET");
            assert_eq!(request.header("accept"), Some("text/event-stream"));
            assert!(request.header("x-api-key").is_none(), "no key to a feed");
        }
    }
}

#[test]
fn sse_without_reconnect_ends_with_the_connection_and_resumes_from_an_id() {
    let server = Server::builder()
        .default_reply(Reply::feed(Feed::new(25).drop_every(10)))
        .start();
    let url = format!("{}/feed", server.base_url());
    let out = run(cli().args(["sse", &url]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(feed_ids(&out.stdout), (1..=10).collect::<Vec<_>>());

    let out = run(cli().args(["sse", "--last-event-id", "20", "--transport", "ureq", &url]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(feed_ids(&out.stdout), (21..=25).collect::<Vec<_>>());
    assert_eq!(
        server.requests().last().unwrap().header("last-event-id"),
        Some("20")
    );

    let out = run(cli().args(["sse", "--reconnect", "--max-events", "12", &url]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(feed_ids(&out.stdout), (1..=12).collect::<Vec<_>>());
}

#[test]
fn sse_sends_any_method_headers_and_a_body_from_a_file() {
    let server = Server::builder()
        .default_reply(Reply::feed(Feed::new(2)))
        .start();
    let url = format!("{}/v1/chat/completions?stream=1", server.base_url());
    let body = r#"{"model": "m", "stream": true}"#;
    let file = std::env::temp_dir().join(format!("sse-body-{}.json", std::process::id()));
    std::fs::write(&file, body).unwrap();
    let data = format!("@{}", file.display());
    for transport in TRANSPORTS {
        let out = run(cli().args([
            "sse",
            "-H",
            "Authorization: Bearer t0k",
            "-H",
            "X-Team: search",
            "-d",
            &data,
            "--transport",
            transport,
            &url,
        ]));
        assert_eq!(out.code, 0, "{transport}: {}", out.stderr);
        assert_eq!(feed_ids(&out.stdout), [1, 2]);
        let request = server.requests().pop().unwrap();
        assert_eq!(request.method, "POST", "{transport}");
        assert_eq!(request.path, "/v1/chat/completions?stream=1");
        assert_eq!(request.header("authorization"), Some("Bearer t0k"));
        assert_eq!(request.header("x-team"), Some("search"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.body, body.as_bytes());
    }
    let out = run(cli().args(["sse", "-X", "PUT", "-d", "plain words", &url]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let request = server.requests().pop().unwrap();
    assert_eq!(request.method, "PUT");
    assert_eq!(
        request.header("content-type"),
        None,
        "not JSON: no type guessed"
    );
    assert_eq!(request.body, "plain words".as_bytes());
    let _ = std::fs::remove_file(file);
}

#[test]
fn sse_exit_codes_follow_the_error_class() {
    for transport in TRANSPORTS {
        let server = Server::start();
        let url = format!("{}/feed", server.base_url());
        server.set_default_reply(Reply::error(404));
        let api = run(cli().args(["sse", "--transport", transport, &url]));
        assert_eq!(api.code, 1, "{transport}: {}", api.stderr);

        server.set_default_reply(Reply::html().skip_validation());
        let protocol = run(cli().args(["sse", "--transport", transport, &url]));
        assert_eq!(protocol.code, 4, "{transport}: {}", protocol.stderr);
        assert!(
            protocol.stderr.contains("wrong_content_type"),
            "{}",
            protocol.stderr
        );

        server.set_default_reply(Reply::feed(Feed::new(5)).fault(Fault::ResetAfterEvents(2)));
        let transport_failure = run(cli().args(["sse", "--transport", transport, &url]));
        assert_eq!(
            transport_failure.code, 3,
            "{transport}: {}",
            transport_failure.stderr
        );
        assert_eq!(
            feed_ids(&transport_failure.stdout),
            [1, 2],
            "what came is kept"
        );

        server.set_default_reply(Reply::silence().skip_validation());
        let total = run(cli().args(["sse", "--timeout", "0.3", "--transport", transport, &url]));
        assert_eq!(total.code, 3, "{transport}: {}", total.stderr);

        server.set_default_reply(Reply::feed(Feed::new(5)).fault(Fault::StallAfterEvents(2)));
        let deadline = run(cli().args([
            "sse",
            "--idle-timeout",
            "0.2",
            "--transport",
            transport,
            &url,
        ]));
        assert_eq!(feed_ids(&deadline.stdout), [1, 2], "what came is kept");
        assert_eq!(deadline.code, 3, "{transport}: {}", deadline.stderr);
    }
    for args in [
        &["sse", "--max-events", "0", "http://127.0.0.1:1/"][..],
        &["sse", "-H", "no colon", "http://127.0.0.1:1/"],
        &["sse", "-d", "@/no/such/file", "http://127.0.0.1:1/"],
        &["sse", "not a url"],
        &["sse", "--max-attempts", "2", "http://127.0.0.1:1/"],
    ] {
        let out = run(cli().args(args));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
    }
}

#[test]
fn serve_feed_serves_a_resumable_feed() {
    let (mut serve, url) = serve(&["--feed", "7", "--drop-every", "3", "--retry-ms", "10"]);
    let out = run(cli().args(["sse", "--reconnect", &format!("{url}/feed")]));
    interrupt(&serve);
    let _ = serve.wait();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(feed_ids(&out.stdout), (1..=7).collect::<Vec<_>>());
}

#[test]
fn every_provider_streams_from_the_built_in_server_with_either_transport() {
    for provider in ["bedrock", "vertex"] {
        for transport in TRANSPORTS {
            let out = run(cli().args([
                "--provider",
                provider,
                "--transport",
                transport,
                "--final",
                "-m",
                "claude-cloud",
                "Hello, cloud",
            ]));
            assert_eq!(out.code, 0, "{provider} {transport}: {}", out.stderr);
            assert!(
                out.stderr.contains("built-in local server"),
                "{}",
                out.stderr
            );
            let message: Value = serde_json::from_str(out.stdout.trim()).unwrap();
            assert_eq!(
                message["model"], "claude-cloud",
                "the model travelled in the path"
            );
            let text = message["content"][0]["text"].as_str().unwrap();
            assert!(text.starts_with("You said: “Hello, cloud”."), "{text}");
        }
    }
}

#[test]
fn bedrock_requests_are_signed_for_the_region_and_vertex_ones_carry_the_token() {
    let server = Server::builder().require_auth(true).start();
    let out = run(cli()
        .env("AWS_ACCESS_KEY_ID", "AKIDCLITEST")
        .env("AWS_SECRET_ACCESS_KEY", "cli-secret")
        .env("AWS_SESSION_TOKEN", "cli-session")
        .args([
            "--provider",
            "bedrock",
            "--region",
            "eu-west-1",
            "--base-url",
            server.base_url(),
        ])
        .args(["-m", "anthropic.claude-test-v1:0", "Hi"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(cli()
        .env("ANTHROPIC_VERTEX_ACCESS_TOKEN", "ya29.cli")
        .args([
            "--provider",
            "vertex",
            "--project",
            "proj-cli",
            "--region",
            "europe-west1",
        ])
        .args([
            "--base-url",
            server.base_url(),
            "--transport",
            "ureq",
            "-m",
            "claude-test@1",
            "Hi",
        ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let requests = server.requests();
    assert_eq!(
        requests[0].path,
        "/model/anthropic.claude-test-v1:0/invoke-with-response-stream"
    );
    let auth = requests[0].header("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDCLITEST/")
            && auth.contains("/eu-west-1/bedrock/aws4_request"),
        "{auth}"
    );
    assert_eq!(
        requests[0].header("x-amz-security-token"),
        Some("cli-session")
    );
    assert_eq!(
        requests[1].path,
        "/v1/projects/proj-cli/locations/europe-west1/publishers/anthropic/models/claude-test@1:streamRawPredict"
    );
    assert_eq!(requests[1].header("authorization"), Some("Bearer ya29.cli"));
}

#[test]
fn provider_errors_keep_their_exit_codes() {
    // A Bedrock exception mid-stream is an API error: exit 1, naming the exception.
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(10)).fault(Fault::ErrorEventAt(5)));
    let out = run(cli()
        .env("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key")
        .args([
            "--provider",
            "bedrock",
            "--base-url",
            server.base_url(),
            "--max-retries",
            "0",
            "Hi",
        ]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("serviceUnavailableException"),
        "{}",
        out.stderr
    );
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Bearer bedrock-api-key")
    );
    // Options that need a cloud, and a cloud without credentials for a real URL: usage.
    let out = run(cli().args(["--region", "us-east-1", "Hi"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--region needs --provider"),
        "{}",
        out.stderr
    );
    let out = run(cli().args([
        "--provider",
        "bedrock",
        "--base-url",
        server.base_url(),
        "Hi",
    ]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no AWS credentials"), "{}", out.stderr);
    let out = run(cli().args([
        "--provider",
        "vertex",
        "--base-url",
        server.base_url(),
        "Hi",
    ]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no Vertex AI project"),
        "{}",
        out.stderr
    );
}
