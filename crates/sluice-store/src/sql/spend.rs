//! The spend ledger and budget windows: upsert-add writes and the reports over them.

use crate::FastMap;

use sqlx::{AssertSqlSafe, Row};

use super::{GroupBy, SpendKey, SpendRow, SpendTotals, Store};
use crate::StoreError;

const LEDGER_UPSERT: &str = "INSERT INTO spend_ledger \
    (day, key_id, team_id, customer_id, provider, model, requests, input_tokens, \
     output_tokens, cached_input_tokens, cost_nanos, saved_nanos) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
    ON CONFLICT (day, key_id, team_id, customer_id, provider, model) DO UPDATE SET \
    requests = spend_ledger.requests + excluded.requests, \
    input_tokens = spend_ledger.input_tokens + excluded.input_tokens, \
    output_tokens = spend_ledger.output_tokens + excluded.output_tokens, \
    cached_input_tokens = spend_ledger.cached_input_tokens + excluded.cached_input_tokens, \
    cost_nanos = spend_ledger.cost_nanos + excluded.cost_nanos, \
    saved_nanos = spend_ledger.saved_nanos + excluded.saved_nanos";

const BUDGET_UPSERT: &str = "INSERT INTO budget_spend (budget_id, window_start, spent_nanos) \
    VALUES ($1, $2, $3) ON CONFLICT (budget_id, window_start) DO UPDATE SET \
    spent_nanos = budget_spend.spent_nanos + excluded.spent_nanos";

const TOTALS: &str = "CAST(COALESCE(SUM(requests), 0) AS BIGINT) AS requests, \
    CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) AS input_tokens, \
    CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT) AS output_tokens, \
    CAST(COALESCE(SUM(cached_input_tokens), 0) AS BIGINT) AS cached_input_tokens, \
    CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) AS cost_nanos, \
    CAST(COALESCE(SUM(saved_nanos), 0) AS BIGINT) AS saved_nanos";

/// Spend aggregated in memory, ready to be added to the store in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpendBatch {
    /// Ledger increments per row.
    pub ledger: FastMap<SpendKey, SpendTotals>,
    /// Budget increments per (budget id, window start).
    pub budgets: FastMap<(String, i64), i64>,
}

impl SpendBatch {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ledger.is_empty() && self.budgets.is_empty()
    }

    /// Adds `other` into `self` (used to put a failed batch back).
    pub fn merge(&mut self, other: SpendBatch) {
        for (k, t) in other.ledger {
            self.ledger.entry(k).or_default().add(&t);
        }
        for (k, n) in other.budgets {
            let e = self.budgets.entry(k).or_default();
            *e = e.saturating_add(n);
        }
    }
}

fn opt_id(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn none_if_empty(v: String) -> Option<String> {
    if v.is_empty() { None } else { Some(v) }
}

fn totals_from_row(row: &sqlx::any::AnyRow) -> Result<SpendTotals, StoreError> {
    Ok(SpendTotals {
        requests: row.try_get("requests")?,
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        cached_input_tokens: row.try_get("cached_input_tokens")?,
        cost_nanos: row.try_get("cost_nanos")?,
        saved_nanos: row.try_get("saved_nanos")?,
    })
}

impl Store {
    /// Adds a batch to the ledger and the budget windows, in one transaction.
    ///
    /// Rows are written in sorted order so that two gateway instances flushing the same
    /// rows into PostgreSQL take row locks in the same order and cannot deadlock.
    pub async fn apply_spend(&self, batch: &SpendBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut ledger: Vec<(&SpendKey, &SpendTotals)> = batch.ledger.iter().collect();
        ledger.sort_by(|a, b| {
            (
                &a.0.day,
                &a.0.key_id,
                &a.0.team_id,
                &a.0.customer_id,
                &a.0.provider,
                &a.0.model,
            )
                .cmp(&(
                    &b.0.day,
                    &b.0.key_id,
                    &b.0.team_id,
                    &b.0.customer_id,
                    &b.0.provider,
                    &b.0.model,
                ))
        });
        let mut budgets: Vec<(&(String, i64), &i64)> = batch.budgets.iter().collect();
        budgets.sort();

        let mut tx = self.pool.begin().await?;
        for (k, t) in ledger {
            sqlx::query(LEDGER_UPSERT)
                .bind(k.day.clone())
                .bind(opt_id(&k.key_id))
                .bind(opt_id(&k.team_id))
                .bind(opt_id(&k.customer_id))
                .bind(k.provider.clone())
                .bind(k.model.clone())
                .bind(t.requests)
                .bind(t.input_tokens)
                .bind(t.output_tokens)
                .bind(t.cached_input_tokens)
                .bind(t.cost_nanos)
                .bind(t.saved_nanos)
                .execute(&mut *tx)
                .await?;
        }
        for ((budget_id, window_start), nanos) in budgets {
            sqlx::query(BUDGET_UPSERT)
                .bind(budget_id.clone())
                .bind(*window_start)
                .bind(*nanos)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Spend recorded for a budget's window (0 when none). Used to seed the shared
    /// counters when an instance starts.
    pub async fn budget_spent(
        &self,
        budget_id: &str,
        window_start: i64,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT spent_nanos FROM budget_spend WHERE budget_id = $1 AND window_start = $2",
        )
        .bind(budget_id.to_owned())
        .bind(window_start)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => r.try_get("spent_nanos")?,
            None => 0,
        })
    }

    /// Ledger totals per group over the UTC days `from_day..=to_day` (`YYYY-MM-DD`),
    /// ordered by group. Absent key/team/customer ids group under "".
    pub async fn spend_report(
        &self,
        group_by: GroupBy,
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<(String, SpendTotals)>, StoreError> {
        let col = match group_by {
            GroupBy::Key => "key_id",
            GroupBy::Team => "team_id",
            GroupBy::Customer => "customer_id",
            GroupBy::Model => "model",
            GroupBy::Provider => "provider",
            GroupBy::Day => "day",
        };
        let sql = format!(
            "SELECT {col} AS grp, {TOTALS} FROM spend_ledger \
             WHERE day >= $1 AND day <= $2 GROUP BY {col} ORDER BY {col}"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(from_day.to_owned())
            .bind(to_day.to_owned())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>("grp")?, totals_from_row(r)?)))
            .collect()
    }

    /// The ledger rows over the UTC days `from_day..=to_day`, for export.
    pub async fn spend_rows(
        &self,
        from_day: &str,
        to_day: &str,
    ) -> Result<Vec<SpendRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT day, key_id, team_id, customer_id, provider, model, requests, input_tokens, \
             output_tokens, cached_input_tokens, cost_nanos, saved_nanos FROM spend_ledger \
             WHERE day >= $1 AND day <= $2 \
             ORDER BY day, key_id, team_id, customer_id, provider, model",
        )
        .bind(from_day.to_owned())
        .bind(to_day.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SpendRow {
                    key: SpendKey {
                        day: r.try_get("day")?,
                        key_id: none_if_empty(r.try_get("key_id")?),
                        team_id: none_if_empty(r.try_get("team_id")?),
                        customer_id: none_if_empty(r.try_get("customer_id")?),
                        provider: r.try_get("provider")?,
                        model: r.try_get("model")?,
                    },
                    totals: totals_from_row(r)?,
                })
            })
            .collect()
    }
}
