//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

use sluice_routing::{BreakerSettings, PlanTarget, RoutePlan, Strategy, Target};

pub fn target(provider: usize, model: &str, weight: u32) -> PlanTarget {
    PlanTarget::new(
        Target {
            provider,
            model: model.into(),
        },
        weight,
    )
    .with_label(format!("p{provider}/{model}"))
}

/// Opens after 3 failures in a row; 10 s cool-down.
pub fn settings() -> BreakerSettings {
    BreakerSettings {
        consecutive_failures: 3,
        cool_down: Duration::from_secs(10),
        ..BreakerSettings::default()
    }
}

pub fn plan(strategy: Strategy, targets: Vec<PlanTarget>) -> RoutePlan {
    RoutePlan::new("test", strategy, settings(), targets).expect("valid plan")
}

/// Fails target `index` until its circuit opens.
pub fn trip(plan: &RoutePlan, index: usize, now: std::time::Instant) {
    let state = plan.state(index).expect("target");
    for _ in 0..settings().consecutive_failures {
        state.record_failure(now);
    }
}
