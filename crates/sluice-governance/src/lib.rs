//! Governance: who may spend how much on what.
//!
//! All but [`governor`] are pure — no I/O, no database, no clock — so the gateway can
//! call them on the hot path and tests can pin every figure. The governor holds the
//! state and talks to `sluice-store`.
//!
//! - [`money`]: [`Nanodollars`], exact integer money.
//! - [`pricing`]: the shipped price list, operator overrides, lookup by model id.
//! - [`spend`]: [`cost`] of a response's usage at a price.
//! - [`period`]: budget periods and the window an instant falls in.
//! - [`tokens`]: input/output token estimates before the upstream call.
//! - [`keys`]: virtual keys: generation and the HMAC they are stored by.
//! - [`governor`]: the request path's decisions: who calls, may it, what it cost.

pub mod governor;
pub mod keys;
pub mod money;
pub mod pricing;
pub mod spend;
pub mod tokens;

pub use keys::{GeneratedKey, KeyHasher, RandomError, is_virtual_key};
pub use money::{MoneyError, Nanodollars};
pub use pricing::{Price, PriceEntry, PriceTable, PricingError, Rate, ToPrice};
/// Budget periods live in `sluice-core`, where the config parses them.
pub use sluice_core::period;
pub use sluice_core::period::{Alignment, Period, PeriodError, Window};
pub use spend::cost;
pub use tokens::{
    BodyDialect, Tokenizer, estimate_embedding_input, estimate_input, estimate_output, warm_up,
};
