//! A snapshot of every governance record the request path reads: keys by hash, teams,
//! customers, budgets and limits by owner. Loaded whole from the store (the tables are
//! small) and swapped atomically, so a request reads plain maps without touching the
//! database.

use std::sync::Arc;

use sluice_core::period::{Alignment, Period, WindowCache};
use sluice_store::sql::{Budget, Level, RateLimit, VirtualKey};
use sluice_store::{Counters, FastMap, RateSlot, Store, StoreError};

use super::mirror::SpendMirror;
use crate::keys::{KeyDigest, digest_from_hex};

/// A virtual key as the request path needs it.
#[derive(Debug)]
pub struct KeyEntry {
    pub id: String,
    pub team: Option<String>,
    pub customer: Option<String>,
    pub disabled: bool,
    pub expires_at: Option<i64>,
    pub models: Option<Vec<String>>,
    pub providers: Option<Vec<String>>,
    /// The budgets and limits of every level on the key's chain, resolved when the
    /// records are loaded so that admission walks two short lists.
    pub chain: Chain,
    /// The disabled owner above the key, if any: its team, else its customer (level
    /// name, id). Resolved with the chain, so authentication looks nothing up.
    pub disabled_owner: Option<(&'static str, String)>,
}

/// The budgets and limits on a key's chain (customer, team, key), broadest level first.
#[derive(Debug, Default)]
pub struct Chain {
    pub budgets: Vec<Arc<BudgetRule>>,
    pub limits: Vec<Arc<LimitRule>>,
}

#[derive(Debug)]
pub struct BudgetRule {
    pub id: String,
    pub level: Level,
    pub owner: String,
    pub limit_nanos: i64,
    pub period: Period,
    pub alignment: Alignment,
    pub anchor: i64,
    /// The window last found for this budget (see [`WindowCache`]).
    pub window: WindowCache,
    /// Its place in the spend mirror, the same across reloads.
    pub slot: usize,
}

#[derive(Clone, Debug)]
pub struct LimitRule {
    pub id: String,
    pub level: Level,
    pub owner: String,
    /// Counter names, built once: `{id}:req`, `{id}:tok`, `{id}:conc`.
    pub requests_key: String,
    pub tokens_key: Arc<str>,
    pub concurrent_key: String,
    /// The counters resolved once for memory counters (see [`Counters::rate_slot`]).
    pub requests_slot: Option<RateSlot>,
    pub tokens_slot: Option<RateSlot>,
    pub requests: Option<u64>,
    pub tokens: Option<u64>,
    pub window_ms: u64,
    pub concurrent: Option<u64>,
}

#[derive(Debug, Default)]
pub struct Policies {
    pub keys: FastMap<KeyDigest, Arc<KeyEntry>>,
    /// Team id → (its customer, disabled).
    pub teams: FastMap<String, (Option<String>, bool)>,
    /// Customer id → disabled.
    pub customers: FastMap<String, bool>,
    /// By (level, owner): looked up in one probe with a borrowed owner, no allocation
    /// per request.
    pub budgets: FastMap<(Level, String), Vec<Arc<BudgetRule>>>,
    pub limits: FastMap<(Level, String), Vec<Arc<LimitRule>>>,
}

/// A `(level, owner)` key, borrowed; hashes as the owned tuple does.
#[derive(Hash)]
struct OwnerRef<'a>(Level, &'a str);

impl hashbrown::Equivalent<(Level, String)> for OwnerRef<'_> {
    fn equivalent(&self, (level, owner): &(Level, String)) -> bool {
        self.0 == *level && self.1 == owner
    }
}

impl Policies {
    /// Reads every record; budgets take their slots in `mirror`, rate limits theirs in
    /// `counters`.
    pub(crate) async fn load(
        store: &Store,
        mirror: &SpendMirror,
        counters: &Counters,
    ) -> Result<Policies, StoreError> {
        let mut policies = Policies::default();
        for customer in store.list_customers().await? {
            policies.customers.insert(customer.id, customer.disabled);
        }
        for team in store.list_teams(None).await? {
            policies
                .teams
                .insert(team.id, (team.customer_id, team.disabled));
        }
        for budget in store.list_budgets(None).await? {
            match budget_rule(&budget, mirror) {
                Some(rule) => policies
                    .budgets
                    .entry((budget.level, budget.owner))
                    .or_default()
                    .push(Arc::new(rule)),
                None => tracing::warn!(
                    budget = %budget.id,
                    period = %budget.period,
                    "budget has a period Sluice does not know; it is not enforced"
                ),
            }
        }
        for limit in store.list_rate_limits(None).await? {
            let rule = limit_rule(&limit, counters);
            policies
                .limits
                .entry((limit.level, limit.owner))
                .or_default()
                .push(Arc::new(rule));
        }
        // Keys last: their chains point at the budgets and limits above.
        for key in store.list_keys(None, None).await? {
            let (hash, mut entry) = key_entry(key);
            match digest_from_hex(&hash) {
                Some(digest) => {
                    entry.chain = policies.chain_of(&entry);
                    entry.disabled_owner = policies.disabled_owner_of(&entry);
                    policies.keys.insert(digest, Arc::new(entry));
                }
                None => {
                    tracing::warn!(key = %entry.id, "a stored key hash is not 64 hex characters; the key cannot be used")
                }
            }
        }
        Ok(policies)
    }

    fn disabled_owner_of(&self, key: &KeyEntry) -> Option<(&'static str, String)> {
        let team_disabled = |team: &String| self.teams.get(team).is_some_and(|(_, off)| *off);
        let customer_disabled =
            |customer: &String| self.customers.get(customer).copied().unwrap_or(false);
        if let Some(team) = key.team.as_ref().filter(|team| team_disabled(team)) {
            return Some(("team", team.clone()));
        }
        key.customer
            .as_ref()
            .filter(|customer| customer_disabled(customer))
            .map(|customer| ("customer", customer.clone()))
    }

    fn chain_of(&self, key: &KeyEntry) -> Chain {
        let levels = key
            .customer
            .as_deref()
            .map(|customer| (Level::Customer, customer))
            .into_iter()
            .chain(key.team.as_deref().map(|team| (Level::Team, team)))
            .chain(std::iter::once((Level::Key, key.id.as_str())));
        let mut chain = Chain::default();
        for (level, owner) in levels {
            chain
                .budgets
                .extend(self.budgets(level, owner).iter().cloned());
            chain
                .limits
                .extend(self.limits(level, owner).iter().cloned());
        }
        chain
    }

    pub fn budgets(&self, level: Level, owner: &str) -> &[Arc<BudgetRule>] {
        self.budgets
            .get(&OwnerRef(level, owner))
            .map_or(&[], Vec::as_slice)
    }

    pub fn limits(&self, level: Level, owner: &str) -> &[Arc<LimitRule>] {
        self.limits
            .get(&OwnerRef(level, owner))
            .map_or(&[], Vec::as_slice)
    }

    /// Every budget, for the background work on current windows.
    pub fn all_budgets(&self) -> impl Iterator<Item = &Arc<BudgetRule>> {
        self.budgets.values().flatten()
    }
}

fn key_entry(key: VirtualKey) -> (String, KeyEntry) {
    (
        key.key_hash,
        KeyEntry {
            id: key.id,
            team: key.team_id,
            customer: key.customer_id,
            disabled: key.disabled,
            expires_at: key.expires_at,
            models: key.allowed_models.filter(|models| !models.is_empty()),
            providers: key
                .allowed_providers
                .filter(|providers| !providers.is_empty()),
            chain: Chain::default(),
            disabled_owner: None,
        },
    )
}

fn budget_rule(budget: &Budget, mirror: &SpendMirror) -> Option<BudgetRule> {
    let period = budget.period.parse().ok()?;
    Some(BudgetRule {
        id: budget.id.clone(),
        level: budget.level,
        owner: budget.owner.clone(),
        limit_nanos: budget.limit_nanos,
        period,
        alignment: match budget.alignment {
            sluice_store::sql::Alignment::Calendar => Alignment::Calendar,
            sluice_store::sql::Alignment::Rolling => Alignment::Rolling,
        },
        anchor: budget.anchor,
        window: WindowCache::default(),
        slot: mirror.slot_of(&budget.id),
    })
}

fn limit_rule(limit: &RateLimit, counters: &Counters) -> LimitRule {
    let positive = |value: Option<i64>| value.and_then(|v| u64::try_from(v).ok());
    let window_ms = u64::try_from(limit.window_secs)
        .unwrap_or(60)
        .saturating_mul(1000)
        .max(1);
    let requests_key = format!("{}:req", limit.id);
    let tokens_key: Arc<str> = Arc::from(format!("{}:tok", limit.id));
    LimitRule {
        id: limit.id.clone(),
        level: limit.level,
        owner: limit.owner.clone(),
        requests_slot: counters.rate_slot(&requests_key, window_ms),
        tokens_slot: counters.rate_slot(&tokens_key, window_ms),
        requests_key,
        tokens_key,
        concurrent_key: format!("{}:conc", limit.id),
        requests: positive(limit.requests),
        tokens: positive(limit.tokens),
        window_ms,
        concurrent: positive(limit.concurrent),
    }
}
