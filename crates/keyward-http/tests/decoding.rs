//! Property tests of request decoding: every JSON and multipart route of the real router (listed
//! from its own OpenAPI document, so a new route is covered without editing this file), served
//! in-process on a real SQLite store, gets arbitrary JSON, arbitrary bytes and arbitrary multipart
//! forms. Whatever arrives, the answer is never a server error and always the documented JSON
//! envelope (`status` SUCCESS or FAILURE; a failure carries the same message in `resultMessage`
//! and `error_description`).

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, header};
use keyward_http::auth::Auth;
use keyward_http::{AppState, Config, app};
use keyward_store::{Bootstrap, Kek, Keyring, Store};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "kw_decoding-test-admin-token-0123456789";

struct World {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    json_routes: Vec<(String, String)>,
    form_routes: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

/// Routes taking a body: `(method, path with parameters filled in)`; JSON bodies when `json`,
/// else the others (multipart forms, and the few POSTs without a body).
fn body_routes(openapi: &Value, json: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in openapi["paths"].as_object().unwrap() {
        for method in ["post", "put"] {
            let Some(op) = item.get(method) else { continue };
            let takes_json = op["requestBody"]["content"]
                .get("application/json")
                .is_some();
            if takes_json == json {
                let filled = path
                    .replace("{projectName}", "shop")
                    .replace("{environmentName}", "production")
                    .replace("{username}", "someone")
                    .replace("{tokenName}", "t");
                // Any other parameter (an object name) gets a fixed name.
                let filled = regex_lite_fill(&filled);
                out.push((method.to_uppercase(), filled));
            }
        }
    }
    out
}

fn regex_lite_fill(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |e| start + e + 1);
        out.push_str("obj");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let app = rt.block_on(async {
            let store = Store::open_sqlite(&dir.path().join("keyward.db"))
                .await
                .unwrap();
            let (store, _) = store
                .unlock(Keyring::new(Kek::generate().0, Vec::new()))
                .await
                .unwrap();
            let auth = Auth::new(store.clone()).await.unwrap();
            store
                .bootstrap(
                    Bootstrap {
                        admin_username: "admin".into(),
                        admin_password_hash: "$argon2id$unused".into(),
                        admin_project_name: "admin".into(),
                        token_name: "bootstrap".into(),
                        token_hash: auth.hash_token(TOKEN).to_vec(),
                    },
                    &keyward_store::AuditEntry::system("bootstrap", "user", "admin"),
                )
                .await
                .unwrap();
            let state = AppState::new(store, Config::default()).await.unwrap();
            let app = app(state);
            let router = axum::Router::new().fallback_service(app);
            for (path, body) in [
                (
                    "/apiops/environments/",
                    json!({"name": "production", "type": "PRODUCTION"}),
                ),
                (
                    "/apiops/environments/",
                    json!({"name": "test", "type": "TEST"}),
                ),
                ("/apiops/projects/", json!({"name": "shop"})),
            ] {
                let (status, resp) = send(
                    &router,
                    "POST",
                    path,
                    "application/json",
                    body.to_string().into_bytes(),
                )
                .await;
                assert_eq!(status, 200, "{resp}");
            }
            router
        });
        let openapi = rt.block_on(async {
            let (status, doc) = send(&app, "GET", "/openapi.json", "", Vec::new()).await;
            assert_eq!(status, 200);
            doc
        });
        let json_routes = body_routes(&openapi, true);
        let form_routes = body_routes(&openapi, false);
        assert!(json_routes.len() >= 15, "{json_routes:?}");
        assert!(form_routes.len() >= 8, "{form_routes:?}");
        World {
            rt,
            app,
            json_routes,
            form_routes,
            _dir: dir,
        }
    })
}

async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    if !content_type.is_empty() {
        req = req.header(header::CONTENT_TYPE, content_type);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(
        |_| json!({"not_json": String::from_utf8_lossy(&bytes[..bytes.len().min(300)])}),
    );
    (status, value)
}

/// The property: no server error, and the documented envelope.
fn check(route: &(String, String), status: u16, body: &Value) -> Result<(), TestCaseError> {
    prop_assert!(status < 500, "{route:?} answered {status}: {body}");
    match body["status"].as_str() {
        Some("SUCCESS") => prop_assert_eq!(status, 200, "{:?}: {}", route, body),
        Some("FAILURE") => {
            let message = body["resultMessage"].as_str().unwrap_or_default();
            prop_assert!(!message.is_empty(), "{route:?}: {body}");
            prop_assert_eq!(&body["error_description"], &body["resultMessage"]);
            prop_assert!(body["error"].is_string(), "{route:?}: {body}");
        }
        _ => prop_assert!(
            false,
            "{route:?} answered {status} without an envelope: {body}"
        ),
    }
    Ok(())
}

/// Field names of the API, so generated objects reach past the first "missing field" check.
const FIELDS: &[&str] = &[
    "name",
    "description",
    "keyType",
    "algorithm",
    "cryptoKeyInfoEnvironmentList",
    "keyStoreEnvironmentList",
    "environmentName",
    "content",
    "alias",
    "password",
    "file",
    "keyStoreType",
    "keyPassword",
    "sourceType",
    "useType",
    "keyName",
    "keyStoreName",
    "aliasName",
    "certificateName",
    "kid",
    "url",
    "jwk",
    "jwkType",
    "keySize",
    "curve",
    "keyIdType",
    "notBeforeTime",
    "expirationTime",
    "environmentList",
    "type",
    "username",
    "sysAdmin",
    "permissions",
    "category",
    "action",
    "projectName",
    "expiresAt",
];

/// Values of the API's vocabulary and nasty corner cases.
const WORDS: &[&str] = &[
    "production",
    "test",
    "shop",
    "PRIVATE_KEY",
    "PUBLIC_KEY",
    "SECRET_KEY",
    "CERTIFICATE",
    "KEYSTORE",
    "URL",
    "COPY_PASTE",
    "GENERATE",
    "RSA",
    "EC",
    "OCT",
    "OKP",
    "P-256",
    "Ed25519",
    "SIGNATURE",
    "ENCRYPTION",
    "RS256",
    "ES256",
    "A128KW",
    "AES",
    "JKS",
    "PKCS12",
    "THUMBPRINT",
    "",
    " ",
    "\u{0}",
    "../../etc/passwd",
    "https://127.0.0.1/jwks.json",
    "MII=",
    "AAAA",
    "====",
    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
    "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
    "9999999999999999999999",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(WORDS).prop_map(|w| json!(w)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        prop::sample::select(FIELDS).prop_map(str::to_owned),
                        "[a-zA-Z]{0,12}"
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn any_json_gets_an_envelope(
        route in any::<prop::sample::Index>(),
        body in prop_oneof![
            1 => json_value(),
            4 => prop::collection::vec((prop::sample::select(FIELDS), json_value()), 0..10)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ],
    ) {
        let w = world();
        let route = &w.json_routes[route.index(w.json_routes.len())];
        let (status, resp) = w.rt.block_on(send(&w.app, &route.0, &route.1, "application/json", body.to_string().into_bytes()));
        check(route, status, &resp)?;
    }

    #[test]
    fn any_bytes_get_an_envelope(
        route in any::<prop::sample::Index>(),
        content_type in prop::sample::select(&["application/json", "multipart/form-data; boundary=X", "multipart/form-data", "text/plain", "application/json; charset=utf-16", ""][..]),
        body in prop::collection::vec(any::<u8>(), 0..512),
        form in any::<bool>(),
    ) {
        let w = world();
        let routes = if form { &w.form_routes } else { &w.json_routes };
        let route = &routes[route.index(routes.len())];
        let (status, resp) = w.rt.block_on(send(&w.app, &route.0, &route.1, content_type, body));
        check(route, status, &resp)?;
    }

    #[test]
    fn any_multipart_form_gets_an_envelope(
        route in any::<prop::sample::Index>(),
        parts in prop::collection::vec(
            (
                prop_oneof![
                    prop::sample::select(&["keyFile", "keystoreFile", "certificateFile", "truststoreFile", "jwkFile", "keyExportFile", "keystoreExportFile", "file"][..]).prop_map(str::to_owned),
                    prop::sample::select(FIELDS).prop_map(str::to_owned),
                    "[a-z\"\r\n]{0,10}",
                ],
                prop::option::of(prop::sample::select(&["x.zip", "k.pem", "s.p12", "a\"b.jks", "../x"][..])),
                prop_oneof![
                    prop::sample::select(WORDS).prop_map(|w| w.as_bytes().to_vec()),
                    prop::collection::vec(any::<u8>(), 0..200),
                    Just(b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec()),
                    Just(b"KWPKGENC\x01\xff\xff\xff\xff".to_vec()),
                ],
            ),
            0..6,
        ),
        truncate in any::<Option<prop::sample::Index>>(),
    ) {
        let w = world();
        let route = &w.form_routes[route.index(w.form_routes.len())];
        let boundary = "keywardBoundary7MA4YWxk";
        let mut body = Vec::new();
        for (name, file_name, content) in &parts {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
            if let Some(f) = file_name {
                body.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
            }
            body.extend_from_slice(b"\r\n\r\n");
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        if let Some(at) = truncate {
            body.truncate(at.index(body.len() + 1));
        }
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let (status, resp) = w.rt.block_on(send(&w.app, &route.0, &route.1, &content_type, body));
        check(route, status, &resp)?;
    }
}

#[test]
fn deep_and_huge_json_is_refused_cleanly() {
    let w = world();
    let route = ("POST".to_owned(), "/apiops/projects/shop/keys/".to_owned());
    for body in [
        "[".repeat(100_000).into_bytes(),
        format!("{}{}", "{\"a\":".repeat(50_000), "1").into_bytes(),
        format!("{{\"name\":\"{}\"}}", "x".repeat(3 << 20)).into_bytes(),
    ] {
        let (status, resp) =
            w.rt.block_on(send(&w.app, &route.0, &route.1, "application/json", body));
        assert!(status == 400 || status == 413, "{status}: {resp}");
        check(&route, status, &resp).unwrap();
    }
}

/// The harness reaches the handlers: a valid body is accepted (so the properties above are not
/// satisfied by a blanket refusal).
#[test]
fn a_valid_body_is_accepted() {
    let w = world();
    let body = json!({"name": "valid-secret", "keyType": "SECRET_KEY", "algorithm": "AES",
        "cryptoKeyInfoEnvironmentList": [{"environmentName": "test", "content": "AAAAAAAAAAAAAAAAAAAAAA=="}]});
    let (status, resp) = w.rt.block_on(send(
        &w.app,
        "POST",
        "/apiops/projects/shop/keys/",
        "application/json",
        body.to_string().into_bytes(),
    ));
    assert_eq!(
        (status, &resp["status"]),
        (200, &json!("SUCCESS")),
        "{resp}"
    );
}
