//! Export packages of keys and keystores (reference §2.2.6, §2.2.7, §2.3.6, §2.3.7): `export`
//! writes one object with the material of every environment into a ZIP, sealed with a passphrase
//! on request; `import` places such a package onto this server's environments, as a new object or
//! over the existing one. The format and the placement rules are in `service/package.rs`.

use std::collections::HashMap;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use keyward_jose::b64;
use keyward_keystore::KeystoreType;
use keyward_store::{KeyDraft, KeystoreDraft, NewKeyEntry, NewKeystoreEntry, StoreError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::fields::QueryFields;
use super::file_import::{Form, is_zip, mapping_error, read_form, read_zip};
use crate::audit::{Audit, Declared, Name};
use crate::envelope::Success;
use crate::error::{ApiError, ApiResult};
use crate::permissions::{Need, Principal};
use crate::{AppState, Caller, messages};
use keyward_core::keys::{
    KeyItem, effective_algorithm, parse_key_type, parse_secret_algorithm, stored_content_on,
    update_action,
};
use keyward_core::keystores::KeystoreItem;
use keyward_core::package::{
    self, KIND_KEY, KIND_KEYSTORE, KeyEnvironment, KeyObject, KeystoreEnvironment, KeystoreObject,
    MergeMethod, Placement, PlacementError, UncoveredAction,
};
use keyward_core::{one_of, project_for};

/// What each route records in the audit trail (`crate::audit`).
pub(super) const AUDIT: &[Declared] = &[
    Declared::private_read(
        "/apiops/projects/{projectName}/keys/{keyName}/export",
        "export",
        "key",
        Name::Path("keyName"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/keys/import",
        "import",
        "key",
        Name::Body("keyExportFile"),
    ),
    Declared::private_read(
        "/apiops/projects/{projectName}/keystores/{keystoreName}/export",
        "export",
        "keystore",
        Name::Path("keystoreName"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/keystores/import",
        "import",
        "keystore",
        Name::Body("keystoreExportFile"),
    ),
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_key_package))
        .routes(routes!(import_key_package))
        .routes(routes!(export_keystore_package))
        .routes(routes!(import_keystore_package))
}

/// Export a key as a package: a ZIP with `package.json` holding the key and the material of every
/// environment (a private key decrypted). With `encrypt=true` the whole ZIP is sealed (Argon2id +
/// AES-256-GCM) with the passphrase of the `X-Apinizer-Package-Passphrase` header (base64 of
/// its UTF-8 bytes); without, the package carries the secrets in readable form.
#[utoipa::path(get, path = "/apiops/projects/{projectName}/keys/{keyName}/export", tag = "Keys",
    params(("projectName" = String, Path), ("keyName" = String, Path),
        ("encrypt" = Option<bool>, Query, description = "Seal the package with the passphrase header (default false)"),
        ("X-Apinizer-Package-Passphrase" = Option<String>, Header, description = "Base64 of the UTF-8 passphrase")),
    responses((status = 200, description = "`<keyName>.zip`", content_type = "application/octet-stream"),
        (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn export_key_package(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((project, name)): Path<(String, String)>,
    QueryFields(query): QueryFields,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let project = project_for(&app, &caller, &project, Need::Export).await?;
    let passphrase = export_passphrase(&query, &headers)?;
    let key = app
        .store
        .key(&project.id, &name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_request(messages::key_not_found(&name)))?;
    let object = KeyObject {
        name: key.name.clone(),
        description: key.description.clone(),
        key_type: key.key_type.clone(),
        algorithm: key.algorithm.clone(),
        environments: key
            .entries
            .iter()
            .map(|e| KeyEnvironment {
                environment_name: e.environment_name.clone(),
                alias: e.alias.clone(),
                content: b64::standard(&e.content),
            })
            .collect(),
    };
    let zip = package::zip_package(KIND_KEY, object)?;
    tracing::info!(key = %name, project = %project.name, sealed = passphrase.is_some(), "key package exported");
    package_response(&app, &name, zip, passphrase).await
}

/// Import a key package (multipart `keyExportFile`, a `.zip` made by `export`, sealed or not).
/// Without `override` the key is created, named `<name>-imported` when the name is taken, and
/// `environmentMapping` places its environments. With `override=true` the existing key is
/// replaced: `certEnvironmentMergeMethod` (`MATCH_BY_NAME` or `OVERWRITE_ALL`) and
/// `certEnvironmentUncoveredAction` (`FILL_FROM_PACKAGE` or `REMOVE_FROM_TARGET`) decide its
/// environments; `jwkUpdateAction`/`updateScope` decide what happens to the JWKs derived from it.
/// Package environments that do not exist here are reported in `unresolvedReferences`.
#[utoipa::path(post, path = "/apiops/projects/{projectName}/keys/import", tag = "Keys",
    params(("projectName" = String, Path),
        ("override" = Option<bool>, Query, description = "Replace the existing key (default false)"),
        ("X-Apinizer-Package-Passphrase" = Option<String>, Header, description = "Base64 of the UTF-8 passphrase of a sealed package")),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn import_key_package(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    QueryFields(query): QueryFields,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Success> {
    const FIELD: &str = "keyExportFile";
    let project = import_project(&app, &caller, &project).await?;
    let form = read_form(multipart, query, FIELD, &app.config).await?;
    let object: KeyObject = read_upload(&app, &form, FIELD, KIND_KEY, &headers).await?;
    let request = ImportRequest::of(&form)?;
    let key_type = parse_key_type(&object.key_type)?;
    let algorithm = object
        .algorithm
        .as_deref()
        .filter(|a| !a.is_empty())
        .map(parse_secret_algorithm)
        .transpose()?;
    let algorithm = effective_algorithm(key_type, algorithm)?;
    keyward_core::check_name("name", &object.name)?;

    let current = if request.overwrite {
        app.store
            .key(&project.id, &object.name)
            .await
            .map_err(ApiError::internal)?
    } else {
        None
    };
    let name = import_name(
        &object.name,
        current.as_ref().map(|c| c.name.as_str()),
        app.store.key_names(&project.id),
    )
    .await?;
    let package_envs: Vec<&str> = object
        .environments
        .iter()
        .map(|e| e.environment_name.as_str())
        .collect();
    let target: Option<Vec<&str>> = current.as_ref().map(|c| {
        c.entries
            .iter()
            .map(|e| e.environment_name.as_str())
            .collect()
    });
    let mut entries = Vec::new();
    let mut unresolved = Vec::new();
    let placed = request
        .destinations(
            &app,
            KIND_KEY,
            &name,
            &package_envs,
            target.as_deref(),
            &mut unresolved,
        )
        .await?;
    for (env, index) in placed {
        let source = &object.environments[index];
        let invalid = |d: &str| {
            ApiError::bad_request(messages::package_entry_invalid(&source.environment_name, d))
        };
        let raw = b64::decode_standard_lenient(&source.content)
            .map_err(|_| invalid("content is not Base64"))?;
        let content = stored_content_on(&app.heavy, key_type, algorithm, &raw, None, false)
            .await
            .map_err(|e| invalid(&e.message))?;
        entries.push(NewKeyEntry {
            environment_id: env.id,
            alias: source.alias.clone(),
            content,
        });
    }
    if entries.is_empty() {
        return Err(ApiError::bad_request(messages::package_no_environment(
            FIELD,
        )));
    }
    let draft = KeyDraft {
        based_on: current.as_ref().map(|c| c.updated_at),
        name: name.clone(),
        description: object.description.clone(),
        key_type: key_type.as_str().to_owned(),
        algorithm: algorithm.map(|a| a.as_str().to_owned()),
        entries,
    };
    let deployed = if current.is_some() {
        let rec = audit.named(&name);
        let action = request.action;
        keyward_core::with_rederived(
            &app,
            keyward_store::KIND_KEY,
            &project.id,
            &name,
            Some(action),
            || keyward_core::keys::derivation(&draft),
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
        StoreError::AlreadyExists => ApiError::bad_request(messages::key_exists(&name)),
        StoreError::Conflict => ApiError::bad_request(messages::changed_meanwhile("Key", &name)),
        StoreError::NotFound => ApiError::bad_request(messages::key_not_found(&name)),
        other => other.into(),
    })?;
    tracing::info!(key = %name, project = %project.name, replaced = current.is_some(), "key package imported");
    let key = app
        .store
        .key(&project.id, &name)
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(key.as_ref().map(KeyItem::from))
        .unresolved(unresolved)
        .deployment(app.publisher.settle(&deployed).await))
}

/// Export a keystore as a package: `package.json` holds, per environment, the original file and
/// what was extracted from it at import (the keystore password is never stored). `encrypt` and
/// the passphrase header as for keys.
#[utoipa::path(get, path = "/apiops/projects/{projectName}/keystores/{keystoreName}/export", tag = "Keystores",
    params(("projectName" = String, Path), ("keystoreName" = String, Path),
        ("encrypt" = Option<bool>, Query, description = "Seal the package with the passphrase header (default false)"),
        ("X-Apinizer-Package-Passphrase" = Option<String>, Header, description = "Base64 of the UTF-8 passphrase")),
    responses((status = 200, description = "`<keystoreName>.zip`", content_type = "application/octet-stream"),
        (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn export_keystore_package(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((project, name)): Path<(String, String)>,
    QueryFields(query): QueryFields,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let project = project_for(&app, &caller, &project, Need::Export).await?;
    let passphrase = export_passphrase(&query, &headers)?;
    let keystore = app
        .store
        .keystore(&project.id, &name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::bad_request(messages::keystore_not_found(&name)))?;
    let mut environments = Vec::with_capacity(keystore.entries.len());
    for e in &keystore.entries {
        environments.push(KeystoreEnvironment {
            environment_name: e.environment_name.clone(),
            alias: e.alias.clone(),
            key_store_type: e.keystore_type.clone(),
            file: b64::standard(&e.file),
            extracted: keyward_core::keystores::Extracted::parse(&e.extracted)
                .map_err(ApiError::internal)?,
        });
    }
    let object = KeystoreObject {
        name: keystore.name.clone(),
        description: keystore.description.clone(),
        environments,
    };
    let zip = package::zip_package(KIND_KEYSTORE, object)?;
    tracing::info!(keystore = %name, project = %project.name, sealed = passphrase.is_some(), "keystore package exported");
    package_response(&app, &name, zip, passphrase).await
}

/// Import a keystore package (multipart `keystoreExportFile`); the same rules as for keys. The
/// extracted material in the package is checked (keys, certificates, aliases) before anything is
/// written; the file is not reopened (its password is not in the package).
#[utoipa::path(post, path = "/apiops/projects/{projectName}/keystores/import", tag = "Keystores",
    params(("projectName" = String, Path),
        ("override" = Option<bool>, Query, description = "Replace the existing keystore (default false)"),
        ("X-Apinizer-Package-Passphrase" = Option<String>, Header, description = "Base64 of the UTF-8 passphrase of a sealed package")),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn import_keystore_package(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    QueryFields(query): QueryFields,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Success> {
    const FIELD: &str = "keystoreExportFile";
    let project = import_project(&app, &caller, &project).await?;
    let form = read_form(multipart, query, FIELD, &app.config).await?;
    let object: KeystoreObject = read_upload(&app, &form, FIELD, KIND_KEYSTORE, &headers).await?;
    let request = ImportRequest::of(&form)?;
    keyward_core::check_name("name", &object.name)?;

    let current = if request.overwrite {
        app.store
            .keystore(&project.id, &object.name)
            .await
            .map_err(ApiError::internal)?
    } else {
        None
    };
    let name = import_name(
        &object.name,
        current.as_ref().map(|c| c.name.as_str()),
        app.store.keystore_names(&project.id),
    )
    .await?;
    let package_envs: Vec<&str> = object
        .environments
        .iter()
        .map(|e| e.environment_name.as_str())
        .collect();
    let target: Option<Vec<&str>> = current.as_ref().map(|c| {
        c.entries
            .iter()
            .map(|e| e.environment_name.as_str())
            .collect()
    });
    let mut entries = Vec::new();
    let mut unresolved = Vec::new();
    let placed = request
        .destinations(
            &app,
            KIND_KEYSTORE,
            &name,
            &package_envs,
            target.as_deref(),
            &mut unresolved,
        )
        .await?;
    for (env, index) in placed {
        let source = &object.environments[index];
        let invalid = |d: &str| {
            ApiError::bad_request(messages::package_entry_invalid(&source.environment_name, d))
        };
        let declared: KeystoreType = source
            .key_store_type
            .parse()
            .map_err(|e: keyward_keystore::Error| invalid(&e.to_string()))?;
        let file = b64::decode_standard_lenient(&source.file)
            .map_err(|_| invalid("file is not Base64"))?;
        if file.is_empty() {
            return Err(invalid("file is empty"));
        }
        source.extracted.validate().map_err(|d| invalid(&d))?;
        if !source.alias.is_empty()
            && !source
                .extracted
                .entries
                .iter()
                .any(|e| e.alias() == source.alias)
        {
            return Err(invalid(&format!(
                "alias ({}) is not in the keystore",
                source.alias
            )));
        }
        entries.push(NewKeystoreEntry {
            environment_id: env.id,
            alias: source.alias.clone(),
            keystore_type: declared.as_str().to_owned(),
            file,
            extracted: serde_json::to_string(&source.extracted).map_err(ApiError::internal)?,
        });
    }
    if entries.is_empty() {
        return Err(ApiError::bad_request(messages::package_no_environment(
            FIELD,
        )));
    }
    let draft = KeystoreDraft {
        based_on: current.as_ref().map(|c| c.updated_at),
        name: name.clone(),
        description: object.description.clone(),
        entries,
    };
    let deployed = if current.is_some() {
        let rec = audit.named(&name);
        let action = request.action;
        keyward_core::with_rederived(
            &app,
            keyward_store::KIND_KEYSTORE,
            &project.id,
            &name,
            Some(action),
            || keyward_core::keystores::derivation(&draft),
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
        StoreError::AlreadyExists => ApiError::bad_request(messages::keystore_exists(&name)),
        StoreError::Conflict => {
            ApiError::bad_request(messages::changed_meanwhile("Keystore", &name))
        }
        StoreError::NotFound => ApiError::bad_request(messages::keystore_not_found(&name)),
        other => other.into(),
    })?;
    tracing::info!(keystore = %name, project = %project.name, replaced = current.is_some(), "keystore package imported");
    let keystore = app
        .store
        .keystore(&project.id, &name)
        .await
        .map_err(ApiError::internal)?;
    Ok(Success::list(keystore.as_ref().map(KeystoreItem::from))
        .unresolved(unresolved)
        .deployment(app.publisher.settle(&deployed).await))
}

// ---- shared steps --------------------------------------------------------------------------------

/// Import writes and deploys: SECRETS+EXPORT_IMPORT and SECRETS+MANAGE+DEPLOY_UNDEPLOY.
async fn import_project(
    app: &AppState,
    caller: &Principal,
    project: &str,
) -> ApiResult<keyward_store::Project> {
    let project = project_for(app, caller, project, Need::Export).await?;
    if !caller.may(&project.id, Need::ManageAndDeploy) {
        return Err(ApiError::denied());
    }
    Ok(project)
}

/// The passphrase of an export: required with `encrypt=true`, ignored without.
fn export_passphrase(
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> ApiResult<Option<zeroize::Zeroizing<Vec<u8>>>> {
    let encrypt = match query.get("encrypt").map(|v| v.trim()) {
        None | Some("") => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(ApiError::bad_request(messages::not_one_of(
                "encrypt",
                v,
                &["true", "false"],
            )));
        }
    };
    if !encrypt {
        return Ok(None);
    }
    match package::passphrase(
        headers
            .get(package::PASSPHRASE_HEADER)
            .map(|v| v.as_bytes()),
    )? {
        Some(p) => Ok(Some(p)),
        None => Err(ApiError::bad_request(messages::PACKAGE_PASSPHRASE_MISSING)),
    }
}

/// The ZIP download `<name>.zip`, sealed when a passphrase is given. Never cached.
async fn package_response(
    app: &AppState,
    name: &str,
    zip: Vec<u8>,
    passphrase: Option<zeroize::Zeroizing<Vec<u8>>>,
) -> ApiResult<Response> {
    let bytes = match passphrase {
        Some(p) => package::seal_blocking(&app.heavy, zip, p).await?,
        None => zip,
    };
    let safe = name.replace(['"', '\\'], "");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}.zip\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

/// The package object of an upload: present, named `*.zip`, opened with the passphrase when
/// sealed, a readable ZIP within the caps, holding a package of `kind`.
async fn read_upload<T: for<'de> serde::Deserialize<'de>>(
    app: &AppState,
    form: &Form,
    field: &str,
    kind: &str,
    headers: &HeaderMap,
) -> ApiResult<T> {
    let (file_name, bytes) = match &form.file {
        Some((n, b)) if !b.is_empty() => (n.as_deref().unwrap_or_default(), b.clone()),
        _ => return Err(ApiError::bad_request(messages::empty(field))),
    };
    let zip_named = file_name
        .rsplit_once('.')
        .is_some_and(|(_, ext)| ext.eq_ignore_ascii_case("zip"));
    if !zip_named || !(is_zip(&bytes) || package::is_sealed(&bytes)) {
        return Err(ApiError::bad_request(messages::package_not_zip(field)));
    }
    let zip = zeroize::Zeroizing::new(
        package::unsealed(
            &app.heavy,
            bytes,
            package::passphrase(
                headers
                    .get(package::PASSPHRASE_HEADER)
                    .map(|v| v.as_bytes()),
            )?,
        )
        .await?,
    );
    let files = read_zip(&zip, field)?;
    let entry = files
        .iter()
        .find(|f| f.name == package::ENTRY)
        .map(|f| zeroize::Zeroizing::new(f.bytes.clone()));
    Ok(package::read_package(
        entry.as_deref().map(Vec::as_slice),
        field,
        kind,
    )?)
}

/// The placement parameters of an import form.
struct ImportRequest {
    overwrite: bool,
    placement: Placement,
    action: keyward_store::JwkUpdateAction,
}

impl ImportRequest {
    fn of(form: &Form) -> ApiResult<ImportRequest> {
        let overwrite = form.flag("override")?;
        let action = update_action(&form.fields)?;
        // Each parameter applies to one mode only and is ignored in the other, as in Apinizer.
        let placement = if overwrite {
            Placement {
                mapping: None,
                merge: form
                    .text("certEnvironmentMergeMethod")
                    .map(|v| {
                        one_of(
                            "certEnvironmentMergeMethod",
                            v.trim(),
                            MergeMethod::parse,
                            MergeMethod::NAMES,
                        )
                    })
                    .transpose()?,
                uncovered: form
                    .text("certEnvironmentUncoveredAction")
                    .map(|v| {
                        one_of(
                            "certEnvironmentUncoveredAction",
                            v.trim(),
                            UncoveredAction::parse,
                            UncoveredAction::NAMES,
                        )
                    })
                    .transpose()?,
            }
        } else {
            Placement {
                mapping: form
                    .text("environmentMapping")
                    .map(|raw| serde_json::from_str(raw).map_err(|_| mapping_error(raw)))
                    .transpose()?,
                ..Placement::default()
            }
        };
        Ok(ImportRequest {
            overwrite,
            placement,
            action,
        })
    }

    /// Where the package's environments go: per placed environment, this server's environment and
    /// the index of the package entry written there. Package environments unknown here are
    /// reported in `unresolved`.
    async fn destinations(
        &self,
        app: &AppState,
        kind: &str,
        name: &str,
        package_envs: &[&str],
        target: Option<&[&str]>,
        unresolved: &mut Vec<String>,
    ) -> ApiResult<Vec<(keyward_store::Environment, usize)>> {
        let placed = self
            .placement
            .place(package_envs, target)
            .map_err(|e| match e {
                PlacementError::Uncovered(envs) => {
                    ApiError::bad_request(messages::package_uncovered(kind, name, &envs))
                }
                PlacementError::Repeated(env) => ApiError::bad_request(
                    messages::environment_repeated(&env, "environmentMapping"),
                ),
            })?;
        let mut out = Vec::with_capacity(placed.len());
        for (env_name, index) in placed {
            match app
                .store
                .environment_by_name(&env_name)
                .await
                .map_err(ApiError::internal)?
            {
                Some(env) => out.push((env, index)),
                None => unresolved.push(messages::package_environment_dropped(&env_name)),
            }
        }
        Ok(out)
    }
}

/// The name an import writes: the replaced object's, else the package's or the first free
/// `-imported` variant of it (`taken` lists the project's names; awaited only then).
async fn import_name(
    wanted: &str,
    replaced: Option<&str>,
    taken: impl std::future::Future<Output = keyward_store::Result<Vec<String>>>,
) -> ApiResult<String> {
    if let Some(name) = replaced {
        return Ok(name.to_owned());
    }
    let taken = taken.await.map_err(ApiError::internal)?;
    package::free_name(wanted, |n| taken.iter().any(|t| t == n))
        .ok_or_else(|| ApiError::bad_request(messages::no_free_import_name(wanted)))
}
