//! The error of a stream call, shared by every transport, split by who is to blame.

use alloc::boxed::Box;
use core::fmt;

use crate::messages::Message;
use crate::request::{ConfigError, ParamsError};
use crate::session::{CallerError, SessionError};

/// Why a stream could not be made, or failed.
///
/// The first three variants blame the caller and happen before or without any exchange; a
/// [`Stream`](Error::Stream) error carries everything the exchange produced: the typed cause
/// (API, transport, deadline, protocol), the request id, and the message as far as it got.
///
/// ```
/// use stream_core::Error;
/// use stream_core::request::MessageParams;
///
/// let params = MessageParams::new("", 1024); // no model, no messages
/// let error = Error::from(params.validate().unwrap_err());
/// assert!(matches!(error, Error::Params(_)));
/// assert!(error.session_error().is_none() && error.partial_message().is_none());
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Error {
    /// The request parameters cannot be sent.
    Params(ParamsError),
    /// The client configuration cannot be used.
    Config(ConfigError),
    /// The stream was used in a way it does not allow (its final message taken twice).
    Caller(CallerError),
    /// The stream failed: an API error, a transport failure, a deadline or a protocol error,
    /// with the request id and everything received.
    Stream(Box<SessionError>),
}

impl Error {
    /// The session error, when the stream failed.
    #[must_use]
    pub fn session_error(&self) -> Option<&SessionError> {
        match self {
            Self::Stream(err) => Some(err),
            _ => None,
        }
    }

    /// The message as far as it got, when the failure came mid-stream.
    #[must_use]
    pub fn partial_message(&self) -> Option<&Message> {
        self.session_error()?.partial.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Params(err) => write!(f, "invalid request: {err}"),
            Self::Config(err) => err.fmt(f),
            Self::Caller(err) => err.fmt(f),
            Self::Stream(err) => err.fmt(f),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Params(err) => Some(err),
            Self::Config(err) => Some(err),
            Self::Caller(err) => Some(err),
            Self::Stream(err) => Some(err),
        }
    }
}

impl From<ParamsError> for Error {
    fn from(err: ParamsError) -> Self {
        Self::Params(err)
    }
}

impl From<ConfigError> for Error {
    fn from(err: ConfigError) -> Self {
        Self::Config(err)
    }
}

impl From<CallerError> for Error {
    fn from(err: CallerError) -> Self {
        Self::Caller(err)
    }
}

impl From<Box<SessionError>> for Error {
    fn from(err: Box<SessionError>) -> Self {
        Self::Stream(err)
    }
}
