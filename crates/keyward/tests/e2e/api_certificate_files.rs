//! End-to-end: certificate files (reference §2.1.8–§2.1.10) — import a certificate file or
//! export ZIP, export an environment's truststore, import a CA bundle — against the real binary.

#![allow(clippy::type_complexity)]

use std::io::{Read, Write};

use crate::common::*;
use serde_json::{Value, json};

const IMPORT: &str = "/apiops/projects/shop/certificates/import-file/";
const CERTS: &str = "/apiops/projects/shop/certificates/";

fn ts_import(env: &str) -> String {
    format!("/apiops/projects/shop/certificates/truststore/{env}/import-file/")
}

/// A ZIP of `(name, bytes)` entries, deflated.
fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut out = Vec::new();
            f.read_to_end(&mut out).unwrap();
            (f.name().unwrap().to_string(), out)
        })
        .collect()
}

async fn send_form(
    s: &Server,
    path: &str,
    token: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &str, Vec<u8>)>,
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    if let Some((field, name, bytes)) = file {
        form = form.part(
            field.to_owned(),
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
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn import_cert(
    s: &Server,
    token: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, Vec<u8>)>,
) -> (u16, Value) {
    send_form(
        s,
        IMPORT,
        token,
        fields,
        file.map(|(n, b)| ("certificateFile", n, b)),
    )
    .await
}

async fn import_bundle(
    s: &Server,
    env: &str,
    token: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, Vec<u8>)>,
) -> (u16, Value) {
    send_form(
        s,
        &ts_import(env),
        token,
        fields,
        file.map(|(n, b)| ("truststoreFile", n, b)),
    )
    .await
}

/// Everything a test may change: every certificate of `shop` and `admin`, and the environments'
/// revisions.
async fn state(s: &Server) -> Value {
    let (_, shop) = s.get(CERTS, Some(ADMIN)).await;
    let (_, admin) = s
        .get("/apiops/projects/admin/certificates/", Some(ADMIN))
        .await;
    let (_, envs) = s.get("/apiops/environments/", Some(ADMIN)).await;
    json!([shop["resultList"], admin["resultList"], envs["resultList"]])
}

fn entry<'a>(cert: &'a Value, env: &str) -> &'a Value {
    cert["certificateEnvironmentList"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["environmentName"] == env)
        .unwrap_or_else(|| panic!("no entry for {env} in {cert}"))
}

async fn get_cert(s: &Server, project: &str, name: &str) -> Value {
    let (status, body) = s
        .get(
            &format!("/apiops/projects/{project}/certificates/{name}/"),
            Some(ADMIN),
        )
        .await;
    assert_success(status, &body);
    body["resultList"][0].clone()
}

async fn get_bytes(
    s: &Server,
    path: &str,
    token: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let resp = s
        .client
        .get(s.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

fn error_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[tokio::test]
async fn import_file_single_then_zip_merges_and_reports() {
    let s = Server::with_world().await;
    s.create_environment("staging").await;
    // A single file (PEM chain in any order) into two environments.
    let (status, body) = import_cert(
        &s,
        ADMIN,
        &[
            ("certificateName", "partner-ca"),
            ("alias", "partner"),
            ("environmentList", "production, test"),
            ("certificateDescription", "partner chain"),
        ],
        Some(("chain.pem", read_fixture("chain-shuffled.pem"))),
    )
    .await;
    assert_success(status, &body);
    assert!(body.get("unresolvedReferences").is_none(), "{body}");
    let envs: Vec<&str> = body["deploymentResult"]["environmentResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["environmentName"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["production", "test"]);
    let cert = &body["resultList"][0];
    assert_eq!(cert["name"], "partner-ca");
    assert_eq!(cert["description"], "partner chain");
    assert!(
        entry(cert, "test")["subjectDn"]
            .as_str()
            .unwrap()
            .contains("keyward chain leaf")
    );

    // A ZIP: production replaced (DER), test deliberately skipped, a stray file reported,
    // the description kept; only production is deployed.
    let zip = zip_of(&[
        ("partner-ca-production.cer", read_fixture("rsa2048.der")),
        ("partner-ca-test.cer", read_fixture("p256.pem")),
        ("notes.txt", b"hello".to_vec()),
    ]);
    let (status, body) = import_cert(
        &s,
        ADMIN,
        &[
            ("certificateName", "partner-ca"),
            ("alias", "partner"),
            ("environmentMapping", r#"{"test":""}"#),
        ],
        Some(("partner-ca-certificates.zip", zip)),
    )
    .await;
    assert_success(status, &body);
    assert_eq!(
        body["unresolvedReferences"],
        json!([
            "Environment (test) was deliberately left out by the caller's mapping.",
            "Entry (notes.txt) does not match partner-ca-<environmentName>.cer and was not imported."
        ])
    );
    let deployed = body["deploymentResult"]["environmentResults"]
        .as_array()
        .unwrap();
    assert_eq!(deployed.len(), 1);
    assert_eq!(deployed[0]["environmentName"], "production");
    let cert = get_cert(&s, "shop", "partner-ca").await;
    assert_eq!(cert["description"], "partner chain");
    assert_eq!(
        entry(&cert, "production")["subjectDn"],
        "CN=keyward rsa2048, O=keyward fixtures"
    );
    assert!(
        entry(&cert, "test")["subjectDn"]
            .as_str()
            .unwrap()
            .contains("keyward chain leaf")
    );

    // The export ZIP imports back; a mapping moves production to staging under another name.
    let (status, _, exported) = get_bytes(
        &s,
        "/apiops/projects/shop/certificates/partner-ca/export/",
        ADMIN,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = import_cert(
        &s,
        ADMIN,
        &[
            ("certificateName", "partner-ca"),
            ("alias", "partner"),
            (
                "environmentMapping",
                r#"{"production":"staging","test":""}"#,
            ),
        ],
        Some(("partner-ca-certificates.zip", exported)),
    )
    .await;
    assert_success(status, &body);
    let cert = get_cert(&s, "shop", "partner-ca").await;
    assert_eq!(
        cert["certificateEnvironmentList"].as_array().unwrap().len(),
        3
    );
    assert_eq!(
        entry(&cert, "staging")["base64EncodedContent"],
        entry(&cert, "production")["base64EncodedContent"]
    );
    // Fields may come as query parameters too.
    let (status, body) = send_form(
        &s,
        &format!("{IMPORT}?certificateName=from-query&alias=fq&environmentList=test"),
        ADMIN,
        &[],
        Some(("certificateFile", "c.pem", read_fixture("p256.pem"))),
    )
    .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"][0]["name"], "from-query");
}

#[tokio::test]
async fn import_file_messages_change_nothing() {
    let s = Server::with_world().await;
    s.create_certificate(
        "shop",
        "other",
        "taken",
        "production",
        read_fixture("p256.pem"),
    )
    .await;
    s.create_certificate(
        "shop",
        "partner-ca",
        "partner",
        "test",
        read_fixture("p384.pem"),
    )
    .await;
    let before = state(&s).await;
    let pem = || Some(("c.pem", read_fixture("rsa2048.pem")));
    let base = |extra: &[(&'static str, &'static str)]| {
        let mut f = vec![
            ("certificateName", "partner-ca"),
            ("alias", "partner"),
            ("environmentList", "production"),
        ];
        for (k, v) in extra {
            f.retain(|(fk, _)| fk != k);
            f.push((k, v));
        }
        f
    };
    let cases: Vec<(Vec<(&str, &str)>, Option<(&str, Vec<u8>)>, &str)> = vec![
        (
            base(&[("alias", "taken")]),
            pem(),
            "Alias (taken) is already used for another certificate, try changing this value!",
        ),
        (
            base(&[("environmentList", "production,Staging")]),
            pem(),
            "Environment (Staging) is not found or user does not have privilege to access it!",
        ),
        (
            base(&[]),
            Some((
                "p.zip",
                zip_of(&[("partner-ca-Staging.cer", read_fixture("rsa2048.der"))]),
            )),
            "Environment (Staging) is not found or user does not have privilege to access it!",
        ),
        (
            base(&[]),
            Some(("p.zip", zip_of(&[("notes.txt", b"x".to_vec())]))),
            "This archive holds no importable material for certificate (partner-ca)! Entries must be named <certificateName>-<environmentName>.cer, as the export writes them.",
        ),
        (
            base(&[("environmentMapping", r#"{"production":""}"#)]),
            Some((
                "p.zip",
                zip_of(&[("partner-ca-production.cer", read_fixture("rsa2048.der"))]),
            )),
            "This archive holds no importable material for certificate (partner-ca)! Entries must be named <certificateName>-<environmentName>.cer, as the export writes them.",
        ),
        (
            base(&[("environmentList", " , ")]),
            pem(),
            "environmentList value can not be empty!",
        ),
        (
            base(&[("certificateName", "")]),
            pem(),
            "certificateName value can not be empty!",
        ),
        (
            base(&[("alias", " ")]),
            pem(),
            "alias value can not be empty!",
        ),
        (base(&[]), None, "certificateFile value can not be empty!"),
        (
            base(&[]),
            Some(("c.pem", b"  \n".to_vec())),
            "certificateFile value can not be empty!",
        ),
        (
            base(&[("jwkUpdateAction", "FOO")]),
            pem(),
            "jwkUpdateAction (FOO) is not valid! Accepted values: NULLIFY, UPDATE",
        ),
        (
            base(&[("updateScope", "EVERYWHERE")]),
            pem(),
            "updateScope (EVERYWHERE) is not valid! Accepted values: SAME_PROJECT, ALL_PROJECTS",
        ),
        (
            base(&[]),
            Some((
                "p.zip",
                zip_of(&[
                    ("partner-ca-production.cer", read_fixture("rsa2048.der")),
                    ("partner-ca-test.cer", read_fixture("p256.pem")),
                    ("x/partner-ca-test.cer", read_fixture("p256.pem")),
                ]),
            )),
            "Environment (test) appears more than once in certificateFile!",
        ),
    ];
    for (fields, file, message) in cases {
        let (status, body) = import_cert(&s, ADMIN, &fields, file).await;
        assert_error(status, &body, 400, message);
    }
    let prefixed: Vec<(Vec<(&str, &str)>, Option<(&str, Vec<u8>)>, &str)> = vec![
        (base(&[]), Some(("g.pem", read_fixture("garbage.pem"))), ""),
        (
            base(&[]),
            Some((
                "p.zip",
                zip_of(&[
                    ("partner-ca-test.cer", read_fixture("p256.pem")),
                    ("partner-ca-production.cer", read_fixture("garbage.pem")),
                ]),
            )),
            "Entry (partner-ca-production.cer) holds no readable certificate: ",
        ),
        (
            base(&[("environmentMapping", "[1,2]")]),
            Some((
                "p.zip",
                zip_of(&[("partner-ca-production.cer", read_fixture("rsa2048.der"))]),
            )),
            "environmentMapping must be a JSON object",
        ),
        (
            base(&[]),
            Some(("p.zip", b"PK\x03\x04 not really a zip".to_vec())),
            "certificateFile is not a readable ZIP file: ",
        ),
    ];
    for (fields, file, prefix) in prefixed {
        let (status, body) = import_cert(&s, ADMIN, &fields, file).await;
        assert_error_prefix(status, &body, 400, prefix);
    }
    assert_eq!(state(&s).await, before);
}

/// The hostile archives each endpoint must refuse, with the message's start.
fn hostile_zips(file_field: &str) -> Vec<(&'static str, Vec<u8>, String)> {
    let der = read_fixture("rsa2048.der");
    let many: Vec<(String, Vec<u8>)> = (0..65)
        .map(|i| (format!("partner-ca-e{i}.cer"), der.clone()))
        .collect();
    let many_refs: Vec<(&str, Vec<u8>)> =
        many.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let zeros = vec![0u8; 4 << 20];
    let bomb = zip_of(&[
        ("partner-ca-a.cer", zeros.clone()),
        ("partner-ca-b.cer", zeros.clone()),
        ("partner-ca-c.cer", zeros.clone()),
        ("partner-ca-d.cer", zeros.clone()),
        ("partner-ca-production.cer", zeros.clone()),
    ]);
    let mut big = zeros.clone();
    big.push(0);
    vec![
        (
            "too many entries",
            zip_of(&many_refs),
            format!("{file_field} holds more than 64 entries!"),
        ),
        (
            "zip bomb beyond the total cap",
            bomb,
            format!("{file_field} unpacks to more than 16777216 bytes!"),
        ),
        (
            "one entry beyond the entry cap",
            zip_of(&[("partner-ca-production.cer", big)]),
            format!("An entry of {file_field} is larger than 4194304 bytes!"),
        ),
        (
            "climbing name",
            zip_of(&[("../partner-ca-production.cer", der.clone())]),
            format!(
                "{file_field} holds an entry with an unsafe name (../partner-ca-production.cer)! Entry names must be relative paths without '..'."
            ),
        ),
        (
            "climbing name inside a folder",
            zip_of(&[("certs/../../partner-ca-production.cer", der.clone())]),
            format!(
                "{file_field} holds an entry with an unsafe name (certs/../../partner-ca-production.cer)! Entry names must be relative paths without '..'."
            ),
        ),
        (
            "absolute name",
            zip_of(&[("/etc/partner-ca-production.cer", der.clone())]),
            format!(
                "{file_field} holds an entry with an unsafe name (/etc/partner-ca-production.cer)! Entry names must be relative paths without '..'."
            ),
        ),
    ]
}

#[tokio::test]
async fn hostile_archives_are_refused_by_both_imports() {
    let s = Server::with_world().await;
    let before = state(&s).await;
    for (case, zip, message) in hostile_zips("certificateFile") {
        assert!(zip.len() < 1 << 20, "{case}: the archive itself is small");
        let (status, body) = import_cert(
            &s,
            ADMIN,
            &[("certificateName", "partner-ca"), ("alias", "partner")],
            Some(("p.zip", zip)),
        )
        .await;
        assert_eq!(status, 400, "{case}: {body}");
        assert_error(status, &body, 400, &message);
    }
    for (case, zip, message) in hostile_zips("truststoreFile") {
        let (status, body) =
            import_bundle(&s, "production", ADMIN, &[], Some(("b.zip", zip))).await;
        assert_eq!(status, 400, "{case}: {body}");
        assert_error(status, &body, 400, &message);
    }
    assert_eq!(state(&s).await, before);
}

#[tokio::test]
async fn truststore_export_file_zips_pem_per_alias() {
    let s = Server::with_world().await;
    s.create_certificate(
        "shop",
        "root",
        "partner-root",
        "production,test",
        read_fixture("chain-root.pem"),
    )
    .await;
    s.create_certificate(
        "shop",
        "leaf",
        "partner-leaf",
        "production",
        read_fixture("chain-root-first.pem"),
    )
    .await;
    s.create_certificate(
        "admin",
        "global",
        "global-ca",
        "production",
        read_fixture("p256.pem"),
    )
    .await;
    let (status, headers, bytes) = get_bytes(
        &s,
        "/apiops/projects/shop/certificates/truststore/production/export-file/",
        ADMIN,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"production-truststore.zip\""
    );
    let mut files = unzip(&bytes);
    files.sort();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["partner-leaf.cer", "partner-root.cer"]);
    let root = String::from_utf8(files[1].1.clone()).unwrap();
    assert!(root.starts_with("-----BEGIN CERTIFICATE-----"), "{root}");
    assert_eq!(
        keyward_jose::x509::parse_certificates(root.as_bytes()).unwrap()[0].der,
        keyward_jose::x509::parse_certificates(&read_fixture("chain-root.pem")).unwrap()[0].der
    );
    let leaf = keyward_jose::x509::parse_certificates(&files[0].1).unwrap();
    assert_eq!(leaf.len(), 1, "the leaf only");
    assert!(leaf[0].subject_dn.contains("keyward chain leaf"));

    // The admin project exports the environment's whole truststore.
    let (status, _, bytes) = get_bytes(
        &s,
        "/apiops/projects/admin/certificates/truststore/production/export-file",
        ADMIN,
    )
    .await;
    assert_eq!(status, 200);
    let mut names: Vec<String> = unzip(&bytes).into_iter().map(|(n, _)| n).collect();
    names.sort();
    assert_eq!(
        names,
        ["global-ca.cer", "partner-leaf.cer", "partner-root.cer"]
    );

    // The exported bundle imports back into another environment.
    s.create_environment("staging").await;
    let (status, body) = import_bundle(&s, "staging", ADMIN, &[], Some(("b.zip", bytes))).await;
    assert_success(status, &body);
    assert_eq!(body["resultCount"], 3);

    // Messages.
    let (status, _, bytes) = get_bytes(
        &s,
        "/apiops/projects/admin/certificates/truststore/nowhere/export-file/",
        ADMIN,
    )
    .await;
    assert_error(
        status,
        &error_of(&bytes),
        400,
        "Environment (nowhere) is not found or user does not have privilege to access it!",
    );
    s.create_environment("empty").await;
    let (status, _, bytes) = get_bytes(
        &s,
        "/apiops/projects/shop/certificates/truststore/empty/export-file/",
        ADMIN,
    )
    .await;
    assert_error(
        status,
        &error_of(&bytes),
        400,
        "Environment (empty) reported no truststore certificate! The workers may be unreachable, or nothing is deployed to them.",
    );
}

#[tokio::test]
async fn truststore_import_registers_a_bundle_in_one_environment() {
    let s = Server::with_world().await;
    s.create_project("other").await;
    // An existing certificate of the bundle's names: updated in `test` only.
    s.create_certificate(
        "shop",
        "partner-root-ca",
        "partner-root-ca",
        "production,test",
        read_fixture("rsa2048.pem"),
    )
    .await;
    // Another project holds an alias in `test`: that file is reported, the rest imported.
    s.create_certificate("other", "held", "held", "test", read_fixture("p384.pem"))
        .await;
    let bundle = zip_of(&[
        ("partner-root-ca.pem", read_fixture("chain-root.pem")),
        (
            "cas/partner-intermediate-ca.crt",
            read_fixture("chain-intermediate.pem"),
        ),
        ("notes", Vec::new()),
        ("held.pem", read_fixture("p256.pem")),
    ]);
    let (status, body) = import_bundle(
        &s,
        "test",
        ADMIN,
        &[("namePrefix", "partner-")],
        Some(("bundle.zip", bundle.clone())),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // With the prefix: partner-partner-root-ca, partner-partner-intermediate-ca, partner-held.
    assert_eq!(body["resultCount"], 3, "{body}");
    assert_eq!(
        body["unresolvedReferences"].as_array().unwrap().len(),
        1,
        "{body}"
    );

    let (status, body) = import_bundle(&s, "test", ADMIN, &[], Some(("bundle.zip", bundle))).await;
    assert_success(status, &body);
    assert_eq!(
        body["resultList"],
        json!(["partner-root-ca", "partner-intermediate-ca"])
    );
    assert_eq!(body["resultCount"], 2);
    // Like every write, the import deploys: the environment records both certificates.
    let results = body["deploymentResult"]["environmentResults"]
        .as_array()
        .unwrap();
    assert_eq!(results.len(), 1, "{body}");
    assert_eq!(results[0]["environmentName"], "test");
    assert_eq!(results[0]["message"], "Deployed successfully");
    let unresolved = body["unresolvedReferences"].as_array().unwrap();
    assert_eq!(unresolved.len(), 2, "{body}");
    assert!(
        unresolved[0]
            .as_str()
            .unwrap()
            .starts_with("Certificate (notes) could not be imported: "),
        "{body}"
    );
    assert_eq!(
        unresolved[1],
        "Certificate (held) could not be imported: Alias (held) is already used for another certificate, try changing this value!"
    );
    let root = get_cert(&s, "shop", "partner-root-ca").await;
    assert!(
        entry(&root, "test")["subjectDn"]
            .as_str()
            .unwrap()
            .contains("keyward chain root")
    );
    assert_eq!(
        entry(&root, "production")["subjectDn"],
        "CN=keyward rsa2048, O=keyward fixtures"
    );
    let inter = get_cert(&s, "shop", "partner-intermediate-ca").await;
    assert_eq!(entry(&inter, "test")["alias"], "partner-intermediate-ca");
    assert_eq!(
        inter["certificateEnvironmentList"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let prefixed = get_cert(&s, "shop", "partner-partner-root-ca").await;
    assert_eq!(entry(&prefixed, "test")["alias"], "partner-partner-root-ca");

    // A single file: its name without extension names it.
    let (status, body) = import_bundle(
        &s,
        "production",
        ADMIN,
        &[("namePrefix", "x-")],
        Some(("my-ca.pem", read_fixture("p256.pem"))),
    )
    .await;
    assert_success(status, &body);
    assert_eq!(body["resultList"], json!(["x-my-ca"]));
    assert!(body.get("unresolvedReferences").is_none());

    // Messages; nothing written.
    let before = state(&s).await;
    let (status, body) = import_bundle(
        &s,
        "Staging",
        ADMIN,
        &[],
        Some(("c.pem", read_fixture("p256.pem"))),
    )
    .await;
    assert_error(
        status,
        &body,
        400,
        "Environment (Staging) is not found or user does not have privilege to access it!",
    );
    let (status, body) = import_bundle(&s, "test", ADMIN, &[], Some(("b.zip", zip_of(&[])))).await;
    assert_error(
        status,
        &body,
        400,
        "The uploaded bundle holds no certificate file!",
    );
    let (status, body) = import_bundle(&s, "test", ADMIN, &[("namePrefix", "")], None).await;
    assert_error(status, &body, 400, "truststoreFile value can not be empty!");
    let (status, body) = import_bundle(
        &s,
        "test",
        ADMIN,
        &[],
        Some((
            "b.zip",
            zip_of(&[
                ("notes.txt", Vec::new()),
                ("bad.pem", read_fixture("garbage.pem")),
            ]),
        )),
    )
    .await;
    assert_error_prefix(
        status,
        &body,
        400,
        "No certificate in this bundle could be imported! Certificate (notes) could not be imported: ",
    );
    assert!(
        body["resultMessage"]
            .as_str()
            .unwrap()
            .contains("Certificate (bad) could not be imported: "),
        "{body}"
    );
    assert_eq!(state(&s).await, before);
}

#[tokio::test]
async fn permissions_are_checked_before_anything_changes() {
    let s = Server::with_world().await;
    s.create_certificate(
        "shop",
        "partner-ca",
        "partner",
        "production",
        read_fixture("p256.pem"),
    )
    .await;
    let exporter = s
        .user_with("exporter", "shop", &["SECRETS:EXPORT_IMPORT"])
        .await;
    let manager = s
        .user_with(
            "manager",
            "shop",
            &["SECRETS:MANAGE", "SECRETS:DEPLOY_UNDEPLOY"],
        )
        .await;
    let viewer = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;
    let stranger = s.user_with("stranger", "admin", &["SECRETS:VIEW"]).await;
    let all = s
        .user_with(
            "all",
            "shop",
            &[
                "SECRETS:EXPORT_IMPORT",
                "SECRETS:MANAGE",
                "SECRETS:DEPLOY_UNDEPLOY",
            ],
        )
        .await;
    let before = state(&s).await;
    let fields = [
        ("certificateName", "partner-ca"),
        ("alias", "partner"),
        ("environmentList", "test"),
    ];
    let denied = "User does not have required permission for this operation!";
    let not_found = "Project (shop) is not found or user does not have privilege to access it!";
    // Both imports deploy: EXPORT_IMPORT alone is not enough, nor MANAGE+DEPLOY alone.
    for (token, message) in [
        (&exporter, denied),
        (&manager, denied),
        (&viewer, denied),
        (&stranger, not_found),
    ] {
        let (status, body) = import_cert(
            &s,
            token,
            &fields,
            Some(("c.pem", read_fixture("rsa2048.pem"))),
        )
        .await;
        assert_error(status, &body, 400, message);
        let (status, _, bytes) = get_bytes(
            &s,
            "/apiops/projects/shop/certificates/truststore/production/export-file/",
            token,
        )
        .await;
        if token == &exporter {
            assert_eq!(status, 200);
        } else {
            assert_error(status, &error_of(&bytes), 400, message);
        }
        // The truststore import deploys as well: the same three permissions.
        let (status, body) = import_bundle(
            &s,
            "test",
            token,
            &[],
            Some(("ca.pem", read_fixture("chain-root.pem"))),
        )
        .await;
        assert_error(status, &body, 400, message);
    }
    let (status, body) = import_cert(&s, ADMIN, &fields, None).await;
    assert_error(
        status,
        &body,
        400,
        "certificateFile value can not be empty!",
    );
    assert_eq!(state(&s).await, before);
    // Allowed: both imports with all three permissions.
    let (status, body) = import_bundle(
        &s,
        "test",
        &all,
        &[],
        Some(("ca.pem", read_fixture("chain-root.pem"))),
    )
    .await;
    assert_success(status, &body);
    let (status, body) = import_cert(
        &s,
        &all,
        &fields,
        Some(("c.pem", read_fixture("rsa2048.pem"))),
    )
    .await;
    assert_success(status, &body);
    let cert = get_cert(&s, "shop", "partner-ca").await;
    assert_eq!(
        cert["certificateEnvironmentList"].as_array().unwrap().len(),
        2
    );
}

#[tokio::test]
async fn openapi_lists_the_certificate_file_routes() {
    let s = Server::start().await;
    let (status, api) = s.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    let paths = api["paths"].as_object().unwrap();
    for p in [
        "/apiops/projects/{projectName}/certificates/import-file",
        "/apiops/projects/{projectName}/certificates/truststore/{environmentName}/export-file",
        "/apiops/projects/{projectName}/certificates/truststore/{environmentName}/import-file",
    ] {
        assert!(paths.contains_key(p), "openapi.json lacks {p}");
    }
    let schemas = api["components"]["schemas"].as_object().unwrap();
    assert!(schemas.contains_key("CertificateFileImport"));
    assert!(schemas.contains_key("TruststoreFileImport"));
}

async fn jwk(s: &Server, name: &str) -> Value {
    let (status, body) = s
        .get(&format!("/apiops/projects/shop/jwks/{name}"), Some(ADMIN))
        .await;
    assert_success(status, &body);
    body["resultList"][0].clone()
}

#[tokio::test]
async fn import_file_cascades_to_derived_jwks_from_the_merged_entries() {
    let s = Server::with_world().await;
    s.create_certificate(
        "shop",
        "c",
        "a",
        "production,test",
        read_fixture("p256.pem"),
    )
    .await;
    for (name, env) in [("from-prod", "production"), ("from-test", "test")] {
        let (status, body) = s
            .parse_jwk(
                "shop",
                json!({"name": name, "certificateName": "c", "environmentName": env, "useType": "ENCRYPTION", "algorithm": "ECDH-ES"}),
            )
            .await;
        assert_success(status, &body);
    }
    // UPDATE: only `test` is imported; the JWK of `production` is re-derived from the kept entry.
    let (status, body) = import_cert(
        &s,
        ADMIN,
        &[
            ("certificateName", "c"),
            ("alias", "a"),
            ("environmentList", "test"),
            ("jwkUpdateAction", "UPDATE"),
        ],
        Some(("c.pem", read_fixture("p384.pem"))),
    )
    .await;
    assert_success(status, &body);
    let prod = jwk(&s, "from-prod").await;
    let test = jwk(&s, "from-test").await;
    assert_eq!(prod["ec"]["crv"], "P-256");
    assert_eq!(test["ec"]["crv"], "P-384");
    assert_ne!(prod["sourceId"], Value::Null);
    assert_ne!(test["sourceId"], Value::Null);
    // A refused re-derivation writes nothing: ECDH-ES cannot follow an RSA key.
    let before = state(&s).await;
    let (status, body) = import_cert(
        &s,
        ADMIN,
        &[
            ("certificateName", "c"),
            ("alias", "a"),
            ("environmentList", "test"),
            ("jwkUpdateAction", "UPDATE"),
        ],
        Some(("c.pem", read_fixture("rsa2048.pem"))),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(state(&s).await, before);
    assert_eq!(jwk(&s, "from-test").await["ec"]["crv"], "P-384");
    // Default NULLIFY: the derived JWKs are unlinked, their material kept.
    let (status, body) = import_cert(
        &s,
        ADMIN,
        &[
            ("certificateName", "c"),
            ("alias", "a"),
            ("environmentList", "test"),
        ],
        Some(("c.pem", read_fixture("p256.pem"))),
    )
    .await;
    assert_success(status, &body);
    let test = jwk(&s, "from-test").await;
    assert_eq!(test["sourceId"], Value::Null);
    assert_eq!(test["ec"]["crv"], "P-384");
}

/// Key and keystore file imports read their ZIPs through the same capped reader.
#[tokio::test]
async fn key_and_keystore_imports_share_the_zip_caps() {
    let s = Server::with_world().await;
    let before = state(&s).await;
    for (path, field, fields) in [
        (
            "/apiops/projects/shop/keys/import-file/",
            "keyFile",
            vec![("keyName", "k"), ("keyType", "PUBLIC_KEY")],
        ),
        (
            "/apiops/projects/shop/keystores/import-file/",
            "keystoreFile",
            vec![("keystoreName", "k"), ("password", "pw")],
        ),
    ] {
        let zip = zip_of(&[("../k-production.pem", read_fixture("rsa2048.pem"))]);
        let (status, body) = send_form(&s, path, ADMIN, &fields, Some((field, "k.zip", zip))).await;
        assert_error(
            status,
            &body,
            400,
            &format!(
                "{field} holds an entry with an unsafe name (../k-production.pem)! Entry names must be relative paths without '..'."
            ),
        );
        let zeros = vec![0u8; 4 << 20];
        let bomb = zip_of(&[
            ("k-a.pem", zeros.clone()),
            ("k-b.pem", zeros.clone()),
            ("k-c.pem", zeros.clone()),
            ("k-d.pem", zeros.clone()),
            ("k-production.pem", zeros),
        ]);
        let (status, body) =
            send_form(&s, path, ADMIN, &fields, Some((field, "k.zip", bomb))).await;
        assert_error(
            status,
            &body,
            400,
            &format!("{field} unpacks to more than 16777216 bytes!"),
        );
    }
    assert_eq!(state(&s).await, before);
}
