//! Sluice's HTTP ingress: the OpenAI and Anthropic dialects in front of the configured
//! providers.
//!
//! A request flows `server` (axum router) → `proxy` (read body, resolve the model,
//! forward) → `body` (stream the upstream answer back, chunk for chunk) with `metrics`
//! recorded along the way. `gateway` holds the immutable state built from the config.

mod admin;
mod admin_api;
mod body;
mod endpoint;
mod gateway;
mod governance;
mod governance_setup;
mod health;
mod metrics;
mod models;
mod outcome;
mod proxy;
mod request_routing;
mod response;
mod server;
mod usage;

pub use admin_api::{AdminState, ROUTES as ADMIN_ROUTES, admin_router};
pub use endpoint::Endpoint;
pub use gateway::{Candidates, Gateway, GatewayError, GatewayOptions, Resolution, ResolvedModel};
pub use governance_setup::DEFAULT_STORE_URL;
pub use request_routing::{MAX_REQUEST_FALLBACKS, RequestRouting};
pub use server::{router, serve};

/// Response headers that explain how a request was served.
pub mod headers {
    pub const PROVIDER: &str = "x-sluice-provider";
    pub const MODEL: &str = "x-sluice-model";
    pub const ATTEMPTS: &str = "x-sluice-attempts";
    pub const OVERHEAD_US: &str = "x-sluice-overhead-us";
    /// Opt-in on a request (any value): the response explains the routing decision.
    pub const ROUTE_TRACE: &str = "x-sluice-route-trace";
    /// Parameters a documented rule dropped on a translated path.
    pub const DROPPED_PARAMS: &str = "x-sluice-dropped-params";
    /// On a request, where the route allows: rank its targets by this strategy.
    pub const STRATEGY: &str = "x-sluice-strategy";
    /// On a request: routes or `provider/model`s to try after the route's own targets,
    /// comma-separated, instead of the route's configured fallbacks.
    pub const FALLBACKS: &str = "x-sluice-fallbacks";
}
