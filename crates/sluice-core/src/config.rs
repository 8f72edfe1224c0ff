//! The gateway's configuration: one YAML file with `${ENV}` interpolation, or, with no
//! file, providers detected from the usual environment variables plus the built-in mock.
//!
//! Loading refuses an unknown key, a wrong type or a dangling reference with the file,
//! the line and a plain sentence.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;
pub use serde_saphyr::Spanned;

pub use crate::governance_config::{
    BudgetConfig, CustomerConfig, GovernanceConfig, LimitsConfig, RedisConfig, StoreConfig,
    TeamConfig, VIRTUAL_KEY_PREFIX, VirtualKeyConfig, validate_policies,
};
use thiserror::Error;

use crate::duration::ConfigDuration;
use crate::interpolate::interpolate;
use crate::mock::MockSettings;
use crate::presets::{self, PRESETS, Preset};
use crate::secret::Secret;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the file: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: String,
        line: u64,
        message: String,
    },
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
    #[serde(default)]
    pub routes: BTreeMap<String, RouteConfig>,
    /// Virtual keys, their teams and customers, and the admin API's token.
    #[serde(default = "default_governance")]
    pub governance: Spanned<GovernanceConfig>,
    /// Governance records and the spend ledger (SQLite by default when governance needs
    /// a store).
    #[serde(default)]
    pub store: Option<StoreConfig>,
    /// Counters shared by several gateway instances.
    #[serde(default)]
    pub redis: Option<RedisConfig>,
    /// Prices that replace or extend the shipped table (USD per million tokens).
    #[serde(default)]
    pub pricing: Vec<crate::pricing_config::PriceEntry>,
}

fn default_governance() -> Spanned<GovernanceConfig> {
    unspanned(GovernanceConfig::default())
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; `--listen` overrides it. Loopback by default, because the
    /// gateway holds provider keys and has no client authentication yet: exposing it is
    /// a decision for the operator to make.
    pub listen: SocketAddr,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// How long shutdown waits for in-flight requests and streams before closing them.
    pub shutdown_grace: ConfigDuration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 32 * 1024 * 1024,
            shutdown_grace: ConfigDuration::from_secs(30),
        }
    }
}

/// What a provider is: which dialect it speaks, how it authenticates, where it lives.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(try_from = "String")]
pub enum ProviderKind {
    /// api.openai.com, or anything at `base_url` that is OpenAI itself.
    Openai,
    /// Any server speaking the OpenAI dialect at `base_url`.
    OpenaiCompatible,
    /// A service of the OpenAI-compatible family with its own defaults (`groq`, `ollama`, …).
    Preset(&'static Preset),
    /// Azure OpenAI: deployments, `api-version`, the `api-key` header or an Entra token.
    Azure,
    /// Anthropic's Messages API.
    Anthropic,
    /// Google's Gemini API (generativelanguage.googleapis.com).
    Gemini,
    /// Gemini on Vertex AI, with a service account.
    Vertex,
    /// AWS Bedrock's Converse API, signed with SigV4.
    Bedrock,
    /// Cohere's Chat v2 API.
    Cohere,
    /// The built-in mock provider in the OpenAI dialect, started inside the gateway.
    Mock,
}

/// The kinds with their own module, by config name.
const NATIVE_KINDS: &[(&str, ProviderKind)] = &[
    ("openai", ProviderKind::Openai),
    ("openai-compatible", ProviderKind::OpenaiCompatible),
    ("azure", ProviderKind::Azure),
    ("anthropic", ProviderKind::Anthropic),
    ("gemini", ProviderKind::Gemini),
    ("vertex", ProviderKind::Vertex),
    ("bedrock", ProviderKind::Bedrock),
    ("cohere", ProviderKind::Cohere),
    ("mock", ProviderKind::Mock),
];

impl TryFrom<String> for ProviderKind {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if let Some((_, kind)) = NATIVE_KINDS.iter().find(|(known, _)| *known == name) {
            return Ok(*kind);
        }
        if let Some(preset) = presets::find(&name) {
            return Ok(ProviderKind::Preset(preset));
        }
        let mut known: Vec<&str> = NATIVE_KINDS.iter().map(|(known, _)| *known).collect();
        known.extend(PRESETS.iter().map(|preset| preset.name));
        Err(format!(
            "unknown provider kind `{name}` (known: {})",
            known.join(", ")
        ))
    }
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Preset(preset) => preset.name,
            kind => NATIVE_KINDS
                .iter()
                .find(|(_, known)| *known == kind)
                .map_or("unknown", |(name, _)| name),
        }
    }

    /// The base URL used when the config gives none; `None` when it must be given or
    /// depends on other settings (Azure's resource, Bedrock's region, Vertex's location).
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::Openai => Some("https://api.openai.com/v1"),
            ProviderKind::Preset(preset) => Some(preset.base_url),
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
            ProviderKind::Gemini => Some("https://generativelanguage.googleapis.com"),
            ProviderKind::Cohere => Some("https://api.cohere.com"),
            ProviderKind::OpenaiCompatible
            | ProviderKind::Azure
            | ProviderKind::Vertex
            | ProviderKind::Bedrock
            | ProviderKind::Mock => None,
        }
    }

    /// The path a mock provider's base URL needs for this kind's paths to land on the
    /// mock's routes (the OpenAI family appends `/chat/completions` to a `/v1` base).
    pub fn mock_base_path(self) -> &'static str {
        match self {
            ProviderKind::Openai
            | ProviderKind::OpenaiCompatible
            | ProviderKind::Preset(_)
            | ProviderKind::Mock => "/v1",
            _ => "",
        }
    }

    /// Whether the provider's keys are required (local servers and signed or
    /// token-based providers have none).
    fn needs_key(self) -> bool {
        match self {
            ProviderKind::Openai
            | ProviderKind::Anthropic
            | ProviderKind::Gemini
            | ProviderKind::Cohere => true,
            ProviderKind::Preset(preset) => preset.key_var.is_some() && preset.name != "vllm",
            _ => false,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: Spanned<ProviderKind>,
    /// The URL the dialect's paths are appended to, e.g. `https://api.openai.com/v1`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Shorthand for a single key of weight 1.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Several keys, picked per request by weight.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// Models advertised under `provider/model` in `GET /v1/models`. Any model name is
    /// forwarded, listed or not.
    #[serde(default)]
    pub models: Vec<String>,
    /// Extra headers sent upstream with every request (e.g. OpenRouter's `HTTP-Referer`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub timeouts: TimeoutConfig,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Start the built-in mock with these settings and talk to it in this kind's
    /// dialect (any kind may take it: tests and demos use it).
    #[serde(default)]
    pub mock: Option<MockSettings>,
    /// Azure's `api-version` query parameter; Anthropic's `anthropic-version` header.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Bedrock's AWS region; Vertex's location (default `us-central1`).
    #[serde(default)]
    pub region: Option<String>,
    /// Vertex: the Google Cloud project (default: the service account's own).
    #[serde(default)]
    pub project: Option<String>,
    /// Vertex: the service-account key file (default: `GOOGLE_APPLICATION_CREDENTIALS`).
    #[serde(default)]
    pub credentials_file: Option<String>,
    /// Bedrock: static AWS credentials (default: the `AWS_*` environment variables).
    #[serde(default)]
    pub aws: Option<AwsConfig>,
    /// Azure: the deployment serving each model name (default: the model name itself).
    #[serde(default)]
    pub deployments: BTreeMap<String, String>,
    /// Azure: authenticate with a Microsoft Entra ID token instead of `api-key`.
    #[serde(default)]
    pub entra: Option<EntraConfig>,
    /// Active health checks: a one-token chat on an interval; route targets on a provider
    /// that fails them are skipped until it passes again.
    #[serde(default)]
    pub health_check: Option<HealthCheckConfig>,
    /// Spending caps on this provider: once one is spent, routes skip its targets until
    /// the period resets (budget-aware routing).
    #[serde(default)]
    pub budgets: Vec<BudgetConfig>,
}

/// A cheap request sent to a provider on an interval, so that a dead provider is taken out
/// of its routes before users' requests find out, and put back when it recovers.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// The model asked for one token (`max_tokens: 1`): the cheapest the provider has.
    pub model: String,
    #[serde(default = "default_check_interval")]
    pub interval: ConfigDuration,
    /// A check not answered within this fails.
    #[serde(default = "default_check_timeout")]
    pub timeout: ConfigDuration,
    /// Failed checks in a row that take the provider out.
    #[serde(default = "default_unhealthy_after")]
    pub unhealthy_after: u32,
    /// Passed checks in a row that put it back.
    #[serde(default = "default_healthy_after")]
    pub healthy_after: u32,
}

fn default_check_interval() -> ConfigDuration {
    ConfigDuration::from_secs(30)
}

fn default_check_timeout() -> ConfigDuration {
    ConfigDuration::from_secs(10)
}

fn default_unhealthy_after() -> u32 {
    2
}

fn default_healthy_after() -> u32 {
    1
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    #[serde(default)]
    pub session_token: Option<Secret>,
}

/// An Entra ID application (client credentials grant) whose tokens Azure OpenAI accepts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraConfig {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// The token endpoint (default: `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`).
    #[serde(default)]
    pub token_url: Option<String>,
}

impl ProviderConfig {
    /// A provider of `kind` at `base_url` with one key, as presets and tests build them.
    pub fn new(kind: ProviderKind, base_url: Option<String>, api_key: Option<Secret>) -> Self {
        Self {
            kind: unspanned(kind),
            base_url,
            api_key,
            keys: Vec::new(),
            models: Vec::new(),
            headers: BTreeMap::new(),
            timeouts: TimeoutConfig::default(),
            tls: TlsConfig::default(),
            mock: None,
            api_version: None,
            region: None,
            project: None,
            credentials_file: None,
            aws: None,
            deployments: BTreeMap::new(),
            entra: None,
            health_check: None,
            budgets: Vec::new(),
        }
    }

    /// Every key with its weight, the `api_key` shorthand included.
    pub fn all_keys(&self) -> Vec<KeyConfig> {
        let mut keys: Vec<KeyConfig> = self
            .api_key
            .iter()
            .map(|key| KeyConfig {
                key: key.clone(),
                weight: 1,
            })
            .collect();
        keys.extend(self.keys.iter().cloned());
        keys
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    pub key: Secret,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutConfig {
    /// TCP (and TLS) connection set-up.
    pub connect: ConfigDuration,
    /// From sending the request to the response headers (for streams, the first event
    /// usually comes with them).
    pub first_byte: ConfigDuration,
    /// The whole exchange, body or stream included.
    pub total: ConfigDuration,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            connect: ConfigDuration::from_secs(10),
            first_byte: ConfigDuration::from_secs(120),
            total: ConfigDuration::from_secs(600),
        }
    }
}

/// TLS towards the provider. The public web roots are always trusted.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM file of extra CA certificates, for providers behind a private CA
    /// (a self-hosted vLLM inside the company network, say).
    pub ca_file: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RouteStrategy {
    /// Split by weight, smoothly (weighted round-robin: 70/30 is exact in aggregate).
    #[default]
    Weighted,
    /// Targets in order: the first healthy one serves.
    Priority,
    /// The target answering fastest now (a decaying average of time to first token and
    /// of total latency, power-of-two choices, a little exploration).
    Latency,
    /// The target with the fewest requests in flight.
    LeastBusy,
    /// The cheapest target by its `cost`.
    Cost,
}

impl RouteStrategy {
    pub const ALL: [RouteStrategy; 5] = [
        RouteStrategy::Weighted,
        RouteStrategy::Priority,
        RouteStrategy::Latency,
        RouteStrategy::LeastBusy,
        RouteStrategy::Cost,
    ];

    /// The name used in the config and in `x-sluice-strategy`.
    pub fn name(self) -> &'static str {
        match self {
            RouteStrategy::Weighted => "weighted",
            RouteStrategy::Priority => "priority",
            RouteStrategy::Latency => "latency",
            RouteStrategy::LeastBusy => "least-busy",
            RouteStrategy::Cost => "cost",
        }
    }

    pub fn from_name(name: &str) -> Option<RouteStrategy> {
        Self::ALL
            .into_iter()
            .find(|strategy| strategy.name() == name)
    }
}

/// When a target's circuit opens, and for how long.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// Failures in a row that open the circuit.
    pub consecutive_failures: u32,
    /// Or: this share of failures over `window` (with at least `min_requests`).
    pub error_rate: f64,
    pub min_requests: u32,
    pub window: ConfigDuration,
    /// How long an open circuit rejects before one probe request may pass.
    pub cool_down: ConfigDuration,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            error_rate: 0.5,
            min_requests: 20,
            window: ConfigDuration::from_secs(30),
            cool_down: ConfigDuration::from_secs(30),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default)]
    pub strategy: RouteStrategy,
    #[serde(default)]
    pub circuit_breaker: CircuitBreakerConfig,
    #[serde(default)]
    pub retry: RetryConfig,
    pub targets: Spanned<Vec<TargetConfig>>,
    /// Tried after the route's own targets, in order: other routes (their targets, by
    /// their strategy) or `provider/model`s, in any dialect.
    #[serde(default)]
    pub fallbacks: Vec<Spanned<String>>,
    /// Race a second target when the first is slow to answer.
    #[serde(default)]
    pub hedge: Option<HedgeConfig>,
    /// What a request may change with its headers: `strategy` (`x-sluice-strategy`) and
    /// `fallbacks` (`x-sluice-fallbacks`). Fallbacks only, by default: the split between
    /// providers is the operator's.
    #[serde(default = "default_request_overrides")]
    pub request_overrides: Vec<RequestOverride>,
}

fn default_request_overrides() -> Vec<RequestOverride> {
    vec![RequestOverride::Fallbacks]
}

/// A routing choice a request may make for itself, where its route allows.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RequestOverride {
    Strategy,
    Fallbacks,
}

/// Hedged requests: if the first target has produced nothing (no first token, no answer)
/// after `delay`, the next target starts too; the first to answer serves and the other is
/// cancelled.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HedgeConfig {
    /// A duration (`300ms`), or `p95`: the first target's recent 95th percentile time to
    /// first token, so only its slowest 5% are hedged.
    pub delay: HedgeDelay,
    /// With `p95`: the delay while the target has too few samples for a percentile.
    #[serde(default = "default_hedge_initial")]
    pub initial: ConfigDuration,
}

fn default_hedge_initial() -> ConfigDuration {
    ConfigDuration::from_secs(1)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HedgeDelay {
    Fixed(ConfigDuration),
    P95,
}

impl<'de> Deserialize<'de> for HedgeDelay {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim() == "p95" {
            return Ok(HedgeDelay::P95);
        }
        crate::duration::parse_duration(&text)
            .map(|delay| HedgeDelay::Fixed(ConfigDuration(delay)))
            .map_err(|message| {
                serde::de::Error::custom(format!(
                    "hedge delay: {message} (or `p95` for the target's recent time to first token)"
                ))
            })
    }
}

/// How a route fails over: which failures move on to the next target, how many
/// attempts and how much time a request may take in all.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first included (1 turns failover off).
    pub max_attempts: u32,
    /// No new attempt starts after this much time since the request arrived.
    pub deadline: ConfigDuration,
    /// Wait before the second attempt, doubled for each further one, with full jitter.
    pub backoff: ConfigDuration,
    /// The failures that move on to the next target. 400, 401, 403, 404 and 422 never
    /// do, nor anything after a streamed byte reached the client.
    pub on: Vec<RetryOn>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            deadline: ConfigDuration::from_secs(60),
            backoff: ConfigDuration::from_millis(25),
            on: vec![
                RetryOn::RateLimited,
                RetryOn::ServerError,
                RetryOn::Timeout,
                RetryOn::Connection,
            ],
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RetryOn {
    /// 429.
    RateLimited,
    /// 500, 502, 503, 504, 529 and other 5xx.
    ServerError,
    /// No answer within the provider's timeouts.
    Timeout,
    /// The connection failed or was reset before an answer.
    Connection,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// A provider declared under `providers`.
    pub provider: Spanned<String>,
    /// The model name sent to that provider.
    pub model: String,
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// USD per million tokens, for the `cost` strategy (the governance issue brings a
    /// pricing table; until then the config states it).
    #[serde(default)]
    pub cost: Option<f64>,
}

fn unspanned<T>(value: T) -> Spanned<T> {
    let nowhere = serde_saphyr::Location::UNKNOWN;
    Spanned::new(value, nowhere, nowhere)
}

impl Config {
    /// Reads, interpolates, parses and validates a config file.
    pub fn load(path: &str) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_string(),
            source,
        })?;
        Self::from_yaml(&text, path, |name| std::env::var(name).ok())
    }

    /// Parses and validates config text; `path` only names the source in errors.
    pub fn from_yaml(
        text: &str,
        path: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let invalid = |line: u64, message: String| ConfigError::Invalid {
            path: path.to_string(),
            line,
            message,
        };
        let text =
            interpolate(text, env).map_err(|err| invalid(err.line() as u64, err.to_string()))?;
        let config: Config = if text.trim().is_empty() {
            Config::empty()
        } else {
            serde_saphyr::from_str(&text).map_err(|err| {
                let line = err.location().map_or(1, |location| location.line());
                invalid(line, plain_yaml_message(&err))
            })?
        };
        config
            .validate()
            .map_err(|(line, message)| invalid(line, message))?;
        Ok(config)
    }

    /// The config `sluice serve` uses without a file: the built-in mock, plus every
    /// preset provider whose key variable is set.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Config {
        let mut config = Config::empty();
        let mut mock = ProviderConfig::new(ProviderKind::Mock, None, None);
        mock.models = vec![
            "gpt-4o-mini".to_string(),
            "text-embedding-3-small".to_string(),
        ];
        config.providers.insert("mock".to_string(), mock);
        let key = |var: &str| env(var).filter(|value| !value.is_empty());
        let mut detect =
            |name: &str, kind: ProviderKind, base_url: Option<String>, api_key: Option<String>| {
                config.providers.insert(
                    name.to_string(),
                    ProviderConfig::new(kind, base_url, api_key.map(Secret::new)),
                );
            };
        if let Some(api_key) = key("OPENAI_API_KEY") {
            detect(
                "openai",
                ProviderKind::Openai,
                key("OPENAI_BASE_URL"),
                Some(api_key),
            );
        }
        if let Some(api_key) = key("ANTHROPIC_API_KEY") {
            detect(
                "anthropic",
                ProviderKind::Anthropic,
                key("ANTHROPIC_BASE_URL"),
                Some(api_key),
            );
        }
        if let Some(api_key) = key("GEMINI_API_KEY").or_else(|| key("GOOGLE_API_KEY")) {
            detect("gemini", ProviderKind::Gemini, None, Some(api_key));
        }
        if let Some(api_key) = key("COHERE_API_KEY").or_else(|| key("CO_API_KEY")) {
            detect("cohere", ProviderKind::Cohere, None, Some(api_key));
        }
        if let (Some(api_key), Some(endpoint)) =
            (key("AZURE_OPENAI_API_KEY"), key("AZURE_OPENAI_ENDPOINT"))
        {
            detect("azure", ProviderKind::Azure, Some(endpoint), Some(api_key));
        }
        for preset in PRESETS {
            let Some(api_key) = preset.key_var.and_then(key) else {
                continue;
            };
            let base_url = preset.base_url_var.and_then(key);
            detect(
                preset.name,
                ProviderKind::Preset(preset),
                base_url,
                Some(api_key),
            );
        }
        if key("AWS_ACCESS_KEY_ID").is_some()
            && key("AWS_SECRET_ACCESS_KEY").is_some()
            && let Some(region) = key("AWS_REGION").or_else(|| key("AWS_DEFAULT_REGION"))
        {
            let mut bedrock = ProviderConfig::new(ProviderKind::Bedrock, None, None);
            bedrock.region = Some(region);
            config.providers.insert("bedrock".to_string(), bedrock);
        }
        if let (Some(credentials), Some(project)) = (
            key("GOOGLE_APPLICATION_CREDENTIALS"),
            key("GOOGLE_CLOUD_PROJECT"),
        ) {
            let mut vertex = ProviderConfig::new(ProviderKind::Vertex, None, None);
            vertex.credentials_file = Some(credentials);
            vertex.project = Some(project);
            vertex.region = key("GOOGLE_CLOUD_LOCATION");
            config.providers.insert("vertex".to_string(), vertex);
        }
        config
    }

    fn empty() -> Config {
        Config {
            server: ServerConfig::default(),
            providers: BTreeMap::new(),
            routes: BTreeMap::new(),
            governance: default_governance(),
            store: None,
            redis: None,
            pricing: Vec::new(),
        }
    }

    /// Checks what the types cannot: references, URLs, weights. Returns the line to blame.
    fn validate(&self) -> Result<(), (u64, String)> {
        if self.server.max_body_bytes == 0 {
            return Err((1, "server.max_body_bytes must be greater than zero".into()));
        }
        let governance = &self.governance;
        governance
            .value
            .validate()
            .map_err(|message| (governance.referenced.line().max(1), message))?;
        for (name, provider) in &self.providers {
            let line = provider.kind.referenced.line();
            validate_provider(name, provider).map_err(|message| (line, message))?;
        }
        for (name, route) in &self.routes {
            let line = route.targets.referenced.line();
            if route.targets.value.is_empty() {
                return Err((line, format!("route `{name}` has no targets")));
            }
            for fallback in &route.fallbacks {
                let known = self.routes.contains_key(&fallback.value)
                    || fallback
                        .value
                        .split_once('/')
                        .is_some_and(|(provider, model)| {
                            self.providers.contains_key(provider) && !model.is_empty()
                        });
                if !known || fallback.value == *name {
                    return Err((
                        fallback.referenced.line(),
                        format!(
                            "route `{name}`: fallback `{}` is neither another route nor a declared provider/model",
                            fallback.value
                        ),
                    ));
                }
            }
            if let Some(hedge) = &route.hedge {
                let zero = match hedge.delay {
                    HedgeDelay::Fixed(delay) => delay.get().is_zero(),
                    HedgeDelay::P95 => hedge.initial.get().is_zero(),
                };
                if zero || route.retry.max_attempts < 2 {
                    return Err((
                        line,
                        format!(
                            "route `{name}`: a hedge needs a delay above zero and retry.max_attempts of 2 or more (the hedge is an attempt)"
                        ),
                    ));
                }
            }
            if route.retry.max_attempts == 0 {
                return Err((
                    line,
                    format!(
                        "route `{name}`: retry.max_attempts must be 1 or more (1 turns failover off)"
                    ),
                ));
            }
            let breaker = &route.circuit_breaker;
            if breaker.consecutive_failures == 0
                || !(0.0..=1.0).contains(&breaker.error_rate)
                || breaker.cool_down.get().is_zero()
                || breaker.window.get().is_zero()
            {
                return Err((
                    line,
                    format!(
                        "route `{name}`: circuit_breaker needs consecutive_failures above 0, an error_rate between 0 and 1, and a window and cool_down above zero"
                    ),
                ));
            }
            if let Some(target) = route.targets.value.iter().find(|target| {
                target
                    .cost
                    .is_some_and(|cost| !cost.is_finite() || cost < 0.0)
            }) {
                return Err((
                    target.provider.referenced.line(),
                    format!(
                        "route `{name}`: a target's cost must be a number of USD, zero or more"
                    ),
                ));
            }
            if route.strategy == RouteStrategy::Cost
                && route
                    .targets
                    .value
                    .iter()
                    .all(|target| target.cost.is_none())
            {
                return Err((
                    line,
                    format!("route `{name}` uses the cost strategy but no target has a `cost`"),
                ));
            }
            if route.targets.value.iter().all(|target| target.weight == 0) {
                return Err((
                    line,
                    format!("route `{name}`: every target has weight 0, so none can be chosen"),
                ));
            }
            for target in &route.targets.value {
                let provider = &target.provider.value;
                if !self.providers.contains_key(provider) {
                    let known: Vec<&str> = self.providers.keys().map(String::as_str).collect();
                    return Err((
                        target.provider.referenced.line(),
                        format!(
                            "route `{name}` names provider `{provider}`, which is not declared under `providers` (declared: {})",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
                if target.model.is_empty() {
                    return Err((
                        target.provider.referenced.line(),
                        format!("route `{name}`: a target's `model` is empty"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn validate_provider(name: &str, provider: &ProviderConfig) -> Result<(), String> {
    if name.is_empty() || name.contains('/') {
        return Err(format!(
            "provider name `{name}` must be non-empty and hold no `/` (models are addressed as provider/model)"
        ));
    }
    let kind = provider.kind.value;
    let mocked = provider.mock.is_some() || kind == ProviderKind::Mock;
    validate_policies(
        &format!("provider `{name}`"),
        &provider.budgets,
        &LimitsConfig::default(),
    )?;
    if let Some(check) = &provider.health_check
        && (check.model.is_empty()
            || check.interval.get().is_zero()
            || check.timeout.get().is_zero()
            || check.unhealthy_after == 0
            || check.healthy_after == 0)
    {
        return Err(format!(
            "provider `{name}`: health_check needs a model, an interval and a timeout above zero, and unhealthy_after and healthy_after of 1 or more"
        ));
    }
    if let Some(url) = &provider.base_url {
        let parsed: Result<http::Uri, _> = url.parse();
        let ok = parsed.as_ref().is_ok_and(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
        });
        if !ok {
            return Err(format!(
                "provider `{name}`: base_url `{url}` is not an http:// or https:// URL"
            ));
        }
        if mocked {
            return Err(format!(
                "provider `{name}` runs the built-in mock, which starts inside the gateway and takes no base_url"
            ));
        }
    } else if !mocked {
        match kind {
            ProviderKind::OpenaiCompatible => {
                return Err(format!(
                    "provider `{name}` of kind openai-compatible needs a base_url, e.g. http://localhost:11434/v1"
                ));
            }
            ProviderKind::Azure => {
                return Err(format!(
                    "provider `{name}` of kind azure needs a base_url: the resource endpoint, e.g. https://my-resource.openai.azure.com"
                ));
            }
            _ => {}
        }
    }
    if kind == ProviderKind::Bedrock && provider.region.is_none() && !mocked {
        return Err(format!(
            "provider `{name}` of kind bedrock needs a region, e.g. region: us-east-1"
        ));
    }
    let keys = provider.all_keys();
    if kind.needs_key() && keys.is_empty() {
        return Err(format!(
            "provider `{name}` of kind {} needs an api_key (write api_key: ${{SOME_API_KEY}})",
            kind.as_str()
        ));
    }
    if kind == ProviderKind::Azure && keys.is_empty() && provider.entra.is_none() {
        return Err(format!(
            "provider `{name}` of kind azure needs an api_key or an `entra` application"
        ));
    }
    for (field, set) in [
        ("aws", provider.aws.is_some()),
        ("entra", provider.entra.is_some()),
        ("credentials_file", provider.credentials_file.is_some()),
        ("project", provider.project.is_some()),
        ("deployments", !provider.deployments.is_empty()),
    ] {
        let applies = match field {
            "aws" => kind == ProviderKind::Bedrock,
            "entra" | "deployments" => kind == ProviderKind::Azure,
            _ => kind == ProviderKind::Vertex,
        };
        if set && !applies {
            return Err(format!(
                "provider `{name}`: `{field}` does not apply to providers of kind {}",
                kind.as_str()
            ));
        }
    }
    if !keys.is_empty() && keys.iter().all(|key| key.weight == 0) {
        return Err(format!(
            "provider `{name}`: every key has weight 0, so none can be used"
        ));
    }
    if keys.iter().any(|key| key.key.is_empty()) {
        return Err(format!(
            "provider `{name}`: an API key is empty (is its environment variable set?)"
        ));
    }
    for header in provider.headers.keys() {
        if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
            return Err(format!(
                "provider `{name}`: `{header}` is not a valid HTTP header name"
            ));
        }
    }
    for value in provider.headers.values() {
        if http::HeaderValue::from_str(value).is_err() {
            return Err(format!(
                "provider `{name}`: a header value holds characters HTTP does not allow"
            ));
        }
    }
    let timeouts = provider.timeouts;
    for (field, value) in [
        ("connect", timeouts.connect),
        ("first_byte", timeouts.first_byte),
        ("total", timeouts.total),
    ] {
        if value.get().is_zero() {
            return Err(format!(
                "provider `{name}`: timeouts.{field} must be greater than zero"
            ));
        }
    }
    if let Some(mock) = &provider.mock {
        for fault in &mock.faults {
            let rate = fault.rate();
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!(
                    "provider `{name}`: a mock fault's rate {rate} is not between 0 and 1"
                ));
            }
        }
    }
    Ok(())
}

/// Parses mock settings on their own (the `sluice mock --settings FILE` format), with
/// the same interpolation and line-numbered errors as the config.
pub fn parse_mock_settings(text: &str) -> Result<MockSettings, String> {
    let text = interpolate(text, |name| std::env::var(name).ok())
        .map_err(|err| format!("line {}: {err}", err.line()))?;
    if text.trim().is_empty() {
        return Ok(MockSettings::default());
    }
    serde_saphyr::from_str(&text).map_err(|err| {
        let line = err.location().map_or(1, |location| location.line());
        format!("line {line}: {}", plain_yaml_message(&err))
    })
}

/// serde-saphyr renders a source snippet into its messages; we print `file:line:` ourselves.
fn plain_yaml_message(err: &serde_saphyr::Error) -> String {
    let rendered = err.without_snippet().to_string();
    let first = rendered.lines().next().unwrap_or("invalid YAML").trim();
    // Drop a trailing "at line X column Y": we print the line in front.
    let first = match first.rfind(" at line ") {
        Some(at) => &first[..at],
        None => first,
    };
    match first {
        "invalid u64" | "invalid u32" | "invalid u16" | "invalid usize" | "invalid i64" => {
            "expected a whole number here".to_string()
        }
        "invalid f64" | "invalid f32" => "expected a number here".to_string(),
        "invalid bool" => "expected true or false here".to_string(),
        other => other.to_string(),
    }
}
