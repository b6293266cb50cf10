//! What the server answers to one request: a stream (recorded or generated), an API error, a
//! page of the wrong type, or nothing at all; with pacing, chunking and faults.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};

use crate::feed::Feed;
use crate::generate::Generate;

/// The reply to one request. Build one with a constructor, refine it with the builder
/// methods, and give it to [`Server::enqueue`](crate::Server::enqueue) or make it the
/// server's default.
///
/// ```
/// use std::time::Duration;
/// use messages_test_server::{Fault, Generate, Reply};
///
/// // An overloaded answer that asks the client to wait one second.
/// let overloaded = Reply::error(529).retry_after(1);
/// // 200 text deltas, one every millisecond, sent in 7-byte chunks, and the connection
/// // reset after the 40th event.
/// let flaky = Reply::generated(Generate::text(200))
///     .pace_events(Duration::from_millis(1))
///     .chunking(messages_test_server::Chunking::Fixed(7))
///     .fault(Fault::ResetAfterEvents(40));
/// # let _ = (overloaded, flaky);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Reply {
    pub(crate) kind: Kind,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) chunking: Chunking,
    pub(crate) event_delay: Duration,
    pub(crate) chunk_delay: Duration,
    pub(crate) ping_interval: Option<Duration>,
    pub(crate) validate: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    /// A 200 event stream.
    Stream(Source),
    /// An API error: status, error type, message.
    Error(StatusCode, String, String),
    /// A body of any content type with any status.
    Page(StatusCode, String, Bytes),
    /// Read the request and never answer.
    Silence,
}

/// Where a stream's events come from.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    Recorded(Bytes),
    Generated(Generate),
    Answer,
    Feed(Feed),
}

/// A fault injected into a streamed reply. Faults compose: give a reply several, and each
/// acts at its point (the first that ends the stream wins). Event counts are events the
/// server has sent, pings included; byte counts are bytes of the response body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// After this many body bytes, reset the TCP connection (RST: `SO_LINGER` 0, then close).
    /// Every byte before the point reaches the client first.
    ResetAfterBytes(u64),
    /// After this many events, reset the TCP connection.
    ResetAfterEvents(u64),
    /// After this many body bytes, close the connection (FIN) without ending the body: the
    /// chunked encoding's last chunk never comes.
    CutAfterBytes(u64),
    /// After this many events, close the connection without ending the body.
    CutAfterEvents(u64),
    /// After this many body bytes, stall: keep the connection open and send nothing more.
    StallAfterBytes(u64),
    /// After this many events, stall.
    StallAfterEvents(u64),
    /// After this many events, end the body cleanly, whatever was left to send.
    EndAfterEvents(u64),
    /// End the body cleanly instead of sending `message_stop`.
    EndBeforeMessageStop,
    /// Before event N (0: first), send an `error` event (`overloaded_error`) and end cleanly,
    /// as the API does when it is overloaded mid-stream.
    ErrorEventAt(u64),
    /// Before event N, end the stream with an exception of this type
    /// (`throttlingException`, `modelStreamErrorException`, ...): on Bedrock's path an
    /// exception frame, elsewhere the `error` event the API sends for that kind of failure
    /// (`rate_limit_error` for throttling, `overloaded_error` for unavailability,
    /// `invalid_request_error` for validation, else `api_error`).
    ExceptionAt(u64, String),
    /// Before event N, send these bytes as they are (garbage, a half event, anything).
    InjectAt(u64, Bytes),
    /// Before event N, send one line of this many bytes with no line ending, then end the body
    /// cleanly. The line is produced lazily, so gigabytes cost no memory.
    HugeLineAt(u64, u64),
    /// Before event N, send a `text_delta` for block `index` whose text holds bytes that are
    /// not UTF-8 (`0xFF`, `0xC3 0x28`, a lone continuation byte).
    InvalidUtf8At(u64, u64),
}

/// How the body is cut into chunks (HTTP/1.1 chunks, HTTP/2 DATA frames, and the reads a
/// client sees when the network does not merge them).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Chunking {
    /// One chunk per event (the default, as the API sends).
    #[default]
    Events,
    /// Chunks of exactly this many bytes (the last may be shorter).
    Fixed(usize),
    /// Chunks of 1 to `max` bytes, lengths drawn from a generator seeded with `seed`.
    Random {
        /// The generator's seed: the same seed cuts the same way.
        seed: u64,
        /// The longest chunk.
        max: usize,
    },
    /// Cut at these body offsets (ascending); after the last, one chunk per event.
    Offsets(Vec<u64>),
}

impl Reply {
    fn with_kind(kind: Kind) -> Self {
        Self {
            kind,
            headers: Vec::new(),
            faults: Vec::new(),
            chunking: Chunking::Events,
            event_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            ping_interval: Some(Duration::from_secs(10)),
            validate: true,
        }
    }

    /// Streams a recorded event stream as it is (any file of the fixtures, or your own
    /// bytes). Events are split at blank lines for event-based pacing and faults.
    pub fn recorded(bytes: impl Into<Bytes>) -> Self {
        Self::with_kind(Kind::Stream(Source::Recorded(bytes.into())))
    }

    /// Streams the recorded event stream in this file.
    ///
    /// # Errors
    ///
    /// When the file cannot be read.
    pub fn recorded_file(path: impl AsRef<Path>) -> std::io::Result<Self> {
        Ok(Self::recorded(std::fs::read(path)?))
    }

    /// Streams a generated reply; see [`Generate`].
    pub fn generated(generate: Generate) -> Self {
        Self::with_kind(Kind::Stream(Source::Generated(generate)))
    }

    /// Answers the request as a model would, wherever a streaming client can see it: the
    /// last user message (or tool result) and the system prompt reflected in the text,
    /// `max_tokens` (`stop_reason: "max_tokens"`), `stop_sequences` (`"stop_sequence"` and the
    /// sequence), thinking when enabled (a thinking block with a signature, before the text),
    /// tools (a forced call under `tool_choice` `any` or a named tool, with input that fits the
    /// tool's schema, in `input_json_delta`s; under `auto`, a call to a tool the prompt names),
    /// the model echoed, and usage that counts what was streamed (a token is a word). The same
    /// request always gets the same bytes; faults, pacing and chunking apply as to any stream.
    ///
    /// ```
    /// use messages_test_server::{Reply, Server};
    ///
    /// let server = Server::builder().default_reply(Reply::answer()).start();
    /// # let _ = server;
    /// ```
    pub fn answer() -> Self {
        Self::with_kind(Kind::Stream(Source::Answer))
    }

    /// Serves a resumable event feed (see [`Feed`]): for `EventSource`-style clients, which
    /// send a `GET` with `Last-Event-ID`. The request is not checked as a Messages request.
    ///
    /// ```
    /// use messages_test_server::{Feed, Reply};
    ///
    /// let reply = Reply::feed(Feed::new(100).drop_every(25));
    /// # let _ = reply;
    /// ```
    pub fn feed(feed: Feed) -> Self {
        Self::with_kind(Kind::Stream(Source::Feed(feed))).skip_validation()
    }

    /// Answers with an API error of this status: the API's error JSON with the error type the
    /// API uses for the status (`overloaded_error` for 529, `rate_limit_error` for 429, ...).
    pub fn error(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (kind, message) = crate::validate::error_type(status);
        Self::with_kind(Kind::Error(status, kind.to_owned(), message.to_owned()))
    }

    /// Answers with an API error of this status, error type and message.
    pub fn error_with(status: u16, error_type: &str, message: &str) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::with_kind(Kind::Error(
            status,
            error_type.to_owned(),
            message.to_owned(),
        ))
    }

    /// Answers with a body of any content type and status, such as the HTML page of a proxy
    /// in front of the API.
    pub fn page(status: u16, content_type: &str, body: impl Into<Bytes>) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
        Self::with_kind(Kind::Page(status, content_type.to_owned(), body.into()))
    }

    /// A 200 HTML page where an event stream was expected.
    pub fn html() -> Self {
        Self::page(
            200,
            "text/html; charset=utf-8",
            "<!doctype html><html><body><h1>Welcome to the proxy</h1></body></html>",
        )
    }

    /// Reads the request, then never answers: no status line, no bytes, the connection open.
    pub fn silence() -> Self {
        Self::with_kind(Kind::Silence)
    }

    /// Adds a response header.
    ///
    /// # Panics
    ///
    /// When the name or value is not valid in HTTP.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((
            HeaderName::try_from(name).expect("a valid header name"),
            HeaderValue::try_from(value).expect("a valid header value"),
        ));
        self
    }

    /// Adds `retry-after: <seconds>`.
    pub fn retry_after(self, seconds: u64) -> Self {
        self.header("retry-after", &seconds.to_string())
    }

    /// Adds `retry-after-ms: <milliseconds>`.
    pub fn retry_after_ms(self, milliseconds: u64) -> Self {
        self.header("retry-after-ms", &milliseconds.to_string())
    }

    /// Adds `x-should-retry: true` or `false`.
    pub fn should_retry(self, retry: bool) -> Self {
        self.header("x-should-retry", if retry { "true" } else { "false" })
    }

    /// Adds a fault; see [`Fault`].
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Cuts the body into chunks this way; see [`Chunking`].
    pub fn chunking(mut self, chunking: Chunking) -> Self {
        self.chunking = chunking;
        self
    }

    /// Waits this long before each event after the first.
    pub fn pace_events(mut self, delay: Duration) -> Self {
        self.event_delay = delay;
        self
    }

    /// Waits this long before each chunk after the first.
    pub fn pace_chunks(mut self, delay: Duration) -> Self {
        self.chunk_delay = delay;
        self
    }

    /// A slow drip: chunks of `bytes` bytes, one every `interval`.
    pub fn drip(self, bytes: usize, interval: Duration) -> Self {
        self.chunking(Chunking::Fixed(bytes.max(1)))
            .pace_chunks(interval)
    }

    /// Sends a `ping` event whenever the wait before the next event reaches this long (the
    /// default is 10 s; `None` never pings). Stalls never ping.
    pub fn ping_every(mut self, interval: Option<Duration>) -> Self {
        self.ping_interval = interval.filter(|d| !d.is_zero());
        self
    }

    /// Answers whatever the request is: no check of headers or body.
    pub fn skip_validation(mut self) -> Self {
        self.validate = false;
        self
    }
}

/// Why a fault spec did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpecError(String);

impl std::fmt::Display for FaultSpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FaultSpecError {}

impl std::str::FromStr for Fault {
    type Err = FaultSpecError;

    /// A fault from its spec, as the CLI's `serve --fault` takes it: `reset-after-bytes=N`,
    /// `reset-after-events=N`, `cut-after-bytes=N`, `cut-after-events=N`,
    /// `stall-after-bytes=N`, `stall-after-events=N`, `end-after-events=N`,
    /// `end-before-stop`, `error-event-at=N`, `exception-at=N:TYPE`, `garbage-at=N`,
    /// `huge-line-at=N:LEN`, `invalid-utf8-at=N[:INDEX]`.
    ///
    /// ```
    /// use messages_test_server::Fault;
    ///
    /// assert_eq!("reset-after-events=5".parse(), Ok(Fault::ResetAfterEvents(5)));
    /// assert_eq!("huge-line-at=3:1048576".parse(), Ok(Fault::HugeLineAt(3, 1 << 20)));
    /// assert_eq!(
    ///     "exception-at=2:throttlingException".parse(),
    ///     Ok(Fault::ExceptionAt(2, "throttlingException".to_owned()))
    /// );
    /// assert!("teleport=1".parse::<Fault>().is_err());
    /// ```
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (name, value) = spec.split_once('=').unwrap_or((spec, ""));
        let bad = || FaultSpecError(format!("`{spec}` is not a fault spec"));
        let number = |text: &str| text.trim().parse::<u64>().map_err(|_| bad());
        let pair = |text: &str| -> Result<(u64, Option<u64>), FaultSpecError> {
            match text.split_once(':') {
                Some((a, b)) => Ok((number(a)?, Some(number(b)?))),
                None => Ok((number(text)?, None)),
            }
        };
        Ok(match name.trim() {
            "reset-after-bytes" => Self::ResetAfterBytes(number(value)?),
            "reset-after-events" => Self::ResetAfterEvents(number(value)?),
            "cut-after-bytes" => Self::CutAfterBytes(number(value)?),
            "cut-after-events" => Self::CutAfterEvents(number(value)?),
            "stall-after-bytes" => Self::StallAfterBytes(number(value)?),
            "stall-after-events" => Self::StallAfterEvents(number(value)?),
            "end-after-events" => Self::EndAfterEvents(number(value)?),
            "end-before-stop" => Self::EndBeforeMessageStop,
            "error-event-at" => Self::ErrorEventAt(number(value)?),
            "exception-at" => match value.split_once(':') {
                Some((at, kind)) if !kind.trim().is_empty() => {
                    Self::ExceptionAt(number(at)?, kind.trim().to_owned())
                }
                _ => return Err(bad()),
            },
            "garbage-at" => Self::InjectAt(
                number(value)?,
                Bytes::from_static(b"\x00\x1b[31mgarbage{\xfe\n\n"),
            ),
            "huge-line-at" => match pair(value)? {
                (at, Some(len)) => Self::HugeLineAt(at, len),
                (_, None) => return Err(bad()),
            },
            "invalid-utf8-at" => {
                let (at, index) = pair(value)?;
                Self::InvalidUtf8At(at, index.unwrap_or(0))
            }
            _ => return Err(bad()),
        })
    }
}
