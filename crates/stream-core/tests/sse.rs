//! Conformance tests of the SSE decoder: every vector is fed whole, one byte at a time, and
//! split in two at every offset, and must give the same events each way; property tests compare
//! arbitrary input and arbitrary chunking against a small reference decoder.

#[path = "support/reference.rs"]
mod reference;

use bytes::Bytes;
use proptest::prelude::*;
use reference::RefEvent;
use stream_core::sse::{Decoder, DecoderConfig, Event, INLINE_DATA_LEN, SseError, Utf8Mode};

/// What the decoder produced, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Out {
    Event(RefEvent),
    Error(SseError),
}

/// Decodes `pieces` with the owned API and with the borrowed one; both must agree.
fn run(config: &DecoderConfig, pieces: &[&[u8]]) -> Vec<Out> {
    let owned = run_with(config, pieces, false, false);
    assert_eq!(
        run_with(config, pieces, true, false),
        owned,
        "next_event_ref and next_event differ"
    );
    assert_eq!(
        run_with(config, pieces, true, true),
        owned,
        "feeding every piece before reading differs"
    );
    owned
}

/// Feeds the pieces one at a time, reading every event after each, or (`queued`) all of them
/// before reading any, so that chunk boundaries are crossed with more input waiting.
fn run_with(config: &DecoderConfig, pieces: &[&[u8]], borrowed: bool, queued: bool) -> Vec<Out> {
    let mut decoder = Decoder::with_config(config.clone());
    let mut out = Vec::new();
    let drain = |decoder: &mut Decoder, out: &mut Vec<Out>| {
        loop {
            match RefEvent::next(decoder, borrowed) {
                Ok(Some(event)) => out.push(Out::Event(event)),
                Ok(None) => break,
                Err(err) => out.push(Out::Error(err)),
            }
        }
    };
    for piece in pieces {
        decoder.feed_slice(piece);
        if !queued {
            drain(&mut decoder, &mut out);
        }
    }
    decoder.finish();
    drain(&mut decoder, &mut out);
    assert!(decoder.is_finished());
    assert!(
        decoder.next_event().unwrap().is_none(),
        "nothing after the end"
    );
    out
}

/// Feeds `input` whole, byte by byte and split at every offset; all must agree. Returns the
/// outcome of the whole feed.
fn run_every_way(config: &DecoderConfig, input: &[u8]) -> Vec<Out> {
    let whole = run(config, &[input]);
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        run(config, &bytes),
        whole,
        "byte by byte differs for {input:?}"
    );
    for cut in 0..=input.len() {
        let (a, b) = input.split_at(cut);
        assert_eq!(
            run(config, &[a, b]),
            whole,
            "split at {cut} differs for {input:?}"
        );
    }
    whole
}

fn ev(event: &str, data: &str, id: &str, retry: Option<u64>) -> Out {
    Out::Event(RefEvent {
        event: event.to_owned(),
        data: data.to_owned(),
        id: id.to_owned(),
        retry,
    })
}

fn msg(data: &str) -> Out {
    ev("message", data, "", None)
}

/// Checks a vector every way, against the expected events and against the reference decoder.
fn check(input: &[u8], expected: &[Out]) {
    let config = DecoderConfig::new();
    let got = run_every_way(&config, input);
    assert_eq!(got, expected, "input {input:?}");
    let reference: Vec<Out> = reference::decode(input, false)
        .into_iter()
        .map(Out::Event)
        .collect();
    assert_eq!(got, reference, "reference disagrees on {input:?}");
}

// --- The examples of the WHATWG standard (section 9.2.5 and 9.2.6) ---

#[test]
fn spec_stock_ticker() {
    check(
        b"data: YHOO\ndata: +2\ndata: 10\n\n",
        &[msg("YHOO\n+2\n10")],
    );
}

#[test]
fn spec_four_blocks() {
    check(
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
        &[
            ev("message", "first event", "1", None),
            ev("message", "second event", "", None),
            ev("message", " third event", "", None),
        ],
    );
}

#[test]
fn spec_empty_data_lines() {
    check(b"data\n\ndata\ndata\n\ndata:", &[msg(""), msg("\n")]);
}

#[test]
fn spec_space_after_colon_is_optional() {
    check(b"data:test\n\ndata: test\n\n", &[msg("test"), msg("test")]);
}

#[test]
fn spec_event_types() {
    check(
        b"event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n",
        &[
            ev("add", "73857293", "", None),
            ev("remove", "2153", "", None),
            ev("add", "113411", "", None),
        ],
    );
}

// --- Line ends ---

#[test]
fn line_ends_lf_cr_crlf_and_mixed() {
    check(
        b"data: a\r\n\r\ndata: b\r\rdata: c\n\ndata: d\r\n\n",
        &[msg("a"), msg("b"), msg("c"), msg("d")],
    );
}

#[test]
fn cr_cr_is_two_line_ends() {
    check(b"data: a\r\r", &[msg("a")]);
}

#[test]
fn lf_cr_is_two_line_ends() {
    check(b"data: a\n\rdata: b\n\n", &[msg("a"), msg("b")]);
}

#[test]
fn cr_at_chunk_end_then_lf() {
    let config = DecoderConfig::new();
    let out = run(&config, &[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
    assert_eq!(out, [msg("a\nb")]);
}

#[test]
fn cr_at_chunk_end_then_other_byte() {
    let config = DecoderConfig::new();
    let out = run(&config, &[b"data: a\r", b"\r", b"data: b\r", b"\r"]);
    assert_eq!(out, [msg("a"), msg("b")]);
}

#[test]
fn trailing_cr_at_end_of_stream_ends_the_line() {
    check(b"data: a\r\r", &[msg("a")]);
    check(b"data: a\n\r", &[msg("a")]);
}

#[test]
fn other_unicode_line_breaks_do_not_end_lines() {
    check(
        "data: a\u{0B}b\u{0C}c\u{85}d\u{2028}e\u{2029}f\n\n".as_bytes(),
        &[msg("a\u{0B}b\u{0C}c\u{85}d\u{2028}e\u{2029}f")],
    );
}

// --- Fields ---

#[test]
fn comments_and_unknown_fields_are_ignored() {
    check(
        b":comment\n: another\nfoo: bar\nDATA: no\nData: no\n data: no\ndata: yes\n\n",
        &[msg("yes")],
    );
}

#[test]
fn only_one_leading_space_is_removed() {
    check(
        b"data:  two\n\ndata:\tTab\n\n",
        &[msg(" two"), msg("\tTab")],
    );
}

#[test]
fn field_without_colon_has_empty_value() {
    check(b"data\n\nevent\ndata: x\n\n", &[msg(""), msg("x")]);
}

#[test]
fn colon_in_value_is_kept() {
    check(b"data: a: b:c\n\n", &[msg("a: b:c")]);
}

#[test]
fn event_type_resets_after_dispatch_and_on_empty_block() {
    check(
        b"event: one\n\ndata: a\n\nevent: two\ndata: b\n\ndata: c\n\nevent:\ndata: d\n\n",
        &[msg("a"), ev("two", "b", "", None), msg("c"), msg("d")],
    );
}

#[test]
fn last_event_type_in_block_wins() {
    check(
        b"event: a\nevent: b\ndata: x\n\n",
        &[ev("b", "x", "", None)],
    );
}

#[test]
fn id_persists_across_events_and_can_be_reset() {
    check(
        b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 2\n\ndata: d\n\n",
        &[
            ev("message", "a", "1", None),
            ev("message", "b", "1", None),
            ev("message", "c", "", None),
            ev("message", "d", "2", None),
        ],
    );
}

#[test]
fn id_with_nul_is_ignored() {
    check(
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\nid: \x00\ndata: c\n\n",
        &[
            ev("message", "a", "1", None),
            ev("message", "b", "1", None),
            ev("message", "c", "1", None),
        ],
    );
}

#[test]
fn nul_in_data_and_type_is_kept() {
    check(
        b"event: a\x00b\ndata: x\x00y\n\n",
        &[ev("a\0b", "x\0y", "", None)],
    );
}

#[test]
fn retry_only_all_ascii_digits() {
    check(
        b"retry: 1000\ndata: a\n\nretry: 1a\ndata: b\n\nretry:\ndata: c\n\nretry:  5\ndata: d\n\nretry: -5\ndata: e\n\nretry: 5.0\ndata: f\n\nretry: \xD9\xA3\ndata: g\n\nretry: 0\ndata: h\n\n",
        &[
            ev("message", "a", "", Some(1000)),
            msg("b"),
            msg("c"),
            msg("d"),
            msg("e"),
            msg("f"),
            msg("g"),
            ev("message", "h", "", Some(0)),
        ],
    );
}

#[test]
fn retry_belongs_to_its_block_and_last_valid_wins() {
    check(
        b"retry: 7\n\ndata: a\n\nretry: 1\nretry: x\nretry: 2\nretry: y\ndata: b\n\n",
        &[msg("a"), ev("message", "b", "", Some(2))],
    );
    let mut decoder = Decoder::new();
    decoder.feed("retry: 7\n\n");
    assert!(decoder.next_event().unwrap().is_none());
    assert_eq!(decoder.reconnection_time(), Some(7));
}

#[test]
fn huge_retry_saturates() {
    check(
        b"retry: 99999999999999999999999\ndata: a\n\n",
        &[ev("message", "a", "", Some(u64::MAX))],
    );
}

#[test]
fn leading_zeros_in_retry() {
    check(
        b"retry: 007\ndata: a\n\n",
        &[ev("message", "a", "", Some(7))],
    );
}

// --- End of stream ---

#[test]
fn incomplete_event_at_end_is_discarded() {
    check(b"data: a\n\ndata: b\n", &[msg("a")]);
    check(b"data: a\n\ndata: b", &[msg("a")]);
    check(b"event: x\n", &[]);
    check(b"", &[]);
}

#[test]
fn opt_in_flush_dispatches_the_incomplete_event() {
    let config = DecoderConfig::new().dispatch_incomplete_at_end(true);
    for input in [
        &b"data: a\n\ndata: b\n"[..],
        b"data: a\n\ndata: b",
        b"data: a\n\ndata: b\r",
    ] {
        let got = run_every_way(&config, input);
        assert_eq!(got, [msg("a"), msg("b")], "{input:?}");
        let reference: Vec<Out> = reference::decode(input, true)
            .into_iter()
            .map(Out::Event)
            .collect();
        assert_eq!(got, reference);
    }
}

// --- UTF-8 and the BOM ---

#[test]
fn bom_is_stripped_once() {
    check(b"\xEF\xBB\xBFdata: a\n\n", &[msg("a")]);
    // A second BOM makes the field name "\u{FEFF}data", which is unknown.
    check(
        b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n",
        &[msg("b")],
    );
    // Not at offset 0: kept as U+FEFF.
    check(b"data: \xEF\xBB\xBFa\n\n", &[msg("\u{FEFF}a")]);
}

#[test]
fn bom_split_across_chunks_is_stripped() {
    let config = DecoderConfig::new();
    assert_eq!(
        run(&config, &[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"]),
        [msg("a")]
    );
    assert_eq!(
        run(&config, &[b"\xEF\xBB", b"\xBF", b"data: a\n\n"]),
        [msg("a")]
    );
}

#[test]
fn partial_bom_is_invalid_utf8_not_dropped() {
    check(b"\xEF\xBBdata: a\n\ndata: b\n\n", &[msg("b")]);
    check(b"\xEF\n\ndata: b\n\n", &[msg("b")]);
    check(b"\xEF", &[]);
    let config = DecoderConfig::new().dispatch_incomplete_at_end(true);
    assert_eq!(run(&config, &[b"data:\xEF", b"\xBB"]), [msg("\u{FFFD}")]);
}

#[test]
fn invalid_utf8_is_replaced_per_maximal_subpart() {
    check(
        b"data: a\xFFb\xC3(\xE2\x82\xF0\x9F\x98z\n\n",
        &[msg("a\u{FFFD}b\u{FFFD}(\u{FFFD}\u{FFFD}z")],
    );
    // An overlong encoding and a surrogate: one U+FFFD per byte.
    check(
        b"data: \xC0\xAF\xED\xA0\x80\n\n",
        &[msg("\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}")],
    );
    // Truncated sequence right before the line end.
    check(
        b"data: \xE2\x82\ndata: \xF0\x9F\x98\x80\n\n",
        &[msg("\u{FFFD}\n\u{1F600}")],
    );
    check(
        b"event: \xFF\ndata: x\n\n",
        &[ev("\u{FFFD}", "x", "", None)],
    );
    check(
        b"id: \xFF\ndata: x\n\n",
        &[ev("message", "x", "\u{FFFD}", None)],
    );
}

#[test]
fn multibyte_split_across_chunks() {
    check("data: é中😀\n\n".as_bytes(), &[msg("é中😀")]);
}

#[test]
fn strict_utf8_reports_and_resyncs() {
    let config = DecoderConfig::new().utf8(Utf8Mode::Strict);
    let got = run_every_way(
        &config,
        b"data: ok\n\ndata: a\xFFb\ndata: more\n\ndata: after\n\n",
    );
    assert_eq!(
        got,
        [
            msg("ok"),
            Out::Error(SseError::InvalidUtf8 {
                offset: 10,
                valid_up_to: 7
            }),
            msg("after"),
        ]
    );
    // Invalid UTF-8 in a comment is still invalid in strict mode.
    let got = run_every_way(&config, b": \xC3\n\ndata: after\n\n");
    assert_eq!(
        got,
        [
            Out::Error(SseError::InvalidUtf8 {
                offset: 0,
                valid_up_to: 2
            }),
            msg("after")
        ]
    );
    assert_eq!(run_every_way(&config, "data: é\n\n".as_bytes()), [msg("é")]);
}

// --- Limits ---

#[test]
fn line_too_long_errors_and_resyncs() {
    let config = DecoderConfig::new().max_line_len(12);
    let got = run_every_way(
        &config,
        b"data: ok\n\ndata: 123456789\ndata: x\n\ndata: after\n\n",
    );
    assert_eq!(
        got,
        [
            msg("ok"),
            Out::Error(SseError::LineTooLong {
                limit: 12,
                offset: 10
            }),
            msg("after"),
        ]
    );
    // Exactly at the limit is fine.
    assert_eq!(run_every_way(&config, b"data: 123456\n\n"), [msg("123456")]);
    // An unterminated long line at the end still errors.
    assert_eq!(
        run_every_way(&config, b"data: 123456789"),
        [Out::Error(SseError::LineTooLong {
            limit: 12,
            offset: 0
        })]
    );
}

#[test]
fn event_too_large_errors_and_resyncs() {
    let config = DecoderConfig::new().max_event_size(10);
    let got = run_every_way(
        &config,
        b"data: 12345\ndata: 1234\n\ndata: 12345\ndata: 12345\ndata: x\n\nevent: 12345678901\ndata: y\n\ndata: after\n\n",
    );
    assert_eq!(
        got,
        [
            msg("12345\n1234"),
            Out::Error(SseError::EventTooLarge {
                limit: 10,
                offset: 36
            }),
            Out::Error(SseError::EventTooLarge {
                limit: 10,
                offset: 57
            }),
            msg("after"),
        ]
    );
}

#[test]
fn event_size_counts_replacement_characters() {
    // Two invalid bytes are kept as two U+FFFD, six bytes: over a limit of four.
    let config = DecoderConfig::new().max_event_size(4);
    let got = run_every_way(
        &config,
        b"data: \xFF\xFF\n\nevent: \xFF\xFF\ndata: a\n\ndata: \xFF\n\n",
    );
    assert_eq!(
        got,
        [
            Out::Error(SseError::EventTooLarge {
                limit: 4,
                offset: 0
            }),
            Out::Error(SseError::EventTooLarge {
                limit: 4,
                offset: 10
            }),
            msg("\u{FFFD}"),
        ]
    );
}

#[test]
fn one_gib_line_stays_bounded() {
    let config = DecoderConfig::new();
    let limit = config.max_line_len_limit();
    let mut decoder = Decoder::with_config(config);
    decoder.feed("data: before\n\n");
    assert_eq!(decoder.next_event().unwrap().unwrap().data(), "before");
    let chunk = Bytes::from(vec![b'x'; 1 << 20]);
    let mut errors = Vec::new();
    let mut peak = 0;
    for _ in 0..1024 {
        decoder.feed(chunk.clone());
        loop {
            match decoder.next_event() {
                Ok(Some(event)) => panic!("unexpected event {event:?}"),
                Ok(None) => break,
                Err(err) => errors.push(err),
            }
        }
        peak = peak.max(decoder.buffered_len());
    }
    assert_eq!(errors, [SseError::LineTooLong { limit, offset: 14 }]);
    assert!(
        peak <= limit,
        "buffered {peak} bytes with a limit of {limit}"
    );
    assert_eq!(decoder.buffered_len(), 0);
    decoder.feed("\n\ndata: after\n\n");
    assert_eq!(decoder.next_event().unwrap().unwrap().data(), "after");
}

// --- Zero copy ---

/// Whether two owned strings lie in one copy of `chunk` (the validated window they were read
/// from): as far apart as their text is in the chunk. Copies of their own would be two
/// allocations, at no such distance but by chance.
fn one_buffer(chunk: &[u8], a: &str, b: &str) -> bool {
    let find = |text: &str| {
        chunk
            .windows(text.len())
            .position(|w| w == text.as_bytes())
            .unwrap()
    };
    b.as_ptr().addr().wrapping_sub(a.as_ptr().addr()) == find(b) - find(a)
}

/// Data longer than what an owned event keeps inline.
fn long_data(tag: &str) -> String {
    let data = format!("{tag}:{}", "x".repeat(INLINE_DATA_LEN));
    assert!(data.len() > INLINE_DATA_LEN);
    data
}

#[test]
fn events_after_invalid_utf8_still_share_one_window() {
    let (payload_data, more_data) = (long_data("payload"), long_data("more"));
    let mut wire = b"data: caf\xC3\n\n".to_vec();
    wire.extend_from_slice(
        format!("event: e\ndata: {payload_data}\n\ndata: {more_data}\n\n").as_bytes(),
    );
    let chunk = Bytes::from(wire);
    let mut decoder = Decoder::new();
    decoder.feed(chunk.clone());
    assert_eq!(decoder.next_event().unwrap().unwrap().data(), "caf\u{FFFD}");
    let payload = decoder.next_event().unwrap().unwrap();
    let more = decoder.next_event().unwrap().unwrap();
    assert_eq!((payload.data(), more.data()), (&*payload_data, &*more_data));
    assert!(
        one_buffer(&chunk, payload.data(), more.data()),
        "each event's data was copied on its own"
    );
}

#[test]
fn long_data_of_one_chunk_shares_one_window() {
    let (first_data, second_data) = (long_data("first"), long_data("second"));
    let chunk = Bytes::from(format!(
        "event: e\ndata: {first_data}\n\nid: 1\ndata: {second_data}\n\n"
    ));
    let mut decoder = Decoder::new();
    decoder.feed(chunk.clone());
    let first = decoder.next_event().unwrap().unwrap();
    let second = decoder.next_event().unwrap().unwrap();
    assert!(one_buffer(&chunk, first.data(), second.data()));
    // The bytes are the same buffer, not a copy.
    assert_eq!(first.data_bytes(), first_data.as_bytes());
    assert_eq!(first.data_bytes().as_ptr(), first.data().as_ptr());
    // The ID is a slice of the chunk itself: it may outlive many windows.
    assert!(chunk.as_ptr_range().contains(&second.id().as_ptr()));
}

#[test]
fn short_data_is_kept_inline_in_owned_events() {
    let data = "d".repeat(INLINE_DATA_LEN);
    let mut decoder = Decoder::new();
    decoder.feed(format!("event: e\ndata: {data}\n\ndata: a\ndata: b\n\n"));
    let first = decoder.next_event().unwrap().unwrap();
    let second = decoder.next_event().unwrap().unwrap();
    for (event, data) in [(&first, &*data), (&second, "a\nb")] {
        assert_eq!(event.data(), data);
        let inside = core::ptr::from_ref(event).cast::<u8>();
        let event_bytes = inside..inside.wrapping_add(size_of::<Event>());
        assert!(
            event_bytes.contains(&event.data().as_ptr()),
            "the data is not inside the event"
        );
        assert_eq!(event.data_bytes(), data.as_bytes());
    }
    // Moved to the heap, the event takes its data along.
    let moved = Box::new(first);
    assert_eq!(moved.data(), data);
    let inside = core::ptr::from_ref(&*moved).cast::<u8>();
    assert!((inside..inside.wrapping_add(size_of::<Event>())).contains(&moved.data().as_ptr()));
}

/// A line that a chunk ends in the middle of is held (as the window's tail, not yet copied
/// anywhere) and counted, whatever comes next: its end, more of it, or the end of the stream.
#[test]
fn a_line_cut_by_the_chunk_end_is_held_and_counted() {
    // Ends in the next chunk.
    let mut decoder = Decoder::new();
    decoder.feed("data: one\n\ndata: ab");
    assert_eq!(decoder.next_event().unwrap().unwrap().data(), "one");
    assert!(decoder.next_event().unwrap().is_none());
    assert!(decoder.is_mid_event());
    assert_eq!(decoder.buffered_len(), "data: ab".len());
    decoder.feed("c\n\n");
    // Fed, not yet read: the line's start is still held.
    assert!(decoder.is_mid_event());
    assert_eq!(decoder.buffered_len(), "data: abc\n\n".len());
    assert_eq!(decoder.next_event().unwrap().unwrap().data(), "abc");
    assert!(!decoder.is_mid_event());
    assert_eq!(decoder.buffered_len(), 0);

    // Goes on over two more chunks, the first of them without a line end.
    decoder.feed("data: x\n\ndata: 1");
    assert_eq!(decoder.next_event().unwrap().unwrap().data(), "x");
    assert!(decoder.next_event().unwrap().is_none());
    decoder.feed("23");
    assert!(decoder.next_event().unwrap().is_none());
    assert_eq!(decoder.buffered_len(), "data: 123".len());
    decoder.feed("4\n\n");
    assert_eq!(decoder.next_event().unwrap().unwrap().data(), "1234");

    // Ends the stream: dropped, or dispatched with the opt-in.
    for (flush, expected) in [(false, None), (true, Some("last"))] {
        let mut decoder =
            Decoder::with_config(DecoderConfig::new().dispatch_incomplete_at_end(flush));
        decoder.feed("data: x\n\ndata: last");
        assert_eq!(decoder.next_event().unwrap().unwrap().data(), "x");
        assert!(decoder.next_event().unwrap().is_none());
        decoder.finish();
        let last = decoder.next_event().unwrap();
        assert_eq!(last.as_ref().map(Event::data), expected);
        assert!(decoder.next_event().unwrap().is_none());
    }
}

#[test]
fn a_cut_line_is_carried_while_owned_events_hold_the_window() {
    let (first, second) = (long_data("first"), long_data("second"));
    let mut decoder = Decoder::new();
    decoder.feed(format!("data: {first}\n\ndata: {}", &second[..10]));
    let held = decoder.next_event().unwrap().unwrap();
    assert!(decoder.next_event().unwrap().is_none());
    decoder.feed(format!("{}\n\n", &second[10..]));
    let next = decoder.next_event().unwrap().unwrap();
    assert_eq!((held.data(), next.data()), (&*first, &*second));
}

// --- Recorded streams ---

#[test]
fn every_fixture_decodes_the_same_every_way() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/anthropic");
    let mut files = 0;
    for sub in std::fs::read_dir(dir).expect("fixtures/ in the repository") {
        for file in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let input = std::fs::read(&path).unwrap();
            let got = run_every_way(&DecoderConfig::new(), &input);
            let reference: Vec<Out> = reference::decode(&input, false)
                .into_iter()
                .map(Out::Event)
                .collect();
            assert_eq!(got, reference, "{}", path.display());
            assert!(
                got.len() >= 4,
                "{} gave {} events",
                path.display(),
                got.len()
            );
            for out in &got {
                let Out::Event(event) = out else {
                    panic!("error in {}", path.display())
                };
                let json: serde_json::Value = serde_json::from_str(&event.data).unwrap();
                assert_eq!(json["type"], event.event, "{}", path.display());
            }
            files += 1;
        }
    }
    assert!(files >= 16, "found only {files} fixtures");
}

// --- Properties ---

/// Bytes drawn mostly from the characters that matter to SSE, so that random inputs hit
/// fields, line ends, BOMs and broken UTF-8 often.
fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(&b"data"[..]),
        Just(&b"event"[..]),
        Just(&b"id"[..]),
        Just(&b"retry"[..]),
        Just(&b": "[..]),
        Just(&b":"[..]),
        Just(&b"\n"[..]),
        Just(&b"\r"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"\n\n"[..]),
        Just(&b"\xEF\xBB\xBF"[..]),
        Just(&b"\xEF\xBB"[..]),
        Just(&b"\xC3"[..]),
        Just("é".as_bytes()),
        Just(&b"\0"[..]),
        Just(&b"12"[..]),
        Just(&b" "[..]),
        Just(&b"x"[..]),
        Just(&b"event: ping"[..]),
        Just(&b"event: content_block_delta"[..]),
        Just(&b"data: "[..]),
    ];
    prop::collection::vec(
        prop_oneof![
            token.prop_map(<[u8]>::to_vec),
            any::<u8>().prop_map(|b| vec![b])
        ],
        0..80,
    )
    .prop_map(|parts| parts.concat())
}

fn pieces_at(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for cut in cuts {
        pieces.push(input[start..cut].to_vec());
        start = cut;
    }
    pieces.push(input[start..].to_vec());
    pieces
}

/// Streams of blocks in and near the shape the decoder reads in one go (an `event` line with a
/// known name, one `data` line, a blank line), with every way to step out of it: other names,
/// a second `event` or `data` line, `id`, `retry` and comment lines, and each line ending with
/// LF, CRLF or a lone CR.
fn block_stream() -> impl Strategy<Value = Vec<u8>> {
    let eol = prop_oneof![8 => Just("\n"), 2 => Just("\r\n"), 1 => Just("\r")];
    let name = prop_oneof![
        Just("content_block_delta"),
        Just("ping"),
        Just("message_stop"),
        Just("message"),
        Just("content_block"),
        Just("ping2"),
        Just(""),
    ];
    let extra = prop_oneof![
        Just("id: 7"),
        Just("retry: 15"),
        Just(": comment"),
        Just("data: second"),
        Just("event: error"),
        Just("data"),
        Just("event:ping"),
    ];
    let block = (
        prop::option::of((name, eol.clone())),
        prop::option::of((extra, eol.clone())),
        "[a-z \u{e9}{}\"]{0,12}",
        eol.clone(),
        eol,
    )
        .prop_map(|(event, extra, data, data_eol, blank)| {
            let mut block = String::new();
            if let Some((name, eol)) = event {
                block += &format!("event: {name}{eol}");
            }
            if let Some((line, eol)) = extra {
                block += &format!("{line}{eol}");
            }
            block + &format!("data: {data}{data_eol}{blank}")
        });
    prop::collection::vec(block, 0..12).prop_map(|blocks| blocks.concat().into_bytes())
}

proptest! {
    // Each case feeds its input split at every offset: fewer cases than the cheap properties.
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn quick_path_shapes_match_reference(input in block_stream(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        let config = DecoderConfig::new();
        let reference: Vec<Out> = reference::decode(&input, false).into_iter().map(Out::Event).collect();
        let pieces = pieces_at(&input, &cuts);
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(run(&config, &refs), reference);
        // One byte at a time, no line is ever whole in a chunk: the line-by-line path alone.
        prop_assert_eq!(run_every_way(&config, &input), run(&config, &refs));
    }

    #[test]
    fn quick_path_respects_small_limits(input in block_stream(), cuts in prop::collection::vec(any::<usize>(), 0..6), line in 1usize..40, event in 1usize..40) {
        let config = DecoderConfig::new().max_line_len(line).max_event_size(event);
        let pieces = pieces_at(&input, &cuts);
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(run_every_way(&config, &input), run(&config, &refs));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_chunking_matches_whole_and_reference(input in sse_bytes(), cuts in prop::collection::vec(any::<usize>(), 0..8)) {
        let config = DecoderConfig::new();
        let whole = run(&config, &[&input]);
        let pieces = pieces_at(&input, &cuts);
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(&run(&config, &refs), &whole);
        let reference: Vec<Out> = reference::decode(&input, false).into_iter().map(Out::Event).collect();
        prop_assert_eq!(&whole, &reference);
        let flush = DecoderConfig::new().dispatch_incomplete_at_end(true);
        let reference: Vec<Out> = reference::decode(&input, true).into_iter().map(Out::Event).collect();
        prop_assert_eq!(run(&flush, &refs), reference);
    }

    #[test]
    fn small_limits_are_chunking_invariant(input in sse_bytes(), cuts in prop::collection::vec(any::<usize>(), 0..8), line in 1usize..12, event in 1usize..16, strict in any::<bool>()) {
        let mode = if strict { Utf8Mode::Strict } else { Utf8Mode::Lossy };
        let config = DecoderConfig::new().max_line_len(line).max_event_size(event).utf8(mode);
        let whole = run(&config, &[&input]);
        let pieces = pieces_at(&input, &cuts);
        let refs: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(run(&config, &refs), whole);
    }

    #[test]
    fn valid_streams_round_trip(events in prop::collection::vec(("[a-z_]{0,8}", "[^\r\n]{0,20}", prop::option::of("[0-9]{1,4}")), 0..10), crlf in any::<bool>()) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut wire = String::new();
        let mut expected = Vec::new();
        for (event_type, data, retry) in &events {
            if !event_type.is_empty() {
                wire += &format!("event: {event_type}{eol}");
            }
            if let Some(retry) = retry {
                wire += &format!("retry: {retry}{eol}");
            }
            wire += &format!("data: {data}{eol}{eol}");
            expected.push(ev(
                if event_type.is_empty() { "message" } else { event_type },
                data,
                "",
                retry.as_ref().map(|r| r.parse().unwrap()),
            ));
        }
        prop_assert_eq!(run(&DecoderConfig::new(), &[wire.as_bytes()]), expected);
    }
}

#[test]
#[cfg(target_pointer_width = "64")]
fn an_owned_event_is_256_bytes() {
    // What the documentation of `INLINE_DATA_LEN` says, and what moving an event copies.
    assert_eq!(size_of::<Event>(), 256);
}
