//! This node's cache of the reads on every authenticated request's path: projects by name
//! ([`Store::project_by_name`]) and JWKs by project and name ([`Store::jwk`]).
//!
//! - **What**: rows that exist. An absent name is never cached, so a create needs no
//!   invalidation. A JWK is kept as stored (public members in plaintext, private members still
//!   sealed) and opened on every hit: the cache holds no secret in the clear.
//! - **Own writes**: every mutation that changes or deletes a project or a JWK row (cascades
//!   included) calls [`Store::reads_changed`] after its commit and before it returns, so this node
//!   never serves its own stale data. A read that began before that call never stores its result
//!   (the generation it started under is gone), so an in-flight read cannot put an old row back.
//! - **Other nodes' writes** (PostgreSQL): the same call announces [`TOPIC`] on
//!   `NOTIFY keyward_changes`; every node empties its cache when it hears it, typically within
//!   milliseconds. A node caches only while its change listener is connected (emptied when it is
//!   lost), and trusts an entry at most [`SHARED_READ_TTL`] should an announcement be lost.
//! - **Bounded**: at most [`PROJECT_CAPACITY`] projects and [`JWK_CAPACITY`] JWKs or
//!   [`JWK_BYTES`] of JWK data; a full map is emptied (as the token and JWKS caches are).
//!
//! Invalidation is coarse on purpose: any such change empties both maps. Writes are rare next to
//! reads, and a single generation is easy to reason about.
//!
//! [`Store::project_by_name`]: crate::Store::project_by_name
//! [`Store::jwk`]: crate::Store::jwk
//! [`Store::reads_changed`]: crate::Store::reads_changed

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::{Jwk, Project};

/// The announcement topic of changed projects and JWKs.
pub const TOPIC: &str = "reads";
/// Longest time a node sharing its store trusts a cached row without hearing of a change (the
/// token cache's bound, `keyward_http::auth::SHARED_CACHE_TTL`, is the same).
pub const SHARED_READ_TTL: Duration = Duration::from_secs(2);
/// Most cached projects.
pub const PROJECT_CAPACITY: usize = 1_024;
/// Most cached JWKs.
pub const JWK_CAPACITY: usize = 4_096;
/// Most bytes of cached JWK JSON and sealed private members.
pub const JWK_BYTES: usize = 16 << 20;

/// A JWK row as stored: `jwk.jwk_json` holds the public members, `private` the sealed complete
/// JSON when the key has private members.
#[derive(Debug)]
pub(crate) struct StoredJwk {
    pub jwk: Jwk,
    pub private: Option<Vec<u8>>,
}

impl StoredJwk {
    fn weight(&self) -> usize {
        // The JSON and the sealed bytes dominate; the rest is a few short strings.
        256 + self.jwk.jwk_json.len() + self.private.as_ref().map_or(0, Vec::len)
    }
}

struct Entry<V> {
    generation: u64,
    at: Instant,
    weight: usize,
    value: V,
}

/// One bounded map of the cache.
struct Shelf<K, V> {
    entries: HashMap<K, Entry<V>>,
    bytes: usize,
    capacity: usize,
    max_bytes: usize,
}

impl<K: Eq + Hash, V: Clone> Shelf<K, V> {
    fn new(capacity: usize, max_bytes: usize) -> Self {
        Shelf {
            entries: HashMap::new(),
            bytes: 0,
            capacity,
            max_bytes,
        }
    }

    fn get(&self, key: &K, generation: u64, ttl: Option<Duration>) -> Option<V> {
        let e = self.entries.get(key)?;
        (e.generation == generation && ttl.is_none_or(|ttl| e.at.elapsed() < ttl))
            .then(|| e.value.clone())
    }

    fn put(&mut self, key: K, value: V, weight: usize, generation: u64) {
        if weight > self.max_bytes {
            return;
        }
        if self.entries.len() >= self.capacity || self.bytes + weight > self.max_bytes {
            self.clear();
        }
        let entry = Entry {
            generation,
            at: Instant::now(),
            weight,
            value,
        };
        if let Some(old) = self.entries.insert(key, entry) {
            self.bytes -= old.weight;
        }
        self.bytes += weight;
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

/// A read's ticket: the generation it began under. Its result is cached only if nothing changed
/// since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

pub(crate) struct ReadCache {
    generation: AtomicU64,
    /// Whether rows may be cached: always on a store owned by this process; on a shared store only
    /// while this node listens for other nodes' changes.
    enabled: AtomicBool,
    /// How long an entry is trusted (unbounded on a store owned by this process).
    ttl: Option<Duration>,
    projects: RwLock<Shelf<String, Project>>,
    jwks: RwLock<Shelf<(String, String), Arc<StoredJwk>>>,
}

impl ReadCache {
    /// The cache of a store owned by this process (`shared: false`: on at once, no expiry) or
    /// shared with other nodes (off until [`ReadCache::set_listening`], entries expire).
    pub fn new(shared: bool) -> ReadCache {
        ReadCache {
            generation: AtomicU64::new(0),
            enabled: AtomicBool::new(!shared),
            ttl: shared.then_some(SHARED_READ_TTL),
            projects: RwLock::new(Shelf::new(PROJECT_CAPACITY, usize::MAX)),
            jwks: RwLock::new(Shelf::new(JWK_CAPACITY, JWK_BYTES)),
        }
    }

    /// Takes a ticket before reading the database.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::SeqCst))
    }

    fn current(&self) -> Option<u64> {
        self.enabled
            .load(Ordering::SeqCst)
            .then(|| self.generation.load(Ordering::SeqCst))
    }

    pub fn project(&self, name: &str) -> Option<Project> {
        let generation = self.current()?;
        let shelf = self.projects.read().ok()?;
        shelf.get(&name.to_owned(), generation, self.ttl)
    }

    pub fn put_project(&self, ticket: Ticket, project: &Project) {
        if let Ok(mut shelf) = self.projects.write()
            && self.current() == Some(ticket.0)
        {
            shelf.put(project.name.clone(), project.clone(), 0, ticket.0);
        }
    }

    pub fn jwk(&self, project_id: &str, name: &str) -> Option<Arc<StoredJwk>> {
        let generation = self.current()?;
        let shelf = self.jwks.read().ok()?;
        shelf.get(
            &(project_id.to_owned(), name.to_owned()),
            generation,
            self.ttl,
        )
    }

    pub fn put_jwk(&self, ticket: Ticket, stored: Arc<StoredJwk>) {
        if let Ok(mut shelf) = self.jwks.write()
            && self.current() == Some(ticket.0)
        {
            let key = (stored.jwk.project_id.clone(), stored.jwk.name.clone());
            let weight = stored.weight();
            shelf.put(key, stored, weight, ticket.0);
        }
    }

    /// Forgets everything; reads in flight will not store what they read.
    pub fn invalidate(&self) {
        // The generation first: a read holding a lock below checks it before storing.
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut shelf) = self.projects.write() {
            shelf.clear();
        }
        if let Ok(mut shelf) = self.jwks.write() {
            shelf.clear();
        }
    }

    /// A shared store's change listener connected (`true`) or was lost (`false`): anything cached
    /// may be outdated either way.
    pub fn set_listening(&self, listening: bool) {
        self.enabled.store(listening, Ordering::SeqCst);
        self.invalidate();
    }

    /// An announcement from any node (`*`: announcements may have been missed).
    pub fn heard(&self, topic: &str) {
        if topic == TOPIC || topic == "*" {
            self.invalidate();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(name: &str, id: &str) -> Project {
        Project {
            id: id.into(),
            name: name.into(),
            description: String::new(),
            created_at: 0,
        }
    }

    fn jwk(project_id: &str, name: &str, json: &str) -> Arc<StoredJwk> {
        Arc::new(StoredJwk {
            jwk: Jwk {
                id: format!("id-{name}"),
                project_id: project_id.into(),
                name: name.into(),
                description: String::new(),
                source_type: "CERTIFICATE".into(),
                source_id: None,
                source_url: None,
                source_environment_id: None,
                kty: "EC".into(),
                kid: None,
                key_use: None,
                alg: None,
                kid_given: false,
                jwk_json: json.into(),
                created_at: 0,
                updated_at: 0,
            },
            private: None,
        })
    }

    #[test]
    fn hits_after_a_put_and_forgets_on_invalidate() {
        let c = ReadCache::new(false);
        let t = c.ticket();
        c.put_project(t, &project("shop", "p1"));
        c.put_jwk(t, jwk("p1", "k", "{}"));
        assert_eq!(c.project("shop").unwrap().id, "p1");
        assert_eq!(c.jwk("p1", "k").unwrap().jwk.name, "k");
        assert!(c.jwk("p2", "k").is_none(), "keyed by project id too");
        c.invalidate();
        assert!(c.project("shop").is_none());
        assert!(c.jwk("p1", "k").is_none());
    }

    #[test]
    fn a_read_that_began_before_a_change_is_not_stored() {
        let c = ReadCache::new(false);
        let before = c.ticket();
        // A mutation commits and invalidates while the read is in flight.
        c.invalidate();
        c.put_project(before, &project("shop", "old"));
        c.put_jwk(before, jwk("p1", "k", "{}"));
        assert!(c.project("shop").is_none());
        assert!(c.jwk("p1", "k").is_none());
        // A read that began after it is stored.
        let after = c.ticket();
        c.put_project(after, &project("shop", "new"));
        assert_eq!(c.project("shop").unwrap().id, "new");
    }

    #[test]
    fn a_shared_cache_works_only_while_listening_and_hears_announcements() {
        let c = ReadCache::new(true);
        c.put_project(c.ticket(), &project("shop", "p1"));
        assert!(c.project("shop").is_none(), "off until the listener runs");
        c.set_listening(true);
        c.put_project(c.ticket(), &project("shop", "p1"));
        assert!(c.project("shop").is_some());
        c.heard("identity");
        c.heard("deploy");
        assert!(c.project("shop").is_some(), "other topics leave it alone");
        c.heard(TOPIC);
        assert!(c.project("shop").is_none());
        c.put_project(c.ticket(), &project("shop", "p1"));
        c.heard("*");
        assert!(c.project("shop").is_none(), "a lost connection empties it");
        c.put_project(c.ticket(), &project("shop", "p1"));
        c.set_listening(false);
        assert!(c.project("shop").is_none());
        c.put_project(c.ticket(), &project("shop", "p1"));
        assert!(c.project("shop").is_none(), "off while not listening");
    }

    #[test]
    fn shared_entries_expire() {
        let c = ReadCache::new(true);
        c.set_listening(true);
        c.put_project(c.ticket(), &project("shop", "p1"));
        let shelf = c.projects.read().unwrap();
        let g = c.generation.load(Ordering::SeqCst);
        assert!(
            shelf
                .get(&"shop".to_owned(), g, Some(SHARED_READ_TTL))
                .is_some()
        );
        assert!(
            shelf
                .get(&"shop".to_owned(), g, Some(Duration::ZERO))
                .is_none(),
            "older than the TTL"
        );
    }

    #[test]
    fn shelves_are_bounded_by_count_and_bytes() {
        let mut s: Shelf<u32, u32> = Shelf::new(3, 100);
        for k in 0..3 {
            s.put(k, k, 10, 0);
        }
        assert_eq!(s.entries.len(), 3);
        s.put(3, 3, 10, 0);
        assert_eq!(s.entries.len(), 1, "full: emptied, then the new entry");
        assert_eq!(s.bytes, 10);
        s.put(4, 4, 95, 0);
        assert_eq!((s.entries.len(), s.bytes), (1, 95), "over the byte budget");
        let mut r: Shelf<u32, u32> = Shelf::new(3, 100);
        r.put(1, 1, 10, 0);
        r.put(1, 1, 20, 0);
        assert_eq!(
            (r.entries.len(), r.bytes),
            (1, 20),
            "a replaced entry's weight is given back"
        );
        s.put(5, 5, 101, 0);
        assert!(
            s.get(&5, 0, None).is_none(),
            "larger than the budget: never kept"
        );
        assert!(s.get(&4, 1, None).is_none(), "another generation");
    }

    #[test]
    fn the_jwk_shelf_is_bounded() {
        let c = ReadCache::new(false);
        let t = c.ticket();
        for i in 0..JWK_CAPACITY + 10 {
            c.put_jwk(t, jwk("p", &format!("k{i}"), "{}"));
        }
        assert!(c.jwks.read().unwrap().entries.len() <= JWK_CAPACITY);
        let big = "x".repeat(JWK_BYTES / 3);
        for i in 0..5 {
            c.put_jwk(t, jwk("p", &format!("big{i}"), &big));
        }
        assert!(c.jwks.read().unwrap().bytes <= JWK_BYTES);
    }

    /// Through a real store: a row changed behind the cache's back is still served from it (so it
    /// is cached), and every mutation of the store forgets it before returning.
    #[tokio::test]
    async fn the_store_serves_cached_rows_until_its_own_mutations() {
        let path = std::env::temp_dir().join(format!("keyward-cache-{}.db", crate::new_id()));
        let store = crate::test_store(&path).await;
        let shop = store
            .create_project("shop", "", &crate::test_audit())
            .await
            .unwrap();
        let new = |name: &str| crate::NewJwk {
            project_id: shop.id.clone(),
            name: name.into(),
            description: String::new(),
            source_type: "JWK".into(),
            source_id: None,
            source_url: None,
            source_environment_id: None,
            material: crate::JwkMaterial {
                kty: "oct".into(),
                kid: Some(format!("kid-{name}")),
                jwk_json: format!(r#"{{"kty":"oct","k":"c2VjcmV0","kid":"kid-{name}"}}"#),
            },
            key_use: None,
            alg: None,
            kid_given: true,
            environment_ids: Some(Vec::new()),
        };
        store
            .create_jwk(&new("a"), &crate::test_audit())
            .await
            .unwrap();
        store
            .create_jwk(&new("b"), &crate::test_audit())
            .await
            .unwrap();
        let behind = |sql: &'static str| {
            let pool = store.write.clone();
            async move { sqlx::query(sql).execute(&pool).await.unwrap() }
        };
        // Cached, and opened on every hit: the private member comes back in full.
        let a = store.jwk(&shop.id, "a").await.unwrap().unwrap();
        assert!(a.jwk_json.contains(r#""k":"c2VjcmV0""#), "{}", a.jwk_json);
        assert!(store.project_by_name("shop").await.unwrap().is_some());
        behind("UPDATE jwks SET description = 'behind' WHERE name = 'a'").await;
        behind("UPDATE projects SET description = 'behind'").await;
        let again = store.jwk(&shop.id, "a").await.unwrap().unwrap();
        assert_eq!(again.description, "", "served from the cache");
        assert_eq!(again.jwk_json, a.jwk_json);
        let p = store.project_by_name("shop").await.unwrap().unwrap();
        assert_eq!(p.description, "", "served from the cache");
        let hit = store.reads.jwk(&shop.id, "a").unwrap();
        assert!(hit.private.is_some(), "kept sealed");
        assert!(
            !hit.jwk.jwk_json.contains("c2VjcmV0"),
            "no secret in the clear"
        );

        // The store's own update: the next read sees it (and what changed behind, too).
        store
            .update_jwk(&shop.id, "a", None, Some("mine"), &crate::test_audit())
            .await
            .unwrap();
        assert_eq!(
            store.jwk(&shop.id, "a").await.unwrap().unwrap().description,
            "mine"
        );
        assert_eq!(
            store
                .project_by_name("shop")
                .await
                .unwrap()
                .unwrap()
                .description,
            "behind"
        );
        // Renamed: the old name is gone at once.
        store.jwk(&shop.id, "b").await.unwrap().unwrap();
        store
            .update_jwk(&shop.id, "b", Some("c"), None, &crate::test_audit())
            .await
            .unwrap();
        assert!(store.jwk(&shop.id, "b").await.unwrap().is_none());
        assert!(store.jwk(&shop.id, "c").await.unwrap().is_some());
        // Absent names are not cached: a create is seen at once.
        assert!(store.jwk(&shop.id, "d").await.unwrap().is_none());
        store
            .create_jwk(&new("d"), &crate::test_audit())
            .await
            .unwrap();
        assert!(store.jwk(&shop.id, "d").await.unwrap().is_some());
        // Deleted: gone at once.
        store
            .delete_jwk(&shop.id, "a", &crate::test_audit())
            .await
            .unwrap();
        assert!(store.jwk(&shop.id, "a").await.unwrap().is_none());
        // A deleted project and its JWKs are gone at once; a new one of the same name is found.
        store.jwk(&shop.id, "c").await.unwrap().unwrap();
        store
            .delete_project(&shop.id, true, &crate::test_audit())
            .await
            .unwrap()
            .unwrap();
        assert!(store.project_by_name("shop").await.unwrap().is_none());
        assert!(store.jwk(&shop.id, "c").await.unwrap().is_none());
        let again = store
            .create_project("shop", "", &crate::test_audit())
            .await
            .unwrap();
        assert_eq!(
            store.project_by_name("shop").await.unwrap().unwrap().id,
            again.id
        );
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
