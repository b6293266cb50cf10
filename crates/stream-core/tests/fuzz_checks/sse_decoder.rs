//! The SSE decoder on arbitrary bytes cut at arbitrary points: it never panics, the events (and
//! errors) of the split feed (borrowed API, and owned with every piece fed before reading)
//! equal those of the whole feed (owned API), and so does what the stream leaves at its end
//! (the last event ID, the reconnection time, whether it was cut inside an event); with default
//! limits all of it equals the reference decoder's, kept in the tests.

use crate::reference::{self, RefEnd, RefEvent};
use arbitrary::Arbitrary;
use stream_core::sse::{Decoder, DecoderConfig, SseError, Utf8Mode};

#[derive(Debug, Arbitrary)]
struct Input {
    cuts: Vec<u16>,
    strict: bool,
    flush_at_end: bool,
    small_limits: Option<(u8, u8)>,
    bytes: Vec<u8>,
}

#[derive(Debug, PartialEq)]
enum Out {
    Event(RefEvent),
    Error(SseError),
}

/// Decodes `pieces` with the owned API (`next_event`) or the borrowed one (`next_event_ref`),
/// reading after each piece or (`queued`) only once all are fed; returns the events and errors,
/// and what the stream left.
fn run(
    config: &DecoderConfig,
    pieces: &[&[u8]],
    borrowed: bool,
    queued: bool,
) -> (Vec<Out>, RefEnd) {
    let mut decoder = Decoder::with_config(config.clone());
    let mut out = Vec::new();
    let mut drain = |decoder: &mut Decoder| loop {
        match RefEvent::next(decoder, borrowed) {
            Ok(Some(event)) => out.push(Out::Event(event)),
            Ok(None) => break,
            Err(err) => out.push(Out::Error(err)),
        }
    };
    for piece in pieces {
        decoder.feed_slice(piece);
        if queued {
            continue;
        }
        drain(&mut decoder);
        assert!(
            decoder.buffered_len() <= config.max_line_len_limit() + config.max_event_size_limit()
        );
    }
    decoder.finish();
    drain(&mut decoder);
    assert!(decoder.next_event().unwrap().is_none());
    assert!(decoder.is_finished());
    let end = RefEnd {
        last_event_id: decoder.last_event_id().to_owned(),
        reconnection_time: decoder.reconnection_time(),
        mid_event: decoder.is_mid_event(),
    };
    assert_eq!(decoder.reconnected().last_event_id(), end.last_event_id);
    (out, end)
}

/// Runs the target on one input: the bytes are read as the fuzzer reads them
/// (`arbitrary`, taking the rest), and inputs that do not decode are skipped.
pub(crate) fn check(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(arbitrary::Unstructured::new(data)) else {
        return;
    };
    let mut config = DecoderConfig::new()
        .dispatch_incomplete_at_end(input.flush_at_end)
        .utf8(if input.strict {
            Utf8Mode::Strict
        } else {
            Utf8Mode::Lossy
        });
    if let Some((line, event)) = input.small_limits {
        config = config
            .max_line_len(usize::from(line))
            .max_event_size(usize::from(event));
    }
    let bytes = &input.bytes;
    let mut cuts: Vec<usize> = input
        .cuts
        .iter()
        .map(|&c| usize::from(c) % (bytes.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for cut in cuts {
        pieces.push(&bytes[start..cut]);
        start = cut;
    }
    pieces.push(&bytes[start..]);

    // The whole feed through the owned API, the split feed through the borrowed one, and the
    // split feed read only once every piece is in (chunk boundaries crossed with input
    // waiting).
    let whole = run(&config, &[bytes], false, false);
    assert_eq!(
        run(&config, &pieces, true, false),
        whole,
        "split feed differs from whole feed"
    );
    assert_eq!(
        run(&config, &pieces, false, true),
        whole,
        "split feed read at the end differs from whole feed"
    );

    if input.small_limits.is_none() && !input.strict {
        let (events, end) = reference::decode_with_end(bytes, input.flush_at_end);
        let reference: Vec<Out> = events.into_iter().map(Out::Event).collect();
        assert_eq!(
            whole,
            (reference, end),
            "decoder differs from the reference decoder"
        );
    }
}
