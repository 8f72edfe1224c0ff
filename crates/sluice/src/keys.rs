//! `sluice keys create|list|disable`: the admin API's key routes for operators without
//! curl. HTTP/1.1 through hyper-util's client, over rustls (webpki roots) for `https://`
//! URLs; the token travels only in the `Authorization` header and is never printed.

use std::sync::Arc;

use bytes::Bytes;
use clap::{Args, Subcommand};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use sluice_governance::period::civil_from_days;

/// Answers from the admin API are small; more than this is not the admin API.
const MAX_ANSWER: usize = 4 * 1024 * 1024;

#[derive(Args)]
pub struct KeysArgs {
    /// The gateway's base URL.
    #[arg(
        long,
        env = "SLUICE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// The admin token (`Authorization: Bearer`); required.
    #[arg(
        long,
        env = "SLUICE_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    admin_token: Option<String>,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a virtual key and print it (once: it cannot be shown again).
    Create {
        /// A name for humans.
        #[arg(long)]
        name: String,
        /// The team the key belongs to (it inherits the team's customer).
        #[arg(long)]
        team: Option<String>,
        /// The customer the key belongs to.
        #[arg(long)]
        customer: Option<String>,
        /// Models the key may use, comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        models: Option<Vec<String>>,
        /// Providers the key may use, comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        providers: Option<Vec<String>>,
        /// Expiry, RFC 3339 (2026-12-31T23:59:59Z).
        #[arg(long)]
        expires: Option<String>,
        /// The key's id (default: generated).
        #[arg(long)]
        id: Option<String>,
    },
    /// List keys (never the keys themselves: their display prefixes).
    List {
        /// Only this team's keys.
        #[arg(long)]
        team: Option<String>,
        /// Only this customer's keys.
        #[arg(long)]
        customer: Option<String>,
    },
    /// Disable a key by id.
    Disable { id: String },
}

/// Runs one `keys` command; the error is the message to print.
pub async fn run(args: KeysArgs) -> Result<(), String> {
    let token = args
        .admin_token
        .filter(|t| !t.is_empty())
        .ok_or("the admin token is required: pass --admin-token or set SLUICE_ADMIN_TOKEN")?;
    let api = Api {
        base: args.url.trim_end_matches('/').to_owned(),
        token,
    };
    match args.command {
        KeysCommand::Create {
            name,
            team,
            customer,
            models,
            providers,
            expires,
            id,
        } => {
            let mut body = json!({ "name": name });
            let fields = [
                ("id", id.map(Value::from)),
                ("team", team.map(Value::from)),
                ("customer", customer.map(Value::from)),
                ("models", models.map(Value::from)),
                ("providers", providers.map(Value::from)),
                ("expires_at", expires.map(Value::from)),
            ];
            for (field, value) in fields {
                if let Some(v) = value {
                    body[field] = v;
                }
            }
            let created = api.call(Method::POST, "/admin/keys", Some(body)).await?;
            let key = created["key"].as_str().ok_or("the answer holds no key")?;
            println!(
                "created key {} ({})",
                text(&created["id"]),
                text(&created["name"])
            );
            println!("{key}");
            println!("Store it now: this key will not be shown again.");
            Ok(())
        }
        KeysCommand::List { team, customer } => {
            let mut query = Vec::new();
            if let Some(t) = team {
                query.push(format!("team={}", encode(&t)));
            }
            if let Some(c) = customer {
                query.push(format!("customer={}", encode(&c)));
            }
            let path = if query.is_empty() {
                "/admin/keys".to_owned()
            } else {
                format!("/admin/keys?{}", query.join("&"))
            };
            let keys = api.call(Method::GET, &path, None).await?;
            let keys = keys.as_array().ok_or("the answer is not a list")?;
            print!("{}", table(keys));
            Ok(())
        }
        KeysCommand::Disable { id } => {
            let path = format!("/admin/keys/{}/disable", encode(&id));
            let key = api.call(Method::POST, &path, None).await?;
            println!("disabled key {}", text(&key["id"]));
            Ok(())
        }
    }
}

struct Api {
    base: String,
    token: String,
}

impl Api {
    /// One request; a non-2xx answer becomes the API's own error message.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        if !(self.base.starts_with("http://") || self.base.starts_with("https://")) {
            return Err(format!(
                "--url must start with http:// or https:// (got {})",
                self.base
            ));
        }
        let url = format!("{}{}", self.base, path);
        let request = Request::builder()
            .method(method)
            .uri(&url)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .map_err(|e| format!("invalid URL {url}: {e}"))?;
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))?
        .with_root_certificates(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build::<_, Full<Bytes>>(connector);
        let response = client
            .request(request)
            .await
            .map_err(|e| format!("cannot reach {}: {e}", self.base))?;
        let status = response.status();
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("cannot read the answer from {}: {e}", self.base))?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        let message = value["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect());
        Err(match status {
            StatusCode::UNAUTHORIZED => {
                format!("{message} (HTTP 401: check --admin-token / SLUICE_ADMIN_TOKEN)")
            }
            _ => format!("{message} (HTTP {})", status.as_u16()),
        })
    }
}

/// A JSON string's text, or `-` for null and anything else.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// Percent-encodes a query or path component.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The keys as an aligned text table.
fn table(keys: &[Value]) -> String {
    let header = [
        "ID", "NAME", "TEAM", "CUSTOMER", "PREFIX", "DISABLED", "EXPIRES",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for k in keys {
        rows.push(vec![
            text(&k["id"]),
            text(&k["name"]),
            text(&k["team"]),
            text(&k["customer"]),
            text(&k["display_prefix"]),
            if k["disabled"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
            k["expires_at"]
                .as_i64()
                .map(rfc3339)
                .unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_769_860_800), "2026-01-31T12:00:00Z");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        let t = table(&[
            json!({"id": "k1", "name": "ci", "team": null, "disabled": true, "expires_at": 0, "display_prefix": "sk-sluice-ab…"}),
        ]);
        assert!(t.starts_with("ID"));
        assert!(
            t.contains("k1  ci    -     -         sk-sluice-ab…  yes       1970-01-01T00:00:00Z"),
            "{t}"
        );
    }
}
