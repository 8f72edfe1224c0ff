//! `/admin/teams`: teams, optionally under a customer.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use sluice_store::StoreError;
use sluice_store::sql::{Source, Team, TeamUpdate, now_unix};

use super::AdminState;
use super::body::{IdPath, JsonBody, QueryParams, double_option};
use super::error::{AdminError, AdminResult};
use super::ids;

/// A team as the API shows it: `customer` rather than the column name `customer_id`,
/// matching the request fields.
#[derive(Serialize)]
pub(crate) struct TeamView {
    id: String,
    name: String,
    customer: Option<String>,
    disabled: bool,
    created_at: i64,
    source: Source,
}

impl From<Team> for TeamView {
    fn from(t: Team) -> TeamView {
        TeamView {
            id: t.id,
            name: t.name,
            customer: t.customer_id,
            disabled: t.disabled,
            created_at: t.created_at,
            source: t.source,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTeam {
    id: String,
    name: String,
    #[serde(default)]
    customer: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchTeam {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    customer: Option<Option<String>>,
    #[serde(default)]
    disabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TeamFilter {
    customer: Option<String>,
}

/// 400 naming `param` when customer `id` does not exist.
pub(crate) async fn require_customer(
    state: &AdminState,
    param: &'static str,
    id: &str,
) -> AdminResult<()> {
    match state.store.get_customer(id).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound { .. }) => Err(AdminError::unknown_parent(param, "customer", id)),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn create(
    State(state): State<Arc<AdminState>>,
    JsonBody(body): JsonBody<CreateTeam>,
) -> AdminResult<(StatusCode, Json<TeamView>)> {
    ids::check("id", &body.id)?;
    ids::check_name("name", &body.name)?;
    if let Some(customer) = &body.customer {
        require_customer(&state, "customer", customer).await?;
    }
    let team = Team {
        id: body.id,
        customer_id: body.customer,
        name: body.name,
        disabled: false,
        created_at: now_unix(),
        source: Source::Api,
    };
    let created = state.store.create_team(&team).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

pub(crate) async fn list(
    State(state): State<Arc<AdminState>>,
    QueryParams(filter): QueryParams<TeamFilter>,
) -> AdminResult<Json<Vec<TeamView>>> {
    let teams = state.store.list_teams(filter.customer.as_deref()).await?;
    Ok(Json(teams.into_iter().map(TeamView::from).collect()))
}

pub(crate) async fn get_one(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
) -> AdminResult<Json<TeamView>> {
    Ok(Json(state.store.get_team(&id).await?.into()))
}

pub(crate) async fn update(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<PatchTeam>,
) -> AdminResult<Json<TeamView>> {
    if let Some(name) = &body.name {
        ids::check_name("name", name)?;
    }
    if let Some(Some(customer)) = &body.customer {
        // The team must exist first, so an unknown team is 404 before the parent's 400.
        state.store.get_team(&id).await?;
        require_customer(&state, "customer", customer).await?;
    }
    let update = TeamUpdate {
        customer_id: body.customer,
        name: body.name,
        disabled: body.disabled,
    };
    Ok(Json(state.store.update_team(&id, &update).await?.into()))
}

pub(crate) async fn disable(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
) -> AdminResult<Json<TeamView>> {
    state.store.disable_team(&id).await?;
    Ok(Json(state.store.get_team(&id).await?.into()))
}
