//! JWKs from the clipboard, a URL, generation, and JWK Set files (reference §2.4.6–§2.4.8,
//! §2.4.12, §2.4.13). The create endpoint's `URL` / `COPY_PASTE` arms call the same services.

use std::collections::HashMap;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::fields::{self, QueryFields};
use super::schemas;
use crate::audit::{Audit, Declared, Name};
use crate::envelope::{Success, settled};
use crate::error::{ApiError, ApiResult};
use crate::permissions::Need;
use crate::{AppState, Caller, messages};
use keyward_core::check_name;
use keyward_core::jwk_sources::{
    self, GenerateRequest, ImportRequest, UrlRequest, create_from_paste, create_from_url,
};
use keyward_core::project_for;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(parse_from_clipboard))
        .routes(routes!(parse_from_url))
        .routes(routes!(generate_jwk))
        .routes(routes!(export_jwk_file))
        .routes(routes!(import_jwk_file))
}

/// What each route records in the audit trail (`crate::audit`).
pub(super) const AUDIT: &[Declared] = &[
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/jwks/parse-from-clipboard",
        "parse-from-clipboard",
        "jwk",
        Name::Body("name"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/jwks/parse-from-url",
        "parse-from-url",
        "jwk",
        Name::Body("name"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/jwks/generate",
        "generate",
        "jwk",
        Name::Body("name"),
    ),
    Declared::mutation(
        "POST",
        "/apiops/projects/{projectName}/jwks/import-file",
        "import-file",
        "jwk",
        Name::Body("jwkName"),
    ),
    Declared::private_read(
        "/apiops/projects/{projectName}/jwks/{jwkName}/export-file",
        "export-file",
        "jwk",
        Name::Path("jwkName"),
    ),
];

/// The body of parse-from-clipboard.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClipboardBody {
    name: Option<String>,
    description: Option<String>,
    /// A JWK or a JWK Set, as JSON text.
    jwk_str: Option<String>,
    /// Selects the key of a JWK Set with several keys.
    kid: Option<String>,
    /// Extension: the environments the JWK is deployed to (default: every environment).
    environment_list: Option<Vec<String>>,
}

/// The body of parse-from-url.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UrlBody {
    name: Option<String>,
    description: Option<String>,
    /// `https` URL of a JWK or JWK Set.
    url: Option<String>,
    /// ms, default 5000, at most 60000.
    url_option_connect_timeout: Option<i64>,
    /// ms, default 10000, at most 60000.
    url_option_read_timeout: Option<i64>,
    /// bytes, default 1048576 (also the maximum).
    url_option_size_limit: Option<i64>,
    /// Selects the key of a JWK Set with several keys.
    kid: Option<String>,
    /// Extension: the environments the JWK is deployed to (default: every environment).
    environment_list: Option<Vec<String>>,
}

fn jwk_name(name: Option<&str>) -> ApiResult<String> {
    let name = name.map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::bad_request(messages::JWK_NAME_EMPTY));
    }
    check_name("name", name)?;
    Ok(name.to_owned())
}

/// Create a JWK from a pasted JWK or JWK Set (`sourceType: COPY_PASTE`).
#[utoipa::path(post, path = "/apiops/projects/{projectName}/jwks/parse-from-clipboard", tag = "JWKs",
    params(("projectName" = String, Path)), request_body = ClipboardBody,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn parse_from_clipboard(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    Json(body): Json<ClipboardBody>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let name = jwk_name(body.name.as_deref())?;
    settled(
        &app,
        create_from_paste(
            &app,
            &project,
            &name,
            body.description.as_deref(),
            body.jwk_str.as_deref(),
            body.kid.as_deref(),
            body.environment_list.as_deref(),
            &audit.named(&name),
        )
        .await,
    )
    .await
}

/// Create a JWK from a JWK or JWK Set fetched by URL (`sourceType: URL`), under the server's
/// fetch policy (https only, no internal addresses unless allow-listed, at most 3 redirects).
#[utoipa::path(post, path = "/apiops/projects/{projectName}/jwks/parse-from-url", tag = "JWKs",
    params(("projectName" = String, Path)), request_body = UrlBody,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn parse_from_url(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    Json(body): Json<UrlBody>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let name = jwk_name(body.name.as_deref())?;
    let req = UrlRequest {
        url: body.url.as_deref(),
        connect_timeout: body.url_option_connect_timeout,
        read_timeout: body.url_option_read_timeout,
        size_limit: body.url_option_size_limit,
    };
    settled(
        &app,
        create_from_url(
            &app,
            &project,
            &name,
            body.description.as_deref(),
            &req,
            body.kid.as_deref(),
            body.environment_list.as_deref(),
            &audit.named(&name),
        )
        .await,
    )
    .await
}

/// Generate a key (RSA, EC, OCT, OKP) as a JWK with `use`, `alg`, `kid`, `nbf` and `exp`.
#[utoipa::path(post, path = "/apiops/projects/{projectName}/jwks/generate", tag = "JWKs",
    params(("projectName" = String, Path)), request_body = schemas::GenerateRequestDoc,
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn generate_jwk(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    Json(body): Json<GenerateRequest>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::ManageAndDeploy).await?;
    let rec = audit.named(body.name.as_deref().map(str::trim).unwrap_or_default());
    settled(
        &app,
        jwk_sources::generate(&app, &project, &body, &rec).await,
    )
    .await
}

/// Download a JWK as a JWK Set file; `publicOnly=true` strips the private members.
#[utoipa::path(get, path = "/apiops/projects/{projectName}/jwks/{jwkName}/export-file", tag = "JWKs",
    params(("projectName" = String, Path), ("jwkName" = String, Path),
        ("publicOnly" = Option<bool>, Query, description = "strip d, p, q, dp, dq, qi (refused for OCT keys)")),
    responses((status = 200, description = "JWK Set JSON file", content_type = "application/json"), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn export_jwk_file(
    State(app): State<AppState>,
    Caller(caller): Caller,
    Path((project, name)): Path<(String, String)>,
    QueryFields(query): QueryFields,
) -> ApiResult<Response> {
    let project = project_for(&app, &caller, &project, Need::Export).await?;
    let public_only = match query.get("publicOnly").map(|v| v.trim()) {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(messages::not_one_of(
                "publicOnly",
                other,
                &["true", "false"],
            )));
        }
    };
    let (file, body) = jwk_sources::export_file(&app, &project, &name, public_only).await?;
    let disposition = content_disposition(&file);
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// `attachment; filename="…"`, with an RFC 6266 `filename*` when the name is not plain ASCII.
fn content_disposition(file: &str) -> String {
    let ascii: String = file
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if ascii == file {
        return format!("attachment; filename=\"{file}\"");
    }
    let encoded: String = file
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Import a JWK or JWK Set file (multipart `jwkFile`, `jwkName`, `kid`, `jwkDescription`);
/// parsed like parse-from-clipboard. Needs `SECRETS`+`EXPORT_IMPORT` and, since it deploys,
/// `SECRETS`+`MANAGE` and `SECRETS`+`DEPLOY_UNDEPLOY`.
#[utoipa::path(post, path = "/apiops/projects/{projectName}/jwks/import-file", tag = "JWKs",
    params(("projectName" = String, Path)),
    responses((status = 200, body = crate::openapi::SuccessEnvelope), (status = 400, body = crate::openapi::ErrorEnvelope)))]
async fn import_jwk_file(
    State(app): State<AppState>,
    Caller(caller): Caller,
    audit: Audit,
    Path(project): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Success> {
    let project = project_for(&app, &caller, &project, Need::Export).await?;
    if !caller.may(&project.id, Need::ManageAndDeploy) {
        return Err(ApiError::denied());
    }
    let mut multipart =
        multipart.map_err(|_| ApiError::bad_request(messages::JWK_IMPORT_NOT_MULTIPART))?;
    let mut req = ImportRequest::default();
    let broken = |e: axum::extract::multipart::MultipartError| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(app.config.body_limit)
        } else {
            ApiError::bad_request(messages::JWK_IMPORT_NOT_MULTIPART)
        }
    };
    let max_parts = app.config.limits.max_parts;
    let mut parts = 0;
    let mut texts = HashMap::new();
    while let Some(field) = multipart.next_field().await.map_err(broken)? {
        parts += 1;
        if parts > max_parts {
            return Err(ApiError::bad_request(messages::too_many_parts(max_parts)));
        }
        let field_name = field.name().unwrap_or_default().to_owned();
        let bytes = field.bytes().await.map_err(broken)?;
        if field_name == "jwkFile" {
            fields::once(&mut req.file, "jwkFile", bytes.to_vec())?;
        } else {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            fields::add(&mut texts, field_name, text)?;
        }
    }
    req.name = texts.remove("jwkName");
    req.kid = texts.remove("kid");
    req.description = texts.remove("jwkDescription");
    // A list (extension): repeats were merged, comma-separated, by `fields::add`.
    req.environment_list = texts.remove("environmentList").map(|list| vec![list]);
    let rec = audit.named(req.name.as_deref().map(str::trim).unwrap_or_default());
    settled(
        &app,
        jwk_sources::import_file(&app, &project, req, &rec).await,
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn disposition_is_ascii() {
        assert_eq!(
            super::content_disposition("a.json"),
            "attachment; filename=\"a.json\""
        );
        assert_eq!(
            super::content_disposition("k\u{e9}y.json"),
            "attachment; filename=\"k_y.json\"; filename*=UTF-8''k%C3%A9y.json"
        );
    }
}
