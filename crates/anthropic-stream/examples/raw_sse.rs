//! A raw SSE stream from any endpoint (not the Messages API): the same client, decoder,
//! deadlines and enter/exit semantics.
//!
//! ```text
//! cargo run -p anthropic-stream --example raw_sse -- https://example.com/events
//! ```
//!
//! Without a URL it reads a feed from the local server.

use anthropic_stream::{Client, ClientConfig, Error, Request};
use messages_test_server::{Chunking, Reply, Server};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut _local = None;
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => {
            let feed = "retry: 2000\n\nid: 1\nevent: price\ndata: {\"ticker\": \"ACME\", \"price\": 12.5}\n\n\
                        : a comment, ignored\n\nid: 2\nevent: price\ndata: {\"ticker\": \"ACME\",\ndata:  \"price\": 12.75}\n\n";
            let server = Server::start();
            server.set_default_reply(
                Reply::recorded(feed)
                    .skip_validation()
                    .chunking(Chunking::Fixed(9)),
            );
            let url = format!("{}/prices", server.base_url());
            eprintln!("(no URL given: reading a feed from the local server at {url})");
            _local = Some(server);
            url
        }
    };
    let client = Client::new(ClientConfig::new());
    let request = Request::new("GET", url).with_header("accept", "text/event-stream");
    let mut stream = client.sse(request).enter().await?;
    while let Some(event) = stream.next().await {
        let event = event?;
        println!(
            "{} (id {}): {}",
            event.event_type(),
            event.id(),
            event.data()
        );
    }
    Ok(())
}
