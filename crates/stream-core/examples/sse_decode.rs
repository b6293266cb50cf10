//! Decodes a `text/event-stream` body from standard input and prints one JSON object per
//! dispatched event: `{"event": ..., "data": ..., "id": ..., "retry": ...}` (`retry` only when
//! the event's block set one).
//!
//! This is the conformance interface of the decoder (`docs/conformance.md`): its output and
//! exit status are a contract. With `SSE_CHUNK_SPLITS=7,8,20` the input is read whole and fed
//! in pieces cut at those offsets; otherwise each read of standard input is fed as it comes.
//!
//! ```text
//! cargo run -q -p stream-core --example sse_decode < stream.sse
//! ```

use std::io::{self, BufWriter, Read, Write};

use stream_core::sse::{Decoder, EventRef};

fn main() -> io::Result<()> {
    let mut decoder = Decoder::new();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut stdin = io::stdin().lock();

    if let Ok(splits) = std::env::var("SSE_CHUNK_SPLITS") {
        let mut input = Vec::new();
        stdin.read_to_end(&mut input)?;
        let mut start = 0;
        for cut in splits
            .split(',')
            .filter_map(|s| s.trim().parse::<usize>().ok())
        {
            let cut = cut.clamp(start, input.len());
            decoder.feed_slice(&input[start..cut]);
            drain(&mut decoder, &mut out)?;
            start = cut;
        }
        decoder.feed_slice(&input[start..]);
        drain(&mut decoder, &mut out)?;
    } else {
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
    }
    decoder.finish();
    drain(&mut decoder, &mut out)?;
    out.flush()
}

/// Writes every event the decoder has ready; reports decoding errors on stderr and goes on.
fn drain(decoder: &mut Decoder, out: &mut impl Write) -> io::Result<()> {
    loop {
        match decoder.next_event_ref() {
            Ok(Some(event)) => write_event(event, out)?,
            Ok(None) => return Ok(()),
            Err(err) => eprintln!("sse_decode: {err}"),
        }
    }
}

fn write_event(event: EventRef<'_>, out: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &event.to_json())?;
    out.write_all(b"\n")
}
