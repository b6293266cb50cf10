//! Per-request options: one client (one connection pool) with its defaults, and a request that
//! needs more patience, its own header, a beta flag and a server tool, without a second client.
//!
//! ```text
//! cargo run -p anthropic-stream --example request_options
//! ```

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use anthropic_stream::{Client, Error, MessageParam, MessageParams, RequestOptions, Tool};
use messages_test_server::{Generate, Reply};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, _local) = support::config_or_local(Reply::generated(Generate::text(8)));
    // Client-wide defaults: few retries and a team header.
    let client = Client::new(config.max_retries(1).header("x-team", "search"));

    // A server tool: a versioned type and a name, options as fields; no input schema.
    let web_search = Tool::server("web_search_20250305", "web_search")
        .with("max_uses", json!(2))
        .with("allowed_domains", json!(["nasa.gov", "esa.int"]));
    let params = MessageParams::new(support::model(), 1024)
        .tool(web_search)
        .message(MessageParam::user(
            "When is the next total solar eclipse in Europe?",
        ));

    // This request alone: more retries, a total deadline, its own header value (it replaces
    // the client's), and a beta flag added to the client's.
    let options = RequestOptions::new()
        .max_retries(4)
        .total_timeout(Duration::from_secs(120))
        .header("x-team", "search-batch")
        .beta("web-search-2025-03-05");
    let mut stream = client
        .messages()
        .stream(params)
        .options(&options)
        .enter()
        .await?;
    let text = stream.final_text().await?;
    println!("{text}");
    eprintln!(
        "[request id {:?}, {} attempt(s)]",
        stream.request_id(),
        stream.attempts()
    );
    Ok(())
}
