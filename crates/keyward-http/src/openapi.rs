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

// ---- completing the generated document -----------------------------------------------------------
//
// utoipa writes what the route annotations say; what every operation shares (the error answers,
// a description on every response), the enums of the request fields and the item types of the
// `resultList`s are added here, once, from the code's own tables.

use serde_json::{Map, Value, json};

/// Request fields whose values form a closed list, per component schema (`*`: any schema).
fn field_enums() -> Vec<(&'static str, &'static str, Vec<String>)> {
    use keyward_jose::{Algorithm, KeyIdType, KeyUse};
    let owned = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let uses: Vec<String> = KeyUse::ALL
        .iter()
        .map(|u| u.api_name().to_owned())
        .collect();
    let mut algorithms: Vec<String> = Vec::new();
    for a in Algorithm::ALL {
        for name in [a.jose_name(), a.enum_name()] {
            if !algorithms.iter().any(|n| n == name) {
                algorithms.push(name.to_owned());
            }
        }
    }
    let key_ids: Vec<String> = KeyIdType::ALL
        .iter()
        .map(|k| k.api_name().to_owned())
        .collect();
    vec![
        ("*", "useType", uses.clone()),
        ("*", "keyUseType", uses),
        ("*", "keyIdType", key_ids),
        (
            "*",
            "sourceType",
            owned(keyward_core::jwks::SourceType::NAMES),
        ),
        ("*", "category", owned(crate::permissions::Category::NAMES)),
        ("*", "action", owned(crate::permissions::Action::NAMES)),
        ("JwkCreate", "algorithm", algorithms.clone()),
        ("GenerateParams", "algorithm", algorithms),
        (
            "EnvironmentCreate",
            "type",
            owned(keyward_core::identity::ENVIRONMENT_TYPES),
        ),
        (
            "GenerateRequest",
            "type",
            owned(keyward_core::jwk_sources::KEY_TYPES),
        ),
        (
            "ClientCredentials",
            "grant_type",
            owned(&["client_credentials"]),
        ),
    ]
}

/// Required fields of request schemas (the handlers refuse a body without them).
const REQUIRED: &[(&str, &[&str])] = &[
    ("EnvironmentCreate", &["name", "type"]),
    ("ProjectCreate", &["name"]),
    ("UserCreate", &["username", "password"]),
    ("MembersPut", &["permissions"]),
    ("PermissionItem", &["category", "action"]),
    ("TokenCreate", &["name"]),
    (
        "ClientCredentials",
        &["grant_type", "client_id", "client_secret"],
    ),
    ("JwkCreate", &["name", "sourceType"]),
    ("GenerateRequest", &["name", "type"]),
];

/// The parse-from-* operations take a subset of `JwkCreate`: (path suffix, schema, fields,
/// required fields).
const DERIVE_BODIES: &[(&str, &str, &[&str], &[&str])] = &[
    (
        "/jwks/parse-from-certificate",
        "JwkFromCertificate",
        &[
            "name",
            "description",
            "certificateName",
            "environmentName",
            "useType",
            "algorithm",
            "kid",
        ],
        &[
            "name",
            "certificateName",
            "environmentName",
            "useType",
            "algorithm",
        ],
    ),
    (
        "/jwks/parse-from-key",
        "JwkFromKey",
        &[
            "name",
            "description",
            "keyName",
            "environmentName",
            "useType",
            "algorithm",
            "kid",
        ],
        &["name", "keyName", "environmentName", "useType", "algorithm"],
    ),
    (
        "/jwks/parse-from-keystore",
        "JwkFromKeystore",
        &[
            "name",
            "description",
            "keyStoreName",
            "aliasName",
            "environmentName",
            "useType",
            "algorithm",
            "kid",
        ],
        &[
            "name",
            "keyStoreName",
            "aliasName",
            "environmentName",
            "useType",
            "algorithm",
        ],
    ),
];

/// The item type of the `resultList` of successful answers: (method, path or path suffix, item
/// schema).
const RESULT_ITEMS: &[(&str, &str, &str)] = &[
    (
        "get",
        "/apiops/projects/{projectName}/jwks/{jwkName}",
        "JwkDetail",
    ),
    ("get", "/apiops/projects/{projectName}/jwks", "JwkSummary"),
    ("post", "/apiops/projects/{projectName}/jwks", "JwkDetail"),
    ("post", "/jwks/parse-from-certificate", "JwkDetail"),
    ("post", "/jwks/parse-from-key", "JwkDetail"),
    ("post", "/jwks/parse-from-keystore", "JwkDetail"),
    ("post", "/jwks/parse-from-clipboard", "JwkDetail"),
    ("post", "/jwks/parse-from-url", "JwkDetail"),
    ("post", "/jwks/generate", "JwkDetail"),
    ("get", "/apiops/environments", "EnvironmentItem"),
    ("post", "/apiops/environments", "EnvironmentItem"),
    (
        "get",
        "/apiops/projects/{projectName}/environments",
        "EnvironmentItem",
    ),
    ("get", "/apiops/projects", "ProjectItem"),
    ("post", "/apiops/projects", "ProjectItem"),
    ("get", "/apiops/users", "UserItem"),
    ("get", "/apiops/users/{username}", "UserItem"),
    ("put", "/apiops/users/{username}", "UserItem"),
    ("get", "/apiops/users/{username}/tokens", "TokenItem"),
];

/// The RFC 7517 object of a JWK as a verifier consumes it.
fn jwk_schema() -> Value {
    let text = |d: &str| json!({"type": "string", "description": d});
    json!({
        "type": "object",
        "description": "A JSON Web Key (RFC 7517): the members of its key type (RFC 7518 §6, RFC 8037), base64url without padding; private members only for callers allowed to see them.",
        "required": ["kty"],
        "properties": {
            "kty": {"type": "string", "enum": ["RSA", "EC", "OKP", "oct"]},
            "use": {"type": "string", "enum": ["sig", "enc"]},
            "alg": text("JOSE algorithm, e.g. RS256, ES256, EdDSA, RSA-OAEP-256"),
            "kid": text("Key id; by default the RFC 7638 SHA-256 thumbprint"),
            "n": text("RSA modulus"), "e": text("RSA public exponent"),
            "crv": {"type": "string", "enum": ["P-256", "P-384", "P-521", "secp256k1", "Ed25519", "Ed448", "X25519", "X448"]},
            "x": text("EC/OKP public x coordinate or key"), "y": text("EC public y coordinate"),
            "d": text("private"), "p": text("private"), "q": text("private"),
            "dp": text("private"), "dq": text("private"), "qi": text("private"),
            "k": text("symmetric key (private)"),
            "x5c": {"type": "array", "items": {"type": "string"}, "description": "Certificate chain, leaf first, standard base64 DER"},
            "x5t": text("base64url SHA-1 thumbprint of the leaf certificate"),
            "x5t#S256": text("base64url SHA-256 thumbprint of the leaf certificate"),
            "nbf": {"type": "integer"}, "exp": {"type": "integer"}
        }
    })
}

fn default_description(status: &str) -> &'static str {
    match status {
        "200" => {
            "Success: the envelope `{status: SUCCESS, success: true, resultList, resultCount}`"
        }
        "400" => "Validation error, unknown object, inaccessible project or permission denied",
        "401" => "Missing, unknown, expired or revoked token",
        "413" => "Request body too large",
        "503" => "Overloaded or over the request time limit",
        _ => "Answer",
    }
}

fn error_response(status: &str) -> Value {
    let mut r = json!({
        "description": default_description(status),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    });
    if status == "401" {
        r["headers"] = json!({"WWW-Authenticate": {
            "description": "`Bearer realm=\"keyward\"`, with `error=\"invalid_token\"` when the token given is unknown, revoked or expired (RFC 6750 §3)",
            "schema": {"type": "string"}
        }});
    }
    r
}

/// Completes the generated document (see above). Idempotent.
pub fn finish(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (schema, field, values) in field_enums() {
        for (name, s) in schemas.iter_mut() {
            if schema != "*" && schema != name {
                continue;
            }
            if let Some(p) = s.pointer_mut(&format!("/properties/{field}"))
                && let Some(p) = p.as_object_mut()
            {
                p.insert("type".into(), json!("string"));
                p.insert("enum".into(), json!(values));
            }
        }
    }
    for (schema, fields) in REQUIRED {
        if let Some(s) = schemas.get_mut(*schema) {
            s["required"] = json!(fields);
        }
    }
    let create = schemas.get("JwkCreate").cloned().unwrap_or(Value::Null);
    for (_, name, fields, required) in DERIVE_BODIES {
        let mut properties = Map::new();
        for f in *fields {
            if let Some(p) = create.pointer(&format!("/properties/{f}")) {
                properties.insert((*f).to_owned(), p.clone());
            }
        }
        schemas.insert(
            (*name).to_owned(),
            json!({"type": "object", "properties": properties, "required": required}),
        );
    }
    schemas.insert("Jwk".into(), jwk_schema());
    if let Some(p) = schemas.get_mut("JwkDetail")
        && let Some(jwk) = find_property(p, "jwk")
    {
        *jwk = json!({"$ref": "#/components/schemas/Jwk"});
    }

    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let open = op
                .get("security")
                .and_then(Value::as_array)
                .is_some_and(|s| s.iter().all(|r| r.as_object().is_some_and(Map::is_empty)));
            if let Some((_, name, _, _)) = DERIVE_BODIES.iter().find(|(p, ..)| path.ends_with(p))
                && let Some(schema) =
                    op.pointer_mut("/requestBody/content/application~1json/schema")
            {
                *schema = json!({"$ref": format!("#/components/schemas/{name}")});
            }
            let item_schema = RESULT_ITEMS
                .iter()
                .find(|(m, p, _)| {
                    m == method && (path == p || (p.starts_with("/jwks") && path.ends_with(p)))
                })
                .map(|(_, _, s)| *s);
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            if path.starts_with("/apiops") {
                responses
                    .entry("400")
                    .or_insert_with(|| error_response("400"));
                if !open {
                    responses
                        .entry("401")
                        .or_insert_with(|| error_response("401"));
                }
            }
            for (status, r) in responses.iter_mut() {
                let Some(r) = r.as_object_mut() else { continue };
                let empty = r
                    .get("description")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty);
                if empty {
                    r.insert("description".into(), json!(default_description(status)));
                }
                if status == "401" && !r.contains_key("headers") {
                    r.insert("headers".into(), error_response("401")["headers"].clone());
                }
                if status == "200"
                    && let Some(items) = item_schema
                    && let Some(schema) = r
                        .get_mut("content")
                        .and_then(|c| c.pointer_mut("/application~1json/schema"))
                {
                    *schema = json!({"allOf": [
                        {"$ref": "#/components/schemas/SuccessEnvelope"},
                        {"type": "object", "properties": {"resultList": {
                            "type": "array", "items": {"$ref": format!("#/components/schemas/{items}")}
                        }}}
                    ]});
                }
            }
        }
    }
}

/// The property `name` of an object schema, also inside `allOf` parts (flattened structs).
fn find_property<'a>(schema: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    if schema.pointer(&format!("/properties/{name}")).is_some() {
        return schema.pointer_mut(&format!("/properties/{name}"));
    }
    schema
        .get_mut("allOf")
        .and_then(Value::as_array_mut)?
        .iter_mut()
        .find_map(|part| part.pointer_mut(&format!("/properties/{name}")))
}
