//! Provider dialects beyond OpenAI: each module owns its routes, request validation,
//! response shapes and error envelope, and reuses the shared answer logic in `chat.rs`
//! (the reply, tool call and usage), `stream.rs` (pacing, faults, stream stats) and the
//! pipeline in `app.rs` (recording, fault draws, latency).
//!
//! Each dialect's `routes()` puts its routes behind `app::with_pipeline` with its own
//! `ErrorWriter`, so an injected status fault is answered in that dialect's envelope.

use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::app::App;

pub(crate) mod anthropic;
pub(crate) mod azure;
pub(crate) mod bedrock;
pub(crate) mod cohere;
pub(crate) mod eventstream;
pub(crate) mod gemini;

/// Every non-OpenAI route, each group behind its dialect's pipeline.
pub(crate) fn routes(app: &Arc<App>) -> Router<Arc<App>> {
    Router::new()
        .merge(anthropic::routes(app))
        .merge(cohere::routes(app))
        .merge(azure::routes(app))
        .merge(gemini::routes(app))
        .merge(bedrock::routes(app))
}

/// An SSE frame with a named event: `event: NAME`, then `data: JSON`.
pub(crate) fn event_frame<T: Serialize>(event: &str, data: &T) -> Bytes {
    let json = crate::json::to_vec(data);
    let mut out = Vec::with_capacity(json.len() + event.len() + 16);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(&json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The first value of header `name`, if it is text and not blank.
pub(crate) fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// The token of an `Authorization: Bearer TOKEN` header, if there is a non-blank one.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = header_text(headers, header::AUTHORIZATION.as_str())?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A JSON error answer: `status`, `body`, and `Retry-After` when given.
pub(crate) fn json_error<T: Serialize>(
    status: StatusCode,
    body: &T,
    retry_after: Option<u64>,
) -> Response {
    let mut response = (status, crate::json::to_vec(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// An injected status as a `StatusCode`; nonsense numbers become 500 (as OpenAI's path does).
pub(crate) fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_needs_scheme_and_token() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert("authorization", HeaderValue::from_static("Bearer  k1 "));
        assert_eq!(bearer_token(&headers), Some("k1"));
        headers.insert("authorization", HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&headers), None);
        headers.insert("authorization", HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
    }

    #[test]
    fn event_frames_name_their_event() {
        let frame = event_frame("ping", &serde_json::json!({"type": "ping"}));
        assert_eq!(&frame[..], b"event: ping\ndata: {\"type\":\"ping\"}\n\n");
    }
}
