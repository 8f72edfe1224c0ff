//! Counters in process memory: one instance, no I/O.
//!
//! Each kind of counter sits behind its own `std::sync::Mutex` held only for a few map
//! operations (never across an `.await`, and these `async fn`s never await). Entries carry
//! an expiry and are swept every few thousand operations so the maps do not grow without
//! bound. Rate counters and concurrency levels are the exception: each keeps a place per
//! counter ever used (a sweep empties its state or forgets its expired leases), so that a
//! rule resolves its counters once and a ticket names its levels by index (`RateStates`,
//! `FlightLevels`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use super::{
    ByWindow, Denied, InFlightDenied, InFlightTicket, RateDenied, RateRequest, RateSlot, Ticket,
    gcra, push_decimal,
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
    rate: Mutex<RateStates>,
    flight: Mutex<FlightLevels>,
}

/// The rate counters: a state per slot, and the slot of each `(window, name)`. A slot,
/// once given, stays its counter's for the life of the process (a swept state is only
/// emptied), so a rule can resolve its counters once ([`MemoryCounters::rate_slot`]) and
/// reach them by index on every request. There is one slot per counter ever used: the
/// governor's counters are its rules'.
#[derive(Debug, Default)]
struct RateStates {
    slots: ByWindow<usize>,
    /// By slot; `None` until first used, and once swept.
    states: Vec<Option<Gcra>>,
}

impl RateStates {
    /// The slot of `(window_ms, key)`, given on first sight.
    fn slot_of(&mut self, window_ms: u64, key: &str) -> usize {
        let states = &mut self.states;
        *self.slots.get_or_insert_with(window_ms, key, || {
            states.push(None);
            states.len() - 1
        })
    }

    /// The slot an ask names: the one it carries, else the one of its name.
    fn slot_for(&mut self, ask: &RateRequest<'_>) -> usize {
        match ask.slot {
            Some(RateSlot(slot)) if slot < self.states.len() => slot,
            _ => self.slot_of(ask.window_ms, ask.key),
        }
    }

    /// The state of counter `key` at `window_ms` (or of `slot`, when resolved), if it has
    /// one (a lookup by name adds no slot).
    fn existing(&mut self, window_ms: u64, key: &str, slot: Option<RateSlot>) -> Option<&mut Gcra> {
        let slot = match slot {
            Some(RateSlot(slot)) => slot,
            None => *self.slots.get_mut(window_ms, key)?,
        };
        self.states.get_mut(slot)?.as_mut()
    }
}

/// The concurrency levels: each level's slots, by index, and the index of each level's
/// key. A level keeps its index for the life of the process (a sweep only forgets expired
/// leases), so an admission's ticket names its levels by index and is given back without
/// a lookup.
#[derive(Debug, Default)]
struct FlightLevels {
    index: FastMap<String, u32>,
    levels: Vec<Slots>,
}

impl FlightLevels {
    /// The index of level `key`, given on first sight.
    fn index_of(&mut self, key: &str) -> u32 {
        let levels = &mut self.levels;
        *self.index.entry_ref(key).or_insert_with(|| {
            levels.push(Slots::default());
            u32::try_from(levels.len() - 1).unwrap_or(u32::MAX)
        })
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Slots> {
        let at = *self.index.get(key)?;
        self.levels.get_mut(at as usize)
    }
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

impl MemoryCounters {
    /// Empty counters.
    pub fn new() -> MemoryCounters {
        MemoryCounters {
            inner: Arc::new(Inner {
                base: Instant::now(),
                ops: AtomicU64::new(0),
                next_lease: AtomicU64::new(0),
                spend: Mutex::new(FastMap::default()),
                rate: Mutex::new(RateStates::default()),
                flight: Mutex::new(FlightLevels::default()),
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
        let mut ticket = Ticket::default();
        let held = self.take_at_every_level(slots, now, |level, slots| {
            // A held count, not a lease (see `release`).
            slots.held += 1;
            ticket.held.push(level);
        });
        match held {
            Ok(()) => Ok(ticket),
            Err(denied) => {
                self.give_back(rates.iter().copied());
                Err(Denied::InFlight(denied))
            }
        }
    }

    /// Gives an admission's slots back, by their levels' indices.
    pub(crate) fn release(&self, ticket: Ticket) {
        if ticket.held.is_empty() {
            return;
        }
        let mut flight = lock(&self.inner.flight);
        for level in ticket.held {
            if let Some(slots) = flight.levels.get_mut(level as usize) {
                slots.held = slots.held.saturating_sub(1);
            }
        }
    }

    /// Checks that every level has a free slot at `now`, then applies `take` to each
    /// level (its index and slots): all of them or none, under one lock.
    fn take_at_every_level(
        &self,
        levels: &[(&str, u64)],
        now: Instant,
        mut take: impl FnMut(u32, &mut Slots),
    ) -> Result<(), InFlightDenied> {
        let sweep = self.should_sweep();
        let mut flight = lock(&self.inner.flight);
        if sweep {
            for slots in &mut flight.levels {
                slots.in_use(now);
            }
        }
        let mut found = SmallVec::<[u32; 4]>::with_capacity(levels.len());
        for (index, (key, limit)) in levels.iter().enumerate() {
            let at = flight.index_of(key);
            let in_use = flight
                .levels
                .get_mut(at as usize)
                .map_or(0, |slots| slots.in_use(now));
            if in_use >= *limit {
                return Err(InFlightDenied { index });
            }
            found.push(at);
        }
        for at in found {
            if let Some(slots) = flight.levels.get_mut(at as usize) {
                take(at, slots);
            }
        }
        Ok(())
    }

    /// Takes every rate level's units at `now` (see [`MemoryCounters::us_at`]), or none.
    fn take_rates(&self, requests: &[RateRequest<'_>], now: f64) -> Result<(), RateDenied> {
        let sweep = self.should_sweep();
        let mut rates = lock(&self.inner.rate);
        if sweep {
            // A state whose TAT is a window in the past is the same as no state.
            for state in &mut rates.states {
                if state
                    .as_ref()
                    .is_some_and(|s| s.tat + s.window_ms as f64 * 1000.0 <= now)
                {
                    *state = None;
                }
            }
        }
        // Each level is decided and written in one lookup (a later ask at the same level
        // sees an earlier one's write); a refusal puts back the TATs written before it,
        // newest first, so that nothing is taken. A new state starts at `now`, which is
        // the same as no state.
        let mut before: SmallVec<[(usize, f64); 8]> = SmallVec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            let slot = rates.slot_for(r);
            let state = rates.states[slot].get_or_insert_with(|| Gcra {
                tat: now,
                interval: r.window_ms as f64 * 1000.0 / r.limit.max(1) as f64,
                window_ms: r.window_ms,
            });
            match gcra(state.tat, now, r.limit, r.window_ms, r.amount, i) {
                Ok((tat, interval)) => {
                    before.push((slot, state.tat));
                    state.tat = tat;
                    state.interval = interval;
                }
                Err(denied) => {
                    for &(slot, tat) in before.iter().rev() {
                        if let Some(state) = rates.states[slot].as_mut() {
                            state.tat = tat;
                        }
                    }
                    return Err(denied);
                }
            }
        }
        Ok(())
    }

    /// The slot of rate counter `key` at `window_ms` (see [`crate::Counters::rate_slot`]).
    pub(crate) fn rate_slot(&self, key: &str, window_ms: u64) -> RateSlot {
        RateSlot(lock(&self.inner.rate).slot_of(window_ms, key))
    }

    /// Moves a rate level by `delta` units (see [`crate::Counters::rate_adjust`]); a level
    /// with no state is left alone.
    pub(crate) fn adjust(&self, key: &str, window_ms: u64, delta: i64) {
        let now = self.now_us();
        if let Some(state) = lock(&self.inner.rate).existing(window_ms, key, None) {
            let tat = state.tat.max(now) + delta as f64 * state.interval;
            state.tat = tat.max(now);
        }
    }

    /// Gives back the `amount` of each ask (see [`crate::Counters::give_back`]), under one
    /// lock. Moving a TAT earlier needs no clock: a TAT at or before now is an empty
    /// bucket however far before, so one taken below now (or to 0) is the same as one
    /// clamped to now.
    pub(crate) fn give_back<'a>(&self, asks: impl IntoIterator<Item = RateRequest<'a>>) {
        let mut rates = lock(&self.inner.rate);
        for ask in asks {
            if let Some(state) = rates.existing(ask.window_ms, ask.key, ask.slot) {
                state.tat = (state.tat - ask.amount as f64 * state.interval).max(0.0);
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
        let mut flight = lock(&self.inner.flight);
        for key in &ticket.keys {
            if let Some(slots) = flight.get_mut(key) {
                slots.leases.remove(&ticket.lease);
            }
        }
        Ok(())
    }

    pub(crate) async fn in_flight_count(&self, key: &str) -> Result<u64, StoreError> {
        let now = Instant::now();
        let mut map = lock(&self.inner.flight);
        Ok(map.get_mut(key).map_or(0, |slots| slots.in_use(now)))
    }
}
