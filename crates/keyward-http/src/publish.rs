//! Deployments reaching their environments (docs/agent.md): the change signal that wakes agents'
//! long polls, the pre-serialized public JWKS of each project and environment, and the honest
//! `deploymentResult` that waits for the agents of the touched environments.
//!
//! Every mutation that deploys ends in [`Publisher::settle`]: it bumps this node's change
//! generation (waking long polls and outdating cached JWKS), announces the change to other nodes
//! sharing the store, then waits up to the configured time for every connected agent of each
//! touched environment to acknowledge the new revision.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderValue;
use keyward_store::{EnvDeployment, Store, now_ms};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, watch};

use crate::deployment::{DeploymentDetail, DeploymentResult};
use crate::error::{ApiError, ApiResult};
use keyward_core::MAX_NAME_CHARS;

/// The announcement topic of deployment changes.
const DEPLOY_TOPIC: &str = "deploy";
/// Cached JWKS entries kept at most; the cache is emptied when it is reached.
const CACHE_CAPACITY: usize = 10_000;
/// How long "no such project or environment" is remembered (projects appear without deploying).
const NEGATIVE_TTL: Duration = Duration::from_secs(1);
/// How often retired JWKs past their grace period are forgotten (on a deploying mutation).
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How often a long poll or a deployment wait looks at the store, for changes made by other nodes.
pub const STORE_RECHECK: Duration = Duration::from_millis(200);

/// Publishing settings.
#[derive(Debug, Clone)]
pub struct PublishConfig {
    /// How long a deleted or replaced JWK stays in the public JWKS.
    pub grace: Duration,
    /// The `max-age` of the public JWKS (bounded by `grace`).
    pub max_age: Duration,
    /// How long a mutation waits for agents to acknowledge it.
    pub deploy_wait: Duration,
}

impl Default for PublishConfig {
    fn default() -> PublishConfig {
        PublishConfig {
            grace: Duration::from_secs(24 * 3600),
            max_age: Duration::from_secs(300),
            deploy_wait: Duration::from_secs(5),
        }
    }
}

impl PublishConfig {
    /// The `max-age` actually sent: never longer than the grace period.
    pub fn effective_max_age(&self) -> Duration {
        self.max_age.min(self.grace)
    }
}

/// A public JWKS, serialized once.
pub struct JwksDocument {
    pub body: Bytes,
    /// Strong entity tag (quoted).
    pub etag: HeaderValue,
}

struct Cached {
    generation: u64,
    built: Instant,
    /// When the content changes by itself (a retired key leaves), unix ms.
    changes_at: Option<i64>,
    document: Option<Arc<JwksDocument>>,
}

pub struct Publisher {
    store: Store,
    config: PublishConfig,
    generation: watch::Sender<u64>,
    acks: Notify,
    cache: RwLock<HashMap<(String, String), Cached>>,
    /// How long a cached entry is trusted without hearing of a change (shared stores only).
    shared_ttl: Option<Duration>,
    cache_control: HeaderValue,
    /// Set once when the server starts to stop (long polls end at once).
    closing: watch::Sender<bool>,
    /// When retired JWKs past their grace period were last forgotten.
    last_purge: std::sync::Mutex<Instant>,
}

impl Publisher {
    pub fn new(store: Store, config: PublishConfig) -> Arc<Publisher> {
        let shared_ttl = (store.backend() == keyward_store::Backend::Postgres)
            .then_some(crate::auth::SHARED_CACHE_TTL);
        let cache_control = HeaderValue::from_str(&format!(
            "public, max-age={}",
            config.effective_max_age().as_secs()
        ))
        .expect("digits are a valid header value");
        let publisher = Arc::new(Publisher {
            closing: watch::Sender::new(false),
            last_purge: std::sync::Mutex::new(Instant::now()),
            cache_control,
            store,
            config,
            generation: watch::Sender::new(0),
            acks: Notify::new(),
            cache: RwLock::new(HashMap::new()),
            shared_ttl,
        });
        let me = Arc::downgrade(&publisher);
        publisher.store.watch(move |topic| {
            if (topic == DEPLOY_TOPIC || topic == "*")
                && let Some(p) = me.upgrade()
            {
                p.changed();
            }
        });
        publisher
    }

    pub fn config(&self) -> &PublishConfig {
        &self.config
    }

    /// `Cache-Control` of the public JWKS.
    pub fn cache_control(&self) -> HeaderValue {
        self.cache_control.clone()
    }

    /// Something was deployed or undeployed: outdates cached JWKS and wakes long polls.
    pub fn changed(&self) {
        self.generation.send_modify(|g| *g += 1);
    }

    /// The server is stopping: every long poll ends now.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Completes once [`Publisher::close`] was called.
    pub async fn closing(&self) {
        let mut rx = self.closing.subscribe();
        // An error means the sender is gone, which only happens at the very end.
        let _ = rx.wait_for(|closing| *closing).await;
    }

    /// A receiver that sees every later [`Publisher::changed`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// An agent acknowledged a revision on this node.
    pub fn acknowledged(&self) {
        self.acks.notify_waiters();
    }

    /// The public JWKS of a project in an environment, from the cache when it is current; `None`
    /// when either does not exist.
    pub async fn jwks(
        &self,
        project: &str,
        environment: &str,
    ) -> ApiResult<Option<Arc<JwksDocument>>> {
        // No project or environment has a longer name: answer without a lookup,
        // and keep the cache's keys small whatever an anonymous caller sends.
        if project.chars().count() > MAX_NAME_CHARS || environment.chars().count() > MAX_NAME_CHARS
        {
            return Ok(None);
        }
        let generation = *self.generation.borrow();
        let key = (project.to_owned(), environment.to_owned());
        if let Ok(cache) = self.cache.read()
            && let Some(c) = cache.get(&key)
            && c.generation == generation
            && self.fresh(c)
        {
            return Ok(c.document.clone());
        }
        let now = now_ms();
        let grace_ms = self.config.grace.as_millis() as i64;
        let published = self
            .store
            .published_jwks(project, environment, Some(now - grace_ms), grace_ms)
            .await
            .map_err(ApiError::internal)?;
        let (document, changes_at) = match published {
            None => (None, None),
            Some(p) => (Some(Arc::new(serialize(&p.keys))), p.changes_at),
        };
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(
                key,
                Cached {
                    generation,
                    built: Instant::now(),
                    changes_at,
                    document: document.clone(),
                },
            );
        }
        Ok(document)
    }

    fn fresh(&self, c: &Cached) -> bool {
        let ttl = match (&c.document, self.shared_ttl) {
            (None, Some(shared)) => Some(shared.min(NEGATIVE_TTL)),
            (None, None) => Some(NEGATIVE_TTL),
            (Some(_), shared) => shared,
        };
        ttl.is_none_or(|ttl| c.built.elapsed() < ttl) && c.changes_at.is_none_or(|t| now_ms() < t)
    }

    /// Ends a deploying mutation: signals the change, then waits (at most the configured time)
    /// for the connected agents of every touched environment to acknowledge its revision.
    pub async fn settle(&self, envs: &[EnvDeployment]) -> DeploymentResult {
        if envs.is_empty() {
            return DeploymentResult::from_envs(envs, &BTreeMap::new(), 0);
        }
        let started = Instant::now();
        let started_ms = now_ms();
        self.changed();
        if let Err(e) = self.store.announce(DEPLOY_TOPIC).await {
            tracing::warn!(error = %e, "cannot announce a deployment to other nodes");
        }
        self.purge_retired().await;
        let details = match self.wait_for_agents(envs, started, started_ms).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the agents of a deployment");
                BTreeMap::new()
            }
        };
        DeploymentResult::from_envs(envs, &details, started.elapsed().as_millis() as i64)
    }

    /// Forgets retired JWKs past their grace period, at most once per [`PURGE_EVERY`].
    async fn purge_retired(&self) {
        let due = self.last_purge.lock().is_ok_and(|mut last| {
            let due = last.elapsed() >= PURGE_EVERY;
            if due {
                *last = Instant::now();
            }
            due
        });
        if due {
            let before = now_ms() - self.config.grace.as_millis() as i64;
            if let Err(e) = self.store.purge_retired_jwks(before).await {
                tracing::warn!(error = %e, "cannot forget retired JWKs");
            }
        }
    }

    /// Per environment name, one detail per agent connected when the wait began.
    async fn wait_for_agents(
        &self,
        envs: &[EnvDeployment],
        started: Instant,
        started_ms: i64,
    ) -> keyward_store::Result<BTreeMap<String, Vec<DeploymentDetail>>> {
        let target: HashMap<&str, (&str, i64)> = envs
            .iter()
            .map(|e| {
                (
                    e.environment_id.as_str(),
                    (e.environment_name.as_str(), e.revision),
                )
            })
            .collect();
        let waited_for: Vec<(String, String)> = self
            .store
            .connected_agents(started_ms)
            .await?
            .into_iter()
            .filter(|a| target.contains_key(a.environment_id.as_str()))
            .map(|a| (a.environment_id, a.name))
            .collect();
        let mut out: BTreeMap<String, Vec<DeploymentDetail>> = BTreeMap::new();
        if waited_for.is_empty() {
            return Ok(out);
        }
        let deadline = started + self.config.deploy_wait;
        loop {
            let notified = self.acks.notified();
            let mut records = Vec::new();
            for env in waited_for
                .iter()
                .map(|(e, _)| e)
                .collect::<std::collections::BTreeSet<_>>()
            {
                records.extend(self.store.agents(env).await?);
            }
            let answer = |env: &str, name: &str| {
                let (_, revision) = target[env];
                records
                    .iter()
                    .find(|r| r.environment_id == env && r.name == name)
                    .filter(|r| r.acked_revision.is_some_and(|a| a >= revision))
                    .cloned()
            };
            let done = waited_for.iter().all(|(e, n)| answer(e, n).is_some());
            if done || Instant::now() >= deadline {
                for (env, name) in &waited_for {
                    let (env_name, revision) = target[env.as_str()];
                    let record = records
                        .iter()
                        .find(|r| &r.environment_id == env && &r.name == name);
                    let detail = match answer(env, name) {
                        Some(r) => DeploymentDetail {
                            env_name: env_name.to_owned(),
                            pod_name: name.clone(),
                            pod_ip: r.address.clone(),
                            success: r.acked_success == Some(1),
                            detail: r.acked_detail.clone().unwrap_or_default(),
                            response_time: r.acked_at.map_or(0, |at| (at - started_ms).max(0)),
                        },
                        None => DeploymentDetail {
                            env_name: env_name.to_owned(),
                            pod_name: name.clone(),
                            pod_ip: record.map(|r| r.address.clone()).unwrap_or_default(),
                            success: false,
                            detail: crate::messages::agent_no_answer(
                                revision,
                                self.config.deploy_wait,
                            ),
                            response_time: started.elapsed().as_millis() as i64,
                        },
                    };
                    out.entry(env_name.to_owned()).or_default().push(detail);
                }
                return Ok(out);
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(STORE_RECHECK) => {}
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
        }
    }
}

/// `{"keys":[…]}` from public JWK texts, and its entity tag.
fn serialize(keys: &[String]) -> JwksDocument {
    let mut body = String::with_capacity(12 + keys.iter().map(|k| k.len() + 1).sum::<usize>());
    body.push_str("{\"keys\":[");
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(k);
    }
    body.push_str("]}");
    let digest = Sha256::digest(body.as_bytes());
    let etag = format!("\"{}\"", keyward_jose::b64::url(&digest[..18]));
    JwksDocument {
        body: Bytes::from(body),
        etag: HeaderValue::from_str(&etag).expect("base64url is a valid header value"),
    }
}

/// Whether an `If-None-Match` value matches `etag` (weak comparison, RFC 9110 §13.1.2).
pub fn none_match(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|tag| {
        tag == "*"
            || tag.strip_prefix("W/").unwrap_or(tag) == etag.strip_prefix("W/").unwrap_or(etag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_json_with_a_stable_strong_tag() {
        let a = serialize(&[
            r#"{"kty":"EC","kid":"a"}"#.into(),
            r#"{"kty":"RSA"}"#.into(),
        ]);
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["keys"].as_array().unwrap().len(), 2);
        let again = serialize(&[
            r#"{"kty":"EC","kid":"a"}"#.into(),
            r#"{"kty":"RSA"}"#.into(),
        ]);
        assert_eq!(a.etag, again.etag);
        assert_ne!(a.etag, serialize(&[]).etag);
        assert_eq!(&serialize(&[]).body[..], b"{\"keys\":[]}");
        assert!(!a.etag.to_str().unwrap().starts_with("W/"));
    }

    #[tokio::test]
    async fn overlong_names_are_not_found_without_a_lookup() {
        let path =
            std::env::temp_dir().join(format!("keyward-publish-{}.db", keyward_store::new_id()));
        let store = Store::open_sqlite(&path).await.unwrap();
        let publisher = Publisher::new(store, PublishConfig::default());
        let long = "p".repeat(MAX_NAME_CHARS + 1);
        // A lookup would have cached a "not found".
        assert!(publisher.jwks(&long, "dev").await.unwrap().is_none());
        assert!(publisher.jwks("dev", &long).await.unwrap().is_none());
        assert!(publisher.cache.read().unwrap().is_empty(), "nothing cached");
    }

    #[test]
    fn if_none_match_compares_weakly() {
        assert!(none_match("\"abc\"", "\"abc\""));
        assert!(none_match("W/\"abc\"", "\"abc\""));
        assert!(none_match("\"x\", \"abc\"", "\"abc\""));
        assert!(none_match("*", "\"abc\""));
        assert!(!none_match("\"abd\"", "\"abc\""));
        assert!(!none_match("abc", "\"abc\""));
    }
}
