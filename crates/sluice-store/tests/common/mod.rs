//! Test harness: a fresh database or Redis prefix per test, cleaned up afterwards.
//!
//! PostgreSQL and Redis tests run when `SLUICE_TEST_POSTGRES_URL` /
//! `SLUICE_TEST_REDIS_URL` are set and print a "skipped: …" line otherwise, so a plain
//! `cargo test` passes on a bare machine.

#![allow(dead_code)]

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use sluice_store::{Counters, Store};

/// A name no other test (or earlier run) uses.
pub fn unique(tag: &str) -> String {
    format!(
        "sluice_test_{tag}_{}_{:08x}",
        std::process::id(),
        fastrand::u32(..)
    )
}

/// Runs `body` against a fresh SQLite file store; the file is removed afterwards.
pub async fn with_sqlite<F, Fut>(body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = std::env::temp_dir().join(unique("sqlite"));
    let url = format!("sqlite://{}/sluice.db", dir.display());
    let store = Store::connect(&url).await.expect("sqlite connect");
    let result = AssertUnwindSafe(body(store.clone())).catch_unwind().await;
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// `base` with its database name replaced by `db`.
pub fn with_database(base: &str, db: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let path_start = head[scheme_end..]
        .find('/')
        .map_or(head.len(), |i| scheme_end + i);
    let mut url = format!("{}/{db}", &head[..path_start]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// Runs `body` against a fresh PostgreSQL database, dropped afterwards; skips without
/// `SLUICE_TEST_POSTGRES_URL`.
pub async fn with_postgres<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let Ok(admin_url) = std::env::var("SLUICE_TEST_POSTGRES_URL") else {
        println!("skipped: {test} needs SLUICE_TEST_POSTGRES_URL");
        return;
    };
    sqlx::any::install_default_drivers();
    let db = unique("pg");
    let admin = sqlx::AnyPool::connect(&admin_url)
        .await
        .expect("connect to SLUICE_TEST_POSTGRES_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&admin)
        .await
        .expect("create test database");
    let store = Store::connect(&with_database(&admin_url, &db))
        .await
        .expect("postgres connect");
    let result = AssertUnwindSafe(body(store.clone())).catch_unwind().await;
    store.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .expect("drop test database");
    admin.close().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// The Redis URL for tests, or `None` (after printing why) when unset.
pub fn redis_url(test: &str) -> Option<String> {
    match std::env::var("SLUICE_TEST_REDIS_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            println!("skipped: {test} needs SLUICE_TEST_REDIS_URL");
            None
        }
    }
}

/// Deletes every key under `prefix`.
pub async fn redis_cleanup(url: &str, prefix: &str) {
    let client = redis::Client::open(url).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connect");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .expect("DEL");
    }
}

/// Runs `body` with Redis counters under a fresh prefix (a second constructor for more
/// instances on the same prefix), cleaned afterwards; skips without `SLUICE_TEST_REDIS_URL`.
pub async fn with_redis<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Counters, String, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(url) = redis_url(test) else {
        return;
    };
    let prefix = format!("{}:", unique("redis"));
    let counters = Counters::redis(&url, &prefix).await.expect("redis connect");
    let result = AssertUnwindSafe(body(counters, url.clone(), prefix.clone()))
        .catch_unwind()
        .await;
    redis_cleanup(&url, &prefix).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// One test per backend for each shared test function: SQLite always, PostgreSQL when
/// `SLUICE_TEST_POSTGRES_URL` is set (on two worker threads: the spend writer's
/// background task runs beside the test).
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::with_sqlite(|s| async move { super::$name(s).await }).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::common::with_postgres(
                        concat!("postgres::", stringify!($name)),
                        |s| async move { super::$name(s).await },
                    )
                    .await;
                }
            )+
        }
    };
}

/// Runs `task(i)` for `i` in `0..n` on as many spawned tasks at once, and returns what the
/// ones that won (returned `Some`) returned: for races against a limit.
pub async fn race<T, F, Fut>(n: usize, task: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Option<T>> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(task(i))).collect();
    let mut won = Vec::new();
    for task in tasks {
        won.extend(task.await.expect("task"));
    }
    won
}
