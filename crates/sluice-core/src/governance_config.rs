//! The config's governance part: who may call the gateway (virtual keys, their teams and
//! customers), where governance records live (`store`, `redis`), and the admin API's token.
//!
//! Records declared here are written to the store at start, marked as coming from the
//! config; records created through the admin API are never overwritten by them (the API
//! wins on a clash of ids).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::duration::ConfigDuration;
use crate::period::{Alignment, Period};
use crate::secret::Secret;

/// A spending cap in USD for one period, on any level of the chain.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// USD per period.
    pub limit: f64,
    pub period: Period,
    /// `calendar` (UTC boundaries), the only alignment a config budget may have: a
    /// `rolling` budget counts from its creation, which only the admin API records.
    #[serde(default)]
    pub alignment: Alignment,
}

/// Rate limits on one level of the chain.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests per `window`.
    pub requests: Option<u64>,
    /// Tokens (input + output) per `window`; the input is estimated before the call and
    /// the count corrected by the provider's reported usage after it.
    pub tokens: Option<u64>,
    #[serde(default = "default_limit_window")]
    pub window: ConfigDuration,
    /// Requests in flight at once, streams included until their end.
    pub concurrent: Option<u64>,
}

fn default_limit_window() -> ConfigDuration {
    ConfigDuration::from_secs(60)
}

impl LimitsConfig {
    pub fn is_empty(&self) -> bool {
        self.requests.is_none() && self.tokens.is_none() && self.concurrent.is_none()
    }
}

/// Checks a level's budgets and limits; `owner` names it in messages.
pub fn validate_policies(
    owner: &str,
    budgets: &[BudgetConfig],
    limits: &LimitsConfig,
) -> Result<(), String> {
    if let Some(budget) = budgets
        .iter()
        .find(|budget| !budget.limit.is_finite() || budget.limit < 0.0)
    {
        return Err(format!(
            "{owner}: a budget's limit must be a number of USD, zero or more (got {})",
            budget.limit
        ));
    }
    if budgets
        .iter()
        .any(|budget| budget.alignment == Alignment::Rolling)
    {
        return Err(format!(
            "{owner}: a budget in the config is aligned to the calendar; create rolling budgets (counted from their creation) through the admin API"
        ));
    }
    if limits.window.get().as_millis() == 0 && !limits.is_empty() {
        return Err(format!("{owner}: limits.window must be above zero"));
    }
    Ok(())
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GovernanceConfig {
    /// Refuse every model request that carries no valid virtual key (401). Off by default,
    /// so a gateway without keys keeps working; turn it on before exposing the gateway.
    pub require_keys: bool,
    /// The secret virtual keys are hashed with (HMAC-SHA256). Needed as soon as keys exist;
    /// changing it invalidates every stored key.
    pub key_secret: Option<Secret>,
    /// The bearer token of the admin API (`/admin/…`). Without it the admin API is off and
    /// only the read-only `GET /admin/routes` answers.
    pub admin_token: Option<Secret>,
    pub customers: BTreeMap<String, CustomerConfig>,
    pub teams: BTreeMap<String, TeamConfig>,
    /// Virtual keys declared as code, by id.
    pub keys: BTreeMap<String, VirtualKeyConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerConfig {
    pub name: Option<String>,
    #[serde(default)]
    pub budgets: Vec<BudgetConfig>,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    pub name: Option<String>,
    #[serde(default)]
    pub budgets: Vec<BudgetConfig>,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The customer the team belongs to (declared under `customers`, or created through
    /// the admin API).
    pub customer: Option<String>,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualKeyConfig {
    /// The key itself (`sk-sluice-…`), usually `${ENV}`; only its hash is stored.
    pub key: Secret,
    pub name: Option<String>,
    pub team: Option<String>,
    pub customer: Option<String>,
    /// Model names (routes or `provider/model`) the key may ask for; empty: any.
    #[serde(default)]
    pub models: Vec<String>,
    /// Providers the key may reach; empty: any.
    #[serde(default)]
    pub providers: Vec<String>,
    /// Unix seconds after which the key is refused.
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub budgets: Vec<BudgetConfig>,
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// Where governance records and the spend ledger live.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://path` (created and migrated on start) or `postgres://…`.
    pub url: Secret,
}

/// The Redis shared by gateway instances for counters.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    pub url: Secret,
    #[serde(default = "default_redis_prefix")]
    pub prefix: String,
    /// What a request gets when Redis cannot decide its limits.
    #[serde(default)]
    pub on_unavailable: WhenUnavailable,
}

/// What happens to a request whose rate limits cannot be checked (Redis down).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenUnavailable {
    /// Serve it without the limits (a warning is logged): Redis is not a single point of
    /// failure for traffic. Spare already leased is still spent either way.
    #[default]
    Open,
    /// Refuse it with 503: limits are never exceeded, at the price of availability.
    Closed,
}

fn default_redis_prefix() -> String {
    "sluice:".to_string()
}

/// Virtual keys are `sk-sluice-` and 43 base64url characters (256 random bits).
pub const VIRTUAL_KEY_PREFIX: &str = "sk-sluice-";

impl GovernanceConfig {
    /// Whether any virtual key can exist: declared here, or creatable through the API.
    pub fn uses_keys(&self) -> bool {
        self.require_keys || !self.keys.is_empty() || self.admin_token.is_some()
    }

    /// What the types cannot check: references between records and the secrets keys need.
    pub fn validate(&self) -> Result<(), String> {
        if self.uses_keys() && self.key_secret.is_none() {
            return Err(
                "governance.key_secret is required when keys are used (require_keys, keys, or an admin_token); set it once and keep it, e.g. `key_secret: ${SLUICE_KEY_SECRET}`".into(),
            );
        }
        if let Some(secret) = &self.key_secret
            && secret.expose().len() < 16
        {
            return Err("governance.key_secret must be at least 16 characters".into());
        }
        if let Some(token) = &self.admin_token
            && token.expose().len() < 16
        {
            return Err("governance.admin_token must be at least 16 characters".into());
        }
        for (id, customer) in &self.customers {
            validate_policies(
                &format!("governance.customers.{id}"),
                &customer.budgets,
                &customer.limits,
            )?;
        }
        for (id, team) in &self.teams {
            validate_policies(
                &format!("governance.teams.{id}"),
                &team.budgets,
                &team.limits,
            )?;
            if let Some(customer) = &team.customer
                && !self.customers.contains_key(customer)
            {
                return Err(format!(
                    "governance.teams.{id}: customer `{customer}` is not declared under governance.customers"
                ));
            }
        }
        for (id, key) in &self.keys {
            validate_policies(&format!("governance.keys.{id}"), &key.budgets, &key.limits)?;
            if !key.key.expose().starts_with(VIRTUAL_KEY_PREFIX) || key.key.expose().len() < 32 {
                return Err(format!(
                    "governance.keys.{id}: a virtual key starts with `{VIRTUAL_KEY_PREFIX}` and has at least 22 more characters (`sluice keys create` makes one)"
                ));
            }
            if let Some(team) = &key.team
                && !self.teams.contains_key(team)
            {
                return Err(format!(
                    "governance.keys.{id}: team `{team}` is not declared under governance.teams"
                ));
            }
            if let Some(customer) = &key.customer
                && !self.customers.contains_key(customer)
            {
                return Err(format!(
                    "governance.keys.{id}: customer `{customer}` is not declared under governance.customers"
                ));
            }
        }
        Ok(())
    }
}
