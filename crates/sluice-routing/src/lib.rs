//! Routes: how a requested model becomes a target (provider + upstream model).
//!
//! A model is addressed either by a route name from the config (one or more weighted
//! targets) or as `provider/model`, straight to that provider.
//!
//! A [`RoutePlan`] holds a route's targets with live state per target ([`TargetState`]: in flight, latency averages, `Retry-After`
//! rests, a [`Breaker`]), the [`Strategy`] that orders targets, and a [`TargetGate`]
//! through which governance can skip targets; [`RoutePlan::rank`] explains itself in a
//! [`RouteTrace`].
//!
//! An attempt loop over a plan, per request:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sluice_routing::*;
//!
//! let target = |provider, model: &str| Target { provider, model: model.into() };
//! let plan = RoutePlan::new(
//!     "chat",
//!     Strategy::Weighted,
//!     BreakerSettings::default(),
//!     vec![
//!         PlanTarget::new(target(0, "gpt-4o"), 70).with_label("openai/gpt-4o"),
//!         PlanTarget::new(target(1, "claude"), 30).with_label("anthropic/claude"),
//!     ],
//! )?;
//! let now = Instant::now();
//! let mut trace = RouteTrace::new();
//! for index in plan.rank(now, fastrand::u64(..), &NoGate, Some(&mut trace)) {
//!     let Some(state) = plan.state(index) else { continue };
//!     let _in_flight = state.begin(); // held across the upstream call
//!     // ... call the upstream; on 429 with Retry-After: state.rest_until(now + wait) ...
//!     state.record_success(Duration::from_millis(180), Some(Duration::from_millis(40)), now);
//!     break;
//! }
//! assert!(trace.to_string().starts_with("openai/gpt-4o=chosen(weight 70)"));
//! # Ok::<(), RouteError>(())
//! ```

mod breaker;
mod clock;
mod gate;
mod plan;
mod state;
mod strategy;
mod trace;
mod window;

use std::sync::Arc;

pub use breaker::{Admission, Breaker, BreakerSettings, CircuitState};
pub use gate::{NoGate, SkipReason, TargetGate};
pub use plan::{PlanTarget, Ranked, RoutePlan, TargetLease};
pub use state::{
    EWMA_ALPHA, FIRST_TOKEN_SAMPLES, InFlight, MIN_PERCENTILE_SAMPLES, TargetSnapshot, TargetState,
};
pub use strategy::{EXPLORE_INTERVAL, EXPLORE_PROBABILITY, MAX_SEQUENCE, Strategy};
pub use trace::{RouteTrace, Score, TraceEntry, TraceOutcome};
pub use window::Counts;

/// Index of a provider in the gateway's provider table.
pub type ProviderId = usize;

/// One place a request can be served: a provider and the model name it is sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub provider: ProviderId,
    pub model: Arc<str>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("route `{0}` has no target with a weight above zero")]
    NoUsableTarget(String),
    #[error("route `{route}`: {message}")]
    Invalid { route: String, message: String },
}
