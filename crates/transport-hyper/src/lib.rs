//! The async transport: streams Anthropic Messages responses over hyper 1 on tokio, with TLS
//! by rustls (ring provider, webpki roots), HTTP/1.1 and HTTP/2 (negotiated by ALPN, so many
//! streams can share one connection) and a pooled client. It is a translation between hyper
//! and the core: every decision (retries, deadlines, errors, when the stream is done) is made
//! by [`stream_core::exchange`], and the stream types are the core's
//! ([`stream_core::stream`]), written once for both transports; this crate implements
//! [`AsyncIo`] ([`HyperIo`]: send, poll the connection and a timer, release), reads the clock
//! and builds the connection pool.
//!
//! # Enter and exit
//!
//! Building a stream does nothing; [`MessageStreamManager::enter`] sends the request (retrying
//! inside as the session decides) and resolves to the stream once the response head is in, or
//! to the typed error of the head. Dropping the [`MessageStream`], calling
//! [`close`](MessageStream::close), leaving [`MessageStreamManager::with`] by any path
//! (return, `?`, panic), or dropping the future of `enter` or `with` at any await point (a
//! `tokio::select!`, a timeout, an aborted task) closes the connection promptly (a dropped
//! `next` or `final_message` future loses nothing and the stream stays usable): an unfinished
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
//! core's ([`stream_core::exchange`]): [`HyperIo`] keeps one tokio timer set to the deadline of
//! each wait, polls the connection first and the timer second, and reports `handle_deadline`
//! when the timer fires. Idle time counts only
//! while the consumer waits for the next event: a consumer that pauses (to run a tool, say)
//! for longer than the idle deadline loses nothing.
//!
//! # What a stream shows
//!
//! [`MessageStream`] and [`SseStream`] dereference to the core's [`Exchange`]: `request_id()`,
//! `status()`, `headers()`, `current_snapshot()`, `tool_input_snapshot(index)`,
//! `helper(&event)`, `attempts()` have one definition, the same for the blocking transport.
//!
//! # What each failure becomes
//!
//! The same as the blocking transport (see its crate docs): one [`Error`] type, with every
//! failure of the exchange an [`Error::Stream`] carrying its kind, the request id and the
//! partial message.
//!
//! # Proxies
//!
//! The proxy of each request is the core's decision ([`stream_core::proxy`]): the one set in
//! the [`ClientConfig`], or else `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` as
//! they are when the client is built. Requests go through an HTTP `CONNECT` tunnel, with basic
//! credentials when the proxy URL has them; the same as the blocking transport.
#![forbid(unsafe_code)]

mod proxy;

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::Body as _;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{self, ResponseFuture, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use stream_core::exchange::{self, Exchange};
use stream_core::session::AttemptId;
use stream_core::stream::{self, Async, AsyncIo, Connector};
use tokio::time::{Instant, Sleep};

use crate::proxy::ProxyConnector;

/// The values and errors of a stream, from the core.
pub use stream_core::prelude::*;

/// A described, not yet started, stream ([`stream_core::stream::MessageStreamManager`]).
pub type MessageStreamManager = stream::MessageStreamManager<Async<HyperIo>>;
/// A started stream: events through an async `next` and `futures_core::Stream`
/// ([`stream_core::stream::MessageStream`]).
pub type MessageStream = stream::MessageStream<Async<HyperIo>>;
/// The text deltas of a stream ([`stream_core::stream::TextStream`]).
pub type TextStream = stream::TextStream<Async<HyperIo>>;
/// A described, not yet started, raw SSE stream ([`stream_core::stream::SseStreamManager`]).
pub type SseStreamManager = stream::SseStreamManager<Async<HyperIo>>;
/// A started raw SSE stream ([`stream_core::stream::SseStream`]).
pub type SseStream = stream::SseStream<Async<HyperIo>>;

type HttpClient = legacy::Client<HttpsConnector<ProxyConnector>, Full<Bytes>>;

/// An async client: configuration plus a connection pool (HTTP/1.1 connections reused, HTTP/2
/// connections shared). Cheap to clone; clones share the pool.
/// It dereferences to the core's [`stream::Client`] for `config()`, `messages()` and
/// `sse(request)`.
#[derive(Clone, Debug)]
pub struct Client(stream::Client<HyperConnector>);

impl Deref for Client {
    type Target = stream::Client<HyperConnector>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// The Messages API of a [`Client`] ([`stream_core::stream::Messages`]).
pub type Messages<'a> = stream::Messages<'a, HyperConnector>;

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
        let proxies = Arc::new(self.config.proxies_or(|name| std::env::var(name).ok()));
        let http = ProxyConnector {
            direct: http,
            proxies,
        };
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
        Client(stream::Client::with_connector(
            self.config,
            HyperConnector { http },
        ))
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

    /// A client from the environment ([`ClientConfig::from_lookup`] over the process's
    /// variables).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] ([`ConfigError::MissingCredentials`]) without a credential.
    pub fn from_env() -> Result<Self, Error> {
        Ok(Self::new(ClientConfig::from_lookup(|name| {
            std::env::var(name).ok()
        })?))
    }
}

/// The hyper client (its connection pool) of a [`Client`]. Users never name it.
#[derive(Clone, Debug)]
pub struct HyperConnector {
    http: HttpClient,
}

impl Connector for HyperConnector {
    type Mode = Async<HyperIo>;

    fn io(&self) -> Async<HyperIo> {
        Async(HyperIo {
            http: self.http.clone(),
            origin: Instant::now(),
            inflight: None,
            body: None,
            timer: None,
        })
    }
}

/// The hyper side of a stream: at most one request future and one response body, and the
/// timer. Dropping it drops both, which closes the connection (or resets the HTTP/2 stream).
/// Users never name it.
pub struct HyperIo {
    http: HttpClient,
    origin: Instant,
    inflight: Option<(AttemptId, ResponseFuture)>,
    body: Option<(AttemptId, Incoming)>,
    /// Made at the first wait (a tokio timer needs the runtime).
    timer: Option<Pin<Box<Sleep>>>,
}

impl fmt::Debug for HyperIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperIo").finish_non_exhaustive()
    }
}

impl AsyncIo for HyperIo {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn unix_time(&self) -> Option<Duration> {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
    }

    fn send(&mut self, exchange: &mut Exchange, attempt: AttemptId, request: &Request) {
        match request.to_http() {
            Ok(request) => {
                let request = self.http.request(request.map(Full::new));
                self.inflight = Some((attempt, request));
            }
            Err(err) => {
                let kind = TransportErrorKind::Other;
                exchange.handle_transport_error(attempt, self.now(), kind, &err.to_string());
            }
        }
    }

    /// Polls the connection (the head, or the next frame of the body), then the timer.
    fn poll_wait(
        &mut self,
        cx: &mut Context<'_>,
        exchange: &mut Exchange,
        deadline: Option<Duration>,
    ) -> Poll<bool> {
        if let Some((attempt, future)) = self.inflight.as_mut() {
            let attempt = *attempt;
            if let Poll::Ready(result) = Pin::new(future).poll(cx) {
                self.inflight = None;
                let now = self.now();
                match result {
                    Ok(response) => {
                        let (head, body) = response.into_parts();
                        self.body = Some((attempt, body));
                        exchange.handle_http_head(attempt, now, &head);
                    }
                    Err(err) => {
                        let kind = request_error_kind(&err);
                        exchange.handle_transport_error(attempt, now, kind, &error_chain(&err));
                    }
                }
                return Poll::Ready(true);
            }
        } else if let Some((attempt, body)) = self.body.as_mut() {
            let attempt = *attempt;
            if let Poll::Ready(frame) = Pin::new(body).poll_frame(cx) {
                let now = self.now();
                match frame {
                    // Trailers carry nothing the exchange needs.
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            exchange.handle_body(attempt, now, data);
                        }
                    }
                    Some(Err(err)) => {
                        self.body = None;
                        // By hyper's contract a body error is the connection (or the HTTP/2
                        // stream) failing mid-message: a reset, unless the chain says more.
                        let kind = exchange::classify(&err, is_rustls)
                            .unwrap_or(TransportErrorKind::Reset);
                        exchange.handle_transport_error(attempt, now, kind, &error_chain(&err));
                    }
                    None => {
                        self.body = None;
                        exchange.handle_end(attempt, now);
                    }
                }
                return Poll::Ready(true);
            }
        }
        let Some(deadline) = deadline else {
            // With a connection, wait for it; with none, the exchange has no way on.
            let open = self.inflight.is_some() || self.body.is_some();
            return if open {
                Poll::Pending
            } else {
                Poll::Ready(false)
            };
        };
        let at = self.origin + deadline;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if timer.deadline() != at {
            timer.as_mut().reset(at);
        }
        ready!(timer.as_mut().poll(cx));
        exchange.handle_deadline(self.now());
        Poll::Ready(true)
    }

    fn release(&mut self, attempt: Option<AttemptId>) {
        let this = |a: AttemptId| attempt.is_none_or(|attempt| a == attempt);
        self.inflight.take_if(|(a, _)| this(*a));
        self.body.take_if(|(a, _)| this(*a));
    }
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
