//! Vertex AI authentication with a Google service-account key: a self-signed RS256 JWT
//! exchanged at the key's `token_uri` for an OAuth access token (the JWT-bearer grant).
//!
//! This module only builds the token request and reads its answer; the caller sends it,
//! caches the token and refreshes it before `expires_in` runs out.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;
use serde_json::json;

/// The OAuth scope of Vertex AI (and every Google Cloud API).
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google accepts assertions valid for at most an hour.
const ASSERTION_LIFETIME_SECONDS: u64 = 3600;
/// `urn:ietf:params:oauth:grant-type:jwt-bearer`, form-urlencoded.
const JWT_BEARER_GRANT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";

/// Why a key file or token answer could not be used. No variant holds key material.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the service-account key file is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the key file is of type `{0}`, not `service_account`")]
    NotServiceAccount(String),
    #[error("the service-account key file has no `{0}`")]
    MissingField(&'static str),
    #[error("the service account's private key is not a PKCS#8 RSA key: {0}")]
    InvalidPrivateKey(String),
    #[error("signing the token request failed")]
    Signing,
    #[error("the token endpoint's answer could not be read: {0}")]
    InvalidTokenResponse(String),
    #[error("the token endpoint refused the service account: {error}: {description}")]
    TokenRejected { error: String, description: String },
}

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
    project_id: Option<String>,
}

/// A parsed service-account key. Its `Debug` output names the account, never the key.
#[derive(Clone)]
pub struct ServiceAccount {
    client_email: String,
    private_key_id: String,
    token_uri: String,
    project_id: Option<String>,
    key: Arc<RsaKeyPair>,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Reads a key file as the Cloud console downloads it.
    pub fn from_json(json: &str) -> Result<ServiceAccount, AuthError> {
        // serde_json's message names a position, never the content.
        let file: KeyFile =
            serde_json::from_str(json).map_err(|err| AuthError::InvalidJson(err.to_string()))?;
        match file.kind.as_deref() {
            Some("service_account") => {}
            Some(other) => return Err(AuthError::NotServiceAccount(other.to_string())),
            None => return Err(AuthError::MissingField("type")),
        }
        let client_email = file
            .client_email
            .ok_or(AuthError::MissingField("client_email"))?;
        let private_key = file
            .private_key
            .ok_or(AuthError::MissingField("private_key"))?;
        let private_key_id = file
            .private_key_id
            .ok_or(AuthError::MissingField("private_key_id"))?;
        let token_uri = file.token_uri.ok_or(AuthError::MissingField("token_uri"))?;
        let der = PrivatePkcs8KeyDer::from_pem_slice(private_key.as_bytes())
            .map_err(|_| AuthError::InvalidPrivateKey("no PKCS#8 PEM block".into()))?;
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map_err(|rejected| AuthError::InvalidPrivateKey(rejected.to_string()))?;
        Ok(ServiceAccount {
            client_email,
            private_key_id,
            token_uri,
            project_id: file.project_id,
            key: Arc::new(key),
        })
    }

    /// Where the token request goes.
    pub fn token_uri(&self) -> &str {
        &self.token_uri
    }

    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// The form body of the token request:
    /// `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`, the JWT
    /// issued at `now_unix` and valid for an hour.
    pub fn token_request_body(&self, now_unix: u64) -> Result<String, AuthError> {
        let assertion = self.assertion(now_unix)?;
        // The JWT's alphabet (base64url and `.`) needs no percent-encoding.
        Ok(format!(
            "grant_type={JWT_BEARER_GRANT}&assertion={assertion}"
        ))
    }

    fn assertion(&self, now_unix: u64) -> Result<String, AuthError> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.private_key_id});
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now_unix,
            "exp": now_unix + ASSERTION_LIFETIME_SECONDS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| AuthError::Signing)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// An OAuth access token. Its `Debug` output hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub access_token: String,
    /// Seconds from the answer until the token expires.
    pub expires_in: u64,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Reads the token endpoint's answer: `{access_token, expires_in, token_type}`, or
/// `{error, error_description}` when it refused.
pub fn parse_token_response(body: &[u8]) -> Result<AccessToken, AuthError> {
    let answer: TokenAnswer = serde_json::from_slice(body)
        .map_err(|err| AuthError::InvalidTokenResponse(err.to_string()))?;
    if let Some(error) = answer.error {
        return Err(AuthError::TokenRejected {
            error,
            description: answer.error_description.unwrap_or_default(),
        });
    }
    let access_token = answer
        .access_token
        .filter(|token| !token.is_empty())
        .ok_or_else(|| AuthError::InvalidTokenResponse("no `access_token`".into()))?;
    Ok(AccessToken {
        access_token,
        expires_in: answer
            .expires_in
            .ok_or_else(|| AuthError::InvalidTokenResponse("no `expires_in`".into()))?,
    })
}
