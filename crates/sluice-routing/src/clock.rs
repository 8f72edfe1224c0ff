//! Instants as `u64` nanoseconds, so they fit in an atomic.
//!
//! Every stored instant counts from one process-wide epoch. The epoch is placed a day
//! before the first use so that an `Instant` a test (or a caller) took a little before the
//! first call still maps to a distinct, non-zero value: `0` is reserved for "never".

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Stored value meaning "no instant" (never happened, not resting, ...).
pub(crate) const NEVER: u64 = 0;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(|| {
        let now = Instant::now();
        [86_400, 3_600, 60, 1]
            .into_iter()
            .find_map(|secs| now.checked_sub(Duration::from_secs(secs)))
            .unwrap_or(now)
    })
}

/// `at` as nanoseconds since the epoch, never [`NEVER`] (clamped to 1).
pub(crate) fn to_nanos(at: Instant) -> u64 {
    let nanos = at.saturating_duration_since(epoch()).as_nanos();
    u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
}

/// The inverse of [`to_nanos`]; `None` for [`NEVER`].
pub(crate) fn from_nanos(nanos: u64) -> Option<Instant> {
    (nanos != NEVER).then(|| epoch() + Duration::from_nanos(nanos))
}

/// A duration in nanoseconds, saturating at `u64::MAX` (585 years).
pub(crate) fn duration_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_orders() {
        let now = Instant::now();
        let later = now + Duration::from_millis(5);
        let (a, b) = (to_nanos(now), to_nanos(later));
        assert!(a != NEVER && b > a);
        assert_eq!(b - a, 5_000_000);
        let back = from_nanos(a).expect("instant");
        assert!(back <= now && now - back < Duration::from_micros(1));
        assert_eq!(from_nanos(NEVER), None);
    }
}
