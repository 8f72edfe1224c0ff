//! Loading the records the YAML config declares.
//!
//! # Who wins
//!
//! The API wins. A config record is written with `source = 'config'` by an
//! `INSERT … ON CONFLICT (id) DO UPDATE … WHERE <table>.source = 'config'`: a new id is
//! inserted, an id that a previous config load wrote is replaced (every column but
//! `created_at`, so a reload is the file's truth), and an id that the admin API created is left alone and
//! counted in [`ConfigOutcome::skipped_api`] (the caller should log it). Reasoning: an
//! operator who changed a record through the API did so on purpose, after the file was
//! written; silently undoing that on the next reload would be worse than a warning.
//!
//! Config records that disappear from the file are not deleted here (keys may still be
//! referenced by spend and by API-created children); disable them through the API or
//! mark them `disabled` in the file.
//!
//! Everything is loaded in one transaction, parents first, so a reload is all or nothing.

use sqlx::AssertSqlSafe;

use super::crud::{
    BUDGET_COLS, CUSTOMER_COLS, KEY_COLS, RATE_COLS, TEAM_COLS, budget_vals, check_budget,
    check_rate, customer_vals, key_vals, placeholders, rate_vals, team_vals,
};
use super::{ConfigOutcome, ConfigRecords, Source, Store, Val, bind_all};
use crate::StoreError;

/// `INSERT … ON CONFLICT (id) DO UPDATE SET every column … WHERE source = 'config'`.
fn upsert_sql(table: &str, cols: &str) -> String {
    let names: Vec<&str> = cols.split(',').map(str::trim).collect();
    let sets = names
        .iter()
        // The id is the conflict target; created_at keeps the first load's time.
        .filter(|c| **c != "id" && **c != "created_at")
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {table} ({cols}) VALUES ({}) ON CONFLICT (id) DO UPDATE SET {sets} \
         WHERE {table}.source = 'config'",
        placeholders(names.len())
    )
}

impl Store {
    /// Writes the config's records (source 'config'); see the module docs for who wins.
    pub async fn upsert_from_config(
        &self,
        records: &ConfigRecords,
    ) -> Result<ConfigOutcome, StoreError> {
        for b in &records.budgets {
            check_budget(b)?;
        }
        for r in &records.rate_limits {
            check_rate(r)?;
        }
        let batches: Vec<(String, Vec<Vec<Val>>)> = vec![
            (
                upsert_sql("customers", CUSTOMER_COLS),
                records
                    .customers
                    .iter()
                    .map(|c| customer_vals(c, Source::Config))
                    .collect::<Result<_, _>>()?,
            ),
            (
                upsert_sql("teams", TEAM_COLS),
                records
                    .teams
                    .iter()
                    .map(|t| team_vals(t, Source::Config))
                    .collect(),
            ),
            (
                upsert_sql("virtual_keys", KEY_COLS),
                records
                    .keys
                    .iter()
                    .map(|k| key_vals(k, Source::Config))
                    .collect::<Result<_, _>>()?,
            ),
            (
                upsert_sql("budgets", BUDGET_COLS),
                records
                    .budgets
                    .iter()
                    .map(|b| budget_vals(b, Source::Config))
                    .collect(),
            ),
            (
                upsert_sql("rate_limits", RATE_COLS),
                records
                    .rate_limits
                    .iter()
                    .map(|r| rate_vals(r, Source::Config))
                    .collect(),
            ),
        ];

        let mut outcome = ConfigOutcome::default();
        let mut tx = self.pool.begin().await?;
        for (sql, rows) in batches {
            for vals in rows {
                let result = bind_all(sqlx::query(AssertSqlSafe(sql.clone())), vals)
                    .execute(&mut *tx)
                    .await?;
                if result.rows_affected() == 0 {
                    outcome.skipped_api += 1;
                } else {
                    outcome.written += 1;
                }
            }
        }
        tx.commit().await?;
        Ok(outcome)
    }
}
