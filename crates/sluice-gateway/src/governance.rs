//! The request path's governance steps, between reading a request and its first attempt:
//! who calls (a virtual key from `Authorization: Bearer`, `x-api-key` or `api-key`), what
//! it may reach (the key's models and providers; providers whose budget is spent), and
//! the error each refusal becomes.

use http::header::{AUTHORIZATION, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue};
use sluice_core::{ApiError, ErrorKind, RawFields};
use sluice_governance::governor::{Caller, Governor, Refusal};
use sluice_governance::tokens::{
    BodyDialect, estimate_chat_fields, estimate_embedding_fields, estimate_embedding_input,
    estimate_input,
};

use crate::endpoint::Endpoint;
use crate::gateway::ResolvedModel;

/// Output tokens assumed for a request that sets no `max_tokens`, when a token limit
/// needs an estimate before the call (corrected by the reported usage after it).
const DEFAULT_OUTPUT_ESTIMATE: u64 = 256;

/// The request's credential: the first of `Authorization: Bearer`, `x-api-key` and
/// `api-key` that holds a virtual key, else the first present. Headers are read lazily:
/// a virtual key in the first place looked ends the search.
fn credential(headers: &HeaderMap) -> Option<&str> {
    let read = |name: &HeaderName| {
        let value = headers.get(name)?.to_str().ok()?;
        let value = if name == AUTHORIZATION {
            value
                .strip_prefix("Bearer ")
                .or(value.strip_prefix("bearer "))?
        } else {
            value
        };
        Some(value.trim())
    };
    let mut first = None;
    for name in [&AUTHORIZATION, &X_API_KEY, &API_KEY] {
        if let Some(value) = read(name) {
            if sluice_governance::keys::is_virtual_key(value) {
                return Some(value);
            }
            first.get_or_insert(value);
        }
    }
    first
}

const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
const API_KEY: HeaderName = HeaderName::from_static("api-key");

/// Who calls (any model).
pub(crate) fn caller(governor: &Governor, headers: &HeaderMap) -> Result<Option<Caller>, Refusal> {
    governor.authenticate(credential(headers))
}

/// Who calls, and whether it may ask for `model`.
pub(crate) fn identify(
    governor: &Governor,
    headers: &HeaderMap,
    model: &str,
) -> Result<Option<Caller>, Refusal> {
    let caller = caller(governor, headers)?;
    if let Some(caller) = &caller
        && !caller.allows_model(model)
    {
        return Err(Refusal::ModelNotAllowed {
            key: caller.key.id.clone(),
            model: model.to_string(),
        });
    }
    Ok(caller)
}

/// Drops the candidates the caller may not reach and the `provider/model` candidates whose
/// provider's budget is spent. Refuses when nothing is left.
pub(crate) fn restrict(
    governor: &Governor,
    caller: Option<&Caller>,
    model: &str,
    candidates: &mut Vec<ResolvedModel<'_, '_>>,
) -> Result<(), Refusal> {
    let before = candidates.len();
    if let Some(caller) = caller {
        candidates.retain(|candidate| caller.allows_provider(&candidate.upstream.name));
        if candidates.is_empty() && before > 0 {
            return Err(Refusal::ProviderNotAllowed {
                key: caller.key.id.clone(),
                model: model.to_string(),
            });
        }
    }
    // Route targets were ranked through the budget gate already; only `provider/model`
    // candidates (the request's own, or a fallback) are checked here.
    let mut spent = None;
    candidates.retain(|candidate| {
        if candidate.ranked() {
            return true;
        }
        match governor.provider_refusal(&candidate.upstream.name) {
            Some(refusal) => {
                spent.get_or_insert(refusal);
                false
            }
            None => true,
        }
    });
    if candidates.is_empty()
        && let Some(refusal) = spent
    {
        return Err(refusal);
    }
    Ok(())
}

/// Tokens a request will take: its input (a real tokenizer for OpenAI models, a
/// documented estimate elsewhere) plus its `max_tokens` or a default for the output.
/// `fields` are the body's, read by the request check; `body_len` its length. (By value:
/// a caller's future that lent them would keep them in its state across its awaits.)
pub(crate) fn estimate(
    endpoint: Endpoint,
    model: &str,
    fields: RawFields<'_>,
    body_len: usize,
) -> u64 {
    let chat = |dialect| {
        let estimate = estimate_chat_fields(model, &fields, body_len, dialect);
        estimate.input + estimate.max_output.unwrap_or(DEFAULT_OUTPUT_ESTIMATE)
    };
    match endpoint {
        Endpoint::ChatCompletions => chat(BodyDialect::OpenAi),
        Endpoint::Messages => chat(BodyDialect::Anthropic),
        Endpoint::Embeddings => estimate_embedding_fields(model, &fields, body_len),
        Endpoint::CountTokens => 0,
    }
}

/// The input part of [`estimate`], from the body (a hedge's abandoned attempt: rare
/// enough to read the body again).
pub(crate) fn estimate_input_tokens(endpoint: Endpoint, model: &str, body: &[u8]) -> u64 {
    match endpoint {
        Endpoint::Embeddings => estimate_embedding_input(model, body),
        Endpoint::CountTokens => 0,
        Endpoint::ChatCompletions => estimate_input(model, body, BodyDialect::OpenAi),
        Endpoint::Messages => estimate_input(model, body, BodyDialect::Anthropic),
    }
}

/// A refusal as the client sees it.
pub(crate) struct Denial {
    pub error: ApiError,
    pub reason: &'static str,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

pub(crate) fn denial(refusal: Refusal) -> Denial {
    let message = refusal.to_string();
    let (kind, reason) = match &refusal {
        Refusal::KeyRequired
        | Refusal::UnknownKey
        | Refusal::KeyDisabled(_)
        | Refusal::KeyExpired(_)
        | Refusal::OwnerDisabled { .. } => (ErrorKind::Authentication, "unauthenticated"),
        Refusal::ModelNotAllowed { .. } | Refusal::ProviderNotAllowed { .. } => {
            (ErrorKind::PermissionDenied, "forbidden")
        }
        Refusal::BudgetExceeded { .. } => (ErrorKind::BudgetExceeded, "budget_exceeded"),
        Refusal::RateLimited { .. } => (ErrorKind::RateLimited, "rate_limited"),
        Refusal::LimitsUnavailable => (ErrorKind::Unavailable, "limits_unavailable"),
    };
    let mut headers = Vec::new();
    let mut push = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.push((HeaderName::from_static(name), value));
        }
    };
    match &refusal {
        Refusal::RateLimited {
            unit,
            limit,
            remaining,
            retry_after_ms,
            reset_ms,
            ..
        } => {
            // OpenAI's headers: one family for requests, one for tokens.
            let family = if *unit == "tokens" {
                "tokens"
            } else {
                "requests"
            };
            let (limit_name, remaining_name, reset_name) = if family == "tokens" {
                (
                    "x-ratelimit-limit-tokens",
                    "x-ratelimit-remaining-tokens",
                    "x-ratelimit-reset-tokens",
                )
            } else {
                (
                    "x-ratelimit-limit-requests",
                    "x-ratelimit-remaining-requests",
                    "x-ratelimit-reset-requests",
                )
            };
            push(limit_name, limit.to_string());
            push(remaining_name, remaining.to_string());
            push(reset_name, format!("{}ms", reset_ms));
            push(
                RETRY_AFTER.as_str(),
                retry_after_ms.div_ceil(1000).max(1).to_string(),
            );
        }
        Refusal::BudgetExceeded { resets_at, .. } => {
            push("x-sluice-budget-resets-at", resets_at.to_string());
        }
        _ => {}
    }
    let code = match &refusal {
        Refusal::KeyRequired => "missing_api_key",
        Refusal::UnknownKey => "invalid_api_key",
        Refusal::KeyDisabled(_) | Refusal::OwnerDisabled { .. } => "key_disabled",
        Refusal::KeyExpired(_) => "key_expired",
        Refusal::ModelNotAllowed { .. } => "model_not_allowed",
        Refusal::ProviderNotAllowed { .. } => "provider_not_allowed",
        Refusal::BudgetExceeded { .. } => "budget_exceeded",
        Refusal::RateLimited { .. } => "rate_limit_exceeded",
        Refusal::LimitsUnavailable => "limits_unavailable",
    };
    Denial {
        error: ApiError::new(kind, message).with_code(code),
        reason,
        headers,
    }
}
