//! Reading request bodies, serialising the mock's own response structs, and answering
//! with them.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::errors::ApiError;

/// A request body that must be a JSON object with a string `model`, as every OpenAI
/// endpoint the mock serves requires; refused the way OpenAI refuses it otherwise.
pub fn object_with_model(body: &[u8]) -> Result<(Map<String, Value>, String), ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())?;
    let Value::Object(obj) = value else {
        return Err(ApiError::invalid_type("body", "an object", &value));
    };
    let model = match obj.get("model") {
        None | Some(Value::Null) => return Err(ApiError::missing("model")),
        Some(Value::String(model)) => model.clone(),
        Some(other) => return Err(ApiError::invalid_type("model", "a string", other)),
    };
    Ok((obj, model))
}

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
