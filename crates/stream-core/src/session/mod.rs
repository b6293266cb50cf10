//! The deferred-request session: the Sans-IO state machine that both transports drive.
//!
//! A [`Session`] is described first and started later. Building it validates the request and
//! does nothing else; [`enter`](Session::enter) starts it; [`close`](Session::close) ends it
//! from any state. Every decision (what to send, when to retry, when a deadline expires, when
//! the stream is done) is made here; a driver only translates between these calls and IO.
//!
//! ```text
//!               enter
//!  Deferred ───────────▶ Connecting ──head 2xx text/event-stream──▶ Streaming ──message_stop + end──▶ Done
//!     │                   │  ▲   │                                    │  │
//!     │                   │  │   └──head not 2xx (final)──▶ ErrorBody ─┼──┼──end / limit──▶ Failed
//!     │   retryable status│  │                                         │  │
//!     │   or error, no    ▼  │ deadline                                │  └──error / truncated / idle, after
//!     │   event handed  Backoff                                        │     an event reached the caller──▶ Failed
//!     │   to the caller ◀──────────────────────────────────────────────┘
//!     │                                                   (before any event reached the caller)
//!     └──close (from any state)──▶ Closed   (the driver drops the connection)
//! ```
//!
//! # The drain contract
//!
//! After every input (`enter`, `handle_*`, `close`), call [`poll_output`](Session::poll_output)
//! until it returns `None`, acting on each [`Output`]; then call
//! [`handle_wait`](Session::handle_wait), wait for IO or for the deadline of
//! [`poll_timeout`](Session::poll_timeout), whichever comes first, and feed what happened back
//! with the driver's own reading of a monotonic clock (`now`, a [`Duration`] since any origin
//! the driver picks): [`handle_deadline`](Session::handle_deadline) when the deadline came
//! first. Events are decoded lazily, one per `poll_output` call, so a driver that hands events
//! to a consumer one at a time reads nothing ahead of it. [`crate::exchange::Exchange`] is this
//! contract written once, as both transports use it.
//!
//! Deadlines are defined on network activity: idle is the peer's silence while the consumer
//! waits (time the consumer spends away does not count), and the total deadline covers every
//! attempt: a retry whose wait would end past it is not made, and the error that asked for it
//! is returned at once.
//!
//! Method groups:
//! * inputs: [`enter`](Session::enter), [`handle_response_head`](Session::handle_response_head),
//!   [`handle_body`](Session::handle_body), [`handle_end`](Session::handle_end),
//!   [`handle_transport_error`](Session::handle_transport_error),
//!   [`handle_timeout`](Session::handle_timeout), [`close`](Session::close);
//! * outputs: [`poll_output`](Session::poll_output), [`poll_timeout`](Session::poll_timeout);
//! * getters: [`state`](Session::state), [`snapshot`](Session::snapshot),
//!   [`request_id`](Session::request_id), [`response_headers`](Session::response_headers),
//!   [`status`](Session::status), [`attempts`](Session::attempts).
//!
//! Every input carries the [`AttemptId`] it is about; input for an abandoned attempt (a late
//! byte from a connection the session already dropped) is ignored.
//!
//! # Retries
//!
//! Up to [`RetryPolicy::max_retries`](crate::request::RetryPolicy::max_retries) (2 by default), only while no event has reached the
//! caller: a request is never replayed behind the user's back after they have seen output.
//! Retried: HTTP 408, 409, 429 and 5xx (unless `x-should-retry: false`; `x-should-retry: true`
//! retries any status), connection errors other than TLS failures, response-head timeouts, and
//! (before any event was handed over) an `error` event, an idle stall or an end of stream. The
//! delay is `retry-after-ms`, else `retry-after` (seconds, or an HTTP date measured against the
//! response's `Date`), when within (0, [`RetryPolicy::max_retry_after`](crate::request::RetryPolicy::max_retry_after)]; else
//! `initial_backoff * 2^n` capped at `max_backoff`, less up to `jitter` of it at random. The
//! randomness comes from a seed the driver gives ([`Session::with_jitter_seed`]).
//!
//! # Example: the whole flow
//!
//! ```
//! use core::time::Duration;
//! use stream_core::request::{ClientConfig, MessageParam, MessageParams};
//! use stream_core::session::{Output, Session, SessionState};
//!
//! let config = ClientConfig::new().api_key("sk-test");
//! let params = MessageParams::new("claude-sonnet-4-5", 64).message(MessageParam::user("Hi"));
//! let mut session = Session::new(&config, &params)?;
//! assert_eq!(session.state(), SessionState::Deferred);
//! assert!(session.poll_output().is_none()); // deferred: nothing to send yet
//!
//! let t0 = Duration::ZERO;
//! session.enter(t0)?;
//! let Some(Output::Send { attempt, request }) = session.poll_output() else { panic!() };
//! assert_eq!(request.header("x-api-key"), Some("sk-test"));
//!
//! session.handle_response_head(attempt, t0, 200, [("content-type", "text/event-stream"), ("request-id", "req_1")]);
//! session.handle_body(attempt, t0, concat!(
//!     "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n",
//!     "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
//!     "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
//!     "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
//!     "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":2}}\n\n",
//!     "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
//! ));
//! session.handle_end(attempt, t0);
//! let mut events = 0;
//! let message = loop {
//!     match session.poll_output() {
//!         Some(Output::Event(_)) => events += 1,
//!         Some(Output::Finished(result)) => break result?,
//!         other => panic!("{other:?}"),
//!     }
//! };
//! assert_eq!((events, message.text().as_str()), (6, "Hello"));
//! assert_eq!(session.state(), SessionState::Done);
//! assert_eq!(session.request_id(), Some("req_1"));
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use bytes::Bytes;

use crate::accumulate::{AccumulateError, Accumulator};
use crate::eventstream::{self, bedrock};
use crate::messages::{ApiErrorBody, Message, StreamEvent};
use crate::provider::Provider;
use crate::request::{Auth, ClientConfig, MessageParams, ParamsError, Request, RequestOptions};
use crate::sse::Decoder;

mod error;
mod reconnect;
mod retry;

use error::accumulate_error;
pub use error::{
    ApiError, ApiErrorKind, CallerError, Deadline, ErrorKind, ProtocolError, SessionError,
    TransportErrorKind,
};
pub use reconnect::Reconnect;
use retry::Reason;

/// Which attempt an input or output is about. Attempts are numbered from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptId(u32);

impl AttemptId {
    /// The attempt's number (0 for the first request, 1 for the first retry, ...).
    #[must_use]
    pub fn number(self) -> u32 {
        self.0
    }
}

impl fmt::Display for AttemptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt {}", self.0)
    }
}

/// What the driver must do next.
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum Output {
    /// Open a connection (or take one from a pool) and send this request.
    Send {
        /// The attempt; pass it back with every input about this request.
        attempt: AttemptId,
        /// What to send.
        request: Request,
    },
    /// Close this attempt's connection now, without reading more.
    DropConnection {
        /// The attempt.
        attempt: AttemptId,
    },
    /// An event of the stream, already applied to the [snapshot](Session::snapshot).
    Event(StreamEvent),
    /// An event of a raw SSE stream ([`Session::raw`] only).
    SseEvent(crate::sse::Event),
    /// A raw SSE stream ended cleanly ([`Session::raw`] only; errors come as `Finished`).
    Ended,
    /// The end: the final message, or the error with everything received. Comes once.
    Finished(Result<Message, Box<SessionError>>),
}

/// The session's state, for inspection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionState {
    /// Built, not entered: nothing was sent.
    Deferred,
    /// A request was sent; waiting for its response head.
    Connecting,
    /// Waiting before the next attempt.
    Backoff,
    /// Reading an error body (or a body that is not SSE) before failing.
    ErrorBody,
    /// Reading the event stream.
    Streaming,
    /// Finished with the final message.
    Done,
    /// Finished with an error.
    Failed,
    /// Closed by the caller.
    Closed,
}

#[derive(Debug)]
enum State {
    Deferred,
    Connecting {
        attempt: AttemptId,
        deadline: Duration,
    },
    Backoff {
        until: Duration,
    },
    ErrorBody {
        attempt: AttemptId,
        body: Vec<u8>,
        /// `Some` for a 2xx response with the wrong content type.
        content_type: Option<String>,
    },
    Streaming {
        attempt: AttemptId,
        ended: bool,
    },
    Done,
    Failed,
    Closed,
}

/// What a session sends, and how it reads the reply.
#[derive(Debug)]
enum What {
    /// A Messages request: this path (under the base URL) and body, events folded into a
    /// message.
    Messages { path: String, body: Bytes },
    /// Any request, events passed on as they are.
    Raw(Request),
}

/// The deferred-request session. See the [module docs](self) for the state diagram, the drain
/// contract and the retry rules.
#[derive(Debug)]
pub struct Session {
    config: ClientConfig,
    what: What,
    state: State,
    attempts: u32,
    started_at: Option<Duration>,
    idle_deadline: Option<Duration>,
    outputs: VecDeque<Output>,
    decoder: Decoder,
    accumulator: Accumulator,
    /// An event (other than `ping`) was handed to the driver: never retry from here on.
    delivered: bool,
    /// An event was handed out since the driver last waited: the consumer had the stream.
    handed_out: bool,
    /// Events handed out and body bytes received, over every attempt (for `tracing`).
    events: u64,
    bytes: u64,
    status: Option<u16>,
    headers: Vec<(String, String)>,
    request_id: Option<String>,
    rng: u64,
    /// The `now` of the latest input: decisions taken while draining outputs count from it.
    now: Duration,
    /// Reconnection of a raw stream (a feed), when asked for.
    reconnect: Option<Reconnect>,
    /// A response of this stream started (a 2xx `text/event-stream`): from then on a feed
    /// reconnects instead of retrying.
    streamed: bool,
    /// Reconnections made, and those in a row that brought no event.
    reconnects: u32,
    failures_in_row: u32,
    /// Bedrock's frames, for a Messages request to Bedrock (the SSE decoder is unused then).
    frames: Option<eventstream::Decoder>,
    /// A reading of the driver's monotonic clock and the wall-clock time (since the UNIX
    /// epoch) at that reading, for authorizers that sign with the time.
    wall_clock: Option<(Duration, Duration)>,
}

impl Session {
    /// Describes a streaming request. Validates the parameters and does nothing else.
    ///
    /// # Errors
    ///
    /// [`ParamsError`] when the parameters cannot be sent.
    pub fn new(config: &ClientConfig, params: &MessageParams) -> Result<Self, ParamsError> {
        let (path, body) = config.messages_body(params)?;
        Ok(Self::with_what(config, What::Messages { path, body }))
    }

    /// Describes a request to any SSE endpoint (an OpenAI-style stream, a notification feed):
    /// `request` is sent as it is, and its events come out as [`Output::SseEvent`], then
    /// [`Output::Ended`]. Deadlines, retries (before any event reached the caller), error
    /// bodies and exit work as for a Messages request.
    ///
    /// ```
    /// use core::time::Duration;
    /// use stream_core::request::{ClientConfig, Request};
    /// use stream_core::session::{Output, Session};
    ///
    /// let request = Request::new("GET", "http://127.0.0.1:8080/events");
    /// let mut session = Session::raw(&ClientConfig::new(), request);
    /// session.enter(Duration::ZERO)?;
    /// let Some(Output::Send { attempt, .. }) = session.poll_output() else { panic!() };
    /// session.handle_response_head(attempt, Duration::ZERO, 200, [("content-type", "text/event-stream")]);
    /// session.handle_body(attempt, Duration::ZERO, &b"data: hi\n\n"[..]);
    /// session.handle_end(attempt, Duration::ZERO);
    /// assert!(matches!(session.poll_output(), Some(Output::SseEvent(e)) if e.data() == "hi"));
    /// assert!(matches!(session.poll_output(), Some(Output::Ended)));
    /// # Ok::<(), stream_core::session::CallerError>(())
    /// ```
    #[must_use]
    pub fn raw(config: &ClientConfig, request: Request) -> Self {
        Self::with_what(config, What::Raw(request))
    }

    fn with_what(config: &ClientConfig, what: What) -> Self {
        let mut decoder = config.decoder.clone();
        if matches!(what, What::Messages { .. }) && decoder.expected_event_types().is_empty() {
            // The API's names cost owned events no reference count.
            decoder = decoder.event_types(&crate::messages::EVENT_TYPES);
        }
        let bedrock = matches!(what, What::Messages { .. })
            && matches!(config.provider, Provider::Bedrock { .. });
        Self {
            frames: bedrock.then(|| {
                let limit = config.decoder.max_event_size_limit().max(1 << 20);
                eventstream::Decoder::with_max_message_len(limit)
            }),
            wall_clock: None,
            decoder: Decoder::with_config(decoder),
            config: config.clone(),
            what,
            state: State::Deferred,
            attempts: 0,
            started_at: None,
            idle_deadline: None,
            outputs: VecDeque::new(),
            accumulator: new_accumulator(config),
            delivered: false,
            handed_out: false,
            events: 0,
            bytes: 0,
            status: None,
            headers: Vec::new(),
            request_id: None,
            rng: 0x9E37_79B9_7F4A_7C15,
            now: Duration::ZERO,
            reconnect: None,
            streamed: false,
            reconnects: 0,
            failures_in_row: 0,
        }
    }

    /// Applies per-request options over the client's configuration (deadlines, retries,
    /// headers, beta flags, query parameters; a raw stream's request is sent as it was given,
    /// so only its deadlines and retries change). Options given after
    /// [`enter`](Self::enter) change nothing: the request is already under way.
    ///
    /// ```
    /// use core::time::Duration;
    /// use stream_core::request::{ClientConfig, MessageParam, MessageParams, RequestOptions};
    /// use stream_core::session::{Output, Session};
    ///
    /// let params = MessageParams::new("m", 1).message(MessageParam::user("Hi"));
    /// let mut session = Session::new(&ClientConfig::new(), &params)?
    ///     .with_options(&RequestOptions::new().header("x-request-tag", "checkout"));
    /// session.enter(Duration::ZERO)?;
    /// let Some(Output::Send { request, .. }) = session.poll_output() else { panic!() };
    /// assert_eq!(request.header("x-request-tag"), Some("checkout"));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_options(mut self, options: &RequestOptions) -> Self {
        self.set_options(options);
        self
    }

    /// As [`with_options`](Self::with_options), in place.
    ///
    /// ```
    /// use core::time::Duration;
    /// use stream_core::request::{ClientConfig, MessageParam, MessageParams, RequestOptions};
    /// use stream_core::session::Session;
    ///
    /// let params = MessageParams::new("m", 1).message(MessageParam::user("Hi"));
    /// let mut session = Session::new(&ClientConfig::new(), &params)?;
    /// session.set_options(&RequestOptions::new().total_timeout(Duration::from_secs(5)));
    /// assert_eq!(session.config().timeouts.total, Some(Duration::from_secs(5)));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn set_options(&mut self, options: &RequestOptions) {
        if matches!(self.state, State::Deferred) {
            self.config = options.apply(&self.config);
            if let What::Messages { body, .. } = &mut self.what {
                // Bedrock takes the beta flags in the body too: the request's join the client's.
                *body = self.config.provider_betas(body);
            }
        }
    }

    /// Seeds the randomness of the backoff jitter (drivers pass a random seed; tests a fixed
    /// one, which makes every delay exact).
    #[must_use]
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.rng = if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        };
        self
    }

    /// Tells the session the wall-clock time (since the UNIX epoch) at the driver's monotonic
    /// `now`, for an [`Authorizer`](crate::provider::Authorizer) that signs each attempt with
    /// the time (Bedrock's AWS Signature Version 4). Later attempts count from it on the
    /// monotonic clock, so the session never reads a clock. Both transports call it once,
    /// when the stream is entered.
    ///
    /// ```
    /// use core::time::Duration;
    /// use stream_core::request::{ClientConfig, Request};
    /// use stream_core::session::Session;
    ///
    /// let mut session = Session::raw(&ClientConfig::new(), Request::new("GET", "http://127.0.0.1/feed"));
    /// session.set_wall_clock(Duration::from_secs(5), Duration::from_secs(1_700_000_000));
    /// assert_eq!(session.wall_clock_at(Duration::from_secs(65)), Some(Duration::from_secs(1_700_000_060)));
    /// ```
    pub fn set_wall_clock(&mut self, now: Duration, unix_time: Duration) {
        self.wall_clock = Some((now, unix_time));
    }

    /// The wall-clock time at the monotonic `now`, when the driver gave one
    /// ([`set_wall_clock`](Self::set_wall_clock)).
    #[must_use]
    pub fn wall_clock_at(&self, now: Duration) -> Option<Duration> {
        let (at, unix) = self.wall_clock?;
        Some(if now >= at {
            unix + (now - at)
        } else {
            unix.saturating_sub(at - now)
        })
    }

    /// The state.
    #[must_use]
    pub fn state(&self) -> SessionState {
        match self.state {
            State::Deferred => SessionState::Deferred,
            State::Connecting { .. } => SessionState::Connecting,
            State::Backoff { .. } => SessionState::Backoff,
            State::ErrorBody { .. } => SessionState::ErrorBody,
            State::Streaming { .. } => SessionState::Streaming,
            State::Done => SessionState::Done,
            State::Failed => SessionState::Failed,
            State::Closed => SessionState::Closed,
        }
    }

    /// The message so far.
    #[must_use]
    pub fn snapshot(&self) -> Option<&Message> {
        self.accumulator.snapshot()
    }

    /// The accumulator (live tool input snapshots, raw tool input).
    #[must_use]
    pub fn accumulator(&self) -> &Accumulator {
        &self.accumulator
    }

    /// The `request-id` of the current response.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The status of the current response.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The headers of the current response.
    #[must_use]
    pub fn response_headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// How many requests were sent.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// When the total deadline passes, once entered (`None` without one).
    #[must_use]
    pub fn total_deadline(&self) -> Option<Duration> {
        Some(self.started_at? + self.config.timeouts.total?)
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Starts the session: the first request goes out.
    ///
    /// # Errors
    ///
    /// [`CallerError::AlreadyEntered`] unless the session is deferred (entering twice never
    /// sends a second request).
    pub fn enter(&mut self, now: Duration) -> Result<(), CallerError> {
        if !matches!(self.state, State::Deferred) {
            return Err(CallerError::AlreadyEntered);
        }
        self.now = now;
        self.started_at = Some(now);
        self.send(now);
        Ok(())
    }

    /// Ends the session from any state. An open connection is dropped; nothing more comes out.
    pub fn close(&mut self, _now: Duration) {
        let attempt = self.active_attempt();
        self.outputs.clear();
        if let Some(attempt) = attempt {
            self.outputs.push_back(Output::DropConnection { attempt });
        }
        self.state = State::Closed;
        self.idle_deadline = None;
    }

    /// The response head of `attempt` arrived.
    pub fn handle_response_head<K, V>(
        &mut self,
        attempt: AttemptId,
        now: Duration,
        status: u16,
        headers: impl IntoIterator<Item = (K, V)>,
    ) where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        if !matches!(self.state, State::Connecting { attempt: a, .. } if a == attempt) {
            return;
        }
        self.now = now;
        self.status = Some(status);
        self.headers = headers
            .into_iter()
            .map(|(k, v)| {
                (
                    k.as_ref().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_ref()).into_owned(),
                )
            })
            .collect();
        self.request_id = self
            .header("request-id")
            .or_else(|| self.header("x-amzn-requestid"))
            .map(ToString::to_string);
        trace!(
            debug,
            attempt = attempt.number(),
            status,
            request_id = self.request_id.as_deref().unwrap_or(""),
            after_ms = self.since_start_ms(),
            "response head"
        );
        self.idle_deadline = Some(now + self.config.timeouts.idle);
        if status == 204 && self.reconnect.is_some() {
            // "No content": the feed is over for good.
            self.outputs.push_back(Output::DropConnection { attempt });
            self.state = State::Done;
            self.idle_deadline = None;
            self.outputs.push_back(Output::Ended);
            return;
        }
        if (200..300).contains(&status) {
            let content_type = self.header("content-type").unwrap_or("").to_string();
            let expected = if self.frames.is_some() {
                self.config.provider.stream_content_type()
            } else {
                "text/event-stream"
            };
            if content_type.to_ascii_lowercase().starts_with(expected) {
                self.streamed = true;
                self.state = State::Streaming {
                    attempt,
                    ended: false,
                };
            } else {
                self.state = State::ErrorBody {
                    attempt,
                    body: Vec::new(),
                    content_type: Some(content_type),
                };
            }
            return;
        }
        if self.status_is_retryable(status) {
            let asked = self.retry_after();
            if self.reconnects_now() {
                if let Some(delay) = self.reconnect_delay(asked) {
                    self.reconnect(attempt, now, delay, Reason::Status(status));
                    return;
                }
            } else if let Some(delay) = self.next_retry(now, asked) {
                self.retry(attempt, now, delay, Reason::Status(status));
                return;
            }
        }
        self.state = State::ErrorBody {
            attempt,
            body: Vec::new(),
            content_type: None,
        };
    }

    /// Body bytes of `attempt` arrived.
    pub fn handle_body(&mut self, attempt: AttemptId, now: Duration, bytes: impl Into<Bytes>) {
        if self.active_attempt() == Some(attempt) {
            self.now = now;
        }
        match &mut self.state {
            State::Streaming { attempt: a, ended } if *a == attempt && !*ended => {
                let bytes = bytes.into();
                self.bytes += bytes.len() as u64;
                match &mut self.frames {
                    Some(frames) => frames.feed(bytes),
                    None => self.decoder.feed(bytes),
                }
                self.idle_deadline = Some(now + self.config.timeouts.idle);
            }
            State::ErrorBody {
                attempt: a, body, ..
            } if *a == attempt => {
                let bytes = bytes.into();
                let room = self.config.max_error_body.saturating_sub(body.len());
                body.extend_from_slice(&bytes[..bytes.len().min(room)]);
                self.idle_deadline = Some(now + self.config.timeouts.idle);
                if bytes.len() > room {
                    // Enough to explain the failure: stop reading.
                    self.fail_with_body();
                }
            }
            _ => {}
        }
    }

    /// The body of `attempt` ended cleanly.
    pub fn handle_end(&mut self, attempt: AttemptId, now: Duration) {
        if self.active_attempt() == Some(attempt) {
            self.now = now;
        }
        match &mut self.state {
            State::Streaming { attempt: a, ended } if *a == attempt => {
                *ended = true;
                match &mut self.frames {
                    Some(frames) => frames.finish(),
                    None => self.decoder.finish(),
                }
                self.idle_deadline = None;
            }
            State::ErrorBody { attempt: a, .. } if *a == attempt => self.fail_with_body(),
            _ => {}
        }
    }

    /// The connection of `attempt` failed.
    pub fn handle_transport_error(
        &mut self,
        attempt: AttemptId,
        now: Duration,
        kind: TransportErrorKind,
        message: &str,
    ) {
        if self.active_attempt() != Some(attempt) {
            return;
        }
        self.now = now;
        let error = ErrorKind::Transport {
            kind,
            message: message.to_string(),
        };
        match self.state {
            State::ErrorBody { .. } => self.fail_with_body(),
            State::Connecting { .. } | State::Streaming { .. }
                if kind != TransportErrorKind::Tls && self.reconnects_now() =>
            {
                match self.reconnect_delay(None) {
                    Some(delay) => self.reconnect(attempt, now, delay, Reason::Transport(kind)),
                    None => self.fail(error),
                }
            }
            State::Connecting { .. } | State::Streaming { .. }
                if kind != TransportErrorKind::Tls =>
            {
                match self.next_retry(now, None) {
                    Some(delay) => self.retry(attempt, now, delay, Reason::Transport(kind)),
                    None => self.fail(error),
                }
            }
            _ => self.fail(error),
        }
    }

    /// Time passed: act on every deadline at or before `now`. Safe to call early or twice.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.now = self.now.max(now);
        if let (Some(started), Some(total)) = (self.started_at, self.config.timeouts.total)
            && now >= started + total
            && self.is_active()
        {
            self.fail(ErrorKind::Timeout(Deadline::Total));
            return;
        }
        match self.state {
            State::Backoff { until } if now >= until => self.send(now),
            State::Connecting { attempt, deadline } if now >= deadline && self.reconnects_now() => {
                match self.reconnect_delay(None) {
                    Some(delay) => {
                        let reason = Reason::Deadline(Deadline::ResponseHead);
                        self.reconnect(attempt, now, delay, reason);
                    }
                    None => self.fail(ErrorKind::Timeout(Deadline::ResponseHead)),
                }
            }
            State::Connecting { attempt, deadline } if now >= deadline => {
                match self.next_retry(now, None) {
                    Some(delay) => {
                        self.retry(
                            attempt,
                            now,
                            delay,
                            Reason::Deadline(Deadline::ResponseHead),
                        );
                    }
                    None => self.fail(ErrorKind::Timeout(Deadline::ResponseHead)),
                }
            }
            State::Streaming {
                attempt,
                ended: false,
            } if self.idle_deadline.is_some_and(|d| now >= d) && self.reconnects_now() => {
                match self.reconnect_delay(None) {
                    Some(delay) => {
                        self.reconnect(attempt, now, delay, Reason::Deadline(Deadline::Idle));
                    }
                    None => self.fail(ErrorKind::Timeout(Deadline::Idle)),
                }
            }
            State::Streaming {
                attempt,
                ended: false,
            } if self.idle_deadline.is_some_and(|d| now >= d) => match self.next_retry(now, None) {
                Some(delay) => self.retry(attempt, now, delay, Reason::Deadline(Deadline::Idle)),
                None => self.fail(ErrorKind::Timeout(Deadline::Idle)),
            },
            State::ErrorBody { .. } if self.idle_deadline.is_some_and(|d| now >= d) => {
                self.fail_with_body();
            }
            _ => {}
        }
    }

    /// The driver is about to wait for IO: the consumer asked for more and nothing is decoded.
    ///
    /// Idle time is time spent waiting for the peer. When an event was handed out since the
    /// driver last waited, the consumer had the stream (running a tool, writing to a slow
    /// terminal), so the idle deadline restarts at `now`: time the consumer spends away never
    /// counts against the server. Call it before every wait; it changes nothing otherwise.
    ///
    /// ```
    /// use core::time::Duration;
    /// use stream_core::request::{ClientConfig, Request};
    /// use stream_core::session::{Output, Session};
    ///
    /// let mut session = Session::raw(&ClientConfig::new(), Request::new("GET", "http://127.0.0.1/feed"));
    /// let s = Duration::from_secs;
    /// session.enter(s(0))?;
    /// let Some(Output::Send { attempt, .. }) = session.poll_output() else { panic!() };
    /// session.handle_response_head(attempt, s(0), 200, [("content-type", "text/event-stream")]);
    /// session.handle_body(attempt, s(0), &b"data: one\n\n"[..]);
    /// assert!(matches!(session.poll_output(), Some(Output::SseEvent(_))));
    /// // The consumer is away for 200 s (the idle deadline is 90 s), then asks for more.
    /// assert!(session.poll_output().is_none());
    /// session.handle_wait(s(200));
    /// assert_eq!(session.poll_timeout(), Some(s(290)));
    /// # Ok::<(), stream_core::session::CallerError>(())
    /// ```
    pub fn handle_wait(&mut self, now: Duration) {
        if !core::mem::take(&mut self.handed_out) {
            return;
        }
        self.now = self.now.max(now);
        if let State::Streaming { ended: false, .. } = self.state {
            let restart = now + self.config.timeouts.idle;
            self.idle_deadline = Some(self.idle_deadline.map_or(restart, |d| d.max(restart)));
        }
    }

    /// A wait that the driver bounded by [`poll_timeout`](Self::poll_timeout) ended with
    /// nothing from the peer: act on that deadline. The same as
    /// [`handle_timeout`](Self::handle_timeout), except that a clock read a moment before the
    /// deadline (a timer that rounds, a socket timeout measured from its own start) still
    /// counts as the deadline, so a driver never has to reconcile its clock with the session's.
    pub fn handle_deadline(&mut self, now: Duration) {
        let now = self
            .poll_timeout()
            .map_or(now, |deadline| now.max(deadline));
        self.handle_timeout(now);
    }

    /// The earliest deadline, if any: call [`handle_timeout`](Self::handle_timeout) then.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        let total = match (self.started_at, self.config.timeouts.total) {
            (Some(started), Some(total)) if self.is_active() => Some(started + total),
            _ => None,
        };
        let own = match self.state {
            State::Connecting { deadline, .. } => Some(deadline),
            State::Backoff { until } => Some(until),
            State::Streaming { ended: false, .. } | State::ErrorBody { .. } => self.idle_deadline,
            _ => None,
        };
        match (total, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next thing to do. Drain it until `None` after every input.
    pub fn poll_output(&mut self) -> Option<Output> {
        loop {
            if let Some(output) = self.outputs.pop_front() {
                return Some(output);
            }
            let State::Streaming { attempt, ended } = self.state else {
                return None;
            };
            // Raw streams hand out owned SSE events; Messages streams parse each event straight
            // from the decoder's buffer.
            let next = if let Some(frames) = &mut self.frames {
                match frames.next_message() {
                    Ok(Some(message)) => match bedrock::frame(&message) {
                        Ok(bedrock::Frame::Event(event)) => Ok(Some(Err(Ok(event)))),
                        Ok(bedrock::Frame::Exception(api)) => {
                            self.exception(attempt, api);
                            continue;
                        }
                        Ok(_) => continue,
                        Err(err) => {
                            self.fail(ErrorKind::Protocol(ProtocolError::InvalidEvent(
                                err.to_string(),
                            )));
                            continue;
                        }
                    },
                    Ok(None) => Ok(None),
                    Err(err) => {
                        self.fail(ErrorKind::Protocol(ProtocolError::EventStream(err)));
                        continue;
                    }
                }
            } else if matches!(self.what, What::Raw(_)) {
                self.decoder.next_event().map(|e| e.map(Ok))
            } else {
                self.decoder
                    .next_event_ref()
                    .map(|e| e.map(|e| Err(StreamEvent::parse(e.event_type(), e.data()))))
            };
            let parsed = match next {
                Ok(Some(Ok(raw))) => {
                    self.handed_out(true);
                    return Some(Output::SseEvent(raw));
                }
                Ok(Some(Err(parsed))) => parsed,
                Ok(None) if ended => {
                    self.end_of_stream(attempt);
                    continue;
                }
                Ok(None) => return None,
                Err(err) => {
                    self.fail(ErrorKind::Protocol(ProtocolError::Sse(err)));
                    continue;
                }
            };
            let event = match parsed {
                Ok(event) => event,
                Err(err) => {
                    self.fail(ErrorKind::Protocol(ProtocolError::InvalidEvent(
                        err.to_string(),
                    )));
                    continue;
                }
            };
            if let Err(err) = self.accumulator.apply(&event) {
                if matches!(err, AccumulateError::Api(_))
                    && let Some(delay) = self.next_retry(self.now, None)
                {
                    self.retry(attempt, self.now, delay, Reason::ErrorEvent);
                    continue;
                }
                self.fail(accumulate_error(err, self.status.unwrap_or(200)));
                continue;
            }
            self.handed_out(!matches!(event, StreamEvent::Ping));
            return Some(Output::Event(event));
        }
    }

    // --- internals ---

    /// An event goes to the driver; `delivers` when it is output (anything but `ping`).
    fn handed_out(&mut self, delivers: bool) {
        if delivers && !self.delivered {
            trace!(
                debug,
                attempts = self.attempts,
                after_ms = self.since_start_ms(),
                "first event"
            );
        }
        self.delivered |= delivers;
        if delivers {
            self.failures_in_row = 0;
        }
        self.handed_out = true;
        self.events += 1;
    }

    /// Milliseconds since `enter`, for `tracing`.
    #[allow(dead_code, reason = "read only by `tracing` events")]
    fn since_start_ms(&self) -> u64 {
        let elapsed = self.now.saturating_sub(self.started_at.unwrap_or(self.now));
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn active_attempt(&self) -> Option<AttemptId> {
        match self.state {
            State::Connecting { attempt, .. }
            | State::ErrorBody { attempt, .. }
            | State::Streaming { attempt, .. } => Some(attempt),
            _ => None,
        }
    }

    fn is_active(&self) -> bool {
        matches!(
            self.state,
            State::Connecting { .. }
                | State::Backoff { .. }
                | State::ErrorBody { .. }
                | State::Streaming { .. }
        )
    }

    fn send(&mut self, now: Duration) {
        let attempt = AttemptId(self.attempts);
        let request = match &self.what {
            What::Messages { path, body } => {
                self.config.request_to(path, body.clone(), self.attempts)
            }
            What::Raw(request) => {
                let mut request = request.clone();
                let id = self.decoder.last_event_id();
                if self.reconnect.is_some() && !id.is_empty() {
                    request
                        .headers
                        .retain(|(n, _)| !n.eq_ignore_ascii_case("last-event-id"));
                    request
                        .headers
                        .push(("last-event-id".to_string(), id.to_string()));
                }
                request
            }
        };
        let mut request = request;
        if let (What::Messages { .. }, Auth::Authorizer(authorizer)) =
            (&self.what, &self.config.auth)
            && let Err(err) = authorizer.authorize(&mut request, self.wall_clock_at(now))
        {
            self.fail(ErrorKind::Auth(err));
            return;
        }
        self.attempts += 1;
        self.status = None;
        self.headers.clear();
        self.request_id = None;
        self.state = State::Connecting {
            attempt,
            deadline: now + self.config.timeouts.response_head,
        };
        trace!(debug, attempt = attempt.number(), "request sent");
        self.outputs.push_back(Output::Send { attempt, request });
    }

    /// A Bedrock exception frame: retried as an `error` event is (before any event reached the
    /// caller), else the error.
    fn exception(&mut self, attempt: AttemptId, mut api: ApiError) {
        if !self.delivered
            && self.status_is_retryable(api.status)
            && let Some(delay) = self.next_retry(self.now, None)
        {
            self.retry(attempt, self.now, delay, Reason::ErrorEvent);
            return;
        }
        api.mid_stream = true;
        self.fail(ErrorKind::Api(api));
    }

    fn end_of_stream(&mut self, attempt: AttemptId) {
        if matches!(self.what, What::Raw(_)) {
            if self.reconnects_now()
                && let Some(delay) = self.reconnect_delay(None)
            {
                self.reconnect(attempt, self.now, delay, Reason::Dropped);
                return;
            }
            trace!(
                debug,
                attempts = self.attempts,
                events = self.events,
                bytes = self.bytes,
                "stream ended"
            );
            self.state = State::Done;
            self.outputs.push_back(Output::Ended);
            return;
        }
        if self.accumulator.is_complete() {
            let accumulator = core::mem::take(&mut self.accumulator);
            match accumulator.finish() {
                Ok(message) => {
                    trace!(
                        debug,
                        attempts = self.attempts,
                        events = self.events,
                        bytes = self.bytes,
                        after_ms = self.since_start_ms(),
                        "stream finished"
                    );
                    self.state = State::Done;
                    self.outputs.push_back(Output::Finished(Ok(message)));
                }
                // An error kept after `message_stop` (an `error` event) fails the stream; the
                // session fails at once on such an event, so this is for completeness.
                Err(incomplete) => {
                    self.accumulator = new_accumulator(&self.config);
                    self.fail(accumulate_error(
                        incomplete.error,
                        self.status.unwrap_or(200),
                    ));
                }
            }
            return;
        }
        if let Some(delay) = self.next_retry(self.now, None) {
            self.retry(attempt, self.now, delay, Reason::EarlyEnd);
            return;
        }
        let open_blocks = self.accumulator.open_blocks();
        self.fail(ErrorKind::Protocol(ProtocolError::Truncated {
            open_blocks,
        }));
    }

    /// Fails with the error body read so far (an API error, or the wrong content type).
    fn fail_with_body(&mut self) {
        let State::ErrorBody {
            body, content_type, ..
        } = &mut self.state
        else {
            return;
        };
        let body = String::from_utf8_lossy(body).into_owned();
        let kind = match content_type.take() {
            Some(content_type) => ErrorKind::Protocol(ProtocolError::WrongContentType {
                content_type,
                body_prefix: body,
            }),
            None => {
                let status = self.status.unwrap_or(0);
                match serde_json::from_str::<ApiErrorBody>(&body) {
                    Ok(parsed) => {
                        if self.request_id.is_none() {
                            self.request_id = parsed.request_id.clone();
                        }
                        ErrorKind::Api(ApiError {
                            status,
                            kind: ApiErrorKind::from_type(&parsed.error.error_type),
                            error_type: parsed.error.error_type,
                            message: parsed.error.message,
                            mid_stream: false,
                            body,
                        })
                    }
                    Err(_) => {
                        // Bedrock's shape: `{"message": ...}`, the type in `x-amzn-errortype`
                        // (`ThrottlingException:http://...`).
                        #[derive(serde::Deserialize)]
                        struct Plain {
                            #[serde(alias = "Message")]
                            message: String,
                        }
                        let message = serde_json::from_str::<Plain>(&body)
                            .map_or_else(|_| body.chars().take(200).collect(), |p| p.message);
                        let error_type = self
                            .header("x-amzn-errortype")
                            .and_then(|t| t.split(':').next())
                            .unwrap_or_default()
                            .to_string();
                        ErrorKind::Api(ApiError {
                            status,
                            kind: ApiErrorKind::from_status(status),
                            error_type,
                            message,
                            mid_stream: false,
                            body,
                        })
                    }
                }
            }
        };
        self.fail(kind);
    }

    /// Ends the session with an error: drops the connection and hands back what was received.
    fn fail(&mut self, kind: ErrorKind) {
        if let Some(attempt) = self.active_attempt() {
            self.outputs.push_back(Output::DropConnection { attempt });
        }
        let accumulator = core::mem::take(&mut self.accumulator);
        let (partial, raw_tool_inputs) = if accumulator.snapshot().is_some() {
            match accumulator.finish() {
                Ok(message) => (Some(Box::new(message)), Vec::new()),
                Err(incomplete) => (incomplete.partial, incomplete.raw_tool_inputs),
            }
        } else {
            (None, Vec::new())
        };
        self.state = State::Failed;
        self.idle_deadline = None;
        let error = Box::new(SessionError {
            kind,
            request_id: self.request_id.clone(),
            partial,
            raw_tool_inputs,
            attempts: self.attempts,
        });
        trace!(
            warn,
            kind = error.kind_name(),
            attempts = self.attempts,
            request_id = self.request_id.as_deref().unwrap_or(""),
            events = self.events,
            bytes = self.bytes,
            after_ms = self.since_start_ms(),
            "stream failed"
        );
        self.outputs.push_back(Output::Finished(Err(error)));
    }
}

/// An empty accumulator with the configured limits.
fn new_accumulator(config: &ClientConfig) -> Accumulator {
    Accumulator::new()
        .max_message_size(config.max_message_size)
        .keep_invalid_tool_input(config.keep_invalid_tool_input)
}
