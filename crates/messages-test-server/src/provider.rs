//! The paths of Claude on Amazon Bedrock and on Google Vertex AI: which one a request takes,
//! the checks each makes (a well-formed AWS Signature Version 4 `Authorization` for Bedrock, a
//! bearer token for Vertex AI, each one's body rules), Bedrock's errors, and its framing of
//! events (written with `aws-smithy-eventstream`, the AWS SDK's own encoder, so a client is
//! checked against the reference, not against itself).

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, StatusCode, request::Parts};
use serde_json::{Value, json};

use crate::validate::ApiError;

/// Bedrock's `anthropic_version`.
const BEDROCK_VERSION: &str = "bedrock-2023-05-31";
/// Vertex AI's `anthropic_version`.
const VERTEX_VERSION: &str = "vertex-2023-10-16";

/// The API a request is for, by its path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `POST /v1/messages` (and any other path, which the API's checks refuse).
    Anthropic,
    /// `POST /model/{model}/invoke-with-response-stream`.
    Bedrock { model: String },
    /// `POST /v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:streamRawPredict`.
    Vertex { model: String },
}

impl Route {
    /// The route of `path` (without its query).
    pub(crate) fn of(path: &str) -> Self {
        if let Some(model) = path
            .strip_prefix("/model/")
            .and_then(|rest| rest.strip_suffix("/invoke-with-response-stream"))
            .filter(|model| !model.is_empty() && !model.contains('/'))
        {
            return Self::Bedrock {
                model: percent_decode(model),
            };
        }
        let segments: Vec<&str> = path.split('/').collect();
        if let [
            "",
            "v1",
            "projects",
            project,
            "locations",
            region,
            "publishers",
            "anthropic",
            "models",
            last,
        ] = segments.as_slice()
            && !project.is_empty()
            && !region.is_empty()
            && let Some(model) = last.strip_suffix(":streamRawPredict")
            && !model.is_empty()
        {
            return Self::Vertex {
                model: percent_decode(model),
            };
        }
        Self::Anthropic
    }

    /// Whether the reply is framed in the AWS event stream encoding.
    pub(crate) fn is_bedrock(&self) -> bool {
        matches!(self, Self::Bedrock { .. })
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks a Bedrock or Vertex AI request as the cloud would before it streams; returns the
/// request as the Anthropic API's body (with `model` and `stream`), for the reply's source.
pub(crate) fn check(
    route: &Route,
    parts: &Parts,
    body: &[u8],
    require_auth: bool,
    api_key: Option<&str>,
) -> Result<(String, Bytes), ApiError> {
    let (model, version) = match route {
        Route::Bedrock { model } => (model, BEDROCK_VERSION),
        Route::Vertex { model } => (model, VERTEX_VERSION),
        Route::Anthropic => unreachable!("checked by validate::check"),
    };
    if parts.method != Method::POST {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Method {} not allowed", parts.method),
        ));
    }
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    // With a key set, only it is accepted: Bedrock's access key id or either cloud's token.
    let unknown = |presented: &str| api_key.is_some_and(|key| key != presented);
    match (route, header("authorization")) {
        (Route::Bedrock { .. }, Some(auth)) if auth.starts_with("AWS4-") => {
            let key_id = check_sigv4(auth, &header)?;
            if unknown(key_id) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "The security token included in the request is invalid.",
                ));
            }
        }
        (_, Some(auth))
            if auth
                .strip_prefix("Bearer ")
                .is_some_and(|t| !t.trim().is_empty()) =>
        {
            if unknown(auth["Bearer ".len()..].trim()) {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "Request had invalid authentication credentials.",
                ));
            }
        }
        (_, Some(_)) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Authorization header is not a signature or a bearer token",
            ));
        }
        (_, None) if require_auth => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Missing Authentication Token",
            ));
        }
        (_, None) => {}
    }
    let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON",
        ));
    };
    if object.get("anthropic_version").and_then(Value::as_str) != Some(version) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("anthropic_version: must be \"{version}\""),
        ));
    }
    if object.contains_key("model") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "model: Extra inputs are not permitted (the model is in the path)",
        ));
    }
    match route {
        Route::Bedrock { .. } if object.contains_key("stream") => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "stream: Extra inputs are not permitted",
            ));
        }
        Route::Vertex { .. } if object.get("stream") != Some(&Value::Bool(true)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "stream: streamRawPredict needs \"stream\": true",
            ));
        }
        _ => {}
    }
    object.remove("anthropic_version");
    object.remove("anthropic_beta");
    object.insert("model".to_owned(), Value::from(model.as_str()));
    object.insert("stream".to_owned(), Value::Bool(true));
    let anthropic = Bytes::from(Value::Object(object).to_string());
    let model = crate::validate::check_body(&anthropic)?;
    Ok((model, anthropic))
}

/// A well-formed AWS Signature Version 4 `Authorization` header, scoped to `bedrock`, whose
/// signed headers were all sent and whose date is `x-amz-date`'s; returns its access key id.
fn check_sigv4<'a, 'h>(
    auth: &'a str,
    header: &impl Fn(&str) -> Option<&'h str>,
) -> Result<&'a str, ApiError> {
    let bad = |why: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("The request signature is not well formed: {why}"),
        )
    };
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| bad("the algorithm must be AWS4-HMAC-SHA256"))?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',').map(str::trim) {
        match part.split_once('=') {
            Some(("Credential", value)) => credential = Some(value),
            Some(("SignedHeaders", value)) => signed_headers = Some(value),
            Some(("Signature", value)) => signature = Some(value),
            _ => return Err(bad(&format!("unexpected part {part:?}"))),
        }
    }
    let credential = credential.ok_or_else(|| bad("no Credential"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, terminal] = scope.as_slice() else {
        return Err(bad(
            "Credential must be key/date/region/service/aws4_request",
        ));
    };
    if key.is_empty() || region.is_empty() || *terminal != "aws4_request" {
        return Err(bad(
            "Credential must be key/date/region/service/aws4_request",
        ));
    }
    if *service != "bedrock" {
        return Err(bad(&format!("the service is {service:?}, not \"bedrock\"")));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the credential date must be YYYYMMDD"));
    }
    let amz_date = header("x-amz-date").ok_or_else(|| bad("no x-amz-date header"))?;
    let well_formed_time = amz_date.len() == 16
        && amz_date.as_bytes()[8] == b'T'
        && amz_date.ends_with('Z')
        && amz_date[..8]
            .bytes()
            .chain(amz_date[9..15].bytes())
            .all(|b| b.is_ascii_digit());
    if !well_formed_time || !amz_date.starts_with(date) {
        return Err(bad(
            "x-amz-date must be YYYYMMDDTHHMMSSZ on the credential's date",
        ));
    }
    let signed_headers = signed_headers.ok_or_else(|| bad("no SignedHeaders"))?;
    let names: Vec<&str> = signed_headers.split(';').collect();
    for required in ["host", "x-amz-date"] {
        if !names.contains(&required) {
            return Err(bad(&format!("{required} is not signed")));
        }
    }
    if let Some(name) = names.iter().find(|name| {
        name.is_empty()
            || name.bytes().any(|b| b.is_ascii_uppercase())
            || (**name != "host" && header(name).is_none())
    }) {
        return Err(bad(&format!("the signed header {name:?} was not sent")));
    }
    if header("x-amz-security-token").is_some() && !names.contains(&"x-amz-security-token") {
        return Err(bad("x-amz-security-token is not signed"));
    }
    let signature = signature.ok_or_else(|| bad("no Signature"))?;
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(bad("the signature must be 64 lower-case hex digits"));
    }
    Ok(key)
}

/// Bedrock's error type for a status, as its `x-amzn-errortype` header names it.
pub(crate) fn bedrock_error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 => "ValidationException",
        401 | 403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 | 504 => "ModelTimeoutException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        503 | 529 => "ServiceUnavailableException",
        _ => "InternalServerException",
    }
}

/// Bedrock's error body: `{"message": ...}`.
pub(crate) fn bedrock_error_body(message: &str) -> Bytes {
    Bytes::from(json!({ "message": message }).to_string())
}

/// One SSE event of the reply as Bedrock frames it: a `chunk` event whose `bytes` are the
/// base64 of the event's data. Comments and events without data frame nothing.
pub(crate) fn frame(event: &[u8]) -> Bytes {
    let text = String::from_utf8_lossy(event);
    let mut data = String::new();
    for line in text.split(['\n', '\r']) {
        if let Some(value) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    if data.is_empty() {
        return Bytes::new();
    }
    let bytes = base64::engine::general_purpose::STANDARD.encode(data);
    let payload =
        json!({ "bytes": bytes, "p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123" });
    encode(
        &Message::new(payload.to_string())
            .add_header(Header::new(
                ":event-type",
                HeaderValue::String("chunk".into()),
            ))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("event".into()),
            )),
    )
}

/// An exception frame, as Bedrock ends a stream that fails mid-way.
pub(crate) fn exception(exception_type: &str, message: &str) -> Bytes {
    encode(
        &Message::new(json!({ "message": message }).to_string())
            .add_header(Header::new(
                ":exception-type",
                HeaderValue::String(exception_type.to_owned().into()),
            ))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("exception".into()),
            )),
    )
}

fn encode(message: &Message) -> Bytes {
    let mut wire = Vec::new();
    // Writing to a Vec fails only for a header longer than the format allows; ours are short.
    write_message_to(message, &mut wire).unwrap_or_default();
    Bytes::from(wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path() {
        assert_eq!(Route::of("/v1/messages"), Route::Anthropic);
        assert_eq!(
            Route::of(
                "/model/arn:aws:bedrock:us-east-1:1:inference-profile%2Fus.m/invoke-with-response-stream"
            ),
            Route::Bedrock {
                model: "arn:aws:bedrock:us-east-1:1:inference-profile/us.m".into()
            }
        );
        assert_eq!(
            Route::of(
                "/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude@2025:streamRawPredict"
            ),
            Route::Vertex {
                model: "claude@2025".into()
            }
        );
        assert_eq!(
            Route::of("/v1/projects/p/locations/r/publishers/anthropic/models/m:rawPredict"),
            Route::Anthropic
        );
    }

    #[test]
    fn sigv4_headers_are_checked_for_form() {
        let date = "20260101T000000Z";
        let good = format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature={}",
            "a".repeat(64)
        );
        let headers = |name: &str| match name {
            "x-amz-date" => Some(date),
            "content-type" => Some("application/json"),
            _ => None,
        };
        assert!(check_sigv4(&good, &headers).is_ok());
        for bad in [
            good.replace("bedrock", "s3"),
            good.replace("20260101/", "2026/"),
            good.replace(";host", ""),
            good.replace("content-type;", "x-custom;"),
            good.replace(&"a".repeat(64), "xyz"),
            good.replace("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"),
        ] {
            assert!(check_sigv4(&bad, &headers).is_err(), "{bad}");
        }
    }
}
