//! Money as an integer count of nanodollars.
//!
//! Spend is summed across millions of requests, so it must be exact and cheap to add:
//! floating point drifts and micro-dollars are too coarse (one gpt-4o-mini input token
//! costs 0.15 µUSD, one Gemini 2.0 Flash-Lite cached token 0.01875 µUSD). A nanodollar
//! (10⁻⁹ USD) in an `i64` covers ±9.2 billion dollars, far beyond any budget, and keeps
//! every per-request figure an integer.

use std::fmt;
use std::iter::Sum;
use std::ops::Add;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Nanodollars per dollar.
const PER_USD: i64 = 1_000_000_000;

/// An amount of US dollars, in units of 10⁻⁹ USD.
///
/// Arithmetic saturates instead of wrapping: a budget that overflows must read as
/// "spent", never as a large negative balance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nanodollars(pub i64);

/// Why a string is not an amount of USD.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not an amount of USD (expected e.g. `12.50` or `$0.000150`)")]
    Syntax(String),
    #[error("`{0}` has more than 9 decimal places; the smallest unit is one nanodollar")]
    TooPrecise(String),
    #[error("`{0}` is out of range (at most about 9.2 billion USD)")]
    OutOfRange(String),
}

impl Nanodollars {
    pub const ZERO: Nanodollars = Nanodollars(0);
    pub const MAX: Nanodollars = Nanodollars(i64::MAX);

    /// Converts a USD amount, rounding to the nearest nanodollar (half away from zero).
    ///
    /// Used for configuration values, which arrive as YAML/JSON numbers. NaN becomes
    /// zero and amounts beyond the `i64` range saturate, so no input can panic.
    pub fn from_usd(usd: f64) -> Nanodollars {
        if usd.is_nan() {
            return Nanodollars::ZERO;
        }
        // `as` saturates on overflow and infinities.
        Nanodollars((usd * PER_USD as f64).round() as i64)
    }

    /// The amount in USD as a float, for display and metrics only (not for sums).
    pub fn to_usd(self) -> f64 {
        self.0 as f64 / PER_USD as f64
    }

    pub fn saturating_add(self, other: Nanodollars) -> Nanodollars {
        Nanodollars(self.0.saturating_add(other.0))
    }

    pub fn saturating_sub(self, other: Nanodollars) -> Nanodollars {
        Nanodollars(self.0.saturating_sub(other.0))
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
}

/// Saturating, like [`Nanodollars::saturating_add`].
impl Add for Nanodollars {
    type Output = Nanodollars;
    fn add(self, rhs: Nanodollars) -> Nanodollars {
        self.saturating_add(rhs)
    }
}

impl Sum for Nanodollars {
    fn sum<I: Iterator<Item = Nanodollars>>(iter: I) -> Nanodollars {
        iter.fold(Nanodollars::ZERO, Nanodollars::saturating_add)
    }
}

/// `$12.345678`: USD with six decimals, rounded half away from zero, because
/// dashboards and logs read in micro-dollars; `{:#}` prints all nine decimals.
impl fmt::Display for Nanodollars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let per = PER_USD as u64;
        if f.alternate() {
            write!(f, "{sign}${}.{:09}", abs / per, abs % per)
        } else {
            // Round to micro-dollars in u128 so u64::MAX-ish values cannot overflow.
            let micros = (u128::from(abs) + 500) / 1000;
            write!(f, "{sign}${}.{:06}", micros / 1_000_000, micros % 1_000_000)
        }
    }
}

/// Parses `12.5`, `$12.5`, `-0.000000001`, exactly (decimal digits, no float).
impl FromStr for Nanodollars {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Nanodollars, MoneyError> {
        let err = || MoneyError::Syntax(s.to_string());
        let t = s.trim();
        let (negative, t) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let t = t.strip_prefix('$').unwrap_or(t);
        let (whole, frac) = match t.split_once('.') {
            Some((w, f)) => (w, f),
            None => (t, ""),
        };
        if whole.is_empty() && frac.is_empty() {
            return Err(err());
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        if frac.len() > 9 {
            return Err(MoneyError::TooPrecise(s.to_string()));
        }
        let range = || MoneyError::OutOfRange(s.to_string());
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| range())?
        };
        let mut frac_n: i64 = 0;
        for b in frac.bytes() {
            frac_n = frac_n * 10 + i64::from(b - b'0');
        }
        for _ in frac.len()..9 {
            frac_n *= 10;
        }
        let n = whole
            .checked_mul(PER_USD)
            .and_then(|w| w.checked_add(frac_n))
            .ok_or_else(range)?;
        Ok(Nanodollars(if negative { -n } else { n }))
    }
}

/// Serialises as a number of USD, the same form it is configured in.
impl Serialize for Nanodollars {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.to_usd())
    }
}

/// Deserialises from a number of USD (`12.5`), or from a string (`"$12.50"`) for an
/// amount that must be exact.
impl<'de> Deserialize<'de> for Nanodollars {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Nanodollars, D::Error> {
        struct UsdVisitor;
        impl Visitor<'_> for UsdVisitor {
            type Value = Nanodollars;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount of USD, such as 12.50")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Nanodollars, E> {
                if !v.is_finite() || v.abs() >= (i64::MAX / PER_USD) as f64 {
                    return Err(E::custom(format!("{v} is not a usable amount of USD")));
                }
                Ok(Nanodollars::from_usd(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Nanodollars, E> {
                v.checked_mul(PER_USD)
                    .map(Nanodollars)
                    .ok_or_else(|| E::custom(format!("{v} USD is out of range")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Nanodollars, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(|v| v.checked_mul(PER_USD))
                    .map(Nanodollars)
                    .ok_or_else(|| E::custom(format!("{v} USD is out of range")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Nanodollars, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(UsdVisitor)
    }
}
