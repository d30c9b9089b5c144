//! keyward's persistent store.
//!
//! Everything keyward remembers goes through [`Store`]: identity (users, projects, environments,
//! permissions, access tokens), secrets (certificates, JWKs) and the deployment record. Each public
//! mutation runs in exactly one transaction, so a failure leaves nothing half-written.
//!
//! The default backend is an embedded SQLite database (WAL, foreign keys on). Writes go through a
//! single-connection pool so that read-then-write transactions never race; reads use a separate
//! pool. The SQL is kept portable (TEXT ids, INTEGER unix-ms times, `$n` placeholders in ascending
//! order of first use) so that a PostgreSQL backend can reuse it.

mod certificates;
mod deploy;
mod identity;
mod jwks;
mod model;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use certificates::Rederive;
pub use deploy::{DeploymentPlan, EnvDeployment, KIND_CERTIFICATE, KIND_JWK};
pub use identity::Bootstrap;
pub use model::*;

/// Why a store operation did not happen. Nothing was written when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named object does not exist.
    #[error("not found")]
    NotFound,
    /// An object with the same unique name already exists.
    #[error("already exists")]
    AlreadyExists,
    /// The certificate alias is already used in that environment.
    #[error("alias {0} is already used in that environment")]
    AliasInUse(String),
    /// A cascade computed by the caller refused the change; the message is for the user.
    #[error("{0}")]
    Rejected(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

type Db = sqlx::Sqlite;
type Tx = sqlx::Transaction<'static, Db>;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    read: SqlitePool,
    write: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the embedded SQLite database at `path` and applies migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::open_with(options).await
    }

    /// Opens a store from a URL: `sqlite://path/to/file.db` (or `sqlite::memory:` for tests).
    pub async fn open_url(url: &str) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Err(StoreError::Rejected(
                "PostgreSQL is not supported by this build yet; use the embedded SQLite store"
                    .into(),
            ));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        Self::open_with(options).await
    }

    async fn open_with(options: SqliteConnectOptions) -> Result<Store> {
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Store { read, write })
    }

    /// Succeeds when the database answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Closes both pools, waiting for in-flight queries.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    async fn begin(&self) -> Result<Tx> {
        Ok(self.write.begin().await?)
    }

    /// Returns the value of a setting, creating it with `init()` first if it is absent.
    pub async fn setting_or_init(
        &self,
        key: &str,
        init: impl FnOnce() -> Vec<u8>,
    ) -> Result<Vec<u8>> {
        let mut tx = self.begin().await?;
        let existing: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT value FROM settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
        let value = match existing {
            Some((v,)) => v,
            None => {
                let v = init();
                sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2)")
                    .bind(key)
                    .bind(&v)
                    .execute(&mut *tx)
                    .await?;
                v
            }
        };
        tx.commit().await?;
        Ok(value)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000_000) as i64
}

/// A fresh, time-ordered identifier.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Maps a unique-constraint violation to [`StoreError::AlreadyExists`].
fn unique_to_exists(e: sqlx::Error) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::AlreadyExists
    } else {
        StoreError::Database(e)
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
