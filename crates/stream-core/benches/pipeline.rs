//! The whole pipeline: bytes → SSE events → typed Messages events → the final message, on the
//! generated stream of the decoder benchmark (`support`), cut into 8 KiB chunks. Against:
//!
//! * `sse-parse` + a borrowed serde struct per event + the same accumulation by hand;
//! * `eventsource-stream` + a serde internally tagged enum (the way Rust SDK crates usually
//!   decode events) + the same accumulation.
//!
//! Every pipeline must end with the same text and output token count before timing starts.
//!
//! ```text
//! cargo bench -p stream-core --bench pipeline
//! ```

// `criterion_group!` and `criterion_main!` generate public items that cannot carry docs.
#![allow(missing_docs)]

mod support;

use std::borrow::Cow;
use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use eventsource_stream::Eventsource as _;
use futures::StreamExt as _;
use futures::executor::block_on;
use serde::Deserialize;
use serde_json::Value;
use stream_core::accumulate::Accumulator;
use stream_core::messages::StreamEvent;
use stream_core::sse::Decoder;

/// What a pipeline ends with: the message text and its output tokens.
#[derive(Debug, PartialEq, Eq)]
struct Final {
    text: String,
    output_tokens: u64,
}

/// Ours: `Decoder` (borrowed events) + `StreamEvent::parse` + `Accumulator`.
fn ours(chunks: &[Bytes]) -> Final {
    let mut decoder = Decoder::new();
    let mut acc = Accumulator::new();
    let apply = |decoder: &mut Decoder, acc: &mut Accumulator| {
        while let Some(event) = decoder.next_event_ref().expect("valid SSE") {
            let event = StreamEvent::parse(event.event_type(), event.data()).expect("valid JSON");
            acc.apply(&event).expect("valid stream");
        }
    };
    for chunk in chunks {
        decoder.feed(chunk.clone());
        apply(&mut decoder, &mut acc);
    }
    decoder.finish();
    apply(&mut decoder, &mut acc);
    let message = acc.finish().expect("complete stream");
    Final {
        output_tokens: message.usage().output_tokens,
        text: message.text(),
    }
}

/// The accumulation both peers share: text blocks by index, the usage of the last
/// `message_delta`, done at `message_stop`.
#[derive(Default)]
struct PeerAccumulator {
    message: Option<Value>,
    blocks: Vec<String>,
    output_tokens: u64,
    stopped: bool,
}

impl PeerAccumulator {
    fn finish(self) -> Final {
        assert!(self.stopped && self.message.is_some());
        Final {
            text: self.blocks.concat(),
            output_tokens: self.output_tokens,
        }
    }
}

#[derive(Deserialize)]
struct BorrowedEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: Option<usize>,
    #[serde(default, borrow)]
    delta: Option<BorrowedDelta<'a>>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct BorrowedDelta<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Usage {
    output_tokens: u64,
}

/// `sse-parse` + a borrowed serde struct.
fn sse_parse_borrowed(chunks: &[Bytes]) -> Final {
    let mut parser = sse_parse::SseParser::new();
    let mut acc = PeerAccumulator::default();
    let apply = |parser: &mut sse_parse::SseParser, acc: &mut PeerAccumulator| {
        while let Some(event) = parser.next_event() {
            let event: BorrowedEvent<'_> = serde_json::from_str(&event.data).expect("valid JSON");
            match &*event.kind {
                "message_start" => acc.message = event.message,
                "content_block_start" => acc.blocks.push(String::new()),
                "content_block_delta" => {
                    if let (Some(index), Some(delta)) = (event.index, event.delta)
                        && delta.kind.as_deref() == Some("text_delta")
                    {
                        acc.blocks[index].push_str(&delta.text.unwrap_or_default());
                    }
                }
                "message_delta" => {
                    if let Some(usage) = event.usage {
                        acc.output_tokens = usage.output_tokens;
                    }
                }
                "message_stop" => acc.stopped = true,
                _ => {}
            }
        }
    };
    for chunk in chunks {
        parser.feed(chunk);
        apply(&mut parser, &mut acc);
    }
    parser.finish();
    apply(&mut parser, &mut acc);
    acc.finish()
}

// Every field is decoded (that is the work measured), not every field is read.
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TaggedEvent {
    MessageStart { message: Value },
    ContentBlockStart { index: usize, content_block: Value },
    ContentBlockDelta { index: usize, delta: TaggedDelta },
    ContentBlockStop { index: usize },
    MessageDelta { delta: Value, usage: Usage },
    MessageStop,
    Ping,
    Error { error: Value },
}

// The variant names mirror the wire's tags, as an SDK's would.
#[allow(dead_code, clippy::enum_variant_names)]
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TaggedDelta {
    TextDelta { text: String },
    InputJsonDelta { partial_json: String },
    ThinkingDelta { thinking: String },
    SignatureDelta { signature: String },
}

/// `eventsource-stream` + a serde internally tagged enum.
fn eventsource_tagged(chunks: &[Bytes]) -> Final {
    let mut events =
        futures::stream::iter(chunks.iter().cloned().map(Ok::<Bytes, Infallible>)).eventsource();
    let mut acc = PeerAccumulator::default();
    block_on(async {
        while let Some(event) = events.next().await {
            let event = event.expect("valid SSE");
            match serde_json::from_str::<TaggedEvent>(&event.data).expect("valid JSON") {
                TaggedEvent::MessageStart { message } => acc.message = Some(message),
                TaggedEvent::ContentBlockStart { .. } => acc.blocks.push(String::new()),
                TaggedEvent::ContentBlockDelta {
                    index,
                    delta: TaggedDelta::TextDelta { text },
                } => acc.blocks[index].push_str(&text),
                TaggedEvent::MessageDelta { usage, .. } => acc.output_tokens = usage.output_tokens,
                TaggedEvent::MessageStop => acc.stopped = true,
                _ => {}
            }
        }
    });
    acc.finish()
}

type Pipeline = fn(&[Bytes]) -> Final;

const PIPELINES: [(&str, Pipeline); 3] = [
    ("stream_core", ours),
    ("sse_parse_borrowed_serde", sse_parse_borrowed),
    ("eventsource_stream_tagged_enum", eventsource_tagged),
];

fn bench(c: &mut Criterion) {
    let stream = support::generate_named(support::target_len_from_env(), support::SEED, "");
    eprintln!(
        "input: {} bytes, {} events ({} with CRLF line ends, {} bytes of type and data)",
        stream.body.len(),
        stream.events,
        stream.crlf_events,
        stream.type_and_data_len
    );
    let chunks = support::split(&stream.body, 8 * 1024);
    let expected = ours(&chunks);
    assert!(!expected.text.is_empty());
    for (name, pipeline) in PIPELINES {
        assert_eq!(pipeline(&chunks), expected, "{name} ends differently");
    }
    support::interleaved("pipeline_8KiB_chunks", &chunks, &PIPELINES);

    let mut group = c.benchmark_group("pipeline_8KiB_chunks");
    group
        .throughput(Throughput::Bytes(stream.body.len() as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (name, pipeline) in PIPELINES {
        group.bench_function(name, |b| b.iter(|| pipeline(black_box(&chunks))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
