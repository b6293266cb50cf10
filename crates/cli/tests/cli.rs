//! The `anthropic-stream` command end to end, against the local Messages server: standard
//! output, standard error and the exit status, for success and for each error class, with
//! both transports.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anthropic_stream::ndjson;
use messages_test_server::{Fault, Generate, Reply, Server};
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
    let mut serve = cli()
        .args([
            "serve",
            "--port",
            "0",
            "--fault",
            "status=529*1",
            "--fault",
            "retry-after=0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let url = url.trim().to_owned();
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
