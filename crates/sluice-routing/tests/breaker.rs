//! The circuit breaker on its own: thresholds, the single half-open probe under
//! concurrency, closing and reopening.

use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use sluice_routing::{Admission, Breaker, BreakerSettings, CircuitState};

fn settings() -> BreakerSettings {
    BreakerSettings {
        consecutive_failures: 5,
        error_rate: 0.5,
        min_requests: 20,
        window: Duration::from_secs(30),
        cool_down: Duration::from_secs(30),
    }
}

#[test]
fn defaults_are_as_documented() {
    assert_eq!(BreakerSettings::default(), settings());
}

#[test]
fn opens_after_n_failures_rejects_then_half_opens() {
    let breaker = Breaker::new(settings());
    let now = Instant::now();
    for _ in 0..4 {
        breaker.record_failure(now);
    }
    assert_eq!(breaker.admission(now), Admission::Closed);
    breaker.record_failure(now);
    assert_eq!(breaker.admission(now), Admission::Refused);
    assert!(!breaker.claim_probe(now + Duration::from_secs(29)));
    assert_eq!(
        breaker.admission(now + Duration::from_secs(30)),
        Admission::Probe
    );
}

/// Eight threads race for the probe at the same instant: exactly one wins.
#[test]
fn exactly_one_concurrent_probe() {
    for round in 0..50 {
        let breaker = Breaker::new(settings());
        let now = Instant::now();
        for _ in 0..5 {
            breaker.record_failure(now);
        }
        let later = now + Duration::from_secs(30);
        let winners = AtomicUsize::new(0);
        let start = Barrier::new(8);
        thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    start.wait();
                    if breaker.claim_probe(later) {
                        winners.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(winners.load(Ordering::Relaxed), 1, "round {round}");
        assert_eq!(breaker.admission(later), Admission::Refused);
    }
}

#[test]
fn probe_success_closes_and_failure_reopens() {
    let breaker = Breaker::new(settings());
    let now = Instant::now();
    for _ in 0..5 {
        breaker.record_failure(now);
    }
    let probe = now + Duration::from_secs(30);
    assert!(breaker.claim_probe(probe));
    breaker.record_failure(probe);
    assert!(matches!(breaker.state(probe), CircuitState::Open { .. }));
    let probe = probe + Duration::from_secs(30);
    assert!(breaker.claim_probe(probe));
    breaker.record_success(probe);
    assert_eq!(breaker.state(probe), CircuitState::Closed);
    // Closed again with a clean slate: four failures do not reopen it.
    for _ in 0..4 {
        breaker.record_failure(probe);
    }
    assert_eq!(breaker.admission(probe), Admission::Closed);
}

/// 20 requests at 50% errors, never 5 failures in a row: the window opens it.
#[test]
fn the_error_rate_window_opens_it() {
    let breaker = Breaker::new(settings());
    let now = Instant::now();
    for i in 0..19u32 {
        if i % 2 == 0 {
            breaker.record_success(now);
        } else {
            breaker.record_failure(now);
        }
    }
    assert_eq!(breaker.admission(now), Admission::Closed, "19 requests");
    breaker.record_failure(now); // 10 of 20
    assert_eq!(breaker.admission(now), Admission::Refused);
}

/// Failures that slid out of the window no longer count.
#[test]
fn old_failures_slide_out_of_the_window() {
    let breaker = Breaker::new(settings());
    let now = Instant::now();
    for _ in 0..10 {
        breaker.record_success(now);
        breaker.record_failure(now);
        breaker.record_success(now);
    }
    let later = now + Duration::from_secs(40);
    for _ in 0..10 {
        breaker.record_success(later);
        breaker.record_failure(later);
        breaker.record_success(later);
    }
    assert_eq!(breaker.admission(later), Admission::Closed);
    assert_eq!(breaker.counts(later).total(), 30);
}
