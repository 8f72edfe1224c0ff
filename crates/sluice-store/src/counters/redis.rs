//! Counters in Redis, shared by every gateway instance using the same Redis and prefix.
//!
//! Every decision that reads and writes is one Lua script (`redis::Script`: EVALSHA,
//! falling back to EVAL when Redis has not seen the script), which Redis runs atomically;
//! the scripts read the clock with `redis.call('TIME')` so instances with skewed clocks
//! still agree. One `ConnectionManager` multiplexes all calls over one connection and
//! reconnects in the background; a call made while Redis is unreachable fails within the
//! timeout with [`StoreError::Unavailable`], and the gateway decides to fail open or closed.
//!
//! Keys (all under the prefix, `sluice:` by default):
//! - `{prefix}spend:{budget_key}:{window_start}` — a budget window's total (string int);
//! - `{prefix}rl:{window_ms}:{key}` — a GCRA state (string: the TAT, µs since `EPOCH_S`);
//! - `{prefix}if:{key}` — concurrency leases (sorted set: lease id → expiry unix ms).
//!
//! The keys of one call are not hash-tagged, so a multi-level check needs a single Redis
//! node (or a cluster with a common hash tag in the caller's key names).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{InFlightDenied, InFlightTicket, RateDenied, RateRequest};
use crate::StoreError;
use crate::error::redact_url;

/// Times in the rate scripts are measured from this unix second, keeping microsecond
/// timestamps near 2^50 rather than 2^61 so doubles hold them exactly.
const EPOCH_S: i64 = 1_700_000_000;

/// How long a call waits for Redis before reporting it unavailable.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1000);

#[derive(Debug)]
struct Scripts {
    acquire: Script,
    rate_adjust: Script,
    spend_seed: Script,
}

/// One rate level of an [`RedisCounters::acquire`]: the request, and how many extra units
/// the caller would like to lease.
pub(crate) struct RateAsk<'a> {
    pub request: RateRequest<'a>,
    pub want: u64,
}

/// One concurrency level of an [`RedisCounters::acquire`].
pub(crate) struct SlotAsk<'a> {
    pub key: &'a str,
    pub limit: u64,
    pub want: u64,
}

/// What one acquire script decided.
pub(crate) enum Acquired {
    /// Admitted: the extra units leased at each rate level, the extra slots at each
    /// concurrency level (members `first + 1 ..= first + extra`; `first` is the request's).
    Admitted {
        extra_units: Vec<u64>,
        extra_slots: Vec<u64>,
    },
    Rate(RateDenied),
    Slots(InFlightDenied),
}

/// Redis-backed counters; clones share the connection.
#[derive(Clone)]
pub struct RedisCounters {
    conn: ConnectionManager,
    prefix: Arc<str>,
    scripts: Arc<Scripts>,
    /// Distinguishes this instance's lease ids from other instances'.
    instance: u64,
    next_lease: Arc<AtomicU64>,
}

impl std::fmt::Debug for RedisCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCounters")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisCounters {
    /// Connects to `url` (`redis://[:password@]host:port[/db]`) with keys under `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<RedisCounters, StoreError> {
        Self::connect_with_timeout(url, prefix, DEFAULT_TIMEOUT).await
    }

    /// As [`RedisCounters::connect`], with the connect and response timeout given.
    pub async fn connect_with_timeout(
        url: &str,
        prefix: &str,
        timeout: Duration,
    ) -> Result<RedisCounters, StoreError> {
        let client = redis::Client::open(url).map_err(|_| {
            StoreError::Invalid(format!("cannot parse Redis URL {}", redact_url(url)))
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Unavailable(why) => {
                    StoreError::Unavailable(format!("cannot connect to {}: {why}", redact_url(url)))
                }
                other => other,
            })?;
        Ok(RedisCounters {
            conn,
            prefix: Arc::from(prefix),
            scripts: Arc::new(Scripts {
                acquire: Script::new(include_str!("acquire.lua")),
                rate_adjust: Script::new(include_str!("rate_adjust.lua")),
                spend_seed: Script::new(include_str!("spend_seed.lua")),
            }),
            instance: fastrand::u64(..),
            next_lease: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn spend_key(&self, budget_key: &str, window_start: i64) -> String {
        format!("{}spend:{budget_key}:{window_start}", self.prefix)
    }

    fn rate_key(&self, key: &str, window_ms: u64) -> String {
        format!("{}rl:{window_ms}:{key}", self.prefix)
    }

    fn flight_key(&self, key: &str) -> String {
        format!("{}if:{key}", self.prefix)
    }

    pub(crate) async fn spend_add(
        &self,
        budget_key: &str,
        window_start: i64,
        ttl_secs: u64,
        nanos: i64,
    ) -> Result<i64, StoreError> {
        let key = self.spend_key(budget_key, window_start);
        let mut conn = self.conn.clone();
        // MULTI/EXEC rather than a script: INCRBY's exact i64 reply would pass through a
        // Lua double inside a script.
        let (total,): (i64,) = redis::pipe()
            .atomic()
            .incr(&key, nanos)
            .expire(&key, ttl_secs.max(1) as i64)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(total)
    }

    pub(crate) async fn spend_get(
        &self,
        budget_key: &str,
        window_start: i64,
    ) -> Result<i64, StoreError> {
        let key = self.spend_key(budget_key, window_start);
        let mut conn = self.conn.clone();
        let value: Option<i64> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
        Ok(value.unwrap_or(0))
    }

    pub(crate) async fn spend_seed(
        &self,
        budget_key: &str,
        window_start: i64,
        ttl_secs: u64,
        nanos: i64,
    ) -> Result<i64, StoreError> {
        let key = self.spend_key(budget_key, window_start);
        let mut conn = self.conn.clone();
        let total: String = self
            .scripts
            .spend_seed
            .key(&key)
            .arg(nanos)
            .arg(ttl_secs.max(1))
            .invoke_async(&mut conn)
            .await?;
        total
            .parse()
            .map_err(|_| StoreError::Invalid(format!("spend counter {key} is not an integer")))
    }

    /// The member prefix of this instance's slots.
    pub(crate) fn member_prefix(&self) -> String {
        format!("{:016x}-", self.instance)
    }

    /// Reserves `count` consecutive member numbers; returns the first.
    pub(crate) fn reserve_members(&self, count: u64) -> u64 {
        self.next_lease.fetch_add(count.max(1), Ordering::Relaxed)
    }

    /// Runs the acquire script: every rate level and slot level at once, all or nothing,
    /// plus leased extras when everything fits. Slot members are `prefix` followed by
    /// `first_member + n`.
    pub(crate) async fn acquire(
        &self,
        rates: &[RateAsk<'_>],
        slots: &[SlotAsk<'_>],
        slot_ttl_ms: u64,
        prefix: &str,
        first_member: u64,
    ) -> Result<Acquired, StoreError> {
        let mut invocation = self.scripts.acquire.prepare_invoke();
        invocation.arg(EPOCH_S).arg(rates.len());
        for ask in rates {
            let r = &ask.request;
            invocation
                .key(self.rate_key(r.key, r.window_ms))
                .arg(r.limit)
                .arg(r.window_ms)
                .arg(r.amount)
                .arg(ask.want);
        }
        invocation
            .arg(slots.len())
            .arg(slot_ttl_ms)
            .arg(prefix)
            .arg(first_member);
        for ask in slots {
            invocation
                .key(self.flight_key(ask.key))
                .arg(ask.limit)
                .arg(ask.want);
        }
        let mut conn = self.conn.clone();
        let reply: Vec<i64> = invocation.invoke_async(&mut conn).await?;
        let count = |n: &i64| (*n).max(0) as u64;
        match reply.split_first() {
            Some((1, extras)) if extras.len() == rates.len() + slots.len() => {
                let (units, slots) = extras.split_at(rates.len());
                Ok(Acquired::Admitted {
                    extra_units: units.iter().map(count).collect(),
                    extra_slots: slots.iter().map(count).collect(),
                })
            }
            Some((0, [index, retry, limit, remaining, reset])) => Ok(Acquired::Rate(RateDenied {
                index: count(index) as usize,
                retry_after_ms: count(retry),
                limit: count(limit),
                remaining: count(remaining),
                reset_ms: count(reset),
            })),
            Some((2, [index])) => Ok(Acquired::Slots(InFlightDenied {
                index: count(index) as usize,
            })),
            _ => Err(StoreError::Invalid(
                "unexpected reply from the acquire script".into(),
            )),
        }
    }

    pub(crate) async fn rate_acquire(
        &self,
        requests: &[RateRequest<'_>],
    ) -> Result<Result<(), RateDenied>, StoreError> {
        if requests.is_empty() {
            return Ok(Ok(()));
        }
        let asks: Vec<RateAsk<'_>> = requests
            .iter()
            .map(|request| RateAsk {
                request: *request,
                want: 0,
            })
            .collect();
        match self.acquire(&asks, &[], 0, "", 0).await? {
            Acquired::Admitted { .. } => Ok(Ok(())),
            Acquired::Rate(denied) => Ok(Err(denied)),
            Acquired::Slots(_) => Err(StoreError::Invalid(
                "unexpected reply from the acquire script".into(),
            )),
        }
    }

    pub(crate) async fn rate_adjust(
        &self,
        key: &str,
        window_ms: u64,
        limit: u64,
        delta: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .scripts
            .rate_adjust
            .key(self.rate_key(key, window_ms))
            .arg(EPOCH_S)
            .arg(delta)
            .arg(limit.max(1))
            .arg(window_ms)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    pub(crate) async fn in_flight_acquire(
        &self,
        levels: &[(&str, u64)],
        lease_ttl_ms: u64,
    ) -> Result<Result<InFlightTicket, InFlightDenied>, StoreError> {
        let prefix = self.member_prefix();
        let number = self.reserve_members(1);
        let lease = format!("{prefix}{number}");
        let keys: Vec<String> = levels.iter().map(|(k, _)| self.flight_key(k)).collect();
        if !levels.is_empty() {
            let asks: Vec<SlotAsk<'_>> = levels
                .iter()
                .map(|(key, limit)| SlotAsk {
                    key,
                    limit: *limit,
                    want: 0,
                })
                .collect();
            match self
                .acquire(&[], &asks, lease_ttl_ms, &prefix, number)
                .await?
            {
                Acquired::Admitted { .. } => {}
                Acquired::Slots(denied) => return Ok(Err(denied)),
                Acquired::Rate(_) => {
                    return Err(StoreError::Invalid(
                        "unexpected reply from the acquire script".into(),
                    ));
                }
            }
        }
        Ok(Ok(InFlightTicket { keys, lease }))
    }

    /// Removes slot members (leases) from their sets: `(level key, member)` pairs.
    pub(crate) async fn release_members(
        &self,
        members: &[(String, String)],
    ) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (key, member) in members {
            pipe.zrem(self.flight_key(key), member).ignore();
        }
        let mut conn = self.conn.clone();
        let () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    /// Pushes the expiry of held slot members `ttl_ms` from now (re-adding any that
    /// expired meanwhile): what keeps a long-held slot alive while its instance lives.
    pub(crate) async fn refresh_members(
        &self,
        members: &[(String, String)],
        ttl_ms: u64,
    ) -> Result<(), StoreError> {
        if members.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut conn).await?;
        let expiry = secs * 1000 + micros / 1000 + ttl_ms as i64;
        let mut pipe = redis::pipe();
        for (key, member) in members {
            let key = self.flight_key(key);
            pipe.zadd(&key, member, expiry).ignore();
            pipe.pexpire(&key, ttl_ms as i64).ignore();
        }
        let () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    pub(crate) async fn in_flight_release(&self, ticket: InFlightTicket) -> Result<(), StoreError> {
        if ticket.keys.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for key in &ticket.keys {
            pipe.zrem(key, &ticket.lease).ignore();
        }
        let mut conn = self.conn.clone();
        let () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    pub(crate) async fn in_flight_count(&self, key: &str) -> Result<u64, StoreError> {
        let key = self.flight_key(key);
        let mut conn = self.conn.clone();
        // Count only unexpired leases, measured on Redis's clock.
        let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut conn).await?;
        let now_ms = secs * 1000 + micros / 1000;
        let n: u64 = redis::cmd("ZCOUNT")
            .arg(&key)
            .arg(format!("({now_ms}"))
            .arg("+inf")
            .query_async(&mut conn)
            .await?;
        Ok(n)
    }
}
