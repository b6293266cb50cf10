//! The events and values of the Anthropic Messages streaming API.
//!
//! # Design: exact on the wire, typed where it is read
//!
//! A [`Message`] and each [`ContentBlock`] keep the JSON object they were received as (every
//! field, known or not, null or absent, exactly), and add typed accessors on top. So a message
//! serializes back to JSON equal to what the API sent, and can be sent back as the next turn's
//! input even when it carries block types or fields this crate has never heard of. The typed
//! views ([`Usage`], [`StopReason`], [`BlockKind`], [`Delta`], ...) are read from that JSON.
//!
//! [`StreamEvent::parse`] decodes one SSE event. It picks the variant from the SSE `event:`
//! name (falling back to the `"type"` field of the data) and decodes the hot event,
//! `content_block_delta`, into a plain struct with borrowed fields, without serde's buffering of
//! internally tagged enums. Unknown event names, delta types and block types are kept as raw
//! JSON and passed on, never an error and never dropped.
//!
//! ```
//! use stream_core::messages::{Delta, StreamEvent};
//!
//! let event = StreamEvent::parse(
//!     "content_block_delta",
//!     r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}   "#,
//! )?;
//! assert!(matches!(event, StreamEvent::ContentBlockDelta { index: 0, delta: Delta::Text(ref t) } if t == "Hi"));
//! # Ok::<(), stream_core::messages::EventError>(())
//! ```

use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The event names of the Messages streaming API. A Messages session gives them to its decoder
/// ([`DecoderConfig::event_types`](crate::sse::DecoderConfig::event_types)).
///
/// ```
/// assert!(stream_core::messages::EVENT_TYPES.contains(&"content_block_delta"));
/// ```
pub const EVENT_TYPES: [&str; 8] = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
];

mod fast;

/// A JSON object.
pub type JsonObject = Map<String, Value>;

/// One event of a Messages stream, decoded.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StreamEvent {
    /// `message_start`: the message shell (id, model, usage so far, usually empty content).
    MessageStart(Message),
    /// `content_block_start`: a new block at `index`.
    ContentBlockStart {
        /// The block's position in the message's content.
        index: usize,
        /// The block as it starts (text empty, tool input `{}`, ...).
        block: ContentBlock,
    },
    /// `content_block_delta`: a piece of the block at `index`.
    ContentBlockDelta {
        /// The block the delta belongs to.
        index: usize,
        /// The piece.
        delta: Delta,
    },
    /// `content_block_stop`: the block at `index` is complete.
    ContentBlockStop {
        /// The block that ended.
        index: usize,
    },
    /// `message_delta`: top-level changes (stop reason, usage, container, ...).
    MessageDelta(MessageDelta),
    /// `message_stop`: the message is complete.
    MessageStop,
    /// `ping`: keep-alive.
    Ping,
    /// `error`: the API reports an error in the stream (for example `overloaded_error`).
    Error(ApiErrorBody),
    /// An event this crate does not know, kept whole.
    Unknown {
        /// The SSE event name (or the data's `"type"` when the name was absent).
        event: String,
        /// The data, parsed.
        data: Value,
        /// The data's `"index"`, when it has a numeric one.
        index: Option<usize>,
    },
}

/// A piece of a content block.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Delta {
    /// `text_delta`: text to append.
    Text(String),
    /// `input_json_delta`: a fragment of the block's JSON `input`.
    InputJson(String),
    /// `thinking_delta`: thinking text to append.
    Thinking(String),
    /// `signature_delta`: the thinking block's signature (replaces).
    Signature(String),
    /// `citations_delta`: one citation to append to the block's `citations`.
    Citation(Value),
    /// `compaction_delta`: new values for the compaction block's fields (replace).
    Compaction(JsonObject),
    /// A delta type this crate does not know, kept whole (including its `"type"`).
    Unknown(JsonObject),
}

impl Delta {
    /// The wire name of the delta type.
    #[must_use]
    pub fn delta_type(&self) -> &str {
        match self {
            Self::Text(_) => "text_delta",
            Self::InputJson(_) => "input_json_delta",
            Self::Thinking(_) => "thinking_delta",
            Self::Signature(_) => "signature_delta",
            Self::Citation(_) => "citations_delta",
            Self::Compaction(_) => "compaction_delta",
            Self::Unknown(json) => json.get("type").and_then(Value::as_str).unwrap_or(""),
        }
    }
}

/// The body of a `message_delta` event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageDelta {
    /// Top-level message fields that changed: `stop_reason`, `stop_sequence`, `stop_details`,
    /// `container`, and whatever the API adds.
    #[serde(default)]
    pub delta: JsonObject,
    /// Cumulative usage totals (not increments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<JsonObject>,
    /// Other fields of the event (`context_management`, ...), kept whole.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// The body of an `error` event, or of an HTTP error response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// The error.
    pub error: ApiErrorDetail,
    /// The request id, when the body carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The `error` object of an API error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorDetail {
    /// The error type, such as `overloaded_error`.
    #[serde(rename = "type")]
    pub error_type: String,
    /// The human-readable message.
    #[serde(default)]
    pub message: String,
}

/// Why an SSE event could not be decoded as a Messages event. The peer is to blame.
#[derive(Debug)]
#[non_exhaustive]
pub enum EventError {
    /// The data is not JSON, or not the shape the event name promises.
    InvalidJson {
        /// The SSE event name.
        event: String,
        /// What `serde_json` said.
        source: serde_json::Error,
    },
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidJson { event, source } => {
                write!(f, "the data of a `{event}` event is not valid: {source}")
            }
        }
    }
}

impl core::error::Error for EventError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::InvalidJson { source, .. } => Some(source),
        }
    }
}

/// The fields of a delta; a plain struct with borrowed strings, so decoding it does not buffer.
#[derive(Deserialize)]
struct RawDelta<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(default)]
    citation: Option<Value>,
}

#[derive(Deserialize)]
struct RawDeltaEvent<'a> {
    index: usize,
    #[serde(borrow)]
    delta: RawDelta<'a>,
}

#[derive(Deserialize)]
struct RawIndex {
    index: usize,
}

#[derive(Deserialize)]
struct RawBlockStart {
    index: usize,
    content_block: JsonObject,
}

#[derive(Deserialize)]
struct RawMessageStart {
    message: JsonObject,
}

#[derive(Deserialize)]
struct RawType<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
}

impl StreamEvent {
    /// Decodes the data of one SSE event. `event_type` is the SSE event name; when it is
    /// `message` (no `event:` line) the data's `"type"` decides.
    ///
    /// # Errors
    ///
    /// [`EventError::InvalidJson`] when the data is not JSON, or a known event lacks a field it
    /// must have (an `index`, a `delta` with a `type`, ...). Unknown event names are not errors.
    ///
    /// ```
    /// use stream_core::messages::StreamEvent;
    ///
    /// let event = StreamEvent::parse("message", r#"{"type": "ping"}"#)?;
    /// assert_eq!(event, StreamEvent::Ping);
    /// let event = StreamEvent::parse("future_event", r#"{"type":"future_event","index":3}"#)?;
    /// assert!(matches!(event, StreamEvent::Unknown { index: Some(3), .. }));
    /// # Ok::<(), stream_core::messages::EventError>(())
    /// ```
    pub fn parse(event_type: &str, data: &str) -> Result<Self, EventError> {
        if event_type == "content_block_delta"
            && let Some((index, delta)) = fast::content_block_delta(data)
        {
            let event = Self::ContentBlockDelta { index, delta };
            // Debug builds (tests, fuzzing) check the fast path against the general one.
            debug_assert_eq!(
                Self::parse_general(event_type, data).ok().as_ref(),
                Some(&event),
                "the fast path disagrees on {data}"
            );
            return Ok(event);
        }
        Self::parse_general(event_type, data)
    }

    /// [`parse`](Self::parse) without the fast path for common deltas.
    fn parse_general(event_type: &str, data: &str) -> Result<Self, EventError> {
        let invalid = |source| EventError::InvalidJson {
            event: event_type.to_string(),
            source,
        };
        let name: Cow<'_, str> = if event_type == "message" || event_type.is_empty() {
            match serde_json::from_str::<RawType<'_>>(data) {
                Ok(RawType { kind: Some(kind) }) => kind,
                Ok(RawType { kind: None }) => Cow::Borrowed(event_type),
                Err(source) => return Err(invalid(source)),
            }
        } else {
            Cow::Borrowed(event_type)
        };
        let event = match &*name {
            "content_block_delta" => {
                let raw: RawDeltaEvent<'_> = serde_json::from_str(data).map_err(invalid)?;
                let delta = match Delta::from_raw(raw.delta) {
                    Some(delta) => delta,
                    None => {
                        // Compaction and unknown deltas: keep the whole object.
                        let mut whole: JsonObject = serde_json::from_str(data).map_err(invalid)?;
                        let object = match whole.remove("delta") {
                            Some(Value::Object(object)) => object,
                            _ => JsonObject::new(),
                        };
                        if object.get("type").and_then(Value::as_str) == Some("compaction_delta") {
                            Delta::Compaction(object)
                        } else {
                            Delta::Unknown(object)
                        }
                    }
                };
                Self::ContentBlockDelta {
                    index: raw.index,
                    delta,
                }
            }
            "content_block_start" => {
                let raw: RawBlockStart = serde_json::from_str(data).map_err(invalid)?;
                Self::ContentBlockStart {
                    index: raw.index,
                    block: ContentBlock::from_json(raw.content_block),
                }
            }
            "content_block_stop" => {
                let raw: RawIndex = serde_json::from_str(data).map_err(invalid)?;
                Self::ContentBlockStop { index: raw.index }
            }
            "message_start" => {
                let raw: RawMessageStart = serde_json::from_str(data).map_err(invalid)?;
                Self::MessageStart(Message::from_json(raw.message))
            }
            "message_delta" => Self::MessageDelta(serde_json::from_str(data).map_err(invalid)?),
            "message_stop" => {
                serde_json::from_str::<serde::de::IgnoredAny>(data).map_err(invalid)?;
                Self::MessageStop
            }
            // A keep-alive: its data does not matter.
            "ping" => Self::Ping,
            "error" => Self::Error(serde_json::from_str(data).map_err(invalid)?),
            other => {
                // Unknown events are passed on whatever their data: JSON when it parses, else
                // the text as a JSON string.
                let data: Value =
                    serde_json::from_str(data).unwrap_or_else(|_| Value::String(data.to_string()));
                let index = data
                    .get("index")
                    .and_then(Value::as_u64)
                    .and_then(|i| usize::try_from(i).ok());
                Self::Unknown {
                    event: other.to_string(),
                    data,
                    index,
                }
            }
        };
        Ok(event)
    }

    /// The wire name of the event.
    #[must_use]
    pub fn event_type(&self) -> &str {
        match self {
            Self::MessageStart(_) => "message_start",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta(_) => "message_delta",
            Self::MessageStop => "message_stop",
            Self::Ping => "ping",
            Self::Error(_) => "error",
            Self::Unknown { event, .. } => event,
        }
    }

    /// The event's data as JSON, as the API sends it (with its `"type"`). Parsing it back with
    /// [`StreamEvent::parse`] gives the same event, so a stream can be relayed as JSON lines
    /// (NDJSON) to a browser or another process and read back.
    ///
    /// ```
    /// use stream_core::messages::StreamEvent;
    ///
    /// let data = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#;
    /// let event = StreamEvent::parse("content_block_delta", data)?;
    /// let json = event.to_json();
    /// assert_eq!(json["delta"]["text"], "Hi");
    /// assert_eq!(StreamEvent::parse("message", &json.to_string())?, event);
    /// # Ok::<(), stream_core::messages::EventError>(())
    /// ```
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut object = JsonObject::new();
        object.insert("type".into(), self.event_type().into());
        match self {
            Self::MessageStart(message) => {
                object.insert("message".into(), message.to_json());
            }
            Self::ContentBlockStart { index, block } => {
                object.insert("index".into(), (*index).into());
                object.insert(
                    "content_block".into(),
                    Value::Object(block.as_json().clone()),
                );
            }
            Self::ContentBlockDelta { index, delta } => {
                object.insert("index".into(), (*index).into());
                object.insert("delta".into(), delta.to_json());
            }
            Self::ContentBlockStop { index } => {
                object.insert("index".into(), (*index).into());
            }
            Self::MessageDelta(delta) => {
                if let Ok(Value::Object(fields)) = serde_json::to_value(delta) {
                    for (key, value) in fields {
                        object.entry(key).or_insert(value);
                    }
                }
            }
            Self::MessageStop | Self::Ping => {}
            Self::Error(body) => {
                if let Ok(Value::Object(fields)) = serde_json::to_value(body) {
                    for (key, value) in fields {
                        object.entry(key).or_insert(value);
                    }
                }
            }
            Self::Unknown { data, .. } => match data {
                Value::Object(fields) => {
                    for (key, value) in fields {
                        object.insert(key.clone(), value.clone());
                    }
                }
                other => {
                    object.insert("data".into(), other.clone());
                }
            },
        }
        Value::Object(object)
    }
}

impl Delta {
    /// The delta as JSON, as the API sends it (with its `"type"`).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let (field, value) = match self {
            Self::Text(text) => ("text", Value::from(text.as_str())),
            Self::InputJson(json) => ("partial_json", Value::from(json.as_str())),
            Self::Thinking(text) => ("thinking", Value::from(text.as_str())),
            Self::Signature(signature) => ("signature", Value::from(signature.as_str())),
            Self::Citation(citation) => ("citation", citation.clone()),
            Self::Compaction(object) | Self::Unknown(object) => {
                return Value::Object(object.clone());
            }
        };
        let mut object = JsonObject::new();
        object.insert("type".into(), self.delta_type().into());
        object.insert(field.into(), value);
        Value::Object(object)
    }
}

impl Delta {
    /// The typed delta, or `None` for delta types kept whole (compaction and unknown ones).
    fn from_raw(raw: RawDelta<'_>) -> Option<Self> {
        let owned = |s: Option<Cow<'_, str>>| s.map(Cow::into_owned).unwrap_or_default();
        Some(match &*raw.kind {
            "text_delta" => Self::Text(owned(raw.text)),
            "input_json_delta" => Self::InputJson(owned(raw.partial_json)),
            "thinking_delta" => Self::Thinking(owned(raw.thinking)),
            "signature_delta" => Self::Signature(owned(raw.signature)),
            "citations_delta" => Self::Citation(raw.citation.unwrap_or(Value::Null)),
            _ => return None,
        })
    }
}

/// The kinds of content block the API documents; [`BlockKind::Other`] for the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlockKind {
    /// `text`, with optional `citations`.
    Text,
    /// `tool_use`: a call of one of the caller's tools.
    ToolUse,
    /// `server_tool_use`: a call of a server tool (web search, web fetch, code execution, ...).
    ServerToolUse,
    /// `mcp_tool_use`: a call of a tool on an MCP server.
    McpToolUse,
    /// `mcp_tool_result`.
    McpToolResult,
    /// `thinking`, with its `signature`.
    Thinking,
    /// `redacted_thinking`.
    RedactedThinking,
    /// `web_search_tool_result`.
    WebSearchToolResult,
    /// `web_fetch_tool_result`.
    WebFetchToolResult,
    /// `code_execution_tool_result`.
    CodeExecutionToolResult,
    /// `bash_code_execution_tool_result`.
    BashCodeExecutionToolResult,
    /// `text_editor_code_execution_tool_result`.
    TextEditorCodeExecutionToolResult,
    /// `tool_search_tool_result`.
    ToolSearchToolResult,
    /// `container_upload`.
    ContainerUpload,
    /// `compaction`: a summary of earlier context (`content`, `encrypted_content`).
    Compaction,
    /// `fallback`: the reply continues on another model (`from`, `to`).
    Fallback,
    /// Any other type: the block is still kept whole.
    Other,
}

impl BlockKind {
    /// The kind named by a block's `"type"`.
    #[must_use]
    pub fn from_type(block_type: &str) -> Self {
        match block_type {
            "text" => Self::Text,
            "tool_use" => Self::ToolUse,
            "server_tool_use" => Self::ServerToolUse,
            "mcp_tool_use" => Self::McpToolUse,
            "mcp_tool_result" => Self::McpToolResult,
            "thinking" => Self::Thinking,
            "redacted_thinking" => Self::RedactedThinking,
            "web_search_tool_result" => Self::WebSearchToolResult,
            "web_fetch_tool_result" => Self::WebFetchToolResult,
            "code_execution_tool_result" => Self::CodeExecutionToolResult,
            "bash_code_execution_tool_result" => Self::BashCodeExecutionToolResult,
            "text_editor_code_execution_tool_result" => Self::TextEditorCodeExecutionToolResult,
            "tool_search_tool_result" => Self::ToolSearchToolResult,
            "container_upload" => Self::ContainerUpload,
            "compaction" => Self::Compaction,
            "fallback" => Self::Fallback,
            _ => Self::Other,
        }
    }
}

/// One content block, kept as the JSON object it was received as, with typed accessors.
///
/// ```
/// use stream_core::messages::{BlockKind, ContentBlock};
///
/// let block: ContentBlock = serde_json::from_str(
///     r#"{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"},"caller":{"type":"direct"}}"#,
/// )?;
/// assert_eq!(block.kind(), BlockKind::ToolUse);
/// assert_eq!(block.name(), Some("get_weather"));
/// assert_eq!(block.input().unwrap()["city"], "Paris");
/// // Unknown fields survive the round trip.
/// assert_eq!(serde_json::to_value(&block)?["caller"]["type"], "direct");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentBlock {
    json: JsonObject,
}

impl ContentBlock {
    /// A block from its JSON object.
    #[must_use]
    pub fn from_json(json: JsonObject) -> Self {
        Self { json }
    }

    /// The block's `"type"` (`""` if it has none).
    #[must_use]
    pub fn block_type(&self) -> &str {
        self.str_field("type").unwrap_or("")
    }

    /// The block's kind.
    #[must_use]
    pub fn kind(&self) -> BlockKind {
        BlockKind::from_type(self.block_type())
    }

    /// The text of a `text` block.
    #[must_use]
    pub fn text(&self) -> Option<&str> {
        self.str_field("text")
    }

    /// The thinking text of a `thinking` block.
    #[must_use]
    pub fn thinking(&self) -> Option<&str> {
        self.str_field("thinking")
    }

    /// The signature of a `thinking` block.
    #[must_use]
    pub fn signature(&self) -> Option<&str> {
        self.str_field("signature")
    }

    /// The `id` of a tool use block.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.str_field("id")
    }

    /// The tool `name` of a tool use block.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.str_field("name")
    }

    /// The `input` of a tool use block.
    #[must_use]
    pub fn input(&self) -> Option<&Value> {
        self.json.get("input")
    }

    /// Whether the block has an `input` field, so that `input_json_delta`s apply to it.
    #[must_use]
    pub fn takes_input(&self) -> bool {
        self.json.contains_key("input")
    }

    /// The `citations` of a `text` block (empty when absent or null).
    #[must_use]
    pub fn citations(&self) -> &[Value] {
        match self.json.get("citations") {
            Some(Value::Array(citations)) => citations,
            _ => &[],
        }
    }

    /// The whole JSON object.
    #[must_use]
    pub fn as_json(&self) -> &JsonObject {
        &self.json
    }

    /// The whole JSON object, mutably (for callers who edit a block before sending it back).
    pub fn as_json_mut(&mut self) -> &mut JsonObject {
        &mut self.json
    }

    /// The JSON object.
    #[must_use]
    pub fn into_json(self) -> JsonObject {
        self.json
    }

    fn str_field(&self, key: &str) -> Option<&str> {
        self.json.get(key).and_then(Value::as_str)
    }

    /// Appends to a string field that exists; says whether it did.
    pub(crate) fn append_to_str(&mut self, key: &str, more: &str) -> bool {
        match self.json.get_mut(key) {
            Some(Value::String(text)) => {
                text.push_str(more);
                true
            }
            _ => false,
        }
    }

    /// Appends to a string field, creating it when it is absent or not a string.
    pub(crate) fn append_str(&mut self, key: &str, more: &str) {
        match self.json.get_mut(key) {
            Some(Value::String(text)) => text.push_str(more),
            _ => {
                self.json
                    .insert(key.to_string(), Value::String(more.to_string()));
            }
        }
    }

    /// Appends one citation, creating the list when it is absent or null.
    pub(crate) fn push_citation(&mut self, citation: Value) {
        match self.json.get_mut("citations") {
            Some(Value::Array(citations)) => citations.push(citation),
            _ => {
                self.json
                    .insert("citations".to_string(), Value::Array(alloc::vec![citation]));
            }
        }
    }

    /// Sets a field.
    pub(crate) fn set(&mut self, key: &str, value: Value) {
        self.json.insert(key.to_string(), value);
    }
}

/// Why the model stopped.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StopReason {
    /// `end_turn`: the model finished its turn.
    EndTurn,
    /// `max_tokens`: the `max_tokens` limit was reached.
    MaxTokens,
    /// `stop_sequence`: one of the stop sequences was generated.
    StopSequence,
    /// `tool_use`: the model wants a tool's result.
    ToolUse,
    /// `pause_turn`: a long turn was paused; send the message back to continue.
    PauseTurn,
    /// `refusal`: the model declined (see the message's `stop_details`).
    Refusal,
    /// `model_context_window_exceeded`: the context window is full.
    ModelContextWindowExceeded,
    /// A reason this crate does not know, as sent.
    Other(String),
}

impl StopReason {
    /// The reason named by the wire string.
    #[must_use]
    pub fn from_wire(reason: &str) -> Self {
        match reason {
            "end_turn" => Self::EndTurn,
            "max_tokens" => Self::MaxTokens,
            "stop_sequence" => Self::StopSequence,
            "tool_use" => Self::ToolUse,
            "pause_turn" => Self::PauseTurn,
            "refusal" => Self::Refusal,
            "model_context_window_exceeded" => Self::ModelContextWindowExceeded,
            other => Self::Other(other.to_string()),
        }
    }

    /// The wire string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::EndTurn => "end_turn",
            Self::MaxTokens => "max_tokens",
            Self::StopSequence => "stop_sequence",
            Self::ToolUse => "tool_use",
            Self::PauseTurn => "pause_turn",
            Self::Refusal => "refusal",
            Self::ModelContextWindowExceeded => "model_context_window_exceeded",
            Self::Other(other) => other,
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Token usage. Counts are cumulative totals for the message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Input tokens read (not counting cache reads and writes).
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens generated.
    #[serde(default)]
    pub output_tokens: u64,
    /// Input tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Input tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// Cache writes by time to live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation: Option<CacheCreation>,
    /// Server tool use counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_tool_use: Option<ServerToolUsage>,
    /// Output token breakdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_details: Option<OutputTokensDetails>,
    /// Per-iteration usage of a multi-iteration turn, kept as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<Vec<Value>>,
    /// The service tier that served the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// Cache writes by time to live.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CacheCreation {
    /// Tokens written with a 5-minute time to live.
    #[serde(default)]
    pub ephemeral_5m_input_tokens: u64,
    /// Tokens written with a 1-hour time to live.
    #[serde(default)]
    pub ephemeral_1h_input_tokens: u64,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// Server tool use counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerToolUsage {
    /// Web search requests made.
    #[serde(default)]
    pub web_search_requests: u64,
    /// Web fetch requests made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_fetch_requests: Option<u64>,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// Output token breakdown.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OutputTokensDetails {
    /// Tokens spent on thinking.
    #[serde(default)]
    pub thinking_tokens: u64,
    /// Fields this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: JsonObject,
}

/// A message: the JSON object received in `message_start`, updated by the stream, with its
/// content blocks.
///
/// Serializes to the same shape as a non-streaming Messages API response.
///
/// ```
/// use stream_core::messages::{Message, StopReason};
///
/// let message: Message = serde_json::from_str(r#"{
///     "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
///     "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": " there"}],
///     "stop_reason": "end_turn", "stop_sequence": null,
///     "usage": {"input_tokens": 10, "output_tokens": 2}
/// }"#)?;
/// assert_eq!(message.text(), "Hello there");
/// assert_eq!(message.stop_reason(), Some(StopReason::EndTurn));
/// assert_eq!(message.usage().output_tokens, 2);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    /// Every field but `content`.
    json: JsonObject,
    content: Vec<ContentBlock>,
}

impl Message {
    /// A message from its JSON object (its `content`, if an array of objects, becomes the
    /// blocks; anything else in `content` is kept under that key).
    #[must_use]
    pub fn from_json(mut json: JsonObject) -> Self {
        let content = match json.remove("content") {
            Some(Value::Array(blocks)) if blocks.iter().all(Value::is_object) => blocks
                .into_iter()
                .filter_map(|block| match block {
                    Value::Object(object) => Some(ContentBlock::from_json(object)),
                    _ => None,
                })
                .collect(),
            Some(other) => {
                json.insert("content".to_string(), other);
                Vec::new()
            }
            None => Vec::new(),
        };
        Self { json, content }
    }

    /// The message id.
    #[must_use]
    pub fn id(&self) -> Option<&str> {
        self.json.get("id").and_then(Value::as_str)
    }

    /// The model that wrote the message (after a `fallback` block, the model it fell back to).
    #[must_use]
    pub fn model(&self) -> Option<&str> {
        self.json.get("model").and_then(Value::as_str)
    }

    /// The role (`assistant`).
    #[must_use]
    pub fn role(&self) -> Option<&str> {
        self.json.get("role").and_then(Value::as_str)
    }

    /// The content blocks.
    #[must_use]
    pub fn content(&self) -> &[ContentBlock] {
        &self.content
    }

    /// The content blocks, mutably.
    pub fn content_mut(&mut self) -> &mut Vec<ContentBlock> {
        &mut self.content
    }

    /// The text of every `text` block, joined with no separator.
    #[must_use]
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter(|block| block.kind() == BlockKind::Text)
            .filter_map(ContentBlock::text)
            .collect()
    }

    /// Why the model stopped, once known.
    #[must_use]
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.json
            .get("stop_reason")
            .and_then(Value::as_str)
            .map(StopReason::from_wire)
    }

    /// The stop sequence that was generated, if one was.
    #[must_use]
    pub fn stop_sequence(&self) -> Option<&str> {
        self.json.get("stop_sequence").and_then(Value::as_str)
    }

    /// Details of the stop (for a refusal: category, explanation, ...), as sent.
    #[must_use]
    pub fn stop_details(&self) -> Option<&Value> {
        self.json.get("stop_details").filter(|v| !v.is_null())
    }

    /// The usage, typed. Fields that are missing or malformed read as their defaults; the
    /// exact JSON is in [`as_json`](Self::as_json).
    #[must_use]
    pub fn usage(&self) -> Usage {
        self.json
            .get("usage")
            .and_then(|usage| Usage::deserialize(usage).ok())
            .unwrap_or_default()
    }

    /// Every field but `content`, as received and updated.
    #[must_use]
    pub fn as_json(&self) -> &JsonObject {
        &self.json
    }

    /// Every field but `content`, mutably.
    pub fn as_json_mut(&mut self) -> &mut JsonObject {
        &mut self.json
    }

    /// The whole message as a JSON value (the shape of a non-streaming response).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut json = self.json.clone();
        json.insert(
            "content".to_string(),
            Value::Array(
                self.content
                    .iter()
                    .map(|block| Value::Object(block.as_json().clone()))
                    .collect(),
            ),
        );
        Value::Object(json)
    }
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.json.len() + 1))?;
        let mut content_written = false;
        for (key, value) in &self.json {
            if !content_written && key.as_str() > "content" {
                map.serialize_entry("content", &self.content)?;
                content_written = true;
            }
            map.serialize_entry(key, value)?;
        }
        if !content_written {
            map.serialize_entry("content", &self.content)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Message {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        JsonObject::deserialize(deserializer).map(Self::from_json)
    }
}
