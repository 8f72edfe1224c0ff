//! The mock's HTTP application: shared state, routes, and the per-request pipeline that
//! records the request, draws a fault and waits the configured latency before a handler
//! answers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use sluice_core::mock::{MockFault, MockSettings};

use crate::errors::{ApiError, ErrorWriter};
use crate::faults::{self, BodyFault, FaultApplied};
use crate::stats::{DisconnectGuard, MockStats, bump};
use crate::{ReceivedRequest, chat, embeddings, models, tokens};

/// How many requests `received()` keeps.
pub const RECEIVED_CAPACITY: usize = 256;

/// Largest request body the mock reads.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// State shared by every connection of one server.
#[derive(Debug)]
pub struct App {
    pub settings: MockSettings,
    pub stats: Arc<MockStats>,
    received: Mutex<VecDeque<ReceivedRequest>>,
    fingerprint: String,
    /// The SigV4 credential scopes Bedrock requests named.
    pub aws_signing: crate::dialects::bedrock::SigningLog,
}

/// What the pipeline hands a handler, as a request extension.
#[derive(Clone, Debug)]
pub struct RequestCtx {
    /// This request's number on this server, from 0: feeds ids and the per-request RNG.
    pub index: u64,
    pub body: Bytes,
    /// `cut_stream` or `malformed_json`, drawn for this request.
    pub body_fault: Option<BodyFault>,
}

impl App {
    pub fn new(settings: MockSettings) -> Self {
        let fingerprint = format!("fp_{:010x}", tokens::mix(settings.seed) >> 24);
        Self {
            settings,
            stats: Arc::new(MockStats::default()),
            received: Mutex::new(VecDeque::with_capacity(RECEIVED_CAPACITY)),
            fingerprint,
            aws_signing: Default::default(),
        }
    }

    /// `system_fingerprint`: fixed per seed.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn received(&self) -> Vec<ReceivedRequest> {
        // A poisoned lock only means a panic elsewhere; the log itself is still sound.
        let log = self.received.lock().unwrap_or_else(PoisonError::into_inner);
        log.iter().cloned().collect()
    }

    fn record(&self, request: ReceivedRequest) {
        let mut log = self.received.lock().unwrap_or_else(PoisonError::into_inner);
        if log.len() == RECEIVED_CAPACITY {
            log.pop_front();
        }
        log.push_back(request);
    }

    /// The RNG of request `index`: derived from the seed and the index rather than shared,
    /// so no lock is needed and runs with equal seeds draw equal faults and jitter.
    fn rng_for(&self, index: u64) -> fastrand::Rng {
        fastrand::Rng::with_seed(tokens::mix(self.settings.seed ^ tokens::mix(index)))
    }
}

/// The routes, behind the pipeline: OpenAI's (with the fallbacks), then every other
/// dialect's, each behind a pipeline that writes that dialect's error envelope.
pub fn router(app: Arc<App>) -> Router {
    let openai = Router::new()
        .route("/v1/chat/completions", post(chat_route))
        .route("/v1/embeddings", post(embeddings_route))
        .route("/v1/models", get(models_route))
        .route("/v1/models/{id}", get(model_route))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    with_pipeline(openai, &app, ErrorWriter::OPENAI)
        .merge(crate::dialects::routes(&app))
        .with_state(app)
}

/// Puts `routes` behind the request pipeline; `errors` words the answers the pipeline
/// gives itself (injected status faults, unreadable bodies) in the routes' dialect.
pub fn with_pipeline(
    routes: Router<Arc<App>>,
    app: &Arc<App>,
    errors: ErrorWriter,
) -> Router<Arc<App>> {
    let state = PipelineState {
        app: app.clone(),
        errors,
    };
    routes.layer(middleware::from_fn_with_state(state, pipeline))
}

/// What the pipeline of one group of routes needs.
#[derive(Clone, Debug)]
struct PipelineState {
    app: Arc<App>,
    errors: ErrorWriter,
}

/// The context the pipeline attached (always there; the fallback keeps handlers total).
pub fn ctx_of(request: &Request) -> RequestCtx {
    request
        .extensions()
        .get::<RequestCtx>()
        .cloned()
        .unwrap_or(RequestCtx {
            index: 0,
            body: Bytes::new(),
            body_fault: None,
        })
}

async fn chat_route(State(app): State<Arc<App>>, request: Request) -> Response {
    chat::handle(&app, &ctx_of(&request)).await
}

async fn embeddings_route(State(app): State<Arc<App>>, request: Request) -> Response {
    embeddings::handle(&app, &ctx_of(&request)).await
}

async fn models_route() -> Response {
    models::list()
}

async fn model_route(Path(id): Path<String>) -> Response {
    models::get(&id)
}

async fn not_found(request: Request) -> Response {
    ApiError::unknown_url(request.method().as_str(), request.uri().path()).into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    ApiError::method_not_allowed(request.method().as_str(), request.uri().path()).into_response()
}

/// Runs around every request: count, buffer and record it, draw its fault, wait, answer.
///
/// `status` and `reset` answer at once (as a rate limiter or a dying proxy would), `stall`
/// waits before the normal path, and the normal path waits `latency` + jitter.
async fn pipeline(
    State(PipelineState { app, errors }): State<PipelineState>,
    request: Request,
    next: Next,
) -> Response {
    let index = bump(&app.stats.requests);
    // Dropped unfinished if the client leaves while the mock stalls or waits.
    let guard = DisconnectGuard::new(app.stats.clone());
    let (mut parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            guard.finish();
            if err.downcast_ref::<LengthLimitError>().is_some() {
                return (errors.too_large)(MAX_BODY_BYTES);
            }
            // The client stopped sending mid-body; nobody will read this.
            return (errors.unreadable)();
        }
    };
    app.record(ReceivedRequest {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.clone(),
    });

    let mut rng = app.rng_for(index);
    let fault = faults::draw(&app.settings.faults, &mut rng);
    if fault.is_some() {
        bump(&app.stats.faults_injected);
    }
    let mut body_fault = None;
    match fault {
        Some(MockFault::Status {
            status,
            retry_after,
            ..
        }) => {
            guard.finish();
            let response = (errors.status)(*status, *retry_after);
            return with_request_id(response, index);
        }
        Some(MockFault::Reset { .. }) => {
            guard.finish();
            return faults::reset_response();
        }
        Some(MockFault::Stall { duration, .. }) => tokio::time::sleep(duration.get()).await,
        Some(other) => body_fault = BodyFault::from_fault(other),
        None => {}
    }

    let delay = app
        .settings
        .latency
        .get()
        .saturating_add(jitter(&mut rng, app.settings.jitter.get()));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    parts.extensions.insert(RequestCtx {
        index,
        body,
        body_fault,
    });
    let mut response = next.run(Request::from_parts(parts, Body::empty())).await;
    guard.finish();
    if let Some(fault) = body_fault
        && response.extensions().get::<FaultApplied>().is_none()
    {
        response = match fault {
            // A whole answer has no stream to put the error in: the status it is.
            BodyFault::StreamError { status, .. } => (errors.status)(status, None),
            other => faults::apply_to_whole(response, other).await,
        };
    }
    with_request_id(response, index)
}

/// Uniform in `[0, max]`.
fn jitter(rng: &mut fastrand::Rng, max: Duration) -> Duration {
    let max = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if max == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rng.u64(0..=max))
}

/// `x-request-id`, as OpenAI sends on every response.
fn with_request_id(mut response: Response, index: u64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&format!("req_mock_{index}")) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_range() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..1000 {
            assert!(jitter(&mut rng, Duration::from_millis(5)) <= Duration::from_millis(5));
        }
        assert_eq!(jitter(&mut rng, Duration::ZERO), Duration::ZERO);
        let _ = jitter(&mut rng, Duration::MAX);
    }

    #[test]
    fn rng_is_per_request_and_seeded() {
        let a = App::new(MockSettings::default());
        let b = App::new(MockSettings::default());
        assert_eq!(a.rng_for(5).u64(..), b.rng_for(5).u64(..));
        assert_ne!(a.rng_for(5).u64(..), a.rng_for(6).u64(..));
    }

    #[test]
    fn received_is_bounded() {
        let app = App::new(MockSettings::default());
        for i in 0..(RECEIVED_CAPACITY + 10) {
            app.record(ReceivedRequest {
                method: "GET".into(),
                path: format!("/{i}"),
                headers: Vec::new(),
                body: Bytes::new(),
            });
        }
        let log = app.received();
        assert_eq!(log.len(), RECEIVED_CAPACITY);
        assert_eq!(log[0].path, "/10");
    }
}
