//! `keyward store copy`: SQLite to PostgreSQL, everything readable the same afterwards. Needs
//! `KEYWARD_TEST_DATABASE_URL`; under CI it fails without it rather than skip.

use std::sync::Arc;

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn sqlite_store_moves_to_postgres_intact() {
    let Ok(admin_url) = std::env::var("KEYWARD_TEST_DATABASE_URL") else {
        assert!(
            postgres_phase_follows() || std::env::var_os("CI").is_none(),
            "CI must run the store copy test"
        );
        eprintln!("SKIPPED: needs KEYWARD_TEST_DATABASE_URL");
        return;
    };
    // A server on SQLite with some of everything.
    let sqlite_home = Arc::new(DataHome {
        dir: tempfile::tempdir().unwrap(),
        database_url: None,
    });
    let s = Server::start_with(sqlite_home.clone(), &[]).await;
    s.create_environment("production").await;
    s.create_project("shop").await;
    let viewer = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;
    for f in ["rsa2048", "p256", "ed25519"] {
        s.create_certificate(
            "shop",
            f,
            f,
            "production",
            read_fixture(&format!("{f}.pem")),
        )
        .await;
    }
    let (status, body) = s
        .parse_jwk("shop", json!({"name": "j", "certificateName": "p256", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "ES256"}))
        .await;
    assert_success(status, &body);
    let (_, certs_before) = s
        .get("/apiops/projects/shop/certificates", Some(ADMIN))
        .await;
    let (_, jwk_before) = s.get("/apiops/projects/shop/jwks/j", Some(ADMIN)).await;
    assert!(s.stop().await.success());

    let target = fresh_database(&admin_url);
    let out = store_copy(&sqlite_home, &target).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "store copy failed: {err}");
    assert!(
        err.contains("verification") && err.contains("jwks") && err.contains("copied"),
        "{err}"
    );

    // A server on the copy serves the same data to the same tokens.
    let pg_home = Arc::new(DataHome {
        dir: tempfile::tempdir().unwrap(),
        database_url: Some(target.clone()),
    });
    // The secrets stay sealed under the source's master key (its key file): another key is
    // refused, that key opens them.
    let (status, err) = Server::refused(&pg_home, &[]).await;
    assert!(!status.success());
    assert!(err.contains("wrong master key"), "{err}");
    let key = std::fs::read_to_string(sqlite_home.dir.path().join("master.key")).unwrap();
    let p = Server::start_with(pg_home, &["--master-key", key.trim()]).await;
    assert!(
        !p.log_text().contains("first start"),
        "the copied store is not empty"
    );
    let (_, certs_after) = p
        .get("/apiops/projects/shop/certificates", Some(ADMIN))
        .await;
    let (_, jwk_after) = p.get("/apiops/projects/shop/jwks/j", Some(ADMIN)).await;
    assert_eq!(certs_before, certs_after);
    assert_eq!(jwk_before, jwk_after);
    let (ok, out) = p.data.audit_verify_with(&["--master-key", key.trim()]);
    assert!(
        ok && out.contains("OK") && !out.starts_with("0 "),
        "the audit chain did not survive the copy: {out}"
    );
    let (status, _) = p.get("/apiops/projects/shop/jwks", Some(&viewer)).await;
    assert_eq!(
        status, 200,
        "tokens keep working: the pepper moved with the data"
    );

    // Copying again into the now non-empty target is refused.
    let out = store_copy(&sqlite_home, &target).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
}

/// Runs `keyward store copy` from a home's SQLite database into `target`, the URLs given in
/// the environment (a database password stays out of the process list).
async fn store_copy(from: &DataHome, target: &str) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["store", "copy"])
        .env(
            "KEYWARD_SOURCE_DATABASE_URL",
            format!("sqlite://{}", from.dir.path().join("keyward.db").display()),
        )
        .env("KEYWARD_TARGET_DATABASE_URL", target)
        .output()
        .await
        .unwrap()
}
