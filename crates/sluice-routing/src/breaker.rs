//! A circuit breaker per target, lock-free.
//!
//! Closed: requests flow; the breaker opens after `consecutive_failures` failures in a row,
//! or when the error rate over the sliding `window` reaches `error_rate` with at least
//! `min_requests` outcomes in it. Open: requests are refused until `cool_down` has passed.
//! Then exactly one request may claim the probe (half-open); its success closes the
//! circuit, its failure opens it for another cool-down.
//!
//! The whole state is one `AtomicU64` (mode in the low two bits, the instant it entered that
//! mode above them), so opening, claiming the probe and closing are single compare-and-swaps
//! and two concurrent requests can never both claim the probe.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::clock;
use crate::window::{Counts, Window};

/// When a circuit opens and how long it stays open.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerSettings {
    /// Failures in a row that open the circuit (0 disables this rule).
    pub consecutive_failures: u32,
    /// Error rate over `window` (0.0..=1.0) that opens the circuit...
    pub error_rate: f64,
    /// ...once the window holds at least this many outcomes.
    pub min_requests: u32,
    /// Length of the sliding window for `error_rate`.
    pub window: Duration,
    /// How long an open circuit refuses requests before it lets one probe through.
    pub cool_down: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            consecutive_failures: 5,
            error_rate: 0.5,
            min_requests: 20,
            window: Duration::from_secs(30),
            cool_down: Duration::from_secs(30),
        }
    }
}

/// What an admin sees of a circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    /// Refusing requests until `until`.
    Open {
        until: Instant,
    },
    /// The cool-down is over: the next request probes (or one already is).
    HalfOpen,
}

/// Whether a request may go to this target now, without changing anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Closed,
    /// Only as the single probe, claimed with [`Breaker::claim_probe`].
    Probe,
    Refused,
}

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const PROBING: u64 = 2;
const MODE_MASK: u64 = 0b11;
const STAMP_MASK: u64 = u64::MAX >> 2;

fn word(mode: u64, since: u64) -> u64 {
    (since << 2) | mode
}

#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    cool_down: u64,
    /// Mode (low two bits) and the instant, in epoch nanoseconds, it was entered.
    state: AtomicU64,
    consecutive: AtomicU32,
    window: Window,
}

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Breaker {
            settings,
            cool_down: clock::duration_nanos(settings.cool_down),
            state: AtomicU64::new(word(CLOSED, 0)),
            consecutive: AtomicU32::new(0),
            window: Window::new(settings.window),
        }
    }

    pub fn settings(&self) -> &BreakerSettings {
        &self.settings
    }

    /// Nanoseconds fit in 62 bits for 146 years after the epoch.
    fn stamp(now: Instant) -> u64 {
        clock::to_nanos(now) & STAMP_MASK
    }

    /// Whether a request may go now; changes nothing, so strategies can look at every
    /// target and claim the probe only for the one they choose.
    pub fn admission(&self, now: Instant) -> Admission {
        self.admission_at(clock::to_nanos(now))
    }

    /// [`Breaker::admission`] with `now` already in epoch nanoseconds (converted once per
    /// pick, not once per target).
    pub(crate) fn admission_at(&self, now_nanos: u64) -> Admission {
        let state = self.state.load(Ordering::Acquire);
        match state & MODE_MASK {
            CLOSED => Admission::Closed,
            // A probe that never reported (its request was dropped) must not hold the
            // circuit shut for ever: after another cool-down a new probe may be claimed.
            _ if now_nanos & STAMP_MASK >= (state >> 2).saturating_add(self.cool_down) => {
                Admission::Probe
            }
            _ => Admission::Refused,
        }
    }

    /// Claims the single probe; `false` when another request got it first (or the
    /// circuit is not due for one). `true` also when the circuit is simply closed.
    pub fn claim_probe(&self, now: Instant) -> bool {
        self.claim_probe_at(clock::to_nanos(now))
    }

    /// [`Breaker::claim_probe`] with `now` in epoch nanoseconds.
    pub(crate) fn claim_probe_at(&self, now_nanos: u64) -> bool {
        let stamp = now_nanos & STAMP_MASK;
        let state = self.state.load(Ordering::Acquire);
        if state & MODE_MASK == CLOSED {
            return true;
        }
        if stamp < (state >> 2).saturating_add(self.cool_down) {
            return false;
        }
        self.state
            .compare_exchange(
                state,
                word(PROBING, stamp),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    pub fn record_success(&self, now: Instant) {
        let state = self.state.load(Ordering::Acquire);
        match state & MODE_MASK {
            CLOSED => {
                self.consecutive.store(0, Ordering::Relaxed);
                self.window.record(clock::to_nanos(now), true);
            }
            // The probe came back well. (A request sent before the circuit opened may
            // report here too: it is as good a sign of health.)
            PROBING => self.close(state),
            // Open: a late answer from before it opened; the cool-down stands.
            _ => {}
        }
    }

    pub fn record_failure(&self, now: Instant) {
        let stamp = Self::stamp(now);
        let state = self.state.load(Ordering::Acquire);
        match state & MODE_MASK {
            CLOSED => {
                let in_a_row = self.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
                self.window.record(stamp, false);
                if self.should_open(in_a_row, stamp) {
                    self.open(state, stamp);
                }
            }
            PROBING => self.open(state, stamp),
            _ => {}
        }
    }

    fn should_open(&self, in_a_row: u32, stamp: u64) -> bool {
        let settings = &self.settings;
        if settings.consecutive_failures > 0 && in_a_row >= settings.consecutive_failures {
            return true;
        }
        let counts = self.window.counts(stamp);
        counts.total() >= u64::from(settings.min_requests.max(1))
            && counts.error_rate() >= settings.error_rate
    }

    fn close(&self, seen: u64) {
        if self
            .state
            .compare_exchange(seen, word(CLOSED, 0), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.consecutive.store(0, Ordering::Relaxed);
            // The failures that opened the circuit must not reopen it at once.
            self.window.clear();
        }
    }

    /// Only the request that wins the swap from `seen` opens it, so the cool-down starts
    /// once.
    fn open(&self, seen: u64, stamp: u64) {
        if self
            .state
            .compare_exchange(seen, word(OPEN, stamp), Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.consecutive.store(0, Ordering::Relaxed);
        }
    }

    pub fn counts(&self, now: Instant) -> Counts {
        self.window.counts(clock::to_nanos(now))
    }

    pub fn state(&self, now: Instant) -> CircuitState {
        let state = self.state.load(Ordering::Acquire);
        let since = state >> 2;
        match state & MODE_MASK {
            CLOSED => CircuitState::Closed,
            OPEN if Self::stamp(now) < since.saturating_add(self.cool_down) => {
                let until = clock::from_nanos(since.saturating_add(self.cool_down));
                until.map_or(CircuitState::HalfOpen, |until| CircuitState::Open { until })
            }
            _ => CircuitState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            consecutive_failures: 3,
            error_rate: 0.5,
            min_requests: 10,
            window: Duration::from_secs(10),
            cool_down: Duration::from_secs(30),
        }
    }

    #[test]
    fn opens_after_consecutive_failures_and_a_success_resets_the_count() {
        let breaker = Breaker::new(settings());
        let now = Instant::now();
        breaker.record_failure(now);
        breaker.record_failure(now);
        breaker.record_success(now);
        breaker.record_failure(now);
        breaker.record_failure(now);
        assert_eq!(breaker.admission(now), Admission::Closed);
        breaker.record_failure(now);
        assert_eq!(breaker.admission(now), Admission::Refused);
        assert!(!breaker.claim_probe(now));
        assert!(matches!(breaker.state(now), CircuitState::Open { .. }));
    }

    #[test]
    fn a_lost_probe_is_given_up_after_another_cool_down() {
        let breaker = Breaker::new(settings());
        let now = Instant::now();
        for _ in 0..3 {
            breaker.record_failure(now);
        }
        let probe = now + Duration::from_secs(30);
        assert!(breaker.claim_probe(probe));
        assert!(!breaker.claim_probe(probe + Duration::from_secs(29)));
        assert!(breaker.claim_probe(probe + Duration::from_secs(30)));
    }
}
