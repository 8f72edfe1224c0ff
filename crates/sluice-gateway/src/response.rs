//! Building responses: the gateway's own errors in the client's dialect, and the
//! `x-sluice-*` headers.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};
use sluice_core::ApiError;
use sluice_providers::Dialect;

use crate::headers;

/// A gateway error as an HTTP response in the client's dialect.
pub(crate) struct ErrorResponse {
    pub error: ApiError,
    pub dialect: Dialect,
}

impl ErrorResponse {
    pub(crate) fn new(error: ApiError, dialect: Dialect) -> Self {
        Self { error, dialect }
    }

    pub(crate) fn openai(error: ApiError) -> Self {
        Self::new(error, Dialect::OpenAi)
    }

    pub(crate) fn status(&self) -> StatusCode {
        dialect_status(&self.error, self.dialect)
    }
}

/// The status of `error` in `dialect` (Anthropic has 529 for an overloaded provider).
pub(crate) fn dialect_status(error: &ApiError, dialect: Dialect) -> StatusCode {
    match dialect {
        Dialect::Anthropic => error.anthropic_status(),
        _ => error.status(),
    }
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match self.dialect {
            Dialect::Anthropic => self.error.to_anthropic_json(),
            _ => self.error.to_openai_json(),
        };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

/// The `x-sluice-*` headers that say who served a request; set on answers and on
/// upstream failures alike.
#[derive(Clone)]
pub(crate) struct ServedBy {
    pub provider: HeaderValue,
    /// The model sent upstream; `None` if it cannot be a header value (a client-chosen
    /// name with control characters), in which case the header is left out.
    pub model: Option<HeaderValue>,
    /// The routing decision explained, when the client asked for it.
    pub route_trace: Option<HeaderValue>,
}

impl ServedBy {
    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        headers.insert(headers::PROVIDER, self.provider);
        if let Some(model) = self.model {
            headers.insert(headers::MODEL, model);
        }
        headers.insert(headers::ATTEMPTS, HeaderValue::from_static("1"));
        if let Some(trace) = self.route_trace {
            headers.insert(headers::ROUTE_TRACE, trace);
        }
    }
}
