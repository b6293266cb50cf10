//! Relays a stream as JSON lines (NDJSON), as a server would to a browser or another process,
//! and reads the lines back into the same final message.
//!
//! ```text
//! cargo run -p anthropic-stream --example relay_ndjson
//! ```

#[path = "support/mod.rs"]
mod support;

use anthropic_stream::{Accumulator, Client, Error, MessageParam, MessageParams, ndjson};
use messages_test_server::{Generate, Reply};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, _local) =
        support::config_or_local(Reply::generated(Generate::text(10).citations(1)));
    let client = Client::new(config);
    let params = MessageParams::new(support::model(), 1024).message(MessageParam::user("Hi"));

    // The relaying side: every event as one line.
    let mut wire = Vec::new();
    let mut stream = client.messages().stream(params).enter().await?;
    while let Some(event) = stream.next().await {
        ndjson::write(&mut wire, &event?).expect("writing to memory");
    }
    let direct = stream.final_message().await?;

    // The receiving side: the lines back into events, folded into the message.
    let mut accumulator = Accumulator::new();
    for event in ndjson::Reader::new(&wire[..]) {
        let event = event.expect("a line we wrote");
        accumulator.apply(&event).expect("events in order");
    }
    let relayed = accumulator.finish().expect("a whole stream");
    print!("{}", String::from_utf8_lossy(&wire));
    assert_eq!(relayed, direct);
    eprintln!(
        "[{} lines relayed; the message read back is the same]",
        wire.split(|&b| b == b'\n').count() - 1
    );
    Ok(())
}
