//! One provider as the gateway reaches it: base URL, weighted keys, extra headers,
//! timeouts and a pooled HTTP client (HTTP/1.1 keep-alive, HTTP/2 by ALPN, rustls).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use http::{HeaderMap, Method, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use sluice_core::config::{ProviderConfig, ProviderKind, TimeoutConfig};
use sluice_core::weighted::WeightedChoice;

use crate::openai::Endpoint;
use sluice_core::{ApiError, ErrorKind};

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Client headers worth passing on; everything else (the client's own credentials first
/// of all) stays at the gateway.
const FORWARDED_HEADERS: [HeaderName; 2] = [ACCEPT, USER_AGENT];

/// A configured provider, ready to send requests.
pub struct Upstream {
    pub name: Arc<str>,
    pub kind: ProviderKind,
    /// Models advertised under `name/model` in `GET /v1/models`.
    pub models: Vec<String>,
    base: BaseUrl,
    /// The full URL of each OpenAI endpoint, built once (indexed by `Endpoint as usize`).
    endpoint_uris: [Uri; Endpoint::ALL.len()],
    /// `Authorization` values, one per key, marked sensitive so they are never logged.
    keys: Vec<HeaderValue>,
    key_choice: Option<WeightedChoice>,
    extra_headers: HeaderMap,
    timeouts: TimeoutConfig,
    client: HttpClient,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base.display())
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// The base URL split once, so each request only appends a path.
#[derive(Clone, Debug)]
struct BaseUrl {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    /// Path without a trailing slash, e.g. `/v1`.
    path: String,
}

impl BaseUrl {
    fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|_| format!("`{url}` is not a URL"))?;
        let parts = uri.into_parts();
        let scheme = parts
            .scheme
            .ok_or_else(|| format!("`{url}` has no scheme"))?;
        let authority = parts
            .authority
            .ok_or_else(|| format!("`{url}` has no host"))?;
        let path = parts
            .path_and_query
            .map(|p| p.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        Ok(Self {
            scheme,
            authority,
            path,
        })
    }

    fn uri(&self, path: &str) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(format!("{}{}", self.path, path))
            .build()
    }

    fn display(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.path)
    }
}

/// Why a request did not get an HTTP response from the provider.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("provider `{provider}` could not be reached: {reason}")]
    Unreachable { provider: Arc<str>, reason: String },
    #[error("provider `{provider}` did not answer within {timeout:?}")]
    Timeout {
        provider: Arc<str>,
        timeout: Duration,
    },
}

impl UpstreamError {
    /// The error the client sees.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            UpstreamError::Unreachable { .. } => {
                ApiError::new(ErrorKind::UpstreamUnreachable, self.to_string())
            }
            UpstreamError::Timeout { .. } => {
                ApiError::new(ErrorKind::UpstreamTimeout, self.to_string())
            }
        }
    }
}

impl Upstream {
    /// Builds the provider; `base_url` overrides the configured one (the mock's port).
    pub fn new(
        name: &str,
        config: &ProviderConfig,
        base_url: Option<&str>,
    ) -> Result<Upstream, String> {
        let kind = config.kind.value;
        let base_url = base_url
            .or(config.base_url.as_deref())
            .or((kind == ProviderKind::Openai).then_some("https://api.openai.com/v1"))
            .ok_or_else(|| format!("provider `{name}` has no base_url"))?;
        let base = BaseUrl::parse(base_url)?;

        let configured_keys = config.all_keys();
        let mut keys = Vec::with_capacity(configured_keys.len());
        for key in &configured_keys {
            let mut value =
                HeaderValue::try_from(format!("Bearer {}", key.key.expose())).map_err(|_| {
                    format!("provider `{name}`: an API key holds characters HTTP does not allow")
                })?;
            value.set_sensitive(true);
            keys.push(value);
        }
        let key_choice = WeightedChoice::new(configured_keys.iter().map(|key| key.weight));

        let mut extra_headers = HeaderMap::new();
        for (header, value) in &config.headers {
            let header = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| format!("provider `{name}`: bad header name `{header}`"))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| format!("provider `{name}`: bad value for header `{header}`"))?;
            // Extra headers often carry credentials (api-key, x-api-key): never log them.
            value.set_sensitive(true);
            extra_headers.insert(header, value);
        }

        let mut endpoint_uris = Vec::with_capacity(Endpoint::ALL.len());
        for endpoint in Endpoint::ALL {
            endpoint_uris.push(
                base.uri(endpoint.path())
                    .map_err(|err| format!("provider `{name}`: bad base_url: {err}"))?,
            );
        }
        let endpoint_uris = endpoint_uris
            .try_into()
            .map_err(|_| format!("provider `{name}`: endpoint table"))?;
        Ok(Upstream {
            endpoint_uris,
            name: name.into(),
            kind,
            models: config.models.clone(),
            base,
            keys,
            key_choice,
            extra_headers,
            timeouts: config.timeouts,
            client: build_client(
                config.timeouts.connect.get(),
                tls_config(config.tls.ca_file.as_deref())
                    .map_err(|message| format!("provider `{name}`: {message}"))?,
            ),
        })
    }

    pub fn base_url(&self) -> String {
        self.base.display()
    }

    pub fn timeouts(&self) -> &TimeoutConfig {
        &self.timeouts
    }

    /// POSTs a JSON body to the endpoint's URL and waits for the response headers, at
    /// most the first-byte timeout. The body streams afterwards.
    pub async fn post_json(
        &self,
        endpoint: Endpoint,
        body: Bytes,
        client_headers: &HeaderMap,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let uri = self.endpoint_uris[endpoint as usize].clone();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .body(Full::new(body))
            .map_err(|err| UpstreamError::Unreachable {
                provider: self.name.clone(),
                reason: format!("bad upstream request: {err}"),
            })?;
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for name in &FORWARDED_HEADERS {
            if let Some(value) = client_headers.get(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        if let Some(choice) = &self.key_choice {
            let key = &self.keys[choice.pick(fastrand::u64(..))];
            headers.insert(AUTHORIZATION, key.clone());
        }
        for (name, value) in &self.extra_headers {
            headers.insert(name.clone(), value.clone());
        }

        let first_byte = self.timeouts.first_byte.get();
        match tokio::time::timeout(first_byte, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            // A connection attempt that timed out is a timeout (504), as nginx reports it.
            Ok(Err(err)) if err.is_connect() && caused_by_timeout(&err) => {
                Err(UpstreamError::Timeout {
                    provider: self.name.clone(),
                    timeout: self.timeouts.connect.get(),
                })
            }
            Ok(Err(err)) => Err(UpstreamError::Unreachable {
                provider: self.name.clone(),
                reason: error_chain(&err),
            }),
            Err(_) => Err(UpstreamError::Timeout {
                provider: self.name.clone(),
                timeout: first_byte,
            }),
        }
    }
}

/// rustls with the public web roots, plus the CA certificates of `ca_file` if given.
fn tls_config(ca_file: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|err| format!("tls.ca_file `{path}` cannot be read: {err}"))?
        {
            let cert =
                cert.map_err(|err| format!("tls.ca_file `{path}` is not valid PEM: {err}"))?;
            roots.add(cert).map_err(|err| {
                format!("tls.ca_file `{path}` holds an unusable certificate: {err}")
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("tls.ca_file `{path}` holds no certificate"));
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        .map_err(|err| format!("TLS set-up failed: {err}"))
}

fn build_client(connect_timeout: Duration, tls: rustls::ClientConfig) -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(Duration::from_secs(60)));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .build(https)
}

fn caused_by_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(cause) = source {
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// "client error (Connect): tcp connect error: Connection refused" — the causes, which
/// name no header and so hold no key.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_paths_join_without_double_slashes() {
        let base = BaseUrl::parse("https://api.example.com/v1/").expect("url");
        assert_eq!(
            base.uri("/chat/completions").expect("uri").to_string(),
            "https://api.example.com/v1/chat/completions"
        );
        let bare = BaseUrl::parse("http://127.0.0.1:8000").expect("url");
        assert_eq!(
            bare.uri("/embeddings").expect("uri").to_string(),
            "http://127.0.0.1:8000/embeddings"
        );
    }
}
