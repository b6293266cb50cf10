//! The session's errors, split by who is to blame: the API, the transport, a deadline, the
//! peer's protocol, or the caller.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::accumulate::{AccumulateError, Violation, api_error_kind};
use crate::eventstream::EventStreamError;
use crate::messages::Message;
use crate::partial_json::PartialJsonError;
use crate::provider::AuthError;
use crate::sse::SseError;

/// How a transport failed, as the driver classified it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The connection could not be opened (DNS, refused, unreachable, connect timeout).
    Connect,
    /// The connection was reset or closed mid-exchange.
    Reset,
    /// The TLS handshake failed (certificate, protocol). Not retried.
    Tls,
    /// Anything else.
    Other,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Reset => "connection reset",
            Self::Tls => "TLS",
            Self::Other => "transport",
        })
    }
}

/// Which deadline expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Deadline {
    /// No response head in time.
    ResponseHead,
    /// No body byte in time.
    Idle,
    /// The whole exchange took too long.
    Total,
}

/// The API's error kinds (from the error body's `type`, else from the status).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 400 `invalid_request_error`.
    InvalidRequest,
    /// 401 `authentication_error`.
    Authentication,
    /// 402 `billing_error`.
    Billing,
    /// 403 `permission_error`.
    Permission,
    /// 404 `not_found_error`.
    NotFound,
    /// 413 `request_too_large`.
    RequestTooLarge,
    /// 429 `rate_limit_error`.
    RateLimit,
    /// 500 `api_error`.
    Api,
    /// 504 `timeout_error`.
    Timeout,
    /// 529 `overloaded_error`.
    Overloaded,
    /// Another type, as sent.
    Other(String),
}

impl ApiErrorKind {
    /// The kind named by an error body's `type`.
    #[must_use]
    pub fn from_type(error_type: &str) -> Self {
        match error_type {
            "invalid_request_error" => Self::InvalidRequest,
            "authentication_error" => Self::Authentication,
            "billing_error" => Self::Billing,
            "permission_error" => Self::Permission,
            "not_found_error" => Self::NotFound,
            "request_too_large" => Self::RequestTooLarge,
            "rate_limit_error" => Self::RateLimit,
            "api_error" => Self::Api,
            "timeout_error" => Self::Timeout,
            "overloaded_error" => Self::Overloaded,
            other => Self::Other(other.to_string()),
        }
    }

    /// The kind a status implies when the body says nothing.
    #[must_use]
    pub fn from_status(status: u16) -> Self {
        match status {
            400 => Self::InvalidRequest,
            401 => Self::Authentication,
            402 => Self::Billing,
            403 => Self::Permission,
            404 => Self::NotFound,
            413 => Self::RequestTooLarge,
            429 => Self::RateLimit,
            504 => Self::Timeout,
            529 => Self::Overloaded,
            _ => Self::Api,
        }
    }
}

/// An error the API reported, in the response head or as an `error` event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status (for an `error` event, the status of the stream: usually 200).
    pub status: u16,
    /// The kind.
    pub kind: ApiErrorKind,
    /// The error `type` as sent (empty when the body was not the API's error shape).
    pub error_type: String,
    /// The API's message (or the start of the body when it was not the API's error shape).
    pub message: String,
    /// Whether the error came as an `error` event after the stream started.
    pub mid_stream: bool,
    /// The raw body (bounded by [`ClientConfig::max_error_body`](crate::request::ClientConfig::max_error_body)).
    pub body: String,
}

/// The peer broke the protocol.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A 2xx response that is not `text/event-stream` (a proxy's HTML page, say).
    WrongContentType {
        /// The content type received.
        content_type: String,
        /// The start of the body (bounded by [`ClientConfig::max_error_body`](crate::request::ClientConfig::max_error_body)).
        body_prefix: String,
    },
    /// The SSE decoder refused the stream (a limit).
    Sse(SseError),
    /// The event stream decoder refused a Bedrock stream (a checksum, a length, a limit).
    EventStream(EventStreamError),
    /// An event's data was not the JSON its name promises.
    InvalidEvent(String),
    /// The stream ended before `message_stop`.
    Truncated {
        /// Blocks started and never stopped.
        open_blocks: Vec<usize>,
    },
    /// A block's tool input is not valid JSON.
    InvalidToolInput {
        /// The block.
        index: usize,
        /// Everything received for it.
        raw: String,
        /// What the parser found.
        error: PartialJsonError,
    },
    /// The events broke a rule (see [`crate::accumulate`]).
    Violation(Violation),
    /// The message would have grown past [`ClientConfig::max_message_size`](crate::request::ClientConfig::max_message_size); the connection
    /// is closed and the message as far as it got is kept.
    MessageTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

/// What went wrong, by who is to blame.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The API reported an error (an HTTP status or an `error` event).
    Api(ApiError),
    /// The connection failed.
    Transport {
        /// How, as the driver classified it.
        kind: TransportErrorKind,
        /// The driver's description.
        message: String,
    },
    /// A deadline expired.
    Timeout(Deadline),
    /// The peer broke the protocol.
    Protocol(ProtocolError),
    /// The configured [`Authorizer`](crate::provider::Authorizer) could not authorize an
    /// attempt (no credentials, no wall clock to sign with): nothing was sent for it. The
    /// caller's configuration is to blame.
    Auth(AuthError),
}

/// Why a session failed, with everything that was received.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SessionError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The `request-id` of the response, when there was one.
    pub request_id: Option<String>,
    /// The message as far as it got, when the failure came mid-stream.
    pub partial: Option<Box<Message>>,
    /// The raw tool input of every block still open, by index.
    pub raw_tool_inputs: Vec<(usize, String)>,
    /// How many requests were sent.
    pub attempts: u32,
}

impl SessionError {
    /// A short `snake_case` name of the kind (for logs and the CLI).
    #[must_use]
    pub fn kind_name(&self) -> &str {
        match &self.kind {
            ErrorKind::Api(api) if !api.error_type.is_empty() => api_error_kind(&api.error_type),
            ErrorKind::Api(_) => "api_error",
            ErrorKind::Transport { .. } => "transport",
            ErrorKind::Timeout(_) => "timeout",
            ErrorKind::Protocol(ProtocolError::Truncated { .. }) => "truncated",
            ErrorKind::Protocol(ProtocolError::WrongContentType { .. }) => "wrong_content_type",
            ErrorKind::Protocol(ProtocolError::InvalidToolInput { .. }) => "invalid_tool_input",
            ErrorKind::Protocol(ProtocolError::Violation(_)) => "protocol_violation",
            ErrorKind::Protocol(ProtocolError::Sse(_)) => "sse",
            ErrorKind::Protocol(ProtocolError::EventStream(_)) => "event_stream",
            ErrorKind::Auth(_) => "auth",
            ErrorKind::Protocol(ProtocolError::InvalidEvent(_)) => "invalid_json",
            ErrorKind::Protocol(ProtocolError::MessageTooLarge { .. }) => "message_too_large",
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Api(api) => {
                write!(f, "API error (status {}", api.status)?;
                if !api.error_type.is_empty() {
                    write!(f, ", {}", api.error_type)?;
                }
                if api.mid_stream {
                    f.write_str(", mid-stream")?;
                }
                write!(f, "): {}", api.message)?;
            }
            ErrorKind::Transport { kind, message } => write!(f, "{kind} error: {message}")?,
            ErrorKind::Timeout(Deadline::ResponseHead) => {
                f.write_str("timed out waiting for the response head")?;
            }
            ErrorKind::Timeout(Deadline::Idle) => {
                f.write_str("timed out: the stream went silent")?;
            }
            ErrorKind::Timeout(Deadline::Total) => f.write_str("timed out: total deadline")?,
            ErrorKind::Protocol(ProtocolError::WrongContentType { content_type, .. }) => {
                write!(f, "expected text/event-stream, got `{content_type}`")?;
            }
            ErrorKind::Protocol(ProtocolError::Sse(err)) => write!(f, "{err}")?,
            ErrorKind::Protocol(ProtocolError::EventStream(err)) => write!(f, "{err}")?,
            ErrorKind::Auth(err) => write!(f, "{err}")?,
            ErrorKind::Protocol(ProtocolError::InvalidEvent(err)) => write!(f, "{err}")?,
            ErrorKind::Protocol(ProtocolError::Truncated { .. }) => {
                f.write_str("the stream ended before `message_stop`")?;
            }
            ErrorKind::Protocol(ProtocolError::InvalidToolInput { index, error, .. }) => {
                write!(
                    f,
                    "the tool input of block {index} is not valid JSON: {error}"
                )?;
            }
            ErrorKind::Protocol(ProtocolError::Violation(v)) => {
                write!(f, "protocol violation: {v}")?;
            }
            ErrorKind::Protocol(ProtocolError::MessageTooLarge { limit }) => {
                write!(f, "the message grew past its limit of {limit} bytes")?;
            }
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request-id {id})")?;
        }
        Ok(())
    }
}

impl core::error::Error for SessionError {}

/// The caller misused the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallerError {
    /// `enter` was called on a session that was already entered (or closed).
    AlreadyEntered,
    /// The final message was asked for a second time (it is handed over once).
    FinalMessageTaken,
    /// The stream was closed before it ended, so there is no final message.
    Closed,
}

impl fmt::Display for CallerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AlreadyEntered => "the stream was already entered",
            Self::FinalMessageTaken => "the final message was already taken",
            Self::Closed => "the stream was closed before it ended",
        })
    }
}

impl core::error::Error for CallerError {}

/// The session error for an accumulator error.
pub(super) fn accumulate_error(err: AccumulateError, status: u16) -> ErrorKind {
    match err {
        AccumulateError::Api(body) => ErrorKind::Api(ApiError {
            status,
            kind: ApiErrorKind::from_type(&body.error.error_type),
            error_type: body.error.error_type.clone(),
            message: body.error.message.clone(),
            mid_stream: true,
            body: serde_json::to_string(&body).unwrap_or_default(),
        }),
        AccumulateError::Truncated { open_blocks } => {
            ErrorKind::Protocol(ProtocolError::Truncated { open_blocks })
        }
        AccumulateError::InvalidToolInput { index, raw, error } => {
            ErrorKind::Protocol(ProtocolError::InvalidToolInput { index, raw, error })
        }
        AccumulateError::Violation(v) => ErrorKind::Protocol(ProtocolError::Violation(v)),
        AccumulateError::MessageTooLarge { limit } => {
            ErrorKind::Protocol(ProtocolError::MessageTooLarge { limit })
        }
    }
}
