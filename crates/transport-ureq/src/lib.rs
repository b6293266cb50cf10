//! The blocking transport: streams Anthropic Messages responses over [`ureq`] 3, with TLS by
//! rustls (ring provider, webpki roots). It is a translation between ureq and the core: every
//! decision (retries, deadlines, errors, when the stream is done) is made by
//! [`stream_core::exchange`], and the stream types are the core's ([`stream_core::stream`]),
//! written once for both transports; this crate implements [`BlockingIo`] ([`UreqIo`]: send,
//! read once with the exchange's deadlines as socket timeouts, release) and reads the clock.
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
//!
//! # Proxies
//!
//! The proxy of each request is the core's decision ([`stream_core::proxy`]): the one set in
//! the [`ClientConfig`], or else `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` as
//! they are when the client is built. Requests go through an HTTP `CONNECT` tunnel, with basic
//! credentials when the proxy URL has them; ureq's own reading of the environment is off, so the two transports agree.
#![forbid(unsafe_code)]

use std::fmt;
use std::io::{self, Read};
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use stream_core::exchange::{self, Exchange};
/// The values and errors of a stream, from the core.
pub use stream_core::prelude::*;
use stream_core::session::AttemptId;
use stream_core::stream::{self, Blocking, BlockingIo, Connector};
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// A described, not yet started, stream ([`stream_core::stream::MessageStreamManager`]).
pub type MessageStreamManager = stream::MessageStreamManager<Blocking<UreqIo>>;
/// A started stream: an iterator of events ([`stream_core::stream::MessageStream`]).
pub type MessageStream = stream::MessageStream<Blocking<UreqIo>>;
/// The text deltas of a stream ([`stream_core::stream::TextStream`]).
pub type TextStream = stream::TextStream<Blocking<UreqIo>>;
/// A described, not yet started, raw SSE stream ([`stream_core::stream::SseStreamManager`]).
pub type SseStreamManager = stream::SseStreamManager<Blocking<UreqIo>>;
/// A started raw SSE stream: an iterator of events ([`stream_core::stream::SseStream`]).
pub type SseStream = stream::SseStream<Blocking<UreqIo>>;

/// The size of one read from the connection.
const READ_CHUNK: usize = 16 * 1024;

/// A blocking client: configuration plus a connection pool. Cheap to clone; clones share the
/// pool. It dereferences to the core's [`stream::Client`] for `config()`, `messages()` and
/// `sse(request)`.
#[derive(Clone, Debug)]
pub struct Client(stream::Client<UreqConnector>);

impl Deref for Client {
    type Target = stream::Client<UreqConnector>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// The Messages API of a [`Client`] ([`stream_core::stream::Messages`]).
pub type Messages<'a> = stream::Messages<'a, UreqConnector>;

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

    fn build(config: ClientConfig, roots: RootCerts) -> Self {
        // The other deadlines are the exchange's, set on each request as it is sent.
        // The proxy of each request is the core's decision (ureq's own reading of the
        // environment is off).
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_connect(Some(config.timeouts.connect))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build()
            .into();
        let proxies = Arc::new(config.proxies_or(|name| std::env::var(name).ok()));
        Self(stream::Client::with_connector(
            config,
            UreqConnector { agent, proxies },
        ))
    }
}

/// The ureq agent (its connection pool) of a [`Client`]. Users never name it.
#[derive(Clone, Debug)]
pub struct UreqConnector {
    agent: ureq::Agent,
    proxies: Arc<Proxies>,
}

impl Connector for UreqConnector {
    type Mode = Blocking<UreqIo>;

    fn io(&self) -> Blocking<UreqIo> {
        Blocking(UreqIo {
            agent: self.agent.clone(),
            proxies: Arc::clone(&self.proxies),
            origin: Instant::now(),
            reader: None,
        })
    }
}

/// The ureq side of a stream: the agent, the clock and the open body. Users never name it.
pub struct UreqIo {
    agent: ureq::Agent,
    proxies: Arc<Proxies>,
    origin: Instant,
    reader: Option<(AttemptId, ureq::BodyReader<'static>)>,
}

impl fmt::Debug for UreqIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UreqIo").finish_non_exhaustive()
    }
}

impl BlockingIo for UreqIo {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn unix_time(&self) -> Option<Duration> {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
    }

    fn send(&mut self, exchange: &mut Exchange, attempt: AttemptId, request: &Request) {
        let now = self.now();
        let proxy = match self
            .proxies
            .for_url(&request.url)
            .map(ureq_proxy)
            .transpose()
        {
            Ok(proxy) => proxy,
            Err(err) => {
                let kind = TransportErrorKind::Connect;
                return exchange.handle_transport_error(attempt, now, kind, &err.to_string());
            }
        };
        let request = match request.to_http() {
            Ok(request) => request,
            Err(err) => {
                let kind = TransportErrorKind::Other;
                return exchange.handle_transport_error(attempt, now, kind, &err.to_string());
            }
        };
        // The exchange's deadlines as ureq's timeouts for this request alone.
        let left = exchange.remaining(now);
        let request = self
            .agent
            .configure_request(request.map(|body| body.to_vec()))
            .timeout_recv_response(Some(left.response_head))
            .timeout_per_read(Some(left.idle))
            .timeout_global(left.total)
            .proxy(proxy)
            .build();
        let result = self.agent.run(request);
        let now = self.now();
        match result {
            Ok(response) => {
                let (parts, body) = response.into_parts();
                self.reader = Some((attempt, body.into_reader()));
                exchange.handle_http_head(attempt, now, &parts);
            }
            Err(ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve)) => {
                let kind = TransportErrorKind::Connect;
                exchange.handle_transport_error(attempt, now, kind, "connect timed out");
            }
            Err(ureq::Error::Timeout(_)) => exchange.handle_deadline(now),
            Err(err) => {
                let kind = ureq_kind(&err);
                exchange.handle_transport_error(attempt, now, kind, &err.to_string());
            }
        }
    }

    /// Reads one chunk of the body (bounded by the request's timeouts), or, between attempts,
    /// sleeps until the deadline.
    fn wait(&mut self, exchange: &mut Exchange, deadline: Option<Duration>) -> bool {
        let Some((attempt, reader)) = self.reader.as_mut() else {
            let Some(deadline) = deadline else {
                return false;
            };
            std::thread::sleep(deadline.saturating_sub(self.now()));
            exchange.handle_deadline(self.now());
            return true;
        };
        let attempt = *attempt;
        let mut buf = vec![0u8; READ_CHUNK];
        let result = reader.read(&mut buf);
        let now = self.now();
        match result {
            Ok(0) => exchange.handle_end(attempt, now),
            Ok(n) => {
                buf.truncate(n);
                exchange.handle_body(attempt, now, Bytes::from(buf));
            }
            Err(err) => {
                self.reader = None;
                if timed_out(&err) {
                    exchange.handle_deadline(now);
                } else {
                    let kind =
                        exchange::classify(&err, is_tls).unwrap_or(TransportErrorKind::Other);
                    exchange.handle_transport_error(attempt, now, kind, &err.to_string());
                }
            }
        }
        true
    }

    fn release(&mut self, attempt: Option<AttemptId>) {
        self.reader
            .take_if(|(a, _)| attempt.is_none_or(|attempt| *a == attempt));
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

/// The core's proxy as ureq's (a `CONNECT` proxy).
fn ureq_proxy(proxy: &Proxy) -> Result<ureq::Proxy, ureq::Error> {
    // ureq writes `http://{host}:{port}`: an IPv6 host needs its brackets.
    let host = if proxy.host().contains(':') {
        format!("[{}]", proxy.host())
    } else {
        proxy.host().to_owned()
    };
    let mut builder = ureq::Proxy::builder(ureq::ProxyProtocol::Http)
        .host(&host)
        .port(proxy.port());
    if let Some((user, password)) = proxy.credentials() {
        builder = builder.username(user).password(password);
    }
    builder.build()
}

fn ureq_kind(err: &ureq::Error) -> TransportErrorKind {
    match err {
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::ConnectProxyFailed(_) => TransportErrorKind::Connect,
        ureq::Error::Io(io) => exchange::classify(io, is_tls).unwrap_or(TransportErrorKind::Other),
        _ => exchange::classify(err, is_tls).unwrap_or(TransportErrorKind::Other),
    }
}
