//! Cohere's error bodies (`{"id": ..., "message": ...}`) to the gateway's error kinds, by
//! the statuses of https://docs.cohere.com/reference/errors.

use http::StatusCode;
use serde::Deserialize;
use sluice_core::{ApiError, ErrorKind};

#[derive(Deserialize)]
struct ErrorWire {
    #[serde(default)]
    message: Option<String>,
}

/// Maps a Cohere error answer, keeping its message:
///
/// | status | kind |
/// | --- | --- |
/// | 400 starting "too many tokens" (not about `max_tokens`) | `ContextTooLong` |
/// | 400, 422, 498 (deny-listed token), other 4xx | `InvalidRequest` |
/// | 401 | `Authentication` |
/// | 402 (billing limit) | `PermissionDenied`, code `payment_required` |
/// | 403 | `PermissionDenied` |
/// | 404 naming a model | `ModelNotFound`, else `NotFound` |
/// | 429 | `RateLimited` |
/// | 499 (request cancelled) | `ProviderError` |
/// | 503 | `Overloaded` |
/// | 504 | `UpstreamTimeout` |
/// | 500, 501, other 5xx | `ProviderError`, with the provider's status kept |
pub fn decode_error(status: StatusCode, body: &[u8]) -> ApiError {
    let message = serde_json::from_slice::<ErrorWire>(body)
        .ok()
        .and_then(|wire| wire.message)
        .filter(|message| !message.is_empty())
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body).trim().to_string();
            if text.is_empty() {
                format!("Cohere answered {status}")
            } else {
                text
            }
        });
    let kind = match status.as_u16() {
        400 if is_context_too_long(&message) => ErrorKind::ContextTooLong,
        401 => ErrorKind::Authentication,
        402 => {
            return ApiError::new(ErrorKind::PermissionDenied, message)
                .with_code("payment_required");
        }
        403 => ErrorKind::PermissionDenied,
        404 if message.to_ascii_lowercase().contains("model") => ErrorKind::ModelNotFound,
        404 => ErrorKind::NotFound,
        429 => ErrorKind::RateLimited,
        499 => ErrorKind::ProviderError,
        503 => ErrorKind::Overloaded,
        504 => ErrorKind::UpstreamTimeout,
        500..=599 => ErrorKind::ProviderError,
        _ => ErrorKind::InvalidRequest,
    };
    let error = ApiError::new(kind, message);
    if status.is_server_error() && status != kind.status() {
        error.with_status(status)
    } else {
        error
    }
}

/// "too many tokens: ..." is the prompt overflowing, except when it complains about the
/// requested `max tokens` (a plain invalid parameter).
fn is_context_too_long(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.starts_with("too many tokens") && !message.contains("max tokens must")
}
