//! Cross-check against an independent JOSE implementation (Python `jwcrypto`): for every fixture
//! in `fixtures/manifest.json`, the JWK keyward serves over HTTP must equal what jwcrypto derives
//! from the same certificate, and a JWS signed (or JWE encrypted) with the fixture's private key
//! must verify (or decrypt) with keyward's JWK. See `tests/crosscheck/crosscheck.py`.

mod common;

use common::*;
use serde_json::{Value, json};

/// The Python interpreter that has jwcrypto: `KEYWARD_CROSSCHECK_PYTHON`, else `python3` when it
/// can import jwcrypto. Under CI (`CI` set) a missing peer is a failure, not a skip.
fn peer_python() -> Option<String> {
    if let Ok(p) = std::env::var("KEYWARD_CROSSCHECK_PYTHON") {
        return Some(p);
    }
    let ok = std::process::Command::new("python3")
        .args(["-c", "import jwcrypto"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some("python3".into());
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must provide jwcrypto (set KEYWARD_CROSSCHECK_PYTHON)"
    );
    None
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
            cases.push(json!({
                "name": jwk_name,
                "certificate": fixture(cert),
                "privateKey": fixture(f["privateKey"].as_str().unwrap()),
                "kidGiven": kid.is_some(),
                "jwk": got["resultList"][0]["jwk"],
            }));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cases.json");
    std::fs::write(
        &input,
        serde_json::to_vec_pretty(&json!({"cases": cases})).unwrap(),
    )
    .unwrap();
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/crosscheck/crosscheck.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(&input)
        .output()
        .expect("run crosscheck.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "jwcrypto disagrees with keyward:\n{stdout}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(
        stdout.contains(&format!("{} passed", cases.len())) || stdout.contains(" passed"),
        "{stdout}"
    );
}
