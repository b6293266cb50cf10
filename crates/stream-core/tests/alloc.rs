//! The decoder's steady state allocates nothing per event: an event whose lines sit in one
//! chunk, with one data line, is a set of slices of that chunk. Counted with a global
//! allocator that records every allocation (dhat in testing mode), so this test lives in a
//! binary of its own.

use bytes::Bytes;
use stream_core::sse::Decoder;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn steady_state_events_allocate_nothing() {
    let _profiler = dhat::Profiler::builder().testing().build();

    let mut wire = String::new();
    for i in 0..1000 {
        let crlf = if i % 13 == 0 { "\r\n" } else { "\n" };
        wire += &format!(
            "event: content_block_delta{crlf}id: {i}{crlf}data: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"caf\u{e9} {i}\"}}}}{crlf}{crlf}"
        );
        if i % 64 == 0 {
            wire += ": keep-alive\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n";
        }
    }
    let chunk = Bytes::from(wire.into_bytes());
    let mut decoder = Decoder::new();
    decoder.feed(chunk);

    // The first event may allocate once: the chunk's buffer becomes shared when first sliced.
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
    let after = dhat::HeapStats::get();
    assert!(events > 1000, "{events} events");
    assert!(bytes > 0);
    assert_eq!(
        after.total_blocks - before.total_blocks,
        0,
        "{events} events cost {} allocations",
        after.total_blocks - before.total_blocks
    );
}
