//! The admin API over real HTTP, with a SQLite store in a temporary file.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use sluice_core::Secret;
use sluice_gateway::{ADMIN_ROUTES, AdminState, admin_router};
use sluice_governance::keys::KeyHasher;
use sluice_store::Store;
use sluice_store::sql::{SpendBatch, SpendKey, SpendTotals};

const TOKEN: &str = "admin-test-token";
const HMAC_SECRET: &[u8] = b"test hmac secret";

struct Admin {
    addr: SocketAddr,
    store: Store,
    client: Client<HttpConnector, Full<Bytes>>,
    db: std::path::PathBuf,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
    json: Value,
}

impl Drop for Admin {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
    }
}

impl Admin {
    /// Customers, then teams (`(id, customer)`), then keys (`(id, team)`), for the tests
    /// that need records to hang budgets and keys on.
    async fn seed(&self, customers: &[&str], teams: &[(&str, &str)], keys: &[(&str, &str)]) {
        let records = customers
            .iter()
            .map(|id| {
                (
                    "/admin/customers",
                    json!({"id": id, "name": id.to_uppercase()}),
                )
            })
            .chain(teams.iter().map(|(id, customer)| {
                let team = json!({"id": id, "name": id.to_uppercase(), "customer": customer});
                ("/admin/teams", team)
            }))
            .chain(keys.iter().map(|(id, team)| {
                (
                    "/admin/keys",
                    json!({"id": id, "name": id.to_uppercase(), "team": team}),
                )
            }));
        for (path, record) in records {
            let answer = self.post(path, record).await;
            assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        }
    }

    async fn start() -> Admin {
        static N: AtomicUsize = AtomicUsize::new(0);
        let db = std::env::temp_dir().join(format!(
            "sluice-admin-api-{}-{}-{}.db",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            sluice_store::sql::now_unix()
        ));
        let store = Store::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("store");
        let state = Arc::new(AdminState {
            store: store.clone(),
            admin_token: Secret::new(TOKEN),
            key_hasher: KeyHasher::new(HMAC_SECRET),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, admin_router(state)).await;
        });
        Admin {
            addr,
            store,
            client: Client::builder(TokioExecutor::new()).build_http(),
            db,
        }
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.addr, path));
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
            .expect("request");
        let response = self.client.request(request).await.expect("response");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let body = body.map(|b| b.to_string());
        self.raw(method, path, Some(TOKEN), body.as_deref()).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call(Method::PATCH, path, Some(body)).await
    }
}

/// The OpenAI error envelope, with the status expected.
fn assert_error(answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "{}", answer.text);
    let error = &answer.json["error"];
    assert!(error["message"].is_string(), "{}", answer.text);
    assert!(error["type"].is_string(), "{}", answer.text);
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{}",
        answer.text
    );
}

fn message(answer: &Answer) -> String {
    answer.json["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn wrong_or_missing_token_is_401() {
    let admin = Admin::start().await;
    for token in [
        None,
        Some("wrong"),
        Some(""),
        Some("admin-test-token-longer"),
    ] {
        let answer = admin
            .raw(Method::GET, "/admin/customers", token, None)
            .await;
        assert_error(&answer, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.headers["www-authenticate"], "Bearer");
        assert!(!answer.text.contains(TOKEN));
    }
    // Basic auth with the right secret is still not a bearer token.
    let answer = admin
        .raw(
            Method::POST,
            "/admin/customers",
            Some("x"),
            Some(r#"{"id":"a","name":"A"}"#),
        )
        .await;
    assert_error(&answer, StatusCode::UNAUTHORIZED);
    assert!(admin.store.list_customers().await.expect("list").is_empty());
    // The document is public.
    let answer = admin
        .raw(Method::GET, "/admin/openapi.json", None, None)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json["openapi"], "3.1.0");
}

#[tokio::test]
async fn customer_team_key_lifecycle() {
    let admin = Admin::start().await;
    let c = admin
        .post(
            "/admin/customers",
            json!({"id": "acme", "name": "Acme", "metadata": {"tier": "gold"}}),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.text);
    assert_eq!(c.json["id"], "acme");
    assert_eq!(c.json["metadata"]["tier"], "gold");
    assert_eq!(c.json["disabled"], false);

    let t = admin
        .post(
            "/admin/teams",
            json!({"id": "research", "name": "Research", "customer": "acme"}),
        )
        .await;
    assert_eq!(t.status, StatusCode::CREATED, "{}", t.text);
    assert_eq!(t.json["customer"], "acme");

    let k = admin
        .post(
            "/admin/keys",
            json!({"name": "ci", "team": "research", "models": ["gpt-4o"], "expires_at": "2030-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(k.status, StatusCode::CREATED, "{}", k.text);
    let plaintext = k.json["key"].as_str().expect("key").to_owned();
    assert!(plaintext.starts_with("sk-sluice-") && plaintext.len() == 53);
    let id = k.json["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("key_") && id.len() == 16, "{id}");
    assert_eq!(k.json["customer"], "acme", "inherited from the team");
    assert_eq!(k.json["expires_at"], 1_893_456_000);
    assert_eq!(k.json["models"], json!(["gpt-4o"]));
    assert!(
        k.json["display_prefix"]
            .as_str()
            .expect("prefix")
            .starts_with(&plaintext[..14])
    );
    assert!(k.json.get("key_hash").is_none());

    // Stored as its HMAC only.
    let stored = admin.store.get_key(&id).await.expect("stored");
    assert_eq!(
        stored.key_hash,
        KeyHasher::new(HMAC_SECRET).hash(&plaintext)
    );
    let found = admin
        .store
        .find_key_by_hash(&stored.key_hash)
        .await
        .expect("find");
    assert_eq!(found.map(|k| k.id), Some(id.clone()));

    // Neither plaintext nor hash appears again.
    for path in [
        "/admin/keys".to_owned(),
        "/admin/keys?team=research".to_owned(),
        "/admin/keys?customer=acme".to_owned(),
        format!("/admin/keys/{id}"),
    ] {
        let answer = admin.get(&path).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert!(!answer.text.contains(&plaintext), "{path}");
        assert!(!answer.text.contains(&plaintext[10..]), "{path}");
        assert!(!answer.text.contains(&stored.key_hash), "{path}");
        assert!(answer.text.contains(&id), "{path}");
    }
    let none = admin.get("/admin/keys?team=other").await;
    assert_eq!(none.json, json!([]));

    // A key with its own id, unix-seconds expiry, and a direct customer.
    let k2 = admin
        .post(
            "/admin/keys",
            json!({"id": "k2", "name": "direct", "customer": "acme", "expires_at": 1_900_000_000}),
        )
        .await;
    assert_eq!(k2.status, StatusCode::CREATED, "{}", k2.text);
    assert_eq!(k2.json["team"], Value::Null);
    assert_ne!(k2.json["key"], plaintext.as_str());

    // Lists and filters.
    assert_eq!(
        admin
            .get("/admin/customers")
            .await
            .json
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        admin
            .get("/admin/teams?customer=acme")
            .await
            .json
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        admin.get("/admin/teams?customer=nobody").await.json,
        json!([])
    );
    assert_eq!(
        admin.get("/admin/customers/acme").await.json["name"],
        "Acme"
    );
    assert_eq!(
        admin.get("/admin/teams/research").await.json["name"],
        "Research"
    );

    // Patch and disable.
    let p = admin
        .patch(
            "/admin/customers/acme",
            json!({"name": "Acme Corp", "metadata": null}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert_eq!(p.json["name"], "Acme Corp");
    assert_eq!(p.json["metadata"], Value::Null);
    let p = admin
        .patch("/admin/teams/research", json!({"name": "R&D"}))
        .await;
    assert_eq!(p.json["name"], "R&D");
    let p = admin
        .patch(
            &format!("/admin/keys/{id}"),
            json!({"name": "ci-2", "models": null, "providers": ["openai"], "expires_at": null}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert_eq!(p.json["name"], "ci-2");
    assert_eq!(p.json["models"], Value::Null);
    assert_eq!(p.json["providers"], json!(["openai"]));
    assert_eq!(p.json["expires_at"], Value::Null);
    assert!(!p.text.contains(&plaintext));

    let d = admin
        .post(&format!("/admin/keys/{id}/disable"), json!({}))
        .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.text);
    assert_eq!(d.json["disabled"], true);
    assert!(admin.store.get_key(&id).await.expect("key").disabled);
    let d = admin
        .call(Method::POST, "/admin/teams/research/disable", None)
        .await;
    assert_eq!(d.json["disabled"], true);
    let d = admin
        .call(Method::POST, "/admin/customers/acme/disable", None)
        .await;
    assert_eq!(d.json["disabled"], true);
    let p = admin
        .patch("/admin/customers/acme", json!({"disabled": false}))
        .await;
    assert_eq!(p.json["disabled"], false);
}

#[tokio::test]
async fn key_errors() {
    let admin = Admin::start().await;
    admin.seed(&["a", "b"], &[("t", "a")], &[]).await;

    let cases = [
        (json!({"name": "x", "team": "nope"}), "team"),
        (json!({"name": "x", "customer": "nope"}), "customer"),
        (
            json!({"name": "x", "team": "t", "customer": "b"}),
            "customer",
        ),
        (json!({"name": "x", "expires_at": "tomorrow"}), "expires_at"),
        (json!({"name": "x", "models": []}), "models"),
        (json!({"name": ""}), "name"),
        (json!({"id": "", "name": "x"}), "id"),
        (json!({"id": "a/b", "name": "x"}), "id"),
        (json!({"name": "x", "colour": "red"}), "colour"),
        (json!({"team": "t"}), "name"),
        (json!({"name": "x", "models": "gpt-4o"}), "models"),
    ];
    for (body, field) in cases {
        let answer = admin.post("/admin/keys", body.clone()).await;
        assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(message(&answer).contains(field), "{body}: {}", answer.text);
    }
    assert!(
        admin
            .store
            .list_keys(None, None)
            .await
            .expect("keys")
            .is_empty()
    );

    let unknown_team = admin
        .post("/admin/keys", json!({"name": "x", "team": "nope"}))
        .await;
    assert_eq!(unknown_team.json["error"]["code"], "unknown_parent");

    admin
        .post("/admin/keys", json!({"id": "dup", "name": "x"}))
        .await;
    let dup = admin
        .post("/admin/keys", json!({"id": "dup", "name": "y"}))
        .await;
    assert_error(&dup, StatusCode::CONFLICT);
    assert_eq!(dup.json["error"]["code"], "conflict");

    assert_error(
        &admin.get("/admin/keys/missing").await,
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &admin
            .patch("/admin/keys/missing", json!({"name": "z"}))
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &admin
            .call(Method::POST, "/admin/keys/missing/disable", None)
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &admin
            .patch("/admin/keys/dup", json!({"key_hash": "00"}))
            .await,
        StatusCode::BAD_REQUEST,
    );
}

#[tokio::test]
async fn a_key_moves_between_teams_and_customers() {
    let admin = Admin::start().await;
    admin
        .seed(
            &["a", "b"],
            &[("t", "a"), ("u", "b"), ("v", "a")],
            &[("k", "t")],
        )
        .await;
    let owners = |answer: &Answer| {
        (
            answer.json["team"].as_str().map(str::to_owned),
            answer.json["customer"].as_str().map(str::to_owned),
        )
    };
    let owned = |team: Option<&str>, customer: Option<&str>| {
        (team.map(str::to_owned), customer.map(str::to_owned))
    };
    // Another team: its customer comes along.
    let moved = admin.patch("/admin/keys/k", json!({"team": "u"})).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);
    assert_eq!(owners(&moved), owned(Some("u"), Some("b")));
    // Refused, and nothing changed: an unknown team, a customer the team contradicts.
    let unknown = admin.patch("/admin/keys/k", json!({"team": "nope"})).await;
    assert_error(&unknown, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.json["error"]["code"], "unknown_parent");
    let contradicts = admin.patch("/admin/keys/k", json!({"customer": "a"})).await;
    assert_error(&contradicts, StatusCode::BAD_REQUEST);
    assert!(
        message(&contradicts).contains("customer"),
        "{}",
        contradicts.text
    );
    assert_eq!(
        owners(&admin.get("/admin/keys/k").await),
        owned(Some("u"), Some("b"))
    );
    // Out of its team it keeps its customer, until told to leave that too.
    let alone = admin.patch("/admin/keys/k", json!({"team": null})).await;
    assert_eq!(owners(&alone), owned(None, Some("b")));
    let standalone = admin
        .patch("/admin/keys/k", json!({"customer": null}))
        .await;
    assert_eq!(owners(&standalone), owned(None, None));
    let both = admin
        .patch("/admin/keys/k", json!({"team": "v", "customer": "a"}))
        .await;
    assert_eq!(owners(&both), owned(Some("v"), Some("a")));
}

#[tokio::test]
async fn customer_and_team_errors() {
    let admin = Admin::start().await;
    assert_eq!(
        admin
            .post("/admin/customers", json!({"id": "a", "name": "A"}))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_error(
        &admin
            .post("/admin/customers", json!({"id": "a", "name": "again"}))
            .await,
        StatusCode::CONFLICT,
    );
    assert_error(
        &admin
            .post("/admin/customers", json!({"id": "", "name": "A"}))
            .await,
        StatusCode::BAD_REQUEST,
    );
    assert_error(
        &admin
            .post("/admin/customers", json!({"name": "no id"}))
            .await,
        StatusCode::BAD_REQUEST,
    );
    let unknown = admin
        .post(
            "/admin/teams",
            json!({"id": "t", "name": "T", "customer": "ghost"}),
        )
        .await;
    assert_error(&unknown, StatusCode::BAD_REQUEST);
    assert!(message(&unknown).contains("ghost"));
    assert_error(
        &admin.get("/admin/customers/ghost").await,
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &admin.get("/admin/teams/ghost").await,
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &admin
            .patch("/admin/customers/ghost", json!({"name": "G"}))
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &admin
            .call(Method::POST, "/admin/teams/ghost/disable", None)
            .await,
        StatusCode::NOT_FOUND,
    );
    admin
        .post("/admin/teams", json!({"id": "t", "name": "T"}))
        .await;
    let moved = admin
        .patch("/admin/teams/t", json!({"customer": "ghost"}))
        .await;
    assert_error(&moved, StatusCode::BAD_REQUEST);
    let moved = admin
        .patch("/admin/teams/t", json!({"customer": "a"}))
        .await;
    assert_eq!(moved.json["customer"], "a");
    let detached = admin
        .patch("/admin/teams/t", json!({"customer": null}))
        .await;
    assert_eq!(detached.json["customer"], Value::Null);
    assert_error(
        &admin.get("/admin/teams?colour=red").await,
        StatusCode::BAD_REQUEST,
    );
}

#[tokio::test]
async fn malformed_bodies_are_400_in_the_envelope() {
    let admin = Admin::start().await;
    for body in [
        "{",
        "",
        "[]",
        "null",
        "{\"id\": \"a\", \"name\": \"A\"} trailing",
        "{\"id\": 5, \"name\": \"A\"}",
    ] {
        let answer = admin
            .raw(Method::POST, "/admin/customers", Some(TOKEN), Some(body))
            .await;
        assert_error(&answer, StatusCode::BAD_REQUEST);
        assert_eq!(answer.headers["content-type"], "application/json");
    }
    let typed = admin
        .raw(
            Method::POST,
            "/admin/customers",
            Some(TOKEN),
            Some(r#"{"id": 5, "name": "A"}"#),
        )
        .await;
    assert_eq!(typed.json["error"]["param"], "id");
    // No content type at all is still read as JSON.
    let answer = admin
        .raw(
            Method::POST,
            "/admin/budgets",
            Some(TOKEN),
            Some("not json"),
        )
        .await;
    assert_error(&answer, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn budgets_at_every_level() {
    let admin = Admin::start().await;
    admin.seed(&["c"], &[("t", "c")], &[("k", "t")]).await;
    for (level, owner) in [
        ("customer", "c"),
        ("team", "t"),
        ("key", "k"),
        ("provider", "openai"),
    ] {
        let b = admin
            .post("/admin/budgets", json!({"id": format!("b-{level}"), "level": level, "owner": owner, "limit_usd": 12.5, "period": "1M"}))
            .await;
        assert_eq!(b.status, StatusCode::CREATED, "{level}: {}", b.text);
        assert_eq!(b.json["limit_usd"], 12.5);
        assert_eq!(b.json["period"], "1M");
        assert_eq!(b.json["alignment"], "calendar");
        assert_eq!(b.json["level"], level);
    }
    // Route targets carry no budgets yet: refused rather than stored and ignored.
    let target = admin
        .post(
            "/admin/budgets",
            json!({"level": "target", "owner": "chat/0", "limit_usd": 1, "period": "1d"}),
        )
        .await;
    assert_eq!(target.status, StatusCode::BAD_REQUEST, "{}", target.text);
    let stored = admin.store.get_budget("b-team").await.expect("budget");
    assert_eq!(stored.limit_nanos, 12_500_000_000);

    let rolling = admin
        .post("/admin/budgets", json!({"level": "key", "owner": "k", "limit_usd": 0.000001, "period": "1d", "alignment": "rolling"}))
        .await;
    assert_eq!(rolling.status, StatusCode::CREATED, "{}", rolling.text);
    assert!(rolling.json["id"].as_str().expect("id").starts_with("bud_"));
    let anchor = rolling.json["anchor"].as_i64().expect("anchor");
    assert!((sluice_store::sql::now_unix() - anchor).abs() < 60);
    assert_eq!(rolling.json["limit_usd"], 0.000001);

    let exact = admin
        .post("/admin/budgets", json!({"id": "exact", "level": "provider", "owner": "anthropic", "limit_usd": "$0.123456789", "period": "1Y"}))
        .await;
    assert_eq!(exact.status, StatusCode::CREATED, "{}", exact.text);
    assert_eq!(
        admin
            .store
            .get_budget("exact")
            .await
            .expect("budget")
            .limit_nanos,
        123_456_789
    );
    assert_eq!(
        admin
            .call(Method::DELETE, "/admin/budgets/exact", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );

    let cases = [
        (
            json!({"level": "team", "owner": "t", "limit_usd": "-0.01", "period": "1d"}),
            "limit_usd",
        ),
        (
            json!({"level": "team", "owner": "t", "limit_usd": 1e300, "period": "1d"}),
            "limit_usd",
        ),
        (
            json!({"level": "team", "owner": "t", "limit_usd": "1.0000000001", "period": "1d"}),
            "limit_usd",
        ),
        (
            json!({"level": "team", "owner": "t", "limit_usd": -1, "period": "1d"}),
            "limit_usd",
        ),
        (
            json!({"level": "team", "owner": "t", "limit_usd": 1, "period": "1 day"}),
            "period",
        ),
        (
            json!({"level": "team", "owner": "t", "limit_usd": 1, "period": "1d", "alignment": "lunar"}),
            "alignment",
        ),
        (
            json!({"level": "galaxy", "owner": "t", "limit_usd": 1, "period": "1d"}),
            "level",
        ),
        (
            json!({"level": "team", "owner": "ghost", "limit_usd": 1, "period": "1d"}),
            "ghost",
        ),
        (
            json!({"level": "customer", "owner": "ghost", "limit_usd": 1, "period": "1d"}),
            "ghost",
        ),
        (
            json!({"level": "key", "owner": "ghost", "limit_usd": 1, "period": "1d"}),
            "ghost",
        ),
        (
            json!({"level": "team", "owner": "", "limit_usd": 1, "period": "1d"}),
            "owner",
        ),
        (
            json!({"level": "team", "owner": "t", "limit_usd": 1, "period": "1d", "currency": "EUR"}),
            "currency",
        ),
        (
            json!({"level": "team", "owner": "t", "limit_usd": "ten", "period": "1d"}),
            "limit_usd",
        ),
        (
            json!({"level": "team", "owner": "t", "period": "1d"}),
            "limit_usd",
        ),
        (
            json!({"id": "", "level": "team", "owner": "t", "limit_usd": 1, "period": "1d"}),
            "id",
        ),
    ];
    for (body, field) in cases {
        let answer = admin.post("/admin/budgets", body.clone()).await;
        assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(message(&answer).contains(field), "{body}: {}", answer.text);
    }
    let dup = admin
        .post(
            "/admin/budgets",
            json!({"id": "b-team", "level": "team", "owner": "t", "limit_usd": 1, "period": "1d"}),
        )
        .await;
    assert_error(&dup, StatusCode::CONFLICT);

    // Filters.
    let all = admin.get("/admin/budgets").await;
    assert_eq!(all.json.as_array().map(Vec::len), Some(5));
    let keys = admin.get("/admin/budgets?level=key").await;
    assert_eq!(keys.json.as_array().map(Vec::len), Some(2));
    let one = admin.get("/admin/budgets?level=team&owner=t").await;
    assert_eq!(one.json.as_array().map(Vec::len), Some(1));
    let by_owner = admin.get("/admin/budgets?owner=openai").await;
    assert_eq!(by_owner.json[0]["id"], "b-provider");
    assert_error(
        &admin.get("/admin/budgets?level=galaxy").await,
        StatusCode::BAD_REQUEST,
    );

    // Get, patch, delete.
    assert_eq!(admin.get("/admin/budgets/b-key").await.json["owner"], "k");
    let p = admin
        .patch(
            "/admin/budgets/b-key",
            json!({"limit_usd": 3, "period": "1w", "alignment": "rolling"}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert_eq!(p.json["limit_usd"], 3.0);
    assert_eq!(p.json["period"], "1w");
    assert_eq!(p.json["alignment"], "rolling");
    assert_error(
        &admin
            .patch("/admin/budgets/b-key", json!({"limit_usd": -0.5}))
            .await,
        StatusCode::BAD_REQUEST,
    );
    assert_error(
        &admin
            .patch("/admin/budgets/b-key", json!({"period": "1y"}))
            .await,
        StatusCode::BAD_REQUEST,
    );
    assert_error(
        &admin
            .patch("/admin/budgets/b-key", json!({"level": "team"}))
            .await,
        StatusCode::BAD_REQUEST,
    );
    assert_error(
        &admin
            .patch("/admin/budgets/ghost", json!({"limit_usd": 1}))
            .await,
        StatusCode::NOT_FOUND,
    );
    let deleted = admin
        .call(Method::DELETE, "/admin/budgets/b-key", None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_error(
        &admin.get("/admin/budgets/b-key").await,
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &admin
            .call(Method::DELETE, "/admin/budgets/b-key", None)
            .await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test]
async fn rate_limits() {
    let admin = Admin::start().await;
    admin
        .post("/admin/teams", json!({"id": "t", "name": "T"}))
        .await;
    let l = admin
        .post(
            "/admin/limits",
            json!({"id": "l1", "level": "team", "owner": "t", "requests": 100, "tokens": 50000}),
        )
        .await;
    assert_eq!(l.status, StatusCode::CREATED, "{}", l.text);
    assert_eq!(l.json["window"], "1m");
    assert_eq!(l.json["window_secs"], 60);
    assert_eq!(l.json["requests"], 100);
    assert_eq!(l.json["concurrent"], Value::Null);

    let l2 = admin
        .post(
            "/admin/limits",
            json!({"level": "team", "owner": "t", "concurrent": 8, "window": "30s"}),
        )
        .await;
    assert_eq!(l2.status, StatusCode::CREATED, "{}", l2.text);
    assert!(l2.json["id"].as_str().expect("id").starts_with("lim_"));
    assert_eq!(l2.json["window_secs"], 30);
    // A provider's rate limits are its own: the gateway enforces callers' limits only.
    let provider = admin
        .post(
            "/admin/limits",
            json!({"level": "provider", "owner": "openai", "requests": 8}),
        )
        .await;
    assert_eq!(
        provider.status,
        StatusCode::BAD_REQUEST,
        "{}",
        provider.text
    );

    let cases = [
        (json!({"level": "team", "owner": "t"}), "requests"),
        (
            json!({"level": "team", "owner": "t", "requests": -1}),
            "requests",
        ),
        (
            json!({"level": "team", "owner": "t", "requests": 1, "window": "soon"}),
            "window",
        ),
        (
            json!({"level": "team", "owner": "t", "requests": 1, "window": "0s"}),
            "window",
        ),
        (
            json!({"level": "team", "owner": "ghost", "requests": 1}),
            "ghost",
        ),
        (
            json!({"level": "planet", "owner": "t", "requests": 1}),
            "level",
        ),
        (
            json!({"level": "team", "owner": "t", "requests": 1, "burst": 2}),
            "burst",
        ),
    ];
    for (body, field) in cases {
        let answer = admin.post("/admin/limits", body.clone()).await;
        assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(message(&answer).contains(field), "{body}: {}", answer.text);
    }
    assert_error(
        &admin
            .post(
                "/admin/limits",
                json!({"id": "l1", "level": "team", "owner": "t", "requests": 1}),
            )
            .await,
        StatusCode::CONFLICT,
    );

    assert_eq!(
        admin
            .get("/admin/limits")
            .await
            .json
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        admin.get("/admin/limits?level=team&owner=t").await.json[0]["id"],
        "l1"
    );
    assert_eq!(admin.get("/admin/limits/l1").await.json["tokens"], 50000);

    let p = admin
        .patch(
            "/admin/limits/l1",
            json!({"tokens": null, "window": "1h", "concurrent": 4}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text);
    assert_eq!(p.json["tokens"], Value::Null);
    assert_eq!(p.json["window"], "1h");
    assert_eq!(p.json["concurrent"], 4);
    let cleared = admin
        .patch(
            "/admin/limits/l1",
            json!({"requests": null, "concurrent": null}),
        )
        .await;
    assert_error(&cleared, StatusCode::BAD_REQUEST);
    assert_error(
        &admin
            .patch("/admin/limits/ghost", json!({"requests": 1}))
            .await,
        StatusCode::NOT_FOUND,
    );
    assert_eq!(
        admin
            .call(Method::DELETE, "/admin/limits/l1", None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_error(&admin.get("/admin/limits/l1").await, StatusCode::NOT_FOUND);
}

fn spend(
    day: &str,
    key: Option<&str>,
    model: &str,
    requests: i64,
    cost_nanos: i64,
) -> (SpendKey, SpendTotals) {
    (
        SpendKey {
            day: day.to_owned(),
            key_id: key.map(str::to_owned),
            team_id: None,
            customer_id: None,
            provider: "openai".to_owned(),
            model: model.to_owned(),
        },
        SpendTotals {
            requests,
            input_tokens: requests * 100,
            output_tokens: requests * 10,
            cached_input_tokens: requests,
            cost_nanos,
            saved_nanos: 1_000,
        },
    )
}

#[tokio::test]
async fn spend_reports() {
    let admin = Admin::start().await;
    let today = admin.get("/admin/spend").await;
    assert_eq!(today.status, StatusCode::OK, "{}", today.text);
    assert_eq!(today.json["group_by"], "day");
    assert_eq!(today.json["rows"], json!([]));
    let to = today.json["to"].as_str().expect("to").to_owned();

    let mut batch = SpendBatch::default();
    for (k, t) in [
        spend("2026-01-01", Some("k1"), "gpt-4o", 2, 1_500_000_000),
        spend("2026-01-01", Some("k2"), "gpt-4o-mini", 1, 250_000_000),
        spend("2026-01-02", Some("k1"), "gpt-4o-mini", 3, 750_000_000),
        spend("2026-01-02", None, "gpt-4o", 1, 500_000_000),
        spend(&to, Some("k1"), "gpt-4o", 1, 1_000_000_000),
    ] {
        batch.ledger.insert(k, t);
    }
    admin.store.apply_spend(&batch).await.expect("spend");

    let by_key = admin
        .get("/admin/spend?group_by=key&from=2026-01-01&to=2026-01-02")
        .await;
    assert_eq!(by_key.status, StatusCode::OK, "{}", by_key.text);
    assert_eq!(by_key.json["group_by"], "key");
    assert_eq!(
        by_key.json["rows"],
        json!([
            {"group": "", "requests": 1, "input_tokens": 100, "output_tokens": 10, "cached_input_tokens": 1, "cost_usd": 0.5, "saved_usd": 0.000001},
            {"group": "k1", "requests": 5, "input_tokens": 500, "output_tokens": 50, "cached_input_tokens": 5, "cost_usd": 2.25, "saved_usd": 0.000002},
            {"group": "k2", "requests": 1, "input_tokens": 100, "output_tokens": 10, "cached_input_tokens": 1, "cost_usd": 0.25, "saved_usd": 0.000001},
        ])
    );
    let by_model = admin
        .get("/admin/spend?group_by=model&from=2026-01-01&to=2026-01-02")
        .await;
    let rows: Vec<(String, i64)> = by_model.json["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["group"].as_str().unwrap_or_default().to_owned(),
                r["requests"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![("gpt-4o".to_owned(), 3), ("gpt-4o-mini".to_owned(), 4)]
    );
    let by_day = admin
        .get("/admin/spend?group_by=day&from=2026-01-02&to=2026-01-02")
        .await;
    assert_eq!(by_day.json["rows"][0]["group"], "2026-01-02");
    assert_eq!(by_day.json["rows"][0]["cost_usd"], 1.25);
    assert_eq!(by_day.json["rows"].as_array().map(Vec::len), Some(1));

    // The default range is the last 30 days: today's row only.
    let recent = admin.get("/admin/spend").await;
    assert_eq!(
        recent.json["rows"],
        json!([{"group": to, "requests": 1, "input_tokens": 100, "output_tokens": 10, "cached_input_tokens": 1, "cost_usd": 1.0, "saved_usd": 0.000001}])
    );
    let provider = admin.get("/admin/spend?group_by=provider").await;
    assert_eq!(provider.json["rows"][0]["group"], "openai");

    for bad in [
        "/admin/spend?group_by=colour",
        "/admin/spend?from=2026-13-01",
        "/admin/spend?from=yesterday",
        "/admin/spend?from=2026-01-03&to=2026-01-01",
        "/admin/spend?limit=5",
    ] {
        assert_error(&admin.get(bad).await, StatusCode::BAD_REQUEST);
    }
}

/// Every route in the OpenAPI document is served, and every served route is documented.
#[tokio::test]
async fn openapi_covers_every_route() {
    let admin = Admin::start().await;
    let doc = admin
        .raw(Method::GET, "/admin/openapi.json", None, None)
        .await;
    assert_eq!(doc.headers["content-type"], "application/json");
    let mut documented = BTreeSet::new();
    for (path, item) in doc.json["paths"].as_object().expect("paths") {
        for method in ["get", "post", "patch", "put", "delete"] {
            if item.get(method).is_some() {
                documented.insert((method.to_owned(), path.clone()));
            }
        }
    }
    let listed: BTreeSet<(String, String)> = ADMIN_ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, listed);
    // Each documented route is really served: the router answers it (an unmatched route
    // would be an empty 404 or 405), without a token with 401 unless it is the document.
    for (method, path) in &documented {
        let concrete = path.replace("{id}", "nothing-here");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let answer = admin.raw(method.clone(), &concrete, None, None).await;
        if path == "/admin/openapi.json" {
            assert_eq!(answer.status, StatusCode::OK);
        } else {
            assert_error(&answer, StatusCode::UNAUTHORIZED);
        }
        let body = if method == Method::POST || method == Method::PATCH {
            Some("{}")
        } else {
            None
        };
        let answer = admin
            .raw(method.clone(), &concrete, Some(TOKEN), body)
            .await;
        assert!(
            !answer.text.is_empty() || answer.status == StatusCode::NO_CONTENT,
            "{method} {path}: {}",
            answer.status
        );
        assert_ne!(
            answer.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
    }
    // Something undocumented is not served.
    let answer = admin
        .raw(Method::GET, "/admin/nothing", Some(TOKEN), None)
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.text.is_empty());
    let answer = admin
        .raw(Method::DELETE, "/admin/customers/x", Some(TOKEN), None)
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
}
