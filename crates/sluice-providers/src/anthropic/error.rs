//! Anthropic error bodies: `{"type":"error","error":{"type","message"}}`.

use http::StatusCode;
use serde_json::Value;
use sluice_core::api_error::truncate_for_message;
use sluice_core::{ApiError, ErrorKind};

/// Reads a provider error answer, keeping the provider's message.
pub fn decode_error(status: StatusCode, body: &[u8]) -> ApiError {
    let envelope = serde_json::from_slice::<Value>(body).ok();
    let error = envelope.as_ref().and_then(|root| root.get("error"));
    let error_type = error
        .and_then(|error| error.get("type"))
        .and_then(Value::as_str);
    let message = error
        .and_then(|error| error.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| fallback_message(status, body));

    let kind = error_type
        .and_then(kind_of_type)
        .unwrap_or_else(|| kind_of_status(status));
    let kind = refine(kind, &message);
    let error = ApiError::new(kind, message);
    // A provider's own 5xx (502, 504…) is kept; 529 and 503 are what `Overloaded`
    // already means in each dialect.
    let keeps_status = status.is_server_error()
        && status != kind.status()
        && !(kind == ErrorKind::Overloaded && status.as_u16() == 529);
    if keeps_status {
        error.with_status(status)
    } else {
        error
    }
}

/// The error an `error` event in a stream carries (no status there).
pub(crate) fn decode_stream_error(error: Option<&Value>) -> ApiError {
    let error_type = error
        .and_then(|error| error.get("type"))
        .and_then(Value::as_str);
    let message = error
        .and_then(|error| error.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("the provider reported an error in the stream")
        .to_string();
    let kind = error_type
        .and_then(kind_of_type)
        .unwrap_or(ErrorKind::ProviderError);
    ApiError::new(refine(kind, &message), message)
}

/// The documented `error.type` values.
fn kind_of_type(error_type: &str) -> Option<ErrorKind> {
    Some(match error_type {
        "invalid_request_error" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        // The key may not use this resource; billing problems are the same to a client.
        "permission_error" | "billing_error" => ErrorKind::PermissionDenied,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::PayloadTooLarge,
        "rate_limit_error" => ErrorKind::RateLimited,
        "api_error" => ErrorKind::ProviderError,
        "timeout_error" => ErrorKind::UpstreamTimeout,
        "overloaded_error" => ErrorKind::Overloaded,
        _ => return None,
    })
}

/// For bodies that are not the envelope (a proxy's HTML page, say) or unknown types.
fn kind_of_status(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        401 => ErrorKind::Authentication,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        413 => ErrorKind::PayloadTooLarge,
        429 => ErrorKind::RateLimited,
        503 | 529 => ErrorKind::Overloaded,
        504 => ErrorKind::UpstreamTimeout,
        500..=599 => ErrorKind::ProviderError,
        _ => ErrorKind::InvalidRequest,
    }
}

/// Anthropic reports an overlong prompt as a plain `invalid_request_error` whose message
/// says "prompt is too long".
fn refine(kind: ErrorKind, message: &str) -> ErrorKind {
    if kind == ErrorKind::InvalidRequest
        && message.to_ascii_lowercase().contains("prompt is too long")
    {
        ErrorKind::ContextTooLong
    } else {
        kind
    }
}

fn fallback_message(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = truncate_for_message(text.trim());
    if text.is_empty() {
        format!(
            "the provider answered {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("with an error")
        )
    } else {
        text.to_string()
    }
}
