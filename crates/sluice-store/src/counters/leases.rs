//! Shared limits without a Redis round trip per request: each instance leases spare rate
//! units and concurrency slots from Redis and spends them locally.
//!
//! A request whose every level has enough spare here is admitted in process (a mutex and
//! a few map lookups). Otherwise it makes one *trip*: the acquire script decides the
//! request exactly, all or nothing, and — only when everything fits — hands back spare
//! for later requests: at most a quarter of what is left at each level, and no more than
//! a level's [`LeaseSettings`] share. Near a limit the quarter rounds to nothing, so the
//! last units of every limit are decided in Redis one request at a time.
//!
//! What this guarantees (the README states it too):
//! - **No overshoot of concurrency**: a slot is held in Redis before any request here uses
//!   it, so the requests in flight across all instances never exceed the limit.
//! - **Rate overshoot bounded by the hold time**: a leased unit is counted in Redis when it
//!   is leased and may be spent up to [`LeaseSettings::hold`] later; in any interval the
//!   units admitted are at most `limit + limit·(d + hold)/window`.
//! - **Undershoot bounded and brief**: spare that one instance holds cannot serve another,
//!   so near a limit another instance may refuse up to the spare held elsewhere (at most a
//!   quarter of what was left when it was leased), for at most `hold`, after which unused
//!   spare goes back to Redis.
//!
//! Trips for one lease group (a virtual key's chain) run one at a time: a request that
//! finds no spare waits for the group's trip in flight and looks again before making its
//! own, so concurrent requests of one key never refuse each other while spare is on its
//! way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use super::redis::{Acquired, RateAsk, RedisCounters, SlotAsk};
use super::{ByWindow, InFlightDenied, RateDenied, RateRequest, push_decimal};
use crate::{FastMap, StoreError};

/// How leasing behaves; the defaults suit production.
#[derive(Debug, Clone, Copy)]
pub struct LeaseSettings {
    /// Spare older than this (rate units) or idle this long (slots) goes back to Redis.
    pub hold: Duration,
    /// A rate level leases at most `limit / rate_share` spare units at a time.
    pub rate_share: u64,
    /// A concurrency level leases at most this many spare slots at a time.
    pub max_spare_slots: u64,
    /// Held slots expire in Redis this long after their last refresh, so a crashed
    /// instance's slots come free; a live instance refreshes them every third of it.
    pub slot_ttl: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings {
            hold: Duration::from_secs(1),
            rate_share: 64,
            max_spare_slots: 32,
            slot_ttl: Duration::from_secs(60),
        }
    }
}

/// Why an admission was refused; nothing was taken at any level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Rate(RateDenied),
    InFlight(InFlightDenied),
}

/// The concurrency slots one admitted request holds; give it back to
/// [`crate::Counters::release`].
#[derive(Debug, Default, PartialEq, Eq)]
#[must_use = "a ticket holds concurrency slots until released"]
pub struct Ticket {
    /// Redis: (level key, member) per concurrency level.
    pub(crate) slots: Vec<(Arc<str>, String)>,
    /// Memory: the index of each level where a slot is held (`u32`s, so that four fit
    /// in the space of a `Vec` and a ticket stays small to move).
    pub(crate) held: SmallVec<[u32; 4]>,
}

#[derive(Debug)]
struct RateSpare {
    units: u64,
    limit: u64,
    /// When spare was last added; it goes back `hold` after.
    topped_up: Instant,
}

#[derive(Debug, Default)]
struct SlotPool {
    /// Members held in Redis and not in use here.
    free: Vec<String>,
    /// Members held in Redis and in use by a request here.
    busy: Vec<String>,
    /// When the pool was last used; idle free members go back `hold` after.
    used: Option<Instant>,
}

#[derive(Debug, Default)]
struct Pools {
    rates: ByWindow<RateSpare>,
    slots: FastMap<String, SlotPool>,
}

/// What spare covered of one request: the rate levels (bit `i` for `rates[i]`; levels past
/// the 64th are never taken from spare) and a member per slot level.
struct Taken {
    rates: u64,
    members: Vec<Option<String>>,
}

impl Taken {
    fn rate(&self, level: usize) -> bool {
        level < 64 && self.rates & (1 << level) != 0
    }

    /// Whether spare covered all `rate_levels` rate levels and every slot level.
    fn covers(&self, rate_levels: usize) -> bool {
        (0..rate_levels).all(|level| self.rate(level)) && self.members.iter().all(Option::is_some)
    }

    /// The ticket of the slot members held.
    fn ticket(self, slots: &[(&str, u64)]) -> Ticket {
        let slots = slots
            .iter()
            .zip(self.members)
            .filter_map(|((key, _), member)| Some((Arc::from(*key), member?)))
            .collect();
        Ticket {
            slots,
            held: SmallVec::new(),
        }
    }
}

impl Pools {
    /// Takes from spare whatever level it covers (a rate level with enough units, a slot
    /// level with a free member).
    fn take(&mut self, rates: &[RateRequest<'_>], slots: &[(&str, u64)]) -> Taken {
        let mut taken = Taken {
            rates: 0,
            members: Vec::with_capacity(slots.len()),
        };
        for (level, r) in rates.iter().enumerate().take(64) {
            if let Some(spare) = self.rates.get_mut(r.window_ms, r.key)
                && spare.units >= r.amount
                && spare.limit == r.limit
            {
                spare.units -= r.amount;
                taken.rates |= 1 << level;
            }
        }
        let now = Instant::now();
        for (key, _) in slots {
            let member = self.slots.get_mut(*key).and_then(|pool| {
                let member = pool.free.pop()?;
                pool.busy.push(member.clone());
                pool.used = Some(now);
                Some(member)
            });
            taken.members.push(member);
        }
        taken
    }

    /// Undoes a [`Pools::take`].
    fn put_back(&mut self, rates: &[RateRequest<'_>], slots: &[(&str, u64)], taken: Taken) {
        for (level, r) in rates.iter().enumerate() {
            if taken.rate(level)
                && let Some(spare) = self.rates.get_mut(r.window_ms, r.key)
            {
                spare.units = spare.units.saturating_add(r.amount);
            }
        }
        for ((key, _), member) in slots.iter().zip(taken.members) {
            if let Some(member) = member
                && let Some(pool) = self.slots.get_mut(*key)
            {
                pool.busy.retain(|held| *held != member);
                pool.free.push(member);
            }
        }
    }
}

struct Inner {
    redis: RedisCounters,
    settings: LeaseSettings,
    prefix: String,
    pools: Mutex<Pools>,
    groups: Mutex<FastMap<String, Arc<tokio::sync::Mutex<()>>>>,
    trips: AtomicU64,
}

/// Redis counters spent through local leases; clones share the leases.
#[derive(Clone)]
pub struct RedisLeases {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisLeases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLeases")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RedisLeases {
    /// Leases over `redis`; starts the task that gives back stale spare and keeps held
    /// slots alive (it stops when the last clone is dropped). Needs a Tokio runtime.
    pub fn new(redis: RedisCounters, settings: LeaseSettings) -> RedisLeases {
        let inner = Arc::new(Inner {
            prefix: redis.member_prefix(),
            redis,
            settings,
            pools: Mutex::new(Pools::default()),
            groups: Mutex::new(FastMap::default()),
            trips: AtomicU64::new(0),
        });
        tokio::spawn(maintain(Arc::downgrade(&inner)));
        RedisLeases { inner }
    }

    /// The underlying counters (exact, one round trip per call).
    pub fn redis(&self) -> &RedisCounters {
        &self.inner.redis
    }

    /// Round trips made to admit requests so far (for tests and metrics).
    pub fn trips(&self) -> u64 {
        self.inner.trips.load(Ordering::Relaxed)
    }

    /// Admits a request at every level, from spare when there is enough, else by one trip.
    pub async fn admit(
        &self,
        group: &str,
        rates: &[RateRequest<'_>],
        slots: &[(&str, u64)],
    ) -> Result<Result<Ticket, Denied>, StoreError> {
        if let Some(ticket) = self.take_spare(rates, slots) {
            return Ok(Ok(ticket));
        }
        let trip_lock = {
            let mut groups = lock(&self.inner.groups);
            Arc::clone(groups.entry(group.to_owned()).or_default())
        };
        let _one_trip_at_a_time = trip_lock.lock().await;
        // The trip just finished may have brought enough.
        if let Some(ticket) = self.take_spare(rates, slots) {
            return Ok(Ok(ticket));
        }
        self.trip(rates, slots).await
    }

    /// Takes every level's share from spare, or nothing.
    fn take_spare(&self, rates: &[RateRequest<'_>], slots: &[(&str, u64)]) -> Option<Ticket> {
        let mut pools = lock(&self.inner.pools);
        let taken = pools.take(rates, slots);
        if taken.covers(rates.len()) {
            return Some(taken.ticket(slots));
        }
        pools.put_back(rates, slots, taken);
        None
    }

    /// One exact decision in Redis for the levels spare cannot cover (those it can are
    /// taken from spare, and put back if Redis refuses), leasing more spare when
    /// everything fits.
    async fn trip(
        &self,
        rates: &[RateRequest<'_>],
        slots: &[(&str, u64)],
    ) -> Result<Result<Ticket, Denied>, StoreError> {
        let settings = &self.inner.settings;
        // What spare covers is taken now, and put back if Redis refuses.
        let mut taken = lock(&self.inner.pools).take(rates, slots);
        let rate_levels: Vec<usize> = (0..rates.len()).filter(|&i| !taken.rate(i)).collect();
        let slot_levels: Vec<usize> = (0..slots.len())
            .filter(|&j| taken.members[j].is_none())
            .collect();
        let rate_asks: Vec<RateAsk<'_>> = rate_levels
            .iter()
            .map(|&i| RateAsk {
                request: rates[i],
                want: rates[i].limit / settings.rate_share.max(1),
            })
            .collect();
        let slot_asks: Vec<SlotAsk<'_>> = slot_levels
            .iter()
            .map(|&j| {
                let (key, limit) = slots[j];
                SlotAsk {
                    key,
                    limit,
                    want: settings.max_spare_slots.min(limit / 4),
                }
            })
            .collect();
        let most_slots = slot_asks.iter().map(|ask| ask.want + 1).max().unwrap_or(0);
        let first = self.inner.redis.reserve_members(most_slots);
        let decided = if rate_asks.is_empty() && slot_asks.is_empty() {
            Ok(Acquired::Admitted {
                extra_units: Vec::new(),
                extra_slots: Vec::new(),
            })
        } else {
            self.inner.trips.fetch_add(1, Ordering::Relaxed);
            self.inner
                .redis
                .acquire(
                    &rate_asks,
                    &slot_asks,
                    duration_ms(settings.slot_ttl),
                    &self.inner.prefix,
                    first,
                )
                .await
        };
        let refused = match decided {
            Ok(Acquired::Admitted {
                extra_units,
                extra_slots,
            }) => {
                let now = Instant::now();
                let mut pools = lock(&self.inner.pools);
                for (&i, extra) in rate_levels.iter().zip(extra_units) {
                    if extra == 0 {
                        continue;
                    }
                    let r = &rates[i];
                    let spare = pools
                        .rates
                        .get_or_insert_with(r.window_ms, r.key, || RateSpare {
                            units: 0,
                            limit: r.limit,
                            topped_up: now,
                        });
                    spare.units = spare.units.saturating_add(extra);
                    spare.limit = r.limit;
                    spare.topped_up = now;
                }
                for (&j, extra) in slot_levels.iter().zip(extra_slots) {
                    let pool = pools.slots.entry(slots[j].0.to_owned()).or_default();
                    let mine = self.member(first);
                    pool.busy.push(mine.clone());
                    pool.used = Some(now);
                    for n in 1..=extra {
                        pool.free.push(self.member(first + n));
                    }
                    taken.members[j] = Some(mine);
                }
                return Ok(Ok(taken.ticket(slots)));
            }
            Ok(Acquired::Rate(denied)) => Ok(Denied::Rate(RateDenied {
                index: rate_levels.get(denied.index).copied().unwrap_or(0),
                ..denied
            })),
            Ok(Acquired::Slots(denied)) => Ok(Denied::InFlight(InFlightDenied {
                index: slot_levels.get(denied.index).copied().unwrap_or(0),
            })),
            Err(err) => Err(err),
        };
        // Refused (or Redis failed): put back what spare covered.
        lock(&self.inner.pools).put_back(rates, slots, taken);
        refused.map(Err)
    }

    /// The name of this instance's slot member `number`.
    fn member(&self, number: u64) -> String {
        let mut member = String::with_capacity(self.inner.prefix.len() + 20);
        member.push_str(&self.inner.prefix);
        push_decimal(&mut member, number);
        member
    }

    /// Gives a ticket's slots back to the local pools (no round trip).
    pub fn release(&self, ticket: Ticket) {
        if ticket.slots.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut pools = lock(&self.inner.pools);
        for (key, member) in ticket.slots {
            let pool = pools.slots.entry_ref(&*key).or_default();
            if let Some(at) = pool.busy.iter().position(|held| *held == member) {
                pool.busy.swap_remove(at);
            }
            pool.free.push(member);
            pool.used = Some(now);
        }
    }

    /// Puts each ask's `amount`, reserved for a request that did not use it, back into
    /// spare (a refund or an over-estimate), where the next request there spends it.
    pub fn give_back<'a>(&self, asks: impl IntoIterator<Item = RateRequest<'a>>) {
        let mut pools = lock(&self.inner.pools);
        for ask in asks.into_iter().filter(|ask| ask.amount > 0) {
            let spare = pools
                .rates
                .get_or_insert_with(ask.window_ms, ask.key, || RateSpare {
                    units: 0,
                    limit: ask.limit,
                    topped_up: Instant::now(),
                });
            spare.units = spare.units.saturating_add(ask.amount);
        }
    }

    /// Returns stale spare to Redis now (what the background task does every so often).
    pub async fn return_stale(&self) {
        self.inner.return_stale(false).await;
    }

    /// Returns every spare unit and free slot to Redis now (shutdown, tests).
    pub async fn return_all(&self) {
        self.inner.return_stale(true).await;
    }
}

impl Inner {
    async fn return_stale(&self, everything: bool) {
        let hold = self.settings.hold;
        let now = Instant::now();
        let is_stale = |at: Instant| everything || now.saturating_duration_since(at) >= hold;
        let (units, members) = {
            let mut pools = lock(&self.pools);
            let mut units = Vec::new();
            pools.rates.retain(|window_ms, key, spare| {
                if !is_stale(spare.topped_up) {
                    return true;
                }
                if spare.units > 0 {
                    units.push((key.to_owned(), window_ms, spare.limit, spare.units));
                }
                false
            });
            let mut members = Vec::new();
            pools.slots.retain(|key, pool| {
                if !pool.used.is_none_or(is_stale) {
                    return true;
                }
                members.extend(pool.free.drain(..).map(|member| (key.clone(), member)));
                !pool.busy.is_empty()
            });
            (units, members)
        };
        for (key, window_ms, limit, spare) in units {
            let back = -i64::try_from(spare).unwrap_or(i64::MAX);
            if let Err(err) = self.redis.rate_adjust(&key, window_ms, limit, back).await {
                tracing::debug!(error = %err, "could not return leased rate units");
            }
        }
        if let Err(err) = self.redis.release_members(&members).await {
            tracing::debug!(error = %err, "could not return leased slots; they expire");
        }
    }

    async fn refresh_slots(&self) {
        let held: Vec<(String, String)> = {
            let pools = lock(&self.pools);
            pools
                .slots
                .iter()
                .flat_map(|(key, pool)| {
                    pool.free
                        .iter()
                        .chain(&pool.busy)
                        .map(move |member| (key.clone(), member.clone()))
                })
                .collect()
        };
        if let Err(err) = self
            .redis
            .refresh_members(&held, duration_ms(self.settings.slot_ttl))
            .await
        {
            tracing::warn!(error = %err, "could not refresh held concurrency slots");
        }
    }
}

/// Gives stale spare back every quarter of the hold time, and refreshes held slots every
/// third of their time to live, while any clone of the leases lives.
async fn maintain(inner: Weak<Inner>) {
    let Some(settings) = inner.upgrade().map(|inner| inner.settings) else {
        return;
    };
    let tick = (settings.hold / 4).max(Duration::from_millis(10));
    let refresh_every = settings.slot_ttl / 3;
    let mut ticks = tokio::time::interval(tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut refreshed = Instant::now();
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.return_stale(false).await;
        if refreshed.elapsed() >= refresh_every {
            refreshed = Instant::now();
            inner.refresh_slots().await;
        }
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
