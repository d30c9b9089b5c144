//! JWKs from text (COPY_PASTE, import file), from a URL, and generated; JWK Set export.
//!
//! Every path ends in one `Store::create_jwk` transaction; any failure before it stores nothing.

use std::time::Duration;

use keyward_jose::alg::{self, Algorithm, KeyUse};
use keyward_jose::generate::{GenerateSpec, KeyIdType};
use keyward_jose::jwk::{EcCurve, Jwk, KeyDescriptor, KeyType, OkpCurve};
use keyward_store::{AuditEntry, JwkMaterial, NewJwk, Project, StoreError};
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::jwks::{JwkSummary, SourceType};
use super::one_of;
use crate::error::{CoreError, CoreResult};
use crate::{Core, FetchLimits, Mutation, messages};

/// `urlOptionConnectTimeout` default, ms.
pub const DEFAULT_CONNECT_TIMEOUT_MS: i64 = 5_000;
/// `urlOptionReadTimeout` default, ms.
pub const DEFAULT_READ_TIMEOUT_MS: i64 = 10_000;
/// `urlOptionSizeLimit` default, bytes.
pub const DEFAULT_SIZE_LIMIT: i64 = 1_048_576;
/// Largest timeout accepted, ms.
pub const MAX_TIMEOUT_MS: i64 = 60_000;
/// Largest `urlOptionSizeLimit` accepted: the JWK parser's own limit (1 MiB).
pub const MAX_SIZE_LIMIT: i64 = keyward_jose::jwk_json::MAX_JWK_INPUT as i64;

/// Where the text of a JWK came from, for the row.
pub struct Origin {
    pub source_type: SourceType,
    pub source_url: Option<String>,
    /// `environmentList`, resolved: where the JWK is deployed (`None`: every environment).
    pub environment_ids: Option<Vec<String>>,
}

/// Parses a JWK or JWK Set (selecting by `kid`), keeps its own kid or gives it the RFC 7638
/// thumbprint, and stores it.
#[allow(clippy::too_many_arguments)]
pub async fn create_from_text(
    app: &Core,
    project: &Project,
    name: &str,
    description: Option<&str>,
    text: &[u8],
    kid: Option<&str>,
    origin: Origin,
    audit: &AuditEntry,
) -> CoreResult<Mutation<JwkSummary>> {
    let kid = kid.map(str::trim).filter(|k| !k.is_empty());
    let mut jwk = keyward_jose::parse_jwk_or_set(text, kid).map_err(jose_err)?;
    let kid_given = jwk.kid.is_some();
    if jwk.kid.is_none() {
        jwk.kid = Some(jwk.thumbprint_sha256());
    }
    let jwk_json = stored_json(text, &jwk)?;
    let new = NewJwk {
        project_id: project.id.clone(),
        name: name.to_owned(),
        description: description.unwrap_or_default().to_owned(),
        source_type: origin.source_type.as_str().to_owned(),
        source_id: None,
        source_url: origin.source_url,
        source_environment_id: None,
        material: JwkMaterial {
            kty: jwk.kty().jose().to_owned(),
            kid: jwk.kid.clone(),
            jwk_json,
        },
        key_use: jwk.key_use.clone(),
        alg: jwk.alg.clone(),
        kid_given,
        environment_ids: origin.environment_ids,
    };
    store(app, &new, false, audit).await
}

/// The `nbf` / `exp` members (NumericDate seconds) of the key selected from `text`, when it
/// carries them: the JOSE parser keeps only RFC 7517 members, these are kept beside them.
fn times_of(text: &[u8], jwk: &Jwk) -> (Option<i64>, Option<i64>) {
    let Ok(value) = serde_json::from_slice::<Value>(text) else {
        return (None, None);
    };
    let selected = match value.get("keys").and_then(Value::as_array) {
        None => Some(&value),
        Some(keys) if keys.len() == 1 => keys.first(),
        Some(keys) => keys
            .iter()
            .find(|k| k.get("kid").and_then(Value::as_str) == jwk.kid.as_deref()),
    };
    let member = |m: &str| selected.and_then(|k| k.get(m)).and_then(Value::as_i64);
    (member("nbf"), member("exp"))
}

/// The stored JSON of a parsed JWK: RFC 7517 members, then `nbf` / `exp` when the source had them.
fn stored_json(text: &[u8], jwk: &Jwk) -> CoreResult<String> {
    let mut json = serde_json::to_string(jwk).map_err(CoreError::internal)?;
    let (nbf, exp) = times_of(text, jwk);
    if nbf.is_some() || exp.is_some() {
        json.pop();
        if let Some(n) = nbf {
            json.push_str(&format!(",\"nbf\":{n}"));
        }
        if let Some(e) = exp {
            json.push_str(&format!(",\"exp\":{e}"));
        }
        json.push('}');
    }
    Ok(json)
}

async fn store(
    app: &Core,
    new: &NewJwk,
    short_duplicate: bool,
    audit: &AuditEntry,
) -> CoreResult<Mutation<JwkSummary>> {
    // The record names the JWK made, whatever the request looked like.
    let audit = AuditEntry {
        object_name: Some(new.name.clone()),
        ..audit.clone()
    };
    let (jwk, deployed) = app
        .store
        .create_jwk(new, &audit)
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists if short_duplicate => {
                CoreError::bad_request(messages::jwk_exists(&new.name))
            }
            StoreError::AlreadyExists => {
                CoreError::bad_request(messages::jwk_exists_on_create(&new.name))
            }
            other => other.into(),
        })?;
    Ok(Mutation::new(JwkSummary::from(&jwk), deployed))
}

/// COPY_PASTE / parse-from-clipboard.
#[allow(clippy::too_many_arguments)]
pub async fn create_from_paste(
    app: &Core,
    project: &Project,
    name: &str,
    description: Option<&str>,
    jwk_str: Option<&str>,
    kid: Option<&str>,
    environment_list: Option<&[String]>,
    audit: &AuditEntry,
) -> CoreResult<Mutation<JwkSummary>> {
    let text = match jwk_str {
        Some(t) if !t.trim().is_empty() => t,
        _ => return Err(CoreError::bad_request(messages::empty("jwkStr"))),
    };
    let environment_ids = super::environment_list(app, environment_list).await?;
    create_from_text(
        app,
        project,
        name,
        description,
        text.as_bytes(),
        kid,
        Origin {
            source_type: SourceType::CopyPaste,
            source_url: None,
            environment_ids,
        },
        audit,
    )
    .await
}

/// The `url*` fields of a create / parse-from-url request.
#[derive(Debug, Default)]
pub struct UrlRequest<'a> {
    pub url: Option<&'a str>,
    pub connect_timeout: Option<i64>,
    pub read_timeout: Option<i64>,
    pub size_limit: Option<i64>,
}

fn bounded(field: &str, value: Option<i64>, default: i64, max: i64) -> CoreResult<i64> {
    let v = value.unwrap_or(default);
    if v < 1 || v > max {
        return Err(CoreError::bad_request(messages::out_of_range(
            field, v, max,
        )));
    }
    Ok(v)
}

/// URL / parse-from-url: fetch under the server's policy, then parse as COPY_PASTE.
#[allow(clippy::too_many_arguments)]
pub async fn create_from_url(
    app: &Core,
    project: &Project,
    name: &str,
    description: Option<&str>,
    req: &UrlRequest<'_>,
    kid: Option<&str>,
    environment_list: Option<&[String]>,
    audit: &AuditEntry,
) -> CoreResult<Mutation<JwkSummary>> {
    let url = match req.url.map(str::trim) {
        Some(u) if !u.is_empty() => u.to_owned(),
        _ => return Err(CoreError::bad_request(messages::URL_REQUIRED)),
    };
    let limits = FetchLimits {
        connect_timeout: ms(bounded(
            "urlOptionConnectTimeout",
            req.connect_timeout,
            DEFAULT_CONNECT_TIMEOUT_MS,
            MAX_TIMEOUT_MS,
        )?),
        read_timeout: ms(bounded(
            "urlOptionReadTimeout",
            req.read_timeout,
            DEFAULT_READ_TIMEOUT_MS,
            MAX_TIMEOUT_MS,
        )?),
        size_limit: usize::try_from(bounded(
            "urlOptionSizeLimit",
            req.size_limit,
            DEFAULT_SIZE_LIMIT,
            MAX_SIZE_LIMIT,
        )?)
        .map_err(CoreError::internal)?,
    };
    // A duplicate name or an unknown environment is refused before any network traffic.
    let environment_ids = super::environment_list(app, environment_list).await?;
    if app
        .store
        .jwk(&project.id, name)
        .await
        .map_err(CoreError::internal)?
        .is_some()
    {
        return Err(CoreError::bad_request(messages::jwk_exists_on_create(name)));
    }
    let started = std::time::Instant::now();
    let body = app.fetcher.fetch(&url, &limits).await.map_err(|e| {
        tracing::info!(url = %url, error = %e, "JWK fetch refused or failed");
        CoreError::bad_request(messages::jwk_fetch_failed(&url, &e))
    })?;
    tracing::debug!(url = %url, bytes = body.len(), ms = started.elapsed().as_millis() as u64, "JWK fetched");
    create_from_text(
        app,
        project,
        name,
        description,
        &body,
        kid,
        Origin {
            source_type: SourceType::Url,
            source_url: Some(url),
            environment_ids,
        },
        audit,
    )
    .await
}

fn ms(v: i64) -> Duration {
    Duration::from_millis(v.unsigned_abs())
}

// ---- generate ----------------------------------------------------------------------------------

/// A per-type sub-object of the generate request (`rsa`, `ec`, `oct`, `okp`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateParams {
    /// RSA: 2048, 3072, 4096; OCT: 128, 192, 256.
    key_size: Option<i64>,
    /// EC: `P256`, `P384`, `P521`, `SECP256K1`; OKP: `ED25519`, `X25519`.
    curve_type: Option<String>,
    /// `SIGNATURE` (default; `ENCRYPTION` for X25519) or `ENCRYPTION`.
    key_use_type: Option<String>,
    /// Either spelling (`RSA256`/`RS256`, `RSA_OAEP_256`/`RSA-OAEP-256`, …); default per key.
    algorithm: Option<String>,
    /// `TIMESTAMP` (default), `SHA256`, `SHA1`, `ISO_DATE`, `NONE`, `THUMBPRINT`.
    key_id_type: Option<String>,
    /// ISO-8601 date-time; default now. Recorded as `nbf`.
    not_before_time: Option<String>,
    /// ISO-8601 date-time; default `notBeforeTime` + 1 year. Recorded as `exp`.
    expiration_time: Option<String>,
    /// Accepted for compatibility; not used (PBES2 parameters belong to each JWE header).
    #[allow(dead_code)]
    password_salt_length: Option<i64>,
    /// Accepted for compatibility; not used.
    #[allow(dead_code)]
    password_iteration_count: Option<i64>,
}

/// The body of `POST …/jwks/generate`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateRequest {
    pub name: Option<String>,
    description: Option<String>,
    /// `RSA`, `EC`, `OCT` or `OKP`.
    #[serde(rename = "type")]
    key_type: Option<String>,
    /// Explicit key id (wins over `keyIdType`).
    kid: Option<String>,
    /// Also accepted here, for every type (the sub-object's value wins).
    key_id_type: Option<String>,
    not_before_time: Option<String>,
    expiration_time: Option<String>,
    rsa: Option<GenerateParams>,
    ec: Option<GenerateParams>,
    oct: Option<GenerateParams>,
    okp: Option<GenerateParams>,
    /// Extension: the environments it is deployed to (default: every environment).
    environment_list: Option<Vec<String>>,
}

/// `type` of a generated JWK.
pub const KEY_TYPES: &[&str] = &["RSA", "EC", "OCT", "OKP"];

fn jose_err(e: impl std::fmt::Display) -> CoreError {
    CoreError::bad_request(e.to_string())
}

/// The default algorithm of a generated key (documented in README):
/// signature RS256 / ES256, ES384, ES512, ES256K by curve / HS256 / EdDSA;
/// encryption RSA-OAEP-256 / ECDH-ES / A128KW, A192KW, A256KW by key size / ECDH-ES.
pub fn default_algorithm(spec: &GenerateSpec, key_use: KeyUse) -> Algorithm {
    match (spec, key_use) {
        (GenerateSpec::Rsa { .. }, KeyUse::Signature) => Algorithm::RS256,
        (GenerateSpec::Rsa { .. }, KeyUse::Encryption) => Algorithm::RSA_OAEP_256,
        (GenerateSpec::Ec { curve }, KeyUse::Signature) => match curve {
            EcCurve::P256 => Algorithm::ES256,
            EcCurve::P384 => Algorithm::ES384,
            EcCurve::P521 => Algorithm::ES512,
            EcCurve::Secp256k1 => Algorithm::ES256K,
        },
        (GenerateSpec::Ec { .. } | GenerateSpec::Okp { .. }, KeyUse::Encryption) => {
            Algorithm::ECDH_ES
        }
        (GenerateSpec::Oct { .. }, KeyUse::Signature) => Algorithm::HS256,
        (GenerateSpec::Oct { bits }, KeyUse::Encryption) => match bits {
            128 => Algorithm::A128KW,
            192 => Algorithm::A192KW,
            _ => Algorithm::A256KW,
        },
        (GenerateSpec::Okp { .. }, KeyUse::Signature) => Algorithm::EdDSA,
    }
}

fn descriptor(spec: &GenerateSpec) -> KeyDescriptor {
    match *spec {
        GenerateSpec::Rsa { .. } => KeyDescriptor {
            kty: KeyType::Rsa,
            ec_curve: None,
            okp_curve: None,
        },
        GenerateSpec::Ec { curve } => KeyDescriptor {
            kty: KeyType::Ec,
            ec_curve: Some(curve),
            okp_curve: None,
        },
        GenerateSpec::Oct { .. } => KeyDescriptor {
            kty: KeyType::Oct,
            ec_curve: None,
            okp_curve: None,
        },
        GenerateSpec::Okp { curve } => KeyDescriptor {
            kty: KeyType::Okp,
            ec_curve: None,
            okp_curve: Some(curve),
        },
    }
}

/// AES key wrap algorithms need a key of exactly their size.
fn wrap_size(alg: Algorithm) -> Option<u32> {
    match alg {
        Algorithm::A128KW | Algorithm::A128GCMKW => Some(128),
        Algorithm::A192KW | Algorithm::A192GCMKW => Some(192),
        Algorithm::A256KW | Algorithm::A256GCMKW => Some(256),
        _ => None,
    }
}

/// Parses an ISO-8601 date-time: RFC 3339 (`2026-01-01T00:00:00Z`, offsets, fractions), or
/// without offset (taken as UTC).
fn parse_time(field: &str, value: &str) -> CoreResult<OffsetDateTime> {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    let v = value.trim();
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Ok(t);
    }
    if let Ok(t) = OffsetDateTime::parse(v, &Iso8601::DEFAULT) {
        return Ok(t);
    }
    if let Ok(t) = time::PrimitiveDateTime::parse(v, &Iso8601::DEFAULT) {
        return Ok(t.assume_utc());
    }
    Err(CoreError::bad_request(messages::date_time_invalid(
        field, value,
    )))
}

fn plus_one_year(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_year(t.year() + 1)
        .unwrap_or(t + time::Duration::days(365))
}

/// A generated key, ready to store.
struct Generated {
    material: JwkMaterial,
    key_use: KeyUse,
    alg: Algorithm,
    kid_given: bool,
}

/// Validates the request, generates (RSA off the async runtime), and returns the JWK row.
async fn generate_material(app: &Core, req: &GenerateRequest) -> CoreResult<Generated> {
    let key_type = match req.key_type.as_deref().map(str::trim) {
        None | Some("") => return Err(CoreError::bad_request(messages::JWK_TYPE_EMPTY)),
        Some(t) => one_of(
            "type",
            t,
            |v| KEY_TYPES.iter().copied().find(|k| *k == v),
            KEY_TYPES,
        )?,
    };
    let (field, params) = match key_type {
        "RSA" => ("rsa", &req.rsa),
        "EC" => ("ec", &req.ec),
        "OCT" => ("oct", &req.oct),
        _ => ("okp", &req.okp),
    };
    let Some(params) = params else {
        return Err(CoreError::bad_request(messages::empty(field)));
    };
    let key_size = || -> CoreResult<u32> {
        let size = params
            .key_size
            .ok_or_else(|| CoreError::bad_request(messages::empty("keySize")))?;
        Ok(u32::try_from(size).unwrap_or(0))
    };
    let curve = || -> CoreResult<&str> {
        params
            .curve_type
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| CoreError::bad_request(messages::empty("curveType")))
    };
    let spec = match key_type {
        "RSA" => GenerateSpec::Rsa { bits: key_size()? },
        "OCT" => GenerateSpec::Oct { bits: key_size()? },
        "EC" => GenerateSpec::Ec {
            curve: keyward_jose::generate::parse_ec_curve_type(curve()?).map_err(jose_err)?,
        },
        _ => GenerateSpec::Okp {
            curve: keyward_jose::generate::parse_okp_curve_type(curve()?).map_err(jose_err)?,
        },
    };
    // Size checks up front (generate() repeats them) so nothing slow runs on a bad request.
    match spec {
        GenerateSpec::Rsa { bits } if !matches!(bits, 2048 | 3072 | 4096) => {
            return Err(CoreError::bad_request(messages::not_one_of(
                "keySize",
                &params.key_size.unwrap_or_default().to_string(),
                &["2048", "3072", "4096"],
            )));
        }
        GenerateSpec::Oct { bits } if !matches!(bits, 128 | 192 | 256) => {
            return Err(CoreError::bad_request(messages::not_one_of(
                "keySize",
                &params.key_size.unwrap_or_default().to_string(),
                &["128", "192", "256"],
            )));
        }
        _ => {}
    }
    let key_use = match params.key_use_type.as_deref().map(str::trim) {
        None | Some("") => match spec {
            // X25519 only agrees keys: its natural use is encryption.
            GenerateSpec::Okp {
                curve: OkpCurve::X25519,
            } => KeyUse::Encryption,
            _ => KeyUse::Signature,
        },
        Some(u) => one_of(
            "keyUseType",
            u,
            |v| KeyUse::parse(v).ok(),
            &["SIGNATURE", "ENCRYPTION"],
        )?,
    };
    let alg = match params.algorithm.as_deref().map(str::trim) {
        None | Some("") => default_algorithm(&spec, key_use),
        Some(a) => Algorithm::parse(a).map_err(jose_err)?,
    };
    alg::check(&descriptor(&spec), key_use, alg).map_err(jose_err)?;
    if let (GenerateSpec::Oct { bits }, Some(need)) = (spec, wrap_size(alg))
        && bits != need
    {
        return Err(CoreError::bad_request(messages::wrap_key_size(
            alg.jose_name(),
            need,
            bits,
        )));
    }
    let key_id_type = match params
        .key_id_type
        .as_deref()
        .or(req.key_id_type.as_deref())
        .map(str::trim)
    {
        None | Some("") => KeyIdType::Timestamp,
        Some(k) => KeyIdType::parse(k).map_err(jose_err)?,
    };
    let now = OffsetDateTime::now_utc();
    let nbf = match params
        .not_before_time
        .as_deref()
        .or(req.not_before_time.as_deref())
    {
        Some(v) if !v.trim().is_empty() => parse_time("notBeforeTime", v)?,
        _ => now,
    };
    let exp = match params
        .expiration_time
        .as_deref()
        .or(req.expiration_time.as_deref())
    {
        Some(v) if !v.trim().is_empty() => parse_time("expirationTime", v)?,
        _ => plus_one_year(nbf),
    };
    if exp <= nbf {
        return Err(CoreError::bad_request(messages::EXPIRATION_NOT_AFTER_NBF));
    }
    let given_kid = req
        .kid
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned);

    // Generation is CPU-bound (RSA: 0.05–1 s): on the heavy-work pool, like every key derivation.
    let mut jwk: Jwk = app.heavy.run(move || run_generate(&spec)).await??;
    jwk.key_use = Some(key_use.jose().to_owned());
    jwk.alg = Some(alg.jose_name().to_owned());
    let kid_given = given_kid.is_some();
    jwk.kid = match given_kid {
        Some(k) => Some(k),
        None => keyward_jose::key_id(key_id_type, &jwk, now.unix_timestamp()),
    };
    let jwk_json = with_times(&jwk, nbf.unix_timestamp(), exp.unix_timestamp())?;
    Ok(Generated {
        material: JwkMaterial {
            kty: jwk.kty().jose().to_owned(),
            kid: jwk.kid.clone(),
            jwk_json,
        },
        key_use,
        alg,
        kid_given,
    })
}

fn run_generate(spec: &GenerateSpec) -> CoreResult<Jwk> {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    keyward_jose::generate(spec, &mut rng).map_err(jose_err)
}

/// The JWK's JSON (RFC 7517 member order) followed by `nbf` and `exp` (NumericDate seconds).
fn with_times(jwk: &Jwk, nbf: i64, exp: i64) -> CoreResult<String> {
    let mut json = serde_json::to_string(jwk).map_err(CoreError::internal)?;
    if json.pop() != Some('}') {
        return Err(CoreError::internal("a JWK did not serialise as an object"));
    }
    json.push_str(&format!(",\"nbf\":{nbf},\"exp\":{exp}}}"));
    Ok(json)
}

/// `POST …/jwks/generate`.
pub async fn generate(
    app: &Core,
    project: &Project,
    req: &GenerateRequest,
    audit: &AuditEntry,
) -> CoreResult<Mutation<JwkSummary>> {
    let name = match req.name.as_deref().map(str::trim) {
        None | Some("") => return Err(CoreError::bad_request(messages::JWK_NAME_EMPTY)),
        Some(n) => n.to_owned(),
    };
    super::check_name("name", &name)?;
    if app
        .store
        .jwk(&project.id, &name)
        .await
        .map_err(CoreError::internal)?
        .is_some()
    {
        return Err(CoreError::bad_request(messages::jwk_exists_on_create(
            &name,
        )));
    }
    let environment_ids = super::environment_list(app, req.environment_list.as_deref()).await?;
    let started = std::time::Instant::now();
    let generated = generate_material(app, req).await?;
    tracing::debug!(
        kty = %generated.material.kty,
        ms = started.elapsed().as_millis() as u64,
        "JWK generated"
    );
    let new = NewJwk {
        project_id: project.id.clone(),
        name,
        description: req.description.clone().unwrap_or_default(),
        source_type: SourceType::Generate.as_str().to_owned(),
        source_id: None,
        source_url: None,
        source_environment_id: None,
        material: generated.material,
        key_use: Some(generated.key_use.jose().to_owned()),
        alg: Some(generated.alg.jose_name().to_owned()),
        kid_given: generated.kid_given,
        environment_ids,
    };
    store(app, &new, false, audit).await
}

// ---- files -------------------------------------------------------------------------------------

/// The JWK Set document of a stored JWK and its file name.
pub async fn export_file(
    app: &Core,
    project: &Project,
    name: &str,
    public_only: bool,
) -> CoreResult<(String, Vec<u8>)> {
    let jwk = app
        .store
        .jwk(&project.id, name)
        .await
        .map_err(CoreError::internal)?
        .ok_or_else(|| CoreError::bad_request(messages::jwk_not_found(name)))?;
    let (file, json) = if public_only {
        if jwk.kty == "oct" {
            return Err(CoreError::bad_request(messages::jwk_symmetric_public_only(
                name,
            )));
        }
        // The store's one list of private members decides what a public export leaves out.
        (
            format!("{name}-public.json"),
            keyward_store::public_members(&jwk.jwk_json),
        )
    } else {
        (format!("{name}.json"), jwk.jwk_json)
    };
    let value: Value = serde_json::from_str(&json).map_err(CoreError::internal)?;
    if !value.is_object() {
        return Err(CoreError::internal("a stored JWK is not a JSON object"));
    }
    let doc = serde_json::json!({ "keys": [value] });
    let body = serde_json::to_vec_pretty(&doc).map_err(CoreError::internal)?;
    Ok((file, body))
}

/// The fields of an import-file request.
#[derive(Debug, Default)]
pub struct ImportRequest {
    pub file: Option<Vec<u8>>,
    pub name: Option<String>,
    pub kid: Option<String>,
    pub description: Option<String>,
    /// Extension: the environments it is deployed to (default: every environment).
    pub environment_list: Option<Vec<String>>,
}

/// `POST …/jwks/import-file`: parsed like parse-from-clipboard; stored as `COPY_PASTE`.
pub async fn import_file(
    app: &Core,
    project: &Project,
    req: ImportRequest,
    audit: &AuditEntry,
) -> CoreResult<Mutation<JwkSummary>> {
    let name = super::required_name("jwkName", req.name.as_deref())?;
    let kid = super::required("kid", req.kid.as_deref())?;
    let file = match req.file {
        Some(f) if !f.iter().all(u8::is_ascii_whitespace) => f,
        _ => return Err(CoreError::bad_request(messages::empty("jwkFile"))),
    };
    let environment_ids = super::environment_list(app, req.environment_list.as_deref()).await?;
    let kid_text = kid.as_str();
    let mut jwk = keyward_jose::parse_jwk_or_set(&file, Some(kid_text)).map_err(jose_err)?;
    let kid_given = jwk.kid.is_some();
    if jwk.kid.is_none() {
        jwk.kid = Some(jwk.thumbprint_sha256());
    }
    let jwk_json = stored_json(&file, &jwk)?;
    let new = NewJwk {
        project_id: project.id.clone(),
        name,
        description: req.description.unwrap_or_default(),
        source_type: SourceType::CopyPaste.as_str().to_owned(),
        source_id: None,
        source_url: None,
        source_environment_id: None,
        material: JwkMaterial {
            kty: jwk.kty().jose().to_owned(),
            kid: jwk.kid.clone(),
            jwk_json,
        },
        key_use: jwk.key_use.clone(),
        alg: jwk.alg.clone(),
        kid_given,
        environment_ids,
    };
    store(app, &new, true, audit).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_algorithms_hold_for_their_keys() {
        let specs = [
            GenerateSpec::Rsa { bits: 2048 },
            GenerateSpec::Ec {
                curve: EcCurve::P256,
            },
            GenerateSpec::Ec {
                curve: EcCurve::P384,
            },
            GenerateSpec::Ec {
                curve: EcCurve::P521,
            },
            GenerateSpec::Ec {
                curve: EcCurve::Secp256k1,
            },
            GenerateSpec::Oct { bits: 128 },
            GenerateSpec::Oct { bits: 192 },
            GenerateSpec::Oct { bits: 256 },
        ];
        for spec in specs {
            for u in [KeyUse::Signature, KeyUse::Encryption] {
                let a = default_algorithm(&spec, u);
                assert!(
                    alg::check(&descriptor(&spec), u, a).is_ok(),
                    "{spec:?} {u:?}"
                );
            }
        }
        let ed = GenerateSpec::Okp {
            curve: OkpCurve::Ed25519,
        };
        assert_eq!(default_algorithm(&ed, KeyUse::Signature), Algorithm::EdDSA);
        let x = GenerateSpec::Okp {
            curve: OkpCurve::X25519,
        };
        assert!(
            alg::check(
                &descriptor(&x),
                KeyUse::Encryption,
                default_algorithm(&x, KeyUse::Encryption)
            )
            .is_ok()
        );
    }

    #[test]
    fn times_parse_in_iso_forms() {
        for v in [
            "2026-01-01T00:00:00Z",
            "2026-01-01T01:00:00+01:00",
            "2026-01-01T00:00:00.000Z",
            "2026-01-01T00:00:00",
        ] {
            assert_eq!(
                parse_time("t", v).unwrap().unix_timestamp(),
                1_767_225_600,
                "{v}"
            );
        }
        assert!(parse_time("t", "yesterday").is_err());
    }

    #[test]
    fn times_follow_the_members() {
        let jwk = Jwk::new(keyward_jose::KeyParams::Oct { k: "AAAA".into() });
        assert_eq!(
            with_times(&jwk, 1, 2).unwrap(),
            r#"{"kty":"oct","k":"AAAA","nbf":1,"exp":2}"#
        );
    }
}
