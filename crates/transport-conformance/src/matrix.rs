//! The fault matrix: every fault the local server can inject, the outcome a transport must
//! reach, and the time it may take. [`run`] plays one cell with a [`Runner`] and asserts the
//! exact typed error, the events delivered before the fault, the partial message, the attempts
//! and the time bound (nothing hangs; a panic fails the cell); [`markdown`] makes the table of
//! `docs/reliability.md`.

// A cell is a test: it panics, by design, when the transport fails it.
#![allow(clippy::missing_panics_doc)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use messages_test_server::{Fault, Generate, Reply, Server};
use serde_json::Value;
use stream_core::request::{ClientConfig, MessageParam, MessageParams, RetryPolicy, Timeouts};
use stream_core::session::{
    ApiErrorKind, Deadline, ErrorKind, ProtocolError, SessionError, TransportErrorKind,
};
use stream_core::sse::Utf8Mode;

use crate::{Exit, Runner};

/// How many events must have reached the caller before the fault.
#[derive(Clone, Copy, Debug)]
enum Events {
    Exactly(usize),
    AtLeast(usize),
}

/// What a cell must end in.
#[derive(Clone, Debug)]
enum Expect {
    /// This whole final message (as JSON).
    Message(Value),
    /// This error, after these events and attempts.
    Error {
        is: fn(&SessionError) -> bool,
        events: Events,
        attempts: u32,
    },
}

/// One cell, ready to run: the server (kept alive while the cell runs), the client's
/// configuration, and what must happen within what time.
struct Setup {
    server: Server,
    config: ClientConfig,
    trust: bool,
    expect: Expect,
    within: Duration,
}

/// One row of the matrix.
#[derive(Clone, Copy, Debug)]
pub struct Cell {
    /// The cell's name (a test name).
    pub name: &'static str,
    /// The fault, in words.
    pub fault: &'static str,
    build: fn() -> Setup,
}

/// What happened when a transport played a cell.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// The cell's name.
    pub cell: &'static str,
    /// The fault, in words.
    pub fault: &'static str,
    /// The transport.
    pub transport: &'static str,
    /// The error kind reached (`kind_name`, with details), or `message`.
    pub outcome: String,
    /// Events delivered.
    pub events: usize,
    /// Requests sent.
    pub attempts: u32,
    /// From entering to the end (the error, or the final message).
    pub elapsed: Duration,
}

const IDLE: Duration = Duration::from_millis(400);
const HEAD: Duration = Duration::from_millis(300);

fn config(server: &Server) -> ClientConfig {
    let mut retry = RetryPolicy::default();
    retry.initial_backoff = Duration::from_millis(50);
    let mut timeouts = Timeouts::default();
    timeouts.idle = IDLE;
    timeouts.response_head = Duration::from_secs(2);
    ClientConfig::new()
        .api_key("sk-test-key")
        .base_url(server.base_url())
        .retry(retry)
        .timeouts(timeouts)
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/anthropic")
            .join(path),
    )
    .unwrap()
}

const FALLBACK: &str = "recorded/stream-b-fallback.sse";

fn setup(reply: Reply, expect: Expect) -> Setup {
    let server = Server::start();
    server.set_default_reply(reply);
    let config = config(&server);
    Setup {
        server,
        config,
        trust: false,
        expect,
        within: Duration::from_secs(3),
    }
}

fn error(is: fn(&SessionError) -> bool, events: Events, attempts: u32) -> Expect {
    Expect::Error {
        is,
        events,
        attempts,
    }
}

fn reset(e: &SessionError) -> bool {
    matches!(
        e.kind,
        ErrorKind::Transport {
            kind: TransportErrorKind::Reset,
            ..
        }
    )
}

fn idle(e: &SessionError) -> bool {
    matches!(e.kind, ErrorKind::Timeout(Deadline::Idle))
}

fn sse(e: &SessionError) -> bool {
    matches!(e.kind, ErrorKind::Protocol(ProtocolError::Sse(_)))
}

fn text(deltas: u64) -> Reply {
    Reply::generated(Generate::text(deltas))
}

/// The model every cell asks for.
const MODEL: &str = "claude-test";

/// The final message the generator promises for `text(deltas)`.
fn text_message(deltas: u64) -> Expect {
    Expect::Message(Generate::text(deltas).expected_message(MODEL))
}

fn status(code: u16, retry_after: bool) -> Setup {
    let mut reply = Reply::error(code);
    if retry_after {
        reply = reply.header("retry-after", "0.2");
    }
    let retryable = matches!(code, 408 | 409 | 429) || code >= 500;
    let mut setup = setup(
        reply,
        error(
            |e| matches!(&e.kind, ErrorKind::Api(api) if !api.mid_stream),
            Events::Exactly(0),
            if retryable { 3 } else { 1 },
        ),
    );
    setup.within = Duration::from_secs(if retry_after { 3 } else { 2 });
    setup
}

macro_rules! status_cells {
    ($($name:ident, $with:ident = $code:literal),* $(,)?) => {
        [$(
            Cell {
                name: stringify!($name),
                fault: concat!("status ", $code),
                build: || status($code, false),
            },
            Cell {
                name: stringify!($with),
                fault: concat!("status ", $code, " with retry-after"),
                build: || status($code, true),
            },
        )*]
    };
}

/// Every cell.
#[must_use]
pub fn cells() -> Vec<Cell> {
    let mut cells = vec![
        Cell {
            name: "reset_after_bytes",
            fault: "reset (RST) after half the body",
            build: || {
                let wire = fixture(FALLBACK);
                let half = wire.len() as u64 / 2;
                setup(
                    Reply::recorded(wire).fault(Fault::ResetAfterBytes(half)),
                    error(reset, Events::AtLeast(3), 1),
                )
            },
        },
        Cell {
            name: "reset_after_events",
            fault: "reset (RST) after 6 events",
            build: || {
                setup(
                    text(20).fault(Fault::ResetAfterEvents(6)),
                    error(reset, Events::Exactly(6), 1),
                )
            },
        },
        Cell {
            name: "reset_between_cr_and_lf",
            fault: "reset between the CR and the LF of a CRLF",
            build: || {
                let crlf = String::from_utf8(fixture(FALLBACK))
                    .unwrap()
                    .replace('\n', "\r\n");
                let at = crlf.match_indices("\r\n").nth(20).unwrap().0 as u64 + 1;
                setup(
                    Reply::recorded(crlf).fault(Fault::ResetAfterBytes(at)),
                    error(reset, Events::AtLeast(3), 1),
                )
            },
        },
        Cell {
            name: "cut_after_events",
            fault: "FIN without the body's end after 6 events",
            build: || {
                setup(
                    text(20).fault(Fault::CutAfterEvents(6)),
                    error(reset, Events::Exactly(6), 1),
                )
            },
        },
        Cell {
            name: "stall_mid_stream",
            fault: "stall after 8 events (idle deadline 400 ms)",
            build: || {
                setup(
                    text(20).fault(Fault::StallAfterEvents(8)),
                    error(idle, Events::Exactly(8), 1),
                )
            },
        },
        Cell {
            name: "stall_before_any_event",
            fault: "stall right after the head (retried: no output yet)",
            build: || {
                setup(
                    text(20).fault(Fault::StallAfterEvents(0)),
                    error(idle, Events::Exactly(0), 3),
                )
            },
        },
        Cell {
            name: "slow_drip_within_idle",
            fault: "slow drip: 64 bytes every 30 ms",
            build: || setup(text(3).drip(64, Duration::from_millis(30)), text_message(3)),
        },
        Cell {
            name: "slow_drip_past_idle",
            fault: "slow drip: 8 bytes every 600 ms (idle deadline 400 ms)",
            build: || {
                setup(
                    text(3).drip(8, Duration::from_millis(600)),
                    error(idle, Events::Exactly(0), 3),
                )
            },
        },
        Cell {
            name: "garbage_json",
            fault: "an event whose data is not JSON, after 4 events",
            build: || {
                setup(
                    text(5).fault(Fault::InjectAt(
                        4,
                        Bytes::from_static(b"event: content_block_delta\ndata: {not json\n\n"),
                    )),
                    error(
                        |e| matches!(e.kind, ErrorKind::Protocol(ProtocolError::InvalidEvent(_))),
                        Events::Exactly(4),
                        1,
                    ),
                )
            },
        },
        Cell {
            name: "garbage_bytes_ignored",
            fault: "garbage bytes that are no SSE field (ignored, as the standard says)",
            build: || {
                setup(
                    text(5).fault(Fault::InjectAt(
                        4,
                        Bytes::from_static(b"\x00\x1b[31mgarbage{\xfe\n\n"),
                    )),
                    // Nothing of the garbage reaches the message.
                    text_message(5),
                )
            },
        },
        Cell {
            name: "huge_line",
            fault: "a 64 MiB line with no newline (line limit 4 KiB)",
            build: || {
                let mut setup = setup(
                    text(5).fault(Fault::HugeLineAt(4, 64 << 20)),
                    error(sse, Events::Exactly(4), 1),
                );
                setup.config.decoder = setup.config.decoder.clone().max_line_len(4096);
                setup
            },
        },
        Cell {
            name: "invalid_utf8_lossy",
            fault: "invalid UTF-8 in a text delta (default lossy decoding)",
            build: || {
                // The injected delta comes after the first text delta (events: start, block
                // start, ping, delta 1, injected, delta 2), each invalid sequence one U+FFFD.
                let mut message = Generate::text(2).expected_message(MODEL);
                let generated = message["content"][0]["text"].as_str().unwrap().to_owned();
                let (first, second) = generated.split_at(16);
                message["content"][0]["text"] =
                    format!("{first}bad \u{fffd} \u{fffd}( \u{fffd} end{second}").into();
                setup(
                    text(2).fault(Fault::InvalidUtf8At(4, 0)),
                    Expect::Message(message),
                )
            },
        },
        Cell {
            name: "invalid_utf8_strict",
            fault: "invalid UTF-8 in a text delta (strict decoding)",
            build: || {
                let mut setup = setup(
                    text(2).fault(Fault::InvalidUtf8At(4, 0)),
                    error(sse, Events::Exactly(4), 1),
                );
                setup.config.decoder = setup.config.decoder.clone().utf8(Utf8Mode::Strict);
                setup
            },
        },
        Cell {
            name: "error_event_first",
            fault: "`error` event (overloaded) before any output, every attempt",
            build: || {
                setup(
                    text(5).fault(Fault::ErrorEventAt(0)),
                    error(
                        |e| matches!(&e.kind, ErrorKind::Api(api) if api.kind == ApiErrorKind::Overloaded),
                        Events::Exactly(0),
                        3,
                    ),
                )
            },
        },
        Cell {
            name: "error_event_mid_stream",
            fault: "`error` event (overloaded) after 5 events",
            build: || {
                setup(
                    text(10).fault(Fault::ErrorEventAt(5)),
                    error(
                        |e| matches!(&e.kind, ErrorKind::Api(api) if api.kind == ApiErrorKind::Overloaded && api.mid_stream),
                        Events::Exactly(5),
                        1,
                    ),
                )
            },
        },
        Cell {
            name: "end_before_message_stop",
            fault: "a clean end before `message_stop`",
            build: || {
                setup(
                    text(5).fault(Fault::EndBeforeMessageStop),
                    error(
                        |e| matches!(e.kind, ErrorKind::Protocol(ProtocolError::Truncated { .. })),
                        Events::AtLeast(8),
                        1,
                    ),
                )
            },
        },
        Cell {
            name: "wrong_content_type",
            fault: "a 200 HTML page",
            build: || {
                setup(
                    Reply::html(),
                    error(
                        |e| {
                            matches!(
                                e.kind,
                                ErrorKind::Protocol(ProtocolError::WrongContentType { .. })
                            )
                        },
                        Events::Exactly(0),
                        1,
                    ),
                )
            },
        },
        Cell {
            name: "tls_untrusted",
            fault: "TLS handshake failure (self-signed certificate not trusted)",
            build: || {
                let server = Server::builder().tls().start();
                let config = config(&server);
                Setup {
                    server,
                    config,
                    trust: false,
                    expect: error(
                        |e| {
                            matches!(
                                e.kind,
                                ErrorKind::Transport {
                                    kind: TransportErrorKind::Tls,
                                    ..
                                }
                            )
                        },
                        Events::Exactly(0),
                        1,
                    ),
                    within: Duration::from_secs(2),
                }
            },
        },
        Cell {
            name: "tls_trusted",
            fault: "TLS with the server's certificate trusted (no fault)",
            build: || {
                let server = Server::builder().tls().start();
                let config = config(&server);
                Setup {
                    server,
                    config,
                    trust: true,
                    expect: Expect::Message(Generate::default().expected_message(MODEL)),
                    within: Duration::from_secs(2),
                }
            },
        },
        Cell {
            name: "never_answers",
            fault: "accepts, reads the request, never answers (head deadline 300 ms)",
            build: || {
                let mut setup = setup(
                    Reply::silence(),
                    error(
                        |e| matches!(e.kind, ErrorKind::Timeout(Deadline::ResponseHead)),
                        Events::Exactly(0),
                        3,
                    ),
                );
                setup.config.timeouts.response_head = HEAD;
                setup
            },
        },
        Cell {
            name: "connection_refused",
            fault: "nothing listens at the address",
            build: || {
                let mut setup = setup(
                    text(1),
                    error(
                        |e| {
                            matches!(
                                e.kind,
                                ErrorKind::Transport {
                                    kind: TransportErrorKind::Connect,
                                    ..
                                }
                            )
                        },
                        Events::Exactly(0),
                        3,
                    ),
                );
                let closed = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .unwrap();
                setup.config = setup.config.clone().base_url(format!("http://{closed}"));
                setup
            },
        },
    ];
    cells.extend(status_cells![
        status_400,
        status_400_retry_after = 400,
        status_401,
        status_401_retry_after = 401,
        status_403,
        status_403_retry_after = 403,
        status_404,
        status_404_retry_after = 404,
        status_413,
        status_413_retry_after = 413,
        status_408,
        status_408_retry_after = 408,
        status_409,
        status_409_retry_after = 409,
        status_429,
        status_429_retry_after = 429,
        status_500,
        status_500_retry_after = 500,
        status_502,
        status_502_retry_after = 502,
        status_503,
        status_503_retry_after = 503,
        status_504,
        status_504_retry_after = 504,
        status_529,
        status_529_retry_after = 529,
    ]);
    cells
}

/// Plays the cell `name` with `R` and asserts everything it promises.
///
/// # Panics
///
/// When the transport fails the cell (or there is no such cell).
// The assertions are the point; the outcome is only for the table.
#[allow(clippy::must_use_candidate)]
pub fn run<R: Runner>(name: &str, transport: &'static str) -> Outcome {
    let cell = cells()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no cell {name}"));
    let setup = (cell.build)();
    let roots = setup
        .trust
        .then(|| setup.server.certificate_der())
        .flatten();
    let client = R::client(setup.config.clone(), roots);
    let params = MessageParams::new(MODEL, 256).message(MessageParam::user("Hello"));
    let started = Instant::now();
    let played = catch_unwind(AssertUnwindSafe(|| {
        R::run(&client, params, Exit::Drain, &mut || {})
    }));
    let elapsed = started.elapsed();
    let Ok(run) = played else {
        panic!("{transport}: {name}: the transport panicked");
    };
    assert!(
        elapsed < setup.within,
        "{transport}: {name}: took {elapsed:?}, more than {:?}",
        setup.within
    );
    let attempts = u32::try_from(setup.server.request_count()).unwrap_or(u32::MAX);
    let outcome = match setup.expect {
        Expect::Message(expected) => {
            let message = run.message.as_ref().unwrap_or_else(|| {
                panic!(
                    "{transport}: {name}: no message: {:?}",
                    run.error.as_ref().or(run.enter_error.as_ref())
                )
            });
            assert_eq!(message.to_json(), expected, "{transport}: {name}");
            "message".to_owned()
        }
        Expect::Error {
            is,
            events,
            attempts: want_attempts,
        } => {
            let failure = run.failure();
            assert!(is(failure), "{transport}: {name}: {failure}");
            match events {
                Events::Exactly(n) => assert_eq!(run.events.len(), n, "{transport}: {name}"),
                Events::AtLeast(n) => assert!(run.events.len() >= n, "{transport}: {name}"),
            }
            assert_eq!(
                failure.attempts, want_attempts,
                "{transport}: {name}: attempts"
            );
            if !run.events.is_empty() {
                assert!(
                    failure.partial.is_some(),
                    "{transport}: {name}: the partial message"
                );
                assert!(
                    failure.request_id.is_some(),
                    "{transport}: {name}: the request id"
                );
            }
            describe(failure)
        }
    };
    Outcome {
        cell: cell.name,
        fault: cell.fault,
        transport,
        outcome,
        events: run.events.len(),
        attempts,
        elapsed,
    }
}

fn describe(failure: &SessionError) -> String {
    let detail = match &failure.kind {
        ErrorKind::Api(api) => format!("{} {:?}", api.status, api.kind),
        ErrorKind::Transport { kind, .. } => format!("{kind:?}"),
        ErrorKind::Timeout(deadline) => format!("{deadline:?}"),
        ErrorKind::Protocol(ProtocolError::Sse(err)) => format!("{err}"),
        ErrorKind::Protocol(ProtocolError::Truncated { .. }) => "no message_stop".to_owned(),
        ErrorKind::Protocol(ProtocolError::WrongContentType { content_type, .. }) => {
            content_type.clone()
        }
        ErrorKind::Protocol(_) => String::new(),
        _ => String::new(),
    };
    let partial = if failure.partial.is_some() {
        ", partial kept"
    } else {
        ""
    };
    if detail.is_empty() {
        format!("`{}`{partial}", failure.kind_name())
    } else {
        format!("`{}` ({detail}){partial}", failure.kind_name())
    }
}

/// The matrix as a Markdown table.
#[must_use]
pub fn markdown(outcomes: &[Outcome]) -> String {
    let mut table = String::from(
        "| fault | transport | outcome | events before | requests | time to end |\n|---|---|---|---|---|---|\n",
    );
    for o in outcomes {
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} ms |\n",
            o.fault,
            o.transport,
            o.outcome,
            o.events,
            o.attempts,
            o.elapsed.as_millis()
        ));
    }
    table
}
