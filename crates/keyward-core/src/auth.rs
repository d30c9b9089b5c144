//! Authentication: personal API access tokens, client-credentials tokens and passwords.
//!
//! A token is shown once and stored only as `HMAC-SHA256(pepper, token)`; the pepper is a random
//! server secret kept in the store's settings, sealed under the master key. Tokens are 256-bit random values, so a keyed hash is
//! enough (no stretching, no per-request Argon2). Passwords are hashed with Argon2id.
//!
//! Resolved callers are cached by token hash. Every identity change (token revoked, permissions
//! replaced) bumps a generation counter that empties the cache, so a revocation takes effect on
//! the next request on this node. Nodes sharing a PostgreSQL store announce the change to each
//! other (`NOTIFY`) and empty their caches when they hear it; as a bound should an announcement be
//! lost, cached callers of a shared store also expire after [`SHARED_CACHE_TTL`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use hmac::{Hmac, KeyInit, Mac};
use keyward_store::{Backend, Store, now_ms};
use sha2::Sha256;

use crate::error::{CoreError, CoreResult};
use crate::heavy::{HeavyError, HeavyWork};
use crate::messages;
use crate::permissions::Principal;

/// Name of the setting that holds the token pepper.
const PEPPER_SETTING: &str = "token_pepper";
/// Upper bound of cached callers; the cache is emptied when it is reached.
const CACHE_CAPACITY: usize = 10_000;
/// Longest time a node sharing its store trusts a cached caller without hearing of a change.
pub const SHARED_CACHE_TTL: Duration = Duration::from_secs(2);
/// A token's `lastUsedAt` is written at most this often by one node.
const TOUCH_INTERVAL: Duration = Duration::from_secs(60);
/// The announcement topic of identity changes.
const IDENTITY_TOPIC: &str = "identity";

/// `HMAC-SHA256(pepper, token)`.
type TokenHash = [u8; 32];

/// A resolved caller, the cache generation it was read under, and when.
type CachedCaller = (u64, Instant, Arc<Principal>);

pub struct Auth {
    store: Store,
    pepper: zeroize::Zeroizing<Vec<u8>>,
    generation: AtomicU64,
    cache: RwLock<HashMap<TokenHash, CachedCaller>>,
    /// How long a cached caller is trusted (unbounded on a store owned by this process).
    ttl: Option<Duration>,
    /// When this node last wrote each token's `lastUsedAt` (token id → time).
    touched: std::sync::Mutex<HashMap<String, Instant>>,
}

impl Auth {
    /// Loads (or creates, on first start) the pepper.
    pub async fn new(store: Store) -> CoreResult<Auth> {
        let pepper = store
            .sealed_setting_or_init(PEPPER_SETTING, || {
                zeroize::Zeroizing::new(random_bytes::<32>().to_vec())
            })
            .await
            .map_err(CoreError::internal)?;
        let ttl = (store.backend() == Backend::Postgres).then_some(SHARED_CACHE_TTL);
        Ok(Auth {
            store,
            pepper,
            generation: AtomicU64::new(0),
            cache: RwLock::new(HashMap::new()),
            ttl,
            touched: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Forgets cached callers here and on every node sharing the store; call after any identity
    /// change.
    pub async fn identity_changed(&self) {
        self.invalidate();
        if let Err(e) = self.store.announce(IDENTITY_TOPIC).await {
            tracing::warn!(error = %e, "cannot announce an identity change to other nodes");
        }
    }

    /// Empties this node's cache when another node announces an identity change.
    pub fn watch_other_nodes(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        self.store.watch(move |topic| {
            if (topic == IDENTITY_TOPIC || topic == "*")
                && let Some(auth) = me.upgrade()
            {
                auth.invalidate();
            }
        });
    }

    /// The keyed hash under which a token is stored.
    pub fn hash_token(&self, token: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.pepper)
            .expect("HMAC takes any key length");
        mac.update(token.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Forgets every cached caller of this node.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut cache) = self.cache.write() {
            cache.clear();
        }
    }

    /// Resolves an `Authorization` header value to a caller, or the documented 401.
    pub async fn authenticate(&self, header: Option<&str>) -> CoreResult<Arc<Principal>> {
        let token = header
            .and_then(|h| {
                let (scheme, rest) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| CoreError::unauthorized(messages::TOKEN_MISSING))?;
        let hash = self.hash_token(token);
        let generation = self.generation.load(Ordering::SeqCst);
        let cached = self.cache.read().ok().and_then(|c| c.get(&hash).cloned());
        let fresh = |at: Instant| self.ttl.is_none_or(|ttl| at.elapsed() < ttl);
        let principal = match cached {
            Some((g, at, p)) if g == generation && fresh(at) => p,
            _ => {
                let owner = self
                    .store
                    .token_owner(&hash)
                    .await
                    .map_err(CoreError::internal)?
                    .ok_or_else(|| CoreError::unauthorized(messages::TOKEN_INVALID))?;
                let grants = self
                    .store
                    .grants_of(&owner.user_id)
                    .await
                    .map_err(CoreError::internal)?;
                let p = Arc::new(
                    Principal::new(
                        owner.user_id,
                        owner.username,
                        owner.sys_admin,
                        owner.token_id,
                        owner.expires_at,
                        &grants,
                    )
                    .for_environment(owner.environment),
                );
                if let Ok(mut cache) = self.cache.write() {
                    // Only cache what was read under the current generation.
                    if self.generation.load(Ordering::SeqCst) == generation {
                        if cache.len() >= CACHE_CAPACITY {
                            cache.clear();
                        }
                        cache.insert(hash, (generation, Instant::now(), p.clone()));
                    }
                }
                p
            }
        };
        if principal.expires_at.is_some_and(|e| e <= now_ms()) {
            return Err(CoreError::unauthorized(messages::TOKEN_EXPIRED));
        }
        self.touch(&principal.token_id);
        Ok(principal)
    }

    /// Records the token's use in the store, at most once per [`TOUCH_INTERVAL`] per node and
    /// off the request's path.
    fn touch(&self, token_id: &str) {
        let Ok(mut touched) = self.touched.lock() else {
            return;
        };
        if touched
            .get(token_id)
            .is_some_and(|at| at.elapsed() < TOUCH_INTERVAL)
        {
            return;
        }
        if touched.len() >= CACHE_CAPACITY {
            touched.clear();
        }
        touched.insert(token_id.to_owned(), Instant::now());
        let (store, id) = (self.store.clone(), token_id.to_owned());
        tokio::spawn(async move {
            if let Err(e) = store.touch_token(&id, now_ms()).await {
                tracing::debug!(error = %e, "cannot record a token's last use");
            }
        });
    }
}

/// A new token: `kw_` followed by 32 random bytes in base64url.
pub fn new_token() -> String {
    format!("kw_{}", keyward_jose::b64::url(&random_bytes::<32>()))
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b
}

/// Checks a password against its PHC string on the heavy-work pool (Argon2id: about 19 MiB and
/// tens of milliseconds each; without a cap, 250 concurrent logins took 1.6 GB). No turn within
/// the pool's wait: 503 (the edge adds `Retry-After`).
pub async fn verify_password_on(
    heavy: &HeavyWork,
    password: String,
    phc: String,
) -> CoreResult<bool> {
    heavy
        .run(move || verify_password(&password, &phc))
        .await
        .map_err(password_busy)
}

/// The PHC string of a new password, computed on the heavy-work pool.
pub async fn hash_password_on(heavy: &HeavyWork, password: String) -> CoreResult<String> {
    heavy
        .run(move || hash_password(&password))
        .await
        .map_err(password_busy)?
}

/// A password's turn that did not come says so in its own words.
fn password_busy(e: HeavyError) -> CoreError {
    match e {
        HeavyError::Busy => CoreError::busy(messages::PASSWORD_CHECKS_BUSY),
        other => other.into(),
    }
}

/// Argon2id PHC string of a password. CPU-heavy: call from a blocking task.
pub fn hash_password(password: &str) -> CoreResult<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(CoreError::internal)
}

/// Checks a password against its PHC string. CPU-heavy: call from a blocking task.
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = new_token();
        let b = new_token();
        assert!(a.starts_with("kw_") && a.len() == 3 + 43);
        assert_ne!(a, b);
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("wrong horse", &phc));
        assert!(!verify_password("correct horse", "not a phc string"));
    }
}
