//! The whole request decoding layer, in-process on a real SQLite store: the first input byte picks
//! a route that takes a body (listed from the router's own OpenAPI document), the second a
//! content type, the rest is the body. Any answer must be below 500 and the JSON envelope.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, header};
use keyward_http::auth::Auth;
use keyward_http::{AppState, Config, app};
use keyward_store::{Bootstrap, Kek, Keyring, Store};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "kw_fuzz-admin-token-0123456789abcdef";
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "multipart/form-data; boundary=B",
    "multipart/form-data; boundary=keyward",
    "application/json; charset=utf-8",
    "text/plain",
    "",
];

struct World {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    routes: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

async fn send(app: &axum::Router, method: &str, path: &str, ct: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    if !ct.is_empty() {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let resp = app.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, bytes.to_vec())
}

fn fill(path: &str) -> String {
    let path = path
        .replace("{projectName}", "shop")
        .replace("{environmentName}", "production");
    let mut out = String::new();
    let mut rest = path.as_str();
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map_or(rest.len(), |e| start + e + 1);
        out.push_str("obj");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (app, routes) = rt.block_on(async {
            let store = Store::open_sqlite(&dir.path().join("keyward.db")).await.unwrap();
            let (store, _) = store.unlock(Keyring::new(Kek::generate().0, Vec::new())).await.unwrap();
            let auth = Auth::new(store.clone()).await.unwrap();
            store
                .bootstrap(Bootstrap {
                    admin_username: "admin".into(),
                    admin_password_hash: "$argon2id$unused".into(),
                    admin_project_name: "admin".into(),
                    token_name: "bootstrap".into(),
                    token_hash: auth.hash_token(TOKEN).to_vec(),
                }, &keyward_store::AuditEntry::system("bootstrap", "user", "admin"))
                .await
                .unwrap();
            let state = AppState::new(store, Config::default()).await.unwrap();
            let router = axum::Router::new().fallback_service(app(state));
            for (path, body) in [
                ("/apiops/environments/", json!({"name": "production", "type": "PRODUCTION"})),
                ("/apiops/projects/", json!({"name": "shop"})),
            ] {
                let (status, _) = send(&router, "POST", path, "application/json", body.to_string().into_bytes()).await;
                assert_eq!(status, 200);
            }
            let (_, doc) = send(&router, "GET", "/openapi.json", "", Vec::new()).await;
            let doc: Value = serde_json::from_slice(&doc).unwrap();
            let mut routes = Vec::new();
            for (path, item) in doc["paths"].as_object().unwrap() {
                for method in ["post", "put"] {
                    if item.get(method).is_some() {
                        routes.push((method.to_uppercase(), fill(path)));
                    }
                }
            }
            (router, routes)
        });
        World { rt, app, routes, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let w = world();
    let (method, path) = &w.routes[data[0] as usize % w.routes.len()];
    let ct = CONTENT_TYPES[data[1] as usize % CONTENT_TYPES.len()];
    let (status, body) = w.rt.block_on(send(&w.app, method, path, ct, data[2..].to_vec()));
    assert!(status < 500, "{method} {path} answered {status}: {}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).expect("a JSON envelope");
    let s = v["status"].as_str().expect("status");
    assert!(s == "SUCCESS" || s == "FAILURE");
    if s == "FAILURE" {
        assert_eq!(v["error_description"], v["resultMessage"]);
    }
});
