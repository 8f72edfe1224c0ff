//! `/admin/limits`: requests and tokens per window, and requests in flight, at one level.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use sluice_core::duration::parse_duration;
use sluice_store::sql::{Level, RateLimit, RateLimitUpdate, Source};

use super::AdminState;
use super::body::{IdPath, JsonBody, QueryParams, double_option};
use super::budgets::{OwnerFilter, owner_filter, parse_enforced_level, require_owner};
use super::error::{AdminError, AdminResult};
use super::ids;

/// A rate limit as the API shows it; `window` in the form it was given (`1m`, `30s`).
#[derive(Serialize)]
pub(crate) struct LimitView {
    id: String,
    level: Level,
    owner: String,
    requests: Option<i64>,
    tokens: Option<i64>,
    window: String,
    window_secs: i64,
    concurrent: Option<i64>,
    source: Source,
}

impl From<RateLimit> for LimitView {
    fn from(r: RateLimit) -> LimitView {
        LimitView {
            id: r.id,
            level: r.level,
            owner: r.owner,
            requests: r.requests,
            tokens: r.tokens,
            window: window_string(r.window_secs),
            window_secs: r.window_secs,
            concurrent: r.concurrent,
            source: r.source,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateLimit {
    #[serde(default)]
    id: Option<String>,
    level: String,
    owner: String,
    #[serde(default)]
    requests: Option<u64>,
    #[serde(default)]
    tokens: Option<u64>,
    #[serde(default)]
    window: Option<String>,
    #[serde(default)]
    concurrent: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchLimit {
    #[serde(default, deserialize_with = "double_option")]
    requests: Option<Option<u64>>,
    #[serde(default, deserialize_with = "double_option")]
    tokens: Option<Option<u64>>,
    #[serde(default)]
    window: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    concurrent: Option<Option<u64>>,
}

/// `1m`, `30s`, `1h`: whole seconds, more than zero.
fn parse_window(text: &str) -> AdminResult<i64> {
    let bad = |why: String| AdminError::invalid("window", format!("`window`: {why}"));
    let duration = parse_duration(text).map_err(bad)?;
    if duration.subsec_nanos() != 0 || duration.as_secs() == 0 {
        return Err(bad(format!(
            "`{text}` must be a whole number of seconds, at least 1s"
        )));
    }
    i64::try_from(duration.as_secs()).map_err(|_| bad(format!("`{text}` is out of range")))
}

fn window_string(secs: i64) -> String {
    match secs {
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn count(param: &'static str, v: u64) -> AdminResult<i64> {
    i64::try_from(v).map_err(|_| AdminError::invalid(param, format!("`{param}` is out of range")))
}

fn opt_count(param: &'static str, v: Option<u64>) -> AdminResult<Option<i64>> {
    v.map(|v| count(param, v)).transpose()
}

const NOTHING_LIMITED: &str =
    "a rate limit needs at least one of `requests`, `tokens` or `concurrent`";

pub(crate) async fn create(
    State(state): State<Arc<AdminState>>,
    JsonBody(body): JsonBody<CreateLimit>,
) -> AdminResult<(StatusCode, Json<LimitView>)> {
    let id = ids::chosen_or_new("id", body.id, "lim")?;
    let level = parse_enforced_level(
        &body.level,
        &[Level::Customer, Level::Team, Level::Key],
        "Rate limits",
    )?;
    if body.requests.is_none() && body.tokens.is_none() && body.concurrent.is_none() {
        return Err(AdminError::invalid("requests", NOTHING_LIMITED));
    }
    let window_secs = match &body.window {
        Some(w) => parse_window(w)?,
        None => 60,
    };
    let limit = RateLimit {
        id,
        level,
        owner: body.owner,
        requests: opt_count("requests", body.requests)?,
        tokens: opt_count("tokens", body.tokens)?,
        window_secs,
        concurrent: opt_count("concurrent", body.concurrent)?,
        source: Source::Api,
    };
    require_owner(&state, level, &limit.owner).await?;
    let created = state.store.create_rate_limit(&limit).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

pub(crate) async fn list(
    State(state): State<Arc<AdminState>>,
    QueryParams(filter): QueryParams<OwnerFilter>,
) -> AdminResult<Json<Vec<LimitView>>> {
    let (level, owner) = owner_filter(&filter)?;
    let limits = match (level, owner.as_deref()) {
        (Some(l), Some(o)) => state.store.list_rate_limits(Some((l, o))).await?,
        _ => state.store.list_rate_limits(None).await?,
    };
    Ok(Json(
        limits
            .into_iter()
            .filter(|r| level.is_none_or(|l| r.level == l))
            .filter(|r| owner.as_deref().is_none_or(|o| r.owner == o))
            .map(LimitView::from)
            .collect(),
    ))
}

pub(crate) async fn get_one(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
) -> AdminResult<Json<LimitView>> {
    Ok(Json(state.store.get_rate_limit(&id).await?.into()))
}

pub(crate) async fn update(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<PatchLimit>,
) -> AdminResult<Json<LimitView>> {
    let conv = |param, v: Option<Option<u64>>| -> AdminResult<Option<Option<i64>>> {
        v.map(|inner| opt_count(param, inner)).transpose()
    };
    let update = RateLimitUpdate {
        requests: conv("requests", body.requests)?,
        tokens: conv("tokens", body.tokens)?,
        window_secs: body.window.as_deref().map(parse_window).transpose()?,
        concurrent: conv("concurrent", body.concurrent)?,
    };
    // Clearing every limit would leave a row that limits nothing.
    let current = state.store.get_rate_limit(&id).await?;
    let after = |new: Option<Option<i64>>, old: Option<i64>| new.unwrap_or(old);
    if after(update.requests, current.requests).is_none()
        && after(update.tokens, current.tokens).is_none()
        && after(update.concurrent, current.concurrent).is_none()
    {
        return Err(AdminError::invalid("requests", NOTHING_LIMITED));
    }
    Ok(Json(
        state.store.update_rate_limit(&id, &update).await?.into(),
    ))
}

pub(crate) async fn delete(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
) -> AdminResult<StatusCode> {
    state.store.delete_rate_limit(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
