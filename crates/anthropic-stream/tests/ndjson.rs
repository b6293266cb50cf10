//! NDJSON relay: every event of every recorded stream survives the trip through a JSON line,
//! and the reader is bounded and resynchronises after a bad line.

use std::path::PathBuf;

use anthropic_stream::ndjson::{self, NdjsonError, Reader};
use anthropic_stream::stream_core::sse::Decoder;
use anthropic_stream::{Accumulator, StreamEvent};

fn recorded_events() -> Vec<(String, Vec<StreamEvent>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/anthropic");
    let mut all = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        for file in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let mut decoder = Decoder::new();
            decoder.feed(std::fs::read(&path).unwrap());
            decoder.feed_slice(b"\n\n");
            decoder.finish();
            let mut events = Vec::new();
            while let Ok(Some(event)) = decoder.next_event() {
                if let Ok(event) = StreamEvent::parse(event.event_type(), event.data()) {
                    events.push(event);
                }
            }
            all.push((path.display().to_string(), events));
        }
    }
    assert!(all.len() >= 10);
    all
}

#[test]
fn every_recorded_event_survives_a_json_line() {
    for (name, events) in recorded_events() {
        let mut wire = Vec::new();
        for event in &events {
            ndjson::write(&mut wire, event).unwrap();
            assert_eq!(
                &ndjson::parse_line(&ndjson::to_line(event)).unwrap(),
                event,
                "{name}"
            );
        }
        let back: Vec<StreamEvent> = Reader::new(&wire[..]).map(Result::unwrap).collect();
        assert_eq!(back, events, "{name}");
    }
}

#[test]
fn relayed_events_fold_into_the_same_message() {
    for (name, events) in recorded_events() {
        let fold = |events: &mut dyn Iterator<Item = StreamEvent>| {
            let mut accumulator = Accumulator::new();
            for event in events {
                if accumulator.apply(&event).is_err() {
                    return None;
                }
            }
            accumulator.finish().ok()
        };
        let mut wire = Vec::new();
        for event in &events {
            ndjson::write(&mut wire, event).unwrap();
        }
        let direct = fold(&mut events.clone().into_iter());
        let relayed = fold(&mut Reader::new(&wire[..]).map(Result::unwrap));
        assert_eq!(direct, relayed, "{name}");
    }
}

#[test]
fn bad_lines_are_errors_of_their_own_and_reading_goes_on() {
    let input =
        b"{\"type\":\"ping\"}\n\nnot json\n\xFF\xFE\n{\"type\":\"message_stop\"}\r\n".to_vec();
    let items: Vec<_> = Reader::new(&input[..]).collect();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0].as_ref().unwrap(), &StreamEvent::Ping);
    assert!(matches!(items[1], Err(NdjsonError::Event { line: 3, .. })));
    assert!(matches!(items[2], Err(NdjsonError::NotUtf8 { line: 4 })));
    assert_eq!(items[3].as_ref().unwrap(), &StreamEvent::MessageStop);
}

#[test]
fn a_line_over_the_limit_is_skipped_with_an_error() {
    let mut input = vec![b'x'; 10_000];
    input.extend_from_slice(b"\n{\"type\":\"ping\"}\n");
    let items: Vec<_> = Reader::new(&input[..]).max_line_len(1000).collect();
    assert!(matches!(
        items[0],
        Err(NdjsonError::LineTooLong {
            line: 1,
            limit: 1000
        })
    ));
    assert_eq!(items[1].as_ref().unwrap(), &StreamEvent::Ping);
    assert_eq!(items.len(), 2);
}
