//! End-to-end: keystores over HTTP against the real binary, and JWKs derived from their aliases.

#![allow(clippy::type_complexity)] // table-driven cases read best inline

use crate::common::*;
use serde_json::{Value, json};

const KEYSTORES: &str = "/apiops/projects/shop/keystores/";

fn store_file(name: &str) -> String {
    keyward_jose::b64::standard(&read_fixture(&format!("keystores/{name}")))
}

/// One environment's entry of a create/update body.
fn entry(env: &str, file: &str, ks_type: &str, password: &str, alias: Option<&str>) -> Value {
    let mut e = json!({"environmentName": env, "file": store_file(file), "password": password, "keyStoreType": ks_type});
    if let Some(a) = alias {
        e["alias"] = json!(a);
    }
    e
}

fn ks_body(name: &str, entries: Vec<Value>) -> Value {
    json!({"name": name, "description": "d", "keyStoreEnvironmentList": entries})
}

async fn create(s: &Server, project: &str, body: Value) -> Value {
    let (status, resp) = s
        .post(
            &format!("/apiops/projects/{project}/keystores/"),
            Some(ADMIN),
            body,
        )
        .await;
    assert_success(status, &resp);
    resp
}

async fn count(s: &Server) -> usize {
    let (status, body) = s.get(KEYSTORES, Some(ADMIN)).await;
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

async fn parse_from_keystore(s: &Server, token: &str, body: Value) -> (u16, Value) {
    s.post(
        "/apiops/projects/shop/jwks/parse-from-keystore",
        Some(token),
        body,
    )
    .await
}

fn derive(name: &str, ks: &str, alias: &str, use_type: &str, alg: &str) -> Value {
    json!({"name": name, "keyStoreName": ks, "environmentName": "production", "aliasName": alias, "useType": use_type, "algorithm": alg})
}

#[tokio::test]
async fn every_keystore_type_opens_and_lists_never_show_files_or_passwords() {
    let s = Server::with_world().await;
    let manifest: Value = serde_json::from_slice(&read_fixture("keystores/manifest.json")).unwrap();
    let mut created = 0;
    for f in manifest["files"].as_array().unwrap() {
        let file = f["file"].as_str().unwrap();
        if file == "bigiter.p12" {
            continue;
        }
        // JCEKS files are declared JKS (the API knows JKS and PKCS12 only).
        let ks_type = if f["type"] == "PKCS12" {
            "PKCS12"
        } else {
            "JKS"
        };
        let password = f["storePassword"].as_str().unwrap();
        let alias = f["aliases"][0]["alias"].as_str().unwrap();
        let mut e = entry("production", file, ks_type, password, Some(alias));
        if let Some(kp) = f["keyPassword"]
            .as_str()
            .filter(|k| !k.is_empty() && *k != password)
        {
            e["keyPassword"] = json!(kp);
        }
        let name = file.replace('.', "-");
        let started = std::time::Instant::now();
        let (status, body) = s
            .post(KEYSTORES, Some(ADMIN), ks_body(&name, vec![e]))
            .await;
        assert_eq!(status, 200, "{file}: {body}");
        eprintln!(
            "keystore import {file}: {} ms",
            started.elapsed().as_millis()
        );
        assert_eq!(
            body["resultList"][0]["keyStoreEnvironmentList"],
            json!([{"environmentName": "production", "alias": alias, "keyStoreType": ks_type}]),
            "{file}"
        );
        created += 1;
    }
    for path in [
        KEYSTORES,
        "/apiops/projects/shop/keystores",
        "/apiops/projects/shop/keystores/modern-p12/",
    ] {
        let (status, list) = s.get(path, Some(ADMIN)).await;
        assert_success(status, &list);
        let k = &list["resultList"][0];
        let mut fields: Vec<&str> = k.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "description",
                "id",
                "keyStoreEnvironmentList",
                "name",
                "projectId"
            ]
        );
        let text = list.to_string();
        for secret in ["file", "password", "p12pass1", "storepw1", "keypw12", "MII"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert_eq!(count(&s).await, created);
    let (status, body) = s
        .get("/apiops/projects/shop/keystores/nope", Some(ADMIN))
        .await;
    assert_error(status, &body, 400, "Keystore (name: nope) is not found!");
}

#[tokio::test]
async fn validation_messages_and_nothing_written() {
    let s = Server::with_world().await;
    let ok = || {
        entry(
            "production",
            "modern.p12",
            "PKCS12",
            "p12pass1",
            Some("modern"),
        )
    };
    let with = |field: &str, value: Value| {
        let mut e = ok();
        e[field] = value;
        ks_body("ks", vec![e])
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"description": "d", "keyStoreEnvironmentList": [ok()]}),
            "name value can not be empty!",
        ),
        (
            ks_body("ks", vec![]),
            "keyStoreEnvironmentList value can not be empty!",
        ),
        (
            json!({"name": "ks"}),
            "keyStoreEnvironmentList value can not be empty!",
        ),
        (
            with("password", json!("wrong")),
            "Keystore password is wrong or the file is damaged!",
        ),
        (
            with("password", json!("")),
            "password value can not be empty!",
        ),
        (
            with("keyStoreType", json!("JKS")),
            "keyStoreType (JKS) does not match the file, which is a PKCS12 keystore!",
        ),
        (
            with("keyStoreType", json!("BCFKS")),
            "Unknown keyStoreType (BCFKS)! Supported values: JKS, PKCS12",
        ),
        (
            with("keyStoreType", json!("pkcs12")),
            "Unknown keyStoreType (pkcs12)! Supported values: JKS, PKCS12",
        ),
        (
            with("keyStoreType", Value::Null),
            "keyStoreType value can not be empty!",
        ),
        (
            with("alias", json!("other")),
            "Alias (other) is not found in the keystore! Aliases: modern",
        ),
        (
            with("file", json!("***")),
            "file value must be the keystore file encoded in Base64!",
        ),
        (with("file", Value::Null), "file value can not be empty!"),
        (
            with("environmentName", json!("staging")),
            "Environment (staging) is not found or user does not have privilege to access it!",
        ),
        (
            ks_body("ks", vec![ok(), ok()]),
            "Environment (production) appears more than once in keyStoreEnvironmentList!",
        ),
        (
            ks_body(
                "ks",
                vec![entry("production", "rsa.jks", "JKS", "wrong1", None)],
            ),
            "Keystore password is wrong or the file is damaged!",
        ),
        (
            ks_body(
                "ks",
                vec![entry("production", "rsa.jks", "JKS", "storepw1", None)],
            ),
            "Key password is wrong for alias (rsa)!",
        ),
        (
            ks_body(
                "ks",
                vec![entry("production", "rsa.jks", "PKCS12", "storepw1", None)],
            ),
            "keyStoreType (PKCS12) does not match the file, which is a JKS keystore!",
        ),
    ];
    for (body, message) in cases {
        let (status, resp) = s.post(KEYSTORES, Some(ADMIN), body.clone()).await;
        assert_error(status, &resp, 400, message);
    }
    // A file demanding 10,000,000 iterations is refused before any derivation.
    let (status, resp) = s
        .post(
            KEYSTORES,
            Some(ADMIN),
            ks_body(
                "ks",
                vec![entry(
                    "production",
                    "bigiter.p12",
                    "PKCS12",
                    "p12pass1",
                    None,
                )],
            ),
        )
        .await;
    assert_error_prefix(status, &resp, 400, "The keystore's ");
    assert_eq!(count(&s).await, 0);
    create(&s, "shop", ks_body("ks", vec![ok()])).await;
    let (status, resp) = s
        .post(KEYSTORES, Some(ADMIN), ks_body("ks", vec![ok()]))
        .await;
    assert_error(
        status,
        &resp,
        400,
        "Keystore (name: ks) is already exist! Try update operation if want to change its value.",
    );
    assert_eq!(count(&s).await, 1);
}

#[tokio::test]
async fn jwks_from_private_keys_trusted_certificates_and_secrets() {
    let s = Server::with_world().await;
    create(
        &s,
        "shop",
        ks_body(
            "chain",
            vec![entry("production", "chain.p12", "PKCS12", "p12pass1", None)],
        ),
    )
    .await;
    let mut jks = entry("production", "ks.jks", "JKS", "storepw1", Some("k"));
    jks["keyPassword"] = json!("keypw12");
    create(&s, "shop", ks_body("jks", vec![jks])).await;
    create(
        &s,
        "shop",
        ks_body(
            "java",
            vec![entry("production", "java.p12", "PKCS12", "storepw1", None)],
        ),
    )
    .await;
    let (_, got) = s
        .get("/apiops/projects/shop/keystores/chain", Some(ADMIN))
        .await;
    assert_eq!(
        got["resultList"][0]["keyStoreEnvironmentList"][0]["alias"], "leaf",
        "the first private key is the default alias"
    );

    let (status, body) = parse_from_keystore(
        &s,
        ADMIN,
        derive("leaf", "chain", "leaf", "SIGNATURE", "ES256"),
    )
    .await;
    assert_success(status, &body);
    let leaf = jwk(&s, "leaf").await;
    assert_eq!(leaf["sourceType"], "KEYSTORE");
    assert!(leaf["ec"]["d"].is_string(), "{leaf}");
    assert_eq!(leaf["jwk"]["x5c"].as_array().unwrap().len(), 3);
    assert!(leaf["jwk"]["x5t"].is_string() && leaf["jwk"]["x5t#S256"].is_string());
    // Same through POST /jwks with sourceType KEYSTORE; the alias is matched case-insensitively.
    let mut req = derive("leaf2", "chain", "LEAF", "SIGNATURE", "ES256");
    req["sourceType"] = json!("KEYSTORE");
    req["kid"] = json!("k-1");
    let (status, body) = s
        .post("/apiops/projects/shop/jwks/", Some(ADMIN), req)
        .await;
    assert_success(status, &body);
    assert_eq!(jwk(&s, "leaf2").await["jwk"]["kid"], "k-1");
    // A trusted certificate gives its public key with x5c.
    let (status, body) =
        parse_from_keystore(&s, ADMIN, derive("ca", "jks", "ca", "SIGNATURE", "ES256")).await;
    assert_success(status, &body);
    let ca = jwk(&s, "ca").await;
    assert!(ca["jwk"].get("d").is_none());
    assert_eq!(ca["jwk"]["x5c"].as_array().unwrap().len(), 1);
    let (status, body) =
        parse_from_keystore(&s, ADMIN, derive("k", "jks", "k", "SIGNATURE", "ES256")).await;
    assert_success(status, &body);
    // Refusals.
    let (status, body) =
        parse_from_keystore(&s, ADMIN, derive("x", "java", "aes", "SIGNATURE", "HS256")).await;
    assert_error(
        status,
        &body,
        400,
        "Alias (aes) of keystore (name: java) holds a secret key; a JWK can only be derived from a private key or certificate entry!",
    );
    let (status, body) =
        parse_from_keystore(&s, ADMIN, derive("x", "java", "nope", "SIGNATURE", "ES256")).await;
    assert_error(
        status,
        &body,
        400,
        "Alias (nope) is not found in the keystore! Aliases: jk, aes",
    );
    let (status, body) =
        parse_from_keystore(&s, ADMIN, derive("x", "nope", "jk", "SIGNATURE", "ES256")).await;
    assert_error(status, &body, 400, "Keystore (name: nope) is not found!");
    let mut req = derive("x", "java", "jk", "SIGNATURE", "ES256");
    req["environmentName"] = json!("test");
    let (status, body) = parse_from_keystore(&s, ADMIN, req).await;
    assert_error(
        status,
        &body,
        400,
        "Keystore (name: java) has no file for environment (test)!",
    );
    let mut req = derive("x", "java", "jk", "SIGNATURE", "ES256");
    req["aliasName"] = Value::Null;
    let (status, body) = parse_from_keystore(&s, ADMIN, req).await;
    assert_error(status, &body, 400, "aliasName value can not be empty!");
    let (status, body) = parse_from_keystore(
        &s,
        ADMIN,
        derive("x", "chain", "leaf", "SIGNATURE", "RS256"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (_, list) = s.get("/apiops/projects/shop/jwks/", Some(ADMIN)).await;
    assert_eq!(list["resultCount"], 4);
}

#[tokio::test]
async fn admin_project_keystores_are_usable_from_every_project() {
    let s = Server::with_world().await;
    create(
        &s,
        "admin",
        ks_body(
            "shared",
            vec![entry(
                "production",
                "modern.p12",
                "PKCS12",
                "p12pass1",
                None,
            )],
        ),
    )
    .await;
    let (status, body) = parse_from_keystore(
        &s,
        ADMIN,
        derive("j", "shared", "modern", "SIGNATURE", "PS256"),
    )
    .await;
    assert_success(status, &body);
    assert!(jwk(&s, "j").await["rsa"]["d"].is_string());
}

#[tokio::test]
async fn partial_update_and_cascades() {
    let s = Server::with_world().await;
    let mut jks = entry("production", "ks.jks", "JKS", "storepw1", Some("k"));
    jks["keyPassword"] = json!("keypw12");
    create(
        &s,
        "shop",
        ks_body(
            "ks",
            vec![jks, entry("test", "modern.p12", "PKCS12", "p12pass1", None)],
        ),
    )
    .await;
    create(
        &s,
        "shop",
        ks_body(
            "other",
            vec![entry("test", "modern.p12", "PKCS12", "p12pass1", None)],
        ),
    )
    .await;
    for (name, kid) in [("j1", None), ("j2", Some("fixed"))] {
        let mut req = derive(name, "ks", "k", "SIGNATURE", "ES256");
        if let Some(k) = kid {
            req["kid"] = json!(k);
        }
        let (status, body) = parse_from_keystore(&s, ADMIN, req).await;
        assert_success(status, &body);
    }
    let before = jwk(&s, "j1").await;
    // Description only: entries (and files) stay.
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keystores/ks",
            Some(ADMIN),
            json!({"description": "new"}),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(
        body["resultList"][0]["keyStoreEnvironmentList"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        jwk(&s, "j1").await["sourceId"],
        before["sourceId"],
        "NULLIFY with no linked change still only unlinks on request"
    );
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keystores/ks",
            Some(ADMIN),
            json!({"name": "other"}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Keystore (name: other) is already exist!",
    );
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keystores/nope",
            Some(ADMIN),
            json!({"description": "x"}),
        )
        .await;
    assert_error(status, &body, 400, "Keystore (name: nope) is not found!");
    let (status, body) = s
        .put("/apiops/projects/shop/keystores/ks", Some(ADMIN), json!({"keyStoreEnvironmentList": [entry("production", "modern.p12", "PKCS12", "wrong", None)]}))
        .await;
    assert_error(
        status,
        &body,
        400,
        "Keystore password is wrong or the file is damaged!",
    );
    // UPDATE: the same alias in a new file (the JCEKS twin of ks.jks) re-derives the JWKs.
    let mut jceks = entry("production", "ks.jceks", "JKS", "storepw1", Some("k"));
    jceks["keyPassword"] = json!("keypw12");
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keystores/ks?jwkUpdateAction=UPDATE",
            Some(ADMIN),
            json!({"keyStoreEnvironmentList": [jceks]}),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(
        body["resultList"][0]["keyStoreEnvironmentList"],
        json!([{"environmentName": "production", "alias": "k", "keyStoreType": "JKS"}])
    );
    let after = jwk(&s, "j1").await;
    assert_eq!(after["sourceId"], before["sourceId"]);
    assert_eq!(jwk(&s, "j2").await["kid"], "fixed");
    // A new file without the alias cannot re-derive: refused, nothing changes.
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keystores/ks?jwkUpdateAction=UPDATE",
            Some(ADMIN),
            json!({"description": "changed", "keyStoreEnvironmentList": [entry("production", "modern.p12", "PKCS12", "p12pass1", None)]}),
        )
        .await;
    assert_error_prefix(
        status,
        &body,
        400,
        "JWK (name: j1) can not be updated from the new keystore: Alias (k) is not found in the keystore!",
    );
    let (_, got) = s
        .get("/apiops/projects/shop/keystores/ks", Some(ADMIN))
        .await;
    assert_eq!(got["resultList"][0]["description"], "new");
    assert_eq!(
        got["resultList"][0]["keyStoreEnvironmentList"][0]["alias"],
        "k"
    );
    // NULLIFY: unlinked, unchanged.
    let (status, body) = s
        .put(
            "/apiops/projects/shop/keystores/ks",
            Some(ADMIN),
            json!({"name": "renamed", "keyStoreEnvironmentList": [entry("production", "modern.p12", "PKCS12", "p12pass1", None)]}),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["name"], "renamed");
    let j1 = jwk(&s, "j1").await;
    assert_eq!(j1["sourceId"], Value::Null);
    assert_eq!(j1["kid"], after["kid"]);
    // Delete: NULLIFY and DELETE.
    let (status, body) = parse_from_keystore(
        &s,
        ADMIN,
        derive("j3", "renamed", "modern", "SIGNATURE", "RS256"),
    )
    .await;
    assert_success(status, &body);
    let mut req = derive("j4", "other", "modern", "SIGNATURE", "RS256");
    req["environmentName"] = json!("test");
    let (status, body) = parse_from_keystore(&s, ADMIN, req).await;
    assert_success(status, &body);
    let (status, body) = s
        .delete("/apiops/projects/shop/keystores/renamed", Some(ADMIN))
        .await;
    assert_success(status, &body);
    assert_eq!(
        body["resultMessage"],
        "Keystore (name: renamed) is deleted."
    );
    assert_eq!(jwk(&s, "j3").await["sourceId"], Value::Null);
    let (status, body) = s
        .delete(
            "/apiops/projects/shop/keystores/other?jwkDeleteAction=DELETE",
            Some(ADMIN),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = s.get("/apiops/projects/shop/jwks/j4", Some(ADMIN)).await;
    assert_error(status, &body, 400, "JWK (name: j4) is not found!");
    assert_eq!(count(&s).await, 0);
}

#[tokio::test]
async fn permission_denials_change_nothing() {
    let s = Server::with_world().await;
    create(
        &s,
        "shop",
        ks_body(
            "ks",
            vec![entry(
                "production",
                "modern.p12",
                "PKCS12",
                "p12pass1",
                None,
            )],
        ),
    )
    .await;
    let viewer = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;
    let deployer = s
        .user_with("deployer", "shop", &["SECRETS:DEPLOY_UNDEPLOY"])
        .await;
    let (status, body) = s.get(KEYSTORES, Some(&viewer)).await;
    assert_success(status, &body);
    for token in [&viewer, &deployer] {
        let (status, body) = s
            .post(
                KEYSTORES,
                Some(token),
                ks_body(
                    "new",
                    vec![entry(
                        "production",
                        "modern.p12",
                        "PKCS12",
                        "p12pass1",
                        None,
                    )],
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
                "/apiops/projects/shop/keystores/ks",
                Some(token),
                json!({"description": "x"}),
            )
            .await;
        assert_error(
            status,
            &body,
            400,
            "User does not have required permission for this operation!",
        );
        let (status, body) = s
            .delete("/apiops/projects/shop/keystores/ks", Some(token))
            .await;
        assert_error(
            status,
            &body,
            400,
            "User does not have required permission for this operation!",
        );
        let (status, body) =
            parse_from_keystore(&s, token, derive("j", "ks", "modern", "SIGNATURE", "RS256")).await;
        assert_error(
            status,
            &body,
            400,
            "User does not have required permission for this operation!",
        );
    }
    let outsider = s.user_with("outsider", "admin", &["SECRETS:MANAGE"]).await;
    let (status, body) = s.get(KEYSTORES, Some(&outsider)).await;
    assert_error(
        status,
        &body,
        400,
        "Project (shop) is not found or user does not have privilege to access it!",
    );
    let (_, list) = s.get(KEYSTORES, Some(ADMIN)).await;
    assert_eq!(list["resultCount"], 1);
    assert_eq!(list["resultList"][0]["description"], "d");
    let (_, jwks) = s.get("/apiops/projects/shop/jwks/", Some(ADMIN)).await;
    assert_eq!(jwks["resultCount"], 0);
}

/// `keyward store copy` carries keys, keystores and the keystore alias of derived JWKs: after the
/// copy, an UPDATE of the keystore still re-derives its JWK. Needs `KEYWARD_TEST_DATABASE_URL`.
#[tokio::test]
async fn keys_and_keystores_survive_store_copy() {
    let Ok(admin_url) = std::env::var("KEYWARD_TEST_DATABASE_URL") else {
        eprintln!("SKIPPED: needs KEYWARD_TEST_DATABASE_URL");
        return;
    };
    let sqlite_home = std::sync::Arc::new(DataHome {
        dir: tempfile::tempdir().unwrap(),
        database_url: None,
    });
    let s = Server::start_with(sqlite_home.clone(), &[]).await;
    s.create_environment("production").await;
    s.create_project("shop").await;
    let key = json!({"name": "k", "keyType": "PRIVATE_KEY", "cryptoKeyInfoEnvironmentList": [{"environmentName": "production", "content": keyward_jose::b64::standard(&read_fixture("keys/p256.p8.pem"))}]});
    let (status, body) = s
        .post("/apiops/projects/shop/keys/", Some(ADMIN), key)
        .await;
    assert_success(status, &body);
    let mut jks = entry("production", "ks.jks", "JKS", "storepw1", Some("k"));
    jks["keyPassword"] = json!("keypw12");
    create(&s, "shop", ks_body("ks", vec![jks])).await;
    let (status, body) =
        parse_from_keystore(&s, ADMIN, derive("j", "ks", "ca", "SIGNATURE", "ES256")).await;
    assert_success(status, &body);
    let (_, keys_before) = s.get("/apiops/projects/shop/keys", Some(ADMIN)).await;
    let (_, ks_before) = s.get(KEYSTORES, Some(ADMIN)).await;
    let jwk_before = jwk(&s, "j").await;
    assert!(s.stop().await.success());

    let target = fresh_database(&admin_url);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["store", "copy", "--from"])
        .arg(format!(
            "sqlite://{}",
            sqlite_home.dir.path().join("keyward.db").display()
        ))
        .args(["--to", &target])
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "store copy failed: {err}");
    for table in [
        "crypto_keys",
        "crypto_key_entries",
        "keystores",
        "keystore_entries",
        "jwk_source_aliases",
    ] {
        assert!(err.contains(table), "{table}: {err}");
    }
    // The copy stays sealed under the source's master key (its key file).
    let key = std::fs::read_to_string(sqlite_home.dir.path().join("master.key")).unwrap();
    let p = Server::start_with(
        std::sync::Arc::new(DataHome {
            dir: tempfile::tempdir().unwrap(),
            database_url: Some(target),
        }),
        &["--master-key", key.trim()],
    )
    .await;
    let (_, keys_after) = p.get("/apiops/projects/shop/keys", Some(ADMIN)).await;
    let (_, ks_after) = p.get(KEYSTORES, Some(ADMIN)).await;
    assert_eq!(keys_before, keys_after);
    assert_eq!(ks_before, ks_after);
    assert_eq!(jwk(&p, "j").await, jwk_before);
    let mut jceks = entry("production", "ks.jceks", "JKS", "storepw1", Some("k"));
    jceks["keyPassword"] = json!("keypw12");
    let (status, body) = p
        .put(
            "/apiops/projects/shop/keystores/ks?jwkUpdateAction=UPDATE",
            Some(ADMIN),
            json!({"keyStoreEnvironmentList": [jceks]}),
        )
        .await;
    assert_success(status, &body);
    // Re-derived from alias `ca` (not the default alias `k`): the alias moved with the data.
    let after = jwk(&p, "j").await;
    assert_eq!(after["sourceId"], jwk_before["sourceId"]);
    assert!(after["jwk"].get("d").is_none(), "{after}");
    assert_eq!(after["jwk"]["x5c"], jwk_before["jwk"]["x5c"]);
}

#[tokio::test]
async fn export_file_gives_the_original_file_without_password() {
    let s = Server::with_world().await;
    create(
        &s,
        "shop",
        ks_body(
            "partner-store",
            vec![
                entry("production", "modern.p12", "PKCS12", "p12pass1", None),
                entry("test", "trust.jks", "JKS", "storepw1", None),
            ],
        ),
    )
    .await;
    let get = |path: &'static str, token: String| {
        let req = s.client.get(s.url(path)).bearer_auth(token);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let cd = resp
                .headers()
                .get("content-disposition")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (status, cd, resp.bytes().await.unwrap().to_vec())
        }
    };
    let (status, cd, bytes) = get(
        "/apiops/projects/shop/keystores/partner-store/export-file?environmentName=production",
        ADMIN.to_owned(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(cd, "attachment; filename=\"partner-store-production.p12\"");
    assert_eq!(bytes, read_fixture("keystores/modern.p12"));
    let (status, cd, bytes) = get(
        "/apiops/projects/shop/keystores/partner-store/export-file/",
        ADMIN.to_owned(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(cd, "attachment; filename=\"partner-store-keystores.zip\"");
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        ["partner-store-production.p12", "partner-store-test.jks"]
    );
    let (status, body) = s
        .get(
            "/apiops/projects/shop/keystores/partner-store/export-file?environmentName=prod",
            Some(ADMIN),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "(partner-store) has no material for environment (prod)! Available: production, test",
    );
    let (status, body) = s
        .get(
            "/apiops/projects/shop/keystores/nope/export-file",
            Some(ADMIN),
        )
        .await;
    assert_error(status, &body, 400, "Keystore (name: nope) is not found!");
    let viewer = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;
    let (status, body) = s
        .get(
            "/apiops/projects/shop/keystores/partner-store/export-file",
            Some(&viewer),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "User does not have required permission for this operation!",
    );
}

async fn import(
    s: &Server,
    token: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, Vec<u8>)>,
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    if let Some((name, bytes)) = file {
        form = form.part(
            "keystoreFile",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
    }
    let resp = s
        .client
        .post(s.url("/apiops/projects/shop/keystores/import-file"))
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
    let p12 = || Some(("partner.pfx", read_fixture("keystores/modern.p12")));
    let base = [
        ("keystoreName", "partner-store"),
        ("password", "p12pass1"),
        ("environmentList", "production,test"),
        ("keystoreDescription", "imported"),
    ];
    let (status, body) = import(&s, ADMIN, &base, p12()).await;
    assert_success(status, &body);
    assert_eq!(
        body["resultList"][0]["keyStoreEnvironmentList"],
        json!([
            {"environmentName": "production", "alias": "modern", "keyStoreType": "PKCS12"},
            {"environmentName": "test", "alias": "modern", "keyStoreType": "PKCS12"}
        ])
    );
    let cases: Vec<(Vec<(&str, &str)>, Option<(&str, Vec<u8>)>, &str)> = vec![
        (
            base.to_vec(),
            p12(),
            "Keystore (name: partner-store) is already exist! Send override=true to update it.",
        ),
        (
            vec![
                ("keystoreName", "n"),
                ("password", "p12pass1"),
                ("environmentList", "production"),
                ("keyStoreType", "BCFKS"),
            ],
            p12(),
            "Unknown keyStoreType (BCFKS)! Supported values: JKS, PKCS12",
        ),
        (
            vec![("keystoreName", "n"), ("environmentList", "production")],
            p12(),
            "password value can not be empty!",
        ),
        (
            vec![
                ("keystoreName", "n"),
                ("password", "wrong"),
                ("environmentList", "production"),
            ],
            p12(),
            "Keystore password is wrong or the file is damaged!",
        ),
        (
            vec![
                ("keystoreName", "n"),
                ("password", "p12pass1"),
                ("environmentList", "staging"),
            ],
            p12(),
            "Environment (staging) is not found or user does not have privilege to access it!",
        ),
        (
            vec![("keystoreName", "n"), ("password", "p12pass1")],
            p12(),
            "environmentList value can not be empty!",
        ),
        (
            vec![
                ("keystoreName", "n"),
                ("password", "p12pass1"),
                ("environmentList", "production"),
                ("override", "true"),
            ],
            p12(),
            "Keystore (name: n) is not found!",
        ),
        (
            vec![
                ("keystoreName", "n"),
                ("password", "p12pass1"),
                ("environmentList", "production"),
            ],
            None,
            "keystoreFile value can not be empty!",
        ),
    ];
    for (fields, file, message) in cases {
        let (status, body) = import(&s, ADMIN, &fields, file).await;
        assert_error(status, &body, 400, message);
    }
    assert_eq!(count(&s).await, 1);
    // Override one environment with a JKS (type from the file), keep the other; UPDATE cascades.
    let (status, body) = parse_from_keystore(
        &s,
        ADMIN,
        derive("j", "partner-store", "modern", "SIGNATURE", "RS256"),
    )
    .await;
    assert_success(status, &body);
    let (status, body) = import(
        &s,
        ADMIN,
        &[
            ("keystoreName", "partner-store"),
            ("password", "storepw1"),
            ("keyPassword", "keypw12"),
            ("environmentList", "test"),
            ("override", "true"),
            ("alias", "rsa"),
            ("jwkUpdateAction", "UPDATE"),
        ],
        Some(("rsa.jks", read_fixture("keystores/rsa.jks"))),
    )
    .await;
    assert_success(status, &body);
    assert_eq!(
        body["resultList"][0]["keyStoreEnvironmentList"],
        json!([
            {"environmentName": "production", "alias": "modern", "keyStoreType": "PKCS12"},
            {"environmentName": "test", "alias": "rsa", "keyStoreType": "JKS"}
        ])
    );
    assert_eq!(body["resultList"][0]["description"], "imported");
    assert!(
        jwk(&s, "j").await["sourceId"].is_string(),
        "production kept: the JWK re-derived"
    );
    // ZIP from export-file restores under a new name; environmentMapping can drop one.
    let resp = s
        .client
        .get(s.url("/apiops/projects/shop/keystores/partner-store/export-file"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let zip = resp.bytes().await.unwrap().to_vec();
    let (status, body) = import(
        &s,
        ADMIN,
        &[
            ("keystoreName", "partner-store"),
            ("password", "p12pass1"),
            ("environmentMapping", "{\"test\":\"\"}"),
            ("override", "true"),
        ],
        Some(("partner-store-keystores.zip", zip)),
    )
    .await;
    assert_success(status, &body);
    let viewer = s
        .user_with("viewer", "shop", &["SECRETS:VIEW", "SECRETS:EXPORT_IMPORT"])
        .await;
    let (status, body) = import(
        &s,
        &viewer,
        &[
            ("keystoreName", "x"),
            ("password", "p12pass1"),
            ("environmentList", "production"),
        ],
        p12(),
    )
    .await;
    assert_error(
        status,
        &body,
        400,
        "User does not have required permission for this operation!",
    );
    assert_eq!(count(&s).await, 1);
}
