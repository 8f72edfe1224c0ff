//! The ledger's side of settling, gathered before it reaches the [`SpendWriter`]: each
//! settled call adds its totals to a row by (key, provider, model, day, budget windows),
//! and every batch interval the rows go to the writer, one record each.
//!
//! Why: the writer finds a ledger row by hashing and comparing six strings, and each
//! budget window by its id, which cost more than the rest of settling together. Here a
//! call finds its row by the key's pointer and the day (the row holds the key, so the
//! pointer cannot be reused while the row lives), then compares two short strings and
//! the windows' numbers. The writer does its work once per row per interval.
//!
//! What it costs: spend reaches the writer up to one batch interval later, so a crash can
//! lose that much more ledger (the budget totals that admission reads are charged at
//! once, in the mirror, as before). `Governor::flush` and `Governor::shutdown` drain the
//! rows first.

use std::sync::{Arc, Mutex, MutexGuard};

use sluice_core::chat::Usage;
use sluice_core::period::{Window, civil_from_days};
use sluice_store::FastMap;
use sluice_store::spend_writer::{SpendEvent, SpendWriter};
use smallvec::SmallVec;

use super::policies::{BudgetRule, KeyEntry};

/// Settled calls not yet given to the writer.
#[derive(Default)]
pub(crate) struct LedgerMemo {
    rows: Mutex<RowsByKey>,
}

/// Rows by (key pointer, day): usually one each (one provider, model and set of windows).
type RowsByKey = FastMap<(usize, i64), SmallVec<[Row; 1]>>;

/// What one settled call adds to the ledger.
pub(crate) struct Charge<'a> {
    pub key: Option<&'a Arc<KeyEntry>>,
    pub provider: &'a str,
    pub model: &'a str,
    /// Unix seconds of the call's admission.
    pub at: i64,
    /// The budgets charged and their windows at `at`.
    pub windows: &'a [(&'a Arc<BudgetRule>, Window)],
    pub usage: &'a Usage,
    pub cost_nanos: i64,
}

struct Row {
    key: Option<Arc<KeyEntry>>,
    provider: Box<str>,
    model: Box<str>,
    windows: SmallVec<[(Arc<BudgetRule>, Window); 6]>,
    requests: u64,
    input: u64,
    output: u64,
    cached: u64,
    cost_nanos: i64,
}

impl Row {
    fn holds(&self, charge: &Charge<'_>) -> bool {
        *self.provider == *charge.provider
            && *self.model == *charge.model
            && self.windows.len() == charge.windows.len()
            && self
                .windows
                .iter()
                .zip(charge.windows)
                .all(|((rule, window), (other, at))| {
                    rule.slot == other.slot && window.start == at.start
                })
    }

    fn add(&mut self, charge: &Charge<'_>) {
        self.requests += 1;
        self.input = self.input.saturating_add(charge.usage.input_tokens);
        self.output = self.output.saturating_add(charge.usage.output_tokens);
        self.cached = self.cached.saturating_add(charge.usage.cached_input_tokens);
        self.cost_nanos = self.cost_nanos.saturating_add(charge.cost_nanos);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LedgerMemo {
    /// Adds one settled call to its row.
    pub(crate) fn add(&self, charge: Charge<'_>) {
        let day = charge.at.div_euclid(86_400);
        let pointer = charge.key.map_or(0, |key| Arc::as_ptr(key) as usize);
        let mut rows = lock(&self.rows);
        let rows = rows.entry((pointer, day)).or_default();
        if let Some(row) = rows.iter_mut().find(|row| row.holds(&charge)) {
            row.add(&charge);
            return;
        }
        let mut row = Row {
            key: charge.key.cloned(),
            provider: charge.provider.into(),
            model: charge.model.into(),
            windows: charge
                .windows
                .iter()
                .map(|(rule, window)| (Arc::clone(rule), *window))
                .collect(),
            requests: 0,
            input: 0,
            output: 0,
            cached: 0,
            cost_nanos: 0,
        };
        row.add(&charge);
        rows.push(row);
    }

    /// Gives every row to `writer` and forgets them.
    pub(crate) fn drain_into(&self, writer: &SpendWriter) {
        let rows = std::mem::take(&mut *lock(&self.rows));
        for ((_, day), rows) in rows {
            let day = utc_day(day);
            for row in rows {
                let windows: SmallVec<[(&str, Window); 6]> = row
                    .windows
                    .iter()
                    .map(|(rule, window)| (rule.id.as_str(), *window))
                    .collect();
                let key = row.key.as_deref();
                writer.record(SpendEvent {
                    key_id: key.map(|key| key.id.as_str()),
                    team_id: key.and_then(|key| key.team.as_deref()),
                    customer_id: key.and_then(|key| key.customer.as_deref()),
                    provider: &row.provider,
                    model: &row.model,
                    day: &day,
                    requests: row.requests,
                    input: row.input,
                    output: row.output,
                    cached: row.cached,
                    cost_nanos: row.cost_nanos,
                    saved_nanos: 0,
                    budget_windows: &windows,
                });
            }
        }
    }
}

/// A day (days since 1970-01-01) as the ledger writes it, `YYYY-MM-DD`.
fn utc_day(day: i64) -> String {
    let (year, month, day) = civil_from_days(day);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::utc_day;
    use crate::governor::rfc3339;

    #[test]
    fn ledger_days_are_utc_dates() {
        for unix in [0_i64, 951_782_400, 1_795_717_012, 253_402_300_799] {
            assert_eq!(
                utc_day(unix.div_euclid(86_400)),
                rfc3339(unix)[..10],
                "{unix}"
            );
        }
        assert_eq!(utc_day(951_782_400 / 86_400), "2000-02-29");
        assert_eq!(utc_day(1_795_717_012 / 86_400), "2026-11-26");
        assert_eq!(utc_day(253_402_300_800 / 86_400), "10000-01-01");
    }
}
