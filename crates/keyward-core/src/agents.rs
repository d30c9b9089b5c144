//! The bundle an agent applies (docs/agent.md): what one environment has deployed, per project,
//! read at one revision.

use std::collections::{BTreeSet, HashSet};

use keyward_store::{Environment, KIND_CERTIFICATE, KIND_JWK, KIND_KEY, KIND_KEYSTORE};
use serde::Serialize;
use serde_json::Value;

use crate::Core;
use crate::error::{CoreError, CoreResult};
use crate::permissions::{Need, Principal};

/// Attempts at reading a bundle while the environment keeps changing underneath.
const CONSISTENT_READ_ATTEMPTS: usize = 5;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub environment_name: String,
    pub revision: i64,
    pub projects: Vec<ProjectBundle>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectBundle {
    pub name: String,
    pub certificates: Vec<CertificateFile>,
    pub keys: Vec<KeyFile>,
    pub keystores: Vec<KeystoreFile>,
    /// The public JWK Set (what the public JWKS serves, without retired keys).
    pub jwks: Value,
    /// Every JWK complete with its private members, when at least one has any.
    pub private_jwks: Option<Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateFile {
    pub name: String,
    pub alias: String,
    /// The certificate, PEM.
    pub pem: String,
    /// The certificate followed by its chain, PEM.
    pub chain_pem: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyFile {
    pub name: String,
    pub key_type: String,
    pub algorithm: Option<String>,
    /// PEM keys and certificates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
    /// Secret keys (raw bytes) and anything not PEM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeystoreFile {
    pub name: String,
    pub keystore_type: String,
    pub content_base64: String,
}

/// What `env` has deployed for the projects the caller may read (restricted to `only` when given),
/// read at one revision: the read is repeated if the environment changed meanwhile. Private
/// material (private and secret keys, keystore files, private JWK members) is carried only for
/// projects where the token's owner deploys (`SECRETS`+`DEPLOY_UNDEPLOY`, 00-product §1).
pub async fn agent_bundle(
    app: &Core,
    caller: &Principal,
    env: &Environment,
    only: Option<&[String]>,
) -> CoreResult<Bundle> {
    let mut last = None;
    for _ in 0..CONSISTENT_READ_ATTEMPTS {
        let before = environment_revision(app, &env.id).await?;
        let bundle = read_bundle(app, caller, env, only, before).await?;
        if environment_revision(app, &env.id).await? == before {
            return Ok(bundle);
        }
        last = Some(bundle);
    }
    // Still changing: the last read is a state at least as new as its revision number.
    last.ok_or_else(|| CoreError::internal("no bundle read"))
}

/// An environment's current revision (0 for one that does not exist).
pub async fn environment_revision(app: &Core, environment_id: &str) -> CoreResult<i64> {
    Ok(app
        .store
        .environment_revision(environment_id)
        .await
        .map_err(CoreError::internal)?
        .unwrap_or_default())
}

async fn read_bundle(
    app: &Core,
    caller: &Principal,
    env: &Environment,
    only: Option<&[String]>,
    revision: i64,
) -> CoreResult<Bundle> {
    let store = &app.store;
    let deployed = store
        .deployed_objects(&env.id)
        .await
        .map_err(CoreError::internal)?;
    let is_deployed: HashSet<(&str, &str)> = deployed
        .iter()
        .map(|(kind, id, _, _)| (kind.as_str(), id.as_str()))
        .collect();
    let project_ids: BTreeSet<&str> = deployed.iter().map(|(_, _, p, _)| p.as_str()).collect();
    let mut projects = Vec::new();
    for project_id in project_ids {
        if !caller.may(project_id, Need::Read) {
            continue;
        }
        let Some(project) = store
            .project_by_id(project_id)
            .await
            .map_err(CoreError::internal)?
        else {
            continue;
        };
        if only.is_some_and(|o| !o.contains(&project.name)) {
            continue;
        }
        let private = caller.may_deploy(project_id);
        let mut out = ProjectBundle {
            name: project.name.clone(),
            certificates: Vec::new(),
            keys: Vec::new(),
            keystores: Vec::new(),
            jwks: serde_json::json!({"keys": []}),
            private_jwks: None,
        };
        for cert in store
            .list_certificates(project_id)
            .await
            .map_err(CoreError::internal)?
        {
            if !is_deployed.contains(&(KIND_CERTIFICATE, cert.id.as_str())) {
                continue;
            }
            for e in cert.entries.iter().filter(|e| e.environment_id == env.id) {
                out.certificates.push(CertificateFile {
                    name: cert.name.clone(),
                    alias: e.alias.clone(),
                    pem: keyward_jose::pem::encode("CERTIFICATE", &e.leaf_der),
                    chain_pem: e.chain_pem.clone(),
                });
            }
        }
        for key in store
            .list_keys(project_id)
            .await
            .map_err(CoreError::internal)?
        {
            let public = key.key_type == super::keys::KeyType::Public.as_str();
            if !is_deployed.contains(&(KIND_KEY, key.id.as_str())) || !(private || public) {
                continue;
            }
            for e in key.entries.iter().filter(|e| e.environment_id == env.id) {
                let pem = (key.key_type != "SECRET_KEY")
                    .then(|| std::str::from_utf8(&e.content).ok())
                    .flatten()
                    .filter(|t| t.trim_start().starts_with("-----BEGIN"))
                    .map(str::to_owned);
                out.keys.push(KeyFile {
                    name: key.name.clone(),
                    key_type: key.key_type.clone(),
                    algorithm: key.algorithm.clone(),
                    content_base64: pem
                        .is_none()
                        .then(|| keyward_jose::b64::standard(&e.content)),
                    pem,
                });
            }
        }
        for ks in store
            .list_keystores(project_id)
            .await
            .map_err(CoreError::internal)?
        {
            if !is_deployed.contains(&(KIND_KEYSTORE, ks.id.as_str())) || !private {
                continue;
            }
            for e in ks.entries.iter().filter(|e| e.environment_id == env.id) {
                out.keystores.push(KeystoreFile {
                    name: ks.name.clone(),
                    keystore_type: e.keystore_type.clone(),
                    content_base64: keyward_jose::b64::standard(&e.file),
                });
            }
        }
        if let Some(published) = store
            .published_jwks(&project.name, &env.name, None, 0)
            .await
            .map_err(CoreError::internal)?
        {
            let keys: Vec<Value> = published
                .keys
                .iter()
                .filter_map(|k| serde_json::from_str(k).ok())
                .collect();
            out.jwks = serde_json::json!({ "keys": keys });
        }
        let jwks: Vec<_> = store
            .list_jwks(project_id)
            .await
            .map_err(CoreError::internal)?
            .into_iter()
            .filter(|j| is_deployed.contains(&(KIND_JWK, j.id.as_str())))
            .collect();
        if private
            && jwks
                .iter()
                .any(|j| keyward_store::has_private_members(&j.jwk_json))
        {
            let keys: Vec<Value> = jwks
                .iter()
                .filter_map(|j| serde_json::from_str(&j.jwk_json).ok())
                .collect();
            out.private_jwks = Some(serde_json::json!({ "keys": keys }));
        }
        let empty = out.certificates.is_empty()
            && out.keys.is_empty()
            && out.keystores.is_empty()
            && out.jwks["keys"].as_array().is_none_or(Vec::is_empty)
            && out.private_jwks.is_none();
        if !empty {
            projects.push(out);
        }
    }
    Ok(Bundle {
        environment_name: env.name.clone(),
        revision,
        projects,
    })
}
