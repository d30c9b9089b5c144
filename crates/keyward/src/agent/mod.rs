//! `keyward agent`: follows one environment of a keyward server and writes what is deployed there
//! into a directory (`docs/agent.md`, "The agent").
//!
//! The loop: a first `GET …/agent/bundle` without `after` (catch up at once), then long polls with
//! `after=<last applied revision>`; a `200` is applied by the writer (`writer.rs`), then
//! `--on-change` runs if a file changed (`hook.rs`), then the result is acknowledged. Every error is
//! retried with exponential backoff; the token and key material never reach the log.

pub mod bundle;
pub mod hook;
pub mod writer;

use std::error::Error as _;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{StatusCode, Url};
use zeroize::Zeroizing;

use bundle::{Ack, Bundle, Envelope};

/// A bundle larger than this is refused (it would be a server bug or an attack on the agent).
const MAX_BUNDLE_BYTES: usize = 256 * 1024 * 1024;

#[derive(Args)]
pub struct AgentArgs {
    /// The keyward server's base URL, e.g. `https://keyward.example:8443`.
    #[arg(long, env = "KEYWARD_AGENT_SERVER")]
    server: Url,
    /// An agent token (a personal access token created with an `environmentName`); prefer the
    /// environment variable, which keeps it out of the process list.
    #[arg(long, env = "KEYWARD_AGENT_TOKEN", hide_env_values = true)]
    token: String,
    /// The environment to follow (the agent token's environment).
    #[arg(long, env = "KEYWARD_AGENT_ENVIRONMENT")]
    environment: String,
    /// Only these projects (repeatable; in the environment variable comma-separated); default:
    /// every project the token may read.
    #[arg(
        long = "project",
        env = "KEYWARD_AGENT_PROJECTS",
        value_delimiter = ','
    )]
    projects: Vec<String>,
    /// The directory to write into (created 0700 if absent).
    #[arg(long, env = "KEYWARD_AGENT_OUT")]
    out: PathBuf,
    /// A command run through `sh -c` after a revision changed at least one file, with
    /// `KEYWARD_REVISION` and `KEYWARD_OUT` set; a non-zero status is a failed deployment.
    #[arg(long, env = "KEYWARD_AGENT_ON_CHANGE")]
    on_change: Option<String>,
    /// How long `--on-change` may run before it is killed and counted as failed.
    #[arg(long, env = "KEYWARD_AGENT_ON_CHANGE_TIMEOUT", default_value = "30s", value_parser = crate::parse_duration)]
    on_change_timeout: Duration,
    /// The agent's name, as listed by the server (default: the host name).
    #[arg(long, env = "KEYWARD_AGENT_NAME")]
    name: Option<String>,
    /// Long-poll duration in seconds (the server caps it at 60).
    #[arg(long, env = "KEYWARD_AGENT_WAIT", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=60))]
    wait: u64,
    /// A PEM file of extra CA certificates to trust for an HTTPS server.
    #[arg(long, env = "KEYWARD_AGENT_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Apply the current revision, acknowledge it and exit: status 0 when it applied (and
    /// `--on-change` succeeded), 1 otherwise. Errors are not retried.
    #[arg(long, env = "KEYWARD_AGENT_ONCE")]
    once: bool,
    /// Log filter (tracing `EnvFilter` syntax).
    #[arg(long, env = "KEYWARD_LOG", default_value = "info")]
    log: String,
}

/// Everything the loop needs, resolved from the arguments.
pub struct Config {
    pub bundle_url: Url,
    pub ack_url: Url,
    pub authorization: HeaderValue,
    pub name: String,
    pub projects: Vec<String>,
    pub out: PathBuf,
    pub on_change: Option<String>,
    pub on_change_timeout: Duration,
    pub wait: u64,
    pub once: bool,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

/// The host name, or `agent`.
fn host_name() -> String {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy();
    let name = name.trim();
    if name.is_empty() {
        "agent".to_string()
    } else {
        name.to_string()
    }
}

/// `{server}/apiops/environments/{env}/agent/{last}`, keeping a path prefix of `server`.
fn endpoint(server: &Url, environment: &str, last: &str) -> anyhow::Result<Url> {
    if !matches!(server.scheme(), "http" | "https") {
        bail!("--server must be an http:// or https:// URL");
    }
    let mut url = server.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|_| anyhow!("--server must be an http:// or https:// URL"))?
        .pop_if_empty()
        .extend(["apiops", "environments", environment, "agent", last]);
    Ok(url)
}

impl Config {
    pub fn from_args(args: &AgentArgs) -> anyhow::Result<Config> {
        let token = Zeroizing::new(format!("Bearer {}", args.token.trim()));
        let mut authorization = HeaderValue::from_str(&token)
            .map_err(|_| anyhow!("the token holds characters not allowed in an HTTP header"))?;
        authorization.set_sensitive(true);
        if args.environment.is_empty() {
            bail!("--environment must not be empty");
        }
        Ok(Config {
            bundle_url: endpoint(&args.server, &args.environment, "bundle")?,
            ack_url: endpoint(&args.server, &args.environment, "ack")?,
            authorization,
            name: args.name.clone().unwrap_or_else(host_name),
            projects: args.projects.clone(),
            // Absolute, so that `KEYWARD_OUT` means the same to the on-change command wherever
            // it changes directory to.
            out: std::path::absolute(&args.out)
                .with_context(|| format!("cannot resolve {}", args.out.display()))?,
            on_change: args.on_change.clone(),
            on_change_timeout: args.on_change_timeout,
            wait: args.wait,
            once: args.once,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        })
    }

    /// The HTTP client: the request timeout outlasts the long poll.
    pub fn client(&self, ca_file: Option<&PathBuf>) -> anyhow::Result<reqwest::Client> {
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(self.wait + 15))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("keyward-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            let pem =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("{} holds no usable PEM certificate", path.display()))?;
            if certs.is_empty() {
                bail!("{} holds no PEM certificate", path.display());
            }
            b = b.tls_certs_merge(certs);
        }
        b.build().context("cannot build the HTTP client")
    }
}

/// Exponential backoff with ±20 % jitter.
struct Backoff {
    base: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max,
            next: base,
        }
    }

    fn delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d.mul_f64(0.8 + 0.4 * fastrand::f64())
    }

    fn reset(&mut self) {
        self.next = self.base;
    }
}

/// Why a request failed (never holds the token or a body with key material).
#[derive(Debug)]
enum Failure {
    /// The server could not be reached or the answer could not be read.
    Transport(String),
    /// 401 or 403: the token is refused (it may be fixed on the server: keep trying).
    Refused(StatusCode, String),
    /// Any other unexpected status.
    Status(StatusCode, String),
    /// The answer is not the expected JSON.
    Decode(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transport(e) => write!(f, "cannot reach the server: {e}"),
            Failure::Refused(s, m) => write!(f, "the server refused the agent token ({s}): {m}"),
            Failure::Status(s, m) => write!(f, "the server answered {s}: {m}"),
            Failure::Decode(m) => write!(f, "unexpected answer from the server: {m}"),
        }
    }
}

/// The error and its causes, on one line (reqwest hides the cause in `source()`); without the URL,
/// which the agent logs once at start.
fn causes(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Reads the body, refusing more than `MAX_BUNDLE_BYTES`.
async fn body(mut response: reqwest::Response) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::Transport(causes(e)))?
    {
        if bytes.len() + chunk.len() > MAX_BUNDLE_BYTES {
            return Err(Failure::Decode(format!(
                "the answer is larger than {MAX_BUNDLE_BYTES} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The failure for a non-success status, with the server's `resultMessage` when it sent one.
async fn status_failure(response: reqwest::Response) -> Failure {
    let status = response.status();
    let message = match body(response).await {
        Ok(bytes) => serde_json::from_slice::<Envelope<serde_json::Value>>(&bytes)
            .ok()
            .and_then(|e| e.result_message)
            .unwrap_or_else(|| "(no message)".to_string()),
        Err(_) => "(no message)".to_string(),
    };
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        Failure::Refused(status, message)
    } else {
        Failure::Status(status, message)
    }
}

/// One `GET …/agent/bundle`: `None` on `204` (nothing newer than `after` within the wait).
async fn fetch(
    cfg: &Config,
    client: &reqwest::Client,
    after: Option<u64>,
) -> Result<Option<Bundle>, Failure> {
    let mut url = cfg.bundle_url.clone();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("agent", &cfg.name);
        if let Some(after) = after {
            q.append_pair("after", &after.to_string());
            q.append_pair("wait", &cfg.wait.to_string());
        }
        if !cfg.projects.is_empty() {
            q.append_pair("projects", &cfg.projects.join(","));
        }
    }
    let response = client
        .get(url)
        .header(AUTHORIZATION, cfg.authorization.clone())
        .send()
        .await
        .map_err(|e| Failure::Transport(causes(e)))?;
    match response.status() {
        StatusCode::NO_CONTENT => Ok(None),
        StatusCode::OK => {
            let bytes = Zeroizing::new(body(response).await?);
            let envelope: Envelope<Bundle> = serde_json::from_slice(&bytes).map_err(|e| {
                // serde's message names the place, not the content.
                Failure::Decode(format!("the bundle is not valid: {e}"))
            })?;
            envelope
                .result_list
                .into_iter()
                .next()
                .map(Some)
                .ok_or_else(|| Failure::Decode("the answer holds no bundle".to_string()))
        }
        _ => Err(status_failure(response).await),
    }
}

/// Whether a failed acknowledgement is worth sending again.
fn ack_retryable(f: &Failure) -> bool {
    match f {
        Failure::Transport(_) | Failure::Refused(..) | Failure::Decode(_) => true,
        Failure::Status(s, _) => {
            s.is_server_error()
                || matches!(
                    *s,
                    StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS
                )
        }
    }
}

/// One `POST …/agent/ack`.
async fn send_ack(cfg: &Config, client: &reqwest::Client, ack: &Ack) -> Result<(), Failure> {
    let response = client
        .post(cfg.ack_url.clone())
        .header(AUTHORIZATION, cfg.authorization.clone())
        .json(ack)
        .send()
        .await
        .map_err(|e| Failure::Transport(causes(e)))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(status_failure(response).await)
    }
}

/// What applying one bundle came to.
struct Applied {
    ack: Ack,
    /// The files are in place (the on-change command may still have failed).
    written: bool,
    /// The on-change command failed: run it with the next revision even if no file changes.
    hook_failed: bool,
}

/// Writes the bundle, runs `--on-change` when needed, and says what to acknowledge.
async fn apply(cfg: &Config, bundle: Bundle, reload_pending: bool) -> Applied {
    let revision = bundle.revision;
    let out = cfg.out.clone();
    let written = tokio::task::spawn_blocking(move || writer::apply(&out, &bundle))
        .await
        .map_err(|e| anyhow!("the writer stopped: {e}"))
        .and_then(|r| r);
    let ack = |success: bool, detail: String| Ack {
        agent: cfg.name.clone(),
        revision,
        success,
        detail,
    };
    let outcome = match written {
        Ok(o) => o,
        Err(e) => {
            let detail = format!("Could not apply revision {revision}: {e:#}");
            tracing::error!("{detail}");
            return Applied {
                ack: ack(false, detail),
                written: false,
                hook_failed: false,
            };
        }
    };
    tracing::info!(
        revision,
        written = outcome.written,
        removed = outcome.removed,
        "applied revision {revision}"
    );
    let run_hook = outcome.changed() || reload_pending;
    let hook = match (&cfg.on_change, run_hook) {
        (Some(cmd), true) => {
            let result = hook::run(cmd, revision, &cfg.out, cfg.on_change_timeout).await;
            // Remembered in OUT, so that a restarted agent runs the command again too.
            let failed = result.is_err().then_some(revision);
            let out = cfg.out.clone();
            let marked =
                tokio::task::spawn_blocking(move || writer::mark_on_change_failed(&out, failed))
                    .await;
            if !matches!(marked, Ok(Ok(()))) {
                tracing::warn!(
                    "cannot record the result of the on-change command in the output directory"
                );
            }
            result
        }
        _ => Ok(()),
    };
    match hook {
        Ok(()) => Applied {
            ack: ack(
                true,
                if outcome.changed() {
                    format!("Applied revision {revision}")
                } else {
                    format!("Applied revision {revision} (no file changed)")
                },
            ),
            written: true,
            hook_failed: false,
        },
        Err(detail) => {
            tracing::error!(revision, "{detail}");
            Applied {
                ack: ack(false, detail),
                written: true,
                hook_failed: true,
            }
        }
    }
}

/// The loop; returns the exit status in `--once` mode, never otherwise.
async fn follow(cfg: &Config, client: &reqwest::Client) -> i32 {
    let mut backoff = Backoff::new(cfg.backoff_base, cfg.backoff_max);
    let mut applied: Option<u64> = None;
    // A failed on-change command runs again with the next revision, also after a restart.
    let mut reload_pending =
        cfg.on_change.is_some() && writer::on_change_failed(&cfg.out).is_some();
    let mut pending_ack: Option<Ack> = None;
    // After a revision could not be written, wait before fetching it again.
    let mut retry_apply = false;
    loop {
        if let Some(ack) = &pending_ack {
            match send_ack(cfg, client, ack).await {
                Ok(()) => {
                    if cfg.once {
                        return if ack.success { 0 } else { 1 };
                    }
                    pending_ack = None;
                }
                Err(f) if ack_retryable(&f) && !cfg.once => {
                    tracing::warn!("cannot acknowledge revision {}: {f}", ack.revision);
                    tokio::time::sleep(backoff.delay()).await;
                    continue;
                }
                Err(f) => {
                    tracing::error!("cannot acknowledge revision {}: {f}", ack.revision);
                    if cfg.once {
                        return 1;
                    }
                    pending_ack = None;
                }
            }
            if retry_apply {
                tokio::time::sleep(backoff.delay()).await;
            } else {
                backoff.reset();
            }
        }
        match fetch(cfg, client, applied).await {
            Ok(None) => backoff.reset(),
            Ok(Some(bundle)) => {
                if bundle.revision < applied.unwrap_or(0) {
                    tracing::warn!(
                        "the server went back from revision {} to {}",
                        applied.unwrap_or(0),
                        bundle.revision
                    );
                }
                let revision = bundle.revision;
                let result = apply(cfg, bundle, reload_pending).await;
                if result.written {
                    backoff.reset();
                    applied = Some(revision);
                    reload_pending = result.hook_failed;
                }
                retry_apply = !result.written;
                pending_ack = Some(result.ack);
            }
            Err(f) => {
                match &f {
                    Failure::Refused(..) => tracing::error!("{f}"),
                    _ => tracing::warn!("{f}"),
                }
                if cfg.once {
                    return 1;
                }
                tokio::time::sleep(backoff.delay()).await;
            }
        }
    }
}

/// Runs the loop until it returns (`--once`) or `shutdown` completes (status 0).
pub async fn run(
    cfg: &Config,
    client: &reqwest::Client,
    shutdown: impl Future<Output = ()>,
) -> i32 {
    tokio::select! {
        code = follow(cfg, client) => code,
        () = shutdown => {
            tracing::info!("stopping");
            0
        }
    }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}

/// `keyward agent`: the exit status.
pub fn main(args: AgentArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<i32> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log).context("invalid --log filter")?,
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cfg = Config::from_args(&args)?;
    let client = cfg.client(args.ca_file.as_ref())?;
    tracing::info!(
        agent = %cfg.name,
        environment = %args.environment,
        out = %cfg.out.display(),
        "following {}",
        cfg.bundle_url
    );
    if let Some(previous) = writer::applied_revision(&cfg.out) {
        tracing::info!(
            "{} holds revision {previous}; catching up",
            cfg.out.display()
        );
    }
    Ok(runtime.block_on(run(&cfg, &client, shutdown_signal())))
}

#[cfg(test)]
mod tests;
