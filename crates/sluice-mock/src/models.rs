//! `GET /v1/models` and `GET /v1/models/{id}`: a fixed list of mock models.
//!
//! The chat and embeddings endpoints accept any model name; this list only gives clients
//! that discover models something to find.

use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::errors::ApiError;

/// The models the mock lists.
pub const MODEL_IDS: &[&str] = &["mock-gpt", "mock-gpt-mini", "mock-embedding"];

/// A fixed creation time (2023-11-14), so the list is the same bytes on every run.
const CREATED: u64 = 1_700_000_000;

#[derive(Serialize)]
struct ModelObject {
    id: &'static str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

#[derive(Serialize)]
struct ModelList {
    object: &'static str,
    data: Vec<ModelObject>,
}

fn model(id: &'static str) -> ModelObject {
    ModelObject {
        id,
        object: "model",
        created: CREATED,
        owned_by: "sluice",
    }
}

pub fn list() -> Response {
    crate::json::ok(&ModelList {
        object: "list",
        data: MODEL_IDS.iter().map(|id| model(id)).collect(),
    })
}

pub fn get(id: &str) -> Response {
    match MODEL_IDS.iter().find(|known| **known == id) {
        Some(known) => crate::json::ok(&model(known)),
        None => ApiError::model_not_found(id).into_response(),
    }
}
