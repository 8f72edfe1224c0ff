//! One provider as the gateway reaches it: base URL, weighted keys, extra headers,
//! timeouts and a pooled HTTP client (HTTP/1.1 keep-alive, HTTP/2 by ALPN, rustls).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

use std::collections::HashMap;

use crate::bedrock::AwsCredentials;
use crate::dialect::{Dialect, Operation};
use crate::token::TokenSource;
use sluice_core::{ApiError, ErrorKind};

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Client headers worth passing on to any provider; everything else (the client's own
/// credentials first of all) stays at the gateway.
pub const FORWARDED_HEADERS: [HeaderName; 2] = [ACCEPT, USER_AGENT];

/// A configured provider, ready to send requests.
pub struct Upstream {
    pub name: Arc<str>,
    pub kind: ProviderKind,
    pub dialect: Dialect,
    /// Models advertised under `name/model` in `GET /v1/models`.
    pub models: Vec<String>,
    base: BaseUrl,
    /// URLs that do not depend on the model, built once.
    fixed: FixedUris,
    auth: Auth,
    /// Headers sent with every request: the config's `headers`, Anthropic's version.
    extra_headers: HeaderMap,
    placement: Placement,
    timeouts: TimeoutConfig,
    client: HttpClient,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base.display())
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

/// The URLs of a dialect whose paths name no model.
#[derive(Debug, Default)]
struct FixedUris {
    chat: Option<Uri>,
    embeddings: Option<Uri>,
    count_tokens: Option<Uri>,
}

/// Where the model goes in the URL, for the dialects that put it there.
#[derive(Debug)]
enum Placement {
    /// The model travels in the body.
    Body,
    /// `/openai/deployments/{deployment}/…?api-version=…`.
    Azure {
        api_version: String,
        deployments: HashMap<String, String>,
    },
    /// `/v1beta/models/{model}:generateContent`.
    Gemini,
    /// `/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:…`.
    Vertex { prefix: String },
    /// `/model/{model id}/converse`.
    Bedrock,
}

/// How requests prove who is calling.
enum Auth {
    None,
    /// One of several weighted keys, in a header: `Authorization: Bearer …`, `x-api-key`,
    /// `api-key`, `x-goog-api-key`. Values are marked sensitive so they are never logged.
    Keys {
        header: HeaderName,
        values: Vec<HeaderValue>,
        choice: WeightedChoice,
        /// Per key: resting until this many milliseconds after `KEY_EPOCH` (a 429's
        /// `Retry-After`); 0 when available.
        resting: Vec<AtomicU64>,
    },
    /// AWS Signature V4 over the whole request.
    SigV4 {
        credentials: AwsCredentials,
        region: String,
    },
    /// A bearer token from an OAuth token endpoint, cached until shortly before it expires.
    Token(TokenSource),
}

/// The Anthropic API version sent when the client named none (the translated path).
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The Azure OpenAI GA API version used when the config names none.
pub const AZURE_API_VERSION: &str = "2024-10-21";

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
    #[error("provider `{provider}` cannot serve this: {reason}")]
    Unsupported { provider: Arc<str>, reason: String },
    #[error("provider `{provider}`: could not authenticate: {reason}")]
    Auth { provider: Arc<str>, reason: String },
}

impl UpstreamError {
    /// The error the client sees.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            UpstreamError::Unreachable { .. } | UpstreamError::Auth { .. } => {
                ApiError::new(ErrorKind::UpstreamUnreachable, self.to_string())
            }
            UpstreamError::Timeout { .. } => {
                ApiError::new(ErrorKind::UpstreamTimeout, self.to_string())
            }
            UpstreamError::Unsupported { .. } => ApiError::invalid_request(self.to_string()),
        }
    }
}

impl Upstream {
    /// Builds the provider; `base_url` overrides the configured one (the mock's address).
    pub fn new(
        name: &str,
        config: &ProviderConfig,
        base_url: Option<&str>,
    ) -> Result<Upstream, String> {
        let kind = config.kind.value;
        let dialect = Dialect::of(kind);
        let region = config.region.clone();
        let computed_base;
        let base_url = match base_url.or(config.base_url.as_deref()) {
            Some(url) => url,
            None => {
                computed_base = match kind {
                    ProviderKind::Bedrock => region
                        .as_ref()
                        .map(|region| format!("https://bedrock-runtime.{region}.amazonaws.com")),
                    ProviderKind::Vertex => Some(vertex_base_url(
                        region.as_deref().unwrap_or(VERTEX_DEFAULT_LOCATION),
                    )),
                    _ => kind.default_base_url().map(str::to_string),
                };
                computed_base
                    .as_deref()
                    .ok_or_else(|| format!("provider `{name}` has no base_url"))?
            }
        };
        let base = BaseUrl::parse(base_url)?;

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
        if kind == ProviderKind::Anthropic {
            let version = config.api_version.as_deref().unwrap_or(ANTHROPIC_VERSION);
            let value = HeaderValue::from_str(version)
                .map_err(|_| format!("provider `{name}`: bad api_version `{version}`"))?;
            extra_headers.insert(ANTHROPIC_VERSION_HEADER, value);
        }

        let placement = match kind {
            ProviderKind::Azure => Placement::Azure {
                api_version: config
                    .api_version
                    .clone()
                    .unwrap_or_else(|| AZURE_API_VERSION.to_string()),
                deployments: config
                    .deployments
                    .iter()
                    .map(|(model, deployment)| (model.clone(), deployment.clone()))
                    .collect(),
            },
            ProviderKind::Gemini => Placement::Gemini,
            ProviderKind::Vertex => {
                let project = vertex_project(name, config)?;
                let location = region.as_deref().unwrap_or(VERTEX_DEFAULT_LOCATION);
                Placement::Vertex {
                    prefix: format!(
                        "/v1/projects/{project}/locations/{location}/publishers/google/models/"
                    ),
                }
            }
            ProviderKind::Bedrock => Placement::Bedrock,
            _ => Placement::Body,
        };

        let uri = |path: &str| {
            base.uri(path)
                .map_err(|err| format!("provider `{name}`: bad base_url: {err}"))
        };
        let fixed = match (dialect, &placement) {
            (Dialect::OpenAi, Placement::Body) => FixedUris {
                chat: Some(uri("/chat/completions")?),
                embeddings: Some(uri("/embeddings")?),
                count_tokens: None,
            },
            (Dialect::Anthropic, _) => FixedUris {
                chat: Some(uri("/v1/messages")?),
                embeddings: None,
                count_tokens: Some(uri("/v1/messages/count_tokens")?),
            },
            (Dialect::Cohere, _) => FixedUris {
                chat: Some(uri("/v2/chat")?),
                embeddings: Some(uri("/v2/embed")?),
                count_tokens: None,
            },
            _ => FixedUris::default(),
        };

        let timeouts = config.timeouts;
        let client = build_client(
            timeouts.connect.get(),
            tls_config(config.tls.ca_file.as_deref())
                .map_err(|message| format!("provider `{name}`: {message}"))?,
        );
        let auth = build_auth(name, kind, config)?;
        Ok(Upstream {
            name: name.into(),
            kind,
            dialect,
            models: config.models.clone(),
            base,
            fixed,
            auth,
            extra_headers,
            placement,
            timeouts,
            client,
        })
    }

    pub fn base_url(&self) -> String {
        self.base.display()
    }

    /// How many API keys this provider has (0 for signed or token-based ones).
    pub fn key_count(&self) -> usize {
        match &self.auth {
            Auth::Keys { values, .. } => values.len(),
            _ => 0,
        }
    }

    /// A key for the next request by weight, skipping the keys in `tried` and those
    /// resting after a 429 (unless every untried key rests); `None` when every key was
    /// tried or the provider has none.
    pub fn choose_key(&self, tried: &[usize]) -> Option<usize> {
        match &self.auth {
            Auth::Keys {
                choice, resting, ..
            } => pick_key(choice, resting, tried),
            _ => None,
        }
    }

    /// Rests key `index` until `until` (the provider's `Retry-After`).
    pub fn rest_key(&self, index: usize, until: std::time::Instant) {
        if let Auth::Keys { resting, .. } = &self.auth
            && let Some(cell) = resting.get(index)
        {
            cell.fetch_max(millis_since_epoch(until), Ordering::Relaxed);
        }
    }

    pub fn timeouts(&self) -> &TimeoutConfig {
        &self.timeouts
    }

    /// The URL serving `operation` for `model`.
    pub fn uri(&self, operation: Operation, model: &str) -> Result<Uri, UpstreamError> {
        let fixed = match operation {
            Operation::Chat { .. } => &self.fixed.chat,
            Operation::Embeddings => &self.fixed.embeddings,
            Operation::CountTokens => &self.fixed.count_tokens,
        };
        if let Some(uri) = fixed {
            return Ok(uri.clone());
        }
        let path = match &self.placement {
            Placement::Body => None,
            Placement::Azure {
                api_version,
                deployments,
            } => {
                let deployment = deployments.get(model).map_or(model, String::as_str);
                let action = match operation {
                    Operation::Chat { .. } => Some("chat/completions"),
                    Operation::Embeddings => Some("embeddings"),
                    Operation::CountTokens => None,
                };
                action.map(|action| {
                    format!(
                        "/openai/deployments/{}/{action}?api-version={api_version}",
                        percent_encode(deployment)
                    )
                })
            }
            Placement::Gemini | Placement::Vertex { .. } => {
                let model = model.strip_prefix("models/").unwrap_or(model);
                let vertex = matches!(self.placement, Placement::Vertex { .. });
                let action = match operation {
                    Operation::Chat { stream: false } => ":generateContent",
                    Operation::Chat { stream: true } => ":streamGenerateContent?alt=sse",
                    Operation::Embeddings if vertex => ":predict",
                    Operation::Embeddings => ":batchEmbedContents",
                    Operation::CountTokens => ":countTokens",
                };
                let prefix = match &self.placement {
                    Placement::Vertex { prefix } => prefix.as_str(),
                    _ => "/v1beta/models/",
                };
                Some(format!("{prefix}{}{action}", percent_encode(model)))
            }
            Placement::Bedrock => {
                let action = match operation {
                    Operation::Chat { stream: false } => Some("converse"),
                    Operation::Chat { stream: true } => Some("converse-stream"),
                    Operation::Embeddings => Some("invoke"),
                    Operation::CountTokens => None,
                };
                action.map(|action| format!("/model/{}/{action}", percent_encode(model)))
            }
        };
        let unsupported = || UpstreamError::Unsupported {
            provider: self.name.clone(),
            reason: match operation {
                Operation::Embeddings => "it has no embeddings endpoint".to_string(),
                Operation::CountTokens => "it has no token-counting endpoint".to_string(),
                Operation::Chat { .. } => "it has no chat endpoint".to_string(),
            },
        };
        let path = path.ok_or_else(unsupported)?;
        self.base
            .uri(&path)
            .map_err(|err| UpstreamError::Unsupported {
                provider: self.name.clone(),
                reason: format!("the model name makes no valid URL: {err}"),
            })
    }

    /// POSTs a JSON body and waits for the response headers, at most the first-byte
    /// timeout; the body streams afterwards. `forwarded` names the client headers to
    /// pass on (never credentials).
    pub async fn post(
        &self,
        uri: Uri,
        body: Bytes,
        client_headers: &HeaderMap,
        forwarded: &[HeaderName],
        key: Option<usize>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .body(())
            .map_err(|err| UpstreamError::Unreachable {
                provider: self.name.clone(),
                reason: format!("bad upstream request: {err}"),
            })?;
        let (mut parts, ()) = request.into_parts();
        let headers = &mut parts.headers;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for name in forwarded {
            if let Some(value) = client_headers.get(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        for (name, value) in &self.extra_headers {
            // A client's own `anthropic-version` wins over the provider's default.
            if name == ANTHROPIC_VERSION_HEADER && headers.contains_key(name) {
                continue;
            }
            headers.insert(name.clone(), value.clone());
        }
        match &self.auth {
            Auth::None => {}
            Auth::Keys {
                header,
                values,
                choice,
                resting,
            } => {
                let index = key
                    .filter(|&index| index < values.len())
                    .unwrap_or_else(|| pick_key(choice, resting, &[]).unwrap_or(0));
                headers.insert(header.clone(), values[index].clone());
            }
            Auth::Token(source) => {
                let token = source
                    .bearer(&self.client, self.timeouts.first_byte.get())
                    .await
                    .map_err(|reason| UpstreamError::Auth {
                        provider: self.name.clone(),
                        reason,
                    })?;
                parts.headers.insert(AUTHORIZATION, token);
            }
            Auth::SigV4 {
                credentials,
                region,
            } => {
                crate::bedrock::sign(
                    &mut parts,
                    &body,
                    credentials,
                    region,
                    crate::bedrock::SIGNING_SERVICE,
                    std::time::SystemTime::now(),
                )
                .map_err(|err| UpstreamError::Auth {
                    provider: self.name.clone(),
                    reason: err.to_string(),
                })?;
            }
        }
        let request = Request::from_parts(parts, Full::new(body));

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

const ANTHROPIC_VERSION_HEADER: HeaderName = HeaderName::from_static("anthropic-version");
const VERTEX_DEFAULT_LOCATION: &str = "us-central1";

fn vertex_base_url(location: &str) -> String {
    if location == "global" {
        "https://aiplatform.googleapis.com".to_string()
    } else {
        format!("https://{location}-aiplatform.googleapis.com")
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters: for a model or
/// deployment name in one path segment (Bedrock ids hold `:`, inference-profile ARNs
/// `/`), and for form values.
pub(crate) fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The Vertex project: the config's, else the service account's own.
fn vertex_project(name: &str, config: &ProviderConfig) -> Result<String, String> {
    if let Some(project) = &config.project {
        return Ok(project.clone());
    }
    let account = load_service_account(name, config)?;
    account
        .project_id()
        .map(str::to_string)
        .ok_or_else(|| format!("provider `{name}`: set `project` (the service account names none)"))
}

fn load_service_account(
    name: &str,
    config: &ProviderConfig,
) -> Result<crate::gemini::vertex_auth::ServiceAccount, String> {
    let path = config
        .credentials_file
        .clone()
        .or_else(|| std::env::var("GOOGLE_APPLICATION_CREDENTIALS").ok())
        .ok_or_else(|| {
            format!(
                "provider `{name}` of kind vertex needs credentials_file (a service-account key file) or GOOGLE_APPLICATION_CREDENTIALS"
            )
        })?;
    let text = std::fs::read_to_string(&path).map_err(|err| {
        format!("provider `{name}`: cannot read credentials_file `{path}`: {err}")
    })?;
    crate::gemini::vertex_auth::ServiceAccount::from_json(&text)
        .map_err(|err| format!("provider `{name}`: credentials_file `{path}`: {err}"))
}

/// The way this kind authenticates, built from the config.
fn build_auth(name: &str, kind: ProviderKind, config: &ProviderConfig) -> Result<Auth, String> {
    match kind {
        ProviderKind::Bedrock => {
            let credentials = match &config.aws {
                Some(aws) => AwsCredentials::new(
                    aws.access_key_id.expose(),
                    aws.secret_access_key.expose(),
                    aws.session_token
                        .as_ref()
                        .map(|token| token.expose().to_string()),
                ),
                None => AwsCredentials::from_env().map_err(|err| {
                    format!(
                        "provider `{name}` of kind bedrock needs `aws` credentials or the AWS_* environment variables: {err}"
                    )
                })?,
            };
            let region = config
                .region
                .clone()
                .unwrap_or_else(|| "us-east-1".to_string());
            return Ok(Auth::SigV4 {
                credentials,
                region,
            });
        }
        ProviderKind::Vertex => {
            let account = load_service_account(name, config)?;
            return Ok(Auth::Token(TokenSource::service_account(account)?));
        }
        ProviderKind::Azure if config.entra.is_some() && config.all_keys().is_empty() => {
            if let Some(entra) = &config.entra {
                return Ok(Auth::Token(TokenSource::client_credentials(
                    entra,
                    "https://cognitiveservices.azure.com/.default",
                )?));
            }
        }
        _ => {}
    }
    let configured_keys = config.all_keys();
    let Some(choice) = WeightedChoice::new(configured_keys.iter().map(|key| key.weight)) else {
        return Ok(Auth::None);
    };
    let (header, bearer) = match kind {
        ProviderKind::Anthropic => (HeaderName::from_static("x-api-key"), false),
        ProviderKind::Azure => (HeaderName::from_static("api-key"), false),
        ProviderKind::Gemini => (HeaderName::from_static("x-goog-api-key"), false),
        _ => (AUTHORIZATION, true),
    };
    let mut values = Vec::with_capacity(configured_keys.len());
    for key in &configured_keys {
        let text = if bearer {
            format!("Bearer {}", key.key.expose())
        } else {
            key.key.expose().to_string()
        };
        let mut value = HeaderValue::try_from(text).map_err(|_| {
            format!("provider `{name}`: an API key holds characters HTTP does not allow")
        })?;
        value.set_sensitive(true);
        values.push(value);
    }
    let resting = values.iter().map(|_| AtomicU64::new(0)).collect();
    Ok(Auth::Keys {
        header,
        values,
        choice,
        resting,
    })
}

/// The origin of key rest times: a process-wide instant, so a rest fits in an atomic.
fn key_epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

fn millis_since_epoch(at: std::time::Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(key_epoch()).as_millis()).unwrap_or(u64::MAX)
}

/// A key by weight among the untried ones, preferring keys that are not resting.
fn pick_key(choice: &WeightedChoice, resting: &[AtomicU64], tried: &[usize]) -> Option<usize> {
    let now = millis_since_epoch(std::time::Instant::now());
    let usable = |index: usize, allow_resting: bool| {
        !tried.contains(&index)
            && choice.weight(index) > 0
            && (allow_resting || resting[index].load(Ordering::Relaxed) <= now)
    };
    let drawn = choice.pick(fastrand::u64(..));
    if usable(drawn, false) {
        return Some(drawn);
    }
    (0..resting.len())
        .find(|&index| usable(index, false))
        .or_else(|| (0..resting.len()).find(|&index| usable(index, true)))
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
