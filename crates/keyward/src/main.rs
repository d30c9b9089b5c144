//! `keyward`: the command line. Thin glue over `keyward-http` and `keyward-store`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use keyward_http::auth::{Auth, hash_password, new_token, random_bytes};
use keyward_http::{AppState, Config};
use keyward_store::{Bootstrap, Kek, KeyCheck, Keyring, Store, StoreError, StoreOptions};

mod agent;

/// mimalloc instead of the system allocator: a request allocates many small short-lived
/// buffers from several threads, where glibc's malloc spends measurable time on its locks
/// (BENCHMARKS.md, issue #6).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "Keys & secrets manager for API gateways"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve(Box<ServeArgs>),
    /// Apply the store's migrations and exit (`serve` also applies them at start).
    Migrate(StoreArgs),
    /// Store maintenance.
    #[command(subcommand)]
    Store(StoreCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Rotate the master key: re-wrap every record's data key under the primary key, then mark
    /// the rotation done. With `KEYWARD_MASTER_KEY` (the new key) and
    /// `KEYWARD_PREVIOUS_MASTER_KEYS` (the old one) it runs beside servers started with the same
    /// keys; on the embedded store without them it replaces the key file `master.key` by a new
    /// one (stop the server first). Resumable: run it again after an interruption.
    Rekey(RekeyArgs),
    /// Follow one environment and write what is deployed there into a directory (docs/agent.md).
    Agent(Box<agent::AgentArgs>),
    /// Print a shell completion script, e.g. `keyward completions bash > /etc/bash_completion.d/keyward`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `keyward man | man -l -`.
    Man,
}

#[derive(Args)]
struct RekeyArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// Records re-wrapped per transaction.
    #[arg(long, env = "KEYWARD_REKEY_BATCH", default_value_t = 500)]
    batch: usize,
}

/// The master key that seals every secret at rest (see SECURITY.md).
#[derive(Args)]
struct KeyArgs {
    /// The master key: base64 of 32 random bytes (e.g. `openssl rand -base64 32`); prefer the
    /// environment variable or `--master-key-file` to keep it off the command line. Default for the
    /// embedded store: the key file `master.key` beside the database, created at first start.
    /// Required with PostgreSQL (the same key on every node).
    #[arg(long, env = "KEYWARD_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    /// A file holding the master key (base64), e.g. a mounted secret.
    #[arg(long, env = "KEYWARD_MASTER_KEY_FILE", conflicts_with = "master_key")]
    master_key_file: Option<PathBuf>,
    /// During a rotation: the old master key(s), comma-separated, which still open records not yet
    /// re-wrapped by `keyward rekey`.
    #[arg(
        long,
        env = "KEYWARD_PREVIOUS_MASTER_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    previous_master_keys: Vec<String>,
}

/// The embedded store's key file, beside the database.
const KEY_FILE: &str = "master.key";
/// During an embedded rotation: the old key file, kept until `keyward rekey` is done.
const PREVIOUS_KEY_FILE: &str = "master.key.previous";
/// During an embedded rotation: the new key, written before it replaces `master.key`.
const NEW_KEY_FILE: &str = "master.key.new";

fn parse_key(text: &str, what: &str) -> anyhow::Result<Kek> {
    Kek::from_base64(text).map_err(|e| {
        anyhow::anyhow!(
            "{what} is not a usable master key: {e} (expected base64 of 32 random bytes, e.g. from \
             `openssl rand -base64 32`)"
        )
    })
}

fn read_key_file(path: &std::path::Path) -> anyhow::Result<Kek> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the master key file {}", path.display()))?,
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                "the master key file {} can be read by other users; chmod 600 it",
                path.display()
            );
        }
    }
    parse_key(&text, &format!("the key file {}", path.display()))
}

/// Creates the data directory with mode 0700, or tightens an existing one that others can enter
/// (with an info log line): it holds the database and the master key file (SECURITY.md).
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .with_context(|| format!("cannot read the data directory {}", dir.display()))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).with_context(
                || {
                    format!(
                        "cannot restrict the data directory {} to 0700",
                        dir.display()
                    )
                },
            )?;
            tracing::info!(
                "tightened the permissions of the data directory {} from {mode:04o} to 0700",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Writes a new key file readable by its owner only (mode 0600), synced to disk.
fn write_key_file(path: &std::path::Path, text: &str, create_new: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create the master key file {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    sync_dir(path);
    Ok(())
}

/// Makes a new or renamed directory entry durable (best effort).
fn sync_dir(path: &std::path::Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

impl KeyArgs {
    fn given(&self) -> bool {
        self.master_key.is_some() || self.master_key_file.is_some()
    }

    fn previous(&self) -> anyhow::Result<Vec<Kek>> {
        self.previous_master_keys
            .iter()
            .filter(|k| !k.trim().is_empty())
            .enumerate()
            .map(|(i, k)| parse_key(k, &format!("KEYWARD_PREVIOUS_MASTER_KEYS entry {}", i + 1)))
            .collect()
    }

    /// The primary key given by flag, environment or key file, if any.
    fn primary(&self) -> anyhow::Result<Option<Kek>> {
        if let Some(k) = &self.master_key {
            tracing::info!("master key: given by --master-key / KEYWARD_MASTER_KEY");
            return parse_key(k, "KEYWARD_MASTER_KEY").map(Some);
        }
        if let Some(path) = &self.master_key_file {
            tracing::info!(
                "master key: read from the file {}",
                absolute(path).display()
            );
            return read_key_file(path).map(Some);
        }
        Ok(None)
    }

    /// The keyring of `serve`: the given key, or on the embedded store the key file beside the
    /// database (created at first start, when the store holds no sealed data yet).
    async fn keyring(&self, args: &StoreArgs, store: &Store) -> anyhow::Result<Keyring> {
        let mut previous = self.previous()?;
        if let Some(primary) = self.primary()? {
            return Ok(Keyring::new(primary, previous));
        }
        let Some(dir) = args.sqlite_dir() else {
            bail!(NO_KEY_SHARED);
        };
        let path = dir.join(KEY_FILE);
        let old = dir.join(PREVIOUS_KEY_FILE);
        if old.exists() {
            // An unfinished `keyward rekey`: its old key still opens what was not re-wrapped.
            previous.push(read_key_file(&old)?);
        }
        if path.exists() {
            tracing::info!(
                "master key: read from the key file {}",
                absolute(&path).display()
            );
            return Ok(Keyring::new(read_key_file(&path)?, previous));
        }
        if store.has_key_check().await? {
            bail!(
                "the database in {} holds encrypted data but its master key file {} is missing; \
                 restore it from your backup (or set KEYWARD_MASTER_KEY to the key). keyward will \
                 not start without the key that sealed the data",
                dir.display(),
                path.display()
            );
        }
        let (kek, text) = Kek::generate();
        write_key_file(&path, &text, true)?;
        tracing::info!(
            "master key: created the master key file {} (mode 0600); back it up separately from the database",
            absolute(&path).display()
        );
        Ok(Keyring::new(kek, previous))
    }
}

const NO_KEY_SHARED: &str = "no master key: a store other than the embedded one needs \
    KEYWARD_MASTER_KEY (base64 of 32 random bytes, e.g. from `openssl rand -base64 32`, the same on \
    every node) or --master-key-file";

/// Gives the store its keyring, or the reason why not, in words that say what to do.
async fn unlock(store: Store, keyring: Keyring) -> anyhow::Result<(Store, KeyCheck)> {
    let given: Vec<String> = std::iter::once(keyring.primary())
        .chain(keyring.previous())
        .map(Kek::id_hex)
        .collect();
    match store.unlock(keyring).await {
        Ok(ok) => Ok(ok),
        Err(StoreError::WrongMasterKey { expected }) => bail!(
            "wrong master key: the data of this store is sealed under the master key with id \
             {expected}, but the key(s) given have id {}. Start with the right key \
             (KEYWARD_MASTER_KEY, --master-key-file, or the embedded store's {KEY_FILE}); during a \
             rotation give the old key in KEYWARD_PREVIOUS_MASTER_KEYS",
            given.join(", ")
        ),
        Err(StoreError::RotationPending { pending }) => bail!(
            "a rotation to the master key with id {pending} is under way and the key given (id {}) \
             is another one: give that key as the primary one, or finish or undo the rotation with \
             `keyward rekey`",
            given[0]
        ),
        Err(e) => Err(e).context("cannot check the master key against the store"),
    }
}

/// `keyward audit verify`: the store, and the master key that opens the chain's MAC key.
#[derive(Args)]
struct VerifyArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    keys: KeyArgs,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain of the audit trail: print the number of records and `OK`, or name the
    /// first broken record and exit with status 1.
    Verify(VerifyArgs),
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy everything from one store into a new, empty one (e.g. SQLite to PostgreSQL), then
    /// compare the row counts of both. Stop the servers of the source first.
    Copy {
        /// The source, e.g. `sqlite://./keyward-data/keyward.db`; prefer the environment
        /// variable, which keeps a password out of the process list.
        #[arg(long, env = "KEYWARD_SOURCE_DATABASE_URL", hide_env_values = true)]
        from: String,
        /// The target, e.g. `postgres://keyward:pw@db:5432/keyward`; migrated, must be empty.
        #[arg(long, env = "KEYWARD_TARGET_DATABASE_URL", hide_env_values = true)]
        to: String,
    },
}

/// Where the data lives.
#[derive(Args)]
struct StoreArgs {
    /// Directory of the embedded SQLite database.
    #[arg(long, env = "KEYWARD_DATA_DIR", default_value = "./keyward-data")]
    data_dir: PathBuf,
    /// Another store instead of the embedded one: `postgres://user:password@host:5432/db`
    /// (add `?sslmode=require` or `verify-full` for TLS) or `sqlite:///path/to/keyward.db`.
    #[arg(long, env = "KEYWARD_DATABASE_URL")]
    database_url: Option<String>,
    /// Most database connections of this node.
    #[arg(long, env = "KEYWARD_DB_MAX_CONNECTIONS", default_value_t = 10)]
    db_max_connections: u32,
}

/// A path made absolute against the working directory, for log lines that must be unambiguous.
fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

impl StoreArgs {
    /// What the store is, for the start-up log: kind and absolute path, or the redacted URL.
    fn describe(&self) -> String {
        match &self.database_url {
            None => format!(
                "SQLite database {}",
                absolute(&self.data_dir.join("keyward.db")).display()
            ),
            Some(url) if url.starts_with("sqlite:") => {
                let path = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or_default();
                format!(
                    "SQLite database {}",
                    absolute(std::path::Path::new(path)).display()
                )
            }
            Some(url) => format!("PostgreSQL {}", keyward_store::redact(url)),
        }
    }

    /// The directory of the SQLite database (where its key file lives); `None` for PostgreSQL.
    fn sqlite_dir(&self) -> Option<PathBuf> {
        match &self.database_url {
            None => Some(self.data_dir.clone()),
            Some(url) => {
                let path = url
                    .strip_prefix("sqlite://")
                    .or_else(|| url.strip_prefix("sqlite:"))?;
                let path = std::path::Path::new(path.split('?').next().unwrap_or_default());
                Some(
                    path.parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .map_or_else(|| PathBuf::from("."), PathBuf::from),
                )
            }
        }
    }

    async fn open(&self) -> anyhow::Result<Store> {
        let options = StoreOptions {
            max_connections: self.db_max_connections,
            ..StoreOptions::default()
        };
        match &self.database_url {
            Some(url) => Store::open(url, &options)
                .await
                .with_context(|| format!("cannot open the store {}", keyward_store::redact(url))),
            None => {
                create_private_dir(&self.data_dir)?;
                let url = format!("sqlite://{}", self.data_dir.join("keyward.db").display());
                Store::open(&url, &options).await.with_context(|| {
                    format!("cannot open the database in {}", self.data_dir.display())
                })
            }
        }
    }
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is logged).
    #[arg(long, env = "KEYWARD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "KEYWARD_BODY_LIMIT", default_value_t = 2 * 1024 * 1024)]
    body_limit: usize,
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `keyward_http=debug`.
    #[arg(long, env = "KEYWARD_LOG", default_value = "info")]
    log: String,
    /// Log lines as text or as one JSON object per line.
    #[arg(long, env = "KEYWARD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Networks that JWK-by-URL fetches may reach although they are internal (loopback, private,
    /// link-local, …), as comma-separated CIDRs, e.g. `127.0.0.1/32,10.1.0.0/16`.
    #[arg(long, env = "KEYWARD_FETCH_ALLOW", value_delimiter = ',')]
    fetch_allow: Vec<String>,
    /// Let JWK-by-URL fetches use plain `http` URLs (default: `https` only).
    #[arg(long, env = "KEYWARD_FETCH_ALLOW_HTTP")]
    fetch_allow_http: bool,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs `--tls-key`.
    #[arg(long, env = "KEYWARD_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, PKCS#1 or SEC 1) of `--tls-cert`.
    #[arg(long, env = "KEYWARD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Most requests in flight at once; more get 503 with `Retry-After` at once.
    #[arg(long, env = "KEYWARD_MAX_CONCURRENT_REQUESTS", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_concurrent_requests: u32,
    /// Longest time one request may take, body upload included (`30s`, `500ms`, `2m`); over it: 503.
    #[arg(long, env = "KEYWARD_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    request_timeout: Duration,
    /// Most parts in one multipart body; more get 400.
    #[arg(long, env = "KEYWARD_MAX_MULTIPART_PARTS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_multipart_parts: u32,
    /// Deepest nesting of arrays and objects in a JSON body; deeper gets 400.
    #[arg(long, env = "KEYWARD_JSON_MAX_DEPTH", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=128))]
    json_max_depth: u32,
    /// Failed authentications (bad password at /apiops/auth/token, unknown, expired or revoked
    /// token) from one address within `--auth-failure-window` that lock it out; 0: no lockout.
    #[arg(long, env = "KEYWARD_AUTH_MAX_FAILURES", default_value_t = 10)]
    auth_max_failures: u32,
    /// The window in which failures add up, and the quiet time after a lockout that forgives.
    #[arg(long, env = "KEYWARD_AUTH_FAILURE_WINDOW", default_value = "5m", value_parser = parse_duration)]
    auth_failure_window: Duration,
    /// The first lockout; each failure after a lockout doubles it.
    #[arg(long, env = "KEYWARD_AUTH_LOCKOUT", default_value = "1m", value_parser = parse_duration)]
    auth_lockout: Duration,
    /// The longest lockout.
    #[arg(long, env = "KEYWARD_AUTH_LOCKOUT_MAX", default_value = "15m", value_parser = parse_duration)]
    auth_lockout_max: Duration,
    /// Longest time a request body may take to arrive in full (at most `--request-timeout`);
    /// over it: 408 and the connection is closed. A request takes a slot of
    /// `--max-concurrent-requests` only once its body is in.
    #[arg(long, env = "KEYWARD_BODY_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    body_read_timeout: Duration,
    /// Longest time from the first byte of a request head (for the first request: from
    /// connecting) to its end; over it the connection is closed.
    #[arg(long, env = "KEYWARD_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    header_read_timeout: Duration,
    /// Longest silence of a keep-alive connection between two requests; then it is closed.
    #[arg(long, env = "KEYWARD_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    idle_timeout: Duration,
    /// Longest time a client may take to finish its TLS handshake.
    #[arg(long, env = "KEYWARD_TLS_HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    tls_handshake_timeout: Duration,
    /// Most open connections of this node; lowered at start to fit the open-files limit
    /// (`ulimit -n`). Connections over it are closed at once.
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Most open connections from one client address (IPv6: one /64; trusted proxies exempt);
    /// 0: no cap. Connections over it are closed at once.
    #[arg(
        long,
        env = "KEYWARD_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    max_connections_per_address: u32,
    /// Most pieces of heavy work at once — key decryptions and derivations (encrypted PKCS#8,
    /// PKCS#12, JKS, JCEKS, export packages), password hashes and checks (Argon2id, ~19 MiB
    /// each), key generation, JWK re-derivation — each on a blocking thread; 0: one per core.
    /// Formerly `--password-checks` (`KEYWARD_PASSWORD_CHECKS`), still accepted.
    #[arg(long, visible_alias = "password-checks", env = "KEYWARD_HEAVY_WORK")]
    heavy_work: Option<u32>,
    /// Longest wait for a piece of heavy work's turn; then 503 with `Retry-After` [default: 5s].
    /// Formerly `--password-check-wait` (`KEYWARD_PASSWORD_CHECK_WAIT`), still accepted.
    #[arg(long, visible_alias = "password-check-wait", env = "KEYWARD_HEAVY_WORK_WAIT", value_parser = parse_duration)]
    heavy_work_wait: Option<Duration>,
    /// Requests refused to unauthenticated callers are summarised in the audit trail: per
    /// address and interval the first is recorded, the others in one record per status.
    #[arg(long, env = "KEYWARD_AUDIT_SUMMARY_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    audit_summary_interval: Duration,
    /// Proxies (comma-separated CIDRs) whose `X-Forwarded-For` names the client for the lockout;
    /// without it, the connection's peer address is the client.
    #[arg(long, env = "KEYWARD_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<String>,
    /// How long a deleted or replaced JWK stays in the public JWKS, so tokens it signed keep
    /// verifying: at least your longest token lifetime (docs/agent.md).
    #[arg(long, env = "KEYWARD_JWKS_GRACE", default_value = "24h", value_parser = parse_duration)]
    jwks_grace: Duration,
    /// `Cache-Control: max-age` of the public JWKS (never more than `--jwks-grace`): wait this
    /// long after publishing a new key before signing with it.
    #[arg(long, env = "KEYWARD_JWKS_MAX_AGE", default_value = "5m", value_parser = parse_duration)]
    jwks_max_age: Duration,
    /// How long a mutation waits for the agents of the environments it touched to acknowledge it
    /// (their answers are its `deploymentResult.detailList`).
    #[arg(long, env = "KEYWARD_DEPLOY_WAIT", default_value = "5s", value_parser = parse_duration)]
    deploy_wait: Duration,
}

/// `30s`, `500ms`, `5m`, `1h`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 30s, 500ms, 5m, 1h)"))?;
    let d = match unit.trim() {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => {
            return Err(format!(
                "{text:?} is not a duration (e.g. 30s, 500ms, 5m, 1h)"
            ));
        }
    };
    if d.is_zero() {
        return Err(format!("{text:?}: a duration must be more than 0"));
    }
    Ok(d)
}

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            // A bad flag or environment value is a configuration error like the others.
            eprintln!("keyward: {}", one_line(&e.render().to_string()));
            return std::process::ExitCode::from(1);
        }
    };
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line, the causes joined; never a backtrace (RUST_BACKTRACE is for panics).
            eprintln!("keyward: error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(args) => {
            init_logging(&args.log, args.log_format)?;
            runtime.block_on(serve(*args))
        }
        Command::Migrate(args) => runtime.block_on(async {
            let store = args.open().await?;
            eprintln!("keyward: the store {} is migrated", store.display_url());
            store.close().await;
            Ok(())
        }),
        Command::Store(StoreCommand::Copy { from, to }) => runtime.block_on(copy_store(&from, &to)),
        Command::Rekey(args) => {
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
                .with_writer(std::io::stderr)
                .init();
            runtime.block_on(rekey(args))
        }
        Command::Audit(AuditCommand::Verify(args)) => {
            let intact = runtime.block_on(verify_audit(&args))?;
            if !intact {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Completions { shell } => {
            let mut cli = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cli, "keyward", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            let cli = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cli)
                .render(&mut std::io::stdout())
                .context("cannot write the manual page")?;
            Ok(())
        }
        Command::Agent(args) => match agent::main(*args, &runtime)? {
            0 => Ok(()),
            code => std::process::exit(code),
        },
    }
}

/// clap's error text up to its usage hint, on one line.
fn one_line(text: &str) -> String {
    let head = text.split("\n\n").next().unwrap_or_default();
    head.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, target, fields).
    Json,
}

/// Logs to standard error with the filter `filter`, as text or one JSON object per line.
fn init_logging(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| anyhow::anyhow!("invalid --log filter {filter:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    Ok(())
}

/// The socket address of `--listen`: `HOST:PORT`, `[V6]:PORT`, or `:PORT` for every IPv4
/// interface (`:0` picks a free port).
fn listen_address(text: &str) -> anyhow::Result<String> {
    let t = text.trim();
    if t.is_empty() {
        bail!("--listen is empty: give HOST:PORT, e.g. 127.0.0.1:8080 (or :0 for a free port)");
    }
    let t = match t.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => t.to_owned(),
    };
    let port_ok = t
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    if !port_ok {
        bail!("--listen {text:?} is not HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080 or :0)");
    }
    Ok(t)
}

/// `keyward audit verify`: whether the chain is intact (the verdict goes to stdout).
async fn verify_audit(args: &VerifyArgs) -> anyhow::Result<bool> {
    use keyward_store::AuditBreak;
    let store = args.store.open().await?;
    let keyring = args.keys.keyring(&args.store, &store).await?;
    let (store, _) = unlock(store, keyring).await?;
    let verdict = store.verify_audit().await?;
    store.close().await;
    match verdict.broken {
        None => {
            println!("{} audit records: OK", verdict.records);
            Ok(true)
        }
        Some(b) => {
            let why = match b {
                AuditBreak::Missing { .. } => "is missing (deleted or cut off)",
                AuditBreak::Altered { .. } => "was altered (its hash does not match its fields)",
                AuditBreak::Unlinked { .. } => {
                    "does not link to the record before it (that one was replaced)"
                }
                AuditBreak::Head { .. } => "does not match the anchored head of the chain",
                AuditBreak::Beyond { .. } => "lies beyond the anchored head of the chain",
            };
            println!(
                "audit chain BROKEN at record {}: record {} {why} ({} records checked)",
                b.seq(),
                b.seq(),
                verdict.records
            );
            Ok(false)
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Everything that can be refused is checked before the store is created or touched.
    let bootstrap_settings = BootstrapSettings::from_env()?;
    let listen = listen_address(&args.listen)?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let store = args.store.open().await?;
    tracing::info!("store: {}", args.store.describe());
    let keyring = args.keys.keyring(&args.store, &store).await?;
    let primary = keyring.primary().id_hex();
    let (store, check) = unlock(store, keyring).await?;
    match check {
        KeyCheck::Created => {
            tracing::info!(key_id = %primary, "secrets are sealed under a new master key")
        }
        KeyCheck::Primary => tracing::info!(key_id = %primary, "master key checked"),
        KeyCheck::Rotating => tracing::warn!(
            key_id = %primary,
            "master key rotation under way: new secrets use this key; run `keyward rekey` to re-wrap the others"
        ),
    }
    bootstrap(&store, bootstrap_settings).await?;
    let state = AppState::new(
        store.clone(),
        Config {
            body_limit: args.body_limit,
            fetch: fetch_policy(&args)?,
            limits: limits(&args)?,
            publish: keyward_http::publish::PublishConfig {
                grace: args.jwks_grace,
                max_age: args.jwks_max_age,
                deploy_wait: args.deploy_wait,
            },
            audit_summary_interval: args.audit_summary_interval,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!(e.message))?;
    let addr: SocketAddr = listener.local_addr()?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(keyward_http::tls::server_config(cert, key).map_err(|e| anyhow::anyhow!(e))?)
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!("keyward listening on {scheme}://{addr}");
    // The bound address on standard output too, for scripts (`--listen :0`).
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {scheme}://{addr}");
        let _ = out.flush();
    }
    keyward_http::serve(listener, tls, state, shutdown_signal()).await?;
    store.close().await;
    tracing::info!("keyward stopped");
    Ok(())
}

/// The request limits and brute-force schedule of `serve`'s flags.
fn limits(args: &ServeArgs) -> anyhow::Result<keyward_http::edge::Limits> {
    let trusted_proxies = args
        .trusted_proxies
        .iter()
        .filter(|c| !c.trim().is_empty())
        .map(|c| {
            c.parse()
                .map_err(|e: String| anyhow::anyhow!("--trusted-proxies: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.auth_lockout_max < args.auth_lockout {
        bail!("--auth-lockout-max must not be shorter than --auth-lockout");
    }
    Ok(keyward_http::edge::Limits {
        max_parts: args.max_multipart_parts as usize,
        json_max_depth: args.json_max_depth as usize,
        request_timeout: args.request_timeout,
        body_read_timeout: args.body_read_timeout,
        header_read_timeout: args.header_read_timeout,
        idle_timeout: args.idle_timeout,
        tls_handshake_timeout: args.tls_handshake_timeout,
        max_connections: args.max_connections as usize,
        max_connections_per_address: args.max_connections_per_address as usize,
        heavy_work: match args.heavy_work {
            Some(n) => n as usize,
            None => legacy_env("KEYWARD_PASSWORD_CHECKS", |v| {
                v.parse::<u32>().map_err(|e| e.to_string())
            })?
            .unwrap_or(0) as usize,
        },
        heavy_work_wait: match args.heavy_work_wait {
            Some(d) => d,
            None => legacy_env("KEYWARD_PASSWORD_CHECK_WAIT", parse_duration)?
                .unwrap_or(Duration::from_secs(5)),
        },
        max_concurrent: args.max_concurrent_requests as usize,
        brute_force: keyward_http::edge::BruteForce {
            max_failures: args.auth_max_failures,
            window: args.auth_failure_window,
            lockout: args.auth_lockout,
            lockout_max: args.auth_lockout_max,
            ..Default::default()
        },
        trusted_proxies,
        tls: args.tls_cert.is_some(),
    })
}

/// A setting's former environment variable, still read when the new one is not set.
fn legacy_env<T>(
    name: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> anyhow::Result<Option<T>> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => parse(v.trim())
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{name}: {e}")),
        _ => Ok(None),
    }
}

/// The JWK-by-URL fetch policy of `serve`'s flags.
fn fetch_policy(args: &ServeArgs) -> anyhow::Result<keyward_http::fetch::FetchPolicy> {
    let allow = args
        .fetch_allow
        .iter()
        .filter(|c| !c.trim().is_empty())
        .map(|c| {
            c.parse()
                .map_err(|e: String| anyhow::anyhow!("--fetch-allow: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !allow.is_empty() || args.fetch_allow_http {
        tracing::warn!(
            allow = ?allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
            http = args.fetch_allow_http,
            "JWK-by-URL fetches may reach these internal networks / use http"
        );
    }
    Ok(keyward_http::fetch::FetchPolicy {
        allow,
        allow_http: args.fetch_allow_http,
    })
}

/// `keyward rekey`: see [`Command::Rekey`].
async fn rekey(args: RekeyArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let store = args.store.open().await?;
    // On the embedded store without a given key: a new key file replaces `master.key`; the old
    // one stays as `master.key.previous` until every record is re-wrapped.
    let rotated_file = if args.keys.given() {
        None
    } else {
        let Some(dir) = args.store.sqlite_dir() else {
            bail!(NO_KEY_SHARED);
        };
        let (path, old, new) = (
            dir.join(KEY_FILE),
            dir.join(PREVIOUS_KEY_FILE),
            dir.join(NEW_KEY_FILE),
        );
        if !old.exists() {
            if !path.exists() {
                bail!(
                    "no master key file {}: nothing to rotate (give the keys with \
                     KEYWARD_MASTER_KEY and KEYWARD_PREVIOUS_MASTER_KEYS instead)",
                    path.display()
                );
            }
            let (_, text) = Kek::generate();
            write_key_file(&new, &text, false)?;
            std::fs::rename(&path, &old).with_context(|| {
                format!("cannot rename {} to {}", path.display(), old.display())
            })?;
            sync_dir(&old);
        }
        if !path.exists() && new.exists() {
            std::fs::rename(&new, &path).with_context(|| {
                format!("cannot rename {} to {}", new.display(), path.display())
            })?;
            sync_dir(&path);
        }
        Some((path, old))
    };
    let keyring = args.keys.keyring(&args.store, &store).await?;
    let primary = keyring.primary().id_hex();
    let (store, _) = unlock(store, keyring).await?;
    eprintln!("keyward: re-wrapping every record under the master key {primary}");
    let started = std::time::Instant::now();
    let report = store
        .rekey(args.batch, |done, total| {
            eprint!("\rrekey: {done}/{total} records");
            let _ = std::io::stderr().flush();
        })
        .await;
    eprintln!();
    let report = match report {
        Ok(r) => r,
        Err(StoreError::RekeyIncomplete(left)) => bail!(
            "{left} records are still sealed under an old master key: a node whose primary key is \
             the old one wrote them during the rekey. Give every node the new key as primary (the \
             old one in KEYWARD_PREVIOUS_MASTER_KEYS) and run `keyward rekey` again"
        ),
        Err(e) => return Err(e).context("rekey failed; it is safe to run it again"),
    };
    store.close().await;
    eprintln!(
        "keyward: {} of {} records re-wrapped in {:.1} s; the store is sealed under master key {primary} only",
        report.rewrapped,
        report.total,
        started.elapsed().as_secs_f64()
    );
    match rotated_file {
        Some((path, old)) => {
            std::fs::remove_file(&old)
                .with_context(|| format!("cannot remove the old key file {}", old.display()))?;
            sync_dir(&old);
            eprintln!(
                "keyward: the new master key is in {}; back it up now (the old key was removed)",
                path.display()
            );
        }
        None => eprintln!(
            "keyward: the previous master keys are no longer needed: remove \
             KEYWARD_PREVIOUS_MASTER_KEYS from every node"
        ),
    }
    Ok(())
}

async fn copy_store(from: &str, to: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let options = StoreOptions::default();
    let source = Store::open(from, &options)
        .await
        .with_context(|| format!("cannot open the source {}", keyward_store::redact(from)))?;
    let target = Store::open(to, &options)
        .await
        .with_context(|| format!("cannot open the target {}", keyward_store::redact(to)))?;
    eprintln!(
        "keyward: copying {} into {}",
        source.display_url(),
        target.display_url()
    );
    let started = std::time::Instant::now();
    let counts = source
        .copy_into(&target, |table, done, total| {
            let width = 30;
            let filled = if total == 0 {
                width
            } else {
                (done * width as i64 / total) as usize
            };
            eprint!(
                "\r  {table:<20} [{}{}] {done}/{total}",
                "#".repeat(filled),
                ".".repeat(width - filled)
            );
            if done == total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        })
        .await?;
    eprintln!("keyward: verification (rows in source / target):");
    for c in &counts {
        eprintln!("  {:<20} {:>8} / {:<8} ok", c.table, c.source, c.target);
    }
    let total: i64 = counts.iter().map(|c| c.source).sum();
    eprintln!(
        "keyward: copied {total} rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    eprintln!(
        "keyward: the copied secrets stay sealed under the source's master key: start the target \
         with that key (KEYWARD_MASTER_KEY; the embedded store keeps it in {KEY_FILE})"
    );
    source.close().await;
    target.close().await;
    Ok(())
}

/// The name of the admin's first personal access token (`DELETE
/// /apiops/users/admin/tokens/bootstrap/` revokes it).
const BOOTSTRAP_TOKEN_NAME: &str = "bootstrap";
/// The shortest `KEYWARD_BOOTSTRAP_TOKEN` accepted: a guessable admin token is refused.
const MIN_BOOTSTRAP_TOKEN_CHARS: usize = 32;

/// `KEYWARD_BOOTSTRAP_TOKEN` and `KEYWARD_BOOTSTRAP_PASSWORD`, checked before anything starts.
struct BootstrapSettings {
    token: Option<String>,
    password: Option<String>,
}

impl BootstrapSettings {
    fn from_env() -> anyhow::Result<BootstrapSettings> {
        let token = std::env::var("KEYWARD_BOOTSTRAP_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty());
        let password = std::env::var("KEYWARD_BOOTSTRAP_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty());
        check_bootstrap(token.as_deref(), password.as_deref())?;
        Ok(BootstrapSettings { token, password })
    }
}

fn check_bootstrap(token: Option<&str>, password: Option<&str>) -> anyhow::Result<()> {
    if let Some(t) = token {
        let n = t.chars().count();
        if n < MIN_BOOTSTRAP_TOKEN_CHARS {
            bail!(
                "KEYWARD_BOOTSTRAP_TOKEN has {n} characters; it needs at least \
                 {MIN_BOOTSTRAP_TOKEN_CHARS} (e.g. kw_$(openssl rand -hex 24))"
            );
        }
        if t.trim() != t || t.contains(char::is_whitespace) {
            bail!("KEYWARD_BOOTSTRAP_TOKEN must not contain spaces");
        }
    }
    if let Some(p) = password
        && p.chars().count() < 8
    {
        bail!("KEYWARD_BOOTSTRAP_PASSWORD must have at least 8 characters");
    }
    Ok(())
}

/// First start on an empty store: the system admin `admin`, the `admin` project and an admin
/// token named `bootstrap` (`KEYWARD_BOOTSTRAP_TOKEN`, or a random one printed once). A
/// non-empty store is untouched, and says so when bootstrap variables were given.
async fn bootstrap(store: &Store, settings: BootstrapSettings) -> anyhow::Result<()> {
    let BootstrapSettings {
        token: given_token,
        password: given_password,
    } = settings;
    let token = given_token.clone().unwrap_or_else(new_token);
    let password = given_password
        .clone()
        .unwrap_or_else(|| keyward_jose::b64::url(&random_bytes::<18>()));
    let auth = Auth::new(store.clone())
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let phc = {
        let password = password.clone();
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await?
            .map_err(|e| anyhow::anyhow!(e.message))?
    };
    let created = store
        .bootstrap(
            Bootstrap {
                admin_username: "admin".into(),
                admin_password_hash: phc,
                admin_project_name: "admin".into(),
                token_name: BOOTSTRAP_TOKEN_NAME.into(),
                token_hash: auth.hash_token(&token).to_vec(),
            },
            &keyward_store::AuditEntry::system("bootstrap", "user", "admin"),
        )
        .await?;
    if created {
        eprintln!(
            "keyward: first start: created the system admin 'admin' and the project 'admin'."
        );
        if given_password.is_none() {
            eprintln!("keyward: admin password (shown once): {password}");
        }
        if given_token.is_none() {
            eprintln!(
                "keyward: admin personal API access token '{BOOTSTRAP_TOKEN_NAME}' (shown once): {token}"
            );
        } else {
            eprintln!(
                "keyward: admin personal API access token '{BOOTSTRAP_TOKEN_NAME}': the value of KEYWARD_BOOTSTRAP_TOKEN"
            );
        }
    } else {
        let ignored: Vec<&str> = [
            ("KEYWARD_BOOTSTRAP_TOKEN", given_token.is_some()),
            ("KEYWARD_BOOTSTRAP_PASSWORD", given_password.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        if !ignored.is_empty() {
            tracing::warn!(
                "{} ignored: the store already has users, so nothing was bootstrapped; use a token \
                 of an existing user (or delete the data directory to start afresh)",
                ignored.join(" and ")
            );
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested: draining in-flight requests");
}

#[cfg(test)]
mod cli_tests {
    use super::*;

    /// Every option of every subcommand can also be set from the environment (containers,
    /// systemd units, and secrets kept off the process list).
    #[test]
    fn every_flag_has_an_environment_variable() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_positional() || id == "help" || id == "version" {
                    continue;
                }
                if arg.get_env().is_none() {
                    missing.push(format!("{path} --{id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(
            &<Cli as clap::CommandFactory>::command(),
            "keyward",
            &mut missing,
        );
        assert!(missing.is_empty(), "flags without env: {missing:?}");
    }

    #[test]
    fn clap_errors_fit_on_one_line() {
        let e = <Cli as clap::Parser>::try_parse_from(["keyward", "agent", "--out", "/tmp/x"])
            .err()
            .unwrap();
        let line = one_line(&e.render().to_string());
        assert!(line.starts_with("error: "), "{line}");
        assert!(line.contains("--server"), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_address(":0").unwrap(), "0.0.0.0:0");
        assert_eq!(listen_address("127.0.0.1:0").unwrap(), "127.0.0.1:0");
        assert_eq!(listen_address("[::1]:8080").unwrap(), "[::1]:8080");
        assert_eq!(listen_address("localhost:80").unwrap(), "localhost:80");
        for bad in ["", "8080", "host", ":x", "host:99999"] {
            assert!(listen_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bootstrap_tokens_need_32_characters() {
        assert!(check_bootstrap(Some("short"), None).is_err());
        assert!(check_bootstrap(Some(&"x".repeat(31)), None).is_err());
        assert!(check_bootstrap(Some(&"x".repeat(32)), None).is_ok());
        assert!(check_bootstrap(Some(&format!("{} y", "x".repeat(32))), None).is_err());
        assert!(check_bootstrap(None, Some("short")).is_err());
        assert!(check_bootstrap(None, None).is_ok());
    }
}
