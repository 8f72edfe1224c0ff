//! The error a client receives, in its own dialect: the OpenAI envelope
//! `{"error":{"message","type","param","code"}}` or the Anthropic one
//! `{"type":"error","error":{"type","message"}}`.
//!
//! Provider errors on a translated path are decoded into the same kinds, so a rate limit
//! from Gemini reaches an Anthropic client as `rate_limit_error` with status 429.

use std::borrow::Cow;

use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;

/// What went wrong, which decides the status code and the `type` the client sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed JSON, a missing or mistyped field: 400.
    InvalidRequest,
    /// No route or provider serves the requested model: 404.
    ModelNotFound,
    /// No such endpoint: 404.
    NotFound,
    /// The method is not allowed on this endpoint: 405.
    MethodNotAllowed,
    /// The body is larger than `server.max_body_bytes`: 413.
    PayloadTooLarge,
    /// The upstream could not be reached or broke the connection: 502.
    UpstreamUnreachable,
    /// The upstream sent something that is not a valid HTTP answer: 502.
    UpstreamInvalid,
    /// The upstream did not answer in time: 504.
    UpstreamTimeout,
    /// The gateway is shutting down or overloaded: 503.
    Unavailable,
    /// A bug in the gateway: 500.
    Internal,
    /// The provider refused the credentials: 401.
    Authentication,
    /// The credentials may not use this model or feature: 403.
    PermissionDenied,
    /// A rate limit was hit: 429 (with `Retry-After` where known).
    RateLimited,
    /// The provider is overloaded: 529 in the Anthropic dialect, 503 in OpenAI's.
    Overloaded,
    /// The prompt does not fit the model's context window: 400.
    ContextTooLong,
    /// The provider failed on its side: 500 (or the provider's own 5xx status).
    ProviderError,
    /// A budget on the caller's chain is spent for its period: 402.
    BudgetExceeded,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorKind::ModelNotFound | ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UpstreamUnreachable | ErrorKind::UpstreamInvalid => StatusCode::BAD_GATEWAY,
            ErrorKind::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal | ErrorKind::ProviderError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Authentication => StatusCode::UNAUTHORIZED,
            ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::ContextTooLong => StatusCode::BAD_REQUEST,
            ErrorKind::BudgetExceeded => StatusCode::PAYMENT_REQUIRED,
        }
    }

    /// The Anthropic `error.type`.
    pub fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::MethodNotAllowed | ErrorKind::ContextTooLong => {
                "invalid_request_error"
            }
            ErrorKind::ModelNotFound | ErrorKind::NotFound => "not_found_error",
            ErrorKind::PayloadTooLarge => "request_too_large",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::Overloaded => "overloaded_error",
            ErrorKind::UpstreamTimeout => "timeout_error",
            ErrorKind::BudgetExceeded => "billing_error",
            ErrorKind::UpstreamUnreachable
            | ErrorKind::UpstreamInvalid
            | ErrorKind::Unavailable
            | ErrorKind::Internal
            | ErrorKind::ProviderError => "api_error",
        }
    }

    /// The OpenAI `type` field.
    pub fn openai_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::ModelNotFound
            | ErrorKind::NotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::PayloadTooLarge
            | ErrorKind::ContextTooLong
            | ErrorKind::Authentication => "invalid_request_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::RateLimited => "rate_limit_exceeded",
            ErrorKind::BudgetExceeded => "insufficient_quota",
            ErrorKind::Overloaded | ErrorKind::ProviderError => "server_error",
            ErrorKind::UpstreamUnreachable
            | ErrorKind::UpstreamInvalid
            | ErrorKind::UpstreamTimeout
            | ErrorKind::Unavailable
            | ErrorKind::Internal => "api_error",
        }
    }

    /// The OpenAI `code` field, a stable machine-readable name.
    pub fn default_code(self) -> Option<&'static str> {
        match self {
            ErrorKind::InvalidRequest => None,
            ErrorKind::ModelNotFound => Some("model_not_found"),
            ErrorKind::NotFound => Some("not_found"),
            ErrorKind::MethodNotAllowed => Some("method_not_allowed"),
            ErrorKind::PayloadTooLarge => Some("request_too_large"),
            ErrorKind::UpstreamUnreachable => Some("upstream_unreachable"),
            ErrorKind::UpstreamInvalid => Some("upstream_invalid_response"),
            ErrorKind::UpstreamTimeout => Some("upstream_timeout"),
            ErrorKind::Unavailable => Some("unavailable"),
            ErrorKind::Internal => Some("internal_error"),
            ErrorKind::Authentication => Some("invalid_api_key"),
            ErrorKind::PermissionDenied => Some("permission_denied"),
            ErrorKind::RateLimited => Some("rate_limit_exceeded"),
            ErrorKind::Overloaded => Some("overloaded"),
            ErrorKind::ContextTooLong => Some("context_length_exceeded"),
            ErrorKind::ProviderError => Some("provider_error"),
            ErrorKind::BudgetExceeded => Some("budget_exceeded"),
        }
    }
}

/// An error the gateway itself answers with (upstream errors pass through untouched).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: Cow<'static, str>,
    pub param: Option<Cow<'static, str>>,
    pub code: Option<Cow<'static, str>>,
    /// A status other than the kind's, e.g. a provider's own 502 or 503 kept as it was.
    pub status_override: Option<StatusCode>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            param: None,
            code: kind.default_code().map(Cow::Borrowed),
            status_override: None,
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status_override = Some(status);
        self
    }

    pub fn with_param(mut self, param: impl Into<Cow<'static, str>>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_code(mut self, code: impl Into<Cow<'static, str>>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// The parameter is absent; OpenAI answers the same way.
    pub fn missing_param(param: &'static str) -> Self {
        Self::invalid_request(format!("Missing required parameter: '{param}'."))
            .with_param(param)
            .with_code("missing_required_parameter")
    }

    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            ErrorKind::ModelNotFound,
            format!(
                "The model `{}` does not exist on this gateway: name a configured route or `provider/model` (GET /v1/models lists them).",
                truncate_for_message(model)
            ),
        )
        .with_param("model")
    }

    /// The status in the OpenAI dialect (and the gateway's own).
    pub fn status(&self) -> StatusCode {
        self.status_override.unwrap_or_else(|| self.kind.status())
    }

    /// The status in the Anthropic dialect, which has 529 for an overloaded provider.
    pub fn anthropic_status(&self) -> StatusCode {
        match self.kind {
            ErrorKind::Overloaded => {
                StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
            _ => self.status(),
        }
    }

    /// The body in the Anthropic envelope.
    pub fn to_anthropic_json(&self) -> Bytes {
        anthropic_error_body(self.kind.anthropic_type(), &self.message)
    }

    /// The body in the OpenAI envelope.
    pub fn to_openai_json(&self) -> Bytes {
        openai_error_body(
            &self.message,
            self.kind.openai_type(),
            self.param.as_deref(),
            self.code.as_deref(),
        )
    }
}

/// `{"error":{"message","type","param","code"}}`, the OpenAI error envelope; shared by
/// the gateway's own errors and the mock provider's.
pub fn openai_error_body(
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Bytes {
    #[derive(Serialize)]
    struct Envelope<'a> {
        error: Inner<'a>,
    }
    #[derive(Serialize)]
    struct Inner<'a> {
        message: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
        param: Option<&'a str>,
        code: Option<&'a str>,
    }
    let envelope = Envelope {
        error: Inner {
            message,
            kind,
            param,
            code,
        },
    };
    // Serialising plain strings cannot fail.
    Bytes::from(serde_json::to_vec(&envelope).unwrap_or_default())
}

/// `{"type":"error","error":{"type","message"}}`, the Anthropic error envelope.
pub fn anthropic_error_body(kind: &str, message: &str) -> Bytes {
    let body = serde_json::json!({
        "type": "error",
        "error": {"type": kind, "message": message},
    });
    Bytes::from(body.to_string())
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status())
    }
}

impl std::error::Error for ApiError {}

/// Client-supplied text echoed in a message is cut short, so an error never balloons.
pub fn truncate_for_message(text: &str) -> &str {
    const MAX: usize = 200;
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_openai_shape() {
        let err = ApiError::missing_param("messages");
        let value: serde_json::Value = serde_json::from_slice(&err.to_openai_json()).unwrap();
        assert_eq!(value["error"]["type"], "invalid_request_error");
        assert_eq!(value["error"]["param"], "messages");
        assert_eq!(value["error"]["code"], "missing_required_parameter");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn long_names_are_truncated_on_char_boundaries() {
        let name = "é".repeat(300);
        assert!(truncate_for_message(&name).len() <= 200);
    }
}
