//! Messages requests through Amazon Bedrock and Google Vertex AI, on the session: the request
//! each provider gets, Bedrock's framing fed in every split, exception frames and their retry
//! rule, and an authorizer asked on every attempt with the attempt's time.

use core::time::Duration;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use stream_core::eventstream::bedrock::{chunk, exception_frame};
use stream_core::provider::{AuthError, Authorizer, Provider};
use stream_core::request::{ClientConfig, MessageParam, MessageParams, Request};
use stream_core::session::{
    ApiErrorKind, AttemptId, ErrorKind, Output, ProtocolError, Session, SessionError,
};

const EVENTS: [&str; 7] = [
    r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}"#,
    r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
    r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" world"}}"#,
    r#"{"type":"content_block_stop","index":0}"#,
    r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}"#,
    r#"{"type":"message_stop"}"#,
];

const EVENT_STREAM: [(&str, &str); 1] = [("content-type", "application/vnd.amazon.eventstream")];

/// Bedrock's body for these events.
fn frames(events: &[&str]) -> Vec<u8> {
    events
        .iter()
        .flat_map(|json| chunk(json).encode().to_vec())
        .collect()
}

/// Records every attempt it authorizes, with its time; fails when told to.
#[derive(Debug, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<Option<Duration>>>>,
    fail: bool,
}

impl Authorizer for Recorder {
    fn authorize(
        &self,
        request: &mut Request,
        unix_time: Option<Duration>,
    ) -> Result<(), AuthError> {
        if self.fail {
            return Err(AuthError::new("no credentials in this test"));
        }
        let mut seen = self.seen.lock().unwrap();
        seen.push(unix_time);
        request.headers.push((
            "authorization".into(),
            format!("Test attempt={}", seen.len()),
        ));
        Ok(())
    }
}

fn params() -> MessageParams {
    MessageParams::new("anthropic.claude-sonnet-4-5-v1:0", 64).message(MessageParam::user("Hi"))
}

fn bedrock(authorizer: Recorder) -> ClientConfig {
    ClientConfig::new()
        .provider(Provider::bedrock("us-east-1"))
        .base_url("http://127.0.0.1:9")
        .beta("context-1m-2025-08-07")
        .authorizer(authorizer)
}

fn drain(session: &mut Session) -> Vec<Output> {
    std::iter::from_fn(|| session.poll_output()).collect()
}

fn sent(outputs: &[Output]) -> Option<(AttemptId, &Request)> {
    outputs.iter().find_map(|o| match o {
        Output::Send { attempt, request } => Some((*attempt, request)),
        _ => None,
    })
}

fn finished(
    outputs: Vec<Output>,
) -> Option<Result<stream_core::messages::Message, Box<SessionError>>> {
    outputs.into_iter().find_map(|o| match o {
        Output::Finished(result) => Some(result),
        _ => None,
    })
}

/// Enters a session at monotonic 0 = 2026-01-01 and returns its first request.
fn enter(session: &mut Session) -> (AttemptId, Request) {
    session.set_wall_clock(Duration::ZERO, Duration::from_secs(1_767_225_600));
    session.enter(Duration::ZERO).unwrap();
    let outputs = drain(session);
    let (attempt, request) = sent(&outputs).expect("a request");
    (attempt, request.clone())
}

#[test]
fn bedrock_request_has_its_path_body_and_signature() {
    let mut session = Session::new(&bedrock(Recorder::default()), &params()).unwrap();
    let (_, request) = enter(&mut session);
    assert_eq!(
        request.url,
        "http://127.0.0.1:9/model/anthropic.claude-sonnet-4-5-v1:0/invoke-with-response-stream"
    );
    assert_eq!(
        request.header("accept"),
        Some("application/vnd.amazon.eventstream")
    );
    assert_eq!(request.header("authorization"), Some("Test attempt=1"));
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["anthropic_version"], "bedrock-2023-05-31");
    assert_eq!(
        body["anthropic_beta"],
        serde_json::json!(["context-1m-2025-08-07"])
    );
    assert!(body.get("model").is_none() && body.get("stream").is_none());
    assert_eq!(body["max_tokens"], 64);
}

#[test]
fn a_model_arn_is_one_path_segment() {
    let arn =
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5";
    let params = MessageParams::new(arn, 8).message(MessageParam::user("Hi"));
    let request = ClientConfig::new()
        .provider(Provider::bedrock("us-east-1"))
        .build_request(&params, 0)
        .unwrap();
    assert!(request.url.ends_with(
        "/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile%2Fus.anthropic.claude-sonnet-4-5/invoke-with-response-stream"
    ));
}

#[test]
fn bedrock_stream_decodes_in_every_split() {
    let body = frames(&EVENTS);
    // Whole, byte by byte, and split in two at every point.
    let mut splits: Vec<Vec<Vec<u8>>> =
        vec![vec![body.clone()], body.iter().map(|b| vec![*b]).collect()];
    splits.extend((1..body.len()).map(|at| vec![body[..at].to_vec(), body[at..].to_vec()]));
    for pieces in splits {
        let mut session = Session::new(&bedrock(Recorder::default()), &params()).unwrap();
        let (attempt, _) = enter(&mut session);
        session.handle_response_head(attempt, Duration::ZERO, 200, EVENT_STREAM);
        let mut events = 0;
        let mut outputs = Vec::new();
        for piece in pieces {
            session.handle_body(attempt, Duration::ZERO, Bytes::from(piece));
            outputs.extend(drain(&mut session));
        }
        session.handle_end(attempt, Duration::ZERO);
        outputs.extend(drain(&mut session));
        events += outputs
            .iter()
            .filter(|o| matches!(o, Output::Event(_)))
            .count();
        let message = finished(outputs).expect("finished").expect("a message");
        assert_eq!((events, message.text().as_str()), (7, "Hello world"));
    }
}

#[test]
fn an_exception_before_any_event_is_retried_and_signed_again() {
    let recorder = Recorder::default();
    let seen = Arc::clone(&recorder.seen);
    let config = bedrock(recorder);
    let mut session = Session::new(&config, &params())
        .unwrap()
        .with_jitter_seed(7);
    let (first, _) = enter(&mut session);
    session.handle_response_head(first, Duration::ZERO, 200, EVENT_STREAM);
    let throttled = exception_frame("throttlingException", "Too many tokens, please wait.");
    session.handle_body(first, Duration::ZERO, throttled.encode());
    let outputs = drain(&mut session);
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::DropConnection { attempt } if *attempt == first))
    );
    assert!(sent(&outputs).is_none(), "the retry waits for its backoff");
    let backoff = session.poll_timeout().expect("a backoff");
    session.handle_timeout(backoff);
    let outputs = drain(&mut session);
    let (second, request) = sent(&outputs).expect("the retry");
    assert_eq!(request.header("authorization"), Some("Test attempt=2"));
    session.handle_response_head(second, backoff, 200, EVENT_STREAM);
    session.handle_body(second, backoff, frames(&EVENTS));
    session.handle_end(second, backoff);
    let message = finished(drain(&mut session)).unwrap().unwrap();
    assert_eq!(message.text(), "Hello world");
    // Each attempt was authorized at its own time.
    let start = Duration::from_secs(1_767_225_600);
    assert_eq!(*seen.lock().unwrap(), [Some(start), Some(start + backoff)]);
    assert_eq!(session.attempts(), 2);
}

#[test]
fn an_exception_after_events_fails_with_the_api_error_and_the_partial_message() {
    let mut session = Session::new(&bedrock(Recorder::default()), &params()).unwrap();
    let (attempt, _) = enter(&mut session);
    session.handle_response_head(attempt, Duration::ZERO, 200, EVENT_STREAM);
    let mut body = frames(&EVENTS[..3]);
    body.extend_from_slice(
        &exception_frame("modelStreamErrorException", "The model stopped.").encode(),
    );
    session.handle_body(attempt, Duration::ZERO, body);
    let error = finished(drain(&mut session)).unwrap().unwrap_err();
    let ErrorKind::Api(api) = &error.kind else {
        panic!("{error:?}")
    };
    assert_eq!(
        (api.status, api.error_type.as_str(), api.mid_stream),
        (424, "modelStreamErrorException", true)
    );
    assert_eq!(api.message, "The model stopped.");
    assert_eq!(
        error.partial.as_ref().map(|m| m.text()),
        Some("Hello".to_owned())
    );
    assert_eq!(session.attempts(), 1);
}

#[test]
fn exception_kinds_follow_the_api_error_kinds() {
    for (exception, status, kind) in [
        ("throttlingException", 429, ApiErrorKind::RateLimit),
        ("serviceUnavailableException", 503, ApiErrorKind::Overloaded),
        ("internalServerException", 500, ApiErrorKind::Api),
        ("validationException", 400, ApiErrorKind::InvalidRequest),
    ] {
        let mut session = Session::new(&bedrock(Recorder::default()), &params())
            .unwrap()
            .with_options(&stream_core::request::RequestOptions::new().max_retries(0));
        let (attempt, _) = enter(&mut session);
        session.handle_response_head(attempt, Duration::ZERO, 200, EVENT_STREAM);
        session.handle_body(
            attempt,
            Duration::ZERO,
            exception_frame(exception, "no").encode(),
        );
        let error = finished(drain(&mut session)).unwrap().unwrap_err();
        let ErrorKind::Api(api) = &error.kind else {
            panic!("{error:?}")
        };
        assert_eq!(
            (api.status, api.kind.clone()),
            (status, kind),
            "{exception}"
        );
    }
}

#[test]
fn a_bad_checksum_is_a_typed_protocol_error() {
    let mut session = Session::new(&bedrock(Recorder::default()), &params()).unwrap();
    let (attempt, _) = enter(&mut session);
    session.handle_response_head(attempt, Duration::ZERO, 200, EVENT_STREAM);
    let mut body = frames(&EVENTS[..2]);
    let last = body.len() - 1;
    body[last] ^= 0xFF; // the second message's CRC
    session.handle_body(attempt, Duration::ZERO, body);
    let error = finished(drain(&mut session)).unwrap().unwrap_err();
    assert!(
        matches!(
            error.kind,
            ErrorKind::Protocol(ProtocolError::EventStream(_))
        ),
        "{error:?}"
    );
    assert!(
        error.partial.is_some(),
        "the message_start that arrived is kept"
    );
}

#[test]
fn sse_from_bedrock_is_the_wrong_content_type() {
    let mut session = Session::new(&bedrock(Recorder::default()), &params()).unwrap();
    let (attempt, _) = enter(&mut session);
    session.handle_response_head(
        attempt,
        Duration::ZERO,
        200,
        [("content-type", "text/event-stream")],
    );
    session.handle_end(attempt, Duration::ZERO);
    let error = finished(drain(&mut session)).unwrap().unwrap_err();
    assert!(matches!(
        error.kind,
        ErrorKind::Protocol(ProtocolError::WrongContentType { .. })
    ));
}

#[test]
fn an_authorizer_that_fails_sends_nothing() {
    let config = bedrock(Recorder {
        fail: true,
        ..Recorder::default()
    });
    let mut session = Session::new(&config, &params()).unwrap();
    session.enter(Duration::ZERO).unwrap();
    let outputs = drain(&mut session);
    assert!(sent(&outputs).is_none());
    let error = finished(outputs).unwrap().unwrap_err();
    assert!(
        matches!(&error.kind, ErrorKind::Auth(e) if e.reason() == "no credentials in this test")
    );
    assert_eq!((error.attempts, error.kind_name()), (0, "auth"));
}

#[test]
fn vertex_request_and_stream() {
    let config = ClientConfig::new()
        .provider(Provider::vertex("proj-1", "europe-west1"))
        .auth_token("ya29.test");
    let params =
        MessageParams::new("claude-sonnet-4-5@20250929", 64).message(MessageParam::user("Hi"));
    let mut session = Session::new(&config, &params).unwrap();
    let (attempt, request) = enter(&mut session);
    assert_eq!(
        request.url,
        "https://europe-west1-aiplatform.googleapis.com/v1/projects/proj-1/locations/europe-west1/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
    );
    assert_eq!(request.header("authorization"), Some("Bearer ya29.test"));
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        (body["anthropic_version"].as_str(), body["stream"].as_bool()),
        (Some("vertex-2023-10-16"), Some(true))
    );
    assert!(body.get("model").is_none());
    session.handle_response_head(
        attempt,
        Duration::ZERO,
        200,
        [("content-type", "text/event-stream")],
    );
    let sse: String = EVENTS
        .iter()
        .map(|json| format!("data: {json}\n\n"))
        .collect();
    session.handle_body(attempt, Duration::ZERO, sse);
    session.handle_end(attempt, Duration::ZERO);
    assert_eq!(
        finished(drain(&mut session)).unwrap().unwrap().text(),
        "Hello world"
    );
}

#[test]
fn a_request_s_beta_flags_join_the_client_s_in_bedrock_s_body() {
    let options = stream_core::request::RequestOptions::new().beta("files-api-2025-04-14");
    let mut session = Session::new(&bedrock(Recorder::default()), &params())
        .unwrap()
        .with_options(&options);
    let (_, request) = enter(&mut session);
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body["anthropic_beta"],
        serde_json::json!(["context-1m-2025-08-07", "files-api-2025-04-14"])
    );
    assert_eq!(
        request.header("anthropic-beta"),
        Some("context-1m-2025-08-07,files-api-2025-04-14")
    );
}
