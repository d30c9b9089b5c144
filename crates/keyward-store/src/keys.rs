//! Crypto keys (reference §1.4): one named object per project, one entry per environment,
//! deployed to those environments; the JWKs derived from them follow through [`crate::sources`].

use crate::deploy::{DeploymentPlan, EnvDeployment};
use crate::seal::{Binding, Keyring, Record};
use crate::sources::{KIND_KEY, Rederived, SourceTable, cascade_update, redeploy};
use crate::{
    AuditEntry, CryptoKey, CryptoKeyEntry, JwkDeleteAction, JwkUpdateAction, KeyDraft, NewKeyEntry,
    Result, Store, StoreError, Tx, new_id, now_ms, unique_to_exists,
};

pub(crate) const KEYS: SourceTable = SourceTable {
    table: "crypto_keys",
    entries: "crypto_key_entries",
    fk: "key_id",
    kind: KIND_KEY,
};

const ENTRY_COLUMNS: &str = "SELECT e.id, k.project_id, e.key_id, e.environment_id, env.name AS environment_name, e.alias, e.content \
     FROM crypto_key_entries e JOIN environments env ON env.id = e.environment_id \
     JOIN crypto_keys k ON k.id = e.key_id";

/// An entry as stored: `content` sealed.
#[derive(sqlx::FromRow)]
struct EntryRow {
    id: String,
    project_id: String,
    key_id: String,
    environment_id: String,
    environment_name: String,
    alias: String,
    content: Vec<u8>,
}

/// What a key entry's content is bound to.
fn content_binding<'a>(
    row: &'a str,
    project_id: &'a str,
    key_id: &'a str,
    environment_id: &'a str,
) -> Binding<'a> {
    Binding {
        record: Record {
            table: "crypto_key_entries",
            field: "content",
            row,
        },
        project: project_id,
        environment: environment_id,
        object: key_id,
    }
}

fn open_entries(keys: &Keyring, rows: Vec<EntryRow>) -> Result<Vec<CryptoKeyEntry>> {
    rows.into_iter()
        .map(|r| {
            let content = keys.open(
                &content_binding(&r.id, &r.project_id, &r.key_id, &r.environment_id),
                &r.content,
            )?;
            Ok(CryptoKeyEntry {
                key_id: r.key_id,
                environment_id: r.environment_id,
                environment_name: r.environment_name,
                alias: r.alias,
                content: content.to_vec(),
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    project_id: String,
    name: String,
    description: String,
    key_type: String,
    algorithm: Option<String>,
    updated_at: i64,
}

const KEY_COLUMNS: &str =
    "SELECT id, project_id, name, description, key_type, algorithm, updated_at FROM crypto_keys";

impl Store {
    /// Every key of a project, by name, with its entries (content included: callers never show it).
    pub async fn list_keys(&self, project_id: &str) -> Result<Vec<CryptoKey>> {
        let rows: Vec<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{KEY_COLUMNS} WHERE project_id = $1 ORDER BY name"
        )))
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        let entries: Vec<EntryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ENTRY_COLUMNS} WHERE k.project_id = $1 ORDER BY env.name"
        )))
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        Ok(assemble(rows, open_entries(self.keys()?, entries)?))
    }

    /// The names of a project's keys (no content is opened).
    pub async fn key_names(&self, project_id: &str) -> Result<Vec<String>> {
        KEYS.names(self, project_id).await
    }

    pub async fn key(&self, project_id: &str, name: &str) -> Result<Option<CryptoKey>> {
        let row: Option<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{KEY_COLUMNS} WHERE project_id = $1 AND name = $2"
        )))
        .bind(project_id)
        .bind(name)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let entries: Vec<EntryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ENTRY_COLUMNS} WHERE e.key_id = $1 ORDER BY env.name"
        )))
        .bind(&row.id)
        .fetch_all(&self.read)
        .await?;
        Ok(assemble(vec![row], open_entries(self.keys()?, entries)?).pop())
    }

    /// Creates a key with its entries and deploys it to their environments.
    pub async fn create_key(
        &self,
        project_id: &str,
        draft: &KeyDraft,
        audit: &AuditEntry,
    ) -> Result<(String, Vec<EnvDeployment>)> {
        let keys = self.keys()?;
        let mut tx = self.begin().await?;
        if KEYS.find(&mut tx, project_id, &draft.name).await?.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO crypto_keys (id, project_id, name, description, key_type, algorithm, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(&id)
        .bind(project_id)
        .bind(&draft.name)
        .bind(&draft.description)
        .bind(&draft.key_type)
        .bind(&draft.algorithm)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(unique_to_exists)?;
        insert_entries(&mut tx, keys, project_id, &id, &draft.entries).await?;
        let mut plan = DeploymentPlan::default();
        redeploy(
            &mut plan,
            KEYS.kind,
            &id,
            project_id,
            Vec::new(),
            draft.entries.iter().map(|e| e.environment_id.clone()),
        );
        self.stage_audit(&mut tx, audit).await?;
        let deployed = plan.apply(&mut tx).await?;
        tx.commit().await?;
        Ok((id, deployed))
    }

    /// Writes the complete new state of key `name` (renaming it if the draft says so), redeploys
    /// it, and, when its material changed (`cascade` given), applies the action to the JWKs
    /// derived from it with the material derived beforehand, in one transaction
    /// ([`StoreError::SourceChanged`] when the derivation's basis moved).
    pub async fn replace_key(
        &self,
        project_id: &str,
        name: &str,
        draft: &KeyDraft,
        cascade: Option<(JwkUpdateAction, Rederived)>,
        audit: &AuditEntry,
    ) -> Result<Vec<EnvDeployment>> {
        let keys = self.keys()?;
        let mut tx = self.begin().await?;
        let Some(id) = KEYS.find(&mut tx, project_id, name).await? else {
            return Err(StoreError::NotFound);
        };
        KEYS.check_rename(&mut tx, project_id, &id, &draft.name)
            .await?;
        // Compare-and-set on `updated_at` first (it also locks the row on PostgreSQL): a draft
        // built on an older state is refused instead of silently undoing the other change.
        let expected = match draft.based_on {
            Some(t) => t,
            None => KEYS.updated_at(&mut tx, &id).await?,
        };
        let now = now_ms().max(expected + 1);
        let done = sqlx::query(
            "UPDATE crypto_keys SET name = $1, description = $2, key_type = $3, algorithm = $4, updated_at = $5 \
             WHERE id = $6 AND updated_at = $7",
        )
        .bind(&draft.name)
        .bind(&draft.description)
        .bind(&draft.key_type)
        .bind(&draft.algorithm)
        .bind(now)
        .bind(&id)
        .bind(expected)
        .execute(&mut *tx)
        .await
        .map_err(unique_to_exists)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict);
        }
        let old_envs = KEYS.entry_envs(&mut tx, &id).await?;
        KEYS.delete_entries(&mut tx, &id).await?;
        insert_entries(&mut tx, keys, project_id, &id, &draft.entries).await?;
        let mut plan = DeploymentPlan::default();
        redeploy(
            &mut plan,
            KEYS.kind,
            &id,
            project_id,
            old_envs,
            draft.entries.iter().map(|e| e.environment_id.clone()),
        );
        if let Some((action, rederived)) = cascade {
            cascade_update(
                &mut tx,
                keys,
                &mut plan,
                &id,
                project_id,
                action,
                Some(&rederived),
                expected,
                now,
            )
            .await?;
        }
        self.stage_audit(&mut tx, audit).await?;
        let deployed = plan.apply(&mut tx).await?;
        tx.commit().await?;
        self.reads_changed().await;
        Ok(deployed)
    }

    /// Deletes a key, undeploys it, and unlinks or deletes the JWKs derived from it.
    pub async fn delete_key(
        &self,
        project_id: &str,
        name: &str,
        action: JwkDeleteAction,
        audit: &AuditEntry,
    ) -> Result<Vec<EnvDeployment>> {
        self.delete_source(&KEYS, project_id, name, action, audit)
            .await
    }
}

async fn insert_entries(
    tx: &mut Tx,
    keys: &Keyring,
    project_id: &str,
    key_id: &str,
    entries: &[NewKeyEntry],
) -> Result<()> {
    for e in entries {
        let id = new_id();
        let sealed = keys.seal(
            &content_binding(&id, project_id, key_id, &e.environment_id),
            &e.content,
        );
        sqlx::query(
            "INSERT INTO crypto_key_entries (id, key_id, environment_id, alias, content) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(key_id)
        .bind(&e.environment_id)
        .bind(&e.alias)
        .bind(sealed)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

fn assemble(rows: Vec<KeyRow>, mut entries: Vec<CryptoKeyEntry>) -> Vec<CryptoKey> {
    rows.into_iter()
        .map(|r| {
            let (mine, rest): (Vec<_>, Vec<_>) = entries.drain(..).partition(|e| e.key_id == r.id);
            entries = rest;
            CryptoKey {
                id: r.id,
                project_id: r.project_id,
                name: r.name,
                description: r.description,
                key_type: r.key_type,
                algorithm: r.algorithm,
                entries: mine,
                updated_at: r.updated_at,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A partial update built on an old state is refused, and writes nothing.
    #[tokio::test]
    async fn stale_drafts_are_refused() {
        let path = std::env::temp_dir().join(format!("keyward-keys-{}.db", new_id()));
        let store = crate::test_store(&path).await;
        let (env, _) = store
            .create_environment("e", "", "TEST", &crate::test_audit())
            .await
            .unwrap();
        let project = store
            .create_project("p", "", &crate::test_audit())
            .await
            .unwrap();
        let mut draft = KeyDraft {
            name: "k".into(),
            description: "one".into(),
            key_type: "SECRET_KEY".into(),
            algorithm: Some("AES".into()),
            entries: vec![NewKeyEntry {
                environment_id: env.id.clone(),
                alias: String::new(),
                content: vec![1; 16],
            }],
            based_on: None,
        };
        store
            .create_key(&project.id, &draft, &crate::test_audit())
            .await
            .unwrap();
        let read = store.key(&project.id, "k").await.unwrap().unwrap();
        draft.based_on = Some(read.updated_at);
        draft.description = "two".into();
        store
            .replace_key(&project.id, "k", &draft, None, &crate::test_audit())
            .await
            .unwrap();
        // Same base again: the row moved on, so this one is stale.
        draft.description = "three".into();
        assert!(matches!(
            store
                .replace_key(&project.id, "k", &draft, None, &crate::test_audit())
                .await,
            Err(StoreError::Conflict)
        ));
        let now = store.key(&project.id, "k").await.unwrap().unwrap();
        assert_eq!(now.description, "two");
        assert!(now.updated_at > read.updated_at);
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    /// A re-derivation based on a state that moved (here: a JWK linked after it was read) is
    /// refused with `SourceChanged` and writes nothing; one based on the current state applies.
    #[tokio::test]
    async fn stale_rederivations_are_refused() {
        use crate::{JwkMaterial, JwkUpdateAction, NewJwk};
        let path = std::env::temp_dir().join(format!("keyward-keys-{}.db", new_id()));
        let store = crate::test_store(&path).await;
        let (env, _) = store
            .create_environment("e", "", "TEST", &crate::test_audit())
            .await
            .unwrap();
        let project = store
            .create_project("p", "", &crate::test_audit())
            .await
            .unwrap();
        let mut draft = KeyDraft {
            name: "k".into(),
            description: "one".into(),
            key_type: "PUBLIC_KEY".into(),
            algorithm: None,
            entries: vec![NewKeyEntry {
                environment_id: env.id.clone(),
                alias: String::new(),
                content: b"old".to_vec(),
            }],
            based_on: None,
        };
        let (key_id, _) = store
            .create_key(&project.id, &draft, &crate::test_audit())
            .await
            .unwrap();
        let material = |x: &str| JwkMaterial {
            kty: "EC".into(),
            kid: Some(format!("kid-{x}")),
            jwk_json: format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"y","kid":"kid-{x}"}}"#),
        };
        let read = store
            .source_jwks(KIND_KEY, &project.id, "k")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (read.source_id.as_str(), read.linked.len()),
            (key_id.as_str(), 0)
        );
        let (jwk, _) = store
            .create_jwk(
                &NewJwk {
                    project_id: project.id.clone(),
                    name: "j".into(),
                    description: String::new(),
                    source_type: "PUBLIC_KEY".into(),
                    source_id: Some(key_id.clone()),
                    source_url: None,
                    source_environment_id: Some(env.id.clone()),
                    material: material("a"),
                    key_use: Some("sig".into()),
                    alg: Some("ES256".into()),
                    kid_given: false,
                    environment_ids: None,
                },
                &crate::test_audit(),
            )
            .await
            .unwrap();
        let update = JwkUpdateAction::Update {
            all_projects: false,
        };
        draft.description = "two".into();
        let stale = read.derived(Vec::new());
        assert!(matches!(
            store
                .replace_key(
                    &project.id,
                    "k",
                    &draft,
                    Some((update, stale)),
                    &crate::test_audit()
                )
                .await,
            Err(StoreError::SourceChanged)
        ));
        assert_eq!(
            store
                .key(&project.id, "k")
                .await
                .unwrap()
                .unwrap()
                .description,
            "one"
        );
        // Read again, derive again: applied.
        let read = store
            .source_jwks(KIND_KEY, &project.id, "k")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.in_scope(&project.id, update).len(), 1);
        let fresh = read.derived(vec![(jwk.id.clone(), material("b"))]);
        store
            .replace_key(
                &project.id,
                "k",
                &draft,
                Some((update, fresh)),
                &crate::test_audit(),
            )
            .await
            .unwrap();
        let after = store.jwk(&project.id, "j").await.unwrap().unwrap();
        assert_eq!(after.kid.as_deref(), Some("kid-b"));
        // The derivation just applied is itself stale now (the key's updated_at moved).
        assert!(matches!(
            store
                .replace_key(
                    &project.id,
                    "k",
                    &draft,
                    Some((update, read.derived(Vec::new()))),
                    &crate::test_audit(),
                )
                .await,
            Err(StoreError::SourceChanged)
        ));
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
