//! `GET /v1/models`: the routes and the advertised `provider/model` names, in the
//! OpenAI list format.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use sluice_providers::Upstream;

#[derive(Serialize)]
struct ModelList<'a> {
    object: &'static str,
    data: Vec<Model<'a>>,
}

#[derive(Serialize)]
struct Model<'a> {
    id: String,
    object: &'static str,
    created: u64,
    owned_by: &'a str,
}

pub(crate) fn render<'a>(
    providers: &[Upstream],
    routes: impl Iterator<Item = &'a String>,
) -> Bytes {
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let mut data: Vec<Model> = routes
        .map(|route| Model {
            id: route.clone(),
            object: "model",
            created,
            owned_by: "sluice",
        })
        .collect();
    for upstream in providers {
        for model in &upstream.models {
            data.push(Model {
                id: format!("{}/{model}", upstream.name),
                object: "model",
                created,
                owned_by: &upstream.name,
            });
        }
    }
    let list = ModelList {
        object: "list",
        data,
    };
    Bytes::from(serde_json::to_vec(&list).unwrap_or_default())
}
