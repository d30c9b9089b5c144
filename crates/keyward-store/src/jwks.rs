//! JWKs: one key per named object, deployed to every environment.
//!
//! `jwks.jwk_json` holds the public members only, in plaintext (lists and a public JWK Set never
//! need a key); when the JWK has private members the complete JSON, exactly as given, is sealed in
//! `jwks.jwk_private`, and every read returns that. The store splits and reveals on its own, so its
//! callers only ever see the complete JSON.

use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use keyward_jose::jwk::private_members;

use crate::cache::StoredJwk;

use crate::deploy::{
    DeploymentPlan, EnvDeployment, KIND_JWK, all_environment_ids, deployed_environment_ids,
};
use crate::seal::{Binding, Keyring, Record};
use crate::{
    AuditEntry, Jwk, JwkMaterial, NewJwk, Result, Store, StoreError, Tx, new_id, now_ms,
    unique_to_exists,
};

fn private_binding<'a>(project_id: &'a str, jwk_id: &'a str) -> Binding<'a> {
    Binding {
        record: Record {
            table: "jwks",
            field: "jwk_private",
            row: jwk_id,
        },
        project: project_id,
        environment: "",
        object: jwk_id,
    }
}

/// Whether a complete JWK JSON has private members (text that is not a JSON object counts as
/// private: it is sealed whole).
pub fn has_private_members(full: &str) -> bool {
    let Ok(serde_json::Value::Object(members)) = serde_json::from_str(full) else {
        return true;
    };
    let kty = members
        .get("kty")
        .and_then(|k| k.as_str())
        .unwrap_or_default();
    private_members(kty).any(|m| members.contains_key(m))
}

/// The public members of a complete JWK JSON, and whether any member was removed. Text that is
/// not a JSON object has no public part (`None`).
fn public_part(full: &str) -> Option<(String, bool)> {
    let Ok(serde_json::Value::Object(mut members)) = serde_json::from_str(full) else {
        return None;
    };
    let kty = members
        .get("kty")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_owned();
    let mut removed = false;
    // One by one, in the list's order: `Map::remove` (preserve_order) moves the last member into
    // the gap, and the public parts already stored were written that way.
    for m in private_members(&kty) {
        removed |= members.remove(m).is_some();
    }
    if !removed {
        return Some((full.to_owned(), false));
    }
    Some((serde_json::to_string(&members).ok()?, true))
}

/// The public members of a complete JWK JSON (what a caller without access to private material,
/// a public JWKS or another environment's agent may see); `{}` for text that is not an object.
pub fn public_members(full: &str) -> String {
    public_part(full).map_or_else(|| "{}".to_owned(), |(public, _)| public)
}

/// The stored form of a complete JWK JSON: the public members in plaintext, and the complete
/// JSON sealed when it has private members. Text that is not a JSON object is sealed whole.
pub(crate) fn split_private(
    keys: &Keyring,
    project_id: &str,
    jwk_id: &str,
    full: &str,
) -> (String, Option<Vec<u8>>) {
    let sealed = || Some(keys.seal(&private_binding(project_id, jwk_id), full.as_bytes()));
    match public_part(full) {
        None => ("{}".to_owned(), sealed()),
        Some((public, false)) => (public, None),
        Some((public, true)) => (public, sealed()),
    }
}

/// A JWK row as stored: public members in `jwk_json`, the sealed complete JSON beside.
fn stored(row: &AnyRow) -> Result<StoredJwk> {
    Ok(StoredJwk {
        jwk: Jwk::from_row(row)?,
        private: row.try_get("jwk_private")?,
    })
}

/// A stored JWK with its complete JSON (opened from `jwk_private` when there is one).
fn open(keys: &Keyring, stored: &StoredJwk) -> Result<Jwk> {
    let mut jwk = stored.jwk.clone();
    if let Some(sealed) = &stored.private {
        let full = keys.open(&private_binding(&jwk.project_id, &jwk.id), sealed)?;
        jwk.jwk_json = String::from_utf8(full.to_vec())
            .map_err(|_| StoreError::Sealed(crate::SealError::Malformed))?;
    }
    Ok(jwk)
}

/// A JWK row with its complete JSON (opened from `jwk_private` when there is one).
pub(crate) fn reveal(keys: &Keyring, row: &AnyRow) -> Result<Jwk> {
    open(keys, &stored(row)?)
}

impl Store {
    pub async fn list_jwks(&self, project_id: &str) -> Result<Vec<Jwk>> {
        let keys = self.keys()?;
        let rows = sqlx::query("SELECT * FROM jwks WHERE project_id = $1 ORDER BY name")
            .bind(project_id)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(|r| reveal(keys, r)).collect()
    }

    /// The named JWK of a project, from this node's cache when it holds it (`cache.rs`).
    pub async fn jwk(&self, project_id: &str, name: &str) -> Result<Option<Jwk>> {
        let keys = self.keys()?;
        if let Some(hit) = self.reads.jwk(project_id, name) {
            return open(keys, &hit).map(Some);
        }
        let ticket = self.reads.ticket();
        let row = sqlx::query("SELECT * FROM jwks WHERE project_id = $1 AND name = $2")
            .bind(project_id)
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let stored = Arc::new(stored(&row)?);
        // Opened before it is cached: a record that does not authenticate is never kept.
        let jwk = open(keys, &stored)?;
        self.reads.put_jwk(ticket, stored);
        Ok(Some(jwk))
    }

    /// Creates a JWK and deploys it to its environments (see [`NewJwk::environment_ids`]).
    pub async fn create_jwk(
        &self,
        new: &NewJwk,
        audit: &AuditEntry,
    ) -> Result<(Jwk, Vec<EnvDeployment>)> {
        self.create_jwk_linked(new, None, audit).await
    }

    /// Creates a JWK, remembering the keystore alias it was derived from when there is one (so
    /// that it can be re-derived), and deploys it, in one transaction: to the environment whose
    /// material it was derived from, else to the listed environments, else to every environment.
    /// Its kid is made unique among the project's JWKs in those environments.
    pub async fn create_jwk_linked(
        &self,
        new: &NewJwk,
        keystore_alias: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<(Jwk, Vec<EnvDeployment>)> {
        let keys = self.keys()?;
        let mut tx = self.begin().await?;
        // Before the kid's checks: a taken name is the first thing a caller is told.
        let exists: Option<(String,)> =
            sqlx::query_as("SELECT id FROM jwks WHERE project_id = $1 AND name = $2")
                .bind(&new.project_id)
                .bind(&new.name)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Err(StoreError::AlreadyExists);
        }
        let (targets, all_environments) = match (&new.source_environment_id, &new.environment_ids) {
            (Some(env), _) => (vec![env.clone()], false),
            (None, Some(ids)) => (ids.clone(), false),
            (None, None) => (all_environment_ids(&mut tx).await?, true),
        };
        let material = unique_kid(&mut tx, new, &targets).await?;
        let now = now_ms();
        let jwk = Jwk {
            id: new_id(),
            project_id: new.project_id.clone(),
            name: new.name.clone(),
            description: new.description.clone(),
            source_type: new.source_type.clone(),
            source_id: new.source_id.clone(),
            source_url: new.source_url.clone(),
            source_environment_id: new.source_environment_id.clone(),
            kty: material.kty,
            kid: material.kid,
            key_use: new.key_use.clone(),
            alg: new.alg.clone(),
            kid_given: new.kid_given,
            jwk_json: material.jwk_json,
            created_at: now,
            updated_at: now,
        };
        let (public, private) = split_private(keys, &jwk.project_id, &jwk.id, &jwk.jwk_json);
        sqlx::query(
            "INSERT INTO jwks (id, project_id, name, description, source_type, source_id, source_url, \
             source_environment_id, kty, kid, key_use, alg, kid_given, jwk_json, jwk_private, created_at, updated_at, \
             all_environments) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(&jwk.id)
        .bind(&jwk.project_id)
        .bind(&jwk.name)
        .bind(&jwk.description)
        .bind(&jwk.source_type)
        .bind(&jwk.source_id)
        .bind(&jwk.source_url)
        .bind(&jwk.source_environment_id)
        .bind(&jwk.kty)
        .bind(&jwk.kid)
        .bind(&jwk.key_use)
        .bind(&jwk.alg)
        .bind(i64::from(jwk.kid_given))
        .bind(public)
        .bind(private)
        .bind(jwk.created_at)
        .bind(jwk.updated_at)
        .bind(i64::from(all_environments))
        .execute(&mut *tx)
        .await
        .map_err(unique_to_exists)?;
        if let Some(alias) = keystore_alias {
            sqlx::query("INSERT INTO jwk_source_aliases (jwk_id, alias) VALUES ($1, $2)")
                .bind(&jwk.id)
                .bind(alias)
                .execute(&mut *tx)
                .await?;
        }
        let mut plan = DeploymentPlan::default();
        plan.deploy(KIND_JWK, &jwk.id, &jwk.project_id, targets);
        self.stage_audit(&mut tx, audit).await?;
        let deployed = plan.apply(&mut tx).await?;
        tx.commit().await?;
        Ok((jwk, deployed))
    }

    /// Renames and/or re-describes a JWK; this detaches it from its source and redeploys it where
    /// it is deployed.
    pub async fn update_jwk(
        &self,
        project_id: &str,
        name: &str,
        new_name: Option<&str>,
        description: Option<&str>,
        audit: &AuditEntry,
    ) -> Result<(Jwk, Vec<EnvDeployment>)> {
        let keys = self.keys()?;
        let mut tx = self.begin().await?;
        let current = sqlx::query("SELECT * FROM jwks WHERE project_id = $1 AND name = $2")
            .bind(project_id)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(mut jwk) = current.map(|r| reveal(keys, &r)).transpose()? else {
            return Err(StoreError::NotFound);
        };
        if let Some(new_name) = new_name
            && new_name != jwk.name
        {
            let clash: Option<(String,)> =
                sqlx::query_as("SELECT id FROM jwks WHERE project_id = $1 AND name = $2")
                    .bind(project_id)
                    .bind(new_name)
                    .fetch_optional(&mut *tx)
                    .await?;
            if clash.is_some() {
                return Err(StoreError::AlreadyExists);
            }
            jwk.name = new_name.to_owned();
        }
        if let Some(d) = description {
            jwk.description = d.to_owned();
        }
        jwk.source_id = None;
        jwk.source_environment_id = None;
        jwk.updated_at = now_ms();
        sqlx::query(
            "UPDATE jwks SET name = $1, description = $2, source_id = NULL, source_environment_id = NULL, \
             updated_at = $3 WHERE id = $4",
        )
        .bind(&jwk.name)
        .bind(&jwk.description)
        .bind(jwk.updated_at)
        .bind(&jwk.id)
        .execute(&mut *tx)
        .await
        .map_err(unique_to_exists)?;
        let mut plan = DeploymentPlan::default();
        let targets = deployed_environment_ids(&mut tx, KIND_JWK, &jwk.id).await?;
        plan.deploy(KIND_JWK, &jwk.id, &jwk.project_id, targets);
        self.stage_audit(&mut tx, audit).await?;
        let deployed = plan.apply(&mut tx).await?;
        tx.commit().await?;
        self.reads_changed().await;
        Ok((jwk, deployed))
    }

    /// Undeploys a JWK from its environments and deletes it.
    pub async fn delete_jwk(
        &self,
        project_id: &str,
        name: &str,
        audit: &AuditEntry,
    ) -> Result<Vec<EnvDeployment>> {
        let mut tx = self.begin().await?;
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM jwks WHERE project_id = $1 AND name = $2")
                .bind(project_id)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((id,)) = row else {
            return Err(StoreError::NotFound);
        };
        crate::publish::retire_jwk(&mut tx, &id, None, now_ms()).await?;
        let targets = deployed_environment_ids(&mut tx, KIND_JWK, &id).await?;
        sqlx::query("DELETE FROM jwks WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        let mut plan = DeploymentPlan::default();
        plan.undeploy(KIND_JWK, &id, targets);
        self.stage_audit(&mut tx, audit).await?;
        let deployed = plan.apply(&mut tx).await?;
        tx.commit().await?;
        self.reads_changed().await;
        Ok(deployed)
    }
}

/// The material of a new JWK with a kid that no other JWK of its project uses in `targets`
/// (00-product §1, kid uniqueness): verifiers such as `PyJWKClient` select a key by kid alone. A
/// taken default kid (an RFC 7638 thumbprint, or one made by `keyIdType`) becomes `<kid>-<alg>`,
/// so RS256 and PS256 JWKs of one certificate can share a set — and `<kid>-<alg>-<8 hex>` (random)
/// when that is taken too (the same key twice, or two `TIMESTAMP` kids of one second). A taken
/// kid that the caller chose (or that a pasted key carries) is refused: verifiers expect it as it
/// is. Two nodes creating the same kid at the same instant on PostgreSQL are not serialised.
async fn unique_kid(tx: &mut Tx, new: &NewJwk, targets: &[String]) -> Result<JwkMaterial> {
    let Some(kid) = new.material.kid.as_deref() else {
        return Ok(new.material.clone());
    };
    let base = format!("{kid}-{}", new.alg.as_deref().unwrap_or(&new.material.kty));
    // The kid and its first alternative, both looked up before any choice is made.
    let holders = kid_holders(tx, &new.project_id, &[kid, &base], targets).await?;
    let Some(holder) = holders[0].clone() else {
        return Ok(new.material.clone());
    };
    if new.kid_given {
        return Err(StoreError::KidTaken {
            kid: kid.to_owned(),
            jwk: holder,
        });
    }
    if holders[1].is_none() {
        return with_kid(&new.material, &base);
    }
    // A random suffix: one indexed look-up however many copies of the key the project holds
    // (numbering them would scan them all on every create).
    for _ in 0..8 {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::Rejected(e.to_string()))?;
        let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let other = format!("{base}-{suffix}");
        if kid_holders(tx, &new.project_id, &[&other], targets).await?[0].is_none() {
            return with_kid(&new.material, &other);
        }
    }
    Err(StoreError::KidTaken {
        kid: base,
        jwk: holder,
    })
}

/// For each of `kids` (one or two), the name of a JWK of the project with that kid deployed to
/// one of `targets`.
async fn kid_holders(
    tx: &mut Tx,
    project_id: &str,
    kids: &[&str],
    targets: &[String],
) -> Result<Vec<Option<String>>> {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for kid in kids {
        let found: Vec<(String, String, String)> = sqlx::query_as(
            // `CROSS JOIN` (conditions in WHERE: one text for both backends) makes SQLite read
            // the JWKs with the kid first (`jwks_kid`), then their deployments
            // (`deployments_object`); left to itself, without table statistics, it may drive the
            // join from every JWK deployment instead.
            "SELECT j.kid, j.name, d.environment_id FROM jwks j CROSS JOIN deployments d \
             WHERE j.project_id = $2 AND j.kid = $3 AND d.object_kind = $1 AND d.object_id = j.id",
        )
        .bind(KIND_JWK)
        .bind(project_id)
        .bind(*kid)
        .fetch_all(&mut **tx)
        .await?;
        rows.extend(found);
    }
    // By name, so that the holder a message names does not depend on the plan.
    rows.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(kids
        .iter()
        .map(|kid| {
            rows.iter()
                .find(|(k, _, env)| k == kid && targets.contains(env))
                .map(|(_, name, _)| name.clone())
        })
        .collect())
}

/// The same material under another kid (member order kept).
fn with_kid(material: &JwkMaterial, kid: &str) -> Result<JwkMaterial> {
    let malformed = || StoreError::Rejected("a JWK to store is not a JSON object".to_owned());
    let mut value: serde_json::Value =
        serde_json::from_str(&material.jwk_json).map_err(|_| malformed())?;
    value
        .as_object_mut()
        .ok_or_else(malformed)?
        .insert("kid".to_owned(), serde_json::Value::String(kid.to_owned()));
    Ok(JwkMaterial {
        kty: material.kty.clone(),
        kid: Some(kid.to_owned()),
        jwk_json: serde_json::to_string(&value).map_err(|_| malformed())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The public part keeps the bytes it has always had: members removed one by one in the
    /// order of `keyward_jose::jwk::PRIVATE_MEMBERS`, each gap filled by the last member.
    #[test]
    fn public_part_bytes_are_pinned() {
        let rsa = r#"{"kty":"RSA","use":"sig","alg":"RS256","kid":"a","n":"bg","e":"AQAB","d":"ZA","p":"cA","q":"cQ","dp":"ZHA","dq":"ZHE","qi":"cWk","x5t":"dA"}"#;
        assert!(has_private_members(rsa));
        assert_eq!(
            public_members(rsa),
            r#"{"kty":"RSA","use":"sig","alg":"RS256","kid":"a","n":"bg","e":"AQAB","x5t":"dA"}"#
        );
        let ec = r#"{"kty":"EC","kid":"a","crv":"P-256","x":"eA","y":"eQ","d":"ZA","x5c":["Yw"],"x5t":"dA"}"#;
        assert_eq!(
            public_members(ec),
            r#"{"kty":"EC","kid":"a","crv":"P-256","x":"eA","y":"eQ","x5t":"dA","x5c":["Yw"]}"#
        );
        let oct = r#"{"kty":"oct","kid":"a","k":"AA"}"#;
        assert!(has_private_members(oct));
        assert_eq!(public_members(oct), r#"{"kty":"oct","kid":"a"}"#);
        let public = r#"{"kty":"OKP","crv":"Ed25519","x":"eA","k":"AA"}"#;
        assert!(
            !has_private_members(public),
            "k is private in oct keys only"
        );
        assert_eq!(public_members(public), public);
        assert_eq!(public_members("[]"), "{}");
    }
}
