//! What the server's parts share, in a module of its own so that none of them imports another:
//! the record of connections and requests that tests assert on, the state behind it, the
//! handle a producer uses to take its connection down, and the HTTP versions spoken.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Version};
use tokio::sync::{Notify, watch};

use crate::reply::Reply;

/// Which HTTP versions the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HttpVersions {
    /// HTTP/1.1 and HTTP/2: by ALPN over TLS, by the connection preface in clear text.
    #[default]
    Both,
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only (prior knowledge in clear text, ALPN `h2` over TLS).
    Http2,
}

/// How a fault takes a connection down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Abort {
    /// RST.
    Reset,
    /// FIN without the end of the body.
    Cut,
}

/// A view of what the server has observed, given to [`Server::wait_for`](crate::Server::wait_for).
#[derive(Debug)]
#[non_exhaustive]
pub struct Observed<'a> {
    /// Every connection accepted so far.
    pub connections: &'a [ConnectionRecord],
    /// Every request received so far.
    pub requests: &'a [RequestRecord],
}

impl Observed<'_> {
    /// When the last connection closed, if every accepted connection is closed and there is
    /// at least one.
    #[must_use]
    pub fn all_closed(&self) -> Option<Instant> {
        if self.connections.is_empty() {
            return None;
        }
        self.connections
            .iter()
            .map(|c| c.closed_at)
            .try_fold(None, |latest: Option<Instant>, at| {
                at.map(|at| Some(latest.map_or(at, |l| l.max(at))))
            })
            .flatten()
    }
}

/// One accepted connection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectionRecord {
    /// Its number, from 0 in accept order.
    pub id: usize,
    /// The client's address.
    pub peer: SocketAddr,
    /// When it was accepted.
    pub accepted_at: Instant,
    /// When it closed, whoever closed it.
    pub closed_at: Option<Instant>,
    /// Who closed it.
    pub closed_by: Option<ClosedBy>,
    /// The TLS handshake's error, if it failed (for example: the client refused the
    /// certificate).
    pub tls_error: Option<String>,
    /// How many requests it carried.
    pub requests: usize,
}

/// Who closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClosedBy {
    /// The client closed it, or the connection failed (a TLS handshake refused, an I/O
    /// error).
    Client,
    /// A fault reset it (RST).
    ServerReset,
    /// A fault cut it (FIN without the end of the body).
    ServerCut,
    /// The server stopped.
    Shutdown,
}

/// One request and what became of its response.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RequestRecord {
    /// The connection it came on.
    pub connection: usize,
    /// When its body had arrived whole.
    pub received_at: Instant,
    /// The method.
    pub method: Method,
    /// The path and query.
    pub path: String,
    /// The HTTP version.
    pub version: Version,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The request id the server gave it (also in the `request-id` header).
    pub request_id: String,
    /// The response status, once sent.
    pub status: Option<StatusCode>,
    /// Body bytes handed to the connection (known once the response has ended).
    pub bytes_sent: u64,
    /// When the response ended or was abandoned.
    pub response_ended_at: Option<Instant>,
    /// Whether the response body was sent to its end.
    pub response_complete: bool,
}

impl RequestRecord {
    /// A header's value as text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON, if it is.
    #[must_use]
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) connections: Vec<ConnectionRecord>,
    pub(crate) requests: Vec<RequestRecord>,
    pub(crate) script: VecDeque<Reply>,
    pub(crate) default_reply: Reply,
}

impl State {
    pub(crate) fn observed(&self) -> Observed<'_> {
        Observed {
            connections: &self.connections,
            requests: &self.requests,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) changed: Condvar,
    pub(crate) notify: Notify,
    pub(crate) api_key: Option<String>,
    pub(crate) require_auth: bool,
    pub(crate) max_request_body: usize,
    pub(crate) max_concurrent_streams: u32,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes the record and wakes every waiter.
    pub(crate) fn update<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        let out = change(&mut self.lock());
        self.changed.notify_all();
        self.notify.notify_waiters();
        out
    }

    pub(crate) fn response_ended(&self, index: usize, complete: bool, bytes_sent: u64) {
        self.update(|s| {
            if let Some(r) = s.requests.get_mut(index) {
                r.response_ended_at.get_or_insert_with(Instant::now);
                r.response_complete |= complete;
                r.bytes_sent += bytes_sent;
            }
        });
    }

    pub(crate) fn closed(&self, id: usize, by: ClosedBy) {
        self.update(|s| {
            if let Some(c) = s.connections.get_mut(id) {
                c.closed_at.get_or_insert_with(Instant::now);
                c.closed_by.get_or_insert(by);
            }
        });
    }
}

/// Lets a request's producer reset or cut its connection.
#[derive(Debug)]
pub(crate) struct ConnControl {
    pub(crate) abort: watch::Sender<Option<Abort>>,
}

impl ConnControl {
    pub(crate) fn abort(&self, how: Abort) {
        let _ = self.abort.send(Some(how));
    }
}
