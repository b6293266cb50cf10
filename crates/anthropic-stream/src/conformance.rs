//! The conformance interfaces of the decoder and the accumulator as functions: what the
//! `accumulate` example of stream-core and the CLI's `accumulate` command print, in one place.
//! Their output is a contract: keep it stable (docs/conformance.md).

use std::fmt;

use bytes::Bytes;
use serde_json::Value;
use stream_core::accumulate::{AccumulateError, Accumulator};
use stream_core::messages::{Message, StreamEvent};
use stream_core::sse::Decoder;

/// Why a whole recorded stream did not fold into a message: the kind (snake case: `sse`,
/// `invalid_json`, or an [`AccumulateError::kind`]), a message, and the message as far as it
/// got.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StreamFailure {
    /// The kind, in snake case.
    pub kind: String,
    /// What went wrong (for an `error` event, the API's message).
    pub message: String,
    /// The message as far as it got.
    pub partial: Option<Message>,
}

impl StreamFailure {
    fn new(kind: &str, message: String, partial: Option<&Message>) -> Self {
        Self {
            kind: kind.to_string(),
            message,
            partial: partial.cloned(),
        }
    }

    /// `{"error": {"kind": .., "message": ..}, "partial": <message or null>}`: the failure
    /// output of the accumulator's conformance interface.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut error = serde_json::Map::new();
        error.insert("kind".into(), self.kind.as_str().into());
        error.insert("message".into(), self.message.as_str().into());
        let mut object = serde_json::Map::new();
        object.insert("error".into(), Value::Object(error));
        object.insert(
            "partial".into(),
            self.partial.as_ref().map_or(Value::Null, Message::to_json),
        );
        Value::Object(object)
    }
}

impl fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for StreamFailure {}

/// Folds a whole recorded `text/event-stream` body into its final message: decode, parse,
/// accumulate, finish. The accumulator's conformance interface (the `accumulate` example
/// and the CLI's `accumulate` command) is this function with standard input and output.
///
/// ```
/// use anthropic_stream::conformance::accumulate_sse;
///
/// let body = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"x\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n";
/// let failure = accumulate_sse(body).unwrap_err();
/// assert_eq!(failure.kind, "truncated"); // no message_stop
/// assert!(failure.partial.is_some());
/// ```
///
/// # Errors
///
/// A [`StreamFailure`] for undecodable SSE, invalid JSON, an `error` event, a protocol
/// violation, invalid tool input, or a stream that ends before `message_stop`.
pub fn accumulate_sse(body: impl Into<Bytes>) -> Result<Message, StreamFailure> {
    let mut decoder = Decoder::new();
    decoder.feed(body);
    decoder.finish();
    let mut accumulator = Accumulator::new();
    loop {
        let parsed = match decoder.next_event_ref() {
            Ok(Some(event)) => StreamEvent::parse(event.event_type(), event.data()),
            Ok(None) => break,
            Err(err) => {
                return Err(StreamFailure::new(
                    "sse",
                    err.to_string(),
                    accumulator.snapshot(),
                ));
            }
        };
        let event = match parsed {
            Ok(event) => event,
            Err(err) => {
                return Err(StreamFailure::new(
                    "invalid_json",
                    err.to_string(),
                    accumulator.snapshot(),
                ));
            }
        };
        if let Err(err) = accumulator.apply(&event) {
            let message = match &err {
                AccumulateError::Api(body) => body.error.message.clone(),
                other => other.to_string(),
            };
            return Err(StreamFailure::new(
                err.kind(),
                message,
                accumulator.snapshot(),
            ));
        }
    }
    accumulator.finish().map_err(|incomplete| {
        StreamFailure::new(
            incomplete.error.kind(),
            incomplete.error.to_string(),
            incomplete.partial.as_deref(),
        )
    })
}
