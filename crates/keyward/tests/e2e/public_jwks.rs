//! The public JWKS (issue #6, docs/agent.md) over real HTTP: public members only, no `oct` keys,
//! strong ETag and 304, bounded max-age, and a rotation followed by an independent verifier
//! (Python jwcrypto, fetching the set like any relying party): a token keeps verifying while its
//! key is retired, until the grace period ends.

use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::Method;
use serde_json::{Value, json};

const JWKS: &str = "/apiops/public/projects/shop/environments/production/jwks.json";

async fn fetch(
    s: &Server,
    path: &str,
    if_none_match: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = s.client.get(s.url(path));
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

async fn published(s: &Server) -> Value {
    let (status, _, body) = fetch(s, JWKS, None).await;
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

fn kids(set: &Value) -> Vec<String> {
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn generate(s: &Server, name: &str, body: Value) {
    let mut body = body;
    body["name"] = json!(name);
    body["kid"] = json!(name);
    let (status, resp) = s
        .post("/apiops/projects/shop/jwks/generate", Some(ADMIN), body)
        .await;
    assert_success(status, &resp);
}

#[tokio::test]
async fn public_members_only_with_validators_and_bounded_caching() {
    let s = Server::start_with(
        DataHome::new(),
        &["--jwks-grace", "10m", "--jwks-max-age", "1h"],
    )
    .await;
    s.create_environment("production").await;
    s.create_project("shop").await;
    s.create_project("other").await;

    // Empty but published: a verifier gets a valid empty set.
    assert_eq!(published(&s).await, json!({"keys": []}));
    generate(&s, "ec", json!({"type": "EC", "ec": {"curveType": "P256"}})).await;
    generate(&s, "rsa", json!({"type": "RSA", "rsa": {"keySize": 2048}})).await;
    generate(
        &s,
        "okp",
        json!({"type": "OKP", "okp": {"curveType": "ED25519"}}),
    )
    .await;
    generate(&s, "hmac", json!({"type": "OCT", "oct": {"keySize": 256}})).await;
    let (status, headers, body) = fetch(&s, JWKS, None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    // max-age is bounded by the grace period: a verifier that honours it never holds a set
    // older than the time a retired key stays published.
    assert_eq!(headers["cache-control"], "public, max-age=600");
    assert_eq!(headers["access-control-allow-origin"], "*");
    let set: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(kids(&set), ["ec", "rsa", "okp"], "no oct key: {set}");
    for key in set["keys"].as_array().unwrap() {
        for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
            assert!(key.get(private).is_none(), "{private} published: {key}");
        }
    }
    // Both paths serve the same bytes.
    let (status, _, well_known) = fetch(
        &s,
        "/apiops/public/projects/shop/environments/production/.well-known/jwks.json",
        None,
    )
    .await;
    assert_eq!((status, &well_known), (200, &body));

    // Strong ETag; If-None-Match (also weak, also in a list) → 304 without a body.
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && !etag.starts_with("W/"), "{etag}");
    for tag in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"nope\", {etag}"),
    ] {
        let (status, h, body) = fetch(&s, JWKS, Some(&tag)).await;
        assert_eq!(status, 304, "{tag}");
        assert!(body.is_empty());
        assert_eq!(h["etag"].to_str().unwrap(), etag);
        assert_eq!(h["cache-control"], "public, max-age=600");
    }
    assert_eq!(fetch(&s, JWKS, Some("\"nope\"")).await.0, 200);

    // A change gives a new tag; the old one no longer matches.
    let (status, _) = s
        .send_method(
            Method::DELETE,
            "/apiops/projects/shop/jwks/rsa",
            Some(ADMIN),
        )
        .await;
    assert_eq!(status, 200);
    generate(
        &s,
        "next",
        json!({"type": "EC", "ec": {"curveType": "P384"}}),
    )
    .await;
    let (status, h, _) = fetch(&s, JWKS, Some(&etag)).await;
    assert_eq!(status, 200);
    assert_ne!(h["etag"].to_str().unwrap(), etag);
    // Deleted keys stay for the grace period (after the current ones).
    assert_eq!(kids(&published(&s).await), ["ec", "okp", "next", "rsa"]);

    // Another project's set is its own; unknown names answer 404 with one message.
    let (status, _, body) = fetch(
        &s,
        "/apiops/public/projects/other/environments/production/jwks.json",
        None,
    )
    .await;
    assert_eq!((status, &body[..]), (200, &b"{\"keys\":[]}"[..]));
    for path in [
        "/apiops/public/projects/nope/environments/production/jwks.json",
        "/apiops/public/projects/shop/environments/nope/jwks.json",
    ] {
        let (status, h, body) = fetch(&s, path, None).await;
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_error(status, &body, 404, "No JWKS is published at this address!");
        assert_eq!(h["cache-control"], "no-store");
    }
    // Nothing of this is in the audit trail (no token, nothing private).
    let (_, audit) = s.get("/apiops/audit", Some(ADMIN)).await;
    assert!(!audit.to_string().contains("/apiops/public/"), "{audit}");
}

fn rotation(python: &str, args: &[&str]) -> (bool, String) {
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/crosscheck/rotation.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .args(args)
        .output()
        .expect("run rotation.py");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "rotation.py {args:?}: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn private_jwk(s: &Server, name: &str) -> String {
    let (status, body) = s
        .get(&format!("/apiops/projects/shop/jwks/{name}"), Some(ADMIN))
        .await;
    assert_success(status, &body);
    body["resultList"][0]["jwk"].to_string()
}

#[tokio::test]
async fn a_real_verifier_follows_a_rotation_until_the_grace_period_ends() {
    let Some(python) = peer_python() else {
        eprintln!("SKIPPED: no Python with jwcrypto; set KEYWARD_CROSSCHECK_PYTHON");
        return;
    };
    let grace = Duration::from_secs(4);
    let s = Server::start_with(
        DataHome::new(),
        &["--jwks-grace", "4s", "--jwks-max-age", "5m"],
    )
    .await;
    s.create_environment("production").await;
    s.create_project("shop").await;
    let url = s.url(JWKS);
    let (_, h, _) = fetch(&s, JWKS, None).await;
    assert_eq!(
        h["cache-control"], "public, max-age=4",
        "max-age never exceeds the grace"
    );

    // Key A signs; the verifier accepts its tokens.
    generate(
        &s,
        "key-a",
        json!({"type": "EC", "ec": {"curveType": "P256"}}),
    )
    .await;
    let (ok, token_a) = rotation(&python, &["sign", &private_jwk(&s, "key-a").await, "ES256"]);
    assert!(ok, "{token_a}");
    let verify = |token: &str| rotation(&python, &["verify", &url, token]);
    let (ok, text) = verify(&token_a);
    assert!(ok, "token of A: {text}");

    // Pre-publication: key B is published before anything is signed with it.
    generate(
        &s,
        "key-b",
        json!({"type": "RSA", "rsa": {"keySize": 2048}}),
    )
    .await;
    assert_eq!(kids(&published(&s).await), ["key-a", "key-b"]);
    let (ok, token_b) = rotation(&python, &["sign", &private_jwk(&s, "key-b").await, "RS256"]);
    assert!(ok, "{token_b}");
    assert!(verify(&token_b).0 && verify(&token_a).0);

    // Rotation: A is deleted, yet tokens it signed verify during the grace period.
    let retired = Instant::now();
    let (status, _) = s
        .send_method(
            Method::DELETE,
            "/apiops/projects/shop/jwks/key-a",
            Some(ADMIN),
        )
        .await;
    assert_eq!(status, 200);
    let (ok, text) = verify(&token_a);
    assert!(ok, "a retired key verifies during the grace period: {text}");
    assert!(
        retired.elapsed() < grace,
        "the check ran within the grace period"
    );
    assert!(verify(&token_b).0);

    // After the grace period A is gone: its tokens are refused, B's still verify.
    tokio::time::sleep((grace + Duration::from_millis(300)).saturating_sub(retired.elapsed()))
        .await;
    assert_eq!(kids(&published(&s).await), ["key-b"]);
    let (ok, text) = verify(&token_a);
    assert!(!ok && text.starts_with("REJECTED"), "{text}");
    assert!(verify(&token_b).0);
}

#[tokio::test]
async fn a_renewed_certificate_keeps_the_old_key_published_for_the_grace_period() {
    let s = Server::start_with(DataHome::new(), &["--jwks-grace", "1h"]).await;
    s.create_environment("production").await;
    s.create_project("shop").await;
    s.create_certificate("shop", "api", "api", "production", read_fixture("p256.pem"))
        .await;
    let (status, body) = s
        .parse_jwk(
            "shop",
            json!({"name": "api-jwk", "certificateName": "api", "environmentName": "production",
                   "useType": "SIGNATURE", "algorithm": "ES256", "kid": "api"}),
        )
        .await;
    assert_success(status, &body);
    let before = published(&s).await;
    assert_eq!(before["keys"].as_array().unwrap().len(), 1);
    // Renewal: same name and kid, new key; the JWK follows (UPDATE) and the old one stays.
    let (status, body) = s
        .upload(
            Method::PUT,
            "/apiops/projects/shop/certificates/api?jwkUpdateAction=UPDATE",
            Some(ADMIN),
            &[("alias", "api"), ("environmentList", "production")],
            Some(read_fixture("p256-lz.pem")),
        )
        .await;
    assert_success(status, &body);
    let after = published(&s).await;
    let keys = after["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{after}");
    assert_ne!(
        keys[0]["x"], before["keys"][0]["x"],
        "the current key first"
    );
    assert_eq!(
        keys[1], before["keys"][0],
        "then the retired one, unchanged"
    );
}
