//! End-to-end: export packages of keys and keystores (reference §2.2.6–§2.2.7, §2.3.6–§2.3.7),
//! plain and passphrase-sealed, and their import as new objects or over existing ones.

use std::io::{Read, Write};

use crate::common::*;
use serde_json::{Value, json};

const PASSPHRASE: &str = "correct horse battery staple";

fn b64(bytes: &[u8]) -> String {
    keyward_jose::b64::standard(bytes)
}

fn key_body(name: &str, fixture: &str, envs: &[&str]) -> Value {
    json!({
        "name": name,
        "description": "package test",
        "keyType": "PRIVATE_KEY",
        "cryptoKeyInfoEnvironmentList": envs.iter().map(|e| json!({
            "environmentName": e,
            "content": b64(&read_fixture(&format!("keys/{fixture}"))),
            "alias": format!("{name}-{e}"),
        })).collect::<Vec<_>>(),
    })
}

async fn ok_post(s: &Server, path: &str, body: Value) -> Value {
    let (status, resp) = s.post(path, Some(ADMIN), body).await;
    assert_success(status, &resp);
    resp
}

/// GET bytes: status, content-disposition, body.
async fn download(
    s: &Server,
    path: &str,
    token: &str,
    passphrase: Option<&str>,
) -> (u16, String, Vec<u8>) {
    let mut req = s.client.get(s.url(path)).bearer_auth(token);
    if let Some(p) = passphrase {
        req = req.header("X-Apinizer-Package-Passphrase", b64(p.as_bytes()));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let cd = resp
        .headers()
        .get("content-disposition")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, cd, resp.bytes().await.unwrap().to_vec())
}

async fn import(
    s: &Server,
    path: &str,
    token: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, Vec<u8>)>,
    file_field: &str,
    passphrase: Option<&str>,
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
    let mut req = s
        .client
        .post(s.url(path))
        .bearer_auth(token)
        .multipart(form);
    if let Some(p) = passphrase {
        req = req.header("X-Apinizer-Package-Passphrase", b64(p.as_bytes()));
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut out = Vec::new();
            f.read_to_end(&mut out).unwrap();
            (f.name().unwrap().into_owned(), out)
        })
        .collect()
}

fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

async fn key_file(s: &Server, project: &str, name: &str, env: &str) -> (u16, Vec<u8>) {
    let (status, _, bytes) = download(
        s,
        &format!("/apiops/projects/{project}/keys/{name}/export-file?environmentName={env}"),
        ADMIN,
        None,
    )
    .await;
    (status, bytes)
}

async fn names(s: &Server, path: &str) -> Vec<String> {
    let (status, body) = s.get(path, Some(ADMIN)).await;
    assert_success(status, &body);
    body["resultList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect()
}

const KEY_IMPORT: &str = "/apiops/projects/shop/keys/import/";

#[tokio::test]
async fn key_packages_round_trip_plain_and_sealed() {
    let s = Server::with_world().await;
    s.create_project("other").await;
    ok_post(
        &s,
        "/apiops/projects/shop/keys/",
        key_body("signing-key", "rsa2048.p8.pem", &["production", "test"]),
    )
    .await;
    let original = key_file(&s, "shop", "signing-key", "production").await.1;

    // Plain export: one entry, package.json, with the decrypted key of every environment.
    let (status, cd, plain) = download(
        &s,
        "/apiops/projects/shop/keys/signing-key/export/",
        ADMIN,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(cd, "attachment; filename=\"signing-key.zip\"");
    let entries = unzip(&plain);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, "package.json");
    let doc: Value = serde_json::from_slice(&entries[0].1).unwrap();
    assert_eq!(doc["format"], "keyward-package");
    assert_eq!(doc["type"], "CRYPTO_KEY_INFO");
    assert_eq!(doc["object"]["name"], "signing-key");
    assert_eq!(doc["object"]["keyType"], "PRIVATE_KEY");
    let envs = doc["object"]["environments"].as_array().unwrap();
    assert_eq!(envs.len(), 2);
    assert_eq!(envs[0]["alias"], "signing-key-production");

    // Sealed export: a passphrase is required, and nothing readable is left.
    let (status, body) = s
        .get(
            "/apiops/projects/shop/keys/signing-key/export?encrypt=true",
            Some(ADMIN),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Package encryption requested but no passphrase was supplied.",
    );
    let (status, _, sealed) = download(
        &s,
        "/apiops/projects/shop/keys/signing-key/export?encrypt=true",
        ADMIN,
        Some(PASSPHRASE),
    )
    .await;
    assert_eq!(status, 200);
    assert!(sealed.starts_with(b"KWPKGENC"));
    for needle in [
        &b"package.json"[..],
        b"PRIVATE KEY",
        b"signing-key",
        b"PK\x03\x04",
    ] {
        assert!(
            !sealed.windows(needle.len()).any(|w| w == needle),
            "sealed package shows {}",
            String::from_utf8_lossy(needle)
        );
    }
    let (status, body) = s
        .get(
            "/apiops/projects/shop/keys/signing-key/export?encrypt=maybe",
            Some(ADMIN),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "encrypt (maybe) is not valid! Accepted values: true, false",
    );
    let (status, body) = s
        .get("/apiops/projects/shop/keys/nope/export", Some(ADMIN))
        .await;
    assert_error(status, &body, 400, "Key (name: nope) is not found!");

    // Import into another project: the same key, environments and aliases.
    let (status, body) = import(
        &s,
        "/apiops/projects/other/keys/import",
        ADMIN,
        &[],
        Some(("signing-key.zip", plain.clone())),
        "keyExportFile",
        None,
    )
    .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["name"], "signing-key");
    assert_eq!(
        body["resultList"][0]["cryptoKeyInfoEnvironmentList"][1]["alias"],
        "signing-key-test"
    );
    assert_eq!(body["deploymentResult"]["success"], true, "{body}");
    assert_eq!(
        key_file(&s, "other", "signing-key", "production").await,
        (200, original.clone())
    );

    // Without override a taken name gets the -imported suffix, then -imported-2.
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        ADMIN,
        &[],
        Some(("SIGNING-KEY.ZIP", plain.clone())),
        "keyExportFile",
        None,
    )
    .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["name"], "signing-key-imported");

    // Sealed import: passphrase required, wrong one refused, right one accepted.
    let sealed_file = || Some(("signing-key.zip", sealed.clone()));
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        ADMIN,
        &[],
        sealed_file(),
        "keyExportFile",
        None,
    )
    .await;
    assert_error(
        status,
        &body,
        400,
        "Package is encrypted; a passphrase is required.",
    );
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        ADMIN,
        &[],
        sealed_file(),
        "keyExportFile",
        Some("not the passphrase"),
    )
    .await;
    assert_error(
        status,
        &body,
        400,
        "Package could not be decrypted with the given passphrase.",
    );
    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        ADMIN,
        &[],
        Some(("signing-key.zip", tampered)),
        "keyExportFile",
        Some(PASSPHRASE),
    )
    .await;
    assert_error(
        status,
        &body,
        400,
        "Package could not be decrypted with the given passphrase.",
    );
    // A crafted Argon2 memory cost (4 GiB) is refused before any derivation.
    let mut crafted = sealed.clone();
    crafted[9..13].copy_from_slice(&(4u32 << 20).to_be_bytes());
    let started = std::time::Instant::now();
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        ADMIN,
        &[],
        Some(("signing-key.zip", crafted)),
        "keyExportFile",
        Some(PASSPHRASE),
    )
    .await;
    assert_error(status, &body, 400, "Encrypted package could not be read.");
    assert!(started.elapsed().as_secs() < 2);
    assert_eq!(
        names(&s, "/apiops/projects/shop/keys/").await,
        ["signing-key", "signing-key-imported"]
    );
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        ADMIN,
        &[],
        sealed_file(),
        "keyExportFile",
        Some(PASSPHRASE),
    )
    .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["name"], "signing-key-imported-2");
    assert_eq!(
        key_file(&s, "shop", "signing-key-imported-2", "test").await,
        (200, original.clone())
    );

    // Malformed uploads.
    for (fields, file, message) in [
        (
            vec![("override", "false")],
            None,
            "keyExportFile value can not be empty!",
        ),
        (
            vec![],
            Some(("signing-key.json", plain.clone())),
            "keyExportFile parameter must be in zip file format and must end with zip extension!",
        ),
        (
            vec![],
            Some(("signing-key.zip", b"not a zip".to_vec())),
            "keyExportFile parameter must be in zip file format and must end with zip extension!",
        ),
        (
            vec![],
            Some(("x.zip", zip_of(&[("other.json", b"{}".to_vec())]))),
            "keyExportFile is not an export package of type CRYPTO_KEY_INFO! Send the ZIP made by the matching export endpoint.",
        ),
        (
            vec![("environmentMapping", "[1]")],
            Some(("x.zip", plain.clone())),
            "environmentMapping must be a JSON object of \"package environment name\":\"target environment name\" pairs (an empty value means \"do not transfer this environment\"). Received: [1]",
        ),
        (
            vec![("override", "yes")],
            Some(("x.zip", plain.clone())),
            "override (yes) is not valid! Accepted values: true, false",
        ),
        (
            vec![("override", "true"), ("certEnvironmentMergeMethod", "ALL")],
            Some(("x.zip", plain.clone())),
            "certEnvironmentMergeMethod (ALL) is not valid! Accepted values: MATCH_BY_NAME, OVERWRITE_ALL",
        ),
    ] {
        let (status, body) =
            import(&s, KEY_IMPORT, ADMIN, &fields, file, "keyExportFile", None).await;
        assert_error(status, &body, 400, message);
    }
    // A package whose key is not a key.
    let mut broken = doc.clone();
    broken["object"]["environments"][0]["content"] = json!(b64(
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    ));
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        ADMIN,
        &[],
        Some((
            "x.zip",
            zip_of(&[("package.json", serde_json::to_vec(&broken).unwrap())]),
        )),
        "keyExportFile",
        None,
    )
    .await;
    assert_error_prefix(
        status,
        &body,
        400,
        "The package's material for environment (production) is invalid: ",
    );
    assert_eq!(
        names(&s, "/apiops/projects/shop/keys/").await,
        [
            "signing-key",
            "signing-key-imported",
            "signing-key-imported-2"
        ]
    );
    assert!(
        !s.log_text().contains(&b64(PASSPHRASE.as_bytes())),
        "passphrase in the log"
    );
}

#[tokio::test]
async fn key_import_places_environments_and_cascades() {
    let s = Server::with_world().await;
    s.create_environment("uat").await;
    s.create_project("other").await;
    ok_post(
        &s,
        "/apiops/projects/shop/keys/",
        key_body("signing-key", "rsa2048.p8.pem", &["production", "test"]),
    )
    .await;
    ok_post(
        &s,
        "/apiops/projects/shop/jwks/parse-from-key",
        json!({"name": "jwk-test", "keyName": "signing-key", "environmentName": "test", "sourceType": "PRIVATE_KEY", "useType": "SIGNATURE", "algorithm": "RS256"}),
    )
    .await;
    let before_jwk = s
        .get("/apiops/projects/shop/jwks/jwk-test", Some(ADMIN))
        .await
        .1["resultList"][0]["jwk"]
        .clone();
    // The package: the same name, a P-256 key, for uat and test only.
    ok_post(
        &s,
        "/apiops/projects/other/keys/",
        key_body("signing-key", "p256.p8.pem", &["test", "uat"]),
    )
    .await;
    let p256 = key_file(&s, "other", "signing-key", "test").await.1;
    let original = key_file(&s, "shop", "signing-key", "production").await.1;
    let (_, _, package) = download(
        &s,
        "/apiops/projects/other/keys/signing-key/export",
        ADMIN,
        None,
    )
    .await;
    let file = || Some(("signing-key.zip", package.clone()));

    // override=true, MATCH_BY_NAME: production is not covered → refused, nothing changed.
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        ADMIN,
        &[("override", "true")],
        file(),
        "keyExportFile",
        None,
    )
    .await;
    assert_error(
        status,
        &body,
        400,
        "Replace Existing of CRYPTO_KEY_INFO 'signing-key' cannot proceed: the package carries no data for the target environment(s) production, so they would keep their old material while the rest is replaced. Send the certEnvironmentUncoveredAction parameter with either FILL_FROM_PACKAGE (write the package's data onto them) or REMOVE_FROM_TARGET (drop them from the object) and import again.",
    );
    assert_eq!(
        key_file(&s, "shop", "signing-key", "production").await.1,
        original
    );

    // REMOVE_FROM_TARGET with jwkUpdateAction=UPDATE: the derived RS256 JWK cannot follow a P-256
    // key, so the whole import is refused in its one transaction.
    let remove = [
        ("override", "true"),
        ("certEnvironmentUncoveredAction", "REMOVE_FROM_TARGET"),
    ];
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        ADMIN,
        &[remove[0], remove[1], ("jwkUpdateAction", "UPDATE")],
        file(),
        "keyExportFile",
        None,
    )
    .await;
    assert_error(
        status,
        &body,
        400,
        "JWK (name: jwk-test) can not be updated from the new key: algorithm (RS256) is not valid for an EC key on curve P-256 with useType SIGNATURE! Accepted values: ES256",
    );
    assert_eq!(
        key_file(&s, "shop", "signing-key", "production").await.1,
        original
    );
    // With the default NULLIFY: test and uat from the package, production dropped, the JWK kept.
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        ADMIN,
        &remove,
        file(),
        "keyExportFile",
        None,
    )
    .await;
    assert_success(status, &body);
    let envs: Vec<&str> = body["resultList"][0]["cryptoKeyInfoEnvironmentList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["environmentName"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["test", "uat"]);
    assert_eq!(key_file(&s, "shop", "signing-key", "test").await.1, p256);
    assert_eq!(
        key_file(&s, "shop", "signing-key", "production").await.0,
        400
    );
    let after_jwk = s
        .get("/apiops/projects/shop/jwks/jwk-test", Some(ADMIN))
        .await
        .1["resultList"][0]["jwk"]
        .clone();
    assert_eq!(after_jwk, before_jwk);

    // FILL_FROM_PACKAGE: put production back first, then fill it with the package's first entry.
    ok_post(
        &s,
        "/apiops/projects/shop/keys/",
        key_body("filled", "rsa2048.p8.pem", &["production"]),
    )
    .await;
    let mut doc: Value = serde_json::from_slice(&unzip(&package)[0].1).unwrap();
    doc["object"]["name"] = json!("filled");
    let filled = zip_of(&[("package.json", serde_json::to_vec(&doc).unwrap())]);
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        ADMIN,
        &[
            ("override", "true"),
            ("certEnvironmentUncoveredAction", "FILL_FROM_PACKAGE"),
        ],
        Some(("filled.zip", filled.clone())),
        "keyExportFile",
        None,
    )
    .await;
    assert_success(status, &body);
    for env in ["production", "test", "uat"] {
        assert_eq!(
            key_file(&s, "shop", "filled", env).await,
            (200, p256.clone()),
            "{env}"
        );
    }
    // OVERWRITE_ALL: the package's first entry onto every environment the target has.
    ok_post(
        &s,
        "/apiops/projects/shop/keys/",
        key_body("all", "rsa2048.p8.pem", &["production", "test"]),
    )
    .await;
    doc["object"]["name"] = json!("all");
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        ADMIN,
        &[
            ("override", "true"),
            ("certEnvironmentMergeMethod", "OVERWRITE_ALL"),
        ],
        Some((
            "all.zip",
            zip_of(&[("package.json", serde_json::to_vec(&doc).unwrap())]),
        )),
        "keyExportFile",
        None,
    )
    .await;
    assert_success(status, &body);
    assert_eq!(
        body["resultList"][0]["cryptoKeyInfoEnvironmentList"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    for env in ["production", "test"] {
        assert_eq!(
            key_file(&s, "shop", "all", env).await,
            (200, p256.clone()),
            "{env}"
        );
    }

    // Without override: environmentMapping renames and skips; unknown environments are reported.
    doc["object"]["name"] = json!("mapped");
    doc["object"]["environments"][1]["environmentName"] = json!("staging");
    let mapped = zip_of(&[("package.json", serde_json::to_vec(&doc).unwrap())]);
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        ADMIN,
        &[("environmentMapping", r#"{"test":"production"}"#)],
        Some(("mapped.zip", mapped.clone())),
        "keyExportFile",
        None,
    )
    .await;
    assert_success(status, &body);
    assert_eq!(
        body["resultList"][0]["cryptoKeyInfoEnvironmentList"],
        json!([{"environmentName": "production", "alias": "signing-key-test", "source": null}])
    );
    assert_eq!(
        body["unresolvedReferences"],
        json!([
            "Environment (staging) of the package does not exist on this server; its material was not imported."
        ])
    );
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        ADMIN,
        &[("environmentMapping", r#"{"test":"","staging":"uat"}"#)],
        Some(("mapped.zip", mapped)),
        "keyExportFile",
        None,
    )
    .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["name"], "mapped-imported");
    assert_eq!(
        body["resultList"][0]["cryptoKeyInfoEnvironmentList"][0]["environmentName"],
        "uat"
    );
}

#[tokio::test]
async fn keystore_packages_keep_files_and_extracted_material() {
    let s = Server::with_world().await;
    s.create_project("other").await;
    let file = read_fixture("keystores/modern.p12");
    ok_post(
        &s,
        "/apiops/projects/shop/keystores/",
        json!({"name": "store", "description": "d", "keyStoreEnvironmentList": [
            {"environmentName": "production", "file": b64(&file), "password": "p12pass1", "keyStoreType": "PKCS12"}]}),
    )
    .await;
    let derive = |project: &str| json!({"name": format!("jwk-{project}"), "keyStoreName": "store", "environmentName": "production", "aliasName": "modern", "useType": "SIGNATURE", "algorithm": "RS256"});
    ok_post(
        &s,
        "/apiops/projects/shop/jwks/parse-from-keystore",
        derive("shop"),
    )
    .await;
    for sealed in [false, true] {
        let path = if sealed {
            "/apiops/projects/shop/keystores/store/export?encrypt=true"
        } else {
            "/apiops/projects/shop/keystores/store/export"
        };
        let (status, cd, package) = download(&s, path, ADMIN, sealed.then_some(PASSPHRASE)).await;
        assert_eq!(status, 200);
        assert_eq!(cd, "attachment; filename=\"store.zip\"");
        assert_eq!(sealed, package.starts_with(b"KWPKGENC"));
        let (status, body) = import(
            &s,
            "/apiops/projects/other/keystores/import",
            ADMIN,
            &[("override", "true")],
            Some(("store.zip", package.clone())),
            "keystoreExportFile",
            sealed.then_some(PASSPHRASE),
        )
        .await;
        assert_success(status, &body);
        assert_eq!(
            body["resultList"][0]["keyStoreEnvironmentList"],
            json!([{"environmentName": "production", "alias": "modern", "keyStoreType": "PKCS12"}])
        );
        if !sealed {
            // The key import endpoint does not take a keystore package.
            let (status, body) = import(
                &s,
                "/apiops/projects/other/keys/import",
                ADMIN,
                &[],
                Some(("store.zip", package.clone())),
                "keyExportFile",
                None,
            )
            .await;
            assert_error(
                status,
                &body,
                400,
                "keyExportFile is not an export package of type CRYPTO_KEY_INFO! Send the ZIP made by the matching export endpoint.",
            );
            // Extracted material is checked: a broken private key writes nothing.
            let mut doc: Value = serde_json::from_slice(&unzip(&package)[0].1).unwrap();
            doc["object"]["name"] = json!("broken");
            doc["object"]["environments"][0]["extracted"]["entries"][0]["pkcs8"] = json!("AAAA");
            let (status, body) = import(
                &s,
                "/apiops/projects/other/keystores/import",
                ADMIN,
                &[],
                Some((
                    "b.zip",
                    zip_of(&[("package.json", serde_json::to_vec(&doc).unwrap())]),
                )),
                "keystoreExportFile",
                None,
            )
            .await;
            assert_error_prefix(
                status,
                &body,
                400,
                "The package's material for environment (production) is invalid: the private key of alias (modern)",
            );
            doc["object"]["environments"][0]["extracted"]["entries"][0]["alias"] = json!("renamed");
            let (status, body) = import(
                &s,
                "/apiops/projects/other/keystores/import",
                ADMIN,
                &[],
                Some((
                    "b.zip",
                    zip_of(&[("package.json", serde_json::to_vec(&doc).unwrap())]),
                )),
                "keystoreExportFile",
                None,
            )
            .await;
            assert_eq!(status, 400, "{body}");
        }
    }
    assert_eq!(
        names(&s, "/apiops/projects/other/keystores/").await,
        ["store"]
    );
    // The imported keystore gives the same JWK and the same file.
    ok_post(
        &s,
        "/apiops/projects/other/jwks/parse-from-keystore",
        derive("other"),
    )
    .await;
    let jwk_of = |project: &'static str| {
        let s = &s;
        async move {
            let (status, body) = s
                .get(
                    &format!("/apiops/projects/{project}/jwks/jwk-{project}"),
                    Some(ADMIN),
                )
                .await;
            assert_success(status, &body);
            body["resultList"][0]["jwk"].clone()
        }
    };
    let (imported, original) = (jwk_of("other").await, jwk_of("shop").await);
    assert!(original["d"].is_string(), "{original}");
    assert_eq!(imported, original);
    let (status, _, bytes) = download(
        &s,
        "/apiops/projects/other/keystores/store/export-file?environmentName=production",
        ADMIN,
        None,
    )
    .await;
    assert_eq!((status, bytes), (200, file));
}

#[tokio::test]
async fn package_permissions() {
    let s = Server::with_world().await;
    ok_post(
        &s,
        "/apiops/projects/shop/keys/",
        key_body("k", "p256.p8.pem", &["test"]),
    )
    .await;
    let (_, _, package) = download(&s, "/apiops/projects/shop/keys/k/export", ADMIN, None).await;
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
    let both = s
        .user_with(
            "both",
            "shop",
            &[
                "SECRETS:MANAGE",
                "SECRETS:DEPLOY_UNDEPLOY",
                "SECRETS:EXPORT_IMPORT",
            ],
        )
        .await;
    const DENIED: &str = "User does not have required permission for this operation!";
    let (status, body) = s
        .get("/apiops/projects/shop/keys/k/export", Some(&manager))
        .await;
    assert_error(status, &body, 400, DENIED);
    assert_eq!(
        download(&s, "/apiops/projects/shop/keys/k/export", &exporter, None)
            .await
            .0,
        200
    );
    for token in [&manager, &exporter] {
        let (status, body) = import(
            &s,
            KEY_IMPORT,
            token,
            &[],
            Some(("k.zip", package.clone())),
            "keyExportFile",
            None,
        )
        .await;
        assert_error(status, &body, 400, DENIED);
    }
    assert_eq!(names(&s, "/apiops/projects/shop/keys/").await, ["k"]);
    let (status, body) = import(
        &s,
        KEY_IMPORT,
        &both,
        &[],
        Some(("k.zip", package)),
        "keyExportFile",
        None,
    )
    .await;
    assert_success(status, &body);
    assert_eq!(
        names(&s, "/apiops/projects/shop/keys/").await,
        ["k", "k-imported"]
    );
}
