//! Why a target may be passed over, and the hook through which others (governance, for
//! budgets) can pass over targets of their own accord.

use std::fmt;
use std::time::Instant;

use crate::Target;

/// Why a target was not tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// Its circuit breaker is open, or half-open with the probe already taken.
    CircuitOpen,
    /// The provider asked for a rest (`Retry-After`) that lasts until `until`.
    Resting { until: Instant },
    /// A [`TargetGate`] refused it; the text says why (e.g. `"budget"`).
    Gated(&'static str),
    /// Its weight is zero: configured off.
    ZeroWeight,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::CircuitOpen => f.write_str("circuit_open"),
            SkipReason::Resting { .. } => f.write_str("resting"),
            SkipReason::Gated(why) => write!(f, "gated:{why}"),
            SkipReason::ZeroWeight => f.write_str("zero_weight"),
        }
    }
}

/// Asked about each target a strategy considers, after health: `Some(reason)` skips it.
/// Called on the hot path, so it must be quick and must not block.
pub trait TargetGate {
    fn check(&self, target_index: usize, target: &Target) -> Option<SkipReason>;
}

/// Lets every target through.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoGate;

impl TargetGate for NoGate {
    fn check(&self, _target_index: usize, _target: &Target) -> Option<SkipReason> {
        None
    }
}

/// Any `Fn(index, target) -> Option<SkipReason>` is a gate, handy in tests and wiring.
impl<F> TargetGate for F
where
    F: Fn(usize, &Target) -> Option<SkipReason>,
{
    fn check(&self, target_index: usize, target: &Target) -> Option<SkipReason> {
        self(target_index, target)
    }
}
