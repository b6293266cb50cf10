//! The server, tested with a plain `std::net::TcpStream` client: start and stop, the API's
//! checks, scripts, pacing and chunking, every fault, TLS, HTTP/2, and the observations.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use messages_test_server::{Chunking, ClosedBy, Fault, Generate, HttpVersions, Reply, Server};
use support::{BODY, End, HEADERS, events, exchange, post, read_response, send};

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/anthropic")
            .join(path),
    )
    .unwrap()
}

const FIXTURE: &str = "recorded/555fb399.exchange1.sse";

// ---- start and stop -------------------------------------------------------------------------

#[test]
fn many_servers_start_at_once_and_stop_on_drop() {
    let servers: Vec<Server> = (0..8).map(|_| Server::start()).collect();
    let mut ports: Vec<u16> = servers.iter().map(|s| s.addr().port()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 8);
    for server in &servers {
        assert_eq!(server.base_url(), format!("http://{}", server.addr()));
        assert_eq!(exchange(server).status, 200);
    }
    // A stalled stream is open when the server is dropped: the client sees the close.
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(3)).fault(Fault::StallAfterEvents(1)));
    let mut tcp = post(&server);
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).unwrap();
    let addr = server.addr();
    let dropped = Instant::now();
    drop(server);
    assert!(dropped.elapsed() < Duration::from_secs(1), "drop is prompt");
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
    assert!(TcpStream::connect(addr).is_err(), "the port is closed");
}

// ---- the API's checks -----------------------------------------------------------------------

#[test]
fn requests_are_checked_as_the_api_does() {
    let server = Server::builder().api_key("sk-right").start();
    let ok_headers = [
        ("x-api-key", "sk-right"),
        ("anthropic-version", "2023-06-01"),
        ("content-type", "application/json"),
    ];
    type Case<'a> = (
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        &'a str,
        u16,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "POST",
            "/v1/nothing",
            ok_headers.to_vec(),
            BODY,
            404,
            "not_found_error",
        ),
        (
            "GET",
            "/v1/messages",
            ok_headers.to_vec(),
            "",
            405,
            "invalid_request_error",
        ),
        (
            "POST",
            "/v1/messages",
            ok_headers[1..].to_vec(),
            BODY,
            401,
            "authentication_error",
        ),
        (
            "POST",
            "/v1/messages",
            vec![ok_headers[1], ok_headers[2], ("x-api-key", "sk-wrong")],
            BODY,
            401,
            "authentication_error",
        ),
        (
            "POST",
            "/v1/messages",
            vec![ok_headers[0], ok_headers[2]],
            BODY,
            400,
            "invalid_request_error",
        ),
        (
            "POST",
            "/v1/messages",
            vec![ok_headers[0], ok_headers[1], ("content-type", "text/plain")],
            BODY,
            400,
            "invalid_request_error",
        ),
        (
            "POST",
            "/v1/messages",
            ok_headers.to_vec(),
            "{not json",
            400,
            "invalid_request_error",
        ),
        (
            "POST",
            "/v1/messages",
            ok_headers.to_vec(),
            r#"{"max_tokens":5,"stream":true,"messages":[{}]}"#,
            400,
            "invalid_request_error",
        ),
        (
            "POST",
            "/v1/messages",
            ok_headers.to_vec(),
            r#"{"model":"m","stream":true,"messages":[{}]}"#,
            400,
            "invalid_request_error",
        ),
        (
            "POST",
            "/v1/messages",
            ok_headers.to_vec(),
            r#"{"model":"m","max_tokens":5,"stream":true,"messages":[]}"#,
            400,
            "invalid_request_error",
        ),
        (
            "POST",
            "/v1/messages",
            ok_headers.to_vec(),
            r#"{"model":"m","max_tokens":5,"messages":[{}]}"#,
            400,
            "invalid_request_error",
        ),
    ];
    for (method, path, headers, body, status, kind) in cases {
        let response = read_response(&mut send(&server, method, path, &headers, body));
        assert_eq!(
            response.status, status,
            "{method} {path} {headers:?} {body}"
        );
        assert_eq!(response.header("content-type"), Some("application/json"));
        let request_id = response
            .header("request-id")
            .expect("a request-id")
            .to_owned();
        let json = response.json();
        assert_eq!(json["type"], "error");
        assert_eq!(json["error"]["type"], kind);
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert_eq!(json["request_id"], request_id.as_str());
    }
    // Both ways of presenting a credential are accepted.
    let bearer = [
        ("authorization", "Bearer sk-right"),
        ("anthropic-version", "2023-06-01"),
        ("content-type", "application/json; charset=utf-8"),
    ];
    let response = read_response(&mut send(&server, "POST", "/v1/messages", &bearer, BODY));
    assert_eq!(response.status, 200);
    assert_eq!(
        read_response(&mut send(
            &server,
            "POST",
            "/v1/messages",
            &ok_headers,
            BODY
        ))
        .status,
        200
    );
}

#[test]
fn a_stream_is_chunked_event_stream_with_pings_and_a_request_id() {
    let server = Server::start();
    let response = exchange(&server);
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert!(
        response
            .header("request-id")
            .is_some_and(|id| id.starts_with("req_"))
    );
    assert_eq!(response.end, End::Complete);
    let text = response.text();
    assert!(text.contains("event: ping\ndata: {\"type\": \"ping\"}\n\n"));
    // One chunk per event by default.
    assert_eq!(response.chunks.len(), events(&text).len());
    // The generated reply names the request's model and is what the spec says.
    let expected = Generate::default().expected_message("claude-test");
    assert_eq!(support::accumulate(&response.body()), expected);
}

// ---- scripts --------------------------------------------------------------------------------

#[test]
fn a_recorded_stream_is_served_byte_for_byte() {
    let bytes = fixture(FIXTURE);
    let server = Server::start();
    server.enqueue(Reply::recorded(bytes.clone()));
    server.enqueue(
        Reply::recorded_file(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures/anthropic")
                .join(FIXTURE),
        )
        .unwrap(),
    );
    for _ in 0..2 {
        let response = exchange(&server);
        assert_eq!(response.body(), bytes);
        assert_eq!(response.end, End::Complete);
    }
}

#[test]
fn generated_replies_carry_thinking_citations_and_large_tool_input() {
    let spec = Generate::text(40)
        .delta_len(9)
        .thinking(5)
        .citations(3)
        .tool_use(200_000)
        .tool_delta_len(8)
        .seed(7)
        .model("claude-generated");
    let server = Server::start();
    server.enqueue(Reply::generated(spec.clone()));
    let response = exchange(&server);
    let message = support::accumulate(&response.body());
    assert_eq!(message, spec.expected_message("ignored"));
    assert_eq!(message["model"], "claude-generated");
    assert_eq!(message["stop_reason"], "tool_use");
    assert_eq!(
        message["content"][1]["citations"].as_array().unwrap().len(),
        3
    );
    assert!(spec.expected_tool_input().len() >= 200_000);
    assert_eq!(
        message["content"][2]["input"]["items"][0]["note"],
        "say \"hi\"\n\ttab \u{e9}"
    );
    // Deterministic: the same spec gives the same bytes.
    server.enqueue(Reply::generated(spec));
    assert_eq!(exchange(&server).body(), response.body());
}

#[test]
fn a_large_generated_reply_streams_without_being_held() {
    // 64 MiB of text in 256 KiB deltas: produced one event at a time.
    let spec = Generate::text(256).delta_len(256 << 10);
    let server = Server::start();
    server.enqueue(Reply::generated(spec));
    let mut tcp = post(&server);
    let response = read_response(&mut tcp);
    assert_eq!(response.end, End::Complete);
    let body = response.body();
    assert!(body.len() > 64 << 20);
    let message = support::accumulate(&body);
    assert_eq!(
        message["content"][0]["text"].as_str().unwrap().len(),
        64 << 20
    );
    let sent = server.wait_for(Duration::from_secs(2), |o| {
        o.requests[0]
            .response_ended_at
            .map(|_| o.requests[0].bytes_sent)
    });
    assert_eq!(sent, Some(body.len() as u64));
}

#[test]
fn scripted_replies_are_taken_in_order_then_the_default() {
    let server = Server::start();
    server.enqueue_n(2, &Reply::error(529).retry_after(1));
    server
        .enqueue(Reply::error(429).retry_after_ms(250).should_retry(true))
        .enqueue(Reply::error_with(400, "invalid_request_error", "no").should_retry(false));
    let first = exchange(&server);
    assert_eq!(first.status, 529);
    assert_eq!(first.header("retry-after"), Some("1"));
    assert_eq!(first.json()["error"]["type"], "overloaded_error");
    assert_eq!(exchange(&server).status, 529);
    let third = exchange(&server);
    assert_eq!(
        (third.status, third.header("retry-after-ms")),
        (429, Some("250"))
    );
    assert_eq!(third.header("x-should-retry"), Some("true"));
    assert_eq!(third.json()["error"]["type"], "rate_limit_error");
    let fourth = exchange(&server);
    assert_eq!(
        (fourth.status, fourth.header("x-should-retry")),
        (400, Some("false"))
    );
    assert_eq!(fourth.json()["error"]["message"], "no");
    assert_eq!(exchange(&server).status, 200);
    let statuses: Vec<u16> = server
        .requests()
        .iter()
        .map(|r| r.status.unwrap().as_u16())
        .collect();
    assert_eq!(statuses, [529, 529, 429, 400, 200]);
}

// ---- pacing and chunking --------------------------------------------------------------------

#[test]
fn chunks_are_cut_fixed_random_or_at_offsets() {
    let bytes = fixture(FIXTURE);
    let server = Server::start();
    server.enqueue(Reply::recorded(bytes.clone()).chunking(Chunking::Fixed(7)));
    let fixed = exchange(&server);
    assert_eq!(fixed.body(), bytes);
    let (last, rest) = fixed.chunks.split_last().unwrap();
    assert!(rest.iter().all(|c| c.len() == 7) && last.len() <= 7);

    let random = || Reply::recorded(bytes.clone()).chunking(Chunking::Random { seed: 9, max: 40 });
    server.enqueue(random()).enqueue(random());
    let (a, b) = (exchange(&server), exchange(&server));
    assert_eq!(a.body(), bytes);
    assert!(a.chunks.iter().all(|c| (1..=40).contains(&c.len())));
    let sizes = |r: &support::Response| r.chunks.iter().map(Vec::len).collect::<Vec<_>>();
    assert_eq!(sizes(&a), sizes(&b), "the same seed cuts the same way");
    assert!(sizes(&a).iter().any(|&n| n != sizes(&a)[0]), "lengths vary");

    server.enqueue(Reply::recorded(bytes.clone()).chunking(Chunking::Offsets(vec![1, 2, 50])));
    let cut = exchange(&server);
    assert_eq!(cut.body(), bytes);
    assert_eq!(sizes(&cut)[..3], [1, 1, 48]);
}

#[test]
fn events_are_paced_and_long_waits_carry_pings() {
    let server = Server::start();
    server.enqueue(
        Reply::generated(Generate::text(3))
            .pace_events(Duration::from_millis(20))
            .ping_every(None),
    );
    let start = Instant::now();
    let response = exchange(&server);
    // 9 events, 8 waits of 20 ms.
    assert!(
        start.elapsed() >= Duration::from_millis(160),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(response.chunks.len(), 9);

    server.enqueue(
        Reply::generated(Generate::text(1))
            .pace_events(Duration::from_millis(130))
            .ping_every(Some(Duration::from_millis(50))),
    );
    let text = exchange(&server).text();
    // Two pings in each of the 6 waits, and the generated one.
    assert_eq!(text.matches("event: ping").count(), 6 * 2 + 1);
}

#[test]
fn a_slow_drip_sends_small_chunks_spaced_out() {
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(1)).drip(40, Duration::from_millis(10)));
    let response = exchange(&server);
    assert!(response.chunks.iter().all(|c| c.len() <= 40));
    let gaps = response.arrivals.windows(2).map(|w| w[1] - w[0]);
    assert!(
        gaps.clone()
            .filter(|g| *g >= Duration::from_millis(8))
            .count()
            >= gaps.count() - 1
    );
}

// ---- faults ---------------------------------------------------------------------------------

#[test]
fn reset_after_n_bytes_delivers_exactly_n_then_rst() {
    let bytes = fixture(FIXTURE);
    let server = Server::start();
    server.enqueue(Reply::recorded(bytes.clone()).fault(Fault::ResetAfterBytes(100)));
    let response = exchange(&server);
    assert_eq!(response.end, End::Reset);
    assert_eq!(response.body(), bytes[..100]);
    let connection = server.wait_for(Duration::from_secs(2), |o| {
        o.connections[0].closed_by.map(|_| o.connections[0].clone())
    });
    assert_eq!(connection.unwrap().closed_by, Some(ClosedBy::ServerReset));
    assert!(!server.requests()[0].response_complete);
}

#[test]
fn a_reset_can_fall_between_cr_and_lf() {
    let crlf = String::from_utf8(fixture(FIXTURE))
        .unwrap()
        .replace('\n', "\r\n");
    let at = crlf.find("\r\n").unwrap() + 1;
    let server = Server::start();
    server.enqueue(Reply::recorded(crlf).fault(Fault::ResetAfterBytes(at as u64)));
    let response = exchange(&server);
    assert_eq!(response.end, End::Reset);
    assert!(response.body().ends_with(b"\r") && response.body().len() == at);
}

#[test]
fn reset_cut_and_stall_after_n_events() {
    let server = Server::start();
    let reply = || Reply::generated(Generate::text(10));
    server.enqueue(reply().fault(Fault::ResetAfterEvents(4)));
    server.enqueue(reply().fault(Fault::CutAfterEvents(4)));
    server.enqueue(reply().fault(Fault::StallAfterEvents(4)));
    let reset = exchange(&server);
    assert_eq!((reset.end, reset.chunks.len()), (End::Reset, 4));
    let cut = exchange(&server);
    assert_eq!((cut.end, cut.chunks.len()), (End::Eof, 4));
    let mut tcp = post(&server);
    tcp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let stalled = read_response(&mut tcp);
    assert_eq!((stalled.end, stalled.chunks.len()), (End::Timeout, 4));
    let closed_by: Vec<_> = server.connections().iter().map(|c| c.closed_by).collect();
    assert_eq!(
        closed_by[..2],
        [Some(ClosedBy::ServerReset), Some(ClosedBy::ServerCut)]
    );
    assert_eq!(closed_by[2], None, "a stall keeps the connection open");
    // Cut and stall by bytes too.
    server.enqueue(reply().fault(Fault::CutAfterBytes(33)));
    let cut = exchange(&server);
    assert_eq!((cut.end, cut.body().len()), (End::Eof, 33));
    server.enqueue(reply().fault(Fault::StallAfterBytes(33)));
    let mut tcp = post(&server);
    tcp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let stalled = read_response(&mut tcp);
    assert_eq!((stalled.end, stalled.body().len()), (End::Timeout, 33));
}

#[test]
fn error_event_first_or_mid_stream_then_a_clean_end() {
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(5)).fault(Fault::ErrorEventAt(0)));
    server.enqueue(Reply::generated(Generate::text(5)).fault(Fault::ErrorEventAt(3)));
    let first = exchange(&server);
    assert_eq!(first.end, End::Complete);
    let text = first.text();
    assert_eq!(events(&text).len(), 1);
    assert!(text.starts_with("event: error\ndata: {\"type\": \"error\""));
    assert!(text.contains("overloaded_error"));
    let mid = exchange(&server).text();
    let mid = events(&mid);
    assert_eq!(mid.len(), 4);
    assert!(mid[3].starts_with("event: error"));
}

#[test]
fn clean_ends_before_message_stop_or_after_n_events() {
    let server = Server::start();
    server.enqueue(Reply::recorded(fixture(FIXTURE)).fault(Fault::EndBeforeMessageStop));
    server.enqueue(Reply::generated(Generate::text(5)).fault(Fault::EndAfterEvents(2)));
    let early = exchange(&server);
    assert_eq!(early.end, End::Complete);
    assert!(!early.text().contains("message_stop"));
    assert!(early.text().contains("message_delta"));
    let two = exchange(&server);
    assert_eq!((two.end, events(&two.text()).len()), (End::Complete, 2));
}

#[test]
fn garbage_huge_lines_and_invalid_utf8_are_injected() {
    let server = Server::start();
    server.enqueue(
        Reply::generated(Generate::text(2))
            .fault(Fault::InjectAt(
                1,
                Bytes::from_static(b"\x00\x01garbage{{\n"),
            ))
            .fault(Fault::InvalidUtf8At(4, 0)),
    );
    server.enqueue(Reply::generated(Generate::text(2)).fault(Fault::HugeLineAt(2, 3 << 20)));
    let body = exchange(&server).body();
    let garbage_at = body
        .windows(9)
        .position(|w| w == b"\x00\x01garbage")
        .unwrap();
    let first_event_len = body.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    assert_eq!(garbage_at, first_event_len, "injected before event 1");
    assert!(body.windows(3).any(|w| w == b"\xFF \xC3"));
    assert!(std::str::from_utf8(&body).is_err());

    let huge = exchange(&server);
    assert_eq!(huge.end, End::Complete);
    let body = huge.body();
    let line_start = body.windows(6).rposition(|w| w == b"data: ").unwrap();
    assert_eq!(body.len() - line_start, 3 << 20);
    assert!(!body[line_start..].contains(&b'\n'));
}

#[test]
fn wrong_content_type_and_silence() {
    let server = Server::start();
    server.enqueue(Reply::html());
    server.enqueue(Reply::page(502, "text/plain", "bad gateway"));
    server.enqueue(Reply::silence());
    let html = exchange(&server);
    assert_eq!(
        (html.status, html.header("content-type")),
        (200, Some("text/html; charset=utf-8"))
    );
    assert!(html.text().contains("<html>"));
    let plain = exchange(&server);
    assert_eq!((plain.status, plain.text().as_str()), (502, "bad gateway"));
    let mut tcp = post(&server);
    tcp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let error = tcp.read(&mut byte).unwrap_err();
    assert!(matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    assert_eq!(server.request_count(), 3, "the silent request was received");
    assert_eq!(server.requests()[2].status, None);
}

// ---- observations ---------------------------------------------------------------------------

#[test]
fn connections_requests_and_closes_are_recorded() {
    let server = Server::start();
    assert_eq!((server.connection_count(), server.request_count()), (0, 0));
    server.enqueue(Reply::generated(Generate::text(3)).fault(Fault::StallAfterEvents(2)));
    let mut tcp = post(&server);
    assert!(server.wait_for_requests(1, Duration::from_secs(2)));
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).unwrap();
    let request = &server.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(request.header("x-api-key"), Some("sk-test"));
    assert_eq!(request.json().unwrap()["model"], "claude-test");
    assert_eq!(request.version, http::Version::HTTP_11);
    assert!(request.response_ended_at.is_none());
    let connection = &server.connections()[0];
    assert_eq!((connection.requests, connection.closed_at), (1, None));
    assert!(connection.peer.ip().is_loopback());

    let dropped = Instant::now();
    drop(tcp);
    let closed = server
        .wait_all_closed(Duration::from_secs(2))
        .expect("the close is seen");
    let latency = closed.saturating_duration_since(dropped);
    assert!(
        latency < Duration::from_millis(100),
        "seen {latency:?} after the close"
    );
    let connection = &server.connections()[0];
    assert_eq!(connection.closed_by, Some(ClosedBy::Client));
    let request = &server.requests()[0];
    assert!(request.response_ended_at.is_some() && !request.response_complete);

    // A whole response is recorded as complete; keep-alive carries a second request.
    let mut tcp = post(&server);
    let _ = read_response(&mut tcp);
    tcp.write_all(
        format!(
            "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\nanthropic-version: 1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
            BODY.len()
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(read_response(&mut tcp).end, End::Complete);
    let connections = server.connections();
    assert_eq!((connections.len(), connections[1].requests), (2, 2));
    assert!(
        server
            .wait_for(Duration::from_secs(2), |o| o.requests[2]
                .response_complete
                .then_some(()))
            .is_some()
    );
}

#[test]
fn waiting_from_async_code_does_not_block_the_runtime() {
    let server = Server::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let nothing = server
            .wait_for_async(Duration::from_millis(50), |o| {
                (!o.requests.is_empty()).then_some(())
            })
            .await;
        assert!(nothing.is_none());
        let addr = server.addr();
        let client = tokio::task::spawn_blocking(move || {
            let mut tcp = TcpStream::connect(addr).unwrap();
            tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
            let _ = read_response(&mut tcp);
        });
        client.await.unwrap();
        assert!(
            server
                .wait_all_closed_async(Duration::from_secs(2))
                .await
                .is_some()
        );
    });
}

// ---- TLS and HTTP/2 -------------------------------------------------------------------------

fn tls_client(
    server: &Server,
    trust: bool,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, std::io::Error> {
    let mut roots = rustls::RootCertStore::empty();
    if trust {
        roots
            .add(rustls::pki_types::CertificateDer::from(
                server.certificate_der().unwrap().to_vec(),
            ))
            .unwrap();
    } else {
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        roots.add(other.cert.der().clone()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let connection = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    let mut request = String::from("POST /v1/messages HTTP/1.1\r\nhost: localhost\r\n");
    for (name, value) in HEADERS {
        request += &format!("{name}: {value}\r\n");
    }
    request += &format!("content-length: {}\r\n\r\n{BODY}", BODY.len());
    stream.write_all(request.as_bytes())?;
    stream.flush()?;
    Ok(stream)
}

#[test]
fn tls_with_a_self_signed_certificate_trusted_or_refused() {
    let server = Server::builder().tls().start();
    assert!(server.base_url().starts_with("https://localhost:"));
    let mut stream = tls_client(&server, true).unwrap();
    let response = read_response(&mut stream);
    assert_eq!(response.status, 200);
    assert_eq!(stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(
        support::accumulate(&response.body()),
        Generate::default().expected_message("claude-test")
    );

    let refused = tls_client(&server, false);
    assert!(refused.is_err(), "an untrusted certificate is refused");
    let failed = server.wait_for(Duration::from_secs(2), |o| {
        o.connections.get(1).and_then(|c| c.tls_error.clone())
    });
    assert!(failed.is_some(), "the server records the failed handshake");
    assert_eq!(server.request_count(), 1);
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Sends the HTTP/2 preface and an empty SETTINGS frame; returns the type of the first frame
/// the server sends back, if any.
fn h2_first_frame(server: &Server) -> Option<u8> {
    let mut tcp = TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    tcp.write_all(H2_PREFACE).unwrap();
    tcp.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).unwrap();
    let mut header = [0u8; 9];
    tcp.read_exact(&mut header).ok()?;
    Some(header[3])
}

#[test]
fn http2_by_prior_knowledge_unless_http1_only() {
    const SETTINGS: u8 = 4;
    assert_eq!(h2_first_frame(&Server::start()), Some(SETTINGS));
    assert_eq!(
        h2_first_frame(&Server::builder().http(HttpVersions::Http2).start()),
        Some(SETTINGS)
    );
    let http1 = Server::builder().http(HttpVersions::Http1).start();
    assert_ne!(h2_first_frame(&http1), Some(SETTINGS));
    // An HTTP/2-only server refuses HTTP/1.1.
    let http2 = Server::builder().http(HttpVersions::Http2).start();
    let mut tcp = post(&http2);
    let mut buf = [0u8; 64];
    let n = tcp.read(&mut buf).unwrap_or(0);
    assert!(!buf[..n].starts_with(b"HTTP/1.1 200"));
}
