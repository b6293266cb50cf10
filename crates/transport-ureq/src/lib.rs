//! The blocking transport: streams Anthropic Messages responses over [`ureq`] 3, with TLS by
//! rustls (ring provider, webpki roots). It is a thin loop around
//! [`stream_core::session::Session`]: every decision (retries, deadlines, errors, when the
//! stream is done) is made there; this crate only moves bytes and reads the clock.
//!
//! # Enter and exit
//!
//! Building a stream does nothing; [`MessageStreamManager::enter`] sends the request (retrying
//! inside as the session decides) and returns the stream once the response head is in, or the
//! typed error of the head. Dropping the [`MessageStream`], calling
//! [`close`](MessageStream::close), or leaving [`MessageStreamManager::with`] by any path
//! (return, `?`, break, panic) closes the connection at once: an unfinished body is never
//! drained and the connection never goes back to the pool.
//!
//! ```no_run
//! use transport_ureq::{Client, MessageParams, MessageParam};
//!
//! let client = Client::from_env()?;
//! let params = MessageParams::new("claude-sonnet-4-5", 1024).message(MessageParam::user("Hello"));
//! let manager = client.messages().stream(params);   // deferred: nothing is sent
//! let mut stream = manager.enter()?;                // sends; status errors surface here
//! for event in &mut stream {
//!     let _event = event?;                          // raw events, in order
//! }
//! let message = stream.final_message()?;            // typed error if truncated
//! println!("{}", message.text());
//! # Ok::<(), transport_ureq::Error>(())
//! ```
//!
//! # How deadlines hold while blocked
//!
//! A blocking read cannot be interrupted, so every wait is bounded before it starts. The
//! session's deadlines are handed to ureq as its own timeouts: the connect deadline as
//! `timeout_connect`, the response-head deadline as `timeout_recv_response`, the idle deadline
//! as `timeout_per_read` (a socket read timeout that restarts with every read, which is
//! exactly "no byte for N"), and the total deadline as `timeout_global`. When ureq gives up,
//! the driver reads its clock and calls `handle_timeout`; by then the session's own deadline,
//! which started no later than ureq's, has passed (should ureq's clock run a little ahead, the
//! driver waits out the difference, at most 100 ms), so the session reports the typed timeout
//! (or retries, when that is allowed). Backoff waits are plain sleeps until the session's next
//! deadline. A stalled server therefore never hangs the caller for longer than the configured
//! deadline.
//!
//! # What each failure becomes
//!
//! Every failure is an [`Error::Stream`] holding a [`SessionError`]: its `kind`, the
//! `request_id` of the response it came from, the `partial` message accumulated so far, the
//! raw input of unfinished tool calls, and the number of attempts. Nothing received is lost.
//!
//! | what happened | where | `kind` |
//! |---|---|---|
//! | an error status, after the retries the policy allows (408, 409, 429, 5xx, `x-should-retry: true`) | `enter` | `Api` (status, error type, message) |
//! | a 2xx that is not `text/event-stream` (a proxy's HTML page) | `enter` | `Protocol(WrongContentType)` with the body's start |
//! | no response head in time (retried) | `enter` | `Timeout(ResponseHead)` |
//! | the certificate refused | `enter` | `Transport { kind: Tls }`, never retried |
//! | an `error` event after output (before output it is retried) | the iterator | `Api` with `mid_stream` set |
//! | the connection reset or closed before the body's end | the iterator | `Transport { kind: Reset }` |
//! | the body ends cleanly without `message_stop` | the iterator | `Protocol(Truncated)` |
//! | no byte for the idle deadline; the total deadline | the iterator | `Timeout(Idle)`, `Timeout(Total)` |
//! | malformed JSON in an event | the iterator | `Protocol(InvalidEvent)` |
//! | a line or event over the decoder's limits, or invalid UTF-8 in strict mode | the iterator | `Protocol(Sse)` |
//! | events out of order (a delta for a block never started, ...) | the iterator | `Protocol(Violation)` |
//!
//! Invalid UTF-8 is replaced with U+FFFD by default, as browsers do. The tests run each row
//! against the workspace's local Messages server (`messages-test-server`).
//!
//! # Memory
//!
//! Bytes are read in chunks of at most 16 KiB, only when the consumer asks for the next event
//! and the session has none decoded: nothing is read ahead of the consumer beyond one chunk.
#![forbid(unsafe_code)]

use std::fmt;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
pub use stream_core::Error;
pub use stream_core::messages::{ContentBlock, Delta, Message, StreamEvent};
pub use stream_core::request::{
    BlockParam, ClientConfig, ConfigError, MessageParam, MessageParams, ParamsError, Request,
    RetryPolicy, Timeouts,
};
pub use stream_core::session::{
    ApiError, ApiErrorKind, CallerError, Deadline, ErrorKind, ProtocolError, SessionError,
    TransportErrorKind,
};
use stream_core::session::{AttemptId, Output, Session, SessionState};
pub use stream_core::sse::Event as SseEvent;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// The size of one read from the connection.
const READ_CHUNK: usize = 16 * 1024;
/// How far ahead of the session's deadline a ureq timeout may fire and still be taken as that
/// deadline (the two clocks start a moment apart).
const CLOCK_SLOP: Duration = Duration::from_millis(100);

/// A blocking client: configuration plus a connection pool. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    config: Arc<ClientConfig>,
    agent: ureq::Agent,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with this configuration, trusting the webpki roots.
    #[must_use]
    pub fn new(config: ClientConfig) -> Self {
        Self::build(config, RootCerts::WebPki)
    }

    /// A client that trusts exactly these DER certificates (for a local server with a
    /// self-signed certificate). Anything else is refused.
    #[must_use]
    pub fn with_root_certificates(config: ClientConfig, ders: &[Vec<u8>]) -> Self {
        let certs: Vec<Certificate<'static>> = ders
            .iter()
            .map(|der| Certificate::from_der(der).to_owned())
            .collect();
        Self::build(config, RootCerts::Specific(Arc::new(certs)))
    }

    /// A client from the environment: `ANTHROPIC_API_KEY` or `ANTHROPIC_AUTH_TOKEN`, and
    /// `ANTHROPIC_BASE_URL` when set.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] ([`ConfigError::MissingCredentials`]) when neither credential is set
    /// and the base URL is the public API.
    pub fn from_env() -> Result<Self, Error> {
        let config = ClientConfig::from_lookup(|name| std::env::var(name).ok())?;
        Ok(Self::new(config))
    }

    fn build(config: ClientConfig, roots: RootCerts) -> Self {
        let timeouts = config.timeouts;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(timeouts.connect))
            .timeout_recv_response(Some(timeouts.response_head))
            .timeout_per_read(Some(timeouts.idle))
            .timeout_global(timeouts.total)
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build()
            .into();
        Self {
            config: Arc::new(config),
            agent,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The Messages API.
    #[must_use]
    pub fn messages(&self) -> Messages<'_> {
        Messages { client: self }
    }

    /// A raw SSE stream from any endpoint (an OpenAI-style stream, a notification feed):
    /// `request` is sent as it is, with this client's deadlines, retry policy and TLS roots, and
    /// the same enter/exit semantics as a Messages stream. Nothing is sent until
    /// [`SseStreamManager::enter`].
    ///
    /// ```no_run
    /// use transport_ureq::{Client, ClientConfig, Request};
    ///
    /// let client = Client::new(ClientConfig::new());
    /// let request = Request::new("GET", "https://example.com/events")
    ///     .with_header("accept", "text/event-stream");
    /// for event in client.sse(request).enter()? {
    ///     let event = event?;
    ///     println!("{}: {}", event.event_type(), event.data());
    /// }
    /// # Ok::<(), transport_ureq::Error>(())
    /// ```
    pub fn sse(&self, request: Request) -> SseStreamManager {
        SseStreamManager {
            client: self.clone(),
            session: Session::raw(&self.config, request),
        }
    }
}

/// A described, not yet started, raw SSE stream.
#[derive(Debug)]
#[must_use = "nothing is sent until `enter` or `with`"]
pub struct SseStreamManager {
    client: Client,
    session: Session,
}

impl SseStreamManager {
    /// Sends the request and returns the stream once the response head is in.
    ///
    /// # Errors
    ///
    /// [`Error::Stream`] for the error of the response head (a status that is not 2xx, a
    /// content type that is not `text/event-stream`, a transport failure, a deadline).
    pub fn enter(self) -> Result<SseStream, Error> {
        let driver = Driver::enter(self.client.agent, self.session)?;
        Ok(SseStream { driver })
    }

    /// Enters, runs `body` with the stream, and closes the connection however `body` ends.
    ///
    /// # Errors
    ///
    /// As [`enter`](Self::enter).
    pub fn with<R>(self, body: impl FnOnce(&mut SseStream) -> R) -> Result<R, Error> {
        let mut stream = self.enter()?;
        Ok(body(&mut stream))
    }
}

/// A started raw SSE stream: an iterator of events. Dropping it closes the connection.
pub struct SseStream {
    driver: Driver,
}

impl fmt::Debug for SseStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseStream")
            .field("state", &self.driver.session.state())
            .finish_non_exhaustive()
    }
}

impl SseStream {
    /// The response status.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        self.driver.session.status()
    }

    /// The response headers (names in lower case).
    #[must_use]
    pub fn headers(&self) -> &[(String, String)] {
        self.driver.session.response_headers()
    }

    /// Closes the connection now (the same as dropping the stream).
    pub fn close(self) {
        drop(self);
    }
}

impl Iterator for SseStream {
    type Item = Result<SseEvent, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.driver.step() {
                Ok(Some(Item::Sse(event))) => return Some(Ok(event)),
                Ok(Some(Item::Event(_))) => {}
                Ok(None) => return None,
                Err(err) => return Some(Err(err)),
            }
        }
    }
}

/// The Messages API of a [`Client`].
#[derive(Debug)]
pub struct Messages<'a> {
    client: &'a Client,
}

impl Messages<'_> {
    /// Describes a streaming request. Nothing is sent until [`MessageStreamManager::enter`].
    // Taken by value so that the call reads as in the official SDKs: `stream(params)`.
    #[allow(clippy::needless_pass_by_value)]
    pub fn stream(&self, params: MessageParams) -> MessageStreamManager {
        MessageStreamManager {
            client: self.client.clone(),
            session: Session::new(&self.client.config, &params),
        }
    }
}

/// A described, not yet started, stream.
#[derive(Debug)]
#[must_use = "nothing is sent until `enter` or `with`"]
pub struct MessageStreamManager {
    client: Client,
    session: Result<Session, ParamsError>,
}

impl MessageStreamManager {
    /// Sends the request (retrying as the session decides) and returns the stream once the
    /// response head is in.
    ///
    /// # Errors
    ///
    /// [`Error::Params`] for parameters that cannot be sent; [`Error::Stream`] for the error of
    /// the response head (an API error status, a transport failure, a deadline).
    pub fn enter(self) -> Result<MessageStream, Error> {
        let driver = Driver::enter(self.client.agent, self.session?)?;
        Ok(MessageStream { driver })
    }

    /// Enters, runs `body` with the stream, and closes the connection however `body` ends
    /// (return, `?`, break out of a loop inside, or panic).
    ///
    /// # Errors
    ///
    /// As [`enter`](Self::enter).
    pub fn with<R>(self, body: impl FnOnce(&mut MessageStream) -> R) -> Result<R, Error> {
        let mut stream = self.enter()?;
        Ok(body(&mut stream))
        // `stream` drops here, or during unwinding: the connection closes either way.
    }
}

/// A started stream: an iterator of events. Dropping it closes the connection.
pub struct MessageStream {
    driver: Driver,
}

/// The blocking loop around a session, shared by message and raw streams. Dropping it closes
/// the connection.
struct Driver {
    agent: ureq::Agent,
    session: Session,
    origin: Instant,
    reader: Option<(AttemptId, ureq::BodyReader<'static>)>,
    /// The end, once reached: the final message (until taken) or the error.
    outcome: Option<Result<Option<Message>, Box<SessionError>>>,
}

impl fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageStream")
            .field("state", &self.driver.session.state())
            .field("request_id", &self.driver.session.request_id())
            .finish_non_exhaustive()
    }
}

impl Iterator for MessageStream {
    type Item = Result<StreamEvent, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.driver.step() {
                Ok(Some(Item::Event(event))) => return Some(Ok(event)),
                Ok(Some(Item::Sse(_))) => {}
                Ok(None) => return None,
                Err(err) => return Some(Err(err)),
            }
        }
    }
}

impl MessageStream {
    /// The `request-id` of the response.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        self.driver.session.request_id()
    }

    /// The response headers (names in lower case).
    #[must_use]
    pub fn headers(&self) -> &[(String, String)] {
        self.driver.session.response_headers()
    }

    /// The message so far.
    #[must_use]
    pub fn current_snapshot(&self) -> Option<&Message> {
        self.driver.session.snapshot()
    }

    /// The live partial value of the tool input of the block at `index`, while it streams.
    #[must_use]
    pub fn tool_input_snapshot(&self, index: usize) -> Option<&serde_json::Value> {
        self.driver.session.accumulator().tool_input(index)
    }

    /// Consumes the stream into an iterator of text deltas. The stream comes back with
    /// [`TextStream::into_inner`] (for its final message).
    #[must_use]
    pub fn text_stream(self) -> TextStream {
        TextStream { stream: self }
    }

    /// Reads the rest of the stream.
    ///
    /// # Errors
    ///
    /// The error that ended the stream.
    pub fn until_done(&mut self) -> Result<(), Error> {
        for event in self.by_ref() {
            event?;
        }
        match &self.driver.outcome {
            Some(Err(err)) => Err(Error::Stream(err.clone())),
            _ => Ok(()),
        }
    }

    /// Reads the rest of the stream and returns the final message.
    ///
    /// # Errors
    ///
    /// The error that ended the stream (a truncated stream included), with the partial
    /// message; [`Error::Caller`] if the final message was already taken.
    pub fn final_message(&mut self) -> Result<Message, Error> {
        self.until_done()?;
        match self.driver.outcome.as_mut() {
            Some(Ok(message)) => message
                .take()
                .ok_or(Error::Caller(CallerError::FinalMessageTaken)),
            Some(Err(err)) => Err(Error::Stream(err.clone())),
            None => Err(Error::Caller(CallerError::Closed)),
        }
    }

    /// Reads the rest of the stream and returns the text of its text blocks, joined with no
    /// separator.
    ///
    /// # Errors
    ///
    /// As [`final_message`](Self::final_message).
    pub fn final_text(&mut self) -> Result<String, Error> {
        self.final_message().map(|message| message.text())
    }

    /// Closes the connection now (the same as dropping the stream).
    pub fn close(self) {
        drop(self);
    }
}

/// What the driver hands up: a Messages event or a raw SSE event.
enum Item {
    Event(StreamEvent),
    Sse(stream_core::sse::Event),
}

impl Driver {
    /// Starts the session and drives it to the response head.
    fn enter(agent: ureq::Agent, session: Session) -> Result<Self, Error> {
        let mut driver = Self {
            agent,
            session: session.with_jitter_seed(jitter_seed()),
            origin: Instant::now(),
            reader: None,
            outcome: None,
        };
        let now = driver.now();
        // A fresh session is deferred: entering cannot fail.
        let _ = driver.session.enter(now);
        driver.until_head()?;
        Ok(driver)
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn shutdown(&mut self) {
        let now = self.now();
        self.session.close(now);
        while let Some(output) = self.session.poll_output() {
            if let Output::DropConnection { .. } = output {
                self.reader = None;
            }
        }
        self.reader = None;
    }

    /// Drives the session until the response head is handled (streaming) or the session ends.
    fn until_head(&mut self) -> Result<(), Error> {
        loop {
            while let Some(output) = self.session.poll_output() {
                if let Some(err) = self.act(output) {
                    return Err(err);
                }
            }
            match self.session.state() {
                SessionState::Streaming => return Ok(()),
                SessionState::Done | SessionState::Failed | SessionState::Closed => {
                    return match self.outcome.take() {
                        Some(Err(err)) => Err(Error::Stream(err)),
                        other => {
                            self.outcome = other;
                            Ok(())
                        }
                    };
                }
                _ => self.wait(),
            }
        }
    }

    /// One step: the next event, the end (`None`), or the error that ended the stream.
    fn step(&mut self) -> Result<Option<Item>, Error> {
        loop {
            if self.outcome.is_some() {
                return Ok(None);
            }
            while let Some(output) = self.session.poll_output() {
                match output {
                    Output::Event(event) => return Ok(Some(Item::Event(event))),
                    Output::SseEvent(event) => return Ok(Some(Item::Sse(event))),
                    _ => {}
                }
                if let Some(err) = self.act(output) {
                    return Err(err);
                }
            }
            if self.outcome.is_some() || self.session.state() == SessionState::Closed {
                return Ok(None);
            }
            self.wait();
        }
    }

    /// Acts on one output other than an event; returns the error that ended the stream.
    fn act(&mut self, output: Output) -> Option<Error> {
        match output {
            Output::Send { attempt, request } => self.send(attempt, &request),
            Output::DropConnection { attempt }
                if self.reader.as_ref().is_some_and(|(a, _)| *a == attempt) =>
            {
                self.reader = None;
            }
            Output::Finished(Ok(message)) => {
                self.reader = None;
                self.outcome = Some(Ok(Some(message)));
            }
            Output::Ended => {
                self.reader = None;
                self.outcome = Some(Ok(None));
            }
            Output::Finished(Err(err)) => {
                self.reader = None;
                self.outcome = Some(Err(err.clone()));
                return Some(Error::Stream(err));
            }
            // Events are taken by `step`; a head-phase event cannot come before streaming.
            _ => {}
        }
        None
    }

    /// Waits for the one thing the session needs: a chunk of the body, or its next deadline.
    fn wait(&mut self) {
        match self.reader.as_mut() {
            Some((attempt, reader)) => {
                let attempt = *attempt;
                let mut buf = vec![0u8; READ_CHUNK];
                let result = reader.read(&mut buf);
                let now = self.origin.elapsed();
                match result {
                    Ok(0) => self.session.handle_end(attempt, now),
                    Ok(n) => {
                        buf.truncate(n);
                        self.session.handle_body(attempt, now, Bytes::from(buf));
                    }
                    Err(err) => self.read_failed(attempt, now, &err),
                }
            }
            None => {
                let now = self.now();
                if let Some(deadline) = self.session.poll_timeout()
                    && deadline > now
                {
                    std::thread::sleep(deadline - now);
                }
                let now = self.now();
                self.session.handle_timeout(now);
                if self.session.poll_timeout().is_none()
                    && matches!(
                        self.session.state(),
                        SessionState::Streaming | SessionState::ErrorBody
                    )
                {
                    // Nothing to read from and nothing to wait for: the connection is gone.
                    self.session.close(now);
                }
            }
        }
    }

    fn read_failed(&mut self, attempt: AttemptId, mut now: Duration, err: &io::Error) {
        if is_timeout(err) {
            // ureq's read timeout and the session's idle deadline bound the same wait, on two
            // clocks started a moment apart: when ureq's fires a little first, the stall is
            // real, so wait out the rest of the session's deadline and report it as the typed
            // timeout it is.
            if let Some(deadline) = self.session.poll_timeout()
                && deadline > now
                && deadline - now <= CLOCK_SLOP
            {
                std::thread::sleep(deadline - now);
                now = self.now();
            }
            self.session.handle_timeout(now);
            if self.reader.as_ref().is_some_and(|(a, _)| *a == attempt)
                && self.session.state() != SessionState::Closed
            {
                // ureq gave up on the read before the session's deadline (clock slop): the
                // reader is spent either way, so report the stall as a transport error.
                self.session.handle_transport_error(
                    attempt,
                    now,
                    TransportErrorKind::Other,
                    &err.to_string(),
                );
            }
        } else {
            let kind = io_kind(err);
            self.session
                .handle_transport_error(attempt, now, kind, &err.to_string());
        }
        self.reader = None;
    }

    fn send(&mut self, attempt: AttemptId, request: &Request) {
        let mut builder = ureq::http::Request::builder()
            .method(request.method)
            .uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = match builder.body(request.body.to_vec()) {
            Ok(request) => request,
            Err(err) => {
                let now = self.now();
                self.session.handle_transport_error(
                    attempt,
                    now,
                    TransportErrorKind::Other,
                    &err.to_string(),
                );
                return;
            }
        };
        let result = self.agent.run(request);
        let now = self.now();
        match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let headers: Vec<(String, Vec<u8>)> = response
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
                    .collect();
                self.reader = Some((attempt, response.into_body().into_reader()));
                self.session
                    .handle_response_head(attempt, now, status, headers);
            }
            Err(ureq::Error::Timeout(which)) => {
                use ureq::Timeout;
                match which {
                    Timeout::Connect | Timeout::Resolve => self.session.handle_transport_error(
                        attempt,
                        now,
                        TransportErrorKind::Connect,
                        "connect timed out",
                    ),
                    _ => {
                        self.session.handle_timeout(now);
                        self.session.handle_transport_error(
                            attempt,
                            now,
                            TransportErrorKind::Other,
                            &alloc_msg(which),
                        );
                    }
                }
            }
            Err(err) => {
                let kind = ureq_kind(&err);
                self.session
                    .handle_transport_error(attempt, now, kind, &err.to_string());
            }
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The text deltas of a stream, in order.
#[derive(Debug)]
pub struct TextStream {
    stream: MessageStream,
}

impl TextStream {
    /// The stream back (for its final message or snapshot).
    #[must_use]
    pub fn into_inner(self) -> MessageStream {
        self.stream
    }

    /// Reads the rest and returns the final message.
    ///
    /// # Errors
    ///
    /// As [`MessageStream::final_message`].
    pub fn final_message(&mut self) -> Result<Message, Error> {
        self.stream.final_message()
    }
}

impl Iterator for TextStream {
    type Item = Result<String, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.stream.next()? {
                Ok(StreamEvent::ContentBlockDelta {
                    delta: Delta::Text(text),
                    ..
                }) => return Some(Ok(text)),
                Ok(_) => {}
                Err(err) => return Some(Err(err)),
            }
        }
    }
}

fn alloc_msg(which: ureq::Timeout) -> String {
    format!("timed out ({which})")
}

/// Whether a read failed because a timeout fired (ureq wraps its own timeouts in `io::Error`).
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) || err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .is_some_and(|inner| matches!(inner, ureq::Error::Timeout(_)))
}

fn io_kind(err: &io::Error) -> TransportErrorKind {
    match err.kind() {
        io::ErrorKind::ConnectionRefused => TransportErrorKind::Connect,
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => TransportErrorKind::Reset,
        _ => {
            let text = err.to_string();
            if text.contains("tls") || text.contains("certificate") || text.contains("TLS") {
                TransportErrorKind::Tls
            } else {
                TransportErrorKind::Other
            }
        }
    }
}

fn ureq_kind(err: &ureq::Error) -> TransportErrorKind {
    match err {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => TransportErrorKind::Connect,
        ureq::Error::Io(io) => io_kind(io),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
            TransportErrorKind::Tls
        }
        _ => TransportErrorKind::Other,
    }
}

/// A seed for the backoff jitter, from the clock (the core takes randomness as an input).
fn jitter_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    u64::from(nanos) ^ 0x5851_F42D_4C95_7F2D
}
