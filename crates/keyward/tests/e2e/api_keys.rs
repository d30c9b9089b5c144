//! End-to-end: crypto keys over HTTP against the real binary, and JWKs derived from them.

#![allow(clippy::type_complexity)] // table-driven cases read best inline

use crate::common::*;
use serde_json::{Value, json};

const KEYS: &str = "/apiops/projects/shop/keys/";

fn b64(bytes: &[u8]) -> String {
    keyward_jose::b64::standard(bytes)
}

fn key_file(name: &str) -> String {
    b64(&read_fixture(&format!("keys/{name}")))
}

/// A create body with one entry per environment.
fn key_body(name: &str, key_type: &str, content: &str, envs: &[&str]) -> Value {
    json!({
        "name": name,
        "description": "d",
        "keyType": key_type,
        "cryptoKeyInfoEnvironmentList": envs.iter().map(|e| json!({"environmentName": e, "content": content, "alias": format!("{name}-{e}")})).collect::<Vec<_>>(),
    })
}

async fn create_key(s: &Server, project: &str, body: Value) -> Value {
    let (status, resp) = s
        .post(
            &format!("/apiops/projects/{project}/keys/"),
            Some(ADMIN),
            body,
        )
        .await;
    assert_success(status, &resp);
    resp
}

async fn key_count(s: &Server) -> usize {
    let (status, body) = s.get(KEYS, Some(ADMIN)).await;
    assert_success(status, &body);
    body["resultCount"].as_u64().unwrap() as usize
}

async fn jwk(s: &Server, name: &str) -> Value {
    let (status, body) = s
        .get(&format!("/apiops/projects/shop/jwks/{name}"), Some(ADMIN))
        .await;
    assert_success(status, &body);
    body["resultList"][0].clone()
}

async fn parse_from_key(s: &Server, token: &str, body: Value) -> (u16, Value) {
    s.post(
        "/apiops/projects/shop/jwks/parse-from-key",
        Some(token),
        body,
    )
    .await
}

/// An algorithm valid for the key of a manifest row.
fn alg_for(kty: &str, crv: Option<&str>, key: &str) -> (&'static str, &'static str) {
    match (kty, crv) {
        ("RSA", _) if key.contains("pss") => ("SIGNATURE", "PS256"),
        ("RSA", _) => ("SIGNATURE", "RS256"),
        (_, Some("P-256")) => ("SIGNATURE", "ES256"),
        (_, Some("P-384")) => ("SIGNATURE", "ES384"),
        (_, Some("P-521")) => ("SIGNATURE", "ES512"),
        (_, Some("secp256k1")) => ("SIGNATURE", "ES256K"),
        (_, Some("Ed25519" | "Ed448")) => ("SIGNATURE", "EdDSA"),
        _ => ("ENCRYPTION", "ECDH-ES"),
    }
}

#[tokio::test]
async fn create_list_get_never_show_content() {
    let s = Server::with_world().await;
    let content = key_file("rsa2048.p8.pem");
    let body = create_key(
        &s,
        "shop",
        key_body("signer", "PRIVATE_KEY", &content, &["production", "test"]),
    )
    .await;
    let d = &body["deploymentResult"];
    assert_eq!(d["message"], "Deployment completed successfully");
    let envs: Vec<&str> = d["environmentResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["environmentName"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["production", "test"]);
    for path in [
        KEYS,
        "/apiops/projects/shop/keys",
        "/apiops/projects/shop/keys/signer",
        "/apiops/projects/shop/keys/signer/",
    ] {
        let (status, list) = s.get(path, Some(ADMIN)).await;
        assert_success(status, &list);
        let k = &list["resultList"][0];
        let mut fields: Vec<&str> = k.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "algorithm",
                "cryptoKeyInfoEnvironmentList",
                "description",
                "id",
                "keyType",
                "name",
                "projectId"
            ]
        );
        assert_eq!(k["keyType"], "PRIVATE_KEY");
        assert_eq!(k["algorithm"], Value::Null);
        assert_eq!(
            k["cryptoKeyInfoEnvironmentList"],
            json!([
                {"environmentName": "production", "alias": "signer-production", "source": null},
                {"environmentName": "test", "alias": "signer-test", "source": null}
            ])
        );
        let text = list.to_string();
        assert!(
            !text.contains("content") && !text.contains("password"),
            "{text}"
        );
        assert!(!text.contains("MII"), "no key material: {text}");
    }
    let (status, body) = s.get("/apiops/projects/shop/keys/nope", Some(ADMIN)).await;
    assert_error(status, &body, 400, "Key (name: nope) is not found!");
}

#[tokio::test]
async fn every_key_format_is_accepted_and_gives_the_same_jwk() {
    let s = Server::with_world().await;
    let manifest: Value = serde_json::from_slice(&read_fixture("keys/manifest.json")).unwrap();
    let mut kids: std::collections::HashMap<String, Value> = Default::default();
    for (i, f) in manifest["files"].as_array().unwrap().iter().enumerate() {
        let file = f["file"].as_str().unwrap();
        let private = f["private"].as_bool().unwrap();
        let key_type = if private { "PRIVATE_KEY" } else { "PUBLIC_KEY" };
        let name = format!("k{i}");
        // The API's content is base64 of the file; a file that is already base64 goes as it is.
        let content = if file.ends_with(".b64") {
            String::from_utf8(read_fixture(&format!("keys/{file}"))).unwrap()
        } else {
            key_file(file)
        };
        let mut body = key_body(&name, key_type, &content, &["production"]);
        if let Some(pw) = f["password"].as_str() {
            body["cryptoKeyInfoEnvironmentList"][0]["password"] = json!(pw);
        }
        let (status, resp) = s.post(KEYS, Some(ADMIN), body).await;
        assert_eq!(status, 200, "{file}: {resp}");
        let kty = f["kty"].as_str().unwrap();
        let (use_type, alg) = alg_for(kty, f["crv"].as_str(), f["key"].as_str().unwrap());
        let jwk_name = format!("j{i}");
        let (status, resp) = parse_from_key(
            &s,
            ADMIN,
            json!({"name": jwk_name, "keyName": name, "environmentName": "production", "useType": use_type, "algorithm": alg}),
        )
        .await;
        assert_eq!(status, 200, "{file}: {resp}");
        let j = jwk(&s, &jwk_name).await;
        assert_eq!(j["sourceType"], key_type, "{file}");
        assert_eq!(j["jwk"]["kty"], kty, "{file}");
        if let Some(crv) = f["crv"].as_str() {
            assert_eq!(j["jwk"]["crv"], crv, "{file}");
        }
        assert_eq!(j["jwk"].get("d").is_some(), private, "{file}: {j}");
        // Every format of one key gives the same thumbprint kid.
        let group = f["key"].as_str().unwrap().to_owned();
        let kid = j["kid"].clone();
        let first = kids.entry(group).or_insert_with(|| kid.clone());
        assert_eq!(*first, kid, "{file}");
        // Gone again, so that the next format of the key may take the same kid (kids are unique
        // within an environment).
        let (status, resp) = s
            .delete(
                &format!("/apiops/projects/shop/jwks/{jwk_name}"),
                Some(ADMIN),
            )
            .await;
        assert_eq!(status, 200, "{file}: {resp}");
    }
}

#[tokio::test]
async fn validation_messages_and_nothing_written() {
    let s = Server::with_world().await;
    let private = key_file("p256.p8.pem");
    let public = key_file("p256.spki.pem");
    let encrypted = key_file("rsa2048.p8-pbes2-aes256.pem");
    let aes = |n: usize| b64(&vec![1u8; n]);
    let with = |mut body: Value, field: &str, value: Value| {
        body[field] = value;
        body
    };
    let entry_with = |mut body: Value, field: &str, value: Value| {
        body["cryptoKeyInfoEnvironmentList"][0][field] = value;
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(
                key_body("k", "PRIVATE_KEY", &private, &["production"]),
                "name",
                json!(""),
            ),
            "name value can not be empty!",
        ),
        (
            with(
                key_body("k", "PRIVATE_KEY", &private, &["production"]),
                "keyType",
                Value::Null,
            ),
            "keyType value can not be empty!",
        ),
        (
            key_body("k", "RSA", &private, &["production"]),
            "Unknown keyType (RSA)! Supported values: SECRET_KEY, PRIVATE_KEY, PUBLIC_KEY",
        ),
        (
            key_body("k", "private_key", &private, &["production"]),
            "Unknown keyType (private_key)! Supported values: SECRET_KEY, PRIVATE_KEY, PUBLIC_KEY",
        ),
        (
            key_body("k", "SECRET_KEY", &aes(16), &["production"]),
            "algorithm is required for SECRET_KEY! Supported values: AES, DES, DESede, RSA",
        ),
        (
            with(
                key_body("k", "SECRET_KEY", &aes(16), &["production"]),
                "algorithm",
                json!("aes"),
            ),
            "Unknown algorithm (aes)! Supported values: AES, DES, DESede, RSA",
        ),
        (
            with(
                key_body("k", "SECRET_KEY", &aes(20), &["production"]),
                "algorithm",
                json!("AES"),
            ),
            "content of a AES secret key must be 16, 24 or 32 bytes long, but it is 20 bytes long!",
        ),
        (
            with(
                key_body("k", "SECRET_KEY", &aes(16), &["production"]),
                "algorithm",
                json!("DES"),
            ),
            "content of a DES secret key must be 8 bytes long, but it is 16 bytes long!",
        ),
        (
            with(
                key_body("k", "SECRET_KEY", &aes(32), &["production"]),
                "algorithm",
                json!("DESede"),
            ),
            "content of a DESede secret key must be 16 or 24 bytes long, but it is 32 bytes long!",
        ),
        (
            with(
                key_body("k", "SECRET_KEY", "***", &["production"]),
                "algorithm",
                json!("AES"),
            ),
            "Key content is not valid Base64 for key type SECRET_KEY! Send the raw key bytes Base64-encoded.",
        ),
        (
            key_body("k", "PRIVATE_KEY", "bm90IGEga2V5", &["production"]),
            "Key content is neither PEM nor valid Base64 for key type PRIVATE_KEY! Send the PEM content Base64-encoded.",
        ),
        (
            key_body("k", "PUBLIC_KEY", &private, &["production"]),
            "content of a PUBLIC_KEY must be a public key or certificate, but it is a private key! Use keyType PRIVATE_KEY for it.",
        ),
        (
            key_body("k", "PRIVATE_KEY", &public, &["production"]),
            "content of a PRIVATE_KEY must be a private key, but it is a public key or certificate! Use keyType PUBLIC_KEY for it.",
        ),
        (
            key_body("k", "PRIVATE_KEY", &encrypted, &["production"]),
            "password value can not be empty! The private key is encrypted.",
        ),
        (
            entry_with(
                key_body("k", "PRIVATE_KEY", &encrypted, &["production"]),
                "password",
                json!("wrong"),
            ),
            "The password is wrong: the encrypted private key could not be decrypted with it!",
        ),
        (
            key_body("k", "PRIVATE_KEY", &private, &[]),
            "cryptoKeyInfoEnvironmentList value can not be empty!",
        ),
        (
            with(
                key_body("k", "PRIVATE_KEY", &private, &[]),
                "cryptoKeyInfoEnvironmentList",
                Value::Null,
            ),
            "cryptoKeyInfoEnvironmentList value can not be empty!",
        ),
        (
            key_body("k", "PRIVATE_KEY", &private, &["staging"]),
            "Environment (staging) is not found or user does not have privilege to access it!",
        ),
        (
            key_body("k", "PRIVATE_KEY", &private, &["production", "production"]),
            "Environment (production) appears more than once in cryptoKeyInfoEnvironmentList!",
        ),
        (
            entry_with(
                key_body("k", "PRIVATE_KEY", &private, &["production"]),
                "content",
                json!(""),
            ),
            "content value can not be empty!",
        ),
        (
            entry_with(
                key_body("k", "PRIVATE_KEY", &private, &["production"]),
                "environmentName",
                Value::Null,
            ),
            "environmentName value can not be empty!",
        ),
    ];
    for (body, message) in cases {
        let (status, resp) = s.post(KEYS, Some(ADMIN), body.clone()).await;
        assert_error(status, &resp, 400, message);
    }
    assert_eq!(key_count(&s).await, 0);
    create_key(
        &s,
        "shop",
        key_body("k", "PRIVATE_KEY", &private, &["production"]),
    )
    .await;
    let (status, resp) = s
        .post(
            KEYS,
            Some(ADMIN),
            key_body("k", "PUBLIC_KEY", &public, &["test"]),
        )
        .await;
    assert_error(
        status,
        &resp,
        400,
        "Key (name: k) is already exist! Try update operation if want to change its value.",
    );
    assert_eq!(key_count(&s).await, 1);
}

#[tokio::test]
async fn secret_keys_are_stored_and_never_become_jwks() {
    let s = Server::with_world().await;
    for (i, (alg, len)) in [
        ("AES", 16),
        ("AES", 24),
        ("AES", 32),
        ("DES", 8),
        ("DESede", 16),
        ("DESede", 24),
        ("RSA", 5),
    ]
    .iter()
    .enumerate()
    {
        let mut body = key_body(
            &format!("s{i}"),
            "SECRET_KEY",
            &b64(&vec![9u8; *len]),
            &["production"],
        );
        body["algorithm"] = json!(alg);
        let resp = create_key(&s, "shop", body).await;
        assert_eq!(resp["resultList"][0]["algorithm"], *alg);
    }
    let (status, body) = parse_from_key(
        &s,
        ADMIN,
        json!({"name": "j", "keyName": "s0", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "HS256"}),
    )
    .await;
    let refused = "Key (name: s0) is a SECRET_KEY; a JWK can only be derived from a PRIVATE_KEY or PUBLIC_KEY!";
    assert_error(status, &body, 400, refused);
    let (status, body) = s
        .post(
            "/apiops/projects/shop/jwks/",
            Some(ADMIN),
            json!({"name": "j", "sourceType": "PRIVATE_KEY", "keyName": "s0", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "HS256"}),
        )
        .await;
    assert_error(status, &body, 400, refused);
    let (_, list) = s.get("/apiops/projects/shop/jwks/", Some(ADMIN)).await;
    assert_eq!(list["resultCount"], 0);
}

#[tokio::test]
async fn jwk_sources_public_and_private() {
    let s = Server::with_world().await;
    create_key(
        &s,
        "shop",
        key_body(
            "priv",
            "PRIVATE_KEY",
            &key_file("rsa2048.pkcs1.pem"),
            &["production"],
        ),
    )
    .await;
    create_key(
        &s,
        "shop",
        key_body(
            "pub",
            "PUBLIC_KEY",
            &key_file("rsa2048.spki.pem"),
            &["production"],
        ),
    )
    .await;
    let req = |name: &str, source: &str, key: &str| json!({"name": name, "sourceType": source, "keyName": key, "environmentName": "production", "useType": "SIGNATURE", "algorithm": "RS256", "description": "x"});
    for (name, source, key) in [
        ("full", "PRIVATE_KEY", "priv"),
        ("pubonly", "PUBLIC_KEY", "priv"),
        ("frompub", "PUBLIC_KEY", "pub"),
    ] {
        let (status, body) = s
            .post(
                "/apiops/projects/shop/jwks/",
                Some(ADMIN),
                req(name, source, key),
            )
            .await;
        assert_success(status, &body);
        // Deployed to the environment of the key's material only.
        let envs: Vec<&str> = body["deploymentResult"]["environmentResults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["environmentName"].as_str().unwrap())
            .collect();
        assert_eq!(envs, ["production"], "{name}");
    }
    let full = jwk(&s, "full").await;
    assert_eq!(full["sourceType"], "PRIVATE_KEY");
    for m in ["n", "e", "d", "p", "q", "dp", "dq", "qi"] {
        assert!(full["rsa"][m].is_string(), "{m}: {full}");
        assert_eq!(full["rsa"][m], full["jwk"][m]);
    }
    assert_eq!(full["use"], "sig");
    assert_eq!(full["alg"], "RS256");
    let pubonly = jwk(&s, "pubonly").await;
    assert!(pubonly["jwk"].get("d").is_none() && pubonly["rsa"].get("d").is_none());
    // One key, three JWKs in one environment: the thumbprint kid, then `-RS256`, then
    // `-RS256-<8 random hex>` (kids are unique within an environment).
    let kid = full["kid"].as_str().unwrap();
    assert_eq!(pubonly["kid"], format!("{kid}-RS256"));
    let third = jwk(&s, "frompub").await["kid"].as_str().unwrap().to_owned();
    let suffix = third
        .strip_prefix(&format!("{kid}-RS256-"))
        .unwrap_or_else(|| panic!("{third}"));
    assert!(
        suffix.len() == 8 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "{third}"
    );
    // The list shows no material.
    let (_, list) = s.get("/apiops/projects/shop/jwks/", Some(ADMIN)).await;
    assert!(!list.to_string().contains("\"d\""));
    // parse-from-key follows the key's type; a PRIVATE_KEY source needs a private key.
    let (status, body) = parse_from_key(&s, ADMIN, json!({"name": "auto", "keyName": "pub", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "PS384", "kid": "mine"})).await;
    assert_success(status, &body);
    let auto = jwk(&s, "auto").await;
    assert_eq!(
        (auto["sourceType"].as_str(), auto["kid"].as_str()),
        (Some("PUBLIC_KEY"), Some("mine"))
    );
    let (status, body) = s
        .post(
            "/apiops/projects/shop/jwks/",
            Some(ADMIN),
            req("x", "PRIVATE_KEY", "pub"),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Key (name: pub) is a PUBLIC_KEY; use sourceType PUBLIC_KEY to derive a JWK from it!",
    );
    let (status, body) = parse_from_key(&s, ADMIN, json!({"name": "x", "keyName": "nope", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "RS256"})).await;
    assert_error(status, &body, 400, "Key (name: nope) is not found!");
    let (status, body) = parse_from_key(&s, ADMIN, json!({"name": "x", "keyName": "pub", "environmentName": "test", "useType": "SIGNATURE", "algorithm": "RS256"})).await;
    assert_error(
        status,
        &body,
        400,
        "Key (name: pub) has no content for environment (test)!",
    );
    let (status, body) = parse_from_key(&s, ADMIN, json!({"name": "x", "environmentName": "test", "useType": "SIGNATURE", "algorithm": "RS256"})).await;
    assert_error(status, &body, 400, "keyName value can not be empty!");
    let (status, body) = parse_from_key(&s, ADMIN, json!({"name": "x", "keyName": "pub", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "ES256"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = parse_from_key(&s, ADMIN, json!({"name": "full", "keyName": "pub", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "RS256"})).await;
    assert_error(
        status,
        &body,
        400,
        "JWK (name: full) is already exist! Try update operation if want to change its value.",
    );
}

#[tokio::test]
async fn admin_project_keys_are_usable_from_every_project() {
    let s = Server::with_world().await;
    create_key(
        &s,
        "admin",
        key_body(
            "shared",
            "PUBLIC_KEY",
            &key_file("ed25519.spki.pem"),
            &["production"],
        ),
    )
    .await;
    let (status, body) = parse_from_key(&s, ADMIN, json!({"name": "j", "keyName": "shared", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "EdDSA"})).await;
    assert_success(status, &body);
    // UPDATE with ALL_PROJECTS reaches the shop JWK; SAME_PROJECT (the default scope) unlinks it.
    let before = jwk(&s, "j").await;
    let (status, body) = s
        .put(
            "/apiops/projects/admin/keys/shared?jwkUpdateAction=UPDATE&updateScope=ALL_PROJECTS",
            Some(ADMIN),
            json!({"cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": key_file("ed448.spki.pem")}]}),
        )
        .await;
    assert_success(status, &body);
    let after = jwk(&s, "j").await;
    assert_eq!(after["okp"]["crv"], "Ed448");
    assert_eq!(after["sourceId"], before["sourceId"]);
    // A new description alone is no new material: derived JWKs stay linked and unchanged.
    let (status, body) = s
        .put(
            "/apiops/projects/admin/keys/shared?jwkUpdateAction=UPDATE",
            Some(ADMIN),
            json!({"description": "again"}),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(jwk(&s, "j").await["sourceId"], before["sourceId"]);
    let (status, body) = s
        .put(
            "/apiops/projects/admin/keys/shared?jwkUpdateAction=UPDATE",
            Some(ADMIN),
            json!({"cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": key_file("ed25519.spki.pem")}]}),
        )
        .await;
    assert_success(status, &body);
    let unlinked = jwk(&s, "j").await;
    assert_eq!(unlinked["sourceId"], Value::Null);
    assert_eq!(unlinked["okp"]["crv"], "Ed448");
}

#[tokio::test]
async fn partial_update_changes_only_given_fields() {
    let s = Server::with_world().await;
    create_key(
        &s,
        "shop",
        key_body(
            "k",
            "PRIVATE_KEY",
            &key_file("p256.sec1.pem"),
            &["production", "test"],
        ),
    )
    .await;
    create_key(
        &s,
        "shop",
        key_body("other", "PUBLIC_KEY", &key_file("p256.spki.pem"), &["test"]),
    )
    .await;
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/k",
            Some(ADMIN),
            json!({"description": "new"}),
        )
        .await;
    assert_success(status, &body);
    let k = &body["resultList"][0];
    assert_eq!(k["description"], "new");
    assert_eq!(k["keyType"], "PRIVATE_KEY");
    assert_eq!(
        k["cryptoKeyInfoEnvironmentList"].as_array().unwrap().len(),
        2
    );
    assert_eq!(k["cryptoKeyInfoEnvironmentList"][1]["alias"], "k-test");
    // Rename; a clash is refused.
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/k",
            Some(ADMIN),
            json!({"name": "other"}),
        )
        .await;
    assert_error(status, &body, 400, "Key (name: other) is already exist!");
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/k",
            Some(ADMIN),
            json!({"name": "renamed"}),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["description"], "new");
    let (status, body) = s.get("/apiops/projects/shop/keys/k", Some(ADMIN)).await;
    assert_error(status, &body, 400, "Key (name: k) is not found!");
    // A type change is checked against the kept content.
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/renamed",
            Some(ADMIN),
            json!({"keyType": "PUBLIC_KEY"}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "content of a PUBLIC_KEY must be a public key or certificate, but it is a private key! Use keyType PRIVATE_KEY for it.",
    );
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/renamed",
            Some(ADMIN),
            json!({"keyType": "SECRET_KEY"}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "algorithm is required for SECRET_KEY! Supported values: AES, DES, DESede, RSA",
    );
    // The entry list, when given, replaces every entry (and undeploys the environments left).
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/renamed",
            Some(ADMIN),
            json!({"keyType": "PUBLIC_KEY", "cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": key_file("p384.spki.pem"), "alias": "a"}]}),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["keyType"], "PUBLIC_KEY");
    assert_eq!(
        body["resultList"][0]["cryptoKeyInfoEnvironmentList"],
        json!([{"environmentName": "production", "alias": "a", "source": null}])
    );
    let results = body["deploymentResult"]["environmentResults"]
        .as_array()
        .unwrap();
    let test_env = results
        .iter()
        .find(|e| e["environmentName"] == "test")
        .unwrap();
    assert_eq!(test_env["message"], "Undeployed successfully");
    // Secret key: algorithm change re-checks the kept length.
    let mut secret = key_body("sec", "SECRET_KEY", &b64(&[3u8; 16]), &["production"]);
    secret["algorithm"] = json!("AES");
    create_key(&s, "shop", secret).await;
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/sec",
            Some(ADMIN),
            json!({"algorithm": "DES"}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "content of a DES secret key must be 8 bytes long, but it is 16 bytes long!",
    );
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/sec",
            Some(ADMIN),
            json!({"algorithm": "DESede"}),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["algorithm"], "DESede");
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/nope",
            Some(ADMIN),
            json!({"description": "x"}),
        )
        .await;
    assert_error(status, &body, 400, "Key (name: nope) is not found!");
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/sec?jwkUpdateAction=MAYBE",
            Some(ADMIN),
            json!({}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "jwkUpdateAction (MAYBE) is not valid! Accepted values: NULLIFY, UPDATE",
    );
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/sec?jwkUpdateAction=UPDATE&updateScope=ALL",
            Some(ADMIN),
            json!({}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "updateScope (ALL) is not valid! Accepted values: SAME_PROJECT, ALL_PROJECTS",
    );
}

#[tokio::test]
async fn update_and_delete_cascade_to_derived_jwks() {
    let s = Server::with_world().await;
    create_key(
        &s,
        "shop",
        key_body(
            "k",
            "PRIVATE_KEY",
            &key_file("p256.p8.pem"),
            &["production"],
        ),
    )
    .await;
    for (name, kid) in [("j1", None), ("j2", Some("fixed"))] {
        let mut req = json!({"name": name, "keyName": "k", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "ES256"});
        if let Some(k) = kid {
            req["kid"] = json!(k);
        }
        let (status, body) = parse_from_key(&s, ADMIN, req).await;
        assert_success(status, &body);
    }
    let before = jwk(&s, "j1").await;
    assert_eq!(before["ec"]["crv"], "P-256");
    // UPDATE: re-derived from the new content (another P-256 key format of the same key keeps the kid).
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/k?jwkUpdateAction=UPDATE",
            Some(ADMIN),
            json!({"cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": key_file("p256.p8-scrypt.pem"), "password": "keyward-pw"}]}),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(jwk(&s, "j1").await["kid"], before["kid"]);
    // A refused re-derivation (ES256 cannot follow a P-384 key) changes nothing at all.
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/k?jwkUpdateAction=UPDATE",
            Some(ADMIN),
            json!({"description": "changed", "cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": key_file("p384.p8.pem")}]}),
        )
        .await;
    assert_error_prefix(
        status,
        &body,
        400,
        "JWK (name: j1) can not be updated from the new key: ",
    );
    let (_, k) = s.get("/apiops/projects/shop/keys/k", Some(ADMIN)).await;
    assert_eq!(k["resultList"][0]["description"], "d");
    // NULLIFY (the default): unlinked, unchanged.
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/k",
            Some(ADMIN),
            json!({"cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": key_file("p384.p8.pem")}]}),
        )
        .await;
    assert_success(status, &body);
    let j1 = jwk(&s, "j1").await;
    assert_eq!(j1["sourceId"], Value::Null);
    assert_eq!(j1["ec"]["crv"], "P-256");
    assert_eq!(jwk(&s, "j2").await["kid"], "fixed");
    // Delete: NULLIFY keeps JWKs unlinked, DELETE deletes them.
    for (key, file) in [("d1", "ed25519.p8.pem"), ("d2", "ed25519.p8.pem")] {
        create_key(
            &s,
            "shop",
            key_body(key, "PRIVATE_KEY", &key_file(file), &["production"]),
        )
        .await;
        let (status, body) = parse_from_key(&s, ADMIN, json!({"name": format!("j-{key}"), "keyName": key, "environmentName": "production", "useType": "SIGNATURE", "algorithm": "EdDSA"})).await;
        assert_success(status, &body);
    }
    let (status, body) = s
        .delete(
            "/apiops/projects/shop/keys/d1?jwkDeleteAction=KEEP",
            Some(ADMIN),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "jwkDeleteAction (KEEP) is not valid! Accepted values: NULLIFY, DELETE",
    );
    let (status, body) = s.delete("/apiops/projects/shop/keys/d1", Some(ADMIN)).await;
    assert_success(status, &body);
    assert_eq!(body["resultMessage"], "Key (name: d1) is deleted.");
    assert_eq!(
        body["deploymentResult"]["message"],
        "Undeployment completed successfully"
    );
    assert_eq!(jwk(&s, "j-d1").await["sourceId"], Value::Null);
    let (status, body) = s
        .delete(
            "/apiops/projects/shop/keys/d2/?jwkDeleteAction=DELETE",
            Some(ADMIN),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = s.get("/apiops/projects/shop/jwks/j-d2", Some(ADMIN)).await;
    assert_error(status, &body, 400, "JWK (name: j-d2) is not found!");
    let (status, body) = s.delete("/apiops/projects/shop/keys/d2", Some(ADMIN)).await;
    assert_error(status, &body, 400, "Key (name: d2) is not found!");
}

#[tokio::test]
async fn permission_denials_change_nothing() {
    let s = Server::with_world().await;
    create_key(
        &s,
        "shop",
        key_body(
            "k",
            "PUBLIC_KEY",
            &key_file("p256.spki.pem"),
            &["production"],
        ),
    )
    .await;
    let viewer = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;
    let manager = s.user_with("manager", "shop", &["SECRETS:MANAGE"]).await;
    let outsider = s.user_with("outsider", "admin", &["SECRETS:VIEW"]).await;
    let (status, body) = s.get(KEYS, Some(&viewer)).await;
    assert_success(status, &body);
    let (status, body) = s.get("/apiops/projects/shop/keys/k", Some(&viewer)).await;
    assert_success(status, &body);
    for token in [&viewer, &manager] {
        let (status, body) = s
            .post(
                KEYS,
                Some(token),
                key_body(
                    "new",
                    "PUBLIC_KEY",
                    &key_file("p256.spki.pem"),
                    &["production"],
                ),
            )
            .await;
        assert_error(
            status,
            &body,
            400,
            "User does not have required permission for this operation!",
        );
        let (status, body) = s
            .put(
                "/apiops/projects/shop/keys/k",
                Some(token),
                json!({"description": "hacked"}),
            )
            .await;
        assert_error(
            status,
            &body,
            400,
            "User does not have required permission for this operation!",
        );
        let (status, body) = s.delete("/apiops/projects/shop/keys/k", Some(token)).await;
        assert_error(
            status,
            &body,
            400,
            "User does not have required permission for this operation!",
        );
        let (status, body) = parse_from_key(&s, token, json!({"name": "j", "keyName": "k", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "ES256"})).await;
        assert_error(
            status,
            &body,
            400,
            "User does not have required permission for this operation!",
        );
    }
    let (status, body) = s.get(KEYS, Some(&outsider)).await;
    assert_error(
        status,
        &body,
        400,
        "Project (shop) is not found or user does not have privilege to access it!",
    );
    let (status, body) = s.get(KEYS, None).await;
    assert_eq!(status, 401, "{body}");
    let (_, list) = s.get(KEYS, Some(ADMIN)).await;
    assert_eq!(list["resultCount"], 1);
    assert_eq!(list["resultList"][0]["description"], "d");
    let (_, jwks) = s.get("/apiops/projects/shop/jwks/", Some(ADMIN)).await;
    assert_eq!(jwks["resultCount"], 0);
    // MANAGE + DEPLOY_UNDEPLOY is enough.
    let deployer = s
        .user_with(
            "deployer",
            "shop",
            &["SECRETS:MANAGE", "SECRETS:DEPLOY_UNDEPLOY"],
        )
        .await;
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keys/k",
            Some(&deployer),
            json!({"description": "ok"}),
        )
        .await;
    assert_success(status, &body);
}

/// GET raw bytes with headers.
async fn download(s: &Server, path: &str, token: &str) -> (u16, String, String, Vec<u8>) {
    let resp = s
        .client
        .get(s.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let header = |h: &str| {
        resp.headers()
            .get(h)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (ct, cd) = (header("content-type"), header("content-disposition"));
    (status, ct, cd, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn export_file_gives_the_decrypted_key_per_environment() {
    use std::io::Read;
    let s = Server::with_world().await;
    let mut body = key_body(
        "signing-key",
        "PRIVATE_KEY",
        &key_file("rsa2048.p8-pbes2-aes256.pem"),
        &["production", "test"],
    );
    for i in 0..2 {
        body["cryptoKeyInfoEnvironmentList"][i]["password"] = json!("keyward-pw");
    }
    create_key(&s, "shop", body).await;
    let mut secret = key_body("sec", "SECRET_KEY", &b64(&[5u8; 32]), &["test"]);
    secret["algorithm"] = json!("AES");
    create_key(&s, "shop", secret).await;
    let (status, ct, cd, bytes) = download(
        &s,
        "/apiops/projects/shop/keys/signing-key/export-file/?environmentName=test",
        ADMIN,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ct, "application/x-pem-file");
    assert_eq!(cd, "attachment; filename=\"signing-key-test.pem\"");
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.starts_with("-----BEGIN PRIVATE KEY-----"),
        "stored decrypted: {text}"
    );
    assert_eq!(
        keyward_jose::parse_key(text.as_bytes(), None).unwrap(),
        keyward_jose::parse_key(&read_fixture("keys/rsa2048.p8.pem"), None).unwrap()
    );
    let (status, ct, cd, bytes) = download(
        &s,
        "/apiops/projects/shop/keys/signing-key/export-file",
        ADMIN,
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, "application/octet-stream"));
    assert_eq!(cd, "attachment; filename=\"signing-key-keys.zip\"");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        ["signing-key-production.pem", "signing-key-test.pem"]
    );
    let mut pem = String::new();
    zip.by_name("signing-key-production.pem")
        .unwrap()
        .read_to_string(&mut pem)
        .unwrap();
    assert_eq!(pem, text);
    let (status, _, cd, bytes) = download(
        &s,
        "/apiops/projects/shop/keys/sec/export-file?environmentName=test",
        ADMIN,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(cd, "attachment; filename=\"sec-test.key\"");
    assert_eq!(bytes, vec![5u8; 32]);
    let (status, body) = s
        .get(
            "/apiops/projects/shop/keys/sec/export-file?environmentName=production",
            Some(ADMIN),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "(sec) has no material for environment (production)! Available: test",
    );
    let (status, body) = s
        .get("/apiops/projects/shop/keys/nope/export-file", Some(ADMIN))
        .await;
    assert_error(status, &body, 400, "Key (name: nope) is not found!");
    // Export needs SECRETS+EXPORT_IMPORT; managing is not enough.
    let manager = s
        .user_with(
            "manager",
            "shop",
            &["SECRETS:MANAGE", "SECRETS:DEPLOY_UNDEPLOY"],
        )
        .await;
    let (status, body) = s
        .get("/apiops/projects/shop/keys/sec/export-file", Some(&manager))
        .await;
    assert_error(
        status,
        &body,
        400,
        "User does not have required permission for this operation!",
    );
    let exporter = s
        .user_with("exporter", "shop", &["SECRETS:EXPORT_IMPORT"])
        .await;
    let (status, ..) = download(&s, "/apiops/projects/shop/keys/sec/export-file", &exporter).await;
    assert_eq!(status, 200);
}

/// POST a multipart import form.
async fn import(
    s: &Server,
    path: &str,
    token: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, Vec<u8>)>,
    file_field: &str,
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    if let Some((name, bytes)) = file {
        form = form.part(
            file_field.to_owned(),
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    }
    let resp = s
        .client
        .post(s.url(path))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn import_file_creates_overrides_and_restores_zips() {
    let s = Server::with_world().await;
    const IMPORT: &str = "/apiops/projects/shop/keys/import-file/";
    let enc = || Some(("k.pem", read_fixture("keys/rsa2048.p8-pbes2-aes256.pem")));
    let base = [
        ("keyName", "signing-key"),
        ("keyType", "PRIVATE_KEY"),
        ("environmentList", "production,test"),
        ("password", "keyward-pw"),
        ("alias", "sk"),
        ("keyDescription", "imported"),
    ];
    let (status, body) = import(&s, IMPORT, ADMIN, &base, enc(), "keyFile").await;
    assert_success(status, &body);
    let k = &body["resultList"][0];
    assert_eq!(k["description"], "imported");
    assert_eq!(
        k["cryptoKeyInfoEnvironmentList"].as_array().unwrap().len(),
        2
    );
    assert_eq!(k["cryptoKeyInfoEnvironmentList"][0]["alias"], "sk");
    assert_eq!(
        body["deploymentResult"]["environmentResults"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Messages; nothing written by any of them.
    let cases: Vec<(Vec<(&str, &str)>, Option<(&str, Vec<u8>)>, &str)> = vec![
        (
            base.to_vec(),
            enc(),
            "Key (name: signing-key) is already exist! Send override=true to update it.",
        ),
        (
            vec![
                ("keyName", "nope"),
                ("keyType", "PRIVATE_KEY"),
                ("environmentList", "production"),
                ("override", "true"),
            ],
            enc(),
            "Key (name: nope) is not found!",
        ),
        (
            vec![
                ("keyName", "n"),
                ("keyType", "RSA"),
                ("environmentList", "production"),
            ],
            enc(),
            "Unknown keyType (RSA)! Supported values: SECRET_KEY, PRIVATE_KEY, PUBLIC_KEY",
        ),
        (
            vec![
                ("keyName", "n"),
                ("keyType", "SECRET_KEY"),
                ("algorithm", "foo"),
                ("environmentList", "production"),
            ],
            Some(("s.key", vec![1u8; 16])),
            "Unknown algorithm (foo)! Supported values: AES, DES, DESede, RSA",
        ),
        (
            vec![
                ("keyName", "n"),
                ("keyType", "SECRET_KEY"),
                ("environmentList", "production"),
            ],
            Some(("s.key", vec![1u8; 16])),
            "algorithm is required for SECRET_KEY! Supported values: AES, DES, DESede, RSA",
        ),
        (
            vec![("keyName", "n"), ("keyType", "PRIVATE_KEY")],
            enc(),
            "environmentList value can not be empty!",
        ),
        (
            vec![
                ("keyName", "n"),
                ("keyType", "PRIVATE_KEY"),
                ("environmentList", "staging"),
            ],
            enc(),
            "Environment (staging) is not found or user does not have privilege to access it!",
        ),
        (
            vec![
                ("keyName", "n"),
                ("keyType", "PRIVATE_KEY"),
                ("environmentList", "production"),
            ],
            Some(("k.pem", b"hello".to_vec())),
            "Key content is neither PEM nor valid Base64 for key type PRIVATE_KEY! Send the PEM content Base64-encoded.",
        ),
        (
            vec![
                ("keyName", "n"),
                ("keyType", "PRIVATE_KEY"),
                ("environmentList", "production"),
            ],
            None,
            "keyFile value can not be empty!",
        ),
        (
            vec![
                ("keyType", "PRIVATE_KEY"),
                ("environmentList", "production"),
            ],
            enc(),
            "keyName value can not be empty!",
        ),
    ];
    for (fields, file, message) in cases {
        let (status, body) = import(&s, IMPORT, ADMIN, &fields, file, "keyFile").await;
        assert_error(status, &body, 400, message);
    }
    assert_eq!(key_count(&s).await, 1);
    // A secret key file is its raw bytes; algorithm is case-insensitive here.
    let (status, body) = import(
        &s,
        IMPORT,
        ADMIN,
        &[
            ("keyName", "sec"),
            ("keyType", "SECRET_KEY"),
            ("algorithm", "aes"),
            ("environmentList", "test"),
        ],
        Some(("s.key", vec![1u8; 24])),
        "keyFile",
    )
    .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["algorithm"], "AES");
    // Override: the imported environment is replaced, the other kept; UPDATE re-derives JWKs.
    let (status, body) = parse_from_key(&s, ADMIN, json!({"name": "j", "keyName": "signing-key", "environmentName": "production", "useType": "SIGNATURE", "algorithm": "RS256"})).await;
    assert_success(status, &body);
    let (status, body) = import(
        &s,
        IMPORT,
        ADMIN,
        &[
            ("keyName", "signing-key"),
            ("keyType", "PRIVATE_KEY"),
            ("environmentList", "production"),
            ("override", "true"),
            ("jwkUpdateAction", "UPDATE"),
        ],
        Some(("k.pem", read_fixture("keys/rsa2048.pkcs1.pem"))),
        "keyFile",
    )
    .await;
    assert_success(status, &body);
    let envs = body["resultList"][0]["cryptoKeyInfoEnvironmentList"]
        .as_array()
        .unwrap();
    assert_eq!(envs.len(), 2);
    assert_eq!(body["resultList"][0]["description"], "imported");
    assert!(jwk(&s, "j").await["sourceId"].is_string());
    // ZIP from export-file, restored under another name with an environment mapping.
    let resp = s
        .client
        .get(s.url("/apiops/projects/shop/keys/signing-key/export-file"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let zip = resp.bytes().await.unwrap().to_vec();
    let (status, body) = import(
        &s,
        IMPORT,
        ADMIN,
        &[
            ("keyName", "signing-key"),
            ("keyType", "PRIVATE_KEY"),
            ("environmentMapping", "{\"test\":\"\"}"),
            ("override", "true"),
        ],
        Some(("signing-key-keys.zip", zip.clone())),
        "keyFile",
    )
    .await;
    assert_success(status, &body);
    let (status, body) = import(
        &s,
        IMPORT,
        ADMIN,
        &[
            ("keyName", "signing-key"),
            ("keyType", "PRIVATE_KEY"),
            ("environmentMapping", "[1]"),
            ("override", "true"),
        ],
        Some(("signing-key-keys.zip", zip)),
        "keyFile",
    )
    .await;
    assert_error_prefix(
        status,
        &body,
        400,
        "environmentMapping must be a JSON object of \"package environment name\":\"target environment name\" pairs",
    );
    // Import needs EXPORT_IMPORT and MANAGE + DEPLOY_UNDEPLOY.
    let manager = s
        .user_with(
            "manager",
            "shop",
            &["SECRETS:MANAGE", "SECRETS:DEPLOY_UNDEPLOY"],
        )
        .await;
    let exporter = s
        .user_with("exporter", "shop", &["SECRETS:EXPORT_IMPORT"])
        .await;
    for token in [&manager, &exporter] {
        let (status, body) = import(
            &s,
            IMPORT,
            token,
            &[
                ("keyName", "x"),
                ("keyType", "PRIVATE_KEY"),
                ("environmentList", "production"),
            ],
            Some(("k.pem", read_fixture("keys/p256.p8.pem"))),
            "keyFile",
        )
        .await;
        assert_error(
            status,
            &body,
            400,
            "User does not have required permission for this operation!",
        );
    }
    assert_eq!(key_count(&s).await, 2);
}

#[tokio::test]
async fn openapi_lists_the_key_and_keystore_routes() {
    let s = Server::start().await;
    let (status, api) = s.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    let paths = api["paths"].as_object().unwrap();
    for p in [
        "/apiops/projects/{projectName}/keys",
        "/apiops/projects/{projectName}/keys/{keyName}",
        "/apiops/projects/{projectName}/keys/{keyName}/export-file",
        "/apiops/projects/{projectName}/keys/import-file",
        "/apiops/projects/{projectName}/keystores",
        "/apiops/projects/{projectName}/keystores/{keystoreName}",
        "/apiops/projects/{projectName}/keystores/{keystoreName}/export-file",
        "/apiops/projects/{projectName}/keystores/import-file",
        "/apiops/projects/{projectName}/jwks/parse-from-key",
        "/apiops/projects/{projectName}/jwks/parse-from-keystore",
    ] {
        assert!(paths.contains_key(p), "openapi.json lacks {p}");
    }
    let schemas = api["components"]["schemas"].as_object().unwrap();
    for schema in ["KeyInput", "KeystoreInput"] {
        assert!(schemas.contains_key(schema), "{schema}");
    }
    let create = &schemas["KeyInput"]["properties"];
    assert!(
        create.get("cryptoKeyInfoEnvironmentList").is_some(),
        "{create}"
    );
}

/// The private JWKs keyward derives from key files equal what Python `jwcrypto` reads from the
/// same (decrypted) files, member for member, and the thumbprint kid agrees. Skipped without a
/// Python that has jwcrypto (`KEYWARD_CROSSCHECK_PYTHON`), failed under CI.
#[tokio::test]
async fn private_jwks_agree_with_jwcrypto() {
    let python = match std::env::var("KEYWARD_CROSSCHECK_PYTHON") {
        Ok(p) => p,
        Err(_) => {
            assert!(std::env::var_os("CI").is_none(), "CI must provide jwcrypto");
            eprintln!("SKIPPED: set KEYWARD_CROSSCHECK_PYTHON to a Python with jwcrypto");
            return;
        }
    };
    let s = Server::with_world().await;
    let manifest: Value = serde_json::from_slice(&read_fixture("keys/manifest.json")).unwrap();
    let mut cases = Vec::new();
    for (i, f) in manifest["files"].as_array().unwrap().iter().enumerate() {
        let file = f["file"].as_str().unwrap();
        if !f["private"].as_bool().unwrap() || !file.ends_with(".pem") || file.contains("combined")
        {
            continue;
        }
        let mut body = key_body(
            &format!("k{i}"),
            "PRIVATE_KEY",
            &key_file(file),
            &["production"],
        );
        if let Some(pw) = f["password"].as_str() {
            body["cryptoKeyInfoEnvironmentList"][0]["password"] = json!(pw);
        }
        create_key(&s, "shop", body).await;
        let (use_type, alg) = alg_for(
            f["kty"].as_str().unwrap(),
            f["crv"].as_str(),
            f["key"].as_str().unwrap(),
        );
        let (status, body) = parse_from_key(&s, ADMIN, json!({"name": format!("j{i}"), "keyName": format!("k{i}"), "environmentName": "production", "useType": use_type, "algorithm": alg})).await;
        assert_success(status, &body);
        cases.push(json!({
            "file": fixture(&format!("keys/{file}")),
            "password": f["password"],
            "jwk": jwk(&s, &format!("j{i}")).await["jwk"],
        }));
        // Gone again, so that the next format of the same key takes the plain thumbprint kid.
        let (status, body) = s
            .delete(&format!("/apiops/projects/shop/jwks/j{i}"), Some(ADMIN))
            .await;
        assert_success(status, &body);
    }
    let script = r#"
import json, sys
from jwcrypto import jwk
cases = json.load(open(sys.argv[1]))
bad, skipped, compared = [], [], 0
for c in cases:
    pw = c["password"].encode() if c["password"] else None
    try:
        k = jwk.JWK.from_pem(open(c["file"], "rb").read(), password=pw)
    except Exception as e:  # a format the peer cannot read: not compared
        skipped.append((c["file"], str(e)[:80]))
        continue
    compared += 1
    theirs = k.export(private_key=True, as_dict=True)
    ours = c["jwk"]
    for m in ["kty", "crv", "n", "e", "d", "p", "q", "dp", "dq", "qi", "x", "y"]:
        if theirs.get(m) != ours.get(m):
            bad.append((c["file"], m, theirs.get(m), ours.get(m)))
    if k.thumbprint() != ours["kid"]:
        bad.append((c["file"], "kid", k.thumbprint(), ours["kid"]))
print(json.dumps({"compared": compared, "skipped": skipped, "bad": bad}))
sys.exit(1 if bad or compared < 15 else 0)
"#;
    let dir = tempfile::tempdir().unwrap();
    let cases_path = dir.path().join("cases.json");
    std::fs::write(&cases_path, serde_json::to_vec(&cases).unwrap()).unwrap();
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(&cases_path)
        .output()
        .unwrap();
    eprintln!("jwcrypto: {}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "jwcrypto disagrees: {} {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(cases.len() >= 20, "{}", cases.len());
}

/// Issue #13: keys whose public part is unsafe get a clean 400 and store nothing; a query
/// parameter given twice is refused, not reduced to one value.
#[tokio::test]
async fn hostile_keys_and_repeated_query_parameters_are_refused() {
    let s = Server::with_world().await;
    let pem_of = |label: &str, der: &[u8]| keyward_jose::pem::encode(label, der);
    let spki_of = |name: &str| {
        keyward_jose::pem::scan(&read_fixture(&format!("keys/{name}")))
            .unwrap()
            .remove(0)
            .der
    };
    // The all-zero X25519 point and the Ed25519 identity, in otherwise valid SPKI.
    let x = spki_of("x25519.spki.pem");
    let zero = [&x[..x.len() - 32], &[0u8; 32][..]].concat();
    let ed = spki_of("ed25519.spki.pem");
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = [&ed[..ed.len() - 32], &identity[..]].concat();
    // An RSA public key with an even modulus.
    let rsa = spki_of("rsa2048.spki.pem");
    let keyward_jose::PublicKey::Rsa { n, .. } =
        keyward_jose::PublicKey::from_spki_der(&rsa).unwrap()
    else {
        panic!("an RSA fixture")
    };
    let at = rsa
        .windows(n.len())
        .position(|w| w == n.as_slice())
        .unwrap();
    let mut even = rsa.clone();
    even[at + n.len() - 1] &= 0xfe;
    for (der, message) in [
        (zero, "the X25519 public key (x) is a point of small order"),
        (weak, "the Ed25519 public key (x) is a point of small order"),
        (even, "the RSA modulus (n) is even"),
    ] {
        let content = b64(pem_of("PUBLIC KEY", &der).as_bytes());
        let (status, body) = s
            .post(
                KEYS,
                Some(ADMIN),
                key_body("bad", "PUBLIC_KEY", &content, &["production"]),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        let text = body["resultMessage"].as_str().unwrap();
        assert!(text.contains(message), "{text}");
    }
    assert_eq!(key_count(&s).await, 0, "nothing stored");

    create_key(
        &s,
        "shop",
        key_body(
            "signer",
            "PRIVATE_KEY",
            &key_file("rsa2048.p8.pem"),
            &["production", "test"],
        ),
    )
    .await;
    let (status, body) = s
        .get(
            &format!("{KEYS}signer/export-file?environmentName=test&environmentName=production"),
            Some(ADMIN),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Field environmentName must be given once!",
    );
}
