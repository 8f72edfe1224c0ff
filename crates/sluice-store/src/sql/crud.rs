//! Create, read, update, disable for customers, teams, keys, budgets and rate limits.
//!
//! `create_*` always writes `source = 'api'`; config records go through
//! [`Store::upsert_from_config`](super::Store::upsert_from_config). Unique violations come
//! back as [`StoreError::Conflict`], foreign-key violations as
//! [`StoreError::UnknownParent`].

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{
    Budget, BudgetUpdate, Customer, CustomerUpdate, KeyUpdate, Level, RateLimit, RateLimitUpdate,
    Source, Store, Team, TeamUpdate, Val, VirtualKey, bind_all, get_bool, get_json, to_json,
};
use crate::StoreError;

pub(super) const CUSTOMER_COLS: &str = "id, name, disabled, created_at, metadata, source";
pub(super) const TEAM_COLS: &str = "id, customer_id, name, disabled, created_at, source";
pub(super) const KEY_COLS: &str = "id, name, key_hash, display_prefix, team_id, customer_id, \
     disabled, expires_at, allowed_models, allowed_providers, created_at, source";
/// SELECT lists. SQLite reports a BOOLEAN column's type as Bool, which the Any driver
/// refuses to decode, so `disabled` is read as an integer expression on both backends.
const CUSTOMER_SELECT: &str = "id, name, CASE WHEN disabled THEN 1 ELSE 0 END AS disabled, \
     created_at, metadata, source";
const TEAM_SELECT: &str = "id, customer_id, name, CASE WHEN disabled THEN 1 ELSE 0 END AS \
     disabled, created_at, source";
const KEY_SELECT: &str = "id, name, key_hash, display_prefix, team_id, customer_id, \
     CASE WHEN disabled THEN 1 ELSE 0 END AS disabled, expires_at, allowed_models, \
     allowed_providers, created_at, source";
pub(super) const BUDGET_COLS: &str =
    "id, level, owner, limit_nanos, period, alignment, anchor, source";
pub(super) const RATE_COLS: &str =
    "id, level, owner, requests, tokens, window_secs, concurrent, source";

pub(super) fn customer_from_row(row: &AnyRow) -> Result<Customer, StoreError> {
    Ok(Customer {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        disabled: get_bool(row, "disabled")?,
        created_at: row.try_get("created_at")?,
        metadata: get_json(row, "metadata")?,
        source: row.try_get::<String, _>("source")?.parse()?,
    })
}

pub(super) fn team_from_row(row: &AnyRow) -> Result<Team, StoreError> {
    Ok(Team {
        id: row.try_get("id")?,
        customer_id: row.try_get("customer_id")?,
        name: row.try_get("name")?,
        disabled: get_bool(row, "disabled")?,
        created_at: row.try_get("created_at")?,
        source: row.try_get::<String, _>("source")?.parse()?,
    })
}

pub(super) fn key_from_row(row: &AnyRow) -> Result<VirtualKey, StoreError> {
    Ok(VirtualKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        key_hash: row.try_get("key_hash")?,
        display_prefix: row.try_get("display_prefix")?,
        team_id: row.try_get("team_id")?,
        customer_id: row.try_get("customer_id")?,
        disabled: get_bool(row, "disabled")?,
        expires_at: row.try_get("expires_at")?,
        allowed_models: get_json(row, "allowed_models")?,
        allowed_providers: get_json(row, "allowed_providers")?,
        created_at: row.try_get("created_at")?,
        source: row.try_get::<String, _>("source")?.parse()?,
    })
}

pub(super) fn budget_from_row(row: &AnyRow) -> Result<Budget, StoreError> {
    Ok(Budget {
        id: row.try_get("id")?,
        level: row.try_get::<String, _>("level")?.parse()?,
        owner: row.try_get("owner")?,
        limit_nanos: row.try_get("limit_nanos")?,
        period: row.try_get("period")?,
        alignment: row.try_get::<String, _>("alignment")?.parse()?,
        anchor: row.try_get("anchor")?,
        source: row.try_get::<String, _>("source")?.parse()?,
    })
}

pub(super) fn rate_from_row(row: &AnyRow) -> Result<RateLimit, StoreError> {
    Ok(RateLimit {
        id: row.try_get("id")?,
        level: row.try_get::<String, _>("level")?.parse()?,
        owner: row.try_get("owner")?,
        requests: row.try_get("requests")?,
        tokens: row.try_get("tokens")?,
        window_secs: row.try_get("window_secs")?,
        concurrent: row.try_get("concurrent")?,
        source: row.try_get::<String, _>("source")?.parse()?,
    })
}

/// The values of an INSERT of each record, in the column order of the `*_COLS` constants.
pub(super) fn customer_vals(c: &Customer, source: Source) -> Result<Vec<Val>, StoreError> {
    Ok(vec![
        Val::Text(Some(c.id.clone())),
        Val::Text(Some(c.name.clone())),
        Val::Bool(c.disabled),
        Val::Int(Some(c.created_at)),
        Val::Text(to_json(c.metadata.as_ref())?),
        Val::Text(Some(source.as_str().to_owned())),
    ])
}

pub(super) fn team_vals(t: &Team, source: Source) -> Vec<Val> {
    vec![
        Val::Text(Some(t.id.clone())),
        Val::Text(t.customer_id.clone()),
        Val::Text(Some(t.name.clone())),
        Val::Bool(t.disabled),
        Val::Int(Some(t.created_at)),
        Val::Text(Some(source.as_str().to_owned())),
    ]
}

pub(super) fn key_vals(k: &VirtualKey, source: Source) -> Result<Vec<Val>, StoreError> {
    Ok(vec![
        Val::Text(Some(k.id.clone())),
        Val::Text(Some(k.name.clone())),
        Val::Text(Some(k.key_hash.clone())),
        Val::Text(Some(k.display_prefix.clone())),
        Val::Text(k.team_id.clone()),
        Val::Text(k.customer_id.clone()),
        Val::Bool(k.disabled),
        Val::Int(k.expires_at),
        Val::Text(to_json(k.allowed_models.as_ref())?),
        Val::Text(to_json(k.allowed_providers.as_ref())?),
        Val::Int(Some(k.created_at)),
        Val::Text(Some(source.as_str().to_owned())),
    ])
}

pub(super) fn budget_vals(b: &Budget, source: Source) -> Vec<Val> {
    vec![
        Val::Text(Some(b.id.clone())),
        Val::Text(Some(b.level.as_str().to_owned())),
        Val::Text(Some(b.owner.clone())),
        Val::Int(Some(b.limit_nanos)),
        Val::Text(Some(b.period.clone())),
        Val::Text(Some(b.alignment.as_str().to_owned())),
        Val::Int(Some(b.anchor)),
        Val::Text(Some(source.as_str().to_owned())),
    ]
}

pub(super) fn rate_vals(r: &RateLimit, source: Source) -> Vec<Val> {
    vec![
        Val::Text(Some(r.id.clone())),
        Val::Text(Some(r.level.as_str().to_owned())),
        Val::Text(Some(r.owner.clone())),
        Val::Int(r.requests),
        Val::Int(r.tokens),
        Val::Int(Some(r.window_secs)),
        Val::Int(r.concurrent),
        Val::Text(Some(source.as_str().to_owned())),
    ]
}

/// `$1, $2, …, $n`.
pub(super) fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rejects values the schema's CHECKs would reject, with a clearer message.
pub(super) fn check_budget(b: &Budget) -> Result<(), StoreError> {
    if b.limit_nanos < 0 {
        return Err(StoreError::Invalid("budget limit must be >= 0".into()));
    }
    Ok(())
}

pub(super) fn check_rate(r: &RateLimit) -> Result<(), StoreError> {
    if r.window_secs <= 0 {
        return Err(StoreError::Invalid("rate limit window must be > 0".into()));
    }
    for (name, v) in [
        ("requests", r.requests),
        ("tokens", r.tokens),
        ("concurrent", r.concurrent),
    ] {
        if v.is_some_and(|v| v < 0) {
            return Err(StoreError::Invalid(format!(
                "rate limit {name} must be >= 0"
            )));
        }
    }
    Ok(())
}

/// Builds and runs `UPDATE table SET a = $1, … WHERE id = $n`; NotFound when no row.
async fn run_update(
    store: &Store,
    table: &'static str,
    what: &'static str,
    id: &str,
    sets: Vec<(&'static str, Val)>,
) -> Result<(), StoreError> {
    if sets.is_empty() {
        return Ok(());
    }
    let assignments = sets
        .iter()
        .enumerate()
        .map(|(i, (col, _))| format!("{col} = ${}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE {table} SET {assignments} WHERE id = ${}",
        sets.len() + 1
    );
    let mut vals: Vec<Val> = sets.into_iter().map(|(_, v)| v).collect();
    vals.push(Val::Text(Some(id.to_owned())));
    // Table and column names come from this module only; values are bound.
    let result = bind_all(sqlx::query(AssertSqlSafe(sql)), vals)
        .execute(&store.pool)
        .await?;
    if result.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            what,
            id: id.to_owned(),
        });
    }
    Ok(())
}

async fn insert(
    store: &Store,
    table: &'static str,
    cols: &'static str,
    vals: Vec<Val>,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO {table} ({cols}) VALUES ({})",
        placeholders(vals.len())
    );
    bind_all(sqlx::query(AssertSqlSafe(sql)), vals)
        .execute(&store.pool)
        .await?;
    Ok(())
}

async fn get_one(
    store: &Store,
    table: &'static str,
    cols: &'static str,
    what: &'static str,
    id: &str,
) -> Result<AnyRow, StoreError> {
    let sql = format!("SELECT {cols} FROM {table} WHERE id = $1");
    sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_owned())
        .fetch_optional(&store.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what,
            id: id.to_owned(),
        })
}

/// `SELECT cols FROM table [WHERE a = $1 AND b = $2] ORDER BY id`.
async fn list_where(
    store: &Store,
    table: &'static str,
    cols: &'static str,
    filters: Vec<(&'static str, String)>,
) -> Result<Vec<AnyRow>, StoreError> {
    let mut sql = format!("SELECT {cols} FROM {table}");
    for (i, (col, _)) in filters.iter().enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        sql.push_str(&format!("{col} = ${}", i + 1));
    }
    sql.push_str(" ORDER BY id");
    let vals = filters
        .into_iter()
        .map(|(_, v)| Val::Text(Some(v)))
        .collect();
    Ok(bind_all(sqlx::query(AssertSqlSafe(sql)), vals)
        .fetch_all(&store.pool)
        .await?)
}

impl Store {
    // ---- customers ----

    /// Creates a customer (source 'api').
    pub async fn create_customer(&self, c: &Customer) -> Result<Customer, StoreError> {
        insert(
            self,
            "customers",
            CUSTOMER_COLS,
            customer_vals(c, Source::Api)?,
        )
        .await?;
        self.get_customer(&c.id).await
    }

    /// A customer by id.
    pub async fn get_customer(&self, id: &str) -> Result<Customer, StoreError> {
        customer_from_row(&get_one(self, "customers", CUSTOMER_SELECT, "customer", id).await?)
    }

    /// All customers, by id.
    pub async fn list_customers(&self) -> Result<Vec<Customer>, StoreError> {
        list_where(self, "customers", CUSTOMER_SELECT, vec![])
            .await?
            .iter()
            .map(customer_from_row)
            .collect()
    }

    /// Changes the fields set in `u`.
    pub async fn update_customer(
        &self,
        id: &str,
        u: &CustomerUpdate,
    ) -> Result<Customer, StoreError> {
        let mut sets = Vec::new();
        if let Some(name) = &u.name {
            sets.push(("name", Val::Text(Some(name.clone()))));
        }
        if let Some(d) = u.disabled {
            sets.push(("disabled", Val::Bool(d)));
        }
        if let Some(m) = &u.metadata {
            sets.push(("metadata", Val::Text(to_json(m.as_ref())?)));
        }
        run_update(self, "customers", "customer", id, sets).await?;
        self.get_customer(id).await
    }

    /// Disables a customer (the row stays: spend and history refer to it).
    pub async fn disable_customer(&self, id: &str) -> Result<(), StoreError> {
        run_update(
            self,
            "customers",
            "customer",
            id,
            vec![("disabled", Val::Bool(true))],
        )
        .await
    }

    // ---- teams ----

    /// Creates a team (source 'api'); `UnknownParent` if its customer does not exist.
    pub async fn create_team(&self, t: &Team) -> Result<Team, StoreError> {
        insert(self, "teams", TEAM_COLS, team_vals(t, Source::Api)).await?;
        self.get_team(&t.id).await
    }

    /// A team by id.
    pub async fn get_team(&self, id: &str) -> Result<Team, StoreError> {
        team_from_row(&get_one(self, "teams", TEAM_SELECT, "team", id).await?)
    }

    /// Teams, all or those of one customer, by id.
    pub async fn list_teams(&self, customer_id: Option<&str>) -> Result<Vec<Team>, StoreError> {
        let filters = customer_id
            .map(|c| vec![("customer_id", c.to_owned())])
            .unwrap_or_default();
        list_where(self, "teams", TEAM_SELECT, filters)
            .await?
            .iter()
            .map(team_from_row)
            .collect()
    }

    /// Changes the fields set in `u`.
    pub async fn update_team(&self, id: &str, u: &TeamUpdate) -> Result<Team, StoreError> {
        let mut sets = Vec::new();
        if let Some(c) = &u.customer_id {
            sets.push(("customer_id", Val::Text(c.clone())));
        }
        if let Some(name) = &u.name {
            sets.push(("name", Val::Text(Some(name.clone()))));
        }
        if let Some(d) = u.disabled {
            sets.push(("disabled", Val::Bool(d)));
        }
        run_update(self, "teams", "team", id, sets).await?;
        self.get_team(id).await
    }

    /// Disables a team.
    pub async fn disable_team(&self, id: &str) -> Result<(), StoreError> {
        run_update(
            self,
            "teams",
            "team",
            id,
            vec![("disabled", Val::Bool(true))],
        )
        .await
    }

    // ---- virtual keys ----

    /// Creates a key (source 'api'); `Conflict` if the id or hash exists, `UnknownParent`
    /// if its team or customer does not.
    pub async fn create_key(&self, k: &VirtualKey) -> Result<VirtualKey, StoreError> {
        insert(self, "virtual_keys", KEY_COLS, key_vals(k, Source::Api)?).await?;
        self.get_key(&k.id).await
    }

    /// A key by id.
    pub async fn get_key(&self, id: &str) -> Result<VirtualKey, StoreError> {
        key_from_row(&get_one(self, "virtual_keys", KEY_SELECT, "key", id).await?)
    }

    /// The key whose HMAC is `key_hash`, if any: the auth path's lookup (unique index).
    pub async fn find_key_by_hash(&self, key_hash: &str) -> Result<Option<VirtualKey>, StoreError> {
        let sql = format!("SELECT {KEY_SELECT} FROM virtual_keys WHERE key_hash = $1");
        sqlx::query(AssertSqlSafe(sql))
            .bind(key_hash.to_owned())
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(key_from_row)
            .transpose()
    }

    /// Keys, all or filtered by team and/or customer, by id.
    pub async fn list_keys(
        &self,
        team_id: Option<&str>,
        customer_id: Option<&str>,
    ) -> Result<Vec<VirtualKey>, StoreError> {
        let mut filters = Vec::new();
        if let Some(t) = team_id {
            filters.push(("team_id", t.to_owned()));
        }
        if let Some(c) = customer_id {
            filters.push(("customer_id", c.to_owned()));
        }
        list_where(self, "virtual_keys", KEY_SELECT, filters)
            .await?
            .iter()
            .map(key_from_row)
            .collect()
    }

    /// Changes the fields set in `u`.
    pub async fn update_key(&self, id: &str, u: &KeyUpdate) -> Result<VirtualKey, StoreError> {
        let mut sets = Vec::new();
        if let Some(name) = &u.name {
            sets.push(("name", Val::Text(Some(name.clone()))));
        }
        if let Some(t) = &u.team_id {
            sets.push(("team_id", Val::Text(t.clone())));
        }
        if let Some(c) = &u.customer_id {
            sets.push(("customer_id", Val::Text(c.clone())));
        }
        if let Some(d) = u.disabled {
            sets.push(("disabled", Val::Bool(d)));
        }
        if let Some(e) = u.expires_at {
            sets.push(("expires_at", Val::Int(e)));
        }
        if let Some(m) = &u.allowed_models {
            sets.push(("allowed_models", Val::Text(to_json(m.as_ref())?)));
        }
        if let Some(p) = &u.allowed_providers {
            sets.push(("allowed_providers", Val::Text(to_json(p.as_ref())?)));
        }
        run_update(self, "virtual_keys", "key", id, sets).await?;
        self.get_key(id).await
    }

    /// Disables a key.
    pub async fn disable_key(&self, id: &str) -> Result<(), StoreError> {
        run_update(
            self,
            "virtual_keys",
            "key",
            id,
            vec![("disabled", Val::Bool(true))],
        )
        .await
    }

    // ---- budgets ----

    /// Creates a budget (source 'api').
    pub async fn create_budget(&self, b: &Budget) -> Result<Budget, StoreError> {
        check_budget(b)?;
        insert(self, "budgets", BUDGET_COLS, budget_vals(b, Source::Api)).await?;
        self.get_budget(&b.id).await
    }

    /// A budget by id.
    pub async fn get_budget(&self, id: &str) -> Result<Budget, StoreError> {
        budget_from_row(&get_one(self, "budgets", BUDGET_COLS, "budget", id).await?)
    }

    /// Budgets, all or those of one owner, by id.
    pub async fn list_budgets(
        &self,
        owner: Option<(Level, &str)>,
    ) -> Result<Vec<Budget>, StoreError> {
        let filters = owner
            .map(|(l, o)| vec![("level", l.as_str().to_owned()), ("owner", o.to_owned())])
            .unwrap_or_default();
        list_where(self, "budgets", BUDGET_COLS, filters)
            .await?
            .iter()
            .map(budget_from_row)
            .collect()
    }

    /// Changes the fields set in `u`.
    pub async fn update_budget(&self, id: &str, u: &BudgetUpdate) -> Result<Budget, StoreError> {
        let mut sets = Vec::new();
        if let Some(l) = u.limit_nanos {
            if l < 0 {
                return Err(StoreError::Invalid("budget limit must be >= 0".into()));
            }
            sets.push(("limit_nanos", Val::Int(Some(l))));
        }
        if let Some(p) = &u.period {
            sets.push(("period", Val::Text(Some(p.clone()))));
        }
        if let Some(a) = u.alignment {
            sets.push(("alignment", Val::Text(Some(a.as_str().to_owned()))));
        }
        if let Some(a) = u.anchor {
            sets.push(("anchor", Val::Int(Some(a))));
        }
        run_update(self, "budgets", "budget", id, sets).await?;
        self.get_budget(id).await
    }

    /// Deletes a budget. Its recorded spend stays in `budget_spend`.
    pub async fn delete_budget(&self, id: &str) -> Result<(), StoreError> {
        delete(self, "budgets", "budget", id).await
    }

    // ---- rate limits ----

    /// Creates a rate limit (source 'api').
    pub async fn create_rate_limit(&self, r: &RateLimit) -> Result<RateLimit, StoreError> {
        check_rate(r)?;
        insert(self, "rate_limits", RATE_COLS, rate_vals(r, Source::Api)).await?;
        self.get_rate_limit(&r.id).await
    }

    /// A rate limit by id.
    pub async fn get_rate_limit(&self, id: &str) -> Result<RateLimit, StoreError> {
        rate_from_row(&get_one(self, "rate_limits", RATE_COLS, "rate limit", id).await?)
    }

    /// Rate limits, all or those of one owner, by id.
    pub async fn list_rate_limits(
        &self,
        owner: Option<(Level, &str)>,
    ) -> Result<Vec<RateLimit>, StoreError> {
        let filters = owner
            .map(|(l, o)| vec![("level", l.as_str().to_owned()), ("owner", o.to_owned())])
            .unwrap_or_default();
        list_where(self, "rate_limits", RATE_COLS, filters)
            .await?
            .iter()
            .map(rate_from_row)
            .collect()
    }

    /// Changes the fields set in `u`.
    pub async fn update_rate_limit(
        &self,
        id: &str,
        u: &RateLimitUpdate,
    ) -> Result<RateLimit, StoreError> {
        let mut sets = Vec::new();
        for (col, v) in [
            ("requests", u.requests),
            ("tokens", u.tokens),
            ("concurrent", u.concurrent),
        ] {
            if let Some(v) = v {
                if v.is_some_and(|v| v < 0) {
                    return Err(StoreError::Invalid(format!(
                        "rate limit {col} must be >= 0"
                    )));
                }
                sets.push((col, Val::Int(v)));
            }
        }
        if let Some(w) = u.window_secs {
            if w <= 0 {
                return Err(StoreError::Invalid("rate limit window must be > 0".into()));
            }
            sets.push(("window_secs", Val::Int(Some(w))));
        }
        run_update(self, "rate_limits", "rate limit", id, sets).await?;
        self.get_rate_limit(id).await
    }

    /// Deletes a rate limit.
    pub async fn delete_rate_limit(&self, id: &str) -> Result<(), StoreError> {
        delete(self, "rate_limits", "rate limit", id).await
    }
}

async fn delete(
    store: &Store,
    table: &'static str,
    what: &'static str,
    id: &str,
) -> Result<(), StoreError> {
    let sql = format!("DELETE FROM {table} WHERE id = $1");
    let result = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_owned())
        .execute(&store.pool)
        .await?;
    if result.rows_affected() == 0 {
        return Err(StoreError::NotFound {
            what,
            id: id.to_owned(),
        });
    }
    Ok(())
}
