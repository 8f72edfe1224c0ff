//! Active health checks: for a provider with `health_check`, a one-token chat on an
//! interval. A provider that fails `unhealthy_after` checks in a row is taken out of every
//! route (its targets are skipped through the routing gate) until it passes
//! `healthy_after` in a row. Users' requests addressed as `provider/model` still go to it:
//! the client named the provider.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::BodyExt;
use metrics::Gauge;
use sluice_core::chat::{ChatRequest, Message, Part, Role, TextBlock};
use sluice_core::config::HealthCheckConfig;
use sluice_providers::{Operation, Upstream, codec};
use sluice_routing::{SkipReason, Target, TargetGate};

use crate::gateway::Gateway;

/// One provider's health as its checks see it. Healthy until checks say otherwise, and
/// always for a provider without checks.
pub(crate) struct ProviderHealth {
    healthy: AtomicBool,
    /// Checks in a row with the same result as the last one.
    streak: AtomicU32,
    last_passed: AtomicBool,
    gauge: Option<Gauge>,
}

impl ProviderHealth {
    pub(crate) fn new(gauge: Option<Gauge>) -> Self {
        if let Some(gauge) = &gauge {
            gauge.set(1.0);
        }
        Self {
            healthy: AtomicBool::new(true),
            streak: AtomicU32::new(0),
            last_passed: AtomicBool::new(true),
            gauge,
        }
    }

    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// `passing` or `failing` for a provider with health checks, `None` without.
    pub(crate) fn status(&self) -> Option<&'static str> {
        self.gauge.as_ref()?;
        Some(if self.is_healthy() {
            "passing"
        } else {
            "failing"
        })
    }

    /// Folds in one check's result; returns the new health when it changed. Checks of one
    /// provider run one at a time, so plain loads and stores suffice.
    fn record(&self, passed: bool, config: &HealthCheckConfig) -> Option<bool> {
        let streak = if self.last_passed.swap(passed, Ordering::Relaxed) == passed {
            self.streak.load(Ordering::Relaxed).saturating_add(1)
        } else {
            1
        };
        self.streak.store(streak, Ordering::Relaxed);
        let healthy = self.is_healthy();
        let flip = if healthy {
            !passed && streak >= config.unhealthy_after
        } else {
            passed && streak >= config.healthy_after
        };
        if !flip {
            return None;
        }
        self.healthy.store(!healthy, Ordering::Relaxed);
        if let Some(gauge) = &self.gauge {
            gauge.set(if healthy { 0.0 } else { 1.0 });
        }
        Some(!healthy)
    }
}

/// Skips route targets whose provider is failing its health checks.
pub(crate) struct HealthGate<'a>(pub(crate) &'a [ProviderHealth]);

impl TargetGate for HealthGate<'_> {
    fn check(&self, _target_index: usize, target: &Target) -> Option<SkipReason> {
        let healthy = self
            .0
            .get(target.provider)
            .is_none_or(ProviderHealth::is_healthy);
        (!healthy).then_some(SkipReason::Gated("health_check"))
    }
}

/// Starts a checking task per provider with `health_check`. The tasks hold the gateway
/// weakly and end when it is dropped.
pub(crate) fn spawn_checks(gateway: &Arc<Gateway>, checks: Vec<(usize, HealthCheckConfig)>) {
    for (provider, config) in checks {
        let gateway = Arc::downgrade(gateway);
        tokio::spawn(check_loop(gateway, provider, config));
    }
}

async fn check_loop(gateway: Weak<Gateway>, provider: usize, config: HealthCheckConfig) {
    let mut interval = tokio::time::interval(config.interval.get());
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(gateway) = gateway.upgrade() else {
            return;
        };
        let upstream = &gateway.providers[provider];
        let result = check_once(upstream, &config.model, config.timeout.get()).await;
        let passed = result.is_ok();
        match gateway.health[provider].record(passed, &config) {
            Some(false) => tracing::warn!(
                provider = %upstream.name,
                reason = result.err().unwrap_or_default(),
                "provider failed its health checks; its route targets are skipped"
            ),
            Some(true) => {
                tracing::info!(provider = %upstream.name, "provider passed its health checks again")
            }
            None => {}
        }
    }
}

/// One check: a chat asking `model` for one token, in the provider's own dialect. Passes
/// on a 2xx whose body arrives whole within `timeout`.
async fn check_once(upstream: &Upstream, model: &str, timeout: Duration) -> Result<(), String> {
    let request = ChatRequest {
        model: model.to_string(),
        messages: vec![Message {
            role: Role::User,
            content: vec![Part::Text(TextBlock::new("ping"))],
        }],
        max_tokens: Some(1),
        ..ChatRequest::default()
    };
    let encoded = codec::encode_request(upstream.kind, &request, model)
        .map_err(|err| format!("the check request cannot be encoded: {err}"))?;
    let uri = upstream
        .uri(Operation::Chat { stream: false }, model)
        .map_err(|err| err.to_string())?;
    let exchange = async {
        let response = upstream
            .post(uri, Bytes::from(encoded.body), &HeaderMap::new(), &[], None)
            .await
            .map_err(|err| err.to_string())?;
        let status = response.status();
        // Read to the end so the connection goes back to the pool.
        let _ = response.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("status {status}"))
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(unhealthy_after: u32, healthy_after: u32) -> HealthCheckConfig {
        HealthCheckConfig {
            model: "m".into(),
            interval: sluice_core::ConfigDuration::from_secs(1),
            timeout: sluice_core::ConfigDuration::from_secs(1),
            unhealthy_after,
            healthy_after,
        }
    }

    #[test]
    fn health_flips_only_after_a_streak() {
        let health = ProviderHealth::new(None);
        let config = config(2, 2);
        assert_eq!(health.record(false, &config), None);
        assert_eq!(
            health.record(true, &config),
            None,
            "a pass breaks the streak"
        );
        assert_eq!(health.record(false, &config), None);
        assert_eq!(health.record(false, &config), Some(false));
        assert!(!health.is_healthy());
        assert_eq!(health.record(false, &config), None);
        assert_eq!(health.record(true, &config), None);
        assert_eq!(health.record(true, &config), Some(true));
        assert!(health.is_healthy());
    }
}
