//! JWKs (reference §2.4): list, get, create, parse-from-certificate, update, delete.
//!
//! This version derives JWKs from certificates; the other source types are refused by name.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use keyward_store::{AuditEntry, NewJwk, StoreError};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{Audit, Declared, Name};
use crate::envelope::{Success, settled};
use crate::error::{ApiError, ApiResult};
use crate::permissions::{Need, Principal};
use crate::{AppState, Caller, messages};
use keyward_core::certificates::stored_chain;
use keyward_core::jwks::{
    JwkDetail, JwkSummary, SourceType, material_from_chain, parse_algorithm, parse_use,
};
use keyward_core::keys::{DeriveRequest, create_jwk_from_key};
use keyward_core::keystores::create_jwk_from_keystore;
use keyward_core::{check_name, environment_named, one_of, project_for, required, source_in_scope};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jwks, create_jwk))
        .routes(routes!(get_jwk, update_jwk, delete_jwk))
        .routes(routes!(parse_from_certificate))
        .routes(routes!(parse_from_key))
        .routes(routes!(parse_from_keystore))
}

/// What each route records in the audit trail (`crate::audit`).
pub(super) const AUDIT: &[Declared] = &[
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/jwks",
        "create",
        "jwk",
        Name::Body("name"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/jwks/parse-from-certificate",
        "parse-from-certificate",
        "jwk",
        Name::Body("name"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/jwks/parse-from-key",
        "parse-from-key",
        "jwk",
        Name::Body("name"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/jwks/parse-from-keystore",
        "parse-from-keystore",
        "jwk",
        Name::Body("name"),
    ),
    Declared::mutation(
        "PUT",
        "/apiops/projects/{projectName}/jwks/{jwkName}",
        "update",
        "jwk",
        Name::Path("jwkName"),
    ),
    Declared::mutation(
        "DELETE",
        "/apiops/projects/{projectName}/jwks/{jwkName}",
        "delete",
        "jwk",
        Name::Path("jwkName"),
    ),
    Declared::private_read(
        "/apiops/projects/{projectName}/jwks/{jwkName}",
        "read",
        "jwk",
        Name::Path("jwkName"),
    ),
];

/// The body of create (every source type) and parse-from-* (no `sourceType`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JwkCreate {
    name: Option<String>,
    description: Option<String>,
    /// `URL`, `COPY_PASTE`, `CERTIFICATE`, `PUBLIC_KEY`, `PRIVATE_KEY` or `KEYSTORE` (create only).
    source_type: Option<String>,
    /// CERTIFICATE: the certificate, in this project or in the admin project.
    certificate_name: Option<String>,
    /// PUBLIC_KEY / PRIVATE_KEY: the key, in this project or in the admin project.
    key_name: Option<String>,
    /// KEYSTORE: the keystore, in this project or in the admin project.
    key_store_name: Option<String>,
    /// KEYSTORE: the alias of the entry (private key or trusted certificate).
    alias_name: Option<String>,
    /// The environment whose content is read.
    environment_name: Option<String>,
    /// `SIGNATURE` or `ENCRYPTION`.
    use_type: Option<String>,
    /// A JOSE algorithm valid for the key and use, e.g. `RS256`, `ES384`, `EdDSA`, `RSA-OAEP-256`
    /// (the generate-endpoint spellings such as `RSA256` are accepted too).
    algorithm: Option<String>,
    /// Optional key id; defaults to the RFC 7638 SHA-256 thumbprint. URL / COPY_PASTE: selects
    /// the key of a JWK Set.
    kid: Option<String>,
    /// URL: the `https` URL of a JWK or JWK Set.
    url: Option<String>,
    /// URL: ms, default 5000.
    url_option_connect_timeout: Option<i64>,
    /// URL: ms, default 10000.
    url_option_read_timeout: Option<i64>,
    /// URL: bytes, default 1048576 (also the maximum).
    url_option_size_limit: Option<i64>,
    /// COPY_PASTE: a JWK or JWK Set as JSON text.
    jwk_str: Option<String>,
    /// URL / COPY_PASTE (extension): the environments the JWK is deployed to (default: every
    /// environment). A JWK derived from a certificate, key or keystore is deployed to the
    /// environment of `environmentName` only.
    environment_list: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct JwkUpdate {
    /// New name (unique in the project).
    name: Option<String>,
    description: Option<String>,
}

/// List the project's JWKs (no key material).
#[utoipa::path(get, path = "/apiops/projects/{projectName}/jwks", tag = "JWKs",
    params(("projectName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn list_jwks(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::Read).await?;
    let jwks = app
        .store
        .list_jwks(&project.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(jwks.iter().map(JwkSummary::from)))
}

/// Get a JWK with its material: `rsa`/`ec`/`okp`/`oct`, `use`, `alg` and the complete `jwk`.
#[utoipa::path(get, path = "/apiops/projects/{projectName}/jwks/{jwkName}", tag = "JWKs",
    params(("projectName" = String, Path), ("jwkName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn get_jwk(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<axum::response::Response> {
    let project = project_for(&app, &caller, &project, Need::Read).await?;
    let mut jwk = app
        .store
        .jwk(&project.id, &name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_request(messages::jwk_not_found(&name)))?;
    if !caller.may_read_private(&project.id) {
        // 00-product §1: a VIEW-only member gets the public JWK.
        jwk.jwk_json = keyward_store::public_members(&jwk.jwk_json);
    }
    let mut resp = Success::one(JwkDetail::from_row(&jwk)?).into_response();
    if !keyward_store::has_private_members(&jwk.jwk_json) {
        // A public key is not private material: the audit trail skips this read.
        resp.extensions_mut().insert(crate::audit::PublicOnly);
    }
    Ok(resp)
}

/// Create a JWK. `sourceType: CERTIFICATE` derives it from a certificate; other source types are
/// not supported by this version and are refused by name.
#[utoipa::path(post, path = "/apiops/projects/{projectName}/jwks", tag = "JWKs",
    params(("projectName" = String, Path)), request_body = JwkCreate,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn create_jwk(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    Json(body): Json<JwkCreate>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let name = jwk_name(&body)?;
    let rec = audit.named(&name);
    let source = match body.source_type.as_deref().map(str::trim) {
        None | Some("") => return Err(ApiError::bad_request(messages::SOURCE_TYPE_REQUIRED)),
        Some(s) => one_of("sourceType", s, SourceType::parse, &SourceType::NAMES[..6])?,
    };
    match source {
        SourceType::Certificate => {
            from_certificate(&app, &caller, &project, name, &body, &rec).await
        }
        SourceType::CopyPaste => {
            settled(
                &app,
                keyward_core::jwk_sources::create_from_paste(
                    &app,
                    &project,
                    &name,
                    body.description.as_deref(),
                    body.jwk_str.as_deref(),
                    body.kid.as_deref(),
                    body.environment_list.as_deref(),
                    &rec,
                )
                .await,
            )
            .await
        }
        SourceType::Url => {
            let req = keyward_core::jwk_sources::UrlRequest {
                url: body.url.as_deref(),
                connect_timeout: body.url_option_connect_timeout,
                read_timeout: body.url_option_read_timeout,
                size_limit: body.url_option_size_limit,
            };
            settled(
                &app,
                keyward_core::jwk_sources::create_from_url(
                    &app,
                    &project,
                    &name,
                    body.description.as_deref(),
                    &req,
                    body.kid.as_deref(),
                    body.environment_list.as_deref(),
                    &rec,
                )
                .await,
            )
            .await
        }
        SourceType::PublicKey | SourceType::PrivateKey => {
            settled(
                &app,
                create_jwk_from_key(
                    &app,
                    &caller,
                    &project,
                    &derive_request(name, &body),
                    Some(source),
                    &rec,
                )
                .await,
            )
            .await
        }
        SourceType::Keystore => {
            settled(
                &app,
                create_jwk_from_keystore(
                    &app,
                    &caller,
                    &project,
                    &derive_request(name, &body),
                    &rec,
                )
                .await,
            )
            .await
        }
        SourceType::Generate => Err(ApiError::bad_request(messages::GENERATE_HAS_ITS_ENDPOINT)),
    }
}

/// Derive a JWK from a certificate's leaf key (with `x5c`, `x5t`, `x5t#S256`) and deploy it.
#[utoipa::path(post, path = "/apiops/projects/{projectName}/jwks/parse-from-certificate", tag = "JWKs",
    params(("projectName" = String, Path)), request_body = JwkCreate,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn parse_from_certificate(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    Json(body): Json<JwkCreate>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let name = jwk_name(&body)?;
    let rec = audit.named(&name);
    from_certificate(&app, &caller, &project, name, &body, &rec).await
}

/// Derive a JWK from a key (PRIVATE_KEY: with private members; PUBLIC_KEY: public only; the
/// source type follows the key's type) and deploy it.
#[utoipa::path(post, path = "/apiops/projects/{projectName}/jwks/parse-from-key", tag = "JWKs",
    params(("projectName" = String, Path)), request_body = JwkCreate,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn parse_from_key(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    Json(body): Json<JwkCreate>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let name = jwk_name(&body)?;
    let rec = audit.named(&name);
    settled(
        &app,
        create_jwk_from_key(
            &app,
            &caller,
            &project,
            &derive_request(name, &body),
            None,
            &rec,
        )
        .await,
    )
    .await
}

/// Derive a JWK from a keystore alias (a private key with `x5c`… from its chain, or a trusted
/// certificate) and deploy it.
#[utoipa::path(post, path = "/apiops/projects/{projectName}/jwks/parse-from-keystore", tag = "JWKs",
    params(("projectName" = String, Path)), request_body = JwkCreate,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn parse_from_keystore(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    Json(body): Json<JwkCreate>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let name = jwk_name(&body)?;
    let rec = audit.named(&name);
    settled(
        &app,
        create_jwk_from_keystore(&app, &caller, &project, &derive_request(name, &body), &rec).await,
    )
    .await
}

/// The key/keystore fields of a create or parse-from-* body.
fn derive_request(name: String, body: &JwkCreate) -> DeriveRequest<'_> {
    DeriveRequest {
        name,
        description: body.description.clone().unwrap_or_default(),
        source_name: body.key_name.as_deref().or(body.key_store_name.as_deref()),
        environment_name: body.environment_name.as_deref(),
        alias_name: body.alias_name.as_deref(),
        use_type: body.use_type.as_deref(),
        algorithm: body.algorithm.as_deref(),
        kid: body.kid.as_deref(),
    }
}

fn jwk_name(body: &JwkCreate) -> ApiResult<String> {
    let name = body.name.as_deref().map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::bad_request(messages::JWK_NAME_EMPTY));
    }
    check_name("name", name)?;
    Ok(name.to_owned())
}

async fn from_certificate(
    app: &AppState,
    caller: &Principal,
    project: &keyward_store::Project,
    name: String,
    body: &JwkCreate,
    audit: &AuditEntry,
) -> ApiResult<Success> {
    let cert_name = required("certificateName", body.certificate_name.as_deref())?;
    let env_name = required("environmentName", body.environment_name.as_deref())?;
    let key_use = parse_use(&required("useType", body.use_type.as_deref())?)?;
    let alg = parse_algorithm(&required("algorithm", body.algorithm.as_deref())?)?;
    let kid = body.kid.as_deref().map(str::trim).filter(|k| !k.is_empty());
    let cert = source_in_scope(app, caller, project, |id| {
        let (store, name) = (&app.store, cert_name.as_str());
        async move { store.certificate(&id, name).await }
    })
    .await?
    .ok_or_else(|| ApiError::bad_request(messages::certificate_not_found(&cert_name)))?
    .source;
    let env = environment_named(app, &env_name).await?;
    let entry = cert
        .entries
        .iter()
        .find(|e| e.environment_id == env.id)
        .ok_or_else(|| {
            ApiError::bad_request(messages::certificate_lacks_environment(
                &cert_name, &env_name,
            ))
        })?;
    let chain = stored_chain(&entry.chain_pem).map_err(ApiError::internal)?;
    let material = material_from_chain(&chain, key_use, alg, kid).map_err(ApiError::bad_request)?;
    let new = NewJwk {
        project_id: project.id.clone(),
        name: name.clone(),
        description: body.description.clone().unwrap_or_default(),
        source_type: SourceType::Certificate.as_str().to_owned(),
        source_id: Some(cert.id.clone()),
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
        .create_jwk(&new, audit)
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists => {
                ApiError::bad_request(messages::jwk_exists_on_create(&name))
            }
            other => other.into(),
        })?;
    Ok(Success::one(JwkSummary::from(&jwk)).deployment(app.publisher.settle(&deployed).await))
}

/// Rename or re-describe a JWK. This detaches it from its source.
#[utoipa::path(put, path = "/apiops/projects/{projectName}/jwks/{jwkName}", tag = "JWKs",
    params(("projectName" = String, Path), ("jwkName" = String, Path)), request_body = JwkUpdate,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn update_jwk(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path((project, name)): Path<(String, String)>,
    Json(body): Json<JwkUpdate>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let new_name = match body.name.as_deref().map(str::trim) {
        None => None,
        Some("") => return Err(ApiError::bad_request(messages::JWK_NAME_EMPTY)),
        Some(n) => {
            check_name("name", n)?;
            Some(n)
        }
    };
    let (jwk, deployed) = app
        .store
        .update_jwk(
            &project.id,
            &name,
            new_name,
            body.description.as_deref(),
            &audit.path_named(),
        )
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                ApiError::bad_request(messages::jwk_not_found_for_update(&name))
            }
            StoreError::AlreadyExists => {
                ApiError::bad_request(messages::jwk_exists(new_name.unwrap_or(&name)))
            }
            other => other.into(),
        })?;
    Ok(Success::one(JwkSummary::from(&jwk)).deployment(app.publisher.settle(&deployed).await))
}

/// Undeploy a JWK from every environment and delete it.
#[utoipa::path(delete, path = "/apiops/projects/{projectName}/jwks/{jwkName}", tag = "JWKs",
    params(("projectName" = String, Path), ("jwkName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn delete_jwk(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let deployed = app
        .store
        .delete_jwk(&project.id, &name, &audit.path_named())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::bad_request(messages::jwk_not_found(&name)),
            other => other.into(),
        })?;
    Ok(Success::empty()
        .message(format!("JWK (name: {name}) is deleted."))
        .deployment(app.publisher.settle(&deployed).await))
}
