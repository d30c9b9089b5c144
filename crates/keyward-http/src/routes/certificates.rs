//! Certificates (reference §2.1): list, get, create, replace, delete, export, truststore.

use std::collections::HashMap;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use keyward_store::{JwkDeleteAction, JwkUpdateAction, KIND_CERTIFICATE, StoreError};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::fields::{self, QueryFields};
use crate::audit::{Audit, Declared, Name};
use crate::envelope::Success;
use crate::error::{ApiError, ApiResult};
use crate::permissions::Need;
use crate::{AppState, Caller, messages};
use keyward_core::certificates::{
    CertificateItem, derivation, entries_for, export_zip, parse_upload,
};
use keyward_core::{
    ADMIN_PROJECT, environment_named, one_of, project_for, required, required_name, with_rederived,
};

/// What each route records in the audit trail (`crate::audit`).
pub(super) const AUDIT: &[Declared] = &[
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/certificates",
        "create",
        "certificate",
        Name::Body("certificateName"),
    ),
    Declared::mutation(
        "PUT",
        "/apiops/projects/{projectName}/certificates/{certificateName}",
        "update",
        "certificate",
        Name::Path("certificateName"),
    ),
    Declared::mutation(
        "DELETE",
        "/apiops/projects/{projectName}/certificates/{certificateName}",
        "delete",
        "certificate",
        Name::Path("certificateName"),
    ),
    Declared::private_read(
        "/apiops/projects/{projectName}/certificates/{certificateName}/export",
        "export",
        "certificate",
        Name::Path("certificateName"),
    ),
    Declared::private_read(
        "/apiops/projects/{projectName}/certificates/{certificateName}/export-file",
        "export-file",
        "certificate",
        Name::Path("certificateName"),
    ),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_certificates, create_certificate))
        .routes(routes!(
            get_certificate,
            update_certificate,
            delete_certificate
        ))
        .routes(routes!(export_certificate))
        .routes(routes!(export_certificate_file))
        .routes(routes!(truststore))
}

/// The multipart form of create/update (every field may also come as a query parameter).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CertificateUpload {
    /// Unique in the project (create only; the path names it on update).
    certificate_name: Option<String>,
    /// Unique per environment.
    alias: String,
    certificate_description: Option<String>,
    /// Comma-separated environment names, e.g. `production,staging`.
    environment_list: String,
    /// PEM (one certificate or a chain in any order) or DER.
    #[schema(value_type = String, format = Binary)]
    pem_encoded_file: Vec<u8>,
}

/// Most multipart parts accepted in one upload.
/// Largest text field of an upload.
const MAX_TEXT_FIELD: usize = 64 * 1024;

struct Upload {
    fields: HashMap<String, String>,
    file: Option<Vec<u8>>,
}

impl Upload {
    fn text(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Reads the form fields and the `pemEncodedFile` part; query parameters are fields too, and a
/// field given twice is merged when it is a list and refused otherwise ([`fields`]). A request
/// without a multipart body is read from the query alone.
async fn read_upload(
    multipart: Result<Multipart, MultipartRejection>,
    query: HashMap<String, String>,
    config: &crate::Config,
) -> ApiResult<Upload> {
    let body_limit = config.body_limit;
    let max_parts = config.limits.max_parts;
    let broken = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(body_limit)
        } else {
            ApiError::bad_request(format!(
                "Request body is not valid multipart/form-data: {}",
                e.body_text()
            ))
        }
    };
    let mut upload = Upload {
        fields: HashMap::new(),
        file: None,
    };
    match multipart {
        Ok(mut mp) => {
            let mut parts = 0;
            while let Some(field) = mp.next_field().await.map_err(broken)? {
                parts += 1;
                if parts > max_parts {
                    return Err(ApiError::bad_request(messages::too_many_parts(max_parts)));
                }
                let name = field.name().unwrap_or_default().to_owned();
                if name == "pemEncodedFile" {
                    let bytes = field.bytes().await.map_err(broken)?.to_vec();
                    fields::once(&mut upload.file, "pemEncodedFile", bytes)?;
                } else {
                    let bytes = field.bytes().await.map_err(broken)?;
                    if bytes.len() > MAX_TEXT_FIELD {
                        return Err(ApiError::bad_request(format!("{name} value is too long!")));
                    }
                    let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                        ApiError::bad_request(format!("{name} value is not valid UTF-8!"))
                    })?;
                    fields::add(&mut upload.fields, name, text)?;
                }
            }
        }
        Err(MultipartRejection::InvalidBoundary(_)) if query.contains_key("alias") => {}
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "Request body must be multipart/form-data with a pemEncodedFile part: {}",
                e.body_text()
            )));
        }
    }
    fields::add_query(&mut upload.fields, query)?;
    Ok(upload)
}

/// Validates an upload into (alias, description, environments, chain).
async fn validate_upload(
    app: &AppState,
    upload: &Upload,
) -> ApiResult<(
    String,
    String,
    Vec<keyward_store::Environment>,
    Vec<keyward_jose::x509::Certificate>,
)> {
    let alias = required("alias", upload.text("alias"))?;
    let env_list = required("environmentList", upload.text("environmentList"))?;
    let file = match &upload.file {
        Some(f) if !f.iter().all(u8::is_ascii_whitespace) => f,
        _ => return Err(ApiError::bad_request(messages::empty("pemEncodedFile"))),
    };
    let mut names: Vec<&str> = env_list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    names.dedup();
    if names.is_empty() {
        return Err(ApiError::bad_request(messages::empty("environmentList")));
    }
    let mut envs = Vec::with_capacity(names.len());
    for name in names {
        let env = environment_named(app, name).await?;
        if !envs
            .iter()
            .any(|e: &keyward_store::Environment| e.id == env.id)
        {
            envs.push(env);
        }
    }
    let chain = parse_upload(file)?;
    let description = upload
        .text("certificateDescription")
        .unwrap_or_default()
        .to_owned();
    Ok((alias, description, envs, chain))
}

/// List the project's certificates with every environment entry.
#[utoipa::path(get, path = "/apiops/projects/{projectName}/certificates", tag = "Certificates",
    params(("projectName" = String, Path)),
    responses((status = 200, description = "`resultList` of certificates", body = crate::openapi::SuccessEnvelope),
        (status = 400, body = crate::openapi::ErrorEnvelope), (status = 401, body = crate::openapi::ErrorEnvelope)))]
async fn list_certificates(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::Read).await?;
    let certs = app
        .store
        .list_certificates(&project.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(certs.iter().map(CertificateItem::from)))
}

/// Get one certificate.
#[utoipa::path(get, path = "/apiops/projects/{projectName}/certificates/{certificateName}", tag = "Certificates",
    params(("projectName" = String, Path), ("certificateName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn get_certificate(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::Read).await?;
    let cert = app
        .store
        .certificate(&project.id, &name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_request(messages::certificate_not_found(&name)))?;
    Ok(Success::one(CertificateItem::from(&cert)))
}

/// Create a certificate from a PEM or DER upload and deploy it to the listed environments.
#[utoipa::path(post, path = "/apiops/projects/{projectName}/certificates", tag = "Certificates",
    params(("projectName" = String, Path)),
    request_body(content = CertificateUpload, content_type = "multipart/form-data"),
    responses((status = 200, description = "Created and deployed", body = crate::openapi::SuccessEnvelope),
        (status = 400, body = crate::openapi::ErrorEnvelope), (status = 413, body = crate::openapi::ErrorEnvelope)))]
async fn create_certificate(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    QueryFields(query): QueryFields,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Success> {
    // The (size-limited) body is read before answering even a refusal: a server that answers
    // while the client is still sending makes clients see a reset instead of the message.
    let upload = read_upload(multipart, query, &app.config).await?;
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let name = required_name("certificateName", upload.text("certificateName"))?;
    let (alias, description, envs, chain) = validate_upload(&app, &upload).await?;
    let entries = entries_for(&chain, &alias, &envs);
    let (id, deployed) = app
        .store
        .create_certificate(
            &project.id,
            &name,
            &description,
            &entries,
            &audit.named(&name),
        )
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists => ApiError::bad_request(messages::certificate_exists(&name)),
            other => other.into(),
        })?;
    let cert = app
        .store
        .certificate(&project.id, &name)
        .await
        .map_err(ApiError::internal)?;
    let item = cert.as_ref().map(CertificateItem::from);
    tracing::info!(certificate = %name, id = %id, project = %project.name, "certificate created");
    Ok(Success::list(item).deployment(app.publisher.settle(&deployed).await))
}

const JWK_UPDATE_ACTIONS: &[&str] = &["NULLIFY", "UPDATE"];
const UPDATE_SCOPES: &[&str] = &["SAME_PROJECT", "ALL_PROJECTS"];
const JWK_DELETE_ACTIONS: &[&str] = &["NULLIFY", "DELETE"];

/// Replace a certificate's content in every environment and redeploy it; `jwkUpdateAction`
/// decides what happens to the JWKs derived from it.
#[utoipa::path(put, path = "/apiops/projects/{projectName}/certificates/{certificateName}", tag = "Certificates",
    params(("projectName" = String, Path), ("certificateName" = String, Path),
        ("jwkUpdateAction" = Option<String>, Query, description = "`NULLIFY` (default): unlink derived JWKs; `UPDATE`: re-derive them"),
        ("updateScope" = Option<String>, Query, description = "With UPDATE: `SAME_PROJECT` (default) or `ALL_PROJECTS`")),
    request_body(content = CertificateUpload, content_type = "multipart/form-data"),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn update_certificate(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path((project, name)): Path<(String, String)>,
    QueryFields(mut query): QueryFields,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Success> {
    let action = query
        .remove("jwkUpdateAction")
        .unwrap_or_else(|| "NULLIFY".into());
    let scope = query
        .remove("updateScope")
        .unwrap_or_else(|| "SAME_PROJECT".into());
    let action = one_of(
        "jwkUpdateAction",
        &action,
        |a| JWK_UPDATE_ACTIONS.contains(&a).then_some(a == "UPDATE"),
        JWK_UPDATE_ACTIONS,
    )?;
    let all_projects = one_of(
        "updateScope",
        &scope,
        |s| UPDATE_SCOPES.contains(&s).then_some(s == "ALL_PROJECTS"),
        UPDATE_SCOPES,
    )?;
    let action = if action {
        JwkUpdateAction::Update { all_projects }
    } else {
        JwkUpdateAction::Nullify
    };
    let upload = read_upload(multipart, query, &app.config).await?;
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    if app
        .store
        .certificate(&project.id, &name)
        .await
        .map_err(ApiError::internal)?
        .is_none()
    {
        return Err(ApiError::bad_request(messages::certificate_not_found(
            &name,
        )));
    }
    let (alias, description, envs, chain) = validate_upload(&app, &upload).await?;
    let entries = entries_for(&chain, &alias, &envs);
    let rec = audit.path_named();
    let deployed = with_rederived(
        &app,
        KIND_CERTIFICATE,
        &project.id,
        &name,
        Some(action),
        || derivation(entries.clone()),
        |rederived| {
            app.store.replace_certificate(
                &project.id,
                &name,
                &description,
                &entries,
                action,
                rederived,
                &rec,
            )
        },
    )
    .await?
    .map_err(|e| match e {
        StoreError::NotFound => ApiError::bad_request(messages::certificate_not_found(&name)),
        other => other.into(),
    })?;
    let cert = app
        .store
        .certificate(&project.id, &name)
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(cert.as_ref().map(CertificateItem::from))
        .deployment(app.publisher.settle(&deployed).await))
}

/// Delete a certificate and undeploy it; `jwkDeleteAction` decides what happens to derived JWKs.
#[utoipa::path(delete, path = "/apiops/projects/{projectName}/certificates/{certificateName}", tag = "Certificates",
    params(("projectName" = String, Path), ("certificateName" = String, Path),
        ("jwkDeleteAction" = Option<String>, Query, description = "`NULLIFY` (default): keep derived JWKs, unlinked; `DELETE`: delete them")),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn delete_certificate(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path((project, name)): Path<(String, String)>,
    QueryFields(query): QueryFields,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let action = query
        .get("jwkDeleteAction")
        .map(String::as_str)
        .unwrap_or("NULLIFY");
    let action = one_of(
        "jwkDeleteAction",
        action,
        |a| match a {
            "NULLIFY" => Some(JwkDeleteAction::Nullify),
            "DELETE" => Some(JwkDeleteAction::Delete),
            _ => None,
        },
        JWK_DELETE_ACTIONS,
    )?;
    let deployed = app
        .store
        .delete_certificate(&project.id, &name, action, &audit.path_named())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::bad_request(messages::certificate_not_found(&name)),
            other => other.into(),
        })?;
    Ok(Success::empty()
        .message(format!("Certificate (name: {name}) is deleted."))
        .deployment(app.publisher.settle(&deployed).await))
}

async fn export(
    app: &AppState,
    caller: &crate::permissions::Principal,
    project: &str,
    name: &str,
    environment: Option<&str>,
) -> ApiResult<Response> {
    let project = project_for(app, caller, project, Need::Export).await?;
    let cert = app
        .store
        .certificate(&project.id, name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_request(messages::certificate_not_found(name)))?;
    if let Some(env) = environment
        && !cert.entries.iter().any(|e| e.environment_name == env)
    {
        return Err(ApiError::bad_request(
            messages::certificate_lacks_environment(name, env),
        ));
    }
    let zip = export_zip(&cert, environment)?;
    let disposition = format!(
        "attachment; filename=\"{}-certificates.zip\"",
        cert.name.replace('"', "")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        zip,
    )
        .into_response())
}

/// Export a certificate as a ZIP of `{name}-{environment}.cer` files (DER), one per environment.
#[utoipa::path(get, path = "/apiops/projects/{projectName}/certificates/{certificateName}/export", tag = "Certificates",
    params(("projectName" = String, Path), ("certificateName" = String, Path)),
    responses((status = 200, description = "ZIP archive", content_type = "application/octet-stream"),
        (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn export_certificate(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    export(&app, &caller, &project, &name, None).await
}

/// Same as `export`, optionally limited to one environment.
#[utoipa::path(get, path = "/apiops/projects/{projectName}/certificates/{certificateName}/export-file", tag = "Certificates",
    params(("projectName" = String, Path), ("certificateName" = String, Path), ("environmentName" = Option<String>, Query)),
    responses((status = 200, description = "ZIP archive", content_type = "application/octet-stream"),
        (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn export_certificate_file(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((project, name)): Path<(String, String)>,
    QueryFields(query): QueryFields,
) -> ApiResult<Response> {
    let env = query
        .get("environmentName")
        .map(String::as_str)
        .filter(|e| !e.is_empty());
    export(&app, &caller, &project, &name, env).await
}

/// The certificates deployed in an environment, from every project (admin project only).
#[utoipa::path(get, path = "/apiops/projects/{projectName}/certificates/truststore/{environmentName}", tag = "Certificates",
    params(("projectName" = String, Path, description = "Must be `admin`"), ("environmentName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn truststore(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((project, environment)): Path<(String, String)>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::Read).await?;
    if project.name != ADMIN_PROJECT {
        return Err(ApiError::bad_request(messages::TRUSTSTORE_ADMIN_ONLY));
    }
    let environment = required("environmentName", Some(&environment))?;
    let env = environment_named(&app, &environment).await?;
    let certs = app
        .store
        .truststore(&env.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(certs.iter().map(CertificateItem::from)))
}
