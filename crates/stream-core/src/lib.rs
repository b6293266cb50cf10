//! The Sans-IO core of `anthropic-stream`: everything that decides, nothing that waits.
//!
//! # What this crate promises
//!
//! * **No IO.** It never opens a socket, reads a file or writes to a terminal. Bytes come in as
//!   arguments; events come out as return values.
//! * **No clock.** It never reads the time. Where time matters, the caller passes `now`.
//! * **No runtime.** It never spawns a thread or a task, never sleeps, never blocks. It works the
//!   same under tokio, a blocking loop, an embedded executor or WASM.
//! * **`no_std` + `alloc`.** The default `std` feature only lets the dependencies use the
//!   standard library (for faster, runtime-detected SIMD in `memchr`); behaviour is identical
//!   without it (`default-features = false`).
//! * **No panics on peer input and no unbounded memory.** Every buffer that a peer can grow has
//!   a limit, and exceeding it is a typed error.
//! * **No `unsafe`.** The crate is `#![forbid(unsafe_code)]`.
//!
//! # What is in scope
//!
//! * [`sse`]: the WHATWG "interpreting an event stream" algorithm as an incremental push
//!   decoder: exact, linear-time, bounded and zero-copy where the input allows.
//! * [`eventstream`]: the AWS event stream encoding in which Amazon Bedrock streams Claude's
//!   events, as an incremental, bounded decoder, and Bedrock's frames as Messages events and
//!   typed errors ([`eventstream::bedrock`]).
//! * [`messages`]: the events and values of the Messages streaming API, exact on the wire
//!   (unknown fields, blocks and events are kept) and typed where they are read.
//! * [`accumulate`]: a pure fold of those events into a `Message`, with derived events and one
//!   documented rule for every protocol violation.
//! * [`partial_json`]: an incremental JSON parser whose live partial value costs amortised
//!   O(1) per byte, for streamed tool input.
//! * [`provider`]: where Messages requests go (the Anthropic API, Amazon Bedrock, Google
//!   Vertex AI) and how each attempt is authorized.
//! * [`proxy`]: which proxy each request goes through (`HTTPS_PROXY`, `NO_PROXY`, ...),
//!   decided once for both transports.
//! * [`request`]: the request parameters and client configuration, described as plain values.
//! * [`session`]: the deferred-request state machine (send, retry, deadlines, done) that the
//!   transports drive with `handle_*` inputs and `poll_*` outputs.
//! * [`exchange`]: the session as both transports drive it: one loop of steps (send, drop,
//!   wait, hand over), the latched outcome and what a stream shows its consumer, written once.
//! * [`stream`]: the stream API of both transports (deferred stream, events, final message,
//!   text deltas, raw SSE), written once over a transport's IO, and [`Replay`](stream::Replay),
//!   an IO with no network.
//! * [`Error`]: the one error type of a stream call, shared by the transports, split by
//!   blame (the caller's parameters, configuration or misuse; the stream's failure).
//!
//! # What is out of scope
//!
//! Connections, TLS, HTTP framing, timers and threads belong to the drivers (the `hyper` and
//! `ureq` transports of this workspace, or your own loop).
//!
//! # Example
//!
//! ```
//! use stream_core::sse::Decoder;
//!
//! let mut decoder = Decoder::new();
//! decoder.feed(&b"event: ping\ndata: {\"type\": \"ping\"}\n\n"[..]);
//! let event = decoder.next_event()?.expect("one whole event was fed");
//! assert_eq!(event.event_type(), "ping");
//! assert_eq!(event.data(), r#"{"type": "ping"}"#);
//! assert!(decoder.next_event()?.is_none()); // needs more input
//! # Ok::<(), stream_core::sse::SseError>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    clippy::alloc_instead_of_core
)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

/// A `tracing` event at `$level` when the `tracing` feature is on; nothing (and no cost)
/// otherwise. Events never carry a header, a body or a credential.
macro_rules! trace {
    ($level:ident, $($rest:tt)*) => {
        #[cfg(feature = "tracing")]
        {
            tracing::$level!($($rest)*);
        }
    };
}

pub mod accumulate;
mod error;
pub mod eventstream;
pub mod exchange;
pub mod messages;
pub mod partial_json;
pub mod provider;
pub mod proxy;
pub mod request;
pub mod session;
pub mod sse;
pub mod stream;

pub use error::Error;

/// What a transport's users name: the values and errors of a stream. Each transport
/// re-exports it whole, so `transport_hyper::MessageParams` and `transport_ureq::MessageParams`
/// are these.
///
/// ```
/// use stream_core::prelude::*;
///
/// let params = MessageParams::new("claude-sonnet-4-5", 256).message(MessageParam::user("Hi"));
/// assert!(params.validate().is_ok());
/// let config: ClientConfig = ClientConfig::new().api_key("sk-test");
/// # let _ = config;
/// ```
pub mod prelude {
    pub use crate::Error;
    pub use crate::messages::{ContentBlock, Delta, Message, StreamEvent};
    pub use crate::proxy::{Proxies, Proxy};
    pub use crate::request::{
        BlockParam, ClientConfig, ConfigError, MessageParam, MessageParams, ParamsError, Request,
        RequestOptions, RetryPolicy, Timeouts,
    };
    pub use crate::session::{
        ApiError, ApiErrorKind, CallerError, Deadline, ErrorKind, ProtocolError, SessionError,
        TransportErrorKind,
    };
    pub use crate::sse::Event as SseEvent;
}
