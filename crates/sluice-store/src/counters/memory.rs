//! Counters in process memory: one instance, no I/O.
//!
//! Each kind of counter sits behind its own `std::sync::Mutex` held only for a few map
//! operations (never across an `.await`, and these `async fn`s never await). Entries carry
//! an expiry and are swept every few thousand operations so the maps do not grow without
//! bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{InFlightDenied, InFlightTicket, RateDenied, RateRequest, gcra};
use crate::StoreError;

const SWEEP_EVERY: u64 = 4096;

#[derive(Debug)]
struct Gcra {
    /// Theoretical arrival time, microseconds since `Inner::base`.
    tat: f64,
    /// Emission interval, microseconds per unit.
    interval: f64,
    window_ms: u64,
}

#[derive(Debug)]
struct Inner {
    base: Instant,
    ops: AtomicU64,
    next_lease: AtomicU64,
    spend: Mutex<HashMap<(String, i64), (i64, Instant)>>,
    rate: Mutex<HashMap<(u64, String), Gcra>>,
    flight: Mutex<HashMap<String, HashMap<String, Instant>>>,
}

/// In-memory counters; clones share state.
#[derive(Debug, Clone)]
pub struct MemoryCounters {
    inner: Arc<Inner>,
}

impl Default for MemoryCounters {
    fn default() -> Self {
        Self::new()
    }
}

/// Locks a mutex, recovering the data if a panicking holder poisoned it: every critical
/// section here leaves the maps consistent, so the data is still good.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemoryCounters {
    /// Empty counters.
    pub fn new() -> MemoryCounters {
        MemoryCounters {
            inner: Arc::new(Inner {
                base: Instant::now(),
                ops: AtomicU64::new(0),
                next_lease: AtomicU64::new(0),
                spend: Mutex::new(HashMap::new()),
                rate: Mutex::new(HashMap::new()),
                flight: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn now_us(&self) -> f64 {
        self.inner.base.elapsed().as_secs_f64() * 1_000_000.0
    }

    fn should_sweep(&self) -> bool {
        self.inner.ops.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1
    }

    pub(crate) async fn spend_add(
        &self,
        budget_key: &str,
        window_start: i64,
        ttl_secs: u64,
        nanos: i64,
    ) -> Result<i64, StoreError> {
        let now = Instant::now();
        let expiry = now + Duration::from_secs(ttl_secs.max(1));
        let sweep = self.should_sweep();
        let mut map = lock(&self.inner.spend);
        if sweep {
            map.retain(|_, (_, exp)| *exp > now);
        }
        let entry = map
            .entry((budget_key.to_owned(), window_start))
            .or_insert((0, expiry));
        if entry.1 <= now {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(nanos);
        entry.1 = expiry;
        Ok(entry.0)
    }

    pub(crate) async fn spend_get(
        &self,
        budget_key: &str,
        window_start: i64,
    ) -> Result<i64, StoreError> {
        let now = Instant::now();
        let map = lock(&self.inner.spend);
        Ok(map
            .get(&(budget_key.to_owned(), window_start))
            .filter(|(_, exp)| *exp > now)
            .map_or(0, |(v, _)| *v))
    }

    pub(crate) async fn spend_seed(
        &self,
        budget_key: &str,
        window_start: i64,
        ttl_secs: u64,
        nanos: i64,
    ) -> Result<i64, StoreError> {
        let now = Instant::now();
        let expiry = now + Duration::from_secs(ttl_secs.max(1));
        let mut map = lock(&self.inner.spend);
        let entry = map
            .entry((budget_key.to_owned(), window_start))
            .or_insert((0, expiry));
        if entry.1 <= now {
            *entry = (0, expiry);
        }
        if nanos > entry.0 {
            *entry = (nanos, expiry);
        }
        Ok(entry.0)
    }

    pub(crate) async fn rate_acquire(
        &self,
        requests: &[RateRequest<'_>],
    ) -> Result<Result<(), RateDenied>, StoreError> {
        let keys: Vec<(u64, String)> = requests
            .iter()
            .map(|r| (r.window_ms, r.key.to_owned()))
            .collect();
        let sweep = self.should_sweep();
        let now = self.now_us();
        let mut map = lock(&self.inner.rate);
        if sweep {
            // A state whose TAT is a window in the past is the same as no state.
            map.retain(|_, s| s.tat + s.window_ms as f64 * 1000.0 > now);
        }
        // Decide at every level first (later duplicates see earlier ones), then write.
        let mut plan: Vec<(f64, f64)> = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            let earlier = (0..i)
                .rev()
                .find(|&j| keys[j] == keys[i])
                .map(|j| plan[j].0);
            let tat = earlier
                .or_else(|| map.get(&keys[i]).map(|s| s.tat))
                .unwrap_or(now);
            match gcra(tat, now, r.limit, r.window_ms, r.amount, i) {
                Ok(p) => plan.push(p),
                Err(denied) => return Ok(Err(denied)),
            }
        }
        for ((key, (tat, interval)), r) in keys.into_iter().zip(plan).zip(requests) {
            map.insert(
                key,
                Gcra {
                    tat,
                    interval,
                    window_ms: r.window_ms,
                },
            );
        }
        Ok(Ok(()))
    }

    pub(crate) async fn rate_adjust(
        &self,
        key: &str,
        window_ms: u64,
        delta: i64,
    ) -> Result<(), StoreError> {
        let now = self.now_us();
        let mut map = lock(&self.inner.rate);
        if let Some(state) = map.get_mut(&(window_ms, key.to_owned())) {
            let tat = state.tat.max(now) + delta as f64 * state.interval;
            state.tat = tat.max(now);
        }
        Ok(())
    }

    pub(crate) async fn in_flight_acquire(
        &self,
        levels: &[(&str, u64)],
        lease_ttl_ms: u64,
    ) -> Result<Result<InFlightTicket, InFlightDenied>, StoreError> {
        let now = Instant::now();
        let lease = format!("m{}", self.inner.next_lease.fetch_add(1, Ordering::Relaxed));
        let expiry = now + Duration::from_millis(lease_ttl_ms);
        let mut map = lock(&self.inner.flight);
        for (index, (key, limit)) in levels.iter().enumerate() {
            let held = match map.get_mut(*key) {
                Some(leases) => {
                    leases.retain(|_, exp| *exp > now);
                    leases.len() as u64
                }
                None => 0,
            };
            if held >= *limit {
                return Ok(Err(InFlightDenied { index }));
            }
        }
        for (key, _) in levels {
            map.entry((*key).to_owned())
                .or_default()
                .insert(lease.clone(), expiry);
        }
        Ok(Ok(InFlightTicket {
            keys: levels.iter().map(|(k, _)| (*k).to_owned()).collect(),
            lease,
        }))
    }

    pub(crate) async fn in_flight_release(&self, ticket: InFlightTicket) -> Result<(), StoreError> {
        let mut map = lock(&self.inner.flight);
        for key in &ticket.keys {
            if let Some(leases) = map.get_mut(key) {
                leases.remove(&ticket.lease);
                if leases.is_empty() {
                    map.remove(key);
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn in_flight_count(&self, key: &str) -> Result<u64, StoreError> {
        let now = Instant::now();
        let map = lock(&self.inner.flight);
        Ok(map
            .get(key)
            .map_or(0, |l| l.values().filter(|exp| **exp > now).count() as u64))
    }
}
