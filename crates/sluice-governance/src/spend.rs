//! What a response cost: usage × price.
//!
//! Runs after every response, so it is plain integer arithmetic: each token class is
//! multiplied by its [`Rate`](crate::pricing::Rate) (nanodollars per million tokens) in
//! `u128`, the products are summed, and the sum is divided by a million once, rounding
//! half up. No float ever touches a charge, and rounding happens once per request
//! rather than once per token class.

use sluice_core::chat::Usage;

use crate::money::Nanodollars;
use crate::pricing::Price;

/// The cost of `usage` at `price`:
///
/// ```text
/// (input − cached − cache writes) × input + cached × cached_input
///   + cache writes × cache_write + (output − reasoning) × output + reasoning × reasoning
/// ```
///
/// `Usage` counts cached reads and cache writes inside `input_tokens`, and reasoning
/// inside `output_tokens`. Providers sometimes report parts larger than the whole; the
/// whole is then trusted and the parts are clamped into it (cache reads first, then
/// cache writes), so the result is never negative and never exceeds what the totals
/// could cost at the dearest rate. The result saturates at [`Nanodollars::MAX`].
pub fn cost(price: &Price, usage: &Usage) -> Nanodollars {
    let cached = usage.cached_input_tokens.min(usage.input_tokens);
    let written = usage.cache_write_tokens.min(usage.input_tokens - cached);
    let plain_in = usage.input_tokens - cached - written;
    let reasoning = usage.reasoning_tokens.min(usage.output_tokens);
    let plain_out = usage.output_tokens - reasoning;

    let term = |tokens: u64, rate: u64| u128::from(tokens) * u128::from(rate);
    let total = term(plain_in, price.input.0)
        .saturating_add(term(cached, price.cached_input.0))
        .saturating_add(term(written, price.cache_write.0))
        .saturating_add(term(plain_out, price.output.0))
        .saturating_add(term(reasoning, price.reasoning.0));
    let nanos = total.saturating_add(500_000) / 1_000_000;
    Nanodollars(i64::try_from(nanos).unwrap_or(i64::MAX))
}
