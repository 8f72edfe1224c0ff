//! The weighted strategy: exact proportions by smooth weighted round-robin.

mod common;

use std::time::Instant;

use common::{plan, target, trip};
use sluice_routing::{NoGate, SkipReason, Strategy, Target};

/// 10,000 picks at 70/30 land exactly 7,000/3,000 (SWRR is deterministic), and the
/// zero-weight target gets none.
#[test]
fn weights_hold_exactly_and_zero_weight_gets_nothing() {
    let plan = plan(
        Strategy::Weighted,
        vec![target(0, "a", 70), target(1, "off", 0), target(2, "b", 30)],
    );
    let now = Instant::now();
    let mut counts = [0u32; 3];
    let mut rng = fastrand::Rng::with_seed(1);
    for _ in 0..10_000 {
        let index = plan.pick(now, rng.u64(..), &NoGate).expect("a target");
        counts[index] += 1;
    }
    assert_eq!(counts, [7_000, 0, 3_000]);
}

/// SWRR interleaves: with 2:1 no target is picked three times running.
#[test]
fn picks_are_interleaved() {
    let plan = plan(
        Strategy::Weighted,
        vec![target(0, "a", 2), target(1, "b", 1)],
    );
    let now = Instant::now();
    let picks: Vec<usize> = (0..30)
        .map(|draw| plan.pick(now, draw, &NoGate).expect("a target"))
        .collect();
    assert!(
        picks.windows(3).all(|w| !(w[0] == w[1] && w[1] == w[2])),
        "{picks:?}"
    );
}

/// Weights too large for a sequence fall back to random weighted choice, still in
/// proportion.
#[test]
fn huge_weights_fall_back_to_random_choice() {
    let plan = plan(
        Strategy::Weighted,
        vec![target(0, "a", 7_001), target(1, "b", 2_999)],
    );
    let now = Instant::now();
    let mut rng = fastrand::Rng::with_seed(3);
    let first = (0..10_000)
        .filter(|_| plan.pick(now, rng.u64(..), &NoGate) == Some(0))
        .count();
    // Binomial(10000, 0.7): sd ≈ 46; 5 sd either side.
    assert!((6_770..=7_230).contains(&first), "{first}");
}

/// A chosen target that is not allowed gives way to the heaviest allowed one.
#[test]
fn a_skipped_target_gives_way_in_weight_order() {
    let plan = plan(
        Strategy::Weighted,
        vec![target(0, "a", 1), target(1, "b", 5), target(2, "c", 3)],
    );
    let now = Instant::now();
    trip(&plan, 1, now);
    let gate = |index: usize, _: &Target| (index == 2).then_some(SkipReason::Gated("budget"));
    for draw in 0..50 {
        assert_eq!(plan.pick(now, draw, &gate), Some(0));
    }
    trip(&plan, 0, now);
    assert_eq!(plan.pick(now, 0, &gate), None, "everything skipped");
}
