//! Replies that answer the request as a model would, wherever a streaming client can see it:
//! the prompt and the system prompt reflected in the text, `max_tokens`, `stop_sequences`,
//! thinking, tools and `tool_choice`, the model echoed, and usage that counts what was sent.
//! The same request always gets the same bytes.
//!
//! Tokens are words here (a word and the space after it), so `max_tokens: 20` gives at most
//! 20 words of thinking and text, and `usage.output_tokens` counts exactly what was streamed
//! (tool input counts one token per 4 bytes, rounded up per delta).

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::generate::splitmix64;

/// Words of the made-up continuation.
const WORDS: &[&str] = &[
    "streams", "arrive", "in", "order", "and", "every", "event", "counts", "while", "the", "reply",
    "keeps", "its", "shape", "so", "a", "client", "can", "trust", "what", "it", "sees",
];

/// Bytes of tool input per `input_json_delta`.
const TOOL_DELTA: usize = 12;

/// The whole event stream answering `request` (a Messages request body).
pub(crate) fn stream(request: &Value) -> Bytes {
    let ask = Ask::read(request);
    let mut out = Stream::new(&ask);
    out.run(&ask);
    Bytes::from(out.body)
}

/// What the request asks for.
struct Ask {
    model: String,
    max_tokens: u64,
    stop_sequences: Vec<String>,
    system: String,
    prompt: String,
    tool_results: Vec<String>,
    thinking: bool,
    tool: Option<(Value, bool)>,
    input_tokens: u64,
    seed: u64,
}

impl Ask {
    fn read(request: &Value) -> Self {
        let model = request["model"].as_str().unwrap_or("claude-test-server");
        let system = match &request["system"] {
            Value::String(text) => text.clone(),
            Value::Array(blocks) => texts(blocks),
            _ => String::new(),
        };
        let last_user = request["messages"]
            .as_array()
            .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "user"));
        let (prompt, tool_results) = match last_user.map(|m| &m["content"]) {
            Some(Value::String(text)) => (text.clone(), Vec::new()),
            Some(Value::Array(blocks)) => {
                let results = blocks
                    .iter()
                    .filter(|b| b["type"] == "tool_result")
                    .map(|b| match &b["content"] {
                        Value::String(text) => text.clone(),
                        Value::Array(inner) => texts(inner),
                        _ => String::new(),
                    })
                    .collect();
                (texts(blocks), results)
            }
            _ => (String::new(), Vec::new()),
        };
        let thinking = matches!(
            request["thinking"]["type"].as_str(),
            Some("enabled" | "adaptive")
        );
        let tools = request["tools"].as_array().cloned().unwrap_or_default();
        let choice = &request["tool_choice"];
        let named = |name: &str| tools.iter().find(|t| t["name"] == name).cloned();
        // A forced call (`any`, or a named tool) comes with no text before it; under `auto`
        // a tool is called when the prompt names it, after a sentence that says so.
        let tool = match choice["type"].as_str() {
            Some("none") => None,
            Some("any") => tools.first().cloned().map(|t| (t, true)),
            Some("tool") => choice["name"].as_str().and_then(named).map(|t| (t, true)),
            // Each tool the first prompt names is called once, one per turn, then the answer.
            _ => {
                let first;
                let asked = if tool_results.is_empty() {
                    &prompt
                } else {
                    first = first_prompt(request);
                    &first
                };
                let called = called_tools(request);
                tools
                    .iter()
                    .find(|t| {
                        t["name"].as_str().is_some_and(|n| {
                            !n.is_empty() && asked.contains(n) && !called.iter().any(|c| c == n)
                        })
                    })
                    .cloned()
                    .map(|t| (t, false))
            }
        };
        let mut all_text = system.clone();
        collect_strings(&request["messages"], &mut all_text);
        let seed = all_text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Self {
            model: model.to_owned(),
            max_tokens: request["max_tokens"].as_u64().unwrap_or(1024),
            stop_sequences: request["stop_sequences"]
                .as_array()
                .map(|s| {
                    s.iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            system,
            prompt,
            tool_results,
            thinking,
            tool,
            input_tokens: all_text.split_whitespace().count().max(1) as u64,
            seed,
        }
    }

    /// The text the model means to say (before any stop).
    fn text(&self) -> String {
        let mut text = String::new();
        if !self.tool_results.is_empty() {
            text.push_str(&format!(
                "The tool said: “{}”. ",
                short(&self.tool_results.join("; "))
            ));
            if let Some((tool, false)) = &self.tool {
                let name = tool["name"].as_str().unwrap_or_default();
                text.push_str(&format!("I will call {name} next."));
                return text;
            }
        } else if let Some((tool, false)) = &self.tool {
            let name = tool["name"].as_str().unwrap_or_default();
            return format!("I will call {name} for “{}”.", short(&self.prompt));
        } else {
            text.push_str(&format!("You said: “{}”. ", short(&self.prompt)));
        }
        if !self.system.is_empty() {
            text.push_str(&format!(
                "I follow the system prompt: “{}”. ",
                short(&self.system)
            ));
        }
        text.push_str(&prose(self.seed, 24));
        text
    }

    fn thinking_text(&self) -> String {
        format!(
            "The user wrote “{}”. I should answer briefly and say what I saw. {}",
            short(&self.prompt),
            prose(self.seed ^ 1, 10)
        )
    }
}

/// The events, written as they are produced, with the token budget.
struct Stream {
    body: Vec<u8>,
    left: u64,
    used: u64,
    index: u64,
}

impl Stream {
    fn new(ask: &Ask) -> Self {
        Self {
            body: Vec::new(),
            left: ask.max_tokens,
            used: 0,
            index: 0,
        }
    }

    fn event(&mut self, value: &Value) {
        let name = value["type"].as_str().unwrap_or("message");
        self.body
            .extend_from_slice(format!("event: {name}\ndata: {value}\n\n").as_bytes());
    }

    fn run(&mut self, ask: &Ask) {
        self.event(&json!({"type": "message_start", "message": {
            "id": format!("msg_01Answer{:016x}", ask.seed),
            "type": "message", "role": "assistant", "model": ask.model, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": ask.input_tokens, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 1},
        }}));
        self.event(&json!({"type": "ping"}));
        let (reason, sequence) = self.blocks(ask);
        self.event(&json!({"type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": sequence},
            "usage": {"output_tokens": self.used}}));
        self.event(&json!({"type": "message_stop"}));
    }

    /// The content blocks; returns the stop reason and the stop sequence.
    fn blocks(&mut self, ask: &Ask) -> (&'static str, Option<String>) {
        if ask.thinking {
            let start = json!({"type": "thinking", "thinking": "", "signature": ""});
            if !self.words(&start, "thinking_delta", "thinking", &ask.thinking_text()) {
                return ("max_tokens", None);
            }
        }
        let forced = matches!(ask.tool, Some((_, true)));
        if !forced {
            let mut text = ask.text();
            let stop = ask
                .stop_sequences
                .iter()
                .filter(|s| !s.is_empty())
                .filter_map(|s| text.find(s.as_str()).map(|at| (at, s)))
                .min_by_key(|(at, _)| *at);
            if let Some((at, _)) = stop {
                text.truncate(at);
            }
            let start = json!({"type": "text", "text": ""});
            if !self.words(&start, "text_delta", "text", &text) {
                return ("max_tokens", None);
            }
            if let Some((_, sequence)) = stop {
                return ("stop_sequence", Some(sequence.clone()));
            }
        }
        let Some((tool, _)) = &ask.tool else {
            return ("end_turn", None);
        };
        if self.tool_use(ask, tool) {
            ("tool_use", None)
        } else {
            ("max_tokens", None)
        }
    }

    /// One block of words (two per delta) while the budget lasts; `false` when it ran out.
    fn words(&mut self, start: &Value, delta: &str, field: &str, text: &str) -> bool {
        let index = self.index;
        self.index += 1;
        self.event(&json!({"type": "content_block_start", "index": index, "content_block": start}));
        let words: Vec<&str> = text.split_inclusive(' ').collect();
        let mut complete = true;
        for pair in words.chunks(2) {
            let take = pair
                .len()
                .min(usize::try_from(self.left).unwrap_or(usize::MAX));
            if take > 0 {
                let piece: String = pair[..take].concat();
                self.event(&json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": delta, field: piece}}));
                self.spend(take as u64);
            }
            if take < pair.len() {
                complete = false;
                break;
            }
        }
        if complete && field == "thinking" {
            let signature = format!("EqQBCkgIARABGAIiQAnswer{index}Signature==");
            self.event(&json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "signature_delta", "signature": signature}}));
        }
        self.event(&json!({"type": "content_block_stop", "index": index}));
        complete
    }

    /// A tool call whose input fits the tool's schema, in `input_json_delta`s; `false` when
    /// the budget ran out first (the block then never stops, as the API leaves it).
    fn tool_use(&mut self, ask: &Ask, tool: &Value) -> bool {
        let index = self.index;
        self.index += 1;
        let input = example(&tool["input_schema"], &ask.prompt, 0).to_string();
        self.event(
            &json!({"type": "content_block_start", "index": index, "content_block": {
            "type": "tool_use", "id": format!("toolu_01Answer{:016x}", ask.seed),
            "name": tool["name"], "input": {}}}),
        );
        let mut rest = input.as_str();
        while !rest.is_empty() {
            // At most TOOL_DELTA bytes, at most what the budget pays for (4 bytes a token),
            // cut at a character boundary.
            let budget = usize::try_from(self.left.saturating_mul(4)).unwrap_or(usize::MAX);
            let mut end = rest.len().min(TOOL_DELTA).min(budget);
            while !rest.is_char_boundary(end) {
                end -= 1;
            }
            if end == 0 {
                return false;
            }
            let (piece, tail) = rest.split_at(end);
            rest = tail;
            self.event(&json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": piece}}));
            self.spend(piece.len().div_ceil(4) as u64);
        }
        self.event(&json!({"type": "content_block_stop", "index": index}));
        true
    }

    fn spend(&mut self, tokens: u64) {
        let tokens = tokens.min(self.left);
        self.left -= tokens;
        self.used += tokens;
    }
}

/// The text of the conversation's first user message.
fn first_prompt(request: &Value) -> String {
    let first = request["messages"]
        .as_array()
        .and_then(|messages| messages.iter().find(|m| m["role"] == "user"));
    match first.map(|m| &m["content"]) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(blocks)) => texts(blocks),
        _ => String::new(),
    }
}

/// The names of the tools the assistant already called in the conversation.
fn called_tools(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "assistant")
        .filter_map(|m| m["content"].as_array())
        .flatten()
        .filter(|b| b["type"] == "tool_use")
        .filter_map(|b| b["name"].as_str().map(str::to_owned))
        .collect()
}

/// A value that satisfies `schema`'s types and required properties (enums and constants
/// taken as given; strings echo the prompt).
fn example(schema: &Value, prompt: &str, depth: u32) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.as_str(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    let minimum = schema["minimum"].as_f64();
    match kind {
        "object" => {
            let properties = schema["properties"].as_object();
            let mut required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if required.is_empty()
                && let Some(first) = properties.and_then(|p| p.keys().next())
            {
                required.push(first);
            }
            let mut object = Map::new();
            for name in required {
                let property = properties.and_then(|p| p.get(name)).unwrap_or(&Value::Null);
                object.insert(name.to_owned(), example(property, prompt, depth + 1));
            }
            Value::Object(object)
        }
        "array" => Value::Array(vec![example(&schema["items"], prompt, depth + 1)]),
        "integer" => json!(integer_at_least(schema["minimum"].as_i64(), minimum)),
        "number" => json!(minimum.map_or(1.5, |m| m + 0.5)),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => Value::String(short(prompt)),
    }
}

/// The smallest integer at or above a schema's `minimum` (1 without one).
fn integer_at_least(exact: Option<i64>, minimum: Option<f64>) -> i64 {
    match (exact, minimum) {
        (Some(exact), _) => exact,
        (None, Some(minimum)) => {
            // Below 2^53 a float's ceiling is exact; beyond, any large integer will do.
            let ceiling = minimum.ceil().clamp(-9e15, 9e15);
            format!("{ceiling:.0}").parse().unwrap_or(1)
        }
        (None, None) => 1,
    }
}

/// The text of the text blocks in `blocks`, joined with spaces.
fn texts(blocks: &[Value]) -> String {
    blocks
        .iter()
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every string inside `value`, appended with spaces.
fn collect_strings(value: &Value, out: &mut String) {
    match value {
        Value::String(text) => {
            out.push(' ');
            out.push_str(text);
        }
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// At most 60 characters of `text` on one line, with an ellipsis when cut.
fn short(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// `count` words of made-up prose, the same for the same seed, ending with a period.
fn prose(mut seed: u64, count: usize) -> String {
    let mut words = Vec::with_capacity(count);
    for _ in 0..count {
        seed = splitmix64(seed);
        words.push(WORDS[usize::try_from(seed % WORDS.len() as u64).unwrap_or(0)]);
    }
    let mut text = words.join(" ");
    if let Some(first) = text.get(..1) {
        text.replace_range(..1, &first.to_ascii_uppercase());
    }
    text.push('.');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events of a reply, parsed.
    fn events(request: &Value) -> Vec<Value> {
        let body = stream(request);
        String::from_utf8(body.to_vec())
            .unwrap()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| serde_json::from_str(e.split_once("data: ").unwrap().1).unwrap())
            .collect()
    }

    fn stop(events: &[Value]) -> (Value, Value, u64) {
        let delta = events
            .iter()
            .find(|e| e["type"] == "message_delta")
            .unwrap();
        (
            delta["delta"]["stop_reason"].clone(),
            delta["delta"]["stop_sequence"].clone(),
            delta["usage"]["output_tokens"].as_u64().unwrap(),
        )
    }

    fn text_of(events: &[Value], field: &str) -> String {
        events
            .iter()
            .filter_map(|e| e["delta"][field].as_str())
            .collect()
    }

    fn request() -> Value {
        json!({"model": "claude-x", "max_tokens": 1024, "system": "Be brief.",
               "messages": [{"role": "user", "content": "What is a stream?"}]})
    }

    #[test]
    fn the_prompt_system_and_model_are_reflected_deterministically() {
        let events = events(&request());
        assert_eq!(events[0]["message"]["model"], "claude-x");
        let text = text_of(&events, "text");
        assert!(
            text.starts_with(
                "You said: “What is a stream?”. I follow the system prompt: “Be brief.”."
            ),
            "{text}"
        );
        let (reason, _, used) = stop(&events);
        assert_eq!(reason, "end_turn");
        assert_eq!(used, text.split_inclusive(' ').count() as u64);
        assert_eq!(stream(&request()), stream(&request()));
    }

    #[test]
    fn max_tokens_cuts_with_matching_usage() {
        let mut request = request();
        request["max_tokens"] = json!(5);
        let events = events(&request);
        let text = text_of(&events, "text");
        assert_eq!(text.split_inclusive(' ').count(), 5, "{text}");
        assert_eq!(stop(&events), (json!("max_tokens"), Value::Null, 5));
    }

    #[test]
    fn a_stop_sequence_ends_the_text_before_it() {
        let mut request = request();
        request["stop_sequences"] = json!(["system"]);
        let events = events(&request);
        let text = text_of(&events, "text");
        assert!(text.ends_with("I follow the "), "{text}");
        assert_eq!(stop(&events).0, "stop_sequence");
        assert_eq!(stop(&events).1, "system");
    }

    #[test]
    fn thinking_comes_first_with_a_signature_and_counts() {
        let mut request = request();
        request["thinking"] = json!({"type": "enabled", "budget_tokens": 2000});
        let events = events(&request);
        assert_eq!(events[2]["content_block"]["type"], "thinking");
        let thinking = text_of(&events, "thinking");
        assert!(thinking.contains("What is a stream?"));
        assert!(
            events
                .iter()
                .any(|e| e["delta"]["type"] == "signature_delta")
        );
        let used = stop(&events).2;
        let words = thinking.split_inclusive(' ').count()
            + text_of(&events, "text").split_inclusive(' ').count();
        assert_eq!(used, words as u64);
    }

    #[test]
    fn a_forced_tool_gets_input_that_fits_its_schema() {
        let mut request = request();
        request["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 2},
                           "unit": {"enum": ["celsius", "fahrenheit"]}, "alerts": {"type": "boolean"}},
            "required": ["city", "days", "unit"]}}]);
        request["tool_choice"] = json!({"type": "any"});
        let events = events(&request);
        assert!(
            text_of(&events, "text").is_empty(),
            "no text before a forced call"
        );
        let streamed = text_of(&events, "partial_json");
        let input: Value = serde_json::from_str(&streamed).unwrap();
        assert_eq!(
            input,
            json!({"city": "What is a stream?", "days": 2, "unit": "celsius"})
        );
        assert_eq!(stop(&events).0, "tool_use");
        let pieces = events
            .iter()
            .filter_map(|e| e["delta"]["partial_json"].as_str());
        let tokens: usize = pieces.map(|p| p.len().div_ceil(4)).sum();
        assert_eq!(stop(&events).2, tokens as u64);

        // A budget smaller than the input cuts it, and charges what was sent.
        let mut small = request.clone();
        small["max_tokens"] = json!(3);
        let events = self::events(&small);
        assert_eq!(text_of(&events, "partial_json"), r#"{"city":"Wha"#);
        assert_eq!(stop(&events), (json!("max_tokens"), Value::Null, 3));
        let mut integers = request.clone();
        integers["tools"][0]["input_schema"] = json!({"type": "object",
            "properties": {"n": {"type": "integer"}, "m": {"type": "integer", "minimum": 2.5}},
            "required": ["n", "m"]});
        let events = self::events(&integers);
        assert_eq!(text_of(&events, "partial_json"), r#"{"m":3,"n":1}"#);

        request["tool_choice"] = json!({"type": "none"});
        assert_eq!(stop(&self::events(&request)).0, "end_turn");
        request["tool_choice"] = json!({"type": "auto"});
        request["messages"][0]["content"] = json!("Use get_weather for Oslo");
        let events = self::events(&request);
        assert!(text_of(&events, "text").starts_with("I will call get_weather"));
        assert_eq!(stop(&events).0, "tool_use");
    }

    #[test]
    fn a_tool_result_is_answered() {
        let request = json!({"model": "m", "max_tokens": 100, "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "w", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "Sunny"}]}]});
        assert!(text_of(&events(&request), "text").starts_with("The tool said: “Sunny”."));
    }
}
