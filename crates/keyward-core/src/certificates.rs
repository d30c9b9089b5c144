//! Certificate rules: turning an upload into per-environment entries, the API shape of a
//! certificate, the JWK cascade on replacement, and the export ZIP.

use std::io::Write;

use keyward_jose::x509;
use keyward_store::{
    Certificate, CertificateMerge, EnvDeployment, Environment, Jwk, JwkMaterial, JwkUpdateAction,
    KIND_CERTIFICATE, LinkedJwk, NewCertificateEntry, StoreError,
};
use serde::Serialize;

use super::iso_ms;
use crate::Core;
use crate::error::{CoreError, CoreResult};
use crate::messages;

/// A certificate as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateItem {
    pub id: String,
    pub name: String,
    pub description: String,
    pub certificate_environment_list: Vec<CertificateEnvironmentItem>,
}

/// One environment's entry of a certificate.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateEnvironmentItem {
    pub environment_name: String,
    /// Validity start, e.g. `2024-01-01T00:00:00.000Z`.
    pub start_date: String,
    /// Validity end.
    pub end_date: String,
    /// Standard base64 of the leaf certificate's DER.
    pub base64_encoded_content: String,
    /// Upper-case hex SHA-1 of the leaf DER.
    pub sha1_thumbprint: String,
    pub subject_dn: String,
    pub alias: String,
}

impl From<&Certificate> for CertificateItem {
    fn from(c: &Certificate) -> CertificateItem {
        CertificateItem {
            id: c.id.clone(),
            name: c.name.clone(),
            description: c.description.clone(),
            certificate_environment_list: c
                .entries
                .iter()
                .map(|e| CertificateEnvironmentItem {
                    environment_name: e.environment_name.clone(),
                    start_date: iso_ms(e.not_before),
                    end_date: iso_ms(e.not_after),
                    base64_encoded_content: keyward_jose::b64::standard(&e.leaf_der),
                    sha1_thumbprint: e.sha1_thumbprint.clone(),
                    subject_dn: e.subject_dn.clone(),
                    alias: e.alias.clone(),
                })
                .collect(),
        }
    }
}

/// Parses an uploaded PEM (one certificate or a chain in any order) or DER file into a chain,
/// leaf first, with each certificate issued by the next.
pub fn parse_upload(bytes: &[u8]) -> CoreResult<Vec<x509::Certificate>> {
    let certs =
        x509::parse_certificates(bytes).map_err(|e| CoreError::bad_request(e.to_string()))?;
    x509::order_leaf_first(certs).map_err(|e| CoreError::bad_request(e.to_string()))
}

/// `parse_upload` for a file sent in another field than `pemEncodedFile`: messages name `field`.
pub fn parse_upload_as(bytes: &[u8], field: &str) -> CoreResult<Vec<x509::Certificate>> {
    parse_upload(bytes).map_err(|mut e| {
        if let Some(rest) = e.message.strip_prefix("pemEncodedFile") {
            e.message = format!("{field}{rest}");
        }
        e
    })
}

/// One entry per environment, all with the same alias and chain.
pub fn entries_for(
    chain: &[x509::Certificate],
    alias: &str,
    envs: &[Environment],
) -> Vec<NewCertificateEntry> {
    let Some(leaf) = chain.first() else {
        return Vec::new();
    };
    let chain_pem = encode_chain(chain);
    envs.iter()
        .map(|env| NewCertificateEntry {
            environment_id: env.id.clone(),
            alias: alias.to_owned(),
            leaf_der: leaf.der.clone(),
            chain_pem: chain_pem.clone(),
            subject_dn: leaf.subject_dn.clone(),
            sha1_thumbprint: leaf.sha1_thumbprint.clone(),
            not_before: to_ms(leaf.not_before),
            not_after: to_ms(leaf.not_after),
        })
        .collect()
}

fn to_ms(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// PEM text of a chain, in the given order.
fn encode_chain(chain: &[x509::Certificate]) -> String {
    chain
        .iter()
        .map(|c| keyward_jose::pem::encode("CERTIFICATE", &c.der))
        .collect()
}

/// Reads back a stored chain (leaf first).
pub fn stored_chain(chain_pem: &str) -> Result<Vec<x509::Certificate>, String> {
    x509::parse_certificates(chain_pem.as_bytes()).map_err(|e| e.to_string())
}

/// Re-derives each in-scope JWK from the new entry of the environment it was derived from.
pub fn rederive(
    jwks: &[Jwk],
    entries: &[NewCertificateEntry],
) -> Result<Vec<(String, JwkMaterial)>, String> {
    jwks.iter()
        .map(|jwk| {
            let entry = entries
                .iter()
                .find(|e| Some(&e.environment_id) == jwk.source_environment_id.as_ref())
                .ok_or_else(|| {
                    messages::rederive_failed(
                        &jwk.name,
                        "the new certificate has no content for its environment",
                    )
                })?;
            let chain = stored_chain(&entry.chain_pem)
                .map_err(|d| messages::rederive_failed(&jwk.name, &d))?;
            let material = super::jwks::rederive_material(jwk, &chain)
                .map_err(|d| messages::rederive_failed(&jwk.name, &d))?;
            Ok((jwk.id.clone(), material))
        })
        .collect()
}

/// The re-derivation of a certificate's JWKs from its new entries, to run on the heavy-work pool
/// (`service::with_rederived`).
pub fn derivation(entries: Vec<NewCertificateEntry>) -> impl super::Derive + use<> {
    move |linked: &[LinkedJwk]| {
        let jwks: Vec<Jwk> = linked.iter().map(|l| l.jwk.clone()).collect();
        rederive(&jwks, &entries)
    }
}

/// Merges one imported certificate file ([`keyward_store::Store::merge_certificates`]); with
/// `Update`, the JWKs of an existing certificate are re-derived first, on the heavy-work pool,
/// from its merged entries (those kept and those imported), again when the certificate or its
/// JWKs changed meanwhile (at most [`super::REDERIVE_ATTEMPTS`] times).
pub async fn merge_one(
    app: &Core,
    project_id: &str,
    merge: &CertificateMerge,
    action: JwkUpdateAction,
    audit: &keyward_store::AuditEntry,
) -> CoreResult<Result<Vec<EnvDeployment>, StoreError>> {
    let merges = std::slice::from_ref(merge);
    if action == JwkUpdateAction::Nullify {
        return Ok(app
            .store
            .merge_certificates(project_id, merges, action, &[], audit)
            .await
            .map(|(_, deployed)| deployed));
    }
    for _ in 0..super::REDERIVE_ATTEMPTS {
        // The source and its JWKs first, then its entries: a change after the first read moves
        // the `updated_at` the store compares.
        let source = app
            .store
            .source_jwks(KIND_CERTIFICATE, project_id, &merge.name)
            .await
            .map_err(CoreError::internal)?;
        let rederived = match source {
            None => None,
            Some(source) => {
                let current = app
                    .store
                    .certificate(project_id, &merge.name)
                    .await
                    .map_err(CoreError::internal)?;
                let imported: Vec<&str> = merge
                    .entries
                    .iter()
                    .map(|e| e.environment_id.as_str())
                    .collect();
                let mut merged: Vec<NewCertificateEntry> = current
                    .map(|c| c.entries)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|e| !imported.contains(&e.environment_id.as_str()))
                    .map(|e| NewCertificateEntry {
                        environment_id: e.environment_id,
                        alias: e.alias,
                        leaf_der: e.leaf_der,
                        chain_pem: e.chain_pem,
                        subject_dn: e.subject_dn,
                        sha1_thumbprint: e.sha1_thumbprint,
                        not_before: e.not_before,
                        not_after: e.not_after,
                    })
                    .collect();
                merged.extend(merge.entries.iter().cloned());
                Some(
                    super::derive_on_pool(app, &source, project_id, action, derivation(merged))
                        .await?,
                )
            }
        };
        match app
            .store
            .merge_certificates(project_id, merges, action, &[rederived], audit)
            .await
        {
            Err(StoreError::SourceChanged) => {}
            done => return Ok(done.map(|(_, deployed)| deployed)),
        }
    }
    Err(CoreError::bad_request(
        messages::jwks_changed_while_rederiving("Certificate", &merge.name),
    ))
}

/// The export ZIP: one `{name}-{environment}.cer` (DER) per environment entry.
pub fn export_zip(cert: &Certificate, environment: Option<&str>) -> CoreResult<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for e in cert
        .entries
        .iter()
        .filter(|e| environment.is_none_or(|env| env == e.environment_name))
    {
        zip.start_file(format!("{}-{}.cer", cert.name, e.environment_name), options)
            .map_err(CoreError::internal)?;
        zip.write_all(&e.leaf_der).map_err(CoreError::internal)?;
    }
    Ok(zip.finish().map_err(CoreError::internal)?.into_inner())
}
