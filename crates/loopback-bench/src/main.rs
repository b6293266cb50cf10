//! `loopback-bench`: the Rust side of the end-to-end benchmarks (`crates/loopback-bench/run.sh`
//! drives it, with the Python and TypeScript peers, and prints the tables of
//! `docs/benchmarks.md`).
//!
//! ```text
//! loopback-bench serve --profile fast            # prints one JSON line: the base URL and what a client must get
//! loopback-bench client --transport hyper --url http://127.0.0.1:PORT --profile fast
//! loopback-bench concurrency --url http://127.0.0.1:PORT --profile concurrent --streams 1000 --http 2
//! ```
//!
//! Every client prints one JSON line: events seen, wall time, CPU time of the streaming part,
//! time to the first text event, and what it accumulated, so the driver can check it.

#![forbid(unsafe_code)]

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use messages_test_server::{Chunking, Fault, Generate, HttpVersions, Reply, Server};
use serde_json::{Value, json};
use stream_core::messages::{BlockKind, ContentBlock, Delta, Message, StreamEvent};
use stream_core::request::{ClientConfig, MessageParam, MessageParams};

mod peer;
mod usage;

#[derive(Parser, Debug)]
#[command(about = "End-to-end loopback benchmarks (see docs/benchmarks.md)")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serves a profile on 127.0.0.1 until standard input closes; prints one JSON line first.
    Serve {
        /// The reply every request gets.
        #[arg(long)]
        profile: Profile,
        /// A parameter of the profile (bytes of tool input, bytes of a huge line or stream).
        #[arg(long, default_value_t = 0)]
        size: u64,
    },
    /// Streams one message and prints one JSON line of figures.
    Client {
        /// Which client stack.
        #[arg(long)]
        transport: Transport,
        /// The server's base URL.
        #[arg(long)]
        url: String,
        /// Read the tool input snapshot after every `input_json_delta`.
        #[arg(long)]
        tool: bool,
    },
    /// Opens many streams at once through the hyper transport and reports memory per stream.
    Concurrency {
        /// The server's base URL.
        #[arg(long)]
        url: String,
        /// How many streams to hold open at once.
        #[arg(long, default_value_t = 1000)]
        streams: usize,
        /// 1: HTTP/1.1, a connection per stream; 2: HTTP/2 prior knowledge, one connection.
        #[arg(long, default_value_t = 1)]
        http: u8,
    },
}

/// What the server sends.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Profile {
    /// 200,000 text deltas as fast as the server can write them (generated before the first
    /// request, sent in 64 KiB chunks).
    Fast,
    /// 1,000 text deltas, one every 5 ms, one chunk per event, as the API paces them.
    Paced,
    /// A tool call whose input is `--size` bytes, in 8-byte deltas.
    Tool,
    /// 200 text deltas, one every 5 ms: each stream stays open about a second.
    Concurrent,
    /// A line of `--size` bytes without a line ending after the first event.
    HugeLine,
    /// About `--size` bytes of ordinary text deltas (16 bytes of text each).
    Big,
}

/// Which client stack runs the stream.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Transport {
    /// Ours, async: `transport-hyper`.
    Hyper,
    /// Ours, blocking: `transport-ureq`.
    Ureq,
    /// The usual Rust stack: reqwest, eventsource-stream, a serde tagged enum.
    Reqwest,
}

/// Bytes of text in each text delta of the `big` profile.
const BIG_DELTA_LEN: usize = 16;

/// Bytes of one such text delta event on the wire.
const BIG_EVENT_BYTES: u64 = 112;

fn generate(profile: Profile, size: u64) -> Generate {
    match profile {
        Profile::Fast => Generate::text(200_000),
        Profile::Paced => Generate::text(1_000),
        Profile::Tool => Generate::text(4).tool_use(size).tool_delta_len(8),
        Profile::Concurrent => Generate::text(200),
        Profile::HugeLine => Generate::text(16),
        Profile::Big => Generate::text(big_deltas(size)).delta_len(BIG_DELTA_LEN),
    }
}

fn reply(profile: Profile, size: u64) -> Reply {
    let generated = || Reply::generated(generate(profile, size));
    let reply = match profile {
        // Generated once, before the first request, so the server only copies bytes: the
        // clients, not the generator, set the pace.
        Profile::Fast => Reply::recorded(generate(profile, size).stream_bytes("claude-bench"))
            .chunking(Chunking::Fixed(64 * 1024)),
        Profile::Big => generated().chunking(Chunking::Fixed(16 * 1024)),
        Profile::Tool => generated().chunking(Chunking::Fixed(4 * 1024)),
        Profile::Paced | Profile::Concurrent => generated().pace_events(Duration::from_millis(5)),
        Profile::HugeLine => generated().fault(Fault::HugeLineAt(1, size)),
    };
    reply.ping_every(None)
}

/// Text deltas of the `big` profile for a stream of about `size` bytes.
fn big_deltas(size: u64) -> u64 {
    size / BIG_EVENT_BYTES
}

fn serve(profile: Profile, size: u64) -> ExitCode {
    let server = match Server::builder()
        .http(HttpVersions::Both)
        .max_concurrent_streams(4096)
        .default_reply(reply(profile, size))
        .try_start()
    {
        Ok(server) => server,
        Err(err) => {
            eprintln!("loopback-bench serve: {err}");
            return ExitCode::FAILURE;
        }
    };
    let generate = generate(profile, size);
    let expected = match profile {
        // Too large to build in memory; the client checks the length.
        Profile::Big => {
            json!({"text_bytes": big_deltas(size) * BIG_DELTA_LEN as u64, "tool_input_bytes": 0})
        }
        _ => {
            let text = generate.expected_text();
            let tool = generate.expected_tool_input();
            let tool_bytes = if tool.is_empty() {
                0
            } else {
                serde_json::from_str::<Value>(&tool)
                    .map(|v| v.to_string().len())
                    .unwrap_or(0)
            };
            json!({"text_bytes": text.len(), "tool_input_bytes": tool_bytes})
        }
    };
    println!(
        "{}",
        json!({"url": server.base_url(), "expected": expected})
    );
    let _ = std::io::stdout().flush();
    // Serve until the driver closes our standard input.
    let mut line = String::new();
    while std::io::stdin()
        .lock()
        .read_line(&mut line)
        .is_ok_and(|n| n > 0)
    {
        line.clear();
    }
    ExitCode::SUCCESS
}

fn params() -> MessageParams {
    MessageParams::new("claude-bench", 1024).message(MessageParam::user("Write at length."))
}

fn config(url: &str) -> ClientConfig {
    ClientConfig::new()
        .api_key("sk-bench-loopback")
        .base_url(url)
        .max_retries(0)
        // The memory run streams a 1 GiB message, past the default limit of 256 MiB.
        .max_message_size(usize::MAX)
}

/// What one client run measured and accumulated.
#[derive(Debug, Default)]
struct Figures {
    events: u64,
    snapshots: u64,
    first_text: Option<Duration>,
    elapsed: Duration,
    cpu: Duration,
    text_bytes: usize,
    tool_input_bytes: usize,
    error: Option<String>,
}

impl Figures {
    fn json(&self) -> Value {
        json!({
            "events": self.events,
            "snapshots": self.snapshots,
            "first_text_s": self.first_text.map(|d| d.as_secs_f64()),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "cpu_s": self.cpu.as_secs_f64(),
            "text_bytes": self.text_bytes,
            "tool_input_bytes": self.tool_input_bytes,
            "error": self.error,
            "peak_rss_bytes": usage::peak_rss(),
        })
    }

    fn finish(&mut self, message: &Message) {
        // Summed over the blocks rather than `message.text()`, which would build a second
        // copy of the text (and double the peak RSS of the 1 GiB run).
        self.text_bytes = message
            .content()
            .iter()
            .filter(|block| block.kind() == BlockKind::Text)
            .filter_map(ContentBlock::text)
            .map(str::len)
            .sum();
        self.tool_input_bytes = message
            .content()
            .iter()
            .find_map(|block| block.input())
            .map_or(0, |input| input.to_string().len());
    }
}

/// Counts one event; reads the snapshot through `snapshot` after input deltas when asked.
fn observe(
    figures: &mut Figures,
    started: Instant,
    event: &StreamEvent,
    tool: bool,
    snapshot: impl Fn(usize) -> Option<usize>,
) {
    figures.events += 1;
    if let StreamEvent::ContentBlockDelta { index, delta } = event {
        match delta {
            Delta::Text(_) if figures.first_text.is_none() => {
                figures.first_text = Some(started.elapsed());
            }
            Delta::InputJson(_) if tool && snapshot(*index).is_some() => {
                figures.snapshots += 1;
            }
            _ => {}
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts")
}

/// Runs one stream in `body`, timing it (wall and CPU) and keeping its error.
fn measure<E: ToString>(body: impl FnOnce(&mut Figures, Instant) -> Result<(), E>) -> Figures {
    let mut figures = Figures::default();
    let cpu = usage::cpu_time();
    let started = Instant::now();
    let result = body(&mut figures, started);
    figures.elapsed = started.elapsed();
    figures.cpu = usage::cpu_time().saturating_sub(cpu);
    figures.error = result.err().map(|e| e.to_string());
    figures
}

fn run_hyper(url: &str, tool: bool) -> Figures {
    let client = transport_hyper::Client::new(config(url));
    measure(|figures, started| {
        runtime().block_on(async {
            let mut stream = client.messages().stream(params()).enter().await?;
            while let Some(event) = stream.next().await {
                let event = event?;
                observe(figures, started, &event, tool, |index| {
                    stream.tool_input_snapshot(index).map(|_| index)
                });
            }
            let message = stream.final_message().await?;
            figures.finish(&message);
            Ok::<(), transport_hyper::Error>(())
        })
    })
}

fn run_ureq(url: &str, tool: bool) -> Figures {
    let client = transport_ureq::Client::new(config(url));
    measure(|figures, started| {
        let mut stream = client.messages().stream(params()).enter()?;
        while let Some(event) = stream.next() {
            let event = event?;
            observe(figures, started, &event, tool, |index| {
                stream.tool_input_snapshot(index).map(|_| index)
            });
        }
        let message = stream.final_message()?;
        figures.finish(&message);
        Ok::<(), transport_ureq::Error>(())
    })
}

fn client(transport: Transport, url: &str, tool: bool) -> ExitCode {
    let figures = match transport {
        Transport::Hyper => run_hyper(url, tool),
        Transport::Ureq => run_ureq(url, tool),
        Transport::Reqwest => {
            measure(|figures, started| runtime().block_on(peer::run(url, figures, started)))
        }
    };
    println!("{}", figures.json());
    if figures.error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn concurrency(url: &str, streams: usize, http: u8) -> ExitCode {
    let config = config(url);
    let client = if http == 2 {
        transport_hyper::Client::builder(config)
            .http2_prior_knowledge()
            .build()
    } else {
        transport_hyper::Client::builder(config)
            .pool_max_idle_per_host(streams)
            .build()
    };
    let rt = runtime();
    let outcome = rt.block_on(async {
        // One stream first, so the runtime, the pool and the allocator are warm.
        let warm = client.messages().stream(params()).enter().await?;
        let mut warm = warm;
        let expected = warm.final_text().await?;
        drop(warm);
        let baseline = usage::rss();
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(baseline));
        let sampler = {
            let peak = std::sync::Arc::clone(&peak);
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(usage::rss(), std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..streams {
            let client = client.clone();
            tasks.spawn(async move {
                let mut stream = client.messages().stream(params()).enter().await?;
                let message = stream.final_message().await?;
                Ok::<_, transport_hyper::Error>(message)
            });
        }
        let mut messages = Vec::with_capacity(streams);
        let mut failures = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(message)) => messages.push(message),
                Ok(Err(err)) => failures.push(err.to_string()),
                Err(err) => failures.push(err.to_string()),
            }
        }
        let elapsed = started.elapsed();
        sampler.abort();
        peak.fetch_max(usage::rss(), std::sync::atomic::Ordering::Relaxed);
        let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
        let right = messages.iter().filter(|m| m.text() == expected).count();
        let content: usize = messages
            .iter()
            .map(|m| m.to_json().to_string().len())
            .sum();
        Ok::<_, transport_hyper::Error>(json!({
            "streams": streams,
            "http": http,
            "completed": messages.len(),
            "right_message": right,
            "failures": failures.len(),
            "first_failure": failures.first(),
            "elapsed_s": elapsed.as_secs_f64(),
            "baseline_rss_bytes": baseline,
            "peak_rss_bytes": peak,
            "message_json_bytes": content,
            "rss_per_stream_bytes": peak.saturating_sub(baseline) / streams.max(1) as u64,
            "rss_per_stream_beyond_message_bytes":
                peak.saturating_sub(baseline).saturating_sub(content as u64) / streams.max(1) as u64,
        }))
    });
    match outcome {
        Ok(report) => {
            let ok = report["right_message"].as_u64() == Some(streams as u64);
            println!("{report}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            println!("{}", json!({"error": err.to_string()}));
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    match Args::parse().command {
        Command::Serve { profile, size } => serve(profile, size),
        Command::Client {
            transport,
            url,
            tool,
        } => client(transport, &url, tool),
        Command::Concurrency { url, streams, http } => concurrency(&url, streams, http),
    }
}
