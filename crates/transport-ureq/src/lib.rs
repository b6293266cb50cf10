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
//! A blocking read cannot be interrupted, so every wait is bounded before it starts, by the
//! core's deadlines ([`stream_core::exchange`]) and nothing else. Each request carries them as
//! ureq's own timeouts, computed from the exchange when it is sent: the response-head deadline
//! as `timeout_recv_response`, the idle deadline as `timeout_per_read` (a socket read timeout
//! that starts with every read, which is exactly the core's rule: no byte from the peer while
//! the consumer waits), and what is left of the total deadline as `timeout_global`, so retries
//! never get the whole budget again. When ureq gives up, the driver reports `handle_deadline`
//! and the exchange decides which deadline it was and what follows (a retry, or the typed
//! timeout). Backoff waits are plain sleeps until the exchange's deadline. The connect
//! deadline is ureq's `timeout_connect`.
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
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
pub use stream_core::Error;
use stream_core::exchange::{self, Exchange, Step, Until};
pub use stream_core::messages::{ContentBlock, Delta, Message, StreamEvent};
pub use stream_core::request::{
    BlockParam, ClientConfig, ConfigError, MessageParam, MessageParams, ParamsError, Request,
    RequestOptions, RetryPolicy, Timeouts,
};
pub use stream_core::session::{
    ApiError, ApiErrorKind, CallerError, Deadline, ErrorKind, ProtocolError, SessionError,
    TransportErrorKind,
};
use stream_core::session::{AttemptId, Session};
pub use stream_core::sse::Event as SseEvent;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// The size of one read from the connection.
const READ_CHUNK: usize = 16 * 1024;

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
        // The other deadlines are the exchange's, set on each request as it is sent.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(config.timeouts.connect))
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
    /// `request` (a [`Request`], or an `http::Request` with any method) is sent as it is,
    /// with this client's deadlines, retry policy and TLS roots, and the same enter/exit
    /// semantics as a Messages stream. Nothing is sent until [`SseStreamManager::enter`].
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
    pub fn sse(&self, request: impl Into<Request>) -> SseStreamManager {
        SseStreamManager {
            client: self.clone(),
            session: Session::raw(&self.config, request.into()),
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
    /// Deadlines and retries for this stream alone, over the client's configuration (its
    /// request is sent as it was given, so headers and query parameters belong there).
    pub fn options(mut self, options: &RequestOptions) -> Self {
        self.session = self.session.with_options(options);
        self
    }

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

/// A started raw SSE stream: an iterator of events. Dropping it closes the connection. It
/// dereferences to the core's [`Exchange`] for `status()` and `headers()`.
pub struct SseStream {
    driver: Driver,
}

impl fmt::Debug for SseStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SseStream")
            .field(&self.driver.exchange)
            .finish()
    }
}

impl Deref for SseStream {
    type Target = Exchange;

    fn deref(&self) -> &Exchange {
        &self.driver.exchange
    }
}

impl SseStream {
    /// Closes the connection now (the same as dropping the stream).
    pub fn close(self) {
        drop(self);
    }
}

impl Iterator for SseStream {
    type Item = Result<SseEvent, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            return match self.driver.step(Until::Item) {
                Step::Sse(event) => Some(Ok(event)),
                Step::Error(error) => Some(Err(Error::Stream(error))),
                Step::End => None,
                _ => continue,
            };
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
    /// Options for this request alone, over the client's configuration: deadlines, retries,
    /// headers, beta flags, query parameters ([`RequestOptions`]). The client and its
    /// connection pool stay as they are.
    pub fn options(mut self, options: &RequestOptions) -> Self {
        self.session = self.session.map(|session| session.with_options(options));
        self
    }

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
///
/// It dereferences to the core's [`Exchange`] for `request_id()`, `status()`, `headers()`,
/// `current_snapshot()` and `tool_input_snapshot(index)`.
pub struct MessageStream {
    driver: Driver,
}

impl fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MessageStream")
            .field(&self.driver.exchange)
            .finish()
    }
}

impl Deref for MessageStream {
    type Target = Exchange;

    fn deref(&self) -> &Exchange {
        &self.driver.exchange
    }
}

impl Iterator for MessageStream {
    type Item = Result<StreamEvent, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            return match self.driver.step(Until::Item) {
                Step::Event(event) => Some(Ok(event)),
                Step::Error(error) => Some(Err(Error::Stream(error))),
                Step::End => None,
                _ => continue,
            };
        }
    }
}

impl MessageStream {
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
        self.by_ref().for_each(drop);
        self.driver.exchange.result()
    }

    /// Reads the rest of the stream and returns the final message.
    ///
    /// # Errors
    ///
    /// The error that ended the stream (a truncated stream included), with the partial
    /// message; [`Error::Caller`] if the final message was already taken.
    pub fn final_message(&mut self) -> Result<Message, Error> {
        self.until_done()?;
        self.driver.exchange.take_final_message()
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
            return match self.stream.next()? {
                Ok(StreamEvent::ContentBlockDelta {
                    delta: Delta::Text(text),
                    ..
                }) => Some(Ok(text)),
                Ok(_) => continue,
                Err(err) => Some(Err(err)),
            };
        }
    }
}

/// The translation between ureq and an [`Exchange`]. Dropping it closes the connection.
struct Driver {
    agent: ureq::Agent,
    exchange: Exchange,
    origin: Instant,
    reader: Option<(AttemptId, ureq::BodyReader<'static>)>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let now = self.now();
        self.exchange.close(now);
    }
}

impl Driver {
    /// Starts the exchange and drives it to the response head.
    fn enter(agent: ureq::Agent, session: Session) -> Result<Self, Error> {
        let mut driver = Self {
            agent,
            exchange: Exchange::new(session.with_jitter_seed(jitter_seed())),
            origin: Instant::now(),
            reader: None,
        };
        // A fresh session is deferred: entering cannot fail.
        let _ = driver.exchange.enter(Duration::ZERO);
        match driver.step(Until::Head) {
            Step::Error(error) => Err(Error::Stream(error)),
            _ => Ok(driver),
        }
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Acts on the exchange's steps until one is for the caller.
    fn step(&mut self, until: Until) -> Step {
        loop {
            match self.exchange.poll(self.now(), until) {
                Step::Send { attempt, request } => self.send(attempt, &request),
                Step::Drop { attempt } => {
                    self.reader.take_if(|(a, _)| *a == attempt);
                }
                Step::Wait { deadline } => self.wait(deadline),
                step => {
                    if matches!(step, Step::End | Step::Error(_)) {
                        self.reader = None;
                    }
                    return step;
                }
            }
        }
    }

    /// Reads one chunk of the body (bounded by the request's timeouts), or, between attempts,
    /// sleeps until the deadline.
    fn wait(&mut self, deadline: Option<Duration>) {
        let Some((attempt, reader)) = self.reader.as_mut() else {
            let now = self.now();
            match deadline {
                Some(deadline) => {
                    std::thread::sleep(deadline.saturating_sub(now));
                    let now = self.now();
                    self.exchange.handle_deadline(now);
                }
                // Nothing to read and nothing to wait for: the exchange has no way on.
                None => self.exchange.close(now),
            }
            return;
        };
        let attempt = *attempt;
        let mut buf = vec![0u8; READ_CHUNK];
        let result = reader.read(&mut buf);
        let now = self.now();
        match result {
            Ok(0) => self.exchange.handle_end(attempt, now),
            Ok(n) => {
                buf.truncate(n);
                self.exchange.handle_body(attempt, now, Bytes::from(buf));
            }
            Err(err) => {
                self.reader = None;
                if timed_out(&err) {
                    self.exchange.handle_deadline(now);
                } else {
                    let kind = io_kind(&err);
                    self.exchange
                        .handle_transport_error(attempt, now, kind, &err.to_string());
                }
            }
        }
    }

    fn send(&mut self, attempt: AttemptId, request: &Request) {
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let now = self.now();
        let request = match builder.body(request.body.to_vec()) {
            Ok(request) => request,
            Err(err) => {
                let kind = TransportErrorKind::Other;
                self.exchange
                    .handle_transport_error(attempt, now, kind, &err.to_string());
                return;
            }
        };
        // The exchange's deadlines as ureq's timeouts for this request alone.
        let left = self.exchange.remaining(now);
        let request = self
            .agent
            .configure_request(request)
            .timeout_recv_response(Some(left.response_head))
            .timeout_per_read(Some(left.idle))
            .timeout_global(left.total)
            .build();
        let result = self.agent.run(request);
        let now = self.now();
        match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let (parts, body) = response.into_parts();
                self.reader = Some((attempt, body.into_reader()));
                let headers = parts
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_bytes()));
                self.exchange
                    .handle_response_head(attempt, now, status, headers);
            }
            Err(ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve)) => {
                let kind = TransportErrorKind::Connect;
                self.exchange
                    .handle_transport_error(attempt, now, kind, "connect timed out");
            }
            Err(ureq::Error::Timeout(_)) => self.exchange.handle_deadline(now),
            Err(err) => {
                let kind = ureq_kind(&err);
                self.exchange
                    .handle_transport_error(attempt, now, kind, &err.to_string());
            }
        }
    }
}

/// Whether a read failed because one of the request's timeouts (the exchange's deadlines)
/// fired: ureq wraps its own timeouts in `io::Error`.
fn timed_out(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    ) || err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .is_some_and(|inner| matches!(inner, ureq::Error::Timeout(_)))
}

/// Whether a link of an error chain is a TLS failure, as rustls or ureq types it.
fn is_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    err.is::<rustls::Error>()
        || err.downcast_ref::<ureq::Error>().is_some_and(|e| {
            matches!(
                e,
                ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_)
            )
        })
}

fn io_kind(err: &io::Error) -> TransportErrorKind {
    exchange::classify(err, is_tls).unwrap_or(TransportErrorKind::Other)
}

fn ureq_kind(err: &ureq::Error) -> TransportErrorKind {
    match err {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => TransportErrorKind::Connect,
        ureq::Error::Io(io) => io_kind(io),
        _ if is_tls(err) => TransportErrorKind::Tls,
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
