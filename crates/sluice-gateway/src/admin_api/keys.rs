//! `/admin/keys`: virtual keys. The plaintext exists in one response only — the one to
//! the POST that created it; the store keeps its HMAC, and no response ever shows that.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use sluice_store::StoreError;
use sluice_store::sql::{KeyUpdate, Source, VirtualKey, now_unix};

use super::AdminState;
use super::body::{IdPath, JsonBody, QueryParams, double_option};
use super::error::{AdminError, AdminResult};
use super::ids;
use super::teams::require_customer;
use super::time::Timestamp;

/// A key as the API shows it: everything but the hash.
#[derive(Serialize)]
pub(crate) struct KeyView {
    id: String,
    name: String,
    display_prefix: String,
    team: Option<String>,
    customer: Option<String>,
    models: Option<Vec<String>>,
    providers: Option<Vec<String>>,
    /// Unix seconds.
    expires_at: Option<i64>,
    disabled: bool,
    created_at: i64,
    source: Source,
}

impl From<VirtualKey> for KeyView {
    fn from(k: VirtualKey) -> KeyView {
        KeyView {
            id: k.id,
            name: k.name,
            display_prefix: k.display_prefix,
            team: k.team_id,
            customer: k.customer_id,
            models: k.allowed_models,
            providers: k.allowed_providers,
            expires_at: k.expires_at,
            disabled: k.disabled,
            created_at: k.created_at,
            source: k.source,
        }
    }
}

/// The creation response: the view plus the key itself, this once.
#[derive(Serialize)]
pub(crate) struct CreatedKey {
    key: String,
    #[serde(flatten)]
    view: KeyView,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKey {
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    customer: Option<String>,
    #[serde(default)]
    models: Option<Vec<String>>,
    #[serde(default)]
    providers: Option<Vec<String>>,
    #[serde(default)]
    expires_at: Option<Timestamp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchKey {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    team: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    customer: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    providers: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option")]
    expires_at: Option<Option<Timestamp>>,
    #[serde(default)]
    disabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyFilter {
    team: Option<String>,
    customer: Option<String>,
}

fn expiry(param: &'static str, t: &Timestamp) -> AdminResult<i64> {
    t.unix()
        .map_err(|why| AdminError::invalid(param, format!("`{param}`: {why}")))
}

/// Allow-lists must name something: an empty list would lock the key out of everything,
/// which is what `disabled` is for.
fn check_list(param: &'static str, list: &Option<Vec<String>>) -> AdminResult<()> {
    if let Some(items) = list {
        if items.is_empty() {
            return Err(AdminError::invalid(
                param,
                format!("`{param}` must not be an empty list; leave it out to allow all"),
            ));
        }
        if items.iter().any(|i| i.trim().is_empty()) {
            return Err(AdminError::invalid(
                param,
                format!("`{param}` must not contain empty names"),
            ));
        }
    }
    Ok(())
}

/// The customer a key of `team` belongs to: the team's, unless `customer` names one
/// (`Some(None)`: none). A customer that contradicts the team's is refused rather than
/// silently stored; both must exist.
async fn owner_of(
    state: &AdminState,
    team: Option<&str>,
    customer: Option<Option<String>>,
) -> AdminResult<Option<String>> {
    let mut owner = customer.clone().flatten();
    if let Some(team_id) = team {
        let team = match state.store.get_team(team_id).await {
            Ok(team) => team,
            Err(StoreError::NotFound { .. }) => {
                return Err(AdminError::unknown_parent("team", "team", team_id));
            }
            Err(e) => return Err(e.into()),
        };
        match (&customer, &team.customer_id) {
            (None, inherited) => owner = inherited.clone(),
            (Some(given), Some(expected)) if given.as_ref() != Some(expected) => {
                let given = given.as_deref().unwrap_or("null");
                return Err(AdminError::invalid(
                    "customer",
                    format!("`customer` is `{given}` but team `{team_id}` belongs to `{expected}`"),
                ));
            }
            _ => {}
        }
    }
    if let Some(c) = &owner {
        require_customer(state, "customer", c).await?;
    }
    Ok(owner)
}

pub(crate) async fn create(
    State(state): State<Arc<AdminState>>,
    JsonBody(body): JsonBody<CreateKey>,
) -> AdminResult<(StatusCode, Json<CreatedKey>)> {
    let id = ids::chosen_or_new("id", body.id, "key")?;
    ids::check_name("name", &body.name)?;
    check_list("models", &body.models)?;
    check_list("providers", &body.providers)?;
    let expires_at = body
        .expires_at
        .as_ref()
        .map(|t| expiry("expires_at", t))
        .transpose()?;
    let customer = owner_of(&state, body.team.as_deref(), body.customer.map(Some)).await?;
    let generated = sluice_governance::keys::generate()
        .map_err(|_| AdminError::internal("random number generator"))?;
    let record = VirtualKey {
        id,
        name: body.name,
        key_hash: state.key_hasher.hash(&generated.plaintext),
        display_prefix: generated.display_prefix,
        team_id: body.team,
        customer_id: customer,
        disabled: false,
        expires_at,
        allowed_models: body.models,
        allowed_providers: body.providers,
        created_at: now_unix(),
        source: Source::Api,
    };
    let created = state.store.create_key(&record).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: generated.plaintext,
            view: created.into(),
        }),
    ))
}

pub(crate) async fn list(
    State(state): State<Arc<AdminState>>,
    QueryParams(filter): QueryParams<KeyFilter>,
) -> AdminResult<Json<Vec<KeyView>>> {
    let keys = state
        .store
        .list_keys(filter.team.as_deref(), filter.customer.as_deref())
        .await?;
    Ok(Json(keys.into_iter().map(KeyView::from).collect()))
}

pub(crate) async fn get_one(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
) -> AdminResult<Json<KeyView>> {
    Ok(Json(state.store.get_key(&id).await?.into()))
}

pub(crate) async fn update(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<PatchKey>,
) -> AdminResult<Json<KeyView>> {
    if let Some(name) = &body.name {
        ids::check_name("name", name)?;
    }
    if let Some(models) = &body.models {
        check_list("models", models)?;
    }
    if let Some(providers) = &body.providers {
        check_list("providers", providers)?;
    }
    let expires_at = match &body.expires_at {
        None => None,
        Some(None) => Some(None),
        Some(Some(t)) => Some(Some(expiry("expires_at", t)?)),
    };
    let (team_id, customer_id) = match (&body.team, &body.customer) {
        (None, None) => (None, None),
        _ => {
            let key = state.store.get_key(&id).await?;
            // Leaving its team, a key stays with its customer unless told otherwise.
            let customer = match (&body.team, &body.customer) {
                (Some(None), None) => Some(key.customer_id),
                _ => body.customer.clone(),
            };
            let team = body.team.clone().unwrap_or(key.team_id);
            let customer = owner_of(&state, team.as_deref(), customer).await?;
            (Some(team), Some(customer))
        }
    };
    let update = KeyUpdate {
        name: body.name,
        team_id,
        customer_id,
        disabled: body.disabled,
        expires_at,
        allowed_models: body.models,
        allowed_providers: body.providers,
    };
    Ok(Json(state.store.update_key(&id, &update).await?.into()))
}

pub(crate) async fn disable(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
) -> AdminResult<Json<KeyView>> {
    state.store.disable_key(&id).await?;
    Ok(Json(state.store.get_key(&id).await?.into()))
}
