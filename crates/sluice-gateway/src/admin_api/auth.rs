//! The admin token check.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::AUTHORIZATION;
use ring::digest::{SHA256, digest};

use super::AdminState;
use super::error::AdminError;

/// Passes the request on when it carries `Authorization: Bearer <admin token>`, else 401.
/// Neither token is ever logged.
pub(crate) async fn require_admin_token(
    State(state): State<Arc<AdminState>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer);
    match presented {
        Some(token) if tokens_match(token, state.admin_token.expose()) => next.run(request).await,
        _ => AdminError::unauthorized().into_response(),
    }
}

/// Whether `headers` carry the admin token (for admin views outside this router).
pub(crate) fn is_admin(state: &AdminState, headers: &http::HeaderMap) -> bool {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .is_some_and(|token| tokens_match(token, state.admin_token.expose()))
}

/// The token of `Bearer <token>` (the scheme is case-insensitive, RFC 9110).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

/// Compares in time independent of where the tokens differ and of their lengths: both
/// are hashed to 32 bytes first, then every byte is compared. An empty configured token
/// matches nothing, so a missing setting cannot open the API.
fn tokens_match(presented: &str, expected: &str) -> bool {
    if expected.is_empty() {
        return false;
    }
    let a = digest(&SHA256, presented.as_bytes());
    let b = digest(&SHA256, expected.as_bytes());
    let diff = a
        .as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::{bearer, tokens_match};

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn token_comparison() {
        assert!(tokens_match("secret", "secret"));
        assert!(!tokens_match("secret", "secreT"));
        assert!(!tokens_match("secret-longer", "secret"));
        assert!(!tokens_match("", ""));
    }
}
