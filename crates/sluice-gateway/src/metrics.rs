//! Prometheus metrics through the `metrics` facade. The recorder is process-wide (the
//! facade allows one), installed by the first gateway; every gateway renders from it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{SharedString, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Seconds, from 10 µs (gateway overhead) to 10 minutes (long generations).
const BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

pub(crate) const REQUESTS: &str = "sluice_requests_total";
pub(crate) const ERRORS: &str = "sluice_request_errors_total";
pub(crate) const DURATION: &str = "sluice_request_duration_seconds";
pub(crate) const UPSTREAM_DURATION: &str = "sluice_upstream_duration_seconds";
pub(crate) const STREAM_FIRST_BYTE: &str = "sluice_stream_first_byte_seconds";
pub(crate) const OVERHEAD: &str = "sluice_overhead_seconds";
pub(crate) const IN_FLIGHT: &str = "sluice_requests_in_flight";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The gateway's view of the metrics registry.
pub(crate) struct Metrics {
    handle: Option<PrometheusHandle>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let handle = HANDLE.get_or_init(install).clone();
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

fn install() -> Option<PrometheusHandle> {
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
    Some(handle)
}

/// Labels of one request, known once the model is resolved.
#[derive(Clone)]
pub(crate) struct RequestLabels {
    pub endpoint: &'static str,
    pub route: SharedString,
    pub provider: SharedString,
}

impl RequestLabels {
    pub(crate) fn unrouted(endpoint: &'static str) -> Self {
        Self {
            endpoint,
            route: SharedString::const_str(""),
            provider: SharedString::const_str(""),
        }
    }
}

pub(crate) fn in_flight(endpoint: &'static str, delta: f64) {
    gauge!(IN_FLIGHT, "endpoint" => endpoint).increment(delta);
}

pub(crate) fn upstream_answered(provider: &SharedString, status: u16, elapsed: Duration) {
    histogram!(UPSTREAM_DURATION, "provider" => provider.clone(), "status" => status_label(status))
        .record(elapsed);
}

pub(crate) fn overhead(endpoint: &'static str, overhead: Duration) {
    histogram!(OVERHEAD, "endpoint" => endpoint).record(overhead);
}

pub(crate) fn stream_first_byte(labels: &RequestLabels, elapsed: Duration) {
    histogram!(STREAM_FIRST_BYTE, "route" => labels.route.clone(), "provider" => labels.provider.clone())
        .record(elapsed);
}

/// A request is over: count it, time it, and count it as an error with `reason` if any.
pub(crate) fn finished(
    labels: &RequestLabels,
    status: u16,
    elapsed: Duration,
    error_reason: Option<&'static str>,
) {
    let status = status_label(status);
    counter!(REQUESTS, "endpoint" => labels.endpoint, "route" => labels.route.clone(), "provider" => labels.provider.clone(), "status" => status.clone())
        .increment(1);
    histogram!(DURATION, "endpoint" => labels.endpoint, "route" => labels.route.clone(), "provider" => labels.provider.clone(), "status" => status.clone())
        .record(elapsed);
    if let Some(reason) = error_reason {
        counter!(ERRORS, "endpoint" => labels.endpoint, "route" => labels.route.clone(), "provider" => labels.provider.clone(), "status" => status, "reason" => reason)
            .increment(1);
    }
}

/// Status codes as label values without allocating for the common ones.
fn status_label(status: u16) -> SharedString {
    let text = match status {
        200 => "200",
        201 => "201",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        413 => "413",
        422 => "422",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        other => return SharedString::from(other.to_string()),
    };
    SharedString::const_str(text)
}
