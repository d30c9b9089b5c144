//! What environments publish: the public JWK Set of a project in an environment (current JWKs plus
//! those retired less than a grace period ago), and the agents that follow an environment.
//!
//! `jwks.jwk_json` holds public members only, so publishing never opens a sealed value. A JWK that
//! leaves a JWKS — deleted, or its public members changed by a re-derivation — is copied into
//! `retired_jwks` for every environment it was deployed to, in the transaction that removes or
//! changes it; readers keep it for their grace period (docs/agent.md).

use std::collections::HashSet;

use sqlx::FromRow;

use crate::deploy::KIND_JWK;
use crate::{AuditEntry, Result, Store, Tx};

/// The public JWKs of a project in an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedJwks {
    /// The environment's revision when read.
    pub revision: i64,
    /// Public JWK objects (JSON text), current ones first (oldest first), then retired ones.
    pub keys: Vec<String>,
    /// When the first retired key included here leaves the set (unix ms).
    pub changes_at: Option<i64>,
}

/// One agent following an environment.
#[derive(Debug, Clone, FromRow)]
pub struct AgentRecord {
    pub environment_id: String,
    pub name: String,
    pub address: String,
    pub first_contact: i64,
    pub last_contact: i64,
    pub connected_until: i64,
    pub acked_revision: Option<i64>,
    pub acked_success: Option<i64>,
    pub acked_detail: Option<String>,
    pub acked_at: Option<i64>,
}

impl AgentRecord {
    pub fn connected(&self, now: i64) -> bool {
        self.connected_until > now
    }
}

/// Copies the public members of a JWK into `retired_jwks` for every environment it is deployed
/// to, unless they equal `unless` (a re-derivation that changed nothing public). `oct` keys are
/// never published, so never retired.
pub(crate) async fn retire_jwk(
    tx: &mut Tx,
    jwk_id: &str,
    unless: Option<&str>,
    now: i64,
) -> Result<()> {
    let row: Option<(String, String, Option<String>, String)> =
        sqlx::query_as("SELECT project_id, kty, kid, jwk_json FROM jwks WHERE id = $1")
            .bind(jwk_id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some((project_id, kty, kid, json)) = row else {
        return Ok(());
    };
    if kty == "oct" || unless == Some(json.as_str()) {
        return Ok(());
    }
    let envs: Vec<(String,)> = sqlx::query_as(
        "SELECT environment_id FROM deployments WHERE object_kind = $1 AND object_id = $2",
    )
    .bind(KIND_JWK)
    .bind(jwk_id)
    .fetch_all(&mut **tx)
    .await?;
    for (env,) in envs {
        sqlx::query(
            "INSERT INTO retired_jwks (project_id, environment_id, kid, jwk_json, retired_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&project_id)
        .bind(&env)
        .bind(&kid)
        .bind(&json)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The condition under which an upsert of `agents` may take the row: the name is unclaimed,
/// claimed by this token, or claimed by a token that was revoked or has expired (`$4` is now).
macro_rules! agent_name_free {
    () => {
        "agents.token_id IS NULL OR agents.token_id = excluded.token_id \
         OR NOT EXISTS (SELECT 1 FROM access_tokens t WHERE t.id = agents.token_id \
         AND (t.expires_at IS NULL OR t.expires_at > $4))"
    };
}

/// Whether a stored public JWK text is a JSON object worth publishing.
fn publishable(json: &str) -> bool {
    json.starts_with('{') && json != "{}"
}

impl Store {
    /// The public JWK Set of project `project_name` in environment `environment_name`: every
    /// non-`oct` JWK deployed there, plus the ones retired after `retired_since` (unix ms). `None`
    /// when the project or the environment does not exist.
    pub async fn published_jwks(
        &self,
        project_name: &str,
        environment_name: &str,
        retired_since: Option<i64>,
        grace_ms: i64,
    ) -> Result<Option<PublishedJwks>> {
        let mut conn = self.read.acquire().await?;
        let ids: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT p.id, e.id, e.revision FROM projects p, environments e \
             WHERE p.name = $1 AND e.name = $2",
        )
        .bind(project_name)
        .bind(environment_name)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((project_id, environment_id, revision)) = ids else {
            return Ok(None);
        };
        let current: Vec<(String,)> = sqlx::query_as(
            "SELECT j.jwk_json FROM deployments d JOIN jwks j ON j.id = d.object_id \
             WHERE d.environment_id = $1 AND d.object_kind = $2 AND j.project_id = $3 AND j.kty <> 'oct' \
             ORDER BY j.created_at, j.name",
        )
        .bind(&environment_id)
        .bind(KIND_JWK)
        .bind(&project_id)
        .fetch_all(&mut *conn)
        .await?;
        let mut seen: HashSet<String> = HashSet::new();
        let mut keys = Vec::with_capacity(current.len());
        for (json,) in current {
            if publishable(&json) && seen.insert(json.clone()) {
                keys.push(json);
            }
        }
        let mut changes_at = None;
        if let Some(since) = retired_since {
            let retired: Vec<(String, i64)> = sqlx::query_as(
                "SELECT jwk_json, retired_at FROM retired_jwks \
                 WHERE environment_id = $1 AND project_id = $2 AND retired_at > $3 \
                 ORDER BY retired_at DESC",
            )
            .bind(&environment_id)
            .bind(&project_id)
            .bind(since)
            .fetch_all(&mut *conn)
            .await?;
            for (json, retired_at) in retired {
                let leaves = retired_at.saturating_add(grace_ms);
                if publishable(&json) && seen.insert(json.clone()) {
                    keys.push(json);
                    changes_at = Some(changes_at.map_or(leaves, |c: i64| c.min(leaves)));
                }
            }
        }
        Ok(Some(PublishedJwks {
            revision,
            keys,
            changes_at,
        }))
    }

    /// Forgets retired JWKs retired before `before` (unix ms); returns how many.
    pub async fn purge_retired_jwks(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM retired_jwks WHERE retired_at < $1")
            .bind(before)
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected())
    }

    /// An environment's current revision.
    pub async fn environment_revision(&self, environment_id: &str) -> Result<Option<i64>> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT revision FROM environments WHERE id = $1")
            .bind(environment_id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|(r,)| r))
    }

    // ---- agents -------------------------------------------------------------------------------

    /// Records a poll of an agent: it is connected until `connected_until` (unix ms).
    /// Records an agent's poll. An agent name belongs to the token that first used it in the
    /// environment, while that token lives: `false` (nothing written) when another live token
    /// holds the name.
    pub async fn agent_contact(
        &self,
        environment_id: &str,
        name: &str,
        token_id: &str,
        address: &str,
        now: i64,
        connected_until: i64,
    ) -> Result<bool> {
        let done = sqlx::query(concat!(
            "INSERT INTO agents (environment_id, name, address, first_contact, last_contact, connected_until, token_id) \
             VALUES ($1, $2, $3, $4, $4, $5, $6) \
             ON CONFLICT (environment_id, name) DO UPDATE SET address = excluded.address, \
             last_contact = excluded.last_contact, connected_until = excluded.connected_until, \
             token_id = excluded.token_id WHERE ",
            agent_name_free!()
        ))
        .bind(environment_id)
        .bind(name)
        .bind(address)
        .bind(now)
        .bind(connected_until)
        .bind(token_id)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Marks an agent as gone (its connection closed).
    pub async fn agent_gone(&self, environment_id: &str, name: &str, now: i64) -> Result<()> {
        sqlx::query(
            "UPDATE agents SET connected_until = $1 WHERE environment_id = $2 AND name = $3 \
             AND connected_until > $1",
        )
        .bind(now)
        .bind(environment_id)
        .bind(name)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Records an agent's acknowledgement of a revision; `false` (nothing written) when another
    /// live token holds the agent's name (see [`Store::agent_contact`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn agent_ack(
        &self,
        environment_id: &str,
        name: &str,
        token_id: &str,
        address: &str,
        revision: i64,
        success: bool,
        detail: &str,
        now: i64,
        connected_until: i64,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(concat!(
            "INSERT INTO agents (environment_id, name, address, first_contact, last_contact, connected_until, \
             acked_revision, acked_success, acked_detail, acked_at, token_id) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $4, $9) \
             ON CONFLICT (environment_id, name) DO UPDATE SET address = excluded.address, \
             last_contact = excluded.last_contact, connected_until = excluded.connected_until, \
             acked_revision = excluded.acked_revision, acked_success = excluded.acked_success, \
             acked_detail = excluded.acked_detail, acked_at = excluded.acked_at, \
             token_id = excluded.token_id WHERE ",
            agent_name_free!()
        ))
        .bind(environment_id)
        .bind(name)
        .bind(address)
        .bind(now)
        .bind(connected_until)
        .bind(revision)
        .bind(i64::from(success))
        .bind(detail)
        .bind(token_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.stage_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The agents of an environment, by name.
    pub async fn agents(&self, environment_id: &str) -> Result<Vec<AgentRecord>> {
        Ok(
            sqlx::query_as("SELECT * FROM agents WHERE environment_id = $1 ORDER BY name")
                .bind(environment_id)
                .fetch_all(&self.read)
                .await?,
        )
    }

    /// The agents connected at `now`, in every environment.
    pub async fn connected_agents(&self, now: i64) -> Result<Vec<AgentRecord>> {
        Ok(sqlx::query_as(
            "SELECT * FROM agents WHERE connected_until > $1 ORDER BY environment_id, name",
        )
        .bind(now)
        .fetch_all(&self.read)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use crate::{JwkMaterial, NewJwk, test_store};

    fn new_jwk(project_id: &str, name: &str, kty: &str, json: &str) -> NewJwk {
        NewJwk {
            project_id: project_id.to_owned(),
            name: name.to_owned(),
            description: String::new(),
            source_type: "JWK".to_owned(),
            source_id: None,
            source_url: None,
            source_environment_id: None,
            material: JwkMaterial {
                kty: kty.to_owned(),
                kid: Some(name.to_owned()),
                jwk_json: json.to_owned(),
            },
            key_use: None,
            alg: None,
            kid_given: true,
            environment_ids: None,
        }
    }

    #[tokio::test]
    async fn retired_jwks_stay_for_the_grace_period_only() {
        let path = std::env::temp_dir().join(format!("keyward-publish-{}.db", crate::new_id()));
        let store = test_store(&path).await;
        store
            .create_environment("dev", "", "DEV", &crate::test_audit())
            .await
            .unwrap();
        let p = store
            .create_project("p", "", &crate::test_audit())
            .await
            .unwrap();
        let none = store.published_jwks("p", "nope", Some(0), 1).await.unwrap();
        assert!(none.is_none());
        let empty = store
            .published_jwks("p", "dev", Some(0), 1)
            .await
            .unwrap()
            .unwrap();
        assert!(empty.keys.is_empty());

        let public = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"a"}"#;
        let jwk = new_jwk(&p.id, "a", "EC", public);
        store.create_jwk(&jwk, &crate::test_audit()).await.unwrap();
        let secret = new_jwk(&p.id, "s", "oct", r#"{"kty":"oct","k":"AAAA","kid":"s"}"#);
        store
            .create_jwk(&secret, &crate::test_audit())
            .await
            .unwrap();
        let one = store
            .published_jwks("p", "dev", Some(0), 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            one.keys,
            vec![public.to_owned()],
            "oct keys are never published"
        );
        assert_eq!(one.changes_at, None);

        let before = crate::now_ms();
        store
            .delete_jwk(&p.id, "a", &crate::test_audit())
            .await
            .unwrap();
        let after = store
            .published_jwks("p", "dev", Some(before - 1), 60_000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            after.keys,
            vec![public.to_owned()],
            "kept during the grace period"
        );
        assert!(after.changes_at.unwrap() >= before + 60_000);
        assert!(after.revision > one.revision);
        let later = store
            .published_jwks("p", "dev", Some(crate::now_ms()), 60_000)
            .await
            .unwrap()
            .unwrap();
        assert!(later.keys.is_empty(), "gone once retired before the window");
        assert_eq!(
            store.purge_retired_jwks(crate::now_ms() + 1).await.unwrap(),
            1
        );
    }

    #[tokio::test]
    async fn agents_are_connected_while_they_poll() {
        let path = std::env::temp_dir().join(format!("keyward-publish-{}.db", crate::new_id()));
        let store = test_store(&path).await;
        let (env, _) = store
            .create_environment("dev", "", "DEV", &crate::test_audit())
            .await
            .unwrap();
        let user = store
            .create_user("ops", "x", false, &crate::test_audit())
            .await
            .unwrap();
        let token = |name: &str, hash: u8| crate::NewToken {
            id: None,
            user_id: user.id.clone(),
            name: name.to_owned(),
            kind: crate::TokenKind::Agent,
            secret_hash: vec![hash; 32],
            expires_at: None,
            environment_id: Some(env.id.clone()),
        };
        let t1 = store
            .create_token(&token("one", 1), &crate::test_audit())
            .await
            .unwrap();
        let t2 = store
            .create_token(&token("two", 2), &crate::test_audit())
            .await
            .unwrap();
        assert!(
            store
                .agent_contact(&env.id, "w1", &t1, "10.0.0.1", 1_000, 30_000)
                .await
                .unwrap()
        );
        assert_eq!(store.connected_agents(2_000).await.unwrap().len(), 1);
        assert!(
            store
                .agent_ack(
                    &env.id,
                    "w1",
                    &t1,
                    "10.0.0.1",
                    4,
                    false,
                    "boom",
                    3_000,
                    13_000,
                    &crate::test_audit()
                )
                .await
                .unwrap()
        );
        // The name belongs to the first token: another token's poll and ack change nothing.
        assert!(
            !store
                .agent_contact(&env.id, "w1", &t2, "10.6.6.6", 3_500, 90_000)
                .await
                .unwrap()
        );
        assert!(
            !store
                .agent_ack(
                    &env.id,
                    "w1",
                    &t2,
                    "10.6.6.6",
                    4,
                    true,
                    "forged",
                    3_600,
                    90_000,
                    &crate::test_audit()
                )
                .await
                .unwrap()
        );
        let a = &store.agents(&env.id).await.unwrap()[0];
        assert_eq!(
            (a.acked_revision, a.acked_success, a.first_contact),
            (Some(4), Some(0), 1_000)
        );
        assert_eq!(a.acked_detail.as_deref(), Some("boom"));
        store.agent_gone(&env.id, "w1", 5_000).await.unwrap();
        assert!(store.connected_agents(5_000).await.unwrap().is_empty());
        assert!(!store.agents(&env.id).await.unwrap()[0].connected(5_000));
        // Once the first token is revoked, the name is free for another.
        store
            .delete_token(&user.id, "one", &crate::test_audit())
            .await
            .unwrap();
        assert!(
            store
                .agent_contact(&env.id, "w1", &t2, "10.0.0.2", 6_000, 30_000)
                .await
                .unwrap()
        );
    }
}
