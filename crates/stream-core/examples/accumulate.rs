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

use serde_json::{Value, json};
use stream_core::accumulate::Accumulator;
use stream_core::messages::StreamEvent;
use stream_core::sse::Decoder;

fn main() -> ExitCode {
    let mut input = Vec::new();
    if let Err(err) = io::stdin().lock().read_to_end(&mut input) {
        eprintln!("accumulate: cannot read standard input: {err}");
        return fail("io", &err.to_string(), None);
    }
    let mut decoder = Decoder::new();
    decoder.feed(input);
    decoder.finish();
    let mut accumulator = Accumulator::new();
    loop {
        let event = match decoder.next_event() {
            Ok(Some(event)) => event,
            Ok(None) => break,
            Err(err) => return fail("sse", &err.to_string(), accumulator.snapshot()),
        };
        let event = match StreamEvent::parse(event.event_type(), event.data()) {
            Ok(event) => event,
            Err(err) => return fail("invalid_json", &err.to_string(), accumulator.snapshot()),
        };
        if let Err(err) = accumulator.apply(&event) {
            let message = match &err {
                stream_core::accumulate::AccumulateError::Api(body) => body.error.message.clone(),
                other => other.to_string(),
            };
            return fail(err.kind(), &message, accumulator.snapshot());
        }
    }
    match accumulator.finish() {
        Ok(message) => print_line(&message.to_json(), ExitCode::SUCCESS),
        Err(incomplete) => fail(
            incomplete.error.kind(),
            &incomplete.error.to_string(),
            incomplete.partial.as_deref(),
        ),
    }
}

fn fail(kind: &str, message: &str, partial: Option<&stream_core::messages::Message>) -> ExitCode {
    let output = json!({
        "error": {"kind": kind, "message": message},
        "partial": partial.map_or(Value::Null, stream_core::messages::Message::to_json),
    });
    print_line(&output, ExitCode::FAILURE)
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
