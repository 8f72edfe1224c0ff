//! Building responses: the gateway's own errors in the OpenAI envelope, and the
//! `x-sluice-*` headers.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue};
use sluice_core::ApiError;

use crate::headers;

/// A gateway error as an HTTP response in the OpenAI dialect.
pub(crate) struct ErrorResponse(pub ApiError);

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from(self.0.to_openai_json()));
        *response.status_mut() = self.0.status();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

impl From<ApiError> for ErrorResponse {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

/// The `x-sluice-*` headers that say who served a request; set on answers and on
/// upstream failures alike.
pub(crate) struct ServedBy {
    pub provider: HeaderValue,
    /// The model sent upstream; `None` if it cannot be a header value (a client-chosen
    /// name with control characters), in which case the header is left out.
    pub model: Option<HeaderValue>,
}

impl ServedBy {
    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        headers.insert(headers::PROVIDER, self.provider);
        if let Some(model) = self.model {
            headers.insert(headers::MODEL, model);
        }
        headers.insert(headers::ATTEMPTS, HeaderValue::from_static("1"));
    }
}
