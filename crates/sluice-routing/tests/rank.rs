//! `RoutePlan::rank`, the gate and the route trace.

mod common;

use std::time::{Duration, Instant};

use common::{plan, target, trip};
use sluice_routing::{NoGate, RouteTrace, SkipReason, Strategy, Target, TraceOutcome};

#[test]
fn rank_puts_the_pick_first_then_fallbacks_and_traces_the_skips() {
    let plan = plan(
        Strategy::Weighted,
        vec![
            target(0, "a", 2),
            target(1, "b", 5),
            target(2, "c", 3),
            target(3, "off", 0),
            target(4, "broke", 4),
        ],
    );
    let now = Instant::now();
    trip(&plan, 2, now);
    let gate = |index: usize, _: &Target| (index == 4).then_some(SkipReason::Gated("budget"));
    let mut trace = RouteTrace::new();
    let ranked = plan.rank(now, 0, &gate, Some(&mut trace));
    // The SWRR sequence starts with the heaviest target.
    assert_eq!(ranked.as_slice(), &[1, 0]);
    assert_eq!(
        trace.to_string(),
        "p1/b=chosen(weight 5); p0/a=fallback(weight 2); p2/c=skipped(circuit_open); \
         p3/off=skipped(zero_weight); p4/broke=skipped(gated:budget)"
    );
    assert_eq!(trace.entries()[1].outcome, TraceOutcome::Fallback(1));
}

#[test]
fn rank_follows_the_pick_and_never_repeats() {
    let plan = plan(
        Strategy::Weighted,
        vec![target(0, "a", 1), target(1, "b", 0), target(2, "c", 5)],
    );
    let now = Instant::now();
    for draw in 0..100 {
        let ranked = plan.rank(now, draw, &NoGate, None);
        assert_eq!(ranked.len(), 2);
        assert!(!ranked.iter().any(|i| i == 1));
        assert_ne!(ranked.as_slice()[0], ranked.as_slice()[1]);
    }
}

/// A half-open target is tried only as the chosen one (with the probe claimed); a second
/// request neither probes it nor keeps it as a fallback.
#[test]
fn a_half_open_target_is_only_ever_the_claimed_probe() {
    let plan = plan(
        Strategy::Priority,
        vec![target(0, "a", 1), target(1, "b", 1)],
    );
    let now = Instant::now();
    trip(&plan, 0, now);
    let later = now + Duration::from_secs(10);
    let mut trace = RouteTrace::new();
    assert_eq!(
        plan.rank(later, 0, &NoGate, Some(&mut trace)).as_slice(),
        &[0, 1]
    );
    assert_eq!(trace.to_string(), "p0/a=chosen; p1/b=fallback");
    assert_eq!(
        plan.rank(later, 0, &NoGate, Some(&mut trace)).as_slice(),
        &[1]
    );
    assert_eq!(trace.to_string(), "p1/b=chosen; p0/a=skipped(circuit_open)");
}

#[test]
fn latency_trace_shows_scores() {
    let plan = plan(
        Strategy::Latency,
        vec![target(0, "a", 1), target(1, "b", 1)],
    );
    let now = Instant::now();
    plan.state(0).expect("a").record_success(
        Duration::from_millis(40),
        Some(Duration::from_millis(12)),
        now,
    );
    plan.state(1)
        .expect("b")
        .record_success(Duration::from_millis(90), None, now);
    let mut trace = RouteTrace::new();
    let ranked = plan.rank(now, 5, &NoGate, Some(&mut trace));
    assert_eq!(ranked.as_slice(), &[0, 1]);
    assert_eq!(
        trace.to_string(),
        "p0/a=chosen(score 12ms); p1/b=fallback(score 90ms)"
    );
}

#[test]
fn nothing_allowed_ranks_empty() {
    let plan = plan(Strategy::LeastBusy, vec![target(0, "a", 1)]);
    let now = Instant::now();
    trip(&plan, 0, now);
    let ranked = plan.rank(now, 0, &NoGate, None);
    assert!(ranked.is_empty());
    assert_eq!(ranked.first(), None);
}

/// The gateway shares a plan across tasks and holds the in-flight guard across `.await`.
#[test]
fn plans_and_guards_cross_threads() {
    fn shareable<T: Send + Sync>() {}
    fn sendable<T: Send>() {}
    shareable::<sluice_routing::RoutePlan>();
    sendable::<sluice_routing::InFlight<'static>>();
}

#[test]
fn rank_as_orders_by_the_overriding_strategy_and_leaves_the_route_as_it_was() {
    let plan = plan(
        Strategy::Weighted,
        vec![
            target(0, "heavy", 9).with_cost(10.0),
            target(1, "cheap", 1).with_cost(0.5),
            target(2, "mid", 5).with_cost(2.0),
        ],
    );
    let now = Instant::now();
    let mut trace = RouteTrace::new();
    let by_cost = plan.rank_as(Strategy::Cost, now, 0, &NoGate, Some(&mut trace));
    assert_eq!(by_cost.as_slice(), &[1, 2, 0]);
    assert_eq!(
        trace.to_string(),
        "p1/cheap=chosen(cost $0.5/M); p2/mid=fallback(cost $2/M); p0/heavy=fallback(cost $10/M)"
    );
    let by_priority = plan.rank_as(Strategy::Priority, now, 0, &NoGate, None);
    assert_eq!(by_priority.as_slice(), &[0, 1, 2]);
    // The route's own strategy is untouched: weighted, heaviest first.
    assert_eq!(plan.strategy(), Strategy::Weighted);
    assert_eq!(plan.rank(now, 0, &NoGate, None).first(), Some(0));
    assert!(plan.has_costs());
}
