//! Building responses: the gateway's own errors in the OpenAI envelope, and the
//! `x-sluice-*` headers.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use sluice_core::ApiError;

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

/// A header value from text the gateway controls (provider and model names); names the
/// config accepted are valid header values, anything else is dropped rather than risked.
pub(crate) fn header_value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}
