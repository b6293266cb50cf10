//! Where Messages requests go: the Anthropic API, Claude on Amazon Bedrock, or Claude on
//! Google Vertex AI, and how a request is authorized on each attempt.
//!
//! A [`Provider`] decides the URL of a Messages request, how its body differs from the
//! Anthropic API's, and how the response is framed (Bedrock streams the same events in the
//! AWS event stream encoding; Vertex AI streams SSE). Everything else (the session, retries,
//! deadlines, helper events and errors) is the same for the three.
//!
//! An [`Authorizer`] is asked for credentials on every attempt, with the wall-clock time the
//! driver passes in (this crate never reads a clock): a retry is signed again. The
//! `anthropic-stream` crate gives Bedrock's signer (AWS Signature Version 4); a bearer token
//! that can change over time (Vertex AI's OAuth tokens) is a [`BearerProvider`].
//!
//! ```
//! use stream_core::provider::Provider;
//! use stream_core::request::{ClientConfig, MessageParam, MessageParams};
//!
//! let params = MessageParams::new("anthropic.claude-sonnet-4-5-v1:0", 256).message(MessageParam::user("Hi"));
//! let config = ClientConfig::new().provider(Provider::bedrock("us-east-1"));
//! let request = config.build_request(&params, 0)?;
//! assert_eq!(
//!     request.url,
//!     "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-sonnet-4-5-v1:0/invoke-with-response-stream",
//! );
//! let body: serde_json::Value = serde_json::from_slice(&request.body)?;
//! assert_eq!(body["anthropic_version"], "bedrock-2023-05-31");
//! assert!(body.get("model").is_none() && body.get("stream").is_none());
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use crate::request::{ParamsError, Request};

/// The `anthropic_version` Bedrock expects in the body.
pub const BEDROCK_VERSION: &str = crate::eventstream::bedrock::ANTHROPIC_VERSION;
/// The `anthropic_version` Vertex AI expects in the body.
pub const VERTEX_VERSION: &str = "vertex-2023-10-16";
/// The content type of Bedrock's streamed responses.
pub const EVENT_STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// The service that answers Messages requests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Provider {
    /// The Anthropic API: `POST {base}/v1/messages`, SSE.
    #[default]
    Anthropic,
    /// Claude on Amazon Bedrock: `POST {base}/model/{model}/invoke-with-response-stream`, the
    /// body without `model` and `stream` and with `anthropic_version` (and the beta flags as
    /// `anthropic_beta`), the response in the AWS event stream encoding.
    Bedrock {
        /// The AWS region (`us-east-1`): the default base URL's and the signature's.
        region: String,
    },
    /// Claude on Google Vertex AI:
    /// `POST {base}/v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:streamRawPredict`,
    /// the body without `model` and with `anthropic_version`, the response SSE.
    Vertex {
        /// The Google Cloud project.
        project: String,
        /// The region (`us-east5`, `europe-west1`, or `global`, `us`, `eu`).
        region: String,
    },
}

impl Provider {
    /// Claude on Amazon Bedrock in `region`.
    ///
    /// ```
    /// use stream_core::provider::Provider;
    ///
    /// assert_eq!(Provider::bedrock("eu-west-1").default_base_url(), "https://bedrock-runtime.eu-west-1.amazonaws.com");
    /// ```
    #[must_use]
    pub fn bedrock(region: impl Into<String>) -> Self {
        Self::Bedrock {
            region: region.into(),
        }
    }

    /// Claude on Google Vertex AI in `project` and `region`.
    ///
    /// ```
    /// use stream_core::provider::Provider;
    ///
    /// assert_eq!(Provider::vertex("my-project", "us-east5").default_base_url(), "https://us-east5-aiplatform.googleapis.com");
    /// assert_eq!(Provider::vertex("my-project", "global").default_base_url(), "https://aiplatform.googleapis.com");
    /// ```
    #[must_use]
    pub fn vertex(project: impl Into<String>, region: impl Into<String>) -> Self {
        Self::Vertex {
            project: project.into(),
            region: region.into(),
        }
    }

    /// The base URL requests go to unless the configuration names another: the public
    /// endpoint of the provider (and region), as the official SDKs pick it.
    #[must_use]
    pub fn default_base_url(&self) -> String {
        match self {
            Self::Anthropic => crate::request::DEFAULT_BASE_URL.to_string(),
            Self::Bedrock { region } => format!("https://bedrock-runtime.{region}.amazonaws.com"),
            Self::Vertex { region, .. } => match region.as_str() {
                "global" => "https://aiplatform.googleapis.com".to_string(),
                "us" | "eu" => format!("https://aiplatform.{region}.rep.googleapis.com"),
                region => format!("https://{region}-aiplatform.googleapis.com"),
            },
        }
    }

    /// A short name: `anthropic`, `bedrock` or `vertex`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::Bedrock { .. } => "bedrock",
            Self::Vertex { .. } => "vertex",
        }
    }

    /// The content type the response to a Messages request streams in.
    #[must_use]
    pub fn stream_content_type(&self) -> &'static str {
        match self {
            Self::Bedrock { .. } => EVENT_STREAM_CONTENT_TYPE,
            Self::Anthropic | Self::Vertex { .. } => "text/event-stream",
        }
    }

    /// The path (after the base URL) and body of a streaming Messages request whose Anthropic
    /// body is `body`; `betas` are the beta flags (Bedrock takes them in the body as well).
    pub(crate) fn messages_request(
        &self,
        body: Bytes,
        betas: &[&str],
    ) -> Result<(String, Bytes), ParamsError> {
        let version = match self {
            Self::Anthropic => return Ok(("/v1/messages".to_string(), body)),
            Self::Bedrock { .. } => BEDROCK_VERSION,
            Self::Vertex { .. } => VERTEX_VERSION,
        };
        let invalid = |why: &str| ParamsError::Serialize(why.to_string());
        let mut object: serde_json::Map<String, Value> =
            serde_json::from_slice(&body).map_err(|e| invalid(&e.to_string()))?;
        let Some(Value::String(model)) = object.remove("model") else {
            return Err(invalid("`model` must be a string"));
        };
        object
            .entry("anthropic_version")
            .or_insert_with(|| Value::from(version));
        let path = match self {
            Self::Bedrock { .. } => {
                object.remove("stream");
                if !betas.is_empty() {
                    object
                        .entry("anthropic_beta")
                        .or_insert_with(|| betas.iter().map(|b| Value::from(*b)).collect());
                }
                format!(
                    "/model/{}/invoke-with-response-stream",
                    path_segment(&model)
                )
            }
            Self::Vertex { project, region } => format!(
                "/v1/projects/{}/locations/{}/publishers/anthropic/models/{}:streamRawPredict",
                path_segment(project),
                path_segment(region),
                path_segment(&model)
            ),
            Self::Anthropic => unreachable!("returned above"),
        };
        let body = serde_json::to_vec(&object).map_err(|e| invalid(&e.to_string()))?;
        Ok((path, Bytes::from(body)))
    }
}

/// `text` as one path segment: unreserved characters, `:` and `@` (Vertex AI's model
/// versions) as they are, every other byte as `%XX` (a `/` in a Bedrock model ARN included,
/// as the official SDKs quote it).
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b':' | b'@') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            for nibble in [byte >> 4, byte & 0xF] {
                out.push(char::from(b"0123456789ABCDEF"[usize::from(nibble)]));
            }
        }
    }
    out
}

/// Adds credentials to each attempt's request: asked once per attempt, just before it is
/// sent, so a retry is authorized again (a fresh signature, a refreshed token).
///
/// `unix_time` is the wall-clock time of the attempt (since the UNIX epoch), when the driver
/// gave one ([`Session::set_wall_clock`](crate::session::Session::set_wall_clock); both
/// transports do). A signer that needs it fails without it.
///
/// ```
/// use core::time::Duration;
/// use stream_core::provider::{AuthError, Authorizer};
/// use stream_core::request::{ClientConfig, MessageParam, MessageParams, Request};
/// use stream_core::session::{Output, Session};
///
/// /// Stamps each attempt with its time.
/// #[derive(Debug)]
/// struct Stamp;
///
/// impl Authorizer for Stamp {
///     fn authorize(&self, request: &mut Request, unix_time: Option<Duration>) -> Result<(), AuthError> {
///         let time = unix_time.ok_or_else(|| AuthError::new("no wall clock"))?;
///         request.headers.push(("x-stamp".into(), time.as_secs().to_string()));
///         Ok(())
///     }
/// }
///
/// let config = ClientConfig::new().authorizer(Stamp);
/// let params = MessageParams::new("m", 1).message(MessageParam::user("Hi"));
/// let mut session = Session::new(&config, &params)?;
/// session.set_wall_clock(Duration::ZERO, Duration::from_secs(1_700_000_000));
/// session.enter(Duration::from_secs(2))?;
/// let Some(Output::Send { request, .. }) = session.poll_output() else { panic!() };
/// assert_eq!(request.header("x-stamp"), Some("1700000002"));
/// # Ok::<(), Box<dyn core::error::Error>>(())
/// ```
pub trait Authorizer: fmt::Debug + Send + Sync {
    /// Adds credentials to `request` (headers, usually).
    ///
    /// # Errors
    ///
    /// [`AuthError`] when no credentials can be had: the session fails with
    /// [`ErrorKind::Auth`](crate::session::ErrorKind::Auth) and sends nothing.
    fn authorize(
        &self,
        request: &mut Request,
        unix_time: Option<Duration>,
    ) -> Result<(), AuthError>;
}

/// Why an [`Authorizer`] could not authorize a request. The caller's configuration (or its
/// environment) is to blame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthError(String);

impl AuthError {
    /// An error with this reason.
    #[must_use]
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }

    /// The reason.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot authorize the request: {}", self.0)
    }
}

impl core::error::Error for AuthError {}

/// A shared [`Authorizer`], as a configuration holds it.
#[derive(Clone)]
pub struct SharedAuthorizer(pub(crate) Arc<dyn Authorizer>);

impl fmt::Debug for SharedAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for SharedAuthorizer {
    /// The same authorizer (not an equal one).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SharedAuthorizer {}

impl SharedAuthorizer {
    /// Shares `authorizer`.
    #[must_use]
    pub fn new(authorizer: impl Authorizer + 'static) -> Self {
        Self(Arc::new(authorizer))
    }

    /// Asks the authorizer.
    ///
    /// # Errors
    ///
    /// As [`Authorizer::authorize`].
    pub fn authorize(
        &self,
        request: &mut Request,
        unix_time: Option<Duration>,
    ) -> Result<(), AuthError> {
        self.0.authorize(request, unix_time)
    }
}

/// `Authorization: Bearer <token>` with a token asked for on every attempt: for tokens that
/// expire (Vertex AI's OAuth access tokens). The function should be quick (return a cached
/// token and refresh it elsewhere): it runs on the driver's task.
///
/// ```
/// use stream_core::provider::{AuthError, BearerProvider, Provider};
/// use stream_core::request::{ClientConfig, MessageParam, MessageParams};
///
/// let tokens = BearerProvider::new(|| Ok::<_, AuthError>("ya29.token".to_owned()));
/// let config = ClientConfig::new().provider(Provider::vertex("my-project", "us-east5")).authorizer(tokens);
/// # let _ = config;
/// ```
pub struct BearerProvider<F>(F);

impl<F> BearerProvider<F>
where
    F: Fn() -> Result<String, AuthError> + Send + Sync,
{
    /// A provider that calls `token` for each attempt.
    pub fn new(token: F) -> Self {
        Self(token)
    }
}

impl<F> fmt::Debug for BearerProvider<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerProvider")
    }
}

impl<F> Authorizer for BearerProvider<F>
where
    F: Fn() -> Result<String, AuthError> + Send + Sync,
{
    fn authorize(&self, request: &mut Request, _: Option<Duration>) -> Result<(), AuthError> {
        let token = (self.0)()?;
        request
            .headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        request
            .headers
            .push(("authorization".to_string(), format!("Bearer {token}")));
        Ok(())
    }
}

/// `body` with `betas` added to its `anthropic_beta` (each once) when the provider takes the
/// flags in the body (Bedrock) and there are any; else `body` as it is.
pub(crate) fn with_betas(provider: &Provider, body: &Bytes, betas: &[&str]) -> Bytes {
    if !matches!(provider, Provider::Bedrock { .. }) || betas.is_empty() {
        return body.clone();
    }
    let Ok(mut object) = serde_json::from_slice::<serde_json::Map<String, Value>>(body) else {
        return body.clone();
    };
    // The body's own flags first (the client's, or the caller's `extra`), then the rest.
    let mut list: Vec<Value> = match object.remove("anthropic_beta") {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    for beta in betas {
        if !list.iter().any(|b| b.as_str() == Some(*beta)) {
            list.push(Value::from(*beta));
        }
    }
    object.insert("anthropic_beta".to_string(), Value::Array(list));
    serde_json::to_vec(&object).map_or_else(|_| body.clone(), Bytes::from)
}

/// The beta flags of a request's headers, for a provider that wants them in the body.
pub(crate) fn betas_of(headers: &[(String, String)]) -> Vec<&str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("anthropic-beta"))
        .flat_map(|(_, v)| v.split(',').map(str::trim).filter(|b| !b.is_empty()))
        .collect()
}
