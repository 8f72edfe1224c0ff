//! Storage: governance records and spend in SQLite or PostgreSQL, shared counters in Redis.
//!
//! - [`sql`]: the [`Store`] — customers, teams, virtual keys, budgets, rate limits, the
//!   spend ledger and budget windows, one code path for SQLite and PostgreSQL.
//! - [`spend_writer`]: the [`SpendWriter`] the request path records spend into; it
//!   aggregates in memory and flushes to the store in the background.
//! - [`counters`]: [`Counters`] — budget windows, rate limits and in-flight leases, in
//!   process memory or shared through Redis.
//!
//! This crate only stores and counts: prices, periods and decisions belong to
//! `sluice-governance`. Money is `i64` nanodollars (USD × 1e9) everywhere.

pub mod counters;
mod error;
pub mod spend_writer;
pub mod sql;

pub use counters::{
    Counters, Denied, InFlightDenied, InFlightTicket, LeaseSettings, MemoryCounters, RateDenied,
    RateRequest, RateSlot, RedisCounters, RedisLeases, Ticket,
};
pub use error::{StoreError, redact_url};

/// A hash map for the request path's internal maps: keys come from the config and the
/// admin API, never from request bytes, so a fast seeded hash (foldhash) serves where
/// SipHash's flood resistance would only cost time. hashbrown's rather than std's map, for
/// lookups by a borrowed form of a composite key ([`hashbrown::Equivalent`]).
pub type FastMap<K, V> = hashbrown::HashMap<K, V, foldhash::fast::RandomState>;
pub use spend_writer::{SpendEvent, SpendWriter};
pub use sql::Store;
