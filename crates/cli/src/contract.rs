//! `decode` and `accumulate`: the decoder's and the accumulator's conformance interfaces
//! (the same contracts as the core's `sse_decode` and `accumulate` examples).

use std::io::{self, BufWriter, Read, Write};

use anthropic_stream::conformance::accumulate_sse;
use anthropic_stream::stream_core::sse::Decoder;
use serde_json::Value;

use crate::exit;

/// Standard input to one JSON object per dispatched event; decoding errors go to standard
/// error and decoding goes on. Exit 0.
pub(crate) fn decode() -> u8 {
    match decode_io() {
        Ok(()) => exit::OK,
        Err(err) => {
            eprintln!("anthropic-stream decode: {err}");
            exit::OK
        }
    }
}

fn decode_io() -> io::Result<()> {
    let mut decoder = Decoder::new();
    let mut out = BufWriter::new(io::stdout().lock());
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        decoder.feed_slice(&buf[..n]);
        drain(&mut decoder, &mut out)?;
    }
    decoder.finish();
    drain(&mut decoder, &mut out)?;
    out.flush()
}

fn drain(decoder: &mut Decoder, out: &mut impl Write) -> io::Result<()> {
    loop {
        match decoder.next_event_ref() {
            Ok(Some(event)) => {
                serde_json::to_writer(&mut *out, &event.to_json())?;
                out.write_all(b"\n")?;
            }
            Ok(None) => return Ok(()),
            Err(err) => eprintln!("anthropic-stream decode: {err}"),
        }
    }
}

/// Standard input to the final message JSON (exit 0), or to
/// `{"error": {"kind", "message"}, "partial"}` (exit 1).
pub(crate) fn accumulate() -> u8 {
    let mut input = Vec::new();
    let output = match io::stdin().lock().read_to_end(&mut input) {
        Err(err) => Err(serde_json::json!({
            "error": {"kind": "io", "message": err.to_string()},
            "partial": null,
        })),
        Ok(_) => accumulate_sse(input)
            .map(|message| message.to_json())
            .map_err(|failure| failure.to_json()),
    };
    let (value, code): (Value, u8) = match output {
        Ok(message) => (message, exit::OK),
        Err(failure) => (failure, 1),
    };
    let mut out = io::stdout().lock();
    let written = serde_json::to_writer(&mut out, &value)
        .map_err(io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if written.is_err() {
        return 1;
    }
    code
}
