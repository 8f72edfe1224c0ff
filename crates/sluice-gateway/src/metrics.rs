//! Prometheus metrics through the `metrics` facade. The recorder is process-wide (the
//! facade allows one), installed by the first gateway; every gateway renders from it.
//!
//! Every label set a request can be counted under is known at start (routes, advertised
//! models, `provider/*`), so the handles are registered once and the request path only
//! touches atomics: no label hashing or registry lookup per request.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::endpoint::Endpoint;
use metrics::{Counter, Gauge, Histogram, SharedString, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Seconds, from 10 µs (gateway overhead) to 10 minutes (long generations).
const BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

const REQUESTS: &str = "sluice_requests_total";
const ERRORS: &str = "sluice_request_errors_total";
const DURATION: &str = "sluice_request_duration_seconds";
const UPSTREAM_DURATION: &str = "sluice_upstream_duration_seconds";
const STREAM_FIRST_BYTE: &str = "sluice_stream_first_byte_seconds";
const OVERHEAD: &str = "sluice_overhead_seconds";
const IN_FLIGHT: &str = "sluice_requests_in_flight";
const TARGET_CIRCUIT_OPEN: &str = "sluice_target_circuit_open";
const TARGET_IN_FLIGHT: &str = "sluice_target_in_flight";
const HEDGES: &str = "sluice_hedges_total";
const PROVIDER_HEALTHY: &str = "sluice_provider_healthy";

/// Statuses whose series are kept ready; others are registered when they occur.
const COMMON_STATUSES: [u16; 15] = [
    200, 201, 400, 401, 403, 404, 405, 408, 413, 422, 429, 500, 502, 503, 504,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Renders the process-wide registry.
pub(crate) struct Registry {
    handle: Option<PrometheusHandle>,
}

impl Registry {
    /// Installs the recorder on first use.
    pub(crate) fn install() -> Self {
        let handle = HANDLE.get_or_init(install_recorder).clone();
        Self { handle }
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self) -> String {
        self.handle
            .as_ref()
            .map(PrometheusHandle::render)
            .unwrap_or_default()
    }
}

fn install_recorder() -> Option<PrometheusHandle> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_string()), BUCKETS)
        .ok()?
        .build_recorder();
    let handle = recorder.handle();
    // Fails only if another recorder was installed first; then we have nothing to render.
    metrics::set_global_recorder(recorder).ok()?;
    metrics::describe_counter!(
        REQUESTS,
        "Requests answered, by endpoint, route, provider and status."
    );
    metrics::describe_counter!(
        ERRORS,
        "Requests that failed, by endpoint, route, provider, status and reason."
    );
    metrics::describe_histogram!(
        DURATION,
        metrics::Unit::Seconds,
        "Time from request to the end of the response body or stream."
    );
    metrics::describe_histogram!(
        UPSTREAM_DURATION,
        metrics::Unit::Seconds,
        "Time the provider took to send its response headers."
    );
    metrics::describe_histogram!(
        STREAM_FIRST_BYTE,
        metrics::Unit::Seconds,
        "Time from request to the first byte of a streamed response."
    );
    metrics::describe_histogram!(
        OVERHEAD,
        metrics::Unit::Seconds,
        "Time spent inside the gateway, upstream waiting excluded."
    );
    metrics::describe_gauge!(IN_FLIGHT, "Requests being served, streams included.");
    metrics::describe_counter!(
        HEDGES,
        "Hedged requests (a second target started while the first was slow), by route and by which attempt served: first, hedge or neither."
    );
    metrics::describe_gauge!(
        PROVIDER_HEALTHY,
        "1 while a provider passes its active health checks, 0 while its route targets are skipped."
    );
    Some(handle)
}

/// Per-endpoint handles that carry no route label.
pub(crate) struct EndpointMetrics {
    pub in_flight: Gauge,
    pub overhead: Histogram,
    /// Requests refused before a route was known (bad JSON, unknown model, …).
    pub unrouted: Arc<Series>,
}

impl EndpointMetrics {
    pub(crate) fn new(endpoint: Endpoint) -> Self {
        let label = endpoint.label();
        Self {
            in_flight: gauge!(IN_FLIGHT, "endpoint" => label),
            overhead: histogram!(OVERHEAD, "endpoint" => label),
            unrouted: Arc::new(Series::new(endpoint, "", "")),
        }
    }
}

/// One request counted in `sluice_requests_in_flight` until this is dropped: when the
/// body ends, when the request is refused, or when the client goes away mid-request and
/// the handler's future is dropped.
pub(crate) struct InFlight(Gauge);

impl InFlight {
    pub(crate) fn enter(gauge: &Gauge) -> Self {
        gauge.increment(1.0);
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The series of one (endpoint, route label, provider).
pub(crate) struct Series {
    endpoint: &'static str,
    route: SharedString,
    provider: SharedString,
    stream_first_byte: Histogram,
    by_status: [OnceLock<StatusSeries>; COMMON_STATUSES.len()],
}

struct StatusSeries {
    requests: Counter,
    duration: Histogram,
    upstream: Histogram,
}

impl Series {
    pub(crate) fn new(endpoint: Endpoint, route: &str, provider: &str) -> Self {
        let route = SharedString::from(route.to_string());
        let provider = SharedString::from(provider.to_string());
        Self {
            endpoint: endpoint.label(),
            stream_first_byte: histogram!(STREAM_FIRST_BYTE, "route" => route.clone(), "provider" => provider.clone()),
            route,
            provider,
            by_status: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    fn register(&self, status: u16) -> StatusSeries {
        let status = SharedString::from(status.to_string());
        let (endpoint, route, provider) =
            (self.endpoint, self.route.clone(), self.provider.clone());
        StatusSeries {
            requests: counter!(REQUESTS, "endpoint" => endpoint, "route" => route.clone(), "provider" => provider.clone(), "status" => status.clone()),
            duration: histogram!(DURATION, "endpoint" => endpoint, "route" => route, "provider" => provider.clone(), "status" => status.clone()),
            upstream: histogram!(UPSTREAM_DURATION, "provider" => provider, "status" => status),
        }
    }

    fn with_status(&self, status: u16, use_series: impl FnOnce(&StatusSeries)) {
        match COMMON_STATUSES.iter().position(|&common| common == status) {
            Some(slot) => use_series(self.by_status[slot].get_or_init(|| self.register(status))),
            None => use_series(&self.register(status)),
        }
    }

    pub(crate) fn upstream_answered(&self, status: u16, elapsed: Duration) {
        self.with_status(status, |series| series.upstream.record(elapsed));
    }

    pub(crate) fn stream_first_byte(&self, elapsed: Duration) {
        self.stream_first_byte.record(elapsed);
    }

    /// A request is over: count it, time it, and count it as an error with `reason` if any.
    pub(crate) fn finished(
        &self,
        status: u16,
        elapsed: Duration,
        error_reason: Option<&'static str>,
    ) {
        self.with_status(status, |series| {
            series.requests.increment(1);
            series.duration.record(elapsed);
        });
        if let Some(reason) = error_reason {
            // Errors are off the fast path; the macro's registry lookup is fine here.
            counter!(ERRORS, "endpoint" => self.endpoint, "route" => self.route.clone(), "provider" => self.provider.clone(), "status" => status.to_string(), "reason" => reason)
                .increment(1);
        }
    }
}

/// Every endpoint's series for one (route label, provider).
pub(crate) struct EndpointSeries([Arc<Series>; Endpoint::ALL.len()]);

impl EndpointSeries {
    pub(crate) fn new(route: &str, provider: &str) -> Self {
        Self(Endpoint::ALL.map(|endpoint| Arc::new(Series::new(endpoint, route, provider))))
    }

    pub(crate) fn get(&self, endpoint: Endpoint) -> &Arc<Series> {
        &self.0[endpoint as usize]
    }
}

/// The live state of one route target, refreshed from its state when `/metrics` is read.
pub(crate) struct TargetGauges {
    /// 1 while the circuit is open or half-open, 0 when closed.
    pub circuit_open: Gauge,
    pub in_flight: Gauge,
}

impl TargetGauges {
    pub(crate) fn new(route: &str, target: &str) -> Self {
        let (route, target) = (route.to_string(), target.to_string());
        Self {
            circuit_open: gauge!(TARGET_CIRCUIT_OPEN, "route" => route.clone(), "target" => target.clone()),
            in_flight: gauge!(TARGET_IN_FLIGHT, "route" => route, "target" => target),
        }
    }
}

/// Hedged requests of one route, by which attempt served.
pub(crate) struct HedgeCounters {
    pub first: Counter,
    pub hedge: Counter,
    pub neither: Counter,
}

impl HedgeCounters {
    pub(crate) fn new(route: &str) -> Self {
        let route = route.to_string();
        Self {
            first: counter!(HEDGES, "route" => route.clone(), "winner" => "first"),
            hedge: counter!(HEDGES, "route" => route.clone(), "winner" => "hedge"),
            neither: counter!(HEDGES, "route" => route, "winner" => "neither"),
        }
    }
}

/// `sluice_provider_healthy{provider}`, for a provider with active health checks.
pub(crate) fn provider_health_gauge(provider: &str) -> Gauge {
    gauge!(PROVIDER_HEALTHY, "provider" => provider.to_string())
}
