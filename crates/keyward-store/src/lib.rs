//! keyward's persistent store.
//!
//! Everything keyward remembers goes through [`Store`]: identity (users, projects, environments,
//! permissions, access tokens), secrets (certificates, JWKs) and the deployment record. Each public
//! mutation runs in exactly one transaction, so a failure leaves nothing half-written.
//!
//! Two backends share one code path through sqlx's `Any` driver: the embedded default, SQLite
//! (WAL, foreign keys on; writes through a single connection so that read-then-write transactions
//! never race, reads through a separate read-only pool), and PostgreSQL for several nodes (one
//! pool; races are settled by unique constraints and row locks). The SQL is portable: TEXT ids,
//! integer unix-ms times, integer 0/1 booleans, `$n` placeholders in ascending order of first use,
//! `ON CONFLICT`, `RETURNING`. Each backend has its own migration folder with the same schema.

mod audit;
mod cache;
mod certificates;
mod copy;
mod deploy;
mod identity;
mod jwks;
mod keys;
mod keystores;
mod model;
mod publish;
pub mod seal;
mod sealing;
mod sources;

use std::path::Path;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::Executor;
use sqlx::any::AnyPoolOptions;

type AnyPool = sqlx::Pool<sqlx::Any>;

pub use audit::{
    AuditBreak, AuditEntry, AuditFilter, AuditRecord, AuditVerdict,
    HEAD_SETTING as AUDIT_HEAD_SETTING,
};
pub use cache::{SHARED_READ_TTL, TOPIC as READS_TOPIC};
pub use certificates::CertificateMerge;
pub use copy::TableCount;
pub use deploy::{DeploymentPlan, EnvDeployment, KIND_CERTIFICATE, KIND_JWK};
pub use identity::{
    Bootstrap, EnvironmentContents, Membership, ProjectContents, TokenInfo, UserChange, UserRefusal,
};
pub use jwks::{has_private_members, public_members};
pub use model::*;
pub use publish::{AgentRecord, PublishedJwks};
pub use seal::{Kek, KeyError, Keyring, SealError};
pub use sealing::{KeyCheck, RekeyReport};
pub use sources::{KIND_KEY, KIND_KEYSTORE, Rederived, SourceJwks};

/// Why a store operation did not happen. Nothing was written when one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named object does not exist.
    #[error("not found")]
    NotFound,
    /// An object with the same unique name already exists.
    #[error("already exists")]
    AlreadyExists,
    /// The object changed since the caller read it (a partial update built on an old state).
    #[error("changed concurrently")]
    Conflict,
    /// A source or the JWKs derived from it changed after the caller read them to re-derive
    /// the JWKs (`Rederived`): read and derive again.
    #[error("JWK source changed during re-derivation")]
    SourceChanged,
    /// The JWK's kid is already used by another JWK of the project (named here) in an environment
    /// both are deployed to.
    #[error("kid {kid} is already used by JWK {jwk}")]
    KidTaken { kid: String, jwk: String },
    /// The certificate alias is already used in that environment.
    #[error("alias {0} is already used in that environment")]
    AliasInUse(String),
    /// A cascade computed by the caller refused the change, or the request cannot be served; the
    /// message is for the user.
    #[error("{0}")]
    Rejected(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A sealed record could not be opened (or the store has no master key).
    #[error("encrypted record: {0}")]
    Sealed(#[from] SealError),
    /// The master key given is not the one this store's data is sealed under.
    #[error("the master key does not match the store (its data is sealed under key id {expected})")]
    WrongMasterKey {
        /// The key id (not the key) the store expects.
        expected: String,
    },
    /// After a rekey, records are still sealed under an old master key (a node whose primary key
    /// is the old one wrote them meanwhile).
    #[error("{0} records are still sealed under an old master key")]
    RekeyIncomplete(u64),
    /// A rotation to another new master key is under way.
    #[error("a rotation to master key {pending} is under way")]
    RotationPending {
        /// The key id the unfinished rotation moves to.
        pending: String,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

type Db = sqlx::Any;
type Tx = sqlx::Transaction<'static, Db>;

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: one file, one process.
    Sqlite,
    /// Shared by several keyward nodes.
    Postgres,
}

/// Pool settings of a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections to PostgreSQL per node (SQLite: most reader connections).
    pub max_connections: u32,
    /// How long to wait for a free connection.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> StoreOptions {
        StoreOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
    url: String,
    /// The master keys records are sealed with; set by [`Store::unlock`].
    keyring: Option<Arc<Keyring>>,
    /// The audit chain's MAC key, read (and created) on first use; see `audit.rs`.
    audit_key: Arc<std::sync::OnceLock<zeroize::Zeroizing<[u8; 32]>>>,
    /// Woken when a record is staged for the audit sequencer (PostgreSQL; see `audit.rs`).
    audit_pending: Arc<tokio::sync::Notify>,
    /// This node's cache of projects and JWKs (`cache.rs`).
    reads: Arc<cache::ReadCache>,
    /// Who hears other nodes' announcements (`Store::watch`).
    changes: Arc<Changes>,
}

static DRIVERS: Once = Once::new();

/// The files of an SQLite database: the database, its WAL, its shared-memory index and its
/// rollback journal (<https://sqlite.org/tempfiles.html>).
const SQLITE_SUFFIXES: [&str; 4] = ["", "-wal", "-shm", "-journal"];

/// Creates the SQLite database file with mode 0600 when it does not exist yet (SQLite then gives
/// its `-wal`, `-shm` and journal files the same mode), and tightens to 0600 those of an existing
/// store that others can read or write, with an info log line for each. Not Unix: nothing to do.
fn restrict_sqlite_files(db: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let io = |what: &str, file: &Path, e: std::io::Error| {
            StoreError::Rejected(format!("cannot {what} {}: {e}", file.display()))
        };
        if !db.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(db)
                .map_err(|e| io("create", db, e))?;
        }
        for suffix in SQLITE_SUFFIXES {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            let file = Path::new(&name);
            let Ok(meta) = std::fs::metadata(file) else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| io("restrict the permissions of", file, e))?;
                tracing::info!(
                    "tightened the permissions of {} from {mode:04o} to 0600",
                    file.display()
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db;
    Ok(())
}

/// SQLite settings applied to every connection (WAL itself is persistent, set once by the writer).
const SQLITE_PRAGMAS: &str =
    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;";

impl Store {
    /// Opens (creating if needed) the embedded SQLite database at `path` and applies migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        Self::open(
            &format!("sqlite://{}", path.display()),
            &StoreOptions::default(),
        )
        .await
    }

    /// Opens a store from a URL — `sqlite://path/to/file.db` or `postgres://user:pw@host/db`
    /// (TLS with `?sslmode=require` or `verify-full`) — and applies its migrations. Secrets can be
    /// read or written only after [`Store::unlock`] gave it its master keys; until then such
    /// calls fail with [`SealError::NoKey`] (migrations and `store copy` need no key).
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Store> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = AnyPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect(url)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            let store = Store {
                read: pool.clone(),
                write: pool,
                backend: Backend::Postgres,
                url: url.to_owned(),
                keyring: None,
                audit_key: Arc::default(),
                audit_pending: Arc::default(),
                reads: Arc::new(cache::ReadCache::new(true)),
                changes: Arc::default(),
            };
            store.init_audit_head().await?;
            return Ok(store);
        }
        let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        else {
            return Err(StoreError::Rejected(format!(
                "unsupported database URL (expected sqlite://… or postgres://…): {}",
                redact(url)
            )));
        };
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() || path.contains(":memory:") {
            return Err(StoreError::Rejected(
                "an SQLite store needs a file path".into(),
            ));
        }
        // Password hashes, the audit trail and sealed secrets: the owner's only (SECURITY.md).
        restrict_sqlite_files(Path::new(path))?;
        // One writer connection, so read-then-write transactions never race; several readers.
        let write = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .after_connect(|conn, _| {
                Box::pin(async move { conn.execute(SQLITE_PRAGMAS).await.map(|_| ()) })
            })
            .connect(&format!("sqlite://{path}?mode=rwc"))
            .await?;
        write.execute("PRAGMA journal_mode = WAL;").await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .after_connect(|conn, _| {
                Box::pin(async move { conn.execute(SQLITE_PRAGMAS).await.map(|_| ()) })
            })
            .connect(&format!("sqlite://{path}?mode=ro"))
            .await?;
        let store = Store {
            read,
            write,
            backend: Backend::Sqlite,
            url: url.to_owned(),
            keyring: None,
            audit_key: Arc::default(),
            audit_pending: Arc::default(),
            reads: Arc::new(cache::ReadCache::new(false)),
            changes: Arc::default(),
        };
        store.init_audit_head().await?;
        // SQLite gives `-wal` and `-shm` the database file's mode; check again all the same.
        restrict_sqlite_files(Path::new(path))?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL this store was opened with, password removed (for logs).
    pub fn display_url(&self) -> String {
        redact(&self.url)
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

    /// Returns the value of a plain (not secret) setting, creating it with `init()` first if it
    /// is absent. Safe when several nodes start at once: the first insert wins and everyone reads
    /// it back. Secret settings use `sealed_setting_or_init`.
    pub(crate) async fn setting_or_init(
        &self,
        key: &str,
        init: impl FnOnce() -> Vec<u8>,
    ) -> Result<Vec<u8>> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(init())
        .execute(&self.write)
        .await?;
        let (value,): (Vec<u8>,) = sqlx::query_as("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(&self.write)
            .await?;
        Ok(value)
    }
}

/// A database URL without its password.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _password)) => {
                    format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
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

/// The channel on which nodes sharing a PostgreSQL store tell each other that cached state
/// changed. The payload names what changed (`identity`, `deploy`, `reads`), or `*` after a lost
/// connection.
pub const CHANGES_CHANNEL: &str = "keyward_changes";

/// A callback of [`Store::watch`].
type OnChange = Arc<dyn Fn(&str) + Send + Sync>;

/// The callbacks of [`Store::watch`], served by one listening connection per process.
#[derive(Default)]
struct Changes {
    subscribers: std::sync::RwLock<Vec<OnChange>>,
    started: std::sync::atomic::AtomicBool,
}

impl Store {
    /// Tells every node sharing this store that `topic` changed (PostgreSQL `NOTIFY`; nothing to
    /// do on SQLite, where one process owns the store).
    pub async fn announce(&self, topic: &str) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANGES_CHANNEL)
                .bind(topic)
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }

    /// A project or JWK row changed or went away: forgets this node's cached reads at once, then
    /// tells the other nodes sharing the store (`cache.rs`). Every mutation that changes or
    /// deletes such a row calls it after its commit, before it returns; a failed announcement is
    /// logged (the change is committed; other nodes' entries expire within
    /// [`SHARED_READ_TTL`]).
    pub(crate) async fn reads_changed(&self) {
        self.reads.invalidate();
        if let Err(e) = self.announce(cache::TOPIC).await {
            tracing::warn!(error = %e, "cannot announce a change of projects or JWKs to other nodes");
        }
    }

    /// Calls `on_change(topic)` for every announcement of any node (PostgreSQL `LISTEN`), and with
    /// `*` whenever the listening connection was (re)established, since announcements may have
    /// been missed. Returns at once. The first call starts this process's one listening
    /// connection, which runs until the process ends and also keeps the store's own cache of
    /// projects and JWKs current (a shared store caches them only while it listens). No-op on
    /// SQLite.
    pub fn watch(&self, on_change: impl Fn(&str) + Send + Sync + 'static) {
        if self.backend != Backend::Postgres {
            return;
        }
        if let Ok(mut subscribers) = self.changes.subscribers.write() {
            subscribers.push(Arc::new(on_change));
        }
        if self
            .changes
            .started
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let url = self.url.clone();
        let (reads, changes) = (self.reads.clone(), self.changes.clone());
        let dispatch = move |topic: &str| {
            reads.heard(topic);
            let subscribers = changes
                .subscribers
                .read()
                .map(|s| s.clone())
                .unwrap_or_default();
            for s in subscribers {
                s(topic);
            }
        };
        let reads = self.reads.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match sqlx::postgres::PgListener::connect(&url).await {
                    Ok(mut listener) => {
                        if let Err(e) = listener.listen(CHANGES_CHANNEL).await {
                            tracing::warn!(error = %e, "cannot LISTEN for changes");
                        } else {
                            backoff = Duration::from_millis(100);
                            reads.set_listening(true);
                            // Anything may have changed while nobody listened.
                            dispatch("*");
                            loop {
                                match listener.try_recv().await {
                                    Ok(Some(n)) => dispatch(n.payload()),
                                    Ok(None) => {
                                        tracing::warn!(
                                            "change listener lost its connection; reconnecting"
                                        );
                                        break;
                                    }
                                    Err(e) => {
                                        tracing::warn!(error = %e, "change listener failed; reconnecting");
                                        break;
                                    }
                                }
                            }
                            // Until listening again, nothing is cached and nothing cached is
                            // trusted.
                            reads.set_listening(false);
                            dispatch("*");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot connect the change listener"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
    }
}

/// An audit record for unit tests' mutations.
#[cfg(test)]
pub(crate) fn test_audit() -> AuditEntry {
    AuditEntry::system("test", "test", "test")
}

/// A store with a random master key, for unit tests.
#[cfg(test)]
pub(crate) async fn test_store(path: &Path) -> Store {
    let store = Store::open_sqlite(path).await.unwrap();
    let (kek, _) = Kek::generate();
    store.unlock(Keyring::new(kek, Vec::new())).await.unwrap().0
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact("postgres://kw:s3cret@db:5432/kw"),
            "postgres://kw:***@db:5432/kw"
        );
        assert_eq!(redact("postgres://kw@db/kw"), "postgres://kw@db/kw");
        assert_eq!(
            redact("sqlite:///var/lib/keyward.db"),
            "sqlite:///var/lib/keyward.db"
        );
    }
}
