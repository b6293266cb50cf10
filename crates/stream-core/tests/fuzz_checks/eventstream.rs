//! The event stream decoder on arbitrary bytes cut at arbitrary points: it never panics, the
//! split feed gives the messages and the error of the whole feed, every message it reads
//! encodes back to the bytes it came from, and what it buffers stays within its limit. Half
//! the inputs are made of well-formed messages (built from the bytes), so that the fuzzer
//! reaches past the checksums.

use arbitrary::Arbitrary;
use stream_core::eventstream::{Decoder, EventStreamError, HeaderValue, Message};

/// A header to build: its name, a type byte and bytes for its value.
type HeaderSeed = (String, u8, Vec<u8>);

#[derive(Debug, Arbitrary)]
struct Input {
    cuts: Vec<u16>,
    limit: Option<u16>,
    /// Well-formed messages to write first, each a few headers and a payload.
    messages: Vec<(Vec<HeaderSeed>, Vec<u8>)>,
    /// Then these bytes, as they are (a corrupt or cut message).
    tail: Vec<u8>,
}

fn build(headers: &[HeaderSeed], payload: &[u8]) -> Option<Message> {
    let mut message = Message::new(payload.to_vec());
    for (name, kind, value) in headers {
        if name.is_empty() || name.len() > 255 || value.len() > 1000 {
            return None;
        }
        let mut raw = [0u8; 16];
        for (slot, byte) in raw.iter_mut().zip(value) {
            *slot = *byte;
        }
        let first = |n: usize| &raw[..n];
        let value = match kind % 10 {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(i8::from_be_bytes(first(1).try_into().unwrap())),
            3 => HeaderValue::Int16(i16::from_be_bytes(first(2).try_into().unwrap())),
            4 => HeaderValue::Int32(i32::from_be_bytes(first(4).try_into().unwrap())),
            5 => HeaderValue::Int64(i64::from_be_bytes(first(8).try_into().unwrap())),
            6 => HeaderValue::ByteArray(value.clone().into()),
            7 => HeaderValue::String(String::from_utf8_lossy(value).into_owned()),
            8 => HeaderValue::Timestamp(i64::from_be_bytes(first(8).try_into().unwrap())),
            _ => HeaderValue::Uuid(u128::from_be_bytes(raw)),
        };
        message = message.with_header(name.clone(), value);
    }
    Some(message)
}

fn run(pieces: &[&[u8]], limit: usize) -> (Vec<Message>, Option<EventStreamError>) {
    let mut decoder = Decoder::with_max_message_len(limit);
    let mut messages = Vec::new();
    let mut drain = |decoder: &mut Decoder| loop {
        match decoder.next_message() {
            Ok(Some(message)) => messages.push(message),
            Ok(None) => return None,
            Err(err) => {
                assert_eq!(decoder.next_message(), Err(err.clone()), "the error stays");
                return Some(err);
            }
        }
    };
    for piece in pieces {
        decoder.feed_slice(piece);
        if let Some(err) = drain(&mut decoder) {
            return (messages, Some(err));
        }
    }
    decoder.finish();
    let err = drain(&mut decoder);
    (messages, err)
}

/// Runs the target on one input: the bytes are read as the fuzzer reads them
/// (`arbitrary`, taking the rest), and inputs that do not decode are skipped.
pub(crate) fn check(data: &[u8]) {
    let Ok(input) = Input::arbitrary_take_rest(arbitrary::Unstructured::new(data)) else {
        return;
    };
    let mut bytes = Vec::new();
    let mut written = Vec::new();
    for (headers, payload) in &input.messages {
        if let Some(message) = build(headers, payload) {
            let wire = message.encode();
            bytes.extend_from_slice(&wire);
            written.push(message);
        }
    }
    bytes.extend_from_slice(&input.tail);
    let limit = input.limit.map_or(
        stream_core::eventstream::DEFAULT_MAX_MESSAGE_LEN,
        usize::from,
    );

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

    let whole = run(&[&bytes], limit);
    let split = run(&pieces, limit);
    assert_eq!(whole, split, "the split feed differs from the whole");

    // Every message read encodes back to its bytes, in order.
    let mut at = 0;
    for message in &whole.0 {
        let wire = message.encode();
        assert_eq!(&bytes[at..at + wire.len()], &wire[..]);
        at += wire.len();
    }
    // The well-formed messages come out whole while the limit allows them.
    let fitting = written
        .iter()
        .take_while(|message| message.encode().len() <= limit)
        .count();
    assert_eq!(
        &whole.0[..fitting.min(whole.0.len())],
        &written[..fitting.min(whole.0.len())]
    );
    assert!(whole.0.len() >= fitting, "a well-formed message was lost");
}
