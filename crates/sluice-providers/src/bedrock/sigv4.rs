//! AWS Signature Version 4 (header signing) on `ring`.
//!
//! The steps follow the published algorithm: canonical request, string to sign, derived
//! signing key, `Authorization` header. For every service but S3 the canonical URI is the
//! request path URI-encoded once more, so a model id sent as `v1%3A0` is signed as
//! `v1%253A0` (what the AWS SDKs do, and what Bedrock checks).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{HeaderName, HeaderValue};
use ring::{digest, hmac};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Headers a proxy or the HTTP client may add, drop or rewrite after signing: signing
/// them would make the signature fragile.
const UNSIGNED_HEADERS: &[&str] = &[
    "authorization",
    "user-agent",
    "x-amzn-trace-id",
    "expect",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Long-term or temporary AWS credentials. The secret never appears in `Debug` output or
/// in errors.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Present for temporary credentials (STS, SSO, instance roles).
    pub session_token: Option<String>,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl AwsCredentials {
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: session_token.filter(|token| !token.is_empty()),
        }
    }

    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, when set,
    /// `AWS_SESSION_TOKEN`.
    pub fn from_env() -> Result<Self, SignError> {
        let read = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.is_empty())
                .ok_or(SignError::MissingCredential(name))
        };
        Ok(Self::new(
            read("AWS_ACCESS_KEY_ID")?,
            read("AWS_SECRET_ACCESS_KEY")?,
            std::env::var("AWS_SESSION_TOKEN").ok(),
        ))
    }
}

/// Why a request could not be signed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the environment variable {0} is not set")]
    MissingCredential(&'static str),
    #[error("the request has neither a Host header nor a host in its URI")]
    MissingHost,
    #[error("the header `{0}` is not visible ASCII and cannot be signed")]
    InvalidHeader(String),
    #[error("the signing time is before 1970")]
    InvalidTime,
}

/// Signs `request` for `service` in `region` at `now`: adds `x-amz-date`,
/// `x-amz-security-token` (temporary credentials), `x-amz-content-sha256` (S3 only, the
/// one service that requires it) and `authorization`. Call it last, once the method, URI,
/// headers and body are final.
///
/// The host signed is the `Host` header when present, else the URI's authority as hyper
/// writes it (the port only when it is not the scheme's default).
pub fn sign(
    request: &mut http::request::Parts,
    body: &[u8],
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Result<(), SignError> {
    let target = RequestTarget {
        method: &request.method,
        uri: &request.uri,
    };
    sign_headers(
        target,
        &mut request.headers,
        body,
        credentials,
        region,
        service,
        now,
    )
}

/// [`sign`] for a whole request (its body passed apart, as bytes).
pub fn sign_request<B>(
    request: &mut http::Request<B>,
    body: &[u8],
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Result<(), SignError> {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let target = RequestTarget {
        method: &method,
        uri: &uri,
    };
    sign_headers(
        target,
        request.headers_mut(),
        body,
        credentials,
        region,
        service,
        now,
    )
}

/// What of a request, besides its headers and body, is signed.
#[derive(Clone, Copy)]
struct RequestTarget<'a> {
    method: &'a http::Method,
    uri: &'a http::Uri,
}

fn sign_headers(
    target: RequestTarget<'_>,
    headers: &mut http::HeaderMap,
    body: &[u8],
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Result<(), SignError> {
    let amz_date = amz_date(now)?;
    let date = amz_date.get(..8).unwrap_or_default().to_string();
    let payload_hash = hex(digest::digest(&digest::SHA256, body).as_ref());

    insert_header(headers, "x-amz-date", &amz_date)?;
    match &credentials.session_token {
        Some(token) => insert_header(headers, "x-amz-security-token", token)?,
        // A retry signed with other credentials must not carry (and sign) a stale token.
        None => {
            headers.remove("x-amz-security-token");
        }
    }
    if service == "s3" {
        insert_header(headers, "x-amz-content-sha256", &payload_hash)?;
    }

    let (canonical, signed_headers) = canonical_parts(target, headers, service, &payload_hash)?;
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let signing_key = signing_key(&credentials.secret_access_key, &date, region, service);
    let signature = hex(hmac::sign(&signing_key, string_to_sign.as_bytes()).as_ref());
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    );
    insert_header(headers, "authorization", &authorization)
}

/// The canonical request of `request` as it stands (headers included) and its signed
/// header list. Public so that a signature mismatch can be diagnosed against the
/// canonical request AWS returns in its error message.
pub fn canonical_request(
    request: &http::request::Parts,
    service: &str,
    payload_hash: &str,
) -> Result<(String, String), SignError> {
    let target = RequestTarget {
        method: &request.method,
        uri: &request.uri,
    };
    canonical_parts(target, &request.headers, service, payload_hash)
}

fn canonical_parts(
    target: RequestTarget<'_>,
    header_map: &http::HeaderMap,
    service: &str,
    payload_hash: &str,
) -> Result<(String, String), SignError> {
    let uri_path = match target.uri.path() {
        "" => "/",
        path => path,
    };
    let canonical_uri = if service == "s3" {
        uri_path.to_string()
    } else {
        uri_path
            .split('/')
            .map(|segment| uri_encode(segment.as_bytes()))
            .collect::<Vec<_>>()
            .join("/")
    };
    let canonical_query = canonical_query(target.uri.query().unwrap_or_default());

    // Header names sorted, values of a repeated header joined by commas in order.
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut has_host = false;
    for name in header_map.keys() {
        let name_str = name.as_str();
        if UNSIGNED_HEADERS.contains(&name_str) {
            continue;
        }
        has_host |= name_str == "host";
        let mut values = Vec::new();
        for value in header_map.get_all(name) {
            let text = value
                .to_str()
                .map_err(|_| SignError::InvalidHeader(name_str.to_string()))?;
            values.push(collapse_spaces(text));
        }
        headers.push((name_str.to_string(), values.join(",")));
    }
    if !has_host {
        headers.push(("host".to_string(), host_from_uri(target.uri)?));
    }
    headers.sort();

    let mut canonical_headers = String::new();
    for (name, value) in &headers {
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(value);
        canonical_headers.push('\n');
    }
    let signed_headers = headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "{}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}",
        target.method.as_str()
    );
    Ok((canonical, signed_headers))
}

/// `/model/<model id, percent-encoded>/<action>`, the Bedrock runtime path (`converse`,
/// `converse-stream`, `invoke`, `invoke-with-response-stream`). Model ids contain `:`
/// and inference-profile ARNs contain `/`, so the id is encoded as one path segment.
pub fn model_path(model_id: &str, action: &str) -> String {
    format!("/model/{}/{action}", uri_encode(model_id.as_bytes()))
}

fn insert_header(
    headers: &mut http::HeaderMap,
    name: &'static str,
    value: &str,
) -> Result<(), SignError> {
    let value =
        HeaderValue::from_str(value).map_err(|_| SignError::InvalidHeader(name.to_string()))?;
    headers.insert(HeaderName::from_static(name), value);
    Ok(())
}

fn host_from_uri(uri: &http::Uri) -> Result<String, SignError> {
    let host = uri.host().ok_or(SignError::MissingHost)?;
    let default_port = match uri.scheme_str() {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    };
    Ok(match uri.port_u16() {
        Some(port) if Some(port) != default_port => format!("{host}:{port}"),
        _ => host.to_string(),
    })
}

/// Trims and turns runs of spaces into one, as the canonical header value requires.
fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Parameters decoded, re-encoded the SigV4 way, sorted by name then value.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                uri_encode(&percent_decode(name)),
                uri_encode(&percent_decode(value)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Encodes every byte but the unreserved ones (`A-Z a-z 0-9 - _ . ~`) as `%XX`.
fn uri_encode(bytes: &[u8]) -> String {
    let mut encoded = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut position = 0;
    while let Some(&byte) = bytes.get(position) {
        if byte == b'%'
            && let Some(hex_digits) = bytes.get(position + 1..position + 3)
            && let Ok(hex_text) = std::str::from_utf8(hex_digits)
            && let Ok(value) = u8::from_str_radix(hex_text, 16)
        {
            decoded.push(value);
            position += 3;
        } else {
            decoded.push(byte);
            position += 1;
        }
    }
    decoded
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let date_key = step(format!("AWS4{secret}").as_bytes(), date);
    let region_key = step(date_key.as_ref(), region);
    let service_key = step(region_key.as_ref(), service);
    let signing = step(service_key.as_ref(), "aws4_request");
    hmac::Key::new(hmac::HMAC_SHA256, signing.as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
fn amz_date(now: SystemTime) -> Result<String, SignError> {
    let seconds = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| SignError::InvalidTime)?
        .as_secs();
    let days = seconds / 86_400;
    let time_of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    Ok(format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        time_of_day / 3600,
        time_of_day % 3600 / 60,
        time_of_day % 60
    ))
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_formatted_in_utc() {
        let at = UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        assert_eq!(amz_date(at).unwrap(), "20150830T123600Z");
        let leap = UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
        assert_eq!(amz_date(leap).unwrap(), "20000229T000000Z");
    }

    #[test]
    fn queries_are_sorted_and_encoded_once() {
        assert_eq!(
            canonical_query("Param2=value2&Param1=value%201&b"),
            "Param1=value%201&Param2=value2&b="
        );
    }
}
