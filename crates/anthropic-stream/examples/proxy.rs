//! Behind a proxy. With a key, the client follows `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`
//! and `NO_PROXY` as curl does; here the proxy is set explicitly. With no key, it starts the
//! local Messages server and a local `CONNECT` proxy that wants credentials, streams through
//! it, and shows what the proxy saw.
//!
//! ```text
//! cargo run -p anthropic-stream --example proxy
//! HTTPS_PROXY=http://user:password@proxy.corp:3128 ANTHROPIC_API_KEY=... cargo run -p anthropic-stream --example proxy
//! ```

#[path = "support/mod.rs"]
mod support;

use anthropic_stream::{Client, Error, MessageParam, MessageParams, Proxy};
use messages_test_server::{ForwardProxy, Generate, Reply};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let (config, local) = support::config_or_local(Reply::generated(Generate::text(8)));
    // Locally, a proxy of our own (a real one is named by the environment instead).
    let proxy = local.as_ref().map(|_| {
        ForwardProxy::builder()
            .basic_auth("alice", "s3cret")
            .start()
    });
    let config = match &proxy {
        Some(proxy) => config.proxy(Proxy::new(&proxy.url())?.basic_auth("alice", "s3cret")),
        None => config,
    };
    let client = Client::new(config);
    let params = MessageParams::new(support::model(), 256)
        .message(MessageParam::user("Say hello through the proxy."));
    let text = client
        .messages()
        .stream(params)
        .enter()
        .await?
        .final_text()
        .await?;
    println!("{text}");
    if let Some(proxy) = proxy {
        for connect in proxy.connects() {
            eprintln!(
                "[the proxy tunnelled to {} (credentials {}, opened: {})]",
                connect.target,
                if connect.authorization.is_some() {
                    "sent"
                } else {
                    "not sent"
                },
                connect.opened
            );
        }
    }
    Ok(())
}
