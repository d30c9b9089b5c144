//! The permission matrix (issue #4): every route of the OpenAPI document × every kind of caller,
//! with the expected status and message, and for every denied write the proof that nothing
//! changed. A route of `GET /openapi.json` without a row here fails the test: no route escapes.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The callers of the matrix. `outsider` has every SECRETS permission, in another project.
const CALLERS: &[&str] = &[
    "sysadmin",
    "viewer",
    "manager",
    "manage_only",
    "deployer",
    "exporter",
    "importer",
    "outsider",
    "none",
    "expired",
    "revoked",
    "agent",
];

/// SECRETS actions each member holds in `shop`.
fn grants(caller: &str) -> &'static [&'static str] {
    match caller {
        "viewer" => &["SECRETS:VIEW"],
        "manager" => &["SECRETS:MANAGE", "SECRETS:DEPLOY_UNDEPLOY"],
        "manage_only" => &["SECRETS:MANAGE"],
        "deployer" => &["SECRETS:DEPLOY_UNDEPLOY"],
        "exporter" => &["SECRETS:EXPORT_IMPORT"],
        "importer" => &[
            "SECRETS:MANAGE",
            "SECRETS:DEPLOY_UNDEPLOY",
            "SECRETS:EXPORT_IMPORT",
        ],
        _ => &[],
    }
}

/// Who may call a route (00-product §1, §3; ARCHITECTURE.md invariants).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    /// No token needed.
    Open,
    /// Any valid token.
    AnyUser,
    /// System admin only (the management extension API; tokens of another user).
    SysAdmin,
    /// Any permission in `shop`.
    Read,
    /// `SECRETS`+`MANAGE` and `SECRETS`+`DEPLOY_UNDEPLOY` in `shop`.
    Write,
    /// `SECRETS`+`EXPORT_IMPORT` in `shop`.
    Export,
    /// `EXPORT_IMPORT` and `MANAGE` and `DEPLOY_UNDEPLOY` in `shop` (file imports deploy).
    Import,
    /// Any permission in the `admin` project (the truststore listing lives there).
    AdminProject,
    /// An agent token of the environment (`agent`, made by the system admin), or a system admin.
    Agent,
}

const DENIED: &str = "User does not have required permission for this operation!";

/// What `caller` gets from a route under `rule`: `None` when allowed, else (status, message).
fn expected_refusal(rule: Rule, caller: &str) -> Option<(u16, String)> {
    match caller {
        "none" if rule != Rule::Open => {
            return Some((
                401,
                "Empty Key! Client must be authenticated to access this resource.".into(),
            ));
        }
        "expired" if rule != Rule::Open => return Some((401, "Token was expired!".into())),
        "revoked" if rule != Rule::Open => return Some((401, "Token is not valid!".into())),
        _ => {}
    }
    if caller == "sysadmin" {
        return None;
    }
    // An agent token follows its environment and can do nothing else.
    if caller == "agent" {
        return match rule {
            Rule::Open | Rule::Agent => None,
            _ => Some((
                400,
                "This is an agent token of environment (production): it can only follow that environment through the agent endpoints!".into(),
            )),
        };
    }
    let held = grants(caller);
    let has = |a: &str| held.contains(&a);
    let shop_gone = || {
        Some((
            400,
            "Project (shop) is not found or user does not have privilege to access it!".into(),
        ))
    };
    let write = has("SECRETS:MANAGE") && has("SECRETS:DEPLOY_UNDEPLOY");
    match rule {
        Rule::Open | Rule::AnyUser => None,
        Rule::SysAdmin | Rule::Agent => Some((400, DENIED.into())),
        Rule::AdminProject => Some((
            400,
            "Project (admin) is not found or user does not have privilege to access it!".into(),
        )),
        _ if held.is_empty() => shop_gone(),
        Rule::Read => None,
        Rule::Write if write => None,
        Rule::Export if has("SECRETS:EXPORT_IMPORT") => None,
        Rule::Import if write && has("SECRETS:EXPORT_IMPORT") => None,
        Rule::Write | Rule::Export | Rule::Import => Some((400, DENIED.into())),
    }
}

enum Body {
    None,
    Json(Value),
    Form(Vec<(&'static str, String)>),
    /// Text fields and one file part (field, file name, bytes).
    Multipart(
        Vec<(&'static str, String)>,
        (&'static str, &'static str, Vec<u8>),
    ),
}

struct Req {
    path: String,
    body: Body,
}

fn req(path: impl Into<String>, body: Body) -> Req {
    Req {
        path: path.into(),
        body,
    }
}

/// What a request of the matrix needs beyond the caller's name.
struct Ctx {
    jwks_url: String,
    /// Export packages of `key-<caller>` and `ks-<caller>`, made at setup.
    key_packages: std::collections::HashMap<String, Vec<u8>>,
    keystore_packages: std::collections::HashMap<String, Vec<u8>>,
}

struct Row {
    method: &'static str,
    /// The path as the OpenAPI document spells it.
    route: &'static str,
    rule: Rule,
    /// Whether an allowed call changes the store (denials are then checked to change nothing).
    writes: bool,
    /// A request that succeeds for an allowed caller `p` (each caller gets its own objects).
    build: fn(&Ctx, &str) -> Req,
}

const P: &str = "/apiops/projects/shop";

fn text(s: &str) -> String {
    s.to_owned()
}

/// RFC 7517 A.1's EC public key.
/// RFC 7517 appendix A.2: the private EC key.
fn rfc_ec_private() -> Value {
    let mut jwk = rfc_ec();
    jwk["d"] = json!("870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE");
    jwk
}

/// The RFC 7517 EC key under another kid (kids are unique within an environment).
fn ec_with_kid(kid: &str) -> Value {
    let mut jwk = rfc_ec();
    jwk["kid"] = json!(kid);
    jwk
}

fn rfc_ec() -> Value {
    json!({"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","use":"enc","kid":"1"})
}

fn pem(name: &str) -> String {
    String::from_utf8(read_fixture(name)).unwrap()
}

fn key_body(name: &str) -> Value {
    json!({"name": name, "keyType": "PRIVATE_KEY", "cryptoKeyInfoEnvironmentList": [
        {"environmentName": "production", "content": pem("keys/p256.p8.pem"), "alias": name}]})
}

fn keystore_body(name: &str) -> Value {
    json!({"name": name, "keyStoreEnvironmentList": [{"environmentName": "production",
        "file": keyward_jose::b64::standard(&read_fixture("keystores/modern.p12")),
        "password": "p12pass1", "keyStoreType": "PKCS12"}]})
}

fn cert_form(name: &str) -> Body {
    Body::Multipart(
        vec![
            ("certificateName", text(name)),
            ("alias", text(name)),
            ("environmentList", text("production")),
        ],
        ("pemEncodedFile", "c.pem", read_fixture("p256.pem")),
    )
}

fn rows() -> Vec<Row> {
    use Rule::*;
    macro_rules! row {
        ($m:literal, $r:literal, $rule:expr, $w:expr, $b:expr) => {
            Row {
                method: $m,
                route: $r,
                rule: $rule,
                writes: $w,
                build: $b,
            }
        };
    }
    vec![
        // ---- open and management ---------------------------------------------------------------
        row!("GET", "/healthz", Open, false, |_, _| req(
            "/healthz",
            Body::None
        )),
        row!("POST", "/apiops/auth/token", Open, false, |_, _| req(
            "/apiops/auth/token",
            Body::Form(vec![
                ("grant_type", text("client_credentials")),
                ("client_id", text("admin")),
                ("client_secret", text("admin-password-1")),
            ])
        )),
        row!(
            "GET",
            "/apiops/public/projects/{projectName}/environments/{environmentName}/jwks.json",
            Open,
            false,
            |_, _| req(
                "/apiops/public/projects/shop/environments/production/jwks.json",
                Body::None
            )
        ),
        row!(
            "GET",
            "/apiops/public/projects/{projectName}/environments/{environmentName}/.well-known/jwks.json",
            Open,
            false,
            |_, _| req(
                "/apiops/public/projects/shop/environments/production/.well-known/jwks.json",
                Body::None
            )
        ),
        row!(
            "GET",
            "/apiops/environments/{environmentName}/agent/bundle",
            Agent,
            false,
            |_, p| req(
                format!("/apiops/environments/production/agent/bundle?agent=m-{p}"),
                Body::None
            )
        ),
        row!(
            "POST",
            "/apiops/environments/{environmentName}/agent/ack",
            Agent,
            false,
            |_, p| req(
                "/apiops/environments/production/agent/ack",
                Body::Json(json!({"agent": format!("m-{p}"), "revision": 0, "success": true}))
            )
        ),
        row!(
            "GET",
            "/apiops/environments/{environmentName}/agents",
            AnyUser,
            false,
            |_, _| req("/apiops/environments/production/agents", Body::None)
        ),
        row!("GET", "/apiops/environments", AnyUser, false, |_, _| req(
            "/apiops/environments",
            Body::None
        )),
        row!("GET", "/apiops/projects", AnyUser, false, |_, _| req(
            "/apiops/projects",
            Body::None
        )),
        row!("POST", "/apiops/environments", SysAdmin, true, |_, p| req(
            "/apiops/environments",
            Body::Json(json!({"name": format!("env-{p}"), "type": "TEST"}))
        )),
        row!("POST", "/apiops/projects", SysAdmin, true, |_, p| req(
            "/apiops/projects",
            Body::Json(json!({"name": format!("proj-{p}")}))
        )),
        row!("POST", "/apiops/users", SysAdmin, true, |_, p| req(
            "/apiops/users",
            Body::Json(json!({"username": format!("user-{p}"), "password": "password-123"}))
        )),
        row!(
            "PUT",
            "/apiops/projects/{projectName}/members/{username}",
            SysAdmin,
            true,
            |_, _| req(
                format!("{P}/members/target"),
                Body::Json(
                    json!({"permissions": [{"category": "SECRETS", "action": "EXPORT_IMPORT"}]})
                )
            )
        ),
        row!(
            "POST",
            "/apiops/users/{username}/tokens",
            SysAdmin,
            true,
            |_, p| req(
                "/apiops/users/target/tokens",
                Body::Json(json!({"name": format!("new-{p}")}))
            )
        ),
        row!(
            "DELETE",
            "/apiops/users/{username}/tokens/{tokenName}",
            SysAdmin,
            true,
            |_, p| req(format!("/apiops/users/target/tokens/tok-{p}"), Body::None)
        ),
        // The management extension's lists, changes and deletes (the system admin acts on
        // `*-sysadmin` objects made at setup; refused callers are refused before any lookup).
        row!("GET", "/apiops/users", AnyUser, false, |_, _| req(
            "/apiops/users",
            Body::None
        )),
        row!(
            "GET",
            "/apiops/users/{username}",
            SysAdmin,
            false,
            |_, _| req("/apiops/users/target", Body::None)
        ),
        row!("PUT", "/apiops/users/{username}", SysAdmin, true, |_, p| {
            req(
                format!("/apiops/users/flip-{p}"),
                Body::Json(json!({"sysAdmin": true})),
            )
        }),
        row!(
            "DELETE",
            "/apiops/users/{username}",
            SysAdmin,
            true,
            |_, p| req(format!("/apiops/users/del-{p}"), Body::None)
        ),
        row!(
            "GET",
            "/apiops/users/{username}/tokens",
            SysAdmin,
            false,
            |_, _| req("/apiops/users/target/tokens", Body::None)
        ),
        row!(
            "GET",
            "/apiops/projects/{projectName}/members",
            Read,
            false,
            |_, _| req(format!("{P}/members"), Body::None)
        ),
        row!(
            "DELETE",
            "/apiops/projects/{projectName}/members/{username}",
            SysAdmin,
            true,
            |_, p| req(format!("{P}/members/member-{p}"), Body::None)
        ),
        row!(
            "DELETE",
            "/apiops/projects/{projectName}",
            SysAdmin,
            true,
            |_, p| req(format!("/apiops/projects/pdel-{p}"), Body::None)
        ),
        row!(
            "DELETE",
            "/apiops/environments/{environmentName}",
            SysAdmin,
            true,
            |_, p| req(format!("/apiops/environments/edel-{p}"), Body::None)
        ),
        row!("GET", "/apiops/audit", SysAdmin, false, |_, _| req(
            "/apiops/audit",
            Body::None
        )),
        row!(
            "GET",
            "/apiops/projects/{projectName}/keys/{keyName}/export",
            Export,
            false,
            |_, _| req(format!("{P}/keys/src-key/export"), Body::None)
        ),
        row!(
            "GET",
            "/apiops/projects/{projectName}/keystores/{keystoreName}/export",
            Export,
            false,
            |_, _| req(format!("{P}/keystores/src-ks/export"), Body::None)
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/keys/import",
            Import,
            true,
            |c, p| req(
                format!("{P}/keys/import"),
                Body::Multipart(
                    vec![],
                    ("keyExportFile", "k.zip", c.key_packages[p].clone())
                )
            )
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/keystores/import",
            Import,
            true,
            |c, p| req(
                format!("{P}/keystores/import"),
                Body::Multipart(
                    vec![],
                    (
                        "keystoreExportFile",
                        "k.zip",
                        c.keystore_packages[p].clone()
                    )
                )
            )
        ),
        row!(
            "GET",
            "/apiops/projects/{projectName}/environments",
            Read,
            false,
            |_, _| req(format!("{P}/environments"), Body::None)
        ),
        // ---- certificates ----------------------------------------------------------------------
        row!(
            "GET",
            "/apiops/projects/{projectName}/certificates",
            Read,
            false,
            |_, _| req(format!("{P}/certificates"), Body::None)
        ),
        row!(
            "GET",
            "/apiops/projects/{projectName}/certificates/{certificateName}",
            Read,
            false,
            |_, _| req(format!("{P}/certificates/src-cert"), Body::None)
        ),
        row!(
            "GET",
            "/apiops/projects/{projectName}/certificates/{certificateName}/export",
            Export,
            false,
            |_, _| req(format!("{P}/certificates/src-cert/export"), Body::None)
        ),
        row!(
            "GET",
            "/apiops/projects/{projectName}/certificates/{certificateName}/export-file",
            Export,
            false,
            |_, _| req(format!("{P}/certificates/src-cert/export-file"), Body::None)
        ),
        row!(
            "GET",
            "/apiops/projects/{projectName}/certificates/truststore/{environmentName}",
            AdminProject,
            false,
            |_, _| req(
                "/apiops/projects/admin/certificates/truststore/production",
                Body::None
            )
        ),
        row!(
            "GET",
            "/apiops/projects/{projectName}/certificates/truststore/{environmentName}/export-file",
            Export,
            false,
            |_, _| req(
                format!("{P}/certificates/truststore/production/export-file"),
                Body::None
            )
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/certificates",
            Write,
            true,
            |_, p| req(
                format!("{P}/certificates"),
                cert_form(&format!("new-cert-{p}"))
            )
        ),
        row!(
            "PUT",
            "/apiops/projects/{projectName}/certificates/{certificateName}",
            Write,
            true,
            |_, p| req(
                format!("{P}/certificates/cert-{p}"),
                Body::Multipart(
                    vec![
                        ("alias", format!("cert-{p}")),
                        ("environmentList", text("production,test")),
                    ],
                    ("pemEncodedFile", "c.pem", read_fixture("p384.pem")),
                )
            )
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/certificates/import-file",
            Import,
            true,
            |_, p| req(
                format!("{P}/certificates/import-file"),
                Body::Multipart(
                    vec![
                        ("certificateName", format!("imp-cert-{p}")),
                        ("alias", format!("imp-cert-{p}")),
                        ("environmentList", text("production")),
                    ],
                    ("certificateFile", "c.pem", read_fixture("p384.pem")),
                )
            )
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/certificates/truststore/{environmentName}/import-file",
            Import,
            true,
            |_, p| req(
                format!("{P}/certificates/truststore/test/import-file"),
                Body::Multipart(
                    vec![("namePrefix", format!("ts-{p}-"))],
                    ("truststoreFile", "ca.pem", read_fixture("chain-root.pem"))
                )
            )
        ),
        row!(
            "DELETE",
            "/apiops/projects/{projectName}/certificates/{certificateName}",
            Write,
            true,
            |_, p| req(format!("{P}/certificates/cert-{p}"), Body::None)
        ),
        // ---- JWKs ------------------------------------------------------------------------------
        row!(
            "GET",
            "/apiops/projects/{projectName}/jwks",
            Read,
            false,
            |_, _| req(format!("{P}/jwks"), Body::None)
        ),
        row!(
            "GET",
            "/apiops/projects/{projectName}/jwks/{jwkName}",
            Read,
            false,
            |_, _| req(format!("{P}/jwks/src-jwk"), Body::None)
        ),
        row!(
            "GET",
            "/apiops/projects/{projectName}/jwks/{jwkName}/export-file",
            Export,
            false,
            |_, _| req(format!("{P}/jwks/src-jwk/export-file"), Body::None)
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/jwks",
            Write,
            true,
            |_, p| req(
                format!("{P}/jwks"),
                Body::Json(
                    json!({"name": format!("new-jwk-{p}"), "sourceType": "CERTIFICATE", "certificateName": "src-cert", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "ES256"})
                )
            )
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/jwks/parse-from-certificate",
            Write,
            true,
            |_, p| req(
                format!("{P}/jwks/parse-from-certificate"),
                Body::Json(
                    json!({"name": format!("pc-{p}"), "certificateName": "src-cert", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "ES256"})
                )
            )
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/jwks/parse-from-key",
            Write,
            true,
            |_, p| req(
                format!("{P}/jwks/parse-from-key"),
                Body::Json(
                    json!({"name": format!("pk-{p}"), "keyName": "src-key", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "ES256"})
                )
            )
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/jwks/parse-from-keystore",
            Write,
            true,
            |_, p| req(
                format!("{P}/jwks/parse-from-keystore"),
                Body::Json(
                    json!({"name": format!("pks-{p}"), "keyStoreName": "src-ks", "environmentName": "production", "aliasName": "modern", "useType": "SIGNATURE", "algorithm": "RS256"})
                )
            )
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/jwks/parse-from-clipboard",
            Write,
            true,
            |_, p| req(
                format!("{P}/jwks/parse-from-clipboard"),
                Body::Json(
                    json!({"name": format!("pcb-{p}"), "jwkStr": ec_with_kid(&format!("pcb-{p}")).to_string()})
                )
            )
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/jwks/parse-from-url",
            Write,
            true,
            |c, p| req(
                format!("{P}/jwks/parse-from-url"),
                Body::Json(json!({"name": format!("pu-{p}"), "url": c.jwks_url}))
            )
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/jwks/generate",
            Write,
            true,
            |_, p| req(
                format!("{P}/jwks/generate"),
                Body::Json(
                    json!({"name": format!("gen-{p}"), "type": "OCT", "oct": {"keySize": 256}})
                )
            )
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/jwks/import-file",
            Import,
            true,
            |_, p| req(
                format!("{P}/jwks/import-file"),
                Body::Multipart(
                    vec![
                        ("jwkName", format!("imp-jwk-{p}")),
                        ("kid", format!("imp-{p}"))
                    ],
                    (
                        "jwkFile",
                        "jwks.json",
                        serde_json::to_vec(&json!({"keys": [ec_with_kid(&format!("imp-{p}"))]}))
                            .unwrap()
                    ),
                )
            )
        ),
        row!(
            "PUT",
            "/apiops/projects/{projectName}/jwks/{jwkName}",
            Write,
            true,
            |_, p| req(
                format!("{P}/jwks/jwk-{p}"),
                Body::Json(json!({"description": format!("changed by {p}")}))
            )
        ),
        row!(
            "DELETE",
            "/apiops/projects/{projectName}/jwks/{jwkName}",
            Write,
            true,
            |_, p| req(format!("{P}/jwks/jwk-{p}"), Body::None)
        ),
        // ---- keys ------------------------------------------------------------------------------
        row!(
            "GET",
            "/apiops/projects/{projectName}/keys",
            Read,
            false,
            |_, _| req(format!("{P}/keys"), Body::None)
        ),
        row!(
            "GET",
            "/apiops/projects/{projectName}/keys/{keyName}",
            Read,
            false,
            |_, _| req(format!("{P}/keys/src-key"), Body::None)
        ),
        row!(
            "GET",
            "/apiops/projects/{projectName}/keys/{keyName}/export-file",
            Export,
            false,
            |_, _| req(format!("{P}/keys/src-key/export-file"), Body::None)
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/keys",
            Write,
            true,
            |_, p| req(
                format!("{P}/keys"),
                Body::Json(key_body(&format!("new-key-{p}")))
            )
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/keys/import-file",
            Import,
            true,
            |_, p| req(
                format!("{P}/keys/import-file"),
                Body::Multipart(
                    vec![
                        ("keyName", format!("imp-key-{p}")),
                        ("keyType", text("PUBLIC_KEY")),
                        ("environmentList", text("production")),
                    ],
                    ("keyFile", "k.pem", read_fixture("keys/p256.spki.pem")),
                )
            )
        ),
        row!(
            "PUT",
            "/apiops/projects/{projectName}/keys/{keyName}",
            Write,
            true,
            |_, p| req(
                format!("{P}/keys/key-{p}"),
                Body::Json(json!({"description": format!("changed by {p}")}))
            )
        ),
        row!(
            "DELETE",
            "/apiops/projects/{projectName}/keys/{keyName}",
            Write,
            true,
            |_, p| req(format!("{P}/keys/key-{p}"), Body::None)
        ),
        // ---- keystores -------------------------------------------------------------------------
        row!(
            "GET",
            "/apiops/projects/{projectName}/keystores",
            Read,
            false,
            |_, _| req(format!("{P}/keystores"), Body::None)
        ),
        row!(
            "GET",
            "/apiops/projects/{projectName}/keystores/{keystoreName}",
            Read,
            false,
            |_, _| req(format!("{P}/keystores/src-ks"), Body::None)
        ),
        row!(
            "GET",
            "/apiops/projects/{projectName}/keystores/{keystoreName}/export-file",
            Export,
            false,
            |_, _| req(format!("{P}/keystores/src-ks/export-file"), Body::None)
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/keystores",
            Write,
            true,
            |_, p| req(
                format!("{P}/keystores"),
                Body::Json(keystore_body(&format!("new-ks-{p}")))
            )
        ),
        row!(
            "POST",
            "/apiops/projects/{projectName}/keystores/import-file",
            Import,
            true,
            |_, p| req(
                format!("{P}/keystores/import-file"),
                Body::Multipart(
                    vec![
                        ("keystoreName", format!("imp-ks-{p}")),
                        ("password", text("p12pass1")),
                        ("environmentList", text("production")),
                    ],
                    (
                        "keystoreFile",
                        "k.p12",
                        read_fixture("keystores/modern.p12")
                    ),
                )
            )
        ),
        row!(
            "PUT",
            "/apiops/projects/{projectName}/keystores/{keystoreName}",
            Write,
            true,
            |_, p| req(
                format!("{P}/keystores/ks-{p}"),
                Body::Json(json!({"description": format!("changed by {p}")}))
            )
        ),
        row!(
            "DELETE",
            "/apiops/projects/{projectName}/keystores/{keystoreName}",
            Write,
            true,
            |_, p| req(format!("{P}/keystores/ks-{p}"), Body::None)
        ),
    ]
}

/// Sends one request of the matrix; answers the status and the JSON body (`Null` for files).
async fn send(s: &Server, method: &str, r: Req, token: Option<&str>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut b = s.client.request(method, s.url(&r.path));
    if let Some(t) = token {
        b = b.bearer_auth(t);
    }
    b = match r.body {
        Body::None => b,
        Body::Json(v) => b.json(&v),
        Body::Form(f) => b.form(&f),
        Body::Multipart(fields, (field, file_name, bytes)) => {
            let mut form = reqwest::multipart::Form::new();
            for (k, v) in fields {
                form = form.text(k, v);
            }
            form = form.part(
                field,
                reqwest::multipart::Part::bytes(bytes).file_name(file_name),
            );
            b.multipart(form)
        }
    };
    let resp = b.send().await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Everything a refused request could have changed: every object of `shop`, `admin` and
/// `other`, every environment with its revision, every project, what `target` may do, and which
/// of its tokens still work. (Users and tokens that a refused request would have created are
/// checked at the end of the test.)
async fn snapshot(s: &Server, target: &str, target_tokens: &[String]) -> Value {
    let mut out = serde_json::Map::new();
    for path in [
        "/apiops/environments",
        "/apiops/projects",
        "/apiops/users",
        "/apiops/projects/shop/members",
    ] {
        out.insert(path.into(), s.get(path, Some(ADMIN)).await.1);
    }
    for project in ["shop", "admin", "other"] {
        for kind in ["certificates", "keys", "keystores", "jwks"] {
            let path = format!("/apiops/projects/{project}/{kind}");
            let (status, list) = s.get(&path, Some(ADMIN)).await;
            assert_eq!(status, 200, "{path}: {list}");
            // Each object in full, too (a JWK's material is only in its own answer).
            let mut full = vec![];
            for item in list["resultList"].as_array().unwrap() {
                let name = item["name"].as_str().unwrap();
                full.push(s.get(&format!("{path}/{name}"), Some(ADMIN)).await.1);
            }
            out.insert(path, json!({"list": list, "items": full}));
        }
    }
    out.insert(
        "target sees".into(),
        s.get("/apiops/projects", Some(target)).await.1,
    );
    out.insert(
        "target in shop".into(),
        s.get("/apiops/projects/shop/certificates", Some(target))
            .await
            .1,
    );
    out.insert(
        "target exports".into(),
        s.get(
            "/apiops/projects/shop/certificates/src-cert/export",
            Some(target),
        )
        .await
        .1,
    );
    let mut working = vec![];
    for t in target_tokens {
        working.push(s.get("/apiops/environments", Some(t)).await.0);
    }
    out.insert("target tokens".into(), json!(working));
    Value::Object(out)
}

/// A tiny HTTP server answering every request with a JWK Set (for `parse-from-url`).
async fn jwks_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // No kid: each JWK made from it gets the thumbprint, made unique per environment.
    let mut key = rfc_ec();
    key.as_object_mut().unwrap().remove("kid");
    let body = serde_json::to_vec(&json!({"keys": [key]})).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut c, _)) = listener.accept().await else {
                return;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(head.as_bytes()).await;
                let _ = c.write_all(&body).await;
            });
        }
    });
    port
}

async fn create_ok(s: &Server, method: &str, r: Req) {
    let path = r.path.clone();
    let (status, body) = send(s, method, r, Some(ADMIN)).await;
    assert_eq!(status, 200, "setup {path}: {body}");
    assert_success(status, &body);
}

#[tokio::test]
async fn every_route_for_every_caller() {
    let port = jwks_server().await;
    let mut ctx = Ctx {
        jwks_url: format!("http://127.0.0.1:{port}/jwks.json"),
        key_packages: Default::default(),
        keystore_packages: Default::default(),
    };
    // The lockout would stop the matrix's bad tokens; it has tests of its own (edge.rs).
    let s = Server::start_with(
        DataHome::new(),
        &[
            "--auth-max-failures",
            "0",
            "--fetch-allow",
            "127.0.0.1/32",
            "--fetch-allow-http",
        ],
    )
    .await;
    s.create_environment("production").await;
    s.create_environment("test").await;
    s.create_project("shop").await;
    s.create_project("other").await;

    // Callers and their tokens.
    let mut tokens: Vec<(&str, Option<String>)> = vec![("sysadmin", Some(ADMIN.to_owned()))];
    for c in CALLERS {
        if !grants(c).is_empty() {
            tokens.push((*c, Some(s.user_with(c, "shop", grants(c)).await)));
        }
    }
    let all_secrets = [
        "SECRETS:VIEW",
        "SECRETS:MANAGE",
        "SECRETS:DEPLOY_UNDEPLOY",
        "SECRETS:EXPORT_IMPORT",
    ];
    tokens.push((
        "outsider",
        Some(s.user_with("outsider", "other", &all_secrets).await),
    ));
    tokens.push(("none", None));
    let expiring = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let (status, body) = s
        .post(
            "/apiops/users/admin/tokens",
            Some(ADMIN),
            json!({"name": "expiring", "expiresAt": expiring.format(&time::format_description::well_known::Rfc3339).unwrap()}),
        )
        .await;
    assert_success(status, &body);
    tokens.push((
        "expired",
        Some(body["resultList"][0]["token"].as_str().unwrap().to_owned()),
    ));
    let (status, body) = s
        .post(
            "/apiops/users/admin/tokens",
            Some(ADMIN),
            json!({"name": "revoked"}),
        )
        .await;
    assert_success(status, &body);
    tokens.push((
        "revoked",
        Some(body["resultList"][0]["token"].as_str().unwrap().to_owned()),
    ));
    let (status, body) = s
        .delete("/apiops/users/admin/tokens/revoked", Some(ADMIN))
        .await;
    assert_success(status, &body);
    let (status, body) = s
        .post(
            "/apiops/users/admin/tokens",
            Some(ADMIN),
            json!({"name": "agent", "environmentName": "production"}),
        )
        .await;
    assert_success(status, &body);
    tokens.push((
        "agent",
        Some(body["resultList"][0]["token"].as_str().unwrap().to_owned()),
    ));
    assert_eq!(
        tokens.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        CALLERS.to_vec()
    );

    // `target`: the user whose tokens and permissions the management rows act on.
    let target = s.user_with("target", "shop", &["SECRETS:VIEW"]).await;
    // What the system admin's rows change or delete.
    for user in ["flip-sysadmin", "del-sysadmin"] {
        let (status, body) = s
            .post(
                "/apiops/users/",
                Some(ADMIN),
                json!({"username": user, "password": "password-123"}),
            )
            .await;
        assert_success(status, &body);
    }
    s.user_with("member-sysadmin", "shop", &["SECRETS:VIEW"])
        .await;
    s.create_project("pdel-sysadmin").await;
    s.create_environment("edel-sysadmin").await;
    // Objects: the sources every caller reads, and one of each kind per caller to change.
    create_ok(
        &s,
        "POST",
        req(format!("{P}/certificates"), cert_form("src-cert")),
    )
    .await;
    create_ok(
        &s,
        "POST",
        req(format!("{P}/keys"), Body::Json(key_body("src-key"))),
    )
    .await;
    create_ok(
        &s,
        "POST",
        req(
            format!("{P}/keystores"),
            Body::Json(keystore_body("src-ks")),
        ),
    )
    .await;
    create_ok(
        &s,
        "POST",
        req(
            format!("{P}/jwks/parse-from-clipboard"),
            Body::Json(json!({"name": "src-jwk", "jwkStr": rfc_ec().to_string()})),
        ),
    )
    .await;
    let mut target_tokens = vec![];
    for c in CALLERS {
        create_ok(
            &s,
            "POST",
            req(format!("{P}/certificates"), cert_form(&format!("cert-{c}"))),
        )
        .await;
        create_ok(
            &s,
            "POST",
            req(
                format!("{P}/keys"),
                Body::Json(key_body(&format!("key-{c}"))),
            ),
        )
        .await;
        create_ok(
            &s,
            "POST",
            req(
                format!("{P}/keystores"),
                Body::Json(keystore_body(&format!("ks-{c}"))),
            ),
        )
        .await;
        create_ok(
            &s,
            "POST",
            req(
                format!("{P}/jwks/generate"),
                Body::Json(
                    json!({"name": format!("jwk-{c}"), "type": "OCT", "oct": {"keySize": 256}}),
                ),
            ),
        )
        .await;
        let (status, body) = s
            .post(
                "/apiops/users/target/tokens",
                Some(ADMIN),
                json!({"name": format!("tok-{c}")}),
            )
            .await;
        assert_success(status, &body);
        target_tokens.push(body["resultList"][0]["token"].as_str().unwrap().to_owned());
        for (kind, packages) in [
            ("keys/key", &mut ctx.key_packages),
            ("keystores/ks", &mut ctx.keystore_packages),
        ] {
            let resp = s
                .client
                .get(s.url(&format!("{P}/{kind}-{c}/export")))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "export {kind}-{c}");
            packages.insert(c.to_string(), resp.bytes().await.unwrap().to_vec());
        }
    }
    // Let the expiring token expire.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // No route escapes: the rows are exactly the routes of the OpenAPI document.
    let (status, doc) = s.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let rows = rows();
    let covered: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_owned(), r.route.to_owned()))
        .collect();
    assert_eq!(covered.len(), rows.len(), "a route has two rows");
    let missing: Vec<_> = documented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the permission matrix: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "rows for routes that do not exist: {stale:?}"
    );

    let mut checked = 0;
    for row in &rows {
        let label = format!("{} {}", row.method, row.route);
        // Refused callers first, with the store compared before and after all of them.
        let before = if row.writes {
            Some(snapshot(&s, &target, &target_tokens).await)
        } else {
            None
        };
        for (caller, token) in &tokens {
            let Some((status, message)) = expected_refusal(row.rule, caller) else {
                continue;
            };
            let (got, body) =
                send(&s, row.method, (row.build)(&ctx, caller), token.as_deref()).await;
            assert!(
                got == status && body["resultMessage"] == message.as_str(),
                "{label} as {caller}: expected {status} {message:?}, got {got} {body}"
            );
            assert_error(got, &body, status, &message);
            checked += 1;
        }
        if let Some(before) = &before {
            let after = snapshot(&s, &target, &target_tokens).await;
            assert!(
                *before == after,
                "{label}: a refused request changed the store:\nbefore {before}\nafter  {after}"
            );
        }
        // Allowed callers succeed.
        for (caller, token) in &tokens {
            if expected_refusal(row.rule, caller).is_some() {
                continue;
            }
            let (got, body) =
                send(&s, row.method, (row.build)(&ctx, caller), token.as_deref()).await;
            assert_eq!(got, 200, "{label} as {caller}: {body}");
            // Envelopes say SUCCESS; /healthz, the token endpoint and files have their own shape.
            if body.get("success").is_some() {
                assert_eq!(body["status"], "SUCCESS", "{label} as {caller}: {body}");
            }
            checked += 1;
        }
        // The comparison sees what this route changes (else "nothing changed" would prove
        // nothing); new users and tokens are checked at the end instead.
        if let Some(before) = before
            && !matches!(
                row.route,
                "/apiops/users" | "/apiops/users/{username}/tokens"
            )
        {
            let after = snapshot(&s, &target, &target_tokens).await;
            assert!(
                before != after,
                "{label}: the snapshot does not see this route's writes"
            );
        }
    }
    assert_eq!(checked, rows.len() * CALLERS.len());

    // What refused management calls would have created does not exist, and the tokens they
    // would have revoked still exist.
    for caller in CALLERS {
        if expected_refusal(Rule::SysAdmin, caller).is_none() {
            continue;
        }
        let (status, body) = s
            .post(
                "/apiops/users/",
                Some(ADMIN),
                json!({"username": format!("user-{caller}"), "password": "password-123"}),
            )
            .await;
        assert_success(status, &body);
        let (status, body) = s
            .post(
                "/apiops/users/target/tokens",
                Some(ADMIN),
                json!({"name": format!("new-{caller}")}),
            )
            .await;
        assert_success(status, &body);
        let (status, body) = s
            .delete(
                &format!("/apiops/users/target/tokens/tok-{caller}"),
                Some(ADMIN),
            )
            .await;
        assert_success(status, &body);
    }
}

/// The private-material and agent-token cells of the matrix (00-product §1): which member kinds
/// read private JWK members, and which may hold an agent token — whose bundle then carries
/// private material only where its owner deploys.
#[tokio::test]
async fn private_material_and_agent_token_cells() {
    let s = Server::with_world().await;
    s.create_project("other").await;
    let (status, body) = s
        .post(
            &format!("{P}/jwks/parse-from-clipboard"),
            Some(ADMIN),
            json!({"name": "private", "jwkStr": rfc_ec_private().to_string()}),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = s
        .post(&format!("{P}/keys"), Some(ADMIN), key_body("k"))
        .await;
    assert_success(status, &body);
    // (caller, sees private members, may mint an agent token, its bundle carries shop's keys)
    let cells: &[(&str, bool, bool, bool)] = &[
        ("viewer", false, false, false),
        ("manager", true, true, true),
        ("manage_only", true, false, false),
        ("deployer", false, true, true),
        ("exporter", true, false, false),
        ("importer", true, true, true),
    ];
    for &(caller, sees, mints, carries) in cells {
        let token = s.user_with(caller, "shop", grants(caller)).await;
        let (status, body) = s.get(&format!("{P}/jwks/private"), Some(&token)).await;
        assert_success(status, &body);
        let item = &body["resultList"][0];
        assert_eq!(item["jwk"]["d"].is_string(), sees, "{caller}: {body}");
        assert_eq!(item["ec"]["d"].is_string(), sees, "{caller}: {body}");
        assert!(
            item["jwk"]["x"].is_string(),
            "{caller}: public members always"
        );
        let (status, body) = s
            .post(
                &format!("/apiops/users/{caller}/tokens"),
                Some(&token),
                json!({"name": "gw", "environmentName": "production"}),
            )
            .await;
        if !mints {
            assert_error(
                status,
                &body,
                400,
                "User does not have required permission for this operation! An agent token needs SECRETS DEPLOY_UNDEPLOY in at least one project.",
            );
            continue;
        }
        assert_success(status, &body);
        let agent = body["resultList"][0]["token"].as_str().unwrap().to_owned();
        let (status, body) = s
            .get(
                &format!("/apiops/environments/production/agent/bundle?agent=gw-{caller}"),
                Some(&agent),
            )
            .await;
        assert_success(status, &body);
        let shop = body["resultList"][0]["projects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "shop")
            .unwrap_or_else(|| panic!("{caller}: {body}"))
            .clone();
        assert_eq!(
            shop["keys"].as_array().unwrap().len() == 1,
            carries,
            "{caller}: {shop}"
        );
        assert_eq!(shop["privateJwks"].is_object(), carries, "{caller}: {shop}");
    }
    // The outsider deploys in `other` only: it may hold an agent token, which reads nothing of shop.
    let outsider = s
        .user_with(
            "outsider",
            "other",
            &["SECRETS:MANAGE", "SECRETS:DEPLOY_UNDEPLOY"],
        )
        .await;
    let (status, body) = s
        .post(
            "/apiops/users/outsider/tokens",
            Some(&outsider),
            json!({"name": "gw", "environmentName": "production"}),
        )
        .await;
    assert_success(status, &body);
    let agent = body["resultList"][0]["token"].as_str().unwrap().to_owned();
    let (status, body) = s
        .get(
            "/apiops/environments/production/agent/bundle?agent=gw-outsider",
            Some(&agent),
        )
        .await;
    assert_success(status, &body);
    assert!(
        !body.to_string().contains("\"shop\""),
        "a non-member's bundle names shop: {body}"
    );
}
