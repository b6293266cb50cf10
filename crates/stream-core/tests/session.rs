//! The session with a simulated clock: a small driver owns a fake time, steps the session to
//! its next deadline, plays a scripted server and records a transcript of the outputs.

use std::time::Duration;

use stream_core::request::{ClientConfig, MessageParam, MessageParams, RetryPolicy, Timeouts};
use stream_core::session::{
    ApiErrorKind, AttemptId, CallerError, Deadline, ErrorKind, Output, ProtocolError, Session,
    SessionError, SessionState, TransportErrorKind,
};

const KEY: &str = "sk-ant-TESTKEY-0123456789-do-not-leak";

/// One output, summarised for the transcript.
#[derive(Debug)]
enum Out {
    Send(AttemptId, Option<String>),
    Drop(AttemptId),
    Event(String),
    Finished(Result<String, Box<SessionError>>),
}

struct Sim {
    session: Session,
    now: Duration,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config() -> ClientConfig {
    let mut retry = RetryPolicy::default();
    retry.jitter = 0.0;
    ClientConfig::new().api_key(KEY).retry(retry)
}

fn params() -> MessageParams {
    MessageParams::new("claude-test", 64).message(MessageParam::user("Hi"))
}

const STREAM: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: ping\ndata: {\"type\": \"ping\"}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" world\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":3}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

const SSE_HEAD: [(&str, &str); 2] = [
    ("content-type", "text/event-stream"),
    ("request-id", "req_ok"),
];

impl Sim {
    fn new(config: &ClientConfig) -> Self {
        Self {
            session: Session::new(config, &params()).unwrap(),
            now: Duration::ZERO,
        }
    }

    fn drain(&mut self) -> Vec<Out> {
        let mut out = Vec::new();
        while let Some(output) = self.session.poll_output() {
            out.push(match output {
                Output::Send { attempt, request } => Send(
                    attempt,
                    request.header("x-stainless-retry-count").map(str::to_owned),
                ),
                Output::DropConnection { attempt } => Drop(attempt),
                Output::Event(event) => Event(event.event_type().to_owned()),
                Output::Finished(result) => Finished(result.map(|m| m.text())),
                other => panic!("unknown output {other:?}"),
            });
        }
        out
    }

    /// Enters and returns the first attempt.
    fn enter(&mut self) -> AttemptId {
        self.session.enter(self.now).unwrap();
        match self.drain().as_slice() {
            [Send(attempt, _)] => *attempt,
            other => panic!("{other:?}"),
        }
    }

    /// Moves the clock to the next deadline and handles it.
    fn advance(&mut self) -> Vec<Out> {
        let deadline = self.session.poll_timeout().expect("a deadline");
        assert!(deadline >= self.now, "deadline in the past");
        self.now = deadline;
        self.session.handle_timeout(self.now);
        self.drain()
    }

    fn head(&mut self, attempt: AttemptId, status: u16, headers: &[(&str, &str)]) -> Vec<Out> {
        self.session
            .handle_response_head(attempt, self.now, status, headers.iter().copied());
        self.drain()
    }

    fn body(&mut self, attempt: AttemptId, bytes: &str) -> Vec<Out> {
        self.session
            .handle_body(attempt, self.now, bytes.as_bytes().to_vec());
        self.drain()
    }

    fn end(&mut self, attempt: AttemptId) -> Vec<Out> {
        self.session.handle_end(attempt, self.now);
        self.drain()
    }
}

use Out::{Drop, Event, Finished, Send};

fn error(outs: &[Out]) -> &SessionError {
    match outs.last() {
        Some(Finished(Err(err))) => err,
        other => panic!("expected an error, got {other:?} in {outs:?}"),
    }
}

fn overloaded_body() -> &'static str {
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_body"}"#
}

#[test]
fn nothing_happens_before_enter_and_enter_twice_is_a_caller_error() {
    let mut sim = Sim::new(&config());
    assert_eq!(sim.session.state(), SessionState::Deferred);
    assert!(sim.drain().is_empty());
    assert_eq!(sim.session.poll_timeout(), None);
    let attempt = sim.enter();
    assert_eq!(attempt.number(), 0);
    assert_eq!(sim.session.enter(sim.now), Err(CallerError::AlreadyEntered));
    assert!(sim.drain().is_empty(), "no second request");
    assert_eq!(sim.session.attempts(), 1);
}

#[test]
fn the_request_carries_the_configuration() {
    let config = config()
        .beta("b1")
        .beta("b2")
        .header("x-extra", "1")
        .base_url("http://127.0.0.1:9/");
    let mut session = Session::new(&config, &params()).unwrap();
    session.enter(Duration::ZERO).unwrap();
    let Some(Output::Send { request, .. }) = session.poll_output() else {
        panic!()
    };
    assert_eq!(request.url, "http://127.0.0.1:9/v1/messages");
    assert_eq!(request.header("x-api-key"), Some(KEY));
    assert_eq!(request.header("anthropic-beta"), Some("b1,b2"));
    assert_eq!(request.header("x-extra"), Some("1"));
    assert_eq!(request.header("x-stainless-retry-count"), Some("0"));
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["model"], "claude-test");
    assert!(!format!("{request:?}").contains(KEY));
}

#[test]
fn streams_to_the_final_message_in_any_chunking() {
    for chunk in [STREAM.len(), 1, 7, 100] {
        let mut sim = Sim::new(&config());
        let attempt = sim.enter();
        assert!(sim.head(attempt, 200, &SSE_HEAD).is_empty());
        assert_eq!(sim.session.state(), SessionState::Streaming);
        let mut outs = Vec::new();
        for piece in STREAM.as_bytes().chunks(chunk) {
            outs.extend(sim.body(attempt, std::str::from_utf8(piece).unwrap_or_default()));
            if std::str::from_utf8(piece).is_err() {
                unreachable!("the stream is ASCII");
            }
        }
        outs.extend(sim.end(attempt));
        let events: Vec<&str> = outs
            .iter()
            .filter_map(|o| {
                if let Event(e) = o {
                    Some(e.as_str())
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(events.len(), 8, "chunk {chunk}: {outs:?}");
        assert!(matches!(outs.last(), Some(Finished(Ok(text))) if text == "Hello world"));
        assert_eq!(sim.session.state(), SessionState::Done);
        assert_eq!(sim.session.request_id(), Some("req_ok"));
        assert_eq!(sim.session.poll_timeout(), None);
    }
}

#[test]
fn events_are_decoded_one_per_poll() {
    let mut sim = Sim::new(&config());
    let attempt = sim.enter();
    sim.head(attempt, 200, &SSE_HEAD);
    sim.session
        .handle_body(attempt, sim.now, STREAM.as_bytes().to_vec());
    assert!(matches!(sim.session.poll_output(), Some(Output::Event(_))));
    assert!(
        sim.session.snapshot().unwrap().content().is_empty(),
        "only message_start applied"
    );
    assert!(matches!(sim.session.poll_output(), Some(Output::Event(_))));
    assert_eq!(sim.session.snapshot().unwrap().content().len(), 1);
}

#[test]
fn retry_after_is_obeyed_exactly() {
    let mut sim = Sim::new(&config());
    let a0 = sim.enter();
    let outs = sim.head(a0, 529, &[("retry-after", "1"), ("request-id", "req_a")]);
    assert!(matches!(outs.as_slice(), [Drop(a)] if *a == a0));
    assert_eq!(sim.session.state(), SessionState::Backoff);
    let outs = sim.advance();
    assert_eq!(sim.now, ms(1000));
    let a1 = match outs.as_slice() {
        [Send(a, Some(count))] if count == "1" => *a,
        other => panic!("{other:?}"),
    };
    let outs = sim.head(a1, 529, &[("retry-after-ms", "250")]);
    assert!(matches!(outs.as_slice(), [Drop(_)]));
    sim.advance();
    assert_eq!(sim.now, ms(1250));
    assert_eq!(sim.session.attempts(), 3);
}

#[test]
fn backoff_doubles_then_the_last_error_is_returned() {
    let mut sim = Sim::new(&config());
    let a0 = sim.enter();
    sim.head(a0, 500, &[]);
    let outs = sim.advance();
    assert_eq!(sim.now, ms(500));
    let [Send(a1, _)] = outs.as_slice() else {
        panic!("{outs:?}")
    };
    let a1 = *a1;
    sim.head(a1, 503, &[]);
    let outs = sim.advance();
    assert_eq!(sim.now, ms(1500));
    let [Send(a2, Some(count))] = outs.as_slice() else {
        panic!("{outs:?}")
    };
    assert_eq!(count, "2");
    let a2 = *a2;
    // Retries are spent: the error body is read and becomes the error.
    assert!(sim.head(a2, 529, &[("request-id", "req_last")]).is_empty());
    assert_eq!(sim.session.state(), SessionState::ErrorBody);
    sim.body(a2, &overloaded_body()[..20]);
    let outs = sim.body(a2, &overloaded_body()[20..]);
    assert!(outs.is_empty());
    let outs = sim.end(a2);
    let err = error(&outs);
    let ErrorKind::Api(api) = &err.kind else {
        panic!("{err:?}")
    };
    assert_eq!(
        (api.status, &api.kind, api.message.as_str()),
        (529, &ApiErrorKind::Overloaded, "Overloaded")
    );
    assert!(!api.mid_stream);
    assert_eq!(err.request_id.as_deref(), Some("req_last"));
    assert_eq!(err.attempts, 3);
    assert_eq!(err.kind_name(), "overloaded");
    assert_eq!(sim.session.state(), SessionState::Failed);
}

#[test]
fn jitter_takes_off_at_most_a_quarter_and_is_deterministic() {
    let mut delays = Vec::new();
    for _ in 0..2 {
        let mut session = Session::new(&ClientConfig::new(), &params())
            .unwrap()
            .with_jitter_seed(42);
        session.enter(Duration::ZERO).unwrap();
        let Some(Output::Send { attempt, .. }) = session.poll_output() else {
            panic!()
        };
        session.handle_response_head(attempt, Duration::ZERO, 500, [("a", "b")]);
        let _ = session.poll_output();
        delays.push(session.poll_timeout().unwrap());
    }
    assert_eq!(delays[0], delays[1]);
    assert!(
        delays[0] <= ms(500) && delays[0] >= ms(375),
        "{:?}",
        delays[0]
    );
}

#[test]
fn should_retry_header_overrides_the_status() {
    let mut sim = Sim::new(&config());
    let a0 = sim.enter();
    assert!(sim.head(a0, 500, &[("x-should-retry", "false")]).is_empty());
    assert_eq!(sim.session.state(), SessionState::ErrorBody);

    let mut sim = Sim::new(&config());
    let a0 = sim.enter();
    assert!(matches!(
        sim.head(a0, 400, &[("x-should-retry", "true")]).as_slice(),
        [Drop(_)]
    ));
    assert_eq!(sim.session.state(), SessionState::Backoff);
}

#[test]
fn retryable_statuses_and_others() {
    for (status, retried) in [
        (408, true),
        (409, true),
        (429, true),
        (500, true),
        (502, true),
        (529, true),
        (400, false),
        (401, false),
        (403, false),
        (404, false),
        (413, false),
    ] {
        let mut sim = Sim::new(&config());
        let a0 = sim.enter();
        let outs = sim.head(a0, status, &[]);
        assert_eq!(!outs.is_empty(), retried, "status {status}");
    }
}

#[test]
fn retry_after_bounds_and_http_dates() {
    let cases: [(&[(&str, &str)], u64); 6] = [
        (&[("retry-after", "-1")], 500),
        (&[("retry-after", "soon")], 500),
        (&[("retry-after", "100000")], 500),
        (&[("retry-after", "0")], 500),
        (&[("retry-after", "2.5")], 2500),
        (
            &[
                ("retry-after", "Wed, 21 Oct 2015 07:28:03 GMT"),
                ("date", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ],
            3000,
        ),
    ];
    for (headers, expected) in cases {
        let mut sim = Sim::new(&config());
        let a0 = sim.enter();
        sim.head(a0, 429, headers);
        sim.advance();
        assert_eq!(sim.now, ms(expected), "{headers:?}");
    }
}

#[test]
fn final_errors_are_typed_with_the_body() {
    let mut sim = Sim::new(&config());
    let a0 = sim.enter();
    sim.head(a0, 400, &[("request-id", "req_bad")]);
    let outs = sim.body(a0, r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too big"}}"#);
    assert!(outs.is_empty());
    let outs = sim.end(a0);
    let err = error(&outs);
    assert!(
        matches!(&err.kind, ErrorKind::Api(api) if api.kind == ApiErrorKind::InvalidRequest && api.message == "max_tokens: too big" && api.status == 400)
    );
    assert_eq!(err.request_id.as_deref(), Some("req_bad"));
    assert!(err.to_string().contains("req_bad"));

    // A body that is not the API's shape is kept as the message.
    let mut sim = Sim::new(&config());
    let a0 = sim.enter();
    sim.head(a0, 404, &[]);
    sim.body(a0, "<html>nope</html>");
    let err_outs = sim.end(a0);
    let err = error(&err_outs);
    assert!(
        matches!(&err.kind, ErrorKind::Api(api) if api.kind == ApiErrorKind::NotFound && api.message == "<html>nope</html>")
    );
}

#[test]
fn wrong_content_type_keeps_a_bounded_prefix() {
    let mut config = config();
    config.max_error_body = 16;
    let mut sim = Sim::new(&config);
    let a0 = sim.enter();
    assert!(
        sim.head(a0, 200, &[("content-type", "text/html")])
            .is_empty()
    );
    let outs = sim.body(a0, "<html><body>Proxy says no</body></html>");
    assert!(
        matches!(outs.first(), Some(Drop(_))),
        "stops reading at the limit: {outs:?}"
    );
    let err = error(&outs);
    assert!(
        matches!(&err.kind, ErrorKind::Protocol(ProtocolError::WrongContentType { content_type, body_prefix }) if content_type == "text/html" && body_prefix == "<html><body>Prox")
    );
}

#[test]
fn transport_errors_retry_except_tls() {
    let mut sim = Sim::new(&config());
    let a0 = sim.enter();
    sim.session
        .handle_transport_error(a0, sim.now, TransportErrorKind::Connect, "refused");
    assert!(matches!(sim.drain().as_slice(), [Drop(_)]));
    assert!(matches!(sim.advance().as_slice(), [Send(_, _)]));

    let mut sim = Sim::new(&config());
    let a0 = sim.enter();
    sim.session
        .handle_transport_error(a0, sim.now, TransportErrorKind::Tls, "unknown issuer");
    let outs = sim.drain();
    assert!(
        matches!(&error(&outs).kind, ErrorKind::Transport { kind: TransportErrorKind::Tls, message } if message == "unknown issuer")
    );
}

#[test]
fn head_timeouts_retry_then_fail() {
    let mut sim = Sim::new(&config());
    sim.enter();
    for expected_now in [60_000, 60_500, 120_500, 121_500] {
        let outs = sim.advance();
        assert_eq!(sim.now, ms(expected_now));
        if expected_now == 121_500 {
            assert!(matches!(outs.as_slice(), [Send(_, _)]));
        } else if expected_now == 60_000 || expected_now == 120_500 {
            assert!(matches!(outs.as_slice(), [Drop(_)]), "{outs:?}");
        }
    }
    let outs = sim.advance();
    assert_eq!(sim.now, ms(181_500));
    assert!(matches!(
        error(&outs).kind,
        ErrorKind::Timeout(Deadline::ResponseHead)
    ));
}

#[test]
fn idle_deadline_after_output_fails_with_the_partial_message() {
    let mut sim = Sim::new(&config());
    let a0 = sim.enter();
    sim.head(a0, 200, &SSE_HEAD);
    let first_four: String = STREAM.split_inclusive("\n\n").take(4).collect();
    let outs = sim.body(a0, &first_four);
    assert_eq!(outs.len(), 4);
    assert_eq!(sim.session.poll_timeout(), Some(ms(90_000)));
    sim.now = ms(30_000);
    sim.session.handle_timeout(sim.now); // early: nothing happens
    assert!(sim.drain().is_empty());
    let outs = sim.advance();
    assert_eq!(sim.now, ms(90_000));
    assert!(matches!(outs.first(), Some(Drop(_))));
    let err = error(&outs);
    assert!(matches!(err.kind, ErrorKind::Timeout(Deadline::Idle)));
    assert_eq!(err.partial.as_ref().unwrap().text(), "Hello");
    assert_eq!(err.request_id.as_deref(), Some("req_ok"));
}

#[test]
fn error_event_before_any_output_is_retried_and_after_is_an_api_error() {
    let error_event = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let mut sim = Sim::new(&config());
    let a0 = sim.enter();
    sim.head(a0, 200, &SSE_HEAD);
    let outs = sim.body(a0, error_event);
    assert!(matches!(outs.as_slice(), [Drop(_)]), "{outs:?}");
    let outs = sim.advance();
    let [Send(a1, _)] = outs.as_slice() else {
        panic!("{outs:?}")
    };
    let a1 = *a1;

    sim.head(a1, 200, &SSE_HEAD);
    let first_four: String = STREAM.split_inclusive("\n\n").take(4).collect();
    sim.body(a1, &first_four);
    let outs = sim.body(a1, error_event);
    let err = error(&outs);
    let ErrorKind::Api(api) = &err.kind else {
        panic!("{err:?}")
    };
    assert!(api.mid_stream);
    assert_eq!(api.kind, ApiErrorKind::Overloaded);
    assert_eq!(err.partial.as_ref().unwrap().text(), "Hello");
}

#[test]
fn end_of_stream_before_output_is_retried_and_after_is_truncation() {
    let mut sim = Sim::new(&config());
    let a0 = sim.enter();
    sim.head(a0, 200, &SSE_HEAD);
    let outs = sim.end(a0);
    assert!(matches!(outs.as_slice(), [Drop(_)]), "{outs:?}");

    let mut sim = Sim::new(&config());
    let a0 = sim.enter();
    sim.head(a0, 200, &SSE_HEAD);
    let first_four: String = STREAM.split_inclusive("\n\n").take(4).collect();
    sim.body(a0, &first_four);
    let outs = sim.end(a0);
    let err = error(&outs);
    assert!(
        matches!(&err.kind, ErrorKind::Protocol(ProtocolError::Truncated { open_blocks }) if open_blocks == &[0])
    );
    assert_eq!(err.partial.as_ref().unwrap().text(), "Hello");
    assert_eq!(err.kind_name(), "truncated");
}

#[test]
fn nothing_is_retried_once_an_event_reached_the_caller() {
    // Deliver message_start, then every failure that would otherwise retry.
    let failures: [fn(&mut Sim, AttemptId) -> Vec<Out>; 3] = [
        |sim, a| sim.end(a),
        |sim, a| {
            sim.session
                .handle_transport_error(a, sim.now, TransportErrorKind::Reset, "reset");
            sim.drain()
        },
        |sim, _| sim.advance(),
    ];
    for fail in failures {
        let mut sim = Sim::new(&config());
        let a0 = sim.enter();
        sim.head(a0, 200, &SSE_HEAD);
        let first: String = STREAM.split_inclusive("\n\n").take(1).collect();
        assert_eq!(sim.body(a0, &first).len(), 1);
        let outs = fail(&mut sim, a0);
        assert!(matches!(outs.last(), Some(Finished(Err(_)))), "{outs:?}");
        assert!(!outs.iter().any(|o| matches!(o, Send(..))));
        assert_eq!(sim.session.attempts(), 1);
    }
}

#[test]
fn late_input_from_an_abandoned_attempt_is_ignored() {
    let mut sim = Sim::new(&config());
    let a0 = sim.enter();
    sim.head(a0, 529, &[]);
    let outs = sim.advance();
    let [Send(a1, _)] = outs.as_slice() else {
        panic!()
    };
    let a1 = *a1;
    // The old connection still talks.
    sim.head(a0, 200, &SSE_HEAD);
    sim.body(a0, STREAM);
    sim.end(a0);
    sim.session
        .handle_transport_error(a0, sim.now, TransportErrorKind::Reset, "late");
    assert!(sim.drain().is_empty());
    assert_eq!(sim.session.state(), SessionState::Connecting);
    sim.head(a1, 200, &SSE_HEAD);
    sim.body(a1, STREAM);
    let outs = sim.end(a1);
    assert!(matches!(outs.last(), Some(Finished(Ok(t))) if t == "Hello world"));
}

#[test]
fn close_from_every_state() {
    type Setup = fn(&mut Sim) -> Option<AttemptId>;
    let setups: [(SessionState, Setup); 7] = [
        (SessionState::Deferred, |_| None),
        (SessionState::Connecting, |sim| Some(sim.enter())),
        (SessionState::Backoff, |sim| {
            let a = sim.enter();
            sim.head(a, 529, &[]);
            None
        }),
        (SessionState::ErrorBody, |sim| {
            let a = sim.enter();
            sim.head(a, 400, &[]);
            Some(a)
        }),
        (SessionState::Streaming, |sim| {
            let a = sim.enter();
            sim.head(a, 200, &SSE_HEAD);
            sim.body(a, &STREAM[..100]);
            Some(a)
        }),
        (SessionState::Done, |sim| {
            let a = sim.enter();
            sim.head(a, 200, &SSE_HEAD);
            sim.body(a, STREAM);
            sim.end(a);
            None
        }),
        (SessionState::Failed, |sim| {
            let a = sim.enter();
            sim.session
                .handle_transport_error(a, sim.now, TransportErrorKind::Tls, "x");
            sim.drain();
            None
        }),
    ];
    for (state, setup) in setups {
        let mut sim = Sim::new(&config());
        let active = setup(&mut sim);
        assert_eq!(sim.session.state(), state);
        sim.session.close(sim.now);
        let outs = sim.drain();
        match active {
            Some(attempt) => assert!(
                matches!(outs.as_slice(), [Drop(a)] if *a == attempt),
                "{state:?}: {outs:?}"
            ),
            None => assert!(outs.is_empty(), "{state:?}: {outs:?}"),
        }
        assert_eq!(sim.session.state(), SessionState::Closed);
        assert_eq!(sim.session.poll_timeout(), None);
        // Nothing after closed.
        sim.session
            .handle_timeout(sim.now + Duration::from_secs(3600));
        sim.session.handle_body(
            active.unwrap_or_else(sim_attempt0),
            sim.now,
            b"data: x\n\n".to_vec(),
        );
        assert!(sim.drain().is_empty());
        assert_eq!(sim.session.enter(sim.now), Err(CallerError::AlreadyEntered));
    }
}

/// An attempt id to pass where none is active (the first one a session would use).
fn sim_attempt0() -> AttemptId {
    let mut session = Session::new(&ClientConfig::new(), &params()).unwrap();
    session.enter(Duration::ZERO).unwrap();
    match session.poll_output() {
        Some(Output::Send { attempt, .. }) => attempt,
        other => panic!("{other:?}"),
    }
}

#[test]
fn total_deadline_stops_everything() {
    let mut timeouts = Timeouts::default();
    timeouts.total = Some(Duration::from_secs(2));
    let mut sim = Sim::new(&config().timeouts(timeouts));
    let a0 = sim.enter();
    sim.head(a0, 200, &SSE_HEAD);
    sim.body(a0, &STREAM[..200]);
    let outs = sim.advance();
    assert_eq!(sim.now, ms(2000));
    assert!(matches!(
        error(&outs).kind,
        ErrorKind::Timeout(Deadline::Total)
    ));
}

#[test]
fn the_key_never_shows_in_debug_display_or_errors() {
    let config = config();
    let mut sim = Sim::new(&config);
    assert!(!format!("{config:?}").contains(KEY));
    assert!(!format!("{:?}", sim.session).contains(KEY));
    let a0 = sim.enter();
    sim.head(a0, 401, &[]);
    sim.body(
        a0,
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
    );
    let outs = sim.end(a0);
    let err = error(&outs);
    assert!(!format!("{err:?}").contains(KEY));
    assert!(!err.to_string().contains(KEY));
    assert!(!format!("{outs:?}").contains(KEY));
}

#[test]
fn invalid_params_are_refused_at_build() {
    let config = ClientConfig::new();
    assert!(
        Session::new(
            &config,
            &MessageParams::new("", 1).message(MessageParam::user("x"))
        )
        .is_err()
    );
    assert!(
        Session::new(
            &config,
            &MessageParams::new("m", 0).message(MessageParam::user("x"))
        )
        .is_err()
    );
    assert!(Session::new(&config, &MessageParams::new("m", 1)).is_err());
    assert!(Session::new(&config, &params().extra("stream", serde_json::json!(false))).is_err());
}

#[test]
fn a_retry_that_cannot_fit_the_total_deadline_returns_its_cause_at_once() {
    let mut timeouts = Timeouts::default();
    timeouts.total = Some(Duration::from_secs(1));
    let config = config().timeouts(timeouts);
    // The server asks for 3 s: past the deadline, so the 529 is the answer, now.
    let mut sim = Sim::new(&config);
    let a0 = sim.enter();
    assert!(sim.head(a0, 529, &[("retry-after", "3")]).is_empty());
    let outs = sim.end(a0);
    assert!(
        matches!(&error(&outs).kind, ErrorKind::Api(api) if api.status == 529),
        "{outs:?}"
    );
    assert_eq!(sim.now, Duration::ZERO);
    assert_eq!(sim.session.attempts(), 1);

    // A backoff that fits is taken; the next one, which would end past the deadline, is not:
    // the second reset is returned at 0.5 s instead of Timeout(Total) at 1 s.
    let mut sim = Sim::new(&config);
    let a0 = sim.enter();
    sim.session
        .handle_transport_error(a0, sim.now, TransportErrorKind::Reset, "reset");
    assert!(matches!(sim.drain().as_slice(), [Drop(_)]));
    let outs = sim.advance();
    let [Send(a1, _)] = outs.as_slice() else {
        panic!("{outs:?}")
    };
    assert_eq!(sim.now, ms(500));
    sim.session
        .handle_transport_error(*a1, sim.now, TransportErrorKind::Reset, "reset");
    let outs = sim.drain();
    assert!(
        matches!(
            error(&outs).kind,
            ErrorKind::Transport {
                kind: TransportErrorKind::Reset,
                ..
            }
        ),
        "{outs:?}"
    );
}

#[test]
fn idle_time_counts_only_while_the_consumer_waits() {
    let mut sim = Sim::new(&config());
    let a0 = sim.enter();
    sim.head(a0, 200, &SSE_HEAD);
    sim.session
        .handle_body(a0, sim.now, STREAM.as_bytes()[..400].to_vec());
    // One event handed out; the consumer then stays away for 200 s (idle deadline 90 s).
    assert!(matches!(sim.session.poll_output(), Some(Output::Event(_))));
    sim.now = Duration::from_secs(200);
    // Back, it takes what is already decoded: the stale deadline is not acted on by polling.
    assert!(matches!(sim.session.poll_output(), Some(Output::Event(_))));
    while sim.session.poll_output().is_some() {}
    sim.session.handle_wait(sim.now);
    assert_eq!(sim.session.poll_timeout(), Some(Duration::from_secs(290)));
    // A second wait with nothing handed out in between changes nothing.
    sim.session.handle_wait(Duration::from_secs(250));
    assert_eq!(sim.session.poll_timeout(), Some(Duration::from_secs(290)));
    // A real stall from here ends at the deadline; `handle_deadline` counts a clock read a
    // moment early as the deadline.
    sim.session.handle_deadline(Duration::from_millis(289_999));
    let outs = sim.drain();
    assert!(matches!(
        error(&outs).kind,
        ErrorKind::Timeout(Deadline::Idle)
    ));
}
