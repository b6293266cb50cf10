//! Stream Anthropic Messages responses, and any Server-Sent Events endpoint, from Rust.
//!
//! One dependency, one feature:
//!
//! | feature | what you get |
//! |---|---|
//! | `hyper` (default) | the async client at the crate root: [`Client`], `client.messages().stream(params).enter().await`, a `futures_core::Stream` of events; tokio, hyper 1, HTTP/1.1 and HTTP/2 |
//! | `ureq` | the blocking client under [`blocking`]: the same API, an `Iterator` of events; ureq 3, no async runtime |
//! | `bedrock` | Claude on Amazon Bedrock, signed with AWS Signature Version 4: `bedrock` (Google Vertex AI, in [`vertex`], needs no feature) |
//!
//! Features are additive: enable both and use both. TLS is rustls with the ring provider and
//! the webpki roots in either case. Everything else (parameters, events, [`Message`], the
//! [`Error`] type, the [`ndjson`] relay format) is the same for both and re-exported here, so
//! no second dependency is needed.
//!
//! ```no_run
//! # #[cfg(feature = "hyper")]
//! # async fn run() -> Result<(), anthropic_stream::Error> {
//! use anthropic_stream::{Client, MessageParam, MessageParams};
//!
//! let client = Client::from_env()?; // ANTHROPIC_API_KEY (or _AUTH_TOKEN), ANTHROPIC_BASE_URL
//! let params = MessageParams::new("claude-sonnet-4-5", 1024).message(MessageParam::user("Hi"));
//! let mut text = client.messages().stream(params).enter().await?.text_stream();
//! while let Some(delta) = text.next().await {
//!     print!("{}", delta?);
//! }
//! println!("\n{:?}", text.final_message().await?.stop_reason());
//! # Ok(())
//! # }
//! ```
//!
//! # Enter and exit
//!
//! Building a stream sends nothing; `enter()` sends the request (retrying inside as the
//! policy allows) and returns the stream once the response head is in, or the typed error of
//! the head. Leaving the scope closes the connection at once: dropping the stream, `close()`,
//! leaving `with(..)` by return, `?` or panic, or (async) dropping the future of a pending call.
//!
//! # Errors
//!
//! One [`Error`] type for both transports, split by blame: the caller's parameters,
//! configuration or misuse, or [`Error::Stream`] for a failed exchange, which carries the kind
//! (API status or `error` event, transport, deadline, protocol), the request id and the message
//! as far as it got.
//!
//! # The core
//!
//! The decoder, the accumulator and the session that decides what to send and when are the
//! Sans-IO crate [`stream_core`], re-exported whole for embedding in your own loop.
#![forbid(unsafe_code)]

#[cfg(feature = "bedrock")]
pub mod bedrock;
pub mod conformance;
pub mod ndjson;
pub mod tools;
pub mod vertex;

pub use stream_core;
pub use stream_core::Error;
pub use stream_core::accumulate::{Accumulator, Derived};
pub use stream_core::messages::{
    ApiErrorBody, BlockKind, ContentBlock, Delta, EventError, Message, MessageDelta, StopReason,
    StreamEvent, Usage,
};
pub use stream_core::provider::Provider;
pub use stream_core::proxy::{Proxies, Proxy};
pub use stream_core::request::{
    BlockParam, ClientConfig, ConfigError, MessageParam, MessageParams, ParamsError, Request,
    RequestOptions, RetryPolicy, Role, Secret, System, Thinking, Timeouts, Tool, ToolChoice,
};
pub use stream_core::session::{
    ApiError, ApiErrorKind, CallerError, Deadline, ErrorKind, ProtocolError, Reconnect,
    SessionError, TransportErrorKind,
};
pub use stream_core::sse::Event as SseEvent;

#[cfg(feature = "hyper")]
pub use transport_hyper::{
    Client, ClientBuilder, MessageStream, MessageStreamManager, Messages, SseStream,
    SseStreamManager, TextStream,
};

/// The blocking client (feature `ureq`): the same API as the async one at the crate root,
/// with plain methods and an `Iterator` of events.
///
/// ```no_run
/// use anthropic_stream::blocking::Client;
/// use anthropic_stream::{MessageParam, MessageParams};
///
/// let client = Client::from_env()?;
/// let params = MessageParams::new("claude-sonnet-4-5", 1024).message(MessageParam::user("Hi"));
/// let mut text = client.messages().stream(params).enter()?.text_stream();
/// for delta in &mut text {
///     print!("{}", delta?);
/// }
/// println!("\n{:?}", text.final_message()?.stop_reason());
/// # Ok::<(), anthropic_stream::Error>(())
/// ```
#[cfg(feature = "ureq")]
pub mod blocking {
    pub use transport_ureq::{
        Client, MessageStream, MessageStreamManager, Messages, SseStream, SseStreamManager,
        TextStream,
    };
}

/// The README's Rust examples are compiled as doctests of this crate (with both features), so
/// they stay true to the code.
#[cfg(all(doctest, feature = "hyper", feature = "ureq"))]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
