//! Counters in process memory: one instance, no I/O.
//!
//! Each kind of counter sits behind its own `std::sync::Mutex` held only for a few map
//! operations (never across an `.await`, and these `async fn`s never await). Entries carry
//! an expiry and are swept every few thousand operations so the maps do not grow without
//! bound.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hashbrown::hash_map::EntryRef;
use smallvec::SmallVec;

use super::{
    ByWindow, Denied, InFlightDenied, InFlightTicket, RateDenied, RateRequest, Ticket, gcra,
    push_decimal,
};
use crate::{FastMap, StoreError};

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
    spend: Mutex<FastMap<(String, i64), (i64, Instant)>>,
    rate: Mutex<ByWindow<Gcra>>,
    /// By level key; a held slot's ticket shares the key.
    flight: Mutex<FastMap<Arc<str>, Slots>>,
}

/// One concurrency level's taken slots.
#[derive(Debug, Default)]
struct Slots {
    /// Slots held by admissions ([`MemoryCounters::admit`]): a count, since the ticket
    /// always comes back in this process (an admission releases it when dropped).
    held: u64,
    /// Leases taken through `in_flight_acquire`, by lease id, until their expiry.
    leases: FastMap<String, Instant>,
}

impl Slots {
    /// Slots in use at `now`; forgets expired leases.
    fn in_use(&mut self, now: Instant) -> u64 {
        if !self.leases.is_empty() {
            self.leases.retain(|_, expiry| *expiry > now);
        }
        self.held + self.leases.len() as u64
    }
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

/// Gives one slot of level `key` back: a held count when `lease` is empty (an
/// admission's), else that lease. The level's entry stays until a sweep.
fn give_slot_back(map: &mut FastMap<Arc<str>, Slots>, key: &str, lease: &str) {
    if let Some(slots) = map.get_mut(key) {
        if lease.is_empty() {
            slots.held = slots.held.saturating_sub(1);
        } else {
            slots.leases.remove(lease);
        }
    }
}

impl MemoryCounters {
    /// Empty counters.
    pub fn new() -> MemoryCounters {
        MemoryCounters {
            inner: Arc::new(Inner {
                base: Instant::now(),
                ops: AtomicU64::new(0),
                next_lease: AtomicU64::new(0),
                spend: Mutex::new(FastMap::default()),
                rate: Mutex::new(ByWindow::default()),
                flight: Mutex::new(FastMap::default()),
            }),
        }
    }

    fn now_us(&self) -> f64 {
        self.us_at(Instant::now())
    }

    /// `at` on the rate counters' clock: microseconds since `base`.
    fn us_at(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.inner.base).as_secs_f64() * 1_000_000.0
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
        Ok(self.take_rates(requests, self.now_us()))
    }

    /// Admits at every rate level and takes a slot at every concurrency level, or
    /// nothing (the rates are given back when a slot level is full).
    pub(crate) fn admit(
        &self,
        rates: &[RateRequest<'_>],
        slots: &[(&str, u64)],
    ) -> Result<Ticket, Denied> {
        // One clock read for both kinds of counter.
        let now = Instant::now();
        self.take_rates(rates, self.us_at(now))
            .map_err(Denied::Rate)?;
        if slots.is_empty() {
            return Ok(Ticket::default());
        }
        let mut ticket = Ticket {
            slots: Vec::with_capacity(slots.len()),
        };
        let held = self.take_at_every_level(slots, now, |key, level| {
            level.held += 1;
            // No member: a held count, not a lease (see `release`).
            ticket.slots.push((key, String::new()));
        });
        match held {
            Ok(()) => Ok(ticket),
            Err(denied) => {
                for r in rates {
                    self.adjust(
                        r.key,
                        r.window_ms,
                        -i64::try_from(r.amount).unwrap_or(i64::MAX),
                    );
                }
                Err(Denied::InFlight(denied))
            }
        }
    }

    /// Gives an admission's slots back. A level left empty keeps its entry, so the next
    /// request at that level copies no key; empty levels are swept with the others.
    pub(crate) fn release(&self, ticket: Ticket) {
        let mut map = lock(&self.inner.flight);
        for (key, lease) in &ticket.slots {
            give_slot_back(&mut map, key, lease);
        }
    }

    /// Checks that every level has a free slot at `now`, then applies `take` to each
    /// level (its key and slots): all of them or none, under one lock.
    fn take_at_every_level(
        &self,
        levels: &[(&str, u64)],
        now: Instant,
        mut take: impl FnMut(Arc<str>, &mut Slots),
    ) -> Result<(), InFlightDenied> {
        let sweep = self.should_sweep();
        let mut map = lock(&self.inner.flight);
        if sweep {
            map.retain(|_, slots| slots.in_use(now) > 0);
        }
        for (index, (key, limit)) in levels.iter().enumerate() {
            let in_use = map.get_mut(*key).map_or(0, |slots| slots.in_use(now));
            if in_use >= *limit {
                return Err(InFlightDenied { index });
            }
        }
        for (key, _) in levels {
            let mut level = match map.entry_ref(*key) {
                EntryRef::Occupied(level) => level,
                EntryRef::Vacant(level) => level.insert_entry(Slots::default()),
            };
            take(Arc::clone(level.key()), level.get_mut());
        }
        Ok(())
    }

    /// Takes every rate level's units at `now` (see [`MemoryCounters::us_at`]), or none.
    fn take_rates(&self, requests: &[RateRequest<'_>], now: f64) -> Result<(), RateDenied> {
        let sweep = self.should_sweep();
        let mut map = lock(&self.inner.rate);
        if sweep {
            // A state whose TAT is a window in the past is the same as no state.
            map.retain(|_, _, s| s.tat + s.window_ms as f64 * 1000.0 > now);
        }
        // Each level is decided and written in one lookup (a later ask at the same level
        // sees an earlier one's write); a refusal puts back the TATs written before it,
        // newest first, so that nothing is taken. A new state starts at `now`, which is
        // the same as no state.
        let mut before: SmallVec<[f64; 8]> = SmallVec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            let state = map.get_or_insert_with(r.window_ms, r.key, || Gcra {
                tat: now,
                interval: r.window_ms as f64 * 1000.0 / r.limit.max(1) as f64,
                window_ms: r.window_ms,
            });
            match gcra(state.tat, now, r.limit, r.window_ms, r.amount, i) {
                Ok((tat, interval)) => {
                    before.push(state.tat);
                    state.tat = tat;
                    state.interval = interval;
                }
                Err(denied) => {
                    for (r, tat) in requests[..i].iter().zip(&before).rev() {
                        if let Some(state) = map.get_mut(r.window_ms, r.key) {
                            state.tat = *tat;
                        }
                    }
                    return Err(denied);
                }
            }
        }
        Ok(())
    }

    /// Moves a rate level by `delta` units (see [`crate::Counters::rate_adjust`]).
    pub(crate) fn adjust(&self, key: &str, window_ms: u64, delta: i64) {
        self.adjust_each([(key, window_ms)], delta);
    }

    /// Moves each rate level `(key, window_ms)` by `delta` units, under one lock.
    pub(crate) fn adjust_each<'a>(
        &self,
        levels: impl IntoIterator<Item = (&'a str, u64)>,
        delta: i64,
    ) {
        let now = self.now_us();
        let mut map = lock(&self.inner.rate);
        for (key, window_ms) in levels {
            if let Some(state) = map.get_mut(window_ms, key) {
                let tat = state.tat.max(now) + delta as f64 * state.interval;
                state.tat = tat.max(now);
            }
        }
    }

    pub(crate) async fn in_flight_acquire(
        &self,
        levels: &[(&str, u64)],
        lease_ttl_ms: u64,
    ) -> Result<Result<InFlightTicket, InFlightDenied>, StoreError> {
        Ok(self.take_slots(levels, lease_ttl_ms))
    }

    fn take_slots(
        &self,
        levels: &[(&str, u64)],
        lease_ttl_ms: u64,
    ) -> Result<InFlightTicket, InFlightDenied> {
        let now = Instant::now();
        let mut lease = String::from("m");
        push_decimal(
            &mut lease,
            self.inner.next_lease.fetch_add(1, Ordering::Relaxed),
        );
        let expiry = now + Duration::from_millis(lease_ttl_ms);
        self.take_at_every_level(levels, now, |_, slots| {
            slots.leases.insert(lease.clone(), expiry);
        })?;
        Ok(InFlightTicket {
            keys: levels.iter().map(|(k, _)| (*k).to_owned()).collect(),
            lease,
        })
    }

    pub(crate) async fn in_flight_release(&self, ticket: InFlightTicket) -> Result<(), StoreError> {
        let mut map = lock(&self.inner.flight);
        for key in &ticket.keys {
            give_slot_back(&mut map, key, &ticket.lease);
        }
        Ok(())
    }

    pub(crate) async fn in_flight_count(&self, key: &str) -> Result<u64, StoreError> {
        let now = Instant::now();
        let mut map = lock(&self.inner.flight);
        Ok(map.get_mut(key).map_or(0, |slots| slots.in_use(now)))
    }
}
