//! The deployment record: per environment, the set of deployed objects and a revision number.
//!
//! Every mutation that deploys or undeploys builds a [`DeploymentPlan`] and applies it inside its
//! own transaction. Each touched environment's revision goes up by exactly one per mutation, and
//! every deployed object remembers the revision at which it was (re)deployed.

use std::collections::BTreeMap;

use crate::{Result, Tx};

/// The kind of object a deployment row refers to.
pub const KIND_CERTIFICATE: &str = "CERTIFICATE";
pub const KIND_JWK: &str = "JWK";

/// Deploy and undeploy steps of one mutation.
#[derive(Debug, Default)]
pub struct DeploymentPlan {
    deploy: Vec<(&'static str, String, String, Vec<String>)>,
    undeploy: Vec<(&'static str, String, Vec<String>)>,
}

/// What one environment saw from one mutation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvDeployment {
    pub environment_id: String,
    pub environment_name: String,
    /// The environment's revision after the mutation.
    pub revision: i64,
    pub deployed: usize,
    pub undeployed: usize,
}

impl DeploymentPlan {
    pub fn deploy(
        &mut self,
        kind: &'static str,
        object_id: &str,
        project_id: &str,
        envs: Vec<String>,
    ) {
        self.deploy
            .push((kind, object_id.to_owned(), project_id.to_owned(), envs));
    }

    pub fn undeploy(&mut self, kind: &'static str, object_id: &str, envs: Vec<String>) {
        self.undeploy.push((kind, object_id.to_owned(), envs));
    }

    /// Writes the plan: records every step, then bumps each touched environment once — the
    /// bump, which locks the environment's row until commit on PostgreSQL, comes last so that
    /// lock is held as briefly as can be. Deployed rows are written with the revision the bump is
    /// expected to give; if another transaction bumped in between (its commit came first), they
    /// are moved to the revision actually given.
    pub(crate) async fn apply(self, tx: &mut Tx) -> Result<Vec<EnvDeployment>> {
        // environment id -> (deployed, undeployed)
        let mut counts: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (_, _, _, envs) in &self.deploy {
            for env in envs {
                counts.entry(env.clone()).or_default().0 += 1;
            }
        }
        for (_, _, envs) in &self.undeploy {
            for env in envs {
                counts.entry(env.clone()).or_default().1 += 1;
            }
        }
        for (kind, object_id, envs) in &self.undeploy {
            for env in envs {
                sqlx::query(
                    "DELETE FROM deployments WHERE environment_id = $1 AND object_kind = $2 AND object_id = $3",
                )
                .bind(env)
                .bind(*kind)
                .bind(object_id)
                .execute(&mut **tx)
                .await?;
            }
        }
        // Each row gets the revision its environment will have, as far as this transaction can
        // see (read in the same statement); the bump below says whether that held.
        let mut expected: BTreeMap<String, i64> = BTreeMap::new();
        for (kind, object_id, project_id, envs) in &self.deploy {
            for env in envs {
                let (revision,): (i64,) = sqlx::query_as(
                    "INSERT INTO deployments (environment_id, object_kind, object_id, project_id, revision) \
                     SELECT id, $2, $3, $4, revision + 1 FROM environments WHERE id = $1 \
                     ON CONFLICT (environment_id, object_kind, object_id) DO UPDATE SET revision = excluded.revision \
                     RETURNING revision",
                )
                .bind(env)
                .bind(*kind)
                .bind(object_id)
                .bind(project_id)
                .fetch_one(&mut **tx)
                .await?;
                expected.insert(env.clone(), revision);
            }
        }
        let mut revisions: BTreeMap<String, (String, i64)> = BTreeMap::new();
        for env in counts.keys() {
            let (name, revision): (String, i64) = sqlx::query_as(
                "UPDATE environments SET revision = revision + 1 WHERE id = $1 RETURNING name, revision",
            )
            .bind(env)
            .fetch_one(&mut **tx)
            .await?;
            revisions.insert(env.clone(), (name, revision));
        }
        // Only when another transaction's bump committed between the read and ours.
        for (env, want) in &expected {
            let got = revisions[env].1;
            if got != *want {
                for (kind, object_id, _, envs) in &self.deploy {
                    if envs.contains(env) {
                        sqlx::query(
                            "UPDATE deployments SET revision = $1 \
                             WHERE environment_id = $2 AND object_kind = $3 AND object_id = $4",
                        )
                        .bind(got)
                        .bind(env)
                        .bind(*kind)
                        .bind(object_id)
                        .execute(&mut **tx)
                        .await?;
                    }
                }
            }
        }
        let mut out: Vec<EnvDeployment> = counts
            .into_iter()
            .map(|(env, (deployed, undeployed))| {
                let (name, revision) = revisions.remove(&env).unwrap_or_default();
                EnvDeployment {
                    environment_id: env,
                    environment_name: name,
                    revision,
                    deployed,
                    undeployed,
                }
            })
            .collect();
        out.sort_by(|a, b| a.environment_name.cmp(&b.environment_name));
        Ok(out)
    }
}

/// The environments an object is deployed to now, by id.
pub(crate) async fn deployed_environment_ids(
    tx: &mut Tx,
    kind: &str,
    object_id: &str,
) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT environment_id FROM deployments WHERE object_kind = $1 AND object_id = $2 \
         ORDER BY environment_id",
    )
    .bind(kind)
    .bind(object_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The constant naming a stored object kind (`CERTIFICATE`, `JWK`, `KEY`, `KEYSTORE`).
pub(crate) fn kind_static(kind: &str) -> &'static str {
    [
        KIND_CERTIFICATE,
        KIND_JWK,
        crate::sources::KIND_KEY,
        crate::sources::KIND_KEYSTORE,
    ]
    .into_iter()
    .find(|k| *k == kind)
    .unwrap_or(KIND_JWK)
}

/// Ids of every environment, in name order.
pub(crate) async fn all_environment_ids(tx: &mut Tx) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM environments ORDER BY name")
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

impl crate::Store {
    /// The objects deployed in an environment: `(kind, object id, project id, revision)`.
    pub async fn deployed_objects(
        &self,
        environment_id: &str,
    ) -> Result<Vec<(String, String, String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT object_kind, object_id, project_id, revision FROM deployments \
             WHERE environment_id = $1 ORDER BY object_kind, object_id",
        )
        .bind(environment_id)
        .fetch_all(&self.read)
        .await?)
    }
}
