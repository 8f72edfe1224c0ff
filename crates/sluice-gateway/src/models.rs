//! `GET /v1/models`: the routes and the advertised `provider/model` names, in the
//! OpenAI list format, or in Anthropic's for a client that sends `anthropic-version`.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use sluice_providers::Upstream;

/// Both renderings of the list, built once.
pub(crate) struct ModelLists {
    pub openai: Bytes,
    pub anthropic: Bytes,
}

#[derive(Serialize)]
struct OpenAiList<'a> {
    object: &'static str,
    data: Vec<OpenAiModel<'a>>,
}

#[derive(Serialize)]
struct OpenAiModel<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'a str,
}

#[derive(Serialize)]
struct AnthropicList<'a> {
    data: Vec<AnthropicModel<'a>>,
    has_more: bool,
    first_id: Option<&'a str>,
    last_id: Option<&'a str>,
}

#[derive(Serialize)]
struct AnthropicModel<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    display_name: &'a str,
    /// RFC 3339; the gateway does not know when a provider released a model.
    created_at: &'static str,
}

pub(crate) fn render<'a>(
    providers: &[Upstream],
    routes: impl Iterator<Item = &'a String>,
) -> ModelLists {
    // (id, owner): routes belong to the gateway, `provider/model` names to the provider.
    let mut models: Vec<(String, &str)> = routes.map(|route| (route.clone(), "sluice")).collect();
    for upstream in providers {
        for model in &upstream.models {
            models.push((format!("{}/{model}", upstream.name), &upstream.name));
        }
    }
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let openai = OpenAiList {
        object: "list",
        data: models
            .iter()
            .map(|(id, owned_by)| OpenAiModel {
                id,
                object: "model",
                created,
                owned_by,
            })
            .collect(),
    };
    let anthropic = AnthropicList {
        data: models
            .iter()
            .map(|(id, _)| AnthropicModel {
                kind: "model",
                id,
                display_name: id,
                created_at: "1970-01-01T00:00:00Z",
            })
            .collect(),
        has_more: false,
        first_id: models.first().map(|(id, _)| id.as_str()),
        last_id: models.last().map(|(id, _)| id.as_str()),
    };
    // Serialising these plain structs cannot fail.
    ModelLists {
        openai: Bytes::from(serde_json::to_vec(&openai).unwrap_or_default()),
        anthropic: Bytes::from(serde_json::to_vec(&anthropic).unwrap_or_default()),
    }
}
