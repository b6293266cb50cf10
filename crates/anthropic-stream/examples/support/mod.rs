//! What every example shares: the API when a key is set, else the local Messages server.

use anthropic_stream::ClientConfig;
use messages_test_server::{Reply, Server};

/// The configuration from the environment (`ANTHROPIC_API_KEY` or `ANTHROPIC_AUTH_TOKEN`,
/// `ANTHROPIC_BASE_URL`); with neither a credential nor a base URL, a local Messages server
/// answering with `reply`, which the caller keeps alive.
pub(crate) fn config_or_local(reply: Reply) -> (ClientConfig, Option<Server>) {
    match ClientConfig::from_lookup(|name| std::env::var(name).ok()) {
        Ok(config) => (config, None),
        Err(_) => {
            let server = Server::builder().default_reply(reply).start();
            eprintln!(
                "(no ANTHROPIC_API_KEY: streaming from the local Messages server at {})",
                server.base_url()
            );
            let config = ClientConfig::new()
                .api_key("local-test-key")
                .base_url(server.base_url());
            (config, Some(server))
        }
    }
}

/// The model to ask for (`ANTHROPIC_MODEL`, or a current one).
pub(crate) fn model() -> String {
    std::env::var("ANTHROPIC_MODEL").unwrap_or_else(|_| "claude-sonnet-4-5".to_owned())
}
