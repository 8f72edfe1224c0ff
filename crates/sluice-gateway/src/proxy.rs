//! The request path: read the body, resolve the model, then either pass the request
//! through (the provider speaks the client's dialect: the body goes upstream with only
//! the model replaced, and the answer streams back untouched) or translate it (decode to
//! the canonical form, encode in the provider's dialect, and the answer back, event by
//! event as it arrives).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use metrics::{Gauge, Histogram};
use sluice_core::chat::{BlockKind, StreamEvent};
use sluice_core::config::{HedgeConfig, HedgeDelay, RetryOn};
use sluice_core::{ApiError, ErrorKind};
use sluice_providers::openai::{PeekedRequest, peek_fields};
use sluice_providers::upstream::FORWARDED_HEADERS;
use sluice_providers::{Dialect, Operation, Upstream, UpstreamError, codec};
use sluice_routing::RouteTrace;

use crate::body::{Charge, Completion, ProxiedBody, Shape, Translator};
use crate::endpoint::Endpoint;
use crate::gateway::{Gateway, Resolution, ResolvedModel};
use crate::governance;
use crate::headers;
use crate::metrics::{EndpointMetrics, InFlight, Series};
use crate::outcome::{TargetOutcome, retry_after_delay};
use crate::request_routing::RequestRouting;
use crate::response::{ErrorResponse, ServedBy, dialect_status};
use crate::usage::{self, UsageTap};
use sluice_core::chat::Usage;
use sluice_governance::governor::{Admission, Refusal as GovernanceRefusal};

pub(crate) async fn chat_completions(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
) -> Response {
    handle(&gateway, Endpoint::ChatCompletions, request).await
}

pub(crate) async fn embeddings(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    handle(&gateway, Endpoint::Embeddings, request).await
}

pub(crate) async fn messages(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    handle(&gateway, Endpoint::Messages, request).await
}

pub(crate) async fn count_tokens(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
) -> Response {
    handle(&gateway, Endpoint::CountTokens, request).await
}

/// Client headers an Anthropic-dialect provider also gets when the client speaks
/// Anthropic: the API version (any value, even one Sluice has not seen) and betas.
const ANTHROPIC_FORWARDED: [HeaderName; 4] = [
    http::header::ACCEPT,
    http::header::USER_AGENT,
    HeaderName::from_static("anthropic-version"),
    HeaderName::from_static("anthropic-beta"),
];

/// Provider error bodies are read whole to be translated; they are small.
const MAX_ERROR_BODY: usize = 1024 * 1024;
/// A whole (non-streamed) answer read to be translated.
const MAX_ANSWER_BODY: usize = 64 * 1024 * 1024;

/// A failure before any answer reached the client, with what is known for metrics
/// and headers.
struct Refusal<'a> {
    series: &'a Series,
    error: ApiError,
    reason: &'static str,
    served_by: Option<ServedBy>,
    /// The provider's `Retry-After`, passed on with a translated rate-limit error.
    retry_after: Option<HeaderValue>,
    /// `x-sluice-route-trace`, when asked for and no target was found.
    route_trace: Option<HeaderValue>,
    /// A provider's error answer in the client's own dialect, kept whole to be passed
    /// on as it came if no other target serves the request.
    raw: Option<RawAnswer>,
    /// `x-sluice-attempts` when more than one target was tried.
    attempts: Option<HeaderValue>,
    /// Headers of the gateway's own refusals (`x-ratelimit-*` on a rate limit).
    extra_headers: Vec<(HeaderName, HeaderValue)>,
}

/// An upstream answer read whole.
struct RawAnswer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl<'a> Refusal<'a> {
    fn new(series: &'a Series, error: ApiError, reason: &'static str) -> Self {
        Self {
            series,
            error,
            reason,
            served_by: None,
            retry_after: None,
            route_trace: None,
            raw: None,
            attempts: None,
            extra_headers: Vec::new(),
        }
    }

    /// The status the client gets.
    fn status(&self, dialect: Dialect) -> StatusCode {
        match &self.raw {
            Some(raw) => raw.status,
            None => dialect_status(&self.error, dialect),
        }
    }

    /// Which retryable failure this is, if any.
    fn retry_class(&self) -> Option<RetryOn> {
        match self.reason {
            "timeout" => Some(RetryOn::Timeout),
            "unreachable" => Some(RetryOn::Connection),
            "upstream_status" => {
                let status = match &self.raw {
                    Some(raw) => raw.status,
                    None => self.error.status(),
                };
                match status.as_u16() {
                    429 => Some(RetryOn::RateLimited),
                    500..=599 => Some(RetryOn::ServerError),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

async fn handle(gateway: &Gateway, endpoint: Endpoint, request: Request) -> Response {
    let started = Instant::now();
    // Counts the request until it is answered; a streamed body holds its own count on.
    let _in_flight = InFlight::enter(&gateway.endpoint_metrics(endpoint).in_flight);
    match forward(gateway, endpoint, request, started).await {
        Ok(response) => response,
        Err(refusal) => {
            let status = refusal.status(endpoint.dialect());
            refusal
                .series
                .finished(status.as_u16(), started.elapsed(), Some(refusal.reason));
            let mut response = match refusal.raw {
                Some(raw) => {
                    let mut response = Response::new(Body::from(raw.body));
                    *response.status_mut() = raw.status;
                    copy_response_headers(&raw.headers, response.headers_mut());
                    response
                }
                None => ErrorResponse::new(refusal.error, endpoint.dialect()).into_response(),
            };
            let headers = response.headers_mut();
            if let Some(served_by) = refusal.served_by {
                served_by.apply(headers);
            }
            if let Some(retry_after) = refusal.retry_after {
                headers.insert(RETRY_AFTER, retry_after);
            }
            if let Some(trace) = refusal.route_trace {
                headers.insert(headers::ROUTE_TRACE, trace);
            }
            if let Some(attempts) = refusal.attempts {
                headers.insert(headers::ATTEMPTS, attempts);
            }
            for (name, value) in refusal.extra_headers {
                headers.insert(name, value);
            }
            response
        }
    }
}

/// One request on its way: what both paths need.
struct Exchange<'g, 'r> {
    endpoint: Endpoint,
    upstream: &'g Upstream,
    series: &'g Arc<Series>,
    served_by: ServedBy,
    client_headers: &'r HeaderMap,
    /// The provider key to use (`None`: the provider picks by weight).
    key: Option<usize>,
    started: Instant,
    overhead: &'g Histogram,
    /// The endpoint's in-flight gauge, which a streamed body keeps counting on.
    in_flight: &'g Gauge,
    /// The governed call's admission, taken by the attempt that serves.
    admission: &'r AdmissionSlot,
}

/// Where a request's admission waits for the attempt that serves it (hedged attempts run
/// at once; only the winner builds an answer).
type AdmissionSlot = std::sync::Mutex<Option<Admission>>;

impl<'g> Exchange<'g, '_> {
    fn refuse(&self, error: ApiError, reason: &'static str) -> Refusal<'g> {
        Refusal {
            series: self.series,
            error,
            reason,
            served_by: Some(self.served_by.clone()),
            retry_after: None,
            route_trace: None,
            raw: None,
            attempts: None,
            extra_headers: Vec::new(),
        }
    }

    fn upstream_failed(&self, err: UpstreamError) -> Refusal<'g> {
        tracing::debug!(provider = %self.upstream.name, error = %err, "upstream request failed");
        let reason = match err {
            UpstreamError::Timeout { .. } => "timeout",
            UpstreamError::Unreachable { .. } => "unreachable",
            UpstreamError::Auth { .. } => "upstream_auth",
            UpstreamError::Unsupported { .. } => "unsupported",
        };
        self.refuse(err.to_api_error(), reason)
    }

    /// Whether this call is governed (its answer is charged).
    fn governed(&self) -> bool {
        self.admission
            .lock()
            .map_or(true, |admission| admission.is_some())
    }

    fn deadline(&self) -> Instant {
        self.started + self.upstream.timeouts().total.get()
    }

    /// Sends the body and waits for the response head; records the upstream timing.
    /// Returns the head, the body and the time spent in the gateway before sending.
    async fn send(
        &self,
        operation: Operation,
        model: &str,
        body: Bytes,
        forwarded: &[HeaderName],
    ) -> Result<(http::response::Parts, Incoming, Duration), Refusal<'g>> {
        let uri = self
            .upstream
            .uri(operation, model)
            .map_err(|err| self.upstream_failed(err))?;
        let sent = Instant::now();
        let before_upstream = sent - self.started;
        let response = self
            .upstream
            .post(uri, body, self.client_headers, forwarded, self.key)
            .await
            .map_err(|err| self.upstream_failed(err))?;
        self.series
            .upstream_answered(response.status().as_u16(), sent.elapsed());
        let (parts, body) = response.into_parts();
        Ok((parts, body, before_upstream))
    }

    /// A provider's error answer, decoded and re-encoded in the client's dialect with
    /// the equivalent status; `Retry-After` is kept.
    async fn translated_error(&self, parts: &http::response::Parts, body: Incoming) -> Refusal<'g> {
        let bytes = read_upstream(body, MAX_ERROR_BODY, self.deadline())
            .await
            .unwrap_or_default();
        let error =
            codec::decode_error(self.upstream.dialect, parts.status, &parts.headers, &bytes);
        let mut refusal = self.refuse(error, "upstream_status");
        refusal.retry_after = parts.headers.get(RETRY_AFTER).cloned();
        refusal
    }

    /// Sends a translated request whose answer is read whole. A provider's error answer
    /// becomes the client's; a success gives its bytes and the time spent in the gateway
    /// before sending.
    async fn send_for_whole(
        &self,
        operation: Operation,
        model: &str,
        body: Vec<u8>,
        limit: usize,
    ) -> Result<(Bytes, Duration), Refusal<'g>> {
        let (parts, upstream_body, before_upstream) = self
            .send(operation, model, Bytes::from(body), &FORWARDED_HEADERS)
            .await?;
        if !parts.status.is_success() {
            return Err(self.translated_error(&parts, upstream_body).await);
        }
        let bytes = read_upstream(upstream_body, limit, self.deadline())
            .await
            .map_err(|error| self.refuse(error, "upstream_invalid"))?;
        Ok((bytes, before_upstream))
    }

    /// Waits for a stream's first bytes before anything reaches the client, so that a
    /// stream that breaks (or ends) before its first byte can still fail over. With
    /// [`Hold::FirstToken`] (a hedge) it reads on until the provider's first token (text,
    /// thinking, a tool call, or the stream's end), decoding in the provider's dialect:
    /// a stream that opens with an empty role chunk has not answered yet. Returns what was
    /// read, to be sent first.
    async fn first_bytes(
        &self,
        body: &mut Incoming,
        hold: Hold,
        model: &str,
    ) -> Result<Bytes, Refusal<'g>> {
        let broken = || {
            self.refuse(
                ApiError::new(
                    ErrorKind::UpstreamUnreachable,
                    "The provider's stream broke before its first byte.",
                )
                .with_code("upstream_stream_interrupted"),
                "unreachable",
            )
        };
        let mut decoder =
            (hold == Hold::FirstToken).then(|| codec::stream_decoder(self.upstream.dialect, model));
        let first_byte = self.upstream.timeouts().first_byte.get();
        let wait = async {
            let mut read = bytes::BytesMut::new();
            let mut events = Vec::new();
            loop {
                match body.frame().await {
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) if !data.is_empty() => {
                            let Some(decoder) = decoder.as_mut() else {
                                return Some(data);
                            };
                            read.extend_from_slice(&data);
                            // A stream the decoder cannot read is the body's to report.
                            if decoder.feed(&data, &mut events).is_err()
                                || events.iter().any(is_first_token)
                            {
                                return Some(read.freeze());
                            }
                            events.clear();
                        }
                        _ => continue,
                    },
                    Some(Err(_)) | None if !read.is_empty() => return Some(read.freeze()),
                    Some(Err(_)) | None => return None,
                }
            }
        };
        match tokio::time::timeout(first_byte, wait).await {
            Ok(Some(data)) => Ok(data),
            Ok(None) => Err(broken()),
            Err(_) => Err(self.upstream_failed(UpstreamError::Timeout {
                provider: self.upstream.name.clone(),
                timeout: first_byte,
            })),
        }
    }

    /// Finishes a response: the `x-sluice-*` headers (the dropped parameters of a
    /// translated request among them) and the overhead.
    fn respond(
        self,
        mut response: Response,
        overhead: Duration,
        dropped: Option<HeaderValue>,
    ) -> Response {
        let headers = response.headers_mut();
        self.served_by.apply(headers);
        headers.insert(headers::OVERHEAD_US, overhead_header(overhead));
        if let Some(dropped) = dropped {
            headers.insert(headers::DROPPED_PARAMS, dropped);
        }
        self.overhead.record(overhead);
        response
    }

    /// A translated answer that was read whole, re-encoded as `json`: counted as served.
    /// A governed call is charged at once, with the `usage` the provider reported.
    fn respond_whole(
        self,
        json: Vec<u8>,
        overhead: Duration,
        dropped: Option<HeaderValue>,
        model: &str,
        usage: Option<Usage>,
    ) -> Response {
        self.series.finished(200, self.started.elapsed(), None);
        if let Some(mut admission) = self.take_admission() {
            admission.settle(&self.upstream.name, model, usage);
        }
        self.respond(json_response(json), overhead, dropped)
    }

    /// The request's admission, for the attempt that serves it (taken once).
    fn take_admission(&self) -> Option<Admission> {
        self.admission
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// What the response body records when it ends. A successful answer of a governed
    /// call takes the admission, to be charged with the usage the body sees.
    fn completion(
        &self,
        status: StatusCode,
        target: Option<TargetOutcome>,
        model: &str,
        tap: Option<UsageTap>,
    ) -> Completion {
        let charge = if status.is_success() {
            self.take_admission().map(|admission| Charge {
                admission,
                provider: Arc::clone(&self.upstream.name),
                model: model.to_string(),
                tap,
            })
        } else {
            None
        };
        Completion {
            series: Arc::clone(self.series),
            _in_flight: InFlight::enter(self.in_flight),
            status: status.as_u16(),
            started: self.started,
            target,
            first_byte: None,
            charge,
        }
    }
}

async fn forward<'g>(
    gateway: &'g Gateway,
    endpoint: Endpoint,
    request: Request,
    started: Instant,
) -> Result<Response, Refusal<'g>> {
    let endpoint_metrics = gateway.endpoint_metrics(endpoint);
    let unrouted = &*endpoint_metrics.unrouted;
    let (parts, body) = request.into_parts();
    let body = read_body(&parts.headers, body, gateway.max_body_bytes)
        .await
        .map_err(|error| Refusal::new(unrouted, error, "invalid_request"))?;
    let governor = gateway.governor();
    // The body's fields end with this block: the token estimate is their last reader,
    // and a local that outlived it would sit in this future's state (copied whole into
    // a box for every request) across every await below.
    let (peeked, caller, estimate) = {
        let (peeked, fields) = peek_fields(endpoint.body_kind(), &body)
            .map_err(|error| Refusal::new(unrouted, error, "invalid_request"))?;
        let caller = match governor {
            Some(governor) => governance::identify(governor, &parts.headers, &peeked.model)
                .map_err(|refusal| denied(unrouted, refusal))?,
            None => None,
        };
        let estimate = caller
            .as_ref()
            .filter(|caller| caller.limits_tokens())
            .map(|_| governance::estimate(endpoint, &peeked.model, fields, body.len()));
        (peeked, caller, estimate)
    };
    let routing = RequestRouting::from_headers(&parts.headers)
        .map_err(|error| Refusal::new(unrouted, error, "invalid_request"))?;
    let mut trace = parts
        .headers
        .contains_key(headers::ROUTE_TRACE)
        .then(RouteTrace::new);
    let candidates = match gateway.resolve(&peeked.model, &routing, trace.as_mut()) {
        Resolution::Found(candidates) => candidates,
        Resolution::NotFound => {
            return Err(Refusal::new(
                unrouted,
                ApiError::model_not_found(&peeked.model),
                "model_not_found",
            ));
        }
        Resolution::Refused(error) => {
            return Err(Refusal::new(unrouted, error, "invalid_request"));
        }
        Resolution::Unavailable { route } => {
            let mut refusal = Refusal::new(
                unrouted,
                ApiError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "Every target of route `{route}` is unavailable (circuit open, resting after the provider's Retry-After, or failing health checks); try again shortly."
                    ),
                ),
                "no_target",
            );
            refusal.route_trace = trace.as_ref().and_then(trace_header);
            return Err(refusal);
        }
    };
    let mut candidates = candidates;
    let admission = match governor {
        Some(governor) => {
            governance::restrict(
                governor,
                caller.as_ref(),
                &peeked.model,
                &mut candidates.list,
            )
            .map_err(|refusal| denied(unrouted, refusal))?;
            let admission = governor
                .admit(caller.as_ref(), estimate)
                .await
                .map_err(|refusal| denied(unrouted, refusal))?;
            Some(admission.bind(governor))
        }
        None => None,
    };
    let inbound = Inbound {
        admission: std::sync::Mutex::new(admission),
        endpoint,
        headers: &parts.headers,
        started,
        metrics: endpoint_metrics,
        route_trace: trace.as_ref().and_then(trace_header),
        peeked: &peeked,
        body: &body,
    };
    let policy = candidates.retry;
    // A route's attempts are its policy's; `provider/model` gets one per key (a 429 or
    // an auth failure moves on to the provider's next key).
    let budget = match policy {
        Some(policy) => policy.max_attempts as usize,
        None => candidates
            .list
            .first()
            .map_or(1, |candidate| candidate.upstream.key_count().max(1)),
    };
    let retries_on = |refusal: &Refusal<'_>| {
        refusal
            .retry_class()
            .is_some_and(|class| policy.is_some_and(|policy| policy.on.contains(&class)))
    };
    let mut log = AttemptLog::default();
    // The first failure is the one the client gets if no target serves the request:
    // the primary's answer says most about what went wrong.
    let mut primary: Option<Refusal<'g>> = None;
    let keep = |refusal: Refusal<'g>, primary: &mut Option<Refusal<'g>>| match primary {
        None => *primary = Some(refusal),
        // A later failure is counted here; the primary's is counted when it is answered.
        Some(_) => {
            let status = refusal.status(endpoint.dialect()).as_u16();
            refusal
                .series
                .finished(status, started.elapsed(), Some(refusal.reason));
        }
    };
    let mut position = 0;
    let mut number = 0;
    // Keys of the current target already tried (allocated only when a key rotates).
    let mut tried_keys: Vec<usize> = Vec::new();
    while number < budget {
        let Some(candidate) = candidates.list.get(position) else {
            break;
        };
        let key = candidate.upstream.choose_key(&tried_keys);
        let more_keys = key.is_some() && candidate.upstream.key_count() > tried_keys.len() + 1;
        let more_targets = policy.is_some() && position + 1 < candidates.list.len();
        let last = number + 1 == budget || !(more_keys || more_targets);
        if number > 0
            && let Some(policy) = policy
        {
            let wait = backoff(policy.backoff.get(), number);
            if Instant::now() + wait >= started + policy.deadline.get() {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        let may_retry = !last;
        // A provider's error is kept whole (not streamed on) when another target may
        // still serve, or when an earlier failure is the one to answer with.
        let hold = if may_retry || primary.is_some() {
            Hold::Errors
        } else {
            Hold::Nothing
        };
        // The first attempt of a hedged route races the next target if it is slow.
        let hedge = candidates
            .hedge
            .filter(|_| number == 0 && budget >= 2)
            .zip(candidates.list.get(position + 1));
        let result = match hedge {
            Some(((hedge, counters), second)) => {
                let delay = hedge_delay(&hedge, candidate);
                match race(&inbound, (candidate, key), second, delay).await {
                    Race::Alone(result) => result,
                    Race::Run {
                        first,
                        second: hedged,
                    } => {
                        number += 2;
                        position += 2;
                        let runs = [(candidate, first), (second, hedged)];
                        let mut served = None;
                        let mut retry = true;
                        for (index, (run_candidate, run)) in runs.into_iter().enumerate() {
                            let label = run_candidate.upstream.name.as_ref();
                            match run {
                                Run::Served(response) => {
                                    served = Some((index, label, run_candidate.model, response))
                                }
                                Run::Cancelled => {
                                    log.cancelled(label, run_candidate.model);
                                    run_candidate.series.get(endpoint).finished(
                                        499,
                                        started.elapsed(),
                                        Some("hedge_cancelled"),
                                    );
                                    if let Some(governor) = governor {
                                        let input = governance::estimate_input_tokens(
                                            endpoint,
                                            run_candidate.model,
                                            &body,
                                        );
                                        governor.charge_abandoned(
                                            caller.as_ref(),
                                            label,
                                            run_candidate.model,
                                            input,
                                        );
                                    }
                                }
                                Run::Failed(refusal, key) => {
                                    let status = refusal.status(endpoint.dialect()).as_u16();
                                    log.failed(label, run_candidate.model, status);
                                    rest_key_after(run_candidate, key, &refusal);
                                    retry = retries_on(&refusal);
                                    keep(*refusal, &mut primary);
                                }
                            }
                        }
                        match served {
                            Some((index, label, model, mut response)) => {
                                let counter = if index == 0 {
                                    &counters.first
                                } else {
                                    &counters.hedge
                                };
                                counter.increment(1);
                                let status = response.status().as_u16();
                                if let Some(attempts) = log.header(Some((label, model, status))) {
                                    response.headers_mut().insert(headers::ATTEMPTS, attempts);
                                }
                                return Ok(response);
                            }
                            None => {
                                counters.neither.increment(1);
                                tried_keys.clear();
                                if !retry {
                                    break;
                                }
                                continue;
                            }
                        }
                    }
                }
            }
            None => attempt(&inbound, candidate, key, hold).await,
        };
        number += 1;
        let label = candidate.upstream.name.as_ref();
        let model = candidate.model;
        match result {
            Ok(mut response) => {
                let served = (label, model, response.status().as_u16());
                if let Some(attempts) = log.header(Some(served)) {
                    response.headers_mut().insert(headers::ATTEMPTS, attempts);
                }
                return Ok(response);
            }
            Err(refusal) => {
                let status = refusal.status(endpoint.dialect()).as_u16();
                log.failed(label, model, status);
                let rotate = may_retry && more_keys && matches!(status, 401 | 403 | 429);
                rest_key_after(candidate, key, &refusal);
                let retryable = may_retry && more_targets && retries_on(&refusal);
                keep(refusal, &mut primary);
                if rotate && let Some(key) = key {
                    tried_keys.push(key);
                } else if retryable {
                    position += 1;
                    tried_keys.clear();
                } else {
                    break;
                }
            }
        }
    }
    match primary {
        Some(mut refusal) => {
            refusal.attempts = log.header(None);
            Err(refusal)
        }
        // Unreachable in practice: the loop makes at least one attempt.
        None => Err(Refusal::new(
            unrouted,
            ApiError::new(ErrorKind::Internal, "No attempt was made."),
            "no_attempt",
        )),
    }
}

/// A governance refusal (401, 402, 403, 429) in the client's envelope, with its headers.
fn denied<'g>(series: &'g Series, refusal: GovernanceRefusal) -> Refusal<'g> {
    let denial = governance::denial(refusal);
    let mut refusal = Refusal::new(series, denial.error, denial.reason);
    refusal.extra_headers = denial.headers;
    refusal
}

/// What an attempt holds back from the client until it knows the answer is good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hold {
    /// Nothing: the last attempt streams the provider's answer on, errors included.
    Nothing,
    /// Error answers (another target may serve) and a stream until its first byte.
    Errors,
    /// As `Errors`, and a stream until its first token: a hedge's race is to the token.
    FirstToken,
}

/// Whether a decoded stream event is the answer starting (or ending without content).
fn is_first_token(event: &StreamEvent) -> bool {
    match event {
        StreamEvent::TextDelta { text, .. } => !text.is_empty(),
        StreamEvent::ThinkingDelta { .. }
        | StreamEvent::ToolArgumentsDelta { .. }
        | StreamEvent::BlockStart {
            block: BlockKind::ToolCall { .. } | BlockKind::RedactedThinking { .. },
            ..
        }
        | StreamEvent::Finish { .. }
        | StreamEvent::Error(_)
        | StreamEvent::End => true,
        _ => false,
    }
}

/// What every attempt of one request shares.
struct Inbound<'g, 'r> {
    /// The governed call's admission, until the serving attempt takes it.
    admission: AdmissionSlot,
    endpoint: Endpoint,
    headers: &'r HeaderMap,
    started: Instant,
    metrics: &'g EndpointMetrics,
    /// `x-sluice-route-trace`, when asked for.
    route_trace: Option<HeaderValue>,
    peeked: &'r PeekedRequest<'r>,
    body: &'r Bytes,
}

/// One attempt at one candidate with one key: the request sent, the answer streamed on
/// or refused, and what the route target learns from it.
async fn attempt<'g>(
    inbound: &Inbound<'g, '_>,
    candidate: &ResolvedModel<'g, '_>,
    key: Option<usize>,
    hold: Hold,
) -> Result<Response, Refusal<'g>> {
    let endpoint = inbound.endpoint;
    let model = candidate.model;
    let exchange = Exchange {
        endpoint,
        upstream: candidate.upstream,
        series: candidate.series.get(endpoint),
        served_by: ServedBy {
            provider: candidate.provider_header.clone(),
            model: HeaderValue::from_str(model).ok(),
            route_trace: inbound.route_trace.clone(),
        },
        client_headers: inbound.headers,
        key,
        started: inbound.started,
        overhead: &inbound.metrics.overhead,
        in_flight: &inbound.metrics.in_flight,
        admission: &inbound.admission,
    };
    // The route target learns the outcome: from the response body when it streams on,
    // here when the answer was whole or refused.
    let mut target = candidate.lease().map(TargetOutcome::new);
    let body = inbound.body;
    let result = if exchange.upstream.dialect == endpoint.dialect() {
        pass_through(exchange, &mut target, hold, inbound.peeked, body, model).await
    } else {
        match endpoint {
            Endpoint::ChatCompletions | Endpoint::Messages => {
                translate_chat(exchange, &mut target, hold, body, model).await
            }
            Endpoint::Embeddings => translate_embeddings(exchange, body, model).await,
            Endpoint::CountTokens => translate_count_tokens(exchange, body, model).await,
        }
    };
    if let Some(target) = target {
        // With several keys, a 429 rests the key that got it, not the whole target.
        let several_keys = candidate.upstream.key_count() > 1;
        match &result {
            Ok(_) => target.finished(200, inbound.started.elapsed(), None),
            Err(refusal) => target.refused(
                refusal.reason,
                refusal.status(endpoint.dialect()),
                refusal.retry_after.as_ref().filter(|_| !several_keys),
            ),
        }
    }
    result
}

/// A 429 rests the key that got it until its `Retry-After` (a moment without one).
fn rest_key_after(candidate: &ResolvedModel<'_, '_>, key: Option<usize>, refusal: &Refusal<'_>) {
    if let Some(key) = key
        && refusal.status(Dialect::OpenAi) == StatusCode::TOO_MANY_REQUESTS
    {
        let wait = refusal
            .retry_after
            .as_ref()
            .and_then(retry_after_delay)
            .unwrap_or(Duration::from_secs(1));
        candidate.upstream.rest_key(key, Instant::now() + wait);
    }
}

/// How long the first attempt of a hedged route runs alone: the fixed delay, or its
/// target's recent p95 time to first token (`initial` until there are enough samples).
fn hedge_delay(hedge: &HedgeConfig, candidate: &ResolvedModel<'_, '_>) -> Duration {
    match hedge.delay {
        HedgeDelay::Fixed(delay) => delay.get(),
        HedgeDelay::P95 => candidate
            .target_state()
            .and_then(|state| state.first_token_percentile(0.95))
            .unwrap_or(hedge.initial.get()),
    }
}

/// How one of two racing attempts ended.
enum Run<'g> {
    Served(Response),
    Failed(Box<Refusal<'g>>, Option<usize>),
    /// The other attempt served first; this one was dropped mid-flight, which closes its
    /// upstream connection.
    Cancelled,
}

// Returned once per hedged request and matched at once: boxing the large variant would
// allocate in the common case (the first attempt answers within the delay).
#[allow(clippy::large_enum_variant)]
enum Race<'g> {
    /// The first attempt ended before the hedge delay: nothing was raced.
    Alone(Result<Response, Refusal<'g>>),
    /// Both started; at most one served.
    Run { first: Run<'g>, second: Run<'g> },
}

/// Runs the first attempt alone for `delay`, then races it against `second`: the first to
/// produce its first bytes (or its whole answer) serves and the other is cancelled; if one
/// fails, the other may still serve. Both hold their errors, so nothing reaches the client
/// until a winner is known.
async fn race<'g>(
    inbound: &Inbound<'g, '_>,
    (first, first_key): (&ResolvedModel<'g, '_>, Option<usize>),
    second: &ResolvedModel<'g, '_>,
    delay: Duration,
) -> Race<'g> {
    let first_run = attempt(inbound, first, first_key, Hold::FirstToken);
    tokio::pin!(first_run);
    tokio::select! {
        biased;
        result = &mut first_run => return Race::Alone(result),
        () = tokio::time::sleep(delay) => {}
    }
    let second_key = second.upstream.choose_key(&[]);
    let second_run = attempt(inbound, second, second_key, Hold::FirstToken);
    tokio::pin!(second_run);
    let ended = |result: Result<Response, Refusal<'g>>, key| match result {
        Ok(response) => Run::Served(response),
        Err(refusal) => Run::Failed(Box::new(refusal), key),
    };
    tokio::select! {
        result = &mut first_run => match result {
            Ok(response) => Race::Run { first: Run::Served(response), second: Run::Cancelled },
            Err(refusal) => Race::Run {
                first: Run::Failed(Box::new(refusal), first_key),
                second: ended(second_run.await, second_key),
            },
        },
        result = &mut second_run => match result {
            Ok(response) => Race::Run { first: Run::Cancelled, second: Run::Served(response) },
            Err(refusal) => Race::Run {
                first: ended(first_run.await, first_key),
                second: Run::Failed(Box::new(refusal), second_key),
            },
        },
    }
}

/// The failed attempts of a request, for `x-sluice-attempts`. Nothing is allocated
/// while the first attempt succeeds.
#[derive(Default)]
struct AttemptLog<'a> {
    /// Attempts that did not serve: their status, or `None` for a hedge's cancelled loser.
    failed: Vec<(&'a str, &'a str, Option<u16>)>,
}

impl<'a> AttemptLog<'a> {
    fn failed(&mut self, provider: &'a str, model: &'a str, status: u16) {
        self.failed.push((provider, model, Some(status)));
    }

    fn cancelled(&mut self, provider: &'a str, model: &'a str) {
        self.failed.push((provider, model, None));
    }

    /// `2 (a/m 503; b/m 200)`, with the last attempt's result if it answered; `None`
    /// after a single attempt (the header then says `1`).
    fn header(&self, served: Option<(&str, &str, u16)>) -> Option<HeaderValue> {
        let count = self.failed.len() + usize::from(served.is_some());
        if count < 2 {
            return None;
        }
        let entries: Vec<String> = self
            .failed
            .iter()
            .copied()
            .chain(served.map(|(provider, model, status)| (provider, model, Some(status))))
            .map(|(provider, model, status)| match status {
                Some(status) => format!("{provider}/{model} {status}"),
                None => format!("{provider}/{model} cancelled"),
            })
            .collect();
        HeaderValue::from_str(&format!("{count} ({})", entries.join("; "))).ok()
    }
}

/// The wait before attempt `number` (1 for the second): `base` doubled per attempt,
/// with full jitter so that clients failing together do not retry together.
fn backoff(base: Duration, number: usize) -> Duration {
    let exponent = u32::try_from(number.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(10);
    let ceiling = base.saturating_mul(1 << exponent);
    ceiling.mul_f64(fastrand::f64())
}

/// The trace as a header value (control characters, which labels could hold, leave it out).
fn trace_header(trace: &RouteTrace) -> Option<HeaderValue> {
    HeaderValue::from_str(&trace.to_string()).ok()
}

/// Same dialect on both sides: the body goes up with the model replaced, the answer
/// comes back frame by frame, neither re-serialised.
async fn pass_through<'g>(
    exchange: Exchange<'g, '_>,
    target: &mut Option<TargetOutcome>,
    hold: Hold,
    peeked: &PeekedRequest<'_>,
    body: &Bytes,
    model: &str,
) -> Result<Response, Refusal<'g>> {
    let dialect = exchange.endpoint.dialect();
    let forwarded: &[HeaderName] = match dialect {
        Dialect::Anthropic => &ANTHROPIC_FORWARDED,
        _ => &FORWARDED_HEADERS,
    };
    let mut upstream_request = peeked.with_model(body, model);
    // A governed OpenAI stream is charged what the provider counted: ask for the usage
    // chunk if the client did not (and take it out of the client's stream again).
    let mut filter_usage = false;
    if peeked.stream
        && exchange.endpoint == Endpoint::ChatCompletions
        && exchange.governed()
        && let Some(asked) = usage::ask_for_usage(&upstream_request)
    {
        upstream_request = asked;
        filter_usage = true;
    }
    let (upstream_parts, upstream_body, before_upstream) = exchange
        .send(
            exchange.endpoint.operation(peeked.stream),
            model,
            upstream_request,
            forwarded,
        )
        .await?;
    let answered = Instant::now();
    let status = upstream_parts.status;
    let sse = is_event_stream(&upstream_parts.headers);
    let may_move_on = status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::UNAUTHORIZED
        || status == StatusCode::FORBIDDEN
        || status.is_server_error();
    if hold != Hold::Nothing && may_move_on {
        // Another target may serve it: keep this answer whole, in case none does.
        let body = read_upstream(upstream_body, MAX_ERROR_BODY, exchange.deadline())
            .await
            .unwrap_or_default();
        let mut refusal = exchange.refuse(
            ApiError::new(
                ErrorKind::ProviderError,
                "The provider answered with an error.",
            )
            .with_status(status),
            "upstream_status",
        );
        refusal.retry_after = upstream_parts.headers.get(RETRY_AFTER).cloned();
        refusal.raw = Some(RawAnswer {
            status,
            headers: upstream_parts.headers,
            body,
        });
        return Err(refusal);
    }
    let mut upstream_body = upstream_body;
    let prefix = if hold != Hold::Nothing && sse && status.is_success() {
        Some(
            exchange
                .first_bytes(&mut upstream_body, hold, model)
                .await?,
        )
    } else {
        None
    };
    if let Some(target) = target.as_mut() {
        target.note_answer(status, &upstream_parts.headers);
    }
    let mut body = ProxiedBody::new(
        upstream_body,
        exchange.deadline(),
        Shape::Raw { sse, dialect },
        exchange.completion(
            status,
            target.take(),
            model,
            exchange.governed().then(|| UsageTap::new(dialect, sse)),
        ),
    );
    if let Some(prefix) = prefix {
        body = body.with_prefix(prefix);
    }
    if filter_usage && sse {
        body = body.with_usage_filter();
    }
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = status;
    copy_response_headers(&upstream_parts.headers, response.headers_mut());
    let overhead = before_upstream + answered.elapsed();
    Ok(exchange.respond(response, overhead, None))
}

/// A chat in one dialect served by a provider of another.
async fn translate_chat<'g>(
    exchange: Exchange<'g, '_>,
    target: &mut Option<TargetOutcome>,
    hold: Hold,
    body: &Bytes,
    model: &str,
) -> Result<Response, Refusal<'g>> {
    let client = exchange.endpoint.dialect();
    let provider = exchange.upstream.dialect;
    let request = codec::decode_request(client, body)
        .map_err(|err| exchange.refuse(err.to_api_error(), "invalid_request"))?;
    let encoded = codec::encode_request(exchange.upstream.kind, &request, model)
        .map_err(|err| exchange.refuse(err.to_api_error(), "untranslatable"))?;
    let dropped = dropped_header(&encoded.dropped);
    if !request.stream {
        let operation = Operation::Chat { stream: false };
        let (bytes, before_upstream) = exchange
            .send_for_whole(operation, model, encoded.body, MAX_ANSWER_BODY)
            .await?;
        let translating = Instant::now();
        let mut answer = codec::decode_response(provider, &bytes)
            .map_err(|err| exchange.refuse(err.to_api_error(), "upstream_invalid"))?;
        if answer.model.is_empty() {
            answer.model = model.to_string();
        }
        let json = codec::encode_response(client, &answer);
        // Reading the provider's body is upstream time; translating it is not.
        let overhead = before_upstream + translating.elapsed();
        let usage = Some(answer.usage).filter(|usage| usage.total_tokens() > 0);
        return Ok(exchange.respond_whole(json, overhead, dropped, model, usage));
    }

    let (parts, upstream_body, before_upstream) = exchange
        .send(
            Operation::Chat { stream: true },
            model,
            Bytes::from(encoded.body),
            &FORWARDED_HEADERS,
        )
        .await?;
    if !parts.status.is_success() {
        return Err(exchange.translated_error(&parts, upstream_body).await);
    }
    let mut upstream_body = upstream_body;
    let prefix = if hold != Hold::Nothing {
        Some(
            exchange
                .first_bytes(&mut upstream_body, hold, model)
                .await?,
        )
    } else {
        None
    };
    let answered = Instant::now();
    let translator = Translator::new(
        codec::stream_decoder(provider, model),
        codec::stream_encoder(client, stream_wants_usage(client, body)),
    );
    let mut body = ProxiedBody::new(
        upstream_body,
        exchange.deadline(),
        Shape::Translated(Box::new(translator)),
        exchange.completion(StatusCode::OK, target.take(), model, None),
    );
    if let Some(prefix) = prefix {
        body = body.with_prefix(prefix);
    }
    let mut response = Response::new(Body::new(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let overhead = before_upstream + answered.elapsed();
    Ok(exchange.respond(response, overhead, dropped))
}

/// Embeddings for an OpenAI client from a provider with its own embeddings format.
async fn translate_embeddings<'g>(
    exchange: Exchange<'g, '_>,
    body: &Bytes,
    model: &str,
) -> Result<Response, Refusal<'g>> {
    let request = codec::decode_embeddings_request(body)
        .map_err(|err| exchange.refuse(err.to_api_error(), "invalid_request"))?;
    let encoded = codec::encode_embeddings_request(exchange.upstream.kind, &request, model)
        .map_err(|err| exchange.refuse(err.to_api_error(), "untranslatable"))?;
    let dropped = dropped_header(&encoded.dropped);
    let (bytes, before_upstream) = exchange
        .send_for_whole(Operation::Embeddings, model, encoded.body, MAX_ANSWER_BODY)
        .await?;
    let translating = Instant::now();
    let mut answer = codec::decode_embeddings_response(exchange.upstream.kind, model, &bytes)
        .map_err(|err| exchange.refuse(err.to_api_error(), "upstream_invalid"))?;
    if answer.model.is_empty() {
        answer.model = model.to_string();
    }
    let json = codec::encode_embeddings_response(&answer, request.encoding_format.as_deref());
    let overhead = before_upstream + translating.elapsed();
    let usage = Usage {
        input_tokens: answer.input_tokens,
        ..Usage::default()
    };
    Ok(exchange.respond_whole(json, overhead, dropped, model, Some(usage)))
}

/// `POST /v1/messages/count_tokens` for a provider that counts tokens its own way.
async fn translate_count_tokens<'g>(
    exchange: Exchange<'g, '_>,
    body: &Bytes,
    model: &str,
) -> Result<Response, Refusal<'g>> {
    let request = codec::decode_count_tokens_request(body)
        .map_err(|err| exchange.refuse(err.to_api_error(), "invalid_request"))?;
    let encoded = codec::encode_count_tokens_request(exchange.upstream.kind, &request, model)
        .map_err(|err| exchange.refuse(err.to_api_error(), "untranslatable"))?;
    let (bytes, before_upstream) = exchange
        .send_for_whole(Operation::CountTokens, model, encoded, MAX_ERROR_BODY)
        .await?;
    let tokens = codec::decode_count_tokens_response(exchange.upstream.dialect, &bytes)
        .map_err(|err| exchange.refuse(err.to_api_error(), "upstream_invalid"))?;
    let json = codec::encode_count_tokens_response(tokens);
    // Counting tokens is free at every provider that offers it.
    Ok(exchange.respond_whole(json, before_upstream, None, model, Some(Usage::default())))
}

/// Whether an OpenAI client asked for usage in its stream (`stream_options`); an
/// Anthropic client always gets it.
fn stream_wants_usage(client: Dialect, body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Options {
        #[serde(default)]
        include_usage: bool,
    }
    #[derive(serde::Deserialize)]
    struct Head {
        stream_options: Option<Options>,
    }
    match client {
        Dialect::OpenAi => serde_json::from_slice::<Head>(body)
            .ok()
            .and_then(|head| head.stream_options)
            .is_some_and(|options| options.include_usage),
        _ => true,
    }
}

fn json_response(json: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(json));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `x-sluice-dropped-params: seed, top_k`, when a documented rule dropped parameters.
fn dropped_header(dropped: &[String]) -> Option<HeaderValue> {
    if dropped.is_empty() {
        return None;
    }
    HeaderValue::from_str(&dropped.join(", ")).ok()
}

fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"))
}

/// Reads a provider's whole body, at most `limit` bytes, before `deadline`.
async fn read_upstream(body: Incoming, limit: usize, deadline: Instant) -> Result<Bytes, ApiError> {
    let read = Limited::new(body, limit).collect();
    match tokio::time::timeout_at(deadline.into(), read).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if is_length_limit(err.as_ref()) => Err(ApiError::new(
            ErrorKind::UpstreamInvalid,
            format!(
                "The provider's answer is larger than this gateway translates ({limit} bytes)."
            ),
        )),
        Ok(Err(_)) => Err(ApiError::new(
            ErrorKind::UpstreamUnreachable,
            "The provider's connection broke before the response was complete.",
        )
        .with_code("upstream_stream_interrupted")),
        Err(_) => Err(ApiError::new(
            ErrorKind::UpstreamTimeout,
            "The provider did not finish the response within the gateway's total timeout.",
        )),
    }
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
