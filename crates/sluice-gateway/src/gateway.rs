//! The gateway's state, built once from the config: providers, routes and the model list.
//! Immutable after start, so the request path reads it without locks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use sluice_core::config::{Config, ProviderKind};
use sluice_mock::MockServer;
use sluice_providers::Upstream;
use sluice_routing::{Route, Target};

use crate::metrics::Metrics;
use crate::models;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("provider `{provider}`: {message}")]
    Provider { provider: String, message: String },
    #[error("could not start the mock provider `{provider}`: {source}")]
    Mock {
        provider: String,
        source: std::io::Error,
    },
    #[error("route `{route}`: {message}")]
    Route { route: String, message: String },
}

/// Everything a request needs, shared by all requests.
pub struct Gateway {
    pub(crate) providers: Vec<Upstream>,
    provider_index: HashMap<Arc<str>, usize>,
    routes: HashMap<Arc<str>, Route>,
    pub(crate) max_body_bytes: usize,
    /// `GET /v1/models`, rendered once.
    pub(crate) models_json: Bytes,
    pub(crate) metrics: Metrics,
    /// Mock providers started for this gateway; they stop when it is dropped.
    _mocks: Vec<MockServer>,
}

/// Where a requested model goes, and the label it is counted under in metrics.
pub struct ResolvedModel<'a> {
    pub target: Target,
    pub upstream: &'a Upstream,
    /// The route name, `provider/model` for an advertised model, or `provider/*`:
    /// bounded, so a client cannot inflate metric cardinality with made-up names.
    pub label: Arc<str>,
}

impl Gateway {
    /// Builds the state, starting a loopback server for every provider of kind `mock`.
    pub async fn from_config(config: &Config) -> Result<Arc<Gateway>, GatewayError> {
        let mut providers = Vec::with_capacity(config.providers.len());
        let mut mocks = Vec::new();
        for (name, provider) in &config.providers {
            let mut base_url = None;
            if provider.kind.value == ProviderKind::Mock {
                let settings = provider.mock.clone().unwrap_or_default();
                let mock = MockServer::start(settings, SocketAddr::from(([127, 0, 0, 1], 0)))
                    .await
                    .map_err(|source| GatewayError::Mock {
                        provider: name.clone(),
                        source,
                    })?;
                base_url = Some(mock.base_url());
                mocks.push(mock);
            }
            let upstream =
                Upstream::new(name, provider, base_url.as_deref()).map_err(|message| {
                    GatewayError::Provider {
                        provider: name.clone(),
                        message,
                    }
                })?;
            providers.push(upstream);
        }
        let provider_index: HashMap<Arc<str>, usize> = providers
            .iter()
            .enumerate()
            .map(|(index, upstream)| (upstream.name.clone(), index))
            .collect();

        let mut routes = HashMap::with_capacity(config.routes.len());
        for (name, route) in &config.routes {
            let mut targets = Vec::with_capacity(route.targets.value.len());
            for target in &route.targets.value {
                let provider = *provider_index
                    .get(target.provider.value.as_str())
                    .ok_or_else(|| GatewayError::Route {
                        route: name.clone(),
                        message: format!("unknown provider `{}`", target.provider.value),
                    })?;
                targets.push((
                    Target {
                        provider,
                        model: target.model.as_str().into(),
                    },
                    target.weight,
                ));
            }
            let built =
                Route::new(name, route.strategy, targets).map_err(|err| GatewayError::Route {
                    route: name.clone(),
                    message: err.to_string(),
                })?;
            routes.insert(Arc::from(name.as_str()), built);
        }

        let models_json = models::render(&providers, config.routes.keys());
        Ok(Arc::new(Gateway {
            providers,
            provider_index,
            routes,
            max_body_bytes: config.server.max_body_bytes,
            models_json,
            metrics: Metrics::new(),
            _mocks: mocks,
        }))
    }

    /// A route name first, then `provider/model`.
    pub fn resolve(&self, model: &str) -> Option<ResolvedModel<'_>> {
        if let Some(route) = self.routes.get(model) {
            let target = route.choose().clone();
            let upstream = &self.providers[target.provider];
            return Some(ResolvedModel {
                target,
                upstream,
                label: route.name.clone(),
            });
        }
        let (provider, upstream_model) = model.split_once('/')?;
        if upstream_model.is_empty() {
            return None;
        }
        let index = *self.provider_index.get(provider)?;
        let upstream = &self.providers[index];
        let label = if upstream.models.iter().any(|m| m == upstream_model) {
            Arc::from(model)
        } else {
            Arc::from(format!("{provider}/*"))
        };
        Some(ResolvedModel {
            target: Target {
                provider: index,
                model: upstream_model.into(),
            },
            upstream,
            label,
        })
    }

    pub fn providers(&self) -> &[Upstream] {
        &self.providers
    }
}
