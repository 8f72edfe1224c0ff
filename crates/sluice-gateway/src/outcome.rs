//! What a route target's live state learns from each request: success with its
//! latencies, failure (which feeds the circuit breaker), and `Retry-After` rests.

use std::time::{Duration, Instant};

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderValue, StatusCode};
use sluice_routing::TargetLease;

/// A request served by a route target, until its outcome is known.
pub(crate) struct TargetOutcome {
    lease: TargetLease,
    /// How long the provider asked to be left alone (429/503 with `Retry-After`).
    rest: Option<Duration>,
}

impl TargetOutcome {
    pub(crate) fn new(lease: TargetLease) -> Self {
        Self { lease, rest: None }
    }

    /// Remembers the provider's `Retry-After` on a status that asks for a pause.
    pub(crate) fn note_answer(&mut self, status: StatusCode, headers: &HeaderMap) {
        self.note_rest(status, headers.get(RETRY_AFTER));
    }

    fn note_rest(&mut self, status: StatusCode, retry_after: Option<&HeaderValue>) {
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            self.rest = retry_after.and_then(retry_after_delay);
        }
    }

    /// The exchange ended with `status` (the provider's, or the equivalent the gateway
    /// answered with): 429 and 5xx count against the target, anything else for it — a
    /// 400 is the client's fault and says the provider is up.
    pub(crate) fn finished(self, status: u16, total: Duration, first_token: Option<Duration>) {
        let now = Instant::now();
        let state = self.lease.state();
        if status == 429 || status >= 500 {
            state.record_failure(now);
        } else {
            state.record_success(total, first_token, now);
        }
        if let Some(rest) = self.rest {
            state.rest_until(now + rest);
        }
    }

    /// The request was refused before an answer reached the client: by the provider (its
    /// status counts), because it could not be reached or timed out (a failure), or
    /// because of the request itself (nothing learnt about the provider).
    pub(crate) fn refused(
        mut self,
        reason: &str,
        status: StatusCode,
        retry_after: Option<&HeaderValue>,
    ) {
        match reason {
            "upstream_status" => {
                self.note_rest(status, retry_after);
                self.finished(status.as_u16(), Duration::ZERO, None);
            }
            "timeout" | "unreachable" | "upstream_auth" | "upstream_invalid" => self.failed(),
            _ => {}
        }
    }

    /// The provider could not be reached, timed out, or broke its answer.
    pub(crate) fn failed(self) {
        self.lease.state().record_failure(Instant::now());
    }
}

/// A `Retry-After` of whole seconds (the form providers send), as a delay.
pub(crate) fn retry_after_delay(value: &HeaderValue) -> Option<Duration> {
    let seconds = value.to_str().ok()?.trim().parse::<u64>().ok()?;
    Some(Duration::from_secs(seconds))
}
