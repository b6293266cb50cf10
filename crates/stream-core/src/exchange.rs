//! One exchange as both transports drive it: the [`Session`] plus everything around it that
//! used to be written once per driver.
//!
//! A driver is a translation between its IO and an [`Exchange`]. It asks
//! [`poll`](Exchange::poll) what to do and gets one [`Step`]: send a request, drop a
//! connection, wait for IO until a deadline, or hand the consumer an event, the end or the error
//! that ended the stream. It feeds back what happened with the `handle_*` inputs and its own
//! reading of a monotonic clock. The exchange decides everything else, once, for every driver:
//!
//! * when the response head is in (so that `enter` can return), and when the stream is over;
//! * the outcome, latched: the final message (handed over once), or the error (reported once,
//!   kept for [`result`](Exchange::result));
//! * the deadline rule: idle time is time spent waiting for the peer while the consumer waits
//!   too ([`Session::handle_wait`], called by [`poll`](Exchange::poll) before every wait), and a
//!   wait bounded by the step's deadline that ends with nothing is that deadline
//!   ([`handle_deadline`](Exchange::handle_deadline)), whatever the driver's clock reads;
//! * what a stream shows its consumer: request id, status, headers, snapshots.
//!
//! A transport's stream types dereference to their `Exchange`, so the read-only accessors
//! ([`request_id`](Exchange::request_id), [`current_snapshot`](Exchange::current_snapshot), ...)
//! are these, with one meaning on every transport.
//!
//! ```
//! use core::time::Duration;
//! use stream_core::exchange::{Exchange, Step, Until};
//! use stream_core::request::{ClientConfig, MessageParam, MessageParams};
//! use stream_core::session::Session;
//!
//! let config = ClientConfig::new().api_key("sk-test");
//! let params = MessageParams::new("claude-sonnet-4-5", 64).message(MessageParam::user("Hi"));
//! let mut exchange = Exchange::new(Session::new(&config, &params)?);
//! let t = Duration::ZERO;
//! exchange.enter(t)?;
//! let Step::Send { attempt, .. } = exchange.poll(t, Until::Head) else { panic!() };
//! // The driver sends the request and waits for the head.
//! assert!(matches!(exchange.poll(t, Until::Head), Step::Wait { .. }));
//! exchange.handle_response_head(attempt, t, 200, [("content-type", "text/event-stream")]);
//! assert!(matches!(exchange.poll(t, Until::Head), Step::Ready)); // `enter` returns
//! exchange.handle_body(attempt, t, concat!(
//!     "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",",
//!     "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],",
//!     "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n",
//! ));
//! assert!(matches!(exchange.poll(t, Until::Item), Step::Event(_)));
//! assert_eq!(exchange.current_snapshot().and_then(|m| m.id()), Some("msg_1"));
//! exchange.handle_end(attempt, t);
//! // Ended before `message_stop`: drop the connection, the error once, then the end.
//! assert!(matches!(exchange.poll(t, Until::Item), Step::Drop { .. }));
//! let Step::Error(error) = exchange.poll(t, Until::Item) else { panic!() };
//! assert_eq!(error.kind_name(), "truncated");
//! assert!(matches!(exchange.poll(t, Until::Item), Step::End));
//! assert!(exchange.result().is_err());
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use alloc::boxed::Box;
use alloc::string::String;
use core::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::Error;
use crate::accumulate::Derived;
use crate::messages::{Message, StreamEvent};
use crate::partial_json::PartialJsonError;
use crate::request::Request;
use crate::session::{
    AttemptId, CallerError, Output, Session, SessionError, SessionState, TransportErrorKind,
};
use crate::sse;

/// What the driver is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Until {
    /// The response head (`enter`): [`Step::Ready`] once it is in.
    Head,
    /// The next item for the consumer: an event, the end or the error.
    Item,
}

/// What the driver does next.
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum Step {
    /// Send this request, on a new connection or a pooled one; report its head, body, end or
    /// failure with `attempt`.
    Send {
        /// The attempt.
        attempt: AttemptId,
        /// What to send.
        request: Request,
    },
    /// Close this attempt's connection now, without reading more.
    Drop {
        /// The attempt.
        attempt: AttemptId,
    },
    /// Wait for the open connection (its head or its next bytes) or until `deadline`, then
    /// report what happened: [`handle_deadline`](Exchange::handle_deadline) when the
    /// deadline came first. Without a connection (between attempts), wait for the deadline.
    Wait {
        /// The session's next deadline, on the driver's clock.
        deadline: Option<Duration>,
    },
    /// The response head is in ([`Until::Head`] only): `enter` returns the stream.
    Ready,
    /// A Messages event for the consumer, already in the snapshot.
    Event(StreamEvent),
    /// A raw SSE event for the consumer.
    Sse(sse::Event),
    /// The error that ended the exchange, reported once; the driver releases its connection.
    Error(Box<SessionError>),
    /// Nothing more: the stream ended (or was closed); the driver releases its connection.
    End,
}

/// The session and its latched outcome. See the [module docs](self).
#[derive(Debug)]
pub struct Exchange {
    session: Session,
    /// The end, once reached: the final message (until taken) or the error.
    outcome: Option<Result<Option<Message>, Box<SessionError>>>,
    /// The error in `outcome` was handed to the driver.
    error_reported: bool,
    /// One span per exchange, entered around every call (feature `tracing`).
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl Exchange {
    /// Wraps a session (deferred: nothing is sent until [`enter`](Self::enter)).
    #[must_use]
    pub fn new(session: Session) -> Self {
        Self {
            session,
            outcome: None,
            error_reported: false,
            #[cfg(feature = "tracing")]
            span: tracing::info_span!(
                "anthropic_stream",
                attempts = tracing::field::Empty,
                status = tracing::field::Empty,
                request_id = tracing::field::Empty,
                outcome = tracing::field::Empty,
            ),
        }
    }

    /// Starts the exchange: the first request goes out at the next [`poll`](Self::poll).
    ///
    /// # Errors
    ///
    /// [`CallerError::AlreadyEntered`] unless the exchange is deferred.
    pub fn enter(&mut self, now: Duration) -> Result<(), CallerError> {
        #[cfg(feature = "tracing")]
        let _entered = self.span.enter();
        self.session.enter(now)
    }

    /// The next step. Call it again after acting on `Send` and `Drop`, and after reporting
    /// what a `Wait` ended with.
    pub fn poll(&mut self, now: Duration, until: Until) -> Step {
        #[cfg(feature = "tracing")]
        let _entered = self.span.clone().entered();
        // The total deadline holds even for a driver whose IO is always ready (a fast server
        // never lets it wait on its timer).
        if self
            .session
            .total_deadline()
            .is_some_and(|total| now >= total)
        {
            self.session.handle_timeout(now);
        }
        loop {
            if let Some(outcome) = &self.outcome {
                if outcome.is_err() && !self.error_reported {
                    self.error_reported = true;
                    if let Some(Err(error)) = &self.outcome {
                        return Step::Error(error.clone());
                    }
                }
                return Step::End;
            }
            match self.session.state() {
                SessionState::Streaming if until == Until::Head => return Step::Ready,
                SessionState::Closed => return Step::End,
                _ => {}
            }
            let Some(output) = self.session.poll_output() else {
                self.session.handle_wait(now);
                return Step::Wait {
                    deadline: self.session.poll_timeout(),
                };
            };
            match output {
                Output::Send { attempt, request } => return Step::Send { attempt, request },
                Output::DropConnection { attempt } => return Step::Drop { attempt },
                Output::Event(event) => return Step::Event(event),
                Output::SseEvent(event) => return Step::Sse(event),
                Output::Ended => self.outcome = Some(Ok(None)),
                Output::Finished(Ok(message)) => self.outcome = Some(Ok(Some(message))),
                Output::Finished(Err(error)) => self.outcome = Some(Err(error)),
            }
            #[cfg(feature = "tracing")]
            self.record_outcome();
            if until == Until::Head && matches!(self.outcome, Some(Ok(_))) {
                // Over before the head was handled (a raw stream with an empty body).
                return Step::Ready;
            }
        }
    }

    /// Writes the outcome into the exchange's span.
    #[cfg(feature = "tracing")]
    fn record_outcome(&self) {
        let outcome = match &self.outcome {
            Some(Ok(_)) => "ok",
            Some(Err(error)) => error.kind_name(),
            None => return,
        };
        self.span.record("attempts", self.session.attempts());
        if let Some(status) = self.session.status() {
            self.span.record("status", status);
        }
        if let Some(request_id) = self.session.request_id() {
            self.span.record("request_id", request_id);
        }
        self.span.record("outcome", outcome);
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
        #[cfg(feature = "tracing")]
        let _entered = self.span.enter();
        self.session
            .handle_response_head(attempt, now, status, headers);
    }

    /// The response head of `attempt` arrived, as `http` types it (feature `http`).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use stream_core::exchange::{Exchange, Step, Until};
    /// # use stream_core::request::{ClientConfig, Request};
    /// # use stream_core::session::Session;
    /// let mut exchange = Exchange::new(Session::raw(&ClientConfig::new(), Request::new("GET", "http://feed.test/")));
    /// exchange.enter(Duration::ZERO)?;
    /// let Step::Send { attempt, .. } = exchange.poll(Duration::ZERO, Until::Head) else { panic!() };
    /// let (head, ()) = http::Response::builder()
    ///     .header("content-type", "text/event-stream")
    ///     .body(())?
    ///     .into_parts();
    /// exchange.handle_http_head(attempt, Duration::ZERO, &head);
    /// assert_eq!(exchange.status(), Some(200));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    #[cfg(feature = "http")]
    pub fn handle_http_head(
        &mut self,
        attempt: AttemptId,
        now: Duration,
        head: &http::response::Parts,
    ) {
        let headers = head.headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes()));
        self.handle_response_head(attempt, now, head.status.as_u16(), headers);
    }

    /// Body bytes of `attempt` arrived.
    pub fn handle_body(&mut self, attempt: AttemptId, now: Duration, bytes: impl Into<Bytes>) {
        self.session.handle_body(attempt, now, bytes);
    }

    /// The body of `attempt` ended cleanly.
    pub fn handle_end(&mut self, attempt: AttemptId, now: Duration) {
        #[cfg(feature = "tracing")]
        let _entered = self.span.enter();
        self.session.handle_end(attempt, now);
    }

    /// The connection of `attempt` failed; `kind` from [`classify`] where the error is typed.
    ///
    /// [`classify`]: crate::exchange::classify
    pub fn handle_transport_error(
        &mut self,
        attempt: AttemptId,
        now: Duration,
        kind: TransportErrorKind,
        message: &str,
    ) {
        #[cfg(feature = "tracing")]
        let _entered = self.span.enter();
        self.session
            .handle_transport_error(attempt, now, kind, message);
    }

    /// A [`Step::Wait`] ended at its deadline with nothing from the peer.
    pub fn handle_deadline(&mut self, now: Duration) {
        #[cfg(feature = "tracing")]
        let _entered = self.span.enter();
        self.session.handle_deadline(now);
    }

    /// Ends the exchange from any state; the driver drops whatever connection it holds.
    pub fn close(&mut self, now: Duration) {
        self.session.close(now);
        while self.session.poll_output().is_some() {}
    }

    /// The state of the session.
    #[must_use]
    pub fn state(&self) -> SessionState {
        self.session.state()
    }

    /// The `request-id` of the response.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        self.session.request_id()
    }

    /// The response status.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.session.status()
    }

    /// The response headers (names in lower case).
    #[must_use]
    pub fn headers(&self) -> &[(String, String)] {
        self.session.response_headers()
    }

    /// The response headers as an `http::HeaderMap` (feature `http`; a header that is not a
    /// valid name and value is left out).
    #[cfg(feature = "http")]
    #[must_use]
    pub fn header_map(&self) -> http::HeaderMap {
        self.headers()
            .iter()
            .filter_map(|(name, value)| {
                let name = http::HeaderName::from_bytes(name.as_bytes()).ok()?;
                let value = http::HeaderValue::from_str(value).ok()?;
                Some((name, value))
            })
            .collect()
    }

    /// How many times a feed reconnected ([`Reconnect`](crate::session::Reconnect)).
    #[must_use]
    pub fn reconnects(&self) -> u32 {
        self.session.reconnects()
    }

    /// The last event ID of a raw stream (`""` before any): where a reconnection resumes.
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        self.session.last_event_id()
    }

    /// How many requests were sent.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.session.attempts()
    }

    /// The message so far (`None` before `message_start`, and for raw streams).
    #[must_use]
    pub fn current_snapshot(&self) -> Option<&Message> {
        self.session.snapshot()
    }

    /// The live partial value of the tool input of the block at `index`, while it streams.
    #[must_use]
    pub fn tool_input_snapshot(&self, index: usize) -> Option<&Value> {
        self.session.accumulator().tool_input(index)
    }

    /// The raw text and the parser's error of the block at `index`, when it stopped with a
    /// tool input that is not valid JSON and the configuration keeps such input
    /// ([`ClientConfig::keep_invalid_tool_input`](crate::request::ClientConfig::keep_invalid_tool_input)).
    #[must_use]
    pub fn invalid_tool_input(&self, index: usize) -> Option<(&str, &PartialJsonError)> {
        self.session.accumulator().invalid_tool_input(index)
    }

    /// The helper event of `event`, the event the stream just returned, as the official SDKs'
    /// `MessageStream` fires it (text and the block's text so far, thinking, signature, citation
    /// and the citations so far, tool input and its live value, the finished block, the final
    /// message), borrowing from the snapshot: no copies. `None` for other events. See
    /// [`Accumulator::helper_event`](crate::accumulate::Accumulator::helper_event).
    ///
    /// ```
    /// use core::time::Duration;
    /// use stream_core::accumulate::Derived;
    /// use stream_core::exchange::{Exchange, Step, Until};
    /// use stream_core::request::{ClientConfig, MessageParam, MessageParams};
    /// use stream_core::session::Session;
    ///
    /// let params = MessageParams::new("m", 64).message(MessageParam::user("Hi"));
    /// let mut exchange = Exchange::new(Session::new(&ClientConfig::new(), &params)?);
    /// let t = Duration::ZERO;
    /// exchange.enter(t)?;
    /// let Step::Send { attempt, .. } = exchange.poll(t, Until::Head) else { panic!() };
    /// exchange.handle_response_head(attempt, t, 200, [("content-type", "text/event-stream")]);
    /// exchange.handle_body(attempt, t, concat!(
    ///     "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n",
    ///     "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    ///     "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi!\"}}\n\n",
    /// ));
    /// let mut texts = Vec::new();
    /// while let Step::Event(event) = exchange.poll(t, Until::Item) {
    ///     if let Some(Derived::Text { delta, snapshot, .. }) = exchange.helper(&event) {
    ///         texts.push((delta.to_owned(), snapshot.to_owned()));
    ///     }
    /// }
    /// assert_eq!(texts, [("Hi!".to_owned(), "Hi!".to_owned())]);
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    #[must_use]
    pub fn helper<'a>(&'a self, event: &'a StreamEvent) -> Option<Derived<'a>> {
        self.session.accumulator().helper_event(event)
    }

    /// The session's configuration of deadlines, for a driver that must hand them to its
    /// HTTP library before a blocking call: what is left of each, counted from `now`.
    #[must_use]
    pub fn remaining(&self, now: Duration) -> Remaining {
        let timeouts = &self.session.config().timeouts;
        Remaining {
            response_head: timeouts.response_head,
            idle: timeouts.idle,
            total: self
                .session
                .total_deadline()
                .map(|deadline| deadline.saturating_sub(now)),
        }
    }

    /// How the stream ended, once it has: `Ok` for a final message or a raw stream's end, the
    /// error otherwise (also after it was reported). `Ok` while it has not ended.
    ///
    /// # Errors
    ///
    /// The error that ended the stream.
    pub fn result(&self) -> Result<(), Error> {
        match &self.outcome {
            Some(Err(error)) => Err(Error::Stream(error.clone())),
            _ => Ok(()),
        }
    }

    /// The final message, once the stream ended with one. Handed over once.
    ///
    /// # Errors
    ///
    /// The error that ended the stream; [`CallerError::FinalMessageTaken`] the second time;
    /// [`CallerError::Closed`] when the stream was closed (or has not ended).
    pub fn take_final_message(&mut self) -> Result<Message, Error> {
        match self.outcome.as_mut() {
            Some(Ok(message)) => message
                .take()
                .ok_or(Error::Caller(CallerError::FinalMessageTaken)),
            Some(Err(error)) => Err(Error::Stream(error.clone())),
            None => Err(Error::Caller(CallerError::Closed)),
        }
    }
}

/// What is left of each deadline (see [`Exchange::remaining`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Remaining {
    /// From sending the request to its response head.
    pub response_head: Duration,
    /// The longest silence of the peer while the consumer waits.
    pub idle: Duration,
    /// What is left of the total deadline, if there is one.
    pub total: Option<Duration>,
}

/// The kind of a transport failure, from its typed error chain (never from its text): TLS when
/// any link is a TLS error by `is_tls`, else the first `std::io::Error` that says more than
/// "other" (looking inside the payload of each `io::Error` too), else `None`, for the driver's
/// typed fallback.
///
/// ```
/// use std::io;
/// use stream_core::exchange::classify;
/// use stream_core::session::TransportErrorKind;
///
/// let refused = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
/// assert_eq!(classify(&refused, |_| false), Some(TransportErrorKind::Connect));
/// let wrapped = io::Error::other(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
/// assert_eq!(classify(&wrapped, |_| false), Some(TransportErrorKind::Reset));
/// assert_eq!(classify(&io::Error::other("?"), |_| false), None);
/// ```
#[cfg(feature = "std")]
pub fn classify(
    error: &(dyn core::error::Error + 'static),
    is_tls: impl Fn(&(dyn core::error::Error + 'static)) -> bool,
) -> Option<TransportErrorKind> {
    use std::io::{self, ErrorKind as K};
    /// The next link: an `io::Error` hides the error it wraps from `source()`, so look inside
    /// it first.
    fn next<'a>(
        link: &&'a (dyn core::error::Error + 'static),
    ) -> Option<&'a (dyn core::error::Error + 'static)> {
        let inner = link
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
            .map(|inner| inner as &(dyn core::error::Error + 'static));
        inner.or_else(|| link.source())
    }
    let links = || core::iter::successors(Some(error), next);
    if links().any(&is_tls) {
        return Some(TransportErrorKind::Tls);
    }
    links()
        .filter_map(|link| link.downcast_ref::<io::Error>())
        .find(|io| io.kind() != K::Other)
        .map(|io| match io.kind() {
            K::ConnectionRefused | K::AddrNotAvailable => TransportErrorKind::Connect,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                TransportErrorKind::Reset
            }
            _ => TransportErrorKind::Other,
        })
}
