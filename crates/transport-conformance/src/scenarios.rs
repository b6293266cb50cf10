//! The scenarios. Each is a function generic over the [`Runner`]; [`conformance_suite!`]
//! turns them into tests.
//!
//! [`conformance_suite!`]: crate::conformance_suite

// Every scenario is a test: it panics, by design, when the transport fails it.
#![allow(clippy::missing_panics_doc)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use messages_test_server::{
    Chunking, ClosedBy, Fault, Feed, ForwardProxy, Generate, Reply, Server,
};
use stream_core::proxy::{Proxies, Proxy};
use stream_core::request::{
    ClientConfig, MessageParam, MessageParams, Request, RequestOptions, RetryPolicy, Timeouts,
};
use stream_core::session::Reconnect;
use stream_core::session::{
    ApiErrorKind, Deadline, ErrorKind, ProtocolError, SessionError, TransportErrorKind,
};

use crate::{Cloud, Exit, Run, Runner};
use anthropic_stream::bedrock::{AwsCredentials, SigV4};
use stream_core::provider::Provider;

/// The recorded streams, with a blank line added where a file lacks the last one.
fn fixture(path: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(fixtures_dir().join(path)).unwrap();
    if !bytes.ends_with(b"\n\n") {
        bytes.extend_from_slice(b"\n\n");
    }
    bytes
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/anthropic")
}

const FALLBACK: &str = "recorded/stream-b-fallback.sse";

/// Short deadlines and backoff, so that the scenarios run fast.
fn config(server: &Server) -> ClientConfig {
    let mut retry = RetryPolicy::default();
    retry.initial_backoff = Duration::from_millis(50);
    let mut timeouts = Timeouts::default();
    timeouts.idle = Duration::from_millis(400);
    timeouts.response_head = Duration::from_secs(5);
    let config = match Cloud::current() {
        Cloud::Bedrock => {
            let credentials = AwsCredentials::new(BEDROCK_KEY_ID, "sk-test-key-secret")
                .session_token("sk-test-key-session");
            ClientConfig::new()
                .provider(Provider::bedrock("us-east-1"))
                .authorizer(SigV4::new(credentials, "us-east-1"))
        }
        Cloud::Vertex => ClientConfig::new()
            .provider(Provider::vertex("test-project", "us-east5"))
            .auth_token("sk-test-key"),
        _ => ClientConfig::new().api_key("sk-test-key"),
    };
    config
        .base_url(server.base_url())
        .retry(retry)
        .timeouts(timeouts)
}

/// The access key id of the scenarios' AWS credentials.
const BEDROCK_KEY_ID: &str = "AKIDTESTCONFORMANCE";

/// The path of the scenarios' Messages requests in the current cloud.
fn messages_path() -> &'static str {
    match Cloud::current() {
        Cloud::Bedrock => "/model/claude-test/invoke-with-response-stream",
        Cloud::Vertex => {
            "/v1/projects/test-project/locations/us-east5/publishers/anthropic/models/claude-test:streamRawPredict"
        }
        _ => "/v1/messages",
    }
}

fn params() -> MessageParams {
    MessageParams::new("claude-test", 256).message(MessageParam::user("Hello"))
}

fn stream<R: Runner>(server: &Server, exit: Exit) -> Run {
    R::run(&R::client(config(server), None), params(), exit, &mut || {})
}

/// The close latency every exit must meet, as the server observes it.
pub const CLOSE_WITHIN: Duration = Duration::from_millis(100);

/// Asserts that the server saw every connection closed by the client within
/// [`CLOSE_WITHIN`] of `exit`; returns the latency.
fn assert_closed_within_limit(server: &Server, exit: Instant) -> Duration {
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
    latency
}

fn request_id(server: &Server, index: usize) -> Option<String> {
    Some(server.requests()[index].request_id.clone())
}

/// Building a stream sends nothing; entering sends one request with the API's headers.
pub fn nothing_is_sent_before_enter<R: Runner>() {
    let server = Server::start();
    server.enqueue(Reply::recorded(fixture("recorded/555fb399.exchange1.sse")));
    let client = R::client(config(&server), None);
    let run = R::run(&client, params(), Exit::Drain, &mut || {
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!((server.connection_count(), server.request_count()), (0, 0));
    });
    assert_eq!(server.request_count(), 1);
    let request = &server.requests()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(request.header("x-api-key"), Some("sk-test-key"));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(request.json().unwrap()["stream"], true);
    assert_eq!(run.request_id, Some(request.request_id.clone()));
    assert!(
        run.message()
            .text()
            .starts_with("The weather in San Francisco")
    );
}

/// Every recorded stream ends in the same final message as the core's accumulator gives.
pub fn every_fixture_gives_the_accumulators_final_message<R: Runner>() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../stream-core/tests/expected");
    let server = Server::start();
    let client = R::client(config(&server), None);
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
            .find(|p| fixtures_dir().join(p).is_file())
            .unwrap();
        server.enqueue(Reply::recorded(fixture(&source)).chunking(Chunking::Fixed(37)));
        let run = R::run(&client, params(), Exit::Drain, &mut || {});
        let expected: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(run.message().to_json(), expected, "{source}");
    }
}

/// A generated reply with every kind of block arrives whole however it is chunked.
pub fn generated_replies_arrive_whole_at_any_chunking<R: Runner>() {
    let spec = Generate::text(100)
        .delta_len(7)
        .thinking(10)
        .citations(4)
        .tool_use(8 << 10)
        .tool_delta_len(8)
        .seed(3);
    let server = Server::start();
    let client = R::client(config(&server), None);
    for chunking in [
        Chunking::Events,
        Chunking::Fixed(3),
        Chunking::Random { seed: 5, max: 300 },
    ] {
        server.enqueue(Reply::generated(spec.clone()).chunking(chunking));
        let run = R::run(&client, params(), Exit::Drain, &mut || {});
        assert_eq!(
            run.message().to_json(),
            spec.expected_message("claude-test")
        );
    }
}

fn stalling() -> Reply {
    Reply::generated(Generate::text(50)).fault(Fault::StallAfterEvents(10))
}

fn exit_closes_at_once<R: Runner>(exit: Exit) {
    let server = Server::start();
    server.enqueue(stalling());
    let run = stream::<R>(&server, exit);
    assert!(!run.events.is_empty(), "{exit:?}: events before the exit");
    assert_closed_within_limit(&server, run.exited_at.expect("the scope was left"));
}

/// Dropping the stream mid-body closes the connection at once.
pub fn drop_mid_stream_closes_the_connection_at_once<R: Runner>() {
    exit_closes_at_once::<R>(Exit::DropAfter(1));
}

/// `close()` mid-body closes the connection at once.
pub fn close_mid_stream_closes_the_connection_at_once<R: Runner>() {
    exit_closes_at_once::<R>(Exit::CloseAfter(2));
}

/// Breaking out of a loop inside `with` and returning closes at once.
pub fn break_inside_with_closes_at_once<R: Runner>() {
    exit_closes_at_once::<R>(Exit::BreakInWith(4));
}

/// `?` inside `with` closes at once.
pub fn question_mark_inside_with_closes_at_once<R: Runner>() {
    exit_closes_at_once::<R>(Exit::ErrorInWith(1));
}

/// A panic inside `with` closes at once.
pub fn panic_inside_with_closes_at_once<R: Runner>() {
    let server = Server::start();
    server.enqueue(stalling());
    let run = stream::<R>(&server, Exit::PanicInWith(1));
    assert!(run.panicked);
    assert_closed_within_limit(&server, run.exited_at.expect("the scope was left"));
}

/// `retry-after` (seconds, fractional) and `retry-after-ms` set the waits; the third attempt
/// streams and says it is the second retry.
pub fn retries_follow_retry_after_then_stream<R: Runner>() {
    let server = Server::start();
    server
        .enqueue(Reply::error(529).header("retry-after", "0.2"))
        .enqueue(Reply::error(429).retry_after_ms(150))
        .enqueue(Reply::recorded(fixture("python-sdk/basic_response.txt")));
    let started = Instant::now();
    let run = stream::<R>(&server, Exit::Drain);
    assert_eq!(run.message().text(), "Hello there!");
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

/// Retries stop at the policy's limit; `x-should-retry` overrides the status.
pub fn retries_stop_at_the_limit_and_obey_x_should_retry<R: Runner>() {
    let server = Server::start();
    server.set_default_reply(Reply::error(529));
    let run = stream::<R>(&server, Exit::Drain);
    let failure = run.failure();
    assert!(
        matches!(&failure.kind, ErrorKind::Api(api) if api.kind == ApiErrorKind::Overloaded && api.status == 529)
    );
    assert_eq!((failure.attempts, server.request_count()), (3, 3));
    assert_eq!(failure.request_id, request_id(&server, 2));

    let server = Server::start();
    server.enqueue(Reply::error(529).should_retry(false));
    assert!(stream::<R>(&server, Exit::Drain).enter_error.is_some());
    assert_eq!(server.request_count(), 1);

    let server = Server::start();
    server.enqueue(Reply::error(400).should_retry(true));
    assert_eq!(
        stream::<R>(&server, Exit::Drain).message().text().len(),
        12 * 16
    );
    assert_eq!(server.request_count(), 2);
}

/// A final error status is the typed error of `enter`, with its request id, not retried.
pub fn a_final_status_error_surfaces_at_enter_with_its_request_id<R: Runner>() {
    let server = Server::start();
    server.enqueue(Reply::error_with(
        400,
        "invalid_request_error",
        "scripted 400",
    ));
    let run = stream::<R>(&server, Exit::Drain);
    let error = run.enter_error.as_ref().expect("an error at enter");
    let failure = run.failure();
    let ErrorKind::Api(api) = &failure.kind else {
        panic!("{error}")
    };
    assert_eq!(
        (api.status, &api.kind),
        (400, &ApiErrorKind::InvalidRequest)
    );
    assert_eq!(api.message, "scripted 400");
    assert_eq!(failure.request_id, request_id(&server, 0));
    assert_eq!(server.request_count(), 1, "400 is not retried");
    assert!(!error.to_string().contains("sk-test-key"));
    assert!(!format!("{error:?}").contains("sk-test-key"));

    // Credentials the server does not know: 401 from the API and Vertex AI, Bedrock's 403.
    let server = Server::builder().api_key("sk-other").start();
    let run = stream::<R>(&server, Exit::Drain);
    let expected = match Cloud::current() {
        Cloud::Bedrock => ApiErrorKind::Permission,
        _ => ApiErrorKind::Authentication,
    };
    assert!(
        matches!(&run.failure().kind, ErrorKind::Api(api) if api.kind == expected),
        "{}",
        run.failure()
    );
}

/// Each attempt carries the credentials its cloud wants, made again for a retry: the API key;
/// Bedrock's AWS Signature Version 4 over the attempt's own headers (a fresh one for the retry, whose
/// `x-stainless-retry-count` differs), with the session token; Vertex AI's bearer token. The
/// body is the cloud's (no `model` for the clouds, their `anthropic_version`).
pub fn each_attempt_is_authorized_as_its_cloud_wants<R: Runner>() {
    let server = Server::start();
    server
        .enqueue(Reply::error(529).retry_after_ms(20))
        .enqueue(Reply::recorded(fixture("python-sdk/basic_response.txt")));
    let run = stream::<R>(&server, Exit::Drain);
    assert_eq!(run.message().text(), "Hello there!");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let bodies: Vec<serde_json::Value> = requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    for (request, body) in requests.iter().zip(&bodies) {
        assert_eq!(request.path, messages_path());
        let version = body.get("anthropic_version").and_then(|v| v.as_str());
        match Cloud::current() {
            Cloud::Bedrock => {
                let auth = request.header("authorization").unwrap();
                assert!(
                    auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={BEDROCK_KEY_ID}/"))
                );
                assert!(auth.contains("/us-east-1/bedrock/aws4_request"));
                assert!(auth.contains("x-stainless-retry-count"), "{auth}");
                assert!(request.header("x-amz-date").is_some());
                assert_eq!(
                    request.header("x-amz-security-token"),
                    Some("sk-test-key-session")
                );
                assert_eq!(version, Some("bedrock-2023-05-31"));
                assert!(body.get("model").is_none() && body.get("stream").is_none());
            }
            Cloud::Vertex => {
                assert_eq!(request.header("authorization"), Some("Bearer sk-test-key"));
                assert_eq!(version, Some("vertex-2023-10-16"));
                assert!(body.get("model").is_none());
            }
            _ => {
                assert_eq!(request.header("x-api-key"), Some("sk-test-key"));
                assert_eq!(body["model"], "claude-test");
            }
        }
    }
    if Cloud::current() == Cloud::Bedrock {
        let signature = |i: usize| requests[i].header("authorization").unwrap().to_owned();
        assert_ne!(signature(0), signature(1), "the retry is signed again");
    }
}

/// A stall mid-body ends at the idle deadline with the events and the partial message.
pub fn a_stalled_stream_ends_at_the_idle_deadline_with_the_partial_message<R: Runner>() {
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(20)).fault(Fault::StallAfterEvents(8)));
    let started = Instant::now();
    let run = stream::<R>(&server, Exit::Drain);
    let waited = started.elapsed();
    assert_eq!(run.events.len(), 8);
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    let failure = run.failure();
    assert!(
        matches!(failure.kind, ErrorKind::Timeout(Deadline::Idle)),
        "{failure}"
    );
    assert_eq!(failure.partial.as_ref().unwrap().text().len(), 5 * 16);
    assert_eq!(failure.request_id, request_id(&server, 0));
    assert!(server.wait_all_closed(Duration::from_secs(2)).is_some());
}

/// A message that grows past `max_message_size` ends in a typed error with everything up to
/// the limit, and the connection is closed at once.
pub fn a_message_past_its_size_limit_fails_and_closes<R: Runner>() {
    let server = Server::start();
    // 20,000 deltas of 64 bytes: 1.25 MiB of text against a 64 KiB limit.
    server.enqueue(Reply::generated(Generate::text(20_000).delta_len(64)));
    let limit = 64 << 10;
    let config = config(&server).max_message_size(limit);
    let run = R::run(&R::client(config, None), params(), Exit::Drain, &mut || {});
    let failure = run.failure();
    assert_eq!(
        failure.kind,
        ErrorKind::Protocol(ProtocolError::MessageTooLarge { limit }),
        "{failure}"
    );
    let text = failure
        .partial
        .as_ref()
        .expect("the partial message")
        .text()
        .len();
    // Every delta that fitted was kept; the one that would cross the limit was not.
    assert!(text <= limit && text > limit - 1024, "{text} bytes of text");
    assert_eq!(failure.request_id, request_id(&server, 0));
    server
        .wait_all_closed(Duration::from_secs(2))
        .expect("the connection was closed");
    assert!(
        server
            .connections()
            .iter()
            .all(|c| c.closed_by == Some(ClosedBy::Client)),
        "the client closed the connection before the reply ended"
    );
}

/// A consumer away for three idle deadlines at a time, with the server's events already
/// waiting, loses nothing: idle time is the peer's silence while the consumer waits, and time
/// the consumer spends elsewhere never counts.
pub fn a_consumer_away_for_three_idle_deadlines_loses_nothing<R: Runner>() {
    // The idle deadline is 400 ms; the consumer stops for 1.2 s after events 3, 6 and 9.
    let run = drain_pausing::<R>(
        Reply::generated(Generate::text(30)),
        &Generate::text(30),
        Exit::DrainPausing {
            every: 3,
            times: 3,
            pause: Duration::from_millis(1200),
        },
        "consumer away 3 x 1.2 s",
    );
    assert_eq!(run.events.len(), 36, "every event");
}

/// Streams `reply` to a consumer that pauses as `exit` says; every event and the whole
/// message must arrive (`spec` is what `reply` generates).
fn drain_pausing<R: Runner>(reply: Reply, spec: &Generate, exit: Exit, label: &str) -> Run {
    let server = Server::start();
    server.enqueue(reply);
    let started = Instant::now();
    let run = R::run(
        &R::client(config(&server), None),
        params(),
        exit,
        &mut || {},
    );
    eprintln!(
        "{label}: {} events in {:?}",
        run.events.len(),
        started.elapsed()
    );
    assert!(run.error.is_none(), "{label}: {:?}", run.error);
    assert_eq!(
        run.message().to_json(),
        spec.expected_message("claude-test")
    );
    run
}

/// A server that really stalls while the consumer waits ends the stream at the idle
/// deadline, not later: within the deadline plus a small slack of the last byte.
pub fn a_real_stall_ends_at_the_idle_deadline<R: Runner>() {
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(20)).fault(Fault::StallAfterEvents(8)));
    let client = R::client(config(&server), None);
    let run = R::run(&client, params(), Exit::Drain, &mut || {});
    let ended = Instant::now();
    let failure = run.failure();
    assert!(
        matches!(failure.kind, ErrorKind::Timeout(Deadline::Idle)),
        "{failure}"
    );
    assert_eq!(run.events.len(), 8);
    // The server wrote the eighth event when it received the request (no pacing): the
    // stream ends one idle deadline (400 ms) after that, give or take the slack.
    let received = server.requests()[0].received_at;
    let waited = ended.saturating_duration_since(received);
    eprintln!("real stall: idle error {waited:?} after the request (deadline 400 ms)");
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_millis(400 + SLACK_MS),
        "ended {waited:?} after the request"
    );
}

/// How late a deadline may be reported, on a shared, noisy machine.
const SLACK_MS: u64 = 300;

/// A retry that would end after the total deadline is not made: the error that asked for it
/// is returned at once (not `Timeout(Total)` a second later).
pub fn a_retry_past_the_total_deadline_returns_its_cause_at_once<R: Runner>() {
    let server = Server::start();
    server.enqueue(Reply::error(529).retry_after(3));
    let mut config = config(&server);
    config.timeouts.total = Some(Duration::from_secs(1));
    let started = Instant::now();
    let run = R::run(&R::client(config, None), params(), Exit::Drain, &mut || {});
    let elapsed = started.elapsed();
    eprintln!("retry past the total deadline: the 529 after {elapsed:?}");
    let failure = run.failure();
    assert!(
        matches!(&failure.kind, ErrorKind::Api(api) if api.status == 529 && api.kind == ApiErrorKind::Overloaded),
        "{failure}"
    );
    assert_eq!(server.request_count(), 1);
    assert!(elapsed < Duration::from_millis(500), "took {elapsed:?}");
}

/// The total deadline covers every attempt and the stream after them: two 529s that ask for
/// 400 ms each, then a stream paced at 10 ms per event that would take seconds, end at the
/// total deadline (1.5 s) on every transport.
pub fn the_total_deadline_holds_across_retries_and_a_paced_stream<R: Runner>() {
    let server = Server::start();
    server
        .enqueue(Reply::error(529).retry_after_ms(400))
        .enqueue(Reply::error(529).retry_after_ms(400))
        .enqueue(Reply::generated(Generate::text(400)).pace_events(Duration::from_millis(10)));
    let mut config = config(&server);
    config.timeouts.total = Some(Duration::from_millis(1500));
    let started = Instant::now();
    let run = R::run(&R::client(config, None), params(), Exit::Drain, &mut || {});
    let elapsed = started.elapsed();
    eprintln!(
        "total 1.5 s across retries: {} events, ended after {elapsed:?}",
        run.events.len()
    );
    let failure = run.failure();
    assert!(
        matches!(failure.kind, ErrorKind::Timeout(Deadline::Total)),
        "{failure}"
    );
    assert_eq!(server.request_count(), 3);
    assert!(!run.events.is_empty(), "the third attempt streamed");
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_millis(1500 + SLACK_MS),
        "ended after {elapsed:?}"
    );
}

/// A slow consumer of a paced server: events every 20 ms, the consumer taking 150 ms over
/// each of the first ten; every event arrives and nothing times out.
pub fn a_slow_consumer_of_a_paced_server_gets_everything<R: Runner>() {
    drain_pausing::<R>(
        Reply::generated(Generate::text(24)).pace_events(Duration::from_millis(20)),
        &Generate::text(24),
        Exit::DrainPausing {
            every: 1,
            times: 10,
            pause: Duration::from_millis(150),
        },
        "slow consumer, paced server",
    );
}

/// Helper events come out of both transports as the core's conformance interface gives them
/// (`stream-core/tests/expected_helpers/`), whatever the chunking.
pub fn helper_events_are_the_cores<R: Runner>() {
    let server = Server::start();
    let client = R::client(config(&server), None);
    for (fixture, expected) in [
        (
            "handmade/thinking_text_tool_use.sse",
            "handmade__thinking_text_tool_use",
        ),
        (
            "python-sdk/tool_use_response.txt",
            "python-sdk__tool_use_response",
        ),
        (
            "recorded/stream-a-refusal.sse",
            "recorded__stream-a-refusal",
        ),
    ] {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../stream-core/tests/expected_helpers")
            .join(format!("{expected}.jsonl"));
        let expected: Vec<serde_json::Value> = std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        for chunking in [Chunking::Events, Chunking::Fixed(5)] {
            server.enqueue(Reply::recorded(self::fixture(fixture)).chunking(chunking));
            let run = R::run(&client, params(), Exit::Drain, &mut || {});
            assert!(run.error.is_none(), "{fixture}: {:?}", run.error);
            assert_eq!(run.helpers, expected, "{fixture}");
        }
    }
}

/// Per-request options override the client's configuration for one request: retries (the
/// client allows none, the request three), a header of the same name (sent once, the
/// request's), a beta flag merged with the client's, and a query parameter; the next request
/// of the same client is back to the client's settings.
pub fn per_request_options_override_the_client<R: Runner>() {
    let server = Server::start();
    let mut config = config(&server)
        .header("x-team", "client")
        .beta("client-beta");
    config.retry.max_retries = 0;
    let client = R::client(config, None);
    server
        .enqueue(Reply::error(529).retry_after_ms(20))
        .enqueue(Reply::error(529).retry_after_ms(20))
        .enqueue(Reply::recorded(fixture("python-sdk/basic_response.txt")));
    let options = RequestOptions::new()
        .max_retries(3)
        .header("X-Team", "request")
        .beta("request-beta")
        .query("trace", "a b");
    let run = R::run_with_options(&client, params(), &options);
    assert_eq!(run.message().text(), "Hello there!");
    let requests = server.requests();
    assert_eq!(requests.len(), 3, "the request's retries");
    for request in &requests {
        assert_eq!(request.header("x-team"), Some("request"));
        assert_eq!(request.headers.get_all("x-team").iter().count(), 1);
        assert_eq!(
            request.header("anthropic-beta"),
            Some("client-beta,request-beta")
        );
        assert_eq!(request.path, format!("{}?trace=a%20b", messages_path()));
    }
    // The client itself is unchanged.
    server.enqueue(Reply::error(529));
    let run = R::run(&client, params(), Exit::Drain, &mut || {});
    assert!(run.enter_error.is_some());
    let last = server.requests().pop().unwrap();
    assert_eq!(server.request_count(), 4, "no retry without the options");
    assert_eq!(last.header("x-team"), Some("client"));
    assert_eq!(last.path, messages_path());
}

/// Slow but steady bytes are not a stall.
pub fn a_slow_drip_within_the_idle_deadline_is_not_a_stall<R: Runner>() {
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(3)).drip(64, Duration::from_millis(30)));
    assert_eq!(
        stream::<R>(&server, Exit::Drain).message().text().len(),
        3 * 16
    );
}

/// A server that reads the request and never answers hits the head deadline (each attempt).
pub fn a_server_that_never_answers_hits_the_head_deadline<R: Runner>() {
    let server = Server::start();
    server.set_default_reply(Reply::silence());
    let mut config = config(&server);
    config.timeouts.response_head = Duration::from_millis(300);
    let started = Instant::now();
    let run = R::run(&R::client(config, None), params(), Exit::Drain, &mut || {});
    let elapsed = started.elapsed();
    let failure = run.failure();
    assert!(
        matches!(failure.kind, ErrorKind::Timeout(Deadline::ResponseHead)),
        "{failure}"
    );
    assert_eq!(server.request_count(), failure.attempts as usize);
    assert!(
        elapsed < Duration::from_millis(300 * u64::from(failure.attempts) + 1500),
        "{elapsed:?}"
    );
    assert!(server.wait_all_closed(Duration::from_secs(2)).is_some());
}

/// A clean end without `message_stop` is `Truncated`, with the partial message.
pub fn a_truncated_stream_hands_back_the_partial_message<R: Runner>() {
    let server = Server::start();
    server.enqueue(Reply::recorded(fixture(FALLBACK)).fault(Fault::EndBeforeMessageStop));
    let run = stream::<R>(&server, Exit::Drain);
    let failure = run.failure();
    assert!(
        matches!(
            failure.kind,
            ErrorKind::Protocol(ProtocolError::Truncated { .. })
        ),
        "{failure}"
    );
    assert!(
        failure
            .partial
            .as_ref()
            .unwrap()
            .text()
            .contains("Solar eclipses")
    );
    assert_eq!(failure.request_id, request_id(&server, 0));
}

/// The text stream yields the text deltas; the final message's text is their join.
pub fn text_stream_then_final_message<R: Runner>() {
    let server = Server::start();
    server.enqueue(Reply::recorded(fixture(FALLBACK)).chunking(Chunking::Fixed(50)));
    let run = stream::<R>(&server, Exit::TextStream);
    assert!(run.text.len() > 3);
    assert_eq!(run.text.concat(), run.message().text());
}

/// TLS with the server's self-signed certificate works when trusted and is refused (not
/// retried, nothing sent) otherwise.
pub fn tls_with_a_trusted_self_signed_certificate_works_and_an_untrusted_one_is_refused<
    R: Runner,
>() {
    let server = Server::builder().tls().start();
    server.enqueue(Reply::recorded(fixture("python-sdk/basic_response.txt")));
    let client = R::client(config(&server), server.certificate_der());
    let run = R::run(&client, params(), Exit::Drain, &mut || {});
    assert_eq!(run.message().text(), "Hello there!");

    let server = Server::builder().tls().start();
    let run = stream::<R>(&server, Exit::Drain);
    let failure = run.failure();
    assert!(
        matches!(
            failure.kind,
            ErrorKind::Transport {
                kind: TransportErrorKind::Tls,
                ..
            }
        ),
        "{failure}"
    );
    assert_eq!(failure.attempts, 1);
    assert_eq!(
        server.request_count(),
        0,
        "no request crossed an untrusted connection"
    );
    assert!(
        server
            .wait_for(Duration::from_secs(2), |o| o.connections[0]
                .tls_error
                .clone())
            .is_some()
    );
}

/// A raw SSE stream from any endpoint: sent as given, decoded exactly, the same exit
/// semantics, and a typed error for a status that is not 2xx.
pub fn a_raw_sse_stream_from_any_endpoint<R: Runner>() {
    let body = b"retry: 1000\nid: 1\nevent: tick\ndata: {\"n\": 1}\n\n: keep-alive\n\ndata: two\ndata: lines\n\n";
    let raw = || {
        Reply::recorded(&body[..])
            .skip_validation()
            .chunking(Chunking::Fixed(5))
    };
    let server = Server::start();
    server.enqueue(raw());
    let client = R::client(config(&server), None);
    // Built with the `http` crate, as most code that speaks HTTP in Rust does.
    let request: Request = http::Request::builder()
        .method("GET")
        .uri(format!("{}/events?topic=x", server.base_url()))
        .header("accept", "text/event-stream")
        .body(Vec::new())
        .unwrap()
        .into();
    let run = R::run_sse(&client, request, None, Exit::Drain, &mut || {
        assert_eq!(server.connection_count(), 0, "nothing before enter");
    });
    assert_eq!(run.status, Some(200));
    let content_type = run.headers.get(http::header::CONTENT_TYPE);
    assert!(
        content_type.is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream")),
        "response headers as an http::HeaderMap: {content_type:?}"
    );
    assert!(run.error.is_none(), "{:?}", run.error);
    let events: Vec<(&str, &str, &str)> = run
        .events
        .iter()
        .map(|e| (e.event_type(), e.data(), e.id()))
        .collect();
    assert_eq!(
        events,
        [("tick", "{\"n\": 1}", "1"), ("message", "two\nlines", "1")]
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

    let server = Server::start();
    server.enqueue(raw().fault(Fault::StallAfterEvents(2)));
    let client = R::client(config(&server), None);
    let request = Request::new("GET", format!("{}/events", server.base_url()));
    let run = R::run_sse(&client, request, None, Exit::DropAfter(1), &mut || {});
    assert_eq!(run.events.len(), 1);
    assert_closed_within_limit(&server, run.exited_at.unwrap());

    let server = Server::start();
    let client = R::client(config(&server), None);
    let request = Request::new("GET", format!("{}/missing", server.base_url()));
    let run = R::run_sse(&client, request, None, Exit::Drain, &mut || {});
    let error = run.enter_error.expect("an error at enter");
    assert!(
        matches!(&error.session_error().unwrap().kind, ErrorKind::Api(api) if api.status == 404)
    );
}

/// A 200 that is not an event stream is a typed error at enter, with the body's start.
pub fn a_wrong_content_type_is_a_typed_error_at_enter<R: Runner>() {
    let server = Server::start();
    server.enqueue(Reply::html());
    let run = stream::<R>(&server, Exit::Drain);
    assert!(run.enter_error.is_some());
    let failure = run.failure();
    assert!(
        matches!(&failure.kind, ErrorKind::Protocol(ProtocolError::WrongContentType { content_type, body_prefix }) if content_type.starts_with("text/html") && body_prefix.contains("Welcome to the proxy")),
        "{failure}"
    );
    assert_eq!(failure.request_id, request_id(&server, 0));
}

/// An `error` event after output is final, with everything before it; before output it is
/// retried.
pub fn an_error_event_mid_stream_is_final_and_first_is_retried<R: Runner>() {
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(10)).fault(Fault::ErrorEventAt(5)));
    let run = stream::<R>(&server, Exit::Drain);
    assert_eq!(run.events.len(), 5);
    let failure = run.failure();
    assert!(
        matches!(&failure.kind, ErrorKind::Api(api) if api.kind == ApiErrorKind::Overloaded && api.mid_stream),
        "{failure}"
    );
    assert_eq!(failure.partial.as_ref().unwrap().text().len(), 2 * 16);
    assert_eq!(failure.request_id, request_id(&server, 0));
    assert_eq!(server.request_count(), 1, "not retried after output");

    let server = Server::start();
    server
        .enqueue(Reply::generated(Generate::text(3)).fault(Fault::ErrorEventAt(0)))
        .enqueue(Reply::generated(Generate::text(3)));
    assert_eq!(
        stream::<R>(&server, Exit::Drain).message().text().len(),
        3 * 16
    );
    assert_eq!(server.request_count(), 2);
}

/// A Bedrock exception (on the other clouds, the `error` event the API sends for that kind of
/// failure) after output ends the stream with the API error kind of its type and the message
/// so far; a throttling exception before output is retried.
pub fn exceptions_follow_the_api_error_kinds<R: Runner>() {
    for (exception, kind) in [
        ("throttlingException", ApiErrorKind::RateLimit),
        ("serviceUnavailableException", ApiErrorKind::Overloaded),
        ("validationException", ApiErrorKind::InvalidRequest),
        ("modelStreamErrorException", ApiErrorKind::Api),
    ] {
        let server = Server::start();
        server.enqueue(
            Reply::generated(Generate::text(10)).fault(Fault::ExceptionAt(5, exception.to_owned())),
        );
        let run = stream::<R>(&server, Exit::Drain);
        assert_eq!(run.events.len(), 5, "{exception}");
        let failure = run.failure();
        let ErrorKind::Api(api) = &failure.kind else {
            panic!("{exception}: {failure}")
        };
        assert_eq!((&api.kind, api.mid_stream), (&kind, true), "{exception}");
        assert_eq!(api.message, format!("scripted {exception}"));
        assert!(failure.partial.is_some(), "{exception}");
        assert_eq!(
            server.request_count(),
            1,
            "{exception}: not retried after output"
        );
    }
    let server = Server::start();
    server
        .enqueue(
            Reply::generated(Generate::text(3))
                .fault(Fault::ExceptionAt(0, "throttlingException".to_owned())),
        )
        .enqueue(Reply::generated(Generate::text(3)));
    assert_eq!(
        stream::<R>(&server, Exit::Drain).message().text().len(),
        3 * 16
    );
    assert_eq!(server.request_count(), 2, "retried before output");
}

fn assert_reset(name: &str, failure: &SessionError) {
    assert!(
        matches!(
            failure.kind,
            ErrorKind::Transport {
                kind: TransportErrorKind::Reset,
                ..
            }
        ),
        "{name}: {failure}"
    );
}

/// A reset (RST) or a cut (FIN without the body's end) anywhere: the events before it, then
/// `Transport { kind: Reset }` with the partial message and the request id; not retried.
pub fn resets_and_cuts_end_in_typed_errors_with_what_was_received<R: Runner>() {
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
        let run = stream::<R>(&server, Exit::Drain);
        assert!(run.events.len() >= 3, "{name}: {} events", run.events.len());
        if name.ends_with("events") {
            assert_eq!(run.events.len(), 6, "{name}: every event before the fault");
        }
        let failure = run.failure();
        assert_reset(name, failure);
        assert!(failure.partial.is_some(), "{name}");
        assert_eq!(failure.request_id, request_id(&server, 0), "{name}");
        assert_eq!(
            server.request_count(),
            1,
            "{name}: not retried after output"
        );
    }
}

/// Garbage JSON is `InvalidEvent`; a line past the decoder's limit is `Sse` at once (the
/// client stops reading); invalid UTF-8 is replaced.
pub fn garbage_huge_lines_and_invalid_utf8<R: Runner>() {
    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(5)).fault(Fault::InjectAt(
        4,
        Bytes::from_static(b"event: content_block_delta\ndata: {not json\n\n"),
    )));
    let run = stream::<R>(&server, Exit::Drain);
    assert_eq!(run.events.len(), 4);
    let failure = run.failure();
    assert!(
        matches!(
            failure.kind,
            ErrorKind::Protocol(ProtocolError::InvalidEvent(_))
        ),
        "{failure}"
    );
    assert_eq!(failure.partial.as_ref().unwrap().text().len(), 16);

    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(5)).fault(Fault::HugeLineAt(4, 64 << 20)));
    let mut config = config(&server);
    config.decoder = config.decoder.clone().max_line_len(4096);
    let run = R::run(&R::client(config, None), params(), Exit::Drain, &mut || {});
    assert_eq!(run.events.len(), 4);
    let failure = run.failure();
    assert!(
        matches!(failure.kind, ErrorKind::Protocol(ProtocolError::Sse(_))),
        "{failure}"
    );
    assert!(failure.partial.is_some());
    let sent = server
        .wait_for(Duration::from_secs(2), |o| {
            o.requests[0]
                .response_ended_at
                .map(|_| o.requests[0].bytes_sent)
        })
        .expect("the response ended");
    assert!(
        sent < 16 << 20,
        "the client stopped reading after {sent} bytes"
    );

    let server = Server::start();
    server.enqueue(Reply::generated(Generate::text(2)).fault(Fault::InvalidUtf8At(4, 0)));
    let run = stream::<R>(&server, Exit::Drain);
    assert!(
        run.message()
            .text()
            .contains("bad \u{FFFD} \u{FFFD}( \u{FFFD} end")
    );
}

/// A `SplitMix64` step, for reproducible random trials.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 100 trials of leaving a stream at a random point in a random way (drop, break, `?` and
/// panic inside `with`, cancelling a pending future where the transport can): nothing is sent
/// before `enter`, and the server sees every connection closed within 100 ms of the exit.
pub fn exits_at_random_points_close_at_once<R: Runner>() {
    let mut state = 0x00C0_FFEE_u64;
    let mut worst = Duration::ZERO;
    let mut kinds = [0usize; 5];
    for trial in 0..100 {
        let stall_at = 1 + next_random(&mut state) % 12;
        let point = usize::try_from(next_random(&mut state) % (stall_at + 1)).unwrap_or(0);
        let kind = usize::try_from(next_random(&mut state) % 5).unwrap_or(0);
        kinds[kind] += 1;
        let server = Server::start();
        let exit = match kind {
            0 => Exit::DropAfter(point),
            1 => Exit::BreakInWith(point),
            2 => Exit::ErrorInWith(point),
            3 => Exit::PanicInWith(point),
            _ => Exit::CancelPending(point),
        };
        let silent = kind == 4 && R::cancels() && trial % 4 == 0;
        if silent {
            // Pending in `enter`: the server reads the request and never answers.
            server.enqueue(Reply::silence());
        } else {
            server.enqueue(
                Reply::generated(Generate::text(20)).fault(Fault::StallAfterEvents(stall_at)),
            );
        }
        let client = R::client(config(&server), None);
        let run = R::run(&client, params(), exit, &mut || {
            assert_eq!(
                server.request_count(),
                0,
                "trial {trial}: nothing before enter"
            );
        });
        assert_eq!(server.request_count(), 1, "trial {trial}");
        let exited = run.exited_at.expect("the scope was left");
        worst = worst.max(assert_closed_within_limit(&server, exited));
    }
    eprintln!(
        "100 random exits (drop, break, ?, panic, cancel: {kinds:?}): worst close latency {worst:?}"
    );
}

/// A recognisable key (and, separately, token) through every error path: it never appears in
/// the error's `Display` or `Debug`, nor in the client's or the configuration's `Debug`, while
/// the server did receive it.
pub fn secrets_never_appear_in_errors<R: Runner>() {
    const CANARY: &str = "sk-ant-api03-CANARY-7f3a9c0d";
    let replies: Vec<(&str, Reply)> = vec![
        ("401", Reply::error(401)),
        ("400", Reply::error(400)),
        ("html", Reply::html()),
        (
            "reset",
            Reply::generated(Generate::text(10)).fault(Fault::ResetAfterEvents(5)),
        ),
        (
            "truncated",
            Reply::generated(Generate::text(3)).fault(Fault::EndBeforeMessageStop),
        ),
        (
            "stall",
            Reply::generated(Generate::text(10)).fault(Fault::StallAfterEvents(5)),
        ),
        (
            "garbage",
            Reply::generated(Generate::text(5)).fault(Fault::InjectAt(
                4,
                Bytes::from_static(b"event: content_block_delta\ndata: {\n\n"),
            )),
        ),
    ];
    let leaks = |what: &str, text: &str| {
        assert!(!text.contains("CANARY"), "{what} shows the secret: {text}");
    };
    for token in [false, true] {
        for (name, reply) in &replies {
            let server = Server::start();
            server.enqueue(reply.clone());
            let config = if token {
                config(&server).auth_token(CANARY)
            } else {
                config(&server).api_key(CANARY)
            };
            leaks("the configuration", &format!("{config:?}"));
            let client = R::client(config, None);
            leaks("the client", &format!("{client:?}"));
            let run = R::run(&client, params(), Exit::Drain, &mut || {});
            let error = run
                .enter_error
                .as_ref()
                .or(run.error.as_ref())
                .unwrap_or_else(|| panic!("{name}: no error"));
            for text in [
                error.to_string(),
                format!("{error:?}"),
                format!("{error:#?}"),
                format!("{run:?}"),
            ] {
                leaks(name, &text);
            }
            let sent = &server.requests()[0];
            let presented = if token {
                sent.header("authorization")
            } else {
                sent.header("x-api-key")
            };
            assert!(
                presented.is_some_and(|v| v.contains(CANARY)),
                "{name}: the key was sent"
            );
        }
        // Errors without any response: refused, untrusted certificate.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        let tls = Server::builder().tls().start();
        for base_url in [format!("http://{closed}"), tls.base_url().to_owned()] {
            let config = ClientConfig::new().base_url(base_url).max_retries(0);
            let config = if token {
                config.auth_token(CANARY)
            } else {
                config.api_key(CANARY)
            };
            let run = R::run(&R::client(config, None), params(), Exit::Drain, &mut || {});
            let error = run.enter_error.as_ref().expect("an error at enter");
            leaks("a transport error", &format!("{error} {error:?}"));
        }
    }
}

/// Proxies, as the core decides them: a clear-text stream and a TLS stream through a real
/// `CONNECT` proxy on 127.0.0.1 (TLS end to end, certificate checked as without a proxy),
/// basic credentials sent to a proxy that wants them, wrong credentials refused before
/// anything reaches the server, and an exception going direct.
pub fn proxies_tunnel_every_request_the_core_names<R: Runner>() {
    let server = Server::start();
    let open = ForwardProxy::start();
    let proxy = Proxy::new(&open.url()).unwrap();
    let run = R::run(
        &R::client(config(&server).proxy(proxy.clone()), None),
        params(),
        Exit::Drain,
        &mut || {},
    );
    assert!(!run.message().content().is_empty());
    let connects = open.connects();
    eprintln!("proxy, clear text: {connects:?}");
    assert_eq!(connects.len(), 1);
    assert_eq!(connects[0].target, server.addr().to_string());
    assert!(connects[0].opened && connects[0].authorization.is_none());

    // An exception: straight to the server.
    let direct = config(&server).proxies(Proxies::all(proxy).no_proxy("127.0.0.1"));
    let run = R::run(&R::client(direct, None), params(), Exit::Drain, &mut || {});
    assert!(!run.message().content().is_empty());
    assert_eq!(
        open.connects().len(),
        1,
        "the exception did not go through the proxy"
    );

    let tls = Server::builder().tls().start();
    let guarded = ForwardProxy::builder()
        .basic_auth("alice", "s3cret:!")
        .start();
    let url = guarded
        .url()
        .replace("http://", "http://alice:s3cret%3A%21@");
    let config = config(&tls).proxy(Proxy::new(&url).unwrap());
    let run = R::run(
        &R::client(config, tls.certificate_der()),
        params(),
        Exit::Drain,
        &mut || {},
    );
    assert!(!run.message().content().is_empty());
    let connects = guarded.connects();
    eprintln!("proxy, TLS with credentials: {connects:?}");
    assert_eq!(
        connects[0].target,
        format!("localhost:{}", tls.addr().port())
    );
    assert_eq!(
        connects[0].authorization.as_deref(),
        Some("Basic YWxpY2U6czNjcmV0OiE=")
    );
    assert!(connects[0].opened);

    let mut wrong = crate::scenarios::config(&tls).proxy(
        Proxy::new(&guarded.url())
            .unwrap()
            .basic_auth("alice", "wrong"),
    );
    wrong.retry.max_retries = 0;
    let run = R::run(
        &R::client(wrong, tls.certificate_der()),
        params(),
        Exit::Drain,
        &mut || {},
    );
    let failure = run.failure();
    eprintln!("proxy, wrong credentials: {failure}");
    assert!(
        matches!(
            failure.kind,
            ErrorKind::Transport {
                kind: TransportErrorKind::Connect,
                ..
            }
        ),
        "{failure}"
    );
    assert!(
        !failure.to_string().contains("wrong"),
        "no credential in the error: {failure}"
    );
    assert!(!guarded.connects().last().unwrap().opened);
    assert_eq!(
        tls.request_count(),
        1,
        "only the first stream reached the server"
    );
}

/// The `last-event-id` header of every request `server` got, in order.
fn last_event_ids_sent(server: &Server) -> Vec<Option<String>> {
    server
        .requests()
        .iter()
        .map(|r| r.header("last-event-id").map(str::to_owned))
        .collect()
}

/// A feed across drops: a resumable feed of 25 events that ends each response after 10, with
/// `retry: 150`, read with reconnection on. Every event arrives once, in order; each
/// reconnection sends `last-event-id` and waits the `retry:` time; the 204 after the last event
/// ends the stream cleanly. A feed that keeps failing stops at `max_attempts`.
pub fn a_feed_reconnects_with_last_event_id_and_loses_nothing<R: Runner>() {
    let server = Server::builder()
        .default_reply(Reply::feed(Feed::new(25).drop_every(10).retry_ms(150)))
        .start();
    let client = R::client(config(&server), None);
    let request = Request::new("GET", format!("{}/feed", server.base_url()))
        .with_header("accept", "text/event-stream");
    let started = Instant::now();
    let policy = Reconnect::new().delay(Duration::from_secs(5));
    let run = R::run_sse(
        &client,
        request.clone(),
        Some(&policy),
        Exit::Drain,
        &mut || {},
    );
    let elapsed = started.elapsed();
    assert!(run.error.is_none(), "{:?}", run.error);
    let ids: Vec<&str> = run.events.iter().map(|e| e.id()).collect();
    let expected: Vec<String> = (1..=25).map(|n| n.to_string()).collect();
    let resumed_after = [None, Some("10"), Some("20"), Some("25")].map(|id| id.map(str::to_owned));
    assert_eq!(ids, expected, "nothing lost, nothing repeated");
    assert_eq!(run.reconnects, 3);
    assert_eq!(last_event_ids_sent(&server), resumed_after);
    eprintln!("feed of 25 across 3 drops: ids {ids:?}, {elapsed:?}");
    // Three waits of `retry: 150` (not the policy's 5 s).
    assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");

    // Connections lost inside an event: the cut event's `id` does not count (no blank line
    // ended it), so the reconnection asks for that event again.
    let cut = Server::builder()
        .default_reply(Reply::feed(
            Feed::new(25).drop_every(10).retry_ms(20).cut_mid_event(),
        ))
        .start();
    let cut_request = Request::new("GET", format!("{}/feed", cut.base_url()));
    let run = R::run_sse(
        &R::client(config(&cut), None),
        cut_request,
        Some(&policy),
        Exit::Drain,
        &mut || {},
    );
    assert!(run.error.is_none(), "{:?}", run.error);
    let ids: Vec<&str> = run.events.iter().map(|e| e.id()).collect();
    assert_eq!(ids, expected, "nothing lost, nothing repeated");
    assert_eq!(last_event_ids_sent(&cut), resumed_after);

    // A feed resumed from a known ID starts after it.
    let resumed = request.with_header("last-event-id", "22");
    let run = R::run_sse(&client, resumed, Some(&policy), Exit::Drain, &mut || {});
    let ids: Vec<&str> = run.events.iter().map(|e| e.id()).collect();
    assert_eq!(ids, ["23", "24", "25"]);

    // A server that fails every reconnection: the limit holds, with the cause.
    let failing = Server::builder()
        .default_reply(Reply::feed(Feed::new(100).drop_every(2)))
        .start();
    failing
        .enqueue(Reply::feed(Feed::new(100).drop_every(2)))
        .enqueue(Reply::error(503).skip_validation())
        .enqueue(Reply::error(503).skip_validation())
        .enqueue(Reply::error(503).skip_validation());
    let request = Request::new("GET", format!("{}/feed", failing.base_url()));
    let policy = Reconnect::new()
        .delay(Duration::from_millis(20))
        .max_attempts(2);
    let run = R::run_sse(
        &R::client(config(&failing), None),
        request,
        Some(&policy),
        Exit::Drain,
        &mut || {},
    );
    assert_eq!(run.events.len(), 2);
    let error = run
        .error
        .as_ref()
        .and_then(|e| e.session_error())
        .expect("the limit ends the feed");
    assert!(
        matches!(&error.kind, ErrorKind::Api(api) if api.status == 503),
        "{error}"
    );
    assert_eq!(failing.request_count(), 3, "one stream, then two attempts");
}
