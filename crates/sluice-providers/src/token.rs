//! OAuth bearer tokens for providers that take them instead of keys: Vertex AI (a
//! service account's signed JWT exchanged for a token) and Azure OpenAI with Entra ID
//! (the client-credentials grant). A token is fetched on first use, cached, and fetched
//! again shortly before it expires; concurrent requests wait for one fetch.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use sluice_core::config::EntraConfig;

use crate::gemini::vertex_auth::ServiceAccount;
use crate::upstream::percent_encode;

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A token is renewed this long before its stated expiry, so no request carries one that
/// expires on the way.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// Token responses are small; anything larger is not one.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

pub(crate) struct TokenSource {
    grant: Grant,
    token_uri: Uri,
    cached: Mutex<Option<Cached>>,
    /// Held while fetching, so that one fetch serves every waiting request.
    fetching: tokio::sync::Mutex<()>,
}

enum Grant {
    ServiceAccount(Box<ServiceAccount>),
    /// The form body, which holds the client secret.
    ClientCredentials(String),
}

struct Cached {
    header: HeaderValue,
    renew_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default = "default_expires_in")]
    expires_in: u64,
}

fn default_expires_in() -> u64 {
    3600
}

impl TokenSource {
    pub(crate) fn service_account(account: ServiceAccount) -> Result<TokenSource, String> {
        let token_uri = account
            .token_uri()
            .parse()
            .map_err(|_| format!("the token_uri `{}` is not a URL", account.token_uri()))?;
        Ok(Self::new(
            Grant::ServiceAccount(Box::new(account)),
            token_uri,
        ))
    }

    pub(crate) fn client_credentials(
        entra: &EntraConfig,
        scope: &str,
    ) -> Result<TokenSource, String> {
        let url = entra.token_url.clone().unwrap_or_else(|| {
            format!(
                "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
                entra.tenant_id
            )
        });
        let token_uri = url
            .parse()
            .map_err(|_| format!("the Entra token_url `{url}` is not a URL"))?;
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
            percent_encode(&entra.client_id),
            percent_encode(entra.client_secret.expose()),
            percent_encode(scope)
        );
        Ok(Self::new(Grant::ClientCredentials(form), token_uri))
    }

    fn new(grant: Grant, token_uri: Uri) -> TokenSource {
        TokenSource {
            grant,
            token_uri,
            cached: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// `Bearer <token>`, from the cache or freshly fetched.
    pub(crate) async fn bearer(
        &self,
        client: &HttpClient,
        timeout: Duration,
    ) -> Result<HeaderValue, String> {
        if let Some(header) = self.cached_header() {
            return Ok(header);
        }
        let _fetching = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(header) = self.cached_header() {
            return Ok(header);
        }
        let token = tokio::time::timeout(timeout, self.fetch(client))
            .await
            .map_err(|_| format!("the token endpoint did not answer within {timeout:?}"))??;
        let mut header = HeaderValue::try_from(format!("Bearer {}", token.access_token))
            .map_err(|_| "the token endpoint sent a token HTTP cannot carry".to_string())?;
        header.set_sensitive(true);
        let lifetime = Duration::from_secs(token.expires_in);
        let renew_at = Instant::now() + lifetime.saturating_sub(RENEW_BEFORE).max(lifetime / 2);
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some(Cached {
                header: header.clone(),
                renew_at,
            });
        }
        Ok(header)
    }

    fn cached_header(&self) -> Option<HeaderValue> {
        let cached = self.cached.lock().ok()?;
        cached
            .as_ref()
            .filter(|cached| Instant::now() < cached.renew_at)
            .map(|cached| cached.header.clone())
    }

    async fn fetch(&self, client: &HttpClient) -> Result<TokenResponse, String> {
        let form = match &self.grant {
            Grant::ServiceAccount(account) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |since| since.as_secs());
                account
                    .token_request_body(now)
                    .map_err(|err| err.to_string())?
            }
            Grant::ClientCredentials(form) => form.clone(),
        };
        let request = Request::builder()
            .method(Method::POST)
            .uri(self.token_uri.clone())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .body(Full::new(Bytes::from(form)))
            .map_err(|err| format!("bad token request: {err}"))?;
        let response = client
            .request(request)
            .await
            .map_err(|err| format!("the token endpoint could not be reached: {err}"))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_TOKEN_RESPONSE)
            .collect()
            .await
            .map_err(|err| format!("the token response could not be read: {err}"))?
            .to_bytes();
        if !status.is_success() {
            // The body of a refusal names the reason (invalid_grant, …) and no secret.
            let reason = String::from_utf8_lossy(&body);
            let reason: String = reason.chars().take(300).collect();
            return Err(format!("the token endpoint answered {status}: {reason}"));
        }
        serde_json::from_slice(&body)
            .map_err(|_| "the token endpoint's answer holds no access_token".to_string())
    }
}
