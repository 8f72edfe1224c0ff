//! What a request may ask of routing with its own headers, where its route allows:
//! `x-sluice-strategy: latency` ranks the route's targets by another strategy, and
//! `x-sluice-fallbacks: backup-route, anthropic/claude-haiku-4-5` replaces the route's
//! fallbacks (or gives a `provider/model` request some).

use http::HeaderMap;
use sluice_core::ApiError;
use sluice_core::config::RouteStrategy;

use crate::headers;

/// More fallbacks than this in one request is refused: each is an attempt's worth of
/// upstream work a client could otherwise multiply.
pub const MAX_REQUEST_FALLBACKS: usize = 8;

/// The routing headers of one request. Empty (and free) when it sends none.
#[derive(Debug, Default)]
pub struct RequestRouting<'r> {
    pub strategy: Option<RouteStrategy>,
    pub fallbacks: Vec<&'r str>,
}

impl<'r> RequestRouting<'r> {
    pub fn from_headers(headers: &'r HeaderMap) -> Result<Self, ApiError> {
        let mut routing = RequestRouting::default();
        if let Some(value) = headers.get(headers::STRATEGY) {
            let name = value.to_str().unwrap_or_default().trim();
            routing.strategy = Some(RouteStrategy::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = RouteStrategy::ALL.iter().map(|s| s.name()).collect();
                ApiError::invalid_request(format!(
                    "`{}` is not a strategy; use one of: {}.",
                    headers::STRATEGY,
                    known.join(", ")
                ))
            })?);
        }
        for value in headers.get_all(headers::FALLBACKS) {
            let list = value.to_str().map_err(|_| {
                ApiError::invalid_request(format!(
                    "`{}` must be a comma-separated list of routes or provider/models.",
                    headers::FALLBACKS
                ))
            })?;
            routing.fallbacks.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|entry| !entry.is_empty()),
            );
        }
        if routing.fallbacks.len() > MAX_REQUEST_FALLBACKS {
            return Err(ApiError::invalid_request(format!(
                "`{}` names {} fallbacks; at most {MAX_REQUEST_FALLBACKS} are allowed.",
                headers::FALLBACKS,
                routing.fallbacks.len()
            )));
        }
        Ok(routing)
    }
}
