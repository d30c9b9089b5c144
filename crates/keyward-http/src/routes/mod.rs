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
mod schemas;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::openapi::ApiDoc;

/// The item types of `resultList`s, named in the document (`openapi::finish` links them).
#[derive(OpenApi)]
#[openapi(components(schemas(
    schemas::JwkDetailDoc,
    schemas::JwkSummaryDoc,
    admin::EnvironmentItem,
    admin::ProjectItem,
    admin::UserItem,
    admin::UserProject,
    admin::TokenItem,
    admin::PermissionItem,
)))]
struct ResultItems;

/// Every route's audit declaration (`crate::audit`), beside the routes in each file.
pub(crate) fn declarations() -> impl Iterator<Item = &'static crate::audit::Declared> {
    [
        admin::AUDIT,
        agents::AUDIT,
        certificates::AUDIT,
        certificate_files::AUDIT,
        jwks::AUDIT,
        jwk_sources::AUDIT,
        keys::AUDIT,
        keystores::AUDIT,
        packages::AUDIT,
    ]
    .into_iter()
    .flatten()
}

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// ARCHITECTURE.md invariant: every route that changes the store declares its audit record,
    /// and every declaration names a route that exists.
    #[test]
    fn every_mutating_route_declares_its_audit() {
        let (_, api) = super::router().split_for_parts();
        let doc = serde_json::to_value(&api).unwrap();
        let mut operations = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                operations.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
        let declared: BTreeSet<(String, String)> = super::declarations()
            .map(|d| (d.method.to_owned(), d.route.to_owned()))
            .collect();
        assert_eq!(
            declared.len(),
            super::declarations().count(),
            "a route is declared twice"
        );
        for (method, path) in &operations {
            if method != "GET" {
                assert!(
                    declared.contains(&(method.clone(), path.clone())),
                    "{method} {path} changes the store but declares no audit record"
                );
            }
        }
        for d in super::declarations() {
            assert!(
                operations.contains(&(d.method.to_owned(), d.route.to_owned())),
                "{} {} is declared but is no route",
                d.method,
                d.route
            );
            assert_eq!(d.private_read, d.method == "GET", "{}", d.route);
        }
    }
}
