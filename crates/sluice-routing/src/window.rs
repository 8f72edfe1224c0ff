//! Outcome counts over a sliding window of time, lock-free.
//!
//! The window is cut into [`BUCKETS`] fixed slices of time. Each bucket is one `AtomicU64`
//! packing the slice number it counts for with its successes and failures, so a single
//! compare-and-swap both recycles a stale bucket and counts the outcome: no moment exists
//! where a reader sees a new slice number with old counts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock;

/// Number of slices the window is cut into: the window slides in steps of `window / 10`.
const BUCKETS: usize = 10;
const SLOT_BITS: u32 = 20;
const COUNT_BITS: u32 = 22;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const COUNT_MAX: u64 = (1 << COUNT_BITS) - 1;

/// Successes and failures seen within the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub successes: u64,
    pub failures: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.successes + self.failures
    }

    /// Failures over all outcomes; 0 when nothing was seen.
    pub fn error_rate(&self) -> f64 {
        match self.total() {
            0 => 0.0,
            total => self.failures as f64 / total as f64,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Window {
    /// Length of one slice in nanoseconds (at least one).
    slice: u64,
    buckets: [AtomicU64; BUCKETS],
}

/// Bucket word layout: slot (20 bits, wrapping) | successes (22) | failures (22).
fn pack(slot: u64, successes: u64, failures: u64) -> u64 {
    ((slot & SLOT_MASK) << (2 * COUNT_BITS)) | (successes << COUNT_BITS) | failures
}

fn unpack(word: u64) -> (u64, u64, u64) {
    (
        word >> (2 * COUNT_BITS),
        (word >> COUNT_BITS) & COUNT_MAX,
        word & COUNT_MAX,
    )
}

impl Window {
    pub(crate) fn new(window: Duration) -> Self {
        let slice = (clock::duration_nanos(window) / BUCKETS as u64).max(1);
        Window {
            slice,
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn slot(&self, now_nanos: u64) -> u64 {
        (now_nanos / self.slice) & SLOT_MASK
    }

    pub(crate) fn record(&self, now_nanos: u64, success: bool) {
        let slot = self.slot(now_nanos);
        let bucket = &self.buckets[(now_nanos / self.slice) as usize % BUCKETS];
        let mut current = bucket.load(Ordering::Relaxed);
        loop {
            let (held, mut successes, mut failures) = unpack(current);
            if held != slot {
                (successes, failures) = (0, 0);
            }
            // Saturate rather than overflow into the neighbouring field.
            if success {
                successes = (successes + 1).min(COUNT_MAX);
            } else {
                failures = (failures + 1).min(COUNT_MAX);
            }
            let next = pack(slot, successes, failures);
            match bucket.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    /// Sums the buckets whose slice lies within the last `BUCKETS` slices.
    pub(crate) fn counts(&self, now_nanos: u64) -> Counts {
        let slot = self.slot(now_nanos);
        let mut counts = Counts::default();
        for bucket in &self.buckets {
            let (held, successes, failures) = unpack(bucket.load(Ordering::Relaxed));
            let age = slot.wrapping_sub(held) & SLOT_MASK;
            if age < BUCKETS as u64 {
                counts.successes += successes;
                counts.failures += failures;
            }
        }
        counts
    }

    /// Forgets everything, e.g. when a circuit closes again.
    pub(crate) fn clear(&self) {
        for bucket in &self.buckets {
            bucket.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn counts_within_the_window_and_forgets_older_slices() {
        let window = Window::new(Duration::from_secs(10));
        let start = 1_000 * SECOND;
        window.record(start, true);
        window.record(start, false);
        window.record(start + 5 * SECOND, false);
        let counts = window.counts(start + 5 * SECOND);
        assert_eq!((counts.successes, counts.failures), (1, 2));
        // Eleven seconds on, the first slice has slid out; the second is still in.
        let counts = window.counts(start + 11 * SECOND);
        assert_eq!((counts.successes, counts.failures), (0, 1));
        assert_eq!(window.counts(start + 30 * SECOND).total(), 0);
    }

    #[test]
    fn a_recycled_bucket_starts_from_zero() {
        let window = Window::new(Duration::from_secs(10));
        window.record(SECOND, false);
        window.record(11 * SECOND, true); // same bucket, ten slices later
        let counts = window.counts(11 * SECOND);
        assert_eq!((counts.successes, counts.failures), (1, 0));
        window.clear();
        assert_eq!(window.counts(11 * SECOND).total(), 0);
    }
}
