//! The error a client receives, in the OpenAI envelope
//! `{"error":{"message","type","param","code"}}`.

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
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OpenAI `type` field.
    pub fn openai_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::ModelNotFound
            | ErrorKind::NotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::PayloadTooLarge => "invalid_request_error",
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
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            param: None,
            code: kind.default_code().map(Cow::Borrowed),
        }
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

    pub fn status(&self) -> StatusCode {
        self.kind.status()
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
