//! A real Anthropic Messages API server on `127.0.0.1`, for tests of streaming clients: it
//! speaks HTTP/1.1 and HTTP/2, in clear text or TLS with a self-signed certificate, checks
//! requests as the API does, streams recorded or generated replies, injects faults on demand,
//! and records every connection and request with its times.
//!
//! It is not a mock of a client library: clients talk to it over real sockets, so what a test
//! sees (chunk boundaries, resets, stalls, closes) is what a network gives.
//!
//! # A test in ten lines
//!
//! ```
//! use std::io::{Read, Write};
//! use messages_test_server::{Reply, Server};
//!
//! let server = Server::start();
//! server.enqueue(Reply::error(529).retry_after(1)); // the first request is overloaded
//! let body = r#"{"model":"m","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"Hi"}]}"#;
//! let mut tcp = std::net::TcpStream::connect(server.addr()).unwrap();
//! write!(tcp, "POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: k\r\nanthropic-version: 2023-06-01\r\n\
//!     content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).unwrap();
//! let mut answer = String::new();
//! tcp.read_to_string(&mut answer).unwrap();
//! assert!(answer.starts_with("HTTP/1.1 529") && answer.contains("retry-after: 1"));
//! assert_eq!(server.requests()[0].header("x-api-key"), Some("k"));
//! ```
//!
//! # Replies and faults
//!
//! Each request takes the next [`Reply`] of the server's script, or the default reply:
//!
//! - [`Reply::recorded`] / [`Reply::recorded_file`]: a recorded stream, byte for byte;
//! - [`Reply::generated`] with [`Generate`]: text, thinking, citations and tool use with large
//!   JSON input, deterministic, from a few bytes to hundreds of MiB produced lazily, and
//!   [`Generate::expected_message`] to compare a client's result with;
//! - [`Reply::error`] / [`Reply::error_with`]: any status with the API's error JSON, with
//!   [`Reply::retry_after`], [`Reply::retry_after_ms`], [`Reply::should_retry`];
//! - [`Reply::html`] / [`Reply::page`]: the wrong content type;
//! - [`Reply::silence`]: accept the request and never answer.
//!
//! Streams take pacing ([`Reply::pace_events`], [`Reply::pace_chunks`], [`Reply::drip`]),
//! chunk boundaries ([`Chunking`]: per event, fixed, seeded random, at chosen offsets),
//! periodic pings ([`Reply::ping_every`]) and any number of [`Fault`]s: reset (RST) or cut
//! (FIN) after N bytes or events, stall, end early or before `message_stop`, an `error` event,
//! garbage, a huge line, invalid UTF-8.
//!
//! # Observations
//!
//! [`Server::connections`] and [`Server::requests`] tell when each connection was accepted
//! and closed (and by whom), and each request's headers, body, status and whether its response
//! was sent whole; [`Server::wait_for`] (blocking) and [`Server::wait_for_async`] wait for a
//! condition on them, so a test can assert "no request before enter" or "closed within 100 ms
//! of the drop".

#![forbid(unsafe_code)]

mod answer;
mod body;
mod feed;
mod generate;
mod provider;
mod proxy;
mod record;
mod reply;
mod server;
mod stream;
mod tls;
mod validate;

pub use feed::Feed;
pub use generate::Generate;
pub use proxy::{Connect, ForwardProxy, ForwardProxyBuilder};
pub use record::{ClosedBy, ConnectionRecord, HttpVersions, Observed, RequestRecord};
pub use reply::{Chunking, Fault, FaultSpecError, Reply};
pub use server::{Server, ServerBuilder};
