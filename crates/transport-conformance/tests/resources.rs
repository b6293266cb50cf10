//! Resource bounds, measured on the process itself (Linux `/proc/self`): a stream of ten
//! million small events keeps memory flat beyond the message it accumulates, and ten thousand
//! streams opened and dropped leave no socket and no task behind. Heavy: run in release, as CI
//! does:
//!
//! ```text
//! cargo test --release -p transport-conformance --features ureq,hyper --test resources -- --ignored --nocapture
//! ```
//!
//! `EVENTS` and `STREAMS` change the counts.

#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use messages_test_server::{Fault, Generate, Reply, Server};
use stream_core::messages::{Delta, StreamEvent};
use stream_core::request::{ClientConfig, MessageParam, MessageParams};
use transport_conformance::runners::runtime;

fn count(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The resident set size of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn params() -> MessageParams {
    MessageParams::new("claude-test", 256).message(MessageParam::user("Hello"))
}

fn config(server: &Server) -> ClientConfig {
    ClientConfig::new()
        .api_key("sk-test-key")
        .base_url(server.base_url())
}

const MIB: u64 = 1 << 20;

/// The two tests measure the whole process: they must not run at the same time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
#[ignore = "heavy: ten million events; run in release"]
fn ten_million_small_events_keep_memory_flat() {
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let events = count("EVENTS", 10_000_000);
    // One byte of text per event: the message grows by `events` bytes, nothing else may.
    let server = Server::builder()
        .default_reply(Reply::generated(Generate::text(events).delta_len(1)))
        .start();
    let client = transport_hyper::Client::new(config(&server));
    let started = Instant::now();
    let (warm, end, text) = runtime().block_on(async {
        let mut stream = client.messages().stream(params()).enter().await.unwrap();
        let mut seen = 0u64;
        let mut warm = None;
        while let Some(event) = stream.next().await {
            if let StreamEvent::ContentBlockDelta {
                delta: Delta::Text(_),
                ..
            } = event.unwrap()
            {
                seen += 1;
                if seen == events / 10 {
                    warm = Some(rss());
                }
            }
        }
        let end = rss();
        let message = stream.final_message().await.unwrap();
        (warm.unwrap(), end, message.text().len() as u64)
    });
    assert_eq!(text, events);
    let growth = end.saturating_sub(warm);
    let text_growth = events - events / 10;
    eprintln!(
        "{events} events in {:?}: RSS {} MiB after 10%, {} MiB at the end; grew {} MiB while the \
         text grew {} MiB",
        started.elapsed(),
        warm / MIB,
        end / MIB,
        growth / MIB,
        text_growth / MIB
    );
    // The text lives in a `String` that doubles: at most twice its size, plus 16 MiB.
    assert!(
        growth <= 2 * text_growth + 16 * MIB,
        "memory grew {growth} bytes for {text_growth} bytes of text"
    );
}

#[test]
#[ignore = "heavy: ten thousand streams; run in release"]
fn ten_thousand_dropped_streams_leave_no_socket_or_task() {
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let streams = count("STREAMS", 10_000);
    let server = Server::builder()
        .default_reply(Reply::generated(Generate::text(50)).fault(Fault::StallAfterEvents(4)))
        .start();
    let async_client = transport_hyper::Client::new(config(&server));
    let blocking_client = transport_ureq::Client::new(config(&server));
    // Warm up (the runtime's threads and the resolver), then take the baseline.
    runtime().block_on(async {
        let mut stream = async_client
            .messages()
            .stream(params())
            .enter()
            .await
            .unwrap();
        stream.next().await.unwrap().unwrap();
    });
    assert!(server.wait_all_closed(Duration::from_secs(5)).is_some());
    let fds = open_fds();
    let tasks = runtime().metrics().num_alive_tasks();
    let started = Instant::now();
    // Async: batches of 100 concurrent streams, each dropped after its first event.
    for _ in 0..streams / 200 {
        runtime().block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..100 {
                let client = async_client.clone();
                set.spawn(async move {
                    let mut stream = client.messages().stream(params()).enter().await.unwrap();
                    stream.next().await.unwrap().unwrap();
                });
            }
            while let Some(done) = set.join_next().await {
                done.unwrap();
            }
        });
    }
    // Blocking: the other half, one after the other.
    for _ in 0..streams / 2 {
        let mut stream = blocking_client.messages().stream(params()).enter().unwrap();
        stream.next().unwrap().unwrap();
    }
    let elapsed = started.elapsed();
    assert!(
        server.wait_all_closed(Duration::from_secs(10)).is_some(),
        "the server saw every connection closed"
    );
    // Give the runtime a moment to retire the connection tasks.
    let deadline = Instant::now() + Duration::from_secs(5);
    while runtime().metrics().num_alive_tasks() > tasks && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (fds_after, tasks_after) = (open_fds(), runtime().metrics().num_alive_tasks());
    if tasks_after > tasks {
        eprintln!("tasks left: {:?}", runtime().metrics());
    }
    eprintln!(
        "{streams} streams opened and dropped in {elapsed:?}: {} connections; open fds {fds} -> \
         {fds_after}, tasks {tasks} -> {tasks_after}",
        server.connection_count()
    );
    assert_eq!(
        server.request_count() as u64,
        streams / 200 * 100 + streams / 2 + 1
    );
    assert!(fds_after <= fds, "sockets left open: {fds} -> {fds_after}");
    assert!(tasks_after <= tasks, "tasks left: {tasks} -> {tasks_after}");
}
