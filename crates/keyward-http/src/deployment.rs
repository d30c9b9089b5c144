//! `deploymentResult`: one object carrying both documented shapes — the keys-secrets pages'
//! `{success, message, environmentResults[…]}` and the OpenAPI `DeploymentResult`
//! `{success, responseTime, detailList[…]}`.
//!
//! keyward records deployments per environment (revision numbers, see `keyward-store`). Gateway
//! workers that acknowledge a revision do not exist yet, so `detailList` is honestly empty.

use keyward_store::EnvDeployment;
use serde::Serialize;
use utoipa::ToSchema;

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
}

/// One gateway worker's answer (none are connected in this version).
#[derive(Debug, Serialize, ToSchema)]
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
    pub fn from_envs(envs: &[EnvDeployment]) -> DeploymentResult {
        let undeploy_only = !envs.is_empty() && envs.iter().all(|e| e.deployed == 0);
        let message = if envs.is_empty() {
            "Nothing to deploy: no environment is affected".to_owned()
        } else if undeploy_only {
            "Undeployment completed successfully".to_owned()
        } else {
            "Deployment completed successfully".to_owned()
        };
        DeploymentResult {
            success: true,
            message,
            response_time: 0,
            environment_results: envs
                .iter()
                .map(|e| EnvironmentResult {
                    environment_name: e.environment_name.clone(),
                    success: true,
                    message: if e.deployed > 0 {
                        "Deployed successfully"
                    } else {
                        "Undeployed successfully"
                    }
                    .to_owned(),
                    revision: e.revision,
                })
                .collect(),
            detail_list: Vec::new(),
        }
    }
}
