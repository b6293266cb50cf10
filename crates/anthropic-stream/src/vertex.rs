//! Claude on Google Vertex AI: the same clients and streams, with requests to Vertex AI's
//! `streamRawPredict` and an OAuth bearer token.
//!
//! A configuration for Vertex AI is [`ClientConfig::provider`] with [`Provider::vertex`],
//! plus a token: fixed ([`ClientConfig::auth_token`]) or asked for on every attempt
//! ([`BearerProvider`], for tokens that expire within a long session). [`config_from_env`]
//! reads the project, region and a token from the environment.
//!
//! ```no_run
//! # #[cfg(feature = "hyper")]
//! # async fn run() -> Result<(), anthropic_stream::Error> {
//! use anthropic_stream::{Client, MessageParam, MessageParams};
//!
//! // ANTHROPIC_VERTEX_PROJECT_ID, CLOUD_ML_REGION, ANTHROPIC_VERTEX_ACCESS_TOKEN
//! // (for example from `gcloud auth print-access-token`)
//! let client = Client::new(anthropic_stream::vertex::config_from_env()?);
//! let params = MessageParams::new("claude-sonnet-4-5@20250929", 1024).message(MessageParam::user("Hi"));
//! let message = client.messages().stream(params).enter().await?.final_message().await?;
//! println!("{}", message.text());
//! # Ok(())
//! # }
//! ```

pub use stream_core::provider::{AuthError, BearerProvider, Provider};
use stream_core::request::{ClientConfig, ConfigError};

/// A configuration for Vertex AI in `project` and `region`, with a token asked for on every
/// attempt.
///
/// ```
/// use anthropic_stream::vertex::{self, AuthError};
///
/// let config = vertex::config("my-project", "europe-west1", || Ok::<_, AuthError>("ya29.token".to_owned()));
/// assert_eq!(config.base_url, "https://europe-west1-aiplatform.googleapis.com");
/// ```
#[must_use]
pub fn config<F>(project: &str, region: &str, token: F) -> ClientConfig
where
    F: Fn() -> Result<String, AuthError> + Send + Sync + 'static,
{
    ClientConfig::new()
        .provider(Provider::vertex(project, region))
        .authorizer(BearerProvider::new(token))
}

/// [`config_from_lookup`] over the process environment.
///
/// # Errors
///
/// As [`config_from_lookup`].
pub fn config_from_env() -> Result<ClientConfig, ConfigError> {
    config_from_lookup(|name| std::env::var(name).ok())
}

/// A configuration for Vertex AI from environment variables, read through `lookup`: the
/// project from `ANTHROPIC_VERTEX_PROJECT_ID`, the region from `CLOUD_ML_REGION` (as the
/// official SDKs read them), the base URL from `ANTHROPIC_VERTEX_BASE_URL` when set (with or
/// without the SDKs' trailing `/v1`), and a fixed token from `ANTHROPIC_VERTEX_ACCESS_TOKEN`
/// (for a token that expires, use [`config`] with a provider). Proxies come from the usual
/// variables.
///
/// ```
/// use anthropic_stream::vertex;
///
/// let env = |name: &str| match name {
///     "ANTHROPIC_VERTEX_PROJECT_ID" => Some("my-project".to_owned()),
///     "CLOUD_ML_REGION" => Some("global".to_owned()),
///     "ANTHROPIC_VERTEX_ACCESS_TOKEN" => Some("ya29.token".to_owned()),
///     _ => None,
/// };
/// let config = vertex::config_from_lookup(env)?;
/// assert_eq!(config.base_url, "https://aiplatform.googleapis.com");
/// assert!(vertex::config_from_lookup(|_| None).is_err());
/// # Ok::<(), anthropic_stream::ConfigError>(())
/// ```
///
/// # Errors
///
/// [`ConfigError::Invalid`] without a project, a region or a token, or with a proxy variable
/// that is not usable.
pub fn config_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<ClientConfig, ConfigError> {
    let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let missing = |what: &str| ConfigError::Invalid(format!("no Vertex AI {what}"));
    let project = var("ANTHROPIC_VERTEX_PROJECT_ID")
        .ok_or_else(|| missing("project: set ANTHROPIC_VERTEX_PROJECT_ID"))?;
    let region = var("CLOUD_ML_REGION").ok_or_else(|| missing("region: set CLOUD_ML_REGION"))?;
    let token = var("ANTHROPIC_VERTEX_ACCESS_TOKEN")
        .ok_or_else(|| missing("token: set ANTHROPIC_VERTEX_ACCESS_TOKEN"))?;
    let mut config = ClientConfig::new()
        .provider(Provider::vertex(project, region))
        .proxies(stream_core::proxy::Proxies::from_lookup(&lookup)?)
        .auth_token(token);
    if let Some(url) = var("ANTHROPIC_VERTEX_BASE_URL") {
        let url = url.trim_end_matches('/');
        config = config.base_url(url.strip_suffix("/v1").unwrap_or(url));
    }
    Ok(config)
}
