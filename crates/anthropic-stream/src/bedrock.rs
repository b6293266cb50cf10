//! Claude on Amazon Bedrock (feature `bedrock`): the same clients and streams, with requests
//! to Bedrock's `invoke-with-response-stream` signed by AWS Signature Version 4.
//!
//! A configuration for Bedrock is [`ClientConfig::provider`] with
//! [`Provider::bedrock`], plus credentials: [`SigV4`] (signed per attempt, with the attempt's
//! time, so a retry carries a fresh signature) or a Bedrock API key
//! ([`ClientConfig::auth_token`], sent as `Authorization: Bearer`). [`config_from_env`] reads
//! both from the environment as the official SDKs do.
//!
//! ```no_run
//! # #[cfg(feature = "hyper")]
//! # async fn run() -> Result<(), anthropic_stream::Error> {
//! use anthropic_stream::{Client, MessageParam, MessageParams};
//!
//! // AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
//! let client = Client::new(anthropic_stream::bedrock::config_from_env()?);
//! let params = MessageParams::new("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 1024)
//!     .message(MessageParam::user("Hi"));
//! let message = client.messages().stream(params).enter().await?.final_message().await?;
//! println!("{}", message.text());
//! # Ok(())
//! # }
//! ```

use core::fmt;
use core::time::Duration;
use std::time::UNIX_EPOCH;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
pub use stream_core::provider::Provider;
use stream_core::provider::{AuthError, Authorizer};
use stream_core::request::{ClientConfig, ConfigError, Request, Secret};

/// The signing name of Bedrock's runtime API.
pub const SERVICE: &str = "bedrock";

/// The region used when none is given or set (`us-east-1`, as the official SDKs fall back).
pub const DEFAULT_REGION: &str = "us-east-1";

/// AWS credentials: an access key, its secret and, for temporary credentials, a session
/// token. Secrets stay out of `Debug`.
///
/// ```
/// use anthropic_stream::bedrock::AwsCredentials;
///
/// let credentials = AwsCredentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
/// assert!(!format!("{credentials:?}").contains("wJalr"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Option<Secret>,
}

impl AwsCredentials {
    /// Long-term credentials.
    #[must_use]
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: Secret::new(secret_access_key),
            session_token: None,
        }
    }

    /// Temporary credentials: adds the session token (sent in `x-amz-security-token`).
    #[must_use]
    pub fn session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(Secret::new(token));
        self
    }

    /// The credentials the standard environment variables give, read through `lookup`:
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, with `AWS_SESSION_TOKEN` when set;
    /// `None` unless both of the first two are set (empty counts as unset).
    ///
    /// ```
    /// use anthropic_stream::bedrock::AwsCredentials;
    ///
    /// let env = |name: &str| match name {
    ///     "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".to_owned()),
    ///     "AWS_SECRET_ACCESS_KEY" => Some("secret".to_owned()),
    ///     _ => None,
    /// };
    /// assert_eq!(AwsCredentials::from_lookup(env).map(|c| c.access_key_id().to_owned()), Some("AKIDEXAMPLE".to_owned()));
    /// assert!(AwsCredentials::from_lookup(|_| None).is_none());
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let credentials = Self::new(var("AWS_ACCESS_KEY_ID")?, var("AWS_SECRET_ACCESS_KEY")?);
        Some(match var("AWS_SESSION_TOKEN") {
            Some(token) => credentials.session_token(token),
            None => credentials,
        })
    }

    /// The access key id.
    #[must_use]
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("session_token", &self.session_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Signs every attempt with AWS Signature Version 4 (service `bedrock`), at the attempt's
/// wall-clock time as the driver passes it in: a retry is signed again.
///
/// ```
/// use core::time::Duration;
/// use anthropic_stream::bedrock::{AwsCredentials, SigV4};
/// use anthropic_stream::stream_core::provider::Authorizer;
/// use anthropic_stream::Request;
///
/// let signer = SigV4::new(AwsCredentials::new("AKIDEXAMPLE", "secret"), "us-east-1");
/// let mut request = Request::new("POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/invoke-with-response-stream")
///     .with_header("content-type", "application/json")
///     .with_body(&b"{}"[..]);
/// signer.authorize(&mut request, Some(Duration::from_secs(1_767_225_600)))?; // 2026-01-01
/// let authorization = request.header("authorization").unwrap();
/// assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/bedrock/aws4_request, SignedHeaders="));
/// assert_eq!(request.header("x-amz-date"), Some("20260101T000000Z"));
/// # Ok::<(), anthropic_stream::stream_core::provider::AuthError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SigV4 {
    credentials: AwsCredentials,
    region: String,
}

impl SigV4 {
    /// A signer for `region` with `credentials`.
    #[must_use]
    pub fn new(credentials: AwsCredentials, region: impl Into<String>) -> Self {
        Self {
            credentials,
            region: region.into(),
        }
    }

    /// The region signatures are scoped to.
    #[must_use]
    pub fn region(&self) -> &str {
        &self.region
    }
}

impl Authorizer for SigV4 {
    fn authorize(
        &self,
        request: &mut Request,
        unix_time: Option<Duration>,
    ) -> Result<(), AuthError> {
        let unix_time = unix_time.ok_or_else(|| {
            AuthError::new("AWS Signature Version 4 needs the time: the driver gave no wall clock")
        })?;
        let failed = |err: &dyn fmt::Display| AuthError::new(format!("signing failed: {err}"));
        let identity = Credentials::new(
            self.credentials.access_key_id.clone(),
            self.credentials.secret_access_key.expose().to_owned(),
            self.credentials
                .session_token
                .as_ref()
                .map(|t| t.expose().to_owned()),
            None,
            "anthropic-stream",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(UNIX_EPOCH + unix_time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| failed(&e))?
            .into();
        // A signature is over the headers as sent: drop those of an earlier attempt first.
        request.headers.retain(|(name, _)| {
            !matches!(
                name.to_ascii_lowercase().as_str(),
                "authorization" | "x-amz-date" | "x-amz-security-token"
            )
        });
        let signable = SignableRequest::new(
            &request.method,
            &request.url,
            request
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Bytes(&request.body),
        )
        .map_err(|e| failed(&e))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| failed(&e))?
            .into_parts();
        let (headers, _query) = instructions.into_parts();
        for header in headers {
            request
                .headers
                .push((header.name().to_owned(), header.value().to_owned()));
        }
        Ok(())
    }
}

/// A configuration for Bedrock in `region`, signed with `credentials`.
///
/// ```
/// use anthropic_stream::bedrock::{self, AwsCredentials};
///
/// let config = bedrock::config("eu-central-1", AwsCredentials::new("AKIDEXAMPLE", "secret"));
/// assert_eq!(config.base_url, "https://bedrock-runtime.eu-central-1.amazonaws.com");
/// ```
#[must_use]
pub fn config(region: &str, credentials: AwsCredentials) -> ClientConfig {
    ClientConfig::new()
        .provider(Provider::bedrock(region))
        .authorizer(SigV4::new(credentials, region))
}

/// [`config_from_lookup`] over the process environment.
///
/// # Errors
///
/// As [`config_from_lookup`].
pub fn config_from_env() -> Result<ClientConfig, ConfigError> {
    config_from_lookup(|name| std::env::var(name).ok())
}

/// A configuration for Bedrock from environment variables, read through `lookup`, as the
/// official SDKs read them: the region from `AWS_REGION` (else `AWS_DEFAULT_REGION`, else
/// [`DEFAULT_REGION`]); the base URL from `ANTHROPIC_BEDROCK_BASE_URL` when set; a Bedrock API
/// key from `AWS_BEARER_TOKEN_BEDROCK`, else [`SigV4`] with [`AwsCredentials::from_lookup`].
/// Proxies come from the usual variables, as [`ClientConfig::from_lookup`] reads them.
///
/// ```
/// use anthropic_stream::bedrock;
/// use anthropic_stream::stream_core::provider::Provider;
///
/// let env = |name: &str| match name {
///     "AWS_REGION" => Some("us-west-2".to_owned()),
///     "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE".to_owned()),
///     "AWS_SECRET_ACCESS_KEY" => Some("secret".to_owned()),
///     _ => None,
/// };
/// let config = bedrock::config_from_lookup(env)?;
/// assert_eq!(config.provider, Provider::bedrock("us-west-2"));
/// assert!(bedrock::config_from_lookup(|_| None).is_err()); // no credentials
/// # Ok::<(), anthropic_stream::ConfigError>(())
/// ```
///
/// # Errors
///
/// [`ConfigError::Invalid`] when no credentials are set, or a proxy variable is not usable.
pub fn config_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<ClientConfig, ConfigError> {
    let var = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    let mut config = ClientConfig::new()
        .provider(Provider::bedrock(&region))
        .proxies(stream_core::proxy::Proxies::from_lookup(&lookup)?);
    if let Some(url) = var("ANTHROPIC_BEDROCK_BASE_URL") {
        config = config.base_url(url);
    }
    if let Some(key) = var("AWS_BEARER_TOKEN_BEDROCK") {
        return Ok(config.auth_token(key));
    }
    let credentials = AwsCredentials::from_lookup(&lookup).ok_or_else(|| {
        ConfigError::Invalid(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or AWS_BEARER_TOKEN_BEDROCK".to_owned(),
        )
    })?;
    Ok(config.authorizer(SigV4::new(credentials, region)))
}
