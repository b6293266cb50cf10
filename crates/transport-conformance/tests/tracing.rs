//! The `tracing` feature on both transports: one span per stream, the attempts, the retry with
//! its reason and delay, the response head with its request id, the time to the first event,
//! the outcome; and never the API key, whatever happens.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use messages_test_server::{Reply, Server};
use stream_core::request::{ClientConfig, MessageParam, MessageParams};
use transport_conformance::runners::{Async, Blocking};
use transport_conformance::{Exit, Runner};

const KEY: &str = "sk-ant-TRACE-SECRET-0123456789";

/// What the subscriber wrote.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `play` with a subscriber that captures every event at DEBUG and above.
fn traced(play: impl FnOnce()) -> String {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    tracing::subscriber::with_default(subscriber, play);
    let bytes = capture
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    String::from_utf8(bytes).unwrap()
}

fn basic() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/anthropic/python-sdk/basic_response.txt"
    );
    let mut bytes = std::fs::read(path).unwrap();
    bytes.extend_from_slice(b"\n\n");
    bytes
}

fn check<R: Runner>() {
    let server = Server::builder().api_key(KEY).start();
    server
        .enqueue(Reply::error(529).retry_after_ms(20))
        .enqueue(Reply::recorded(basic()));
    let config = ClientConfig::new().api_key(KEY).base_url(server.base_url());
    let client = R::client(config.clone(), None);
    let params = || MessageParams::new("claude-test", 64).message(MessageParam::user("Hi"));
    let output = traced(|| {
        let run = R::run(&client, params(), Exit::Drain, &mut || {});
        assert_eq!(run.message().text(), "Hello there!");
    });
    eprintln!("{output}");
    let request_id = &server.requests()[1].request_id;
    for expected in [
        "anthropic_stream",
        "request sent",
        "retrying",
        "reason=status 529",
        "delay_ms=20",
        "response head",
        "status=200",
        &format!("request_id=\"{request_id}\""),
        "first event",
        "after_ms=",
        "stream finished",
        "attempts=2",
    ] {
        assert!(output.contains(expected), "no `{expected}` in\n{output}");
    }

    // A failure: the wrong key (a 401, never retried), and the key is nowhere.
    let wrong = R::client(config.api_key(format!("{KEY}-wrong")), None);
    let output = traced(|| {
        let run = R::run(&wrong, params(), Exit::Drain, &mut || {});
        assert!(run.enter_error.is_some());
    });
    assert!(output.contains("stream failed"), "{output}");
    assert!(output.contains("kind=\"authentication\""), "{output}");
    assert!(!output.contains("TRACE-SECRET"), "{output}");
}

#[test]
fn the_blocking_transport_traces_its_streams() {
    check::<Blocking>();
}

#[test]
fn the_async_transport_traces_its_streams() {
    check::<Async>();
}
