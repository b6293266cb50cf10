//! The Rust peer stack a user would put together without us: reqwest for HTTP,
//! eventsource-stream for SSE, a serde internally tagged enum for the events, and the
//! accumulation written by hand (text appended per block, tool input buffered and parsed once
//! at `content_block_stop`: the stack offers no partial JSON).

use std::time::Instant;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use crate::{Figures, params};

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event {
    MessageStart {
        #[allow(dead_code)]
        message: Value,
    },
    ContentBlockStart {
        index: usize,
        content_block: Value,
    },
    ContentBlockDelta {
        index: usize,
        delta: PeerDelta,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        #[allow(dead_code)]
        delta: Value,
        #[allow(dead_code)]
        usage: Value,
    },
    MessageStop,
    Ping,
    Error {
        error: Value,
    },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PeerDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Default)]
struct Block {
    kind: String,
    text: String,
    json: String,
    input: Option<Value>,
}

/// Streams one message the peer way.
pub(crate) async fn run(url: &str, figures: &mut Figures, started: Instant) -> Result<(), String> {
    let client = reqwest::Client::new();
    let mut body = serde_json::to_value(params()).map_err(|e| e.to_string())?;
    body["stream"] = Value::Bool(true);
    let body = body.to_string();
    let response = client
        .post(format!("{}/v1/messages", url.trim_end_matches('/')))
        .header("x-api-key", "sk-bench-loopback")
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let mut events = response.bytes_stream().eventsource();
    let mut blocks: Vec<Block> = Vec::new();
    let mut stopped = false;
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| e.to_string())?;
        let event: Event = serde_json::from_str(&event.data).map_err(|e| e.to_string())?;
        figures.events += 1;
        match event {
            Event::ContentBlockStart {
                index,
                content_block,
            } => {
                if blocks.len() <= index {
                    blocks.resize_with(index + 1, Block::default);
                }
                let block = &mut blocks[index];
                block.kind = content_block["type"].as_str().unwrap_or("").to_owned();
                if let Some(text) = content_block["text"].as_str() {
                    block.text.push_str(text);
                }
            }
            Event::ContentBlockDelta { index, delta } => {
                let block = blocks.get_mut(index).ok_or("delta before its block")?;
                match delta {
                    PeerDelta::TextDelta { text } => {
                        if figures.first_text.is_none() {
                            figures.first_text = Some(started.elapsed());
                        }
                        block.text.push_str(&text);
                    }
                    PeerDelta::InputJsonDelta { partial_json } => {
                        block.json.push_str(&partial_json);
                    }
                    PeerDelta::Other => {}
                }
            }
            Event::ContentBlockStop { index } => {
                let block = blocks.get_mut(index).ok_or("stop before its block")?;
                if block.kind == "tool_use" {
                    let json = if block.json.is_empty() {
                        "{}"
                    } else {
                        &block.json
                    };
                    block.input = Some(serde_json::from_str(json).map_err(|e| e.to_string())?);
                }
            }
            Event::MessageStop => {
                stopped = true;
                break;
            }
            Event::Error { error } => return Err(error.to_string()),
            Event::MessageStart { .. } | Event::MessageDelta { .. } | Event::Ping => {}
        }
    }
    if !stopped {
        return Err("the stream ended before message_stop".into());
    }
    figures.text_bytes = blocks
        .iter()
        .filter(|b| b.kind == "text")
        .map(|b| b.text.len())
        .sum();
    figures.tool_input_bytes = blocks
        .iter()
        .find_map(|b| b.input.as_ref())
        .map_or(0, |input| input.to_string().len());
    Ok(())
}
