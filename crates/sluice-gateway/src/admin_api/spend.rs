//! `/admin/spend`: the spend ledger grouped by key, team, customer, model, provider or day.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use sluice_governance::Nanodollars;
use sluice_store::sql::GroupBy;

use super::AdminState;
use super::body::QueryParams;
use super::error::{AdminError, AdminResult};
use super::time::{day_string, parse_day, today};

/// Without `from`, a report covers the last 30 days, today included.
const DEFAULT_DAYS: i64 = 30;

/// Longest range one report may cover (about ten years), so nobody scans by accident.
const MAX_DAYS: i64 = 3_700;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpendQuery {
    group_by: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct SpendReport {
    group_by: &'static str,
    from: String,
    to: String,
    rows: Vec<SpendGroup>,
}

#[derive(Serialize)]
pub(crate) struct SpendGroup {
    group: String,
    requests: i64,
    input_tokens: i64,
    output_tokens: i64,
    cached_input_tokens: i64,
    cost_usd: f64,
    saved_usd: f64,
}

fn parse_group_by(text: &str) -> AdminResult<(GroupBy, &'static str)> {
    Ok(match text {
        "key" => (GroupBy::Key, "key"),
        "team" => (GroupBy::Team, "team"),
        "customer" => (GroupBy::Customer, "customer"),
        "model" => (GroupBy::Model, "model"),
        "provider" => (GroupBy::Provider, "provider"),
        "day" => (GroupBy::Day, "day"),
        other => {
            return Err(AdminError::invalid(
                "group_by",
                format!(
                    "`group_by` is `{other}`; expected key, team, customer, model, provider or day"
                ),
            ));
        }
    })
}

fn day(param: &'static str, text: &str) -> AdminResult<i64> {
    parse_day(text)
        .ok_or_else(|| AdminError::invalid(param, format!("`{param}` must be a day as YYYY-MM-DD")))
}

pub(crate) async fn report(
    State(state): State<Arc<AdminState>>,
    QueryParams(query): QueryParams<SpendQuery>,
) -> AdminResult<Json<SpendReport>> {
    let (group_by, name) = parse_group_by(query.group_by.as_deref().unwrap_or("day"))?;
    let to = match &query.to {
        Some(t) => day("to", t)?,
        None => today(),
    };
    let from = match &query.from {
        Some(f) => day("from", f)?,
        None => to - (DEFAULT_DAYS - 1),
    };
    if from > to {
        return Err(AdminError::invalid("from", "`from` is after `to`"));
    }
    if to - from > MAX_DAYS {
        return Err(AdminError::invalid(
            "from",
            format!("a report covers at most {MAX_DAYS} days"),
        ));
    }
    let (from, to) = (day_string(from), day_string(to));
    let rows = state.store.spend_report(group_by, &from, &to).await?;
    Ok(Json(SpendReport {
        group_by: name,
        from,
        to,
        rows: rows
            .into_iter()
            .map(|(group, t)| SpendGroup {
                group,
                requests: t.requests,
                input_tokens: t.input_tokens,
                output_tokens: t.output_tokens,
                cached_input_tokens: t.cached_input_tokens,
                cost_usd: Nanodollars(t.cost_nanos).to_usd(),
                saved_usd: Nanodollars(t.saved_nanos).to_usd(),
            })
            .collect(),
    }))
}
