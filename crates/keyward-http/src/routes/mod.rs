//! Route handlers: one file per resource. Each handler extracts, authorises and calls a service.

mod admin;
mod agents;
mod audit;
mod certificate_files;
mod certificates;
mod fields;
mod file_import;
mod health;
mod jwk_sources;
mod jwks;
mod keys;
mod keystores;
mod packages;
mod public;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::openapi::ApiDoc;

/// The item types of `resultList`s, named in the document (`openapi::finish` links them).
#[derive(OpenApi)]
#[openapi(components(schemas(
    crate::service::jwks::JwkDetail,
    crate::service::jwks::JwkSummary,
    admin::EnvironmentItem,
    admin::ProjectItem,
    admin::UserItem,
    admin::UserProject,
    admin::TokenItem,
    admin::PermissionItem,
)))]
struct ResultItems;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(OpenApiRouter::with_openapi(ResultItems::openapi()))
        .merge(health::router())
        .merge(admin::router())
        .merge(audit::router())
        .merge(certificates::router())
        .merge(certificate_files::router())
        .merge(jwks::router())
        .merge(keys::router())
        .merge(keystores::router())
        .merge(packages::router())
        .merge(jwk_sources::router())
        .merge(public::router())
        .merge(agents::router())
}
