//! Certificate files (reference §2.1.8–§2.1.10): import a certificate file or the ZIP its export
//! writes, export an environment's truststore as a ZIP, import a CA bundle into an environment.

use std::collections::HashMap;
use std::io::Write;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use keyward_store::{CertificateMerge, Environment, JwkUpdateAction, StoreError};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::fields::QueryFields;
use super::file_import::{Form, is_zip, mapping_error, read_form, read_zip};
use crate::audit::{Audit, Declared, Name};
use crate::envelope::Success;
use crate::error::{ApiError, ApiResult};
use crate::permissions::Need;
use crate::{AppState, Caller, messages};
use keyward_core::certificates::{CertificateItem, entries_for, merge_one, parse_upload_as};
use keyward_core::{
    ADMIN_PROJECT, check_name, environment_named, one_of, project_for, required, required_name,
};

/// What each route records in the audit trail (`crate::audit`).
pub(super) const AUDIT: &[Declared] = &[
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/certificates/import-file",
        "import-file",
        "certificate",
        Name::Body("certificateName"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/certificates/truststore/{environmentName}/import-file",
        "import-file",
        "truststore",
        Name::Path("environmentName"),
    ),
    Declared::private_read(
        "/apiops/projects/{projectName}/certificates/truststore/{environmentName}/export-file",
        "export-file",
        "truststore",
        Name::Path("environmentName"),
    ),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_certificate_file))
        .routes(routes!(export_truststore_file))
        .routes(routes!(import_truststore_file))
}

/// The multipart form of `import-file`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct CertificateFileImport {
    /// PEM or DER certificate (a chain in any order), or the ZIP `export` writes.
    #[schema(value_type = String, format = Binary)]
    certificate_file: Vec<u8>,
    /// The certificate to create, or to update in the imported environments only.
    certificate_name: String,
    /// Alias of every imported entry, unique per environment.
    alias: String,
    /// Comma-separated environment names; required for a single file, ignored for a ZIP.
    environment_list: Option<String>,
    /// ZIP only: JSON `{"<archive environment>":"<target environment>"}`; an empty value skips it.
    environment_mapping: Option<String>,
    /// Kept as it is on update when absent.
    certificate_description: Option<String>,
    /// `NULLIFY` (default) or `UPDATE`: what happens to JWKs derived from an updated certificate.
    jwk_update_action: Option<String>,
    /// With UPDATE: `SAME_PROJECT` (default) or `ALL_PROJECTS`.
    update_scope: Option<String>,
}

/// The multipart form of the truststore `import-file`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct TruststoreFileImport {
    /// A ZIP of certificate files, or one certificate file.
    #[schema(value_type = String, format = Binary)]
    truststore_file: Vec<u8>,
    /// Put before each file name (without extension) to make the certificate name and alias.
    name_prefix: Option<String>,
}

const JWK_UPDATE_ACTIONS: &[&str] = &["NULLIFY", "UPDATE"];
const UPDATE_SCOPES: &[&str] = &["SAME_PROJECT", "ALL_PROJECTS"];

fn update_action(form: &Form) -> ApiResult<JwkUpdateAction> {
    let update = one_of(
        "jwkUpdateAction",
        form.text("jwkUpdateAction").unwrap_or("NULLIFY"),
        |a| JWK_UPDATE_ACTIONS.contains(&a).then_some(a == "UPDATE"),
        JWK_UPDATE_ACTIONS,
    )?;
    let all_projects = one_of(
        "updateScope",
        form.text("updateScope").unwrap_or("SAME_PROJECT"),
        |s| UPDATE_SCOPES.contains(&s).then_some(s == "ALL_PROJECTS"),
        UPDATE_SCOPES,
    )?;
    Ok(if update {
        JwkUpdateAction::Update { all_projects }
    } else {
        JwkUpdateAction::Nullify
    })
}

/// The file name without folders and without its last extension.
fn stem(file_name: &str) -> &str {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or_default();
    match base.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s,
        _ => base,
    }
}

fn store_error(e: StoreError, name: &str) -> ApiError {
    match e {
        StoreError::AlreadyExists => ApiError::bad_request(messages::certificate_exists(name)),
        StoreError::NotFound => ApiError::bad_request(messages::certificate_not_found(name)),
        other => other.into(),
    }
}

/// Import a certificate file (multipart): `certificateFile` (PEM or DER, or the ZIP `export`
/// writes, whose `<certificateName>-<environmentName>.cer` entries are matched by environment name
/// or through `environmentMapping`), `certificateName`, `alias`, `environmentList` (single file),
/// `certificateDescription`, `jwkUpdateAction`/`updateScope`. The certificate is created if
/// missing; the imported environments get the new content and are deployed, the others are kept.
/// Needs `SECRETS`+`EXPORT_IMPORT` and, as it deploys, `SECRETS`+`MANAGE`+`DEPLOY_UNDEPLOY`.
#[utoipa::path(post, path = "/apiops/projects/{projectName}/certificates/import-file", tag = "Certificates",
    params(("projectName" = String, Path)),
    request_body(content = CertificateFileImport, content_type = "multipart/form-data"),
    responses((status = 200, description = "Imported and deployed; `unresolvedReferences` lists what was left out", body = crate::openapi::SuccessEnvelope),
        (status = 400, body = crate::openapi::ErrorEnvelope), (status = 413, body = crate::openapi::ErrorEnvelope)))]
async fn import_certificate_file(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    QueryFields(query): QueryFields,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Success> {
    let form = read_form(multipart, query, "certificateFile", &app.config).await?;
    let project = project_for(&app, &caller, &project, Need::Export).await?;
    if !caller.may(&project.id, Need::ManageAndDeploy) {
        return Err(ApiError::denied());
    }
    let name = required_name("certificateName", form.text("certificateName"))?;
    let alias = required("alias", form.text("alias"))?;
    let action = update_action(&form)?;
    let bytes = match &form.file {
        Some((_, b)) if !b.iter().all(u8::is_ascii_whitespace) => b,
        _ => return Err(ApiError::bad_request(messages::empty("certificateFile"))),
    };
    let mut unresolved = Vec::new();
    // (environment, file) per imported environment.
    let mut files: Vec<(Environment, Vec<u8>, Option<String>)> = Vec::new();
    if is_zip(bytes) {
        let mapping: Option<HashMap<String, String>> = match form.text("environmentMapping") {
            None => None,
            Some(raw) => Some(serde_json::from_str(raw).map_err(|_| mapping_error(raw))?),
        };
        let prefix = format!("{name}-");
        for entry in read_zip(bytes, "certificateFile")? {
            let package_env = entry
                .name
                .strip_prefix(&prefix)
                .and_then(|rest| {
                    let (env, ext) = rest.rsplit_once('.')?;
                    ext.eq_ignore_ascii_case("cer").then_some(env)
                })
                .filter(|env| !env.is_empty());
            let Some(package_env) = package_env else {
                unresolved.push(messages::archive_entry_ignored(&entry.name, &name));
                continue;
            };
            let target = match mapping.as_ref().and_then(|m| m.get(package_env)) {
                Some(t) if t.trim().is_empty() => {
                    unresolved.push(messages::environment_left_out(package_env));
                    continue;
                }
                Some(t) => t.trim().to_owned(),
                None => package_env.to_owned(),
            };
            let env = environment_named(&app, &target).await?;
            if files.iter().any(|(e, _, _)| e.id == env.id) {
                return Err(ApiError::bad_request(messages::environment_repeated(
                    &env.name,
                    "certificateFile",
                )));
            }
            files.push((env, entry.bytes, Some(entry.name)));
        }
        if files.is_empty() {
            return Err(ApiError::bad_request(
                messages::archive_without_certificate(&name),
            ));
        }
    } else {
        let list = form
            .text("environmentList")
            .ok_or_else(|| ApiError::bad_request(messages::empty("environmentList")))?;
        for env_name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let env = environment_named(&app, env_name).await?;
            if !files.iter().any(|(e, _, _)| e.id == env.id) {
                files.push((env, bytes.clone(), None));
            }
        }
        if files.is_empty() {
            return Err(ApiError::bad_request(messages::empty("environmentList")));
        }
    }
    let mut entries = Vec::with_capacity(files.len());
    for (env, file, entry_name) in &files {
        let chain = parse_upload_as(file, "certificateFile").map_err(|e| match entry_name {
            Some(n) => {
                ApiError::bad_request(messages::archive_entry_not_certificate(n, &e.message))
            }
            None => e.into(),
        })?;
        entries.extend(entries_for(&chain, &alias, std::slice::from_ref(env)));
    }
    let merge = CertificateMerge {
        name: name.clone(),
        description: form.text("certificateDescription").map(str::to_owned),
        entries,
    };
    let deployed = merge_one(&app, &project.id, &merge, action, &audit.named(&name))
        .await?
        .map_err(|e| store_error(e, &name))?;
    let cert = app
        .store
        .certificate(&project.id, &name)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(certificate = %name, project = %project.name, "certificate file imported");
    Ok(Success::list(cert.as_ref().map(CertificateItem::from))
        .deployment(app.publisher.settle(&deployed).await)
        .unresolved(unresolved))
}

/// Export an environment's truststore as a ZIP `<environmentName>-truststore.zip` of PEM files,
/// one `<alias>.cer` per certificate (`certificate-1.cer`, … without a usable alias). In the
/// `admin` project: every project's certificates in the environment; elsewhere: the project's own.
#[utoipa::path(get, path = "/apiops/projects/{projectName}/certificates/truststore/{environmentName}/export-file", tag = "Certificates",
    params(("projectName" = String, Path), ("environmentName" = String, Path)),
    responses((status = 200, description = "ZIP archive", content_type = "application/octet-stream"),
        (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn export_truststore_file(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((project, environment)): Path<(String, String)>,
) -> ApiResult<Response> {
    let project = project_for(&app, &caller, &project, Need::Export).await?;
    let environment = required("environmentName", Some(&environment))?;
    let env = environment_named(&app, &environment).await?;
    let mut certs = app
        .store
        .truststore(&env.id)
        .await
        .map_err(ApiError::internal)?;
    if project.name != ADMIN_PROJECT {
        certs.retain(|c| c.project_id == project.id);
    }
    let entries: Vec<_> = certs.iter().flat_map(|c| c.entries.iter()).collect();
    if entries.is_empty() {
        return Err(ApiError::bad_request(messages::truststore_empty(&env.name)));
    }
    let exportable: Vec<_> = entries.iter().filter(|e| !e.leaf_der.is_empty()).collect();
    if exportable.is_empty() {
        return Err(ApiError::bad_request(
            messages::truststore_without_material(&env.name, entries.len()),
        ));
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut used: Vec<String> = Vec::new();
    let mut unnamed = 0;
    for e in exportable {
        let alias = e.alias.trim().replace(['/', '\\', ':'], "_");
        let mut file = format!("{alias}.cer");
        if alias.is_empty() || alias == "." || alias == ".." || used.contains(&file) {
            loop {
                unnamed += 1;
                file = format!("certificate-{unnamed}.cer");
                if !used.contains(&file) {
                    break;
                }
            }
        }
        zip.start_file(file.as_str(), options)
            .map_err(ApiError::internal)?;
        zip.write_all(keyward_jose::pem::encode("CERTIFICATE", &e.leaf_der).as_bytes())
            .map_err(ApiError::internal)?;
        used.push(file);
    }
    let bytes = zip.finish().map_err(ApiError::internal)?.into_inner();
    let disposition = format!(
        "attachment; filename=\"{}-truststore.zip\"",
        env.name.replace(['"', '\\'], "")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// Import a CA bundle into one environment (multipart): `truststoreFile` (a ZIP of certificate
/// files, or one file) and `namePrefix`. Each file name without its extension, after the prefix,
/// becomes a certificate's name and alias; an existing certificate of that name is updated in this
/// environment only. Files that cannot be imported are listed in `unresolvedReferences`; all the
/// others are written in one transaction and deployed to the environment, like every write: needs
/// `SECRETS`+`EXPORT_IMPORT` and `SECRETS`+`MANAGE`+`DEPLOY_UNDEPLOY`.
#[utoipa::path(post, path = "/apiops/projects/{projectName}/certificates/truststore/{environmentName}/import-file", tag = "Certificates",
    params(("projectName" = String, Path), ("environmentName" = String, Path)),
    request_body(content = TruststoreFileImport, content_type = "multipart/form-data"),
    responses((status = 200, description = "`resultList` of the imported certificate names", body = crate::openapi::SuccessEnvelope),
        (status = 400, body = crate::openapi::ErrorEnvelope), (status = 413, body = crate::openapi::ErrorEnvelope)))]
async fn import_truststore_file(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path((project, environment)): Path<(String, String)>,
    QueryFields(query): QueryFields,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Success> {
    let form = read_form(multipart, query, "truststoreFile", &app.config).await?;
    let project = project_for(&app, &caller, &project, Need::Export).await?;
    // Every write deploys (00-product §1), this one included.
    if !caller.may(&project.id, Need::ManageAndDeploy) {
        return Err(ApiError::denied());
    }
    let environment = required("environmentName", Some(&environment))?;
    let env = environment_named(&app, &environment).await?;
    let (file_name, bytes) = match &form.file {
        Some((n, b)) if !b.iter().all(u8::is_ascii_whitespace) => (n.clone(), b),
        _ => return Err(ApiError::bad_request(messages::empty("truststoreFile"))),
    };
    let prefix = form
        .fields
        .get("namePrefix")
        .map(|p| p.trim().to_owned())
        .unwrap_or_default();
    let files: Vec<(String, Vec<u8>)> = if is_zip(bytes) {
        read_zip(bytes, "truststoreFile")?
            .into_iter()
            .map(|f| (f.name, f.bytes))
            .collect()
    } else {
        let name = file_name
            .as_deref()
            .map(stem)
            .filter(|s| !s.is_empty())
            .unwrap_or("certificate-1")
            .to_owned();
        vec![(format!("{name}.cer"), bytes.clone())]
    };
    if files.is_empty() {
        return Err(ApiError::bad_request(messages::BUNDLE_WITHOUT_FILE));
    }
    // Aliases this environment already holds, and by which certificate (project id, name).
    let held: Vec<(String, String, String)> = app
        .store
        .truststore(&env.id)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .flat_map(|c| {
            c.entries
                .into_iter()
                .map(move |e| (e.alias, c.project_id.clone(), c.name.clone()))
        })
        .collect();
    let mut unresolved = Vec::new();
    let mut merges: Vec<CertificateMerge> = Vec::new();
    for (file, content) in files {
        let name = format!("{prefix}{}", stem(&file));
        let refuse = |reason: String| messages::bundle_entry_failed(&name, &reason);
        if let Err(e) = check_name("certificateName", &name) {
            unresolved.push(refuse(e.message));
            continue;
        }
        if merges.iter().any(|m| m.name == name) {
            unresolved.push(refuse(format!(
                "another file of the bundle ({file}) gives the same name!"
            )));
            continue;
        }
        if held
            .iter()
            .any(|(a, p, n)| *a == name && (*p != project.id || *n != name))
        {
            unresolved.push(refuse(messages::alias_in_use(&name)));
            continue;
        }
        match parse_upload_as(&content, "truststoreFile") {
            Ok(chain) => merges.push(CertificateMerge {
                name: name.clone(),
                description: None,
                entries: entries_for(&chain, &name, std::slice::from_ref(&env)),
            }),
            Err(e) => unresolved.push(refuse(e.message)),
        }
    }
    if merges.is_empty() {
        return Err(ApiError::bad_request(messages::bundle_nothing_imported(
            &unresolved,
        )));
    }
    let (_, deployed) = app
        .store
        .merge_certificates(
            &project.id,
            &merges,
            JwkUpdateAction::Nullify,
            &[],
            &audit.path_named(),
        )
        .await
        .map_err(|e| store_error(e, &merges[0].name))?;
    tracing::info!(environment = %env.name, project = %project.name, count = merges.len(), "truststore bundle imported");
    Ok(Success::list(merges.iter().map(|m| m.name.clone()))
        .unresolved(unresolved)
        .deployment(app.publisher.settle(&deployed).await))
}
