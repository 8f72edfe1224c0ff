//! OpenAI error bodies, `{"error":{"message","type","param","code"}}`, decoded into the
//! gateway's `ApiError` so a client of any dialect sees the provider's own message.

use http::StatusCode;
use serde_json::Value;
use sluice_core::api_error::truncate_for_message;
use sluice_core::{ApiError, ErrorKind};

/// Decodes an error answer of an OpenAI-dialect provider. The status decides the kind;
/// the provider's message, param and code are kept. A 5xx other than the kind's own
/// status is kept as it was, so a provider's 502 still reaches the client as 502.
pub fn decode_error(status: StatusCode, body: &[u8]) -> ApiError {
    let fields = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| ErrorFields::from_body(&value));
    let code = fields.as_ref().and_then(|fields| fields.code.as_deref());
    let kind = kind_for_status(status, code);
    let mut error = match fields {
        Some(fields) => fields.into_api_error(kind),
        None => ApiError::new(
            kind,
            format!(
                "The provider answered {status}: {}",
                truncate_for_message(String::from_utf8_lossy(body).trim())
            ),
        ),
    };
    if status != kind.status() && status.is_server_error() {
        error = error.with_status(status);
    }
    error
}

/// Decodes the `{"error":{...}}` event a provider sends inside a stream, where no status
/// code exists: the kind comes from the error's `type` and `code` (or from a numeric
/// `code`, which some OpenAI-compatible servers set to an HTTP status).
pub(crate) fn decode_stream_error(value: &Value) -> ApiError {
    let Some(fields) = ErrorFields::from_body(value) else {
        return ApiError::new(
            ErrorKind::ProviderError,
            format!(
                "The provider reported an error: {}",
                truncate_for_message(&value.to_string())
            ),
        );
    };
    if let Some(status) = fields.numeric_status {
        let kind = kind_for_status(status, fields.code.as_deref());
        let error = fields.into_api_error(kind);
        return if status != kind.status() && status.is_server_error() {
            error.with_status(status)
        } else {
            error
        };
    }
    let kind = kind_for_names(fields.kind.as_deref(), fields.code.as_deref());
    fields.into_api_error(kind)
}

/// The parts of an error envelope the gateway keeps.
struct ErrorFields {
    message: String,
    kind: Option<String>,
    param: Option<String>,
    code: Option<String>,
    /// A numeric `code` that is an HTTP status (vLLM and others send one).
    numeric_status: Option<StatusCode>,
}

impl ErrorFields {
    /// Reads `{"error":{...}}`, and the looser `{"object":"error",...}`,
    /// `{"error":"text"}` and `{"message":"text"}` that some OpenAI-compatible servers
    /// answer with.
    fn from_body(value: &Value) -> Option<Self> {
        // vLLM and others send the fields at the top level, marked `"object":"error"`.
        let fields = if value.get("object").and_then(Value::as_str) == Some("error") {
            Some(value)
        } else {
            value.get("error")
        };
        match fields {
            Some(Value::Object(inner)) => {
                let text = |name: &str| inner.get(name).and_then(Value::as_str).map(str::to_string);
                let (code, numeric_status) = match inner.get("code") {
                    Some(Value::String(code)) => (Some(code.clone()), None),
                    Some(Value::Number(number)) => (
                        None,
                        number
                            .as_u64()
                            .and_then(|status| u16::try_from(status).ok())
                            .and_then(|status| StatusCode::from_u16(status).ok()),
                    ),
                    _ => (None, None),
                };
                Some(Self {
                    message: text("message").unwrap_or_default(),
                    kind: text("type"),
                    param: text("param"),
                    code,
                    numeric_status,
                })
            }
            Some(Value::String(message)) => Some(Self::message_only(message)),
            _ => value
                .get("message")
                .and_then(Value::as_str)
                .map(Self::message_only),
        }
    }

    fn message_only(message: &str) -> Self {
        Self {
            message: message.to_string(),
            kind: None,
            param: None,
            code: None,
            numeric_status: None,
        }
    }

    fn into_api_error(self, kind: ErrorKind) -> ApiError {
        let message = if self.message.is_empty() {
            format!("The provider reported an error ({}).", kind.openai_type())
        } else {
            self.message
        };
        let mut error = ApiError::new(kind, message);
        if let Some(param) = self.param {
            error = error.with_param(param);
        }
        if let Some(code) = self.code {
            error = error.with_code(code);
        }
        error
    }
}

fn kind_for_status(status: StatusCode, code: Option<&str>) -> ErrorKind {
    match status.as_u16() {
        400 if code == Some("context_length_exceeded") => ErrorKind::ContextTooLong,
        401 => ErrorKind::Authentication,
        403 => ErrorKind::PermissionDenied,
        404 => ErrorKind::NotFound,
        413 => ErrorKind::PayloadTooLarge,
        429 => ErrorKind::RateLimited,
        503 => ErrorKind::Overloaded,
        500..=599 => ErrorKind::ProviderError,
        _ => ErrorKind::InvalidRequest,
    }
}

/// The kind named by an error's `type` and `code`, for errors without a status.
fn kind_for_names(kind: Option<&str>, code: Option<&str>) -> ErrorKind {
    match code {
        Some("context_length_exceeded") => return ErrorKind::ContextTooLong,
        Some("rate_limit_exceeded" | "insufficient_quota") => return ErrorKind::RateLimited,
        Some("invalid_api_key") => return ErrorKind::Authentication,
        Some("overloaded" | "server_overloaded") => return ErrorKind::Overloaded,
        Some("model_not_found") => return ErrorKind::ModelNotFound,
        _ => {}
    }
    match kind {
        Some("invalid_request_error") => ErrorKind::InvalidRequest,
        Some("authentication_error") => ErrorKind::Authentication,
        Some("permission_error") => ErrorKind::PermissionDenied,
        Some("not_found_error") => ErrorKind::NotFound,
        Some(
            "rate_limit_exceeded"
            | "rate_limit_error"
            | "insufficient_quota"
            | "tokens"
            | "requests",
        ) => ErrorKind::RateLimited,
        Some("overloaded_error") => ErrorKind::Overloaded,
        _ => ErrorKind::ProviderError,
    }
}
