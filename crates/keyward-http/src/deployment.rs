//! `deploymentResult`: one object carrying both documented shapes — the keys-secrets pages'
//! `{success, message, environmentResults[…]}` and the OpenAPI `DeploymentResult`
//! `{success, responseTime, detailList[…]}`.
//!
//! keyward records deployments per environment (revision numbers, see `keyward-store`); agents
//! following an environment acknowledge revisions (docs/agent.md), and `detailList` has one entry
//! per agent connected to a touched environment (`publish.rs` waits for them).

use std::collections::BTreeMap;

use keyward_store::EnvDeployment;
use serde::Serialize;
use utoipa::ToSchema;

use crate::messages;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentResult {
    pub success: bool,
    pub message: String,
    /// Milliseconds spent deploying.
    pub response_time: i64,
    pub environment_results: Vec<EnvironmentResult>,
    pub detail_list: Vec<DeploymentDetail>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentResult {
    pub environment_name: String,
    pub success: bool,
    pub message: String,
    /// The environment's revision after this change.
    pub revision: i64,
    /// Agents connected to the environment when the change was made (each in `detailList`).
    pub agents: usize,
    /// What the agents did, or that there are none.
    pub detail: String,
}

/// One agent's answer: `podName` is the agent's name, `podIp` its address.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentDetail {
    pub env_name: String,
    pub pod_name: String,
    pub pod_ip: String,
    pub success: bool,
    pub detail: String,
    pub response_time: i64,
}

impl DeploymentResult {
    /// The result of a mutation: per environment, what the store recorded and, from `details`
    /// (by environment name), how each agent connected to it answered.
    pub fn from_envs(
        envs: &[EnvDeployment],
        details: &BTreeMap<String, Vec<DeploymentDetail>>,
        response_time: i64,
    ) -> DeploymentResult {
        let undeploy_only = !envs.is_empty() && envs.iter().all(|e| e.deployed == 0);
        let environment_results: Vec<EnvironmentResult> = envs
            .iter()
            .map(|e| {
                let agents = details
                    .get(&e.environment_name)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let failed = agents.iter().filter(|d| !d.success).count();
                let done = if e.deployed > 0 {
                    "Deployed successfully"
                } else {
                    "Undeployed successfully"
                };
                let (message, detail) = if agents.is_empty() {
                    (done.to_owned(), messages::NO_AGENTS.to_owned())
                } else if failed == 0 {
                    (done.to_owned(), messages::agents_applied(agents.len()))
                } else {
                    (
                        messages::agents_failed(failed, agents.len()),
                        messages::agents_failed(failed, agents.len()),
                    )
                };
                EnvironmentResult {
                    environment_name: e.environment_name.clone(),
                    success: failed == 0,
                    message,
                    revision: e.revision,
                    agents: agents.len(),
                    detail,
                }
            })
            .collect();
        let success = environment_results.iter().all(|e| e.success);
        let message = if envs.is_empty() {
            "Nothing to deploy: no environment is affected".to_owned()
        } else if !success {
            "Deployment failed on some agents".to_owned()
        } else if undeploy_only {
            "Undeployment completed successfully".to_owned()
        } else {
            "Deployment completed successfully".to_owned()
        };
        DeploymentResult {
            success,
            message,
            response_time,
            environment_results,
            detail_list: details.values().flatten().cloned().collect(),
        }
    }
}
