//! The governance records the YAML config declares, as store records (source `config`).
//! Budget and limit ids are derived from where they are declared, so a reload replaces
//! them instead of adding copies.

use sluice_core::config::{BudgetConfig, Config, LimitsConfig};
use sluice_store::sql::{
    Alignment as StoredAlignment, Budget, ConfigRecords, Customer, Level, RateLimit, Source, Team,
    VirtualKey,
};

use crate::keys::KeyHasher;
use crate::money::Nanodollars;

/// Every record of `config`'s `governance` section and of its providers' budgets and
/// limits. `now` stamps creation and anchors rolling budgets.
pub fn config_records(config: &Config, hasher: Option<&KeyHasher>, now: i64) -> ConfigRecords {
    let governance = &config.governance.value;
    let mut records = ConfigRecords::default();
    for (id, customer) in &governance.customers {
        records.customers.push(Customer {
            id: id.clone(),
            name: customer.name.clone().unwrap_or_else(|| id.clone()),
            disabled: customer.disabled,
            created_at: now,
            metadata: None,
            source: Source::Config,
        });
        policies(
            &mut records,
            Level::Customer,
            id,
            &customer.budgets,
            &customer.limits,
        );
    }
    for (id, team) in &governance.teams {
        records.teams.push(Team {
            id: id.clone(),
            customer_id: team.customer.clone(),
            name: team.name.clone().unwrap_or_else(|| id.clone()),
            disabled: team.disabled,
            created_at: now,
            source: Source::Config,
        });
        policies(&mut records, Level::Team, id, &team.budgets, &team.limits);
    }
    if let Some(hasher) = hasher {
        for (id, key) in &governance.keys {
            let plaintext = key.key.expose();
            // A key of a team belongs to the team's customer unless it names its own.
            let customer = key.customer.clone().or_else(|| {
                key.team
                    .as_ref()
                    .and_then(|team| governance.teams.get(team))
                    .and_then(|team| team.customer.clone())
            });
            records.keys.push(VirtualKey {
                id: id.clone(),
                name: key.name.clone().unwrap_or_else(|| id.clone()),
                key_hash: hasher.hash(plaintext),
                display_prefix: display_prefix(plaintext),
                team_id: key.team.clone(),
                customer_id: customer,
                disabled: key.disabled,
                expires_at: key.expires_at,
                allowed_models: (!key.models.is_empty()).then(|| key.models.clone()),
                allowed_providers: (!key.providers.is_empty()).then(|| key.providers.clone()),
                created_at: now,
                source: Source::Config,
            });
            policies(&mut records, Level::Key, id, &key.budgets, &key.limits);
        }
    }
    // Providers carry budgets only (their rate limits are the providers' own).
    let no_limits = LimitsConfig::default();
    for (name, provider) in &config.providers {
        policies(
            &mut records,
            Level::Provider,
            name,
            &provider.budgets,
            &no_limits,
        );
    }
    records
}

/// `sk-sluice-abcd…`: enough to recognise a key in a list, too little to use it.
fn display_prefix(plaintext: &str) -> String {
    let shown: String = plaintext.chars().take("sk-sluice-".len() + 4).collect();
    format!("{shown}…")
}

fn policies(
    records: &mut ConfigRecords,
    level: Level,
    owner: &str,
    budgets: &[BudgetConfig],
    limits: &LimitsConfig,
) {
    let level_name = level_name(level);
    for (index, budget) in budgets.iter().enumerate() {
        records.budgets.push(Budget {
            id: format!("config:{level_name}:{owner}:budget{index}"),
            level,
            owner: owner.to_string(),
            limit_nanos: Nanodollars::from_usd(budget.limit).0,
            period: budget.period.as_str().to_string(),
            // The config validates calendar alignment only (no anchor to keep).
            alignment: StoredAlignment::Calendar,
            anchor: 0,
            source: Source::Config,
        });
    }
    if !limits.is_empty() {
        let signed = |value: Option<u64>| value.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
        records.rate_limits.push(RateLimit {
            id: format!("config:{level_name}:{owner}:limits"),
            level,
            owner: owner.to_string(),
            requests: signed(limits.requests),
            tokens: signed(limits.tokens),
            window_secs: i64::try_from(limits.window.get().as_secs().max(1)).unwrap_or(60),
            concurrent: signed(limits.concurrent),
            source: Source::Config,
        });
    }
}

pub(crate) fn level_name(level: Level) -> &'static str {
    match level {
        Level::Customer => "customer",
        Level::Team => "team",
        Level::Key => "key",
        Level::Provider => "provider",
        Level::Target => "target",
    }
}
