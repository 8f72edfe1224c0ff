//! Azure OpenAI: `POST /openai/deployments/{deployment}/chat/completions` and
//! `…/embeddings`, both with `?api-version=…`.
//!
//! The body is OpenAI's and is served by the OpenAI handlers, with `model` set to the
//! deployment name (the deployment, not the body, names the model on Azure). A whole chat
//! answer gains Azure's `prompt_filter_results` and per-choice `content_filter_results`,
//! so clients are tested against fields they must ignore. A missing `api-version` is a 404
//! and a missing `api-key` (or `Authorization: Bearer`) a 401, in Azure's
//! `{"error":{"code","message"}}` envelope, which injected status faults use too.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::post;
use bytes::Bytes;
use http::{StatusCode, Uri, header};
use serde_json::{Value, json};

use super::{bearer_token, header_text, json_error, status_code};
use crate::app::{self, App, RequestCtx};
use crate::errors::ErrorWriter;
use crate::{chat, embeddings};

/// The pipeline's own errors in Azure's envelope.
const ERRORS: ErrorWriter = ErrorWriter {
    status: |status, retry_after| AzureError::for_status(status, retry_after).into_response(),
    too_large: |limit| {
        AzureError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The request body exceeds the maximum size of {limit} bytes."),
        )
        .into_response()
    },
    unreadable: || {
        AzureError::new(
            StatusCode::BAD_REQUEST,
            "The request body could not be read.",
        )
        .into_response()
    },
};

pub(crate) fn routes(app: &Arc<App>) -> Router<Arc<App>> {
    let routes = Router::new()
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(chat_route),
        )
        .route(
            "/openai/deployments/{deployment}/embeddings",
            post(embeddings_route),
        );
    app::with_pipeline(routes, app, ERRORS)
}

async fn chat_route(
    State(app): State<Arc<App>>,
    Path(deployment): Path<String>,
    request: Request,
) -> Response {
    let ctx = match admit(&request, &deployment) {
        Ok(ctx) => ctx,
        Err(refusal) => return refusal.into_response(),
    };
    let response = chat::handle(&app, &ctx).await;
    with_content_filters(response).await
}

async fn embeddings_route(
    State(app): State<Arc<App>>,
    Path(deployment): Path<String>,
    request: Request,
) -> Response {
    match admit(&request, &deployment) {
        Ok(ctx) => embeddings::handle(&app, &ctx).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Azure's checks (`api-version`, then the key), then the request context with the body's
/// `model` set to the deployment. A body that is not a JSON object is passed on untouched,
/// for the OpenAI handler to refuse.
fn admit(request: &Request, deployment: &str) -> Result<RequestCtx, AzureError> {
    let headers = request.headers();
    if !has_api_version(request.uri()) {
        return Err(AzureError::new(StatusCode::NOT_FOUND, "Resource not found"));
    }
    if header_text(headers, "api-key").is_none() && bearer_token(headers).is_none() {
        return Err(AzureError::new(
            StatusCode::UNAUTHORIZED,
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to \
             provide a valid key for an active subscription and use a correct regional API \
             endpoint for your resource.",
        ));
    }
    let mut ctx = app::ctx_of(request);
    if let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(&ctx.body) {
        obj.insert("model".to_owned(), Value::String(deployment.to_owned()));
        ctx.body = Bytes::from(crate::json::to_vec(&obj));
    }
    Ok(ctx)
}

/// Whether the query has a non-empty `api-version`.
fn has_api_version(uri: &Uri) -> bool {
    uri.query().is_some_and(|query| {
        query.split('&').any(|pair| {
            pair.split_once('=')
                .is_some_and(|(key, value)| key == "api-version" && !value.is_empty())
        })
    })
}

/// Every category "safe", unfiltered: what Azure attaches when nothing was flagged.
fn filter_results() -> Value {
    let safe = json!({"filtered": false, "severity": "safe"});
    json!({"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe})
}

/// Adds Azure's content-filter fields to a whole 200 JSON chat answer; anything else
/// (errors, streams) passes unchanged.
async fn with_content_filters(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() != StatusCode::OK || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The mock's own whole answers are small and already in memory.
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, bytes.into());
    };
    if let Some(obj) = answer.as_object_mut() {
        obj.insert(
            "prompt_filter_results".to_owned(),
            json!([{"prompt_index": 0, "content_filter_results": filter_results()}]),
        );
    }
    if let Some(choices) = answer.get_mut("choices").and_then(Value::as_array_mut) {
        for choice in choices.iter_mut().filter_map(Value::as_object_mut) {
            choice.insert("content_filter_results".to_owned(), filter_results());
        }
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, crate::json::to_vec(&answer).into())
}

// ---- errors ----

/// An Azure error answer: `{"error":{"code":"<status>","message"}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AzureError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl AzureError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// What Azure OpenAI answers with for `status`.
    pub(crate) fn for_status(status: u16, retry_after: Option<u64>) -> Self {
        let code = status_code(status);
        let message = match code.as_u16() {
            401 => "Access denied due to invalid subscription key or wrong API endpoint. Make \
                    sure to provide a valid key for an active subscription and use a correct \
                    regional API endpoint for your resource."
                .to_owned(),
            404 => "Resource not found".to_owned(),
            429 => format!(
                "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version \
                 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing \
                 tier. Please retry after {} seconds.",
                retry_after.unwrap_or(1)
            ),
            500 => "The server had an error while processing your request.".to_owned(),
            503 => "The service is temporarily unable to process your request.".to_owned(),
            _ => format!(
                "Request failed with status {} (injected by sluice-mock).",
                code.as_u16()
            ),
        };
        let mut err = Self::new(code, message);
        err.retry_after = retry_after;
        err
    }

    pub(crate) fn into_response(self) -> Response {
        json_error(
            self.status,
            &json!({"error": {"code": self.status.as_u16().to_string(), "message": self.message}}),
            self.retry_after,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_must_be_there_and_set() {
        let uri = |s: &str| s.parse::<Uri>().unwrap_or_default();
        assert!(has_api_version(&uri("/x?api-version=2024-10-21")));
        assert!(has_api_version(&uri("/x?a=1&api-version=v")));
        assert!(!has_api_version(&uri("/x")));
        assert!(!has_api_version(&uri("/x?api-version=")));
        assert!(!has_api_version(&uri("/x?api-versions=1")));
    }

    #[test]
    fn status_codes_are_strings() {
        let err = AzureError::for_status(429, Some(6));
        assert!(err.message.contains("retry after 6 seconds"));
        assert_eq!(AzureError::for_status(9999, None).status, 500);
    }
}
