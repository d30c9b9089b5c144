//! Upgrades: a store made by an earlier landed version opens with this one, nothing lost
//! (`fixtures/stores/`, made by `fixtures/generate-store.sh` with that version's binary).

use std::sync::Arc;

use crate::common::*;
use serde_json::Value;

/// A fresh SQLite home holding a copy of a fixture store.
fn home_from(fixture_dir: &str) -> Arc<DataHome> {
    let home = DataHome {
        dir: tempfile::tempdir().expect("tempdir"),
        database_url: None,
    };
    for file in ["keyward.db", "master.key"] {
        std::fs::copy(
            fixture(&format!("stores/{fixture_dir}/{file}")),
            home.dir.path().join(file),
        )
        .unwrap_or_else(|e| panic!("{fixture_dir}/{file}: {e}"));
    }
    Arc::new(home)
}

async fn names(s: &Server, path: &str) -> Vec<String> {
    let (status, body) = s.get(path, Some(ADMIN)).await;
    assert_success(status, &body);
    let mut names: Vec<String> = body["resultList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn published(s: &Server, env: &str) -> Vec<Value> {
    let (status, body) = s
        .get(
            &format!("/apiops/public/projects/shop/environments/{env}/jwks.json"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["keys"].as_array().unwrap().clone()
}

/// The store of main at 1322571 (schema 1): everything is still there, JWKs derived from one
/// environment's material are re-planned to that environment (migration 0002), the audit chain
/// still verifies, and the bootstrap token still works.
#[tokio::test]
async fn a_store_of_schema_1_opens_with_nothing_lost() {
    let home = home_from("v1-1322571");
    let s = Server::start_with(home.clone(), &[]).await;
    assert_eq!(
        names(&s, "/apiops/projects/shop/certificates").await,
        ["tls"]
    );
    assert_eq!(names(&s, "/apiops/projects/shop/keys").await, ["signer"]);
    assert_eq!(
        names(&s, "/apiops/projects/shop/jwks").await,
        ["gen", "signer-jwk", "tls-jwk"]
    );
    // Sealed material still opens: the private JWK derived from the key has its `d`.
    let (status, body) = s
        .get("/apiops/projects/shop/jwks/signer-jwk", Some(ADMIN))
        .await;
    assert_success(status, &body);
    assert!(body["resultList"][0]["jwk"]["d"].is_string(), "{body}");
    let kid = |name: &str| {
        let s = &s;
        let name = name.to_owned();
        async move {
            let (_, body) = s
                .get(&format!("/apiops/projects/shop/jwks/{name}"), Some(ADMIN))
                .await;
            body["resultList"][0]["kid"].as_str().unwrap().to_owned()
        }
    };
    let (tls, signer, generated) = (
        kid("tls-jwk").await,
        kid("signer-jwk").await,
        kid("gen").await,
    );
    let kids = |set: &[Value]| -> Vec<String> {
        set.iter()
            .map(|k| k["kid"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let production = kids(&published(&s, "production").await);
    let test = kids(&published(&s, "test").await);
    for k in [&tls, &signer, &generated] {
        assert!(production.contains(k), "{k} in production: {production:?}");
    }
    assert_eq!(
        test,
        std::slice::from_ref(&generated),
        "only the generated JWK follows every environment"
    );
    // Users, members and tokens survived.
    assert_eq!(names(&s, "/apiops/projects/").await, ["admin", "shop"]);
    let (status, body) = s.get("/apiops/environments/", Some(ADMIN)).await;
    assert_success(status, &body);
    s.stop().await;
    let (ok, report) = home.audit_verify();
    assert!(ok, "audit verify after the upgrade: {report}");
}

/// The store of schema 3 (migrations 0002 deploy targets, 0003 token use), made by the version
/// that introduced them: it opens with the same objects, deployments and audit chain.
#[tokio::test]
async fn a_store_of_schema_3_opens_with_nothing_lost() {
    let home = home_from("v3-a7a3a9f");
    let s = Server::start_with(home.clone(), &[]).await;
    assert_eq!(
        names(&s, "/apiops/projects/shop/jwks").await,
        ["gen", "signer-jwk", "tls-jwk"]
    );
    assert_eq!(names(&s, "/apiops/projects/shop/keys").await, ["signer"]);
    let (status, body) = s
        .get("/apiops/projects/shop/jwks/signer-jwk", Some(ADMIN))
        .await;
    assert_success(status, &body);
    assert!(body["resultList"][0]["jwk"]["d"].is_string(), "{body}");
    assert_eq!(published(&s, "production").await.len(), 3);
    assert_eq!(published(&s, "test").await.len(), 1);
    let (status, body) = s.get("/apiops/users/admin/tokens/", Some(ADMIN)).await;
    assert_success(status, &body);
    assert!(body.to_string().contains("agent-prod"), "{body}");
    s.stop().await;
    let (ok, report) = home.audit_verify();
    assert!(ok, "audit verify after the upgrade: {report}");
}
