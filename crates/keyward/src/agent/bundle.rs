//! The JSON the agent reads: the envelope of `GET …/agent/bundle` and the bundle in it
//! (`docs/agent.md`, "Protocol"). Lenient on purpose: unknown members are ignored and missing
//! lists are empty, so a newer server does not break an older agent.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The envelope around every answer (`resultList` on success, `resultMessage` on failure).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    #[serde(default = "Vec::new")]
    pub result_list: Vec<T>,
    #[serde(default)]
    pub result_message: Option<String>,
}

/// What is deployed in one environment at one revision.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    #[serde(default)]
    pub environment_name: String,
    pub revision: u64,
    #[serde(default)]
    pub projects: Vec<ProjectBundle>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProjectBundle {
    pub name: String,
    #[serde(default)]
    pub certificates: Vec<CertificateEntry>,
    #[serde(default)]
    pub keys: Vec<KeyEntry>,
    #[serde(default)]
    pub keystores: Vec<KeystoreEntry>,
    /// The public JWK Set; absent means an empty set.
    #[serde(default)]
    pub jwks: Option<Value>,
    /// Every JWK with its private members; `null` when none has any.
    #[serde(default)]
    pub private_jwks: Option<Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CertificateEntry {
    pub name: String,
    #[serde(default)]
    pub alias: Option<String>,
    pub pem: String,
    /// The chain after the certificate (or the whole chain starting with it).
    #[serde(default)]
    pub chain_pem: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KeyEntry {
    pub name: String,
    #[serde(default)]
    pub key_type: Option<String>,
    #[serde(default)]
    pub algorithm: Option<String>,
    /// PEM of a private key, public key or certificate.
    #[serde(default)]
    pub pem: Option<String>,
    /// Raw bytes of a secret (symmetric) key.
    #[serde(default)]
    pub content_base64: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KeystoreEntry {
    pub name: String,
    #[serde(default)]
    pub keystore_type: Option<String>,
    pub content_base64: String,
}

/// The body of `POST …/agent/ack`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ack {
    pub agent: String,
    pub revision: u64,
    pub success: bool,
    pub detail: String,
}
