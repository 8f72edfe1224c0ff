//! Serialising the mock's own response structs, and answering with them.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// Serialises one of the mock's response structs. These hold only strings, numbers and
/// nested structs, which cannot fail to serialise; the empty fallback only keeps the mock
/// panic-free should that ever change.
pub fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    match serde_json::to_vec(value) {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::error!(%err, "sluice-mock could not serialise a response");
            Vec::new()
        }
    }
}

/// A 200 `application/json` response with `value` as its body.
pub fn ok<T: Serialize>(value: &T) -> Response {
    let mut response = (StatusCode::OK, to_vec(value)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
