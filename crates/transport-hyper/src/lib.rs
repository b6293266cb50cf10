//! The async transport: streams Anthropic Messages responses over hyper 1 on tokio, with TLS
//! by rustls (ring provider, webpki roots), HTTP/1.1 and HTTP/2 (negotiated by ALPN, so many
//! streams can share one connection) and a pooled client. It is a thin, pull-based loop around
//! [`stream_core::session::Session`]: every decision (retries, deadlines, errors, when the
//! stream is done) is made there; this crate moves bytes, reads the clock and sets timers.
//!
//! # Enter and exit
//!
//! Building a stream does nothing; [`MessageStreamManager::enter`] sends the request (retrying
//! inside as the session decides) and resolves to the stream once the response head is in, or
//! to the typed error of the head. Dropping the [`MessageStream`], calling
//! [`close`](MessageStream::close), leaving [`MessageStreamManager::with`] by any path
//! (return, `?`, panic), or dropping the future of any method at any await point (a
//! `tokio::select!`, a timeout, an aborted task) closes the connection promptly: an unfinished
//! HTTP/1.1 body is never drained and its connection never goes back to the pool; an HTTP/2
//! stream is reset and the shared connection stays up for the others.
//!
//! ```no_run
//! use transport_hyper::{Client, MessageParam, MessageParams};
//!
//! # async fn run() -> Result<(), transport_hyper::Error> {
//! let client = Client::from_env()?;
//! let params = MessageParams::new("claude-sonnet-4-5", 1024).message(MessageParam::user("Hello"));
//! let manager = client.messages().stream(params);   // deferred: nothing is sent
//! let mut stream = manager.enter().await?;          // sends; status errors surface here
//! while let Some(event) = stream.next().await {
//!     let _event = event?;                          // raw events, in order
//! }
//! let message = stream.final_message().await?;     // typed error if truncated
//! println!("{}", message.text());
//! # Ok(())
//! # }
//! ```
//!
//! [`MessageStream`] also implements [`futures_core::Stream`], for `StreamExt` combinators.
//!
//! # Pull-based and cancel-safe
//!
//! No task reads ahead: the body is polled only when the consumer asks for the next event and
//! the session has none decoded, one frame at a time, so nothing is buffered beyond one frame
//! (and hyper's own read buffer). The only tasks are hyper's connection tasks, which end with
//! their connections. Every method is cancel-safe: dropping its future loses nothing that was
//! already handed out, and dropping the stream closes the connection.
//!
//! # Deadlines
//!
//! The connect deadline is the connector's; the response-head, idle and total deadlines are the
//! session's: the driver keeps one tokio timer set to the session's
//! [`poll_timeout`](stream_core::session::Session::poll_timeout) and reports
//! `handle_timeout` when it fires, so a stalled server ends the stream with
//! `Timeout(Idle)` (or the head deadline, retried as the policy says) on time.
//!
//! # What each failure becomes
//!
//! The same as the blocking transport (see its crate docs): one [`Error`] type, with every
//! failure of the exchange an [`Error::Stream`] carrying its kind, the request id and the
//! partial message.
#![forbid(unsafe_code)]

use std::fmt;
use std::future::{Future, poll_fn};
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http_body::Body as _;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{self, ResponseFuture, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use stream_core::session::{AttemptId, Output, Session, SessionState};
use tokio::time::{Instant, Sleep};

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
pub use stream_core::sse::Event as SseEvent;

type HttpClient = legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An async client: configuration plus a connection pool (HTTP/1.1 connections reused, HTTP/2
/// connections shared). Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct Client {
    config: Arc<ClientConfig>,
    http: HttpClient,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Options of a [`Client`] beyond its [`ClientConfig`].
///
/// ```
/// use std::time::Duration;
/// use transport_hyper::{Client, ClientConfig};
///
/// let client = Client::builder(ClientConfig::new().base_url("http://127.0.0.1:8080"))
///     .http2_prior_knowledge()            // HTTP/2 without TLS, all streams on one connection
///     .pool_idle_timeout(Duration::from_secs(30))
///     .build();
/// # let _ = client;
/// ```
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    config: ClientConfig,
    roots: Option<Vec<Vec<u8>>>,
    http2_only: bool,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
}

impl ClientBuilder {
    /// Trusts exactly these DER certificates instead of the webpki roots (for a local server
    /// with a self-signed certificate). Anything else is refused; so is every server when none
    /// of them parses.
    pub fn root_certificates(mut self, ders: &[Vec<u8>]) -> Self {
        self.roots = Some(ders.to_vec());
        self
    }

    /// Speaks only HTTP/2: by prior knowledge in clear text, by ALPN `h2` over TLS. Every
    /// stream to a host then shares one connection.
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.http2_only = true;
        self
    }

    /// How long an idle pooled connection is kept (90 s by default).
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// How many idle connections per host the pool keeps (unbounded by default).
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Builds the client. No connection is opened until a stream is entered.
    ///
    /// # Panics
    ///
    /// Never: the one fallible step (the ring provider's protocol versions) always succeeds.
    #[must_use]
    pub fn build(self) -> Client {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        match &self.roots {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(ders) => {
                let _ = roots.add_parsable_certificates(
                    ders.iter()
                        .map(|der| rustls::pki_types::CertificateDer::from(der.clone())),
                );
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.config.timeouts.connect));
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let connector = if self.http2_only {
            builder.enable_http2().wrap_connector(http)
        } else {
            builder.enable_http1().enable_http2().wrap_connector(http)
        };
        let http = legacy::Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .http2_only(self.http2_only)
            .build(connector);
        Client {
            config: Arc::new(self.config),
            http,
        }
    }
}

impl Client {
    /// A client with this configuration, trusting the webpki roots.
    #[must_use]
    pub fn new(config: ClientConfig) -> Self {
        Self::builder(config).build()
    }

    /// A client that trusts exactly these DER certificates (for a local server with a
    /// self-signed certificate). Anything else is refused.
    #[must_use]
    pub fn with_root_certificates(config: ClientConfig, ders: &[Vec<u8>]) -> Self {
        Self::builder(config).root_certificates(ders).build()
    }

    /// A builder for a client with options (HTTP/2 only, pool settings, roots).
    pub fn builder(config: ClientConfig) -> ClientBuilder {
        ClientBuilder {
            config,
            roots: None,
            http2_only: false,
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: usize::MAX,
        }
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

    /// A raw SSE stream from any endpoint: `request` is sent as it is, with this client's
    /// deadlines, retry policy and TLS roots, and the same enter/exit semantics as a Messages
    /// stream. Nothing is sent until [`SseStreamManager::enter`].
    ///
    /// ```no_run
    /// use transport_hyper::{Client, ClientConfig, Request};
    ///
    /// # async fn run() -> Result<(), transport_hyper::Error> {
    /// let client = Client::new(ClientConfig::new());
    /// let request = Request::new("GET", "https://example.com/events")
    ///     .with_header("accept", "text/event-stream");
    /// let mut stream = client.sse(request).enter().await?;
    /// while let Some(event) = stream.next().await {
    ///     let event = event?;
    ///     println!("{}: {}", event.event_type(), event.data());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn sse(&self, request: Request) -> SseStreamManager {
        SseStreamManager {
            client: self.clone(),
            session: Session::raw(&self.config, request),
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
    /// Sends the request (retrying as the session decides) and resolves to the stream once
    /// the response head is in. Dropping the future before then closes the connection.
    ///
    /// # Errors
    ///
    /// [`Error::Params`] for parameters that cannot be sent; [`Error::Stream`] for the error of
    /// the response head (an API error status, a transport failure, a deadline).
    pub async fn enter(self) -> Result<MessageStream, Error> {
        let driver = Driver::enter(self.client.http, self.session?).await?;
        Ok(MessageStream { driver })
    }

    /// Enters, runs `body` with the stream, and closes the connection however `body` ends
    /// (return, `?` inside it, a panic, or the whole future dropped).
    ///
    /// ```no_run
    /// # use transport_hyper::{Client, MessageParam, MessageParams};
    /// # async fn run(client: Client, params: MessageParams) -> Result<(), transport_hyper::Error> {
    /// let first_text = client
    ///     .messages()
    ///     .stream(params)
    ///     .with(async |stream| {
    ///         while let Some(event) = stream.next().await {
    ///             if let Ok(event) = event && event.event_type() == "content_block_delta" {
    ///                 return Some(event); // the connection closes here
    ///             }
    ///         }
    ///         None
    ///     })
    ///     .await?;
    /// # let _ = first_text;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`enter`](Self::enter).
    pub async fn with<R>(
        self,
        body: impl AsyncFnOnce(&mut MessageStream) -> R,
    ) -> Result<R, Error> {
        let mut stream = self.enter().await?;
        Ok(body(&mut stream).await)
        // `stream` drops here, during unwinding, or with this future: the connection closes.
    }
}

/// A started stream of Messages events. Dropping it closes the connection.
pub struct MessageStream {
    driver: Driver,
}

impl fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageStream")
            .field("state", &self.driver.session.state())
            .field("request_id", &self.driver.session.request_id())
            .finish_non_exhaustive()
    }
}

impl Stream for MessageStream {
    type Item = Result<StreamEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match ready!(self.driver.poll_step(cx)) {
                Some(Ok(Item::Event(event))) => return Poll::Ready(Some(Ok(event))),
                Some(Ok(Item::Sse(_))) => {}
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => return Poll::Ready(None),
            }
        }
    }
}

impl MessageStream {
    /// The next event, or `None` at the end. Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, Error>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The `request-id` of the response.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        self.driver.session.request_id()
    }

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

    /// Consumes the stream into a stream of text deltas. The stream comes back with
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
    pub async fn until_done(&mut self) -> Result<(), Error> {
        while let Some(event) = self.next().await {
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
    pub async fn final_message(&mut self) -> Result<Message, Error> {
        self.until_done().await?;
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
    pub async fn final_text(&mut self) -> Result<String, Error> {
        self.final_message().await.map(|message| message.text())
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
    /// The next text delta, or `None` at the end. Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<String, Error>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

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
    pub async fn final_message(&mut self) -> Result<Message, Error> {
        self.stream.final_message().await
    }
}

impl Stream for TextStream {
    type Item = Result<String, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match ready!(Pin::new(&mut self.stream).poll_next(cx)) {
                Some(Ok(StreamEvent::ContentBlockDelta {
                    delta: Delta::Text(text),
                    ..
                })) => return Poll::Ready(Some(Ok(text))),
                Some(Ok(_)) => {}
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => return Poll::Ready(None),
            }
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
    /// Sends the request and resolves to the stream once the response head is in.
    ///
    /// # Errors
    ///
    /// [`Error::Stream`] for the error of the response head (a status that is not 2xx, a
    /// content type that is not `text/event-stream`, a transport failure, a deadline).
    pub async fn enter(self) -> Result<SseStream, Error> {
        let driver = Driver::enter(self.client.http, self.session).await?;
        Ok(SseStream { driver })
    }

    /// Enters, runs `body` with the stream, and closes the connection however `body` ends.
    ///
    /// # Errors
    ///
    /// As [`enter`](Self::enter).
    pub async fn with<R>(self, body: impl AsyncFnOnce(&mut SseStream) -> R) -> Result<R, Error> {
        let mut stream = self.enter().await?;
        Ok(body(&mut stream).await)
    }
}

/// A started raw SSE stream. Dropping it closes the connection.
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

impl Stream for SseStream {
    type Item = Result<SseEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match ready!(self.driver.poll_step(cx)) {
                Some(Ok(Item::Sse(event))) => return Poll::Ready(Some(Ok(event))),
                Some(Ok(Item::Event(_))) => {}
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => return Poll::Ready(None),
            }
        }
    }
}

impl SseStream {
    /// The next event, or `None` at the end. Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<SseEvent, Error>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

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

/// What the driver hands up: a Messages event or a raw SSE event.
enum Item {
    Event(StreamEvent),
    Sse(stream_core::sse::Event),
}

/// The async loop around a session, shared by message and raw streams. It owns at most one
/// request future and one response body; dropping it drops both, which closes the
/// connection (or resets the HTTP/2 stream).
struct Driver {
    http: HttpClient,
    session: Session,
    origin: Instant,
    inflight: Option<(AttemptId, ResponseFuture)>,
    body: Option<(AttemptId, Incoming)>,
    timer: Pin<Box<Sleep>>,
    /// The end, once reached: the final message (until taken) or the error.
    outcome: Option<Result<Option<Message>, Box<SessionError>>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let now = self.now();
        self.session.close(now);
        while self.session.poll_output().is_some() {}
        self.inflight = None;
        self.body = None;
    }
}

impl Driver {
    /// Starts the session and drives it to the response head.
    async fn enter(http: HttpClient, session: Session) -> Result<Self, Error> {
        let origin = Instant::now();
        let mut driver = Self {
            http,
            session: session.with_jitter_seed(jitter_seed()),
            origin,
            inflight: None,
            body: None,
            timer: Box::pin(tokio::time::sleep_until(origin)),
            outcome: None,
        };
        // A fresh session is deferred: entering cannot fail.
        let _ = driver.session.enter(Duration::ZERO);
        poll_fn(|cx| driver.poll_head(cx)).await?;
        Ok(driver)
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Drives the session until the response head is handled (streaming) or the session ends.
    fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            while let Some(output) = self.session.poll_output() {
                if let Some(err) = self.act(output) {
                    return Poll::Ready(Err(err));
                }
            }
            match self.session.state() {
                SessionState::Streaming => return Poll::Ready(Ok(())),
                SessionState::Done | SessionState::Failed | SessionState::Closed => {
                    return Poll::Ready(match self.outcome.take() {
                        Some(Err(err)) => Err(Error::Stream(err)),
                        other => {
                            self.outcome = other;
                            Ok(())
                        }
                    });
                }
                _ => ready!(self.poll_io(cx)),
            }
        }
    }

    /// One step: the next event, the end (`None`), or the error that ended the stream.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Item, Error>>> {
        loop {
            if self.outcome.is_some() {
                return Poll::Ready(None);
            }
            while let Some(output) = self.session.poll_output() {
                match output {
                    Output::Event(event) => return Poll::Ready(Some(Ok(Item::Event(event)))),
                    Output::SseEvent(event) => return Poll::Ready(Some(Ok(Item::Sse(event)))),
                    _ => {}
                }
                if let Some(err) = self.act(output) {
                    return Poll::Ready(Some(Err(err)));
                }
            }
            if self.outcome.is_some() || self.session.state() == SessionState::Closed {
                return Poll::Ready(None);
            }
            ready!(self.poll_io(cx));
        }
    }

    /// Acts on one output other than an event; returns the error that ended the stream.
    fn act(&mut self, output: Output) -> Option<Error> {
        match output {
            Output::Send { attempt, request } => self.send(attempt, &request),
            Output::DropConnection { attempt } => {
                if self.inflight.as_ref().is_some_and(|(a, _)| *a == attempt) {
                    self.inflight = None;
                }
                if self.body.as_ref().is_some_and(|(a, _)| *a == attempt) {
                    self.body = None;
                }
            }
            Output::Finished(Ok(message)) => {
                self.body = None;
                self.outcome = Some(Ok(Some(message)));
            }
            Output::Ended => {
                self.body = None;
                self.outcome = Some(Ok(None));
            }
            Output::Finished(Err(err)) => {
                self.body = None;
                self.outcome = Some(Err(err.clone()));
                return Some(Error::Stream(err));
            }
            _ => {}
        }
        None
    }

    fn send(&mut self, attempt: AttemptId, request: &Request) {
        let mut builder = http::Request::builder()
            .method(request.method)
            .uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        match builder.body(Full::new(request.body.clone())) {
            Ok(request) => self.inflight = Some((attempt, self.http.request(request))),
            Err(err) => {
                let now = self.now();
                self.session.handle_transport_error(
                    attempt,
                    now,
                    TransportErrorKind::Other,
                    &err.to_string(),
                );
            }
        }
    }

    /// Waits for the one thing the session needs: the response head, a frame of the body, or
    /// its next deadline. Ready once the session was told something.
    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(deadline) = self.session.poll_timeout() {
            let at = self.origin + deadline;
            if self.timer.deadline() != at {
                self.timer.as_mut().reset(at);
            }
            if self.timer.as_mut().poll(cx).is_ready() {
                let now = self.now().max(deadline);
                self.session.handle_timeout(now);
                return Poll::Ready(());
            }
        }
        if let Some((attempt, future)) = self.inflight.as_mut() {
            let attempt = *attempt;
            if let Poll::Ready(result) = Pin::new(future).poll(cx) {
                self.inflight = None;
                let now = self.now();
                match result {
                    Ok(response) => {
                        let (parts, body) = response.into_parts();
                        let headers: Vec<(String, Vec<u8>)> = parts
                            .headers
                            .iter()
                            .map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec()))
                            .collect();
                        self.body = Some((attempt, body));
                        self.session.handle_response_head(
                            attempt,
                            now,
                            parts.status.as_u16(),
                            headers,
                        );
                    }
                    Err(err) => {
                        let kind = request_error_kind(&err);
                        self.session
                            .handle_transport_error(attempt, now, kind, &error_chain(&err));
                    }
                }
                return Poll::Ready(());
            }
        }
        if let Some((attempt, body)) = self.body.as_mut() {
            let attempt = *attempt;
            if let Poll::Ready(frame) = Pin::new(body).poll_frame(cx) {
                let now = self.now();
                match frame {
                    Some(Ok(frame)) => {
                        // Trailers carry nothing the session needs.
                        if let Ok(data) = frame.into_data() {
                            self.session.handle_body(attempt, now, data);
                        }
                    }
                    Some(Err(err)) => {
                        self.body = None;
                        let kind = body_error_kind(&err);
                        self.session
                            .handle_transport_error(attempt, now, kind, &error_chain(&err));
                    }
                    None => {
                        self.body = None;
                        self.session.handle_end(attempt, now);
                    }
                }
                return Poll::Ready(());
            }
        }
        if self.inflight.is_none() && self.body.is_none() && self.session.poll_timeout().is_none() {
            // Nothing to read from and nothing to wait for: the exchange is gone.
            let now = self.now();
            self.session.close(now);
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// A seed for the backoff jitter (the core takes randomness as an input): the standard
/// library's per-process random hash keys.
fn jitter_seed() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// The error and its sources, as one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = inner.source();
    }
    text
}

/// The next link of an error chain. An `io::Error` wrapping another error hides it from
/// `source()` (which skips to the payload's own source), so look inside it first.
fn next_link<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    if let Some(payload) = err
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        return Some(payload);
    }
    err.source()
}

fn links<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |link: &&'a (dyn std::error::Error + 'static)| {
        next_link(*link)
    })
}

/// Whether a TLS error is anywhere in the chain.
fn is_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    links(err).any(|link| link.is::<rustls::Error>())
}

/// The kind of the first I/O error in the chain that says more than "other".
fn io_kind(err: &(dyn std::error::Error + 'static)) -> Option<TransportErrorKind> {
    use std::io::ErrorKind as K;
    links(err)
        .filter_map(|link| link.downcast_ref::<std::io::Error>())
        .find(|io| io.kind() != K::Other)
        .map(|io| match io.kind() {
            K::ConnectionRefused | K::TimedOut | K::AddrNotAvailable => TransportErrorKind::Connect,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                TransportErrorKind::Reset
            }
            _ => TransportErrorKind::Other,
        })
}

fn request_error_kind(err: &legacy::Error) -> TransportErrorKind {
    if is_tls(err) {
        TransportErrorKind::Tls
    } else if err.is_connect() {
        TransportErrorKind::Connect
    } else {
        // A request that was sent and got no head: the connection went away under it.
        io_kind(err).unwrap_or(TransportErrorKind::Reset)
    }
}

fn body_error_kind(err: &hyper::Error) -> TransportErrorKind {
    if is_tls(err) {
        TransportErrorKind::Tls
    } else {
        // Mid-body, every failure means the connection (or the HTTP/2 stream) is gone.
        TransportErrorKind::Reset
    }
}
