//! The cost strategy.

mod common;

use std::time::Instant;

use common::{plan, target, trip};
use sluice_routing::{BreakerSettings, NoGate, RouteError, RoutePlan, Strategy};

#[test]
fn picks_the_cheapest_and_falls_back_when_it_is_open() {
    let plan = plan(
        Strategy::Cost,
        vec![
            target(0, "unpriced", 9),
            target(1, "dear", 1).with_cost(15.0),
            target(2, "cheap", 1).with_cost(0.5),
            target(3, "cheap-heavy", 3).with_cost(0.5),
        ],
    );
    let now = Instant::now();
    assert_eq!(
        plan.pick(now, 0, &NoGate),
        Some(3),
        "cheapest, ties by weight"
    );
    let ranked = plan.rank(now, 0, &NoGate, None);
    assert_eq!(ranked.as_slice(), &[3, 2, 1, 0], "unpriced last");
    trip(&plan, 3, now);
    assert_eq!(plan.pick(now, 0, &NoGate), Some(2));
    trip(&plan, 2, now);
    trip(&plan, 1, now);
    assert_eq!(plan.pick(now, 0, &NoGate), Some(0));
}

#[test]
fn a_negative_or_nan_price_is_refused() {
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let err = RoutePlan::new(
            "r",
            Strategy::Cost,
            BreakerSettings::default(),
            vec![target(0, "a", 1).with_cost(bad)],
        );
        assert!(matches!(err, Err(RouteError::Invalid { .. })), "{bad}");
    }
}
