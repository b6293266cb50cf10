//! The server: its own runtime on a background thread, the accept loop, one task per
//! connection, and the record of what happened for tests to assert on.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::sync::{Notify, mpsc, watch};

use crate::body::ResponseBody;
use crate::generate::Generate;
use crate::provider::{self, Route};
use crate::record::{
    Abort, ClosedBy, ConnControl, ConnectionRecord, HttpVersions, Observed, RequestRecord, Shared,
    State,
};
use crate::reply::{Kind, Reply, Source};
use crate::stream::produce;
use crate::validate;

/// How to start a [`Server`]: TLS, HTTP versions, the API key it accepts and the reply it
/// gives when its script is empty.
///
/// ```
/// use messages_test_server::{Generate, HttpVersions, Reply, Server};
///
/// let server = Server::builder()
///     .tls()
///     .http(HttpVersions::Http2)
///     .api_key("sk-test")
///     .default_reply(Reply::generated(Generate::text(5)))
///     .start();
/// assert!(server.base_url().starts_with("https://localhost:"));
/// assert!(server.certificate_der().is_some());
/// ```
#[derive(Debug)]
#[must_use]
pub struct ServerBuilder {
    tls: bool,
    http: HttpVersions,
    api_key: Option<String>,
    default_reply: Reply,
    max_request_body: usize,
    port: u16,
    require_auth: bool,
    max_concurrent_streams: u32,
}

impl ServerBuilder {
    /// Listens on this port of `127.0.0.1` (by default a free one the system picks).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Whether a request must present a credential (`x-api-key` or `Authorization: Bearer`);
    /// true by default, as the API. Turn it off to try clients that send none.
    pub fn require_auth(mut self, required: bool) -> Self {
        self.require_auth = required;
        self
    }

    /// Serves TLS with a self-signed certificate for `localhost` and `127.0.0.1`, generated
    /// at start; trust [`Server::certificate_der`] in the client.
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// Chooses the HTTP versions served.
    pub fn http(mut self, versions: HttpVersions) -> Self {
        self.http = versions;
        self
    }

    /// Accepts only this key (in `x-api-key` or `Authorization: Bearer`); by default any
    /// non-empty key is accepted.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The reply to a request when the script is empty (by default a generated reply of 12
    /// text deltas).
    pub fn default_reply(mut self, reply: Reply) -> Self {
        self.default_reply = reply;
        self
    }

    /// The most HTTP/2 streams one connection may have open at once (200 by default, as
    /// hyper's server). A client that opens more waits for a stream to end before it sends the
    /// next request.
    ///
    /// ```
    /// use messages_test_server::{HttpVersions, Server};
    ///
    /// // A thousand concurrent streams over one HTTP/2 connection.
    /// let server = Server::builder()
    ///     .http(HttpVersions::Http2)
    ///     .max_concurrent_streams(1000)
    ///     .start();
    /// # drop(server);
    /// ```
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = streams;
        self
    }

    /// The largest request body read (64 MiB by default); a larger one gets a 413.
    pub fn max_request_body(mut self, bytes: usize) -> Self {
        self.max_request_body = bytes;
        self
    }

    /// Starts the server on `127.0.0.1` (at a free port unless [`port`](Self::port) chose
    /// one), on its own runtime in a background thread: usable from blocking and async code
    /// alike.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound, the runtime cannot start, or the certificate cannot be
    /// made.
    pub fn try_start(self) -> std::io::Result<Server> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", self.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (certificate, acceptor) = if self.tls {
            let (der, acceptor) = crate::tls::self_signed(self.http)?;
            (Some(der), Some(acceptor))
        } else {
            (None, None)
        };
        let base_url = if self.tls {
            format!("https://localhost:{}", addr.port())
        } else {
            format!("http://{addr}")
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                connections: Vec::new(),
                requests: Vec::new(),
                script: VecDeque::new(),
                default_reply: self.default_reply,
            }),
            changed: Condvar::new(),
            notify: Notify::new(),
            api_key: self.api_key,
            require_auth: self.require_auth,
            max_request_body: self.max_request_body,
            max_concurrent_streams: self.max_concurrent_streams,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = watch::channel(false);
        let serve_shared = Arc::clone(&shared);
        let http = self.http;
        let thread = std::thread::Builder::new()
            .name(format!("messages-test-server-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(accept_loop(listener, acceptor, http, serve_shared, stopped));
                // Dropping the runtime drops every connection task: every socket closes.
                drop(runtime);
            })?;
        Ok(Server {
            base_url,
            addr,
            certificate,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// Starts the server; see [`ServerBuilder::try_start`].
    ///
    /// # Panics
    ///
    /// When the server cannot start (no free port on `127.0.0.1`).
    pub fn start(self) -> Server {
        self.try_start()
            .expect("the test server starts on 127.0.0.1")
    }
}

/// A local Messages API server on `127.0.0.1`. Dropping it stops it and closes every
/// connection.
///
/// Each request takes the next reply of the script ([`Server::enqueue`]), or the default reply
/// when the script is empty; each reply checks the request as the API does (auth,
/// `anthropic-version`, content type, `model`, `max_tokens`, `messages`, `stream: true`)
/// unless told not to. Every connection and request is recorded with its times.
#[derive(Debug)]
pub struct Server {
    base_url: String,
    addr: SocketAddr,
    certificate: Option<Vec<u8>>,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Server {
    /// A builder for a server with options.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            tls: false,
            http: HttpVersions::Both,
            api_key: None,
            default_reply: Reply::generated(Generate::default()),
            max_request_body: 64 << 20,
            port: 0,
            require_auth: true,
            max_concurrent_streams: 200,
        }
    }

    /// Starts a clear-text server that speaks HTTP/1.1 and HTTP/2 and answers every request
    /// with a generated reply unless scripted otherwise.
    ///
    /// # Panics
    ///
    /// When the server cannot start (no free port on `127.0.0.1`).
    #[must_use]
    pub fn start() -> Self {
        Self::builder().start()
    }

    /// The base URL to give a client: `http://127.0.0.1:PORT`, or `https://localhost:PORT`
    /// with TLS.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The URL of the Messages endpoint.
    #[must_use]
    pub fn messages_url(&self) -> String {
        format!("{}/v1/messages", self.base_url)
    }

    /// The socket address the server listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// With TLS, the self-signed certificate (DER) a client must trust.
    #[must_use]
    pub fn certificate_der(&self) -> Option<&[u8]> {
        self.certificate.as_deref()
    }

    /// Appends a reply to the script: requests take scripted replies in arrival order.
    pub fn enqueue(&self, reply: Reply) -> &Self {
        self.shared.lock().script.push_back(reply);
        self
    }

    /// Appends `count` copies of a reply to the script.
    pub fn enqueue_n(&self, count: usize, reply: &Reply) -> &Self {
        let mut state = self.shared.lock();
        state
            .script
            .extend(std::iter::repeat_n(reply, count).cloned());
        drop(state);
        self
    }

    /// Replaces the reply given when the script is empty.
    pub fn set_default_reply(&self, reply: Reply) {
        self.shared.lock().default_reply = reply;
    }

    /// Every connection accepted so far.
    #[must_use]
    pub fn connections(&self) -> Vec<ConnectionRecord> {
        self.shared.lock().connections.clone()
    }

    /// Every request received so far, in arrival order.
    #[must_use]
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.clone()
    }

    /// How many connections were accepted.
    #[must_use]
    pub fn connection_count(&self) -> usize {
        self.shared.lock().connections.len()
    }

    /// How many requests were received.
    #[must_use]
    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// Blocks until `check` returns `Some` for what the server has observed, or `timeout`
    /// passes. Do not call it on an async runtime's thread; use
    /// [`Server::wait_for_async`] there.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Observed<'_>) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(found) = check(&state.observed()) {
                return Some(found);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits, without blocking the runtime, until `check` returns `Some` or `timeout` passes.
    pub async fn wait_for_async<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Observed<'_>) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.shared.notify.notified();
            if let Some(found) = check(&self.shared.lock().observed()) {
                return Some(found);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            // The runtime here is the caller's, so use a plain timer future of its own kind.
            let _ = tokio::time::timeout(left, notified).await;
        }
    }

    /// Waits until at least `count` requests have arrived.
    #[must_use]
    pub fn wait_for_requests(&self, count: usize, timeout: Duration) -> bool {
        self.wait_for(timeout, |o| (o.requests.len() >= count).then_some(()))
            .is_some()
    }

    /// Waits until every accepted connection is closed (at least one having been accepted);
    /// returns when the last one closed.
    #[must_use]
    pub fn wait_all_closed(&self, timeout: Duration) -> Option<Instant> {
        self.wait_for(timeout, |o| o.all_closed())
    }

    /// [`Server::wait_all_closed`] for async code.
    pub async fn wait_all_closed_async(&self, timeout: Duration) -> Option<Instant> {
        self.wait_for_async(timeout, |o| o.all_closed()).await
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    http: HttpVersions,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => break,
        };
        let Ok((tcp, peer)) = accepted else { continue };
        let _ = tcp.set_nodelay(true);
        let id = shared.update(|s| {
            s.connections.push(ConnectionRecord {
                id: s.connections.len(),
                peer,
                accepted_at: Instant::now(),
                closed_at: None,
                closed_by: None,
                tls_error: None,
                requests: 0,
            });
            s.connections.len() - 1
        });
        tasks.spawn(serve_connection(
            tcp,
            id,
            acceptor.clone(),
            http,
            Arc::clone(&shared),
            stopped.clone(),
        ));
        // Reap finished connection tasks so a long-lived server does not grow.
        while tasks.try_join_next().is_some() {}
    }
    tasks.abort_all();
    let ids: Vec<usize> = shared.lock().connections.iter().map(|c| c.id).collect();
    for id in ids {
        shared.closed(id, ClosedBy::Shutdown);
    }
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    id: usize,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    http: HttpVersions,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    // A second handle on the socket, to set SO_LINGER to 0 before a reset: the socket itself
    // belongs to hyper by then. The socket closes when both handles are dropped.
    let linger = crate::tls::duplicate(&tcp);
    let (abort_tx, mut abort_rx) = watch::channel(None);
    let control = Arc::new(ConnControl { abort: abort_tx });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    match http {
        HttpVersions::Both => {}
        HttpVersions::Http1 => builder = builder.http1_only(),
        HttpVersions::Http2 => builder = builder.http2_only(),
    }
    builder
        .http2()
        .max_concurrent_streams(shared.max_concurrent_streams);
    let service_shared = Arc::clone(&shared);
    let service = service_fn(move |request: Request<Incoming>| {
        let shared = Arc::clone(&service_shared);
        let control = Arc::clone(&control);
        async move { Ok::<_, Infallible>(handle(request, id, shared, control).await) }
    });
    let served = async {
        match acceptor {
            None => {
                let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
            }
            Some(acceptor) => match acceptor.accept(tcp).await {
                Ok(tls) => {
                    let _ = builder.serve_connection(TokioIo::new(tls), service).await;
                }
                Err(error) => shared.update(|s| {
                    if let Some(c) = s.connections.get_mut(id) {
                        c.tls_error = Some(error.to_string());
                    }
                }),
            },
        }
    };
    let closed_by = tokio::select! {
        () = served => ClosedBy::Client,
        how = abort_rx.wait_for(Option::is_some) => match how.map(|h| *h) {
            Ok(Some(Abort::Reset)) => {
                if let Some(socket) = &linger {
                    crate::tls::set_zero_linger(socket);
                }
                ClosedBy::ServerReset
            }
            _ => ClosedBy::ServerCut,
        },
        _ = stopped.changed() => ClosedBy::Shutdown,
    };
    // `served` (and with it hyper's socket) is dropped at the end of the select; now the
    // second handle, which sends the RST when linger is 0.
    drop(linger);
    shared.closed(id, closed_by);
}

/// The model of a request the reply does not check: the path's, else the body's.
fn unchecked_model(route: &Route, body: &[u8]) -> String {
    match route {
        Route::Bedrock { model } | Route::Vertex { model } => model.clone(),
        Route::Anthropic => serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("model").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| "claude-test-server".to_owned()),
    }
}

async fn handle(
    request: Request<Incoming>,
    connection: usize,
    shared: Arc<Shared>,
    control: Arc<ConnControl>,
) -> Response<ResponseBody> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, shared.max_request_body)
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .ok();
    let (index, request_id, reply) = {
        let received = body.clone().unwrap_or_default();
        shared.update(|s| {
            let index = s.requests.len();
            let request_id = format!("req_011TestServer{connection:04}{index:06}");
            s.requests.push(RequestRecord {
                connection,
                received_at: Instant::now(),
                method: parts.method.clone(),
                path: parts
                    .uri
                    .path_and_query()
                    .map_or_else(|| "/".to_owned(), ToString::to_string),
                version: parts.version,
                headers: parts.headers.clone(),
                body: received,
                request_id: request_id.clone(),
                status: None,
                bytes_sent: 0,
                response_ended_at: None,
                response_complete: false,
            });
            if let Some(c) = s.connections.get_mut(connection) {
                c.requests += 1;
            }
            let reply = s
                .script
                .pop_front()
                .unwrap_or_else(|| s.default_reply.clone());
            (index, request_id, reply)
        })
    };
    let respond = |status: StatusCode, content_type: &str, body: ResponseBody| {
        shared.update(|s| {
            if let Some(r) = s.requests.get_mut(index) {
                r.status = Some(status);
            }
        });
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::try_from(request_id.as_str()) {
            headers.insert("request-id", value);
        }
        if let Ok(value) = HeaderValue::try_from(content_type) {
            headers.insert(http::header::CONTENT_TYPE, value);
        }
        for (name, value) in &reply.headers {
            headers.append(name, value.clone());
        }
        response
    };
    let route = Route::of(parts.uri.path());
    let error = |status: StatusCode, kind: &str, message: &str| {
        if route.is_bedrock() {
            // Bedrock's shape: the type in a header, `{"message": ...}` in the body.
            let body = provider::bedrock_error_body(message);
            let mut response = respond(
                status,
                "application/json",
                ResponseBody::full(body, Arc::clone(&shared), index),
            );
            let error_type = HeaderValue::from_static(provider::bedrock_error_type(status));
            response
                .headers_mut()
                .insert("x-amzn-errortype", error_type);
            return response;
        }
        let body = validate::error_body(kind, message, &request_id);
        respond(
            status,
            "application/json",
            ResponseBody::full(body, Arc::clone(&shared), index),
        )
    };
    let Some(body) = body else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            "Request exceeds the maximum allowed size",
        );
    };
    let last_event_id = parts
        .headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let checked = match &route {
        _ if !reply.validate => Ok(None),
        Route::Anthropic => validate::check(
            &parts,
            &body,
            shared.require_auth,
            shared.api_key.as_deref(),
        )
        .map(|model| Some((model, body.clone()))),
        route => provider::check(
            route,
            &parts,
            &body,
            shared.require_auth,
            shared.api_key.as_deref(),
        )
        .map(Some),
    };
    let (model, body) = match checked {
        Err(e) => return error(e.status, e.kind, &e.message),
        Ok(Some((model, body))) => (model, body),
        Ok(None) => (unchecked_model(&route, &body), body),
    };
    match &reply.kind {
        Kind::Error(status, kind, message) => error(*status, kind, message),
        Kind::Page(status, content_type, page) => respond(
            *status,
            content_type,
            ResponseBody::full(page.clone(), Arc::clone(&shared), index),
        ),
        Kind::Silence => std::future::pending().await,
        Kind::Stream(Source::Feed(feed)) if feed.first(last_event_id.as_deref()) > feed.total => {
            // Every event was delivered: the feed is over.
            respond(
                StatusCode::NO_CONTENT,
                "text/event-stream",
                ResponseBody::full(bytes::Bytes::new(), Arc::clone(&shared), index),
            )
        }
        Kind::Stream(source) => {
            // Capacity 1: the producer is never more than one chunk ahead of the socket.
            let (tx, rx) = mpsc::channel(1);
            let events = crate::stream::events(source, &model, &body, last_event_id.as_deref());
            let bedrock = route.is_bedrock();
            tokio::spawn(produce(events, reply.clone(), tx, control, bedrock));
            let content_type = if bedrock {
                "application/vnd.amazon.eventstream"
            } else {
                "text/event-stream; charset=utf-8"
            };
            let mut response = respond(
                StatusCode::OK,
                content_type,
                ResponseBody::channel(rx, Arc::clone(&shared), index),
            );
            response
                .headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-cache"));
            response
        }
    }
}
