//! Keystore rules (reference §1.5, §2.3): opening an uploaded keystore once at import (off the
//! async runtime, bounded in time and work), keeping what it holds per alias, the API shape of a
//! keystore, partial updates, and JWKs derived from a keystore alias with their re-derivation.

use std::time::{Duration, Instant};

use keyward_jose::alg::{Algorithm, KeyUse};
use keyward_jose::{KeyMaterial, jwk_from_key, private_key_from_pkcs8_der};
use keyward_keystore::{Entry, KeystoreType, Limits};
use keyward_store::{
    JwkMaterial, KeystoreDraft, LinkedJwk, NewKeystoreEntry, StoredKeystore, StoredKeystoreEntry,
};
use serde::{Deserialize, Serialize};

use super::jwks::SourceType;
use super::keys::{DeriveRequest, material_of, stored_parameters};
use super::{environment_named, required};
use crate::error::{CoreError, CoreResult};
use crate::heavy::HeavyWork;
use crate::messages;
use crate::permissions::Principal;
use crate::{Core, Mutation};

/// Longest time one keystore file may take to open.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// A keystore as the API shows it: no file, no password.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeystoreItem {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    pub key_store_environment_list: Vec<KeystoreEnvironmentItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeystoreEnvironmentItem {
    pub environment_name: String,
    /// The default alias.
    pub alias: String,
    /// `JKS` or `PKCS12`.
    pub key_store_type: String,
}

impl From<&StoredKeystore> for KeystoreItem {
    fn from(k: &StoredKeystore) -> KeystoreItem {
        KeystoreItem {
            id: k.id.clone(),
            name: k.name.clone(),
            description: k.description.clone(),
            project_id: k.project_id.clone(),
            key_store_environment_list: k
                .entries
                .iter()
                .map(|e| KeystoreEnvironmentItem {
                    environment_name: e.environment_name.clone(),
                    alias: e.alias.clone(),
                    key_store_type: e.keystore_type.clone(),
                })
                .collect(),
        }
    }
}

/// One environment's keystore in a create/update request.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeystoreEnvironmentInput {
    pub environment_name: Option<String>,
    /// The keystore file, base64.
    pub file: Option<String>,
    /// The store password. Used once to open the file; never stored.
    pub password: Option<String>,
    /// Extension: the key password when it differs from the store password (JKS/JCEKS).
    pub key_password: Option<String>,
    /// The default alias; must exist in the file. Defaults to the first private-key entry.
    pub alias: Option<String>,
    /// `JKS` or `PKCS12`; must match the file.
    pub key_store_type: Option<String>,
}

/// The body of create and of update (every field optional on update).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeystoreInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub key_store_environment_list: Option<Vec<KeystoreEnvironmentInput>>,
}

/// What a keystore holds, extracted once at import and stored as JSON beside the file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Extracted {
    pub entries: Vec<ExtractedEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ExtractedEntry {
    /// Unencrypted PKCS#8 DER (base64) and the chain DER (base64, leaf first).
    #[serde(rename_all = "camelCase")]
    PrivateKey {
        alias: String,
        pkcs8: String,
        chain: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    TrustedCertificate { alias: String, certificate: String },
    #[serde(rename_all = "camelCase")]
    SecretKey {
        alias: String,
        algorithm: String,
        key: String,
    },
}

impl ExtractedEntry {
    pub fn alias(&self) -> &str {
        match self {
            ExtractedEntry::PrivateKey { alias, .. }
            | ExtractedEntry::TrustedCertificate { alias, .. }
            | ExtractedEntry::SecretKey { alias, .. } => alias,
        }
    }
}

impl Extracted {
    fn from_keystore(ks: &keyward_keystore::Keystore) -> Extracted {
        let b64 = keyward_jose::b64::standard;
        Extracted {
            entries: ks
                .entries
                .iter()
                .map(|e| match e {
                    Entry::PrivateKey {
                        alias,
                        pkcs8_der,
                        chain_der,
                    } => ExtractedEntry::PrivateKey {
                        alias: alias.clone(),
                        pkcs8: b64(pkcs8_der),
                        chain: chain_der.iter().map(|c| b64(c)).collect(),
                    },
                    Entry::TrustedCertificate { alias, der } => {
                        ExtractedEntry::TrustedCertificate {
                            alias: alias.clone(),
                            certificate: b64(der),
                        }
                    }
                    Entry::SecretKey {
                        alias,
                        algorithm,
                        key,
                    } => ExtractedEntry::SecretKey {
                        alias: alias.clone(),
                        algorithm: algorithm.clone(),
                        key: b64(key),
                    },
                })
                .collect(),
        }
    }

    /// The entry of `alias`: exact match first, then ASCII case-insensitive (as Java does).
    pub fn entry(&self, alias: &str) -> Option<&ExtractedEntry> {
        self.entries
            .iter()
            .find(|e| e.alias() == alias)
            .or_else(|| {
                self.entries
                    .iter()
                    .find(|e| e.alias().eq_ignore_ascii_case(alias))
            })
    }

    pub fn parse(json: &str) -> Result<Extracted, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    /// Checks material that did not come from opening a file (an import package): every private
    /// key is valid PKCS#8, every certificate valid X.509, every secret key non-empty, aliases
    /// unique and at most [`Limits::default`]`.max_entries` entries.
    pub fn validate(&self) -> Result<(), String> {
        let max = Limits::default().max_entries;
        if self.entries.len() > max {
            return Err(format!("more than {max} keystore entries"));
        }
        let decode = |what: &str, alias: &str, b64: &str| {
            keyward_jose::b64::decode_standard_lenient(b64)
                .map_err(|_| format!("the {what} of alias ({alias}) is not Base64"))
        };
        for (i, e) in self.entries.iter().enumerate() {
            let alias = e.alias();
            if self.entries[..i].iter().any(|p| p.alias() == alias) {
                return Err(format!("alias ({alias}) appears more than once"));
            }
            let certificate = |der: &[u8]| {
                keyward_jose::x509::parse_der(der)
                    .map(|_| ())
                    .map_err(|err| format!("the certificate of alias ({alias}): {err}"))
            };
            match e {
                ExtractedEntry::PrivateKey { pkcs8, chain, .. } => {
                    private_key_from_pkcs8_der(&decode("private key", alias, pkcs8)?)
                        .map_err(|err| format!("the private key of alias ({alias}): {err}"))?;
                    for c in chain {
                        certificate(&decode("certificate", alias, c)?)?;
                    }
                }
                ExtractedEntry::TrustedCertificate { certificate: c, .. } => {
                    certificate(&decode("certificate", alias, c)?)?;
                }
                ExtractedEntry::SecretKey { key, .. } => {
                    if decode("secret key", alias, key)?.is_empty() {
                        return Err(format!("the secret key of alias ({alias}) is empty"));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Opens a keystore on the heavy-work pool, bounded by [`Limits::default`] and [`OPEN_TIMEOUT`]
/// (the wait for a turn not included; the pool's permit stays taken until the work really ends).
/// Returns what it holds, or the keystore crate's message.
pub async fn open_keystore(
    heavy: &HeavyWork,
    file: Vec<u8>,
    declared: KeystoreType,
    password: String,
    key_password: Option<String>,
) -> CoreResult<Extracted> {
    let started = Instant::now();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let work = heavy.run(move || {
        // The timeout below starts when the work does, not while it waits for its turn.
        let _ = tx.send(());
        keyward_keystore::open(
            &file,
            declared,
            password.as_bytes(),
            key_password.as_deref().map(str::as_bytes),
            &Limits::default(),
        )
    });
    tokio::pin!(work);
    let opened = tokio::select! {
        done = &mut work => done,
        Ok(()) = rx => tokio::time::timeout(OPEN_TIMEOUT, &mut work).await.map_err(|_| {
            CoreError::bad_request(messages::keystore_open_timeout(OPEN_TIMEOUT.as_secs()))
        })?,
    }?
    .map_err(|e| CoreError::bad_request(e.to_string()))?;
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        entries = opened.entries.len(),
        "keystore opened"
    );
    Ok(Extracted::from_keystore(&opened))
}

/// Validates the per-environment inputs into entries: each file opened once, its alias checked.
pub async fn entries_from_inputs(
    app: &Core,
    inputs: &[KeystoreEnvironmentInput],
) -> CoreResult<Vec<NewKeystoreEntry>> {
    if inputs.is_empty() {
        return Err(CoreError::bad_request(messages::empty(
            "keyStoreEnvironmentList",
        )));
    }
    let mut entries: Vec<NewKeystoreEntry> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let env_name = required("environmentName", input.environment_name.as_deref())?;
        let file = required("file", input.file.as_deref())?;
        let password = match input.password.as_deref() {
            Some(p) if !p.is_empty() => p.to_owned(),
            _ => return Err(CoreError::bad_request(messages::empty("password"))),
        };
        let declared = required("keyStoreType", input.key_store_type.as_deref())?;
        let declared: KeystoreType = declared
            .parse()
            .map_err(|e: keyward_keystore::Error| CoreError::bad_request(e.to_string()))?;
        let env = environment_named(app, &env_name).await?;
        if entries.iter().any(|e| e.environment_id == env.id) {
            return Err(CoreError::bad_request(messages::environment_repeated(
                &env_name,
                "keyStoreEnvironmentList",
            )));
        }
        let bytes = keyward_jose::b64::decode_standard_lenient(file.trim())
            .map_err(|_| CoreError::bad_request(messages::KEYSTORE_FILE_NOT_BASE64))?;
        let key_password = input.key_password.clone().filter(|p| !p.is_empty());
        let extracted =
            open_keystore(&app.heavy, bytes.clone(), declared, password, key_password).await?;
        let alias = default_alias(&extracted, input.alias.as_deref())?;
        entries.push(NewKeystoreEntry {
            environment_id: env.id,
            alias,
            keystore_type: declared.as_str().to_owned(),
            file: bytes,
            extracted: serde_json::to_string(&extracted).map_err(CoreError::internal)?,
        });
    }
    Ok(entries)
}

/// The given alias as the file spells it (it must exist), else the first private-key entry's,
/// else the first entry's.
fn default_alias(extracted: &Extracted, given: Option<&str>) -> CoreResult<String> {
    match given.map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => extracted
            .entry(a)
            .map(|e| e.alias().to_owned())
            .ok_or_else(|| CoreError::bad_request(alias_not_found(extracted, a))),
        None => Ok(extracted
            .entries
            .iter()
            .find(|e| matches!(e, ExtractedEntry::PrivateKey { .. }))
            .or(extracted.entries.first())
            .map(|e| e.alias().to_owned())
            .unwrap_or_default()),
    }
}

/// The keystore crate's sentence for a missing alias.
fn alias_not_found(extracted: &Extracted, alias: &str) -> String {
    let available = if extracted.entries.is_empty() {
        "none".to_owned()
    } else {
        extracted
            .entries
            .iter()
            .map(ExtractedEntry::alias)
            .collect::<Vec<_>>()
            .join(", ")
    };
    keyward_keystore::Error::AliasNotFound {
        alias: alias.to_owned(),
        available,
    }
    .to_string()
}

pub async fn draft_for_create(app: &Core, body: &KeystoreInput) -> CoreResult<KeystoreDraft> {
    let name = super::required_name("name", body.name.as_deref())?;
    let inputs = body
        .key_store_environment_list
        .as_deref()
        .unwrap_or_default();
    let entries = entries_from_inputs(app, inputs).await?;
    Ok(KeystoreDraft {
        based_on: None,
        name,
        description: body.description.clone().unwrap_or_default(),
        entries,
    })
}

pub async fn draft_for_update(
    app: &Core,
    current: &StoredKeystore,
    body: &KeystoreInput,
) -> CoreResult<KeystoreDraft> {
    let name = match body.name.as_deref().map(str::trim) {
        None => current.name.clone(),
        Some("") => return Err(CoreError::bad_request(messages::empty("name"))),
        Some(n) => {
            super::check_name("name", n)?;
            n.to_owned()
        }
    };
    let entries = match &body.key_store_environment_list {
        Some(inputs) => entries_from_inputs(app, inputs).await?,
        None => current.entries.iter().map(kept).collect(),
    };
    Ok(KeystoreDraft {
        based_on: Some(current.updated_at),
        name,
        description: body
            .description
            .clone()
            .unwrap_or_else(|| current.description.clone()),
        entries,
    })
}

fn kept(e: &StoredKeystoreEntry) -> NewKeystoreEntry {
    NewKeystoreEntry {
        environment_id: e.environment_id.clone(),
        alias: e.alias.clone(),
        keystore_type: e.keystore_type.clone(),
        file: e.file.clone(),
        extracted: e.extracted.clone(),
    }
}

/// The declared type of an imported file: the explicit `keyStoreType`, else what the bytes are
/// (JCEKS counts as JKS), else by file name (`.p12`/`.pfx` → PKCS12, otherwise JKS).
pub fn import_type(
    explicit: Option<&str>,
    bytes: &[u8],
    file_name: Option<&str>,
) -> CoreResult<KeystoreType> {
    if let Some(t) = explicit {
        return t
            .trim()
            .parse()
            .map_err(|e: keyward_keystore::Error| CoreError::bad_request(e.to_string()));
    }
    Ok(match keyward_keystore::detect(bytes) {
        Some(KeystoreType::Pkcs12) => KeystoreType::Pkcs12,
        Some(_) => KeystoreType::Jks,
        None => {
            let lower = file_name.unwrap_or_default().to_ascii_lowercase();
            if lower.ends_with(".p12") || lower.ends_with(".pfx") {
                KeystoreType::Pkcs12
            } else {
                KeystoreType::Jks
            }
        }
    })
}

/// What an import-file request asks for, once its form is read.
pub struct KeystoreImport<'a> {
    pub name: String,
    pub description: Option<&'a str>,
    pub explicit_type: Option<&'a str>,
    pub file_name: Option<&'a str>,
    pub password: String,
    pub key_password: Option<String>,
    pub alias: Option<&'a str>,
    pub files: Vec<(keyward_store::Environment, Vec<u8>)>,
}

/// The draft of an imported keystore: each file opened once; a new keystore, or (`current`,
/// override) the existing one with the imported environments replaced or added, the others kept.
pub async fn draft_for_import(
    heavy: &HeavyWork,
    current: Option<&StoredKeystore>,
    import: KeystoreImport<'_>,
) -> CoreResult<KeystoreDraft> {
    let mut entries = Vec::new();
    for (env, bytes) in import.files {
        let declared = import_type(import.explicit_type, &bytes, import.file_name)?;
        let extracted = open_keystore(
            heavy,
            bytes.clone(),
            declared,
            import.password.clone(),
            import.key_password.clone(),
        )
        .await?;
        let alias = default_alias(&extracted, import.alias)?;
        entries.push(NewKeystoreEntry {
            environment_id: env.id,
            alias,
            keystore_type: declared.as_str().to_owned(),
            file: bytes,
            extracted: serde_json::to_string(&extracted).map_err(CoreError::internal)?,
        });
    }
    if let Some(current) = current {
        for e in &current.entries {
            if !entries.iter().any(|n| n.environment_id == e.environment_id) {
                entries.push(kept(e));
            }
        }
    }
    Ok(KeystoreDraft {
        based_on: current.map(|c| c.updated_at),
        name: import.name,
        description: import
            .description
            .map(str::to_owned)
            .or_else(|| current.map(|c| c.description.clone()))
            .unwrap_or_default(),
        entries,
    })
}

// ---- JWKs derived from a keystore alias ---------------------------------------------------------

/// The JWK of one keystore alias: a private key (private members included) with `x5c`, `x5t`,
/// `x5t#S256` from its chain when the chain's leaf holds the same key; or a trusted certificate
/// (public key, with `x5c`…). Secret-key entries are refused.
pub fn jwk_of_alias(
    keystore_name: &str,
    extracted: &Extracted,
    alias: &str,
    key_use: KeyUse,
    alg: Algorithm,
    kid: Option<&str>,
) -> Result<keyward_jose::Jwk, String> {
    let entry = extracted
        .entry(alias)
        .ok_or_else(|| alias_not_found(extracted, alias))?;
    let decode = |s: &str| keyward_jose::b64::decode_standard_lenient(s).map_err(|e| e.to_string());
    match entry {
        ExtractedEntry::SecretKey { alias, .. } => {
            Err(messages::keystore_alias_is_secret(alias, keystore_name))
        }
        ExtractedEntry::TrustedCertificate { certificate, .. } => {
            let chain = keyward_jose::parse_certificates(&decode(certificate)?)
                .map_err(|e| e.to_string())?;
            keyward_jose::jwk::jwk_from_certificate_chain(&chain, key_use, alg, kid)
                .map_err(|e| e.to_string())
        }
        ExtractedEntry::PrivateKey { pkcs8, chain, .. } => {
            let key = private_key_from_pkcs8_der(&decode(pkcs8)?).map_err(|e| e.to_string())?;
            let mut jwk = jwk_from_key(&KeyMaterial::Private(key), key_use, alg, kid)
                .map_err(|e| e.to_string())?;
            let mut certs = Vec::with_capacity(chain.len());
            for der in chain {
                certs.extend(
                    keyward_jose::parse_certificates(&decode(der)?).map_err(|e| e.to_string())?,
                );
            }
            if !certs.is_empty()
                && let Ok(from_chain) =
                    keyward_jose::jwk::jwk_from_certificate_chain(&certs, key_use, alg, kid)
                && from_chain.thumbprint_sha256() == jwk.thumbprint_sha256()
            {
                jwk.x5c = from_chain.x5c;
                jwk.x5t = from_chain.x5t;
                jwk.x5t_s256 = from_chain.x5t_s256;
            }
            Ok(jwk)
        }
    }
}

/// The re-derivation of the keystore's JWKs from its draft, to run on the heavy-work pool
/// (`service::with_rederived`).
pub fn derivation(draft: &KeystoreDraft) -> impl super::Derive + use<> {
    let draft = draft.clone();
    move |linked: &[LinkedJwk]| rederive(&draft.name, &draft, linked)
}

/// Re-derives each in-scope JWK from the new entry of its environment, same alias.
pub fn rederive(
    keystore_name: &str,
    draft: &KeystoreDraft,
    linked: &[LinkedJwk],
) -> Result<Vec<(String, JwkMaterial)>, String> {
    linked
        .iter()
        .map(|l| {
            let jwk = &l.jwk;
            let fail = |d: &str| messages::rederive_from_failed(&jwk.name, "keystore", d);
            let entry = draft
                .entries
                .iter()
                .find(|e| Some(&e.environment_id) == jwk.source_environment_id.as_ref())
                .ok_or_else(|| fail("the new keystore has no file for its environment"))?;
            let extracted = Extracted::parse(&entry.extracted).map_err(|d| fail(&d))?;
            let alias = l.source_alias.as_deref().unwrap_or(&entry.alias);
            let (key_use, alg, kid) = stored_parameters(jwk).map_err(|d| fail(&d))?;
            let derived = jwk_of_alias(keystore_name, &extracted, alias, key_use, alg, kid)
                .map_err(|d| fail(&d))?;
            let mut material = material_of(&derived).map_err(|d| fail(&d))?;
            // A JWK made public (its creator could not read the keystore's private material)
            // stays public.
            if !keyward_store::has_private_members(&jwk.jwk_json) {
                material.jwk_json = keyward_store::public_members(&material.jwk_json);
            }
            Ok((jwk.id.clone(), material))
        })
        .collect()
}

/// Derives a JWK from a keystore alias and creates it (sourceType KEYSTORE). A private key entry
/// gives a private JWK only to a caller who may read the keystore's private material (an
/// admin-project keystore without that right gives the public JWK).
pub async fn create_jwk_from_keystore(
    app: &Core,
    caller: &Principal,
    project: &keyward_store::Project,
    req: &DeriveRequest<'_>,
    audit: &keyward_store::AuditEntry,
) -> CoreResult<Mutation<super::jwks::JwkSummary>> {
    let ks_name = required("keyStoreName", req.source_name)?;
    let env_name = required("environmentName", req.environment_name)?;
    let alias = required("aliasName", req.alias_name)?;
    let key_use = super::jwks::parse_use(&required("useType", req.use_type)?)?;
    let alg = super::jwks::parse_algorithm(&required("algorithm", req.algorithm)?)?;
    let kid = req.kid.map(str::trim).filter(|k| !k.is_empty());
    let found = super::source_in_scope(app, caller, project, |id| {
        let (store, name) = (&app.store, ks_name.as_str());
        async move { store.keystore(&id, name).await }
    })
    .await?
    .ok_or_else(|| CoreError::bad_request(messages::keystore_not_found(&ks_name)))?;
    let ks = found.source;
    let env = environment_named(app, &env_name).await?;
    let entry = ks
        .entries
        .iter()
        .find(|e| e.environment_id == env.id)
        .ok_or_else(|| {
            CoreError::bad_request(messages::keystore_lacks_environment(&ks_name, &env_name))
        })?;
    let extracted = Extracted::parse(&entry.extracted).map_err(CoreError::internal)?;
    let stored_alias = extracted
        .entry(&alias)
        .map(|e| e.alias().to_owned())
        .ok_or_else(|| CoreError::bad_request(alias_not_found(&extracted, &alias)))?;
    // A private key's consistency checks (RSA: ~0.6 ms at 2048 bits, more for larger keys) run
    // on the heavy-work pool.
    let jwk = {
        let (ks_name, stored_alias, kid) = (
            ks_name.clone(),
            stored_alias.clone(),
            kid.map(str::to_owned),
        );
        app.heavy
            .run(move || {
                jwk_of_alias(
                    &ks_name,
                    &extracted,
                    &stored_alias,
                    key_use,
                    alg,
                    kid.as_deref(),
                )
            })
            .await?
            .map_err(CoreError::bad_request)?
    };
    let mut material = material_of(&jwk).map_err(CoreError::internal)?;
    if !found.private {
        material.jwk_json = keyward_store::public_members(&material.jwk_json);
    }
    let new = keyward_store::NewJwk {
        project_id: project.id.clone(),
        name: req.name.clone(),
        description: req.description.clone(),
        source_type: SourceType::Keystore.as_str().to_owned(),
        source_id: Some(ks.id.clone()),
        source_url: None,
        source_environment_id: Some(env.id.clone()),
        material,
        key_use: Some(key_use.jose().to_owned()),
        alg: Some(alg.jose_name().to_owned()),
        kid_given: kid.is_some(),
        environment_ids: None,
    };
    let (jwk, deployed) = app
        .store
        .create_jwk_linked(&new, Some(&stored_alias), audit)
        .await
        .map_err(|e| match e {
            keyward_store::StoreError::AlreadyExists => {
                CoreError::bad_request(messages::jwk_exists_on_create(&req.name))
            }
            other => other.into(),
        })?;
    Ok(Mutation::new(super::jwks::JwkSummary::from(&jwk), deployed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heavy() -> HeavyWork {
        HeavyWork::new(1, Duration::from_secs(5), std::sync::Arc::new(|| {}))
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../fixtures/keystores/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn extraction_round_trips_and_chains_add_x5c() {
        let ex = open_keystore(
            &heavy(),
            fixture("chain.p12"),
            KeystoreType::Pkcs12,
            "p12pass1".into(),
            None,
        )
        .await
        .unwrap();
        let json = serde_json::to_string(&ex).unwrap();
        assert!(!json.contains("p12pass1"));
        let back = Extracted::parse(&json).unwrap();
        assert_eq!(back, ex);
        let alg = Algorithm::parse("ES256").unwrap();
        let jwk = jwk_of_alias("ks", &back, "LEAF", KeyUse::Signature, alg, None).unwrap();
        assert!(jwk.params.has_private());
        assert_eq!(jwk.x5c.as_ref().map(Vec::len), Some(3));
        assert!(jwk.x5t.is_some() && jwk.x5t_s256.is_some());
    }

    #[tokio::test]
    async fn wrong_password_and_type_give_the_crate_messages() {
        let err = open_keystore(
            &heavy(),
            fixture("modern.p12"),
            KeystoreType::Pkcs12,
            "wrong".into(),
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.message,
            "Keystore password is wrong or the file is damaged!"
        );
        let err = open_keystore(
            &heavy(),
            fixture("modern.p12"),
            KeystoreType::Jks,
            "p12pass1".into(),
            None,
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.message,
            "keyStoreType (JKS) does not match the file, which is a PKCS12 keystore!"
        );
    }

    #[tokio::test]
    async fn secret_entries_are_refused_and_trusted_certificates_are_public() {
        let ex = open_keystore(
            &heavy(),
            fixture("secret.jceks"),
            KeystoreType::Jks,
            "storepw1".into(),
            Some("keypw12".into()),
        )
        .await
        .unwrap();
        let alg = Algorithm::parse("ES256").unwrap();
        assert_eq!(
            jwk_of_alias("s", &ex, "aes", KeyUse::Signature, alg, None).unwrap_err(),
            messages::keystore_alias_is_secret("aes", "s")
        );
        assert_eq!(
            default_alias(&ex, Some("nope")).unwrap_err().message,
            "Alias (nope) is not found in the keystore! Aliases: ca, aes, tdes"
        );
    }
}
