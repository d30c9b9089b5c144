//! Keystores (reference §1.5): one named object per project, one file per environment (with what
//! was extracted from it at import), deployed to those environments; the JWKs derived from them
//! follow through [`crate::sources`]. The keystore password is never stored.

use crate::deploy::{DeploymentPlan, EnvDeployment};
use crate::seal::{Binding, Keyring, Record};
use crate::sources::{KIND_KEYSTORE, Rederived, SourceTable, cascade_update, redeploy};
use crate::{
    AuditEntry, JwkDeleteAction, JwkUpdateAction, KeystoreDraft, NewKeystoreEntry, Result, Store,
    StoreError, StoredKeystore, StoredKeystoreEntry, Tx, new_id, now_ms, unique_to_exists,
};

pub(crate) const KEYSTORES: SourceTable = SourceTable {
    table: "keystores",
    entries: "keystore_entries",
    fk: "keystore_id",
    kind: KIND_KEYSTORE,
};

const ENTRY_COLUMNS: &str = "SELECT e.id, k.project_id, e.keystore_id, e.environment_id, env.name AS environment_name, e.alias, e.keystore_type, e.file, e.extracted \
     FROM keystore_entries e JOIN environments env ON env.id = e.environment_id \
     JOIN keystores k ON k.id = e.keystore_id";

/// An entry as stored: `file` and `extracted` sealed.
#[derive(sqlx::FromRow)]
struct EntryRow {
    id: String,
    project_id: String,
    keystore_id: String,
    environment_id: String,
    environment_name: String,
    alias: String,
    keystore_type: String,
    file: Vec<u8>,
    extracted: Vec<u8>,
}

/// What a keystore entry's `field` is bound to.
fn binding<'a>(
    field: &'static str,
    row: &'a str,
    project_id: &'a str,
    keystore_id: &'a str,
    environment_id: &'a str,
) -> Binding<'a> {
    Binding {
        record: Record {
            table: "keystore_entries",
            field,
            row,
        },
        project: project_id,
        environment: environment_id,
        object: keystore_id,
    }
}

fn open_entries(keys: &Keyring, rows: Vec<EntryRow>) -> Result<Vec<StoredKeystoreEntry>> {
    rows.into_iter()
        .map(|r| {
            let b = |field| {
                binding(
                    field,
                    &r.id,
                    &r.project_id,
                    &r.keystore_id,
                    &r.environment_id,
                )
            };
            let file = keys.open(&b("file"), &r.file)?;
            let extracted = keys.open(&b("extracted"), &r.extracted)?;
            let extracted = String::from_utf8(extracted.to_vec())
                .map_err(|_| StoreError::Sealed(crate::SealError::Malformed))?;
            Ok(StoredKeystoreEntry {
                keystore_id: r.keystore_id,
                environment_id: r.environment_id,
                environment_name: r.environment_name,
                alias: r.alias,
                keystore_type: r.keystore_type,
                file: file.to_vec(),
                extracted,
            })
        })
        .collect()
}

#[derive(sqlx::FromRow)]
struct KeystoreRow {
    id: String,
    project_id: String,
    name: String,
    description: String,
    updated_at: i64,
}

const KEYSTORE_COLUMNS: &str =
    "SELECT id, project_id, name, description, updated_at FROM keystores";

impl Store {
    /// Every keystore of a project, by name, with its entries (files included: callers never show them).
    pub async fn list_keystores(&self, project_id: &str) -> Result<Vec<StoredKeystore>> {
        let rows: Vec<KeystoreRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{KEYSTORE_COLUMNS} WHERE project_id = $1 ORDER BY name"
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

    /// The names of a project's keystores (no file is opened).
    pub async fn keystore_names(&self, project_id: &str) -> Result<Vec<String>> {
        KEYSTORES.names(self, project_id).await
    }

    pub async fn keystore(&self, project_id: &str, name: &str) -> Result<Option<StoredKeystore>> {
        let row: Option<KeystoreRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{KEYSTORE_COLUMNS} WHERE project_id = $1 AND name = $2"
        )))
        .bind(project_id)
        .bind(name)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let entries: Vec<EntryRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ENTRY_COLUMNS} WHERE e.keystore_id = $1 ORDER BY env.name"
        )))
        .bind(&row.id)
        .fetch_all(&self.read)
        .await?;
        Ok(assemble(vec![row], open_entries(self.keys()?, entries)?).pop())
    }

    /// Creates a keystore with its entries and deploys it to their environments.
    pub async fn create_keystore(
        &self,
        project_id: &str,
        draft: &KeystoreDraft,
        audit: &AuditEntry,
    ) -> Result<(String, Vec<EnvDeployment>)> {
        let keys = self.keys()?;
        let mut tx = self.begin().await?;
        if KEYSTORES
            .find(&mut tx, project_id, &draft.name)
            .await?
            .is_some()
        {
            return Err(StoreError::AlreadyExists);
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO keystores (id, project_id, name, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&id)
        .bind(project_id)
        .bind(&draft.name)
        .bind(&draft.description)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(unique_to_exists)?;
        insert_entries(&mut tx, keys, project_id, &id, &draft.entries).await?;
        let mut plan = DeploymentPlan::default();
        redeploy(
            &mut plan,
            KEYSTORES.kind,
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

    /// Writes the complete new state of keystore `name` (renaming it if the draft says so), redeploys
    /// it, and, when its material changed (`cascade` given), applies the action to the JWKs
    /// derived from it, in one transaction.
    pub async fn replace_keystore(
        &self,
        project_id: &str,
        name: &str,
        draft: &KeystoreDraft,
        cascade: Option<(JwkUpdateAction, Rederived)>,
        audit: &AuditEntry,
    ) -> Result<Vec<EnvDeployment>> {
        let keys = self.keys()?;
        let mut tx = self.begin().await?;
        let Some(id) = KEYSTORES.find(&mut tx, project_id, name).await? else {
            return Err(StoreError::NotFound);
        };
        KEYSTORES
            .check_rename(&mut tx, project_id, &id, &draft.name)
            .await?;
        // Compare-and-set on `updated_at` first (see `replace_key`).
        let expected = match draft.based_on {
            Some(t) => t,
            None => KEYSTORES.updated_at(&mut tx, &id).await?,
        };
        let now = now_ms().max(expected + 1);
        let done = sqlx::query(
            "UPDATE keystores SET name = $1, description = $2, updated_at = $3 WHERE id = $4 AND updated_at = $5",
        )
        .bind(&draft.name)
        .bind(&draft.description)
        .bind(now)
        .bind(&id)
        .bind(expected)
        .execute(&mut *tx)
        .await
        .map_err(unique_to_exists)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict);
        }
        let old_envs = KEYSTORES.entry_envs(&mut tx, &id).await?;
        KEYSTORES.delete_entries(&mut tx, &id).await?;
        insert_entries(&mut tx, keys, project_id, &id, &draft.entries).await?;
        let mut plan = DeploymentPlan::default();
        redeploy(
            &mut plan,
            KEYSTORES.kind,
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

    /// Deletes a keystore, undeploys it, and unlinks or deletes the JWKs derived from it.
    pub async fn delete_keystore(
        &self,
        project_id: &str,
        name: &str,
        action: JwkDeleteAction,
        audit: &AuditEntry,
    ) -> Result<Vec<EnvDeployment>> {
        self.delete_source(&KEYSTORES, project_id, name, action, audit)
            .await
    }
}

async fn insert_entries(
    tx: &mut Tx,
    keys: &Keyring,
    project_id: &str,
    keystore_id: &str,
    entries: &[NewKeystoreEntry],
) -> Result<()> {
    for e in entries {
        let id = new_id();
        let b = |field| binding(field, &id, project_id, keystore_id, &e.environment_id);
        let file = keys.seal(&b("file"), &e.file);
        let extracted = keys.seal(&b("extracted"), e.extracted.as_bytes());
        sqlx::query(
            "INSERT INTO keystore_entries (id, keystore_id, environment_id, alias, keystore_type, file, extracted) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(keystore_id)
        .bind(&e.environment_id)
        .bind(&e.alias)
        .bind(&e.keystore_type)
        .bind(file)
        .bind(extracted)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

fn assemble(rows: Vec<KeystoreRow>, mut entries: Vec<StoredKeystoreEntry>) -> Vec<StoredKeystore> {
    rows.into_iter()
        .map(|r| {
            let (mine, rest): (Vec<_>, Vec<_>) =
                entries.drain(..).partition(|e| e.keystore_id == r.id);
            entries = rest;
            StoredKeystore {
                id: r.id,
                project_id: r.project_id,
                name: r.name,
                description: r.description,
                entries: mine,
                updated_at: r.updated_at,
            }
        })
        .collect()
}
