//! The HTTP server: routes, the OpenAI-style fallbacks, and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use sluice_core::{ApiError, ErrorKind};
use tokio::net::TcpListener;

use crate::gateway::Gateway;
use crate::proxy;
use crate::response::ErrorResponse;

/// The gateway's routes over its state.
pub fn router(gateway: Arc<Gateway>) -> Router {
    // The API routes also answer under `/anthropic`, for tools configured with
    // `ANTHROPIC_BASE_URL=http://host:port/anthropic`.
    let api = Router::new()
        .route("/v1/chat/completions", post(proxy::chat_completions))
        .route("/v1/embeddings", post(proxy::embeddings))
        .route("/v1/messages", post(proxy::messages))
        .route("/v1/messages/count_tokens", post(proxy::count_tokens))
        .route("/v1/models", get(models));
    let router = Router::new()
        .merge(api.clone())
        .nest("/anthropic", api)
        .route("/health", get(health))
        .route("/admin/routes", get(admin_routes))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(Arc::clone(&gateway));
    match gateway.admin.clone() {
        Some(admin) => {
            let governor = gateway.governor().cloned();
            router.merge(crate::admin_router(admin).layer(middleware::from_fn(
                move |request: Request, next: Next| {
                    reload_after_change(governor.clone(), request, next)
                },
            )))
        }
        None => router,
    }
}

/// A change through the admin API reaches this instance's request path at once (other
/// instances re-read the store within a second).
async fn reload_after_change(
    governor: Option<Arc<sluice_governance::governor::Governor>>,
    request: Request,
    next: Next,
) -> Response {
    let changes = request.method() != http::Method::GET;
    let response = next.run(request).await;
    if changes
        && response.status().is_success()
        && let Some(governor) = governor
        && let Err(err) = governor.reload().await
    {
        tracing::warn!(error = %err, "could not re-read governance records after a change");
    }
    response
}

/// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests
/// and streams finish for at most `grace`.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    tokio::spawn(timer_heartbeat(stop_rx.clone()));
    let mut drain_started = stop_rx.clone();
    let mut stop_accepting = stop_rx;
    // Stream events are small writes: without TCP_NODELAY, Nagle's algorithm would hold
    // each one back until the client acknowledges the previous (up to its delayed-ACK time).
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
    });
    let server = axum::serve(listener, router(gateway))
        .with_graceful_shutdown(async move {
            let _ = stop_accepting.wait_for(|stop| *stop).await;
        })
        .into_future();
    tokio::select! {
        result = server => result,
        () = async move {
            let _ = drain_started.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(?grace, "shutdown grace period over; closing the remaining connections");
            Ok(())
        }
    }
}

/// Keeps a timer due within a second at all times. Each request arms timers (first-byte
/// and total deadlines, minutes away); tokio wakes its I/O driver through an extra
/// syscall whenever a new timer is due before every pending one, which without this
/// would be once per request.
async fn timer_heartbeat(mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

async fn models(State(gateway): State<Arc<Gateway>>, headers: http::HeaderMap) -> Response {
    let anthropic = headers.contains_key("anthropic-version");
    // Governed: the caller must be let in like any request, and a key with allowlists
    // sees only what it may ask for.
    if let Some(governor) = gateway.governor() {
        match crate::governance::caller(governor, &headers) {
            Err(refusal) => {
                let dialect = if anthropic {
                    sluice_providers::Dialect::Anthropic
                } else {
                    sluice_providers::Dialect::OpenAi
                };
                let denial = crate::governance::denial(refusal);
                return crate::response::ErrorResponse::new(denial.error, dialect).into_response();
            }
            Ok(Some(caller)) if caller.key.models.is_some() || caller.key.providers.is_some() => {
                let (openai, anthropic_list) = gateway.models.visible(
                    |model| caller.allows_model(model),
                    |provider| caller.allows_provider(provider),
                );
                return json(if anthropic { anthropic_list } else { openai });
            }
            Ok(_) => {}
        }
    }
    if anthropic {
        return json(gateway.models.anthropic.clone());
    }
    json(gateway.models.openai.clone())
}

async fn health() -> Response {
    json(bytes::Bytes::from_static(br#"{"status":"ok"}"#))
}

/// Read-only, and open unless an admin token is configured (then it needs the token).
async fn admin_routes(State(gateway): State<Arc<Gateway>>, headers: http::HeaderMap) -> Response {
    if let Some(admin) = &gateway.admin
        && !crate::admin_api::auth::is_admin(admin, &headers)
    {
        return crate::admin_api::error::AdminError::unauthorized().into_response();
    }
    json(bytes::Bytes::from(crate::admin::routes_json(&gateway)))
}

async fn metrics(State(gateway): State<Arc<Gateway>>) -> Response {
    crate::admin::refresh_target_gauges(&gateway);
    let mut response = gateway.registry.render().into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn not_found() -> ErrorResponse {
    ErrorResponse::openai(ApiError::new(
        ErrorKind::NotFound,
        "This path is not served by the gateway (try /v1/chat/completions, /v1/embeddings or /v1/models).",
    ))
}

async fn method_not_allowed() -> ErrorResponse {
    ErrorResponse::openai(ApiError::new(
        ErrorKind::MethodNotAllowed,
        "This method is not allowed on this path.",
    ))
}

fn json(body: bytes::Bytes) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
