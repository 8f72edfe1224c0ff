//! `sluice keys …` against the admin API served in-process on loopback.

use std::process::{Command, Output};
use std::sync::Arc;

use sluice_core::Secret;
use sluice_gateway::{AdminState, admin_router};
use sluice_governance::keys::KeyHasher;
use sluice_store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_sluice");
const TOKEN: &str = "cli-admin-token";
const HMAC_SECRET: &[u8] = b"cli hmac secret";

struct Server {
    url: String,
    store: Store,
    db: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
    }
}

async fn start(name: &str) -> Server {
    let db = std::env::temp_dir().join(format!(
        "sluice-keys-cli-{name}-{}-{}.db",
        std::process::id(),
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
        let _ = axum_serve(listener, state).await;
    });
    Server {
        url: format!("http://{addr}"),
        store,
        db,
    }
}

async fn axum_serve(
    listener: tokio::net::TcpListener,
    state: Arc<AdminState>,
) -> std::io::Result<()> {
    // The binary's crate has no direct axum dependency; hyper-util serves the router.
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;
    let router = admin_router(state);
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Runs the binary off the runtime's threads, with a clean environment for our variables.
async fn sluice(args: &[&str], url: &str, token: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("SLUICE_ADMIN_TOKEN")
        .env("SLUICE_URL", url)
        .env("SLUICE_LOG", "off");
    if let Some(token) = token {
        command.env("SLUICE_ADMIN_TOKEN", token);
    }
    tokio::task::spawn_blocking(move || command.output().expect("run sluice"))
        .await
        .expect("join")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_disable() {
    let server = start("flow").await;
    let url = server.url.as_str();
    let out = sluice(
        &[
            "keys",
            "create",
            "--name",
            "ci",
            "--models",
            "gpt-4o,gpt-4o-mini",
            "--providers",
            "openai",
            "--expires",
            "2030-01-01T00:00:00Z",
            "--id",
            "ci-key",
        ],
        url,
        Some(TOKEN),
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    let key = printed
        .split_whitespace()
        .find(|w| w.starts_with("sk-sluice-"))
        .expect("key printed")
        .to_owned();
    assert!(printed.contains("will not be shown again"), "{printed}");
    let stored = server.store.get_key("ci-key").await.expect("stored");
    assert_eq!(stored.key_hash, KeyHasher::new(HMAC_SECRET).hash(&key));
    assert_eq!(
        stored.allowed_models,
        Some(vec!["gpt-4o".to_owned(), "gpt-4o-mini".to_owned()])
    );
    assert_eq!(stored.allowed_providers, Some(vec!["openai".to_owned()]));
    assert_eq!(stored.expires_at, Some(1_893_456_000));

    // A team key, with the token passed as a flag and the URL as a flag.
    let team = sluice_store::sql::Team {
        id: "ops".to_owned(),
        customer_id: None,
        name: "Ops".to_owned(),
        disabled: false,
        created_at: 0,
        source: sluice_store::sql::Source::Api,
    };
    server.store.create_team(&team).await.expect("team");
    let out = sluice(
        &[
            "keys",
            "--url",
            url,
            "--admin-token",
            TOKEN,
            "create",
            "--name",
            "deploy",
            "--team",
            "ops",
        ],
        "http://127.0.0.1:9",
        None,
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));

    let out = sluice(&["keys", "list"], url, Some(TOKEN)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("PREFIX") && lines[0].contains("EXPIRES")
    );
    assert!(
        table.contains("ci-key") && table.contains("2030-01-01T00:00:00Z"),
        "{table}"
    );
    assert!(table.contains(&stored.display_prefix), "{table}");
    assert!(!table.contains(&key), "the key itself is never listed");
    assert!(!table.contains(&stored.key_hash));

    let out = sluice(&["keys", "list", "--team", "ops"], url, Some(TOKEN)).await;
    let table = stdout(&out);
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(table.contains("deploy") && table.contains("ops"));

    let out = sluice(&["keys", "disable", "ci-key"], url, Some(TOKEN)).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("disabled key ci-key"));
    assert!(server.store.get_key("ci-key").await.expect("key").disabled);
    let out = sluice(&["keys", "list", "--team", "nobody"], url, Some(TOKEN)).await;
    assert_eq!(stdout(&out).lines().count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_exit_non_zero_with_the_message() {
    let server = start("errors").await;
    let url = server.url.as_str();

    let out = sluice(&["keys", "list"], url, Some("wrong-token")).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("401") && err.contains("admin token"), "{err}");
    assert!(!err.contains("wrong-token"), "the token is never printed");

    let out = sluice(&["keys", "list"], url, None).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("SLUICE_ADMIN_TOKEN"),
        "{}",
        stderr(&out)
    );

    let out = sluice(&["keys", "disable", "ghost"], url, Some(TOKEN)).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("ghost") && stderr(&out).contains("404"),
        "{}",
        stderr(&out)
    );

    let out = sluice(
        &["keys", "create", "--name", "x", "--team", "ghost"],
        url,
        Some(TOKEN),
    )
    .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("team `ghost` does not exist"),
        "{}",
        stderr(&out)
    );

    let out = sluice(
        &["keys", "create", "--name", "x", "--expires", "soon"],
        url,
        Some(TOKEN),
    )
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("expires_at"), "{}", stderr(&out));
    assert!(
        server
            .store
            .list_keys(None, None)
            .await
            .expect("keys")
            .is_empty()
    );

    let out = sluice(&["keys", "list"], "http://127.0.0.1:9", Some(TOKEN)).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot reach"), "{}", stderr(&out));
}
