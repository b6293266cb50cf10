//! Amazon Bedrock's frames (`InvokeModelWithResponseStream`): an event of type `chunk` carries
//! `{"bytes": "<base64>"}`, the base64 of one Messages API event's JSON, which becomes the
//! same [`StreamEvent`] the Messages API streams; an exception (`:message-type` `exception`)
//! carries `{"message": "..."}` and becomes an [`ApiError`] with Bedrock's HTTP status for that
//! exception, so it is classed and retried as the API's errors are.
//!
//! ```
//! use stream_core::eventstream::bedrock::{self, Frame};
//! use stream_core::eventstream::{HeaderValue, Message};
//! use stream_core::messages::StreamEvent;
//!
//! // {"type":"ping"}
//! let chunk = Message::new(r#"{"bytes":"eyJ0eXBlIjoicGluZyJ9"}"#)
//!     .with_header(":message-type", HeaderValue::String("event".into()))
//!     .with_header(":event-type", HeaderValue::String("chunk".into()));
//! assert!(matches!(bedrock::frame(&chunk)?, Frame::Event(StreamEvent::Ping)));
//!
//! let throttled = Message::new(r#"{"message":"Too many requests"}"#)
//!     .with_header(":message-type", HeaderValue::String("exception".into()))
//!     .with_header(":exception-type", HeaderValue::String("throttlingException".into()));
//! let Frame::Exception(error) = bedrock::frame(&throttled)? else { panic!() };
//! assert_eq!((error.status, error.message.as_str()), (429, "Too many requests"));
//! # Ok::<(), stream_core::eventstream::bedrock::BedrockError>(())
//! ```

use alloc::string::{String, ToString};
use core::fmt;

use base64::Engine as _;

use super::{HeaderValue, Message};
use crate::messages::{EventError, StreamEvent};
use crate::session::{ApiError, ApiErrorKind};

/// The `anthropic_version` a Bedrock request body carries.
pub const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

/// What one Bedrock message means.
#[derive(Debug)]
#[non_exhaustive]
pub enum Frame {
    /// A `chunk`: one Messages API event.
    Event(StreamEvent),
    /// An exception (or an `error` message): the stream's error, typed.
    Exception(ApiError),
    /// An event of another type: nothing to do (a later kind of frame).
    Other,
}

/// A Bedrock message that breaks the protocol. The peer is to blame for every variant.
#[derive(Debug)]
#[non_exhaustive]
pub enum BedrockError {
    /// A `chunk` whose payload is not `{"bytes": "<base64>"}`.
    InvalidChunk(String),
    /// The event inside a `chunk` is not a Messages event.
    InvalidEvent(EventError),
    /// A message with no `:message-type` header, or an unknown one.
    UnknownMessageType(Option<String>),
}

impl fmt::Display for BedrockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidChunk(why) => write!(f, "a Bedrock chunk that cannot be read: {why}"),
            Self::InvalidEvent(err) => write!(f, "a Bedrock chunk with an invalid event: {err}"),
            Self::UnknownMessageType(Some(kind)) => {
                write!(f, "a Bedrock message of unknown type {kind:?}")
            }
            Self::UnknownMessageType(None) => write!(f, "a Bedrock message without a type"),
        }
    }
}

impl core::error::Error for BedrockError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::InvalidEvent(err) => Some(err),
            _ => None,
        }
    }
}

/// The meaning of one message of a Bedrock response stream.
///
/// # Errors
///
/// [`BedrockError`] for a message that is not Bedrock's protocol.
pub fn frame(message: &Message) -> Result<Frame, BedrockError> {
    match message.message_type() {
        Some("event") if message.event_type() == Some("chunk") => {
            chunk_event(message.payload()).map(Frame::Event)
        }
        Some("event") => Ok(Frame::Other),
        Some("exception") => Ok(Frame::Exception(exception(
            message.exception_type().unwrap_or("exception"),
            message.payload(),
        ))),
        Some("error") => Ok(Frame::Exception(exception(
            message
                .header(":error-code")
                .and_then(HeaderValue::as_str)
                .unwrap_or("error"),
            message
                .header(":error-message")
                .and_then(HeaderValue::as_str)
                .unwrap_or_default()
                .as_bytes(),
        ))),
        other => Err(BedrockError::UnknownMessageType(other.map(str::to_string))),
    }
}

/// The Messages event inside a `chunk`'s payload.
fn chunk_event(payload: &[u8]) -> Result<StreamEvent, BedrockError> {
    #[derive(serde::Deserialize)]
    struct Chunk<'a> {
        // A JSON writer may escape the `/` of base64 as `\/`.
        #[serde(borrow)]
        bytes: alloc::borrow::Cow<'a, str>,
    }
    let chunk: Chunk<'_> = serde_json::from_slice(payload)
        .map_err(|err| BedrockError::InvalidChunk(err.to_string()))?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(chunk.bytes.as_bytes())
        .map_err(|err| BedrockError::InvalidChunk(err.to_string()))?;
    let json =
        core::str::from_utf8(&json).map_err(|err| BedrockError::InvalidChunk(err.to_string()))?;
    // The event's name is its JSON `type`, as for an SSE event without an `event` line.
    StreamEvent::parse("", json).map_err(BedrockError::InvalidEvent)
}

/// Bedrock's HTTP status for an exception type (its API reference), so that the error is
/// classed (and retried before the first event) as the same status from the API would be.
#[must_use]
pub fn exception_status(exception_type: &str) -> u16 {
    match exception_type
        .to_ascii_lowercase()
        .trim_end_matches("exception")
    {
        "validation" | "servicequotaexceeded" => 400,
        "accessdenied" => 403,
        "resourcenotfound" => 404,
        "modeltimeout" => 408,
        "modelstreamerror" => 424,
        "throttling" | "modelnotready" => 429,
        "serviceunavailable" => 503,
        _ => 500,
    }
}

/// An exception as an API error: Bedrock's status for its type, the kind that status has,
/// and the payload's `message`.
fn exception(exception_type: &str, payload: &[u8]) -> ApiError {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(alias = "Message")]
        message: Option<String>,
    }
    let body = String::from_utf8_lossy(payload).into_owned();
    let message = serde_json::from_slice::<Body>(payload)
        .ok()
        .and_then(|body| body.message)
        .unwrap_or_else(|| body.clone());
    let status = exception_status(exception_type);
    let kind = match status {
        503 => ApiErrorKind::Overloaded,
        408 => ApiErrorKind::Timeout,
        status => ApiErrorKind::from_status(status),
    };
    ApiError {
        status,
        kind,
        error_type: exception_type.to_string(),
        message,
        mid_stream: true,
        body,
    }
}

/// A `chunk` event carrying one Messages event's JSON, as Bedrock frames it (for servers and
/// tests that speak Bedrock's side).
///
/// ```
/// use stream_core::eventstream::bedrock::{chunk, frame, Frame};
/// use stream_core::messages::StreamEvent;
///
/// let message = chunk(r#"{"type":"message_stop"}"#);
/// assert!(matches!(frame(&message)?, Frame::Event(StreamEvent::MessageStop)));
/// # Ok::<(), stream_core::eventstream::bedrock::BedrockError>(())
/// ```
#[must_use]
pub fn chunk(event_json: &str) -> Message {
    let bytes = base64::engine::general_purpose::STANDARD.encode(event_json);
    let payload = serde_json::json!({ "bytes": bytes }).to_string();
    Message::new(payload)
        .with_header(":message-type", HeaderValue::String("event".to_string()))
        .with_header(":event-type", HeaderValue::String("chunk".to_string()))
        .with_header(
            ":content-type",
            HeaderValue::String("application/json".to_string()),
        )
}

/// An exception frame of `exception_type` (`throttlingException`, ...) with `message`, as
/// Bedrock sends it mid-stream.
///
/// ```
/// use stream_core::eventstream::bedrock::{exception_frame, frame, Frame};
///
/// let message = exception_frame("throttlingException", "Too many requests");
/// let Frame::Exception(error) = frame(&message)? else { panic!() };
/// assert_eq!((error.status, error.message.as_str()), (429, "Too many requests"));
/// # Ok::<(), stream_core::eventstream::bedrock::BedrockError>(())
/// ```
#[must_use]
pub fn exception_frame(exception_type: &str, message: &str) -> Message {
    let payload = serde_json::json!({ "message": message }).to_string();
    Message::new(payload)
        .with_header(
            ":message-type",
            HeaderValue::String("exception".to_string()),
        )
        .with_header(
            ":exception-type",
            HeaderValue::String(exception_type.to_string()),
        )
        .with_header(
            ":content-type",
            HeaderValue::String("application/json".to_string()),
        )
}
