//! The public JWKS of a project in an environment (docs/agent.md): no token, public members only,
//! pre-serialized bytes with a strong `ETag`, `If-None-Match` → 304, a bounded `max-age`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::publish::none_match;
use crate::{AppState, messages};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(public_jwks))
        .routes(routes!(well_known_jwks))
}

/// The public JWK Set of a project's JWKs deployed in an environment (no token): public members
/// only, no `oct` keys; JWKs deleted or replaced less than the grace period ago are still in it.
#[utoipa::path(get, path = "/apiops/public/projects/{projectName}/environments/{environmentName}/jwks.json",
    tag = "Public", security(()),
    params(("projectName" = String, Path), ("environmentName" = String, Path)),
    responses((status = 200, description = "`{\"keys\":[…]}` with `ETag` and `Cache-Control: public, max-age=N`"),
        (status = 304, description = "`If-None-Match` matched the current `ETag`"),
        (status = 404, body = crate::openapi::ErrorEnvelope)))]
async fn public_jwks(
    State(app): State<AppState>,
    Path((project, environment)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve(&app, &project, &environment, &headers).await
}

/// The same JWK Set at the conventional OpenID-style location.
#[utoipa::path(get, path = "/apiops/public/projects/{projectName}/environments/{environmentName}/.well-known/jwks.json",
    tag = "Public", security(()),
    params(("projectName" = String, Path), ("environmentName" = String, Path)),
    responses((status = 200, description = "`{\"keys\":[…]}`, as `…/jwks.json`"),
        (status = 304, description = "`If-None-Match` matched the current `ETag`"),
        (status = 404, body = crate::openapi::ErrorEnvelope)))]
async fn well_known_jwks(
    State(app): State<AppState>,
    Path((project, environment)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    serve(&app, &project, &environment, &headers).await
}

async fn serve(
    app: &AppState,
    project: &str,
    environment: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let Some(doc) = app.publisher.jwks(project, environment).await? else {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            message: messages::JWKS_NOT_PUBLISHED.to_owned(),
        });
    };
    let cache_control = app.publisher.cache_control();
    let matched = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| none_match(v, doc.etag.to_str().unwrap_or_default()));
    let mut resp = if matched {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            doc.body.clone(),
        )
            .into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::ETAG, doc.etag.clone());
    h.insert(header::CACHE_CONTROL, cache_control);
    // Verifiers may run in browsers on other origins.
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    Ok(resp)
}
