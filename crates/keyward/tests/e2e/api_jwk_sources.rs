//! End-to-end: JWKs from the clipboard, from a URL (SSRF policy), generated, and JWK Set files.

#![allow(clippy::type_complexity)] // table-driven cases read best inline

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const P: &str = "/apiops/projects/shop/jwks";

/// RFC 7517 Appendix A.1, the EC public key.
fn rfc_ec() -> Value {
    json!({"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
        "y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","use":"enc","kid":"1"})
}

async fn get_jwk(s: &Server, name: &str) -> Value {
    let (status, body) = s.get(&format!("{P}/{name}/"), Some(ADMIN)).await;
    assert_success(status, &body);
    body["resultList"][0].clone()
}

async fn jwk_count(s: &Server) -> usize {
    let (status, body) = s.get(&format!("{P}/"), Some(ADMIN)).await;
    assert_success(status, &body);
    body["resultList"].as_array().unwrap().len()
}

async fn generate(s: &Server, body: Value) -> (u16, Value) {
    s.post(&format!("{P}/generate"), Some(ADMIN), body).await
}

/// A generated key's complete JWK (private members included).
async fn generated_jwk(s: &Server, name: &str, body: Value) -> Value {
    let mut body = body;
    body["name"] = json!(name);
    let (status, resp) = generate(s, body).await;
    assert_success(status, &resp);
    get_jwk(s, name).await["jwk"].clone()
}

/// The JWK validates completely (private members agree with the public ones).
fn assert_valid(jwk: &Value) {
    let text = serde_json::to_vec(jwk).unwrap();
    keyward_jose::parse_jwk_or_set(&text, None).unwrap_or_else(|e| panic!("{jwk}: {e}"));
}

// ---- COPY_PASTE ---------------------------------------------------------------------------------

#[tokio::test]
async fn clipboard_jwk_and_set() {
    let s = Server::with_world().await;
    // A single JWK keeps its kid, use and alg.
    let (status, body) = s
        .post(
            &format!("{P}/parse-from-clipboard"),
            Some(ADMIN),
            json!({"name": "rfc-ec", "jwkStr": rfc_ec().to_string()}),
        )
        .await;
    assert_success(status, &body);
    assert!(body["deploymentResult"]["success"].as_bool().unwrap());
    let got = get_jwk(&s, "rfc-ec").await;
    assert_eq!(got["sourceType"], "COPY_PASTE");
    assert_eq!(got["kid"], "1");
    assert_eq!(got["use"], "enc");
    assert_eq!(got["type"], "EC");
    assert_eq!(got["jwk"]["x"], rfc_ec()["x"]);

    // Without a kid: the RFC 7638 thumbprint, stored.
    let mut no_kid = rfc_ec();
    no_kid.as_object_mut().unwrap().remove("kid");
    let (status, body) = s
        .post(
            &format!("{P}/"),
            Some(ADMIN),
            json!({"name": "rfc-ec-2", "sourceType": "COPY_PASTE", "jwkStr": no_kid.to_string()}),
        )
        .await;
    assert_success(status, &body);
    let got = get_jwk(&s, "rfc-ec-2").await;
    let expected = keyward_jose::parse_jwk_or_set(no_kid.to_string().as_bytes(), None)
        .unwrap()
        .thumbprint_sha256();
    assert_eq!(got["kid"], expected.as_str());
    assert_eq!(got["jwk"]["kid"], expected.as_str());

    // A private JWK from a set, selected by kid: private members in Get, never in List.
    let private = generated_jwk(
        &s,
        "gen-p384",
        json!({"type":"EC","ec":{"curveType":"P384"}, "kid": "k-384"}),
    )
    .await;
    let set = json!({"keys": [rfc_ec(), private]});
    // The generated key holds kid k-384 in every environment: a pasted copy is refused (a chosen
    // kid is never rewritten), and accepted once the original is gone.
    let (status, body) = s
        .post(
            &format!("{P}/parse-from-clipboard"),
            Some(ADMIN),
            json!({"name": "from-set", "jwkStr": set.to_string(), "kid": "k-384"}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "JWK kid (k-384) is already used by JWK (name: gen-p384) in the same environment! Give another kid.",
    );
    let (status, body) = s.delete(&format!("{P}/gen-p384"), Some(ADMIN)).await;
    assert_success(status, &body);
    let (status, body) = s
        .post(
            &format!("{P}/parse-from-clipboard"),
            Some(ADMIN),
            json!({"name": "from-set", "jwkStr": set.to_string(), "kid": "k-384"}),
        )
        .await;
    assert_success(status, &body);
    let got = get_jwk(&s, "from-set").await;
    assert_eq!(got["kid"], "k-384");
    assert_eq!(got["alg"], "ES384");
    assert!(got["ec"]["d"].is_string(), "{got}");
    let (_, list) = s.get(&format!("{P}/"), Some(ADMIN)).await;
    let text = list.to_string();
    assert!(!text.contains("\"d\"") && !text.contains(private["d"].as_str().unwrap()));

    // Failures store nothing.
    let before = jwk_count(&s).await;
    let (status, body) = s
        .post(
            &format!("{P}/parse-from-clipboard"),
            Some(ADMIN),
            json!({"name": "x", "jwkStr": set.to_string()}),
        )
        .await;
    assert_error_prefix(status, &body, 400, "");
    assert!(
        body["resultMessage"].as_str().unwrap().contains("kid"),
        "{body}"
    );
    let (status, body) = s
        .post(
            &format!("{P}/parse-from-clipboard"),
            Some(ADMIN),
            json!({"name": "x", "jwkStr": set.to_string(), "kid": "nope"}),
        )
        .await;
    assert_error_prefix(status, &body, 400, "");
    assert!(
        body["resultMessage"].as_str().unwrap().contains("nope"),
        "{body}"
    );
    let (status, body) = s
        .post(
            &format!("{P}/parse-from-clipboard"),
            Some(ADMIN),
            json!({"name": "x"}),
        )
        .await;
    assert_error(status, &body, 400, "jwkStr value can not be empty!");
    let (status, body) = s
        .post(
            &format!("{P}/parse-from-clipboard"),
            Some(ADMIN),
            json!({"name": "x", "jwkStr": "{not json"}),
        )
        .await;
    assert_error_prefix(status, &body, 400, "");
    let (status, body) = s
        .post(
            &format!("{P}/parse-from-clipboard"),
            Some(ADMIN),
            json!({"jwkStr": rfc_ec().to_string()}),
        )
        .await;
    assert_error(status, &body, 400, "JWK name can not be empty!");
    let (status, body) = s
        .post(
            &format!("{P}/parse-from-clipboard"),
            Some(ADMIN),
            json!({"name": "rfc-ec", "jwkStr": rfc_ec().to_string()}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "JWK (name: rfc-ec) is already exist! Try update operation if want to change its value.",
    );
    // A viewer may not create.
    let viewer = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;
    let (status, body) = s
        .post(
            &format!("{P}/parse-from-clipboard"),
            Some(&viewer),
            json!({"name": "v", "jwkStr": rfc_ec().to_string()}),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "User does not have required permission for this operation!",
    );
    assert_eq!(jwk_count(&s).await, before);
}

// ---- GENERATE -----------------------------------------------------------------------------------

#[tokio::test]
async fn generate_every_type_curve_and_size() {
    let s = Server::with_world().await;
    // (body, type, alg, use, material object, member lengths)
    let cases: Vec<(Value, &str, &str, &str, &str, Vec<(&str, usize)>)> = vec![
        (
            json!({"type":"RSA","rsa":{"keySize":2048}}),
            "RSA",
            "RS256",
            "sig",
            "rsa",
            vec![("n", 256)],
        ),
        (
            json!({"type":"RSA","rsa":{"keySize":2048,"keyUseType":"ENCRYPTION"}}),
            "RSA",
            "RSA-OAEP-256",
            "enc",
            "rsa",
            vec![("n", 256)],
        ),
        (
            json!({"type":"RSA","rsa":{"keySize":3072,"algorithm":"PS384"}}),
            "RSA",
            "PS384",
            "sig",
            "rsa",
            vec![("n", 384)],
        ),
        (
            json!({"type":"RSA","rsa":{"keySize":2048,"algorithm":"RSA512"}}),
            "RSA",
            "RS512",
            "sig",
            "rsa",
            vec![("n", 256)],
        ),
        (
            json!({"type":"EC","ec":{"curveType":"P256"}}),
            "EC",
            "ES256",
            "sig",
            "ec",
            vec![("x", 32), ("y", 32), ("d", 32)],
        ),
        (
            json!({"type":"EC","ec":{"curveType":"P384"}}),
            "EC",
            "ES384",
            "sig",
            "ec",
            vec![("x", 48), ("d", 48)],
        ),
        (
            json!({"type":"EC","ec":{"curveType":"P521"}}),
            "EC",
            "ES512",
            "sig",
            "ec",
            vec![("x", 66), ("y", 66), ("d", 66)],
        ),
        (
            json!({"type":"EC","ec":{"curveType":"SECP256K1"}}),
            "EC",
            "ES256K",
            "sig",
            "ec",
            vec![("x", 32)],
        ),
        (
            json!({"type":"EC","ec":{"curveType":"P256","keyUseType":"ENCRYPTION"}}),
            "EC",
            "ECDH-ES",
            "enc",
            "ec",
            vec![("x", 32)],
        ),
        (
            json!({"type":"EC","ec":{"curveType":"P384","keyUseType":"ENCRYPTION","algorithm":"ECDH_ES_A256KW"}}),
            "EC",
            "ECDH-ES+A256KW",
            "enc",
            "ec",
            vec![("x", 48)],
        ),
        (
            json!({"type":"OCT","oct":{"keySize":128}}),
            "OCT",
            "HS256",
            "sig",
            "oct",
            vec![("k", 16)],
        ),
        (
            json!({"type":"OCT","oct":{"keySize":192,"keyUseType":"ENCRYPTION"}}),
            "OCT",
            "A192KW",
            "enc",
            "oct",
            vec![("k", 24)],
        ),
        (
            json!({"type":"OCT","oct":{"keySize":256,"algorithm":"HS512"}}),
            "OCT",
            "HS512",
            "sig",
            "oct",
            vec![("k", 32)],
        ),
        (
            json!({"type":"OCT","oct":{"keySize":256,"keyUseType":"ENCRYPTION","algorithm":"A256GCMKW"}}),
            "OCT",
            "A256GCMKW",
            "enc",
            "oct",
            vec![("k", 32)],
        ),
        (
            json!({"type":"OCT","oct":{"keySize":256,"keyUseType":"ENCRYPTION","algorithm":"PBES2_HS256_A128KW","passwordSaltLength":16,"passwordIterationCount":2000}}),
            "OCT",
            "PBES2-HS256+A128KW",
            "enc",
            "oct",
            vec![("k", 32)],
        ),
        (
            json!({"type":"OKP","okp":{"curveType":"ED25519"}}),
            "OKP",
            "EdDSA",
            "sig",
            "okp",
            vec![("x", 32), ("d", 32)],
        ),
        (
            json!({"type":"OKP","okp":{"curveType":"X25519"}}),
            "OKP",
            "ECDH-ES",
            "enc",
            "okp",
            vec![("x", 32), ("d", 32)],
        ),
        (
            json!({"type":"OKP","okp":{"curveType":"X25519","keyUseType":"ENCRYPTION","algorithm":"ECDH-ES+A128KW"}}),
            "OKP",
            "ECDH-ES+A128KW",
            "enc",
            "okp",
            vec![("x", 32)],
        ),
    ];
    for (i, (body, ty, alg, use_, obj, lens)) in cases.into_iter().enumerate() {
        let name = format!("g{i}");
        let mut req = body.clone();
        req["name"] = json!(name);
        let started = Instant::now();
        let (status, resp) = generate(&s, req).await;
        assert_success(status, &resp);
        eprintln!("generate {body}: {} ms", started.elapsed().as_millis());
        let got = get_jwk(&s, &name).await;
        assert_eq!(got["sourceType"], "GENERATE", "{got}");
        assert_eq!(got["type"], ty, "{got}");
        assert_eq!(got["alg"], alg, "{got}");
        assert_eq!(got["use"], use_, "{got}");
        assert_eq!(got["jwk"]["alg"], alg);
        for (m, len) in lens {
            let v = got[obj][m]
                .as_str()
                .unwrap_or_else(|| panic!("{obj}.{m} in {got}"));
            assert_eq!(
                keyward_jose::b64::decode_url(v).unwrap().len(),
                len,
                "{name} {m}"
            );
        }
        // TIMESTAMP kid by default (`-<alg>[-<random>]` appended when another key of the same second
        // holds it: kids are unique within an environment), nbf now, exp one year later.
        let kid: i64 = got["kid"]
            .as_str()
            .unwrap()
            .split('-')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let nbf = got["jwk"]["nbf"].as_i64().unwrap();
        let exp = got["jwk"]["exp"].as_i64().unwrap();
        assert!((kid - nbf).abs() <= 2, "{got}");
        assert!((365 * 86400..=366 * 86400).contains(&(exp - nbf)), "{got}");
        assert_valid(&got["jwk"]);
        // The list never shows material.
    }
    let (_, list) = s.get(&format!("{P}/"), Some(ADMIN)).await;
    for item in list["resultList"].as_array().unwrap() {
        assert!(
            item.get("jwk").is_none() && item.get("rsa").is_none() && item.get("oct").is_none()
        );
    }
}

#[tokio::test]
async fn generate_key_ids_times_and_refusals() {
    let s = Server::with_world().await;
    let ec = |extra: Value| {
        let mut b = json!({"type":"EC","ec":{"curveType":"P256"}});
        for (k, v) in extra.as_object().unwrap() {
            b["ec"][k] = v.clone();
        }
        b
    };
    let check_kid = |jwk: &Value, kind: &str| {
        let kid = jwk["kid"].as_str();
        let parsed = keyward_jose::parse_jwk_or_set(jwk.to_string().as_bytes(), None).unwrap();
        match kind {
            "SHA256" | "THUMBPRINT" => {
                assert_eq!(kid.unwrap(), parsed.thumbprint_sha256())
            }
            "SHA1" => {
                assert_eq!(kid.unwrap(), parsed.thumbprint_sha1());
                assert_eq!(kid.unwrap().len(), 27);
            }
            "ISO_DATE" => {
                let k = kid.unwrap();
                assert_eq!(k.len(), 20, "{k}");
                assert!(k.ends_with('Z') && k.as_bytes()[10] == b'T', "{k}");
            }
            "NONE" => assert!(kid.is_none(), "{jwk}"),
            // `-<alg>[-<random>]` follows when a key of the same second holds the plain one.
            "TIMESTAMP" => assert!(
                kid.unwrap()
                    .split('-')
                    .next()
                    .unwrap()
                    .parse::<i64>()
                    .unwrap()
                    > 1_700_000_000
            ),
            _ => unreachable!(),
        }
    };
    for kind in [
        "TIMESTAMP",
        "SHA256",
        "SHA1",
        "ISO_DATE",
        "NONE",
        "THUMBPRINT",
    ] {
        let name = format!("kid-{}", kind.to_lowercase().replace('_', "-"));
        let jwk = generated_jwk(&s, &name, ec(json!({"keyIdType": kind}))).await;
        check_kid(&jwk, kind);
        assert_eq!(get_jwk(&s, &name).await["kid"], jwk["kid"]);
    }
    // keyIdType at the top level is accepted too; an explicit kid wins.
    let jwk = generated_jwk(
        &s,
        "kid-top",
        json!({"type":"OKP","keyIdType":"SHA1","okp":{"curveType":"ED25519"}}),
    )
    .await;
    check_kid(&jwk, "SHA1");
    let jwk = generated_jwk(
        &s,
        "kid-given",
        json!({"type":"OCT","kid":"my-kid","oct":{"keySize":256,"keyIdType":"SHA256"}}),
    )
    .await;
    assert_eq!(jwk["kid"], "my-kid");

    // notBeforeTime / expirationTime become nbf / exp.
    let jwk = generated_jwk(
        &s,
        "timed",
        ec(json!({"notBeforeTime":"2026-01-01T00:00:00Z","expirationTime":"2026-07-01T12:00:00+02:00"})),
    )
    .await;
    assert_eq!(jwk["nbf"], 1_767_225_600);
    assert_eq!(jwk["exp"], 1_782_900_000);
    let jwk = generated_jwk(
        &s,
        "timed-default-exp",
        ec(json!({"notBeforeTime":"2026-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(jwk["exp"], 1_798_761_600);

    let before = jwk_count(&s).await;
    let refusals: Vec<(Value, &str)> = vec![
        (
            json!({"type":"EC","ec":{"curveType":"P256"}}),
            "JWK name can not be empty!",
        ),
        (
            json!({"name":"  ","type":"EC","ec":{"curveType":"P256"}}),
            "JWK name can not be empty!",
        ),
        (
            json!({"name":"n","ec":{"curveType":"P256"}}),
            "JWK type can not be empty!",
        ),
        (
            json!({"name":"n","type":"DSA"}),
            "type (DSA) is not valid! Accepted values: RSA, EC, OCT, OKP",
        ),
        (
            json!({"name":"n","type":"EC"}),
            "ec value can not be empty!",
        ),
        (
            json!({"name":"n","type":"RSA","rsa":{}}),
            "keySize value can not be empty!",
        ),
        (
            json!({"name":"n","type":"RSA","rsa":{"keySize":1024}}),
            "keySize (1024) is not valid! Accepted values: 2048, 3072, 4096",
        ),
        (
            json!({"name":"n","type":"OCT","oct":{"keySize":512}}),
            "keySize (512) is not valid! Accepted values: 128, 192, 256",
        ),
        (
            json!({"name":"n","type":"OCT","oct":{"keySize":128,"keyUseType":"ENCRYPTION","algorithm":"A256KW"}}),
            "Algorithm A256KW needs a 256-bit key, not 128 bits! Choose keySize 256.",
        ),
        (
            ec(
                json!({"notBeforeTime":"2026-01-02T00:00:00Z","expirationTime":"2026-01-01T00:00:00Z"}),
            ),
            "expirationTime value must be after notBeforeTime!",
        ),
        (
            ec(json!({"notBeforeTime":"tomorrow"})),
            "notBeforeTime (tomorrow) is not valid! Use an ISO-8601 date-time, e.g. 2027-01-31T00:00:00Z",
        ),
        (
            ec(json!({"keyUseType":"SIGN"})),
            "keyUseType (SIGN) is not valid! Accepted values: SIGNATURE, ENCRYPTION",
        ),
    ];
    for (mut body, message) in refusals {
        if body.get("name").is_none() && message != "JWK name can not be empty!" {
            body["name"] = json!("n");
        }
        let (status, resp) = generate(&s, body.clone()).await;
        assert_error(status, &resp, 400, message);
    }
    // Messages of the JOSE crate: curve, key id type, algorithm that does not fit.
    for body in [
        ec(json!({"curveType":"P999"})),
        ec(json!({"keyIdType":"UUID"})),
        ec(json!({"algorithm":"ES384"})),
        ec(json!({"algorithm":"RSA"})),
        json!({"type":"OKP","okp":{"curveType":"ED25519","keyUseType":"ENCRYPTION"}}),
        json!({"type":"OKP","okp":{"curveType":"X25519","keyUseType":"SIGNATURE"}}),
        json!({"type":"OKP","okp":{"curveType":"X448"}}),
    ] {
        let mut body = body;
        body["name"] = json!("n");
        let (status, resp) = generate(&s, body.clone()).await;
        assert_error_prefix(status, &resp, 400, "");
        eprintln!("{body} -> {}", resp["resultMessage"]);
    }
    let (status, resp) = generate(
        &s,
        json!({"name":"timed","type":"OCT","oct":{"keySize":256}}),
    )
    .await;
    assert_error(
        status,
        &resp,
        400,
        "JWK (name: timed) is already exist! Try update operation if want to change its value.",
    );
    let viewer = s
        .user_with("viewer", "shop", &["SECRETS:VIEW", "SECRETS:MANAGE"])
        .await;
    let (status, resp) = s
        .post(
            &format!("{P}/generate"),
            Some(&viewer),
            json!({"name":"v","type":"OCT","oct":{"keySize":256}}),
        )
        .await;
    assert_error(
        status,
        &resp,
        400,
        "User does not have required permission for this operation!",
    );
    assert_eq!(jwk_count(&s).await, before);
}

// ---- URL ----------------------------------------------------------------------------------------

/// What the little test server does for a path.
#[derive(Clone)]
enum Reply {
    Ok(&'static str, Vec<u8>),
    Status(u16),
    Redirect(String),
    /// Accept, read the request, never answer.
    Hang,
}

/// A minimal HTTP/1.1 server on 127.0.0.1; `route` maps a path to a reply.
async fn http_server(route: impl Fn(&str) -> Reply + Send + Sync + 'static) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let route = Arc::new(route);
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let route = route.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, ctype, body, location) = match route(&path) {
                    Reply::Ok(ct, b) => (200, ct, b, None),
                    Reply::Status(code) => (code, "text/plain", b"no".to_vec(), None),
                    Reply::Redirect(to) => (302, "text/plain", Vec::new(), Some(to)),
                    Reply::Hang => {
                        tokio::time::sleep(Duration::from_secs(120)).await;
                        return;
                    }
                };
                let mut resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                if let Some(l) = location {
                    resp.push_str(&format!("location: {l}\r\n"));
                }
                resp.push_str("\r\n");
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    port
}

/// A JWK Set of two generated public keys (kids `a`, `b`) plus the first's full JWK.
async fn jwks_document(s: &Server) -> (Vec<u8>, Value) {
    let a = generated_jwk(
        s,
        "src-a",
        json!({"type":"EC","kid":"a","ec":{"curveType":"P256"}}),
    )
    .await;
    let b = generated_jwk(
        s,
        "src-b",
        json!({"type":"RSA","kid":"b","rsa":{"keySize":2048}}),
    )
    .await;
    let public = |j: &Value| {
        let mut j = j.clone();
        for m in ["d", "p", "q", "dp", "dq", "qi"] {
            j.as_object_mut().unwrap().remove(m);
        }
        j
    };
    let doc = json!({"keys": [public(&a), public(&b)]});
    // The sources leave the project: JWKs made from the document take their kids.
    for name in ["src-a", "src-b"] {
        let (status, body) = s.delete(&format!("{P}/{name}"), Some(ADMIN)).await;
        assert_success(status, &body);
    }
    (serde_json::to_vec(&doc).unwrap(), a)
}

async fn from_url(s: &Server, name: &str, url: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({"name": name, "url": url});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    s.post(&format!("{P}/parse-from-url"), Some(ADMIN), body)
        .await
}

#[tokio::test]
async fn url_refused_by_default() {
    let home = DataHome::new();
    let s = Server::start_with(home, &[]).await;
    s.create_project("shop").await;
    let port = http_server(|_| Reply::Ok("application/json", b"{}".to_vec())).await;
    // http is refused outright.
    let (status, body) =
        from_url(&s, "u", &format!("http://127.0.0.1:{port}/jwks"), json!({})).await;
    assert_error(
        status,
        &body,
        400,
        &format!(
            "JWK can not be read from URL (http://127.0.0.1:{port}/jwks): the address is refused: http://127.0.0.1:{port}/jwks uses http; only https URLs are fetched by this server!"
        ),
    );
    // Internal addresses, as literals, never leave the server.
    for (url, why) in [
        (
            "https://169.254.169.254/latest/meta-data/",
            "169.254.169.254 is a link-local address (169.254.0.0/16, cloud metadata included)",
        ),
        (
            "https://127.0.0.1/",
            "127.0.0.1 is a loopback address (127.0.0.0/8)",
        ),
        (
            "https://[::ffff:127.0.0.1]/",
            "::ffff:127.0.0.1 is an IPv4-mapped IPv6 address (::ffff:0:0/96)",
        ),
        (
            "https://10.1.2.3/",
            "10.1.2.3 is a private address (RFC 1918)",
        ),
        (
            "https://[fd00::1]/",
            "fd00::1 is a unique local address (fc00::/7)",
        ),
    ] {
        let (status, body) = from_url(&s, "u", url, json!({})).await;
        assert_error(
            status,
            &body,
            400,
            &format!("JWK can not be read from URL ({url}): the address is refused: {why}!"),
        );
    }
    // A name resolving to loopback is refused by the resolver.
    let (status, body) = from_url(&s, "u", "https://localhost:1/jwks", json!({})).await;
    assert_error_prefix(
        status,
        &body,
        400,
        "JWK can not be read from URL (https://localhost:1/jwks): the address is refused: the host localhost resolves to ",
    );
    assert!(
        body["resultMessage"].as_str().unwrap().contains("loopback"),
        "{body}"
    );
    // Create with sourceType URL: url required.
    let (status, body) = s
        .post(
            &format!("{P}/"),
            Some(ADMIN),
            json!({"name": "u", "sourceType": "URL"}),
        )
        .await;
    assert_error(status, &body, 400, "URL is required for URL source type!");
    let (status, body) = from_url(
        &s,
        "u",
        "https://example.com/",
        json!({"urlOptionSizeLimit": 20_000_000}),
    )
    .await;
    assert_error(
        status,
        &body,
        400,
        "urlOptionSizeLimit (20000000) is not valid! Accepted values: 1 to 1048576",
    );
    let (status, body) = from_url(
        &s,
        "u",
        "https://example.com/",
        json!({"urlOptionReadTimeout": 0}),
    )
    .await;
    assert_error(
        status,
        &body,
        400,
        "urlOptionReadTimeout (0) is not valid! Accepted values: 1 to 60000",
    );
    let (status, body) = from_url(&s, "u", "ftp://example.com/", json!({})).await;
    assert_error_prefix(
        status,
        &body,
        400,
        "JWK can not be read from URL (ftp://example.com/): the address is refused: ",
    );
    assert_eq!(jwk_count(&s).await, 0);
    // The new routes are in the OpenAPI document.
    let (status, api) = s.get("/openapi.json", None).await;
    assert_eq!(status, 200);
    for path in [
        "/apiops/projects/{projectName}/jwks/parse-from-url",
        "/apiops/projects/{projectName}/jwks/parse-from-clipboard",
        "/apiops/projects/{projectName}/jwks/generate",
        "/apiops/projects/{projectName}/jwks/{jwkName}/export-file",
        "/apiops/projects/{projectName}/jwks/import-file",
    ] {
        assert!(
            api["paths"].get(path).is_some(),
            "{path} missing from /openapi.json"
        );
    }
}

#[tokio::test]
async fn url_fetch_with_allow_list() {
    let home = DataHome::new();
    let s = Server::start_with(
        home,
        &["--fetch-allow", "127.0.0.1/32", "--fetch-allow-http"],
    )
    .await;
    s.create_environment("production").await;
    s.create_project("shop").await;
    let (doc, a) = jwks_document(&s).await;
    let big = vec![b' '; 4096];
    let own_port = Arc::new(std::sync::OnceLock::<u16>::new());
    let own = own_port.clone();
    let port = http_server(move |path| match path {
        // A host name hop: resolved by the guarded resolver (127.0.0.1 allowed, ::1 dropped).
        "/to-localhost" => Reply::Redirect(format!("http://localhost:{}/jwks", own.get().unwrap())),
        "/jwks" => Reply::Ok("application/jwk-set+json", doc.clone()),
        "/one" => Reply::Ok(
            "application/json; charset=utf-8",
            serde_json::to_vec(&rfc_ec()).unwrap(),
        ),
        "/big" => Reply::Ok("application/json", big.clone()),
        "/html" => Reply::Ok("text/html", b"<html></html>".to_vec()),
        "/missing" => Reply::Status(404),
        "/hang" => Reply::Hang,
        "/loop" => Reply::Redirect("/loop".into()),
        "/r3" => Reply::Redirect("/r2".into()),
        "/r2" => Reply::Redirect("/r1".into()),
        "/r1" => Reply::Redirect("/jwks".into()),
        "/to-metadata" => Reply::Redirect("http://169.254.169.254/latest/meta-data/".into()),
        "/to-other-loopback" => Reply::Redirect("http://127.0.0.2:9/".into()),
        _ => Reply::Status(404),
    })
    .await;
    own_port.set(port).unwrap();
    let base = format!("http://127.0.0.1:{port}");

    // A JWK Set, the key chosen by kid; sourceUrl and sourceType recorded.
    let started = Instant::now();
    let (status, body) = from_url(&s, "by-url", &format!("{base}/jwks"), json!({"kid": "a"})).await;
    assert_success(status, &body);
    eprintln!(
        "JWK Set fetched and stored in {} ms",
        started.elapsed().as_millis()
    );
    let got = get_jwk(&s, "by-url").await;
    assert_eq!(got["sourceType"], "URL");
    assert_eq!(got["sourceUrl"], format!("{base}/jwks"));
    assert_eq!(got["kid"], "a");
    assert_eq!(got["jwk"]["x"], a["x"]);
    assert!(got["jwk"].get("d").is_none());
    // Through create with sourceType URL and exactly three redirects.
    let (status, body) = s
        .post(
            &format!("{P}/"),
            Some(ADMIN),
            json!({"name": "by-url-2", "sourceType": "URL", "url": format!("{base}/r3"), "kid": "b",
                "urlOptionConnectTimeout": 2000, "urlOptionReadTimeout": 2000, "urlOptionSizeLimit": 100000}),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(get_jwk(&s, "by-url-2").await["type"], "RSA");
    // Kid b again, in the same environment: refused until by-url-2 is gone.
    let (status, body) =
        from_url(&s, "via-name", &format!("{base}/jwks"), json!({"kid": "b"})).await;
    assert_error(
        status,
        &body,
        400,
        "JWK kid (b) is already used by JWK (name: by-url-2) in the same environment! Give another kid.",
    );
    let (status, body) = s.delete(&format!("{P}/by-url-2"), Some(ADMIN)).await;
    assert_success(status, &body);
    let (status, body) = from_url(&s, "one", &format!("{base}/one"), json!({})).await;
    assert_success(status, &body);
    let (status, body) = from_url(
        &s,
        "via-name",
        &format!("{base}/to-localhost"),
        json!({"kid": "b"}),
    )
    .await;
    assert_success(status, &body);
    assert_eq!(
        get_jwk(&s, "via-name").await["sourceUrl"],
        format!("{base}/to-localhost")
    );

    let before = jwk_count(&s).await;
    let fails: Vec<(&str, Value, String)> = vec![
        ("/jwks", json!({}), "kid value can not be empty! The JWK Set holds 2 keys.".into()),
        ("/big", json!({"urlOptionSizeLimit": 1000}), "the document is larger than 1000 bytes (urlOptionSizeLimit)!".into()),
        ("/html", json!({}), "the server answered content type text/html, not JSON (application/json or application/jwk-set+json)!".into()),
        ("/missing", json!({}), "the server answered HTTP status 404!".into()),
        ("/hang", json!({"urlOptionReadTimeout": 300}), "the server did not answer within 300 ms (urlOptionReadTimeout)!".into()),
        ("/loop", json!({}), "more than 3 redirects!".into()),
        ("/to-metadata", json!({}), "the address is refused: redirected to http://169.254.169.254/latest/meta-data/: 169.254.169.254 is a link-local address (169.254.0.0/16, cloud metadata included)!".into()),
        ("/to-other-loopback", json!({}), "the address is refused: redirected to http://127.0.0.2:9/: 127.0.0.2 is a loopback address (127.0.0.0/8)!".into()),
    ];
    for (path, extra, reason) in fails {
        let url = format!("{base}{path}");
        let started = Instant::now();
        let (status, body) = from_url(&s, "bad", &url, extra).await;
        assert_eq!(status, 400, "{path}: {body}");
        let m = body["resultMessage"].as_str().unwrap();
        assert!(
            m.starts_with(&format!("JWK can not be read from URL ({url}): ")) || path == "/jwks",
            "{m}"
        );
        assert!(m.contains(&reason), "{path}: {m:?} lacks {reason:?}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{path} took {:?}",
            started.elapsed()
        );
    }
    assert_eq!(jwk_count(&s).await, before);
    // A duplicate name is refused before fetching.
    let (status, body) = from_url(&s, "by-url", &format!("{base}/jwks"), json!({"kid": "a"})).await;
    assert_error(
        status,
        &body,
        400,
        "JWK (name: by-url) is already exist! Try update operation if want to change its value.",
    );
}

// ---- files --------------------------------------------------------------------------------------

async fn export(s: &Server, name: &str, token: &str, query: &str) -> (u16, String, String, String) {
    let resp = s
        .client
        .get(s.url(&format!("{P}/{name}/export-file/{query}")))
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
    let ct = header("content-type");
    let cd = header("content-disposition");
    (status, ct, cd, resp.text().await.unwrap())
}

async fn import(
    s: &Server,
    token: &str,
    fields: &[(&str, &str)],
    file: Option<Vec<u8>>,
) -> (u16, Value) {
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    if let Some(f) = file {
        form = form.part("jwkFile", Part::bytes(f).file_name("jwks.json"));
    }
    let resp = s
        .client
        .post(s.url(&format!("{P}/import-file/")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn export_and_import_files() {
    let s = Server::with_world().await;
    let full = generated_jwk(
        &s,
        "rsa",
        json!({"type":"RSA","kid":"r1","rsa":{"keySize":2048}}),
    )
    .await;
    generated_jwk(&s, "hmac", json!({"type":"OCT","oct":{"keySize":256}})).await;

    let (status, ct, cd, text) = export(&s, "rsa", ADMIN, "").await;
    assert_eq!(status, 200, "{text}");
    assert!(ct.starts_with("application/json"), "{ct}");
    assert_eq!(cd, "attachment; filename=\"rsa.json\"");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["keys"][0], full);
    let (status, _, cd, text) = export(&s, "rsa", ADMIN, "?publicOnly=true").await;
    assert_eq!(status, 200);
    assert_eq!(cd, "attachment; filename=\"rsa-public.json\"");
    let public: Value = serde_json::from_str(&text).unwrap();
    let key = &public["keys"][0];
    for m in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(key.get(m).is_none(), "{m} in {key}");
    }
    assert_eq!(key["n"], full["n"]);
    assert_eq!(key["kid"], "r1");
    assert!(key["exp"].is_i64());
    let (status, _, _, text) = export(&s, "hmac", ADMIN, "?publicOnly=true").await;
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_error(
        status,
        &body,
        400,
        "JWK (name: hmac) is a symmetric (OCT) key and has no public part; export it with publicOnly=false!",
    );
    let (status, _, _, text) = export(&s, "nope", ADMIN, "").await;
    assert_error(
        status,
        &serde_json::from_str(&text).unwrap(),
        400,
        "JWK (name: nope) is not found!",
    );
    let viewer = s.user_with("viewer", "shop", &["SECRETS:VIEW"]).await;
    let (status, _, _, text) = export(&s, "rsa", &viewer, "").await;
    assert_error(
        status,
        &serde_json::from_str(&text).unwrap(),
        400,
        "User does not have required permission for this operation!",
    );
    let exporter = s
        .user_with("exporter", "shop", &["SECRETS:EXPORT_IMPORT"])
        .await;
    let (status, _, _, _) = export(&s, "rsa", &exporter, "?publicOnly=false").await;
    assert_eq!(status, 200);

    // Import the exported files back under new names: not while `rsa` holds kid r1 in every
    // environment (kids are unique within an environment), then in one environment each.
    let (status, body) = import(
        &s,
        ADMIN,
        &[("jwkName", "rsa-copy"), ("kid", "r1")],
        Some(text_of(&doc)),
    )
    .await;
    assert_error(
        status,
        &body,
        400,
        "JWK kid (r1) is already used by JWK (name: rsa) in the same environment! Give another kid.",
    );
    let (status, body) = s.delete(&format!("{P}/rsa"), Some(ADMIN)).await;
    assert_success(status, &body);
    let (status, body) = import(
        &s,
        ADMIN,
        &[
            ("jwkName", "rsa-copy"),
            ("kid", "r1"),
            ("jwkDescription", "imported"),
            ("environmentList", "production"),
        ],
        Some(text_of(&doc)),
    )
    .await;
    assert_success(status, &body);
    let envs: Vec<&str> = body["deploymentResult"]["environmentResults"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["environmentName"].as_str().unwrap())
        .collect();
    assert_eq!(envs, ["production"], "{body}");
    let got = get_jwk(&s, "rsa-copy").await;
    assert_eq!(got["jwk"], full);
    assert_eq!(got["description"], "imported");
    assert_eq!(got["sourceType"], "COPY_PASTE");
    let before = jwk_count(&s).await;
    let (status, body) = import(
        &s,
        ADMIN,
        &[("jwkName", "rsa-copy"), ("kid", "r1")],
        Some(text_of(&public)),
    )
    .await;
    assert_error(status, &body, 400, "JWK (name: rsa-copy) is already exist!");
    let (status, body) = import(&s, ADMIN, &[("jwkName", "x")], Some(text_of(&public))).await;
    assert_error(status, &body, 400, "kid value can not be empty!");
    let (status, body) = import(&s, ADMIN, &[("jwkName", "x"), ("kid", "r1")], None).await;
    assert_error(status, &body, 400, "jwkFile value can not be empty!");
    let (status, body) = import(
        &s,
        ADMIN,
        &[("jwkName", "x"), ("kid", "zz")],
        Some(text_of(&public)),
    )
    .await;
    assert_error_prefix(status, &body, 400, "");
    // EXPORT_IMPORT alone does not deploy: denied.
    let (status, body) = import(
        &s,
        &exporter,
        &[("jwkName", "x"), ("kid", "r1")],
        Some(text_of(&public)),
    )
    .await;
    assert_error(
        status,
        &body,
        400,
        "User does not have required permission for this operation!",
    );
    let (status, body) = s
        .post_raw(
            &format!("{P}/import-file/"),
            Some(ADMIN),
            "application/json",
            b"{}".to_vec(),
        )
        .await;
    assert_error_prefix(status, &body, 400, "Request must be multipart/form-data");
    assert_eq!(jwk_count(&s).await, before);
    let all = s
        .user_with(
            "porter",
            "shop",
            &[
                "SECRETS:EXPORT_IMPORT",
                "SECRETS:MANAGE",
                "SECRETS:DEPLOY_UNDEPLOY",
            ],
        )
        .await;
    let (status, body) = import(
        &s,
        &all,
        &[
            ("jwkName", "rsa-public"),
            ("kid", "r1"),
            ("environmentList", "test"),
        ],
        Some(text_of(&public)),
    )
    .await;
    assert_success(status, &body);
    assert!(get_jwk(&s, "rsa-public").await["rsa"].get("d").is_none());
}

fn text_of(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn b64(v: &Value) -> Vec<u8> {
    keyward_jose::b64::decode_url(v.as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn generated_keys_sign_and_verify() {
    let s = Server::with_world().await;
    // P-256: ECDSA with d, verified with (x, y) of the stored JWK.
    {
        use p256::ecdsa::signature::{Signer, Verifier};
        let jwk = generated_jwk(&s, "p256", json!({"type":"EC","ec":{"curveType":"P256"}})).await;
        let signing = p256::ecdsa::SigningKey::from_slice(&b64(&jwk["d"])).unwrap();
        let mut point = vec![4u8];
        point.extend(b64(&jwk["x"]));
        point.extend(b64(&jwk["y"]));
        let verifying = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
        let sig: p256::ecdsa::Signature = signing.sign(b"keyward");
        verifying.verify(b"keyward", &sig).unwrap();
        assert!(verifying.verify(b"other", &sig).is_err());
    }
    // Ed25519: EdDSA with d, verified with x.
    {
        use ed25519_dalek::{Signer, Verifier};
        let jwk = generated_jwk(
            &s,
            "ed",
            json!({"type":"OKP","okp":{"curveType":"ED25519"}}),
        )
        .await;
        let d: [u8; 32] = b64(&jwk["d"]).try_into().unwrap();
        let x: [u8; 32] = b64(&jwk["x"]).try_into().unwrap();
        let sig = ed25519_dalek::SigningKey::from_bytes(&d).sign(b"keyward");
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
        vk.verify(b"keyward", &sig).unwrap();
        assert!(vk.verify(b"other", &sig).is_err());
    }
    // RSA 4096 (the one large key of the suite): n = p·q and the CRT values hold.
    let started = Instant::now();
    let jwk = generated_jwk(&s, "rsa4096", json!({"type":"RSA","rsa":{"keySize":4096}})).await;
    eprintln!("generate RSA 4096: {} ms", started.elapsed().as_millis());
    assert_eq!(b64(&jwk["n"]).len(), 512);
    assert_valid(&jwk);
}

// ---- hostile input (issue #13) ------------------------------------------------------------------

/// Keys that are well-formed but unsafe, duplicated JSON members, invisible characters in names
/// and repeated form fields: each gets a clean 400 naming what is wrong, and nothing is stored.
#[tokio::test]
async fn hostile_jwks_are_refused_and_nothing_is_stored() {
    let s = Server::with_world().await;
    let rsa = generated_jwk(
        &s,
        "rsa",
        json!({"type":"RSA","kid":"r1","rsa":{"keySize":2048}}),
    )
    .await;
    let before = jwk_count(&s).await;
    let b64u = |b: &[u8]| keyward_jose::b64::url(b);
    let unb64u = |v: &Value| keyward_jose::b64::decode_url(v.as_str().unwrap()).unwrap();
    let public = |jwk: &Value| {
        let mut v = jwk.clone();
        let o = v.as_object_mut().unwrap();
        for m in ["d", "p", "q", "dp", "dq", "qi", "kid", "use", "alg"] {
            o.remove(m);
        }
        v
    };
    let mut even_n = unb64u(&rsa["n"]);
    *even_n.last_mut().unwrap() &= 0xfe;
    let mut huge_e = vec![1u8];
    huge_e.extend([0u8; 32]);
    huge_e.push(1);
    let mut d_wrong = public(&rsa);
    let mut d = unb64u(&rsa["d"]);
    d[7] ^= 0x10;
    d_wrong["d"] = json!(b64u(&d));
    let mut d_right = public(&rsa);
    d_right["d"] = rsa["d"].clone();
    let mut crt_partial = rsa.clone();
    crt_partial.as_object_mut().unwrap().remove("qi");
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let rfc = rfc_ec().to_string();
    let duplicated = rfc.replacen('{', "{\"crv\":\"P-384\",", 1);

    let cases: Vec<(String, &str)> = vec![
        (
            {
                let mut v = public(&rsa);
                v["n"] = json!(b64u(&even_n));
                v.to_string()
            },
            "The JWK is not valid: the RSA modulus (n) is even",
        ),
        (
            {
                let mut v = public(&rsa);
                v["e"] = json!(b64u(&huge_e));
                v.to_string()
            },
            "The JWK is not valid: the RSA public exponent (e) has 265 bits",
        ),
        (
            d_wrong.to_string(),
            "The JWK is not valid: the private exponent (d) does not belong to the public key (n, e)",
        ),
        (
            crt_partial.to_string(),
            "The JWK has no \"qi\" member, which is required for key type RSA!",
        ),
        (
            json!({"kty":"OKP","crv":"X25519","x":b64u(&[0; 32])}).to_string(),
            "The JWK is not valid: the X25519 public key (x) is a point of small order",
        ),
        (
            json!({"kty":"OKP","crv":"Ed25519","x":b64u(&identity)}).to_string(),
            "The JWK is not valid: the Ed25519 public key (x) is a point of small order",
        ),
        (
            duplicated.clone(),
            "The JWK is not valid: member \"crv\" is given more than once",
        ),
    ];
    for (i, (jwk, message)) in cases.iter().enumerate() {
        let (status, body) = s
            .post(
                &format!("{P}/parse-from-clipboard"),
                Some(ADMIN),
                json!({"name": format!("bad-{i}"), "jwkStr": jwk}),
            )
            .await;
        assert_error_prefix(status, &body, 400, message);
    }
    assert_eq!(jwk_count(&s).await, before, "nothing stored");

    // The same checks on the JWK Set file import.
    let set = format!("{{\"keys\":[{duplicated}]}}");
    let (status, body) = import(
        &s,
        ADMIN,
        &[("jwkName", "dup-file"), ("kid", "1")],
        Some(set.into_bytes()),
    )
    .await;
    assert_error_prefix(
        status,
        &body,
        400,
        "The JWK is not valid: member \"crv\" is given more than once",
    );
    // A repeated field of the import form is refused, not reduced to one value.
    let (status, body) = import(
        &s,
        ADMIN,
        &[("jwkName", "one"), ("kid", "1"), ("jwkName", "two")],
        Some(rfc.clone().into_bytes()),
    )
    .await;
    assert_error(status, &body, 400, "Field jwkName must be given once!");
    // A request body repeating a member (the JWK given as an object, or the request's own field).
    let (status, body) = s
        .post_raw(
            &format!("{P}/parse-from-clipboard"),
            Some(ADMIN),
            "application/json",
            format!(
                "{{\"name\":\"a\",\"name\":\"b\",\"jwkStr\":{}}}",
                json!(rfc)
            )
            .into_bytes(),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        "Request body gives the member name more than once in one JSON object!",
    );
    // Names with invisible or bidi characters.
    for name in [
        "ab\u{200B}c",
        "key\u{202E}txt.exe",
        "\u{FEFF}bom",
        "a\u{2066}b",
    ] {
        let (status, body) = s
            .post(
                &format!("{P}/parse-from-clipboard"),
                Some(ADMIN),
                json!({"name": name, "jwkStr": rfc}),
            )
            .await;
        assert_error_prefix(
            status,
            &body,
            400,
            "name value is not valid! Use at most 200 visible characters",
        );
    }
    assert_eq!(jwk_count(&s).await, before, "nothing stored");

    // A lone d that does belong to (n, e) is a valid private JWK (RFC 7518 §6.3.2.1).
    let (status, body) = s
        .post(
            &format!("{P}/parse-from-clipboard"),
            Some(ADMIN),
            json!({"name": "d-alone", "jwkStr": d_right.to_string()}),
        )
        .await;
    assert_success(status, &body);
    assert_eq!(get_jwk(&s, "d-alone").await["jwk"]["d"], rsa["d"]);
}
