//! The accumulator: a pure fold of [`StreamEvent`]s into a [`Message`] snapshot, with derived
//! events for the block each event touched.
//!
//! # Rules
//!
//! Blocks are addressed by `index`.
//!
//! * `text_delta` and `thinking_delta` append to the block's `text` / `thinking`;
//!   `citations_delta` appends to `citations` (creating the list when absent or null);
//!   `signature_delta` replaces `signature`; `compaction_delta` replaces each field it carries.
//! * `input_json_delta` (on any block that has an `input`: `tool_use`, `server_tool_use`,
//!   `mcp_tool_use`, ...) goes to a raw buffer and to an incremental partial-JSON parser: the
//!   live snapshot is [`Accumulator::tool_input`], at amortised O(1) per byte. At
//!   `content_block_stop` the block's `input` becomes the exact parse of the whole buffer (left
//!   as the start event gave it when no fragment was sent). Invalid JSON is
//!   [`AccumulateError::InvalidToolInput`], carrying the raw buffer; it never becomes `{}`.
//! * A `fallback` block sets the message's `model` to its `to.model`.
//! * `message_delta` assigns `stop_reason`, `stop_sequence` and `stop_details` when present
//!   (null included) and `usage.output_tokens`; every other `delta` field, every other `usage`
//!   field and every other top-level field (`context_management`, ...) is copied only when
//!   present and not null. Usage values are cumulative totals: they replace, never add.
//! * `message_stop` ends the blocks still open (the API cut a tool call at `max_tokens`, say):
//!   their `input` becomes the exact value if the JSON is complete, else the partial snapshot;
//!   the stop reason tells the caller why.
//! * Completion is explicit: [`Accumulator::finish`] gives the message only after
//!   `message_stop`; otherwise [`AccumulateError::Truncated`], with the partial message.
//!
//! # Protocol violations
//!
//! Each is a typed [`Violation`] and the event is not applied (the snapshot stays as it was):
//!
//! | violation | rule |
//! |---|---|
//! | a second `message_start` | [`Violation::DuplicateMessageStart`] |
//! | `content_block_start` whose index is not the next one | [`Violation::UnexpectedIndex`] |
//! | a delta or stop for a block never started | [`Violation::UnknownBlock`] |
//! | a delta or stop for a block already stopped | [`Violation::BlockClosed`] |
//! | a known delta type the block cannot take (text into a tool call, ...) | [`Violation::DeltaMismatch`] |
//!
//! # Tolerance
//!
//! Passed through without error and without changing the snapshot (`apply` returns
//! `Ok(None)`), as the official SDKs let them pass:
//!
//! * `ping`, unknown event types (anywhere, after `message_stop` included: new event types are
//!   the API growing), and unknown delta types on a started, open block;
//! * any event before `message_start`: there is no snapshot yet to change;
//! * any known event after `message_stop`, except `error`: the final message is the one
//!   `message_stop` completed, and nothing that follows changes it. An `error` event is still
//!   [`AccumulateError::Api`] wherever it comes, as the SDKs raise it.
//!
//! ```
//! use stream_core::accumulate::{Accumulator, Derived};
//! use stream_core::messages::StreamEvent;
//!
//! let wire = [
//!     ("message_start", r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}"#),
//!     ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
//!     ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#),
//!     ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}}"#),
//!     ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
//!     ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}"#),
//!     ("message_stop", r#"{"type":"message_stop"}"#),
//! ];
//! let mut acc = Accumulator::new();
//! for (name, data) in wire {
//!     let event = StreamEvent::parse(name, data)?;
//!     if let Some(Derived::Text { snapshot, .. }) = acc.apply(&event)? {
//!         assert!(snapshot.starts_with("Hi"));
//!     }
//! }
//! let message = acc.finish()?;
//! assert_eq!(message.text(), "Hi there");
//! assert_eq!(message.usage().output_tokens, 3);
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use serde_json::Value;

use crate::messages::{
    ApiErrorBody, BlockKind, ContentBlock, Delta, JsonObject, Message, MessageDelta, StreamEvent,
};
use crate::partial_json::{PartialJson, PartialJsonError};

/// What an applied event meant, for the block it touched. Borrows from the event and from the
/// accumulator: no copies.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Derived<'a> {
    /// Text was appended to the text block at `index`.
    Text {
        /// The block.
        index: usize,
        /// The text just received.
        delta: &'a str,
        /// The block's text so far.
        snapshot: &'a str,
    },
    /// Thinking text was appended to the thinking block at `index`.
    Thinking {
        /// The block.
        index: usize,
        /// The thinking just received.
        delta: &'a str,
        /// The block's thinking so far.
        snapshot: &'a str,
    },
    /// The thinking block at `index` got its signature.
    Signature {
        /// The block.
        index: usize,
        /// The signature.
        signature: &'a str,
    },
    /// A citation was appended to the text block at `index`.
    Citation {
        /// The block.
        index: usize,
        /// The citation just received.
        citation: &'a Value,
        /// All the block's citations so far.
        citations: &'a [Value],
    },
    /// A fragment of the tool input of the block at `index` arrived.
    InputJson {
        /// The block.
        index: usize,
        /// The fragment just received.
        partial_json: &'a str,
        /// The live partial value of the whole input so far.
        snapshot: &'a Value,
    },
    /// The block at `index` is complete.
    ContentBlockStop {
        /// The block.
        index: usize,
        /// The finished block.
        block: &'a ContentBlock,
    },
    /// The message is complete.
    MessageStop(&'a Message),
}

impl Derived<'_> {
    /// The helper event as the official Python SDK's `MessageStream` shapes it:
    /// `{"type": "text", "text", "snapshot"}`, `{"type": "citation", "citation", "snapshot"}`,
    /// `{"type": "thinking", "thinking", "snapshot"}`, `{"type": "signature", "signature"}`,
    /// `{"type": "input_json", "partial_json", "snapshot"}`,
    /// `{"type": "content_block_stop", "index", "content_block"}` and
    /// `{"type": "message_stop", "message"}` (blocks and messages with every received field).
    ///
    /// ```
    /// use stream_core::accumulate::Derived;
    ///
    /// let text = Derived::Text { index: 0, delta: "lo", snapshot: "Hello" };
    /// assert_eq!(
    ///     text.to_json(),
    ///     serde_json::json!({"type": "text", "text": "lo", "snapshot": "Hello"})
    /// );
    /// ```
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut object = serde_json::Map::new();
        let mut put = |key: &str, value: Value| {
            object.insert(key.to_string(), value);
        };
        match *self {
            Self::Text {
                delta, snapshot, ..
            } => {
                put("type", "text".into());
                put("text", delta.into());
                put("snapshot", snapshot.into());
            }
            Self::Citation {
                citation,
                citations,
                ..
            } => {
                put("type", "citation".into());
                put("citation", citation.clone());
                put("snapshot", Value::Array(citations.to_vec()));
            }
            Self::Thinking {
                delta, snapshot, ..
            } => {
                put("type", "thinking".into());
                put("thinking", delta.into());
                put("snapshot", snapshot.into());
            }
            Self::Signature { signature, .. } => {
                put("type", "signature".into());
                put("signature", signature.into());
            }
            Self::InputJson {
                partial_json,
                snapshot,
                ..
            } => {
                put("type", "input_json".into());
                put("partial_json", partial_json.into());
                put("snapshot", snapshot.clone());
            }
            Self::ContentBlockStop { index, block } => {
                put("type", "content_block_stop".into());
                put("index", index.into());
                put("content_block", Value::Object(block.as_json().clone()));
            }
            Self::MessageStop(message) => {
                put("type", "message_stop".into());
                put("message", message.to_json());
            }
        }
        Value::Object(object)
    }
}

/// A broken rule of the event sequence. The peer is to blame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Violation {
    /// A second `message_start`.
    DuplicateMessageStart,
    /// `content_block_start` for an index other than the next one.
    UnexpectedIndex {
        /// The index the next block should have.
        expected: usize,
        /// The index it had.
        got: usize,
    },
    /// A delta or stop for a block that was never started.
    UnknownBlock {
        /// The index.
        index: usize,
    },
    /// A delta or stop for a block that was already stopped.
    BlockClosed {
        /// The index.
        index: usize,
    },
    /// A delta that the block cannot take.
    DeltaMismatch {
        /// The index.
        index: usize,
        /// The delta's type.
        delta_type: String,
        /// The block's type.
        block_type: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateMessageStart => f.write_str("a second `message_start`"),
            Self::UnexpectedIndex { expected, got } => write!(
                f,
                "`content_block_start` for index {got} where index {expected} was next"
            ),
            Self::UnknownBlock { index } => write!(f, "an event for block {index}, never started"),
            Self::BlockClosed { index } => {
                write!(f, "an event for block {index}, already stopped")
            }
            Self::DeltaMismatch {
                index,
                delta_type,
                block_type,
            } => write!(
                f,
                "a `{delta_type}` for block {index}, a `{block_type}` block that cannot take it"
            ),
        }
    }
}

/// Why accumulation failed. The partial message stays in the [`Accumulator`]
/// ([`Accumulator::snapshot`]), and [`Accumulator::finish`] hands it back in [`Incomplete`].
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum AccumulateError {
    /// The API sent an `error` event (for example `overloaded_error`) mid-stream.
    Api(ApiErrorBody),
    /// The stream ended before `message_stop`.
    Truncated {
        /// Blocks started and never stopped.
        open_blocks: Vec<usize>,
    },
    /// A block's tool input is not valid JSON.
    InvalidToolInput {
        /// The block.
        index: usize,
        /// Everything received for the input.
        raw: String,
        /// What the parser found.
        error: PartialJsonError,
    },
    /// The events broke a rule of the protocol.
    Violation(Violation),
    /// Applying the event would take the message past the size limit
    /// ([`Accumulator::max_message_size`]). The event was not applied.
    MessageTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

impl AccumulateError {
    /// A short `snake_case` name of the kind of error (for logs and the `accumulate` example):
    /// for API errors the API's error type without its `_error` suffix (`overloaded`,
    /// `rate_limit`, `api`, ...), else `truncated`, `invalid_tool_input`, `protocol_violation`
    /// or `message_too_large`.
    #[must_use]
    pub fn kind(&self) -> &str {
        match self {
            Self::Api(body) => api_error_kind(&body.error.error_type),
            Self::Truncated { .. } => "truncated",
            Self::InvalidToolInput { .. } => "invalid_tool_input",
            Self::Violation(_) => "protocol_violation",
            Self::MessageTooLarge { .. } => "message_too_large",
        }
    }
}

/// The short kind of an API error type: `overloaded_error` is `overloaded`.
#[must_use]
pub fn api_error_kind(error_type: &str) -> &str {
    match error_type {
        "api_error" => "api_error",
        other => other.strip_suffix("_error").unwrap_or(other),
    }
}

impl fmt::Display for AccumulateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api(body) => write!(
                f,
                "the API sent an error mid-stream: {}: {}",
                body.error.error_type, body.error.message
            ),
            Self::Truncated { open_blocks } if open_blocks.is_empty() => {
                f.write_str("the stream ended before `message_stop`")
            }
            Self::Truncated { open_blocks } => write!(
                f,
                "the stream ended before `message_stop`, with blocks {open_blocks:?} still open"
            ),
            Self::InvalidToolInput { index, raw, error } => write!(
                f,
                "the tool input of block {index} is not valid JSON ({error}); {} bytes received",
                raw.len()
            ),
            Self::Violation(violation) => write!(f, "protocol violation: {violation}"),
            Self::MessageTooLarge { limit } => {
                write!(f, "the message would grow past its limit of {limit} bytes")
            }
        }
    }
}

impl core::error::Error for AccumulateError {}

/// The result of [`Accumulator::finish`] on a stream that did not complete: the error, and
/// everything received.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Incomplete {
    /// Why the message is not complete.
    pub error: AccumulateError,
    /// The message as far as it got (`None` if `message_start` never came). Open tool blocks
    /// carry their partial input snapshot as `input`.
    pub partial: Option<Box<Message>>,
    /// The raw tool input received for each block still open, by index.
    pub raw_tool_inputs: Vec<(usize, String)>,
}

impl fmt::Display for Incomplete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl core::error::Error for Incomplete {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// The per-block state beside the snapshot.
#[derive(Debug)]
struct BlockState {
    open: bool,
    /// The tool input being received, for blocks with an `input`.
    input: Option<PartialJson>,
    /// Why the input is not valid JSON, once the block stopped with such an input and the
    /// accumulator keeps it ([`Accumulator::keep_invalid_tool_input`]).
    invalid: Option<PartialJsonError>,
}

/// Folds stream events into a [`Message`]. See the [module docs](self) for the rules.
#[derive(Debug)]
pub struct Accumulator {
    message: Option<Message>,
    blocks: Vec<BlockState>,
    stopped: bool,
    /// The first error (an `error` event, invalid tool input, a violation), kept for `finish`.
    error: Option<AccumulateError>,
    partial_strings: bool,
    /// The content received so far, in bytes ([`Accumulator::message_size`]).
    size: usize,
    /// The most `size` may reach.
    max_size: usize,
    /// What the last applied event gave, for [`Accumulator::helper_event`].
    last: Option<Step>,
    /// Invalid tool input is kept, not an error ([`Accumulator::keep_invalid_tool_input`]).
    keep_invalid_input: bool,
}

/// The default of [`Accumulator::max_message_size`]: 256 MiB, about a hundred times the
/// largest reply the API sends today.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 256 << 20;

impl Default for Accumulator {
    fn default() -> Self {
        Self {
            message: None,
            blocks: Vec::new(),
            stopped: false,
            error: None,
            partial_strings: false,
            size: 0,
            max_size: DEFAULT_MAX_MESSAGE_SIZE,
            last: None,
            keep_invalid_input: false,
        }
    }
}

impl Accumulator {
    /// An empty accumulator.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An accumulator whose tool input snapshots show strings while they are still arriving
    /// (by default an unterminated string is withheld until its closing quote).
    #[must_use]
    pub fn with_partial_strings() -> Self {
        Self {
            partial_strings: true,
            ..Self::default()
        }
    }

    /// Sets the largest message accepted, in bytes of content (see
    /// [`message_size`](Self::message_size)); default [`DEFAULT_MAX_MESSAGE_SIZE`]. An event
    /// that would take the message past it is [`AccumulateError::MessageTooLarge`] and is not
    /// applied, so a server that streams forever cannot make the message grow without bound.
    ///
    /// ```
    /// use stream_core::accumulate::{AccumulateError, Accumulator};
    /// use stream_core::messages::StreamEvent;
    ///
    /// let mut acc = Accumulator::new().max_message_size(300);
    /// let start = r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}"#;
    /// acc.apply(&StreamEvent::parse("message_start", start)?)?;
    /// let block = r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#;
    /// acc.apply(&StreamEvent::parse("content_block_start", block)?)?;
    /// let delta = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"0123456789"}}"#;
    /// let delta = StreamEvent::parse("content_block_delta", delta)?;
    /// while acc.apply(&delta).is_ok() {}
    /// assert!(acc.message_size() <= 300);
    /// let incomplete = acc.finish().unwrap_err();
    /// assert_eq!(incomplete.error, AccumulateError::MessageTooLarge { limit: 300 });
    /// assert!(incomplete.partial.is_some()); // everything applied before the limit
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// Keeps a tool input that is not valid JSON instead of failing with
    /// [`AccumulateError::InvalidToolInput`]: the block stops with the partial value as its
    /// `input`, and [`invalid_tool_input`](Self::invalid_tool_input) gives the raw text and
    /// the parser's error. For a caller that answers such a call itself (the tool runner sends
    /// it back to the model as an error result); off by default.
    ///
    /// ```
    /// use stream_core::accumulate::Accumulator;
    /// use stream_core::messages::StreamEvent;
    ///
    /// let mut acc = Accumulator::new().keep_invalid_tool_input(true);
    /// for (name, data) in [
    ///     ("message_start", r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}"#),
    ///     ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}"#),
    ///     ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\": 1,, }"}}"#),
    ///     ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
    /// ] {
    ///     acc.apply(&StreamEvent::parse(name, data)?)?;
    /// }
    /// let (raw, _error) = acc.invalid_tool_input(0).unwrap();
    /// assert_eq!(raw, r#"{"a": 1,, }"#);
    /// assert_eq!(acc.snapshot().unwrap().content()[0].input(), Some(&serde_json::json!({"a": 1})));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn keep_invalid_tool_input(mut self, keep: bool) -> Self {
        self.keep_invalid_input = keep;
        self
    }

    /// The raw text and the parser's error of the block at `index`, when it stopped with a
    /// tool input that is not valid JSON and the accumulator keeps such input
    /// ([`keep_invalid_tool_input`](Self::keep_invalid_tool_input)).
    #[must_use]
    pub fn invalid_tool_input(&self, index: usize) -> Option<(&str, &PartialJsonError)> {
        let state = self.blocks.get(index)?;
        Some((state.input.as_ref()?.raw(), state.invalid.as_ref()?))
    }

    /// The size of the message so far: the bytes of every string received (text, thinking,
    /// tool input as sent, signatures, keys and values of other fields) plus a few bytes per
    /// number, `true`, `false`, `null` and container, about the size of the message as JSON. A
    /// replacing delta (`signature_delta`, `message_delta`) counts again in full: the figure
    /// bounds what the peer made us hold, cheaply, without walking the message.
    #[must_use]
    pub fn message_size(&self) -> usize {
        self.size
    }

    /// The message so far (`None` before `message_start`).
    #[must_use]
    pub fn snapshot(&self) -> Option<&Message> {
        self.message.as_ref()
    }

    /// Whether `message_stop` was applied.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.stopped
    }

    /// The live partial snapshot of the tool input of the block at `index`, while it streams.
    #[must_use]
    pub fn tool_input(&self, index: usize) -> Option<&Value> {
        self.blocks
            .get(index)?
            .input
            .as_ref()
            .map(PartialJson::snapshot)
    }

    /// Everything received so far for the tool input of the block at `index`.
    #[must_use]
    pub fn raw_tool_input(&self, index: usize) -> Option<&str> {
        self.blocks.get(index)?.input.as_ref().map(PartialJson::raw)
    }

    /// Applies one event and says what it meant for the block it touched.
    ///
    /// # Errors
    ///
    /// An `error` event is [`AccumulateError::Api`]; invalid tool input is
    /// [`AccumulateError::InvalidToolInput`]; a broken rule is [`AccumulateError::Violation`]
    /// (the event is not applied). The first error is also kept for [`finish`](Self::finish).
    pub fn apply<'a>(
        &'a mut self,
        event: &'a StreamEvent,
    ) -> Result<Option<Derived<'a>>, AccumulateError> {
        let step = self.step(event);
        self.last = step.as_ref().ok().copied().flatten();
        match step {
            Ok(Some(step)) => Ok(Some(self.derive(step, event))),
            Ok(None) => Ok(None),
            Err(err) => {
                if self.error.is_none() {
                    self.error = Some(err.clone());
                }
                Err(err)
            }
        }
    }

    /// The helper event of `event`, the event just applied, as the official SDKs'
    /// `MessageStream` fires it: text and citations of `text` blocks, thinking and signatures
    /// of `thinking` blocks, tool input of `tool_use` blocks, every block stop and the message
    /// stop. `None` for other events, for an event that was not applied (see the module docs'
    /// tolerance rules), and for any event but the last one applied.
    ///
    /// The tool input snapshot is the partial-JSON value (strings and numbers withheld until
    /// complete, [`PartialJson`]'s rules) or, before any fragment that is not whitespace, the
    /// input `content_block_start` gave (`{}`), as in the SDKs.
    ///
    /// ```
    /// use stream_core::accumulate::{Accumulator, Derived};
    /// use stream_core::messages::StreamEvent;
    ///
    /// let mut acc = Accumulator::new();
    /// for (name, data) in [
    ///     ("message_start", r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}"#),
    ///     ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}"#),
    ///     ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Par"}}"#),
    /// ] {
    ///     let event = StreamEvent::parse(name, data)?;
    ///     acc.apply(&event)?;
    ///     if let Some(helper) = acc.helper_event(&event) {
    ///         // The string is withheld until its closing quote.
    ///         assert_eq!(helper.to_json()["snapshot"], serde_json::json!({}));
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn helper_event<'a>(&'a self, event: &'a StreamEvent) -> Option<Derived<'a>> {
        let step = self.last?;
        let fits = match (step, event) {
            (Step::Delta(i), StreamEvent::ContentBlockDelta { index, .. })
            | (Step::BlockStop(i), StreamEvent::ContentBlockStop { index }) => i == *index,
            (Step::MessageStop, StreamEvent::MessageStop) => true,
            _ => false,
        };
        if !fits {
            return None;
        }
        let derived = self.derive(step, event);
        let block_type = |index: usize| {
            self.message
                .as_ref()
                .and_then(|m| m.content().get(index))
                .map_or("", ContentBlock::block_type)
        };
        let (index, wanted) = match derived {
            Derived::Text { index, .. } | Derived::Citation { index, .. } => (index, "text"),
            Derived::Thinking { index, .. } | Derived::Signature { index, .. } => {
                (index, "thinking")
            }
            Derived::InputJson { index, .. } => (index, "tool_use"),
            Derived::ContentBlockStop { .. } | Derived::MessageStop(_) => return Some(derived),
        };
        (block_type(index) == wanted).then_some(derived)
    }

    /// The final message, once `message_stop` was applied.
    ///
    /// # Errors
    ///
    /// [`Incomplete`] with the first error seen, or [`AccumulateError::Truncated`] when the
    /// stream ended before `message_stop`, plus the partial message and raw tool inputs.
    pub fn finish(mut self) -> Result<Message, Incomplete> {
        let error = match self.error.take() {
            Some(error) => error,
            None if self.stopped => {
                return Ok(self.message.take().unwrap_or_default());
            }
            None => AccumulateError::Truncated {
                open_blocks: self.open_blocks(),
            },
        };
        let mut raw_tool_inputs = Vec::new();
        let mut partial = self.message.take();
        for (index, state) in self.blocks.iter().enumerate() {
            if let (true, Some(input)) = (state.open, &state.input) {
                raw_tool_inputs.push((index, input.raw().to_string()));
                if let Some(block) = partial
                    .as_mut()
                    .and_then(|m| m.content_mut().get_mut(index))
                {
                    block.set("input", input.snapshot().clone());
                }
            }
        }
        Err(Incomplete {
            error,
            partial: partial.map(Box::new),
            raw_tool_inputs,
        })
    }

    /// The indexes of the blocks started and not yet stopped.
    #[must_use]
    pub fn open_blocks(&self) -> Vec<usize> {
        self.blocks
            .iter()
            .enumerate()
            .filter_map(|(index, state)| state.open.then_some(index))
            .collect()
    }

    /// Applies the event within the size limit; says which derived event to build.
    fn step(&mut self, event: &StreamEvent) -> Result<Option<Step>, AccumulateError> {
        let cost = if self.stopped || self.message.is_none() {
            // Not applied (module docs, Tolerance), except `message_start` itself.
            match event {
                StreamEvent::MessageStart(message) if !self.stopped => {
                    json_size_of_object(message.as_json())
                }
                _ => 0,
            }
        } else {
            event_size(event)
        };
        let size = self.size.saturating_add(cost);
        if size > self.max_size {
            return Err(AccumulateError::MessageTooLarge {
                limit: self.max_size,
            });
        }
        let step = self.apply_event(event)?;
        self.size = size;
        Ok(step)
    }

    /// Applies the event; says which derived event to build.
    fn apply_event(&mut self, event: &StreamEvent) -> Result<Option<Step>, AccumulateError> {
        let violation = |v| Err(AccumulateError::Violation(v));
        match event {
            StreamEvent::Error(body) => return Err(AccumulateError::Api(body.clone())),
            // The final message is the one `message_stop` completed (module docs, Tolerance).
            _ if self.stopped => return Ok(None),
            StreamEvent::Ping | StreamEvent::Unknown { .. } => return Ok(None),
            StreamEvent::MessageStart(message) => {
                if self.message.is_some() {
                    return violation(Violation::DuplicateMessageStart);
                }
                self.blocks = message
                    .content()
                    .iter()
                    .map(|_| BlockState {
                        open: false,
                        input: None,
                        invalid: None,
                    })
                    .collect();
                self.message = Some(message.clone());
                return Ok(None);
            }
            _ => {}
        }
        let Some(message) = self.message.as_mut() else {
            // Before `message_start` there is no snapshot to change: the event passes through.
            return Ok(None);
        };
        match event {
            StreamEvent::ContentBlockStart { index, block } => {
                let expected = message.content().len();
                if *index != expected {
                    return violation(Violation::UnexpectedIndex {
                        expected,
                        got: *index,
                    });
                }
                if block.kind() == BlockKind::Fallback
                    && let Some(model) = block
                        .as_json()
                        .get("to")
                        .and_then(|to| to.get("model"))
                        .filter(|model| model.is_string())
                {
                    message
                        .as_json_mut()
                        .insert("model".to_string(), model.clone());
                }
                let input = block.takes_input().then(|| {
                    if self.partial_strings {
                        PartialJson::with_partial_strings()
                    } else {
                        PartialJson::new()
                    }
                });
                message.content_mut().push(block.clone());
                self.blocks.push(BlockState {
                    open: true,
                    input,
                    invalid: None,
                });
                Ok(None)
            }
            StreamEvent::ContentBlockDelta { index, delta } => {
                let index = *index;
                let keep_invalid = self.keep_invalid_input;
                let (block, state) = open_block(message, &mut self.blocks, index)?;
                match apply_delta(block, state, index, delta) {
                    // The parser keeps the raw text and stays failed; the stop says so.
                    Err(AccumulateError::InvalidToolInput { .. }) if keep_invalid => Ok(None),
                    applied => applied,
                }
            }
            StreamEvent::ContentBlockStop { index } => {
                let index = *index;
                let keep_invalid = self.keep_invalid_input;
                let (block, state) = open_block(message, &mut self.blocks, index)?;
                if let Some(input) = state.input.as_mut()
                    && !input.raw().trim().is_empty()
                {
                    match input.finish() {
                        Ok(value) => block.set("input", value),
                        Err(error) if keep_invalid => {
                            block.set("input", input.snapshot().clone());
                            state.invalid = Some(error);
                        }
                        Err(error) => {
                            return Err(AccumulateError::InvalidToolInput {
                                index,
                                raw: input.raw().to_string(),
                                error,
                            });
                        }
                    }
                }
                state.open = false;
                Ok(Some(Step::BlockStop(index)))
            }
            StreamEvent::MessageDelta(delta) => {
                apply_message_delta(message, delta);
                Ok(None)
            }
            StreamEvent::MessageStop => {
                // Blocks left open (tool input cut by `max_tokens`) end with the message: their
                // input is the exact value when complete, else the partial snapshot.
                for (block, state) in message.content_mut().iter_mut().zip(&mut self.blocks) {
                    if let (true, Some(input)) = (state.open, state.input.as_mut())
                        && !input.raw().trim().is_empty()
                    {
                        let value = input.finish().unwrap_or_else(|_| input.snapshot().clone());
                        block.set("input", value);
                    }
                    state.open = false;
                }
                self.stopped = true;
                Ok(Some(Step::MessageStop))
            }
            _ => Ok(None),
        }
    }

    fn derive<'a>(&'a self, step: Step, event: &'a StreamEvent) -> Derived<'a> {
        // Invariant: a step is only produced after `message_start`, for a block that exists.
        let message = self.message.as_ref().expect("a step implies a message");
        let block = |index: usize| &message.content()[index];
        let delta = match event {
            StreamEvent::ContentBlockDelta { delta, .. } => Some(delta),
            _ => None,
        };
        match (step, delta) {
            (Step::Delta(index), Some(Delta::Text(text))) => Derived::Text {
                index,
                delta: text,
                snapshot: block(index).text().unwrap_or(""),
            },
            (Step::Delta(index), Some(Delta::Thinking(text))) => Derived::Thinking {
                index,
                delta: text,
                snapshot: block(index).thinking().unwrap_or(""),
            },
            (Step::Delta(index), Some(Delta::Signature(signature))) => {
                Derived::Signature { index, signature }
            }
            (Step::Delta(index), Some(Delta::Citation(citation))) => Derived::Citation {
                index,
                citation,
                citations: block(index).citations(),
            },
            (Step::Delta(index), Some(Delta::InputJson(fragment))) => Derived::InputJson {
                index,
                partial_json: fragment,
                // Before any value, the input the block started with (`{}`), as in the SDKs.
                snapshot: match self.raw_tool_input(index) {
                    Some(raw) if raw.trim().is_empty() => block(index).input(),
                    _ => self.tool_input(index),
                }
                .unwrap_or(&Value::Null),
            },
            (Step::Delta(index) | Step::BlockStop(index), _) => Derived::ContentBlockStop {
                index,
                block: block(index),
            },
            (Step::MessageStop, _) => Derived::MessageStop(message),
        }
    }
}

/// Which derived event an applied event gives.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// A text, thinking, signature, citation or input delta was applied to this block.
    Delta(usize),
    /// This block stopped.
    BlockStop(usize),
    /// The message stopped.
    MessageStop,
}

fn open_block<'m>(
    message: &'m mut Message,
    blocks: &'m mut [BlockState],
    index: usize,
) -> Result<(&'m mut ContentBlock, &'m mut BlockState), AccumulateError> {
    let (Some(block), Some(state)) = (message.content_mut().get_mut(index), blocks.get_mut(index))
    else {
        return Err(AccumulateError::Violation(Violation::UnknownBlock {
            index,
        }));
    };
    if !state.open {
        return Err(AccumulateError::Violation(Violation::BlockClosed { index }));
    }
    Ok((block, state))
}

fn apply_delta(
    block: &mut ContentBlock,
    state: &mut BlockState,
    index: usize,
    delta: &Delta,
) -> Result<Option<Step>, AccumulateError> {
    let mismatch = |block: &ContentBlock| {
        Err(AccumulateError::Violation(Violation::DeltaMismatch {
            index,
            delta_type: delta.delta_type().to_string(),
            block_type: block.block_type().to_string(),
        }))
    };
    match delta {
        // A block that has the string already takes the delta (one lookup, the common case);
        // else only a block of the right kind does, and the field is created.
        Delta::Text(text) => {
            if !block.append_to_str("text", text) {
                if block.kind() != BlockKind::Text {
                    return mismatch(block);
                }
                block.append_str("text", text);
            }
        }
        Delta::Thinking(text) => {
            if !block.append_to_str("thinking", text) {
                if block.kind() != BlockKind::Thinking {
                    return mismatch(block);
                }
                block.append_str("thinking", text);
            }
        }
        Delta::Signature(signature) => {
            if block.kind() != BlockKind::Thinking && block.signature().is_none() {
                return mismatch(block);
            }
            block.set("signature", Value::String(signature.clone()));
        }
        Delta::Citation(citation) => {
            if block.kind() != BlockKind::Text && block.text().is_none() {
                return mismatch(block);
            }
            block.push_citation(citation.clone());
        }
        Delta::InputJson(fragment) => {
            let Some(input) = state.input.as_mut() else {
                return mismatch(block);
            };
            input
                .push(fragment)
                .map_err(|error| AccumulateError::InvalidToolInput {
                    index,
                    raw: input.raw().to_string(),
                    error,
                })?;
        }
        Delta::Compaction(fields) => {
            if block.kind() != BlockKind::Compaction {
                return mismatch(block);
            }
            for (key, value) in fields {
                if key != "type" {
                    block.set(key, value.clone());
                }
            }
            return Ok(None);
        }
        Delta::Unknown(_) => return Ok(None),
    }
    Ok(Some(Step::Delta(index)))
}

/// What applying `event` adds to [`Accumulator::message_size`] (events that change nothing
/// cost nothing).
fn event_size(event: &StreamEvent) -> usize {
    match event {
        StreamEvent::MessageStart(message) => json_size_of_object(message.as_json()),
        StreamEvent::ContentBlockStart { block, .. } => json_size_of_object(block.as_json()),
        StreamEvent::ContentBlockDelta { delta, .. } => match delta {
            Delta::Text(text)
            | Delta::InputJson(text)
            | Delta::Thinking(text)
            | Delta::Signature(text) => text.len(),
            Delta::Citation(citation) => json_size(citation),
            Delta::Compaction(fields) => json_size_of_object(fields),
            Delta::Unknown(_) => 0,
        },
        StreamEvent::MessageDelta(delta) => {
            json_size_of_object(&delta.delta)
                + delta.usage.as_ref().map_or(0, json_size_of_object)
                + json_size_of_object(&delta.extra)
        }
        _ => 0,
    }
}

/// About the size of `value` as compact JSON: strings and keys by their bytes, a few bytes
/// for everything else. Iterative, so a deep value cannot overflow the stack.
fn json_size(value: &Value) -> usize {
    let mut size = 0usize;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        size = size.saturating_add(match value {
            Value::String(text) => text.len() + 2,
            Value::Array(items) => {
                pending.extend(items);
                2 + items.len()
            }
            Value::Object(map) => {
                pending.extend(map.values());
                2 + map.keys().map(|key| key.len() + 4).sum::<usize>()
            }
            _ => 8,
        });
    }
    size
}

fn json_size_of_object(object: &JsonObject) -> usize {
    2 + object
        .iter()
        .map(|(key, value)| key.len() + 4 + json_size(value))
        .sum::<usize>()
}

fn apply_message_delta(message: &mut Message, event: &MessageDelta) {
    let json = message.as_json_mut();
    for (key, value) in &event.delta {
        let assigned = matches!(
            key.as_str(),
            "stop_reason" | "stop_sequence" | "stop_details"
        );
        if assigned || !value.is_null() {
            json.insert(key.clone(), value.clone());
        }
    }
    if let Some(usage) = &event.usage {
        let target = json
            .entry("usage")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if !target.is_object() {
            *target = Value::Object(serde_json::Map::new());
        }
        if let Value::Object(target) = target {
            for (key, value) in usage {
                if key == "output_tokens" || !value.is_null() {
                    target.insert(key.clone(), value.clone());
                }
            }
        }
    }
    for (key, value) in &event.extra {
        if key != "type" && !value.is_null() {
            json.insert(key.clone(), value.clone());
        }
    }
}
