//! The blocking transport against a real HTTP server on 127.0.0.1 (real sockets, no mocked
//! client): deferred enter, close on every exit path as the server observes it, retries and
//! their delays, deadlines while blocked, typed errors with what was received, and every
//! recorded stream end to end.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::{Reply, Server};
use transport_ureq::{
    ApiErrorKind, Client, ClientConfig, Deadline, Error, ErrorKind, MessageParam, MessageParams,
    ProtocolError, RetryPolicy, Timeouts,
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

fn client(server: &Server) -> Client {
    let mut retry = RetryPolicy::default();
    retry.initial_backoff = Duration::from_millis(50);
    let mut timeouts = Timeouts::default();
    timeouts.idle = Duration::from_millis(400);
    timeouts.response_head = Duration::from_secs(5);
    Client::new(
        ClientConfig::new()
            .api_key("sk-test-key")
            .base_url(&server.base_url)
            .retry(retry)
            .timeouts(timeouts),
    )
}

fn params() -> MessageParams {
    MessageParams::new("claude-test", 256).message(MessageParam::user("Hello"))
}

const CLOSE_WITHIN: Duration = Duration::from_millis(100);

/// Asserts that the server saw every connection closed within [`CLOSE_WITHIN`] of `exit`.
fn assert_closed_within_limit(server: &Server, exit: Instant) {
    let closed = server
        .wait_all_closed(Duration::from_secs(2))
        .expect("the server saw the close");
    let latency = closed.saturating_duration_since(exit);
    assert!(latency < CLOSE_WITHIN, "closed {latency:?} after exit");
}

#[test]
fn nothing_is_sent_before_enter() {
    let server = Server::start(vec![Reply::sse(
        &fixture("recorded/555fb399.exchange1.sse"),
        64,
    )]);
    let client = client(&server);
    let manager = client.messages().stream(params());
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(server.connections().len(), 0);
    let mut stream = manager.enter().unwrap();
    assert_eq!(server.requests().len(), 1);
    let request = &server.requests()[0];
    assert!(request.head.starts_with("POST /v1/messages HTTP/1.1"));
    assert!(
        request
            .head
            .to_ascii_lowercase()
            .contains("x-api-key: sk-test-key")
    );
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(stream.request_id(), Some("req_test"));
    let message = stream.final_message().unwrap();
    assert!(message.text().starts_with("The weather in San Francisco"));
}

#[test]
fn every_fixture_gives_the_accumulators_final_message() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../stream-core/tests/expected");
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
        let server = Server::start(vec![Reply::sse(&fixture(&source), 37)]);
        let message = client(&server)
            .messages()
            .stream(params())
            .enter()
            .unwrap()
            .final_message()
            .unwrap();
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(message.to_json(), expected, "{source}");
    }
}

#[test]
fn drop_mid_stream_closes_the_connection_at_once() {
    let server = Server::start(vec![
        Reply::sse(&fixture("recorded/stream-b-fallback.sse"), 64).then_stall(),
    ]);
    let mut stream = client(&server).messages().stream(params()).enter().unwrap();
    let first = stream.next().unwrap().unwrap();
    assert_eq!(first.event_type(), "message_start");
    let dropped = Instant::now();
    drop(stream);
    assert_closed_within_limit(&server, dropped);
}

#[test]
fn early_break_question_mark_and_panic_inside_with_close_at_once() {
    // Early break.
    let server = Server::start(vec![
        Reply::sse(&fixture("recorded/stream-b-fallback.sse"), 64).then_stall(),
    ]);
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
    let server = Server::start(vec![
        Reply::sse(&fixture("recorded/stream-b-fallback.sse"), 64).then_stall(),
    ]);
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
    let server = Server::start(vec![
        Reply::sse(&fixture("recorded/stream-b-fallback.sse"), 64).then_stall(),
    ]);
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
}

#[test]
fn retries_follow_retry_after_then_stream() {
    let server = Server::start(vec![
        Reply::error(529, "overloaded_error", &[("retry-after", "0.2")]),
        Reply::error(529, "overloaded_error", &[("retry-after-ms", "150")]),
        Reply::sse(&fixture("python-sdk/basic_response.txt"), 16),
    ]);
    let started = Instant::now();
    let text = client(&server)
        .messages()
        .stream(params())
        .enter()
        .unwrap()
        .final_text()
        .unwrap();
    assert_eq!(text, "Hello there!");
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let gap1 = requests[1].at - requests[0].at;
    let gap2 = requests[2].at - requests[1].at;
    assert!(
        gap1 >= Duration::from_millis(200) && gap1 < Duration::from_millis(600),
        "{gap1:?}"
    );
    assert!(
        gap2 >= Duration::from_millis(150) && gap2 < Duration::from_millis(550),
        "{gap2:?}"
    );
    assert!(
        requests[2]
            .head
            .to_ascii_lowercase()
            .contains("x-stainless-retry-count: 2")
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn a_final_status_error_surfaces_at_enter_with_its_request_id() {
    let server = Server::start(vec![Reply::error(400, "invalid_request_error", &[])]);
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
    assert_eq!(session.request_id.as_deref(), Some("req_400"));
    assert_eq!(server.requests().len(), 1, "400 is not retried");
    assert!(!err.to_string().contains("sk-test-key"));
}

#[test]
fn a_stalled_stream_ends_at_the_idle_deadline_with_the_partial_message() {
    let body = fixture("recorded/stream-b-fallback.sse");
    let cut = body.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    // Hand over message_start, then the rest up to a point, then silence.
    let half = &body[..body.len() / 2];
    let server = Server::start(vec![Reply::sse(half, 200).then_stall()]);
    let mut stream = client(&server).messages().stream(params()).enter().unwrap();
    let started = Instant::now();
    let mut events = 0;
    let err = loop {
        match stream.next() {
            Some(Ok(_)) => events += 1,
            Some(Err(err)) => break err,
            None => panic!("ended without an error"),
        }
    };
    assert!(events > 3 && cut > 0);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    let session = err.session_error().unwrap();
    assert!(
        matches!(session.kind, ErrorKind::Timeout(Deadline::Idle)),
        "{err}"
    );
    assert!(!session.partial.as_ref().unwrap().text().is_empty());
    drop(stream);
    assert!(server.wait_all_closed(Duration::from_secs(2)).is_some());
}

#[test]
fn a_truncated_stream_hands_back_the_partial_message() {
    let body = fixture("recorded/stream-b-fallback.sse");
    let text = String::from_utf8(body).unwrap();
    let without_stop = text.split("event: message_stop").next().unwrap();
    let server = Server::start(vec![Reply::sse(without_stop.as_bytes(), 100)]);
    let mut stream = client(&server).messages().stream(params()).enter().unwrap();
    let err = stream.final_message().unwrap_err();
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
    assert_eq!(session.request_id.as_deref(), Some("req_test"));
}

#[test]
fn text_stream_then_final_message() {
    let server = Server::start(vec![Reply::sse(
        &fixture("recorded/stream-b-fallback.sse"),
        50,
    )]);
    let mut text = client(&server)
        .messages()
        .stream(params())
        .enter()
        .unwrap()
        .text_stream();
    let joined: String = text.by_ref().map(Result::unwrap).collect();
    let message = text.final_message().unwrap();
    assert_eq!(joined, message.text());
}

#[test]
fn tls_with_a_trusted_self_signed_certificate_works_and_an_untrusted_one_is_refused() {
    let body = fixture("python-sdk/basic_response.txt");
    let (server, cert) = Server::start_tls(vec![Reply::sse(&body, 32)]);
    let config = ClientConfig::new()
        .api_key("sk-test-key")
        .base_url(&server.base_url);
    let trusting = Client::with_root_certificates(config, &[cert]);
    let text = trusting
        .messages()
        .stream(params())
        .enter()
        .unwrap()
        .final_text()
        .unwrap();
    assert_eq!(text, "Hello there!");

    // The default roots do not include it: refused, as a TLS error, and not retried.
    let (server, _cert) = Server::start_tls(vec![Reply::sse(&body, 32)]);
    let config = ClientConfig::new()
        .api_key("sk-test-key")
        .base_url(&server.base_url);
    let err = Client::new(config)
        .messages()
        .stream(params())
        .enter()
        .unwrap_err();
    let session = err.session_error().expect("a stream error");
    assert!(
        matches!(
            session.kind,
            ErrorKind::Transport {
                kind: transport_ureq::TransportErrorKind::Tls,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(session.attempts, 1);
    assert!(
        server.requests().is_empty(),
        "no request crossed an untrusted connection"
    );
}

#[test]
fn a_raw_sse_stream_from_any_endpoint() {
    let body = b"retry: 1000\nid: 1\nevent: tick\ndata: {\"n\": 1}\n\n: keep-alive\n\ndata: two\ndata: lines\n\n";
    let server = Server::start(vec![Reply::sse(body, 5)]);
    let first_client = client(&server);
    let request =
        transport_ureq::Request::new("GET", format!("{}/events?topic=x", server.base_url))
            .with_header("accept", "text/event-stream");
    let manager = first_client.sse(request);
    assert!(server.connections().is_empty(), "nothing before enter");
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
    assert!(
        request.head.starts_with("GET /events?topic=x HTTP/1.1"),
        "{}",
        request.head
    );
    assert!(
        !request.head.to_ascii_lowercase().contains("x-api-key"),
        "raw requests are sent as given"
    );

    // Exit semantics are the same: dropping mid-stream closes at once.
    let server = Server::start(vec![Reply::sse(body, 5).then_stall()]);
    let request = transport_ureq::Request::new("GET", format!("{}/events", server.base_url));
    let mut stream = client(&server).sse(request).enter().unwrap();
    assert!(stream.next().unwrap().is_ok());
    let dropped = Instant::now();
    drop(stream);
    assert_closed_within_limit(&server, dropped);

    // A status that is not 2xx is a typed error at enter.
    let server = Server::start(vec![Reply::error(404, "not_found_error", &[])]);
    let request = transport_ureq::Request::new("GET", format!("{}/missing", server.base_url));
    let err = client(&server).sse(request).enter().unwrap_err();
    assert!(matches!(&err.session_error().unwrap().kind, ErrorKind::Api(api) if api.status == 404));
}

/// The first `n` events of a recorded stream, as wire bytes.
fn first_events(path: &str, n: usize) -> String {
    String::from_utf8(fixture(path))
        .unwrap()
        .split_inclusive("\n\n")
        .take(n)
        .collect()
}

const OVERLOADED: &str = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";

#[test]
fn faults_end_in_typed_errors_with_what_was_received() {
    // A proxy's HTML page with status 200.
    let server = Server::start(vec![Reply::page(
        "text/html",
        "<html><body>Gateway says hello</body></html>",
    )]);
    let err = client(&server)
        .messages()
        .stream(params())
        .enter()
        .unwrap_err();
    assert!(
        matches!(&err.session_error().unwrap().kind, ErrorKind::Protocol(ProtocolError::WrongContentType { content_type, body_prefix }) if content_type == "text/html" && body_prefix.contains("Gateway says hello")),
        "{err}"
    );

    // An `error` event mid-stream: the events before it, then a typed API error and the partial message.
    let wire = first_events("recorded/stream-b-fallback.sse", 4) + OVERLOADED;
    let server = Server::start(vec![Reply::sse(wire.as_bytes(), 64)]);
    let mut stream = client(&server).messages().stream(params()).enter().unwrap();
    let mut events = 0;
    let err = loop {
        match stream.next().expect("an error before the end") {
            Ok(_) => events += 1,
            Err(err) => break err,
        }
    };
    assert_eq!(events, 4);
    let session = err.session_error().unwrap();
    assert!(
        matches!(&session.kind, ErrorKind::Api(api) if api.kind == ApiErrorKind::Overloaded && api.mid_stream),
        "{err}"
    );
    assert!(session.partial.is_some());
    assert_eq!(server.requests().len(), 1, "not retried after output");

    // An `error` event before any output is retried.
    let server = Server::start(vec![
        Reply::sse(OVERLOADED.as_bytes(), 64),
        Reply::sse(&fixture("python-sdk/basic_response.txt"), 64),
    ]);
    let text = client(&server)
        .messages()
        .stream(params())
        .enter()
        .unwrap()
        .final_text()
        .unwrap();
    assert_eq!(
        (text.as_str(), server.requests().len()),
        ("Hello there!", 2)
    );

    // The connection is cut mid-stream, inside a line.
    let wire = fixture("recorded/stream-b-fallback.sse");
    let server = Server::start(vec![Reply::sse(&wire[..wire.len() / 2], 100).then_cut()]);
    let mut stream = client(&server).messages().stream(params()).enter().unwrap();
    let err = stream.final_message().unwrap_err();
    let session = err.session_error().unwrap();
    assert!(
        matches!(
            session.kind,
            ErrorKind::Transport { .. } | ErrorKind::Protocol(ProtocolError::Truncated { .. })
        ),
        "{err}"
    );
    assert!(!session.partial.as_ref().unwrap().text().is_empty());

    // Garbage in place of JSON.
    let wire = first_events("recorded/stream-b-fallback.sse", 3)
        + "event: content_block_delta\ndata: {not json\n\n";
    let server = Server::start(vec![Reply::sse(wire.as_bytes(), 64)]);
    let err = client(&server)
        .messages()
        .stream(params())
        .enter()
        .unwrap()
        .final_message()
        .unwrap_err();
    let session = err.session_error().unwrap();
    assert!(
        matches!(
            session.kind,
            ErrorKind::Protocol(ProtocolError::InvalidEvent(_))
        ),
        "{err}"
    );
    assert!(session.partial.is_some());

    // A huge line with no newline, past the decoder's limit.
    let mut config = ClientConfig::new().base_url(&server.base_url);
    config.decoder = config.decoder.clone().max_line_len(4096);
    let mut wire = first_events("recorded/stream-b-fallback.sse", 3).into_bytes();
    wire.extend(std::iter::repeat_n(b'x', 100_000));
    let server = Server::start(vec![Reply::sse(&wire, 8192).then_stall()]);
    let config = config.base_url(&server.base_url);
    let err = Client::new(config)
        .messages()
        .stream(params())
        .enter()
        .unwrap()
        .final_message()
        .unwrap_err();
    let session = err.session_error().unwrap();
    assert!(
        matches!(session.kind, ErrorKind::Protocol(ProtocolError::Sse(_))),
        "{err}"
    );
    assert!(session.partial.is_some());

    // Invalid UTF-8 inside a text delta is replaced, not fatal (lossy decoding, as browsers do).
    let mut wire = first_events("recorded/stream-b-fallback.sse", 3).into_bytes();
    wire.extend_from_slice(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"caf\xC3\"}}\n\n");
    let server = Server::start(vec![Reply::sse(&wire, 64).then_cut()]);
    let mut stream = client(&server).messages().stream(params()).enter().unwrap();
    let deltas: Vec<_> = stream.by_ref().take(4).map(Result::unwrap).collect();
    assert_eq!(deltas.len(), 4);
    assert!(
        stream
            .current_snapshot()
            .unwrap()
            .text()
            .ends_with("caf\u{FFFD}")
    );
}
