//! The decoder's steady state allocates nothing per event, borrowed or owned, even when events
//! span chunks: owned events keep data of up to `INLINE_DATA_LEN` bytes inline (longer data
//! shares the window it was read from), and the decoder's buffers are reused. Counted with a global allocator
//! that records every allocation (dhat in testing mode). dhat counts the allocations of every
//! thread, the test harness's own included (it allocates when a test finishes and its result is
//! printed), so the checks run one after the other inside one test, in a binary of their own.

use bytes::Bytes;
use stream_core::sse::{Decoder, DecoderConfig, SseError};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// `events` Messages-like events: CRLF line ends on some, an ID on each when `ids`, a comment
/// and a ping every 64.
fn wire(events: usize, ids: bool) -> Bytes {
    let mut wire = String::new();
    for i in 0..events {
        let crlf = if i % 13 == 0 { "\r\n" } else { "\n" };
        let id = if ids {
            format!("id: {i}{crlf}")
        } else {
            String::new()
        };
        wire += &format!(
            "event: content_block_delta{crlf}{id}data: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"caf\u{e9} {i:04}\"}}}}{crlf}{crlf}"
        );
        if i % 64 == 0 {
            wire += ": keep-alive\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n";
        }
    }
    Bytes::from(wire.into_bytes())
}

/// More than `min_events` events were read, with some bytes, and nothing was allocated since
/// `before`.
fn assert_no_allocations_since(
    before: &dhat::HeapStats,
    events: usize,
    bytes: usize,
    min_events: usize,
) {
    let allocations = dhat::HeapStats::get().total_blocks - before.total_blocks;
    assert!(events > min_events, "{events} events");
    assert!(bytes > 0);
    assert_eq!(
        allocations, 0,
        "{events} events cost {allocations} allocations"
    );
}

fn owned_events_in_one_chunk_allocate_nothing() {
    let _profiler = dhat::Profiler::builder().testing().build();

    // Under the decoder's 64 KiB window, so one validated copy serves every event.
    let chunk = wire(300, true);
    assert!(chunk.len() < 64 * 1024);
    let mut decoder = Decoder::new();
    decoder.feed(chunk);

    // The first event may allocate: the chunk's buffer becomes shared when first sliced, and
    // the decoder's text buffer is made.
    let first = decoder.next_event().unwrap().unwrap();
    assert_eq!(first.id(), "0");
    drop(first);

    let before = dhat::HeapStats::get();
    let mut events = 0;
    let mut bytes = 0;
    while let Some(event) = decoder.next_event().unwrap() {
        events += 1;
        bytes += event.data().len() + event.event_type().len() + event.id().len();
    }
    assert_no_allocations_since(&before, events, bytes, 300);
}

fn events_allocate_nothing_even_across_chunks(owned: bool) {
    let _profiler = dhat::Profiler::builder().testing().build();

    // Network-sized chunks, cut before counting: many events and lines span two chunks. (No
    // IDs: a new ID whose line spans two chunks is kept as a new string, once per ID change.)
    let wire = wire(2000, false);
    let chunks: Vec<Bytes> = (0..wire.len())
        .step_by(1460)
        .map(|start| wire.slice(start..wire.len().min(start + 1460)))
        .collect();
    let mut decoder = Decoder::new();
    let mut events = 0;
    let mut bytes = 0;
    let mut pass = |decoder: &mut Decoder| {
        for chunk in &chunks {
            decoder.feed(chunk.clone());
            if owned {
                while let Some(event) = decoder.next_event().unwrap() {
                    events += 1;
                    bytes += event.data().len() + event.event_type().len() + event.id().len();
                }
            } else {
                while let Some(event) = decoder.next_event_ref().unwrap() {
                    events += 1;
                    bytes += event.data().len() + event.event_type().len() + event.id().len();
                }
            }
        }
    };
    // The first pass sizes the decoder's reusable buffers for every line, partial line and
    // event of the stream; the stream then goes on with the same bytes in the same chunks.
    pass(&mut decoder);
    let before = dhat::HeapStats::get();
    pass(&mut decoder);
    assert_no_allocations_since(&before, events, bytes, 4000);
}

fn a_huge_chunk_is_read_a_window_at_a_time() {
    let _profiler = dhat::Profiler::builder().testing().build();

    // One 32 MiB chunk: many events, then a line with no end.
    let mut wire = Vec::with_capacity(32 << 20);
    while wire.len() < 16 << 20 {
        wire.extend_from_slice(b"event: content_block_delta\ndata: {\"text\":\"0123456789\"}\n\n");
    }
    wire.extend_from_slice(b"data: ");
    wire.resize(32 << 20, b'x');
    let chunk = Bytes::from(wire);
    let before = dhat::HeapStats::get();

    // Lines up to 1 MiB: the last one is refused as soon as it is seen, without buffering.
    let mut decoder = Decoder::with_config(DecoderConfig::new().max_line_len(1 << 20));
    decoder.feed(chunk);
    let mut events = 0;
    let error = loop {
        match decoder.next_event_ref() {
            Ok(Some(_)) => events += 1,
            Ok(None) => break None,
            Err(err) => break Some(err),
        }
    };
    assert!(events > 100_000, "{events} events");
    assert!(matches!(error, Some(SseError::LineTooLong { .. })));
    let after = dhat::HeapStats::get();
    let peak = after.max_bytes - before.curr_bytes;
    assert!(
        peak < 1 << 20,
        "decoding a 32 MiB chunk took {peak} bytes beyond the chunk"
    );
}

fn a_long_value_does_not_keep_its_buffer() {
    let _profiler = dhat::Profiler::builder().testing().build();

    // An 8 MiB `event` line split across chunks is joined in the type's buffer; a later line of
    // the same block replaces the type with a known name.
    let long_type = Bytes::from(format!("event: {}", "a".repeat(8 << 20)));
    let before = dhat::HeapStats::get();
    let mut decoder = Decoder::new();
    for chunk in [
        long_type.slice(..4 << 20),
        long_type.slice(4 << 20..),
        Bytes::from_static(b"\nevent: ping\ndata: {}\n\n"),
    ] {
        decoder.feed(chunk);
        while let Some(event) = decoder.next_event_ref().expect("valid") {
            assert_eq!((event.event_type(), event.data()), ("ping", "{}"));
        }
    }
    decoder.feed(Bytes::from_static(b"data: next\n\n"));
    assert_eq!(
        decoder.next_event_ref().expect("valid").map(|e| e.data()),
        Some("next")
    );
    // `long_type` itself was counted before.
    let held = dhat::HeapStats::get()
        .curr_bytes
        .saturating_sub(before.curr_bytes);
    assert!(held < 1 << 20, "the decoder still holds {held} bytes");
}

#[test]
fn allocations() {
    // dhat allows one profiler at a time, and another thread's allocations would count.
    owned_events_in_one_chunk_allocate_nothing();
    events_allocate_nothing_even_across_chunks(false);
    events_allocate_nothing_even_across_chunks(true);
    a_huge_chunk_is_read_a_window_at_a_time();
    a_long_value_does_not_keep_its_buffer();
}
