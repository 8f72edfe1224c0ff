//! Model prices: the shipped list, operator overrides, and lookup by model id.
//!
//! Spend is charged after every response, so lookup runs once per request: the table
//! is a `HashMap` built once, and an exact model id is found without allocating. Ids
//! that carry a provider prefix, a snapshot date or a cloud's decoration
//! (`gpt-4o-2024-08-06`, `anthropic.claude-3-5-haiku-20241022-v1:0`,
//! `claude-sonnet-4@20250514`) are reduced to their base name by slicing, still without
//! allocating. Nothing fuzzier is tried: a wrong price is worse than none, and the
//! caller charges zero (and logs once) for an unknown model.

use std::fmt;
use std::sync::OnceLock;

/// The shipped price list, embedded at build time.
const SHIPPED_YAML: &str = include_str!("../pricing.yaml");

/// Upper bound on a configured price, in USD per million tokens. No model costs
/// anywhere near this; a larger figure is a typo (or a price per token).
use sluice_core::pricing_config::MAX_USD_PER_MILLION;
use sluice_store::FastMap;

/// Why a price list or entry was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PricingError {
    #[error(
        "price `{field}` of model `{model}` is {value}; prices must be a non-negative number of USD per million tokens"
    )]
    Negative {
        model: String,
        field: &'static str,
        value: f64,
    },
    #[error(
        "price `{field}` of model `{model}` is {value}; expected USD per million tokens, at most {MAX_USD_PER_MILLION}"
    )]
    OutOfRange {
        model: String,
        field: &'static str,
        value: f64,
    },
    #[error("a price entry has an empty model name")]
    EmptyModel,
    #[error("price list: {0}")]
    Yaml(String),
}

/// A price in nanodollars per million tokens (USD per million × 10⁹).
///
/// Chosen so that prices are exact integers (every published price has at most nine
/// decimals in USD per million) and one token of a $0.10/M model costs exactly
/// 100 nanodollars: the cost of `n` tokens is `n × rate / 10⁶`, computed in `u128`
/// and rounded once per request (see [`crate::spend::cost`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(pub u64);

impl Rate {
    /// Converts USD per million tokens, rounding to the nearest nanodollar per million.
    pub fn from_usd_per_million(usd: f64) -> Option<Rate> {
        if !(0.0..=MAX_USD_PER_MILLION).contains(&usd) {
            return None;
        }
        Some(Rate((usd * 1e9).round() as u64))
    }

    /// The rate in USD per million tokens (display only).
    pub fn usd_per_million(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Nanodollars per million tokens.
    pub fn nanodollars_per_million(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}/M", self.usd_per_million())
    }
}

/// What one model costs, every default already applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    /// The model name the entry was declared with (the base name, not the request's id).
    pub model: Box<str>,
    /// The provider whose list price this is (`openai`, `anthropic`, …), if stated.
    pub provider: Option<Box<str>>,
    /// Uncached input tokens.
    pub input: Rate,
    pub output: Rate,
    /// Input tokens read from the provider's prompt cache.
    pub cached_input: Rate,
    /// Input tokens written to the prompt cache (Anthropic's 5-minute write price).
    pub cache_write: Rate,
    /// Output tokens spent on reasoning.
    pub reasoning: Rate,
}

/// One price as configured; defined with the config, where `pricing:` is parsed.
pub use sluice_core::pricing_config::PriceEntry;

/// A configured price, validated, with its defaults applied.
pub trait ToPrice {
    /// Validates the entry and applies the defaults. Entries built in code (not
    /// deserialised) are checked here too.
    fn to_price(&self) -> Result<Price, PricingError>;
}

impl ToPrice for PriceEntry {
    fn to_price(&self) -> Result<Price, PricingError> {
        if self.model.trim().is_empty() {
            return Err(PricingError::EmptyModel);
        }
        let rate = |field: &'static str, value: f64| {
            Rate::from_usd_per_million(value).ok_or_else(|| {
                if value.is_nan() || value < 0.0 {
                    PricingError::Negative {
                        model: self.model.clone(),
                        field,
                        value,
                    }
                } else {
                    PricingError::OutOfRange {
                        model: self.model.clone(),
                        field,
                        value,
                    }
                }
            })
        };
        let input = rate("input", self.input)?;
        let output = rate("output", self.output)?;
        Ok(Price {
            model: self.model.as_str().into(),
            provider: self.provider.as_deref().map(Into::into),
            input,
            output,
            cached_input: self
                .cached_input
                .map_or(Ok(input), |v| rate("cached_input", v))?,
            cache_write: self
                .cache_write
                .map_or(Ok(input), |v| rate("cache_write", v))?,
            reasoning: self
                .reasoning
                .map_or(Ok(output), |v| rate("reasoning", v))?,
        })
    }
}

/// A price list indexed by model name.
///
/// A model name may carry several prices, one per provider (an operator can price
/// `gpt-4o` on Azure differently from OpenAI). [`PriceTable::lookup`] prefers the
/// caller's provider, then an entry that names no provider, then the first declared.
#[derive(Clone, Debug, Default)]
pub struct PriceTable {
    prices: Vec<Price>,
    /// Model name → indices into `prices`, in declaration order.
    index: FastMap<Box<str>, Vec<usize>>,
}

impl PriceTable {
    /// The price list shipped with Sluice (`pricing.yaml`), parsed on first use.
    pub fn shipped() -> &'static PriceTable {
        static SHIPPED: OnceLock<PriceTable> = OnceLock::new();
        SHIPPED.get_or_init(|| {
            // The file is compiled in and parsed by a test; a failure here is a build
            // defect, not bad input.
            PriceTable::from_yaml(SHIPPED_YAML).expect("the shipped pricing.yaml is valid")
        })
    }

    /// The shipped list with the config's entries applied (see [`PriceTable::overridden`]).
    pub fn with_overrides(entries: &[PriceEntry]) -> Result<PriceTable, PricingError> {
        PriceTable::shipped().overridden(entries)
    }

    /// A copy of this table with `entries` applied. An entry replaces the prices of the
    /// same model name: all of them when it names no provider, only that provider's
    /// when it does. Otherwise it is added.
    pub fn overridden(&self, entries: &[PriceEntry]) -> Result<PriceTable, PricingError> {
        let mut prices = self.prices.clone();
        for entry in entries {
            let price = entry.to_price()?;
            match &price.provider {
                None => prices.retain(|p| p.model != price.model),
                Some(provider) => prices.retain(|p| {
                    p.model != price.model || p.provider.as_deref() != Some(&**provider)
                }),
            }
            prices.push(price);
        }
        Ok(PriceTable::from_prices(prices))
    }

    /// Parses a YAML list of [`PriceEntry`]. Later entries override earlier ones of the
    /// same model and provider.
    pub fn from_yaml(yaml: &str) -> Result<PriceTable, PricingError> {
        let entries: Vec<PriceEntry> =
            serde_saphyr::from_str(yaml).map_err(|e| PricingError::Yaml(e.to_string()))?;
        PriceTable::default().overridden(&entries)
    }

    fn from_prices(prices: Vec<Price>) -> PriceTable {
        let mut index: FastMap<Box<str>, Vec<usize>> =
            FastMap::with_capacity_and_hasher(prices.len(), Default::default());
        for (i, p) in prices.iter().enumerate() {
            index.entry(p.model.clone()).or_default().push(i);
        }
        PriceTable { prices, index }
    }

    pub fn len(&self) -> usize {
        self.prices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }

    /// Every price, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = &Price> {
        self.prices.iter()
    }

    /// The price of `model` as served by `provider` (the configured provider's kind,
    /// e.g. `openai`, `anthropic`, `bedrock`), trying in turn:
    ///
    /// 1. the id as given;
    /// 2. without a `provider/` prefix (`openai/gpt-4o`, `models/gemini-2.5-pro`);
    /// 3. without a Bedrock region and vendor prefix (`us.anthropic.`) or a Vertex
    ///    `@version` (`claude-sonnet-4@20250514`);
    /// 4. repeatedly without a trailing version: `-latest`, a Bedrock `-v2:0`, a date
    ///    (`-20241022`, `-2024-08-06`, `-08-2024`) or a three-digit revision (`-001`).
    ///
    /// Returns `None` for anything else. Never allocates.
    pub fn lookup(&self, provider: Option<&str>, model: &str) -> Option<&Price> {
        if let Some(p) = self.get(provider, model) {
            return Some(p);
        }
        let mut cur = model.trim();
        if let Some((_, rest)) = cur.rsplit_once('/') {
            cur = rest;
            if let Some(p) = self.get(provider, cur) {
                return Some(p);
            }
        }
        let base = strip_cloud_decoration(cur);
        if base != cur {
            cur = base;
            if let Some(p) = self.get(provider, cur) {
                return Some(p);
            }
        }
        // A few rounds cover `-20241022-v2:0` and the like; the bound keeps the cost flat.
        for _ in 0..4 {
            cur = strip_version_suffix(cur)?;
            if let Some(p) = self.get(provider, cur) {
                return Some(p);
            }
        }
        None
    }

    fn get(&self, provider: Option<&str>, model: &str) -> Option<&Price> {
        let candidates = self.index.get(model)?;
        let price = |i: &usize| self.prices.get(*i);
        if let Some(want) = provider
            && let Some(i) = candidates.iter().find(|&&i| {
                self.prices[i]
                    .provider
                    .as_deref()
                    .is_some_and(|p| p.eq_ignore_ascii_case(want))
            })
        {
            return price(i);
        }
        candidates
            .iter()
            .find(|&&i| self.prices[i].provider.is_none())
            .or_else(|| candidates.first())
            .and_then(price)
    }
}

/// Bedrock region prefixes of cross-region inference profiles (`us.anthropic.…`).
const BEDROCK_REGIONS: &[&str] = &["us", "eu", "apac", "us-gov", "global", "jp", "au", "ca"];
/// Bedrock model vendors (`anthropic.claude-…`, `meta.llama…`).
const BEDROCK_VENDORS: &[&str] = &[
    "anthropic",
    "amazon",
    "meta",
    "mistral",
    "cohere",
    "ai21",
    "deepseek",
    "openai",
    "qwen",
    "writer",
    "xai",
];

/// Removes a Bedrock `[region.]vendor.` prefix and a Vertex `@version` suffix.
fn strip_cloud_decoration(model: &str) -> &str {
    let mut m = model;
    if let Some((head, rest)) = m.split_once('@') {
        // Vertex: `claude-sonnet-4@20250514`, `claude-3-5-haiku@20241022`.
        if !head.is_empty() && !rest.contains('@') {
            m = head;
        }
    }
    if let Some((first, rest)) = m.split_once('.')
        && BEDROCK_REGIONS.contains(&first)
        && let Some((vendor, _)) = rest.split_once('.')
        && BEDROCK_VENDORS.contains(&vendor)
    {
        m = rest;
    }
    if let Some((vendor, rest)) = m.split_once('.')
        && BEDROCK_VENDORS.contains(&vendor)
        && !rest.is_empty()
    {
        m = rest;
    }
    m
}

/// Removes one trailing version marker, or returns `None` when there is none.
fn strip_version_suffix(model: &str) -> Option<&str> {
    if let Some(rest) = model.strip_suffix("-latest") {
        return non_empty(rest);
    }
    let (head, tail) = model.rsplit_once('-')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    // Bedrock: `-v2:0`, `-v1`.
    if let Some(v) = tail.strip_prefix('v') {
        let (major, minor) = v.split_once(':').unwrap_or((v, "0"));
        if !major.is_empty()
            && major.bytes().all(|b| b.is_ascii_digit())
            && !minor.is_empty()
            && minor.bytes().all(|b| b.is_ascii_digit())
        {
            return non_empty(head);
        }
        return None;
    }
    // `-20241022` and three-digit revisions (`-001`).
    if digits(tail, 8) || digits(tail, 3) {
        return non_empty(head);
    }
    // `-2024-08-06`
    if digits(tail, 2)
        && let Some((head2, month)) = head.rsplit_once('-')
        && digits(month, 2)
        && let Some((head3, year)) = head2.rsplit_once('-')
        && digits(year, 4)
    {
        return non_empty(head3);
    }
    // `-08-2024` (Cohere, Gemini previews)
    if digits(tail, 4)
        && let Some((head2, month)) = head.rsplit_once('-')
        && digits(month, 2)
    {
        return non_empty(head2);
    }
    None
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}
