//! The priority strategy with circuit breaking: skip an open circuit, come back after the
//! cool-down and a successful probe.

mod common;

use std::time::{Duration, Instant};

use common::{plan, target, trip};
use sluice_routing::{CircuitState, NoGate, Strategy};

#[test]
fn skips_an_open_circuit_and_returns_after_a_successful_probe() {
    let plan = plan(
        Strategy::Priority,
        vec![target(0, "primary", 1), target(1, "backup", 1)],
    );
    let now = Instant::now();
    assert_eq!(plan.pick(now, 0, &NoGate), Some(0));
    trip(&plan, 0, now);
    assert_eq!(plan.pick(now, 0, &NoGate), Some(1));
    assert_eq!(plan.pick(now + Duration::from_secs(9), 0, &NoGate), Some(1));

    // Cool-down over: the first request probes the primary, the next one does not.
    let later = now + Duration::from_secs(10);
    assert_eq!(plan.snapshot(later)[0].circuit, CircuitState::HalfOpen);
    assert_eq!(plan.pick(later, 0, &NoGate), Some(0), "the probe");
    assert_eq!(plan.pick(later, 0, &NoGate), Some(1), "probe already out");

    let state = plan.state(0).expect("target");
    state.record_success(Duration::from_millis(5), None, later);
    assert_eq!(plan.snapshot(later)[0].circuit, CircuitState::Closed);
    assert_eq!(plan.pick(later, 0, &NoGate), Some(0));
    assert_eq!(plan.pick(later, 0, &NoGate), Some(0));
}

#[test]
fn a_failed_probe_reopens_for_another_cool_down() {
    let plan = plan(
        Strategy::Priority,
        vec![target(0, "primary", 1), target(1, "backup", 1)],
    );
    let now = Instant::now();
    trip(&plan, 0, now);
    let probe = now + Duration::from_secs(10);
    assert_eq!(plan.pick(probe, 0, &NoGate), Some(0));
    plan.state(0).expect("target").record_failure(probe);
    assert!(matches!(
        plan.snapshot(probe)[0].circuit,
        CircuitState::Open { until } if until >= probe + Duration::from_secs(10) - Duration::from_micros(1)
    ));
    assert_eq!(
        plan.pick(probe + Duration::from_secs(9), 0, &NoGate),
        Some(1)
    );
    assert_eq!(
        plan.pick(probe + Duration::from_secs(10), 0, &NoGate),
        Some(0)
    );
}

/// Eight requests arrive together when the cool-down ends: exactly one probes the primary,
/// the others go to the backup.
#[test]
fn concurrent_picks_claim_the_probe_once() {
    for round in 0..20 {
        let plan = plan(
            Strategy::Priority,
            vec![target(0, "primary", 1), target(1, "backup", 1)],
        );
        let now = Instant::now();
        trip(&plan, 0, now);
        let later = now + Duration::from_secs(10);
        let start = std::sync::Barrier::new(8);
        let picks: Vec<Option<usize>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        plan.pick(later, 0, &NoGate)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("thread"))
                .collect()
        });
        let probes = picks.iter().filter(|&&p| p == Some(0)).count();
        assert_eq!(probes, 1, "round {round}: {picks:?}");
        assert!(picks.iter().all(|p| p.is_some()));
    }
}
