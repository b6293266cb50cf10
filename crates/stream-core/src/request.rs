//! What to send: the request parameters of the Messages API and the client configuration,
//! described as plain values (method, URL, headers, body bytes) that any driver can send.
//!
//! ```
//! use stream_core::request::{ClientConfig, MessageParams, MessageParam};
//!
//! let config = ClientConfig::new().api_key("sk-ant-example").beta("interleaved-thinking-2025-05-14");
//! let params = MessageParams::new("claude-sonnet-4-5", 1024)
//!     .system("Be brief.")
//!     .message(MessageParam::user("Hello"))
//!     .temperature(0.2);
//! let request = config.build_request(&params, 0)?;
//! assert_eq!(request.method, "POST");
//! assert_eq!(request.url, "https://api.anthropic.com/v1/messages");
//! assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
//! let body: serde_json::Value = serde_json::from_slice(&request.body)?;
//! assert_eq!(body["stream"], true);
//! assert_eq!(body["messages"][0]["content"], "Hello");
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::messages::{ContentBlock, JsonObject, Message};
use crate::provider::{Authorizer, Provider, SharedAuthorizer};
use crate::proxy::{Proxies, Proxy};
use crate::sse::DecoderConfig;

/// The API version sent in `anthropic-version` by default: the one the official SDKs send.
pub const DEFAULT_API_VERSION: &str = "2023-06-01";
/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// A secret (API key or token): kept out of every `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    #[must_use]
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, to put in a header.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How requests authenticate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// No credentials (a local server, or a proxy that adds them).
    #[default]
    None,
    /// `x-api-key: <key>`.
    ApiKey(Secret),
    /// `Authorization: Bearer <token>`.
    AuthToken(Secret),
    /// Asked on every attempt, with the attempt's wall-clock time: a signer (Bedrock's AWS
    /// Signature Version 4) or a token that can change ([`BearerProvider`](crate::provider::BearerProvider)).
    Authorizer(SharedAuthorizer),
}

/// The deadlines a session enforces, each with its reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Opening the connection (TCP and TLS). Enforced by the driver's connector; default 10 s
    /// (a healthy connect takes milliseconds; ten seconds rides out a slow handshake).
    pub connect: Duration,
    /// From sending the request to its response head; default 60 s. The API sends the head
    /// of a streaming response before it starts generating, so a long wait means trouble.
    pub response_head: Duration,
    /// The longest gap between two body bytes; default 90 s. The API sends `ping` events
    /// while the model thinks, so a silent stream is stalled (the official TypeScript SDK has
    /// no such deadline and hangs forever on a stalled stream).
    pub idle: Duration,
    /// The whole exchange, retries included; default none (a long reply is not an error).
    pub total: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            response_head: Duration::from_secs(60),
            idle: Duration::from_secs(90),
            total: None,
        }
    }
}

/// When and how often to retry.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt; default 2, as in the official SDKs.
    pub max_retries: u32,
    /// The first backoff; default 0.5 s, doubled on every retry.
    pub initial_backoff: Duration,
    /// The longest backoff; default 8 s.
    pub max_backoff: Duration,
    /// The largest share of a backoff taken off at random; default 0.25.
    pub jitter: f64,
    /// The longest `retry-after` obeyed; default 60 s. A longer, negative or garbled value
    /// falls back to the backoff.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            jitter: 0.25,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Everything about the client that is the same for every request.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Credentials.
    pub auth: Auth,
    /// The service Messages requests go to (default [`Provider::Anthropic`]).
    pub provider: Provider,
    /// The base URL, without a trailing slash (default [`DEFAULT_BASE_URL`], or the provider's
    /// [`default_base_url`](Provider::default_base_url)).
    pub base_url: String,
    /// The `anthropic-version` header (default [`DEFAULT_API_VERSION`]).
    pub api_version: String,
    /// Beta flags, sent comma-separated in `anthropic-beta`.
    pub betas: Vec<String>,
    /// Extra headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// Extra query parameters sent with every request (after the base URL's own).
    pub query: Vec<(String, String)>,
    /// The `user-agent` header.
    pub user_agent: String,
    /// Limits of the SSE decoder.
    pub decoder: DecoderConfig,
    /// The most bytes of an error body (or of a non-SSE body) kept; default 64 KiB.
    pub max_error_body: usize,
    /// The largest message accepted, in bytes of content; default
    /// [`DEFAULT_MAX_MESSAGE_SIZE`](crate::accumulate::DEFAULT_MAX_MESSAGE_SIZE) (256 MiB).
    /// See [`Accumulator::max_message_size`](crate::accumulate::Accumulator::max_message_size).
    pub max_message_size: usize,
    /// Deadlines.
    pub timeouts: Timeouts,
    /// Retries.
    pub retry: RetryPolicy,
    /// A tool input that is not valid JSON is kept (the block's `input` is the partial value,
    /// [`Exchange::invalid_tool_input`](crate::exchange::Exchange::invalid_tool_input) the raw
    /// text) instead of failing the stream; default `false`. See
    /// [`Accumulator::keep_invalid_tool_input`](crate::accumulate::Accumulator::keep_invalid_tool_input).
    pub keep_invalid_tool_input: bool,
    /// The proxies; `None` (the default) for those the environment names when the client is
    /// built (see [`proxies_or`](Self::proxies_or)).
    pub proxies: Option<Proxies>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientConfig {
    /// The defaults: no credentials, the public API, the SDKs' API version.
    #[must_use]
    pub fn new() -> Self {
        Self {
            auth: Auth::None,
            provider: Provider::Anthropic,
            base_url: DEFAULT_BASE_URL.to_string(),
            api_version: DEFAULT_API_VERSION.to_string(),
            betas: Vec::new(),
            headers: Vec::new(),
            query: Vec::new(),
            user_agent: format!("anthropic-stream/{}", env!("CARGO_PKG_VERSION")),
            decoder: DecoderConfig::new(),
            max_error_body: 64 * 1024,
            max_message_size: crate::accumulate::DEFAULT_MAX_MESSAGE_SIZE,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            proxies: None,
            keep_invalid_tool_input: false,
        }
    }

    /// A configuration from environment variables, read through `lookup` (so that this crate
    /// reads nothing itself): `ANTHROPIC_BASE_URL` when set, then `ANTHROPIC_API_KEY`, or else
    /// `ANTHROPIC_AUTH_TOKEN`, as the official SDKs read them. Empty values count as unset.
    ///
    /// ```
    /// use stream_core::request::{ClientConfig, ConfigError};
    ///
    /// let env = |name: &str| (name == "ANTHROPIC_API_KEY").then(|| "sk-ant-test".to_owned());
    /// let config = ClientConfig::from_lookup(env)?;
    /// assert_eq!(config.base_url, "https://api.anthropic.com");
    ///
    /// let nothing = ClientConfig::from_lookup(|_| None);
    /// assert_eq!(nothing.unwrap_err(), ConfigError::MissingCredentials);
    /// # Ok::<(), ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::MissingCredentials`] when neither credential is set and the base URL is
    /// the public API (a local server needs none).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let mut config = Self::new();
        if let Some(url) = var("ANTHROPIC_BASE_URL") {
            config = config.base_url(url);
        }
        config.proxies = Some(Proxies::from_lookup(&lookup)?);
        if let Some(key) = var("ANTHROPIC_API_KEY") {
            Ok(config.api_key(key))
        } else if let Some(token) = var("ANTHROPIC_AUTH_TOKEN") {
            Ok(config.auth_token(token))
        } else if config.base_url == DEFAULT_BASE_URL {
            Err(ConfigError::MissingCredentials)
        } else {
            Ok(config)
        }
    }

    /// Sends every request through `proxy` (both schemes, no exceptions); see
    /// [`proxies`](Self::proxies) for more.
    ///
    /// ```
    /// use stream_core::proxy::Proxy;
    /// use stream_core::request::ClientConfig;
    ///
    /// let config = ClientConfig::new().proxy(Proxy::new("http://proxy.corp:3128")?);
    /// let proxies = config.proxies_or(|_| None);
    /// assert_eq!(proxies.for_url("https://api.anthropic.com/v1/messages").map(|p| p.port()), Some(3128));
    /// # Ok::<(), stream_core::request::ConfigError>(())
    /// ```
    #[must_use]
    pub fn proxy(self, proxy: Proxy) -> Self {
        self.proxies(Proxies::all(proxy))
    }

    /// Uses exactly these proxies, whatever the environment says ([`Proxies::none`] for none).
    ///
    /// ```
    /// use stream_core::proxy::Proxies;
    /// use stream_core::request::ClientConfig;
    ///
    /// let config = ClientConfig::new().proxies(Proxies::none());
    /// let env = |_: &str| Some("http://proxy.corp:3128".to_owned());
    /// assert!(config.proxies_or(env).is_none()); // the environment is not read
    /// ```
    #[must_use]
    pub fn proxies(mut self, proxies: Proxies) -> Self {
        self.proxies = Some(proxies);
        self
    }

    /// The proxies a client built now uses: those set ([`proxy`](Self::proxy),
    /// [`proxies`](Self::proxies), [`from_lookup`](Self::from_lookup)), or else those the
    /// environment names, read through `lookup`, leaving out a variable whose URL is not
    /// usable ([`from_lookup`](Self::from_lookup) reports it instead).
    ///
    /// ```
    /// use stream_core::request::ClientConfig;
    ///
    /// let env = |name: &str| (name == "HTTPS_PROXY").then(|| "http://proxy.corp:3128".to_owned());
    /// let proxies = ClientConfig::new().proxies_or(env);
    /// assert!(proxies.for_url("https://api.anthropic.com/").is_some());
    /// assert!(proxies.for_url("http://127.0.0.1:8080/").is_none()); // no HTTP_PROXY
    /// ```
    #[must_use]
    pub fn proxies_or(&self, lookup: impl Fn(&str) -> Option<String>) -> Proxies {
        if let Some(proxies) = &self.proxies {
            return proxies.clone();
        }
        let lenient = |name: &str| {
            let value = lookup(name);
            if name.eq_ignore_ascii_case("no_proxy") || name == "REQUEST_METHOD" {
                return value;
            }
            value.filter(|value| Proxy::new(value).is_ok())
        };
        Proxies::from_lookup(lenient).unwrap_or_default()
    }

    /// Sends Messages requests to `provider`, at its default base URL (set another with
    /// [`base_url`](Self::base_url) after this call).
    ///
    /// ```
    /// use stream_core::provider::Provider;
    /// use stream_core::request::{ClientConfig, MessageParam, MessageParams};
    ///
    /// let params = MessageParams::new("claude-sonnet-4-5@20250929", 256).message(MessageParam::user("Hi"));
    /// let config = ClientConfig::new().provider(Provider::vertex("my-project", "us-east5"));
    /// let request = config.build_request(&params, 0)?;
    /// assert_eq!(
    ///     request.url,
    ///     "https://us-east5-aiplatform.googleapis.com/v1/projects/my-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict",
    /// );
    /// let body: serde_json::Value = serde_json::from_slice(&request.body)?;
    /// assert_eq!((body["anthropic_version"].as_str(), body["stream"].as_bool()), (Some("vertex-2023-10-16"), Some(true)));
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    #[must_use]
    pub fn provider(mut self, provider: Provider) -> Self {
        self.base_url = provider.default_base_url();
        self.provider = provider;
        self
    }

    /// Authorizes every attempt with `authorizer` (see [`Authorizer`]).
    ///
    /// ```
    /// use stream_core::provider::{AuthError, BearerProvider};
    /// use stream_core::request::{Auth, ClientConfig};
    ///
    /// let config = ClientConfig::new().authorizer(BearerProvider::new(|| Ok::<_, AuthError>("token".into())));
    /// assert!(matches!(config.auth, Auth::Authorizer(_)));
    /// ```
    #[must_use]
    pub fn authorizer(mut self, authorizer: impl Authorizer + 'static) -> Self {
        self.auth = Auth::Authorizer(SharedAuthorizer::new(authorizer));
        self
    }

    /// Authenticates with an API key (`x-api-key`).
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.auth = Auth::ApiKey(Secret::new(key));
        self
    }

    /// Authenticates with a bearer token (`Authorization: Bearer`).
    #[must_use]
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth = Auth::AuthToken(Secret::new(token));
        self
    }

    /// Sets the base URL (a trailing `/` is removed). A path is kept and a query stays a query:
    /// `https://gw.example/anthropic?key=1` sends to
    /// `https://gw.example/anthropic/v1/messages?key=1`.
    ///
    /// ```
    /// use stream_core::request::{ClientConfig, MessageParam, MessageParams};
    ///
    /// let params = MessageParams::new("m", 1).message(MessageParam::user("Hi"));
    /// let config = ClientConfig::new().base_url("https://gw.example/anthropic/?key=1");
    /// let request = config.build_request(&params, 0)?;
    /// assert_eq!(request.url, "https://gw.example/anthropic/v1/messages?key=1");
    /// # Ok::<(), stream_core::request::ParamsError>(())
    /// ```
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        let mut url = url.into();
        while url.ends_with('/') {
            url.pop();
        }
        self.base_url = url;
        self
    }

    /// Sets the largest message accepted, in bytes of content (default 256 MiB). A stream
    /// whose message would grow past it fails with
    /// [`ProtocolError::MessageTooLarge`](crate::session::ProtocolError::MessageTooLarge): the
    /// connection is closed and the message as far as it got is kept.
    ///
    /// ```
    /// use stream_core::request::ClientConfig;
    ///
    /// let config = ClientConfig::new().max_message_size(2 << 30); // a 1 GiB benchmark stream
    /// assert_eq!(config.max_message_size, 2 << 30);
    /// ```
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Adds a beta flag.
    #[must_use]
    pub fn beta(mut self, flag: impl Into<String>) -> Self {
        self.betas.push(flag.into());
        self
    }

    /// Adds a header sent with every request. It replaces a header of the same name (compared
    /// case-insensitively) that the library sets (`anthropic-version`, `user-agent`, ...) or
    /// that an earlier call added: the last setting wins, and no name is sent twice. An
    /// `anthropic-beta` header is merged with the [`beta`](Self::beta) flags instead, into one
    /// comma-separated header.
    ///
    /// ```
    /// use stream_core::request::{ClientConfig, MessageParam, MessageParams};
    ///
    /// let params = MessageParams::new("m", 1).message(MessageParam::user("Hi"));
    /// let config = ClientConfig::new()
    ///     .beta("a")
    ///     .header("anthropic-beta", "b")
    ///     .header("User-Agent", "my-app/1.0");
    /// let request = config.build_request(&params, 0)?;
    /// assert_eq!(request.header("anthropic-beta"), Some("a,b"));
    /// assert_eq!(request.header("user-agent"), Some("my-app/1.0"));
    /// assert_eq!(request.headers.iter().filter(|(n, _)| n == "anthropic-beta").count(), 1);
    /// # Ok::<(), stream_core::request::ParamsError>(())
    /// ```
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the deadlines.
    #[must_use]
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the maximum number of retries (0 disables retries).
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry.max_retries = retries;
        self
    }

    /// Describes the request for `params`, for the attempt that follows `retries` retries
    /// (sent in `x-stainless-retry-count`, as the official SDKs do), to the configured
    /// [`Provider`]. An [`Auth::Authorizer`] is not asked here: a session asks it as each
    /// attempt leaves, with the time.
    ///
    /// # Errors
    ///
    /// [`ParamsError`] when the parameters cannot be sent (see [`MessageParams::validate`]).
    pub fn build_request(
        &self,
        params: &MessageParams,
        retries: u32,
    ) -> Result<Request, ParamsError> {
        let (path, body) = self.messages_body(params)?;
        Ok(self.request_to(&path, body, retries))
    }

    /// The validated path and body of a Messages request for `params`, as the provider wants
    /// them.
    pub(crate) fn messages_body(
        &self,
        params: &MessageParams,
    ) -> Result<(String, Bytes), ParamsError> {
        params.validate()?;
        let body = params.to_body()?;
        if self.provider == Provider::Anthropic {
            return Ok(("/v1/messages".to_string(), body));
        }
        self.provider.messages_request(body, &self.all_betas())
    }

    /// The beta flags, from [`beta`](Self::beta) and `anthropic-beta` headers.
    fn all_betas(&self) -> Vec<&str> {
        let mut betas: Vec<&str> = self.betas.iter().map(String::as_str).collect();
        betas.extend(crate::provider::betas_of(&self.headers));
        betas
    }

    /// A provider body (`body`, as [`messages_body`](Self::messages_body) made it) with the
    /// beta flags the provider takes in the body brought up to date (Bedrock's
    /// `anthropic_beta`); the same bytes for the others.
    pub(crate) fn provider_betas(&self, body: &Bytes) -> Bytes {
        crate::provider::with_betas(&self.provider, body, &self.all_betas())
    }

    /// The request to `path` under the base URL with `body`, headers and query parameters
    /// (credentials other than an [`Auth::Authorizer`]'s included).
    pub(crate) fn request_to(&self, path: &str, body: Bytes, retries: u32) -> Request {
        let mut headers = Vec::with_capacity(8 + self.headers.len());
        match &self.auth {
            Auth::None | Auth::Authorizer(_) => {}
            Auth::ApiKey(key) => headers.push(("x-api-key".to_string(), key.expose().to_string())),
            Auth::AuthToken(token) => headers.push((
                "authorization".to_string(),
                format!("Bearer {}", token.expose()),
            )),
        }
        headers.push(("anthropic-version".to_string(), self.api_version.clone()));
        let mut betas: Vec<&str> = self.betas.iter().map(String::as_str).collect();
        for (name, value) in &self.headers {
            if name.eq_ignore_ascii_case("anthropic-beta") {
                betas.extend(value.split(',').map(str::trim).filter(|b| !b.is_empty()));
            }
        }
        let mut seen = Vec::with_capacity(betas.len());
        betas.retain(|beta| {
            let new = !seen.contains(beta);
            seen.push(*beta);
            new
        });
        if !betas.is_empty() {
            headers.push(("anthropic-beta".to_string(), betas.join(",")));
        }
        headers.push(("content-type".to_string(), "application/json".to_string()));
        headers.push((
            "accept".to_string(),
            self.provider.stream_content_type().to_string(),
        ));
        headers.push(("user-agent".to_string(), self.user_agent.clone()));
        headers.push(("x-stainless-retry-count".to_string(), retries.to_string()));
        for (name, value) in &self.headers {
            if name.eq_ignore_ascii_case("anthropic-beta") {
                continue;
            }
            // The last setting of a name wins.
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            headers.push((name.to_ascii_lowercase(), value.clone()));
        }
        let mut url = join_url(&self.base_url, path);
        for (key, value) in &self.query {
            url.push(if url.contains('?') { '&' } else { '?' });
            percent_encode(&mut url, key);
            url.push('=');
            percent_encode(&mut url, value);
        }
        Request {
            method: "POST".to_string(),
            url,
            headers,
            body,
        }
    }
}

/// Appends `text` to `url` as a query component: unreserved characters as they are, every
/// other byte as `%XX`.
fn percent_encode(url: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            url.push(char::from(byte));
        } else {
            url.push('%');
            for nibble in [byte >> 4, byte & 0xF] {
                url.push(char::from(b"0123456789ABCDEF"[usize::from(nibble)]));
            }
        }
    }
}

/// Options for one request, over its client's configuration: deadlines, retries, headers,
/// beta flags and query parameters, without a new client or a new connection pool. Headers
/// follow [`ClientConfig::header`]'s rule (the last setting of a name wins; `anthropic-beta`
/// merges with the beta flags).
///
/// ```
/// use core::time::Duration;
/// use stream_core::request::{ClientConfig, MessageParam, MessageParams, RequestOptions};
///
/// let client = ClientConfig::new().api_key("sk-test").header("x-team", "a");
/// let options = RequestOptions::new()
///     .max_retries(5)
///     .total_timeout(Duration::from_secs(30))
///     .header("x-team", "b")
///     .beta("files-api-2025-04-14")
///     .query("trace", "on");
/// let config = options.apply(&client);
/// assert_eq!((config.retry.max_retries, config.timeouts.total), (5, Some(Duration::from_secs(30))));
/// let params = MessageParams::new("m", 1).message(MessageParam::user("Hi"));
/// let request = config.build_request(&params, 0)?;
/// assert_eq!(request.header("x-team"), Some("b"));
/// assert_eq!(request.header("anthropic-beta"), Some("files-api-2025-04-14"));
/// assert!(request.url.ends_with("/v1/messages?trace=on"));
/// # Ok::<(), stream_core::request::ParamsError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct RequestOptions {
    timeouts: Option<Timeouts>,
    total: Option<Option<Duration>>,
    max_retries: Option<u32>,
    headers: Vec<(String, String)>,
    betas: Vec<String>,
    query: Vec<(String, String)>,
}

impl RequestOptions {
    /// No options: the client's configuration as it is.
    pub fn new() -> Self {
        Self::default()
    }

    /// All the deadlines of this request.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = Some(timeouts);
        self
    }

    /// The total deadline of this request (every attempt and the stream).
    pub fn total_timeout(mut self, total: Duration) -> Self {
        self.total = Some(Some(total));
        self
    }

    /// The retries of this request.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// A header for this request (see [`ClientConfig::header`]).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A beta flag for this request, besides the client's.
    pub fn beta(mut self, flag: impl Into<String>) -> Self {
        self.betas.push(flag.into());
        self
    }

    /// A query parameter for this request, besides the client's.
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// The client's configuration with these options over it.
    #[must_use]
    pub fn apply(&self, config: &ClientConfig) -> ClientConfig {
        let mut config = config.clone();
        if let Some(timeouts) = self.timeouts {
            config.timeouts = timeouts;
        }
        if let Some(total) = self.total {
            config.timeouts.total = total;
        }
        if let Some(retries) = self.max_retries {
            config.retry.max_retries = retries;
        }
        config.headers.extend(self.headers.iter().cloned());
        config.betas.extend(self.betas.iter().cloned());
        config.query.extend(self.query.iter().cloned());
        config
    }
}

/// An `http::Request` as a request to send (feature `http`): any method, the URI, every
/// header (values that are not UTF-8 are decoded lossily), the body.
///
/// ```
/// use stream_core::request::Request;
///
/// let request: Request = http::Request::builder()
///     .method("GET")
///     .uri("https://feed.example/events")
///     .header("accept", "text/event-stream")
///     .header("last-event-id", "42")
///     .body(Vec::new())?
///     .into();
/// assert_eq!((request.method.as_str(), request.header("last-event-id")), ("GET", Some("42")));
/// # Ok::<(), http::Error>(())
/// ```
#[cfg(feature = "http")]
impl<B: Into<Bytes>> From<http::Request<B>> for Request {
    fn from(request: http::Request<B>) -> Self {
        let (parts, body) = request.into_parts();
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_string(), value)
            })
            .collect();
        Self {
            method: parts.method.as_str().to_string(),
            url: parts.uri.to_string(),
            headers,
            body: body.into(),
        }
    }
}

/// `base` with `path` appended to its path, before its query and fragment.
fn join_url(base: &str, path: &str) -> String {
    let split = base.find(['?', '#']).unwrap_or(base.len());
    let (head, tail) = base.split_at(split);
    format!("{}{path}{tail}", head.trim_end_matches('/'))
}

/// A request to send, in plain values.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// The method (any: `GET` for most feeds, `POST` for Messages).
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// The headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Request {
    /// A request with no headers and no body (for raw SSE endpoints; add headers with
    /// [`with_header`](Self::with_header) and a body with [`with_body`](Self::with_body)).
    #[must_use]
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The value of the first header with this (lower-case) name.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The request as an `http::Request` (feature `http`), for an HTTP library to send.
    ///
    /// ```
    /// use stream_core::request::Request;
    ///
    /// let request = Request::new("GET", "https://feed.test/events?from=3")
    ///     .with_header("accept", "text/event-stream");
    /// let http = request.to_http()?;
    /// assert_eq!(http.method(), "GET");
    /// assert_eq!(http.uri().query(), Some("from=3"));
    /// assert_eq!(http.headers()["accept"], "text/event-stream");
    /// # Ok::<(), http::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// An `http::Error` for a method, URL or header that `http` does not accept.
    #[cfg(feature = "http")]
    pub fn to_http(&self) -> Result<http::Request<Bytes>, http::Error> {
        let mut builder = http::Request::builder()
            .method(self.method.as_str())
            .uri(self.url.as_str());
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder.body(self.body.clone())
    }
}

impl fmt::Debug for Request {
    /// Credentials are redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let secret =
                    n.eq_ignore_ascii_case("x-api-key") || n.eq_ignore_ascii_case("authorization");
                (n.as_str(), if secret { "<redacted>" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Why a configuration cannot be used. The caller is to blame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No API key or auth token for the public API (`ANTHROPIC_API_KEY` or
    /// `ANTHROPIC_AUTH_TOKEN`, or `ANTHROPIC_BASE_URL` for a local server).
    MissingCredentials,
    /// A setting is not usable, with the reason.
    Invalid(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingCredentials => f.write_str(
                "no credentials: set ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN (or ANTHROPIC_BASE_URL for a local server)",
            ),
            Self::Invalid(reason) => write!(f, "invalid configuration: {reason}"),
        }
    }
}

impl core::error::Error for ConfigError {}

/// Why parameters cannot be sent. The caller is to blame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamsError {
    /// `model` is empty.
    MissingModel,
    /// `max_tokens` is zero.
    ZeroMaxTokens,
    /// `messages` is empty.
    NoMessages,
    /// An extra field would replace a typed field (`model`, ...) or one the library sets
    /// (`stream`).
    ReservedField(String),
    /// A number field was given NaN or an infinity, which JSON cannot carry: its name.
    NotFinite(String),
    /// The parameters did not serialize.
    Serialize(String),
}

impl fmt::Display for ParamsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingModel => f.write_str("the request has no model"),
            Self::ZeroMaxTokens => f.write_str("max_tokens must be at least 1"),
            Self::NoMessages => f.write_str("the request has no messages"),
            Self::ReservedField(name) => write!(
                f,
                "the extra field `{name}` would override a typed field or one the library sets"
            ),
            Self::NotFinite(field) => write!(f, "`{field}` must be a finite number"),
            Self::Serialize(err) => write!(f, "the parameters did not serialize: {err}"),
        }
    }
}

impl core::error::Error for ParamsError {}

/// Who speaks a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user (also tool results).
    User,
    /// The model.
    Assistant,
}

/// One message of the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageParam {
    /// Who speaks.
    pub role: Role,
    /// What is said: a string, or blocks.
    pub content: Content,
}

/// The content of a message: plain text or blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Content blocks.
    Blocks(Vec<BlockParam>),
}

impl MessageParam {
    /// A user message of plain text.
    #[must_use]
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: Content::Text(text.into()),
        }
    }

    /// An assistant message of plain text (a prefill, or an earlier turn).
    #[must_use]
    pub fn assistant(text: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: Content::Text(text.into()),
        }
    }

    /// An assistant message of blocks (an earlier turn: text, thinking, tool calls, ...). A
    /// received message becomes one with `MessageParam::from(&message)`.
    #[must_use]
    pub fn assistant_blocks(blocks: Vec<BlockParam>) -> Self {
        Self {
            role: Role::Assistant,
            content: Content::Blocks(blocks),
        }
    }

    /// A user message of blocks (images, documents, tool results, ...).
    #[must_use]
    pub fn user_blocks(blocks: Vec<BlockParam>) -> Self {
        Self {
            role: Role::User,
            content: Content::Blocks(blocks),
        }
    }
}

impl From<&Message> for MessageParam {
    /// A received message as the assistant turn of the next request, every block exactly as
    /// received (thinking blocks and their signatures, tool calls, unknown blocks).
    fn from(message: &Message) -> Self {
        Self {
            role: Role::Assistant,
            content: Content::Blocks(message.content().iter().map(BlockParam::from).collect()),
        }
    }
}

/// A content block to send, as its JSON object. Constructors cover the documented types;
/// [`BlockParam::raw`] sends anything else as it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlockParam(JsonObject);

impl BlockParam {
    /// A text block.
    #[must_use]
    pub fn text(text: impl Into<String>) -> Self {
        Self::object([
            ("type", "text".into()),
            ("text", Value::String(text.into())),
        ])
    }

    /// An image from base64 data (`media_type` such as `image/png`).
    #[must_use]
    pub fn image_base64(media_type: &str, data: impl Into<String>) -> Self {
        Self::object([
            ("type", "image".into()),
            (
                "source",
                serde_json::json!({"type": "base64", "media_type": media_type, "data": data.into()}),
            ),
        ])
    }

    /// An image by URL.
    #[must_use]
    pub fn image_url(url: &str) -> Self {
        Self::object([
            ("type", "image".into()),
            ("source", serde_json::json!({"type": "url", "url": url})),
        ])
    }

    /// A PDF document from base64 data.
    #[must_use]
    pub fn pdf_base64(data: impl Into<String>) -> Self {
        Self::object([
            ("type", "document".into()),
            (
                "source",
                serde_json::json!({"type": "base64", "media_type": "application/pdf", "data": data.into()}),
            ),
        ])
    }

    /// A plain-text document.
    #[must_use]
    pub fn text_document(text: impl Into<String>) -> Self {
        Self::object([
            ("type", "document".into()),
            (
                "source",
                serde_json::json!({"type": "text", "media_type": "text/plain", "data": text.into()}),
            ),
        ])
    }

    /// The result of a tool call, as text.
    #[must_use]
    pub fn tool_result(tool_use_id: &str, content: impl Into<String>) -> Self {
        Self::object([
            ("type", "tool_result".into()),
            ("tool_use_id", tool_use_id.into()),
            ("content", Value::String(content.into())),
        ])
    }

    /// The failure of a tool call.
    #[must_use]
    pub fn tool_error(tool_use_id: &str, message: impl Into<String>) -> Self {
        let mut block = Self::tool_result(tool_use_id, message);
        block.0.insert("is_error".to_string(), Value::Bool(true));
        block
    }

    /// The result of a tool call, as content blocks (text, images, documents, search
    /// results).
    ///
    /// ```
    /// use serde_json::json;
    /// use stream_core::request::BlockParam;
    ///
    /// let result = BlockParam::tool_result_blocks("toolu_1", vec![
    ///     BlockParam::text("Sunny"),
    ///     BlockParam::image_url("https://example.com/map.png"),
    /// ]);
    /// assert_eq!(result.as_json()["content"][1]["source"]["type"], "url");
    /// ```
    #[must_use]
    pub fn tool_result_blocks(tool_use_id: &str, content: Vec<BlockParam>) -> Self {
        let content = content
            .into_iter()
            .map(|block| Value::Object(block.0))
            .collect();
        Self::object([
            ("type", "tool_result".into()),
            ("tool_use_id", tool_use_id.into()),
            ("content", Value::Array(content)),
        ])
    }

    /// A document by URL (a PDF the API fetches).
    ///
    /// ```
    /// use stream_core::request::BlockParam;
    ///
    /// let document = BlockParam::document_url("https://example.com/report.pdf")
    ///     .with("citations", serde_json::json!({"enabled": true}));
    /// assert_eq!(document.as_json()["source"]["url"], "https://example.com/report.pdf");
    /// ```
    #[must_use]
    pub fn document_url(url: &str) -> Self {
        Self::object([
            ("type", "document".into()),
            ("source", serde_json::json!({"type": "url", "url": url})),
        ])
    }

    /// A document uploaded with the Files API, by its id (the `files-api-2025-04-14` beta).
    ///
    /// ```
    /// use stream_core::request::BlockParam;
    ///
    /// let document = BlockParam::document_file("file_011CNha8iCJcU1wXNR6q4V8w");
    /// assert_eq!(document.as_json()["source"]["type"], "file");
    /// ```
    #[must_use]
    pub fn document_file(file_id: &str) -> Self {
        Self::object([
            ("type", "document".into()),
            (
                "source",
                serde_json::json!({"type": "file", "file_id": file_id}),
            ),
        ])
    }

    /// An image uploaded with the Files API, by its id.
    ///
    /// ```
    /// use stream_core::request::BlockParam;
    ///
    /// assert_eq!(BlockParam::image_file("file_1").as_json()["source"]["file_id"], "file_1");
    /// ```
    #[must_use]
    pub fn image_file(file_id: &str) -> Self {
        Self::object([
            ("type", "image".into()),
            (
                "source",
                serde_json::json!({"type": "file", "file_id": file_id}),
            ),
        ])
    }

    /// A tool call of an earlier assistant turn (to send with its result).
    ///
    /// ```
    /// use serde_json::json;
    /// use stream_core::request::{BlockParam, MessageParam};
    ///
    /// let turn = MessageParam::assistant_blocks(vec![
    ///     BlockParam::thinking("The user wants Paris.", "EqQBCgIYAhIM"),
    ///     BlockParam::tool_use("toolu_1", "get_weather", json!({"city": "Paris"})),
    /// ]);
    /// let next = MessageParam::user_blocks(vec![BlockParam::tool_result("toolu_1", "18 °C")]);
    /// # let _ = (turn, next);
    /// ```
    #[must_use]
    pub fn tool_use(id: &str, name: &str, input: Value) -> Self {
        Self::object([
            ("type", "tool_use".into()),
            ("id", id.into()),
            ("name", name.into()),
            ("input", input),
        ])
    }

    /// A thinking block of an earlier assistant turn, with its signature (sent back unchanged,
    /// as the API requires with tool use).
    #[must_use]
    pub fn thinking(thinking: impl Into<String>, signature: impl Into<String>) -> Self {
        Self::object([
            ("type", "thinking".into()),
            ("thinking", Value::String(thinking.into())),
            ("signature", Value::String(signature.into())),
        ])
    }

    /// A redacted thinking block of an earlier assistant turn (its opaque `data`).
    ///
    /// ```
    /// use stream_core::request::BlockParam;
    ///
    /// assert_eq!(BlockParam::redacted_thinking("EmwKAhgB").as_json()["type"], "redacted_thinking");
    /// ```
    #[must_use]
    pub fn redacted_thinking(data: impl Into<String>) -> Self {
        Self::object([
            ("type", "redacted_thinking".into()),
            ("data", Value::String(data.into())),
        ])
    }

    /// Any block, as its JSON object.
    #[must_use]
    pub fn raw(object: JsonObject) -> Self {
        Self(object)
    }

    /// Sets a field (for example `cache_control`).
    #[must_use]
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.0.insert(key.to_string(), value);
        self
    }

    /// The JSON object.
    #[must_use]
    pub fn as_json(&self) -> &JsonObject {
        &self.0
    }

    fn object<const N: usize>(fields: [(&str, Value); N]) -> Self {
        Self(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }
}

impl From<&ContentBlock> for BlockParam {
    /// A received block, exactly as received.
    fn from(block: &ContentBlock) -> Self {
        Self(block.as_json().clone())
    }
}

/// The system prompt: text or blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum System {
    /// Plain text.
    Text(String),
    /// Text blocks (for `cache_control`).
    Blocks(Vec<BlockParam>),
}

/// A tool the model may call: a custom tool (a name, a description and an input schema) or a
/// server tool (a `type` and a name, no schema: web search, web fetch, code execution, bash,
/// text editor, memory, computer use, and whatever the API adds).
///
/// ```
/// use serde_json::json;
/// use stream_core::request::Tool;
///
/// let search = Tool::server("web_search_20250305", "web_search").with("max_uses", json!(3));
/// assert_eq!(
///     serde_json::to_value(&search)?,
///     json!({"type": "web_search_20250305", "name": "web_search", "max_uses": 3})
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// The tool's name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema of its input (custom tools; server tools have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    /// Other fields (`cache_control`, `type` for server tools, ...).
    #[serde(flatten)]
    pub extra: JsonObject,
}

impl Tool {
    /// A tool with a name, a description and an input schema.
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        input_schema: Value,
    ) -> Self {
        Self {
            name: name.into(),
            description: Some(description.into()),
            input_schema: Some(input_schema),
            extra: JsonObject::new(),
        }
    }

    /// A server tool: its versioned `type` (`web_search_20250305`, `code_execution_20250825`,
    /// ...) and its name; options with [`with`](Self::with).
    #[must_use]
    pub fn server(tool_type: impl Into<String>, name: impl Into<String>) -> Self {
        let mut extra = JsonObject::new();
        extra.insert("type".to_string(), Value::String(tool_type.into()));
        Self {
            name: name.into(),
            description: None,
            input_schema: None,
            extra,
        }
    }

    /// Sets any other field of the tool (`cache_control`, `max_uses`, `allowed_domains`, ...).
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }
}

/// How the model should choose tools.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolChoice {
    /// The model decides.
    Auto {
        /// Whether to allow at most one tool call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must call some tool.
    Any {
        /// Whether to allow at most one tool call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must call this tool.
    Tool {
        /// The tool.
        name: String,
        /// Whether to allow at most one tool call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// The model must not call tools.
    None,
}

/// Extended thinking: `{"type": "enabled", "budget_tokens": N}`, `{"type": "disabled"}`,
/// `{"type": "adaptive"}`, or any kind the API adds, every field kept as it is.
///
/// ```
/// use serde_json::json;
/// use stream_core::request::Thinking;
///
/// assert_eq!(Thinking::enabled(2048).kind(), "enabled");
/// assert_eq!(Thinking::enabled(2048).budget_tokens(), Some(2048));
/// let future: Thinking = serde_json::from_value(json!({"type": "adaptive", "effort": "high"}))?;
/// assert_eq!(serde_json::to_value(&future)?, json!({"type": "adaptive", "effort": "high"}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Thinking(JsonObject);

impl Thinking {
    /// Thinking with a token budget.
    #[must_use]
    pub fn enabled(budget_tokens: u32) -> Self {
        Self::of_kind("enabled").with("budget_tokens", Value::from(budget_tokens))
    }

    /// No thinking.
    #[must_use]
    pub fn disabled() -> Self {
        Self::of_kind("disabled")
    }

    /// The model decides how much to think.
    #[must_use]
    pub fn adaptive() -> Self {
        Self::of_kind("adaptive")
    }

    /// Any kind, by its `type`.
    #[must_use]
    pub fn of_kind(kind: impl Into<String>) -> Self {
        let mut object = JsonObject::new();
        object.insert("type".to_string(), Value::String(kind.into()));
        Self(object)
    }

    /// Sets any other field.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: Value) -> Self {
        self.0.insert(key.into(), value);
        self
    }

    /// The `type`.
    #[must_use]
    pub fn kind(&self) -> &str {
        self.0.get("type").and_then(Value::as_str).unwrap_or("")
    }

    /// The token budget, when there is one.
    #[must_use]
    pub fn budget_tokens(&self) -> Option<u32> {
        let budget = self.0.get("budget_tokens")?.as_u64()?;
        u32::try_from(budget).ok()
    }

    /// The whole object.
    #[must_use]
    pub fn as_json(&self) -> &JsonObject {
        &self.0
    }
}

/// The request fields with a typed home in [`MessageParams`], and `stream`, which the library
/// sets: none may come through [`MessageParams::extra`].
const TYPED_FIELDS: [&str; 14] = [
    "stream",
    "model",
    "max_tokens",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "thinking",
    "metadata",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "service_tier",
];

/// The parameters of a Messages request. `stream: true` is set by the library.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageParams {
    /// The model.
    pub model: String,
    /// The most output tokens.
    pub max_tokens: u32,
    /// The conversation.
    pub messages: Vec<MessageParam>,
    /// The system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<System>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// How the model chooses tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Extended thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Thinking>,
    /// Request metadata (`user_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<JsonObject>,
    /// Sequences that stop generation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// Sampling temperature, as a JSON number (`1` and `1.0` stay as they were written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<serde_json::Number>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<serde_json::Number>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// `auto` or `standard_only`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Any other field, sent as it is (for fields the API gains tomorrow).
    #[serde(flatten)]
    pub extra: JsonObject,
    /// The typed number setters last given a value JSON cannot carry (NaN, an infinity).
    #[serde(skip)]
    not_finite: Vec<&'static str>,
}

impl MessageParams {
    /// Parameters with a model and a token limit; add messages with [`message`](Self::message).
    #[must_use]
    pub fn new(model: impl Into<String>, max_tokens: u32) -> Self {
        Self {
            model: model.into(),
            max_tokens,
            messages: Vec::new(),
            system: None,
            tools: Vec::new(),
            tool_choice: None,
            thinking: None,
            metadata: None,
            stop_sequences: Vec::new(),
            temperature: None,
            top_p: None,
            top_k: None,
            service_tier: None,
            extra: JsonObject::new(),
            not_finite: Vec::new(),
        }
    }

    /// Parameters from a full request JSON (as in a `--params` file). `stream` is ignored.
    ///
    /// # Errors
    ///
    /// A `serde_json` error when the JSON is not a Messages request.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let mut params: Self = serde_json::from_str(json)?;
        params.extra.remove("stream");
        Ok(params)
    }

    /// Adds a message.
    #[must_use]
    pub fn message(mut self, message: MessageParam) -> Self {
        self.messages.push(message);
        self
    }

    /// Sets the system prompt.
    #[must_use]
    pub fn system(mut self, system: impl Into<String>) -> Self {
        self.system = Some(System::Text(system.into()));
        self
    }

    /// Adds a tool.
    #[must_use]
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }

    /// Sets the tool choice.
    #[must_use]
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// Enables extended thinking with a token budget.
    #[must_use]
    pub fn thinking(mut self, budget_tokens: u32) -> Self {
        self.thinking = Some(Thinking::enabled(budget_tokens));
        self
    }

    /// Sets the temperature. NaN or an infinity is refused by [`validate`](Self::validate).
    #[must_use]
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = self.finite("temperature", temperature);
        self
    }

    /// Sets nucleus sampling (`top_p`). NaN or an infinity is refused by
    /// [`validate`](Self::validate).
    ///
    /// ```
    /// use stream_core::request::{MessageParam, MessageParams, ParamsError};
    ///
    /// let params = MessageParams::new("m", 64).message(MessageParam::user("Hi")).top_p(0.9).top_k(40);
    /// assert_eq!(serde_json::to_value(&params)?["top_p"], 0.9);
    /// assert!(matches!(params.top_p(f64::NAN).validate(), Err(ParamsError::NotFinite(_))));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[must_use]
    pub fn top_p(mut self, top_p: f64) -> Self {
        self.top_p = self.finite("top_p", top_p);
        self
    }

    /// Sets top-k sampling.
    #[must_use]
    pub fn top_k(mut self, top_k: u32) -> Self {
        self.top_k = Some(top_k);
        self
    }

    /// `value` as a JSON number, or `None` with `field` remembered for `validate` (until the
    /// setter is given a finite value).
    fn finite(&mut self, field: &'static str, value: f64) -> Option<serde_json::Number> {
        let number = serde_json::Number::from_f64(value);
        self.not_finite.retain(|f| *f != field);
        if number.is_none() {
            self.not_finite.push(field);
        }
        number
    }

    /// Adds a stop sequence.
    #[must_use]
    pub fn stop_sequence(mut self, sequence: impl Into<String>) -> Self {
        self.stop_sequences.push(sequence.into());
        self
    }

    /// Sets any other field, for fields the API gains before this crate does. A field that
    /// has a typed setter (`model`, `max_tokens`, `messages`, `system`, `tools`,
    /// `tool_choice`, `thinking`, `metadata`, `stop_sequences`, `temperature`, `top_p`,
    /// `top_k`, `service_tier`) or that the library sets (`stream`) is refused by
    /// [`validate`](Self::validate) with [`ParamsError::ReservedField`]: an extra never
    /// silently overrides a typed value.
    #[must_use]
    pub fn extra(mut self, key: impl Into<String>, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }

    /// Checks what can be checked before sending.
    ///
    /// # Errors
    ///
    /// [`ParamsError`] for an empty model, zero `max_tokens`, no messages, or an extra field
    /// named `stream`.
    pub fn validate(&self) -> Result<(), ParamsError> {
        if self.model.is_empty() {
            return Err(ParamsError::MissingModel);
        }
        if self.max_tokens == 0 {
            return Err(ParamsError::ZeroMaxTokens);
        }
        if self.messages.is_empty() {
            return Err(ParamsError::NoMessages);
        }
        if let Some(field) = self.not_finite.first() {
            return Err(ParamsError::NotFinite((*field).to_string()));
        }
        if let Some(key) = TYPED_FIELDS
            .iter()
            .find(|key| self.extra.contains_key(**key))
        {
            return Err(ParamsError::ReservedField((*key).to_string()));
        }
        Ok(())
    }

    /// The JSON body, with `stream: true`.
    pub(crate) fn to_body(&self) -> Result<Bytes, ParamsError> {
        let mut value =
            serde_json::to_value(self).map_err(|err| ParamsError::Serialize(err.to_string()))?;
        if let Value::Object(map) = &mut value {
            map.insert("stream".to_string(), Value::Bool(true));
        }
        serde_json::to_vec(&value)
            .map(Bytes::from)
            .map_err(|err| ParamsError::Serialize(err.to_string()))
    }
}
