//! `keyward`: the command line. Thin glue over `keyward-http` and `keyward-store`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use keyward_http::auth::{Auth, hash_password, new_token, random_bytes};
use keyward_http::{AppState, Config};
use keyward_store::{Bootstrap, Store};

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
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is logged).
    #[arg(long, env = "KEYWARD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Directory of the embedded SQLite database.
    #[arg(long, env = "KEYWARD_DATA_DIR", default_value = "./keyward-data")]
    data_dir: PathBuf,
    /// Another store instead of the embedded one (e.g. `sqlite:///var/lib/keyward/k.db`).
    #[arg(long, env = "KEYWARD_DATABASE_URL")]
    database_url: Option<String>,
    /// Largest accepted request body in bytes; larger bodies get 413.
    #[arg(long, env = "KEYWARD_BODY_LIMIT", default_value_t = 2 * 1024 * 1024)]
    body_limit: usize,
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `keyward_http=debug`.
    #[arg(long, env = "KEYWARD_LOG", default_value = "info")]
    log: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_new(&args.log)
                        .context("invalid --log filter")?,
                )
                .with_writer(std::io::stderr)
                .init();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(serve(args))
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = match &args.database_url {
        Some(url) => Store::open_url(url)
            .await
            .with_context(|| "cannot open the store given by --database-url")?,
        None => {
            std::fs::create_dir_all(&args.data_dir).with_context(|| {
                format!(
                    "cannot create the data directory {}",
                    args.data_dir.display()
                )
            })?;
            Store::open_sqlite(&args.data_dir.join("keyward.db"))
                .await
                .with_context(|| {
                    format!("cannot open the database in {}", args.data_dir.display())
                })?
        }
    };
    bootstrap(&store).await?;
    let state = AppState::new(
        store.clone(),
        Config {
            body_limit: args.body_limit,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!(e.message))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!("keyward listening on http://{addr}");
    keyward_http::serve(listener, state, shutdown_signal()).await?;
    store.close().await;
    tracing::info!("keyward stopped");
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
