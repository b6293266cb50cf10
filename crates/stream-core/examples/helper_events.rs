//! Reads a Messages API event stream (`text/event-stream`) on standard input, feeding it as it
//! is read through the same exchange the transports drive, and prints one JSON object per
//! helper event, in order, in the official Python SDK's `MessageStream` shapes:
//!
//! ```text
//! {"type": "text", "text": DELTA, "snapshot": TEXT_OF_THE_BLOCK_SO_FAR}
//! {"type": "citation", "citation": CITATION, "snapshot": [CITATIONS_OF_THE_BLOCK_SO_FAR]}
//! {"type": "thinking", "thinking": DELTA, "snapshot": THINKING_SO_FAR}
//! {"type": "signature", "signature": SIGNATURE}
//! {"type": "input_json", "partial_json": DELTA, "snapshot": LIVE_VALUE}
//! {"type": "content_block_stop", "index": I, "content_block": FINISHED_BLOCK}
//! {"type": "message_stop", "message": FINAL_MESSAGE}
//! ```
//!
//! Blocks and messages are the `accumulate` example's JSON (every received field kept, numbers
//! exact). `LIVE_VALUE` is the partial-JSON snapshot: strings and numbers appear once complete
//! (the SDK shows a number as soon as its digits start, and can show `1` for what becomes
//! `12`). Exit status 0. On a failure the last line is the `accumulate` example's
//! `{"error": {"kind", "message"}, "partial"}` object and the exit status is 1. This output is
//! a contract (the helper events' conformance interface): keep it stable.
//!
//! ```text
//! cargo run -q -p stream-core --example helper_events < stream.sse
//! ```

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};
use stream_core::exchange::{Exchange, Step, Until};
use stream_core::request::{ClientConfig, MessageParam, MessageParams};
use stream_core::session::{ErrorKind, Session, SessionError};

fn main() -> ExitCode {
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; 64 * 1024];
    let reads = std::iter::from_fn(move || {
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => return Some(Ok(buf[..n].to_vec())),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Some(Err(err)),
            }
        }
    });
    let mut out = io::BufWriter::new(io::stdout().lock());
    let ok = run(reads, &mut out);
    match (ok, out.flush()) {
        (Ok(true), Ok(())) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// Feeds each piece of `input` to an exchange as the body of a 200 `text/event-stream`
/// response and writes one line per helper event to `out`, then the failure, if any. Returns
/// whether the stream ended with its final message.
///
/// # Errors
///
/// Writing to `out` failed.
pub(crate) fn run(
    input: impl IntoIterator<Item = io::Result<Vec<u8>>>,
    out: &mut impl Write,
) -> io::Result<bool> {
    let t = Duration::ZERO;
    // No retries: there is no server to ask again; every failure is final.
    let config = ClientConfig::new().max_retries(0);
    let params = MessageParams::new("model", 1).message(MessageParam::user("stdin"));
    let Ok(session) = Session::new(&config, &params) else {
        unreachable!("the parameters are valid")
    };
    let mut exchange = Exchange::new(session);
    let _ = exchange.enter(t);
    let Step::Send { attempt, .. } = exchange.poll(t, Until::Head) else {
        unreachable!("an entered exchange sends first")
    };
    exchange.handle_response_head(attempt, t, 200, [("content-type", "text/event-stream")]);
    let mut input = input.into_iter();
    loop {
        match exchange.poll(t, Until::Item) {
            Step::Event(event) => {
                if let Some(helper) = exchange.helper(&event) {
                    line(out, &helper.to_json())?;
                }
            }
            Step::Wait { .. } => match input.next() {
                Some(Ok(bytes)) => exchange.handle_body(attempt, t, bytes),
                Some(Err(err)) => {
                    let failure = json!({"error": {"kind": "io", "message": err.to_string()},
                        "partial": exchange.current_snapshot().map(|m| m.to_json())});
                    line(out, &failure)?;
                    return Ok(false);
                }
                None => exchange.handle_end(attempt, t),
            },
            Step::Error(error) => {
                line(out, &failure_json(&error))?;
                return Ok(false);
            }
            Step::End => return Ok(true),
            // Ready, Send and Drop: nothing to do without a connection.
            _ => {}
        }
    }
}

/// The `accumulate` example's failure object: the kind's snake-case name, the message (the
/// API's own for an API error) and the message as far as it got.
fn failure_json(error: &SessionError) -> Value {
    let message = match &error.kind {
        ErrorKind::Api(api) => api.message.clone(),
        _ => error.to_string(),
    };
    json!({
        "error": {"kind": error.kind_name(), "message": message},
        "partial": error.partial.as_ref().map(|m| m.to_json()),
    })
}

fn line(out: &mut impl Write, value: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}
