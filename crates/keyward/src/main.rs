//! `keyward`: the command line. Thin glue over `keyward-http` and `keyward-store`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use keyward_http::auth::{Auth, hash_password, new_token, random_bytes};
use keyward_http::{AppState, Config};
use keyward_store::{Bootstrap, Store, StoreOptions};

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
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain of the audit trail: print the number of records and `OK`, or name the
    /// first broken record and exit with status 1.
    Verify(StoreArgs),
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy everything from one store into a new, empty one (e.g. SQLite to PostgreSQL), then
    /// compare the row counts of both. Stop the servers of the source first.
    Copy {
        /// The source, e.g. `sqlite://./keyward-data/keyward.db`.
        #[arg(long)]
        from: String,
        /// The target, e.g. `postgres://keyward:pw@db:5432/keyward`; migrated, must be empty.
        #[arg(long)]
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

impl StoreArgs {
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
                std::fs::create_dir_all(&self.data_dir).with_context(|| {
                    format!(
                        "cannot create the data directory {}",
                        self.data_dir.display()
                    )
                })?;
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
    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "KEYWARD_BODY_LIMIT", default_value_t = 2 * 1024 * 1024)]
    body_limit: usize,
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `keyward_http=debug`.
    #[arg(long, env = "KEYWARD_LOG", default_value = "info")]
    log: String,
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
    /// Proxies (comma-separated CIDRs) whose `X-Forwarded-For` names the client for the lockout;
    /// without it, the connection's peer address is the client.
    #[arg(long, env = "KEYWARD_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<String>,
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Serve(args) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_new(&args.log)
                        .context("invalid --log filter")?,
                )
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .init();
            runtime.block_on(serve(*args))
        }
        Command::Migrate(args) => runtime.block_on(async {
            let store = args.open().await?;
            eprintln!("keyward: the store {} is migrated", store.display_url());
            store.close().await;
            Ok(())
        }),
        Command::Store(StoreCommand::Copy { from, to }) => runtime.block_on(copy_store(&from, &to)),
        Command::Audit(AuditCommand::Verify(args)) => {
            let intact = runtime.block_on(verify_audit(&args))?;
            if !intact {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

/// `keyward audit verify`: whether the chain is intact (the verdict goes to stdout).
async fn verify_audit(args: &StoreArgs) -> anyhow::Result<bool> {
    use keyward_store::AuditBreak;
    let store = args.open().await?;
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
    let store = args.store.open().await?;
    bootstrap(&store).await?;
    let state = AppState::new(
        store.clone(),
        Config {
            body_limit: args.body_limit,
            fetch: fetch_policy(&args)?,
            limits: limits(&args)?,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!(e.message))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr: SocketAddr = listener.local_addr()?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(keyward_http::tls::server_config(cert, key).map_err(|e| anyhow::anyhow!(e))?)
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!("keyward listening on {scheme}://{addr}");
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
    source.close().await;
    target.close().await;
    Ok(())
}

/// First start on an empty store: the system admin `admin`, the `admin` project and an admin
/// token (`KEYWARD_BOOTSTRAP_TOKEN`, or a random one printed once). A non-empty store is untouched.
async fn bootstrap(store: &Store) -> anyhow::Result<()> {
    let given_token = std::env::var("KEYWARD_BOOTSTRAP_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty());
    let given_password = std::env::var("KEYWARD_BOOTSTRAP_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    if let Some(p) = &given_password
        && p.chars().count() < 8
    {
        bail!("KEYWARD_BOOTSTRAP_PASSWORD must have at least 8 characters");
    }
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
        .bootstrap(Bootstrap {
            admin_username: "admin".into(),
            admin_password_hash: phc,
            admin_project_name: "admin".into(),
            token_name: "bootstrap".into(),
            token_hash: auth.hash_token(&token).to_vec(),
        })
        .await?;
    if created {
        eprintln!(
            "keyward: first start: created the system admin 'admin' and the project 'admin'."
        );
        if given_password.is_none() {
            eprintln!("keyward: admin password (shown once): {password}");
        }
        if given_token.is_none() {
            eprintln!("keyward: admin personal API access token (shown once): {token}");
        } else {
            eprintln!(
                "keyward: admin personal API access token: the value of KEYWARD_BOOTSTRAP_TOKEN"
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
