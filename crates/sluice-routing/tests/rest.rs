//! `Retry-After`: a resting target is skipped until the instant passes.

mod common;

use std::time::{Duration, Instant};

use common::{plan, target};
use sluice_routing::{NoGate, SkipReason, Strategy};

#[test]
fn a_resting_target_is_skipped_until_the_instant_passes() {
    let plan = plan(
        Strategy::Priority,
        vec![target(0, "a", 1), target(1, "b", 1)],
    );
    let now = Instant::now();
    let until = now + Duration::from_secs(2);
    plan.state(0).expect("a").rest_until(until);
    assert_eq!(plan.pick(now, 0, &NoGate), Some(1));
    assert!(matches!(
        plan.check(0, now, &NoGate),
        Some(SkipReason::Resting { until: at }) if at.duration_since(until) < Duration::from_micros(1)
            && until.duration_since(at) < Duration::from_micros(1)
    ));
    assert_eq!(
        plan.pick(until - Duration::from_millis(1), 0, &NoGate),
        Some(1)
    );
    assert_eq!(plan.pick(until, 0, &NoGate), Some(0));
    assert_eq!(plan.snapshot(until)[0].resting_until, None);
}
