//! End-to-end: certificates over HTTP against the real binary.

#![allow(clippy::type_complexity)] // table-driven cases read best inline

use std::io::Read;

use crate::common::*;
use reqwest::Method;
use serde_json::{Value, json};

const CERTS: &str = "/apiops/projects/shop/certificates/";

async fn cert_count(s: &Server) -> usize {
    let (status, body) = s.get(CERTS, Some(ADMIN)).await;
    assert_success(status, &body);
    body["resultCount"].as_u64().unwrap() as usize
}

#[tokio::test]
async fn create_list_get_with_exact_fields_and_deployment() {
    let s = Server::with_world().await;
    let body = s
        .create_certificate(
            "shop",
            "rsa",
            "rsa-alias",
            "production,test",
            read_fixture("rsa2048.pem"),
        )
        .await;
    assert_success(200, &body);
    let d = &body["deploymentResult"];
    assert_eq!(d["success"], true);
    assert_eq!(d["message"], "Deployment completed successfully");
    let envs: Vec<&str> = d["environmentResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["environmentName"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["production", "test"]);
    assert_eq!(
        d["environmentResults"][0]["message"],
        "Deployed successfully"
    );
    assert_eq!(d["environmentResults"][0]["revision"], 1);
    assert!(d["detailList"].as_array().unwrap().is_empty());

    let (status, list) = s.get(CERTS, Some(ADMIN)).await;
    assert_success(status, &list);
    assert_eq!(list["resultCount"], 1);
    let cert = &list["resultList"][0];
    assert_eq!(cert["name"], "rsa");
    let entries = cert["certificateEnvironmentList"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let der = read_fixture("rsa2048.der");
    for e in entries {
        assert_eq!(e["alias"], "rsa-alias");
        assert_eq!(e["subjectDn"], "CN=keyward rsa2048, O=keyward fixtures");
        assert_eq!(e["base64EncodedContent"], keyward_jose::b64::standard(&der));
        let sha1 = e["sha1Thumbprint"].as_str().unwrap();
        assert_eq!(sha1.len(), 40);
        assert_eq!(sha1, sha1.to_uppercase());
        let start = e["startDate"].as_str().unwrap();
        assert!(
            start.ends_with('Z') && start.len() == "2024-01-01T00:00:00.000Z".len(),
            "{start}"
        );
    }
    // Trailing slash is optional.
    let (status, one) = s
        .get("/apiops/projects/shop/certificates/rsa", Some(ADMIN))
        .await;
    assert_success(status, &one);
    assert_eq!(one["resultList"][0]["name"], "rsa");
    let (status, one) = s
        .get("/apiops/projects/shop/certificates/rsa/", Some(ADMIN))
        .await;
    assert_success(status, &one);

    let (status, body) = s
        .get("/apiops/projects/shop/certificates/nope/", Some(ADMIN))
        .await;
    assert_error(status, &body, 400, "Certificate (name: nope) is not found!");
}

#[tokio::test]
async fn der_upload_and_query_parameters_are_accepted() {
    let s = Server::with_world().await;
    let (status, body) = s
        .upload(
            Method::POST,
            "/apiops/projects/shop/certificates?certificateName=der&alias=der-a&environmentList=production",
            Some(ADMIN),
            &[],
            Some(read_fixture("rsa2048.der")),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["name"], "der");
}

#[tokio::test]
async fn validation_messages_and_nothing_written() {
    let s = Server::with_world().await;
    let pem = read_fixture("p256.pem");
    let cases: Vec<(Vec<(&str, &str)>, Option<Vec<u8>>, &str)> = vec![
        (
            vec![("alias", "a"), ("environmentList", "production")],
            Some(pem.clone()),
            "certificateName value can not be empty!",
        ),
        (
            vec![("certificateName", "c"), ("environmentList", "production")],
            Some(pem.clone()),
            "alias value can not be empty!",
        ),
        (
            vec![("certificateName", "c"), ("alias", "a")],
            Some(pem.clone()),
            "environmentList value can not be empty!",
        ),
        (
            vec![
                ("certificateName", "c"),
                ("alias", "a"),
                ("environmentList", " , "),
            ],
            Some(pem.clone()),
            "environmentList value can not be empty!",
        ),
        (
            vec![
                ("certificateName", "c"),
                ("alias", "a"),
                ("environmentList", "production"),
            ],
            None,
            "pemEncodedFile value can not be empty!",
        ),
        (
            vec![
                ("certificateName", "c"),
                ("alias", "a"),
                ("environmentList", "production"),
            ],
            Some(Vec::new()),
            "pemEncodedFile value can not be empty!",
        ),
        (
            vec![
                ("certificateName", "c"),
                ("alias", "a"),
                ("environmentList", "production,nowhere"),
            ],
            Some(pem.clone()),
            "Environment (nowhere) is not found or user does not have privilege to access it!",
        ),
        (
            vec![
                ("certificateName", "bad name"),
                ("alias", "a"),
                ("environmentList", "production"),
            ],
            Some(pem.clone()),
            "certificateName value is not valid! Use at most 200 visible characters, without spaces, control characters, invisible or bidirectional formatting characters (such as U+200B or U+202E), '/' or '\\'.",
        ),
    ];
    for (fields, file, message) in cases {
        let (status, body) = s
            .upload(Method::POST, CERTS, Some(ADMIN), &fields, file)
            .await;
        assert_error(status, &body, 400, message);
    }
    for bad in ["garbage.pem", "truncated.der", "p256.key"] {
        let (status, body) = s
            .upload(
                Method::POST,
                CERTS,
                Some(ADMIN),
                &[
                    ("certificateName", "c"),
                    ("alias", "a"),
                    ("environmentList", "production"),
                ],
                Some(read_fixture(bad)),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["status"], "FAILURE");
        assert!(!body["resultMessage"].as_str().unwrap().is_empty());
    }
    // Hostile bytes: random binary, huge line, a PEM header with no end.
    for junk in [
        vec![0x30, 0x82, 0xff, 0xff, 0x01],
        vec![b'A'; 100_000],
        b"-----BEGIN CERTIFICATE-----\nMIIB".to_vec(),
    ] {
        let (status, body) = s
            .upload(
                Method::POST,
                CERTS,
                Some(ADMIN),
                &[
                    ("certificateName", "c"),
                    ("alias", "a"),
                    ("environmentList", "production"),
                ],
                Some(junk),
            )
            .await;
        assert_eq!(status, 400, "{body}");
    }
    assert_eq!(cert_count(&s).await, 0);
    // Not multipart at all.
    let (status, body) = s
        .post_raw(CERTS, Some(ADMIN), "application/json", b"{}".to_vec())
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "bad_request");
    assert_eq!(cert_count(&s).await, 0);
}

#[tokio::test]
async fn duplicates_and_aliases() {
    let s = Server::with_world().await;
    s.create_certificate(
        "shop",
        "one",
        "alias-1",
        "production",
        read_fixture("p256.pem"),
    )
    .await;
    let fields = |name: &'static str, alias: &'static str, envs: &'static str| {
        vec![
            ("certificateName", name),
            ("alias", alias),
            ("environmentList", envs),
        ]
    };
    let (status, body) = s
        .upload(
            Method::POST,
            CERTS,
            Some(ADMIN),
            &fields("one", "alias-2", "production"),
            Some(read_fixture("p384.pem")),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Certificate (name: one) is already exist!",
    );
    let (status, body) = s
        .upload(
            Method::POST,
            CERTS,
            Some(ADMIN),
            &fields("two", "alias-1", "test,production"),
            Some(read_fixture("p384.pem")),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Alias (alias-1) is already used for another certificate, try changing this value!",
    );
    assert_eq!(cert_count(&s).await, 1);
    // The same alias in another environment is fine.
    let (status, body) = s
        .upload(
            Method::POST,
            CERTS,
            Some(ADMIN),
            &fields("two", "alias-1", "test"),
            Some(read_fixture("p384.pem")),
        )
        .await;
    assert_success(status, &body);
}

#[tokio::test]
async fn chain_is_stored_leaf_first_and_unrelated_bundles_refused() {
    let s = Server::with_world().await;
    let body = s
        .create_certificate(
            "shop",
            "chain",
            "chain",
            "production",
            read_fixture("chain-root-first.pem"),
        )
        .await;
    assert_eq!(
        body["resultList"][0]["certificateEnvironmentList"][0]["subjectDn"],
        "CN=keyward chain leaf, O=keyward fixtures"
    );
    let leaf_pem = String::from_utf8(read_fixture("chain-leaf.pem")).unwrap();
    let leaf_b64: String = leaf_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(
        body["resultList"][0]["certificateEnvironmentList"][0]["base64EncodedContent"],
        leaf_b64
    );
    // Two unrelated certificates do not form a chain.
    let mut two = read_fixture("rsa2048.pem");
    two.extend(read_fixture("p256.pem"));
    let (status, body) = s
        .upload(
            Method::POST,
            CERTS,
            Some(ADMIN),
            &[
                ("certificateName", "x"),
                ("alias", "x"),
                ("environmentList", "production"),
            ],
            Some(two),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn update_replaces_entries_and_redeploys() {
    let s = Server::with_world().await;
    s.create_certificate(
        "shop",
        "c",
        "a",
        "production,test",
        read_fixture("p256.pem"),
    )
    .await;
    let (status, body) = s
        .upload(
            Method::PUT,
            "/apiops/projects/shop/certificates/c/",
            Some(ADMIN),
            &[("alias", "b"), ("environmentList", "production")],
            Some(read_fixture("p384.pem")),
        )
        .await;
    assert_success(status, &body);
    let results = body["deploymentResult"]["environmentResults"]
        .as_array()
        .unwrap();
    let by_env = |n: &str| {
        results
            .iter()
            .find(|e| e["environmentName"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_env("production")["message"], "Deployed successfully");
    assert_eq!(by_env("production")["revision"], 2);
    assert_eq!(by_env("test")["message"], "Undeployed successfully");
    let entries = body["resultList"][0]["certificateEnvironmentList"]
        .as_array()
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["alias"], "b");
    assert_eq!(
        entries[0]["subjectDn"],
        "CN=keyward p384, O=keyward fixtures"
    );

    let (status, body) = s
        .upload(
            Method::PUT,
            "/apiops/projects/shop/certificates/missing/",
            Some(ADMIN),
            &[("alias", "b"), ("environmentList", "production")],
            Some(read_fixture("p384.pem")),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Certificate (name: missing) is not found!",
    );
    let (status, body) = s
        .upload(
            Method::PUT,
            "/apiops/projects/shop/certificates/c/?jwkUpdateAction=REPLACE",
            Some(ADMIN),
            &[("alias", "b"), ("environmentList", "production")],
            Some(read_fixture("p384.pem")),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "jwkUpdateAction (REPLACE) is not valid! Accepted values: NULLIFY, UPDATE",
    );
}

async fn jwk(s: &Server, name: &str) -> Value {
    let (status, body) = s
        .get(&format!("/apiops/projects/shop/jwks/{name}"), Some(ADMIN))
        .await;
    assert_success(status, &body);
    body["resultList"][0].clone()
}

#[tokio::test]
async fn update_cascades_to_derived_jwks() {
    let s = Server::with_world().await;
    s.create_certificate("shop", "c", "a", "production", read_fixture("p256.pem"))
        .await;
    for (name, kid) in [("j1", None), ("j2", Some("fixed-kid"))] {
        let mut req = json!({"name": name, "certificateName": "c", "environmentName": "production", "useType": "ENCRYPTION", "algorithm": "ECDH-ES"});
        if let Some(k) = kid {
            req["kid"] = json!(k);
        }
        let (status, body) = s.parse_jwk("shop", req).await;
        assert_success(status, &body);
    }
    let before = jwk(&s, "j1").await;
    // UPDATE: re-derived from the new key; a chosen kid is kept, a thumbprint kid follows the key.
    let (status, body) = s
        .upload(
            Method::PUT,
            "/apiops/projects/shop/certificates/c?jwkUpdateAction=UPDATE",
            Some(ADMIN),
            &[("alias", "a"), ("environmentList", "production")],
            Some(read_fixture("p384.pem")),
        )
        .await;
    assert_success(status, &body);
    let after = jwk(&s, "j1").await;
    assert_eq!(after["ec"]["crv"], "P-384");
    assert_ne!(after["kid"], before["kid"]);
    assert_eq!(after["sourceId"], before["sourceId"]);
    assert_eq!(jwk(&s, "j2").await["kid"], "fixed-kid");
    // A refused re-derivation changes nothing: an ES-only algorithm cannot follow an RSA key.
    let (status, body) = s
        .upload(
            Method::PUT,
            "/apiops/projects/shop/certificates/c?jwkUpdateAction=UPDATE",
            Some(ADMIN),
            &[("alias", "a"), ("environmentList", "production")],
            Some(read_fixture("rsa2048.pem")),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["resultMessage"]
            .as_str()
            .unwrap()
            .starts_with("JWK (name: j1) can not be updated"),
        "{body}"
    );
    let (_, cert) = s
        .get("/apiops/projects/shop/certificates/c", Some(ADMIN))
        .await;
    assert_eq!(
        cert["resultList"][0]["certificateEnvironmentList"][0]["subjectDn"],
        "CN=keyward p384, O=keyward fixtures"
    );
    assert_eq!(jwk(&s, "j1").await["kid"], after["kid"]);
    // NULLIFY (the default): JWKs stay, unlinked, unchanged.
    let (status, body) = s
        .upload(
            Method::PUT,
            "/apiops/projects/shop/certificates/c",
            Some(ADMIN),
            &[("alias", "a"), ("environmentList", "production")],
            Some(read_fixture("rsa2048.pem")),
        )
        .await;
    assert_success(status, &body);
    let j1 = jwk(&s, "j1").await;
    assert_eq!(j1["sourceId"], Value::Null);
    assert_eq!(j1["ec"]["crv"], "P-384");
}

#[tokio::test]
async fn delete_with_nullify_and_delete_actions() {
    let s = Server::with_world().await;
    s.create_certificate(
        "shop",
        "c1",
        "a1",
        "production",
        read_fixture("ed25519.pem"),
    )
    .await;
    s.create_certificate(
        "shop",
        "c2",
        "a2",
        "production",
        read_fixture("ed25519.pem"),
    )
    .await;
    for (name, cert) in [("k1", "c1"), ("k2", "c2")] {
        let (status, body) = s
            .parse_jwk("shop", json!({"name": name, "certificateName": cert, "environmentName": "production", "useType": "SIGNATURE", "algorithm": "EdDSA"}))
            .await;
        assert_success(status, &body);
    }
    let (status, body) = s
        .delete("/apiops/projects/shop/certificates/c1", Some(ADMIN))
        .await;
    assert_success(status, &body);
    assert_eq!(
        body["deploymentResult"]["message"],
        "Undeployment completed successfully"
    );
    assert_eq!(jwk(&s, "k1").await["sourceId"], Value::Null);
    let (status, body) = s
        .delete(
            "/apiops/projects/shop/certificates/c2?jwkDeleteAction=DELETE",
            Some(ADMIN),
        )
        .await;
    assert_success(status, &body);
    let (status, body) = s.get("/apiops/projects/shop/jwks/k2", Some(ADMIN)).await;
    assert_error(status, &body, 400, "JWK (name: k2) is not found!");
    let (status, body) = s
        .delete("/apiops/projects/shop/certificates/c2", Some(ADMIN))
        .await;
    assert_error(status, &body, 400, "Certificate (name: c2) is not found!");
    let (status, body) = s
        .delete(
            "/apiops/projects/shop/certificates/c1?jwkDeleteAction=KEEP",
            Some(ADMIN),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "jwkDeleteAction (KEEP) is not valid! Accepted values: NULLIFY, DELETE",
    );
    assert_eq!(cert_count(&s).await, 0);
}

#[tokio::test]
async fn export_zip_holds_one_der_per_environment() {
    let s = Server::with_world().await;
    s.create_certificate(
        "shop",
        "web",
        "web",
        "production,test",
        read_fixture("rsa2048.pem"),
    )
    .await;
    for path in [
        "/apiops/projects/shop/certificates/web/export/",
        "/apiops/projects/shop/certificates/web/export-file",
    ] {
        let resp = s
            .client
            .get(s.url(path))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/octet-stream");
        assert_eq!(
            resp.headers()["content-disposition"],
            "attachment; filename=\"web-certificates.zip\""
        );
        let bytes = resp.bytes().await.unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
        names.sort();
        assert_eq!(names, ["web-production.cer", "web-test.cer"]);
        let mut der = Vec::new();
        zip.by_name("web-test.cer")
            .unwrap()
            .read_to_end(&mut der)
            .unwrap();
        assert_eq!(der, read_fixture("rsa2048.der"));
    }
    let resp = s
        .client
        .get(s.url("/apiops/projects/shop/certificates/web/export-file?environmentName=test"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(resp.bytes().await.unwrap().to_vec())).unwrap();
    assert_eq!(zip.len(), 1);
    assert!(zip.by_name("web-test.cer").is_ok());
    let (status, body) = s
        .get(
            "/apiops/projects/shop/certificates/nope/export",
            Some(ADMIN),
        )
        .await;
    assert_error(status, &body, 400, "Certificate (name: nope) is not found!");
}

#[tokio::test]
async fn truststore_is_for_the_admin_project_and_spans_projects() {
    let s = Server::with_world().await;
    s.create_certificate(
        "shop",
        "ca",
        "shop-ca",
        "production",
        read_fixture("chain-root.pem"),
    )
    .await;
    s.create_certificate(
        "admin",
        "global-ca",
        "global-ca",
        "production,test",
        read_fixture("rsa2048.pem"),
    )
    .await;
    let (status, body) = s
        .get(
            "/apiops/projects/admin/certificates/truststore/production/",
            Some(ADMIN),
        )
        .await;
    assert_success(status, &body);
    let mut names: Vec<&str> = body["resultList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["ca", "global-ca"]);
    let (status, body) = s
        .get(
            "/apiops/projects/admin/certificates/truststore/test",
            Some(ADMIN),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(body["resultCount"], 1);
    assert_eq!(
        body["resultList"][0]["certificateEnvironmentList"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (status, body) = s
        .get(
            "/apiops/projects/shop/certificates/truststore/production",
            Some(ADMIN),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Truststore certificates can only be listed in the admin project (projectName: admin)!",
    );
    let (status, body) = s
        .get(
            "/apiops/projects/admin/certificates/truststore/nowhere",
            Some(ADMIN),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Environment (nowhere) is not found or user does not have privilege to access it!",
    );
}

#[tokio::test]
async fn oversized_body_gets_413_and_nothing_is_written() {
    let data = DataHome::new();
    let s = Server::start_with(data, &["--body-limit", "4096"]).await;
    s.create_environment("production").await;
    s.create_project("shop").await;
    let mut big = read_fixture("rsa4096.pem");
    big.extend(vec![b'\n'; 8192]);
    let (status, body) = s
        .upload(
            Method::POST,
            CERTS,
            Some(ADMIN),
            &[
                ("certificateName", "big"),
                ("alias", "a"),
                ("environmentList", "production"),
            ],
            Some(big),
        )
        .await;
    assert_error(
        status,
        &body,
        413,
        "Request body is larger than the limit of 4096 bytes!",
    );
    let (status, body) = s
        .post(
            "/apiops/projects/shop/jwks/parse-from-certificate",
            Some(ADMIN),
            json!({"name": "x".repeat(10_000)}),
        )
        .await;
    assert_error(
        status,
        &body,
        413,
        "Request body is larger than the limit of 4096 bytes!",
    );
    assert_eq!(cert_count(&s).await, 0);
}

/// Issue #13: a certificate whose RSA key is unsafe, invisible characters in names and repeated
/// form fields get a clean 400 and store nothing; a repeated `environmentList` is merged.
#[tokio::test]
async fn hostile_uploads_are_refused_and_lists_merge() {
    let s = Server::with_world().await;
    let pem = read_fixture("rsa2048.pem");
    let der = keyward_jose::pem::scan(&pem).unwrap().remove(0).der;
    let cert = keyward_jose::x509::parse_der(&der).unwrap();
    let keyward_jose::PublicKey::Rsa { n, .. } =
        keyward_jose::PublicKey::from_spki_der(&cert.spki_der).unwrap()
    else {
        panic!("an RSA fixture")
    };
    let at = der
        .windows(n.len())
        .position(|w| w == n.as_slice())
        .unwrap();
    let mut even = der.clone();
    even[at + n.len() - 1] &= 0xfe;
    let fields = |name: &'static str| {
        vec![
            ("certificateName", name),
            ("alias", "a"),
            ("environmentList", "production"),
        ]
    };
    let (status, body) = s
        .upload(
            Method::POST,
            CERTS,
            Some(ADMIN),
            &fields("even"),
            Some(even),
        )
        .await;
    assert_error_prefix(
        status,
        &body,
        400,
        "pemEncodedFile does not contain a valid X.509 certificate: its public key is not valid: the RSA modulus (n) is even",
    );
    for name in ["a\u{200D}b", "cert\u{202E}gpj", "x\u{061C}y", "\u{2060}"] {
        let (status, body) = s
            .upload(
                Method::POST,
                CERTS,
                Some(ADMIN),
                &fields(name),
                Some(pem.clone()),
            )
            .await;
        assert_error_prefix(
            status,
            &body,
            400,
            "certificateName value is not valid! Use at most 200 visible characters",
        );
    }
    let mut twice = fields("twice");
    twice.push(("alias", "b"));
    let (status, body) = s
        .upload(Method::POST, CERTS, Some(ADMIN), &twice, Some(pem.clone()))
        .await;
    assert_error(status, &body, 400, "Field alias must be given once!");
    // The file part given twice.
    let form = reqwest::multipart::Form::new()
        .text("certificateName", "two-files")
        .text("alias", "a")
        .text("environmentList", "production")
        .part(
            "pemEncodedFile",
            reqwest::multipart::Part::bytes(pem.clone()),
        )
        .part(
            "pemEncodedFile",
            reqwest::multipart::Part::bytes(pem.clone()),
        );
    let resp = s
        .client
        .post(s.url(CERTS))
        .bearer_auth(ADMIN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_error(
        status,
        &body,
        400,
        "Field pemEncodedFile must be given once!",
    );
    // In the form and in the query: a repeat too.
    let (status, body) = s
        .upload(
            Method::POST,
            &format!("{CERTS}?alias=b"),
            Some(ADMIN),
            &fields("form-and-query"),
            Some(pem.clone()),
        )
        .await;
    assert_error(status, &body, 400, "Field alias must be given once!");
    assert_eq!(cert_count(&s).await, 0, "nothing stored");

    // environmentList is a list: given twice, both values count.
    let mut merged = fields("merged");
    merged.push(("environmentList", "test"));
    let (status, body) = s
        .upload(Method::POST, CERTS, Some(ADMIN), &merged, Some(pem.clone()))
        .await;
    assert_success(status, &body);
    let envs: Vec<&str> = body["deploymentResult"]["environmentResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["environmentName"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["production", "test"]);
    assert_eq!(cert_count(&s).await, 1);
}
