//! What certificates, keys and keystores share as JWK sources: finding the object by name, the
//! redeployment of its entries, and the one cascade to the JWKs derived from it (re-derive,
//! unlink or delete), all inside the caller's transaction.
//!
//! Re-derivation is costly (key parsing, certificate chains) and never runs inside a write
//! transaction: the caller reads the source and its linked JWKs ([`Store::source_jwks`]), derives
//! their new material outside the store, and hands the mutation a [`Rederived`]. The mutation
//! compares what the derivation was based on with what it finds (compare-and-set) and answers
//! [`StoreError::SourceChanged`] when anything moved, so the caller derives again.

use std::collections::BTreeSet;

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::deploy::{DeploymentPlan, KIND_JWK, deployed_environment_ids};
use crate::seal::Keyring;
use crate::{
    AuditEntry, JwkDeleteAction, JwkMaterial, JwkUpdateAction, LinkedJwk, Result, Store,
    StoreError, Tx,
};

/// Deployment kinds of keys and keystores (beside `KIND_CERTIFICATE` and `KIND_JWK`).
pub const KIND_KEY: &str = "KEY";
pub const KIND_KEYSTORE: &str = "KEYSTORE";

/// The JWKs linked to a source when it was read, before a re-derivation.
#[derive(Debug, Clone)]
pub struct SourceJwks {
    pub source_id: String,
    /// The source's `updated_at` when it was read.
    pub updated_at: i64,
    /// Every JWK derived from the source (all projects), by name.
    pub linked: Vec<LinkedJwk>,
}

impl SourceJwks {
    /// The linked JWKs `action` re-derives (the others are unlinked).
    pub fn in_scope(&self, project_id: &str, action: JwkUpdateAction) -> Vec<LinkedJwk> {
        match action {
            JwkUpdateAction::Nullify => Vec::new(),
            JwkUpdateAction::Update { all_projects } => self
                .linked
                .iter()
                .filter(|l| all_projects || l.jwk.project_id == project_id)
                .cloned()
                .collect(),
        }
    }

    /// What a derivation from this state produced, to hand to the mutation.
    pub fn derived(&self, updates: Vec<(String, JwkMaterial)>) -> Rederived {
        Rederived {
            source_updated_at: self.updated_at,
            basis: stamps(&self.linked),
            updates,
        }
    }
}

/// The new material of the JWKs linked to a source, derived outside the store, and the state it
/// was derived from: the mutation applies it only if that state is still the current one.
#[derive(Debug, Clone, Default)]
pub struct Rederived {
    /// The source's `updated_at` the derivation read.
    pub source_updated_at: i64,
    /// Every linked JWK the derivation read: id, `updated_at` and keystore alias, sorted.
    pub basis: Vec<(String, i64, Option<String>)>,
    /// The new material of each in-scope JWK, by JWK id.
    pub updates: Vec<(String, JwkMaterial)>,
}

fn stamps(linked: &[LinkedJwk]) -> Vec<(String, i64, Option<String>)> {
    let mut s: Vec<_> = linked
        .iter()
        .map(|l| (l.jwk.id.clone(), l.jwk.updated_at, l.source_alias.clone()))
        .collect();
    s.sort();
    s
}

/// The tables of one kind of named, per-environment source object.
#[derive(Clone, Copy)]
pub(crate) struct SourceTable {
    /// The object table (`id`, `project_id`, `name`, …).
    pub table: &'static str,
    /// The entry table.
    pub entries: &'static str,
    /// The entry table's column naming the object.
    pub fk: &'static str,
    /// The deployment kind.
    pub kind: &'static str,
}

impl SourceTable {
    /// The names of a project's objects, sorted; no entry is read (nothing is opened).
    pub async fn names(&self, store: &Store, project_id: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT name FROM {} WHERE project_id = $1 ORDER BY name",
            self.table
        )))
        .bind(project_id)
        .fetch_all(&store.read)
        .await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    /// The id of the object `name` of a project.
    pub async fn find(&self, tx: &mut Tx, project_id: &str, name: &str) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM {} WHERE project_id = $1 AND name = $2",
            self.table
        )))
        .bind(project_id)
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
        Ok(row.map(|(id,)| id))
    }

    /// The environments the object currently has entries in.
    pub async fn entry_envs(&self, tx: &mut Tx, id: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT environment_id FROM {} WHERE {} = $1 ORDER BY environment_id",
            self.entries, self.fk
        )))
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
        Ok(rows.into_iter().map(|(e,)| e).collect())
    }

    /// The object's `updated_at`.
    pub async fn updated_at(&self, tx: &mut Tx, id: &str) -> Result<i64> {
        let (t,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT updated_at FROM {} WHERE id = $1",
            self.table
        )))
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
        Ok(t)
    }

    pub async fn delete_entries(&self, tx: &mut Tx, id: &str) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {} WHERE {} = $1",
            self.entries, self.fk
        )))
        .bind(id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Deletes the object and its entries.
    pub async fn delete(&self, tx: &mut Tx, id: &str) -> Result<()> {
        self.delete_entries(tx, id).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {} WHERE id = $1",
            self.table
        )))
        .bind(id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Refuses a rename onto a name another object of the project holds.
    pub async fn check_rename(
        &self,
        tx: &mut Tx,
        project_id: &str,
        id: &str,
        new_name: &str,
    ) -> Result<()> {
        match self.find(tx, project_id, new_name).await? {
            Some(other) if other != id => Err(StoreError::AlreadyExists),
            _ => Ok(()),
        }
    }
}

/// Deploys the object to its new environments and undeploys it from those it left.
pub(crate) fn redeploy(
    plan: &mut DeploymentPlan,
    kind: &'static str,
    id: &str,
    project_id: &str,
    old_envs: Vec<String>,
    new_envs: impl IntoIterator<Item = String>,
) {
    let new_envs: BTreeSet<String> = new_envs.into_iter().collect();
    let gone: Vec<String> = old_envs
        .into_iter()
        .filter(|e| !new_envs.contains(e))
        .collect();
    if !gone.is_empty() {
        plan.undeploy(kind, id, gone);
    }
    if !new_envs.is_empty() {
        plan.deploy(kind, id, project_id, new_envs.into_iter().collect());
    }
}

const LINKED_JWKS: &str = "SELECT j.*, a.alias AS source_alias FROM jwks j \
     LEFT JOIN jwk_source_aliases a ON a.jwk_id = j.id WHERE j.source_id = $1 ORDER BY j.name";

/// The JWKs derived from a source, with their keystore alias.
async fn linked_jwks(tx: &mut Tx, keys: &Keyring, source_id: &str) -> Result<Vec<LinkedJwk>> {
    let rows: Vec<AnyRow> = sqlx::query(LINKED_JWKS)
        .bind(source_id)
        .fetch_all(&mut **tx)
        .await?;
    reveal_linked(keys, &rows)
}

fn reveal_linked(keys: &Keyring, rows: &[AnyRow]) -> Result<Vec<LinkedJwk>> {
    rows.iter()
        .map(|row| {
            Ok(LinkedJwk {
                jwk: crate::jwks::reveal(keys, row)?,
                source_alias: row.try_get("source_alias")?,
            })
        })
        .collect()
}

pub(crate) async fn unlink_jwk(tx: &mut Tx, jwk_id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE jwks SET source_id = NULL, source_environment_id = NULL, updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(jwk_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Applies a source's update to the JWKs derived from it: out-of-scope JWKs are unlinked, those
/// in scope get the material derived beforehand (`rederived`) and are redeployed everywhere.
/// `source_updated_at`: the source's `updated_at` found by the caller's transaction before it
/// changed the source. With `Update`, a derivation based on another state of the source or of
/// its linked JWKs (or none) is refused with [`StoreError::SourceChanged`].
#[allow(clippy::too_many_arguments)]
pub(crate) async fn cascade_update(
    tx: &mut Tx,
    keys: &Keyring,
    plan: &mut DeploymentPlan,
    source_id: &str,
    project_id: &str,
    action: JwkUpdateAction,
    rederived: Option<&Rederived>,
    source_updated_at: i64,
    now: i64,
) -> Result<()> {
    let linked = linked_jwks(tx, keys, source_id).await?;
    let stale = |r: Option<&Rederived>| {
        r.is_none_or(|r| r.source_updated_at != source_updated_at || r.basis != stamps(&linked))
    };
    if matches!(action, JwkUpdateAction::Update { .. }) && !linked.is_empty() && stale(rederived) {
        return Err(StoreError::SourceChanged);
    }
    let (in_scope, out_of_scope): (Vec<LinkedJwk>, Vec<LinkedJwk>) = match action {
        JwkUpdateAction::Nullify => (Vec::new(), linked),
        JwkUpdateAction::Update { all_projects: true } => (linked, Vec::new()),
        JwkUpdateAction::Update {
            all_projects: false,
        } => linked
            .into_iter()
            .partition(|l| l.jwk.project_id == project_id),
    };
    for l in &out_of_scope {
        unlink_jwk(tx, &l.jwk.id, now).await?;
    }
    if in_scope.is_empty() {
        return Ok(());
    }
    let updates = rederived.map_or(&[][..], |r| &r.updates[..]);
    for (jwk_id, material) in updates {
        // The basis matched, so every update names a linked JWK; one out of scope is ignored.
        let Some(project) = in_scope
            .iter()
            .find(|l| &l.jwk.id == jwk_id)
            .map(|l| l.jwk.project_id.clone())
        else {
            continue;
        };
        let (public, private) =
            crate::jwks::split_private(keys, &project, jwk_id, &material.jwk_json);
        crate::publish::retire_jwk(tx, jwk_id, Some(&public), now).await?;
        sqlx::query(
            "UPDATE jwks SET kty = $1, kid = $2, jwk_json = $3, jwk_private = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(&material.kty)
        .bind(&material.kid)
        .bind(public)
        .bind(private)
        .bind(now)
        .bind(jwk_id)
        .execute(&mut **tx)
        .await?;
        let targets = deployed_environment_ids(tx, KIND_JWK, jwk_id).await?;
        plan.deploy(KIND_JWK, jwk_id, &project, targets);
    }
    Ok(())
}

/// Applies a source's deletion to the JWKs derived from it: unlink them, or delete and undeploy.
pub(crate) async fn cascade_delete(
    tx: &mut Tx,
    plan: &mut DeploymentPlan,
    source_id: &str,
    action: JwkDeleteAction,
    now: i64,
) -> Result<()> {
    let linked: Vec<(String,)> = sqlx::query_as("SELECT id FROM jwks WHERE source_id = $1")
        .bind(source_id)
        .fetch_all(&mut **tx)
        .await?;
    match action {
        JwkDeleteAction::Nullify => {
            for (jwk_id,) in &linked {
                unlink_jwk(tx, jwk_id, now).await?;
            }
        }
        JwkDeleteAction::Delete => {
            for (jwk_id,) in &linked {
                crate::publish::retire_jwk(tx, jwk_id, None, now).await?;
                let targets = deployed_environment_ids(tx, KIND_JWK, jwk_id).await?;
                sqlx::query("DELETE FROM jwks WHERE id = $1")
                    .bind(jwk_id)
                    .execute(&mut **tx)
                    .await?;
                plan.undeploy(KIND_JWK, jwk_id, targets);
            }
        }
    }
    Ok(())
}

impl crate::Store {
    /// The source `name` of a project (`kind`: `KIND_CERTIFICATE`, `KIND_KEY` or
    /// `KIND_KEYSTORE`) and the JWKs derived from it, read to re-derive them outside a write
    /// transaction; `None` when there is no such source.
    pub async fn source_jwks(
        &self,
        kind: &str,
        project_id: &str,
        name: &str,
    ) -> Result<Option<SourceJwks>> {
        let table = match kind {
            crate::KIND_CERTIFICATE => "certificates",
            KIND_KEY => "crypto_keys",
            KIND_KEYSTORE => "keystores",
            other => return Err(StoreError::Rejected(format!("no JWK source kind {other}"))),
        };
        let keys = self.keys()?;
        // One read transaction: the source and its JWKs as of one moment.
        let mut tx = self.read.begin().await?;
        let row: Option<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, updated_at FROM {table} WHERE project_id = $1 AND name = $2"
        )))
        .bind(project_id)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((source_id, updated_at)) = row else {
            return Ok(None);
        };
        let rows: Vec<AnyRow> = sqlx::query(LINKED_JWKS)
            .bind(&source_id)
            .fetch_all(&mut *tx)
            .await?;
        tx.rollback().await?;
        Ok(Some(SourceJwks {
            source_id,
            updated_at,
            linked: reveal_linked(keys, &rows)?,
        }))
    }

    /// Deletes the named source of `table` (a key or a keystore), undeploys it from its
    /// environments, and unlinks or deletes the JWKs derived from it, in one transaction.
    pub(crate) async fn delete_source(
        &self,
        table: &SourceTable,
        project_id: &str,
        name: &str,
        action: crate::JwkDeleteAction,
        audit: &AuditEntry,
    ) -> Result<Vec<crate::EnvDeployment>> {
        let mut tx = self.begin().await?;
        let Some(id) = table.find(&mut tx, project_id, name).await? else {
            return Err(crate::StoreError::NotFound);
        };
        let mut plan = DeploymentPlan::default();
        let envs = table.entry_envs(&mut tx, &id).await?;
        if !envs.is_empty() {
            plan.undeploy(table.kind, &id, envs);
        }
        cascade_delete(&mut tx, &mut plan, &id, action, crate::now_ms()).await?;
        table.delete(&mut tx, &id).await?;
        self.stage_audit(&mut tx, audit).await?;
        let deployed = plan.apply(&mut tx).await?;
        tx.commit().await?;
        self.reads_changed().await;
        Ok(deployed)
    }
}
