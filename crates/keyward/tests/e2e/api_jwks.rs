//! End-to-end: JWKs derived from certificates, over HTTP against the real binary.

#![allow(clippy::type_complexity)] // table-driven cases read best inline

use crate::common::*;
use serde_json::{Value, json};

fn b64url_len(v: &Value) -> usize {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    assert!(
        !s.contains('=') && !s.contains('+') && !s.contains('/'),
        "not unpadded base64url: {s}"
    );
    keyward_jose::b64::decode_url(s).unwrap().len()
}

async fn parse(s: &Server, name: &str, cert: &str, use_type: &str, alg: &str) -> (u16, Value) {
    s.parse_jwk("shop", json!({"name": name, "certificateName": cert, "environmentName": "production", "useType": use_type, "algorithm": alg}))
        .await
}

async fn get_jwk(s: &Server, name: &str) -> Value {
    let (status, body) = s
        .get(&format!("/apiops/projects/shop/jwks/{name}/"), Some(ADMIN))
        .await;
    assert_success(status, &body);
    body["resultList"][0].clone()
}

#[tokio::test]
async fn every_key_type_becomes_a_correct_jwk() {
    let s = Server::with_world().await;
    // (fixture, use, algorithm, type, material object, expected member lengths)
    let cases: &[(&str, &str, &str, &str, &str, &[(&str, usize)])] = &[
        (
            "rsa2048",
            "SIGNATURE",
            "RS256",
            "RSA",
            "rsa",
            &[("n", 256), ("e", 3)],
        ),
        ("rsa1024", "SIGNATURE", "PS256", "RSA", "rsa", &[("n", 128)]),
        (
            "rsa4096",
            "ENCRYPTION",
            "RSA-OAEP-256",
            "RSA",
            "rsa",
            &[("n", 512)],
        ),
        (
            "p256",
            "SIGNATURE",
            "ES256",
            "EC",
            "ec",
            &[("x", 32), ("y", 32)],
        ),
        (
            "p256-lz",
            "SIGNATURE",
            "ES256",
            "EC",
            "ec",
            &[("x", 32), ("y", 32)],
        ),
        (
            "p384",
            "SIGNATURE",
            "ES384",
            "EC",
            "ec",
            &[("x", 48), ("y", 48)],
        ),
        (
            "p521",
            "SIGNATURE",
            "ES512",
            "EC",
            "ec",
            &[("x", 66), ("y", 66)],
        ),
        (
            "p521-lz",
            "ENCRYPTION",
            "ECDH-ES+A256KW",
            "EC",
            "ec",
            &[("x", 66), ("y", 66)],
        ),
        (
            "secp256k1",
            "SIGNATURE",
            "ES256K",
            "EC",
            "ec",
            &[("x", 32), ("y", 32)],
        ),
        ("ed25519", "SIGNATURE", "EdDSA", "OKP", "okp", &[("x", 32)]),
        ("ed448", "SIGNATURE", "EdDSA", "OKP", "okp", &[("x", 57)]),
        (
            "x25519",
            "ENCRYPTION",
            "ECDH-ES",
            "OKP",
            "okp",
            &[("x", 32)],
        ),
        (
            "x448",
            "ENCRYPTION",
            "ECDH-ES+A128KW",
            "OKP",
            "okp",
            &[("x", 56)],
        ),
    ];
    for (fixture, use_type, alg, kty, material, lens) in cases {
        s.create_certificate(
            "shop",
            fixture,
            fixture,
            "production",
            read_fixture(&format!("{fixture}.pem")),
        )
        .await;
        let (status, body) = parse(&s, fixture, fixture, use_type, alg).await;
        assert_success(status, &body);
        assert_eq!(
            body["resultList"][0]["kid"].as_str().map(str::len),
            Some(43),
            "{fixture}: {body}"
        );
        let j = get_jwk(&s, fixture).await;
        assert_eq!(j["type"], *kty, "{fixture}");
        assert_eq!(j["sourceType"], "CERTIFICATE");
        assert!(j["sourceId"].is_string());
        assert_eq!(j["alg"], *alg);
        assert_eq!(
            j["use"],
            if *use_type == "SIGNATURE" {
                "sig"
            } else {
                "enc"
            }
        );
        let full = &j["jwk"];
        assert_eq!(full["kty"], if *kty == "OCT" { "oct" } else { kty });
        assert_eq!(full["alg"], *alg);
        assert_eq!(full["kid"], j["kid"]);
        for (member, len) in *lens {
            assert_eq!(b64url_len(&j[material][member]), *len, "{fixture} {member}");
            assert_eq!(full[member], j[material][member]);
        }
        assert!(
            full.get("d").is_none(),
            "a certificate carries no private key"
        );
        // x5c: padded standard base64 DER of the leaf; x5t / x5t#S256: base64url digests.
        let pem_b64: String = String::from_utf8(read_fixture(&format!("{fixture}.pem")))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let x5c = full["x5c"].as_array().unwrap();
        assert_eq!(x5c.len(), 1);
        assert_eq!(x5c[0], pem_b64.as_str());
        assert_eq!(b64url_len(&full["x5t"]), 20);
        assert_eq!(b64url_len(&full["x5t#S256"]), 32);
        // Only the documented material object is present.
        for other in ["rsa", "ec", "okp", "oct"] {
            assert_eq!(
                j.get(other).is_some(),
                other == *material,
                "{fixture}: {other}"
            );
        }
    }
    // Listing shows no key material.
    let (status, list) = s.get("/apiops/projects/shop/jwks", Some(ADMIN)).await;
    assert_success(status, &list);
    assert_eq!(list["resultCount"], cases.len());
    for item in list["resultList"].as_array().unwrap() {
        for m in ["rsa", "ec", "okp", "oct", "jwk", "n", "x", "d", "x5c"] {
            assert!(item.get(m).is_none(), "list item carries {m}: {item}");
        }
        assert!(
            item["kid"].is_string() && item["type"].is_string() && item["projectId"].is_string()
        );
    }
}

#[tokio::test]
async fn chain_uploaded_root_first_gives_leaf_first_x5c() {
    let s = Server::with_world().await;
    s.create_certificate(
        "shop",
        "chain",
        "chain",
        "production",
        read_fixture("chain-shuffled.pem"),
    )
    .await;
    let (status, body) = parse(&s, "chain", "chain", "SIGNATURE", "RS256").await;
    assert_success(status, &body);
    let j = get_jwk(&s, "chain").await;
    let x5c: Vec<String> = j["jwk"]["x5c"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let pem_b64 = |f: &str| -> String {
        String::from_utf8(read_fixture(f))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect()
    };
    assert_eq!(
        x5c,
        [
            pem_b64("chain-leaf.pem"),
            pem_b64("chain-intermediate.pem"),
            pem_b64("chain-root.pem")
        ]
    );
    assert!(
        x5c.iter().all(|c| c.len() % 4 == 0),
        "x5c entries are padded standard base64"
    );
}

#[tokio::test]
async fn algorithm_use_and_curve_rules() {
    let s = Server::with_world().await;
    for f in ["rsa2048", "p384", "ed25519", "x25519"] {
        s.create_certificate(
            "shop",
            f,
            f,
            "production",
            read_fixture(&format!("{f}.pem")),
        )
        .await;
    }
    let refused = [
        ("p384", "SIGNATURE", "ES256"),
        ("p384", "SIGNATURE", "RS256"),
        ("rsa2048", "SIGNATURE", "RSA-OAEP-256"),
        ("rsa2048", "ENCRYPTION", "RS256"),
        ("ed25519", "ENCRYPTION", "ECDH-ES"),
        ("x25519", "SIGNATURE", "EdDSA"),
        ("rsa2048", "SIGNATURE", "HS256"),
    ];
    for (i, (cert, use_type, alg)) in refused.iter().enumerate() {
        let (status, body) = parse(&s, &format!("r{i}"), cert, use_type, alg).await;
        assert_eq!(status, 400, "{cert} {use_type} {alg}: {body}");
        let m = body["resultMessage"].as_str().unwrap();
        assert!(
            m.contains(alg) || m.contains(use_type),
            "message names the algorithm or the use: {m}"
        );
    }
    let (status, body) = parse(&s, "kt", "rsa2048", "SIGNATURE", "RSA").await;
    assert_eq!(status, 400);
    assert!(
        body["resultMessage"].as_str().unwrap().contains("key type"),
        "{body}"
    );
    let (status, body) = parse(&s, "uk", "rsa2048", "SIGNATURE", "XX512").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = parse(&s, "ut", "rsa2048", "signature", "RS256").await;
    assert_error(
        status,
        &body,
        400,
        "useType (signature) is not valid! Accepted values: SIGNATURE, ENCRYPTION",
    );
    // The generate-endpoint spellings are accepted and stored under their JOSE names.
    let (status, body) = parse(&s, "alias-rsa", "rsa2048", "SIGNATURE", "RSA256").await;
    assert_success(status, &body);
    assert_eq!(get_jwk(&s, "alias-rsa").await["alg"], "RS256");
    let (status, body) = parse(&s, "alias-oaep", "rsa2048", "ENCRYPTION", "RSA_OAEP_256").await;
    assert_success(status, &body);
    assert_eq!(
        get_jwk(&s, "alias-oaep").await["jwk"]["alg"],
        "RSA-OAEP-256"
    );
    let (status, body) = parse(&s, "alias-ecdh", "x25519", "ENCRYPTION", "ECDH_ES_A128KW").await;
    assert_success(status, &body);
    assert_eq!(get_jwk(&s, "alias-ecdh").await["alg"], "ECDH-ES+A128KW");
    let (_, list) = s.get("/apiops/projects/shop/jwks", Some(ADMIN)).await;
    assert_eq!(list["resultCount"], 3, "refused requests wrote nothing");
}

#[tokio::test]
async fn create_endpoint_messages_and_source_types() {
    let s = Server::with_world().await;
    s.create_certificate("shop", "c", "c", "production", read_fixture("p256.pem"))
        .await;
    let path = "/apiops/projects/shop/jwks/";
    let cases = [
        (
            json!({"sourceType": "CERTIFICATE"}),
            "JWK name can not be empty!",
        ),
        (
            json!({"name": "  ", "sourceType": "CERTIFICATE"}),
            "JWK name can not be empty!",
        ),
        (json!({"name": "j"}), "Source type is required!"),
        (
            json!({"name": "j", "sourceType": "certificate"}),
            "sourceType (certificate) is not valid! Accepted values: URL, COPY_PASTE, CERTIFICATE, PUBLIC_KEY, PRIVATE_KEY, KEYSTORE",
        ),
        (
            json!({"name": "j", "sourceType": "GENERATE"}),
            "Source type (GENERATE) is not accepted here! Generate keys with POST /apiops/projects/{projectName}/jwks/generate.",
        ),
        (
            json!({"name": "j", "sourceType": "URL"}),
            "URL is required for URL source type!",
        ),
        (
            json!({"name": "j", "sourceType": "URL", "url": "https://169.254.169.254/jwks.json"}),
            "JWK can not be read from URL (https://169.254.169.254/jwks.json): the address is refused: 169.254.169.254 is a link-local address (169.254.0.0/16, cloud metadata included)!",
        ),
        (
            json!({"name": "j", "sourceType": "COPY_PASTE"}),
            "jwkStr value can not be empty!",
        ),
        (
            json!({"name": "j", "sourceType": "CERTIFICATE"}),
            "certificateName value can not be empty!",
        ),
        (
            json!({"name": "j", "sourceType": "CERTIFICATE", "certificateName": "c"}),
            "environmentName value can not be empty!",
        ),
        (
            json!({"name": "j", "sourceType": "CERTIFICATE", "certificateName": "c", "environmentName": "production"}),
            "useType value can not be empty!",
        ),
        (
            json!({"name": "j", "sourceType": "CERTIFICATE", "certificateName": "c", "environmentName": "production", "useType": "SIGNATURE"}),
            "algorithm value can not be empty!",
        ),
        (
            json!({"name": "j", "sourceType": "CERTIFICATE", "certificateName": "nope", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "ES256"}),
            "Certificate (name: nope) is not found!",
        ),
        (
            json!({"name": "j", "sourceType": "CERTIFICATE", "certificateName": "c", "environmentName": "test", "useType": "SIGNATURE", "algorithm": "ES256"}),
            "Certificate (name: c) has no content for environment (test)!",
        ),
        (
            json!({"name": "j", "sourceType": "CERTIFICATE", "certificateName": "c", "environmentName": "mars", "useType": "SIGNATURE", "algorithm": "ES256"}),
            "Environment (mars) is not found or user does not have privilege to access it!",
        ),
    ];
    for (body, message) in cases {
        let (status, resp) = s.post(path, Some(ADMIN), body.clone()).await;
        assert_error(status, &resp, 400, message);
    }
    let good = json!({"name": "j", "sourceType": "CERTIFICATE", "certificateName": "c", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "ES256", "kid": "my-kid"});
    let (status, resp) = s.post(path, Some(ADMIN), good.clone()).await;
    assert_success(status, &resp);
    assert_eq!(resp["resultList"][0]["kid"], "my-kid");
    assert_eq!(get_jwk(&s, "j").await["jwk"]["kid"], "my-kid");
    let (status, resp) = s.post(path, Some(ADMIN), good).await;
    assert_error(
        status,
        &resp,
        400,
        "JWK (name: j) is already exist! Try update operation if want to change its value.",
    );
    // Malformed JSON and a wrong content type get the envelope too.
    let (status, resp) = s
        .post_raw(
            path,
            Some(ADMIN),
            "application/json",
            b"{\"name\":".to_vec(),
        )
        .await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(resp["status"], "FAILURE");
    let (status, resp) = s
        .post_raw(path, Some(ADMIN), "text/plain", b"{}".to_vec())
        .await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(resp["error"], "bad_request");
    let (status, resp) = s.post(path, Some(ADMIN), json!({"name": 5})).await;
    assert_eq!(status, 400, "{resp}");
}

#[tokio::test]
async fn update_detaches_and_delete_undeploys() {
    let s = Server::with_world().await;
    s.create_certificate("shop", "c", "c", "production", read_fixture("p256.pem"))
        .await;
    for n in ["a", "b"] {
        let (status, body) = parse(&s, n, "c", "SIGNATURE", "ES256").await;
        assert_success(status, &body);
        let envs = body["deploymentResult"]["environmentResults"]
            .as_array()
            .unwrap();
        assert_eq!(
            envs.len(),
            1,
            "a certificate's JWK is deployed to its environment only"
        );
        assert_eq!(envs[0]["environmentName"], "production");
    }
    let (status, body) = s
        .put(
            "/apiops/projects/shop/jwks/a",
            Some(ADMIN),
            json!({"name": "a2", "description": "renamed"}),
        )
        .await;
    assert_success(status, &body);
    let a2 = get_jwk(&s, "a2").await;
    assert_eq!(a2["description"], "renamed");
    assert_eq!(a2["sourceId"], Value::Null);
    assert_eq!(a2["sourceType"], "CERTIFICATE");
    let (status, body) = s
        .put(
            "/apiops/projects/shop/jwks/a2",
            Some(ADMIN),
            json!({"name": "b"}),
        )
        .await;
    assert_error(status, &body, 400, "JWK (name: b) is already exist!");
    let (status, body) = s
        .put(
            "/apiops/projects/shop/jwks/zz",
            Some(ADMIN),
            json!({"description": "x"}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "JWK (name: zz) is not found! Try create operation.",
    );
    let (status, body) = s.delete("/apiops/projects/shop/jwks/b/", Some(ADMIN)).await;
    assert_success(status, &body);
    assert_eq!(
        body["deploymentResult"]["message"],
        "Undeployment completed successfully"
    );
    let (status, body) = s.delete("/apiops/projects/shop/jwks/b", Some(ADMIN)).await;
    assert_error(status, &body, 400, "JWK (name: b) is not found!");
}

#[tokio::test]
async fn admin_project_certificates_are_usable_everywhere_and_new_environments_get_jwks() {
    let s = Server::with_world().await;
    s.create_certificate(
        "admin",
        "global",
        "global",
        "production",
        read_fixture("p256.pem"),
    )
    .await;
    let (status, body) = parse(&s, "from-admin", "global", "SIGNATURE", "ES256").await;
    assert_success(status, &body);
    let rev_before: i64 = body["deploymentResult"]["environmentResults"][0]["revision"]
        .as_i64()
        .unwrap();
    // A pasted JWK follows every environment, new ones included; a certificate's stays where
    // the certificate's material is.
    let pasted = json!({"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
        "y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","kid":"everywhere"});
    let (status, body) = s
        .post(
            "/apiops/projects/shop/jwks/parse-from-clipboard",
            Some(ADMIN),
            json!({"name": "everywhere", "jwkStr": pasted.to_string()}),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = s
        .post(
            "/apiops/environments/",
            Some(ADMIN),
            json!({"name": "staging", "type": "SANDBOX"}),
        )
        .await;
    assert_success(status, &body);
    let envs = body["deploymentResult"]["environmentResults"]
        .as_array()
        .unwrap();
    assert_eq!(envs.len(), 1);
    assert_eq!(envs[0]["environmentName"], "staging");
    assert_eq!(envs[0]["revision"], 1);
    // Revisions only move forward, one per mutation.
    let (status, body) = parse(&s, "second", "global", "SIGNATURE", "ES256").await;
    assert_success(status, &body);
    let prod = body["deploymentResult"]["environmentResults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["environmentName"] == "production")
        .unwrap()
        .clone();
    assert_eq!(prod["revision"].as_i64().unwrap(), rev_before + 2);
    let kids = |env: &'static str| {
        let s = &s;
        async move {
            let (_, body) = s
                .get(
                    &format!("/apiops/public/projects/shop/environments/{env}/jwks.json"),
                    None,
                )
                .await;
            body["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(kids("staging").await, ["everywhere"]);
    assert_eq!(kids("test").await, ["everywhere"]);
    assert_eq!(kids("production").await.len(), 3);
}

/// The `environmentList` extension (00-product §1): a generated or pasted JWK goes to the listed
/// environments only; an unknown or empty list is refused and stores nothing.
#[tokio::test]
async fn environment_list_limits_where_a_jwk_is_deployed() {
    let s = Server::with_world().await;
    let generate = |name: &str, list: Value| json!({"name": name, "type": "EC", "ec": {"curveType": "P256"}, "environmentList": list});
    let (status, body) = s
        .post(
            "/apiops/projects/shop/jwks/generate",
            Some(ADMIN),
            generate("only-test", json!(["test"])),
        )
        .await;
    assert_success(status, &body);
    let envs: Vec<&str> = body["deploymentResult"]["environmentResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["environmentName"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["test"], "{body}");
    let kid = body["resultList"][0]["kid"].as_str().unwrap().to_owned();
    let published = |env: &'static str| {
        let s = &s;
        async move {
            let (_, body) = s
                .get(
                    &format!("/apiops/public/projects/shop/environments/{env}/jwks.json"),
                    None,
                )
                .await;
            body.to_string()
        }
    };
    assert!(published("test").await.contains(&kid));
    assert!(!published("production").await.contains(&kid));
    // A new environment does not get it: it follows its list, not every environment.
    s.create_environment("staging").await;
    assert!(!published("staging").await.contains(&kid));
    for (list, message) in [
        (
            json!(["nowhere"]),
            "Environment (nowhere) is not found or user does not have privilege to access it!",
        ),
        (json!([]), "environmentList value can not be empty!"),
    ] {
        let (status, body) = s
            .post(
                "/apiops/projects/shop/jwks/generate",
                Some(ADMIN),
                generate("refused", list),
            )
            .await;
        assert_error(status, &body, 400, message);
    }
    let (status, body) = s
        .get("/apiops/projects/shop/jwks/refused", Some(ADMIN))
        .await;
    assert_error(status, &body, 400, "JWK (name: refused) is not found!");
}
