//! `/admin/budgets`: at most so many dollars per period at one level.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use sluice_governance::Nanodollars;
use sluice_governance::period::Period;
use sluice_store::StoreError;
use sluice_store::sql::{Alignment, Budget, BudgetUpdate, Level, Source, now_unix};

use super::AdminState;
use super::body::{IdPath, JsonBody, QueryParams};
use super::error::{AdminError, AdminResult};
use super::ids;

/// A budget as the API shows it: dollars as a number, the period as its string.
#[derive(Serialize)]
pub(crate) struct BudgetView {
    id: String,
    level: Level,
    owner: String,
    limit_usd: f64,
    period: String,
    alignment: Alignment,
    /// Unix seconds rolling periods count from (the creation time).
    anchor: i64,
    source: Source,
}

impl From<Budget> for BudgetView {
    fn from(b: Budget) -> BudgetView {
        BudgetView {
            id: b.id,
            level: b.level,
            owner: b.owner,
            limit_usd: Nanodollars(b.limit_nanos).to_usd(),
            period: b.period,
            alignment: b.alignment,
            anchor: b.anchor,
            source: b.source,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBudget {
    #[serde(default)]
    id: Option<String>,
    level: String,
    owner: String,
    limit_usd: Usd,
    period: String,
    #[serde(default)]
    alignment: Option<String>,
}

/// A limit in USD: a JSON number (`12.5`), or a string (`"12.50"`, `"$0.000001"`) for an
/// amount that must be exact to the nanodollar.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Usd {
    Number(f64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchBudget {
    #[serde(default)]
    limit_usd: Option<Usd>,
    #[serde(default)]
    period: Option<String>,
    #[serde(default)]
    alignment: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OwnerFilter {
    pub(crate) level: Option<String>,
    pub(crate) owner: Option<String>,
}

pub(crate) fn parse_level(text: &str) -> AdminResult<Level> {
    text.parse().map_err(|_| {
        AdminError::invalid(
            "level",
            format!("`level` is `{text}`; expected customer, team, key, provider or target"),
        )
    })
}

/// [`parse_level`], refusing the levels where the gateway does not enforce `what` yet, so
/// that nothing is stored that would silently do nothing.
pub(crate) fn parse_enforced_level(
    text: &str,
    enforced: &[Level],
    what: &str,
) -> AdminResult<Level> {
    let level = parse_level(text)?;
    if enforced.contains(&level) {
        return Ok(level);
    }
    let names: Vec<&str> = enforced.iter().map(|level| level.as_str()).collect();
    Err(AdminError::invalid(
        "level",
        format!(
            "{what} are enforced at these levels: {}; `{text}` is not one of them",
            names.join(", ")
        ),
    ))
}

fn parse_limit(usd: Usd) -> AdminResult<i64> {
    let nanos = match usd {
        Usd::Number(n) => {
            if !n.is_finite() || n >= (i64::MAX / 1_000_000_000) as f64 {
                return Err(AdminError::invalid(
                    "limit_usd",
                    "`limit_usd` is out of range",
                ));
            }
            Nanodollars::from_usd(n)
        }
        Usd::Text(t) => t
            .parse::<Nanodollars>()
            .map_err(|e| AdminError::invalid("limit_usd", format!("`limit_usd`: {e}")))?,
    };
    if nanos.is_negative() {
        return Err(AdminError::invalid(
            "limit_usd",
            "`limit_usd` must be a number >= 0",
        ));
    }
    Ok(nanos.0)
}

fn parse_period(text: &str) -> AdminResult<String> {
    text.parse::<Period>()
        .map(|p| p.as_str().to_owned())
        .map_err(|e| AdminError::invalid("period", format!("`period`: {e}")))
}

fn parse_alignment(text: &str) -> AdminResult<Alignment> {
    text.parse().map_err(|_| {
        AdminError::invalid(
            "alignment",
            format!("`alignment` is `{text}`; expected calendar or rolling"),
        )
    })
}

/// For customer, team and key levels the owner must exist (400 naming it); provider and
/// target names live in the gateway's config, which checks them.
pub(crate) async fn require_owner(
    state: &AdminState,
    level: Level,
    owner: &str,
) -> AdminResult<()> {
    // Any non-empty string: provider names and target ids (`route/0`) are the config's
    // to define, and a customer, team or key must exist anyway.
    if owner.trim().is_empty() || owner.len() > 256 {
        return Err(AdminError::invalid(
            "owner",
            "`owner` must be a non-empty string of at most 256 bytes",
        ));
    }
    let found = match level {
        Level::Customer => state.store.get_customer(owner).await.map(drop),
        Level::Team => state.store.get_team(owner).await.map(drop),
        Level::Key => state.store.get_key(owner).await.map(drop),
        Level::Provider | Level::Target => Ok(()),
    };
    match found {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound { .. }) => {
            Err(AdminError::unknown_parent("owner", level.as_str(), owner))
        }
        Err(e) => Err(e.into()),
    }
}

/// Filters by level and/or owner; the store indexes the pair, a lone filter is applied
/// here (these lists are short).
pub(crate) fn owner_filter(filter: &OwnerFilter) -> AdminResult<(Option<Level>, Option<String>)> {
    let level = filter.level.as_deref().map(parse_level).transpose()?;
    Ok((level, filter.owner.clone()))
}

pub(crate) async fn create(
    State(state): State<Arc<AdminState>>,
    JsonBody(body): JsonBody<CreateBudget>,
) -> AdminResult<(StatusCode, Json<BudgetView>)> {
    let id = ids::chosen_or_new("id", body.id, "bud")?;
    let level = parse_enforced_level(
        &body.level,
        &[Level::Customer, Level::Team, Level::Key, Level::Provider],
        "Budgets",
    )?;
    let limit_nanos = parse_limit(body.limit_usd)?;
    let period = parse_period(&body.period)?;
    let alignment = match &body.alignment {
        Some(a) => parse_alignment(a)?,
        None => Alignment::Calendar,
    };
    require_owner(&state, level, &body.owner).await?;
    let budget = Budget {
        id,
        level,
        owner: body.owner,
        limit_nanos,
        period,
        alignment,
        anchor: now_unix(),
        source: Source::Api,
    };
    let created = state.store.create_budget(&budget).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

pub(crate) async fn list(
    State(state): State<Arc<AdminState>>,
    QueryParams(filter): QueryParams<OwnerFilter>,
) -> AdminResult<Json<Vec<BudgetView>>> {
    let (level, owner) = owner_filter(&filter)?;
    let budgets = match (level, owner.as_deref()) {
        (Some(l), Some(o)) => state.store.list_budgets(Some((l, o))).await?,
        _ => state.store.list_budgets(None).await?,
    };
    Ok(Json(
        budgets
            .into_iter()
            .filter(|b| level.is_none_or(|l| b.level == l))
            .filter(|b| owner.as_deref().is_none_or(|o| b.owner == o))
            .map(BudgetView::from)
            .collect(),
    ))
}

pub(crate) async fn get_one(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
) -> AdminResult<Json<BudgetView>> {
    Ok(Json(state.store.get_budget(&id).await?.into()))
}

pub(crate) async fn update(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<PatchBudget>,
) -> AdminResult<Json<BudgetView>> {
    let update = BudgetUpdate {
        limit_nanos: body.limit_usd.map(parse_limit).transpose()?,
        period: body.period.as_deref().map(parse_period).transpose()?,
        alignment: body.alignment.as_deref().map(parse_alignment).transpose()?,
        anchor: None,
    };
    Ok(Json(state.store.update_budget(&id, &update).await?.into()))
}

pub(crate) async fn delete(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
) -> AdminResult<StatusCode> {
    state.store.delete_budget(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
