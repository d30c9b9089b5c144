//! Crypto key rules (reference §1.4, §2.2): validating and converting uploaded key content, the
//! API shape of a key, partial updates, and JWKs derived from keys (PUBLIC_KEY / PRIVATE_KEY
//! sources) with their re-derivation. Also the `jwkUpdateAction` / `jwkDeleteAction` parameters
//! every JWK source shares.

use std::collections::HashMap;

use keyward_jose::alg::{Algorithm, KeyUse};
use keyward_jose::{KeyMaterial, jwk_from_key, parse_key};
use keyward_store::{
    CryptoKey, Jwk, JwkDeleteAction, JwkMaterial, JwkUpdateAction, KeyDraft, LinkedJwk, NewKeyEntry,
};
use serde::{Deserialize, Serialize};

use super::jwks::SourceType;
use super::{environment_named, required};
use crate::error::{CoreError, CoreResult};
use crate::heavy::HeavyWork;
use crate::messages;
use crate::permissions::{Principal, string_enum};
use crate::{Core, Mutation};

string_enum!(
    /// What a crypto key holds.
    KeyType {
        Secret = "SECRET_KEY",
        Private = "PRIVATE_KEY",
        Public = "PUBLIC_KEY",
    }
);

string_enum!(
    /// The algorithm of a secret key.
    SecretAlgorithm {
        Aes = "AES",
        Des = "DES",
        DesEde = "DESede",
        Rsa = "RSA",
    }
);

impl SecretAlgorithm {
    /// Accepted key lengths in bytes (`None`: any non-empty length).
    fn lengths(self) -> Option<(&'static [usize], &'static str)> {
        match self {
            SecretAlgorithm::Aes => Some((&[16, 24, 32], "16, 24 or 32")),
            SecretAlgorithm::Des => Some((&[8], "8")),
            SecretAlgorithm::DesEde => Some((&[16, 24], "16 or 24")),
            SecretAlgorithm::Rsa => None,
        }
    }
}

/// A key as the API shows it: environment names and aliases, never the content.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyItem {
    pub id: String,
    pub name: String,
    pub description: String,
    pub project_id: String,
    /// `SECRET_KEY`, `PRIVATE_KEY` or `PUBLIC_KEY`.
    pub key_type: String,
    /// Secret keys only: `AES`, `DES`, `DESede` or `RSA`; null otherwise.
    pub algorithm: Option<String>,
    pub crypto_key_info_environment_list: Vec<KeyEnvironmentItem>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyEnvironmentItem {
    pub environment_name: String,
    pub alias: String,
    /// Origin marker of export/import merges; always null here.
    pub source: Option<String>,
}

impl From<&CryptoKey> for KeyItem {
    fn from(k: &CryptoKey) -> KeyItem {
        KeyItem {
            id: k.id.clone(),
            name: k.name.clone(),
            description: k.description.clone(),
            project_id: k.project_id.clone(),
            key_type: k.key_type.clone(),
            algorithm: k.algorithm.clone(),
            crypto_key_info_environment_list: k
                .entries
                .iter()
                .map(|e| KeyEnvironmentItem {
                    environment_name: e.environment_name.clone(),
                    alias: e.alias.clone(),
                    source: None,
                })
                .collect(),
        }
    }
}

/// One environment's material in a create/update request.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyEnvironmentInput {
    pub environment_name: Option<String>,
    /// PRIVATE/PUBLIC: base64 of the PEM (raw PEM, DER and base64 DER are accepted too);
    /// SECRET_KEY: base64 of the raw key bytes.
    pub content: Option<String>,
    pub alias: Option<String>,
    /// PRIVATE_KEY only: the password of an encrypted key. The key is decrypted at import and
    /// stored unencrypted (PKCS#8); the password is not kept.
    pub password: Option<String>,
}

/// The body of create (all required but `description`, `algorithm` for non-secret keys and
/// `alias`) and of update (every field optional; omitted fields keep their value).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInput {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `SECRET_KEY`, `PRIVATE_KEY` or `PUBLIC_KEY` (case-sensitive).
    pub key_type: Option<String>,
    /// `AES`, `DES`, `DESede` or `RSA` (case-sensitive); required for `SECRET_KEY`.
    pub algorithm: Option<String>,
    pub crypto_key_info_environment_list: Option<Vec<KeyEnvironmentInput>>,
}

pub fn parse_key_type(value: &str) -> CoreResult<KeyType> {
    KeyType::parse(value)
        .ok_or_else(|| CoreError::bad_request(messages::unknown_key_type(value, KeyType::NAMES)))
}

pub fn parse_secret_algorithm(value: &str) -> CoreResult<SecretAlgorithm> {
    SecretAlgorithm::parse(value).ok_or_else(|| {
        CoreError::bad_request(messages::unknown_key_algorithm(
            value,
            SecretAlgorithm::NAMES,
        ))
    })
}

/// The algorithm a key of `key_type` keeps: required for secret keys, none otherwise.
pub fn effective_algorithm(
    key_type: KeyType,
    algorithm: Option<SecretAlgorithm>,
) -> CoreResult<Option<SecretAlgorithm>> {
    match (key_type, algorithm) {
        (KeyType::Secret, None) => Err(CoreError::bad_request(messages::SECRET_ALGORITHM_REQUIRED)),
        (KeyType::Secret, a) => Ok(a),
        _ => Ok(None),
    }
}

/// Checks one key's content and turns it into what is stored: a private key as unencrypted
/// PKCS#8 PEM, a public key (or certificate) as given, a secret key as its raw bytes.
/// `secret_is_base64`: the content of a secret key is still base64 (a request), not raw bytes.
pub fn stored_content(
    key_type: KeyType,
    algorithm: Option<SecretAlgorithm>,
    content: &[u8],
    password: Option<&str>,
    secret_is_base64: bool,
) -> Result<Vec<u8>, String> {
    match key_type {
        KeyType::Secret => {
            let raw = if secret_is_base64 {
                let text = std::str::from_utf8(content)
                    .map_err(|_| messages::SECRET_CONTENT_NOT_BASE64.to_owned())?;
                keyward_jose::b64::decode_standard_lenient(text.trim())
                    .map_err(|_| messages::SECRET_CONTENT_NOT_BASE64.to_owned())?
            } else {
                content.to_vec()
            };
            if raw.is_empty() {
                return Err(messages::empty("content"));
            }
            if let Some(alg) = algorithm
                && let Some((lengths, text)) = alg.lengths()
                && !lengths.contains(&raw.len())
            {
                return Err(messages::secret_key_length(alg.as_str(), text, raw.len()));
            }
            Ok(raw)
        }
        KeyType::Private | KeyType::Public => {
            let material =
                parse_key(content, password.map(str::as_bytes)).map_err(|e| match e {
                    keyward_jose::Error::NotAKey { .. } => {
                        messages::key_content_not_pem_or_base64(key_type.as_str())
                    }
                    other => other.to_string(),
                })?;
            match (key_type, material) {
                (KeyType::Private, KeyMaterial::Private(k)) => {
                    let der = k.to_pkcs8_der().map_err(|e| e.to_string())?;
                    Ok(keyward_jose::pem::encode("PRIVATE KEY", &der).into_bytes())
                }
                (KeyType::Private, KeyMaterial::Public(_)) => {
                    Err(messages::PRIVATE_KEY_EXPECTED.to_owned())
                }
                (_, KeyMaterial::Private(_)) => Err(messages::PUBLIC_KEY_EXPECTED.to_owned()),
                (_, KeyMaterial::Public(_)) => Ok(as_uploaded(content)),
            }
        }
    }
}

/// [`stored_content`] as a request's answer. A private key, and any content given with a
/// password, is read on the heavy-work pool: decryption runs a key derivation (PBKDF2 or scrypt,
/// seconds within the caps of `keyward-jose`), and a private key's consistency checks take
/// milliseconds (RSA). Public and secret keys are checked here (microseconds).
pub async fn stored_content_on(
    heavy: &HeavyWork,
    key_type: KeyType,
    algorithm: Option<SecretAlgorithm>,
    content: &[u8],
    password: Option<&str>,
    secret_is_base64: bool,
) -> CoreResult<Vec<u8>> {
    let heavy_work =
        key_type == KeyType::Private || (password.is_some() && key_type != KeyType::Secret);
    let stored = if heavy_work {
        let content = content.to_vec();
        let password = password.map(|p| zeroize::Zeroizing::new(p.to_owned()));
        heavy
            .run(move || {
                stored_content(
                    key_type,
                    algorithm,
                    &content,
                    password.as_deref().map(String::as_str),
                    secret_is_base64,
                )
            })
            .await?
    } else {
        stored_content(key_type, algorithm, content, password, secret_is_base64)
    };
    stored.map_err(CoreError::bad_request)
}

/// Content as uploaded, base64 removed when it wrapped PEM or DER.
fn as_uploaded(content: &[u8]) -> Vec<u8> {
    if let Ok(text) = std::str::from_utf8(content)
        && !text.contains("-----BEGIN")
        && let Ok(bytes) = keyward_jose::b64::decode_standard_lenient(text.trim())
        && (bytes.first() == Some(&0x30) || bytes.windows(11).any(|w| w == b"-----BEGIN "))
    {
        return bytes;
    }
    content.to_vec()
}

/// Validates the per-environment inputs into entries (environments resolved, content converted).
pub async fn entries_from_inputs(
    app: &Core,
    key_type: KeyType,
    algorithm: Option<SecretAlgorithm>,
    inputs: &[KeyEnvironmentInput],
) -> CoreResult<Vec<NewKeyEntry>> {
    if inputs.is_empty() {
        return Err(CoreError::bad_request(messages::empty(
            "cryptoKeyInfoEnvironmentList",
        )));
    }
    let mut entries: Vec<NewKeyEntry> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let env_name = required("environmentName", input.environment_name.as_deref())?;
        let content = required("content", input.content.as_deref())?;
        let env = environment_named(app, &env_name).await?;
        if entries.iter().any(|e| e.environment_id == env.id) {
            return Err(CoreError::bad_request(messages::environment_repeated(
                &env_name,
                "cryptoKeyInfoEnvironmentList",
            )));
        }
        let password = input.password.as_deref().filter(|p| !p.is_empty());
        let content = stored_content_on(
            &app.heavy,
            key_type,
            algorithm,
            content.as_bytes(),
            password,
            true,
        )
        .await?;
        entries.push(NewKeyEntry {
            environment_id: env.id,
            alias: input.alias.clone().unwrap_or_default(),
            content,
        });
    }
    Ok(entries)
}

/// The draft of a new key from a create request.
pub async fn draft_for_create(app: &Core, body: &KeyInput) -> CoreResult<KeyDraft> {
    let name = super::required_name("name", body.name.as_deref())?;
    let key_type = parse_key_type(&required("keyType", body.key_type.as_deref())?)?;
    let algorithm = match body.algorithm.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(a) => Some(parse_secret_algorithm(a)?),
    };
    let algorithm = effective_algorithm(key_type, algorithm)?;
    let inputs = body
        .crypto_key_info_environment_list
        .as_deref()
        .unwrap_or_default();
    let entries = entries_from_inputs(app, key_type, algorithm, inputs).await?;
    Ok(KeyDraft {
        based_on: None,
        name,
        description: body.description.clone().unwrap_or_default(),
        key_type: key_type.as_str().to_owned(),
        algorithm: algorithm.map(|a| a.as_str().to_owned()),
        entries,
    })
}

/// The complete new state of `current` after a partial update: omitted fields keep their value;
/// kept content is checked again when the key type or algorithm changes.
pub async fn draft_for_update(
    app: &Core,
    current: &CryptoKey,
    body: &KeyInput,
) -> CoreResult<KeyDraft> {
    let name = match body.name.as_deref().map(str::trim) {
        None => current.name.clone(),
        Some("") => return Err(CoreError::bad_request(messages::empty("name"))),
        Some(n) => {
            super::check_name("name", n)?;
            n.to_owned()
        }
    };
    let key_type = match body.key_type.as_deref() {
        Some(t) => parse_key_type(t)?,
        None => parse_key_type(&current.key_type)?,
    };
    let algorithm = match body.algorithm.as_deref().map(str::trim) {
        Some(a) if !a.is_empty() => Some(parse_secret_algorithm(a)?),
        _ => current
            .algorithm
            .as_deref()
            .and_then(SecretAlgorithm::parse),
    };
    let algorithm = effective_algorithm(key_type, algorithm)?;
    let entries = match &body.crypto_key_info_environment_list {
        Some(inputs) => entries_from_inputs(app, key_type, algorithm, inputs).await?,
        None => {
            let mut kept = Vec::with_capacity(current.entries.len());
            for e in &current.entries {
                let content = if key_type.as_str() == current.key_type
                    && algorithm.map(SecretAlgorithm::as_str) == current.algorithm.as_deref()
                {
                    e.content.clone()
                } else {
                    stored_content_on(&app.heavy, key_type, algorithm, &e.content, None, false)
                        .await?
                };
                kept.push(NewKeyEntry {
                    environment_id: e.environment_id.clone(),
                    alias: e.alias.clone(),
                    content,
                });
            }
            kept
        }
    };
    Ok(KeyDraft {
        based_on: Some(current.updated_at),
        name,
        description: body
            .description
            .clone()
            .unwrap_or_else(|| current.description.clone()),
        key_type: key_type.as_str().to_owned(),
        algorithm: algorithm.map(|a| a.as_str().to_owned()),
        entries,
    })
}

/// Parses `algorithm` of the import form: case-insensitive there.
pub fn parse_secret_algorithm_any_case(value: &str) -> CoreResult<SecretAlgorithm> {
    SecretAlgorithm::NAMES
        .iter()
        .find(|n| n.eq_ignore_ascii_case(value.trim()))
        .and_then(|n| SecretAlgorithm::parse(n))
        .ok_or_else(|| {
            CoreError::bad_request(messages::unknown_key_algorithm(
                value,
                SecretAlgorithm::NAMES,
            ))
        })
}

/// What an import-file request asks for, once its form is read.
pub struct KeyImport<'a> {
    pub name: String,
    pub description: Option<&'a str>,
    pub key_type: KeyType,
    pub algorithm: Option<SecretAlgorithm>,
    pub alias: Option<&'a str>,
    /// PRIVATE_KEY: the password of an encrypted file.
    pub password: Option<&'a str>,
    /// The file of each environment (PEM/DER/base64 for PRIVATE/PUBLIC; raw bytes for SECRET).
    pub files: Vec<(keyward_store::Environment, Vec<u8>)>,
}

/// The draft of an imported key: a new key, or (`current`, override) the existing one with the
/// imported environments replaced or added and the others kept.
pub async fn draft_for_import(
    heavy: &HeavyWork,
    current: Option<&CryptoKey>,
    import: KeyImport<'_>,
) -> CoreResult<KeyDraft> {
    let algorithm = import.algorithm.or_else(|| {
        current
            .and_then(|c| c.algorithm.as_deref())
            .and_then(SecretAlgorithm::parse)
    });
    let algorithm = effective_algorithm(import.key_type, algorithm)?;
    let mut entries = Vec::new();
    for (env, bytes) in &import.files {
        let content = stored_content_on(
            heavy,
            import.key_type,
            algorithm,
            bytes,
            import.password,
            false,
        )
        .await?;
        let kept_alias = current
            .and_then(|c| c.entries.iter().find(|e| e.environment_id == env.id))
            .map(|e| e.alias.clone());
        entries.push(NewKeyEntry {
            environment_id: env.id.clone(),
            alias: import
                .alias
                .map(str::to_owned)
                .or(kept_alias)
                .unwrap_or_default(),
            content,
        });
    }
    if let Some(current) = current {
        let same = import.key_type.as_str() == current.key_type
            && algorithm.map(SecretAlgorithm::as_str) == current.algorithm.as_deref();
        for e in &current.entries {
            if entries.iter().any(|n| n.environment_id == e.environment_id) {
                continue;
            }
            let content = if same {
                e.content.clone()
            } else {
                stored_content_on(heavy, import.key_type, algorithm, &e.content, None, false)
                    .await?
            };
            entries.push(NewKeyEntry {
                environment_id: e.environment_id.clone(),
                alias: e.alias.clone(),
                content,
            });
        }
    }
    Ok(KeyDraft {
        based_on: current.map(|c| c.updated_at),
        name: import.name,
        description: import
            .description
            .map(str::to_owned)
            .or_else(|| current.map(|c| c.description.clone()))
            .unwrap_or_default(),
        key_type: import.key_type.as_str().to_owned(),
        algorithm: algorithm.map(|a| a.as_str().to_owned()),
        entries,
    })
}

// ---- JWKs derived from keys ----------------------------------------------------------------------

/// Serialises a JOSE JWK into the stored material.
pub fn material_of(jwk: &keyward_jose::Jwk) -> Result<JwkMaterial, String> {
    Ok(JwkMaterial {
        kty: jwk.kty().jose().to_owned(),
        kid: jwk.kid.clone(),
        jwk_json: jwk.to_json(),
    })
}

/// The use, algorithm and (caller-chosen) kid a stored JWK is re-derived with.
pub fn stored_parameters(jwk: &Jwk) -> Result<(KeyUse, Algorithm, Option<&str>), String> {
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
    Ok((key_use, alg, kid))
}

/// The JWK of one key entry's stored content. A PRIVATE_KEY source keeps the private members;
/// a PUBLIC_KEY source gives the public key only (also of a private key).
pub fn jwk_of_content(
    key_name: &str,
    key_type: &str,
    content: &[u8],
    source: SourceType,
    key_use: KeyUse,
    alg: Algorithm,
    kid: Option<&str>,
) -> Result<keyward_jose::Jwk, String> {
    match KeyType::parse(key_type) {
        Some(KeyType::Secret) | None => {
            return Err(messages::secret_key_not_convertible(key_name));
        }
        Some(KeyType::Public) if source == SourceType::PrivateKey => {
            return Err(messages::private_source_needs_private_key(key_name));
        }
        _ => {}
    }
    let material = parse_key(content, None).map_err(|e| e.to_string())?;
    let material = match (source, material) {
        (SourceType::PrivateKey, m) => m,
        (_, m) => KeyMaterial::Public(m.public_key()),
    };
    jwk_from_key(&material, key_use, alg, kid).map_err(|e| e.to_string())
}

/// The re-derivation of the key's JWKs from its draft, to run on the heavy-work pool
/// (`service::with_rederived`).
pub fn derivation(draft: &KeyDraft) -> impl super::Derive + use<> {
    let draft = draft.clone();
    move |linked: &[LinkedJwk]| rederive(&draft.name, &draft, linked)
}

/// Re-derives each in-scope JWK from the new entry of the environment it was derived from.
pub fn rederive(
    key_name: &str,
    draft: &KeyDraft,
    linked: &[LinkedJwk],
) -> Result<Vec<(String, JwkMaterial)>, String> {
    linked
        .iter()
        .map(|l| {
            let jwk = &l.jwk;
            let fail = |d: &str| messages::rederive_from_failed(&jwk.name, "key", d);
            let entry = draft
                .entries
                .iter()
                .find(|e| Some(&e.environment_id) == jwk.source_environment_id.as_ref())
                .ok_or_else(|| fail("the new key has no content for its environment"))?;
            let source = SourceType::parse(&jwk.source_type).unwrap_or(SourceType::PublicKey);
            let (key_use, alg, kid) = stored_parameters(jwk).map_err(|d| fail(&d))?;
            let derived = jwk_of_content(
                key_name,
                &draft.key_type,
                &entry.content,
                source,
                key_use,
                alg,
                kid,
            )
            .map_err(|d| fail(&d))?;
            Ok((jwk.id.clone(), material_of(&derived).map_err(|d| fail(&d))?))
        })
        .collect()
}

/// A request to derive a JWK from a key or keystore (create with a source type, or parse-from-*).
#[derive(Debug, Default)]
pub struct DeriveRequest<'a> {
    pub name: String,
    pub description: String,
    /// `keyName` or `keyStoreName`.
    pub source_name: Option<&'a str>,
    pub environment_name: Option<&'a str>,
    /// KEYSTORE: `aliasName`.
    pub alias_name: Option<&'a str>,
    pub use_type: Option<&'a str>,
    pub algorithm: Option<&'a str>,
    pub kid: Option<&'a str>,
}

/// Derives a JWK from a key entry and creates it. `source`: `PUBLIC_KEY` or `PRIVATE_KEY` as
/// asked by create, or `None` (parse-from-key) to follow the key's type — and the caller's right
/// to the key's private material (an admin-project key without it gives a public JWK).
pub async fn create_jwk_from_key(
    app: &Core,
    caller: &Principal,
    project: &keyward_store::Project,
    req: &DeriveRequest<'_>,
    source: Option<SourceType>,
    audit: &keyward_store::AuditEntry,
) -> CoreResult<Mutation<super::jwks::JwkSummary>> {
    let key_name = required("keyName", req.source_name)?;
    let env_name = required("environmentName", req.environment_name)?;
    let key_use = super::jwks::parse_use(&required("useType", req.use_type)?)?;
    let alg = super::jwks::parse_algorithm(&required("algorithm", req.algorithm)?)?;
    let kid = req.kid.map(str::trim).filter(|k| !k.is_empty());
    let found = super::source_in_scope(app, caller, project, |id| {
        let (store, name) = (&app.store, key_name.as_str());
        async move { store.key(&id, name).await }
    })
    .await?
    .ok_or_else(|| CoreError::bad_request(messages::key_not_found(&key_name)))?;
    let key = found.source;
    let source = match (source, KeyType::parse(&key.key_type)) {
        (Some(SourceType::PrivateKey), _) if !found.private => return Err(CoreError::denied()),
        (Some(s), _) => s,
        (None, Some(KeyType::Private)) if !found.private => SourceType::PublicKey,
        (None, Some(KeyType::Private)) => SourceType::PrivateKey,
        (None, Some(KeyType::Public)) => SourceType::PublicKey,
        (None, _) => {
            return Err(CoreError::bad_request(
                messages::secret_key_not_convertible(&key_name),
            ));
        }
    };
    let env = environment_named(app, &env_name).await?;
    let entry = key
        .entries
        .iter()
        .find(|e| e.environment_id == env.id)
        .ok_or_else(|| {
            CoreError::bad_request(messages::key_lacks_environment(&key_name, &env_name))
        })?;
    // A private key's consistency checks (RSA: ~0.6 ms at 2048 bits) run on the heavy-work pool.
    let jwk = {
        let (key_name, key_type, content) = (
            key_name.clone(),
            key.key_type.clone(),
            entry.content.clone(),
        );
        let kid = kid.map(str::to_owned);
        app.heavy
            .run(move || {
                jwk_of_content(
                    &key_name,
                    &key_type,
                    &content,
                    source,
                    key_use,
                    alg,
                    kid.as_deref(),
                )
            })
            .await?
            .map_err(CoreError::bad_request)?
    };
    let new = keyward_store::NewJwk {
        project_id: project.id.clone(),
        name: req.name.clone(),
        description: req.description.clone(),
        source_type: source.as_str().to_owned(),
        source_id: Some(key.id.clone()),
        source_url: None,
        source_environment_id: Some(env.id.clone()),
        material: material_of(&jwk).map_err(CoreError::internal)?,
        key_use: Some(key_use.jose().to_owned()),
        alg: Some(alg.jose_name().to_owned()),
        kid_given: kid.is_some(),
        environment_ids: None,
    };
    let (jwk, deployed) = app
        .store
        .create_jwk(&new, audit)
        .await
        .map_err(|e| match e {
            keyward_store::StoreError::AlreadyExists => {
                CoreError::bad_request(messages::jwk_exists_on_create(&req.name))
            }
            other => other.into(),
        })?;
    Ok(Mutation::new(super::jwks::JwkSummary::from(&jwk), deployed))
}

// ---- cascade parameters shared by every JWK source ------------------------------------------------

const JWK_UPDATE_ACTIONS: &[&str] = &["NULLIFY", "UPDATE"];
const UPDATE_SCOPES: &[&str] = &["SAME_PROJECT", "ALL_PROJECTS"];
const JWK_DELETE_ACTIONS: &[&str] = &["NULLIFY", "DELETE"];

/// `jwkUpdateAction` (`NULLIFY` default | `UPDATE`) and `updateScope` (`SAME_PROJECT` default |
/// `ALL_PROJECTS`).
pub fn update_action(query: &HashMap<String, String>) -> CoreResult<JwkUpdateAction> {
    let action = query
        .get("jwkUpdateAction")
        .map_or("NULLIFY", String::as_str);
    let scope = query
        .get("updateScope")
        .map_or("SAME_PROJECT", String::as_str);
    let update = super::one_of(
        "jwkUpdateAction",
        action,
        |a| JWK_UPDATE_ACTIONS.contains(&a).then_some(a == "UPDATE"),
        JWK_UPDATE_ACTIONS,
    )?;
    let all_projects = super::one_of(
        "updateScope",
        scope,
        |s| UPDATE_SCOPES.contains(&s).then_some(s == "ALL_PROJECTS"),
        UPDATE_SCOPES,
    )?;
    Ok(if update {
        JwkUpdateAction::Update { all_projects }
    } else {
        JwkUpdateAction::Nullify
    })
}

/// `jwkDeleteAction` (`NULLIFY` default | `DELETE`).
pub fn delete_action(query: &HashMap<String, String>) -> CoreResult<JwkDeleteAction> {
    let action = query
        .get("jwkDeleteAction")
        .map_or("NULLIFY", String::as_str);
    super::one_of(
        "jwkDeleteAction",
        action,
        |a| match a {
            "NULLIFY" => Some(JwkDeleteAction::Nullify),
            "DELETE" => Some(JwkDeleteAction::Delete),
            _ => None,
        },
        JWK_DELETE_ACTIONS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../../fixtures/keys/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn secret_key_lengths_are_checked_per_algorithm() {
        let b64 = |n: usize| keyward_jose::b64::standard(&vec![7u8; n]).into_bytes();
        let aes = Some(SecretAlgorithm::Aes);
        assert_eq!(
            stored_content(KeyType::Secret, aes, &b64(16), None, true).unwrap(),
            vec![7u8; 16]
        );
        assert!(stored_content(KeyType::Secret, aes, &b64(24), None, true).is_ok());
        assert_eq!(
            stored_content(KeyType::Secret, aes, &b64(10), None, true).unwrap_err(),
            "content of a AES secret key must be 16, 24 or 32 bytes long, but it is 10 bytes long!"
        );
        let des = Some(SecretAlgorithm::Des);
        assert!(stored_content(KeyType::Secret, des, &b64(8), None, true).is_ok());
        assert!(stored_content(KeyType::Secret, des, &b64(16), None, true).is_err());
        let tdes = Some(SecretAlgorithm::DesEde);
        assert!(stored_content(KeyType::Secret, tdes, &b64(24), None, true).is_ok());
        assert!(stored_content(KeyType::Secret, tdes, &b64(32), None, true).is_err());
        let rsa = Some(SecretAlgorithm::Rsa);
        assert!(stored_content(KeyType::Secret, rsa, &b64(5), None, true).is_ok());
        assert_eq!(
            stored_content(KeyType::Secret, aes, b"not base64!", None, true).unwrap_err(),
            messages::SECRET_CONTENT_NOT_BASE64
        );
        // Raw bytes (kept content on update) are checked as they are.
        assert!(stored_content(KeyType::Secret, aes, &[1u8; 32], None, false).is_ok());
    }

    #[test]
    fn encrypted_private_keys_are_stored_decrypted_as_pkcs8_pem() {
        let enc = fixture("rsa2048.p8-pbes2-aes256.pem");
        let stored =
            stored_content(KeyType::Private, None, &enc, Some("keyward-pw"), true).unwrap();
        let text = String::from_utf8(stored.clone()).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
        let plain = parse_key(&fixture("rsa2048.p8.pem"), None).unwrap();
        assert_eq!(parse_key(&stored, None).unwrap(), plain);
        assert_eq!(
            stored_content(KeyType::Private, None, &enc, None, true).unwrap_err(),
            "password value can not be empty! The private key is encrypted."
        );
        assert!(stored_content(KeyType::Private, None, &enc, Some("nope"), true).is_err());
    }

    #[test]
    fn key_type_must_match_the_content() {
        let public = fixture("p256.spki.pem");
        let private = fixture("p256.p8.pem");
        assert_eq!(
            stored_content(KeyType::Private, None, &public, None, true).unwrap_err(),
            messages::PRIVATE_KEY_EXPECTED
        );
        assert_eq!(
            stored_content(KeyType::Public, None, &private, None, true).unwrap_err(),
            messages::PUBLIC_KEY_EXPECTED
        );
        // base64 of PEM is stored as the PEM itself.
        let b64 = keyward_jose::b64::standard(&public);
        assert_eq!(
            stored_content(KeyType::Public, None, b64.as_bytes(), None, true).unwrap(),
            public
        );
        assert_eq!(
            stored_content(KeyType::Public, None, b"hello", None, true).unwrap_err(),
            "Key content is neither PEM nor valid Base64 for key type PUBLIC_KEY! Send the PEM content Base64-encoded."
        );
    }

    #[test]
    fn public_sources_never_carry_private_members() {
        let private = fixture("p256.p8.pem");
        let alg = Algorithm::parse("ES256").unwrap();
        let public = jwk_of_content(
            "k",
            "PRIVATE_KEY",
            &private,
            SourceType::PublicKey,
            KeyUse::Signature,
            alg,
            None,
        )
        .unwrap();
        assert!(!public.params.has_private());
        let full = jwk_of_content(
            "k",
            "PRIVATE_KEY",
            &private,
            SourceType::PrivateKey,
            KeyUse::Signature,
            alg,
            None,
        )
        .unwrap();
        assert!(full.params.has_private());
        assert_eq!(
            full.kid, public.kid,
            "the thumbprint covers public members only"
        );
        assert_eq!(
            jwk_of_content(
                "s",
                "SECRET_KEY",
                b"x",
                SourceType::PrivateKey,
                KeyUse::Signature,
                alg,
                None
            )
            .unwrap_err(),
            messages::secret_key_not_convertible("s")
        );
    }
}
