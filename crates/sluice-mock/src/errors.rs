//! OpenAI-style error responses: `{"error":{"message","type","param","code"}}`.
//!
//! Messages, types and codes follow what api.openai.com sends for the same situation, so a
//! client's (or the gateway's) error handling sees what it would see in production.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;

/// One error answer: status, body fields and an optional `Retry-After`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The `type` field.
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
    /// Seconds for the `Retry-After` header.
    pub retry_after: Option<u64>,
}

const INVALID_REQUEST: &str = "invalid_request_error";

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, INVALID_REQUEST, message)
    }

    fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// The body is not JSON at all.
    pub fn invalid_json() -> Self {
        Self::bad_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you \
             aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, \
             but what was sent was not valid JSON.)",
        )
    }

    /// A required top-level parameter is absent (or null).
    pub fn missing(param: &str) -> Self {
        Self::bad_request(format!("Missing required parameter: '{param}'."))
            .with_param(param)
            .with_code("missing_required_parameter")
    }

    /// A parameter has the wrong JSON type.
    pub fn invalid_type(param: &str, expected: &str, got: &Value) -> Self {
        Self::bad_request(format!(
            "Invalid type for '{param}': expected {expected}, but got {} instead.",
            describe(got)
        ))
        .with_param(param)
        .with_code("invalid_type")
    }

    /// An integer parameter is below its minimum.
    pub fn below_min(param: &str, min: i64, got: &Value) -> Self {
        Self::bad_request(format!(
            "Invalid '{param}': integer below minimum value. Expected a value >= {min}, but got \
             {got} instead."
        ))
        .with_param(param)
        .with_code("integer_below_min_value")
    }

    /// An integer parameter is above its maximum.
    pub fn above_max(param: &str, max: i64, got: &Value) -> Self {
        Self::bad_request(format!(
            "Invalid '{param}': integer above maximum value. Expected a value <= {max}, but got \
             {got} instead."
        ))
        .with_param(param)
        .with_code("integer_above_max_value")
    }

    /// An array parameter that must not be empty is.
    pub fn empty_array(param: &str) -> Self {
        Self::bad_request(format!(
            "Invalid '{param}': empty array. Expected an array with minimum length 1, but got an \
             empty array instead."
        ))
        .with_param(param)
        .with_code("empty_array")
    }

    /// A parameter has a value of the right type that is not acceptable.
    pub fn invalid_value(param: &str, message: impl Into<String>) -> Self {
        Self::bad_request(message)
            .with_param(param)
            .with_code("invalid_value")
    }

    /// No route for this path.
    pub fn unknown_url(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            INVALID_REQUEST,
            format!(
                "Unknown request URL: {method} {path}. Please check the URL for typos, or see the \
                 docs at https://platform.openai.com/docs/api-reference/."
            ),
        )
        .with_code("unknown_url")
    }

    /// A known path asked with the wrong method.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            INVALID_REQUEST,
            format!("Invalid method for URL ({method} {path})"),
        )
    }

    /// `GET /v1/models/{id}` for an id the mock does not list.
    pub fn model_not_found(model: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            INVALID_REQUEST,
            format!("The model `{model}` does not exist or you do not have access to it."),
        )
        .with_code("model_not_found")
    }

    /// The request body is larger than the mock buffers.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            INVALID_REQUEST,
            format!("The request body exceeds the maximum size of {limit} bytes."),
        )
    }

    /// The error body an injected `status` fault answers with: what OpenAI sends for that
    /// status (an unknown status gets the generic body of its class).
    pub fn for_status(status: u16, retry_after: Option<u64>) -> Self {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut err = match code.as_u16() {
            400 => Self::bad_request("Invalid request (injected by sluice-mock)."),
            401 => Self::new(
                code,
                INVALID_REQUEST,
                "Incorrect API key provided: sk-mock****. You can find your API key at \
                 https://platform.openai.com/account/api-keys.",
            )
            .with_code("invalid_api_key"),
            403 => Self::new(
                code,
                "request_forbidden",
                "Country, region, or territory not supported",
            )
            .with_code("unsupported_country_region_territory"),
            404 => Self::model_not_found("mock-gpt"),
            429 => {
                let wait = retry_after.unwrap_or(1);
                // OpenAI reports which limit was hit in `type` ("requests" or "tokens").
                Self::new(
                    code,
                    "requests",
                    format!(
                        "Rate limit reached in organization org-sluice-mock on requests per min \
                         (RPM): Limit 60, Used 60, Requested 1. Please try again in {wait}s. \
                         Visit https://platform.openai.com/account/rate-limits to learn more."
                    ),
                )
                .with_code("rate_limit_exceeded")
            }
            500 => Self::new(
                code,
                "server_error",
                "The server had an error while processing your request. Sorry about that!",
            ),
            502 => Self::new(code, "server_error", "Bad gateway."),
            503 => Self::new(
                code,
                "service_unavailable_error",
                "Our servers are currently overloaded. Please try again later.",
            )
            .with_code("server_is_overloaded"),
            504 => Self::new(code, "server_error", "Gateway timeout."),
            s if s >= 500 => Self::new(
                code,
                "server_error",
                "The server had an error while processing your request.",
            ),
            _ => Self::new(
                code,
                INVALID_REQUEST,
                format!("Request failed with status {}.", code.as_u16()),
            ),
        };
        err.status = code;
        err.retry_after = retry_after;
        err
    }

    /// The JSON body alone.
    pub fn body(&self) -> bytes::Bytes {
        sluice_core::api_error::openai_error_body(
            &self.message,
            self.kind,
            self.param.as_deref(),
            self.code,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// How a dialect words the errors the request pipeline answers before any handler runs,
/// so an injected fault or an oversized body gets the envelope that dialect's clients parse.
#[derive(Clone, Copy, Debug)]
pub struct ErrorWriter {
    /// An injected `status` fault: the status and the `Retry-After` seconds.
    pub status: fn(u16, Option<u64>) -> Response,
    /// A body larger than the mock reads; the limit in bytes.
    pub too_large: fn(usize) -> Response,
    /// A body the client stopped sending midway.
    pub unreadable: fn() -> Response,
}

impl ErrorWriter {
    /// OpenAI's `{"error":{"message","type","param","code"}}`.
    pub const OPENAI: ErrorWriter = ErrorWriter {
        status: openai_status,
        too_large: openai_too_large,
        unreadable: openai_unreadable,
    };
}

fn openai_status(status: u16, retry_after: Option<u64>) -> Response {
    ApiError::for_status(status, retry_after).into_response()
}

fn openai_too_large(limit: usize) -> Response {
    ApiError::payload_too_large(limit).into_response()
}

fn openai_unreadable() -> Response {
    ApiError::invalid_json().into_response()
}

/// "a string", "an integer"… as OpenAI words type errors.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(err: &ApiError) -> Value {
        serde_json::from_slice(&err.body()).unwrap_or(Value::Null)
    }

    #[test]
    fn missing_names_the_parameter() {
        let err = ApiError::missing("messages");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            parse(&err),
            json!({"error": {
                "message": "Missing required parameter: 'messages'.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "missing_required_parameter"
            }})
        );
    }

    #[test]
    fn status_bodies_match_openai() {
        let e = ApiError::for_status(429, Some(7));
        assert_eq!(e.code, Some("rate_limit_exceeded"));
        assert_eq!(e.retry_after, Some(7));
        assert!(e.message.contains("7s"));
        assert_eq!(
            ApiError::for_status(401, None).code,
            Some("invalid_api_key")
        );
        assert_eq!(ApiError::for_status(500, None).kind, "server_error");
        assert_eq!(
            ApiError::for_status(503, None).code,
            Some("server_is_overloaded")
        );
        assert_eq!(
            ApiError::for_status(418, None).kind,
            "invalid_request_error"
        );
        // Nonsense statuses must not panic.
        assert_eq!(ApiError::for_status(42, None).status, 500);
        assert_eq!(ApiError::for_status(9999, None).status, 500);
    }

    #[test]
    fn type_errors_describe_the_value() {
        let e = ApiError::invalid_type("model", "a string", &json!(3));
        assert_eq!(
            e.message,
            "Invalid type for 'model': expected a string, but got an integer instead."
        );
        assert_eq!(e.param.as_deref(), Some("model"));
    }
}
