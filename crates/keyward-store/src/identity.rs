//! Identity: environments, projects, users, their per-project permissions and access tokens.

use crate::deploy::{DeploymentPlan, EnvDeployment, KIND_JWK};
use crate::{
    Environment, Grant, NewToken, Project, Result, Store, StoreError, TokenOwner, User, new_id,
    now_ms, unique_to_exists,
};

/// The initial state of an empty store.
pub struct Bootstrap {
    pub admin_username: String,
    pub admin_password_hash: String,
    pub admin_project_name: String,
    pub token_name: String,
    pub token_hash: Vec<u8>,
}

impl Store {
    /// Creates the system admin, the admin project and the admin's token, once: returns `false`
    /// (and writes nothing) when the store already has users.
    pub async fn bootstrap(&self, b: Bootstrap) -> Result<bool> {
        let mut tx = self.begin().await?;
        let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?;
        if users > 0 {
            return Ok(false);
        }
        let now = now_ms();
        let user_id = new_id();
        let inserted = sqlx::query(
            "INSERT INTO users (id, username, password_hash, sys_admin, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&user_id)
        .bind(&b.admin_username)
        .bind(&b.admin_password_hash)
        .bind(1_i64)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            // Another node bootstrapped the same store a moment ago.
            Err(e) if crate::is_unique_violation(&e) => return Ok(false),
            other => other?,
        };
        sqlx::query(
            "INSERT INTO projects (id, name, description, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(new_id())
        .bind(&b.admin_project_name)
        .bind("Global scope: secrets here are usable from every project")
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO access_tokens (id, user_id, name, kind, secret_hash, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, NULL, $6)",
        )
        .bind(new_id())
        .bind(&user_id)
        .bind(&b.token_name)
        .bind(crate::TokenKind::Personal.as_str())
        .bind(&b.token_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    // ---- environments ----------------------------------------------------------------------

    /// Creates an environment and deploys to it every JWK that follows every environment.
    pub async fn create_environment(
        &self,
        name: &str,
        description: &str,
        env_type: &str,
    ) -> Result<(Environment, Vec<EnvDeployment>)> {
        let mut tx = self.begin().await?;
        let env = Environment {
            id: new_id(),
            name: name.to_owned(),
            description: description.to_owned(),
            env_type: env_type.to_owned(),
            revision: 0,
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO environments (id, name, description, env_type, revision, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5)",
        )
        .bind(&env.id)
        .bind(&env.name)
        .bind(&env.description)
        .bind(&env.env_type)
        .bind(env.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique_to_exists)?;
        // JWKs that follow every environment (not those of one environment's material, nor
        // those given an environmentList) are deployed to the new one.
        let jwks: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, project_id FROM jwks WHERE all_environments = 1 ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut plan = DeploymentPlan::default();
        for (id, project_id) in &jwks {
            plan.deploy(KIND_JWK, id, project_id, vec![env.id.clone()]);
        }
        let deployed = if jwks.is_empty() {
            Vec::new()
        } else {
            plan.apply(&mut tx).await?
        };
        tx.commit().await?;
        Ok((env, deployed))
    }

    pub async fn list_environments(&self) -> Result<Vec<Environment>> {
        Ok(sqlx::query_as("SELECT * FROM environments ORDER BY name")
            .fetch_all(&self.read)
            .await?)
    }

    pub async fn environment_by_name(&self, name: &str) -> Result<Option<Environment>> {
        Ok(sqlx::query_as("SELECT * FROM environments WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?)
    }

    // ---- projects ----------------------------------------------------------------------------

    pub async fn create_project(&self, name: &str, description: &str) -> Result<Project> {
        let p = Project {
            id: new_id(),
            name: name.to_owned(),
            description: description.to_owned(),
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO projects (id, name, description, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(p.created_at)
        .execute(&self.write)
        .await
        .map_err(unique_to_exists)?;
        Ok(p)
    }

    pub async fn list_projects(&self) -> Result<Vec<Project>> {
        Ok(sqlx::query_as("SELECT * FROM projects ORDER BY name")
            .fetch_all(&self.read)
            .await?)
    }

    pub async fn project_by_name(&self, name: &str) -> Result<Option<Project>> {
        Ok(sqlx::query_as("SELECT * FROM projects WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?)
    }

    pub async fn project_by_id(&self, id: &str) -> Result<Option<Project>> {
        Ok(sqlx::query_as("SELECT * FROM projects WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?)
    }

    // ---- users and permissions -----------------------------------------------------------------

    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        sys_admin: bool,
    ) -> Result<User> {
        let u = User {
            id: new_id(),
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
            sys_admin,
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, sys_admin, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(i64::from(u.sys_admin))
        .bind(u.created_at)
        .execute(&self.write)
        .await
        .map_err(unique_to_exists)?;
        Ok(u)
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        Ok(sqlx::query_as("SELECT * FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.read)
            .await?)
    }

    /// Replaces a user's permissions in a project (an empty list removes the membership).
    pub async fn set_permissions(
        &self,
        project_id: &str,
        user_id: &str,
        grants: &[(String, String)],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM project_permissions WHERE project_id = $1 AND user_id = $2")
            .bind(project_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for (category, action) in grants {
            sqlx::query(
                "INSERT INTO project_permissions (project_id, user_id, category, action) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(project_id)
            .bind(user_id)
            .bind(category)
            .bind(action)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every grant a user holds, in every project.
    pub async fn grants_of(&self, user_id: &str) -> Result<Vec<Grant>> {
        Ok(sqlx::query_as(
            "SELECT project_id, category, action FROM project_permissions WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&self.read)
        .await?)
    }

    // ---- access tokens ------------------------------------------------------------------------

    /// Stores a new token's hash; returns the token's id.
    pub async fn create_token(&self, t: &NewToken) -> Result<String> {
        let id = new_id();
        sqlx::query(
            "INSERT INTO access_tokens (id, user_id, name, kind, secret_hash, expires_at, created_at, environment_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&id)
        .bind(&t.user_id)
        .bind(&t.name)
        .bind(t.kind.as_str())
        .bind(&t.secret_hash)
        .bind(t.expires_at)
        .bind(now_ms())
        .bind(&t.environment_id)
        .execute(&self.write)
        .await
        .map_err(unique_to_exists)?;
        Ok(id)
    }

    /// Revokes a token by name; [`StoreError::NotFound`] when the user has no such token.
    pub async fn delete_token(&self, user_id: &str, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM access_tokens WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(name)
            .execute(&self.write)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Drops client-credentials tokens that expired before `before_ms`.
    pub async fn purge_expired_tokens(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM access_tokens WHERE kind = $1 AND expires_at < $2")
            .bind(crate::TokenKind::ClientCredentials.as_str())
            .bind(before_ms)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }

    /// Resolves a token by the keyed hash of its secret.
    pub async fn token_owner(&self, secret_hash: &[u8]) -> Result<Option<TokenOwner>> {
        Ok(sqlx::query_as(
            "SELECT t.id AS token_id, t.expires_at, u.id AS user_id, u.username, u.sys_admin, \
             t.environment_id, e.name AS environment_name \
             FROM access_tokens t JOIN users u ON u.id = t.user_id \
             LEFT JOIN environments e ON e.id = t.environment_id WHERE t.secret_hash = $1",
        )
        .bind(secret_hash)
        .fetch_optional(&self.read)
        .await?)
    }
}
