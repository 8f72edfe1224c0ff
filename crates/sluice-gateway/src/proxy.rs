//! The pass-through path: an OpenAI-dialect request to an OpenAI-dialect provider.
//! The body goes upstream with only the model name replaced, and the answer streams
//! back frame by frame; neither is re-serialised.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sluice_core::{ApiError, ErrorKind};
use sluice_providers::openai::{Endpoint, peek};

use crate::body::{Completion, ProxiedBody};
use crate::gateway::Gateway;
use crate::headers;
use crate::metrics::{InFlight, Series};
use crate::response::{ErrorResponse, ServedBy};

pub(crate) async fn chat_completions(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
) -> Response {
    proxy(&gateway, Endpoint::ChatCompletions, request).await
}

pub(crate) async fn embeddings(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    proxy(&gateway, Endpoint::Embeddings, request).await
}

/// A failure before any upstream response, with what is known for metrics and headers.
struct Refusal<'a> {
    series: &'a Series,
    error: ApiError,
    reason: &'static str,
    served_by: Option<ServedBy>,
}

async fn proxy(gateway: &Gateway, endpoint: Endpoint, request: Request) -> Response {
    let started = Instant::now();
    let in_flight = InFlight::enter(&gateway.endpoint_metrics(endpoint).in_flight);
    match forward(gateway, endpoint, request, started, in_flight).await {
        Ok(response) => response,
        Err(refusal) => {
            let status = refusal.error.status().as_u16();
            refusal
                .series
                .finished(status, started.elapsed(), Some(refusal.reason));
            let mut response = ErrorResponse(refusal.error).into_response();
            if let Some(served_by) = refusal.served_by {
                served_by.apply(response.headers_mut());
            }
            response
        }
    }
}

async fn forward<'g>(
    gateway: &'g Gateway,
    endpoint: Endpoint,
    request: Request,
    started: Instant,
    in_flight: InFlight,
) -> Result<Response, Refusal<'g>> {
    let endpoint_metrics = gateway.endpoint_metrics(endpoint);
    let unrouted = &*endpoint_metrics.unrouted;
    let refuse = |series: &'g Series, error: ApiError, reason: &'static str| Refusal {
        series,
        error,
        reason,
        served_by: None,
    };
    let (parts, body) = request.into_parts();
    let body = read_body(&parts.headers, body, gateway.max_body_bytes)
        .await
        .map_err(|error| refuse(unrouted, error, "invalid_request"))?;
    let peeked =
        peek(endpoint, &body).map_err(|error| refuse(unrouted, error, "invalid_request"))?;
    let Some(resolved) = gateway.resolve(&peeked.model) else {
        return Err(refuse(
            unrouted,
            ApiError::model_not_found(&peeked.model),
            "model_not_found",
        ));
    };
    let upstream = resolved.upstream;
    let series = resolved.series.get(endpoint);
    let served_by = ServedBy {
        provider: resolved.provider_header.clone(),
        model: HeaderValue::from_str(resolved.model).ok(),
    };
    let upstream_body = peeked.with_model(&body, resolved.model);

    let sent = Instant::now();
    let before_upstream = sent - started;
    let answer = upstream
        .post_json(endpoint, upstream_body, &parts.headers)
        .await;
    let answered = Instant::now();
    let response = match answer {
        Ok(response) => response,
        Err(err) => {
            tracing::debug!(provider = %upstream.name, error = %err, "upstream request failed");
            let reason = match err {
                sluice_providers::UpstreamError::Timeout { .. } => "timeout",
                sluice_providers::UpstreamError::Unreachable { .. } => "unreachable",
            };
            return Err(Refusal {
                series,
                error: err.to_api_error(),
                reason,
                served_by: Some(served_by),
            });
        }
    };
    let status = response.status();
    series.upstream_answered(status.as_u16(), answered - sent);

    let (upstream_parts, upstream_body) = response.into_parts();
    let sse = upstream_parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"));
    let deadline = started + upstream.timeouts().total.get();
    let body = ProxiedBody::new(
        upstream_body,
        deadline,
        sse,
        Completion {
            series: Arc::clone(series),
            _in_flight: in_flight,
            status: status.as_u16(),
            started,
        },
    );

    let mut response = Response::new(Body::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    copy_response_headers(&upstream_parts.headers, headers);
    served_by.apply(headers);
    let overhead = before_upstream + answered.elapsed();
    headers.insert(headers::OVERHEAD_US, overhead_header(overhead));
    endpoint_metrics.overhead.record(overhead);
    Ok(response)
}

/// Reads the whole request body, refusing more than `limit` bytes with 413.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("The request body is larger than this gateway accepts ({limit} bytes)."),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if is_length_limit(err.as_ref()) => Err(too_large()),
        Err(_) => Err(ApiError::invalid_request(
            "The request body could not be read to the end.",
        )),
    }
}

fn is_length_limit(mut err: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if err.is::<LengthLimitError>() {
            return true;
        }
        match err.source() {
            Some(source) => err = source,
            None => return false,
        }
    }
}

/// Headers that describe one hop, not the message, or that the gateway sets itself.
fn is_hop_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "content-length"
            | "set-cookie"
    )
}

fn copy_response_headers(from: &HeaderMap, to: &mut HeaderMap) {
    to.reserve(from.len() + 4);
    for (name, value) in from {
        if !is_hop_header(name) {
            to.append(name.clone(), value.clone());
        }
    }
}

fn overhead_header(overhead: Duration) -> HeaderValue {
    let micros = u64::try_from(overhead.as_micros()).unwrap_or(u64::MAX);
    HeaderValue::from(micros)
}
