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
//! - `{prefix}rl:{window_ms}:{key}` — a GCRA state (hash: `t` TAT µs, `i` interval µs);
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
    rate_acquire: Script,
    rate_adjust: Script,
    in_flight_acquire: Script,
    spend_seed: Script,
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
                rate_acquire: Script::new(include_str!("rate_acquire.lua")),
                rate_adjust: Script::new(include_str!("rate_adjust.lua")),
                in_flight_acquire: Script::new(include_str!("in_flight_acquire.lua")),
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

    pub(crate) async fn rate_acquire(
        &self,
        requests: &[RateRequest<'_>],
    ) -> Result<Result<(), RateDenied>, StoreError> {
        if requests.is_empty() {
            return Ok(Ok(()));
        }
        let mut invocation = self.scripts.rate_acquire.prepare_invoke();
        invocation.arg(EPOCH_S);
        for r in requests {
            invocation
                .key(self.rate_key(r.key, r.window_ms))
                .arg(r.limit)
                .arg(r.window_ms)
                .arg(r.amount);
        }
        let mut conn = self.conn.clone();
        let reply: Vec<i64> = invocation.invoke_async(&mut conn).await?;
        match reply.as_slice() {
            [1] => Ok(Ok(())),
            [0, index, retry, limit, remaining, reset] => Ok(Err(RateDenied {
                index: (*index).max(0) as usize,
                retry_after_ms: (*retry).max(0) as u64,
                limit: (*limit).max(0) as u64,
                remaining: (*remaining).max(0) as u64,
                reset_ms: (*reset).max(0) as u64,
            })),
            _ => Err(StoreError::Invalid(
                "unexpected reply from the rate-limit script".into(),
            )),
        }
    }

    pub(crate) async fn rate_adjust(
        &self,
        key: &str,
        window_ms: u64,
        delta: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .scripts
            .rate_adjust
            .key(self.rate_key(key, window_ms))
            .arg(EPOCH_S)
            .arg(delta)
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
        let lease = format!(
            "{:016x}-{}",
            self.instance,
            self.next_lease.fetch_add(1, Ordering::Relaxed)
        );
        let keys: Vec<String> = levels.iter().map(|(k, _)| self.flight_key(k)).collect();
        if !keys.is_empty() {
            let mut invocation = self.scripts.in_flight_acquire.prepare_invoke();
            invocation.arg(lease_ttl_ms).arg(&lease);
            for (key, (_, limit)) in keys.iter().zip(levels) {
                invocation.key(key).arg(*limit);
            }
            let mut conn = self.conn.clone();
            let reply: i64 = invocation.invoke_async(&mut conn).await?;
            if reply >= 0 {
                return Ok(Err(InFlightDenied {
                    index: reply as usize,
                }));
            }
        }
        Ok(Ok(InFlightTicket { keys, lease }))
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
