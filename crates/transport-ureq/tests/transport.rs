//! The blocking transport against the workspace's local Messages server (`messages-test-server`,
//! real sockets on 127.0.0.1, no mocked client): deferred enter, close on every exit path as
//! the server observes it, retries and their delays, deadlines while blocked, every fault of
//! the server ending in a typed error with what was received, TLS, and every recorded stream
//! end to end.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use messages_test_server::{Chunking, ClosedBy, Fault, Generate, Reply, Server};
use transport_ureq::{
    ApiErrorKind, Client, ClientConfig, Deadline, Error, ErrorKind, MessageParam, MessageParams,
    MessageStream, ProtocolError, RetryPolicy, SessionError, Timeouts, TransportErrorKind,
};

fn fixture(path: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/anthropic")
            .join(path),
    )
    .unwrap();
    if !bytes.ends_with(b"\n\n") {
        bytes.extend_from_slice(b"\n\n");
    }
    bytes
}

const FALLBACK: &str = "recorded/stream-b-fallback.sse";

fn config(server: &Server) -> ClientConfig {
    let mut retry = RetryPolicy::default();
    retry.initial_backoff = Duration::from_millis(50);
    let mut timeouts = Timeouts::default();
    timeouts.idle = Duration::from_millis(400);
    timeouts.response_head = Duration::from_secs(5);
    ClientConfig::new()
        .api_key("sk-test-key")
        .base_url(server.base_url())
        .retry(retry)
        .timeouts(timeouts)
}

fn client(server: &Server) -> Client {
    Client::new(config(server))
}

fn params() -> MessageParams {
    MessageParams::new("claude-test", 256).message(MessageParam::user("Hello"))
}

fn enter(server: &Server) -> MessageStream {
    client(server).messages().stream(params()).enter().unwrap()
}

const CLOSE_WITHIN: Duration = Duration::from_millis(100);

/// Asserts that the server saw every connection closed within [`CLOSE_WITHIN`] of `exit`.
fn assert_closed_within_limit(server: &Server, exit: Instant) {
    let closed = server
        .wait_all_closed(Duration::from_secs(2))
        .expect("the server saw the close");
    let latency = closed.saturating_duration_since(exit);
    eprintln!("close latency: {latency:?}");
    assert!(latency < CLOSE_WITHIN, "closed {latency:?} after exit");
    assert!(
        server
            .connections()
            .iter()
            .all(|c| c.closed_by == Some(ClosedBy::Client))
    );
}

/// Reads a stream to its error; returns the events delivered before it and the error.
fn events_then_error(stream: &mut MessageStream) -> (usize, Box<SessionError>) {
    let mut events = 0;
    loop {
        match stream.next().expect("an error before the end") {
            Ok(_) => events += 1,
            Err(Error::Stream(err)) => return (events, err),
            Err(err) => panic!("not a stream error: {err}"),
        }
    }
}

#[test]
fn nothing_is_sent_before_enter() {
    let server = Server::start();
    server.enqueue(Reply::recorded(fixture("recorded/555fb399.exchange1.sse")));
    let client = client(&server);
    let manager = client.messages().stream(params());
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!((server.connection_count(), server.request_count()), (0, 0));
    let mut stream = manager.enter().unwrap();
    assert_eq!(server.request_count(), 1);
    let request = &server.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(request.header("x-api-key"), Some("sk-test-key"));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(request.json().unwrap()["stream"], true);
    assert_eq!(stream.request_id(), Some(request.request_id.as_str()));
    let message = stream.final_message().unwrap();
    assert!(message.text().starts_with("The weather in San Francisco"));
}

#[test]
fn every_fixture_gives_the_accumulators_final_message() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../stream-core/tests/expected");
    let server = Server::start();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .replace("__", "/");
        let source = ["", ".txt", ".sse"]
            .iter()
            .map(|ext| format!("{name}{ext}"))
            .find(|p| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../../../shared/fixtures/anthropic")
                    .join(p)
                    .is_file()
            })
            .unwrap();
        server.enqueue(Reply::recorded(fixture(&source)).chunking(Chunking::Fixed(37)));
        let message = enter(&server).final_message().unwrap();
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(message.to_json(), expected, "{source}");
    }
}

#[test]
fn generated_replies_arrive_whole_at_any_chunking() {
    let spec = Generate::text(100)
        .delta_len(7)
        .thinking(10)
        .citations(4)
        .tool_use(8 << 10)
        .tool_delta_len(8)
        .seed(3);
    let server = Server::start();
    for chunking in [
        Chunking::Events,
        Chunking::Fixed(3),
        Chunking::Random { seed: 5, max: 300 },
    ] {
        server.enqueue(Reply::generated(spec.clone()).chunking(chunking));
        let message = enter(&server).final_message().unwrap();
        assert_eq!(message.to_json(), spec.expected_message("claude-test"));
    }
}

#[test]
fn drop_mid_stream_closes_the_connection_at_once() {
    let server = Server::start();
    server.enqueue(Reply::recorded(fixture(FALLBACK)).fault(Fault::StallAfterEvents(3)));
    let mut stream = enter(&server);
    let first = stream.next().unwrap().unwrap();
    assert_eq!(first.event_type(), "message_start");
    let dropped = Instant::now();
    drop(stream);
    assert_closed_within_limit(&server, dropped);
}

#[test]
fn early_break_question_mark_and_panic_inside_with_close_at_once() {
    let stalling = || Reply::generated(Generate::text(50)).fault(Fault::StallAfterEvents(10));
    // Early break.
    let server = Server::start();
    server.enqueue(stalling());
    let left = client(&server)
        .messages()
        .stream(params())
        .with(|stream| {
            for event in stream.by_ref() {
                if event.unwrap().event_type() == "content_block_delta" {
                    break;
                }
            }
            Instant::now()
        })
        .unwrap();
    assert_closed_within_limit(&server, left);

    // `?` inside the scope.
    let server = Server::start();
    server.enqueue(stalling());
    let result: Result<Result<(), String>, Error> =
        client(&server).messages().stream(params()).with(|stream| {
            stream
                .next()
                .ok_or("no event")?
                .map_err(|e| e.to_string())?;
            Err("the caller gives up".to_owned())?;
            Ok(())
        });
    let left = Instant::now();
    assert!(result.unwrap().is_err());
    assert_closed_within_limit(&server, left);

    // A panic inside the scope.
    let server = Server::start();
    server.enqueue(stalling());
    let client = client(&server);
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = client.messages().stream(params()).with(|stream| {
            let _ = stream.next();
            panic!("boom");
        });
    }));
    let left = Instant::now();
    assert!(panicked.is_err());
    assert_closed_within_limit(&server, left);

    // `close()` is the same, spelled out.
    let server = Server::start();
    server.enqueue(stalling());
    let mut stream = enter(&server);
    let _ = stream.next();
    let closing = Instant::now();
    stream.close();
    assert_closed_within_limit(&server, closing);
}

#[test]
fn retries_follow_retry_after_then_stream() {
    let server = Server::start();
    server
        .enqueue(Reply::error(529).header("retry-after", "0.2"))
        .enqueue(Reply::error(429).retry_after_ms(150))
        .enqueue(Reply::recorded(fixture("python-sdk/basic_response.txt")));
    let started = Instant::now();
    let text = enter(&server).final_text().unwrap();
    assert_eq!(text, "Hello there!");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let gap1 = requests[1].received_at - requests[0].received_at;
    let gap2 = requests[2].received_at - requests[1].received_at;
    assert!(
        gap1 >= Duration::from_millis(200) && gap1 < Duration::from_millis(600),
        "{gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_millis(150) && gap2 < Duration::from_millis(550),
        "{gap2:?}"
    );
    assert_eq!(requests[2].header("x-stainless-retry-count"), Some("2"));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn retries_stop_at_the_limit_and_obey_x_should_retry() {
    // Always overloaded: 1 + 2 retries, then the typed error with the last request id.
    let server = Server::start();
    server.set_default_reply(Reply::error(529));
    let err = client(&server)
        .messages()
        .stream(params())
        .enter()
        .unwrap_err();
    let session = err.session_error().unwrap();
    assert!(
        matches!(&session.kind, ErrorKind::Api(api) if api.kind == ApiErrorKind::Overloaded && api.status == 529)
    );
    assert_eq!((session.attempts, server.request_count()), (3, 3));
    assert_eq!(
        session.request_id.as_deref(),
        Some(server.requests()[2].request_id.as_str())
    );

    // `x-should-retry: false` makes even a 529 final; `true` makes even a 400 retried.
    let server = Server::start();
    server.enqueue(Reply::error(529).should_retry(false));
    assert!(client(&server).messages().stream(params()).enter().is_err());
    assert_eq!(server.request_count(), 1);
    let server = Server::start();
    server.enqueue(Reply::error(400).should_retry(true));
    assert_eq!(enter(&server).final_text().unwrap().len(), 12 * 16);
    assert_eq!(server.request_count(), 2);
}

#[test]
fn a_final_status_error_surfaces_at_enter_with_its_request_id() {
    let server = Server::start();
    server.enqueue(Reply::error_with(
        400,
        "invalid_request_error",
        "scripted 400",
    ));
    let err = client(&server)
        .messages()
        .stream(params())
        .enter()
        .unwrap_err();
    let session = err.session_error().expect("a stream error");
    let ErrorKind::Api(api) = &session.kind else {
        panic!("{err}")
    };
    assert_eq!(
        (api.status, &api.kind),
        (400, &ApiErrorKind::InvalidRequest)
    );
    assert_eq!(api.message, "scripted 400");
    assert_eq!(
        session.request_id.as_deref(),
        Some(server.requests()[0].request_id.as_str())
    );
    assert_eq!(server.request_count(), 1, "400 is not retried");
    assert!(!err.to_string().contains("sk-test-key"));

    // The server's own checks answer the same way: a wrong key is a 401.
    let server = Server::builder().api_key("sk-other").start();
    let err = client(&server)
        .messages()
        .stream(params())
        .enter()
        .unwrap_err();
    assert!(
        matches!(&err.session_error().unwrap().kind, ErrorKind::Api(api) if api.kind == ApiErrorKind::Authentication)
    );
}

#[test]
fn a_stalled_stream_ends_at_the_idle_deadline_with_the_partial_message() {
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(20)).fault(Fault::StallAfterEvents(8)));
    let mut stream = enter(&server);
    let started = Instant::now();
    let (events, session) = events_then_error(&mut stream);
    assert_eq!(events, 8);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    assert!(
        matches!(session.kind, ErrorKind::Timeout(Deadline::Idle)),
        "{session}"
    );
    assert_eq!(session.partial.as_ref().unwrap().text().len(), 5 * 16);
    assert_eq!(
        session.request_id.as_deref(),
        Some(server.requests()[0].request_id.as_str())
    );
    drop(stream);
    assert!(server.wait_all_closed(Duration::from_secs(2)).is_some());
}

#[test]
fn a_slow_drip_within_the_idle_deadline_is_not_a_stall() {
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(3)).drip(64, Duration::from_millis(30)));
    assert_eq!(enter(&server).final_text().unwrap().len(), 3 * 16);
}

#[test]
fn a_server_that_never_answers_hits_the_head_deadline() {
    let server = Server::start();
    server.set_default_reply(Reply::silence());
    let mut config = config(&server);
    config.timeouts.response_head = Duration::from_millis(300);
    let started = Instant::now();
    let err = Client::new(config)
        .messages()
        .stream(params())
        .enter()
        .unwrap_err();
    let elapsed = started.elapsed();
    let session = err.session_error().unwrap();
    assert!(
        matches!(session.kind, ErrorKind::Timeout(Deadline::ResponseHead)),
        "{err}"
    );
    assert_eq!(server.request_count(), session.attempts as usize);
    assert!(
        elapsed < Duration::from_millis(300 * u64::from(session.attempts) + 1500),
        "{elapsed:?}"
    );
    assert!(server.wait_all_closed(Duration::from_secs(2)).is_some());
}

#[test]
fn a_truncated_stream_hands_back_the_partial_message() {
    let server = Server::start();
    server.enqueue(Reply::recorded(fixture(FALLBACK)).fault(Fault::EndBeforeMessageStop));
    let err = enter(&server).final_message().unwrap_err();
    let session = err.session_error().unwrap();
    assert!(
        matches!(
            session.kind,
            ErrorKind::Protocol(ProtocolError::Truncated { .. })
        ),
        "{err}"
    );
    assert!(
        session
            .partial
            .as_ref()
            .unwrap()
            .text()
            .contains("Solar eclipses")
    );
    assert_eq!(
        session.request_id.as_deref(),
        Some(server.requests()[0].request_id.as_str())
    );
}

#[test]
fn text_stream_then_final_message() {
    let server = Server::start();
    server.enqueue(Reply::recorded(fixture(FALLBACK)).chunking(Chunking::Fixed(50)));
    let mut text = enter(&server).text_stream();
    let joined: String = text.by_ref().map(Result::unwrap).collect();
    let message = text.final_message().unwrap();
    assert_eq!(joined, message.text());
}

#[test]
fn tls_with_a_trusted_self_signed_certificate_works_and_an_untrusted_one_is_refused() {
    let server = Server::builder().tls().start();
    server.enqueue(Reply::recorded(fixture("python-sdk/basic_response.txt")));
    let cert = server.certificate_der().unwrap().to_vec();
    let trusting = Client::with_root_certificates(config(&server), &[cert]);
    let text = trusting
        .messages()
        .stream(params())
        .enter()
        .unwrap()
        .final_text()
        .unwrap();
    assert_eq!(text, "Hello there!");

    // The default roots do not include it: refused, as a TLS error, and not retried.
    let server = Server::builder().tls().start();
    let err = client(&server)
        .messages()
        .stream(params())
        .enter()
        .unwrap_err();
    let session = err.session_error().expect("a stream error");
    assert!(
        matches!(
            session.kind,
            ErrorKind::Transport {
                kind: TransportErrorKind::Tls,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(session.attempts, 1);
    assert_eq!(
        server.request_count(),
        0,
        "no request crossed an untrusted connection"
    );
    assert!(server.connections()[0].tls_error.is_some());
}

#[test]
fn a_raw_sse_stream_from_any_endpoint() {
    let body = b"retry: 1000\nid: 1\nevent: tick\ndata: {\"n\": 1}\n\n: keep-alive\n\ndata: two\ndata: lines\n\n";
    let raw = || {
        Reply::recorded(&body[..])
            .skip_validation()
            .chunking(Chunking::Fixed(5))
    };
    let server = Server::start();
    server.enqueue(raw());
    let first_client = client(&server);
    let request =
        transport_ureq::Request::new("GET", format!("{}/events?topic=x", server.base_url()))
            .with_header("accept", "text/event-stream");
    let manager = first_client.sse(request);
    assert_eq!(server.connection_count(), 0, "nothing before enter");
    let stream = manager.enter().unwrap();
    assert_eq!(stream.status(), Some(200));
    let events: Vec<(String, String, String)> = stream
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.event_type().to_owned(),
                e.data().to_owned(),
                e.id().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("tick".to_owned(), "{\"n\": 1}".to_owned(), "1".to_owned()),
            (
                "message".to_owned(),
                "two\nlines".to_owned(),
                "1".to_owned()
            ),
        ]
    );
    let request = &server.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/events?topic=x")
    );
    assert_eq!(
        request.header("x-api-key"),
        None,
        "raw requests are sent as given"
    );

    // Exit semantics are the same: dropping mid-stream closes at once.
    let server = Server::start();
    server.enqueue(raw().fault(Fault::StallAfterEvents(2)));
    let request = transport_ureq::Request::new("GET", format!("{}/events", server.base_url()));
    let mut stream = client(&server).sse(request).enter().unwrap();
    assert!(stream.next().unwrap().is_ok());
    let dropped = Instant::now();
    drop(stream);
    assert_closed_within_limit(&server, dropped);

    // A status that is not 2xx is a typed error at enter (the server's 404 for a path it
    // does not serve).
    let server = Server::start();
    let request = transport_ureq::Request::new("GET", format!("{}/missing", server.base_url()));
    let err = client(&server).sse(request).enter().unwrap_err();
    assert!(matches!(&err.session_error().unwrap().kind, ErrorKind::Api(api) if api.status == 404));
}

#[test]
fn a_wrong_content_type_is_a_typed_error_at_enter() {
    let server = Server::start();
    server.enqueue(Reply::html());
    let err = client(&server)
        .messages()
        .stream(params())
        .enter()
        .unwrap_err();
    let session = err.session_error().unwrap();
    assert!(
        matches!(&session.kind, ErrorKind::Protocol(ProtocolError::WrongContentType { content_type, body_prefix }) if content_type.starts_with("text/html") && body_prefix.contains("Welcome to the proxy")),
        "{err}"
    );
    assert_eq!(
        session.request_id.as_deref(),
        Some(server.requests()[0].request_id.as_str())
    );
}

#[test]
fn an_error_event_mid_stream_is_final_and_first_is_retried() {
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(10)).fault(Fault::ErrorEventAt(5)));
    let mut stream = enter(&server);
    let (events, session) = events_then_error(&mut stream);
    assert_eq!(events, 5);
    assert!(
        matches!(&session.kind, ErrorKind::Api(api) if api.kind == ApiErrorKind::Overloaded && api.mid_stream),
        "{session}"
    );
    assert_eq!(session.partial.as_ref().unwrap().text().len(), 2 * 16);
    assert!(session.request_id.is_some());
    assert_eq!(server.request_count(), 1, "not retried after output");

    // Before any output (pings aside), the error is retried.
    let server = Server::start();
    server
        .enqueue(Reply::generated(Generate::text(3)).fault(Fault::ErrorEventAt(0)))
        .enqueue(Reply::generated(Generate::text(3)));
    assert_eq!(enter(&server).final_text().unwrap().len(), 3 * 16);
    assert_eq!(server.request_count(), 2);
}

/// A reset (RST) or a cut (FIN without the body's end) at any of these points: the events
/// before it arrive, then a typed transport error (`Reset`) with the partial message and the
/// request id.
#[test]
fn resets_and_cuts_end_in_typed_errors_with_what_was_received() {
    let wire = String::from_utf8(fixture(FALLBACK)).unwrap();
    let crlf = wire.replace('\n', "\r\n");
    let between_cr_and_lf = crlf.match_indices("\r\n").nth(20).unwrap().0 as u64 + 1;
    let half = wire.len() as u64 / 2;
    let cases = [
        (
            "reset after bytes",
            Reply::recorded(wire.clone()).fault(Fault::ResetAfterBytes(half)),
        ),
        (
            "reset after events",
            Reply::recorded(wire.clone()).fault(Fault::ResetAfterEvents(6)),
        ),
        (
            "reset between CR and LF",
            Reply::recorded(crlf).fault(Fault::ResetAfterBytes(between_cr_and_lf)),
        ),
        (
            "cut after bytes",
            Reply::recorded(wire.clone()).fault(Fault::CutAfterBytes(half)),
        ),
        (
            "cut after events",
            Reply::recorded(wire).fault(Fault::CutAfterEvents(6)),
        ),
    ];
    for (name, reply) in cases {
        let server = Server::start();
        server.enqueue(reply);
        let mut stream = enter(&server);
        let (events, session) = events_then_error(&mut stream);
        assert!(events >= 3, "{name}: {events} events");
        if name.ends_with("events") {
            assert_eq!(events, 6, "{name}: every event before the fault");
        }
        assert!(
            matches!(
                session.kind,
                ErrorKind::Transport {
                    kind: TransportErrorKind::Reset,
                    ..
                }
            ),
            "{name}: {session}"
        );
        assert!(session.partial.is_some(), "{name}");
        assert_eq!(
            session.request_id.as_deref(),
            Some(server.requests()[0].request_id.as_str()),
            "{name}"
        );
        assert_eq!(
            server.request_count(),
            1,
            "{name}: not retried after output"
        );
    }
}

#[test]
fn garbage_huge_lines_and_invalid_utf8() {
    // Garbage in place of JSON.
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(5)).fault(Fault::InjectAt(
        4,
        Bytes::from_static(b"event: content_block_delta\ndata: {not json\n\n"),
    )));
    let (events, session) = events_then_error(&mut enter(&server));
    assert_eq!(events, 4);
    assert!(
        matches!(
            session.kind,
            ErrorKind::Protocol(ProtocolError::InvalidEvent(_))
        ),
        "{session}"
    );
    assert_eq!(session.partial.as_ref().unwrap().text().len(), 16);

    // A huge line with no newline, past the decoder's limit: an error as soon as the limit
    // is crossed, whatever the server still sends.
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(5)).fault(Fault::HugeLineAt(4, 64 << 20)));
    let mut config = config(&server);
    config.decoder = config.decoder.clone().max_line_len(4096);
    let mut stream = Client::new(config)
        .messages()
        .stream(params())
        .enter()
        .unwrap();
    let (events, session) = events_then_error(&mut stream);
    assert_eq!(events, 4);
    assert!(
        matches!(session.kind, ErrorKind::Protocol(ProtocolError::Sse(_))),
        "{session}"
    );
    assert!(session.partial.is_some());
    drop(stream);
    assert!(
        server.requests()[0].bytes_sent < 16 << 20,
        "the client stopped reading"
    );

    // Invalid UTF-8 inside a text delta is replaced, not fatal (lossy decoding, as browsers
    // do).
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(2)).fault(Fault::InvalidUtf8At(4, 0)));
    let message = enter(&server).final_message().unwrap();
    assert!(
        message
            .text()
            .contains("bad \u{FFFD} \u{FFFD}( \u{FFFD} end")
    );
}
