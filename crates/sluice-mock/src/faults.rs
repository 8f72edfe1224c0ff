//! Fault injection: drawing a fault per request, and the faults that change a body.
//!
//! `status`, `reset` and `stall` are decided before any handler runs (see `app.rs`);
//! `cut_stream` and `malformed_json` change the body, so a streaming handler applies them
//! between its chunks and every other response gets them here, once it is built.

use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use sluice_core::mock::MockFault;

/// How long a cut body waits before failing, so that what it did send is flushed to the
/// socket first (hyper flushes when the body is pending, not when it errors).
pub const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(50);

/// The body `malformed_json` answers with: JSON's opening, then garbage.
pub const MALFORMED_BODY: &str = "{\"id\": \"chatcmpl-mock\", \"object\": <malformed";

/// The SSE frame `malformed_json` slips into a stream.
pub const MALFORMED_FRAME: &str = "data: {not json\n\n";

/// The first fault of `faults` whose draw fires, each drawn with its own rate.
pub fn draw<'a>(faults: &'a [MockFault], rng: &mut fastrand::Rng) -> Option<&'a MockFault> {
    // `f64()` is in [0, 1): rate 0 never fires, rate 1 always does, NaN never does.
    faults.iter().find(|fault| rng.f64() < fault.rate())
}

/// A fault that changes the body of an otherwise normal answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFault {
    /// Stop after this many tokens (streams) or half the body (whole responses).
    Cut { after_tokens: u32 },
    /// Answer something that is not JSON.
    Malformed,
    /// Stop after this many tokens with an in-stream error of `status` (whole responses:
    /// answer `status` in the dialect's envelope, which the pipeline does).
    StreamError { after_tokens: u32, status: u16 },
}

impl BodyFault {
    pub fn from_fault(fault: &MockFault) -> Option<Self> {
        match fault {
            MockFault::CutStream { after_tokens, .. } => Some(Self::Cut {
                after_tokens: *after_tokens,
            }),
            MockFault::MalformedJson { .. } => Some(Self::Malformed),
            MockFault::StreamError {
                after_tokens,
                status,
                ..
            } => Some(Self::StreamError {
                after_tokens: *after_tokens,
                status: *status,
            }),
            _ => None,
        }
    }
}

/// Response extension: the handler already applied the body fault (streams do).
#[derive(Clone, Copy, Debug)]
pub struct FaultApplied;

/// Response extension: the connection must be dropped without answering (see `server.rs`).
#[derive(Clone, Copy, Debug)]
pub struct ResetConnection;

/// The error a cut body ends with; hyper aborts the connection on it.
#[derive(Debug, thiserror::Error)]
#[error("sluice-mock cut the response on purpose")]
pub struct Cut;

/// A response that is never sent: the server kills the connection instead.
pub fn reset_response() -> Response {
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(ResetConnection);
    response
}

/// Applies `fault` to a whole (non-streaming) response.
pub async fn apply_to_whole(response: Response, fault: BodyFault) -> Response {
    match fault {
        BodyFault::Malformed => malformed_response(),
        BodyFault::Cut { .. } => cut_in_half(response).await,
        // Needs the dialect's error envelope: the pipeline answers it before coming here.
        BodyFault::StreamError { .. } => response,
    }
}

fn malformed_response() -> Response {
    let mut response = (StatusCode::OK, MALFORMED_BODY).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Sends the headers (announcing the full length) and the first half of the body, then
/// aborts, so the client sees a truncated body.
async fn cut_in_half(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let full = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = full.slice(..full.len() / 2);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    let chunks = futures_util::stream::unfold(Some(half), |state| async move {
        match state {
            Some(half) => Some((Ok::<Bytes, Cut>(half), None)),
            None => {
                tokio::time::sleep(FLUSH_BEFORE_CUT).await;
                // Ends the stream with an error: hyper drops the connection.
                Some((Err(Cut), None))
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(chunks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::duration::ConfigDuration;

    #[test]
    fn draw_respects_rates_and_order() {
        let faults = vec![
            MockFault::Reset { rate: 0.0 },
            MockFault::MalformedJson { rate: 1.0 },
            MockFault::Stall {
                rate: 1.0,
                duration: ConfigDuration::from_millis(1),
            },
        ];
        let mut rng = fastrand::Rng::with_seed(1);
        for _ in 0..100 {
            assert_eq!(
                draw(&faults, &mut rng),
                Some(&MockFault::MalformedJson { rate: 1.0 })
            );
        }
        assert_eq!(draw(&[], &mut rng), None);
        let nan = [MockFault::Reset { rate: f64::NAN }];
        assert_eq!(draw(&nan, &mut rng), None);
    }

    #[test]
    fn draw_rate_is_roughly_honoured() {
        let faults = [MockFault::Reset { rate: 0.25 }];
        let mut rng = fastrand::Rng::with_seed(42);
        let fired = (0..10_000)
            .filter(|_| draw(&faults, &mut rng).is_some())
            .count();
        assert!((2_000..3_000).contains(&fired), "{fired}");
    }

    #[test]
    fn malformed_is_not_json() {
        assert!(serde_json::from_str::<serde_json::Value>(MALFORMED_BODY).is_err());
        let frame = MALFORMED_FRAME.trim_start_matches("data: ").trim();
        assert!(serde_json::from_str::<serde_json::Value>(frame).is_err());
    }
}
