//! Strategies: which allowed target a request goes to first, and in what order the others
//! follow if it fails.
//!
//! A [`Selector`] holds what a strategy precomputes from the config (the weighted
//! round-robin sequence, orders by weight and by price); the live state comes through a
//! [`Pool`], which also says which targets are allowed right now.

use std::cmp::Ordering as Cmp;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sluice_core::weighted::WeightedChoice;

use crate::breaker::Admission;
use crate::gate::SkipReason;
use crate::state::TargetState;
use crate::trace::Score;

/// How a route orders its targets: the config's own enum, so the two cannot drift.
pub use sluice_core::config::RouteStrategy as Strategy;

/// Longest weighted round-robin sequence kept; beyond it picks are random by weight.
pub const MAX_SEQUENCE: usize = 4096;
/// A latency target unsampled for this long is tried again, so recovery is noticed.
pub const EXPLORE_INTERVAL: Duration = Duration::from_secs(5);
/// Share of latency picks sent to a uniformly random allowed target.
pub const EXPLORE_PROBABILITY: f64 = 0.02;

/// The selector's view of a route's targets at one instant.
pub(crate) trait Pool {
    fn len(&self) -> usize;
    fn weight(&self, index: usize) -> u32;
    fn state(&self, index: usize) -> &TargetState;
    /// The instant of this pick in epoch nanoseconds.
    fn now_nanos(&self) -> u64;
    /// Whether the target may take a request now; `Ok(Admission::Probe)` only as the
    /// half-open probe.
    fn admit(&self, index: usize) -> Result<Admission, SkipReason>;

    fn allowed(&self, index: usize) -> bool {
        self.admit(index).is_ok()
    }
}

#[derive(Debug)]
pub(crate) struct Selector {
    strategy: Strategy,
    /// Smooth weighted round-robin order, or `None` when it would be too long.
    sequence: Option<Vec<u32>>,
    cursor: AtomicUsize,
    choice: WeightedChoice,
    /// Targets with a weight, heaviest first (ties in config order).
    by_weight: Vec<usize>,
    /// Targets with a weight, cheapest first, unpriced last, ties by weight.
    by_cost: Vec<usize>,
    costs: Vec<Option<f64>>,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The nginx smooth weighted round-robin order over weights reduced by their gcd: each
/// step every target gains its weight, the richest is chosen and pays the total.
fn swrr_sequence(weights: &[u32]) -> Option<Vec<u32>> {
    let divisor = weights.iter().fold(0, |acc, &w| gcd(acc, u64::from(w)));
    if divisor == 0 {
        return None;
    }
    let reduced: Vec<i64> = weights
        .iter()
        .map(|&w| (u64::from(w) / divisor) as i64)
        .collect();
    let total: i64 = reduced.iter().sum();
    if total as usize > MAX_SEQUENCE {
        return None;
    }
    let mut current = vec![0i64; reduced.len()];
    let mut sequence = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (index, weight) in reduced.iter().enumerate() {
            current[index] += weight;
            if current[index] > current[best] {
                best = index;
            }
        }
        current[best] -= total;
        sequence.push(best as u32);
    }
    Some(sequence)
}

fn price_order(a: Option<f64>, b: Option<f64>) -> Cmp {
    match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        (Some(_), None) => Cmp::Less,
        (None, Some(_)) => Cmp::Greater,
        (None, None) => Cmp::Equal,
    }
}

/// Latency times (1 + in flight), comparable across targets; `None` before a sample.
fn load_score(state: &TargetState) -> Option<u128> {
    state
        .latency_nanos()
        .map(|nanos| u128::from(nanos) * (1 + u128::from(state.in_flight())))
}

impl Selector {
    /// `None` when no weight is above zero.
    pub(crate) fn new(
        strategy: Strategy,
        weights: &[u32],
        costs: Vec<Option<f64>>,
    ) -> Option<Self> {
        let choice = WeightedChoice::new(weights.iter().copied())?;
        let mut by_weight: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0).collect();
        by_weight.sort_by_key(|&i| std::cmp::Reverse(weights[i]));
        let mut by_cost = by_weight.clone();
        by_cost.sort_by(|&a, &b| price_order(costs[a], costs[b]).then(weights[b].cmp(&weights[a])));
        Some(Selector {
            strategy,
            sequence: swrr_sequence(weights),
            cursor: AtomicUsize::new(0),
            choice,
            by_weight,
            by_cost,
            costs,
        })
    }

    pub(crate) fn strategy(&self) -> Strategy {
        self.strategy
    }

    pub(crate) fn cost(&self, index: usize) -> Option<f64> {
        self.costs.get(index).copied().flatten()
    }

    /// The first target for a request by `strategy` (the route's own, or a request's
    /// override: every strategy's precomputed orders are kept), or `None` when none is
    /// allowed. Allocates nothing.
    pub(crate) fn pick(
        &self,
        strategy: Strategy,
        pool: &impl Pool,
        rng: &mut fastrand::Rng,
    ) -> Option<usize> {
        match strategy {
            Strategy::Weighted => self.pick_weighted(pool, rng),
            Strategy::Priority => (0..pool.len()).find(|&i| pool.allowed(i)),
            Strategy::Latency => pick_latency(pool, rng),
            Strategy::LeastBusy => pick_least_busy(pool, rng),
            Strategy::Cost => self.by_cost.iter().copied().find(|&i| pool.allowed(i)),
        }
    }

    fn pick_weighted(&self, pool: &impl Pool, rng: &mut fastrand::Rng) -> Option<usize> {
        let chosen = match &self.sequence {
            Some(sequence) => {
                // One shared cursor: concurrent requests take consecutive slots.
                let slot = self.cursor.fetch_add(1, Ordering::Relaxed) % sequence.len();
                sequence[slot] as usize
            }
            None => self.choice.pick(rng.u64(..)),
        };
        if pool.allowed(chosen) {
            return Some(chosen);
        }
        self.by_weight.iter().copied().find(|&i| pool.allowed(i))
    }

    /// The allowed targets other than `first`, in this strategy's fallback order, onto
    /// `out`. Only targets whose circuit is closed: a half-open probe goes only to a chosen
    /// target.
    pub(crate) fn fallbacks(
        &self,
        strategy: Strategy,
        pool: &impl Pool,
        first: Option<usize>,
        out: &mut Vec<usize>,
    ) {
        let keep = |i: usize| Some(i) != first && pool.admit(i) == Ok(Admission::Closed);
        let start = out.len();
        match strategy {
            Strategy::Weighted => out.extend(self.by_weight.iter().copied().filter(|&i| keep(i))),
            Strategy::Priority => out.extend((0..pool.len()).filter(|&i| keep(i))),
            Strategy::Cost => out.extend(self.by_cost.iter().copied().filter(|&i| keep(i))),
            Strategy::LeastBusy => {
                out.extend((0..pool.len()).filter(|&i| keep(i)));
                out[start..].sort_by_key(|&i| pool.state(i).in_flight());
            }
            Strategy::Latency => {
                // Known-fast targets first: a fallback should be a safe bet, not an
                // experiment.
                out.extend((0..pool.len()).filter(|&i| keep(i)));
                out[start..]
                    .sort_by_key(|&i| load_score(pool.state(i)).map_or((1, 0), |score| (0, score)));
            }
        }
    }

    /// What this strategy ranks `index` by, for the trace.
    pub(crate) fn score(
        &self,
        strategy: Strategy,
        pool: &impl Pool,
        index: usize,
    ) -> Option<Score> {
        let state = pool.state(index);
        match strategy {
            Strategy::Weighted => Some(Score::Weight(pool.weight(index))),
            Strategy::Priority => None,
            Strategy::Latency => {
                Some(Score::Latency(load_score(state).map(|nanos| {
                    Duration::from_nanos(nanos.min(u64::MAX as u128) as u64)
                })))
            }
            Strategy::LeastBusy => Some(Score::InFlight(state.in_flight())),
            Strategy::Cost => Some(Score::Cost(self.cost(index))),
        }
    }
}

/// Fewest in flight. The scan starts at a random target and keeps the first strict
/// minimum, so among equally busy targets the draw decides: exactly uniform when they
/// all tie (an idle route), otherwise favouring a tied target that follows a run of busier
/// ones, which is harmless for load. The in-flight count is read before the (dearer)
/// allowed check, so a target busier than the best so far costs one atomic load.
fn pick_least_busy(pool: &impl Pool, rng: &mut fastrand::Rng) -> Option<usize> {
    let len = pool.len();
    if len == 0 {
        return None;
    }
    let start = rng.usize(..len);
    let mut best: Option<(usize, u32)> = None;
    for offset in 0..len {
        let index = (start + offset) % len;
        let busy = pool.state(index).in_flight();
        if best.is_some_and(|(_, least)| busy >= least) || !pool.allowed(index) {
            continue;
        }
        best = Some((index, busy));
        if busy == 0 {
            break; // nothing beats idle
        }
    }
    best.map(|(index, _)| index)
}

/// A uniformly random allowed target other than `avoid`: a few random tries (cheap when
/// most targets are allowed), then a count-and-choose pass.
fn random_allowed(
    pool: &impl Pool,
    rng: &mut fastrand::Rng,
    avoid: Option<usize>,
) -> Option<usize> {
    let len = pool.len();
    if len == 0 {
        return None;
    }
    let eligible = |i: usize| Some(i) != avoid && pool.allowed(i);
    for _ in 0..4 {
        let index = rng.usize(..len);
        if eligible(index) {
            return Some(index);
        }
    }
    let count = (0..len).filter(|&i| eligible(i)).count();
    if count == 0 {
        return None;
    }
    let nth = rng.usize(..count);
    (0..len).filter(|&i| eligible(i)).nth(nth)
}

/// Power of two choices by latency score, after two kinds of exploration: a target due for
/// a fresh sample (never sampled, or not within [`EXPLORE_INTERVAL`]) is claimed by one
/// request, and [`EXPLORE_PROBABILITY`] of picks go to a random allowed target.
fn pick_latency(pool: &impl Pool, rng: &mut fastrand::Rng) -> Option<usize> {
    let now = pool.now_nanos();
    let interval = EXPLORE_INTERVAL.as_nanos() as u64;
    if rng.f64() < EXPLORE_PROBABILITY {
        return random_allowed(pool, rng, None);
    }
    for index in 0..pool.len() {
        let state = pool.state(index);
        // Cheap atomic check first; the gate is asked only about a due target.
        if state.exploration_due(now, interval)
            && pool.allowed(index)
            && state.claim_exploration(now, interval)
        {
            return Some(index);
        }
    }
    let first = random_allowed(pool, rng, None)?;
    let Some(second) = random_allowed(pool, rng, Some(first)) else {
        return Some(first);
    };
    let (a, b) = (pool.state(first), pool.state(second));
    let (score_a, score_b) = match (load_score(a), load_score(b)) {
        (Some(x), Some(y)) => (x, y),
        // An unsampled target gets traffic through exploration only, one request at a
        // time, not half the picks while its first sample is on the way.
        (Some(_), None) => return Some(first),
        (None, Some(_)) => return Some(second),
        // Nothing known yet (start-up): the emptier one.
        (None, None) => (u128::from(a.in_flight()), u128::from(b.in_flight())),
    };
    Some(if score_b < score_a { second } else { first })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swrr_interleaves_reduced_weights() {
        assert_eq!(swrr_sequence(&[5, 1, 1]), Some(vec![0, 0, 1, 0, 2, 0, 0]));
        assert_eq!(swrr_sequence(&[70, 0, 30]).map(|s| s.len()), Some(10));
        assert_eq!(swrr_sequence(&[0, 0]), None);
        assert_eq!(swrr_sequence(&[4097, 1]), None, "too long: random instead");
    }
}
