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
//! core's ([`stream_core::exchange`]): the driver keeps one tokio timer set to the deadline of
//! each [`Step::Wait`], polls the connection first and the
//! timer second, and reports `handle_deadline` when the timer fires. Idle time counts only
//! while the consumer waits for the next event: a consumer that pauses (to run a tool, say)
//! for longer than the idle deadline loses nothing.
//!
//! # What a stream shows
//!
//! [`MessageStream`] and [`SseStream`] dereference to the core's
//! [`Exchange`]: `request_id()`, `status()`, `headers()`,
//! `current_snapshot()`, `tool_input_snapshot(index)`, `attempts()` have one definition, the
//! same for the blocking transport.
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
use std::ops::Deref;
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
use stream_core::exchange::{self, Exchange, Step, Until};
use stream_core::session::{AttemptId, Session};
use tokio::time::{Instant, Sleep};

pub use stream_core::Error;
pub use stream_core::messages::{ContentBlock, Delta, Message, StreamEvent};
pub use stream_core::request::{
    BlockParam, ClientConfig, ConfigError, MessageParam, MessageParams, ParamsError, Request,
    RequestOptions, RetryPolicy, Timeouts,
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

    /// A raw SSE stream from any endpoint: `request` (a [`Request`], or an `http::Request`
    /// with any method) is sent as it is, with this client's deadlines, retry policy and TLS
    /// roots, and the same enter/exit semantics as a Messages stream. Nothing is sent until
    /// [`SseStreamManager::enter`].
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
    pub fn sse(&self, request: impl Into<Request>) -> SseStreamManager {
        SseStreamManager {
            client: self.clone(),
            session: Session::raw(&self.config, request.into()),
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

impl Stream for MessageStream {
    type Item = Result<StreamEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return Poll::Ready(match ready!(self.driver.poll(cx, Until::Item)) {
                Step::Event(event) => Some(Ok(event)),
                Step::Error(error) => Some(Err(Error::Stream(error))),
                Step::End => None,
                _ => continue,
            });
        }
    }
}

impl MessageStream {
    /// The next event, or `None` at the end. Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, Error>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
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
        while self.next().await.is_some() {}
        self.driver.exchange.result()
    }

    /// Reads the rest of the stream and returns the final message.
    ///
    /// # Errors
    ///
    /// The error that ended the stream (a truncated stream included), with the partial
    /// message; [`Error::Caller`] if the final message was already taken.
    pub async fn final_message(&mut self) -> Result<Message, Error> {
        self.until_done().await?;
        self.driver.exchange.take_final_message()
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
            return Poll::Ready(match ready!(Pin::new(&mut self.stream).poll_next(cx)) {
                Some(Ok(StreamEvent::ContentBlockDelta {
                    delta: Delta::Text(text),
                    ..
                })) => Some(Ok(text)),
                Some(Ok(_)) => continue,
                other => other.map(|item| item.map(|_| String::new())),
            });
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

/// A started raw SSE stream. Dropping it closes the connection. It dereferences to the core's
/// [`Exchange`] for `status()` and `headers()`.
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

impl Stream for SseStream {
    type Item = Result<SseEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return Poll::Ready(match ready!(self.driver.poll(cx, Until::Item)) {
                Step::Sse(event) => Some(Ok(event)),
                Step::Error(error) => Some(Err(Error::Stream(error))),
                Step::End => None,
                _ => continue,
            });
        }
    }
}

impl SseStream {
    /// The next event, or `None` at the end. Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<SseEvent, Error>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Closes the connection now (the same as dropping the stream).
    pub fn close(self) {
        drop(self);
    }
}

/// The translation between hyper and an [`Exchange`]: it owns at most one request future and
/// one response body; dropping it drops both, which closes the connection (or resets the
/// HTTP/2 stream).
struct Driver {
    http: HttpClient,
    exchange: Exchange,
    origin: Instant,
    inflight: Option<(AttemptId, ResponseFuture)>,
    body: Option<(AttemptId, Incoming)>,
    timer: Pin<Box<Sleep>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let now = self.now();
        self.exchange.close(now);
    }
}

impl Driver {
    /// Starts the exchange and drives it to the response head.
    async fn enter(http: HttpClient, session: Session) -> Result<Self, Error> {
        let origin = Instant::now();
        let mut driver = Self {
            http,
            exchange: Exchange::new(session.with_jitter_seed(jitter_seed())),
            origin,
            inflight: None,
            body: None,
            timer: Box::pin(tokio::time::sleep_until(origin)),
        };
        // A fresh session is deferred: entering cannot fail.
        let _ = driver.exchange.enter(Duration::ZERO);
        match poll_fn(|cx| driver.poll(cx, Until::Head)).await {
            Step::Error(error) => Err(Error::Stream(error)),
            _ => Ok(driver),
        }
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Acts on the exchange's steps until one is for the caller.
    fn poll(&mut self, cx: &mut Context<'_>, until: Until) -> Poll<Step> {
        loop {
            match self.exchange.poll(self.now(), until) {
                Step::Send { attempt, request } => self.send(attempt, &request),
                Step::Drop { attempt } => {
                    self.inflight.take_if(|(a, _)| *a == attempt);
                    self.body.take_if(|(a, _)| *a == attempt);
                }
                Step::Wait { deadline } => ready!(self.poll_io(cx, deadline)),
                step => {
                    if matches!(step, Step::End | Step::Error(_)) {
                        self.inflight = None;
                        self.body = None;
                    }
                    return Poll::Ready(step);
                }
            }
        }
    }

    fn send(&mut self, attempt: AttemptId, request: &Request) {
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(request.url.as_str());
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        match builder.body(Full::new(request.body.clone())) {
            Ok(request) => self.inflight = Some((attempt, self.http.request(request))),
            Err(err) => {
                let now = self.now();
                self.exchange.handle_transport_error(
                    attempt,
                    now,
                    TransportErrorKind::Other,
                    &err.to_string(),
                );
            }
        }
    }

    /// Waits for the connection (the head, or the next frame of the body), then for the
    /// deadline. Ready once the exchange was told something.
    fn poll_io(&mut self, cx: &mut Context<'_>, deadline: Option<Duration>) -> Poll<()> {
        if let Some((attempt, future)) = self.inflight.as_mut() {
            let attempt = *attempt;
            if let Poll::Ready(result) = Pin::new(future).poll(cx) {
                self.inflight = None;
                let now = self.now();
                match result {
                    Ok(response) => {
                        let (parts, body) = response.into_parts();
                        self.body = Some((attempt, body));
                        let headers = parts
                            .headers
                            .iter()
                            .map(|(n, v)| (n.as_str(), v.as_bytes()));
                        let status = parts.status.as_u16();
                        self.exchange
                            .handle_response_head(attempt, now, status, headers);
                    }
                    Err(err) => {
                        let kind = request_error_kind(&err);
                        self.exchange.handle_transport_error(
                            attempt,
                            now,
                            kind,
                            &error_chain(&err),
                        );
                    }
                }
                return Poll::Ready(());
            }
        } else if let Some((attempt, body)) = self.body.as_mut() {
            let attempt = *attempt;
            if let Poll::Ready(frame) = Pin::new(body).poll_frame(cx) {
                let now = self.now();
                match frame {
                    // Trailers carry nothing the exchange needs.
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            self.exchange.handle_body(attempt, now, data);
                        }
                    }
                    Some(Err(err)) => {
                        self.body = None;
                        let kind = body_error_kind(&err);
                        self.exchange.handle_transport_error(
                            attempt,
                            now,
                            kind,
                            &error_chain(&err),
                        );
                    }
                    None => {
                        self.body = None;
                        self.exchange.handle_end(attempt, now);
                    }
                }
                return Poll::Ready(());
            }
        }
        let Some(deadline) = deadline else {
            if self.inflight.is_none() && self.body.is_none() {
                // Nothing to read and nothing to wait for: the exchange has no way on.
                let now = self.now();
                self.exchange.close(now);
                return Poll::Ready(());
            }
            return Poll::Pending;
        };
        let at = self.origin + deadline;
        if self.timer.deadline() != at {
            self.timer.as_mut().reset(at);
        }
        ready!(self.timer.as_mut().poll(cx));
        let now = self.now();
        self.exchange.handle_deadline(now);
        Poll::Ready(())
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

fn is_rustls(err: &(dyn std::error::Error + 'static)) -> bool {
    err.is::<rustls::Error>()
}

fn request_error_kind(err: &legacy::Error) -> TransportErrorKind {
    let hyper_error =
        std::iter::successors(Some(err as &(dyn std::error::Error + 'static)), |link| {
            link.source()
        })
        .find_map(|link| link.downcast_ref::<hyper::Error>());
    match exchange::classify(err, is_rustls) {
        Some(kind) => kind,
        None if err.is_connect() => TransportErrorKind::Connect,
        // Sent, and hyper says the connection closed or was cut before the head.
        None if hyper_error
            .is_some_and(|e| e.is_incomplete_message() || e.is_closed() || e.is_canceled()) =>
        {
            TransportErrorKind::Reset
        }
        None => TransportErrorKind::Other,
    }
}

fn body_error_kind(err: &hyper::Error) -> TransportErrorKind {
    // A body error is, by hyper's contract, the connection (or the HTTP/2 stream) failing
    // mid-message: a reset, unless the chain says TLS or a more precise I/O kind.
    exchange::classify(err, is_rustls).unwrap_or(TransportErrorKind::Reset)
}
