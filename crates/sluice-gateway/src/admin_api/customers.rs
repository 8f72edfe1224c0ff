//! `/admin/customers`: the top of the hierarchy.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use serde::Deserialize;
use sluice_store::sql::{Customer, CustomerUpdate, Source, now_unix};

use super::AdminState;
use super::body::{IdPath, JsonBody, double_option};
use super::error::AdminResult;
use super::ids;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateCustomer {
    id: String,
    name: String,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatchCustomer {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    metadata: Option<Option<serde_json::Value>>,
    #[serde(default)]
    disabled: Option<bool>,
}

pub(crate) async fn create(
    State(state): State<Arc<AdminState>>,
    JsonBody(body): JsonBody<CreateCustomer>,
) -> AdminResult<(StatusCode, Json<Customer>)> {
    ids::check("id", &body.id)?;
    ids::check_name("name", &body.name)?;
    let customer = Customer {
        id: body.id,
        name: body.name,
        disabled: false,
        created_at: now_unix(),
        metadata: body.metadata,
        source: Source::Api,
    };
    let created = state.store.create_customer(&customer).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub(crate) async fn list(State(state): State<Arc<AdminState>>) -> AdminResult<Json<Vec<Customer>>> {
    Ok(Json(state.store.list_customers().await?))
}

pub(crate) async fn get_one(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
) -> AdminResult<Json<Customer>> {
    Ok(Json(state.store.get_customer(&id).await?))
}

pub(crate) async fn update(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
    JsonBody(body): JsonBody<PatchCustomer>,
) -> AdminResult<Json<Customer>> {
    if let Some(name) = &body.name {
        ids::check_name("name", name)?;
    }
    let update = CustomerUpdate {
        name: body.name,
        disabled: body.disabled,
        metadata: body.metadata,
    };
    Ok(Json(state.store.update_customer(&id, &update).await?))
}

pub(crate) async fn disable(
    State(state): State<Arc<AdminState>>,
    IdPath(id): IdPath,
) -> AdminResult<Json<Customer>> {
    state.store.disable_customer(&id).await?;
    Ok(Json(state.store.get_customer(&id).await?))
}
