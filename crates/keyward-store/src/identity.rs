//! Identity: environments, projects, users, their per-project permissions and access tokens.

use crate::deploy::{DeploymentPlan, EnvDeployment, KIND_JWK};
use crate::{
    AuditEntry, Environment, Grant, NewToken, Project, Result, Store, StoreError, TokenOwner, Tx,
    User, new_id, now_ms, unique_to_exists,
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
    pub async fn bootstrap(&self, b: Bootstrap, audit: &AuditEntry) -> Result<bool> {
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
        self.stage_audit(&mut tx, audit).await?;
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
        audit: &AuditEntry,
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
        self.stage_audit(&mut tx, audit).await?;
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

    pub async fn create_project(
        &self,
        name: &str,
        description: &str,
        audit: &AuditEntry,
    ) -> Result<Project> {
        let p = Project {
            id: new_id(),
            name: name.to_owned(),
            description: description.to_owned(),
            created_at: now_ms(),
        };
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO projects (id, name, description, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(p.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique_to_exists)?;
        self.stage_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(p)
    }

    pub async fn list_projects(&self) -> Result<Vec<Project>> {
        Ok(sqlx::query_as("SELECT * FROM projects ORDER BY name")
            .fetch_all(&self.read)
            .await?)
    }

    /// The named project, from this node's cache when it holds it (`cache.rs`).
    pub async fn project_by_name(&self, name: &str) -> Result<Option<Project>> {
        if let Some(hit) = self.reads.project(name) {
            return Ok(Some(hit));
        }
        let ticket = self.reads.ticket();
        let project: Option<Project> = sqlx::query_as("SELECT * FROM projects WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        if let Some(p) = &project {
            self.reads.put_project(ticket, p);
        }
        Ok(project)
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
        audit: &AuditEntry,
    ) -> Result<User> {
        let u = User {
            id: new_id(),
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
            sys_admin,
            created_at: now_ms(),
        };
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, sys_admin, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(i64::from(u.sys_admin))
        .bind(u.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique_to_exists)?;
        self.stage_audit(&mut tx, audit).await?;
        tx.commit().await?;
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
        audit: &AuditEntry,
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
        self.stage_audit(&mut tx, audit).await?;
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
    pub async fn create_token(&self, t: &NewToken, audit: &AuditEntry) -> Result<String> {
        let id = t.id.clone().unwrap_or_else(new_id);
        let mut tx = self.begin().await?;
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
        .execute(&mut *tx)
        .await
        .map_err(unique_to_exists)?;
        self.stage_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Revokes a token by name; [`StoreError::NotFound`] when the user has no such token.
    pub async fn delete_token(&self, user_id: &str, name: &str, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM access_tokens WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.stage_audit(&mut tx, audit).await?;
        tx.commit().await?;
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

// ---- the management extension: listing, changing and deleting identities ------------------------

/// A token as its owner may see it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub name: String,
    /// `PERSONAL` or `AGENT`.
    pub kind: String,
    pub environment_name: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// One `(category, action)` a user holds in a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub user_id: String,
    pub username: String,
    pub project_name: String,
    pub category: String,
    pub action: String,
}

/// What a project still holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProjectContents {
    pub certificates: i64,
    pub jwks: i64,
    pub keys: i64,
    pub keystores: i64,
}

impl ProjectContents {
    pub fn is_empty(&self) -> bool {
        self.certificates + self.jwks + self.keys + self.keystores == 0
    }
}

/// The material an environment still holds: entries of certificates, keys and keystores, and the
/// JWKs derived from them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnvironmentContents {
    pub certificates: i64,
    pub keys: i64,
    pub keystores: i64,
    pub jwks: i64,
}

impl EnvironmentContents {
    pub fn is_empty(&self) -> bool {
        self.certificates + self.keys + self.keystores + self.jwks == 0
    }
}

/// name, kind, environment name, created, expires, last used.
type TokenRow = (
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
);

/// A change to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub password_hash: Option<String>,
    pub sys_admin: Option<bool>,
}

/// Why a change to users was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRefusal {
    /// The change would leave the store without a system admin.
    LastSysAdmin,
}

async fn count_one(tx: &mut Tx, sql: &'static str, id: &str) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(sql).bind(id).fetch_one(&mut **tx).await?;
    Ok(n)
}

async fn other_sys_admins(tx: &mut Tx, user_id: &str) -> Result<i64> {
    count_one(
        tx,
        "SELECT COUNT(*) FROM users WHERE sys_admin <> 0 AND id <> $1",
        user_id,
    )
    .await
}

async fn project_contents_in(tx: &mut Tx, project_id: &str) -> Result<ProjectContents> {
    Ok(ProjectContents {
        certificates: count_one(
            tx,
            "SELECT COUNT(*) FROM certificates WHERE project_id = $1",
            project_id,
        )
        .await?,
        jwks: count_one(
            tx,
            "SELECT COUNT(*) FROM jwks WHERE project_id = $1",
            project_id,
        )
        .await?,
        keys: count_one(
            tx,
            "SELECT COUNT(*) FROM crypto_keys WHERE project_id = $1",
            project_id,
        )
        .await?,
        keystores: count_one(
            tx,
            "SELECT COUNT(*) FROM keystores WHERE project_id = $1",
            project_id,
        )
        .await?,
    })
}

async fn environment_contents_in(tx: &mut Tx, environment_id: &str) -> Result<EnvironmentContents> {
    Ok(EnvironmentContents {
        certificates: count_one(
            tx,
            "SELECT COUNT(*) FROM certificate_entries WHERE environment_id = $1",
            environment_id,
        )
        .await?,
        keys: count_one(
            tx,
            "SELECT COUNT(*) FROM crypto_key_entries WHERE environment_id = $1",
            environment_id,
        )
        .await?,
        keystores: count_one(
            tx,
            "SELECT COUNT(*) FROM keystore_entries WHERE environment_id = $1",
            environment_id,
        )
        .await?,
        jwks: count_one(
            tx,
            "SELECT COUNT(*) FROM jwks WHERE source_environment_id = $1",
            environment_id,
        )
        .await?,
    })
}

impl Store {
    pub async fn list_users(&self) -> Result<Vec<User>> {
        Ok(sqlx::query_as("SELECT * FROM users ORDER BY username")
            .fetch_all(&self.read)
            .await?)
    }

    /// Every permission held in a project by anyone (`project_id`), or every permission a user
    /// holds (`user_id`), or all of them; ordered by user, project, category, action.
    pub async fn memberships(
        &self,
        project_id: Option<&str>,
        user_id: Option<&str>,
    ) -> Result<Vec<Membership>> {
        let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT u.id, u.username, p.name, pp.category, pp.action FROM project_permissions pp \
             JOIN users u ON u.id = pp.user_id JOIN projects p ON p.id = pp.project_id \
             WHERE ($1 = '' OR pp.project_id = $1) AND ($2 = '' OR pp.user_id = $2) \
             ORDER BY u.username, p.name, pp.category, pp.action",
        )
        .bind(project_id.unwrap_or_default())
        .bind(user_id.unwrap_or_default())
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(user_id, username, project_name, category, action)| Membership {
                    user_id,
                    username,
                    project_name,
                    category,
                    action,
                },
            )
            .collect())
    }

    /// Removes a user from a project; `false` when they were not a member.
    pub async fn remove_member(
        &self,
        project_id: &str,
        user_id: &str,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("DELETE FROM project_permissions WHERE project_id = $1 AND user_id = $2")
                .bind(project_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.stage_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Changes a user's password and/or system-admin flag. A change that would leave no system
    /// admin is refused, atomically with the check.
    pub async fn update_user(
        &self,
        user_id: &str,
        change: &UserChange,
        audit: &AuditEntry,
    ) -> Result<std::result::Result<(), UserRefusal>> {
        let mut tx = self.begin().await?;
        if change.sys_admin == Some(false) && other_sys_admins(&mut tx, user_id).await? == 0 {
            return Ok(Err(UserRefusal::LastSysAdmin));
        }
        if let Some(phc) = &change.password_hash {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(phc)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(flag) = change.sys_admin {
            sqlx::query("UPDATE users SET sys_admin = $1 WHERE id = $2")
                .bind(i64::from(flag))
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        self.stage_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Deletes a user with their tokens and memberships; the last system admin is refused.
    pub async fn delete_user(
        &self,
        user_id: &str,
        audit: &AuditEntry,
    ) -> Result<std::result::Result<(), UserRefusal>> {
        let mut tx = self.begin().await?;
        let (admin,): (i64,) = sqlx::query_as("SELECT sys_admin FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        if admin != 0 && other_sys_admins(&mut tx, user_id).await? == 0 {
            return Ok(Err(UserRefusal::LastSysAdmin));
        }
        for sql in [
            "DELETE FROM access_tokens WHERE user_id = $1",
            "DELETE FROM project_permissions WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ] {
            sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
        }
        self.stage_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// A user's personal and agent tokens (client-credentials tokens are sessions, not listed).
    pub async fn tokens_of(&self, user_id: &str) -> Result<Vec<TokenInfo>> {
        let rows: Vec<TokenRow> = sqlx::query_as(
            "SELECT t.name, t.kind, e.name, t.created_at, t.expires_at, t.last_used_at \
                 FROM access_tokens t LEFT JOIN environments e ON e.id = t.environment_id \
                 WHERE t.user_id = $1 AND t.kind <> $2 ORDER BY t.name",
        )
        .bind(user_id)
        .bind(crate::TokenKind::ClientCredentials.as_str())
        .fetch_all(&self.read)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(name, kind, environment_name, created_at, expires_at, last_used_at)| TokenInfo {
                    name,
                    kind,
                    environment_name,
                    created_at,
                    expires_at,
                    last_used_at,
                },
            )
            .collect())
    }

    /// Records that a token was used at `at` (unix ms).
    pub async fn touch_token(&self, token_id: &str, at: i64) -> Result<()> {
        sqlx::query("UPDATE access_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(token_id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Deletes a project. Unless `force`, a project holding secrets is left alone and what it
    /// holds is returned; with `force` its certificates, keys, keystores and JWKs go with it and
    /// are undeployed from every environment.
    pub async fn delete_project(
        &self,
        project_id: &str,
        force: bool,
        audit: &AuditEntry,
    ) -> Result<std::result::Result<Vec<EnvDeployment>, ProjectContents>> {
        let mut tx = self.begin().await?;
        let contents = project_contents_in(&mut tx, project_id).await?;
        if !force && !contents.is_empty() {
            return Ok(Err(contents));
        }
        let deployed: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT object_kind, object_id, environment_id FROM deployments WHERE project_id = $1 \
             ORDER BY object_kind, object_id, environment_id",
        )
        .bind(project_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut plan = DeploymentPlan::default();
        let mut objects: std::collections::BTreeMap<(String, String), Vec<String>> =
            Default::default();
        for (kind, id, env) in deployed {
            objects.entry((kind, id)).or_default().push(env);
        }
        for ((kind, id), envs) in objects {
            plan.undeploy(crate::deploy::kind_static(&kind), &id, envs);
        }
        self.stage_audit(&mut tx, audit).await?;
        let deployed = plan.apply(&mut tx).await?;
        for sql in [
            "DELETE FROM deployments WHERE project_id = $1",
            "DELETE FROM retired_jwks WHERE project_id = $1",
            "DELETE FROM jwks WHERE project_id = $1",
            "DELETE FROM certificates WHERE project_id = $1",
            "DELETE FROM crypto_keys WHERE project_id = $1",
            "DELETE FROM keystores WHERE project_id = $1",
            "DELETE FROM project_permissions WHERE project_id = $1",
            "DELETE FROM projects WHERE id = $1",
        ] {
            sqlx::query(sql).bind(project_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.reads_changed().await;
        Ok(Ok(deployed))
    }

    /// Deletes an environment. Unless `force`, an environment holding material is left alone and
    /// what it holds is returned; with `force` the certificate, key and keystore entries there
    /// and the JWKs derived from them go with it (those JWKs are undeployed everywhere), and so do
    /// its agents and agent tokens.
    pub async fn delete_environment(
        &self,
        environment_id: &str,
        force: bool,
        audit: &AuditEntry,
    ) -> Result<std::result::Result<Vec<EnvDeployment>, EnvironmentContents>> {
        let mut tx = self.begin().await?;
        let contents = environment_contents_in(&mut tx, environment_id).await?;
        if !force && !contents.is_empty() {
            return Ok(Err(contents));
        }
        let now = now_ms();
        let derived: Vec<(String,)> =
            sqlx::query_as("SELECT id FROM jwks WHERE source_environment_id = $1 ORDER BY id")
                .bind(environment_id)
                .fetch_all(&mut *tx)
                .await?;
        let mut plan = DeploymentPlan::default();
        for sql in [
            "DELETE FROM deployments WHERE environment_id = $1",
            "DELETE FROM retired_jwks WHERE environment_id = $1",
        ] {
            sqlx::query(sql)
                .bind(environment_id)
                .execute(&mut *tx)
                .await?;
        }
        for (id,) in &derived {
            // Deployed elsewhere too: those environments drop it (public JWKS grace included).
            crate::publish::retire_jwk(&mut tx, id, None, now).await?;
            let envs: Vec<(String,)> = sqlx::query_as(
                "SELECT environment_id FROM deployments WHERE object_kind = $1 AND object_id = $2",
            )
            .bind(KIND_JWK)
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            if !envs.is_empty() {
                plan.undeploy(KIND_JWK, id, envs.into_iter().map(|(e,)| e).collect());
            }
        }
        self.stage_audit(&mut tx, audit).await?;
        let deployed = plan.apply(&mut tx).await?;
        for (id,) in &derived {
            sqlx::query("DELETE FROM deployments WHERE object_kind = $1 AND object_id = $2")
                .bind(KIND_JWK)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM jwks WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for sql in [
            "DELETE FROM certificate_entries WHERE environment_id = $1",
            "DELETE FROM crypto_key_entries WHERE environment_id = $1",
            "DELETE FROM keystore_entries WHERE environment_id = $1",
            "DELETE FROM agents WHERE environment_id = $1",
            "DELETE FROM access_tokens WHERE environment_id = $1",
            "DELETE FROM environments WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(environment_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.reads_changed().await;
        Ok(Ok(deployed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last system admin stays one, checked inside the transaction that would change it.
    #[tokio::test]
    async fn the_last_system_admin_stays() {
        let path = std::env::temp_dir().join(format!("keyward-identity-{}.db", new_id()));
        let store = crate::test_store(&path).await;
        let admin = store
            .create_user("admin", "phc", true, &crate::test_audit())
            .await
            .unwrap();
        let user = store
            .create_user("user", "phc", false, &crate::test_audit())
            .await
            .unwrap();
        let demote = UserChange {
            sys_admin: Some(false),
            ..UserChange::default()
        };
        assert_eq!(
            store
                .update_user(&admin.id, &demote, &crate::test_audit())
                .await
                .unwrap(),
            Err(UserRefusal::LastSysAdmin)
        );
        assert_eq!(
            store
                .delete_user(&admin.id, &crate::test_audit())
                .await
                .unwrap(),
            Err(UserRefusal::LastSysAdmin)
        );
        let promote = UserChange {
            sys_admin: Some(true),
            ..UserChange::default()
        };
        assert_eq!(
            store
                .update_user(&user.id, &promote, &crate::test_audit())
                .await
                .unwrap(),
            Ok(())
        );
        assert_eq!(
            store
                .update_user(&admin.id, &demote, &crate::test_audit())
                .await
                .unwrap(),
            Ok(())
        );
        assert_eq!(
            store
                .delete_user(&admin.id, &crate::test_audit())
                .await
                .unwrap(),
            Ok(())
        );
        assert!(store.user_by_username("admin").await.unwrap().is_none());
        assert!(matches!(
            store.delete_user(&admin.id, &crate::test_audit()).await,
            Err(StoreError::NotFound)
        ));
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    /// A project with secrets is deleted only when forced, and names what it holds.
    #[tokio::test]
    async fn projects_holding_secrets_are_deleted_only_when_forced() {
        let path = std::env::temp_dir().join(format!("keyward-identity-{}.db", new_id()));
        let store = crate::test_store(&path).await;
        let (env, _) = store
            .create_environment("e", "", "TEST", &crate::test_audit())
            .await
            .unwrap();
        let project = store
            .create_project("p", "", &crate::test_audit())
            .await
            .unwrap();
        let draft = crate::KeyDraft {
            name: "k".into(),
            description: String::new(),
            key_type: "SECRET_KEY".into(),
            algorithm: Some("AES".into()),
            entries: vec![crate::NewKeyEntry {
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
        let left = store
            .delete_project(&project.id, false, &crate::test_audit())
            .await
            .unwrap();
        assert_eq!(
            left,
            Err(ProjectContents {
                keys: 1,
                ..ProjectContents::default()
            })
        );
        let left = store
            .delete_environment(&env.id, false, &crate::test_audit())
            .await
            .unwrap();
        assert_eq!(
            left,
            Err(EnvironmentContents {
                keys: 1,
                ..EnvironmentContents::default()
            })
        );
        assert!(
            store
                .delete_project(&project.id, true, &crate::test_audit())
                .await
                .unwrap()
                .is_ok()
        );
        assert!(store.project_by_name("p").await.unwrap().is_none());
        assert!(store.key(&project.id, "k").await.unwrap().is_none());
        assert!(
            store
                .delete_environment(&env.id, false, &crate::test_audit())
                .await
                .unwrap()
                .is_ok()
        );
        assert!(store.environment_by_name("e").await.unwrap().is_none());
        store.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
