//! Reading JSON bodies and query strings so that every rejection, axum's included,
//! comes out as the OpenAI error envelope with a message naming the field.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::error::AdminError;

/// Admin bodies are small; anything larger is a mistake or an attack.
const MAX_BODY: usize = 64 * 1024;

/// A JSON body parsed with serde_json (the target structs use `deny_unknown_fields`).
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AdminError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AdminError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| AdminError::bad_request(format!("cannot read the body: {e}")))?;
        if bytes.len() > MAX_BODY {
            return Err(AdminError::bad_request(format!(
                "the body is larger than {MAX_BODY} bytes"
            )));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(AdminError::bad_request(
                "the body is empty; send a JSON object",
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                AdminError::bad_request(format!("invalid JSON body: {inner}"))
            } else {
                AdminError(
                    sluice_core::ApiError::invalid_request(format!(
                        "invalid JSON body: `{path}`: {inner}"
                    ))
                    .with_param(path),
                )
            }
        })?;
        de.end()
            .map_err(|e| AdminError::bad_request(format!("invalid JSON body: {e}")))?;
        Ok(JsonBody(value))
    }
}

/// A query string parsed with `serde_urlencoded` semantics, rejections in the envelope.
pub(crate) struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|e| {
                AdminError::bad_request(format!("invalid query string: {}", e.body_text()))
            })
    }
}

/// The `{id}` path segment, rejections in the envelope.
pub(crate) struct IdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AdminError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| IdPath(p.0))
            .map_err(|e| AdminError::bad_request(format!("invalid path: {}", e.body_text())))
    }
}

/// For PATCH fields that can be cleared: absent → `None` (leave as is), `null` →
/// `Some(None)` (clear), a value → `Some(Some(v))`. Use with `#[serde(default)]`.
pub(crate) fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}
