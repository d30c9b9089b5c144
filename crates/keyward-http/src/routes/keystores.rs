//! Keystores (reference §2.3): list, get, create, partial update, delete. Lists and gets never
//! return the file or a password (the password is not even stored).

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::response::Response;
use keyward_store::{KIND_KEYSTORE, StoreError};
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
use keyward_core::keys::{delete_action, update_action};
use keyward_core::keystores::{KeystoreImport, draft_for_import, import_type};
use keyward_core::keystores::{
    KeystoreInput, KeystoreItem, derivation, draft_for_create, draft_for_update,
};
use keyward_core::{project_for, required_name, with_rederived};

/// What each route records in the audit trail (`crate::audit`).
pub(super) const AUDIT: &[Declared] = &[
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/keystores",
        "create",
        "keystore",
        Name::Body("name"),
    ),
    Declared::mutation(
        "PUT",
        "/apiops/projects/{projectName}/keystores/{keystoreName}",
        "update",
        "keystore",
        Name::Path("keystoreName"),
    ),
    Declared::mutation(
        "DELETE",
        "/apiops/projects/{projectName}/keystores/{keystoreName}",
        "delete",
        "keystore",
        Name::Path("keystoreName"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/keystores/import-file",
        "import-file",
        "keystore",
        Name::Body("keystoreName"),
    ),
    Declared::private_read(
        "/apiops/projects/{projectName}/keystores/{keystoreName}/export-file",
        "export-file",
        "keystore",
        Name::Path("keystoreName"),
    ),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keystores, create_keystore))
        .routes(routes!(get_keystore, update_keystore, delete_keystore))
        .routes(routes!(export_keystore_file))
        .routes(routes!(import_keystore_file))
}

/// List the project's keystores: environment names, default aliases and types; never a file or
/// password.
#[utoipa::path(get, path = "/apiops/projects/{projectName}/keystores", tag = "Keystores",
    params(("projectName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn list_keystores(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::Read).await?;
    let keystores = app
        .store
        .list_keystores(&project.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(keystores.iter().map(KeystoreItem::from)))
}

/// Get one keystore (never its file or password).
#[utoipa::path(get, path = "/apiops/projects/{projectName}/keystores/{keystoreName}", tag = "Keystores",
    params(("projectName" = String, Path), ("keystoreName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn get_keystore(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::Read).await?;
    let keystore = app
        .store
        .keystore(&project.id, &name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_request(messages::keystore_not_found(&name)))?;
    Ok(Success::one(KeystoreItem::from(&keystore)))
}

/// Create a keystore and deploy it to the listed environments. Each file is opened once, here
/// (JKS or PKCS12, `password`; the `alias` must exist in it); what it holds is kept and the
/// password is not stored.
#[utoipa::path(post, path = "/apiops/projects/{projectName}/keystores", tag = "Keystores",
    params(("projectName" = String, Path)), request_body = schemas::KeystoreInputDoc,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn create_keystore(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    Json(body): Json<KeystoreInput>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let draft = draft_for_create(&app, &body).await?;
    let (id, deployed) = app
        .store
        .create_keystore(&project.id, &draft, &audit.named(&draft.name))
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists => {
                ApiError::bad_request(messages::keystore_exists_on_create(&draft.name))
            }
            other => other.into(),
        })?;
    tracing::info!(keystore = %draft.name, id = %id, project = %project.name, "keystore created");
    let keystore = app
        .store
        .keystore(&project.id, &draft.name)
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(keystore.as_ref().map(KeystoreItem::from))
        .deployment(app.publisher.settle(&deployed).await))
}

/// Partially update a keystore: only the given fields change; a given `keyStoreEnvironmentList`
/// replaces every entry. When the material changes, `jwkUpdateAction` decides what happens to
/// the JWKs derived from it.
#[utoipa::path(put, path = "/apiops/projects/{projectName}/keystores/{keystoreName}", tag = "Keystores",
    params(("projectName" = String, Path), ("keystoreName" = String, Path),
        ("jwkUpdateAction" = Option<String>, Query, description = "`NULLIFY` (default): unlink derived JWKs; `UPDATE`: re-derive them"),
        ("updateScope" = Option<String>, Query, description = "With UPDATE: `SAME_PROJECT` (default) or `ALL_PROJECTS`")),
    request_body = schemas::KeystoreInputDoc,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn update_keystore(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path((project, name)): Path<(String, String)>,
    QueryFields(query): QueryFields,
    Json(body): Json<KeystoreInput>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let action = update_action(&query)?;
    let current = app
        .store
        .keystore(&project.id, &name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_request(messages::keystore_not_found(&name)))?;
    let draft = draft_for_update(&app, &current, &body).await?;
    // Derived JWKs follow only a change of material (not a rename or a new description).
    let material_changed = body.key_store_environment_list.is_some();
    let rec = audit.path_named();
    let deployed = with_rederived(
        &app,
        KIND_KEYSTORE,
        &project.id,
        &name,
        material_changed.then_some(action),
        || derivation(&draft),
        |rederived| {
            let cascade = material_changed.then(|| (action, rederived.unwrap_or_default()));
            app.store
                .replace_keystore(&project.id, &name, &draft, cascade, &rec)
        },
    )
    .await?
    .map_err(|e| match e {
        StoreError::Conflict => {
            ApiError::bad_request(messages::changed_meanwhile("Keystore", &name))
        }
        StoreError::NotFound => ApiError::bad_request(messages::keystore_not_found(&name)),
        StoreError::AlreadyExists => ApiError::bad_request(messages::keystore_exists(&draft.name)),
        other => other.into(),
    })?;
    let keystore = app
        .store
        .keystore(&project.id, &draft.name)
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(keystore.as_ref().map(KeystoreItem::from))
        .deployment(app.publisher.settle(&deployed).await))
}

/// Delete a keystore and undeploy it; `jwkDeleteAction` decides what happens to derived JWKs.
#[utoipa::path(delete, path = "/apiops/projects/{projectName}/keystores/{keystoreName}", tag = "Keystores",
    params(("projectName" = String, Path), ("keystoreName" = String, Path),
        ("jwkDeleteAction" = Option<String>, Query, description = "`NULLIFY` (default): keep derived JWKs unlinked; `DELETE`: delete them")),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn delete_keystore(
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
        .delete_keystore(&project.id, &name, action, &audit.path_named())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::bad_request(messages::keystore_not_found(&name)),
            other => other.into(),
        })?;
    Ok(Success::empty()
        .message(format!("Keystore (name: {name}) is deleted."))
        .deployment(app.publisher.settle(&deployed).await))
}

/// Export a keystore's original file: with `environmentName`, that environment's file
/// (`<keystoreName>-<environmentName>.p12` or `.jks`); without, a ZIP `<keystoreName>-keystores.zip`
/// of one file per environment. No password is included (none is stored).
#[utoipa::path(get, path = "/apiops/projects/{projectName}/keystores/{keystoreName}/export-file", tag = "Keystores",
    params(("projectName" = String, Path), ("keystoreName" = String, Path), ("environmentName" = Option<String>, Query)),
    responses((status = 200, description = "Keystore file or ZIP archive", content_type = "application/octet-stream"),
        (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn export_keystore_file(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((project, name)): Path<(String, String)>,
    QueryFields(query): QueryFields,
) -> ApiResult<Response> {
    let project = project_for(&app, &caller, &project, Need::Export).await?;
    let keystore = app
        .store
        .keystore(&project.id, &name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_request(messages::keystore_not_found(&name)))?;
    let files = keystore
        .entries
        .into_iter()
        .map(|e| ExportFile {
            extension: if e.keystore_type == "PKCS12" {
                ".p12"
            } else {
                ".jks"
            },
            environment_name: e.environment_name,
            bytes: e.file,
            content_type: "application/octet-stream",
        })
        .collect();
    let env = query
        .get("environmentName")
        .map(String::as_str)
        .filter(|e| !e.is_empty());
    Ok(crate::envelope::download(file_export::export(
        &name,
        files,
        env,
        "keystores",
    )?))
}

/// Import a keystore file (multipart): `keystoreFile` (`.jks`/`.p12`/`.pfx`, or a ZIP from
/// `export-file`), `keystoreName`, `password`, `keyPassword` (extension), `environmentList` (single
/// file), `environmentMapping` (ZIP), `keyStoreType` (default: what the file is), `alias`,
/// `keystoreDescription`, `override` (update the existing keystore: the imported environments are
/// replaced or added, the others kept; `jwkUpdateAction`/`updateScope` apply).
#[utoipa::path(post, path = "/apiops/projects/{projectName}/keystores/import-file", tag = "Keystores",
    params(("projectName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn import_keystore_file(
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
    let form = read_form(multipart, query, "keystoreFile", &app.config).await?;
    let name = required_name("keystoreName", form.text("keystoreName"))?;
    let password = form
        .fields
        .get("password")
        .filter(|p| !p.is_empty())
        .cloned()
        .ok_or_else(|| ApiError::bad_request(messages::empty("password")))?;
    if let Some(t) = form.text("keyStoreType") {
        import_type(Some(t), &[], None)?;
    }
    let overwrite = form.flag("override")?;
    let action = update_action(&form.fields)?;
    let current = app
        .store
        .keystore(&project.id, &name)
        .await
        .map_err(ApiError::internal)?;
    match (&current, overwrite) {
        (Some(_), false) => {
            return Err(ApiError::bad_request(messages::keystore_exists_on_import(
                &name,
            )));
        }
        (None, true) => return Err(ApiError::bad_request(messages::keystore_not_found(&name))),
        _ => {}
    }
    let files = files_per_environment(&app, &form, "keystoreFile", &name).await?;
    let draft = draft_for_import(
        &app.heavy,
        current.as_ref(),
        KeystoreImport {
            name: name.clone(),
            description: form.text("keystoreDescription"),
            explicit_type: form.text("keyStoreType"),
            file_name: form.file.as_ref().and_then(|(n, _)| n.as_deref()),
            password,
            key_password: form.text("keyPassword").map(str::to_owned),
            alias: form.text("alias"),
            files,
        },
    )
    .await?;
    let deployed = if current.is_some() {
        let rec = audit.named(&name);
        with_rederived(
            &app,
            KIND_KEYSTORE,
            &project.id,
            &name,
            Some(action),
            || derivation(&draft),
            |rederived| {
                let cascade = Some((action, rederived.unwrap_or_default()));
                app.store
                    .replace_keystore(&project.id, &name, &draft, cascade, &rec)
            },
        )
        .await?
    } else {
        app.store
            .create_keystore(&project.id, &draft, &audit.named(&name))
            .await
            .map(|(_, deployed)| deployed)
    }
    .map_err(|e| match e {
        StoreError::AlreadyExists => {
            ApiError::bad_request(messages::keystore_exists_on_import(&name))
        }
        StoreError::Conflict => {
            ApiError::bad_request(messages::changed_meanwhile("Keystore", &name))
        }
        StoreError::NotFound => ApiError::bad_request(messages::keystore_not_found(&name)),
        other => other.into(),
    })?;
    let keystore = app
        .store
        .keystore(&project.id, &name)
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(keystore.as_ref().map(KeystoreItem::from))
        .deployment(app.publisher.settle(&deployed).await))
}
