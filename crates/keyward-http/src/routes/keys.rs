//! Crypto keys (reference §2.2): list, get, create, partial update, delete. Lists and gets never
//! return key content.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::response::Response;
use keyward_store::{KIND_KEY, StoreError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::fields::QueryFields;
use super::file_import::{files_per_environment, read_form};
use super::schemas;
use crate::audit::{Audit, Declared, Name};
use crate::envelope::Success;
use crate::error::{ApiError, ApiResult};
use crate::permissions::Need;
use crate::{AppState, Caller, messages};
use keyward_core::file_export::{self, ExportFile};
use keyward_core::keys::{
    KeyImport, draft_for_import, parse_key_type, parse_secret_algorithm_any_case,
};
use keyward_core::keys::{
    KeyInput, KeyItem, delete_action, derivation, draft_for_create, draft_for_update, update_action,
};
use keyward_core::{project_for, required, required_name, with_rederived};

/// What each route records in the audit trail (`crate::audit`).
pub(super) const AUDIT: &[Declared] = &[
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/keys",
        "create",
        "key",
        Name::Body("name"),
    ),
    Declared::mutation(
        "PUT",
        "/apiops/projects/{projectName}/keys/{keyName}",
        "update",
        "key",
        Name::Path("keyName"),
    ),
    Declared::mutation(
        "DELETE",
        "/apiops/projects/{projectName}/keys/{keyName}",
        "delete",
        "key",
        Name::Path("keyName"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/keys/import-file",
        "import-file",
        "key",
        Name::Body("keyName"),
    ),
    Declared::private_read(
        "/apiops/projects/{projectName}/keys/{keyName}/export-file",
        "export-file",
        "key",
        Name::Path("keyName"),
    ),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(get_key, update_key, delete_key))
        .routes(routes!(export_key_file))
        .routes(routes!(import_key_file))
}

/// List the project's keys: environment names and aliases, never the content.
#[utoipa::path(get, path = "/apiops/projects/{projectName}/keys", tag = "Keys",
    params(("projectName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn list_keys(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::Read).await?;
    let keys = app
        .store
        .list_keys(&project.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(keys.iter().map(KeyItem::from)))
}

/// Get one key (never its content).
#[utoipa::path(get, path = "/apiops/projects/{projectName}/keys/{keyName}", tag = "Keys",
    params(("projectName" = String, Path), ("keyName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn get_key(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::Read).await?;
    let key = app
        .store
        .key(&project.id, &name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_request(messages::key_not_found(&name)))?;
    Ok(Success::one(KeyItem::from(&key)))
}

/// Create a key and deploy it to the listed environments. PRIVATE_KEY/PUBLIC_KEY content is
/// parsed at import (any common format; an encrypted private key needs the entry's `password`
/// and is stored decrypted); SECRET_KEY content is the raw key bytes, base64.
#[utoipa::path(post, path = "/apiops/projects/{projectName}/keys", tag = "Keys",
    params(("projectName" = String, Path)), request_body = schemas::KeyInputDoc,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn create_key(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    Json(body): Json<KeyInput>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let draft = draft_for_create(&app, &body).await?;
    let (id, deployed) = app
        .store
        .create_key(&project.id, &draft, &audit.named(&draft.name))
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists => {
                ApiError::bad_request(messages::key_exists_on_create(&draft.name))
            }
            other => other.into(),
        })?;
    tracing::info!(key = %draft.name, id = %id, project = %project.name, "key created");
    let key = app
        .store
        .key(&project.id, &draft.name)
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(key.as_ref().map(KeyItem::from))
        .deployment(app.publisher.settle(&deployed).await))
}

/// Partially update a key: only the given fields change; a given `cryptoKeyInfoEnvironmentList`
/// replaces every entry. When the material changes, `jwkUpdateAction` decides what happens to
/// the JWKs derived from it.
#[utoipa::path(put, path = "/apiops/projects/{projectName}/keys/{keyName}", tag = "Keys",
    params(("projectName" = String, Path), ("keyName" = String, Path),
        ("jwkUpdateAction" = Option<String>, Query, description = "`NULLIFY` (default): unlink derived JWKs; `UPDATE`: re-derive them"),
        ("updateScope" = Option<String>, Query, description = "With UPDATE: `SAME_PROJECT` (default) or `ALL_PROJECTS`")),
    request_body = schemas::KeyInputDoc,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn update_key(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path((project, name)): Path<(String, String)>,
    QueryFields(query): QueryFields,
    Json(body): Json<KeyInput>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let action = update_action(&query)?;
    let current = app
        .store
        .key(&project.id, &name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_request(messages::key_not_found(&name)))?;
    let draft = draft_for_update(&app, &current, &body).await?;
    // Derived JWKs follow only a change of material (not a rename or a new description).
    let material_changed = body.crypto_key_info_environment_list.is_some()
        || draft.key_type != current.key_type
        || draft.algorithm != current.algorithm;
    let rec = audit.path_named();
    let deployed = with_rederived(
        &app,
        KIND_KEY,
        &project.id,
        &name,
        material_changed.then_some(action),
        || derivation(&draft),
        |rederived| {
            let cascade = material_changed.then(|| (action, rederived.unwrap_or_default()));
            app.store
                .replace_key(&project.id, &name, &draft, cascade, &rec)
        },
    )
    .await?
    .map_err(|e| match e {
        StoreError::Conflict => ApiError::bad_request(messages::changed_meanwhile("Key", &name)),
        StoreError::NotFound => ApiError::bad_request(messages::key_not_found(&name)),
        StoreError::AlreadyExists => ApiError::bad_request(messages::key_exists(&draft.name)),
        other => other.into(),
    })?;
    let key = app
        .store
        .key(&project.id, &draft.name)
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(key.as_ref().map(KeyItem::from))
        .deployment(app.publisher.settle(&deployed).await))
}

/// Delete a key and undeploy it; `jwkDeleteAction` decides what happens to derived JWKs.
#[utoipa::path(delete, path = "/apiops/projects/{projectName}/keys/{keyName}", tag = "Keys",
    params(("projectName" = String, Path), ("keyName" = String, Path),
        ("jwkDeleteAction" = Option<String>, Query, description = "`NULLIFY` (default): keep derived JWKs unlinked; `DELETE`: delete them")),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn delete_key(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path((project, name)): Path<(String, String)>,
    QueryFields(query): QueryFields,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let action = delete_action(&query)?;
    let deployed = app
        .store
        .delete_key(&project.id, &name, action, &audit.path_named())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::bad_request(messages::key_not_found(&name)),
            other => other.into(),
        })?;
    Ok(Success::empty()
        .message(format!("Key (name: {name}) is deleted."))
        .deployment(app.publisher.settle(&deployed).await))
}

/// Export a key's content as a file: with `environmentName`, that environment's file
/// (`<keyName>-<environmentName>.pem`; DER uploads `.der`, secret keys `.key`); without, a ZIP
/// `<keyName>-keys.zip` of one file per environment. A private key is exported decrypted.
#[utoipa::path(get, path = "/apiops/projects/{projectName}/keys/{keyName}/export-file", tag = "Keys",
    params(("projectName" = String, Path), ("keyName" = String, Path), ("environmentName" = Option<String>, Query)),
    responses((status = 200, description = "PEM file or ZIP archive", content_type = "application/octet-stream"),
        (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn export_key_file(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((project, name)): Path<(String, String)>,
    QueryFields(query): QueryFields,
) -> ApiResult<Response> {
    let project = project_for(&app, &caller, &project, Need::Export).await?;
    let key = app
        .store
        .key(&project.id, &name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_request(messages::key_not_found(&name)))?;
    let secret = key.key_type == "SECRET_KEY";
    let files = key
        .entries
        .into_iter()
        .map(|e| {
            let pem = !secret && e.content.starts_with(b"-----BEGIN");
            ExportFile {
                environment_name: e.environment_name,
                bytes: e.content,
                extension: if secret {
                    ".key"
                } else if pem {
                    ".pem"
                } else {
                    ".der"
                },
                content_type: if pem {
                    "application/x-pem-file"
                } else {
                    "application/octet-stream"
                },
            }
        })
        .collect();
    let env = query
        .get("environmentName")
        .map(String::as_str)
        .filter(|e| !e.is_empty());
    Ok(crate::envelope::download(file_export::export(
        &name, files, env, "keys",
    )?))
}

/// Import a key file (multipart): `keyFile` (PEM, DER or base64 of either; raw bytes for a
/// SECRET_KEY; or a ZIP from `export-file`), `keyName`, `keyType`, `algorithm` (case-insensitive),
/// `environmentList` (single file), `environmentMapping` (ZIP), `keyDescription`, `alias`,
/// `password` (encrypted private key), `override` (update the existing key: the imported
/// environments are replaced or added, the others kept; `jwkUpdateAction`/`updateScope` apply).
#[utoipa::path(post, path = "/apiops/projects/{projectName}/keys/import-file", tag = "Keys",
    params(("projectName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn import_key_file(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    QueryFields(query): QueryFields,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Success> {
    // Import writes and deploys: SECRETS+EXPORT_IMPORT and SECRETS+MANAGE+DEPLOY_UNDEPLOY.
    let project = project_for(&app, &caller, &project, Need::Export).await?;
    if !caller.may(&project.id, Need::ManageAndDeploy) {
        return Err(ApiError::denied());
    }
    let form = read_form(multipart, query, "keyFile", &app.config).await?;
    let name = required_name("keyName", form.text("keyName"))?;
    let key_type = parse_key_type(&required("keyType", form.text("keyType"))?)?;
    let algorithm = form
        .text("algorithm")
        .map(parse_secret_algorithm_any_case)
        .transpose()?;
    let overwrite = form.flag("override")?;
    let action = update_action(&form.fields)?;
    let current = app
        .store
        .key(&project.id, &name)
        .await
        .map_err(ApiError::internal)?;
    match (&current, overwrite) {
        (Some(_), false) => {
            return Err(ApiError::bad_request(messages::key_exists_on_import(&name)));
        }
        (None, true) => return Err(ApiError::bad_request(messages::key_not_found(&name))),
        _ => {}
    }
    let files = files_per_environment(&app, &form, "keyFile", &name).await?;
    let draft = draft_for_import(
        &app.heavy,
        current.as_ref(),
        KeyImport {
            name: name.clone(),
            description: form.text("keyDescription"),
            key_type,
            algorithm,
            alias: form.text("alias"),
            password: form.text("password"),
            files,
        },
    )
    .await?;
    let deployed = if current.is_some() {
        let rec = audit.named(&name);
        with_rederived(
            &app,
            KIND_KEY,
            &project.id,
            &name,
            Some(action),
            || derivation(&draft),
            |rederived| {
                let cascade = Some((action, rederived.unwrap_or_default()));
                app.store
                    .replace_key(&project.id, &name, &draft, cascade, &rec)
            },
        )
        .await?
    } else {
        app.store
            .create_key(&project.id, &draft, &audit.named(&name))
            .await
            .map(|(_, deployed)| deployed)
    }
    .map_err(|e| match e {
        StoreError::AlreadyExists => ApiError::bad_request(messages::key_exists_on_import(&name)),
        StoreError::Conflict => ApiError::bad_request(messages::changed_meanwhile("Key", &name)),
        StoreError::NotFound => ApiError::bad_request(messages::key_not_found(&name)),
        other => other.into(),
    })?;
    let key = app
        .store
        .key(&project.id, &name)
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(key.as_ref().map(KeyItem::from))
        .deployment(app.publisher.settle(&deployed).await))
}
