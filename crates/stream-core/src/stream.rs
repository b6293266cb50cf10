//! The stream API of both transports, written once: the deferred stream ("manager"), the
//! started stream, its text deltas, and the raw SSE stream, over an [`Exchange`] and a
//! transport's IO.
//!
//! A transport implements one small trait, [`BlockingIo`] or [`AsyncIo`]: read its clock,
//! send a request, wait once for its connection (or until a deadline), release a connection.
//! Everything else is here, the same for every transport: the loop that acts on the
//! exchange's [`Step`]s, entering, the iterator or `Stream` of events, the final message, the
//! text deltas, closing on drop. The `hyper` and `ureq` transports name these types with their
//! IO (`transport_hyper::MessageStream` is `MessageStream<Async<HyperIo>>`), so their users
//! never write the parameters.
//!
//! [`Replay`] is an IO of this crate: it answers requests from recorded responses, on a
//! clock of its own, so a stream can be driven with no network (tests, examples, fuzzing).
//!
//! ```
//! use stream_core::accumulate::Derived;
//! use stream_core::request::{ClientConfig, MessageParam, MessageParams};
//! use stream_core::stream::{Blocking, MessageStreamManager, Replay};
//!
//! let body = concat!(
//!     "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",",
//!     "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],",
//!     "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n",
//!     "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,",
//!     "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
//!     "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,",
//!     "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello!\"}}\n\n",
//!     "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
//!     "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
//! );
//! let io = Replay::new().sse(body);
//! let params = MessageParams::new("m", 64).message(MessageParam::user("Hi"));
//! let manager = MessageStreamManager::new(&ClientConfig::new(), &params, Blocking(io));
//! let mut stream = manager.enter()?;            // the request goes out here
//! let mut seen = Vec::new();
//! while let Some(event) = stream.next() {
//!     if let Some(Derived::Text { delta, snapshot, .. }) = stream.helper(&event?) {
//!         seen.push(format!("{delta} ({snapshot} so far)"));
//!     }
//! }
//! assert_eq!(seen, ["Hello! (Hello! so far)"]);
//! assert_eq!(stream.final_text()?, "Hello!");
//! # Ok::<(), stream_core::Error>(())
//! ```

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::future::poll_fn;
use core::ops::Deref;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use core::time::Duration;

use bytes::Bytes;

use crate::Error;
use crate::exchange::{Exchange, Step, Until};
use crate::messages::{Delta, Message, StreamEvent};
use crate::request::{ClientConfig, MessageParams, ParamsError, Request, RequestOptions};
use crate::session::{AttemptId, Reconnect, Session, TransportErrorKind};
use crate::sse;

/// The IO of a blocking transport. [`Blocking`] drives an exchange with it.
///
/// An implementation keeps at most one open connection (the attempt's), and never a deadline
/// of its own: every wait is bounded by the deadline it is given.
pub trait BlockingIo {
    /// The transport's monotonic clock: the time since any fixed origin.
    fn now(&self) -> Duration;

    /// The wall-clock time (since the UNIX epoch), for authorizers that sign each attempt
    /// with it ([`Session::set_wall_clock`]); `None` (the default) for an IO without one.
    fn unix_time(&self) -> Option<Duration> {
        None
    }

    /// Sends `request` for `attempt`. A transport that blocks until the response head reports
    /// it (or the failure) to `exchange` here; one that does not, from [`wait`](Self::wait).
    fn send(&mut self, exchange: &mut Exchange, attempt: AttemptId, request: &Request);

    /// Waits once, no later than `deadline`: for the open connection (then reports its head,
    /// bytes, end or failure to `exchange`), or, with none open, until `deadline` (then
    /// reports [`Exchange::handle_deadline`]); a wait that reaches `deadline` with nothing from
    /// the peer reports `handle_deadline` too. Returns `false` when there is nothing to wait
    /// for: no connection and no deadline.
    fn wait(&mut self, exchange: &mut Exchange, deadline: Option<Duration>) -> bool;

    /// Closes the connection of `attempt` (any connection, for `None`) without reading more.
    fn release(&mut self, attempt: Option<AttemptId>);
}

/// The IO of an async transport. [`Async`] drives an exchange with it.
///
/// As [`BlockingIo`], with a poll for the wait. The IO registers `cx`'s waker with its
/// connection and with a timer set to the deadline, and polls the connection first.
pub trait AsyncIo: Unpin {
    /// The transport's monotonic clock: the time since any fixed origin.
    fn now(&self) -> Duration;

    /// As [`BlockingIo::unix_time`].
    fn unix_time(&self) -> Option<Duration> {
        None
    }

    /// Starts sending `request` for `attempt`; its head is reported from
    /// [`poll_wait`](Self::poll_wait).
    fn send(&mut self, exchange: &mut Exchange, attempt: AttemptId, request: &Request);

    /// As [`BlockingIo::wait`]: `Ready(true)` once something was reported to `exchange`,
    /// `Ready(false)` when there is nothing to wait for.
    fn poll_wait(
        &mut self,
        cx: &mut Context<'_>,
        exchange: &mut Exchange,
        deadline: Option<Duration>,
    ) -> Poll<bool>;

    /// Closes the connection of `attempt` (any connection, for `None`) without reading more.
    fn release(&mut self, attempt: Option<AttemptId>);
}

mod sealed {
    pub trait Sealed {}
}

/// A blocking transport's side of a stream: its [`BlockingIo`]. Streams with it are
/// `Iterator`s.
#[derive(Debug)]
pub struct Blocking<I>(pub I);

/// An async transport's side of a stream: its [`AsyncIo`]. Streams with it are
/// `futures_core::Stream`s with an async `next`.
#[derive(Debug)]
pub struct Async<I>(pub I);

/// [`Blocking`] or [`Async`]: the kind of IO a stream is driven by. The stream types are
/// generic over it; the methods of each kind are on `MessageStream<Blocking<I>>` and
/// `MessageStream<Async<I>>`.
pub trait Mode: sealed::Sealed {
    /// The IO's clock.
    fn now(&self) -> Duration;
    /// The IO's wall clock, if it has one.
    fn unix_time(&self) -> Option<Duration>;
}

impl<I: BlockingIo> sealed::Sealed for Blocking<I> {}
impl<I: AsyncIo> sealed::Sealed for Async<I> {}

impl<I: BlockingIo> Mode for Blocking<I> {
    fn now(&self) -> Duration {
        self.0.now()
    }
    fn unix_time(&self) -> Option<Duration> {
        self.0.unix_time()
    }
}

impl<I: AsyncIo> Mode for Async<I> {
    fn now(&self) -> Duration {
        self.0.now()
    }
    fn unix_time(&self) -> Option<Duration> {
        self.0.unix_time()
    }
}

/// An exchange and the IO that drives it. Dropping it ends the exchange and drops the IO
/// (which closes its connection).
struct Driver<M: Mode> {
    exchange: Exchange,
    mode: M,
}

impl<M: Mode> Drop for Driver<M> {
    fn drop(&mut self) {
        self.exchange.close(self.mode.now());
    }
}

impl<M: Mode> Driver<M> {
    /// Starts the exchange of `session`.
    fn new(mode: M, mut session: Session) -> Self {
        let now = mode.now();
        if let Some(unix_time) = mode.unix_time() {
            session.set_wall_clock(now, unix_time);
        }
        let mut exchange = Exchange::new(seeded(session));
        // A fresh session is deferred: entering cannot fail.
        let _ = exchange.enter(now);
        Self { exchange, mode }
    }
}

/// What both drivers do with a step the caller does not see: `Some(step)` when it is the
/// caller's (and, at the end, the IO's connections released).
fn settle(step: Step, release: impl FnOnce(Option<AttemptId>)) -> Option<Step> {
    match step {
        Step::Drop { attempt } => release(Some(attempt)),
        Step::End | Step::Error(_) => {
            release(None);
            return Some(step);
        }
        step => return Some(step),
    }
    None
}

impl<I: BlockingIo> Driver<Blocking<I>> {
    /// Acts on the exchange's steps until one is for the caller.
    fn step(&mut self, until: Until) -> Step {
        let io = &mut self.mode.0;
        loop {
            let step = match self.exchange.poll(io.now(), until) {
                Step::Send { attempt, request } => {
                    io.send(&mut self.exchange, attempt, &request);
                    continue;
                }
                Step::Wait { deadline } => {
                    if !io.wait(&mut self.exchange, deadline) {
                        self.exchange.close(io.now());
                    }
                    continue;
                }
                step => step,
            };
            if let Some(step) = settle(step, |attempt| io.release(attempt)) {
                return step;
            }
        }
    }

    /// Starts the exchange and drives it to the response head.
    fn start(io: Blocking<I>, session: Session) -> Result<Self, Error> {
        let mut driver = Self::new(io, session);
        match driver.step(Until::Head) {
            Step::Error(error) => Err(Error::Stream(error)),
            _ => Ok(driver),
        }
    }
}

impl<I: AsyncIo> Driver<Async<I>> {
    /// Acts on the exchange's steps until one is for the caller.
    fn poll_step(&mut self, cx: &mut Context<'_>, until: Until) -> Poll<Step> {
        let io = &mut self.mode.0;
        loop {
            let step = match self.exchange.poll(io.now(), until) {
                Step::Send { attempt, request } => {
                    io.send(&mut self.exchange, attempt, &request);
                    continue;
                }
                Step::Wait { deadline } => {
                    if !ready!(io.poll_wait(cx, &mut self.exchange, deadline)) {
                        self.exchange.close(io.now());
                    }
                    continue;
                }
                step => step,
            };
            if let Some(step) = settle(step, |attempt| io.release(attempt)) {
                return Poll::Ready(step);
            }
        }
    }

    /// Starts the exchange and drives it to the response head.
    async fn start(io: Async<I>, session: Session) -> Result<Self, Error> {
        let mut driver = Self::new(io, session);
        match poll_fn(|cx| driver.poll_step(cx, Until::Head)).await {
            Step::Error(error) => Err(Error::Stream(error)),
            _ => Ok(driver),
        }
    }
}

/// The session with a random seed for its backoff jitter (with `std`: the standard library's
/// per-process random hash keys; without, the session's fixed seed).
fn seeded(session: Session) -> Session {
    #[cfg(feature = "std")]
    {
        use core::hash::{BuildHasher, Hasher};
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        session.with_jitter_seed(seed)
    }
    #[cfg(not(feature = "std"))]
    session
}

/// What a transport gives a [`Client`]: its connection pool, and the IO of one stream over
/// it.
pub trait Connector {
    /// The IO of one stream: [`Blocking`] or [`Async`].
    type Mode;
    /// The IO of a new stream over the pool. It does no IO: nothing is sent until `enter`.
    fn io(&self) -> Self::Mode;
}

/// A client: a configuration and a transport's connection pool ([`Connector`]). Cheap to
/// clone; clones share the pool. The transports wrap it in their `Client`, which adds the
/// constructors and dereferences to it.
///
/// ```
/// use stream_core::request::{ClientConfig, MessageParam, MessageParams, Request};
/// use stream_core::stream::{Blocking, Client, Connector, Replay};
///
/// /// Every stream replays the same recorded feed.
/// #[derive(Clone)]
/// struct Recorded(&'static str);
///
/// impl Connector for Recorded {
///     type Mode = Blocking<Replay>;
///     fn io(&self) -> Blocking<Replay> {
///         Blocking(Replay::new().sse(self.0))
///     }
/// }
///
/// let client = Client::with_connector(ClientConfig::new(), Recorded("data: a\n\ndata: b\n\n"));
/// let feed = client.sse(Request::new("GET", "http://feed.test/")).enter()?;
/// assert_eq!(feed.count(), 2);
/// # Ok::<(), stream_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Client<C> {
    config: Arc<ClientConfig>,
    connector: C,
}

impl<C> fmt::Debug for Client<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<C: Connector> Client<C> {
    /// A client with this configuration over `connector`.
    pub fn with_connector(config: ClientConfig, connector: C) -> Self {
        Self {
            config: Arc::new(config),
            connector,
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The connector (the transport's connection pool).
    #[must_use]
    pub fn connector(&self) -> &C {
        &self.connector
    }

    /// The Messages API.
    #[must_use]
    pub fn messages(&self) -> Messages<'_, C> {
        Messages { client: self }
    }

    /// A raw SSE stream from any endpoint (an OpenAI-style stream, a notification feed):
    /// `request` (a [`Request`], or an `http::Request` with any method) is sent as it is,
    /// with this client's deadlines, retry policy and TLS roots, and the same enter/exit
    /// semantics as a Messages stream. Nothing is sent until `enter`.
    pub fn sse(&self, request: impl Into<Request>) -> SseStreamManager<C::Mode> {
        SseStreamManager::new(&self.config, request.into(), self.connector.io())
    }
}

/// The Messages API of a [`Client`].
#[derive(Debug)]
pub struct Messages<'a, C> {
    client: &'a Client<C>,
}

impl<C: Connector> Messages<'_, C> {
    /// Describes a streaming request. Nothing is sent until `enter` (or `with`); parameters
    /// that cannot be sent are reported there.
    // Taken by value so that the call reads as in the official SDKs: `stream(params)`.
    #[allow(clippy::needless_pass_by_value)]
    pub fn stream(&self, params: MessageParams) -> MessageStreamManager<C::Mode> {
        let client = self.client;
        MessageStreamManager::new(&client.config, &params, client.connector.io())
    }
}

/// A described, not yet started, Messages stream: building it does no IO;
/// [`enter`](MessageStreamManager::enter) (or `with`) sends the request.
#[must_use = "nothing is sent until `enter` or `with`"]
pub struct MessageStreamManager<M> {
    mode: M,
    session: Result<Session, ParamsError>,
}

/// A described, not yet started, raw SSE stream: `request` is sent as it was given.
#[must_use = "nothing is sent until `enter` or `with`"]
pub struct SseStreamManager<M> {
    mode: M,
    session: Session,
}

impl<M> MessageStreamManager<M> {
    /// Describes a Messages request with `config` and `params`, to be sent through `io`
    /// ([`Blocking`] or [`Async`]). Parameters that cannot be sent are reported by `enter`.
    pub fn new(config: &ClientConfig, params: &MessageParams, io: M) -> Self {
        Self {
            mode: io,
            session: Session::new(config, params),
        }
    }

    /// Options for this request alone, over the client's configuration: deadlines, retries,
    /// headers, beta flags, query parameters ([`RequestOptions`]). The client and its
    /// connection pool stay as they are.
    ///
    /// ```
    /// use core::time::Duration;
    /// use stream_core::request::{ClientConfig, MessageParam, MessageParams, RequestOptions};
    /// use stream_core::stream::{Blocking, MessageStreamManager, Replay};
    ///
    /// let params = MessageParams::new("m", 64).message(MessageParam::user("Hi"));
    /// let options = RequestOptions::new().header("x-tag", "a").max_retries(0);
    /// let manager = MessageStreamManager::new(&ClientConfig::new(), &params, Blocking(Replay::new()))
    ///     .options(&options);
    /// // Nothing recorded: the one attempt fails, and no retry follows.
    /// let error = manager.enter().unwrap_err();
    /// assert!(error.to_string().contains("no recorded response"));
    /// ```
    pub fn options(mut self, options: &RequestOptions) -> Self {
        if let Ok(session) = &mut self.session {
            session.set_options(options);
        }
        self
    }
}

impl<M> SseStreamManager<M> {
    /// Describes a raw SSE request, sent through `io` ([`Blocking`] or [`Async`]) as it is,
    /// with `config`'s deadlines and retry policy.
    pub fn new(config: &ClientConfig, request: Request, io: M) -> Self {
        Self {
            mode: io,
            session: Session::raw(config, request),
        }
    }

    /// Deadlines and retries for this stream alone, over the client's configuration (its
    /// request is sent as it was given, so headers and query parameters belong there).
    ///
    /// ```
    /// use stream_core::request::{ClientConfig, Request, RequestOptions};
    /// use stream_core::stream::{Blocking, Replay, SseStreamManager};
    ///
    /// let io = Replay::new().respond(503, &[], "busy").sse("data: ok\n\n");
    /// let request = Request::new("GET", "http://feed.test/events");
    /// let manager = SseStreamManager::new(&ClientConfig::new(), request, Blocking(io))
    ///     .options(&RequestOptions::new().max_retries(0));
    /// assert!(manager.enter().is_err()); // the 503, not retried
    /// ```
    pub fn options(mut self, options: &RequestOptions) -> Self {
        self.session.set_options(options);
        self
    }

    /// Reconnects after the connection ends or fails, resuming with `Last-Event-ID`, as the
    /// `EventSource` standard does (see [`Reconnect`]): for feeds. The stream then ends only at
    /// a 204, a failure the policy does not retry, its limits, or when dropped.
    ///
    /// ```
    /// use core::time::Duration;
    /// use stream_core::request::{ClientConfig, Request};
    /// use stream_core::session::Reconnect;
    /// use stream_core::stream::{Blocking, Replay, SseStreamManager};
    ///
    /// // Two connections, then "no content": the feed is over.
    /// let io = Replay::new()
    ///     .sse("retry: 100\nid: 1\ndata: one\n\n")
    ///     .sse("id: 2\ndata: two\n\n")
    ///     .respond(204, &[], "");
    /// let request = Request::new("GET", "http://feed.test/events");
    /// let feed = SseStreamManager::new(&ClientConfig::new(), request, Blocking(io))
    ///     .reconnect(Reconnect::new())
    ///     .enter()?;
    /// let data: Vec<String> = feed.map(|e| e.map(|e| e.data().to_owned())).collect::<Result<_, _>>()?;
    /// assert_eq!(data, ["one", "two"]);
    /// # Ok::<(), stream_core::Error>(())
    /// ```
    pub fn reconnect(mut self, reconnect: Reconnect) -> Self {
        self.session.set_reconnect(reconnect);
        self
    }
}

impl<I: BlockingIo> MessageStreamManager<Blocking<I>> {
    /// Sends the request (retrying as the session decides) and returns the stream once the
    /// response head is in.
    ///
    /// # Errors
    ///
    /// [`Error::Params`] for parameters that cannot be sent; [`Error::Stream`] for the error of
    /// the response head (an API error status, a transport failure, a deadline).
    pub fn enter(self) -> Result<MessageStream<Blocking<I>>, Error> {
        let driver = Driver::<Blocking<I>>::start(self.mode, self.session?)?;
        Ok(MessageStream { driver })
    }

    /// Enters, runs `body` with the stream, and closes the connection however `body` ends
    /// (return, `?`, a `break` inside it, or a panic).
    ///
    /// # Errors
    ///
    /// As [`enter`](Self::enter).
    pub fn with<R>(
        self,
        body: impl FnOnce(&mut MessageStream<Blocking<I>>) -> R,
    ) -> Result<R, Error> {
        let mut stream = self.enter()?;
        Ok(body(&mut stream))
        // `stream` drops here, or during unwinding: the connection closes either way.
    }
}

impl<I: AsyncIo> MessageStreamManager<Async<I>> {
    /// Sends the request (retrying as the session decides) and resolves to the stream once
    /// the response head is in. Dropping the future before then closes the connection.
    ///
    /// # Errors
    ///
    /// [`Error::Params`] for parameters that cannot be sent; [`Error::Stream`] for the error of
    /// the response head (an API error status, a transport failure, a deadline).
    pub async fn enter(self) -> Result<MessageStream<Async<I>>, Error> {
        let driver = Driver::<Async<I>>::start(self.mode, self.session?).await?;
        Ok(MessageStream { driver })
    }

    /// Enters, runs `body` with the stream, and closes the connection however `body` ends
    /// (return, `?` inside it, a panic, or the whole future dropped).
    ///
    /// # Errors
    ///
    /// As [`enter`](Self::enter).
    pub async fn with<R>(
        self,
        body: impl AsyncFnOnce(&mut MessageStream<Async<I>>) -> R,
    ) -> Result<R, Error> {
        let mut stream = self.enter().await?;
        Ok(body(&mut stream).await)
        // `stream` drops here, during unwinding, or with this future: the connection closes.
    }
}

impl<I: BlockingIo> SseStreamManager<Blocking<I>> {
    /// Sends the request and returns the stream once the response head is in.
    ///
    /// # Errors
    ///
    /// [`Error::Stream`] for the error of the response head (a status that is not 2xx, a
    /// content type that is not `text/event-stream`, a transport failure, a deadline).
    pub fn enter(self) -> Result<SseStream<Blocking<I>>, Error> {
        let driver = Driver::<Blocking<I>>::start(self.mode, self.session)?;
        Ok(SseStream { driver })
    }

    /// Enters, runs `body` with the stream, and closes the connection however `body` ends.
    ///
    /// # Errors
    ///
    /// As [`enter`](Self::enter).
    pub fn with<R>(self, body: impl FnOnce(&mut SseStream<Blocking<I>>) -> R) -> Result<R, Error> {
        let mut stream = self.enter()?;
        Ok(body(&mut stream))
    }
}

impl<I: AsyncIo> SseStreamManager<Async<I>> {
    /// Sends the request and resolves to the stream once the response head is in.
    ///
    /// # Errors
    ///
    /// [`Error::Stream`] for the error of the response head (a status that is not 2xx, a
    /// content type that is not `text/event-stream`, a transport failure, a deadline).
    pub async fn enter(self) -> Result<SseStream<Async<I>>, Error> {
        let driver = Driver::<Async<I>>::start(self.mode, self.session).await?;
        Ok(SseStream { driver })
    }

    /// Enters, runs `body` with the stream, and closes the connection however `body` ends.
    ///
    /// # Errors
    ///
    /// As [`enter`](Self::enter).
    pub async fn with<R>(
        self,
        body: impl AsyncFnOnce(&mut SseStream<Async<I>>) -> R,
    ) -> Result<R, Error> {
        let mut stream = self.enter().await?;
        Ok(body(&mut stream).await)
    }
}

/// A started stream of Messages events: an `Iterator` ([`Blocking`]) or a `Stream` with an
/// async `next` ([`Async`]). Dropping it closes the connection.
///
/// It dereferences to its [`Exchange`] for `request_id()`, `status()`, `headers()`,
/// `attempts()`, `current_snapshot()`, `tool_input_snapshot(index)` and `helper(&event)`.
pub struct MessageStream<M: Mode> {
    driver: Driver<M>,
}

/// A started raw SSE stream: an `Iterator` ([`Blocking`]) or a `Stream` with an async `next`
/// ([`Async`]). Dropping it closes the connection. It dereferences to its [`Exchange`] for
/// `status()` and `headers()`.
pub struct SseStream<M: Mode> {
    driver: Driver<M>,
}

/// The text deltas of a [`MessageStream`], in order; the stream comes back with
/// [`into_inner`](TextStream::into_inner).
pub struct TextStream<M: Mode> {
    stream: MessageStream<M>,
}

/// The text of a text delta; `None` for any other event.
fn text_delta(event: StreamEvent) -> Option<String> {
    match event {
        StreamEvent::ContentBlockDelta {
            delta: Delta::Text(text),
            ..
        } => Some(text),
        _ => None,
    }
}

macro_rules! debug_and_deref {
    ($($name:ident),*) => {$(
        impl<M: Mode> Deref for $name<M> {
            type Target = Exchange;

            fn deref(&self) -> &Exchange {
                &self.driver.exchange
            }
        }

        impl<M: Mode> fmt::Debug for $name<M> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.driver.exchange).finish()
            }
        }

        impl<M: Mode> $name<M> {
            /// Closes the connection now (the same as dropping the stream).
            pub fn close(self) {
                drop(self);
            }
        }
    )*};
}
debug_and_deref!(MessageStream, SseStream);

impl<M> fmt::Debug for MessageStreamManager<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageStreamManager")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl<M> fmt::Debug for SseStreamManager<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseStreamManager")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl<M: Mode> fmt::Debug for TextStream<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TextStream").field(&self.stream).finish()
    }
}

impl<M: Mode> MessageStream<M> {
    /// Consumes the stream into a stream of its text deltas. The stream comes back with
    /// [`TextStream::into_inner`] (for its final message).
    #[must_use]
    pub fn text_stream(self) -> TextStream<M> {
        TextStream { stream: self }
    }
}

impl<M: Mode> TextStream<M> {
    /// The stream back (for its final message or snapshot).
    #[must_use]
    pub fn into_inner(self) -> MessageStream<M> {
        self.stream
    }
}

impl<M: Mode> MessageStream<M> {
    /// The final message once the exchange ended with one, after `until_done`.
    fn take_final(&mut self) -> Result<Message, Error> {
        self.driver.exchange.take_final_message()
    }

    /// The final message, once the stream has returned its last event (`None`); handed over
    /// once. For code that drives the stream by `poll_next` and cannot await
    /// `final_message()`.
    ///
    /// ```
    /// use stream_core::request::{ClientConfig, MessageParam, MessageParams};
    /// use stream_core::stream::{Blocking, MessageStreamManager, Replay};
    ///
    /// let body = concat!(
    ///     "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n",
    ///     "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    /// );
    /// let params = MessageParams::new("m", 8).message(MessageParam::user("Hi"));
    /// let mut stream = MessageStreamManager::new(&ClientConfig::new(), &params, Blocking(Replay::new().sse(body))).enter()?;
    /// assert!(stream.take_final_message().is_err()); // not ended yet
    /// while stream.next().is_some() {}
    /// assert_eq!(stream.take_final_message()?.id(), Some("m"));
    /// # Ok::<(), stream_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Exchange::take_final_message`].
    pub fn take_final_message(&mut self) -> Result<Message, Error> {
        self.take_final()
    }
}

impl<I: BlockingIo> Iterator for MessageStream<Blocking<I>> {
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

impl<I: BlockingIo> Iterator for SseStream<Blocking<I>> {
    type Item = Result<sse::Event, Error>;

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

impl<I: BlockingIo> Iterator for TextStream<Blocking<I>> {
    type Item = Result<String, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.stream.next()? {
                Ok(event) => match text_delta(event) {
                    Some(text) => return Some(Ok(text)),
                    None => continue,
                },
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

impl<I: BlockingIo> MessageStream<Blocking<I>> {
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
        self.take_final()
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
}

impl<I: BlockingIo> TextStream<Blocking<I>> {
    /// Reads the rest and returns the final message.
    ///
    /// # Errors
    ///
    /// As [`MessageStream::final_message`].
    pub fn final_message(&mut self) -> Result<Message, Error> {
        self.stream.final_message()
    }
}

impl<I: AsyncIo> futures_core::Stream for MessageStream<Async<I>> {
    type Item = Result<StreamEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let driver = &mut self.get_mut().driver;
        loop {
            return Poll::Ready(match ready!(driver.poll_step(cx, Until::Item)) {
                Step::Event(event) => Some(Ok(event)),
                Step::Error(error) => Some(Err(Error::Stream(error))),
                Step::End => None,
                _ => continue,
            });
        }
    }
}

impl<I: AsyncIo> futures_core::Stream for SseStream<Async<I>> {
    type Item = Result<sse::Event, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let driver = &mut self.get_mut().driver;
        loop {
            return Poll::Ready(match ready!(driver.poll_step(cx, Until::Item)) {
                Step::Sse(event) => Some(Ok(event)),
                Step::Error(error) => Some(Err(Error::Stream(error))),
                Step::End => None,
                _ => continue,
            });
        }
    }
}

impl<I: AsyncIo> futures_core::Stream for TextStream<Async<I>> {
    type Item = Result<String, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let stream = &mut self.get_mut().stream;
        loop {
            return Poll::Ready(match ready!(Pin::new(&mut *stream).poll_next(cx)) {
                Some(Ok(event)) => match text_delta(event) {
                    Some(text) => Some(Ok(text)),
                    None => continue,
                },
                Some(Err(error)) => Some(Err(error)),
                None => None,
            });
        }
    }
}

impl<I: AsyncIo> MessageStream<Async<I>> {
    /// The next event, or `None` at the end. Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<StreamEvent, Error>> {
        poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *self), cx)).await
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
        self.take_final()
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
}

impl<I: AsyncIo> SseStream<Async<I>> {
    /// The next event, or `None` at the end. Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<sse::Event, Error>> {
        poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *self), cx)).await
    }
}

impl<I: AsyncIo> TextStream<Async<I>> {
    /// The next text delta, or `None` at the end. Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<String, Error>> {
        poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *self), cx)).await
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

/// One recorded response of a [`Replay`].
#[derive(Clone, Debug)]
struct Recorded {
    status: u16,
    headers: Vec<(String, String)>,
    chunks: VecDeque<Bytes>,
}

/// An IO with no network: each request gets the next recorded response (status, headers, body
/// in chunks), on a clock of its own that moves only when the exchange waits for a deadline
/// with nothing to read. Every attempt past the recorded responses fails to connect.
///
/// For tests and examples of code that takes a stream, and for embedding recorded streams; it
/// is a [`BlockingIo`] and an [`AsyncIo`] (always ready).
///
/// ```
/// use stream_core::request::{ClientConfig, Request};
/// use stream_core::stream::{Blocking, Replay, SseStreamManager};
///
/// // A 529 first (retried after the backoff, on the replay's clock), then a feed in 3-byte pieces.
/// let io = Replay::new()
///     .respond(529, &[("retry-after-ms", "250")], "{}")
///     .sse("id: 1\ndata: one\n\nid: 2\ndata: two\n\n")
///     .chunk_size(3);
/// let request = Request::new("GET", "http://feed.test/events");
/// let stream = SseStreamManager::new(&ClientConfig::new(), request, Blocking(io)).enter()?;
/// assert_eq!(stream.attempts(), 2);
/// let data: Vec<String> = stream.map(|event| event.map(|e| e.data().to_owned())).collect::<Result<_, _>>()?;
/// assert_eq!(data, ["one", "two"]);
/// # Ok::<(), stream_core::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Replay {
    responses: VecDeque<Recorded>,
    chunk_size: Option<usize>,
    now: Duration,
    open: Option<(AttemptId, Recorded)>,
    sent: Vec<Request>,
    unix_origin: Option<Duration>,
}

impl Replay {
    /// A replay with no responses.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the next response: `status`, `headers`, then `body`.
    #[must_use]
    pub fn respond(
        mut self,
        status: u16,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Self {
        self.responses.push_back(Recorded {
            status,
            headers: headers
                .iter()
                .map(|(name, value)| ((*name).into(), (*value).into()))
                .collect(),
            chunks: VecDeque::from([body.into()]),
        });
        self
    }

    /// Records the next response as a 200 `text/event-stream` with this body.
    #[must_use]
    pub fn sse(self, body: impl Into<Bytes>) -> Self {
        self.respond(200, &[("content-type", "text/event-stream")], body)
    }

    /// Hands every body over in pieces of at most `size` bytes (at least 1), as a network
    /// would; whole bodies by default.
    #[must_use]
    pub fn chunk_size(mut self, size: usize) -> Self {
        self.chunk_size = Some(size.max(1));
        self
    }

    /// Gives the replay a wall clock that reads `unix_time` (since the UNIX epoch) when its own
    /// clock reads zero, for streams whose requests are signed with the time.
    ///
    /// ```
    /// use core::time::Duration;
    /// use stream_core::stream::{BlockingIo, Replay};
    ///
    /// let io = Replay::new().wall_clock(Duration::from_secs(1_700_000_000));
    /// assert_eq!(io.unix_time(), Some(Duration::from_secs(1_700_000_000)));
    /// ```
    #[must_use]
    pub fn wall_clock(mut self, unix_time: Duration) -> Self {
        self.unix_origin = Some(unix_time);
        self
    }

    /// The replay's clock: where the last deadline it waited for left it.
    #[must_use]
    pub fn now(&self) -> Duration {
        self.now
    }

    /// The requests sent so far, in order.
    #[must_use]
    pub fn requests(&self) -> &[Request] {
        &self.sent
    }

    /// The next piece of the open body.
    fn next_chunk(&mut self) -> Option<Bytes> {
        let (_, recorded) = self.open.as_mut()?;
        let chunk = recorded.chunks.front_mut()?;
        let size = self.chunk_size.unwrap_or(usize::MAX).min(chunk.len());
        let piece = chunk.split_to(size);
        if chunk.is_empty() {
            recorded.chunks.pop_front();
        }
        Some(piece)
    }
}

impl BlockingIo for Replay {
    fn now(&self) -> Duration {
        self.now
    }

    fn unix_time(&self) -> Option<Duration> {
        Some(self.unix_origin? + self.now)
    }

    fn send(&mut self, exchange: &mut Exchange, attempt: AttemptId, request: &Request) {
        self.sent.push(request.clone());
        let Some(recorded) = self.responses.pop_front() else {
            let kind = TransportErrorKind::Connect;
            exchange.handle_transport_error(attempt, self.now, kind, "no recorded response left");
            return;
        };
        let headers = recorded.headers.clone();
        exchange.handle_response_head(attempt, self.now, recorded.status, headers);
        self.open = Some((attempt, recorded));
    }

    fn wait(&mut self, exchange: &mut Exchange, deadline: Option<Duration>) -> bool {
        if let Some((attempt, _)) = &self.open {
            let attempt = *attempt;
            match self.next_chunk() {
                Some(piece) => exchange.handle_body(attempt, self.now, piece),
                None => {
                    self.open = None;
                    exchange.handle_end(attempt, self.now);
                }
            }
            return true;
        }
        let Some(deadline) = deadline else {
            return false;
        };
        self.now = self.now.max(deadline);
        exchange.handle_deadline(self.now);
        true
    }

    fn release(&mut self, attempt: Option<AttemptId>) {
        if attempt.is_none() || self.open.as_ref().map(|(a, _)| *a) == attempt {
            self.open = None;
        }
    }
}

impl AsyncIo for Replay {
    fn now(&self) -> Duration {
        self.now
    }

    fn unix_time(&self) -> Option<Duration> {
        BlockingIo::unix_time(self)
    }

    fn send(&mut self, exchange: &mut Exchange, attempt: AttemptId, request: &Request) {
        BlockingIo::send(self, exchange, attempt, request);
    }

    fn poll_wait(
        &mut self,
        _cx: &mut Context<'_>,
        exchange: &mut Exchange,
        deadline: Option<Duration>,
    ) -> Poll<bool> {
        Poll::Ready(BlockingIo::wait(self, exchange, deadline))
    }

    fn release(&mut self, attempt: Option<AttemptId>) {
        BlockingIo::release(self, attempt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::MessageParam;
    use core::future::Future;
    use core::pin::pin;

    const BODY: &str = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",",
        "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],",
        "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,",
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,",
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,",
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );

    fn manager<M>(io: M) -> MessageStreamManager<M> {
        let params = MessageParams::new("m", 8).message(MessageParam::user("Hi"));
        MessageStreamManager::new(&ClientConfig::new(), &params, io)
    }

    /// Polls a future that never waits on anything but the replay (always ready).
    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        let mut cx = Context::from_waker(core::task::Waker::noop());
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
        }
    }

    #[test]
    fn blocking_and_async_streams_agree_at_every_chunk_size() {
        for size in 1..=BODY.len() {
            let io = || Replay::new().sse(BODY).chunk_size(size);
            let texts: Vec<String> = manager(Blocking(io()))
                .enter()
                .unwrap()
                .text_stream()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(texts, ["Hel", "lo"]);
            let message = block_on(async {
                let mut stream = manager(Async(io())).enter().await.unwrap();
                stream.final_message().await.unwrap()
            });
            assert_eq!(message.text(), "Hello");
        }
    }

    #[test]
    fn the_final_message_is_handed_over_once_and_a_truncated_stream_is_an_error() {
        let mut stream = manager(Blocking(Replay::new().sse(BODY))).enter().unwrap();
        assert_eq!(stream.final_text().unwrap(), "Hello");
        assert!(matches!(stream.final_message(), Err(Error::Caller(_))));

        let cut = &BODY[..BODY.len() - 40];
        let mut stream = manager(Blocking(Replay::new().sse(cut))).enter().unwrap();
        let Err(Error::Stream(error)) = stream.final_message() else {
            panic!("a truncated stream has no final message")
        };
        assert_eq!(error.kind_name(), "truncated");
        assert_eq!(
            error.partial.as_ref().map(|m| m.text()).as_deref(),
            Some("Hello")
        );
    }

    #[test]
    fn retries_wait_on_the_replay_clock_and_resend_the_same_request() {
        let io = Replay::new()
            .respond(529, &[("retry-after-ms", "700")], "{}")
            .sse(BODY);
        let mut stream = manager(Blocking(io)).enter().unwrap();
        assert_eq!(stream.final_text().unwrap(), "Hello");
        let replay = &stream.driver.mode.0;
        assert_eq!(replay.now(), Duration::from_millis(700));
        assert_eq!(replay.requests().len(), 2);
        assert_eq!(replay.requests()[0].body, replay.requests()[1].body);
    }

    #[test]
    fn options_reach_the_request_and_bad_params_fail_at_enter() {
        let options = RequestOptions::new().header("x-tag", "t");
        let stream = manager(Blocking(Replay::new().sse(BODY)))
            .options(&options)
            .enter()
            .unwrap();
        assert_eq!(
            stream.driver.mode.0.requests()[0].header("x-tag"),
            Some("t")
        );

        let empty = MessageParams::new("m", 8);
        let manager =
            MessageStreamManager::new(&ClientConfig::new(), &empty, Blocking(Replay::new()));
        assert!(matches!(manager.enter(), Err(Error::Params(_))));
    }
}
