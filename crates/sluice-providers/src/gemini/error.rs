//! Gemini error bodies (`{"error":{"code","message","status"}}`, or Vertex's array of one
//! such object) mapped to the gateway's error kinds.

use http::StatusCode;
use serde_json::Value;
use sluice_core::api_error::truncate_for_message;
use sluice_core::{ApiError, ErrorKind};

/// Reads a Gemini or Vertex error answer, keeping the provider's message.
pub fn decode_error(status: StatusCode, body: &[u8]) -> ApiError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let envelope = parsed.as_ref().and_then(error_object);
    let message = envelope
        .and_then(|error| error.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| fallback_message(status, body));
    let google_status = envelope
        .and_then(|error| error.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("");
    // The body's own code wins over the transport status when they disagree (a proxy in
    // between may have rewritten it); either way the HTTP status is the fallback.
    let code = envelope
        .and_then(|error| error.get("code"))
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(status);
    api_error_for(google_status, code, message)
}

/// The `error` object of `{"error":{..}}` or `[{"error":{..}}]`.
pub(crate) fn error_object(value: &Value) -> Option<&Value> {
    let envelope = match value {
        Value::Array(items) => items.first()?,
        other => other,
    };
    envelope.get("error").filter(|error| error.is_object())
}

/// Builds the error for a Google status name (`RESOURCE_EXHAUSTED`, …) and HTTP code.
pub(crate) fn api_error_for(google_status: &str, code: StatusCode, message: String) -> ApiError {
    let kind = match google_status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => {
            if mentions_context_limit(&message) {
                ErrorKind::ContextTooLong
            } else {
                ErrorKind::InvalidRequest
            }
        }
        "UNAUTHENTICATED" => ErrorKind::Authentication,
        "PERMISSION_DENIED" => ErrorKind::PermissionDenied,
        "NOT_FOUND" => not_found_kind(&message),
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimited,
        "UNAVAILABLE" => ErrorKind::Overloaded,
        "INTERNAL" | "DEADLINE_EXCEEDED" | "UNKNOWN" | "ABORTED" | "DATA_LOSS" => {
            ErrorKind::ProviderError
        }
        _ => kind_for_status(code, &message),
    };
    let error = ApiError::new(kind, message);
    // A provider 5xx other than the kind's own (504 for DEADLINE_EXCEEDED) is kept.
    if code.is_server_error() && code != kind.status() {
        error.with_status(code)
    } else {
        error
    }
}

fn kind_for_status(code: StatusCode, message: &str) -> ErrorKind {
    match code.as_u16() {
        400 if mentions_context_limit(message) => ErrorKind::ContextTooLong,
        400 | 422 => ErrorKind::InvalidRequest,
        401 => ErrorKind::Authentication,
        403 => ErrorKind::PermissionDenied,
        404 => not_found_kind(message),
        413 => ErrorKind::PayloadTooLarge,
        429 => ErrorKind::RateLimited,
        503 => ErrorKind::Overloaded,
        _ => ErrorKind::ProviderError,
    }
}

/// Gemini answers an unknown model with 404 `models/x is not found`.
fn not_found_kind(message: &str) -> ErrorKind {
    if message.contains("models/") || message.to_ascii_lowercase().contains("model") {
        ErrorKind::ModelNotFound
    } else {
        ErrorKind::NotFound
    }
}

/// Gemini says "The input token count (N) exceeds the maximum number of tokens allowed".
fn mentions_context_limit(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("token count")
        || lower.contains("maximum number of tokens")
        || lower.contains("context length")
        || lower.contains("context window")
}

fn fallback_message(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        format!("Gemini answered with status {status}")
    } else {
        format!(
            "Gemini answered with status {status}: {}",
            truncate_for_message(text)
        )
    }
}

/// The Google status name for an error kind, for encoders writing Gemini errors.
pub(crate) fn google_status_for(error: &ApiError) -> &'static str {
    match error.kind {
        ErrorKind::InvalidRequest
        | ErrorKind::ContextTooLong
        | ErrorKind::MethodNotAllowed
        | ErrorKind::PayloadTooLarge => "INVALID_ARGUMENT",
        ErrorKind::Authentication => "UNAUTHENTICATED",
        ErrorKind::PermissionDenied => "PERMISSION_DENIED",
        ErrorKind::ModelNotFound | ErrorKind::NotFound => "NOT_FOUND",
        ErrorKind::RateLimited | ErrorKind::BudgetExceeded => "RESOURCE_EXHAUSTED",
        ErrorKind::Overloaded | ErrorKind::Unavailable => "UNAVAILABLE",
        ErrorKind::UpstreamTimeout => "DEADLINE_EXCEEDED",
        ErrorKind::UpstreamUnreachable
        | ErrorKind::UpstreamInvalid
        | ErrorKind::Internal
        | ErrorKind::ProviderError => {
            if error.status() == StatusCode::GATEWAY_TIMEOUT {
                "DEADLINE_EXCEEDED"
            } else {
                "INTERNAL"
            }
        }
    }
}
