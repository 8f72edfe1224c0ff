//! `GET /v1/models`: the routes and the advertised `provider/model` names, in the
//! OpenAI list format, or in Anthropic's for a client that sends `anthropic-version`.
//! A virtual key with allowlists sees only what it may ask for.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use sluice_providers::Upstream;

/// Both renderings of the whole list, built once, and its entries for a key's view.
pub(crate) struct ModelLists {
    pub openai: Bytes,
    pub anthropic: Bytes,
    entries: Vec<ModelEntry>,
}

/// One listed name, and the providers that can serve it.
struct ModelEntry {
    id: String,
    /// `sluice` for a route, the provider for a `provider/model`.
    owner: String,
    providers: Vec<String>,
}

impl ModelLists {
    /// The list as someone allowed the names `allows_model` accepts, served by the
    /// providers `allows_provider` accepts, sees it: `(openai, anthropic)`.
    pub(crate) fn visible(
        &self,
        allows_model: impl Fn(&str) -> bool,
        allows_provider: impl Fn(&str) -> bool,
    ) -> (Bytes, Bytes) {
        let visible: Vec<(&str, &str)> = self
            .entries
            .iter()
            .filter(|entry| {
                allows_model(&entry.id)
                    && entry
                        .providers
                        .iter()
                        .any(|provider| allows_provider(provider))
            })
            .map(|entry| (entry.id.as_str(), entry.owner.as_str()))
            .collect();
        serialise(&visible)
    }
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

/// The lists for `routes` (each with the providers of its targets) and every provider's
/// advertised models.
pub(crate) fn render<'a>(
    providers: &[Upstream],
    routes: impl Iterator<Item = (&'a String, Vec<String>)>,
) -> ModelLists {
    // Routes belong to the gateway, `provider/model` names to the provider.
    let mut entries: Vec<ModelEntry> = routes
        .map(|(route, providers)| ModelEntry {
            id: route.clone(),
            owner: "sluice".to_string(),
            providers,
        })
        .collect();
    for upstream in providers {
        for model in &upstream.models {
            entries.push(ModelEntry {
                id: format!("{}/{model}", upstream.name),
                owner: upstream.name.to_string(),
                providers: vec![upstream.name.to_string()],
            });
        }
    }
    let all: Vec<(&str, &str)> = entries
        .iter()
        .map(|entry| (entry.id.as_str(), entry.owner.as_str()))
        .collect();
    let (openai, anthropic) = serialise(&all);
    ModelLists {
        openai,
        anthropic,
        entries,
    }
}

/// Both renderings of `(id, owner)` entries.
fn serialise(models: &[(&str, &str)]) -> (Bytes, Bytes) {
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
        first_id: models.first().map(|(id, _)| *id),
        last_id: models.last().map(|(id, _)| *id),
    };
    // Serialising these plain structs cannot fail.
    (
        Bytes::from(serde_json::to_vec(&openai).unwrap_or_default()),
        Bytes::from(serde_json::to_vec(&anthropic).unwrap_or_default()),
    )
}
