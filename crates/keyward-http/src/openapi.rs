//! The OpenAPI document, generated from the route annotations (served at `/openapi.json`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::deployment::DeploymentResult;

/// `{"status":"SUCCESS","success":true,"resultList":[…],"resultCount":N}`; mutations add
/// `deploymentResult`.
#[derive(ToSchema)]
#[schema(as = SuccessEnvelope)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct SuccessEnvelope {
    /// Always `SUCCESS`.
    status: String,
    /// Always `true`.
    success: bool,
    #[schema(value_type = Vec<Object>)]
    result_list: Vec<()>,
    result_count: i32,
    result_message: Option<String>,
    deployment_result: Option<DeploymentResult>,
}

/// Every error: both the Apinizer (`status`, `resultMessage`) and OAuth (`error`,
/// `error_description`) styles in one body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorEnvelope {
    /// Always `FAILURE`.
    status: String,
    /// Always `false`.
    success: bool,
    #[schema(rename = "resultMessage")]
    result_message: String,
    /// `bad_request`, `unauthorized_client`, `payload_too_large` or `server_error`.
    error: String,
    /// Same text as `resultMessage`.
    error_description: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "keyward",
        description = "Keys & secrets manager for API gateways, speaking the Apinizer Keys & Secrets \
                       management API (/apiops). Every path is also accepted with a trailing slash.",
        license(name = "Apache-2.0")
    ),
    components(schemas(SuccessEnvelope, ErrorEnvelope, DeploymentResult)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Personal API access token"))
                    .build(),
            ),
        );
    }
}
