//! JWKs: one key per named object, deployed to every environment.
//!
//! `jwks.jwk_json` holds the public members only, in plaintext (lists and a public JWK Set never
//! need a key); when the JWK has private members the complete JSON, exactly as given, is sealed in
//! `jwks.jwk_private`, and every read returns that. The store splits and reveals on its own, so its
//! callers only ever see the complete JSON.

use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

use crate::deploy::{DeploymentPlan, EnvDeployment, KIND_JWK, all_environment_ids};
use crate::seal::{Binding, Keyring, Record};
use crate::{Jwk, NewJwk, Result, Store, StoreError, new_id, now_ms, unique_to_exists};

/// Members that are private in every key type (RFC 7518 §6.3.2, RFC 8037 §2); `k` is private
/// in `oct` keys.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth"];

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
    let oct = members.get("kty").and_then(|k| k.as_str()) == Some("oct");
    PRIVATE_MEMBERS
        .iter()
        .chain(oct.then_some(&"k"))
        .any(|m| members.contains_key(*m))
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
    let Ok(serde_json::Value::Object(mut members)) = serde_json::from_str(full) else {
        return ("{}".to_owned(), sealed());
    };
    let oct = members.get("kty").and_then(|k| k.as_str()) == Some("oct");
    let mut removed = false;
    for m in PRIVATE_MEMBERS.iter().chain(oct.then_some(&"k")) {
        removed |= members.remove(*m).is_some();
    }
    if !removed {
        return (full.to_owned(), None);
    }
    let public = serde_json::to_string(&members).unwrap_or_else(|_| "{}".to_owned());
    (public, sealed())
}

/// A JWK row with its complete JSON (opened from `jwk_private` when there is one).
pub(crate) fn reveal(keys: &Keyring, row: &AnyRow) -> Result<Jwk> {
    let mut jwk = Jwk::from_row(row)?;
    let private: Option<Vec<u8>> = row.try_get("jwk_private")?;
    if let Some(sealed) = private {
        let full = keys.open(&private_binding(&jwk.project_id, &jwk.id), &sealed)?;
        jwk.jwk_json = String::from_utf8(full.to_vec())
            .map_err(|_| StoreError::Sealed(crate::SealError::Malformed))?;
    }
    Ok(jwk)
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

    pub async fn jwk(&self, project_id: &str, name: &str) -> Result<Option<Jwk>> {
        let keys = self.keys()?;
        let row = sqlx::query("SELECT * FROM jwks WHERE project_id = $1 AND name = $2")
            .bind(project_id)
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        row.map(|r| reveal(keys, &r)).transpose()
    }

    /// Creates a JWK and deploys it to every environment.
    pub async fn create_jwk(&self, new: &NewJwk) -> Result<(Jwk, Vec<EnvDeployment>)> {
        self.create_jwk_linked(new, None).await
    }

    /// Creates a JWK, remembering the keystore alias it was derived from when there is one (so
    /// that it can be re-derived), and deploys it to every environment, in one transaction.
    pub async fn create_jwk_linked(
        &self,
        new: &NewJwk,
        keystore_alias: Option<&str>,
    ) -> Result<(Jwk, Vec<EnvDeployment>)> {
        let keys = self.keys()?;
        let mut tx = self.begin().await?;
        let exists: Option<(String,)> =
            sqlx::query_as("SELECT id FROM jwks WHERE project_id = $1 AND name = $2")
                .bind(&new.project_id)
                .bind(&new.name)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Err(StoreError::AlreadyExists);
        }
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
            kty: new.material.kty.clone(),
            kid: new.material.kid.clone(),
            key_use: new.key_use.clone(),
            alg: new.alg.clone(),
            kid_given: new.kid_given,
            jwk_json: new.material.jwk_json.clone(),
            created_at: now,
            updated_at: now,
        };
        let (public, private) = split_private(keys, &jwk.project_id, &jwk.id, &jwk.jwk_json);
        sqlx::query(
            "INSERT INTO jwks (id, project_id, name, description, source_type, source_id, source_url, \
             source_environment_id, kty, kid, key_use, alg, kid_given, jwk_json, jwk_private, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
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
        plan.deploy(
            KIND_JWK,
            &jwk.id,
            &jwk.project_id,
            all_environment_ids(&mut tx).await?,
        );
        let deployed = plan.apply(&mut tx).await?;
        tx.commit().await?;
        Ok((jwk, deployed))
    }

    /// Renames and/or re-describes a JWK; this detaches it from its source and redeploys it.
    pub async fn update_jwk(
        &self,
        project_id: &str,
        name: &str,
        new_name: Option<&str>,
        description: Option<&str>,
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
        plan.deploy(
            KIND_JWK,
            &jwk.id,
            &jwk.project_id,
            all_environment_ids(&mut tx).await?,
        );
        let deployed = plan.apply(&mut tx).await?;
        tx.commit().await?;
        Ok((jwk, deployed))
    }

    /// Undeploys a JWK from every environment and deletes it.
    pub async fn delete_jwk(&self, project_id: &str, name: &str) -> Result<Vec<EnvDeployment>> {
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
        sqlx::query("DELETE FROM jwks WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        let mut plan = DeploymentPlan::default();
        plan.undeploy(KIND_JWK, &id, all_environment_ids(&mut tx).await?);
        let deployed = plan.apply(&mut tx).await?;
        tx.commit().await?;
        Ok(deployed)
    }
}
