//! The config's `pricing:` list: prices that replace or extend the shipped table
//! (`sluice-governance`'s `pricing.yaml`, which uses the same shape).

use serde::{Deserialize, Deserializer};

/// Above this a price is taken for a unit mistake (USD per token, or cents).
pub const MAX_USD_PER_MILLION: f64 = 1_000_000.0;

/// One price as configured: the shipped `pricing.yaml` and the config file's
/// `pricing:` list use this shape. Prices are USD per million tokens.
///
/// ```yaml
/// - { model: gpt-4o, provider: openai, input: 2.50, output: 10.00, cached_input: 1.25 }
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceEntry {
    pub model: String,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(deserialize_with = "usd_per_million")]
    pub input: f64,
    #[serde(deserialize_with = "usd_per_million")]
    pub output: f64,
    /// Defaults to `input`.
    #[serde(default, deserialize_with = "opt_usd_per_million")]
    pub cached_input: Option<f64>,
    /// Defaults to `input`.
    #[serde(default, deserialize_with = "opt_usd_per_million")]
    pub cache_write: Option<f64>,
    /// Defaults to `output`.
    #[serde(default, deserialize_with = "opt_usd_per_million")]
    pub reasoning: Option<f64>,
}

fn check_usd(v: f64) -> Result<f64, String> {
    if v.is_nan() || v < 0.0 {
        Err(format!(
            "price {v} is negative; prices must be a non-negative number of USD per million tokens"
        ))
    } else if v > MAX_USD_PER_MILLION {
        Err(format!(
            "price {v} is out of range; expected USD per million tokens, at most {MAX_USD_PER_MILLION}"
        ))
    } else {
        Ok(v)
    }
}

fn usd_per_million<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    check_usd(f64::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn opt_usd_per_million<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<f64>::deserialize(d)? {
        Some(v) => check_usd(v).map(Some).map_err(serde::de::Error::custom),
        None => Ok(None),
    }
}
