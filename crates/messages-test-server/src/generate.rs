//! Deterministic generated replies: a Messages event stream produced one event at a time, so a
//! reply of hundreds of MiB never sits in memory, and the final message the stream describes.

use bytes::Bytes;
use serde_json::{Value, json};

/// The shape of a generated reply: which blocks, how many deltas, how large.
///
/// The stream is a function of these fields alone (and of the request's model when none is
/// set), so two runs produce the same bytes and [`Generate::expected_message`] can tell a test
/// what a correct client must end up with.
///
/// ```
/// use messages_test_server::Generate;
///
/// // A thinking block of 3 deltas, then 100 text deltas of 16 bytes with 2 citations, then a
/// // tool call whose JSON input is about 1 MiB, sent in 8-byte deltas.
/// let reply = Generate::text(100)
///     .delta_len(16)
///     .thinking(3)
///     .citations(2)
///     .tool_use(1 << 20)
///     .tool_delta_len(8);
/// assert_eq!(reply.expected_text().len(), 100 * 16);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Generate {
    pub(crate) text_deltas: u64,
    pub(crate) delta_len: usize,
    pub(crate) thinking_deltas: u64,
    pub(crate) citations: u64,
    pub(crate) tool_input_len: u64,
    pub(crate) tool_delta_len: usize,
    pub(crate) seed: u64,
    pub(crate) model: Option<String>,
}

impl Default for Generate {
    fn default() -> Self {
        Self::text(12)
    }
}

const WORDS: &[&str] = &[
    "stream", "event", "delta", "token", "signal", "buffer", "river", "quiet", "light", "north",
    "copper", "window", "garden", "paper", "orbit", "ember", "harbor", "meadow", "vector",
    "lattice",
];

impl Generate {
    /// A reply with one text block of `deltas` text deltas (16 bytes each by default).
    pub fn text(deltas: u64) -> Self {
        Self {
            text_deltas: deltas,
            delta_len: 16,
            thinking_deltas: 0,
            citations: 0,
            tool_input_len: 0,
            tool_delta_len: 64,
            seed: 0,
            model: None,
        }
    }

    /// Bytes per text and thinking delta (at least 1). Text is ASCII, so every delta is
    /// exactly this long.
    pub fn delta_len(mut self, len: usize) -> Self {
        self.delta_len = len.max(1);
        self
    }

    /// Puts a thinking block of `deltas` thinking deltas and a signature before the text.
    pub fn thinking(mut self, deltas: u64) -> Self {
        self.thinking_deltas = deltas;
        self
    }

    /// Spreads `count` citation deltas through the text block.
    pub fn citations(mut self, count: u64) -> Self {
        self.citations = count;
        self
    }

    /// Ends with a `tool_use` block whose JSON input is about `bytes` long (an object holding
    /// an array of records with strings, escapes, numbers and booleans); the stop reason
    /// becomes `tool_use`. Zero removes the block.
    pub fn tool_use(mut self, bytes: u64) -> Self {
        self.tool_input_len = bytes;
        self
    }

    /// Bytes per `input_json_delta` (at least 1).
    pub fn tool_delta_len(mut self, len: usize) -> Self {
        self.tool_delta_len = len.max(1);
        self
    }

    /// Changes the words chosen and the ids (the default seed is 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The model the reply names (by default the request's `model`).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// The text block's full text: every text delta joined.
    #[must_use]
    pub fn expected_text(&self) -> String {
        let mut words = self.prose(1);
        let mut text = String::new();
        for _ in 0..self.text_deltas {
            text.push_str(&words.take(self.delta_len));
        }
        text
    }

    /// The tool call's full input as JSON text (empty when there is no tool call).
    #[must_use]
    pub fn expected_tool_input(&self) -> String {
        let mut out = String::new();
        let mut input = ToolInput::new(self.tool_input_len);
        while let Some(piece) = input.next_piece() {
            out.push_str(&piece);
        }
        out
    }

    /// The final message a correct client accumulates from this reply (`model` stands in
    /// when the reply names none). It is built in memory: ask for it only for sizes that fit.
    ///
    /// # Panics
    ///
    /// Never for the inputs this type can describe (the generated tool input is valid JSON).
    #[must_use]
    pub fn expected_message(&self, model: &str) -> Value {
        let mut content = Vec::new();
        if self.thinking_deltas > 0 {
            let mut words = self.prose(0);
            let mut thinking = String::new();
            for _ in 0..self.thinking_deltas {
                thinking.push_str(&words.take(self.delta_len));
            }
            content.push(json!({
                "type": "thinking",
                "thinking": thinking,
                "signature": self.signature(),
            }));
        }
        let mut text = json!({"type": "text", "text": self.expected_text()});
        if self.citations > 0 {
            let citations: Vec<Value> = (0..self.citations).map(|c| self.citation(c)).collect();
            text["citations"] = Value::Array(citations);
        }
        content.push(text);
        if self.tool_input_len > 0 {
            let input: Value = serde_json::from_str(&self.expected_tool_input())
                .expect("the generated tool input is valid JSON");
            content.push(json!({
                "type": "tool_use",
                "id": self.tool_id(),
                "name": "record_items",
                "input": input,
            }));
        }
        let mut message = self.message_start(model);
        message["content"] = Value::Array(content);
        message["stop_reason"] = json!(self.stop_reason());
        message["usage"]["output_tokens"] = json!(self.output_tokens());
        message
    }

    /// The whole event stream as bytes, as the server sends it for a request naming `model`
    /// (when the reply names none). Built in memory: for sizes that fit. Serve it with
    /// [`Reply::recorded`](crate::Reply::recorded) to take the generator off the server's hot
    /// path, as the loopback benchmarks do.
    ///
    /// ```
    /// use messages_test_server::Generate;
    ///
    /// let body = Generate::text(3).stream_bytes("claude-test");
    /// let text = String::from_utf8(body).unwrap();
    /// assert!(text.starts_with("event: message_start\n"));
    /// assert_eq!(text.matches("event: content_block_delta\n").count(), 3);
    /// // Deltas are laid out as the API lays them out.
    /// let prefix = r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""#;
    /// assert_eq!(text.matches(prefix).count(), 3);
    /// assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
    /// ```
    #[must_use]
    pub fn stream_bytes(&self, model: &str) -> Vec<u8> {
        let mut body = Vec::new();
        for event in self.events(model) {
            body.extend_from_slice(&event);
        }
        body
    }

    /// The events of the reply, produced lazily.
    pub(crate) fn events(&self, request_model: &str) -> GeneratedEvents {
        GeneratedEvents {
            spec: self.clone(),
            model: self
                .model
                .clone()
                .unwrap_or_else(|| request_model.to_owned()),
            phase: Phase::MessageStart,
            tool_input: ToolInput::new(self.tool_input_len),
            pending_tool: String::new(),
            pending_at: 0,
            thinking: self.prose(0),
            text: self.prose(1),
        }
    }

    fn text_index(&self) -> u64 {
        u64::from(self.thinking_deltas > 0)
    }

    fn stop_reason(&self) -> &'static str {
        if self.tool_input_len > 0 {
            "tool_use"
        } else {
            "end_turn"
        }
    }

    fn output_tokens(&self) -> u64 {
        self.text_deltas + self.thinking_deltas + self.tool_input_len.div_ceil(4) + 1
    }

    fn message_start(&self, model: &str) -> Value {
        json!({
            "id": format!("msg_01TestServer{:016x}", self.seed),
            "type": "message",
            "role": "assistant",
            "model": self.model.as_deref().unwrap_or(model),
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {
                "input_tokens": 25,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
        })
    }

    fn tool_id(&self) -> String {
        format!("toolu_01TestServer{:016x}", self.seed)
    }

    fn signature(&self) -> String {
        format!("EqQBCkgIARABGAIiQ{:016x}TestServerSignature==", self.seed)
    }

    fn citation(&self, n: u64) -> Value {
        json!({
            "type": "char_location",
            "cited_text": format!("cited passage {n}"),
            "document_index": 0,
            "document_title": "Generated document",
            "start_char_index": n * 10,
            "end_char_index": n * 10 + 9,
        })
    }

    /// The deterministic prose of block kind `block` (0 thinking, 1 text).
    fn prose(&self, block: u64) -> Prose {
        Prose {
            state: self.seed ^ block.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            pending: String::new(),
            at: 0,
            sentence_left: 0,
        }
    }
}

/// An endless, deterministic run of sentences made of common words, cut into deltas of any
/// length: consecutive deltas join into the same text whatever the length.
#[derive(Debug)]
struct Prose {
    state: u64,
    pending: String,
    at: usize,
    sentence_left: u64,
}

impl Prose {
    fn next_word(&mut self) {
        self.state = splitmix64(self.state);
        let word = WORDS[usize::try_from(self.state % WORDS.len() as u64).unwrap_or(0)];
        self.pending.clear();
        self.at = 0;
        if self.sentence_left == 0 {
            self.sentence_left = 5 + (self.state >> 32) % 8;
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                self.pending.push(first.to_ascii_uppercase());
                self.pending.push_str(chars.as_str());
            }
        } else {
            self.pending.push_str(word);
        }
        self.sentence_left -= 1;
        self.pending
            .push_str(if self.sentence_left == 0 { ". " } else { " " });
    }

    /// The next `len` bytes (ASCII, so any cut is a char boundary).
    fn take(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len);
        while out.len() < len {
            if self.at == self.pending.len() {
                self.next_word();
            }
            let n = (len - out.len()).min(self.pending.len() - self.at);
            out.push_str(&self.pending[self.at..self.at + n]);
            self.at += n;
        }
        out
    }
}

/// The `SplitMix64` step: a small, good-enough generator for deterministic test data.
pub(crate) fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The tool call's JSON input, produced a record at a time.
#[derive(Debug)]
struct ToolInput {
    target: u64,
    written: u64,
    record: u64,
    done: bool,
}

impl ToolInput {
    fn new(target: u64) -> Self {
        Self {
            target,
            written: 0,
            record: 0,
            done: target == 0,
        }
    }

    fn next_piece(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        let mut piece = if self.record == 0 {
            String::from("{\"items\": [")
        } else {
            String::from(", ")
        };
        let n = self.record;
        piece.push_str(&format!(
            "{{\"id\": {n}, \"name\": \"item-{n:06}\", \"note\": \"say \\\"hi\\\"\\n\\ttab \\u00e9\", \
             \"score\": {n}.5, \"ok\": {}, \"tags\": [\"a\", \"b\"], \"none\": null}}",
            n.is_multiple_of(2)
        ));
        self.record += 1;
        self.written += piece.len() as u64;
        if self.written + 2 >= self.target {
            piece.push_str("]}");
            self.done = true;
        }
        Some(piece)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    MessageStart,
    ThinkingStart,
    Thinking(u64),
    Signature,
    ThinkingStop,
    TextStart,
    Ping,
    Text { texts: u64, cites: u64 },
    TextStop,
    ToolStart,
    Tool,
    ToolStop,
    MessageDelta,
    MessageStop,
    Done,
}

/// The events of one generated reply, each a complete SSE event (`event:` and `data:` lines
/// and the blank line).
#[derive(Debug)]
pub(crate) struct GeneratedEvents {
    spec: Generate,
    model: String,
    phase: Phase,
    tool_input: ToolInput,
    pending_tool: String,
    pending_at: usize,
    thinking: Prose,
    text: Prose,
}

fn sse(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// A `content_block_delta` laid out as the API writes it: compact, keys in the API's order
/// (`type`, `index`, `delta`, and `type` first inside the delta), which is the layout clients
/// meet in production and the one `stream-core` matches fastest.
fn delta(index: u64, delta: &Value) -> Bytes {
    Bytes::from(format!(
        "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{}}}\n\n",
        type_first(delta)
    ))
}

/// A JSON object with its `type` key first, then the others (in `serde_json`'s order).
fn type_first(object: &Value) -> String {
    let Some(map) = object.as_object() else {
        return object.to_string();
    };
    let fields = map
        .get_key_value("type")
        .into_iter()
        .chain(map.iter().filter(|(key, _)| *key != "type"))
        .map(|(key, value)| format!("{}:{value}", Value::from(key.as_str())))
        .collect::<Vec<_>>();
    format!("{{{}}}", fields.join(","))
}

impl Iterator for GeneratedEvents {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let spec = &self.spec;
        let text_index = spec.text_index();
        let tool_index = text_index + 1;
        loop {
            let (next, event) = match self.phase {
                Phase::MessageStart => {
                    let next = if spec.thinking_deltas > 0 {
                        Phase::ThinkingStart
                    } else {
                        Phase::TextStart
                    };
                    let message = spec.message_start(&self.model);
                    let data = json!({"type": "message_start", "message": message});
                    (next, Some(sse("message_start", &data)))
                }
                Phase::ThinkingStart => (
                    Phase::Thinking(0),
                    Some(sse(
                        "content_block_start",
                        &json!({"type": "content_block_start", "index": 0,
                            "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
                    )),
                ),
                Phase::Thinking(i) if i < spec.thinking_deltas => (
                    Phase::Thinking(i + 1),
                    Some(delta(
                        0,
                        &json!({"type": "thinking_delta", "thinking": self.thinking.take(spec.delta_len)}),
                    )),
                ),
                Phase::Thinking(_) => (Phase::Signature, None),
                Phase::Signature => (
                    Phase::ThinkingStop,
                    Some(delta(
                        0,
                        &json!({"type": "signature_delta", "signature": spec.signature()}),
                    )),
                ),
                Phase::ThinkingStop => (
                    Phase::TextStart,
                    Some(sse(
                        "content_block_stop",
                        &json!({"type": "content_block_stop", "index": 0}),
                    )),
                ),
                Phase::TextStart => (
                    Phase::Ping,
                    Some(sse(
                        "content_block_start",
                        &json!({"type": "content_block_start", "index": text_index,
                            "content_block": {"type": "text", "text": ""}}),
                    )),
                ),
                Phase::Ping => (Phase::Text { texts: 0, cites: 0 }, Some(ping())),
                Phase::Text { texts, cites } => {
                    // Citation `c` follows text delta `(c + 1) * texts / citations`, so they
                    // sit evenly among the text, each after the text it cites.
                    let cite_due = cites < spec.citations
                        && (texts >= spec.text_deltas
                            || texts * spec.citations >= (cites + 1) * spec.text_deltas);
                    if cite_due {
                        let data =
                            json!({"type": "citations_delta", "citation": spec.citation(cites)});
                        (
                            Phase::Text {
                                texts,
                                cites: cites + 1,
                            },
                            Some(delta(text_index, &data)),
                        )
                    } else if texts < spec.text_deltas {
                        let data =
                            json!({"type": "text_delta", "text": self.text.take(spec.delta_len)});
                        (
                            Phase::Text {
                                texts: texts + 1,
                                cites,
                            },
                            Some(delta(text_index, &data)),
                        )
                    } else {
                        (Phase::TextStop, None)
                    }
                }
                Phase::TextStop => (
                    if spec.tool_input_len > 0 {
                        Phase::ToolStart
                    } else {
                        Phase::MessageDelta
                    },
                    Some(sse(
                        "content_block_stop",
                        &json!({"type": "content_block_stop", "index": text_index}),
                    )),
                ),
                Phase::ToolStart => (
                    Phase::Tool,
                    Some(sse(
                        "content_block_start",
                        &json!({"type": "content_block_start", "index": tool_index,
                            "content_block": {"type": "tool_use", "id": spec.tool_id(),
                                "name": "record_items", "input": {}}}),
                    )),
                ),
                Phase::Tool => {
                    // One event per `tool_delta_len` bytes; a piece may span several events.
                    match tool_chunk(
                        &mut self.tool_input,
                        &mut self.pending_tool,
                        &mut self.pending_at,
                        spec.tool_delta_len,
                    ) {
                        Some(chunk) => (
                            Phase::Tool,
                            Some(delta(
                                tool_index,
                                &json!({"type": "input_json_delta", "partial_json": chunk}),
                            )),
                        ),
                        None => (Phase::ToolStop, None),
                    }
                }
                Phase::ToolStop => (
                    Phase::MessageDelta,
                    Some(sse(
                        "content_block_stop",
                        &json!({"type": "content_block_stop", "index": tool_index}),
                    )),
                ),
                Phase::MessageDelta => (
                    Phase::MessageStop,
                    Some(sse(
                        "message_delta",
                        &json!({"type": "message_delta",
                            "delta": {"stop_reason": spec.stop_reason(), "stop_sequence": null},
                            "usage": {"output_tokens": spec.output_tokens()}}),
                    )),
                ),
                Phase::MessageStop => (
                    Phase::Done,
                    Some(sse("message_stop", &json!({"type": "message_stop"}))),
                ),
                Phase::Done => return None,
            };
            self.phase = next;
            if event.is_some() {
                return event;
            }
        }
    }
}

/// The next `input_json_delta` of exactly `len` bytes (the last may be shorter): pieces are
/// produced lazily and cut; the input is ASCII, so every cut is a char boundary.
fn tool_chunk(
    input: &mut ToolInput,
    pending: &mut String,
    at: &mut usize,
    len: usize,
) -> Option<String> {
    let mut chunk = String::with_capacity(len);
    while chunk.len() < len {
        if pending.is_empty() {
            match input.next_piece() {
                Some(piece) => {
                    *pending = piece;
                    *at = 0;
                }
                None => break,
            }
        }
        let take = (len - chunk.len()).min(pending.len() - *at);
        chunk.push_str(&pending[*at..*at + take]);
        *at += take;
        if *at == pending.len() {
            pending.clear();
            *at = 0;
        }
    }
    (!chunk.is_empty()).then_some(chunk)
}

/// The ping event, byte for byte as the API sends it.
pub(crate) fn ping() -> Bytes {
    Bytes::from_static(b"event: ping\ndata: {\"type\": \"ping\"}\n\n")
}
