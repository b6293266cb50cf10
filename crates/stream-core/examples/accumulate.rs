//! Reads a Messages API event stream (`text/event-stream`) on standard input and prints the
//! final message as one JSON object, the shape of a non-streaming Messages API response with
//! every received field kept; exit status 0.
//!
//! On any failure (the stream ends before `message_stop`, an `error` event, invalid tool
//! input, a protocol violation, undecodable SSE or JSON) it prints
//! `{"error": {"kind": "<snake_case kind>", "message": "..."}, "partial": <message or null>}`
//! and exits with status 1. This output is a contract (the accumulator's conformance
//! interface): keep it stable.
//!
//! ```text
//! cargo run -q -p stream-core --example accumulate < stream.sse
//! ```

use std::io::{self, Read, Write};
use std::process::ExitCode;

use anthropic_stream::conformance::accumulate_sse;
use serde_json::{Value, json};

fn main() -> ExitCode {
    let mut input = Vec::new();
    if let Err(err) = io::stdin().lock().read_to_end(&mut input) {
        eprintln!("accumulate: cannot read standard input: {err}");
        let output = json!({"error": {"kind": "io", "message": err.to_string()}, "partial": null});
        return print_line(&output, ExitCode::FAILURE);
    }
    match accumulate_sse(input) {
        Ok(message) => print_line(&message.to_json(), ExitCode::SUCCESS),
        Err(failure) => print_line(&failure.to_json(), ExitCode::FAILURE),
    }
}

fn print_line(value: &Value, code: ExitCode) -> ExitCode {
    let mut out = io::stdout().lock();
    let written = serde_json::to_writer(&mut out, value)
        .map_err(io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => code,
        Err(_) => ExitCode::FAILURE,
    }
}
