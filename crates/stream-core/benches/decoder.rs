//! SSE decoder throughput: `stream_core::sse::Decoder` against the peer crates `sse-core`,
//! `sse-stream` and `eventsource-stream`, and a bare `memchr` newline count as the ceiling.
//!
//! The input is a generated Anthropic Messages stream (see `support`), about `SSE_BENCH_MIB`
//! MiB (default 100), cut into 8 KiB chunks and, in a second group, 1460-byte chunks (one TCP
//! segment); and the same stream with `x-` before every event name (`other_names`), so that no
//! decoder can know its names beforehand. The chunks are cut before timing and every decoder gets the same ones. Each decoder
//! produces the type and data of every event the way its API naturally does, and the benchmark
//! consumes both (their lengths go through `black_box`). Before timing, every decoder is run
//! once and must report the same number of events and the same type and data bytes as ours and
//! as the generator, so the comparison is between decoders doing the same work.
//!
//! ```text
//! cargo bench -p stream-core --bench decoder
//! SSE_BENCH_MIB=4 cargo bench -p stream-core --bench decoder   # small, for CI
//! ```

// `criterion_group!` and `criterion_main!` generate public items that cannot carry docs.
#![allow(missing_docs)]

mod support;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use eventsource_stream::Eventsource as _;
use futures::StreamExt as _;
use futures::executor::block_on;
use stream_core::sse::Decoder;

use support::AnthropicStream;

/// What a decoder got out of the stream: the events, and the bytes of their types and data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    events: usize,
    type_and_data_len: usize,
}

impl Tally {
    /// Consumes one event: both strings pass through `black_box`, so neither can be skipped.
    fn add(&mut self, event_type: &str, data: &str) {
        self.events += 1;
        self.type_and_data_len += black_box(event_type).len() + black_box(data).len();
    }
}

/// Ours: feed each chunk (a reference-count clone), drain with the borrowed API, then finish
/// and drain once more.
fn stream_core_decoder(chunks: &[Bytes]) -> Tally {
    let mut tally = Tally::default();
    let mut decoder = Decoder::new();
    for chunk in chunks {
        decoder.feed(chunk.clone());
        while let Some(event) = decoder.next_event_ref().expect("the stream is valid") {
            tally.add(event.event_type(), event.data());
        }
    }
    decoder.finish();
    while let Some(event) = decoder.next_event_ref().expect("the stream is valid") {
        tally.add(event.event_type(), event.data());
    }
    tally
}

/// Ours, owned events: `next_event` hands out `Event`s whose strings share the input chunk.
fn stream_core_owned(chunks: &[Bytes]) -> Tally {
    let mut tally = Tally::default();
    let mut decoder = Decoder::new();
    for chunk in chunks {
        decoder.feed(chunk.clone());
        while let Some(event) = decoder.next_event().expect("the stream is valid") {
            tally.add(event.event_type(), event.data());
        }
    }
    decoder.finish();
    while let Some(event) = decoder.next_event().expect("the stream is valid") {
        tally.add(event.event_type(), event.data());
    }
    tally
}

/// `sse-core`: its Sans-IO `SseDecoder::next` reads from a `Buf` until the buffer is empty,
/// keeping partial lines in its own buffers; events own their data (`String`) and type (`Cow`).
fn sse_core_decoder(chunks: &[Bytes]) -> Tally {
    let mut tally = Tally::default();
    let mut decoder = sse_core::SseDecoder::new();
    for chunk in chunks {
        let mut buf = chunk.clone();
        while let Some(event) = decoder.next(&mut buf) {
            match event.expect("no event is near the 512 KiB limit") {
                sse_core::SseEvent::Message(message) => tally.add(&message.event, &message.data),
                sse_core::SseEvent::Retry(_) => {}
            }
        }
    }
    tally
}

/// `sse-stream`: only a `Stream` API (`SseByteStream` over a stream of `Buf`s), driven here by
/// `block_on` over an in-memory stream that is always ready. Type and data are `Option<String>`
/// (`None` type means `message`).
fn sse_stream_decoder(chunks: &[Bytes]) -> Tally {
    let input = futures::stream::iter(chunks.iter().cloned().map(Ok::<Bytes, Infallible>));
    let mut events = sse_stream::SseByteStream::new(input);
    let mut tally = Tally::default();
    block_on(async {
        while let Some(event) = events.next().await {
            let event = event.expect("the stream is valid UTF-8");
            tally.add(
                event.event.as_deref().unwrap_or("message"),
                event.data.as_deref().unwrap_or_default(),
            );
        }
    });
    tally
}

/// `eventsource-stream`: an `.eventsource()` adapter on a `Stream` of byte buffers, driven like
/// `sse-stream`. Events own their type and data (`String`).
fn eventsource_stream_decoder(chunks: &[Bytes]) -> Tally {
    let mut events =
        futures::stream::iter(chunks.iter().cloned().map(Ok::<Bytes, Infallible>)).eventsource();
    let mut tally = Tally::default();
    block_on(async {
        while let Some(event) = events.next().await {
            let event = event.expect("the stream is valid");
            tally.add(&event.event, &event.data);
        }
    });
    tally
}

/// The ceiling: find every LF and do nothing else.
fn memchr_newlines(chunks: &[Bytes]) -> usize {
    chunks
        .iter()
        .map(|chunk| memchr::memchr_iter(b'\n', chunk).count())
        .sum()
}

/// The ceiling as a [`DecodeFn`], for the interleaved rounds: the newline count as events.
fn memchr_tally(chunks: &[Bytes]) -> Tally {
    Tally {
        events: memchr_newlines(chunks),
        type_and_data_len: 0,
    }
}

/// A decoder under test: decodes the whole stream from these chunks.
type DecodeFn = fn(&[Bytes]) -> Tally;

/// The decoders under test, by benchmark name.
const DECODERS: [(&str, DecodeFn); 5] = [
    ("stream_core", stream_core_decoder),
    ("stream_core_owned", stream_core_owned),
    ("sse_core", sse_core_decoder),
    ("sse_stream", sse_stream_decoder),
    ("eventsource_stream", eventsource_stream_decoder),
];

/// Runs every decoder once, untimed, and checks that they all agree with ours and with the
/// generator.
fn check_decoders_agree(stream: &AnthropicStream, chunks: &[Bytes], chunk_name: &str) {
    let expected = Tally {
        events: stream.events,
        type_and_data_len: stream.type_and_data_len,
    };
    let ours = stream_core_decoder(chunks);
    assert_eq!(ours, expected, "stream_core, {chunk_name} chunks");
    for (name, decode) in DECODERS {
        let tally = decode(chunks);
        assert_eq!(
            tally.events, ours.events,
            "{name} saw a different number of events than stream_core ({chunk_name} chunks)"
        );
        assert_eq!(
            tally, ours,
            "{name} decoded different type and data bytes than stream_core ({chunk_name} chunks)"
        );
    }
}

fn bench_decoders(c: &mut Criterion) {
    for (input_name, prefix) in [("", ""), ("other_names_", "x-")] {
        let stream = support::generate_named(support::target_len_from_env(), support::SEED, prefix);
        bench_input(c, &stream, input_name);
    }
}

fn bench_input(c: &mut Criterion, stream: &AnthropicStream, input_name: &str) {
    let body_len = u64::try_from(stream.body.len()).expect("usize fits in u64");
    eprintln!(
        "input {input_name}: {} bytes, {} events ({} with CRLF line ends)",
        stream.body.len(),
        stream.events,
        stream.crlf_events
    );

    for (chunk_len, chunk_name) in [(8 * 1024, "8KiB"), (1460, "1460B")] {
        let chunk_name = &format!("{input_name}{chunk_name}");
        let chunks = support::split(&stream.body, chunk_len);
        check_decoders_agree(stream, &chunks, chunk_name);

        let candidates: Vec<(&str, DecodeFn)> = DECODERS
            .into_iter()
            .chain([("memchr_newlines", memchr_tally as DecodeFn)])
            .collect();
        support::interleaved(
            &format!("sse_decode_{chunk_name}_chunks"),
            &chunks,
            &candidates,
        );

        let mut group = c.benchmark_group(format!("sse_decode_{chunk_name}_chunks"));
        group
            .throughput(Throughput::Bytes(body_len))
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(4));
        for (name, decode) in DECODERS {
            group.bench_function(name, |b| b.iter(|| decode(black_box(&chunks))));
        }
        group.bench_function("memchr_newlines", |b| {
            b.iter(|| memchr_newlines(black_box(&chunks)));
        });
        group.finish();
    }
}

criterion_group!(benches, bench_decoders);
criterion_main!(benches);
