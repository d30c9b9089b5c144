//! JWKs: one key per named object, deployed to every environment.

use crate::deploy::{DeploymentPlan, EnvDeployment, KIND_JWK, all_environment_ids};
use crate::{Jwk, NewJwk, Result, Store, StoreError, new_id, now_ms, unique_to_exists};

impl Store {
    pub async fn list_jwks(&self, project_id: &str) -> Result<Vec<Jwk>> {
        Ok(
            sqlx::query_as("SELECT * FROM jwks WHERE project_id = $1 ORDER BY name")
                .bind(project_id)
                .fetch_all(&self.read)
                .await?,
        )
    }

    pub async fn jwk(&self, project_id: &str, name: &str) -> Result<Option<Jwk>> {
        Ok(
            sqlx::query_as("SELECT * FROM jwks WHERE project_id = $1 AND name = $2")
                .bind(project_id)
                .bind(name)
                .fetch_optional(&self.read)
                .await?,
        )
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
        sqlx::query(
            "INSERT INTO jwks (id, project_id, name, description, source_type, source_id, source_url, \
             source_environment_id, kty, kid, key_use, alg, kid_given, jwk_json, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
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
        .bind(&jwk.jwk_json)
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
        let mut tx = self.begin().await?;
        let current: Option<Jwk> =
            sqlx::query_as("SELECT * FROM jwks WHERE project_id = $1 AND name = $2")
                .bind(project_id)
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(mut jwk) = current else {
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
