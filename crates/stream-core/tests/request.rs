//! Request bodies and headers as the API receives them: bodies round-trip through
//! `MessageParams::from_json`, typed fields cannot be overridden by extras, headers are sent
//! once, and base URLs keep their path and query.

use serde_json::{Value, json};
use stream_core::request::{
    ClientConfig, MessageParam, MessageParams, ParamsError, Thinking, Tool,
};

/// A request body from the API's documentation: custom and server tools, adaptive thinking
/// with a field this crate does not know, `cache_control`, MCP servers, metadata, `top_k`.
fn documented_body() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "What's new with the solar eclipse, and the weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Two tools.", "signature": "c2ln"},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "18 C"}]}
            ]}
        ],
        "tools": [
            {"name": "get_weather", "description": "The weather.", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}, "cache_control": {"type": "ephemeral"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3, "allowed_domains": ["nasa.gov"]},
            {"type": "code_execution_20250825", "name": "code_execution"},
            {"type": "bash_20250124", "name": "bash"},
            {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
            {"type": "memory_20250818", "name": "memory"},
            {"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 2},
            {"type": "computer_20250124", "name": "computer", "display_width_px": 1024, "display_height_px": 768},
            {"type": "a_future_tool_20300101", "name": "future", "anything": {"nested": [1, 2.5]}}
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "thinking": {"type": "adaptive", "effort": "high"},
        "mcp_servers": [{"type": "url", "url": "https://mcp.example/sse", "name": "example"}],
        "metadata": {"user_id": "u-1"},
        "top_k": 40,
        "stop_sequences": ["\n\nHuman:"]
    })
}

#[test]
fn documented_bodies_round_trip_through_from_json() {
    let body = documented_body();
    let params = MessageParams::from_json(&body.to_string()).unwrap();
    params.validate().unwrap();
    assert_eq!(serde_json::to_value(&params).unwrap(), body);
    let thinking = params.thinking.as_ref().unwrap();
    assert_eq!(
        (thinking.kind(), thinking.budget_tokens()),
        ("adaptive", None)
    );
    // The server tools carry no `input_schema` (not even `null`).
    let sent = ClientConfig::new().build_request(&params, 0).unwrap();
    let sent: Value = serde_json::from_slice(&sent.body).unwrap();
    assert_eq!(sent["tools"][1].get("input_schema"), None);
    assert_eq!(sent["stream"], true);
}

#[test]
fn typed_builders_give_the_same_body() {
    let params = MessageParams::new("m", 64)
        .message(MessageParam::user("Hi"))
        .tool(Tool::server("web_search_20250305", "web_search").with("max_uses", json!(3)))
        .thinking(2048);
    let body = serde_json::to_value(&params).unwrap();
    assert_eq!(
        body["tools"],
        json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}])
    );
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    let mut params = params;
    params.thinking = Some(Thinking::adaptive());
    assert_eq!(
        serde_json::to_value(&params).unwrap()["thinking"],
        json!({"type": "adaptive"})
    );
}

#[test]
fn an_extra_never_overrides_a_typed_field() {
    let base = || MessageParams::new("m", 64).message(MessageParam::user("Hi"));
    for field in [
        "model",
        "max_tokens",
        "messages",
        "thinking",
        "tools",
        "top_k",
        "stream",
    ] {
        assert_eq!(
            base().extra(field, json!(1)).validate(),
            Err(ParamsError::ReservedField(field.to_owned())),
            "{field}"
        );
    }
    // Fields without a typed home go through as they are.
    let params = base().extra("context_management", json!({"edits": []}));
    params.validate().unwrap();
    assert_eq!(
        serde_json::to_value(&params).unwrap()["context_management"],
        json!({"edits": []})
    );
}

#[test]
fn each_header_is_sent_once_and_the_last_setting_wins() {
    let params = MessageParams::new("m", 64).message(MessageParam::user("Hi"));
    let config = ClientConfig::new()
        .api_key("sk-test")
        .beta("a")
        .beta("b")
        .header("anthropic-beta", "b, c")
        .header("X-Trace", "1")
        .header("x-trace", "2")
        .header("anthropic-version", "2099-01-01");
    let request = config.build_request(&params, 0).unwrap();
    let count = |name: &str| request.headers.iter().filter(|(n, _)| n == name).count();
    assert_eq!(request.header("anthropic-beta"), Some("a,b,c"));
    assert_eq!(request.header("x-trace"), Some("2"));
    assert_eq!(request.header("anthropic-version"), Some("2099-01-01"));
    for name in [
        "anthropic-beta",
        "x-trace",
        "anthropic-version",
        "x-api-key",
    ] {
        assert_eq!(count(name), 1, "{name}");
    }
}

#[test]
fn base_urls_keep_their_path_and_query() {
    let params = MessageParams::new("m", 64).message(MessageParam::user("Hi"));
    for (base, url) in [
        (
            "https://api.anthropic.com",
            "https://api.anthropic.com/v1/messages",
        ),
        (
            "https://api.anthropic.com/",
            "https://api.anthropic.com/v1/messages",
        ),
        (
            "http://127.0.0.1:8080/proxy",
            "http://127.0.0.1:8080/proxy/v1/messages",
        ),
        (
            "https://gw.example/p?key=1",
            "https://gw.example/p/v1/messages?key=1",
        ),
        (
            "https://gw.example/p/?key=1&x=2",
            "https://gw.example/p/v1/messages?key=1&x=2",
        ),
        (
            "https://gw.example?key=1",
            "https://gw.example/v1/messages?key=1",
        ),
    ] {
        let request = ClientConfig::new()
            .base_url(base)
            .build_request(&params, 0)
            .unwrap();
        assert_eq!(request.url, url, "{base}");
    }
}

/// The request bodies of `fixtures/requests` (from the official SDKs' tests and examples, and
/// one handmade body with every block and server tool): each parses, validates, and goes back
/// to the same JSON; the body sent is the same JSON plus `stream: true`.
#[test]
fn the_request_corpus_round_trips() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/requests");
    let mut seen = 0;
    for source in std::fs::read_dir(&root).unwrap() {
        let source = source.unwrap().path();
        if !source.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&source).unwrap() {
            let path = file.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let mut body: Value = serde_json::from_str(&text).unwrap();
            let params = MessageParams::from_json(&text)
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            params
                .validate()
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            body.as_object_mut().unwrap().remove("stream");
            assert_eq!(
                serde_json::to_value(&params).unwrap(),
                body,
                "{}",
                path.display()
            );
            let sent = ClientConfig::new().build_request(&params, 0).unwrap();
            let mut sent: Value = serde_json::from_slice(&sent.body).unwrap();
            assert_eq!(sent["stream"], true);
            sent.as_object_mut().unwrap().remove("stream");
            assert_eq!(sent, body, "{}", path.display());
            seen += 1;
        }
    }
    assert!(seen >= 17, "the corpus is in place ({seen} bodies)");
}

/// The typed constructors build the handmade corpus body's blocks exactly.
#[test]
fn block_constructors_match_the_documented_shapes() {
    use stream_core::request::BlockParam;
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/requests/handmade/every_block_and_server_tool.json"),
    )
    .unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    let block = |message: usize, index: usize| body["messages"][message]["content"][index].clone();
    let json = |block: BlockParam| Value::Object(block.as_json().clone());
    assert_eq!(
        json(
            BlockParam::document_url("https://example.com/report.pdf")
                .with("title", json!("Report"))
                .with("citations", json!({"enabled": true}))
        ),
        block(0, 0)
    );
    assert_eq!(
        json(
            BlockParam::document_file("file_011CNha8iCJcU1wXNR6q4V8w")
                .with("context", json!("Uploaded earlier"))
        ),
        block(0, 1)
    );
    assert_eq!(
        json(BlockParam::image_url("https://example.com/chart.png")),
        block(0, 3)
    );
    assert_eq!(
        json(BlockParam::image_file("file_011CPMxVD3fHLUhvTqtsQA5w")),
        block(0, 4)
    );
    assert_eq!(
        json(BlockParam::thinking(
            "I need the forecast for Paris.",
            "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
        )),
        block(1, 0)
    );
    assert_eq!(
        json(BlockParam::redacted_thinking(
            "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"
        )),
        block(1, 1)
    );
    assert_eq!(
        json(BlockParam::tool_use(
            "toolu_01A09q90qw90lq917835lq9",
            "get_forecast",
            json!({"latitude": 48.8566, "longitude": 2.3522})
        )),
        block(1, 5)
    );
    assert_eq!(
        json(BlockParam::tool_result_blocks(
            "toolu_01A09q90qw90lq917835lq9",
            vec![
                BlockParam::text("Sunny, 21 °C"),
                BlockParam::image_base64("image/png", "iVBORw0KGgo="),
            ]
        )),
        block(2, 0)
    );
    assert_eq!(
        json(BlockParam::tool_error("toolu_01B", "rate limited")),
        block(2, 1)
    );
}

/// A NaN given to a number setter is refused until the setter gets a finite value.
#[test]
fn a_number_setter_given_nan_is_refused_until_corrected() {
    let params = MessageParams::new("m", 8).message(MessageParam::user("Hi"));
    let nan = params.clone().temperature(f64::NAN);
    assert_eq!(
        nan.validate(),
        Err(ParamsError::NotFinite("temperature".into()))
    );
    assert_eq!(nan.temperature(0.5).validate(), Ok(()));
    let both = params.temperature(f64::NAN).top_p(f64::INFINITY).top_p(0.9);
    assert_eq!(
        both.validate(),
        Err(ParamsError::NotFinite("temperature".into()))
    );
}

/// The environment's exception list is kept whole, CIDR blocks and IPv6 included, when a
/// client reads its proxies at build time.
#[test]
fn environment_exceptions_with_networks_are_kept() {
    let env = |name: &str| match name {
        "HTTPS_PROXY" => Some("http://proxy.corp:3128".to_owned()),
        "NO_PROXY" => Some(".corp,10.0.0.0/8,[fd00::1]:8080".to_owned()),
        _ => None,
    };
    let proxies = ClientConfig::new().proxies_or(env);
    assert!(proxies.for_url("https://gw.corp/").is_none());
    assert!(proxies.for_url("https://10.1.2.3/").is_none());
    assert!(proxies.for_url("https://[fd00::1]/").is_none());
    assert!(proxies.for_url("https://api.anthropic.com/").is_some());
}
