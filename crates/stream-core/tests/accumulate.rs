//! The accumulator on every recorded stream (with its expected final message written out in
//! `tests/expected/`), on every protocol violation, and on arbitrary re-splits of the deltas.
//!
//! Regenerate the expected messages with `BLESS=1 cargo test -p stream-core --test accumulate`
//! and review the diff by hand.

// The event builders take `json!` temporaries by value for readability.
#![allow(clippy::needless_pass_by_value)]

use std::path::{Path, PathBuf};

#[path = "support/fixtures.rs"]
mod support;
use support::fixtures;

use proptest::prelude::*;
use serde_json::{Value, json};
use stream_core::accumulate::{AccumulateError, Accumulator, Derived, Violation};
use stream_core::messages::{BlockKind, ContentBlock, Message, StopReason, StreamEvent};
use stream_core::sse::Decoder;

fn expected_path(fixture: &Path) -> PathBuf {
    support::expected_path(fixture, "expected", "json")
}

/// The SSE events of a stream, decoded.
fn sse_events(bytes: &[u8]) -> Vec<(String, String)> {
    let mut decoder = Decoder::new();
    decoder.feed_slice(bytes);
    decoder.finish();
    let mut events = Vec::new();
    while let Some(event) = decoder.next_event().unwrap() {
        events.push((event.event_type().to_owned(), event.data().to_owned()));
    }
    events
}

fn parse_all(events: &[(String, String)]) -> Vec<StreamEvent> {
    events
        .iter()
        .map(|(name, data)| StreamEvent::parse(name, data).unwrap())
        .collect()
}

/// Applies every event; returns the first error, if any, and the accumulator.
fn accumulate(events: &[StreamEvent]) -> (Accumulator, Option<AccumulateError>) {
    let mut acc = Accumulator::new();
    let mut first = None;
    for event in events {
        if let Err(err) = acc.apply(event) {
            first.get_or_insert(err);
        }
    }
    (acc, first)
}

#[test]
fn every_fixture_gives_its_expected_final_message() {
    for fixture in fixtures() {
        let mut bytes = std::fs::read(&fixture).unwrap();
        bytes.extend_from_slice(b"\n\n");
        let events = parse_all(&sse_events(&bytes));
        let (acc, error) = accumulate(&events);
        assert_eq!(error, None, "{}", fixture.display());
        let message = acc
            .finish()
            .unwrap_or_else(|e| panic!("{}: {e}", fixture.display()));
        let got = message.to_json();
        assert_eq!(
            serde_json::to_value(&message).unwrap(),
            got,
            "Serialize and to_json differ"
        );
        let path = expected_path(&fixture);
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        }
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("{} missing", path.display())),
        )
        .unwrap();
        assert_eq!(got, expected, "{}", fixture.display());
    }
}

#[test]
fn fixtures_fed_as_they_are_end_in_truncation_unless_complete() {
    for fixture in fixtures() {
        let bytes = std::fs::read(&fixture).unwrap();
        let complete = bytes.ends_with(b"\n\n") || bytes.ends_with(b"\r\n\r\n");
        let (acc, error) = accumulate(&parse_all(&sse_events(&bytes)));
        assert_eq!(error, None);
        match acc.finish() {
            Ok(_) => assert!(complete, "{} should be truncated", fixture.display()),
            Err(incomplete) => {
                assert!(!complete, "{}: {}", fixture.display(), incomplete.error);
                assert!(matches!(
                    incomplete.error,
                    AccumulateError::Truncated { .. }
                ));
                let partial = incomplete.partial.expect("message_start was received");
                assert!(partial.id().is_some());
            }
        }
    }
}

#[test]
fn received_blocks_and_messages_round_trip_exactly() {
    for fixture in fixtures() {
        for (name, data) in sse_events(&std::fs::read(&fixture).unwrap()) {
            let raw: Value = serde_json::from_str(&data).unwrap();
            match StreamEvent::parse(&name, &data).unwrap() {
                StreamEvent::MessageStart(message) => {
                    assert_eq!(serde_json::to_value(&message).unwrap(), raw["message"]);
                    assert_eq!(message.to_json(), raw["message"]);
                }
                StreamEvent::ContentBlockStart { block, .. } => {
                    assert_eq!(serde_json::to_value(&block).unwrap(), raw["content_block"]);
                }
                StreamEvent::Unknown { .. } => {
                    panic!("{}: unknown event {name}", fixture.display())
                }
                _ => {}
            }
        }
    }
}

#[test]
fn final_messages_round_trip_through_serde() {
    for fixture in fixtures() {
        let mut bytes = std::fs::read(&fixture).unwrap();
        bytes.extend_from_slice(b"\n\n");
        let (acc, _) = accumulate(&parse_all(&sse_events(&bytes)));
        let message = acc.finish().unwrap();
        let text = serde_json::to_string(&message).unwrap();
        let back: Message = serde_json::from_str(&text).unwrap();
        assert_eq!(back, message);
    }
}

fn fixture_message(name: &str) -> Message {
    let path = fixtures().into_iter().find(|p| p.ends_with(name)).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    bytes.extend_from_slice(b"\n\n");
    let (acc, _) = accumulate(&parse_all(&sse_events(&bytes)));
    acc.finish().unwrap()
}

#[test]
fn fixture_rules_hold() {
    let basic = fixture_message("python-sdk/basic_response.txt");
    assert_eq!(basic.text(), "Hello there!");
    assert_eq!(basic.stop_reason(), Some(StopReason::EndTurn));

    let fallback = fixture_message("python-sdk/fallback_response.txt");
    assert_eq!(fallback.model(), Some("claude-sonnet-4-5"));

    let credit = fixture_message("python-sdk/fallback_credit_response.txt");
    assert_eq!(
        credit.as_json()["usage"]["fallback_credit"]["status"]["type"],
        "redeemed"
    );

    let container = fixture_message("typescript-sdk/code_execution_response.txt");
    assert_eq!(
        container.as_json()["container"]["id"],
        "container_01AbCdEfGhIjKlMnOpQrStUv"
    );

    let refusal = fixture_message("python-sdk/refusal_response.txt");
    assert_eq!(refusal.stop_reason(), Some(StopReason::Refusal));
    assert_eq!(refusal.stop_details().unwrap()["category"], "cyber");

    let tool = fixture_message("python-sdk/tool_use_response.txt");
    let block = tool
        .content()
        .iter()
        .find(|b| b.kind() == BlockKind::ToolUse)
        .unwrap();
    assert!(block.input().unwrap().is_object());
    assert!(!block.input().unwrap().as_object().unwrap().is_empty());

    // The tool call cut by max_tokens never gets its block stop: message_stop ends it with
    // the partial input rather than dropping what was received.
    let cut = fixture_message("typescript-sdk/incomplete_partial_json_response.txt");
    assert_eq!(cut.stop_reason(), Some(StopReason::MaxTokens));
    assert_eq!(cut.content()[1].input().unwrap()["filename"], "taxes.txt");
    assert_eq!(
        cut.content()[1].input().unwrap()["lines_of_text"][2],
        "## INTRODUCTION"
    );

    let compaction = fixture_message("python-sdk/compaction_response.txt");
    let block = &compaction.content()[0];
    assert_eq!(block.kind(), BlockKind::Compaction);
    assert!(block.as_json()["content"].is_string());
}

#[test]
fn incomplete_tool_input_is_handed_back() {
    let path = fixtures()
        .into_iter()
        .find(|p| p.ends_with("python-sdk/incomplete_partial_json_response.txt"))
        .unwrap();
    let events = parse_all(&sse_events(&std::fs::read(path).unwrap()));
    // Drop message_stop (the file lacks the final blank line anyway) and what follows.
    let (acc, error) = accumulate(&events);
    assert_eq!(error, None);
    assert!(acc.raw_tool_input(1).unwrap().contains("Filing taxes"));
    let snapshot = acc.tool_input(1).unwrap().clone();
    assert_eq!(snapshot["filename"], "taxes.txt");
    let incomplete = acc.finish().unwrap_err();
    assert_eq!(
        incomplete.error,
        AccumulateError::Truncated {
            open_blocks: vec![1]
        }
    );
    assert_eq!(incomplete.raw_tool_inputs.len(), 1);
    assert!(
        incomplete.raw_tool_inputs[0]
            .1
            .ends_with("\n\"Filing taxes")
    );
    let partial = incomplete.partial.unwrap();
    assert_eq!(partial.content()[1].input().unwrap(), &snapshot);
    assert_eq!(partial.stop_reason(), Some(StopReason::MaxTokens));
}

// --- Built streams ---

fn ev(name: &str, data: Value) -> StreamEvent {
    StreamEvent::parse(name, &data.to_string()).unwrap()
}

fn start() -> StreamEvent {
    ev(
        "message_start",
        json!({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1,"cache_read_input_tokens":7}}}),
    )
}

fn block_start(index: usize, block: Value) -> StreamEvent {
    ev(
        "content_block_start",
        json!({"type":"content_block_start","index":index,"content_block":block}),
    )
}

fn delta(index: usize, delta: Value) -> StreamEvent {
    ev(
        "content_block_delta",
        json!({"type":"content_block_delta","index":index,"delta":delta}),
    )
}

fn text(index: usize, text: &str) -> StreamEvent {
    delta(index, json!({"type":"text_delta","text":text}))
}

fn input(index: usize, fragment: &str) -> StreamEvent {
    delta(
        index,
        json!({"type":"input_json_delta","partial_json":fragment}),
    )
}

fn block_stop(index: usize) -> StreamEvent {
    ev(
        "content_block_stop",
        json!({"type":"content_block_stop","index":index}),
    )
}

fn stop() -> StreamEvent {
    ev("message_stop", json!({"type":"message_stop"}))
}

fn violation(events: &[StreamEvent]) -> Violation {
    match accumulate(events).1 {
        Some(AccumulateError::Violation(v)) => v,
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn interleaved_blocks_are_addressed_by_index() {
    let events = [
        start(),
        block_start(0, json!({"type":"text","text":""})),
        block_start(1, json!({"type":"tool_use","id":"t","name":"f","input":{}})),
        text(0, "a"),
        input(1, "{\"x\":"),
        text(0, "b"),
        input(1, " [1, 2]}"),
        block_stop(1),
        text(0, "c"),
        block_stop(0),
        stop(),
    ];
    let (acc, error) = accumulate(&events);
    assert_eq!(error, None);
    let message = acc.finish().unwrap();
    assert_eq!(message.content()[0].text(), Some("abc"));
    assert_eq!(message.content()[1].input(), Some(&json!({"x":[1,2]})));
}

#[test]
fn derived_events_name_the_right_block() {
    let events = [
        start(),
        block_start(0, json!({"type":"thinking","thinking":"","signature":""})),
        block_start(1, json!({"type":"text","text":""})),
        delta(0, json!({"type":"thinking_delta","thinking":"hm"})),
        text(1, "hi"),
        delta(0, json!({"type":"signature_delta","signature":"sig"})),
        delta(
            1,
            json!({"type":"citations_delta","citation":{"type":"char_location","cited_text":"x"}}),
        ),
        block_stop(0),
        stop(),
    ];
    let mut acc = Accumulator::new();
    let mut seen = Vec::new();
    for event in &events {
        let derived = acc.apply(event).unwrap();
        seen.push(match derived {
            None => "-".to_owned(),
            Some(Derived::Thinking {
                index, snapshot, ..
            }) => format!("thinking {index} {snapshot}"),
            Some(Derived::Text {
                index, snapshot, ..
            }) => format!("text {index} {snapshot}"),
            Some(Derived::Signature { index, signature }) => {
                format!("signature {index} {signature}")
            }
            Some(Derived::Citation {
                index, citations, ..
            }) => format!("citation {index} {}", citations.len()),
            Some(Derived::ContentBlockStop { index, block }) => {
                format!("stop {index} {}", block.block_type())
            }
            Some(Derived::MessageStop(m)) => format!("message_stop {}", m.content().len()),
            Some(other) => format!("{other:?}"),
        });
    }
    assert_eq!(
        seen,
        [
            "-",
            "-",
            "-",
            "thinking 0 hm",
            "text 1 hi",
            "signature 0 sig",
            "citation 1 1",
            "stop 0 thinking",
            "message_stop 2"
        ]
    );
}

#[test]
fn citations_list_is_created_when_absent_or_null() {
    for block in [
        json!({"type":"text","text":""}),
        json!({"type":"text","text":"","citations":null}),
    ] {
        let events = [
            start(),
            block_start(0, block),
            delta(0, json!({"type":"citations_delta","citation":{"n":1}})),
            delta(0, json!({"type":"citations_delta","citation":{"n":2}})),
            block_stop(0),
            stop(),
        ];
        let (acc, _) = accumulate(&events);
        let message = acc.finish().unwrap();
        assert_eq!(
            message.content()[0].citations(),
            [json!({"n":1}), json!({"n":2})]
        );
    }
}

#[test]
fn message_delta_assigns_and_copies_by_rule() {
    let events = [
        start(),
        ev(
            "message_delta",
            json!({"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END","stop_details":null,"container":null,"new_field":{"a":1}},"usage":{"output_tokens":5,"input_tokens":null,"cache_read_input_tokens":9},"context_management":{"applied_edits":[]}}),
        ),
        ev(
            "message_delta",
            json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":8}}),
        ),
        stop(),
    ];
    let (acc, error) = accumulate(&events);
    assert_eq!(error, None);
    let message = acc.finish().unwrap();
    let json = message.as_json();
    assert_eq!(message.stop_reason(), Some(StopReason::EndTurn));
    assert_eq!(json["stop_sequence"], "END");
    assert_eq!(json["stop_details"], Value::Null);
    assert!(
        !json.contains_key("container"),
        "null container is not copied"
    );
    assert_eq!(json["new_field"], json!({"a":1}));
    assert_eq!(json["context_management"], json!({"applied_edits":[]}));
    // Totals replace, never add; nulls do not erase.
    assert_eq!(
        json["usage"],
        json!({"input_tokens":3,"output_tokens":8,"cache_read_input_tokens":9})
    );
}

#[test]
fn every_violation_is_typed_and_not_applied() {
    assert_eq!(
        violation(&[start(), start()]),
        Violation::DuplicateMessageStart
    );
    assert_eq!(
        violation(&[start(), block_start(1, json!({"type":"text","text":""}))]),
        Violation::UnexpectedIndex {
            expected: 0,
            got: 1
        }
    );
    assert_eq!(
        violation(&[start(), text(0, "x")]),
        Violation::UnknownBlock { index: 0 }
    );
    assert_eq!(
        violation(&[start(), block_stop(3)]),
        Violation::UnknownBlock { index: 3 }
    );
    assert_eq!(
        violation(&[
            start(),
            block_start(0, json!({"type":"text","text":""})),
            block_stop(0),
            text(0, "x")
        ]),
        Violation::BlockClosed { index: 0 }
    );
    assert_eq!(
        violation(&[
            start(),
            block_start(0, json!({"type":"tool_use","id":"t","name":"f","input":{}})),
            text(0, "x")
        ]),
        Violation::DeltaMismatch {
            index: 0,
            delta_type: "text_delta".into(),
            block_type: "tool_use".into()
        }
    );
    assert_eq!(
        violation(&[
            start(),
            block_start(0, json!({"type":"text","text":""})),
            input(0, "{}")
        ]),
        Violation::DeltaMismatch {
            index: 0,
            delta_type: "input_json_delta".into(),
            block_type: "text".into()
        }
    );

    // The rejected event left the snapshot alone.
    let events = [
        start(),
        block_start(0, json!({"type":"text","text":"a"})),
        block_stop(0),
        text(0, "x"),
    ];
    let (acc, _) = accumulate(&events);
    assert_eq!(acc.snapshot().unwrap().content()[0].text(), Some("a"));
    let incomplete = acc.finish().unwrap_err();
    assert!(matches!(
        incomplete.error,
        AccumulateError::Violation(Violation::BlockClosed { index: 0 })
    ));
}

#[test]
fn pings_unknown_events_and_unknown_deltas_pass_through() {
    let events = [
        ev("ping", json!({"type":"ping"})),
        start(),
        ev("future_event", json!({"type":"future_event","index":0})),
        block_start(0, json!({"type":"future_block","payload":[1]})),
        delta(0, json!({"type":"future_delta","x":1})),
        block_stop(0),
        stop(),
        ev("ping", json!({"type":"ping"})),
    ];
    let (acc, error) = accumulate(&events);
    assert_eq!(error, None);
    let message = acc.finish().unwrap();
    assert_eq!(
        message.content()[0].as_json(),
        json!({"type":"future_block","payload":[1]})
            .as_object()
            .unwrap()
    );
}

#[test]
fn events_before_message_start_pass_through_untouched() {
    // As in the official SDK's `unknown_events_response` fixture: a block event first.
    let events = [
        block_stop(0),
        text(0, "early"),
        ev(
            "message_delta",
            json!({"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":9}}),
        ),
        ev("future_event", json!({"type":"future_event"})),
        start(),
        block_start(0, json!({"type":"text","text":""})),
        text(0, "Hi"),
        block_stop(0),
        stop(),
    ];
    let mut acc = Accumulator::new();
    for event in &events[..4] {
        assert_eq!(acc.apply(event), Ok(None), "{event:?}");
        assert!(acc.snapshot().is_none());
    }
    for event in &events[4..] {
        acc.apply(event).unwrap();
    }
    let message = acc.finish().unwrap();
    assert_eq!(message.content()[0].text(), Some("Hi"));
    assert_eq!(message.stop_reason(), None);
    assert_eq!(message.usage().output_tokens, 1);
}

#[test]
fn nothing_after_message_stop_changes_the_final_message() {
    let complete = [
        start(),
        block_start(0, json!({"type":"text","text":""})),
        text(0, "done"),
        block_stop(0),
        ev(
            "message_delta",
            json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}),
        ),
        stop(),
    ];
    let (acc, error) = accumulate(&complete);
    assert_eq!(error, None);
    let expected = acc.finish().unwrap();

    let after = [
        // Unknown types, in both ways the API can name them.
        StreamEvent::parse("message", r#"{"type":"future_event"}"#).unwrap(),
        StreamEvent::parse(
            "message_annotation",
            r#"{"type":"message_annotation","x":1}"#,
        )
        .unwrap(),
        ev("ping", json!({"type":"ping"})),
        // Known events: passed through, not applied.
        text(0, " and more"),
        block_start(1, json!({"type":"text","text":"late"})),
        block_stop(0),
        ev(
            "message_delta",
            json!({"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":99}}),
        ),
        start(),
        stop(),
    ];
    let mut acc = Accumulator::new();
    for event in complete.iter().chain(&after) {
        acc.apply(event).unwrap();
    }
    assert_eq!(acc.finish().unwrap(), expected);

    // An `error` event is still an API error, wherever it comes.
    let error = ev(
        "error",
        json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}),
    );
    let mut acc = Accumulator::new();
    for event in &complete {
        acc.apply(event).unwrap();
    }
    assert!(matches!(acc.apply(&error), Err(AccumulateError::Api(_))));
    assert!(matches!(
        acc.finish().unwrap_err().error,
        AccumulateError::Api(_)
    ));
}

#[test]
fn error_event_is_a_typed_api_error_with_the_partial_message() {
    let events = [
        start(),
        block_start(0, json!({"type":"text","text":""})),
        text(0, "partial"),
        ev(
            "error",
            json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}),
        ),
    ];
    let (acc, error) = accumulate(&events);
    let Some(AccumulateError::Api(body)) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(body.error.error_type, "overloaded_error");
    assert_eq!(error.as_ref().unwrap().kind(), "overloaded");
    let incomplete = acc.finish().unwrap_err();
    assert_eq!(incomplete.partial.unwrap().text(), "partial");
}

#[test]
fn invalid_tool_input_keeps_the_raw_buffer() {
    let events = [
        start(),
        block_start(0, json!({"type":"tool_use","id":"t","name":"f","input":{}})),
        input(0, "{\"a\": tru"),
        input(0, "x}"),
    ];
    let (acc, error) = accumulate(&events);
    match error {
        Some(AccumulateError::InvalidToolInput { index: 0, raw, .. }) => {
            assert_eq!(raw, "{\"a\": trux}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(acc.raw_tool_input(0), Some("{\"a\": trux}"));

    // A stream that ends valid-so-far but incomplete is caught at the stop.
    let events = [
        start(),
        block_start(0, json!({"type":"tool_use","id":"t","name":"f","input":{}})),
        input(0, "{\"a\": [1"),
        block_stop(0),
    ];
    let (_, error) = accumulate(&events);
    assert!(
        matches!(
            error,
            Some(AccumulateError::InvalidToolInput { index: 0, .. })
        ),
        "{error:?}"
    );
}

#[test]
fn tool_block_without_fragments_keeps_its_start_input() {
    let events = [
        start(),
        block_start(
            0,
            json!({"type":"tool_use","id":"t","name":"f","input":{"preset":true}}),
        ),
        input(0, ""),
        block_stop(0),
        stop(),
    ];
    let (acc, _) = accumulate(&events);
    assert_eq!(
        acc.finish().unwrap().content()[0].input(),
        Some(&json!({"preset":true}))
    );
}

#[test]
fn a_block_type_that_is_unknown_still_takes_known_deltas_on_its_fields() {
    let events = [
        start(),
        block_start(0, json!({"type":"text_v2","text":"", "style":"x"})),
        text(0, "hi"),
        block_stop(0),
        stop(),
    ];
    let (acc, error) = accumulate(&events);
    assert_eq!(error, None);
    let message = acc.finish().unwrap();
    assert_eq!(message.content()[0].text(), Some("hi"));
    assert_eq!(message.content()[0].kind(), BlockKind::Other);
}

#[test]
fn content_block_accessors() {
    let block: ContentBlock =
        serde_json::from_value(json!({"type":"thinking","thinking":"t","signature":"s"})).unwrap();
    assert_eq!(
        (block.thinking(), block.signature()),
        (Some("t"), Some("s"))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Re-splitting the text and the tool input into arbitrary deltas gives the same message.
    #[test]
    fn arbitrary_delta_splits_give_the_same_message(
        body in "[a-zé中😀 \"\\\\{}]{0,40}",
        value in prop::collection::btree_map("[a-z]{1,4}", prop_oneof![any::<i32>().prop_map(|n| json!(n)), "[a-z é\"]{0,6}".prop_map(|s| json!(s)), any::<bool>().prop_map(|b| json!(b))], 0..5),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let input_json = serde_json::to_string_pretty(&value).unwrap();
        let pieces = |s: &str| -> Vec<String> {
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (s.len() + 1)).filter(|&c| s.is_char_boundary(c)).collect();
            points.sort_unstable();
            let mut out = Vec::new();
            let mut start = 0;
            for p in points { out.push(s[start..p].to_owned()); start = p; }
            out.push(s[start..].to_owned());
            out
        };
        let mut events = vec![
            start(),
            block_start(0, json!({"type":"text","text":""})),
            block_start(1, json!({"type":"tool_use","id":"t","name":"f","input":{}})),
        ];
        for piece in pieces(&body) { events.push(text(0, &piece)); }
        for piece in pieces(&input_json) { events.push(input(1, &piece)); }
        events.extend([block_stop(0), block_stop(1), stop()]);
        let (acc, error) = accumulate(&events);
        prop_assert_eq!(error, None);
        let message = acc.finish().unwrap();
        prop_assert_eq!(message.content()[0].text(), Some(body.as_str()));
        let expected = serde_json::to_value(&value).unwrap();
        prop_assert_eq!(message.content()[1].input(), Some(&expected));
    }
}

/// Tool input `{"x": text}` streamed in the given pieces; the final input and the last live
/// snapshot.
fn tool_input_through_accumulator(doc: &str, cuts: &[usize]) -> (Value, Value) {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| c % (doc.len() + 1))
        .filter(|&c| doc.is_char_boundary(c))
        .collect();
    points.sort_unstable();
    points.push(doc.len());
    let mut acc = Accumulator::new();
    acc.apply(&start()).unwrap();
    acc.apply(&block_start(
        0,
        json!({"type":"tool_use","id":"t","name":"f","input":{}}),
    ))
    .unwrap();
    let mut begin = 0;
    let mut live = Value::Null;
    for end in points {
        if let Some(Derived::InputJson { snapshot, .. }) =
            acc.apply(&input(0, &doc[begin..end])).unwrap()
        {
            live = snapshot.clone();
        }
        begin = end;
    }
    acc.apply(&block_stop(0)).unwrap();
    acc.apply(&stop()).unwrap();
    let message = acc.finish().unwrap();
    // The message as a user reads it back from its JSON.
    let written: Value = serde_json::from_str(&serde_json::to_string(&message).unwrap()).unwrap();
    (written["content"][0]["input"].clone(), live)
}

#[test]
fn tool_input_numbers_arrive_exactly() {
    for text in ["123456789.12345679", "-0.36504322718152316"] {
        let bits = text.parse::<f64>().unwrap().to_bits();
        let doc = format!("{{\"x\": {text}}}");
        for cut in 0..=doc.len() {
            let (input, live) = tool_input_through_accumulator(&doc, &[cut]);
            assert_eq!(input["x"].as_f64().unwrap().to_bits(), bits, "{doc}");
            assert_eq!(input["x"].to_string(), text);
            assert_eq!(live, input, "the last snapshot is the final input");
        }
    }
    // Integers beyond u64 and i64 keep the value serde_json gives them.
    for text in [
        "18446744073709551616",
        "-9223372036854775809",
        "123456789012345678901234567890",
    ] {
        let doc = format!("{{\"x\": {text}}}");
        let expected: Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(tool_input_through_accumulator(&doc, &[5]).0, expected);
    }
}

#[test]
fn unknown_fields_keep_exact_numbers() {
    // Written as text: `json!` would go through the same float parsing under test.
    let data = r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1},"future":-0.36504322718152316}}"#;
    let events = [StreamEvent::parse("message_start", data).unwrap(), stop()];
    let (acc, error) = accumulate(&events);
    assert_eq!(error, None);
    let message = serde_json::to_string(&acc.finish().unwrap()).unwrap();
    assert!(
        message.contains(r#""future":-0.36504322718152316"#),
        "{message}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Any finite double written as JSON arrives with the same bits, in any pieces.
    #[test]
    fn every_finite_double_arrives_with_its_bits(
        bits in any::<u64>(),
        exponent_form in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let value = f64::from_bits(bits);
        prop_assume!(value.is_finite());
        let text = if exponent_form { format!("{value:e}") } else { format!("{value}") };
        let (input, live) = tool_input_through_accumulator(&format!("{{\"x\": {text}}}"), &cuts);
        prop_assert_eq!(input["x"].as_f64().unwrap().to_bits(), bits, "{}", text);
        prop_assert_eq!(live, input);
    }
}
