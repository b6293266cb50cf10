//! The session on arbitrary sequences of driver inputs (statuses, headers, body pieces,
//! transport errors, times, closes), with input for the current attempt or a stale one, for a
//! request to the Anthropic API (SSE) or to Amazon Bedrock (event stream frames, signed per
//! attempt).
//! Invariants: no panic; outputs stay well-formed (attempt numbers only grow, at most
//! `max_retries + 1` requests, every drop names a sent attempt); at most one `Finished`;
//! nothing but one connection drop after `close`.

use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use stream_core::eventstream::bedrock;
use stream_core::provider::{AuthError, Authorizer, Provider};
use stream_core::request::{ClientConfig, MessageParam, MessageParams, Request};
use stream_core::session::{AttemptId, Output, Session, TransportErrorKind};
use stream_core::sse::Decoder;

#[derive(Debug, Arbitrary)]
enum Op {
    Enter,
    Head {
        stale: bool,
        status: u16,
        headers: Vec<(u8, String)>,
    },
    Body {
        stale: bool,
        bytes: Vec<u8>,
    },
    Fixture {
        stale: bool,
        upto: u16,
    },
    /// A 200 with the provider's streaming content type.
    StreamHead {
        stale: bool,
    },
    End {
        stale: bool,
    },
    Error {
        stale: bool,
        kind: u8,
    },
    Advance {
        millis: u32,
    },
    ToDeadline,
    Close,
}

const HEADER_NAMES: [&str; 7] = [
    "content-type",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "request-id",
    "date",
    "x-other",
];

const STREAM: &[u8] =
    include_bytes!("../../../../fixtures/anthropic/recorded/stream-a-refusal.sse");

/// The recorded stream as Bedrock frames it: one `chunk` per event.
fn bedrock_stream() -> &'static [u8] {
    static FRAMED: OnceLock<Vec<u8>> = OnceLock::new();
    FRAMED.get_or_init(|| {
        let mut decoder = Decoder::new();
        decoder.feed_slice(STREAM);
        decoder.finish();
        let mut framed = Vec::new();
        while let Ok(Some(event)) = decoder.next_event() {
            framed.extend_from_slice(&bedrock::chunk(event.data()).encode());
        }
        framed
    })
}

/// Signs nothing, needs the wall clock: as Bedrock's signer does.
#[derive(Debug)]
struct NeedsClock;

impl Authorizer for NeedsClock {
    fn authorize(
        &self,
        request: &mut Request,
        unix_time: Option<Duration>,
    ) -> Result<(), AuthError> {
        let time = unix_time.ok_or_else(|| AuthError::new("no clock"))?;
        request
            .headers
            .push(("x-amz-date".into(), time.as_secs().to_string()));
        Ok(())
    }
}

/// Runs the target on one input: the bytes are read as the fuzzer reads them
/// (`arbitrary`, taking the rest), and inputs that do not decode are skipped.
pub(crate) fn check(data: &[u8]) {
    let Ok(input) = <(u64, Vec<Op>)>::arbitrary_take_rest(arbitrary::Unstructured::new(data))
    else {
        return;
    };
    let (seed, ops) = input;
    let bedrock = seed & 1 == 1;
    let (config, stream, content_type) = if bedrock {
        let config = ClientConfig::new()
            .provider(Provider::bedrock("us-east-1"))
            .authorizer(NeedsClock);
        (
            config,
            bedrock_stream(),
            "application/vnd.amazon.eventstream",
        )
    } else {
        (
            ClientConfig::new().api_key("k"),
            STREAM,
            "text/event-stream",
        )
    };
    let params = MessageParams::new("m", 1).message(MessageParam::user("x"));
    let mut session = Session::new(&config, &params)
        .unwrap()
        .with_jitter_seed(seed);
    if seed & 2 == 2 {
        session.set_wall_clock(Duration::ZERO, Duration::from_secs(seed >> 34));
    }
    let mut now = Duration::ZERO;
    let mut current: Option<AttemptId> = None;
    let mut sent: Vec<AttemptId> = Vec::new();
    let mut finished = 0;
    let mut closed = false;
    for op in ops {
        let attempt = |stale: bool| match (stale, sent.first(), current) {
            (true, Some(first), _) => Some(*first),
            (_, _, Some(a)) => Some(a),
            _ => None,
        };
        match op {
            Op::Enter => {
                let _ = session.enter(now);
            }
            Op::Head {
                stale,
                status,
                headers,
            } => {
                if let Some(a) = attempt(stale) {
                    let headers: Vec<(&str, String)> = headers
                        .iter()
                        .map(|(n, v)| {
                            (
                                HEADER_NAMES[usize::from(*n) % HEADER_NAMES.len()],
                                v.clone(),
                            )
                        })
                        .collect();
                    session.handle_response_head(
                        a,
                        now,
                        status,
                        headers.iter().map(|(n, v)| (*n, v.as_bytes())),
                    );
                }
            }
            Op::Body { stale, bytes } => {
                if let Some(a) = attempt(stale) {
                    session.handle_body(a, now, bytes);
                }
            }
            Op::Fixture { stale, upto } => {
                if let Some(a) = attempt(stale) {
                    let end = usize::from(upto) % (stream.len() + 1);
                    session.handle_body(a, now, stream[..end].to_vec());
                }
            }
            Op::StreamHead { stale } => {
                if let Some(a) = attempt(stale) {
                    session.handle_response_head(a, now, 200, [("content-type", content_type)]);
                }
            }
            Op::End { stale } => {
                if let Some(a) = attempt(stale) {
                    session.handle_end(a, now);
                }
            }
            Op::Error { stale, kind } => {
                if let Some(a) = attempt(stale) {
                    let kind = [
                        TransportErrorKind::Connect,
                        TransportErrorKind::Reset,
                        TransportErrorKind::Tls,
                        TransportErrorKind::Other,
                    ][usize::from(kind) % 4];
                    session.handle_transport_error(a, now, kind, "e");
                }
            }
            Op::Advance { millis } => {
                now += Duration::from_millis(u64::from(millis));
                session.handle_timeout(now);
            }
            Op::ToDeadline => {
                if let Some(deadline) = session.poll_timeout() {
                    now = now.max(deadline);
                    session.handle_timeout(now);
                }
            }
            Op::Close => {
                session.close(now);
                closed = true;
            }
        }
        let mut drops_after_close = 0;
        while let Some(output) = session.poll_output() {
            match output {
                Output::Send { attempt, .. } => {
                    assert!(!closed && finished == 0, "a request after the end");
                    assert!(
                        sent.last().is_none_or(|last| attempt > *last),
                        "attempt ids grow"
                    );
                    sent.push(attempt);
                    current = Some(attempt);
                    assert!(sent.len() <= 3, "more requests than retries allow");
                }
                Output::DropConnection { attempt } => {
                    assert!(sent.contains(&attempt), "drop of an attempt never sent");
                    if closed {
                        drops_after_close += 1;
                        assert!(drops_after_close <= 1);
                    }
                }
                Output::Event(_) => assert!(!closed, "an event after close"),
                Output::Finished(_) => {
                    assert!(!closed, "finished after close");
                    finished += 1;
                    assert_eq!(finished, 1, "finished twice");
                }
                _ => {}
            }
        }
        if closed {
            assert!(session.poll_timeout().is_none());
        }
    }
}
