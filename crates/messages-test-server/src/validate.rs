//! The checks the API makes before it streams, answered with its status codes and error
//! JSON.

use bytes::Bytes;
use http::{Method, StatusCode, request::Parts};
use serde_json::{Value, json};

/// An API error to answer with.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) kind: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            kind: error_type(status).0,
            message: message.into(),
        }
    }
}

/// The API's error type and a default message for a status.
pub(crate) fn error_type(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("invalid_request_error", "Invalid request"),
        401 => ("authentication_error", "invalid x-api-key"),
        402 => ("billing_error", "Your credit balance is too low"),
        403 => ("permission_error", "Your API key does not have permission"),
        404 => ("not_found_error", "Not found"),
        413 => (
            "request_too_large",
            "Request exceeds the maximum allowed size",
        ),
        429 => (
            "rate_limit_error",
            "Number of request tokens has exceeded your rate limit",
        ),
        504 => ("timeout_error", "Request timed out"),
        529 => ("overloaded_error", "Overloaded"),
        _ => ("api_error", "Internal server error"),
    }
}

/// The API's error body.
pub(crate) fn error_body(kind: &str, message: &str, request_id: &str) -> Bytes {
    Bytes::from(
        json!({
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": request_id,
        })
        .to_string(),
    )
}

/// Checks a request as the API does; returns the model it asks for.
pub(crate) fn check(
    parts: &Parts,
    body: &[u8],
    require_auth: bool,
    api_key: Option<&str>,
) -> Result<String, ApiError> {
    if parts.uri.path() != "/v1/messages" {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("Not found: {}", parts.uri.path()),
        ));
    }
    if parts.method != Method::POST {
        return Err(ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            kind: "invalid_request_error",
            message: format!("Method {} not allowed", parts.method),
        });
    }
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let presented = header("x-api-key")
        .or_else(|| header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::trim)));
    match (presented, api_key) {
        (None | Some(""), _) if !require_auth => {}
        (None | Some(""), _) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "x-api-key header is required",
            ));
        }
        (Some(key), Some(expected)) if key != expected => {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid x-api-key"));
        }
        _ => {}
    }
    if header("anthropic-version").is_none_or(str::is_empty) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "anthropic-version: header is required",
        ));
    }
    let json_type = header("content-type").is_some_and(|v| {
        v.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    if !json_type {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "content-type: must be application/json",
        ));
    }
    check_body(body)
}

/// Checks a Messages body as the API does; returns the model it asks for.
pub(crate) fn check_body(body: &[u8]) -> Result<String, ApiError> {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON",
        ));
    };
    let Some(model) = body.get("model").and_then(Value::as_str) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "model: Field required",
        ));
    };
    if body
        .get("max_tokens")
        .and_then(Value::as_u64)
        .is_none_or(|n| n < 1)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "max_tokens: Field required (an integer of at least 1)",
        ));
    }
    if body
        .get("messages")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "messages: Field required (at least one message)",
        ));
    }
    if body.get("stream") != Some(&Value::Bool(true)) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "stream: this server only streams; set \"stream\": true",
        ));
    }
    Ok(model.to_owned())
}
