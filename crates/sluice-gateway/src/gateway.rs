//! The gateway's state, built once from the config: providers, routes and the model list.
//! Immutable after start, so the request path reads it without locks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::HeaderValue;
use sluice_core::ApiError;
use sluice_core::config::{
    Config, HedgeConfig, ProviderKind, RequestOverride, RetryConfig, RouteStrategy,
};
use sluice_governance::governor::{Clock, Governor};
use sluice_mock::MockServer;
use sluice_providers::Upstream;
use sluice_routing::{
    BreakerSettings, PlanTarget, ProviderId, RoutePlan, RouteTrace, SkipReason, Target, TargetGate,
    TargetLease,
};

use crate::governance_setup;

use crate::endpoint::Endpoint;
use crate::health::{self, HealthGate, ProviderHealth};
use crate::metrics::{
    EndpointMetrics, EndpointSeries, HedgeCounters, Registry, TargetGauges, provider_health_gauge,
};
use crate::models;
use crate::request_routing::RequestRouting;

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
    #[error("governance: {0}")]
    Governance(String),
}

/// What a gateway can be given besides its config (tests pass a clock).
#[derive(Default)]
pub struct GatewayOptions {
    /// The clock budget periods are read from; the system clock by default.
    pub clock: Option<Clock>,
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
    /// Per provider (same index): what its active health checks say.
    pub(crate) health: Vec<ProviderHealth>,
    /// The failover policy of a `provider/model` request that names its own fallbacks.
    default_retry: RetryConfig,
    /// Virtual keys, budgets and limits, when the config uses them.
    governor: Option<Arc<Governor>>,
    /// The admin API's state, when `governance.admin_token` is set.
    pub(crate) admin: Option<Arc<crate::admin_api::AdminState>>,
    pub(crate) max_body_bytes: usize,
    /// `GET /v1/models`, rendered once in each dialect.
    pub(crate) models: models::ModelLists,
    pub(crate) registry: Registry,
    /// Per endpoint, by `Endpoint as usize`.
    endpoint_metrics: [EndpointMetrics; Endpoint::ALL.len()],
    /// Mock providers started for this gateway; they stop when it is dropped.
    _mocks: Vec<MockServer>,
}

pub(crate) struct RouteEntry {
    pub(crate) plan: Arc<RoutePlan>,
    /// The series of each target, by target index.
    series: Vec<EndpointSeries>,
    /// The live-state gauges of each target, by target index.
    pub(crate) gauges: Vec<TargetGauges>,
    retry: RetryConfig,
    /// Other routes or `provider/model`s to try after this route's own targets.
    fallbacks: Vec<String>,
    hedge: Option<HedgeConfig>,
    hedges: HedgeCounters,
    /// What a request may override with its headers.
    overrides: Vec<RequestOverride>,
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
    /// For a route: the plan and the target's index, whose state learns the outcome.
    route_target: Option<(&'g Arc<RoutePlan>, usize)>,
}

impl ResolvedModel<'_, '_> {
    /// Counts the request in flight at its route target until the lease drops.
    pub(crate) fn lease(&self) -> Option<TargetLease> {
        let (plan, index) = self.route_target?;
        TargetLease::new(plan, index)
    }
}

impl<'g> ResolvedModel<'g, '_> {
    /// Whether a route's ranking chose it (and so its gate already checked it).
    pub(crate) fn ranked(&self) -> bool {
        self.route_target.is_some()
    }

    /// The route target's live state (latency samples, in flight), if a route chose it.
    pub(crate) fn target_state(&self) -> Option<&'g sluice_routing::TargetState> {
        let (plan, index) = self.route_target?;
        plan.state(index)
    }
}

/// Where a request may be served, in the order to try: a route's targets ranked by its
/// strategy (healthy ones only), or the one `provider/model`.
pub struct Candidates<'g, 'm> {
    pub list: Vec<ResolvedModel<'g, 'm>>,
    /// The route's failover policy; `None` for `provider/model` (one attempt).
    pub retry: Option<&'g RetryConfig>,
    /// The route's hedge, with its counters.
    pub(crate) hedge: Option<(HedgeConfig, &'g HedgeCounters)>,
}

/// What a requested model resolves to.
pub enum Resolution<'g, 'm> {
    Found(Candidates<'g, 'm>),
    /// A route whose every target is skipped (circuit open, resting after a
    /// `Retry-After`).
    Unavailable {
        route: &'g str,
    },
    NotFound,
    /// The request's routing headers ask for something not allowed or unknown.
    Refused(ApiError),
}

impl Gateway {
    /// Builds the state, starting a loopback server for every provider of kind `mock`.
    pub async fn from_config(config: &Config) -> Result<Arc<Gateway>, GatewayError> {
        Self::from_config_with(config, GatewayOptions::default()).await
    }

    /// [`Gateway::from_config`] with options.
    pub async fn from_config_with(
        config: &Config,
        options: GatewayOptions,
    ) -> Result<Arc<Gateway>, GatewayError> {
        let (governor, admin) = match governance_setup::start(config, options.clock).await {
            Ok(started) => started,
            Err(message) => return Err(GatewayError::Governance(message)),
        };
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
        let mut checks = Vec::new();
        let health = config
            .providers
            .iter()
            .enumerate()
            .map(|(index, (name, provider))| match &provider.health_check {
                Some(check) => {
                    checks.push((index, check.clone()));
                    ProviderHealth::new(Some(provider_health_gauge(name)))
                }
                None => ProviderHealth::new(None),
            })
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
                let mut planned = PlanTarget::new(
                    Target {
                        provider,
                        model: target.model.as_str().into(),
                    },
                    target.weight,
                )
                .with_label(format!("{}/{}", target.provider.value, target.model));
                if let Some(cost) = target.cost {
                    planned = planned.with_cost(cost);
                }
                targets.push(planned);
            }
            let series = targets
                .iter()
                .map(|target| EndpointSeries::new(name, &providers[target.target.provider].name))
                .collect();
            let gauges = targets
                .iter()
                .map(|target| TargetGauges::new(name, target.label.as_deref().unwrap_or_default()))
                .collect();
            let breaker = &route.circuit_breaker;
            let settings = BreakerSettings {
                consecutive_failures: breaker.consecutive_failures,
                error_rate: breaker.error_rate,
                min_requests: breaker.min_requests,
                window: breaker.window.get(),
                cool_down: breaker.cool_down.get(),
            };
            let plan = RoutePlan::new(name, route.strategy, settings, targets).map_err(|err| {
                GatewayError::Route {
                    route: name.clone(),
                    message: err.to_string(),
                }
            })?;
            routes.insert(
                Arc::from(name.as_str()),
                RouteEntry {
                    plan: Arc::new(plan),
                    series,
                    gauges,
                    retry: route.retry.clone(),
                    fallbacks: route
                        .fallbacks
                        .iter()
                        .map(|fallback| fallback.value.clone())
                        .collect(),
                    hedge: route.hedge,
                    hedges: HedgeCounters::new(name),
                    overrides: route.request_overrides.clone(),
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

        let models = models::render(
            &providers,
            config.routes.iter().map(|(name, route)| {
                let providers = route
                    .targets
                    .value
                    .iter()
                    .map(|target| target.provider.value.clone())
                    .collect();
                (name, providers)
            }),
        );
        let gateway = Arc::new(Gateway {
            providers,
            provider_index,
            provider_headers,
            direct_series,
            routes,
            health,
            default_retry: RetryConfig::default(),
            governor,
            admin,
            max_body_bytes: config.server.max_body_bytes,
            models,
            registry,
            endpoint_metrics: Endpoint::ALL.map(EndpointMetrics::new),
            _mocks: mocks,
        });
        health::spawn_checks(&gateway, checks);
        Ok(gateway)
    }

    /// A route name first (its strategy picks the target, skipping unhealthy ones; with
    /// `trace`, every target considered is explained), then `provider/model`. The
    /// request's own routing headers apply where the route allows them.
    pub fn resolve<'g: 'm, 'm>(
        &'g self,
        model: &'m str,
        request: &RequestRouting<'m>,
        trace: Option<&mut RouteTrace>,
    ) -> Resolution<'g, 'm> {
        if let Some(entry) = self.routes.get(model) {
            let strategy = match self.strategy_override(entry, request) {
                Ok(strategy) => strategy,
                Err(error) => return Resolution::Refused(error),
            };
            let mut list = self.route_candidates(entry, strategy, trace);
            let extended = if request.fallbacks.is_empty() {
                self.extend_with_fallbacks(&mut list, entry.fallbacks.iter().map(String::as_str))
            } else if entry.overrides.contains(&RequestOverride::Fallbacks) {
                self.extend_with_fallbacks(&mut list, request.fallbacks.iter().copied())
            } else {
                Err(ApiError::invalid_request(format!(
                    "Route `{}` does not let a request name its own fallbacks (`x-sluice-fallbacks`); its `request_overrides` would have to list `fallbacks`.",
                    entry.plan.name()
                )))
            };
            if let Err(error) = extended {
                return Resolution::Refused(error);
            }
            if list.is_empty() {
                return Resolution::Unavailable {
                    route: entry.plan.name(),
                };
            }
            return Resolution::Found(Candidates {
                list,
                retry: Some(&entry.retry),
                hedge: entry.hedge.map(|hedge| (hedge, &entry.hedges)),
            });
        }
        if request.strategy.is_some() {
            return Resolution::Refused(ApiError::invalid_request(format!(
                "`x-sluice-strategy` applies to routes; `{model}` is not one."
            )));
        }
        let Some(direct) = self.direct(model) else {
            return Resolution::NotFound;
        };
        let mut list = vec![direct];
        if let Err(error) = self.extend_with_fallbacks(&mut list, request.fallbacks.iter().copied())
        {
            return Resolution::Refused(error);
        }
        // With fallbacks of its own, a `provider/model` request fails over by the default
        // policy; alone, it gets one attempt per key.
        let retry = (list.len() > 1).then_some(&self.default_retry);
        Resolution::Found(Candidates {
            list,
            retry,
            hedge: None,
        })
    }

    /// The strategy a request asks for with `x-sluice-strategy`, if its route allows it.
    fn strategy_override(
        &self,
        entry: &RouteEntry,
        request: &RequestRouting<'_>,
    ) -> Result<RouteStrategy, ApiError> {
        let route = entry.plan.name();
        let Some(strategy) = request.strategy else {
            return Ok(entry.plan.strategy());
        };
        if !entry.overrides.contains(&RequestOverride::Strategy) {
            return Err(ApiError::invalid_request(format!(
                "Route `{route}` does not let a request choose its strategy (`x-sluice-strategy`); its `request_overrides` would have to list `strategy`."
            )));
        }
        if strategy == RouteStrategy::Cost && !entry.plan.has_costs() {
            return Err(ApiError::invalid_request(format!(
                "Route `{route}` has no target with a `cost`, so the `cost` strategy has nothing to rank by."
            )));
        }
        Ok(strategy)
    }

    /// Appends each fallback's candidates: a route's healthy targets by its own strategy,
    /// or a `provider/model`. A fallback's own fallbacks are not followed, so a cycle
    /// cannot loop.
    fn extend_with_fallbacks<'g: 'm, 'm>(
        &'g self,
        list: &mut Vec<ResolvedModel<'g, 'm>>,
        fallbacks: impl IntoIterator<Item = &'m str>,
    ) -> Result<(), ApiError> {
        for fallback in fallbacks {
            match self.routes.get(fallback) {
                Some(other) => {
                    list.extend(self.route_candidates(other, other.plan.strategy(), None))
                }
                None => list.push(self.direct(fallback).ok_or_else(|| {
                    ApiError::invalid_request(format!(
                        "Fallback `{fallback}` is neither a route nor a `provider/model` of a configured provider."
                    ))
                })?),
            }
        }
        Ok(())
    }

    /// A route's targets that may take a request now (circuit, rest, health checks),
    /// ranked by `strategy`.
    fn route_candidates<'g>(
        &'g self,
        entry: &'g RouteEntry,
        strategy: RouteStrategy,
        trace: Option<&mut RouteTrace>,
    ) -> Vec<ResolvedModel<'g, 'g>> {
        let plan = &entry.plan;
        let gate = RouteGate {
            health: &self.health,
            governor: self.governor.as_deref(),
            providers: &self.providers,
        };
        plan.rank_as(strategy, Instant::now(), fastrand::u64(..), &gate, trace)
            .iter()
            .map(|index| {
                let target = &plan.targets()[index];
                ResolvedModel {
                    provider: target.provider,
                    upstream: &self.providers[target.provider],
                    provider_header: &self.provider_headers[target.provider],
                    model: &target.model,
                    series: &entry.series[index],
                    route_target: Some((plan, index)),
                }
            })
            .collect()
    }

    /// `provider/model`, straight to that provider.
    fn direct<'g: 'm, 'm>(&'g self, model: &'m str) -> Option<ResolvedModel<'g, 'm>> {
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
            route_target: None,
        })
    }

    /// The routes, by name, for the admin API and metrics.
    pub(crate) fn routes(&self) -> impl Iterator<Item = (&Arc<str>, &RouteEntry)> {
        self.routes.iter()
    }

    pub(crate) fn endpoint_metrics(&self, endpoint: Endpoint) -> &EndpointMetrics {
        &self.endpoint_metrics[endpoint as usize]
    }

    pub fn providers(&self) -> &[Upstream] {
        &self.providers
    }

    pub fn governor(&self) -> Option<&Arc<Governor>> {
        self.governor.as_ref()
    }
}

/// What every route ranking asks about a target besides its own health: its provider's
/// active health checks, then (budget-aware routing) whether its provider's budget is
/// spent.
struct RouteGate<'a> {
    health: &'a [ProviderHealth],
    governor: Option<&'a Governor>,
    providers: &'a [Upstream],
}

impl TargetGate for RouteGate<'_> {
    fn check(&self, target_index: usize, target: &Target) -> Option<SkipReason> {
        if let Some(reason) = HealthGate(self.health).check(target_index, target) {
            return Some(reason);
        }
        let governor = self.governor?;
        let provider = self.providers.get(target.provider)?;
        governor
            .provider_spent(&provider.name)
            .then_some(SkipReason::Gated("budget"))
    }
}
