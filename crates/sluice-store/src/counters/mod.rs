//! Counters the gateway checks on every request: budget windows, rate limits and
//! concurrency leases — in process memory for one instance, in Redis for several.
//!
//! [`Counters`] is an enum over the two backends (enum dispatch: no trait objects, no
//! boxing of futures); both variants have the same async API and the same semantics, and
//! the integration tests run the same test functions against both.
//!
//! # Rate limits: GCRA
//!
//! Rate limits use the generic cell rate algorithm (a leaky bucket kept as one number):
//! a limit of `limit` units per `window_ms` has an emission interval `T = window / limit`
//! and a burst tolerance of one whole window. Each key stores its theoretical arrival time
//! (TAT). A request for `amount` units computes `new_tat = max(TAT, now) + amount·T` and
//! is admitted iff `new_tat − now ≤ window`; admitting stores `new_tat`.
//!
//! Why GCRA: one number per key (no log), no burst of 2× at fixed-window edges, an exact
//! `retry_after`, and it takes token amounts as naturally as request counts. Each decision
//! reads and writes under one lock (a mutex in memory, one Lua script in Redis, which
//! Redis runs atomically), so concurrent requests never overshoot:
//! **in any interval of length `d`, the units admitted are at most `limit + limit·d/window`**
//! (a full bucket, plus what drains meanwhile) — in particular at most `limit` at once,
//! however many requests race. (Times are doubles in microseconds; a tolerance of half a
//! microsecond absorbs rounding, which is below one unit as long as `T ≥ 1 µs`, i.e.
//! `limit ≤ window_ms × 1000`.)
//!
//! What the numbers in [`RateDenied`] mean:
//! - `retry_after_ms`: how long until this request's `amount` would fit (exact for GCRA);
//! - `remaining`: whole units that would be admitted right now (< `amount` when denied);
//! - `reset_ms`: how long until the bucket is entirely empty again, i.e. until the full
//!   `limit` is available (what an HTTP `RateLimit-Reset` header wants).
//!
//! An `amount` greater than `limit` can never be admitted; it is denied with
//! `retry_after_ms = window_ms`. A `limit` of 0 denies everything.
//!
//! [`Counters::rate_adjust`] reconciles tokens after the response: a positive delta
//! charges the extra tokens (the key may go into debt, denying later requests until it
//! drains), a negative one gives unused estimate back.
//!
//! # Concurrency leases
//!
//! [`Counters::in_flight_acquire`] takes one lease per key, all or nothing. Leases carry
//! an expiry so a crashed instance (Redis) or a dropped future that never released
//! (memory) cannot hold capacity forever: pick a TTL above the longest request.
//! [`Counters::admit`]'s slots need no TTL in memory: its [`Ticket`] always comes back in
//! the same process (an admission releases it when dropped), so a level keeps a count,
//! and taking a slot costs no lease id and no sweep of the level's leases.

mod leases;
mod memory;
mod redis;

pub use leases::{Denied, LeaseSettings, RedisLeases, Ticket};
pub use memory::MemoryCounters;
pub use redis::RedisCounters;

use crate::StoreError;

/// One level of a rate-limit check: `amount` units against `limit` per `window_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateRequest<'a> {
    /// The counter's name, such as `key:abc:rpm`; the window is part of the stored key.
    pub key: &'a str,
    /// Units per window.
    pub limit: u64,
    /// The window, milliseconds (> 0).
    pub window_ms: u64,
    /// Units this request takes (1 for a request count, the estimate for tokens).
    pub amount: u64,
    /// The counter resolved beforehand by [`Counters::rate_slot`] (memory counters), so
    /// that it is reached without hashing `key`; `None` looks it up by name.
    pub slot: Option<RateSlot>,
}

/// A memory rate counter, `(key, window)`, resolved once by [`Counters::rate_slot`]:
/// asks that carry it reach the counter's state by index. Valid only with the
/// [`Counters`] that gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSlot(pub(crate) usize);

/// Why a rate-limit check refused; nothing was consumed at any level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDenied {
    /// Which [`RateRequest`] refused (the first one that did).
    pub index: usize,
    /// Milliseconds until the request's amount would fit.
    pub retry_after_ms: u64,
    /// The refusing level's limit.
    pub limit: u64,
    /// Whole units available now at that level.
    pub remaining: u64,
    /// Milliseconds until that level's full limit is available again.
    pub reset_ms: u64,
}

/// A concurrency check refused at `index`; no lease was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlightDenied {
    /// Which `(key, limit)` was full (the first one that was).
    pub index: usize,
}

/// Leases held by one request; give it back to [`Counters::in_flight_release`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a ticket holds concurrency leases until released or expired"]
pub struct InFlightTicket {
    keys: Vec<String>,
    lease: String,
}

/// Budget windows, rate limits and concurrency leases, local or shared.
#[derive(Debug, Clone)]
pub enum Counters {
    /// In process memory: no I/O, one instance.
    Memory(MemoryCounters),
    /// In Redis: shared by every instance that uses the same Redis and prefix. The
    /// request path admits through local leases ([`Counters::admit`]); every other call
    /// goes to Redis itself.
    Redis(RedisLeases),
}

macro_rules! dispatch {
    ($self:ident, $c:ident => $e:expr) => {
        match $self {
            Counters::Memory($c) => $e,
            Counters::Redis(leases) => {
                let $c = leases.redis();
                $e
            }
        }
    };
}

impl Counters {
    /// In-memory counters.
    pub fn memory() -> Counters {
        Counters::Memory(MemoryCounters::new())
    }

    /// Redis counters under `prefix` (such as `sluice:`), admitting through leases with
    /// the default [`LeaseSettings`]. Needs a Tokio runtime.
    pub async fn redis(url: &str, prefix: &str) -> Result<Counters, StoreError> {
        Self::redis_with(url, prefix, LeaseSettings::default()).await
    }

    /// As [`Counters::redis`], with the leases' settings given.
    pub async fn redis_with(
        url: &str,
        prefix: &str,
        settings: LeaseSettings,
    ) -> Result<Counters, StoreError> {
        let redis = RedisCounters::connect(url, prefix).await?;
        Ok(Counters::Redis(RedisLeases::new(redis, settings)))
    }

    /// Whether the counters are shared with other instances.
    pub fn is_shared(&self) -> bool {
        matches!(self, Counters::Redis(_))
    }

    /// Admits one request at every level of its chain, all or nothing: the rate limits
    /// (`rates`) and one concurrency slot at each `(key, limit)` of `slots`. `group`
    /// names the chain (the virtual key): see [`RedisLeases`] for how Redis counters
    /// spend leased spare and when they make a round trip.
    pub async fn admit(
        &self,
        group: &str,
        rates: &[RateRequest<'_>],
        slots: &[(&str, u64)],
    ) -> Result<Result<Ticket, Denied>, StoreError> {
        match self {
            Counters::Memory(memory) => admit_in_memory(memory, rates, slots),
            Counters::Redis(leases) => {
                validate(rates)?;
                leases.admit(group, rates, slots).await
            }
        }
    }

    /// [`Counters::admit`], decided at once by memory counters; `None` from Redis ones,
    /// which answer after a round trip. A caller that asks here first can keep what it
    /// asks with on its stack rather than in a future.
    pub fn admit_now(
        &self,
        rates: &[RateRequest<'_>],
        slots: &[(&str, u64)],
    ) -> Option<Result<Result<Ticket, Denied>, StoreError>> {
        match self {
            Counters::Memory(memory) => Some(admit_in_memory(memory, rates, slots)),
            Counters::Redis(_) => None,
        }
    }

    /// Gives an admitted request's concurrency slots back (no I/O: Redis leases return
    /// to the local pool).
    pub fn release(&self, ticket: Ticket) {
        match self {
            Counters::Memory(memory) => memory.release(ticket),
            Counters::Redis(leases) => leases.release(ticket),
        }
    }

    /// Gives back the `amount` of each of `asks`, reserved but not used (no I/O; one lock
    /// for all the levels).
    pub fn give_back<'a>(&self, asks: impl IntoIterator<Item = RateRequest<'a>>) {
        match self {
            Counters::Memory(memory) => memory.give_back(asks),
            Counters::Redis(leases) => leases.give_back(asks),
        }
    }

    /// The slot of memory rate counter `key` at `window_ms`, to put in the
    /// [`RateRequest`]s of a level asked again and again; `None` for Redis counters.
    pub fn rate_slot(&self, key: &str, window_ms: u64) -> Option<RateSlot> {
        match self {
            Counters::Memory(memory) => Some(memory.rate_slot(key, window_ms)),
            Counters::Redis(_) => None,
        }
    }

    /// Adds `nanos` to a budget window and returns the window's new total. The window
    /// is forgotten `ttl_secs` after its last write (make it outlive the window).
    pub async fn spend_add(
        &self,
        budget_key: &str,
        window_start: i64,
        ttl_secs: u64,
        nanos: i64,
    ) -> Result<i64, StoreError> {
        dispatch!(self, c => c.spend_add(budget_key, window_start, ttl_secs, nanos).await)
    }

    /// The total of a budget window (0 when unknown).
    pub async fn spend_get(&self, budget_key: &str, window_start: i64) -> Result<i64, StoreError> {
        dispatch!(self, c => c.spend_get(budget_key, window_start).await)
    }

    /// Raises a window to `nanos` if it is lower, and returns the total: seed it from
    /// [`crate::Store::budget_spent`] at start so a restart does not forget spend.
    pub async fn spend_seed(
        &self,
        budget_key: &str,
        window_start: i64,
        ttl_secs: u64,
        nanos: i64,
    ) -> Result<i64, StoreError> {
        dispatch!(self, c => c.spend_seed(budget_key, window_start, ttl_secs, nanos).await)
    }

    /// Checks every level and consumes at all of them, or at none. The outer `Result` is
    /// the backend failing (the gateway decides whether to fail open); the inner one is
    /// the decision.
    pub async fn rate_acquire(
        &self,
        requests: &[RateRequest<'_>],
    ) -> Result<Result<(), RateDenied>, StoreError> {
        validate(requests)?;
        dispatch!(self, c => c.rate_acquire(requests).await)
    }

    /// Charges (`delta > 0`) or gives back (`delta < 0`) units at one level after the
    /// fact, such as actual tokens minus the estimate, at a level of `limit` units per
    /// window. A level with no recent activity is left alone.
    pub async fn rate_adjust(
        &self,
        key: &str,
        window_ms: u64,
        limit: u64,
        delta: i64,
    ) -> Result<(), StoreError> {
        if window_ms == 0 {
            return Err(StoreError::Invalid("rate window must be > 0 ms".into()));
        }
        if delta == 0 {
            return Ok(());
        }
        match self {
            Counters::Memory(memory) => {
                memory.adjust(key, window_ms, delta);
                Ok(())
            }
            Counters::Redis(leases) => {
                leases
                    .redis()
                    .rate_adjust(key, window_ms, limit, delta)
                    .await
            }
        }
    }

    /// Takes one concurrency lease at each `(key, limit)`, all or nothing. Leases expire
    /// after `lease_ttl_ms` if never released.
    pub async fn in_flight_acquire(
        &self,
        levels: &[(&str, u64)],
        lease_ttl_ms: u64,
    ) -> Result<Result<InFlightTicket, InFlightDenied>, StoreError> {
        if lease_ttl_ms == 0 {
            return Err(StoreError::Invalid("lease ttl must be > 0 ms".into()));
        }
        dispatch!(self, c => c.in_flight_acquire(levels, lease_ttl_ms).await)
    }

    /// Gives a ticket's leases back.
    pub async fn in_flight_release(&self, ticket: InFlightTicket) -> Result<(), StoreError> {
        dispatch!(self, c => c.in_flight_release(ticket).await)
    }

    /// Leases currently held at `key` (expired ones excluded); for metrics and tests.
    pub async fn in_flight_count(&self, key: &str) -> Result<u64, StoreError> {
        dispatch!(self, c => c.in_flight_count(key).await)
    }
}

/// Appends `n` in decimal (lease and member names are made per request; `format!`
/// costs several times as much).
pub(crate) fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[at..].iter().map(|&digit| char::from(digit)));
}

/// Per-level state of the in-process maps, by (window, counter name): looked up with
/// the request's borrowed name in one probe, so a request allocates only for a level
/// seen for the first time.
#[derive(Debug)]
pub(crate) struct ByWindow<V>(crate::FastMap<(u64, String), V>);

/// A `(window, name)` key, borrowed; hashes as the owned tuple does.
#[derive(Hash)]
struct WindowName<'a>(u64, &'a str);

impl hashbrown::Equivalent<(u64, String)> for WindowName<'_> {
    fn equivalent(&self, (window, name): &(u64, String)) -> bool {
        self.0 == *window && self.1 == name
    }
}

impl From<&WindowName<'_>> for (u64, String) {
    fn from(key: &WindowName<'_>) -> Self {
        (key.0, key.1.to_owned())
    }
}

impl<V> Default for ByWindow<V> {
    fn default() -> Self {
        ByWindow(crate::FastMap::default())
    }
}

impl<V> ByWindow<V> {
    pub(crate) fn get_mut(&mut self, window_ms: u64, key: &str) -> Option<&mut V> {
        self.0.get_mut(&WindowName(window_ms, key))
    }

    pub(crate) fn get_or_insert_with(
        &mut self,
        window_ms: u64,
        key: &str,
        new: impl FnOnce() -> V,
    ) -> &mut V {
        // One lookup by the borrowed name; the name is copied only when inserted.
        self.0
            .entry_ref(&WindowName(window_ms, key))
            .or_insert_with(new)
    }

    /// Keeps the entries `keep` says to, by (window, name).
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u64, &str, &mut V) -> bool) {
        self.0
            .retain(|(window, name), value| keep(*window, name, value));
    }
}

fn admit_in_memory(
    memory: &MemoryCounters,
    rates: &[RateRequest<'_>],
    slots: &[(&str, u64)],
) -> Result<Result<Ticket, Denied>, StoreError> {
    validate(rates)?;
    Ok(memory.admit(rates, slots))
}

fn validate(requests: &[RateRequest<'_>]) -> Result<(), StoreError> {
    if requests.iter().any(|r| r.window_ms == 0) {
        return Err(StoreError::Invalid("rate window must be > 0 ms".into()));
    }
    Ok(())
}

/// The GCRA decision for one level, shared by both backends' bookkeeping.
///
/// Times are microseconds on the caller's clock; returns the new TAT or the denial.
pub(crate) fn gcra(
    tat: f64,
    now: f64,
    limit: u64,
    window_ms: u64,
    amount: u64,
    index: usize,
) -> Result<(f64, f64), RateDenied> {
    let window = window_ms as f64 * 1000.0;
    let tat = tat.max(now);
    let remaining_at = |interval: f64| -> u64 {
        (((window - (tat - now)) / interval) + 1e-9)
            .floor()
            .max(0.0) as u64
    };
    let reset_ms = ((tat - now) / 1000.0).ceil() as u64;
    if limit == 0 || amount > limit {
        return Err(RateDenied {
            index,
            retry_after_ms: window_ms,
            limit,
            remaining: if limit == 0 {
                0
            } else {
                remaining_at(window / limit as f64)
            },
            reset_ms,
        });
    }
    let interval = window / limit as f64;
    let new_tat = tat + amount as f64 * interval;
    if new_tat - now > window + 0.5 {
        return Err(RateDenied {
            index,
            retry_after_ms: ((new_tat - window - now) / 1000.0).ceil() as u64,
            limit,
            remaining: remaining_at(interval),
            reset_ms,
        });
    }
    Ok((new_tat, interval))
}

#[cfg(test)]
mod tests {
    use super::push_decimal;

    #[test]
    fn decimals_are_written_whole() {
        for n in [0, 7, 10, 1_234_567, u64::MAX] {
            let mut out = String::from("m");
            push_decimal(&mut out, n);
            assert_eq!(out, format!("m{n}"));
        }
    }
}
