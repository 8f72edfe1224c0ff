//! The typed records of governance, as stored.
//!
//! Plain data with serde derives so the admin API can return them as they are. Money is
//! `i64` nanodollars, times are `i64` unix seconds; JSON columns are typed here and stored
//! as text so both backends hold them the same way.

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Who owns a record: the YAML config (replaced on reload) or the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Declared in the config file; [`crate::sql::Store::upsert_from_config`] owns it.
    Config,
    /// Created through the API; config reloads never overwrite it.
    Api,
}

/// The level a budget or rate limit applies at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// A customer id.
    Customer,
    /// A team id.
    Team,
    /// A virtual key id.
    Key,
    /// A provider name.
    Provider,
    /// A routing target id.
    Target,
}

/// How a budget's periods line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Alignment {
    /// Periods start at calendar boundaries (midnight UTC, the 1st of the month).
    Calendar,
    /// Periods start at `anchor` and repeat every `period`.
    Rolling,
}

macro_rules! text_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The text stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl std::str::FromStr for $ty {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    other => Err(StoreError::Invalid(format!(
                        concat!("unknown ", stringify!($ty), " {:?}"), other
                    ))),
                }
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(Source { Config => "config", Api => "api" });
text_enum!(Level {
    Customer => "customer",
    Team => "team",
    Key => "key",
    Provider => "provider",
    Target => "target",
});
text_enum!(Alignment { Calendar => "calendar", Rolling => "rolling" });

/// A customer: the top of the hierarchy (an organisation that is billed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// A short slug or generated id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// A disabled customer's teams and keys are refused by the gateway.
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Free-form JSON the operator attaches.
    pub metadata: Option<serde_json::Value>,
    /// Who owns the row; set by the store on write.
    pub source: Source,
}

/// A team, optionally belonging to a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    /// A short slug or generated id.
    pub id: String,
    /// The customer the team belongs to, if any.
    pub customer_id: Option<String>,
    /// Display name.
    pub name: String,
    /// A disabled team's keys are refused by the gateway.
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Who owns the row; set by the store on write.
    pub source: Source,
}

/// A virtual key. The secret itself is never stored: only its HMAC-SHA256 (hex), computed
/// by the caller with the server's secret, and a display prefix for humans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VirtualKey {
    /// A short slug or generated id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// HMAC-SHA256 hex of the key; unique.
    pub key_hash: String,
    /// The first characters of the key, such as `sk-sluice-ab12…`, for display.
    pub display_prefix: String,
    /// The team the key belongs to, if any.
    pub team_id: Option<String>,
    /// The customer the key belongs to, if any (directly or as its team's customer).
    pub customer_id: Option<String>,
    /// A disabled key is refused.
    pub disabled: bool,
    /// Unix seconds after which the key is refused.
    pub expires_at: Option<i64>,
    /// Model names the key may use; `None` means all.
    pub allowed_models: Option<Vec<String>>,
    /// Provider names the key may use; `None` means all.
    pub allowed_providers: Option<Vec<String>>,
    /// Unix seconds.
    pub created_at: i64,
    /// Who owns the row; set by the store on write.
    pub source: Source,
}

/// A budget: at most `limit_nanos` of spend per period at one level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// A short slug or generated id.
    pub id: String,
    /// What `owner` names.
    pub level: Level,
    /// The customer/team/key id, provider name or target id.
    pub owner: String,
    /// USD × 1e9.
    pub limit_nanos: i64,
    /// A period such as `1d`, `1w`, `1mo`; interpreted by `sluice-governance`.
    pub period: String,
    /// Calendar or rolling periods.
    pub alignment: Alignment,
    /// Unix seconds a rolling period starts from.
    pub anchor: i64,
    /// Who owns the row; set by the store on write.
    pub source: Source,
}

/// A rate limit at one level. Each of requests, tokens (per `window_secs`) and concurrent
/// requests is optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// A short slug or generated id.
    pub id: String,
    /// What `owner` names.
    pub level: Level,
    /// The customer/team/key id, provider name or target id.
    pub owner: String,
    /// Requests per window.
    pub requests: Option<i64>,
    /// Tokens per window.
    pub tokens: Option<i64>,
    /// The window, in seconds (> 0).
    pub window_secs: i64,
    /// Requests in flight at once.
    pub concurrent: Option<i64>,
    /// Who owns the row; set by the store on write.
    pub source: Source,
}

/// Additive spend counters: what one ledger row, or a report group, adds up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendTotals {
    /// Requests served.
    pub requests: i64,
    /// Input (prompt) tokens, cached ones included.
    pub input_tokens: i64,
    /// Output (completion) tokens.
    pub output_tokens: i64,
    /// Input tokens read from the provider's prompt cache.
    pub cached_input_tokens: i64,
    /// What was spent, nanodollars.
    pub cost_nanos: i64,
    /// What Sluice's own cache saved (the cost of the answers it served), nanodollars.
    pub saved_nanos: i64,
}

impl SpendTotals {
    /// Adds `other` into `self`, saturating rather than wrapping.
    pub fn add(&mut self, other: &SpendTotals) {
        self.requests = self.requests.saturating_add(other.requests);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cached_input_tokens = self
            .cached_input_tokens
            .saturating_add(other.cached_input_tokens);
        self.cost_nanos = self.cost_nanos.saturating_add(other.cost_nanos);
        self.saved_nanos = self.saved_nanos.saturating_add(other.saved_nanos);
    }
}

/// The dimensions of one ledger row. Absent ids are `None` here and '' in the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendKey {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Virtual key id.
    pub key_id: Option<String>,
    /// Team id.
    pub team_id: Option<String>,
    /// Customer id.
    pub customer_id: Option<String>,
    /// Provider name.
    pub provider: String,
    /// Upstream model name.
    pub model: String,
}

/// A [`SpendKey`] borrowed from a request's strings: finds its row in a map of owned keys
/// without allocating (the request path records spend for every request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpendKeyRef<'a> {
    pub day: &'a str,
    pub key_id: Option<&'a str>,
    pub team_id: Option<&'a str>,
    pub customer_id: Option<&'a str>,
    pub provider: &'a str,
    pub model: &'a str,
}

impl SpendKey {
    pub fn as_ref(&self) -> SpendKeyRef<'_> {
        SpendKeyRef {
            day: &self.day,
            key_id: self.key_id.as_deref(),
            team_id: self.team_id.as_deref(),
            customer_id: self.customer_id.as_deref(),
            provider: &self.provider,
            model: &self.model,
        }
    }
}

/// Hashed as its borrowed form, so that both find the same entry.
impl std::hash::Hash for SpendKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_ref().hash(state);
    }
}

impl hashbrown::Equivalent<SpendKey> for SpendKeyRef<'_> {
    fn equivalent(&self, key: &SpendKey) -> bool {
        *self == key.as_ref()
    }
}

/// The owned key a row's first appearance inserts.
impl From<&SpendKeyRef<'_>> for SpendKey {
    fn from(key: &SpendKeyRef<'_>) -> Self {
        SpendKey {
            day: key.day.to_owned(),
            key_id: key.key_id.map(str::to_owned),
            team_id: key.team_id.map(str::to_owned),
            customer_id: key.customer_id.map(str::to_owned),
            provider: key.provider.to_owned(),
            model: key.model.to_owned(),
        }
    }
}

/// One row of the spend ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendRow {
    /// The row's dimensions.
    pub key: SpendKey,
    /// The row's counters.
    pub totals: SpendTotals,
}

/// What a spend report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Virtual key id ('' for requests without a key).
    Key,
    /// Team id ('' for none).
    Team,
    /// Customer id ('' for none).
    Customer,
    /// Upstream model.
    Model,
    /// Provider.
    Provider,
    /// UTC day.
    Day,
}

/// A partial update of a customer: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CustomerUpdate {
    /// New name.
    pub name: Option<String>,
    /// New disabled flag.
    pub disabled: Option<bool>,
    /// New metadata; `Some(None)` clears it.
    pub metadata: Option<Option<serde_json::Value>>,
}

/// A partial update of a team: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TeamUpdate {
    /// New customer; `Some(None)` detaches the team.
    pub customer_id: Option<Option<String>>,
    /// New name.
    pub name: Option<String>,
    /// New disabled flag.
    pub disabled: Option<bool>,
}

/// A partial update of a virtual key: `None` leaves a field as it is. The hash cannot be
/// changed: rotating a key is a new key.
#[derive(Debug, Clone, Default)]
pub struct KeyUpdate {
    /// New name.
    pub name: Option<String>,
    /// New team; `Some(None)` detaches.
    pub team_id: Option<Option<String>>,
    /// New customer; `Some(None)` detaches.
    pub customer_id: Option<Option<String>>,
    /// New disabled flag.
    pub disabled: Option<bool>,
    /// New expiry; `Some(None)` removes it.
    pub expires_at: Option<Option<i64>>,
    /// New model allow-list; `Some(None)` allows all.
    pub allowed_models: Option<Option<Vec<String>>>,
    /// New provider allow-list; `Some(None)` allows all.
    pub allowed_providers: Option<Option<Vec<String>>>,
}

/// A partial update of a budget: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct BudgetUpdate {
    /// New limit, nanodollars.
    pub limit_nanos: Option<i64>,
    /// New period.
    pub period: Option<String>,
    /// New alignment.
    pub alignment: Option<Alignment>,
    /// New anchor, unix seconds.
    pub anchor: Option<i64>,
}

/// A partial update of a rate limit: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RateLimitUpdate {
    /// New requests per window; `Some(None)` removes that limit.
    pub requests: Option<Option<i64>>,
    /// New tokens per window; `Some(None)` removes that limit.
    pub tokens: Option<Option<i64>>,
    /// New window, seconds.
    pub window_secs: Option<i64>,
    /// New concurrency limit; `Some(None)` removes it.
    pub concurrent: Option<Option<i64>>,
}

/// Everything the config file declares, loaded in one transaction by
/// [`crate::sql::Store::upsert_from_config`].
#[derive(Debug, Clone, Default)]
pub struct ConfigRecords {
    /// Customers.
    pub customers: Vec<Customer>,
    /// Teams.
    pub teams: Vec<Team>,
    /// Virtual keys.
    pub keys: Vec<VirtualKey>,
    /// Budgets.
    pub budgets: Vec<Budget>,
    /// Rate limits.
    pub rate_limits: Vec<RateLimit>,
}

/// What [`crate::sql::Store::upsert_from_config`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConfigOutcome {
    /// Records inserted or replaced.
    pub written: usize,
    /// Records skipped because an API-owned record has the same id.
    pub skipped_api: usize,
}
