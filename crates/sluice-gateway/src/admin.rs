//! `GET /admin/routes`: every route target with its live state (circuit, latency
//! averages, requests in flight, error rate, rest), the view an operator needs when
//! traffic moves. Read-only; the admin API's authentication arrives with governance.

use std::time::{Duration, Instant};

use serde::Serialize;
use sluice_routing::CircuitState;

use crate::gateway::Gateway;

#[derive(Serialize)]
struct Routes<'a> {
    routes: Vec<RouteView<'a>>,
}

#[derive(Serialize)]
struct RouteView<'a> {
    name: &'a str,
    strategy: &'static str,
    targets: Vec<TargetView<'a>>,
}

#[derive(Serialize)]
struct TargetView<'a> {
    target: &'a str,
    weight: u32,
    /// `closed`, `open` or `half_open`.
    circuit: &'static str,
    /// While open: milliseconds until a probe may pass.
    reopens_in_ms: Option<u128>,
    in_flight: u32,
    /// Failures over outcomes within the breaker's window.
    error_rate: f64,
    ewma_first_token_ms: Option<f64>,
    ewma_total_ms: Option<f64>,
    /// While resting after a `Retry-After`: milliseconds left.
    resting_for_ms: Option<u128>,
    /// The provider's active health checks: `passing` or `failing` (absent without checks).
    health_check: Option<&'static str>,
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The routes and their targets' state now, as JSON.
pub(crate) fn routes_json(gateway: &Gateway) -> Vec<u8> {
    let now = Instant::now();
    let mut routes: Vec<RouteView> = gateway
        .routes()
        .map(|(name, entry)| {
            let plan = &entry.plan;
            let targets = plan
                .snapshot(now)
                .into_iter()
                .enumerate()
                .map(|(index, snapshot)| {
                    let (circuit, reopens_in_ms) = match snapshot.circuit {
                        CircuitState::Closed => ("closed", None),
                        CircuitState::Open { until } => (
                            "open",
                            Some(until.saturating_duration_since(now).as_millis()),
                        ),
                        CircuitState::HalfOpen => ("half_open", None),
                    };
                    TargetView {
                        target: plan.label(index).unwrap_or_default(),
                        weight: plan.weight(index).unwrap_or_default(),
                        circuit,
                        reopens_in_ms,
                        in_flight: snapshot.in_flight,
                        error_rate: snapshot.error_rate,
                        ewma_first_token_ms: snapshot.ewma_first_token.map(millis),
                        ewma_total_ms: snapshot.ewma_total.map(millis),
                        resting_for_ms: snapshot
                            .resting_until
                            .map(|until| until.saturating_duration_since(now).as_millis()),
                        health_check: plan
                            .targets()
                            .get(index)
                            .and_then(|target| gateway.health.get(target.provider))
                            .and_then(|health| health.status()),
                    }
                })
                .collect();
            RouteView {
                name,
                strategy: plan.strategy().name(),
                targets,
            }
        })
        .collect();
    routes.sort_by(|a, b| a.name.cmp(b.name));
    serde_json::to_vec(&Routes { routes }).unwrap_or_default()
}

/// Copies each target's circuit and in-flight count into its gauges, before `/metrics`
/// renders them.
pub(crate) fn refresh_target_gauges(gateway: &Gateway) {
    let now = Instant::now();
    for (_, entry) in gateway.routes() {
        for (snapshot, gauges) in entry.plan.snapshot(now).iter().zip(&entry.gauges) {
            let open = !matches!(snapshot.circuit, CircuitState::Closed);
            gauges.circuit_open.set(if open { 1.0 } else { 0.0 });
            gauges.in_flight.set(f64::from(snapshot.in_flight));
        }
    }
}
