//! The gateway's state, built once from the config: providers, routes and the model list.
//! Immutable after start, so the request path reads it without locks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use http::HeaderValue;
use sluice_core::config::{Config, ProviderKind};
use sluice_mock::MockServer;
use sluice_providers::Upstream;
use sluice_routing::{ProviderId, Route, Target};

use crate::endpoint::Endpoint;
use crate::metrics::{EndpointMetrics, EndpointSeries, Registry};
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
    /// Per provider (same index): its name as a header value.
    provider_headers: Vec<HeaderValue>,
    /// Per provider (same index): the metric series of `provider/model` addressing.
    direct_series: Vec<DirectSeries>,
    routes: HashMap<Arc<str>, RouteEntry>,
    pub(crate) max_body_bytes: usize,
    /// `GET /v1/models`, rendered once in each dialect.
    pub(crate) models: models::ModelLists,
    pub(crate) registry: Registry,
    /// Per endpoint, by `Endpoint as usize`.
    endpoint_metrics: [EndpointMetrics; Endpoint::ALL.len()],
    /// Mock providers started for this gateway; they stop when it is dropped.
    _mocks: Vec<MockServer>,
}

struct RouteEntry {
    route: Route,
    /// The series of each target, by target index.
    series: Vec<EndpointSeries>,
}

/// Metric series for requests addressed as `provider/model`: advertised models are
/// labelled by name, every other name is folded into `provider/*`, so a client cannot
/// inflate metric cardinality with made-up names.
struct DirectSeries {
    advertised: Vec<(String, EndpointSeries)>,
    other: EndpointSeries,
}

/// Where a requested model goes, and the series it is counted under.
pub struct ResolvedModel<'g, 'm> {
    pub provider: ProviderId,
    pub upstream: &'g Upstream,
    /// The provider's name as the `x-sluice-provider` value, built once.
    pub provider_header: &'g HeaderValue,
    /// The model name sent upstream: the route target's, or borrowed from the request.
    pub model: &'m str,
    pub(crate) series: &'g EndpointSeries,
}

impl Gateway {
    /// Builds the state, starting a loopback server for every provider of kind `mock`.
    pub async fn from_config(config: &Config) -> Result<Arc<Gateway>, GatewayError> {
        // The recorder must exist before any series handle is registered.
        let registry = Registry::install();
        let mut providers = Vec::with_capacity(config.providers.len());
        let mut mocks = Vec::new();
        for (name, provider) in &config.providers {
            let mut base_url = None;
            let kind = provider.kind.value;
            if kind == ProviderKind::Mock || provider.mock.is_some() {
                let settings = provider.mock.clone().unwrap_or_default();
                let mock = MockServer::start(settings, SocketAddr::from(([127, 0, 0, 1], 0)))
                    .await
                    .map_err(|source| GatewayError::Mock {
                        provider: name.clone(),
                        source,
                    })?;
                // The mock serves every dialect at its root; each kind's paths go below.
                base_url = Some(format!("http://{}{}", mock.addr(), kind.mock_base_path()));
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
        let mut provider_headers = Vec::with_capacity(providers.len());
        for upstream in &providers {
            provider_headers.push(HeaderValue::from_str(&upstream.name).map_err(|_| {
                GatewayError::Provider {
                    provider: upstream.name.to_string(),
                    message: "the name holds characters an HTTP header cannot carry".into(),
                }
            })?);
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
            let series = targets
                .iter()
                .map(|(target, _)| EndpointSeries::new(name, &providers[target.provider].name))
                .collect();
            let built =
                Route::new(name, route.strategy, targets).map_err(|err| GatewayError::Route {
                    route: name.clone(),
                    message: err.to_string(),
                })?;
            routes.insert(
                Arc::from(name.as_str()),
                RouteEntry {
                    route: built,
                    series,
                },
            );
        }
        let direct_series = providers
            .iter()
            .map(|upstream| DirectSeries {
                advertised: upstream
                    .models
                    .iter()
                    .map(|model| {
                        let label = format!("{}/{model}", upstream.name);
                        (model.clone(), EndpointSeries::new(&label, &upstream.name))
                    })
                    .collect(),
                other: EndpointSeries::new(&format!("{}/*", upstream.name), &upstream.name),
            })
            .collect();

        let models = models::render(&providers, config.routes.keys());
        Ok(Arc::new(Gateway {
            providers,
            provider_index,
            provider_headers,
            direct_series,
            routes,
            max_body_bytes: config.server.max_body_bytes,
            models,
            registry,
            endpoint_metrics: Endpoint::ALL.map(EndpointMetrics::new),
            _mocks: mocks,
        }))
    }

    /// A route name first, then `provider/model`.
    pub fn resolve<'g: 'm, 'm>(&'g self, model: &'m str) -> Option<ResolvedModel<'g, 'm>> {
        if let Some(entry) = self.routes.get(model) {
            let index = entry.route.choose_index();
            let target = &entry.route.targets()[index];
            return Some(ResolvedModel {
                provider: target.provider,
                upstream: &self.providers[target.provider],
                provider_header: &self.provider_headers[target.provider],
                model: &target.model,
                series: &entry.series[index],
            });
        }
        let (provider_name, upstream_model) = model.split_once('/')?;
        if upstream_model.is_empty() {
            return None;
        }
        let provider = *self.provider_index.get(provider_name)?;
        let direct = &self.direct_series[provider];
        let series = direct
            .advertised
            .iter()
            .find(|(advertised, _)| advertised == upstream_model)
            .map_or(&direct.other, |(_, series)| series);
        Some(ResolvedModel {
            provider,
            upstream: &self.providers[provider],
            provider_header: &self.provider_headers[provider],
            model: upstream_model,
            series,
        })
    }

    pub(crate) fn endpoint_metrics(&self, endpoint: Endpoint) -> &EndpointMetrics {
        &self.endpoint_metrics[endpoint as usize]
    }

    pub fn providers(&self) -> &[Upstream] {
        &self.providers
    }
}
