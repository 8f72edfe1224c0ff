//! Starts governance from the config: the store (SQLite by default), the config's records
//! written to it, the counters (Redis when configured, else in memory), the spend writer
//! and the [`Governor`]. Governance is off, and costs nothing, when the config declares
//! no key, budget, limit, admin token or store.

use std::sync::Arc;
use std::time::Duration;

use sluice_core::config::Config;
use sluice_core::governance_config::WhenUnavailable;
use sluice_governance::governor::{Clock, Governor, GovernorSettings, config_records};
use sluice_governance::keys::KeyHasher;
use sluice_governance::pricing::PriceTable;
use sluice_store::{Counters, SpendWriter, Store};

use crate::admin_api::AdminState;

/// The store used when governance needs one and the config names none.
pub const DEFAULT_STORE_URL: &str = "sqlite://sluice.db";
/// How often aggregated spend is written to the store: a crash loses at most this much,
/// plus the governor's 50 ms batch interval (settled calls are gathered that long first).
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// How often records are re-read from the store.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// Whether the config asks for governance at all.
pub fn active(config: &Config) -> bool {
    let governance = &config.governance.value;
    governance.uses_keys()
        || config.store.is_some()
        || config.redis.is_some()
        || governance
            .customers
            .values()
            .any(|c| !c.budgets.is_empty() || !c.limits.is_empty())
        || governance
            .teams
            .values()
            .any(|t| !t.budgets.is_empty() || !t.limits.is_empty())
        || config.providers.values().any(|p| !p.budgets.is_empty())
}

fn uses_token_limits(config: &Config) -> bool {
    let governance = &config.governance.value;
    governance
        .customers
        .values()
        .any(|c| c.limits.tokens.is_some())
        || governance.teams.values().any(|t| t.limits.tokens.is_some())
        || governance.keys.values().any(|k| k.limits.tokens.is_some())
}

pub(crate) fn hasher(config: &Config) -> Option<KeyHasher> {
    config
        .governance
        .value
        .key_secret
        .as_ref()
        .map(|secret| KeyHasher::new(secret.expose().as_bytes()))
}

/// The governor, and the admin API's state when an admin token is set.
pub(crate) type Started = (Option<Arc<Governor>>, Option<Arc<AdminState>>);

pub(crate) async fn start(config: &Config, clock: Option<Clock>) -> Result<Started, String> {
    if !active(config) {
        return Ok((None, None));
    }
    let url = config
        .store
        .as_ref()
        .map_or(DEFAULT_STORE_URL, |store| store.url.expose());
    let store = Store::connect(url).await.map_err(|err| err.to_string())?;
    let clock = clock.unwrap_or(Clock::System);
    let records = config_records(config, hasher(config).as_ref(), clock.now());
    let outcome = store
        .upsert_from_config(&records)
        .await
        .map_err(|err| err.to_string())?;
    if outcome.skipped_api > 0 {
        tracing::warn!(
            skipped = outcome.skipped_api,
            "config records whose ids the admin API owns were left as the API set them"
        );
    }
    let counters = match &config.redis {
        Some(redis) => Counters::redis(redis.url.expose(), &redis.prefix)
            .await
            .map_err(|err| err.to_string())?,
        None => Counters::memory(),
    };
    let writer = SpendWriter::start(store.clone(), FLUSH_INTERVAL);
    let admin = match (&config.governance.value.admin_token, hasher(config)) {
        (Some(token), Some(key_hasher)) => Some(Arc::new(AdminState {
            store: store.clone(),
            admin_token: token.clone(),
            key_hasher,
        })),
        _ => None,
    };
    // The tokenizer's tables take a moment to build and some 70 MB: built at start only
    // when the config limits tokens (a limit added later through the API builds them on
    // its first use).
    if uses_token_limits(config) {
        tokio::task::spawn_blocking(sluice_governance::tokens::warm_up);
    }
    let pricing = PriceTable::shipped()
        .overridden(&config.pricing)
        .map_err(|err| format!("pricing: {err}"))?;
    let settings = GovernorSettings {
        require_keys: config.governance.value.require_keys,
        hasher: hasher(config),
        pricing,
        clock,
        refresh: REFRESH_INTERVAL,
        sync_spend: Duration::from_millis(250),
        fail_closed: config
            .redis
            .as_ref()
            .is_some_and(|redis| redis.on_unavailable == WhenUnavailable::Closed),
    };
    let governor = Governor::start(store, counters, writer, settings)
        .await
        .map_err(|err| err.to_string())?;
    Ok((Some(governor), admin))
}
