//! The admin API's errors, all in the OpenAI envelope
//! `{"error":{"message","type","param","code"}}`.
//!
//! `sluice_core::ErrorKind` has no conflict kind and its 401 is about provider keys, so
//! the statuses and codes it lacks are set here with `with_status` / `with_code`
//! rather than by growing the core crate for one module.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};
use sluice_core::{ApiError, ErrorKind};
use sluice_store::StoreError;

/// An admin API error, rendered as the OpenAI envelope.
#[derive(Debug)]
pub(crate) struct AdminError(pub ApiError);

pub(crate) type AdminResult<T> = Result<T, AdminError>;

impl AdminError {
    /// 400, naming the offending field in `param` and in the message.
    pub(crate) fn invalid(param: &'static str, message: impl Into<String>) -> AdminError {
        AdminError(ApiError::invalid_request(message.into()).with_param(param))
    }

    /// 400 without a single field to blame (malformed JSON, a bad query string).
    pub(crate) fn bad_request(message: impl Into<String>) -> AdminError {
        AdminError(ApiError::invalid_request(message.into()))
    }

    /// 400: a referenced customer, team or key does not exist.
    pub(crate) fn unknown_parent(param: &'static str, what: &str, id: &str) -> AdminError {
        AdminError(
            ApiError::invalid_request(format!(
                "{what} `{}` does not exist ({param})",
                sluice_core::api_error::truncate_for_message(id)
            ))
            .with_param(param)
            .with_code("unknown_parent"),
        )
    }

    /// 401: no or a wrong admin token.
    pub(crate) fn unauthorized() -> AdminError {
        AdminError(
            ApiError::new(
                ErrorKind::Authentication,
                "The admin API needs `Authorization: Bearer <admin token>`; the token is missing or wrong.",
            )
            .with_code("invalid_admin_token"),
        )
    }

    /// 500 for a bug or a random generator failure; the detail goes to the log only.
    pub(crate) fn internal(what: &str) -> AdminError {
        AdminError(ApiError::new(
            ErrorKind::Internal,
            format!("internal error: {what}"),
        ))
    }
}

impl From<StoreError> for AdminError {
    fn from(err: StoreError) -> AdminError {
        let api = match &err {
            StoreError::Conflict(_) => ApiError::invalid_request(
                "A record with this id (or key) already exists.".to_owned(),
            )
            .with_status(StatusCode::CONFLICT)
            .with_code("conflict"),
            StoreError::UnknownParent(_) => ApiError::invalid_request(
                "A referenced customer or team does not exist.".to_owned(),
            )
            .with_code("unknown_parent"),
            StoreError::NotFound { what, id } => ApiError::new(
                ErrorKind::NotFound,
                format!(
                    "{what} `{}` not found",
                    sluice_core::api_error::truncate_for_message(id)
                ),
            ),
            StoreError::Invalid(message) => ApiError::invalid_request(message.clone()),
            StoreError::Unavailable(_) => ApiError::new(
                ErrorKind::Unavailable,
                "The governance store is unavailable; try again.",
            ),
            StoreError::Database(_) | StoreError::Redis(_) => {
                ApiError::new(ErrorKind::Internal, "The governance store failed.")
            }
        };
        if api.status().is_server_error() {
            // Store errors carry SQL text, never a key: keys reach the store hashed.
            tracing::warn!(error = %err, "admin API store error");
        }
        AdminError(api)
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let mut response = Response::new(Body::from(self.0.to_openai_json()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
