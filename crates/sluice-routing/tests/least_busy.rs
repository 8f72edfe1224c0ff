//! The least-busy strategy.

mod common;

use std::time::Instant;

use common::{plan, target, trip};
use sluice_routing::{NoGate, Strategy};

#[test]
fn picks_the_emptiest_and_breaks_ties_at_random() {
    let plan = plan(
        Strategy::LeastBusy,
        vec![target(0, "a", 1), target(1, "b", 1), target(2, "c", 1)],
    );
    let now = Instant::now();
    let _a = [
        plan.state(0).expect("a").begin(),
        plan.state(0).expect("a").begin(),
    ];
    let _b = plan.state(1).expect("b").begin();
    for draw in 0..20 {
        assert_eq!(plan.pick(now, draw, &NoGate), Some(2));
    }
    let _c = plan.state(2).expect("c").begin();
    // b and c both have one in flight: both get picked.
    let mut seen = [0; 3];
    for draw in 0..200 {
        seen[plan.pick(now, draw, &NoGate).expect("a target")] += 1;
    }
    assert_eq!(seen[0], 0);
    assert!(seen[1] > 50 && seen[2] > 50, "{seen:?}");
}

#[test]
fn skips_an_open_circuit_even_when_it_is_empty() {
    let plan = plan(
        Strategy::LeastBusy,
        vec![target(0, "a", 1), target(1, "b", 1)],
    );
    let now = Instant::now();
    let _b = plan.state(1).expect("b").begin();
    trip(&plan, 0, now);
    assert_eq!(plan.pick(now, 0, &NoGate), Some(1));
}
