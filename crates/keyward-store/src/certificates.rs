//! Certificates: one named object per project, one entry per environment, and the cascades to the
//! JWKs derived from them.

use std::collections::BTreeSet;

use crate::deploy::{DeploymentPlan, EnvDeployment, KIND_CERTIFICATE};
use crate::sources::{Rederived, cascade_delete, cascade_update};
use crate::{
    AuditEntry, Certificate, CertificateEntry, JwkDeleteAction, JwkUpdateAction,
    NewCertificateEntry, Result, Store, StoreError, Tx, new_id, now_ms, unique_to_exists,
};

const ENTRY_COLUMNS: &str = "SELECT e.certificate_id, e.environment_id, env.name AS environment_name, e.alias, \
     e.leaf_der, e.chain_pem, e.subject_dn, e.sha1_thumbprint, e.not_before, e.not_after \
     FROM certificate_entries e JOIN environments env ON env.id = e.environment_id";

/// One certificate of a file import: the entries of the environments it brings. The entries of
/// its other environments are kept.
#[derive(Debug, Clone)]
pub struct CertificateMerge {
    pub name: String,
    /// `None` keeps the current description (empty for a new certificate).
    pub description: Option<String>,
    pub entries: Vec<NewCertificateEntry>,
}

#[derive(sqlx::FromRow)]
struct CertificateRow {
    id: String,
    project_id: String,
    name: String,
    description: String,
}

impl Store {
    pub async fn list_certificates(&self, project_id: &str) -> Result<Vec<Certificate>> {
        let rows: Vec<CertificateRow> = sqlx::query_as(
            "SELECT id, project_id, name, description FROM certificates WHERE project_id = $1 ORDER BY name",
        )
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        let entries: Vec<CertificateEntry> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ENTRY_COLUMNS} JOIN certificates c ON c.id = e.certificate_id WHERE c.project_id = $1 ORDER BY env.name"
        )))
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        Ok(assemble(rows, entries))
    }

    pub async fn certificate(&self, project_id: &str, name: &str) -> Result<Option<Certificate>> {
        let row: Option<CertificateRow> = sqlx::query_as(
            "SELECT id, project_id, name, description FROM certificates WHERE project_id = $1 AND name = $2",
        )
        .bind(project_id)
        .bind(name)
        .fetch_optional(&self.read)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let entries: Vec<CertificateEntry> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ENTRY_COLUMNS} WHERE e.certificate_id = $1 ORDER BY env.name"
        )))
        .bind(&row.id)
        .fetch_all(&self.read)
        .await?;
        Ok(assemble(vec![row], entries).pop())
    }

    /// Every certificate deployed in an environment (all projects), with only that entry.
    pub async fn truststore(&self, environment_id: &str) -> Result<Vec<Certificate>> {
        let rows: Vec<CertificateRow> = sqlx::query_as(
            "SELECT DISTINCT c.id, c.project_id, c.name, c.description FROM certificates c \
             JOIN certificate_entries e ON e.certificate_id = c.id WHERE e.environment_id = $1 ORDER BY c.name",
        )
        .bind(environment_id)
        .fetch_all(&self.read)
        .await?;
        let entries: Vec<CertificateEntry> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{ENTRY_COLUMNS} WHERE e.environment_id = $1"
        )))
        .bind(environment_id)
        .fetch_all(&self.read)
        .await?;
        Ok(assemble(rows, entries))
    }

    /// Creates a certificate with its entries and deploys it to their environments.
    pub async fn create_certificate(
        &self,
        project_id: &str,
        name: &str,
        description: &str,
        entries: &[NewCertificateEntry],
        audit: &AuditEntry,
    ) -> Result<(String, Vec<EnvDeployment>)> {
        let mut tx = self.begin().await?;
        let exists: Option<(String,)> =
            sqlx::query_as("SELECT id FROM certificates WHERE project_id = $1 AND name = $2")
                .bind(project_id)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        check_aliases(&mut tx, None, entries).await?;
        let id = new_id();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO certificates (id, project_id, name, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&id)
        .bind(project_id)
        .bind(name)
        .bind(description)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(unique_to_exists)?;
        insert_entries(&mut tx, &id, entries).await?;
        let mut plan = DeploymentPlan::default();
        plan.deploy(
            KIND_CERTIFICATE,
            &id,
            project_id,
            entries.iter().map(|e| e.environment_id.clone()).collect(),
        );
        self.stage_audit(&mut tx, audit).await?;
        let deployed = plan.apply(&mut tx).await?;
        tx.commit().await?;
        Ok((id, deployed))
    }

    /// Replaces a certificate's description and entries, redeploys it, and applies `action` to the
    /// JWKs derived from it (with the material `rederived` beforehand for those in scope), all in
    /// one transaction ([`StoreError::SourceChanged`] when the derivation's basis moved).
    #[allow(clippy::too_many_arguments)]
    pub async fn replace_certificate(
        &self,
        project_id: &str,
        name: &str,
        description: &str,
        entries: &[NewCertificateEntry],
        action: JwkUpdateAction,
        rederived: Option<Rederived>,
        audit: &AuditEntry,
    ) -> Result<Vec<EnvDeployment>> {
        let keys = self.keys()?;
        let mut tx = self.begin().await?;
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM certificates WHERE project_id = $1 AND name = $2")
                .bind(project_id)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((id,)) = row else {
            return Err(StoreError::NotFound);
        };
        check_aliases(&mut tx, Some(&id), entries).await?;
        let old_envs: Vec<(String,)> = sqlx::query_as(
            "SELECT environment_id FROM certificate_entries WHERE certificate_id = $1",
        )
        .bind(&id)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM certificate_entries WHERE certificate_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        insert_entries(&mut tx, &id, entries).await?;
        let (was,): (i64,) = sqlx::query_as("SELECT updated_at FROM certificates WHERE id = $1")
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
        // Always a new `updated_at`: a derivation based on the old state must see it moved.
        let now = now_ms().max(was + 1);
        sqlx::query("UPDATE certificates SET description = $1, updated_at = $2 WHERE id = $3")
            .bind(description)
            .bind(now)
            .bind(&id)
            .execute(&mut *tx)
            .await?;

        let mut plan = DeploymentPlan::default();
        let new_envs: BTreeSet<String> = entries.iter().map(|e| e.environment_id.clone()).collect();
        let gone: Vec<String> = old_envs
            .into_iter()
            .map(|(e,)| e)
            .filter(|e| !new_envs.contains(e))
            .collect();
        if !gone.is_empty() {
            plan.undeploy(KIND_CERTIFICATE, &id, gone);
        }
        plan.deploy(
            KIND_CERTIFICATE,
            &id,
            project_id,
            new_envs.into_iter().collect(),
        );

        // The one JWK cascade of every source kind (`sources.rs`).
        cascade_update(
            &mut tx,
            keys,
            &mut plan,
            &id,
            project_id,
            action,
            rederived.as_ref(),
            was,
            now,
        )
        .await?;
        self.stage_audit(&mut tx, audit).await?;
        let deployed = plan.apply(&mut tx).await?;
        tx.commit().await?;
        self.reads_changed().await;
        Ok(deployed)
    }

    /// Creates or updates several certificates in one transaction (file imports): each named
    /// certificate is created if missing; the environments its merge brings get the new entries,
    /// its other environments keep theirs. The imported environments are deployed (the others are
    /// unchanged). `action` applies to the JWKs derived from an updated
    /// certificate, with `rederived[i]` (derived beforehand from the merged entries of
    /// `merges[i]`; none needed with `Nullify`). Returns, per merge, whether it created the
    /// certificate. Any refusal (an alias in use, [`StoreError::SourceChanged`]) writes nothing.
    pub async fn merge_certificates(
        &self,
        project_id: &str,
        merges: &[CertificateMerge],
        action: JwkUpdateAction,
        rederived: &[Option<Rederived>],
        audit: &AuditEntry,
    ) -> Result<(Vec<bool>, Vec<EnvDeployment>)> {
        let keys = self.keys()?;
        let mut tx = self.begin().await?;
        let mut plan = DeploymentPlan::default();
        let mut created = Vec::with_capacity(merges.len());
        let now = now_ms();
        for (i, m) in merges.iter().enumerate() {
            let row: Option<(String, i64)> = sqlx::query_as(
                "SELECT id, updated_at FROM certificates WHERE project_id = $1 AND name = $2",
            )
            .bind(project_id)
            .bind(&m.name)
            .fetch_optional(&mut *tx)
            .await?;
            let new_envs: BTreeSet<String> =
                m.entries.iter().map(|e| e.environment_id.clone()).collect();
            let (id, is_new, was) = match row {
                Some((id, was)) => (id, false, was),
                None => {
                    let id = new_id();
                    sqlx::query(
                        "INSERT INTO certificates (id, project_id, name, description, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(&id)
                    .bind(project_id)
                    .bind(&m.name)
                    .bind(m.description.as_deref().unwrap_or_default())
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(unique_to_exists)?;
                    (id, true, now)
                }
            };
            check_aliases(&mut tx, Some(&id), &m.entries).await?;
            for env in &new_envs {
                sqlx::query(
                    "DELETE FROM certificate_entries WHERE certificate_id = $1 AND environment_id = $2",
                )
                .bind(&id)
                .bind(env)
                .execute(&mut *tx)
                .await?;
            }
            insert_entries(&mut tx, &id, &m.entries).await?;
            if !is_new {
                if let Some(d) = &m.description {
                    sqlx::query("UPDATE certificates SET description = $1 WHERE id = $2")
                        .bind(d)
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("UPDATE certificates SET updated_at = $1 WHERE id = $2")
                    .bind(now.max(was + 1))
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                cascade_update(
                    &mut tx,
                    keys,
                    &mut plan,
                    &id,
                    project_id,
                    action,
                    rederived.get(i).and_then(Option::as_ref),
                    was,
                    now,
                )
                .await?;
            }
            plan.deploy(
                KIND_CERTIFICATE,
                &id,
                project_id,
                new_envs.into_iter().collect(),
            );
            created.push(is_new);
        }
        self.stage_audit(&mut tx, audit).await?;
        let deployed = plan.apply(&mut tx).await?;
        tx.commit().await?;
        self.reads_changed().await;
        Ok((created, deployed))
    }

    /// Deletes a certificate, undeploys it, and unlinks or deletes the JWKs derived from it.
    pub async fn delete_certificate(
        &self,
        project_id: &str,
        name: &str,
        action: JwkDeleteAction,
        audit: &AuditEntry,
    ) -> Result<Vec<EnvDeployment>> {
        let mut tx = self.begin().await?;
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM certificates WHERE project_id = $1 AND name = $2")
                .bind(project_id)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((id,)) = row else {
            return Err(StoreError::NotFound);
        };
        let envs: Vec<(String,)> = sqlx::query_as(
            "SELECT environment_id FROM certificate_entries WHERE certificate_id = $1",
        )
        .bind(&id)
        .fetch_all(&mut *tx)
        .await?;
        let mut plan = DeploymentPlan::default();
        plan.undeploy(
            KIND_CERTIFICATE,
            &id,
            envs.into_iter().map(|(e,)| e).collect(),
        );
        cascade_delete(&mut tx, &mut plan, &id, action, now_ms()).await?;
        sqlx::query("DELETE FROM certificate_entries WHERE certificate_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM certificates WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        self.stage_audit(&mut tx, audit).await?;
        let deployed = plan.apply(&mut tx).await?;
        tx.commit().await?;
        self.reads_changed().await;
        Ok(deployed)
    }
}

/// Refuses an alias already used in the same environment by another certificate.
async fn check_aliases(
    tx: &mut Tx,
    own_id: Option<&str>,
    entries: &[NewCertificateEntry],
) -> Result<()> {
    for e in entries {
        let holder: Option<(String,)> =
            sqlx::query_as("SELECT certificate_id FROM certificate_entries WHERE environment_id = $1 AND alias = $2")
                .bind(&e.environment_id)
                .bind(&e.alias)
                .fetch_optional(&mut **tx)
                .await?;
        if let Some((holder,)) = holder
            && Some(holder.as_str()) != own_id
        {
            return Err(StoreError::AliasInUse(e.alias.clone()));
        }
    }
    Ok(())
}

async fn insert_entries(
    tx: &mut Tx,
    certificate_id: &str,
    entries: &[NewCertificateEntry],
) -> Result<()> {
    for e in entries {
        sqlx::query(
            "INSERT INTO certificate_entries (id, certificate_id, environment_id, alias, leaf_der, chain_pem, \
             subject_dn, sha1_thumbprint, not_before, not_after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(new_id())
        .bind(certificate_id)
        .bind(&e.environment_id)
        .bind(&e.alias)
        .bind(&e.leaf_der)
        .bind(&e.chain_pem)
        .bind(&e.subject_dn)
        .bind(&e.sha1_thumbprint)
        .bind(e.not_before)
        .bind(e.not_after)
        .execute(&mut **tx)
        .await
        .map_err(|err| {
            if crate::is_unique_violation(&err) {
                StoreError::AliasInUse(e.alias.clone())
            } else {
                StoreError::Database(err)
            }
        })?;
    }
    Ok(())
}

fn assemble(rows: Vec<CertificateRow>, mut entries: Vec<CertificateEntry>) -> Vec<Certificate> {
    rows.into_iter()
        .map(|r| {
            let (mine, rest): (Vec<_>, Vec<_>) =
                entries.drain(..).partition(|e| e.certificate_id == r.id);
            entries = rest;
            Certificate {
                id: r.id,
                project_id: r.project_id,
                name: r.name,
                description: r.description,
                entries: mine,
            }
        })
        .collect()
}
