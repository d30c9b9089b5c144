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

    /// Writes the plan: bumps each touched environment once, then records every step.
    ///
    /// The bump comes first on purpose. Measured on PostgreSQL (issue #11): with the bump last,
    /// every concurrent writer first inserted its deployment rows — each insert's foreign key
    /// takes a `KEY SHARE` lock on the environment row, so dozens of writers shared it through a
    /// multixact — and then queued on that row for the bump; with three nodes that halved the
    /// throughput. Bumping first queues writers before they touch the row, and the lock is held
    /// for the few inserts that follow.
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
        for (kind, object_id, project_id, envs) in &self.deploy {
            for env in envs {
                let revision = revisions[env].1;
                sqlx::query(
                    "INSERT INTO deployments (environment_id, object_kind, object_id, project_id, revision) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (environment_id, object_kind, object_id) DO UPDATE SET revision = excluded.revision",
                )
                .bind(env)
                .bind(*kind)
                .bind(object_id)
                .bind(project_id)
                .bind(revision)
                .execute(&mut **tx)
                .await?;
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
