//! The live state of one target, all atomics: requests in flight, latency averages, a
//! provider-requested rest and the circuit breaker. Read on every pick, written when an
//! attempt starts and ends; nothing here ever blocks.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::breaker::{Admission, Breaker, BreakerSettings, CircuitState};
use crate::clock;

/// Weight of each new latency sample in the moving averages. 0.3 forgets an old regime
/// within about ten samples (0.7^10 ≈ 3%) yet one slow outlier moves the average only a
/// third of the way.
pub const EWMA_ALPHA: f64 = 0.3;

/// Times to first token kept per target for its recent percentiles (a hedge delay at the
/// target's p95): the last 32, enough for a p95 that moves with the target within seconds
/// at modest traffic, small enough to sort on demand.
pub const FIRST_TOKEN_SAMPLES: usize = 32;
/// Fewer samples than this and a percentile is not reported: it would be noise.
pub const MIN_PERCENTILE_SAMPLES: usize = 8;

#[derive(Debug)]
pub struct TargetState {
    in_flight: AtomicU32,
    /// Moving averages in nanoseconds; 0 means no sample yet.
    ewma_first_token: AtomicU64,
    ewma_total: AtomicU64,
    /// When the last latency sample arrived (epoch nanoseconds, 0 = never).
    last_sample: AtomicU64,
    /// When a latency strategy last sent a request here to explore it.
    last_explored: AtomicU64,
    /// No request before this instant (a provider's `Retry-After`).
    resting_until: AtomicU64,
    /// The last [`FIRST_TOKEN_SAMPLES`] times to first token in microseconds (0: empty
    /// slot), written round-robin at `first_token_cursor`.
    first_token_ring: [AtomicU32; FIRST_TOKEN_SAMPLES],
    first_token_cursor: AtomicU32,
    breaker: Breaker,
}

/// Counts one request in flight until dropped, so an early return, an error or a
/// cancelled future all decrement it.
#[derive(Debug)]
#[must_use = "the request counts as in flight only while this guard lives"]
pub struct InFlight<'a> {
    state: &'a TargetState,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.state.leave();
    }
}

/// A point-in-time copy of a target's state, for the admin API.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetSnapshot {
    pub circuit: CircuitState,
    pub ewma_first_token: Option<Duration>,
    pub ewma_total: Option<Duration>,
    pub in_flight: u32,
    /// Failures over outcomes within the breaker's window.
    pub error_rate: f64,
    pub resting_until: Option<Instant>,
}

/// Folds `sample` into the average in `cell` with a CAS loop, so concurrent samples are
/// all counted.
fn fold(cell: &AtomicU64, sample: u64) {
    let mut current = cell.load(Ordering::Relaxed);
    loop {
        let next = if current == 0 {
            sample.max(1)
        } else {
            let mixed = current as f64 * (1.0 - EWMA_ALPHA) + sample as f64 * EWMA_ALPHA;
            (mixed as u64).max(1)
        };
        match cell.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(seen) => current = seen,
        }
    }
}

fn nonzero(nanos: u64) -> Option<u64> {
    (nanos != 0).then_some(nanos)
}

impl TargetState {
    pub fn new(settings: BreakerSettings) -> Self {
        TargetState {
            in_flight: AtomicU32::new(0),
            ewma_first_token: AtomicU64::new(0),
            ewma_total: AtomicU64::new(0),
            last_sample: AtomicU64::new(clock::NEVER),
            last_explored: AtomicU64::new(clock::NEVER),
            resting_until: AtomicU64::new(clock::NEVER),
            first_token_ring: std::array::from_fn(|_| AtomicU32::new(0)),
            first_token_cursor: AtomicU32::new(0),
            breaker: Breaker::new(settings),
        }
    }

    /// Marks one request in flight until the guard drops.
    pub fn begin(&self) -> InFlight<'_> {
        self.enter();
        InFlight { state: self }
    }

    pub(crate) fn enter(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// A successful attempt: latency samples and the breaker.
    pub fn record_success(&self, total: Duration, first_token: Option<Duration>, now: Instant) {
        fold(&self.ewma_total, clock::duration_nanos(total));
        if let Some(first_token) = first_token {
            fold(&self.ewma_first_token, clock::duration_nanos(first_token));
            let slot = self.first_token_cursor.fetch_add(1, Ordering::Relaxed) as usize
                % FIRST_TOKEN_SAMPLES;
            let micros = u32::try_from(first_token.as_micros()).unwrap_or(u32::MAX);
            self.first_token_ring[slot].store(micros.max(1), Ordering::Relaxed);
        }
        self.last_sample
            .store(clock::to_nanos(now), Ordering::Relaxed);
        self.breaker.record_success(now);
    }

    /// A failed attempt (5xx, timeout, connection error...). Latency is left alone: the
    /// breaker is what keeps a failing target out.
    pub fn record_failure(&self, now: Instant) {
        self.breaker.record_failure(now);
    }

    /// The provider asked for no requests before `until` (`Retry-After`). A later rest
    /// wins over an earlier one.
    pub fn rest_until(&self, until: Instant) {
        self.resting_until
            .fetch_max(clock::to_nanos(until), Ordering::Relaxed);
    }

    /// `Some(until)` while resting at `now`.
    pub fn resting(&self, now: Instant) -> Option<Instant> {
        self.resting_at(clock::to_nanos(now))
            .and_then(clock::from_nanos)
    }

    /// [`TargetState::resting`] in epoch nanoseconds.
    pub(crate) fn resting_at(&self, now_nanos: u64) -> Option<u64> {
        let until = self.resting_until.load(Ordering::Relaxed);
        (until > now_nanos).then_some(until)
    }

    pub(crate) fn admission_at(&self, now_nanos: u64) -> Admission {
        self.breaker.admission_at(now_nanos)
    }

    pub fn ewma_first_token(&self) -> Option<Duration> {
        nonzero(self.ewma_first_token.load(Ordering::Relaxed)).map(Duration::from_nanos)
    }

    /// The `quantile` (0.95 for p95) of the recent times to first token; `None` before
    /// [`MIN_PERCENTILE_SAMPLES`]. Sorts a copy of at most 32 numbers: cheap, and read
    /// only by requests that need it (a hedge at p95).
    pub fn first_token_percentile(&self, quantile: f64) -> Option<Duration> {
        let mut samples = [0u32; FIRST_TOKEN_SAMPLES];
        let mut count = 0;
        for slot in &self.first_token_ring {
            let micros = slot.load(Ordering::Relaxed);
            if micros != 0 {
                samples[count] = micros;
                count += 1;
            }
        }
        if count < MIN_PERCENTILE_SAMPLES {
            return None;
        }
        let samples = &mut samples[..count];
        samples.sort_unstable();
        // Nearest rank: the smallest sample with at least `quantile` of them at or below.
        let rank = ((quantile.clamp(0.0, 1.0) * count as f64).ceil() as usize).clamp(1, count);
        Some(Duration::from_micros(u64::from(samples[rank - 1])))
    }

    pub fn ewma_total(&self) -> Option<Duration> {
        nonzero(self.ewma_total.load(Ordering::Relaxed)).map(Duration::from_nanos)
    }

    /// The latency a strategy ranks by: time to first token when known (what a streaming
    /// user waits for), else total time; `None` before any sample.
    pub(crate) fn latency_nanos(&self) -> Option<u64> {
        nonzero(self.ewma_first_token.load(Ordering::Relaxed))
            .or_else(|| nonzero(self.ewma_total.load(Ordering::Relaxed)))
    }

    /// Whether this target has had no sample, and no exploration, within `interval`
    /// before `now` (both in nanoseconds). Only reads.
    pub(crate) fn exploration_due(&self, now_nanos: u64, interval_nanos: u64) -> bool {
        let due = now_nanos.saturating_sub(interval_nanos);
        let stale = |at: u64| at == clock::NEVER || at <= due;
        stale(self.last_sample.load(Ordering::Relaxed))
            && stale(self.last_explored.load(Ordering::Relaxed))
    }

    /// Claims an exploration if one is due (see [`TargetState::exploration_due`]). Only
    /// one of several concurrent requests wins, so a recovering target gets a trickle of
    /// traffic, not a stampede.
    pub(crate) fn claim_exploration(&self, now_nanos: u64, interval_nanos: u64) -> bool {
        let explored = self.last_explored.load(Ordering::Relaxed);
        self.exploration_due(now_nanos, interval_nanos)
            && self
                .last_explored
                .compare_exchange(
                    explored,
                    now_nanos.max(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    pub fn snapshot(&self, now: Instant) -> TargetSnapshot {
        TargetSnapshot {
            circuit: self.breaker.state(now),
            ewma_first_token: self.ewma_first_token(),
            ewma_total: self.ewma_total(),
            in_flight: self.in_flight(),
            error_rate: self.breaker.counts(now).error_rate(),
            resting_until: self.resting(now),
        }
    }
}

impl Default for TargetState {
    fn default() -> Self {
        TargetState::new(BreakerSettings::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_guard_counts_in_flight_until_dropped() {
        let state = TargetState::default();
        let first = state.begin();
        let second = state.begin();
        assert_eq!(state.in_flight(), 2);
        drop(first);
        assert_eq!(state.in_flight(), 1);
        drop(second);
        assert_eq!(state.snapshot(Instant::now()).in_flight, 0);
    }

    #[test]
    fn averages_start_at_the_first_sample_then_move_by_alpha() {
        let state = TargetState::default();
        let now = Instant::now();
        assert_eq!(state.latency_nanos(), None);
        state.record_success(100 * MS, None, now);
        assert_eq!(state.ewma_total(), Some(100 * MS));
        assert_eq!(
            state.latency_nanos(),
            Some(100_000_000),
            "total when no TTFT"
        );
        state.record_success(200 * MS, Some(10 * MS), now);
        assert_eq!(state.ewma_total(), Some(130 * MS));
        assert_eq!(state.ewma_first_token(), Some(10 * MS));
        assert_eq!(state.latency_nanos(), Some(10_000_000), "TTFT preferred");
    }

    #[test]
    fn first_token_percentile_needs_enough_samples_and_ranks_the_recent_ones() {
        let state = TargetState::default();
        let now = Instant::now();
        let ms = Duration::from_millis;
        for _ in 0..MIN_PERCENTILE_SAMPLES - 1 {
            state.record_success(ms(100), Some(ms(10)), now);
        }
        assert_eq!(state.first_token_percentile(0.95), None);
        state.record_success(ms(100), None, now);
        assert_eq!(
            state.first_token_percentile(0.95),
            None,
            "no first token, no sample"
        );
        for millis in 1..=20u64 {
            state.record_success(ms(100), Some(ms(millis * 10)), now);
        }
        // 27 samples: seven of 10 ms and 10..200 ms; the nearest-rank p95 is the 26th.
        assert_eq!(state.first_token_percentile(0.95), Some(ms(190)));
        assert_eq!(state.first_token_percentile(0.5), Some(ms(70)));
        // The ring forgets: 32 fast samples push every slow one out.
        for _ in 0..FIRST_TOKEN_SAMPLES {
            state.record_success(ms(20), Some(ms(5)), now);
        }
        assert_eq!(state.first_token_percentile(0.95), Some(ms(5)));
    }

    #[test]
    fn rest_lasts_until_the_instant_and_the_later_wins() {
        let state = TargetState::default();
        let now = Instant::now();
        state.rest_until(now + 10 * MS);
        state.rest_until(now + 5 * MS);
        assert!(state.resting(now + 9 * MS).is_some());
        assert_eq!(state.resting(now + 10 * MS), None);
        assert_eq!(state.snapshot(now + 11 * MS).resting_until, None);
    }

    #[test]
    fn snapshot_reports_circuit_and_error_rate() {
        let state = TargetState::default();
        let now = Instant::now();
        state.record_success(MS, None, now);
        state.record_failure(now);
        let snapshot = state.snapshot(now);
        assert_eq!(snapshot.circuit, CircuitState::Closed);
        assert!((snapshot.error_rate - 0.5).abs() < 1e-9);
    }

    #[test]
    fn exploration_is_claimed_once_per_interval() {
        let state = TargetState::default();
        let now = Instant::now();
        let interval = Duration::from_secs(5);
        let at = |instant: Instant| clock::to_nanos(instant);
        let every = clock::duration_nanos(interval);
        assert!(state.claim_exploration(at(now), every));
        assert!(!state.claim_exploration(at(now), every));
        assert!(state.claim_exploration(at(now + interval + MS), every));
        state.record_success(MS, None, now + 20 * interval);
        assert!(!state.claim_exploration(at(now + 20 * interval), every));
    }
}
