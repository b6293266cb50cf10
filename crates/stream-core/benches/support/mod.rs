//! Benchmark input: a realistic, deterministic Anthropic Messages `text/event-stream` body.
//!
//! [`generate`] writes one streamed message the way the real API sends it:
//!
//! 1. `message_start`, then `content_block_start` for a text block at index 0;
//! 2. many `content_block_delta` events whose `text_delta` carries 1 to 6 "tokens": words,
//!    punctuation, JSON escapes (`\"`, `\n`, `\\`, `\t`) and multi-byte UTF-8 (é, 中文, emoji);
//!    every 64th event is a `ping`;
//! 3. `content_block_stop`, `message_delta` (with `stop_reason` and usage), `message_stop`.
//!
//! Every event has an `event:` line, one `data:` line of compact JSON and a blank line. About 8%
//! of the events end their lines with CRLF instead of LF, as a proxy might. The bytes depend only
//! on the target size and the seed (a hand-written xorshift PRNG, no `rand`), so every run and
//! every decoder sees the same input.
//!
//! [`target_len_from_env`] reads the size from `SSE_BENCH_MIB` (default 100 MiB) so CI can run
//! the benchmarks small, and [`split`] cuts the body into network-sized chunks ahead of the timed
//! loop. Shared by the decoder benchmark and later pipeline benchmarks (`mod support;`).

use bytes::Bytes;

/// The environment variable that sets the size of the generated body, in MiB.
pub(crate) const SIZE_ENV: &str = "SSE_BENCH_MIB";
/// The body size when [`SIZE_ENV`] is not set, in MiB.
pub(crate) const DEFAULT_MIB: usize = 100;
/// The seed the benchmarks use, so that every run sees the same bytes.
pub(crate) const SEED: u64 = 0x5EED_0FA1_15EA_5EED;

/// Every `PING_EVERY`th event of the stream is a `ping`.
const PING_EVERY: usize = 64;
/// Percentage of events whose lines end with CRLF rather than LF.
const CRLF_PERCENT: usize = 8;
/// Room left for the closing events when deciding to stop emitting deltas.
const TAIL_RESERVE: usize = 512;

/// Text fragments of a `text_delta`, as they appear inside the JSON string on the wire (so
/// `\\n` here is the two bytes `\` `n`, a JSON-escaped newline). Mostly short English words with
/// a leading space, like real tokens, plus escapes and multi-byte UTF-8.
#[rustfmt::skip] // One token per line would make this list 80 lines long.
const TOKENS: &[&str] = &[
    " the", " of", " and", " to", " a", " in", " is", " that", " it", " for", " on", " with",
    " as", " this", " be", " are", " we", " can", " stream", " event", " token", " model",
    " decoder", " buffer", " bytes", " latency", " Rust", " function", " returns", " value",
    " response", " request", " server", " client", " message", " content", " block", " delta",
    "The", "It", "In", ",", ".", ":", ";", "?", "!", " (", ")", " -", "'s", " 42", " 2024",
    " café", " naïve", " résumé", " déjà", " vu", " 中文", " 日本語", " 한국어", " Ελληνικά",
    " 🦀", " 🚀", "😀", " ✅", " …", " →", r"\n", r"\n\n", r"\n- ", r"\t", r#" \"quoted\""#,
    r#"\""#, r" C:\\Users\\me", r" a\\b", r"\\", " `code`", " **bold**", " #", " 1.", " 2.",
];

/// A small xorshift64 generator: deterministic, dependency-free and fast enough that building
/// 100 MiB of input takes well under a second.
#[derive(Clone, Debug)]
pub(crate) struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    /// A generator started from `seed` (zero, the one state xorshift cannot leave, is replaced).
    pub(crate) const fn new(seed: u64) -> Self {
        Self {
            state: if seed == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                seed
            },
        }
    }

    /// The next 64 pseudo-random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    /// A value in `0..n` (`n` must be positive; the modulo bias is irrelevant here).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n).expect("usize fits in u64");
        usize::try_from(self.next_u64() % n).expect("a value below a usize fits in usize")
    }

    /// A value in `low..=high`.
    pub(crate) fn between(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low + 1)
    }
}

/// A generated body and what a correct decoder must get out of it.
#[derive(Clone, Debug)]
pub(crate) struct AnthropicStream {
    /// The whole `text/event-stream` body.
    pub(crate) body: Bytes,
    /// How many events (blocks with data) the body holds.
    pub(crate) events: usize,
    /// The sum over all events of the lengths of the event type and the data, in bytes.
    pub(crate) type_and_data_len: usize,
    /// How many of the events use CRLF line ends.
    pub(crate) crlf_events: usize,
}

/// Writes events into a body and keeps the expected totals.
struct Writer {
    /// Written before every event name (`x-` gives names no decoder knows beforehand).
    name_prefix: &'static str,
    body: Vec<u8>,
    events: usize,
    type_and_data_len: usize,
    crlf_events: usize,
}

impl Writer {
    fn event(&mut self, rng: &mut XorShift64, event_type: &str, data: &str) {
        let crlf = rng.below(100) < CRLF_PERCENT;
        let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        self.body.extend_from_slice(b"event: ");
        self.body.extend_from_slice(self.name_prefix.as_bytes());
        self.body.extend_from_slice(event_type.as_bytes());
        self.body.extend_from_slice(eol);
        self.body.extend_from_slice(b"data: ");
        self.body.extend_from_slice(data.as_bytes());
        self.body.extend_from_slice(eol);
        self.body.extend_from_slice(eol);
        self.events += 1;
        self.type_and_data_len += self.name_prefix.len() + event_type.len() + data.len();
        self.crlf_events += usize::from(crlf);
    }
}

/// Generates a body of about `target_len` bytes (never much less than 1 KiB) from `seed`, with
/// `name_prefix` before every event name: `""` gives the Messages API's names, `x-` a stream of
/// the same shape whose names are not the API's.
pub(crate) fn generate_named(
    target_len: usize,
    seed: u64,
    name_prefix: &'static str,
) -> AnthropicStream {
    const ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    let mut rng = XorShift64::new(seed);
    let mut out = Writer {
        name_prefix,
        body: Vec::with_capacity(target_len + TAIL_RESERVE),
        events: 0,
        type_and_data_len: 0,
        crlf_events: 0,
    };

    let message_id: String = (0..24)
        .map(|_| char::from(ALPHANUMERIC[rng.below(ALPHANUMERIC.len())]))
        .collect();
    let input_tokens = rng.between(10, 5000);
    out.event(
        &mut rng,
        "message_start",
        &format!(
            r#"{{"type":"message_start","message":{{"id":"msg_{message_id}","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{input_tokens},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}}}}"#
        ),
    );
    out.event(
        &mut rng,
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    );

    let mut data = String::new();
    let mut output_tokens = 0;
    while out.body.len() + TAIL_RESERVE < target_len {
        if out.events % PING_EVERY == PING_EVERY - 1 {
            out.event(&mut rng, "ping", r#"{"type": "ping"}"#);
            continue;
        }
        data.clear();
        data.push_str(
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""#,
        );
        let tokens = rng.between(1, 6);
        for _ in 0..tokens {
            data.push_str(TOKENS[rng.below(TOKENS.len())]);
        }
        data.push_str(r#""}}"#);
        output_tokens += tokens;
        out.event(&mut rng, "content_block_delta", &data);
    }

    out.event(
        &mut rng,
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#,
    );
    out.event(
        &mut rng,
        "message_delta",
        &format!(
            r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn","stop_sequence":null}},"usage":{{"output_tokens":{output_tokens}}}}}"#
        ),
    );
    out.event(&mut rng, "message_stop", r#"{"type":"message_stop"}"#);

    AnthropicStream {
        body: Bytes::from(out.body),
        events: out.events,
        type_and_data_len: out.type_and_data_len,
        crlf_events: out.crlf_events,
    }
}

/// The body size asked for by `SSE_BENCH_MIB` (a positive whole number of MiB; default
/// [`DEFAULT_MIB`]), in bytes.
pub(crate) fn target_len_from_env() -> usize {
    let mib = match std::env::var(SIZE_ENV) {
        Ok(value) => value
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&mib| mib > 0)
            .unwrap_or_else(|| panic!("{SIZE_ENV} must be a positive whole number, not {value:?}")),
        Err(_) => DEFAULT_MIB,
    };
    mib * 1024 * 1024
}

/// Cuts `body` into chunks of `chunk_len` bytes (the last may be shorter). The chunks share the
/// body's buffer, so this is cheap and the timed loop only clones reference counts.
pub(crate) fn split(body: &Bytes, chunk_len: usize) -> Vec<Bytes> {
    assert!(chunk_len > 0, "chunks must not be empty");
    (0..body.len())
        .step_by(chunk_len)
        .map(|start| body.slice(start..body.len().min(start + chunk_len)))
        .collect()
}

/// The environment variable that sets how many interleaved rounds [`interleaved`] runs.
pub(crate) const ROUNDS_ENV: &str = "SSE_BENCH_ROUNDS";

/// How many interleaved rounds to run: `SSE_BENCH_ROUNDS` (default 10) under `cargo bench`,
/// one when the benchmark runs as a test (`cargo test --benches`).
pub(crate) fn rounds_from_env() -> usize {
    if !std::env::args().any(|arg| arg == "--bench") {
        return 1;
    }
    std::env::var(ROUNDS_ENV)
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(10)
}

/// A candidate of [`interleaved`]: does its whole job over the chunks.
pub(crate) type OverChunks<T> = fn(&[Bytes]) -> T;

/// Ratios that the shared machine's noise skews less than criterion's one-after-the-other
/// groups: every candidate runs over `chunks` once per round, in turn, for
/// [`rounds_from_env`] rounds, and each keeps its fastest round. Prints a Markdown table (best
/// time, throughput, and the first candidate's speed as a multiple of each) on stderr, headed
/// by `title`.
// Benchmarks time themselves; the core's clock ban (clippy.toml) is about the library.
#[allow(clippy::disallowed_methods)]
pub(crate) fn interleaved<T>(title: &str, chunks: &[Bytes], candidates: &[(&str, OverChunks<T>)]) {
    let rounds = rounds_from_env();
    let bytes: usize = chunks.iter().map(Bytes::len).sum();
    let mut best = vec![std::time::Duration::MAX; candidates.len()];
    for _ in 0..rounds {
        for ((_, run), best) in candidates.iter().zip(&mut best) {
            let start = std::time::Instant::now();
            std::hint::black_box(run(std::hint::black_box(chunks)));
            *best = (*best).min(start.elapsed());
        }
    }
    eprintln!("\n{title}: best of {rounds} interleaved rounds\n");
    eprintln!("| candidate | best time | throughput | first ÷ this (speed) |");
    eprintln!("|---|---|---|---|");
    for ((name, _), time) in candidates.iter().zip(&best) {
        let secs = time.as_secs_f64();
        eprintln!(
            "| {name} | {:.2} ms | {:.1} MiB/s | {:.2}× |",
            secs * 1e3,
            bytes as f64 / secs / (1024.0 * 1024.0),
            secs / best[0].as_secs_f64()
        );
    }
}
