//! Governance records and spend in SQLite or PostgreSQL, through one code path.
//!
//! # Why `sqlx::Any`
//!
//! Every query here is written once, with `$1`-style placeholders, and runs on both
//! backends through `sqlx::AnyPool`: PostgreSQL takes `$N` natively and sqlx's SQLite
//! driver maps `$N` to the N-th argument. The schema uses only types both sides share
//! (TEXT, BIGINT, BOOLEAN), and the upsert-add is `INSERT … ON CONFLICT … DO UPDATE`,
//! which both accept. An enum over two typed pools would have doubled every query
//! function (or needed a generic layer over `sqlx::Database` with many trait bounds) for
//! no gain at this size. What `Any` costs, and how this module copes:
//!
//! - decoding is limited to bool, integers, floats, text and bytes: JSON is stored as
//!   text, and `SUM(…)` (NUMERIC on PostgreSQL) is cast back to BIGINT;
//! - the Any driver cannot decode a SQLite BOOLEAN column, so `disabled` is selected as
//!   `CASE WHEN disabled THEN 1 ELSE 0 END` and read back as a boolean;
//! - connection options are set by URL and an `after_connect` hook (foreign keys, WAL)
//!   rather than typed option builders.
//!
//! Migrations are embedded with `include_str!` and run with sqlx's `Migrator` at
//! [`Store::connect`]; this avoids the `macros` feature (and its proc-macro build)
//! while keeping sqlx's migration bookkeeping (`_sqlx_migrations`, checksums, locking).

mod config;
mod crud;
mod records;
mod spend;

use std::borrow::Cow;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row, SqlStr};

pub use records::*;
pub use spend::SpendBatch;

use crate::StoreError;
use crate::error::redact_url;

/// The migrations, embedded in the binary. One SQL text serves both backends.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "governance",
    include_str!("../../migrations/0001_governance.sql"),
)];

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, a file or in memory.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The governance database: a pool plus the queries. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects to `url` and brings the schema up to date.
    ///
    /// Accepts `sqlite://path`, `sqlite:path`, `sqlite::memory:` and
    /// `postgres://…` / `postgresql://…`. A SQLite file (and its directory) is created if
    /// missing; a file runs in WAL mode; foreign keys are enforced on every SQLite
    /// connection. An in-memory database lives in a single, never-recycled connection,
    /// since each SQLite connection to `:memory:` is a separate database.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url, memory) = normalise_url(url)?;

        let mut options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
        options = match (backend, memory) {
            (Backend::Sqlite, true) => options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None),
            (Backend::Sqlite, false) => options.max_connections(4),
            (Backend::Postgres, _) => options.max_connections(10),
        };
        if backend == Backend::Sqlite {
            options = options.after_connect(move |conn, _meta| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    if !memory {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    conn.execute("PRAGMA busy_timeout = 5000").await?;
                    Ok(())
                })
            });
        }

        let pool = options.connect(&url).await.map_err(|e| match e {
            sqlx::Error::Configuration(_) => {
                StoreError::Invalid(format!("cannot parse database URL {}", redact_url(&url)))
            }
            other => {
                let mapped = StoreError::from(other);
                match mapped {
                    StoreError::Unavailable(why) => StoreError::Unavailable(format!(
                        "cannot connect to {}: {why}",
                        redact_url(&url)
                    )),
                    m => m,
                }
            }
        })?;

        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrations = MIGRATIONS
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    false,
                )
            })
            .collect();
        let migrator = Migrator::with_migrations(migrations);
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The backend this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool, for maintenance and tests. Queries belong in this module.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool; later calls fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Splits a URL into backend, the URL to hand to sqlx, and whether it is in memory.
fn normalise_url(url: &str) -> Result<(Backend, String, bool), StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_owned(), false));
    }
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return Err(StoreError::Invalid(format!(
            "unsupported database URL {} (expected sqlite: or postgres://)",
            redact_url(url)
        )));
    };
    let memory = rest.starts_with(":memory:") || url.contains("mode=memory");
    if memory {
        return Ok((Backend::Sqlite, url.to_owned(), true));
    }
    let path_and_query = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    if path.is_empty() {
        return Err(StoreError::Invalid("sqlite URL without a path".to_owned()));
    }
    // Create the directory now (start-up, once); `mode=rwc` creates the file itself.
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::Invalid(format!("cannot create directory {}: {e}", parent.display()))
        })?;
    }
    let url = match query {
        Some(q) if q.split('&').any(|p| p.starts_with("mode=")) => url.to_owned(),
        Some(_) => format!("{url}&mode=rwc"),
        None => format!("{url}?mode=rwc"),
    };
    Ok((Backend::Sqlite, url, false))
}

/// A bind value for queries built at run time (partial updates).
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
}

pub(crate) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    vals: Vec<Val>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for v in vals {
        query = match v {
            Val::Text(t) => query.bind(t),
            Val::Int(i) => query.bind(i),
            Val::Bool(b) => query.bind(b),
        };
    }
    query
}

/// Reads a boolean selected as an integer (see the `*_SELECT` lists in `crud`), or a
/// native boolean should a query return one.
pub(crate) fn get_bool(row: &AnyRow, col: &str) -> Result<bool, StoreError> {
    match row.try_get::<i64, _>(col) {
        Ok(i) => Ok(i != 0),
        Err(_) => Ok(row.try_get::<bool, _>(col)?),
    }
}

/// Reads an optional JSON text column.
pub(crate) fn get_json<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    col: &str,
) -> Result<Option<T>, StoreError> {
    match row.try_get::<Option<String>, _>(col)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Invalid(format!("column {col} holds invalid JSON: {e}"))),
    }
}

/// Serialises an optional value to JSON text for a column.
pub(crate) fn to_json<T: serde::Serialize>(
    value: Option<&T>,
) -> Result<Option<String>, StoreError> {
    value
        .map(|v| serde_json::to_string(v).map_err(|e| StoreError::Invalid(format!("JSON: {e}"))))
        .transpose()
}

/// Now, in unix seconds: a convenience for callers filling `created_at`.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = std::env::temp_dir();
        let path = dir.join("sluice-normalise-test.db");
        let url = format!("sqlite://{}", path.display());
        let (b, u, m) = normalise_url(&url).unwrap();
        assert_eq!(b, Backend::Sqlite);
        assert!(!m);
        assert_eq!(u, format!("{url}?mode=rwc"));
        let (_, u, _) = normalise_url(&format!("{url}?mode=ro")).unwrap();
        assert_eq!(u, format!("{url}?mode=ro"));
        let (_, _, m) = normalise_url("sqlite::memory:").unwrap();
        assert!(m);
        assert!(matches!(
            normalise_url("mysql://u:secret@h/db"),
            Err(StoreError::Invalid(msg)) if !msg.contains("secret")
        ));
    }
}
