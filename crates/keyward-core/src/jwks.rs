//! JWK rules: derivation from a certificate chain, and the API shapes of a JWK.

use keyward_jose::alg::{Algorithm, KeyUse};
use keyward_jose::x509;
use keyward_store::{Jwk, JwkMaterial};
use serde::Serialize;
use serde_json::{Map, Value};

use super::one_of;
use crate::error::{CoreError, CoreResult};
use crate::permissions::string_enum;

string_enum!(
    /// Where a JWK comes from.
    SourceType {
        Url = "URL",
        CopyPaste = "COPY_PASTE",
        Certificate = "CERTIFICATE",
        PublicKey = "PUBLIC_KEY",
        PrivateKey = "PRIVATE_KEY",
        Keystore = "KEYSTORE",
        Generate = "GENERATE",
    }
);

/// Parses `useType` (`SIGNATURE`/`ENCRYPTION`, case-sensitive).
pub fn parse_use(value: &str) -> CoreResult<KeyUse> {
    one_of(
        "useType",
        value,
        |v| match v {
            "SIGNATURE" => Some(KeyUse::Signature),
            "ENCRYPTION" => Some(KeyUse::Encryption),
            _ => None,
        },
        &["SIGNATURE", "ENCRYPTION"],
    )
}

/// Parses `algorithm` in either spelling (`RS256`/`RSA256`, `RSA-OAEP-256`/`RSA_OAEP_256`, …).
pub fn parse_algorithm(value: &str) -> CoreResult<Algorithm> {
    Algorithm::parse(value).map_err(|e| CoreError::bad_request(e.to_string()))
}

/// The JWK of a certificate chain (leaf first): public members, `x5c`, `x5t`, `x5t#S256`, and the
/// given kid or the RFC 7638 thumbprint.
pub fn material_from_chain(
    chain: &[x509::Certificate],
    key_use: KeyUse,
    alg: Algorithm,
    kid: Option<&str>,
) -> Result<JwkMaterial, String> {
    let jwk = keyward_jose::jwk::jwk_from_certificate_chain(chain, key_use, alg, kid)
        .map_err(|e| e.to_string())?;
    Ok(JwkMaterial {
        kty: jwk.kty().jose().to_owned(),
        kid: jwk.kid.clone(),
        jwk_json: jwk.to_json(),
    })
}

/// Derives a stored JWK again from a new chain, keeping its use, algorithm and (if chosen by the
/// caller) its kid.
pub fn rederive_material(jwk: &Jwk, chain: &[x509::Certificate]) -> Result<JwkMaterial, String> {
    let key_use = match jwk.key_use.as_deref() {
        Some("enc") => KeyUse::Encryption,
        _ => KeyUse::Signature,
    };
    let alg =
        Algorithm::parse(jwk.alg.as_deref().unwrap_or_default()).map_err(|e| e.to_string())?;
    let kid = if jwk.kid_given {
        jwk.kid.as_deref()
    } else {
        None
    };
    material_from_chain(chain, key_use, alg, kid)
}

/// A JWK in lists: no key material.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwkSummary {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    /// `URL`, `COPY_PASTE`, `CERTIFICATE`, `PUBLIC_KEY`, `PRIVATE_KEY`, `KEYSTORE` or `GENERATE`.
    pub source_type: String,
    /// The certificate/key/keystore it was derived from, while linked.
    pub source_id: Option<String>,
    pub source_url: Option<String>,
    /// `RSA`, `EC`, `OCT` or `OKP`.
    #[serde(rename = "type")]
    pub key_type: String,
    pub kid: Option<String>,
    /// `sig` or `enc`.
    #[serde(rename = "use")]
    pub key_use: Option<String>,
    pub alg: Option<String>,
}

/// A JWK with its material: the per-type object (`rsa`, `ec`, `okp` or `oct`) and the complete
/// RFC 7517 object in `jwk`.
#[derive(Debug, Serialize)]
pub struct JwkDetail {
    #[serde(flatten)]
    pub summary: JwkSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rsa: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ec: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub okp: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oct: Option<Map<String, Value>>,
    /// The complete JWK exactly as a verifier consumes it.
    pub jwk: Value,
}

/// Apinizer's name of a JOSE key type.
fn api_key_type(kty: &str) -> String {
    match kty {
        "oct" => "OCT".to_owned(),
        other => other.to_owned(),
    }
}

impl From<&Jwk> for JwkSummary {
    fn from(j: &Jwk) -> JwkSummary {
        JwkSummary {
            id: j.id.clone(),
            name: j.name.clone(),
            description: j.description.clone(),
            project_id: j.project_id.clone(),
            source_type: j.source_type.clone(),
            source_id: j.source_id.clone(),
            source_url: j.source_url.clone(),
            key_type: api_key_type(&j.kty),
            kid: j.kid.clone(),
            key_use: j.key_use.clone(),
            alg: j.alg.clone(),
        }
    }
}

impl JwkDetail {
    pub fn from_row(j: &Jwk) -> CoreResult<JwkDetail> {
        let jwk: Value = serde_json::from_str(&j.jwk_json).map_err(CoreError::internal)?;
        let members: &[&str] = match j.kty.as_str() {
            "RSA" => &["n", "e", "d", "p", "q", "dp", "dq", "qi"],
            "EC" => &["crv", "x", "y", "d"],
            "OKP" => &["crv", "x", "d"],
            _ => &["k"],
        };
        let material: Map<String, Value> = members
            .iter()
            .filter_map(|m| jwk.get(*m).map(|v| ((*m).to_owned(), v.clone())))
            .collect();
        let mut detail = JwkDetail {
            summary: j.into(),
            rsa: None,
            ec: None,
            okp: None,
            oct: None,
            jwk,
        };
        match j.kty.as_str() {
            "RSA" => detail.rsa = Some(material),
            "EC" => detail.ec = Some(material),
            "OKP" => detail.okp = Some(material),
            _ => detail.oct = Some(material),
        }
        Ok(detail)
    }
}
