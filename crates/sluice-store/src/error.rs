//! One error type for every backend, shaped by what the caller can do about it.
//!
//! The gateway does not care whether SQLite or PostgreSQL refused a row; it cares whether
//! the row already exists (`Conflict` → 409), names a parent that does not exist
//! (`UnknownParent` → 422), is missing (`NotFound` → 404), or whether the backend is down
//! (`Unavailable` → fail open or closed, the gateway decides).

/// An error from the store.
///
/// Messages never contain a connection URL's password: every URL that reaches an error
/// goes through [`redact_url`] first.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same primary key or unique value (such as a key hash) exists.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A foreign key names a parent (customer, team) that does not exist.
    #[error("unknown parent: {0}")]
    UnknownParent(String),
    /// The record asked for does not exist.
    #[error("{what} not found: {id}")]
    NotFound {
        /// The kind of record: "customer", "team", "key", "budget", "rate limit".
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The backend cannot be reached (connection refused, dropped, timed out, pool closed).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The input or configuration is not acceptable (bad URL scheme, a value out of range,
    /// a check constraint).
    #[error("invalid: {0}")]
    Invalid(String),
    /// Any other SQL error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Any other Redis error (a script error, an unexpected reply).
    #[error("redis error: {0}")]
    Redis(#[source] redis::RedisError),
}

impl StoreError {
    /// True when the backend could not be reached; worth retrying later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match err {
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => StoreError::Conflict(db.message().to_owned()),
                ErrorKind::ForeignKeyViolation => {
                    StoreError::UnknownParent(db.message().to_owned())
                }
                ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                    StoreError::Invalid(db.message().to_owned())
                }
                _ => StoreError::Database(sqlx::Error::Database(db)),
            },
            sqlx::Error::RowNotFound => StoreError::NotFound {
                what: "row",
                id: String::new(),
            },
            // Configuration errors may quote the URL they failed to parse: say less.
            sqlx::Error::Configuration(_) => {
                StoreError::Invalid("database configuration rejected".to_owned())
            }
            sqlx::Error::Io(e) => StoreError::Unavailable(format!("i/o: {e}")),
            sqlx::Error::Tls(e) => StoreError::Unavailable(format!("tls: {e}")),
            sqlx::Error::PoolTimedOut => {
                StoreError::Unavailable("timed out waiting for a connection".to_owned())
            }
            sqlx::Error::PoolClosed => StoreError::Unavailable("pool closed".to_owned()),
            sqlx::Error::WorkerCrashed => {
                StoreError::Unavailable("database worker crashed".to_owned())
            }
            other => StoreError::Database(other),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        match err {
            sqlx::migrate::MigrateError::Execute(e) => e.into(),
            other => StoreError::Invalid(format!("migration: {other}")),
        }
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(err: redis::RedisError) -> Self {
        if err.is_io_error()
            || err.is_connection_refusal()
            || err.is_connection_dropped()
            || err.is_timeout()
            || err.is_unrecoverable_error()
        {
            // The redis error text may name the address, never the password; keep the
            // first line only.
            let text = err.to_string();
            let first_line = text.lines().next().unwrap_or("error");
            StoreError::Unavailable(format!("redis: {first_line}"))
        } else {
            StoreError::Redis(err)
        }
    }
}

/// The URL with the password in its userinfo (and any `password=` query parameter)
/// replaced by `***`, for logs and error messages.
///
/// `postgres://app:s3cret@db:5432/sluice` becomes `postgres://app:***@db:5432/sluice`.
pub fn redact_url(url: &str) -> String {
    let mut out = match url.find("://") {
        Some(scheme_end) => {
            let rest_start = scheme_end + 3;
            let rest = &url[rest_start..];
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let authority = &rest[..authority_end];
            match authority.rfind('@') {
                Some(at) => {
                    let userinfo = &authority[..at];
                    let user = match userinfo.find(':') {
                        Some(colon) => format!("{}:***", &userinfo[..colon]),
                        None => userinfo.to_owned(),
                    };
                    format!(
                        "{}{}{}",
                        &url[..rest_start],
                        user,
                        &rest[at..] // from '@' on
                    )
                }
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    };
    // `?password=...` / `&password=...` in the query string.
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", redacted.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_userinfo_password() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/sluice"),
            "postgres://app:***@db:5432/sluice"
        );
        assert_eq!(
            redact_url("redis://:pw@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact_url("postgres://app@db/sluice"),
            "postgres://app@db/sluice"
        );
        assert_eq!(
            redact_url("postgres://db/sluice?user=a&password=x&sslmode=require"),
            "postgres://db/sluice?user=a&password=***&sslmode=require"
        );
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }
}
