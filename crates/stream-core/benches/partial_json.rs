//! Streamed tool input: a JSON document of 256 KiB, 1 MiB and 4 MiB pushed in 8-byte
//! fragments with the live snapshot read after every fragment, against appending everything
//! to a `String` and parsing once with `serde_json` (the floor: no snapshot at all). The
//! official SDKs re-parse the whole buffer after every fragment, which is quadratic; ours must
//! stay linear, so time per byte is flat across the three sizes. A second group streams 1 MiB
//! of full-precision floats, where exact (correctly rounded) numbers cost the most.
//!
//! ```text
//! cargo bench -p stream-core --bench partial_json
//! ```

// `criterion_group!` and `criterion_main!` generate public items that cannot carry docs.
#![allow(missing_docs)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use serde_json::Value;
use stream_core::partial_json::PartialJson;

/// A tool input of about `len` bytes: an object with nested arrays of records, strings with
/// escapes and non-ASCII text, integers and floats, pretty-printed with spaces like the API.
fn tool_input(len: usize) -> String {
    let mut doc = String::from("{\"path\": \"/srv/data/report.json\", \"rows\": [");
    let mut i = 0u64;
    while doc.len() < len {
        if i > 0 {
            doc.push_str(", ");
        }
        write!(
            doc,
            "{{\"id\": {i}, \"score\": {}.{:03}, \"ok\": {}, \"tags\": [\"a\", \"b\\\"c\"], \"note\": \"line {i}\\nwith caf\u{e9} \\u00e9 and \u{4e2d}\u{6587}\", \"none\": null}}",
            i % 97,
            i % 1000,
            i.is_multiple_of(2)
        )
        .expect("writing to a String cannot fail");
        i += 1;
    }
    doc.push_str("], \"done\": true}");
    doc
}

/// A tool input of about `len` bytes that is nearly all floats at full precision (17
/// significant digits, as a model or a serializer writes computed values): the case where
/// correctly rounded number parsing costs the most.
fn float_input(len: usize) -> String {
    let mut doc = String::from("{\"values\": [");
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut first = true;
    while doc.len() < len {
        // xorshift: spread the values over many magnitudes and digit patterns.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mantissa = (state >> 11) as f64 / (1u64 << 53) as f64;
        let exponent = i32::try_from(state % 16).expect("small") - 8;
        if !first {
            doc.push_str(", ");
        }
        first = false;
        write!(doc, "{:.16e}", mantissa * 10f64.powi(exponent))
            .expect("writing to a String cannot fail");
    }
    doc.push_str("]}");
    doc
}

/// The input cut into fragments of about eight bytes, on character boundaries (fragments are
/// `&str`, as `input_json_delta.partial_json` is).
fn fragments(doc: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(doc.len() / 8 + 1);
    let mut start = 0;
    while start < doc.len() {
        let mut end = (start + 8).min(doc.len());
        while !doc.is_char_boundary(end) {
            end += 1;
        }
        out.push(&doc[start..end]);
        start = end;
    }
    out
}

fn incremental(pieces: &[&str]) -> Value {
    let mut parser = PartialJson::new();
    for piece in pieces {
        parser.push(piece).expect("valid JSON");
        black_box(parser.snapshot());
    }
    parser.finish().expect("complete JSON")
}

fn parse_once(pieces: &[&str]) -> Value {
    let mut buffer = String::new();
    for piece in pieces {
        buffer.push_str(piece);
    }
    serde_json::from_str(&buffer).expect("valid JSON")
}

/// Times ours and the parse-once floor on `doc`, in 8-byte fragments, as `id` of `group`.
fn bench_both(group: &mut BenchmarkGroup<'_, WallTime>, doc: &str, id: usize) {
    let pieces = fragments(doc);
    assert_eq!(
        incremental(&pieces),
        parse_once(&pieces),
        "same final value"
    );
    group.throughput(Throughput::Bytes(doc.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("partial_json_snapshot_every_fragment", id),
        &pieces,
        |b, p| b.iter(|| incremental(black_box(p))),
    );
    group.bench_with_input(
        BenchmarkId::new("serde_json_parse_once", id),
        &pieces,
        |b, p| b.iter(|| parse_once(black_box(p))),
    );
}

fn bench(c: &mut Criterion) {
    for name in ["tool_input_8B_fragments", "float_input_8B_fragments"] {
        let mut group = c.benchmark_group(name);
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        if name == "tool_input_8B_fragments" {
            for kib in [256usize, 1024, 4096] {
                bench_both(&mut group, &tool_input(kib * 1024), kib);
            }
        } else {
            // Exact numbers: the cost of correct rounding shows most on long floats.
            bench_both(&mut group, &float_input(1024 * 1024), 1024);
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
