//! [`RoutePlan`]: a route's targets with their live state and strategy; the gateway asks
//! it, per request, where to go first ([`RoutePlan::pick`]) or in what order to try
//! ([`RoutePlan::rank`]).

use std::sync::Arc;
use std::time::Instant;

use crate::breaker::{Admission, BreakerSettings};
use crate::clock;
use crate::gate::{SkipReason, TargetGate};
use crate::state::{TargetSnapshot, TargetState};
use crate::strategy::{Pool, Selector, Strategy};
use crate::trace::{RouteTrace, TraceEntry, TraceOutcome};
use crate::{RouteError, Target};

/// One target as configured for a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanTarget {
    pub target: Target,
    /// Share of traffic (weighted) and tie-break (cost); 0 turns the target off.
    pub weight: u32,
    /// USD per million tokens, for the cost strategy.
    pub cost: Option<f64>,
    /// Name in traces; `provider#N/model` when unset.
    pub label: Option<Arc<str>>,
}

impl PlanTarget {
    pub fn new(target: Target, weight: u32) -> Self {
        PlanTarget {
            target,
            weight,
            cost: None,
            label: None,
        }
    }

    pub fn with_cost(mut self, usd_per_million_tokens: f64) -> Self {
        self.cost = Some(usd_per_million_tokens);
        self
    }

    pub fn with_label(mut self, label: impl Into<Arc<str>>) -> Self {
        self.label = Some(label.into());
        self
    }
}

/// Targets in the order to try them: the chosen one first, then the fallbacks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ranked {
    indices: Vec<usize>,
}

impl Ranked {
    pub fn first(&self) -> Option<usize> {
        self.indices.first().copied()
    }

    pub fn as_slice(&self) -> &[usize] {
        &self.indices
    }

    pub fn len(&self) -> usize {
        self.indices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.indices.iter().copied()
    }
}

impl IntoIterator for Ranked {
    type Item = usize;
    type IntoIter = std::vec::IntoIter<usize>;

    fn into_iter(self) -> Self::IntoIter {
        self.indices.into_iter()
    }
}

#[derive(Debug)]
pub struct RoutePlan {
    name: Arc<str>,
    targets: Vec<Target>,
    weights: Vec<u32>,
    labels: Vec<Arc<str>>,
    states: Vec<TargetState>,
    selector: Selector,
}

/// The plan as seen at `now` through a gate: health first (cheap atomics), the gate last.
struct LivePool<'a> {
    plan: &'a RoutePlan,
    now_nanos: u64,
    gate: &'a dyn TargetGate,
}

impl Pool for LivePool<'_> {
    fn len(&self) -> usize {
        self.plan.targets.len()
    }

    fn weight(&self, index: usize) -> u32 {
        self.plan.weights[index]
    }

    fn state(&self, index: usize) -> &TargetState {
        &self.plan.states[index]
    }

    fn now_nanos(&self) -> u64 {
        self.now_nanos
    }

    fn admit(&self, index: usize) -> Result<Admission, SkipReason> {
        self.plan.admit(index, self.now_nanos, self.gate)
    }
}

impl RoutePlan {
    pub fn new(
        name: &str,
        strategy: Strategy,
        settings: BreakerSettings,
        targets: Vec<PlanTarget>,
    ) -> Result<RoutePlan, RouteError> {
        let invalid = |message: String| RouteError::Invalid {
            route: name.to_string(),
            message,
        };
        if !(0.0..=1.0).contains(&settings.error_rate) {
            return Err(invalid(format!(
                "breaker error rate {} is not between 0 and 1",
                settings.error_rate
            )));
        }
        if let Some(bad) = targets
            .iter()
            .find(|t| t.cost.is_some_and(|cost| !cost.is_finite() || cost < 0.0))
        {
            return Err(invalid(format!(
                "target `{}` has an invalid cost",
                bad.target.model
            )));
        }
        let weights: Vec<u32> = targets.iter().map(|t| t.weight).collect();
        let costs = targets.iter().map(|t| t.cost).collect();
        let selector = Selector::new(strategy, &weights, costs)
            .ok_or_else(|| RouteError::NoUsableTarget(name.to_string()))?;
        let labels = targets
            .iter()
            .map(|t| {
                t.label.clone().unwrap_or_else(|| {
                    format!("provider#{}/{}", t.target.provider, t.target.model).into()
                })
            })
            .collect();
        let states = targets.iter().map(|_| TargetState::new(settings)).collect();
        Ok(RoutePlan {
            name: name.into(),
            targets: targets.into_iter().map(|t| t.target).collect(),
            weights,
            labels,
            states,
            selector,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn strategy(&self) -> Strategy {
        self.selector.strategy()
    }

    /// Whether any target has a `cost`: the cost strategy has something to rank by.
    pub fn has_costs(&self) -> bool {
        (0..self.targets.len()).any(|index| self.selector.cost(index).is_some())
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn weight(&self, index: usize) -> Option<u32> {
        self.weights.get(index).copied()
    }

    pub fn label(&self, index: usize) -> Option<&str> {
        self.labels.get(index).map(|label| &**label)
    }

    /// Live state of a target: begin an attempt, record its outcome or a `Retry-After`.
    pub fn state(&self, index: usize) -> Option<&TargetState> {
        self.states.get(index)
    }

    pub fn states(&self) -> &[TargetState] {
        &self.states
    }

    /// Every target's state, in config order, for the admin API.
    pub fn snapshot(&self, now: Instant) -> Vec<TargetSnapshot> {
        self.states
            .iter()
            .map(|state| state.snapshot(now))
            .collect()
    }

    /// Why target `index` may not take a request at `now`, `None` when it may. An index
    /// past the end reports `ZeroWeight`: no such target takes traffic.
    pub fn check(&self, index: usize, now: Instant, gate: &dyn TargetGate) -> Option<SkipReason> {
        if index >= self.targets.len() {
            return Some(SkipReason::ZeroWeight);
        }
        self.admit(index, clock::to_nanos(now), gate).err()
    }

    fn admit(
        &self,
        index: usize,
        now_nanos: u64,
        gate: &dyn TargetGate,
    ) -> Result<Admission, SkipReason> {
        if self.weights[index] == 0 {
            return Err(SkipReason::ZeroWeight);
        }
        let state = &self.states[index];
        let admission = state.admission_at(now_nanos);
        if admission == Admission::Refused {
            return Err(SkipReason::CircuitOpen);
        }
        if let Some(until) = state.resting_at(now_nanos).and_then(clock::from_nanos) {
            return Err(SkipReason::Resting { until });
        }
        match gate.check(index, &self.targets[index]) {
            Some(reason) => Err(reason),
            None => Ok(admission),
        }
    }

    /// The chosen target, claiming the half-open probe when it needs one; a request that
    /// loses the probe to another chooses again (the target now refuses it, so this ends
    /// within one round per target).
    fn choose(
        &self,
        strategy: Strategy,
        pool: &LivePool<'_>,
        rng: &mut fastrand::Rng,
    ) -> Option<usize> {
        for _ in 0..=self.targets.len() {
            let index = self.selector.pick(strategy, pool, rng)?;
            // Re-read the breaker, not the earlier admission: another request may have
            // claimed the probe since. Closed costs one atomic load.
            if self.states[index].breaker().claim_probe_at(pool.now_nanos) {
                return Some(index);
            }
        }
        None
    }

    /// The target a request goes to first, `None` when every target is skipped. The hot
    /// path: no allocation, no lock. `draw` is a uniform random `u64` (from
    /// `fastrand::u64(..)` in production, fixed in tests).
    pub fn pick(&self, now: Instant, draw: u64, gate: &dyn TargetGate) -> Option<usize> {
        let pool = LivePool {
            plan: self,
            now_nanos: clock::to_nanos(now),
            gate,
        };
        self.choose(self.strategy(), &pool, &mut fastrand::Rng::with_seed(draw))
    }

    /// Every allowed target: [`RoutePlan::pick`]'s choice first, then the others in the
    /// strategy's fallback order. Fallbacks are only targets with a closed circuit (a
    /// half-open probe goes to a chosen target only). With `trace`, records each target's
    /// score and why it was chosen, kept or skipped.
    pub fn rank(
        &self,
        now: Instant,
        draw: u64,
        gate: &dyn TargetGate,
        trace: Option<&mut RouteTrace>,
    ) -> Ranked {
        self.rank_as(self.strategy(), now, draw, gate, trace)
    }

    /// [`RoutePlan::rank`] by another strategy than the route's (a request's override).
    /// The weighted cursor and the latency averages are shared, so an override neither
    /// resets nor skews what the route's own strategy sees.
    pub fn rank_as(
        &self,
        strategy: Strategy,
        now: Instant,
        draw: u64,
        gate: &dyn TargetGate,
        trace: Option<&mut RouteTrace>,
    ) -> Ranked {
        let pool = LivePool {
            plan: self,
            now_nanos: clock::to_nanos(now),
            gate,
        };
        let first = self.choose(strategy, &pool, &mut fastrand::Rng::with_seed(draw));
        let mut indices = Vec::with_capacity(self.targets.len());
        indices.extend(first);
        self.selector
            .fallbacks(strategy, &pool, first, &mut indices);
        if let Some(trace) = trace {
            trace.clear();
            for (position, &index) in indices.iter().enumerate() {
                trace.push(TraceEntry {
                    index,
                    label: self.labels[index].clone(),
                    score: self.selector.score(strategy, &pool, index),
                    outcome: if position == 0 && first.is_some() {
                        TraceOutcome::Chosen
                    } else {
                        TraceOutcome::Fallback(position)
                    },
                });
            }
            for index in (0..self.targets.len()).filter(|i| !indices.contains(i)) {
                // Allowed but left out: a half-open target whose probe is not ours.
                let reason = pool.admit(index).err().unwrap_or(SkipReason::CircuitOpen);
                trace.push(TraceEntry {
                    index,
                    label: self.labels[index].clone(),
                    score: None,
                    outcome: TraceOutcome::Skipped(reason),
                });
            }
        }
        Ranked { indices }
    }
}

/// One request at one target of a shared plan, counted in flight until dropped. Unlike
/// [`crate::InFlight`] it owns its plan, so it can travel with a response body.
#[derive(Debug)]
pub struct TargetLease {
    plan: std::sync::Arc<RoutePlan>,
    index: usize,
}

impl TargetLease {
    /// `None` when `index` is not a target of the plan.
    pub fn new(plan: &std::sync::Arc<RoutePlan>, index: usize) -> Option<TargetLease> {
        plan.state(index)?.enter();
        Some(TargetLease {
            plan: std::sync::Arc::clone(plan),
            index,
        })
    }

    pub fn index(&self) -> usize {
        self.index
    }

    pub fn plan(&self) -> &RoutePlan {
        &self.plan
    }

    pub fn state(&self) -> &TargetState {
        // The index was checked when the lease was made, and targets never change.
        &self.plan.states()[self.index]
    }
}

impl Drop for TargetLease {
    fn drop(&mut self) {
        self.state().leave();
    }
}
