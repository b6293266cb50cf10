//! The accumulator on arbitrary event sequences: well-formed events in any order (so every
//! rule and violation is reached), plus raw SSE names and data. Invariants: no panic, every
//! event is applied or rejected with a typed error, what the accumulator holds stays within
//! a constant factor of what it was given and within its message limit, and nothing after
//! `message_stop` changes the message.

use arbitrary::Arbitrary;
use serde_json::json;
use stream_core::accumulate::Accumulator;
use stream_core::messages::StreamEvent;

#[derive(Debug, Arbitrary)]
enum Op {
    Start,
    BlockStart {
        index: u8,
        kind: u8,
    },
    Text {
        index: u8,
        text: String,
    },
    Thinking {
        index: u8,
        text: String,
    },
    Signature {
        index: u8,
        text: String,
    },
    Citation {
        index: u8,
        text: String,
    },
    Input {
        index: u8,
        fragment: String,
    },
    Compaction {
        index: u8,
        text: String,
    },
    UnknownDelta {
        index: u8,
    },
    BlockStop {
        index: u8,
    },
    MessageDelta {
        stop: Option<String>,
        output_tokens: Option<u32>,
        container: bool,
    },
    Stop,
    Ping,
    Error {
        kind: String,
    },
    Raw {
        name: String,
        data: String,
    },
}

const KINDS: [&str; 6] = [
    "text",
    "tool_use",
    "thinking",
    "compaction",
    "fallback",
    "mystery",
];

fn event(op: &Op) -> (String, String) {
    let (name, data) = match op {
        Op::Start => (
            "message_start",
            json!({"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}),
        ),
        Op::BlockStart { index, kind } => {
            let block = match KINDS[usize::from(*kind) % KINDS.len()] {
                "text" => json!({"type":"text","text":""}),
                "tool_use" => json!({"type":"tool_use","id":"t","name":"f","input":{}}),
                "thinking" => json!({"type":"thinking","thinking":"","signature":""}),
                "compaction" => json!({"type":"compaction","content":null}),
                "fallback" => json!({"type":"fallback","from":{"model":"a"},"to":{"model":"b"}}),
                _ => json!({"type":"mystery","input":{},"text":""}),
            };
            (
                "content_block_start",
                json!({"type":"content_block_start","index":index,"content_block":block}),
            )
        }
        Op::Text { index, text } => (
            "content_block_delta",
            json!({"type":"content_block_delta","index":index,"delta":{"type":"text_delta","text":text}}),
        ),
        Op::Thinking { index, text } => (
            "content_block_delta",
            json!({"type":"content_block_delta","index":index,"delta":{"type":"thinking_delta","thinking":text}}),
        ),
        Op::Signature { index, text } => (
            "content_block_delta",
            json!({"type":"content_block_delta","index":index,"delta":{"type":"signature_delta","signature":text}}),
        ),
        Op::Citation { index, text } => (
            "content_block_delta",
            json!({"type":"content_block_delta","index":index,"delta":{"type":"citations_delta","citation":{"cited_text":text}}}),
        ),
        Op::Input { index, fragment } => (
            "content_block_delta",
            json!({"type":"content_block_delta","index":index,"delta":{"type":"input_json_delta","partial_json":fragment}}),
        ),
        Op::Compaction { index, text } => (
            "content_block_delta",
            json!({"type":"content_block_delta","index":index,"delta":{"type":"compaction_delta","content":text}}),
        ),
        Op::UnknownDelta { index } => (
            "content_block_delta",
            json!({"type":"content_block_delta","index":index,"delta":{"type":"future_delta"}}),
        ),
        Op::BlockStop { index } => (
            "content_block_stop",
            json!({"type":"content_block_stop","index":index}),
        ),
        Op::MessageDelta {
            stop,
            output_tokens,
            container,
        } => (
            "message_delta",
            json!({"type":"message_delta","delta":{"stop_reason":stop,"container":if *container { json!({"id":"c"}) } else { json!(null) }},"usage":{"output_tokens":output_tokens}}),
        ),
        Op::Stop => ("message_stop", json!({"type":"message_stop"})),
        Op::Ping => ("ping", json!({"type":"ping"})),
        Op::Error { kind } => (
            "error",
            json!({"type":"error","error":{"type":kind,"message":"m"}}),
        ),
        Op::Raw { name, data } => return (name.clone(), data.clone()),
    };
    (name.to_owned(), data.to_string())
}

/// Runs the target on one input: the bytes are read as the fuzzer reads them
/// (`arbitrary`, taking the rest), and inputs that do not decode are skipped.
pub(crate) fn check(data: &[u8]) {
    let Ok((limit, ops)) = <(u8, Vec<Op>)>::arbitrary_take_rest(arbitrary::Unstructured::new(data))
    else {
        return;
    };
    // A message limit from 256 bytes to 64 KiB, so that crossing it is reached too.
    let limit = 256 * (usize::from(limit) + 1);
    let mut acc = Accumulator::new().max_message_size(limit);
    let mut given = 0usize;
    let mut at_stop = None;
    for op in &ops {
        let (name, data) = event(op);
        given += name.len() + data.len();
        let Ok(event) = StreamEvent::parse(&name, &data) else {
            continue;
        };
        let _ = acc.apply(&event);
        assert!(
            acc.message_size() <= limit,
            "{} > {limit}",
            acc.message_size()
        );
        // Nothing after `message_stop` changes the message.
        match &at_stop {
            None if acc.is_complete() => at_stop = acc.snapshot().cloned(),
            None => {}
            Some(stopped) => assert_eq!(acc.snapshot(), Some(stopped), "after {name}"),
        }
    }
    let held = acc
        .snapshot()
        .map_or(0, |m| serde_json::to_string(m).unwrap().len());
    assert!(
        held <= 4 * given + 4096,
        "holds {held} bytes from {given} given"
    );
    let _ = acc.finish();
}
