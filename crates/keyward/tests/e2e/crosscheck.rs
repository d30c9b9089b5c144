//! Cross-check against an independent JOSE implementation (Python `jwcrypto`): for every fixture
//! in `fixtures/manifest.json`, the JWK keyward serves over HTTP must equal what jwcrypto derives
//! from the same certificate, and a JWS signed (or JWE encrypted) with the fixture's private key
//! must verify (or decrypt) with keyward's JWK. See `tests/crosscheck/crosscheck.py`.

use crate::common::*;
use serde_json::{Value, json};

/// Runs crosscheck.py on `cases`; fails on any FAIL line or a non-zero exit.
fn run_crosscheck(python: &str, cases: &[Value]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cases.json");
    std::fs::write(
        &input,
        serde_json::to_vec_pretty(&json!({"cases": cases})).unwrap(),
    )
    .unwrap();
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/crosscheck/crosscheck.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&input)
        .output()
        .expect("run crosscheck.py");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "jwcrypto disagrees with keyward:\n{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    stdout
}

/// Every type, size and curve `generate` offers: the key keyward generates and serves (GET,
/// private members included) imports into jwcrypto, its public members are what its private
/// members imply, its kid is the RFC 7638 thumbprint, and it signs (or decrypts) in jwcrypto
/// against a JWK made of the public members alone (oct: the same key).
#[tokio::test]
async fn generated_keys_agree_with_jwcrypto() {
    let Some(python) = peer_python() else {
        eprintln!("SKIPPED: no Python with jwcrypto; set KEYWARD_CROSSCHECK_PYTHON");
        return;
    };
    let s = Server::with_world().await;
    // (name, type, sub-object, kty, alg, bits)
    type Case = (
        &'static str,
        &'static str,
        Value,
        &'static str,
        &'static str,
        Option<u32>,
    );
    let table: &[Case] = &[
        (
            "rsa2048",
            "RSA",
            json!({"keySize": 2048}),
            "RSA",
            "RS256",
            Some(2048),
        ),
        (
            "rsa2048-oaep",
            "RSA",
            json!({"keySize": 2048, "keyUseType": "ENCRYPTION"}),
            "RSA",
            "RSA-OAEP-256",
            Some(2048),
        ),
        (
            "p256",
            "EC",
            json!({"curveType": "P256"}),
            "EC",
            "ES256",
            None,
        ),
        (
            "p256-ecdh",
            "EC",
            json!({"curveType": "P256", "keyUseType": "ENCRYPTION", "algorithm": "ECDH-ES+A128KW"}),
            "EC",
            "ECDH-ES+A128KW",
            None,
        ),
        (
            "p384",
            "EC",
            json!({"curveType": "P384"}),
            "EC",
            "ES384",
            None,
        ),
        (
            "p521",
            "EC",
            json!({"curveType": "P521"}),
            "EC",
            "ES512",
            None,
        ),
        (
            "secp256k1",
            "EC",
            json!({"curveType": "SECP256K1"}),
            "EC",
            "ES256K",
            None,
        ),
        (
            "oct128",
            "OCT",
            json!({"keySize": 128, "keyUseType": "ENCRYPTION"}),
            "oct",
            "A128KW",
            Some(128),
        ),
        (
            "oct256",
            "OCT",
            json!({"keySize": 256, "keyUseType": "ENCRYPTION"}),
            "oct",
            "A256KW",
            Some(256),
        ),
        (
            "oct256-hs",
            "OCT",
            json!({"keySize": 256}),
            "oct",
            "HS256",
            Some(256),
        ),
        (
            "ed25519",
            "OKP",
            json!({"curveType": "ED25519"}),
            "OKP",
            "EdDSA",
            None,
        ),
        (
            "x25519",
            "OKP",
            json!({"curveType": "X25519", "algorithm": "ECDH-ES+A128KW"}),
            "OKP",
            "ECDH-ES+A128KW",
            None,
        ),
    ];
    let mut cases = Vec::new();
    for (name, key_type, params, kty, alg, bits) in table {
        let mut params = params.clone();
        params["keyIdType"] = json!("THUMBPRINT");
        let field = key_type.to_ascii_lowercase();
        let (status, body) = s
            .post(
                "/apiops/projects/shop/jwks/generate",
                Some(ADMIN),
                json!({"name": name, "type": key_type, field: params}),
            )
            .await;
        assert_success(status, &body);
        let (status, got) = s
            .get(&format!("/apiops/projects/shop/jwks/{name}"), Some(ADMIN))
            .await;
        assert_success(status, &got);
        let jwk = got["resultList"][0]["jwk"].clone();
        assert!(
            jwk.get("d").or(jwk.get("k")).is_some(),
            "{name}: GET gives no private members: {jwk}"
        );
        cases.push(
            json!({"kind": "generated", "name": name, "kty": kty, "alg": alg,
            "bits": bits, "jwk": jwk}),
        );
    }
    let stdout = run_crosscheck(&python, &cases);
    assert!(
        stdout.contains(&format!("{} passed, 0 failed\n", cases.len())),
        "every generated key must be checked, none skipped:\n{stdout}"
    );
}

#[tokio::test]
async fn keyward_jwks_agree_with_jwcrypto() {
    let Some(python) = peer_python() else {
        eprintln!("SKIPPED: no Python with jwcrypto; set KEYWARD_CROSSCHECK_PYTHON");
        return;
    };
    let manifest: Value = serde_json::from_slice(&read_fixture("manifest.json")).unwrap();
    let s = Server::with_world().await;
    let mut cases = Vec::new();
    for (i, f) in manifest["fixtures"].as_array().unwrap().iter().enumerate() {
        let name = f["name"].as_str().unwrap();
        let cert = f["certificate"].as_str().unwrap();
        s.create_certificate(
            "shop",
            name,
            &format!("alias-{i}"),
            "production",
            read_fixture(cert),
        )
        .await;
        for kid in [None, Some("given-kid")] {
            let jwk_name = if kid.is_some() {
                format!("{name}-kid")
            } else {
                name.to_owned()
            };
            let mut req = json!({"name": jwk_name, "certificateName": name, "environmentName": "production",
                "useType": f["use"], "algorithm": f["algorithm"]});
            if let Some(k) = kid {
                req["kid"] = json!(k);
            }
            let (status, body) = s.parse_jwk("shop", req).await;
            assert_success(status, &body);
            let (status, got) = s
                .get(
                    &format!("/apiops/projects/shop/jwks/{jwk_name}"),
                    Some(ADMIN),
                )
                .await;
            assert_success(status, &got);
            // Gone again before the next case: the next one may take the same chosen kid (kids
            // are unique within an environment).
            let (status, body) = s
                .delete(
                    &format!("/apiops/projects/shop/jwks/{jwk_name}"),
                    Some(ADMIN),
                )
                .await;
            assert_success(status, &body);
            cases.push(json!({
                "name": jwk_name,
                "certificate": fixture(cert),
                "privateKey": fixture(f["privateKey"].as_str().unwrap()),
                "kidGiven": kid.is_some(),
                "jwk": got["resultList"][0]["jwk"],
            }));
        }
    }
    let stdout = run_crosscheck(&python, &cases);
    assert!(
        stdout.contains(&format!("{} passed", cases.len())) || stdout.contains(" passed"),
        "{stdout}"
    );
}

/// Every PRIVATE_KEY fixture format keyward reads (PEM, DER, base64 DER, encrypted, legacy,
/// combined with a certificate): the JWK of `parse-from-key` (a PRIVATE_KEY source, so private
/// members included) equals jwcrypto's JWK of the same file (pyca reads the DER forms), member
/// for member, and its kid is jwcrypto's thumbprint. None may be skipped.
#[tokio::test]
async fn private_keys_of_every_format_agree_with_jwcrypto() {
    let Some(python) = peer_python() else {
        eprintln!("SKIPPED: no Python with jwcrypto; set KEYWARD_CROSSCHECK_PYTHON");
        return;
    };
    let s = Server::with_world().await;
    let manifest: Value = serde_json::from_slice(&read_fixture("keys/manifest.json")).unwrap();
    let mut cases = Vec::new();
    for (i, f) in manifest["files"].as_array().unwrap().iter().enumerate() {
        if !f["private"].as_bool().unwrap() {
            continue;
        }
        let file = f["file"].as_str().unwrap();
        let (kty, crv) = (f["kty"].as_str().unwrap(), f["crv"].as_str());
        let (use_type, alg) = match (kty, crv) {
            ("RSA", _) if file.starts_with("rsapss") => ("SIGNATURE", "PS256"),
            ("RSA", _) => ("SIGNATURE", "RS256"),
            (_, Some("P-256")) => ("SIGNATURE", "ES256"),
            (_, Some("P-384")) => ("SIGNATURE", "ES384"),
            (_, Some("P-521")) => ("SIGNATURE", "ES512"),
            (_, Some("secp256k1")) => ("SIGNATURE", "ES256K"),
            (_, Some("Ed25519" | "Ed448")) => ("SIGNATURE", "EdDSA"),
            _ => ("ENCRYPTION", "ECDH-ES"),
        };
        // The API's content is base64 of the file; a file that is already base64 goes as it is.
        let bytes = read_fixture(&format!("keys/{file}"));
        let content = if file.ends_with(".b64") {
            String::from_utf8(bytes).unwrap()
        } else {
            keyward_jose::b64::standard(&bytes)
        };
        let mut entry =
            json!({"environmentName": "production", "content": content, "alias": format!("a{i}")});
        if let Some(pw) = f["password"].as_str() {
            entry["password"] = json!(pw);
        }
        let (status, body) = s
            .post(
                "/apiops/projects/shop/keys/",
                Some(ADMIN),
                json!({"name": format!("k{i}"), "keyType": "PRIVATE_KEY",
                    "cryptoKeyInfoEnvironmentList": [entry]}),
            )
            .await;
        assert_success(status, &body);
        let (status, body) = s
            .post(
                "/apiops/projects/shop/jwks/parse-from-key",
                Some(ADMIN),
                json!({"name": format!("j{i}"), "keyName": format!("k{i}"),
                    "environmentName": "production", "useType": use_type, "algorithm": alg}),
            )
            .await;
        assert_success(status, &body);
        let (status, got) = s
            .get(&format!("/apiops/projects/shop/jwks/j{i}"), Some(ADMIN))
            .await;
        assert_success(status, &got);
        // Gone again before the next case: the same key (or the same chosen kid) may then take
        // the plain kid, as kids are unique within an environment.
        let (status, body) = s
            .delete(&format!("/apiops/projects/shop/jwks/j{i}"), Some(ADMIN))
            .await;
        assert_success(status, &body);
        cases.push(
            json!({"kind": "key", "name": file, "privateKey": fixture(&format!("keys/{file}")),
            "password": f["password"], "kty": kty, "jwk": got["resultList"][0]["jwk"]}),
        );
    }
    assert!(cases.len() >= 35, "{} private key fixtures", cases.len());
    let stdout = run_crosscheck(&python, &cases);
    assert!(
        stdout.contains(&format!("{} passed, 0 failed\n", cases.len())),
        "every key format must be compared, none skipped:\n{stdout}"
    );
}

/// Every PKCS#12 keystore fixture with a private key (OpenSSL 3 default, `-legacy` RC2/3DES,
/// 3DES, no MAC, no encryption, keytool-made, with a chain): the JWK of `parse-from-keystore`
/// (private members included) equals jwcrypto's JWK of the key pyca reads from the same file
/// with its own PKCS#12 code, and its kid is the RFC 7638 thumbprint. JKS/JCEKS have no
/// independent reader in Python; their keys are the same fixtures' (`api_keystores.rs` checks
/// their PKCS#8 digests against the fixture manifest, made with keytool and openssl).
#[tokio::test]
async fn pkcs12_keystore_keys_agree_with_jwcrypto() {
    let Some(python) = peer_python() else {
        eprintln!("SKIPPED: no Python with jwcrypto; set KEYWARD_CROSSCHECK_PYTHON");
        return;
    };
    let s = Server::with_world().await;
    let manifest: Value = serde_json::from_slice(&read_fixture("keystores/manifest.json")).unwrap();
    let mut cases = Vec::new();
    for f in manifest["files"].as_array().unwrap() {
        let file = f["file"].as_str().unwrap();
        // bigiter.p12 is refused by design (its MAC iteration count is over the cap).
        if f["type"] != "PKCS12" || file == "bigiter.p12" {
            continue;
        }
        let password = f["storePassword"].as_str().unwrap();
        let alias = f["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["holds"] == "privateKey")
            .unwrap();
        let (use_type, alg) = match alias["keyAlgorithm"].as_str() {
            Some("RSA") => ("SIGNATURE", "RS256"),
            _ => ("ENCRYPTION", "ECDH-ES"),
        };
        let name = file.replace('.', "-");
        let (status, body) = s
            .post(
                "/apiops/projects/shop/keystores/",
                Some(ADMIN),
                json!({"name": name, "keyStoreEnvironmentList": [{"environmentName": "production",
                    "file": keyward_jose::b64::standard(&read_fixture(&format!("keystores/{file}"))),
                    "password": password, "keyStoreType": "PKCS12"}]}),
            )
            .await;
        assert_success(status, &body);
        let (status, body) = s
            .post(
                "/apiops/projects/shop/jwks/parse-from-keystore",
                Some(ADMIN),
                json!({"name": format!("j-{name}"), "keyStoreName": name, "environmentName": "production",
                    "aliasName": alias["alias"], "useType": use_type, "algorithm": alg}),
            )
            .await;
        assert_success(status, &body);
        let (status, got) = s
            .get(&format!("/apiops/projects/shop/jwks/j-{name}"), Some(ADMIN))
            .await;
        assert_success(status, &got);
        // Gone again before the next case: the same key (or the same chosen kid) may then take
        // the plain kid, as kids are unique within an environment.
        let (status, body) = s
            .delete(&format!("/apiops/projects/shop/jwks/j-{name}"), Some(ADMIN))
            .await;
        assert_success(status, &body);
        let jwk = &got["resultList"][0]["jwk"];
        assert!(jwk["d"].is_string(), "{file}: no private member in {jwk}");
        cases.push(json!({"kind": "key", "name": file,
            "privateKey": fixture(&format!("keystores/{file}")), "pkcs12Password": password,
            "kty": jwk["kty"], "jwk": jwk}));
    }
    assert_eq!(cases.len(), 7, "PKCS#12 fixtures with a private key");
    let stdout = run_crosscheck(&python, &cases);
    assert!(
        stdout.contains(&format!("{} passed, 0 failed\n", cases.len())),
        "every PKCS#12 keystore must be compared, none skipped:\n{stdout}"
    );
}
