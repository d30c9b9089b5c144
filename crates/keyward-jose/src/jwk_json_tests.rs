use serde_json::json;

use super::*;
use crate::key::{KeyMaterial, parse_key};
use crate::test_support::{fixture, m};

fn private_jwk(file: &str) -> Jwk {
    match parse_key(&fixture(&format!("keys/{file}")), None).unwrap() {
        KeyMaterial::Private(k) => k.to_jwk(),
        KeyMaterial::Public(p) => Jwk::from_public_key(&p),
    }
}

fn value(jwk: &Jwk) -> Value {
    serde_json::to_value(jwk).unwrap()
}

fn parse(v: &Value) -> Result<Jwk, Error> {
    parse_jwk_or_set(v.to_string().as_bytes(), None)
}

fn message(v: &Value) -> String {
    parse(v).unwrap_err().to_string()
}

fn with(jwk: &Jwk, member: &str, new: Value) -> Value {
    let mut v = value(jwk);
    if new.is_null() {
        v.as_object_mut().unwrap().remove(member);
    } else {
        v[member] = new;
    }
    v
}

#[test]
fn rfc_examples_are_accepted() {
    for file in [
        "rfc/rfc7517-appendix-b.json",
        "rfc/rfc7638-section-3.1.json",
        "rfc/rfc8037-appendix-a.json",
    ] {
        let jwk = parse_jwk_or_set(&fixture(file), None).unwrap();
        let original: Jwk = serde_json::from_slice(&fixture(file)).unwrap();
        assert_eq!(jwk, original, "{file}");
    }
    // RFC 8037 A.1 private key
    let ed = json!({"kty":"OKP","crv":"Ed25519",
        "d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A",
        "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    assert!(parse(&ed).is_ok());
}

#[test]
fn set_selection_by_kid() {
    let a = Jwk {
        kid: Some("a".into()),
        ..private_jwk("p256.spki.pem")
    };
    let b = Jwk {
        kid: Some("b".into()),
        ..private_jwk("ed25519.spki.pem")
    };
    let b2 = Jwk {
        kid: Some("b".into()),
        ..private_jwk("p384.spki.pem")
    };
    let set = json!({"keys":[value(&a), value(&b), value(&b2)]}).to_string();
    let set = set.as_bytes();
    assert_eq!(parse_jwk_or_set(set, Some("a")).unwrap(), a);
    for none in [None, Some(""), Some("  ")] {
        assert_eq!(
            parse_jwk_or_set(set, none).unwrap_err().to_string(),
            "kid value can not be empty! The JWK Set holds 3 keys."
        );
    }
    assert_eq!(
        parse_jwk_or_set(set, Some("zz")).unwrap_err().to_string(),
        "No key with kid (zz) in the JWK Set!"
    );
    assert_eq!(
        parse_jwk_or_set(set, Some("b")).unwrap_err().to_string(),
        "More than one key with kid (b) in the JWK Set! 2 keys carry it."
    );
    let one = json!({"keys":[value(&a)]}).to_string();
    assert_eq!(parse_jwk_or_set(one.as_bytes(), None).unwrap(), a);
    assert_eq!(parse_jwk_or_set(one.as_bytes(), Some("a")).unwrap(), a);
    assert!(matches!(
        parse_jwk_or_set(one.as_bytes(), Some("x")),
        Err(Error::KidNotFound { .. })
    ));
    // a single JWK ignores the kid argument
    let single = value(&a).to_string();
    assert_eq!(
        parse_jwk_or_set(single.as_bytes(), Some("other")).unwrap(),
        a
    );
    // a selected key that is not an object; an invalid selected key
    let bad = json!({"keys":[1, 2]}).to_string();
    assert!(parse_jwk_or_set(bad.as_bytes(), None).is_err());
    let invalid_b = json!({"keys":[value(&a), {"kty":"EC","kid":"b"}]}).to_string();
    assert_eq!(
        parse_jwk_or_set(invalid_b.as_bytes(), Some("b"))
            .unwrap_err()
            .to_string(),
        "The JWK has no \"crv\" member, which is required for key type EC!"
    );
}

#[test]
fn document_level_refusals() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "The JWK is not valid: the document is empty"),
        (
            b"{nope".to_vec(),
            "The JWK is not valid: the document is not valid JSON (line 1, column 2)",
        ),
        (
            b"[1]".to_vec(),
            "The JWK is not valid: the document is not a JSON object (a JWK or a JWK Set)",
        ),
        (
            br#"{"keys":{}}"#.to_vec(),
            "The JWK is not valid: the \"keys\" member of the JWK Set is not an array",
        ),
        (
            br#"{"keys":[]}"#.to_vec(),
            "The JWK is not valid: the JWK Set holds no keys",
        ),
        (
            vec![b' '; MAX_JWK_INPUT + 1],
            "The JWK is not valid: the document is larger than 1 MiB",
        ),
    ];
    for (input, msg) in cases {
        assert_eq!(parse_jwk_or_set(&input, None).unwrap_err().to_string(), msg);
    }
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"kty":"oct","k":"AA","kid":i.to_string()}))
        .collect();
    assert_eq!(
        parse_jwk_or_set(json!({"keys": many}).to_string().as_bytes(), Some("1"))
            .unwrap_err()
            .to_string(),
        "The JWK is not valid: the JWK Set holds 101 keys, more than the accepted 100"
    );
    let deep = "[".repeat(10_000);
    assert!(parse_jwk_or_set(deep.as_bytes(), None).is_err());
}

#[test]
fn member_refusals_name_the_member() {
    let ec = private_jwk("p256.p8.pem");
    let rsa = private_jwk("rsa2048.p8.pem");
    let okp = private_jwk("ed25519.p8.pem");
    let x448 = private_jwk("x448.p8.pem");
    let short_x = b64::url(&decoded(&m(&ec, "x"))[1..]);
    let other_ec = crate::key::ec_from_scalar(EcCurve::P256, &[7; 32])
        .unwrap()
        .to_jwk();
    let other_d = m(&private_jwk("secp256k1.p8.pem"), "d").unwrap();
    let rsa_short = {
        let mut n = decoded(&m(&rsa, "n"));
        n.truncate(127);
        n[0] |= 0x80;
        b64::url(&n)
    };
    let mut bad_y = decoded(&m(&ec, "y"));
    bad_y[31] ^= 1;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"kty":"DSA"}),
            "The JWK key type (DSA) is not valid! Accepted values: RSA, EC, oct, OKP",
        ),
        (
            json!({"n":"AQAB"}),
            "The JWK is not valid: member \"kty\" is missing",
        ),
        (
            json!({"kty":5}),
            "The JWK is not valid: member \"kty\" must be a string",
        ),
        (
            with(&rsa, "n", Value::Null),
            "The JWK has no \"n\" member, which is required for key type RSA!",
        ),
        (
            with(&rsa, "e", json!("AQ AB")),
            "The JWK is not valid: member \"e\" is not valid base64url",
        ),
        (
            with(&rsa, "e", json!("AQAB+/")),
            "The JWK is not valid: member \"e\" is not valid base64url",
        ),
        (
            with(&rsa, "n", json!(rsa_short)),
            "The RSA key size (1016 bits) is not supported! Accepted values: 1024 to 16384 bits",
        ),
        (
            with(&rsa, "e", json!("Ag")),
            "The JWK is not valid: the RSA public exponent (e) must be at least 3 (RFC 8017 §3.1)",
        ),
        (
            with(&rsa, "e", json!("AQAA")),
            "The JWK is not valid: the RSA public exponent (e) must be odd (RFC 8017 §3.1)",
        ),
        (
            with(&rsa, "e", json!("AQ")),
            "The JWK is not valid: the RSA public exponent (e) must be at least 3 (RFC 8017 §3.1)",
        ),
        (
            with(&rsa, "e", json!("AAEAAQ")),
            "The JWK is not valid: member \"e\" must not start with a zero octet (RFC 7518 §6.3: minimal encoding)",
        ),
        (
            with(
                &rsa,
                "n",
                json!(format!("AA{}", &m(&rsa, "n").clone().unwrap()[2..])),
            ),
            "The JWK is not valid: member \"n\" must not start with a zero octet (RFC 7518 §6.3: minimal encoding)",
        ),
        (
            with(&rsa, "dp", Value::Null),
            "The JWK has no \"dp\" member, which is required for key type RSA!",
        ),
        (
            with(&rsa, "d", Value::Null),
            "The JWK has no \"d\" member, which is required for key type RSA!",
        ),
        (
            with(&rsa, "q", json!(m(&rsa, "p").clone())),
            "The JWK is not valid: the modulus n is not the product of the primes p and q",
        ),
        (
            with(&rsa, "oth", json!([])),
            "The JWK is not valid: multi-prime RSA keys (member \"oth\") are not supported",
        ),
        (
            with(&rsa, "d", json!("")),
            "The JWK is not valid: member \"d\" is empty",
        ),
        (
            with(&ec, "crv", Value::Null),
            "The JWK has no \"crv\" member, which is required for key type EC!",
        ),
        (
            with(&ec, "crv", json!("P-192")),
            "The elliptic curve P-192 is not supported! Accepted values: P-256, P-384, P-521, secp256k1",
        ),
        (
            with(&ec, "x", json!(short_x)),
            "The JWK is not valid: member \"x\" must be 32 bytes long for curve P-256, not 31 (RFC 7518 §6.2: left-padded to the field size)",
        ),
        (
            with(&ec, "d", json!(b64::url(&[1; 31]))),
            "The JWK is not valid: member \"d\" must be 32 bytes long for curve P-256, not 31 (RFC 7518 §6.2: left-padded to the field size)",
        ),
        (
            with(&ec, "y", json!(b64::url(&bad_y))),
            "The JWK is not valid: the point (x, y) is not on the P-256 curve",
        ),
        (
            with(&ec, "d", json!(m(&other_ec, "d").clone())),
            "The JWK is not valid: member \"d\" does not belong to the public key (x, y)",
        ),
        (
            with(&ec, "d", json!(other_d)),
            "The JWK is not valid: member \"d\" does not belong to the public key (x, y)",
        ),
        (
            with(&ec, "d", json!(b64::url(&[0xff; 32]))),
            "The JWK is not valid: member \"d\" is zero or not below the order of the P-256 curve",
        ),
        (
            with(&okp, "crv", json!("Ed25518")),
            "The JWK is not valid: member \"crv\" (Ed25518) is not valid for key type OKP! Accepted values: Ed25519, Ed448, X25519, X448",
        ),
        (
            with(&okp, "x", json!(b64::url(&[1; 31]))),
            "The JWK is not valid: member \"x\" must be 32 bytes long for curve Ed25519, not 31",
        ),
        (
            with(&x448, "d", json!(b64::url(&[1; 57]))),
            "The JWK is not valid: member \"d\" must be 56 bytes long for curve X448, not 57",
        ),
        (
            with(
                &okp,
                "x",
                // RFC 8037 A.1's public key: a valid point, of another private key.
                json!("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            ),
            "The JWK is not valid: member \"d\" does not belong to the public key x",
        ),
        (
            json!({"kty":"oct","k":""}),
            "The JWK is not valid: member \"k\" must not be empty",
        ),
        (
            json!({"kty":"oct"}),
            "The JWK has no \"k\" member, which is required for key type oct!",
        ),
        (
            with(&ec, "use", json!("signature")),
            "The JWK is not valid: member \"use\" (signature) is not valid! Accepted values: sig, enc",
        ),
        (
            with(&ec, "alg", json!("ES384")),
            "algorithm (ES384) is not valid for an EC key on curve P-256 with useType SIGNATURE! Accepted values: ES256",
        ),
        (with(&ec, "alg", json!("XX1")), "algorithm (XX1)"),
        (
            with(&okp, "use", json!("enc")),
            "useType ENCRYPTION is not valid for an OKP key on curve Ed25519! Accepted values: SIGNATURE",
        ),
        (
            with(&okp, "alg", json!("Ed448")),
            "The JWK is not valid: member \"alg\" (Ed448) is not valid for an OKP key on curve Ed25519",
        ),
        (
            with(&ec, "x5t", json!("AAAA")),
            "The JWK is not valid: member \"x5t\" must be the base64url of a 20-byte digest",
        ),
        (
            with(&ec, "x5c", json!(["!!"])),
            "The JWK is not valid: member \"x5c\" must hold standard base64 DER certificates",
        ),
        (
            with(&ec, "key_ops", json!("sign")),
            "The JWK is not valid: member \"key_ops\" must be an array of strings",
        ),
    ];
    for (input, msg) in cases {
        let got = message(&input);
        assert!(got.starts_with(msg), "{input}\n got: {got}\nwant: {msg}");
    }
}

/// Issue #13: hostile keys that used to be accepted.
#[test]
fn hostile_keys_are_refused() {
    let rsa = private_jwk("rsa2048.p8.pem");
    let public_rsa = rsa.public_only().unwrap();
    let even_n = {
        let mut n = decoded(&m(&rsa, "n"));
        if let Some(last) = n.last_mut() {
            *last &= 0xfe;
        }
        b64::url(&n)
    };
    let mut huge_e = vec![1u8];
    huge_e.extend([0u8; 32]);
    huge_e.push(1);
    let d_only = |d: Option<String>| {
        let mut v = value(&rsa);
        let o = v.as_object_mut().unwrap();
        for m in ["p", "q", "dp", "dq", "qi"] {
            o.remove(m);
        }
        o.insert("d".into(), json!(d));
        v
    };
    // d alone is a complete private key (RFC 7518 §6.3.2.1) when it inverts e.
    let alone = parse(&d_only(m(&rsa, "d").clone())).unwrap();
    assert_eq!(
        (m(&alone, "d").clone(), m(&alone, "p").clone()),
        (m(&rsa, "d").clone(), None)
    );
    let wrong_d = {
        let mut d = decoded(&m(&rsa, "d"));
        d[10] ^= 0x40;
        b64::url(&d)
    };
    let zeros = |n: usize| json!(b64::url(&vec![0u8; n]));
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let cases: Vec<(Value, &str)> = vec![
        (
            with(&public_rsa, "n", json!(even_n)),
            "The JWK is not valid: the RSA modulus (n) is even",
        ),
        (
            with(&public_rsa, "e", json!(b64::url(&huge_e))),
            "The JWK is not valid: the RSA public exponent (e) has 265 bits; it must be below 2^256 (FIPS 186-5 §A.1.1)",
        ),
        (
            d_only(Some(wrong_d)),
            "The JWK is not valid: the private exponent (d) does not belong to the public key (n, e)",
        ),
        (
            with(&rsa, "qi", Value::Null),
            "The JWK has no \"qi\" member, which is required for key type RSA!",
        ),
        (
            json!({"kty":"OKP","crv":"X25519","x":zeros(32)}),
            "The JWK is not valid: the X25519 public key (x) is a point of small order",
        ),
        (
            json!({"kty":"OKP","crv":"X448","x":zeros(56)}),
            "The JWK is not valid: the X448 public key (x) is a point of small order",
        ),
        (
            json!({"kty":"OKP","crv":"Ed25519","x":b64::url(&identity)}),
            "The JWK is not valid: the Ed25519 public key (x) is a point of small order",
        ),
        (
            json!({"kty":"OKP","crv":"X25519","d":zeros(32),
                "x":b64::url(&crate::key::okp_public_of(OkpCurve::X25519, &[0; 32]).unwrap())}),
            "The JWK is not valid: the X25519 private key (d) is all zero",
        ),
    ];
    for (input, msg) in cases {
        let got = message(&input);
        assert!(got.starts_with(msg), "{input}\n got: {got}\nwant: {msg}");
    }
}

/// RFC 7517 §4: member names must be unique, at any depth of the document.
#[test]
fn duplicate_members_are_refused() {
    let ec = value(&private_jwk("p256.spki.pem")).to_string();
    let twice = ec.replacen("{", "{\"kty\":\"EC\",", 1);
    let err = parse_jwk_or_set(twice.as_bytes(), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "The JWK is not valid: member \"kty\" is given more than once (line 1, column"
        ),
        "{err}"
    );
    let in_set = format!("{{\"keys\":[{twice}]}}");
    assert!(
        parse_jwk_or_set(in_set.as_bytes(), None)
            .unwrap_err()
            .to_string()
            .contains("member \"kty\" is given more than once")
    );
    let keys_twice = format!("{{\"keys\":[{ec}],\"keys\":[]}}");
    assert!(
        parse_jwk_or_set(keys_twice.as_bytes(), None)
            .unwrap_err()
            .to_string()
            .contains("member \"keys\" is given more than once")
    );
    // A repeated member in an unused key of the set refuses the document too.
    let other = format!("{{\"keys\":[{ec},{{\"kid\":\"a\",\"kid\":\"b\"}}]}}");
    assert!(parse_jwk_or_set(other.as_bytes(), Some("x")).is_err());
}

fn decoded(s: &Option<String>) -> Vec<u8> {
    b64::decode_url(s.as_deref().unwrap()).unwrap()
}

#[test]
fn normalisation_and_kept_members() {
    let ec = private_jwk("p256.p8.pem");
    let mut v = value(&ec);
    // padded base64url is tolerated and re-encoded without padding
    let padded = format!("{}=", m(&ec, "x").clone().unwrap());
    let mut raw = decoded(&m(&ec, "x"));
    raw.truncate(31);
    v["x"] = json!(padded);
    v["kid"] = json!("k-1");
    v["use"] = json!("sig");
    v["alg"] = json!("ES256");
    v["n"] = json!("stray member of another kty");
    v["ext"] = json!(true);
    let jwk = parse(&v).unwrap();
    assert_eq!(m(&jwk, "x"), m(&ec, "x"));
    assert_eq!(m(&jwk, "n"), None);
    assert_eq!(jwk.kid.as_deref(), Some("k-1"));
    assert_eq!(jwk.alg.as_deref(), Some("ES256"));
    // RFC 9864 fully-specified EdDSA, and the enum spelling of the API
    let ed = Jwk {
        alg: Some("Ed25519".into()),
        ..private_jwk("ed25519.p8.pem")
    };
    assert_eq!(parse(&value(&ed)).unwrap(), ed);
    let rsa = Jwk {
        alg: Some("RSA_OAEP_256".into()),
        ..private_jwk("rsa2048.spki.pem")
    };
    assert_eq!(
        parse(&value(&rsa)).unwrap().alg.as_deref(),
        Some("RSA_OAEP_256")
    );
    // oct keys with any use
    let oct = json!({"kty":"oct","k":"c2VjcmV0","alg":"A128KW"});
    assert!(parse(&oct).is_ok());
    assert!(parse(&json!({"kty":"oct","k":"c2VjcmV0","alg":"ES256"})).is_err());
    // RSA with d only
    let mut d_only = value(&private_jwk("rsa2048.p8.pem"));
    for m in ["p", "q", "dp", "dq", "qi"] {
        d_only.as_object_mut().unwrap().remove(m);
    }
    assert!(m(&parse(&d_only).unwrap(), "d").is_some());
}

#[test]
fn random_json_never_panics() {
    let ec = value(&private_jwk("p256.p8.pem")).to_string();
    let bytes = ec.as_bytes();
    for end in 0..=bytes.len() {
        let _ = parse_jwk_or_set(&bytes[..end], None);
    }
    for i in 0..bytes.len() {
        let mut flipped = bytes.to_vec();
        flipped[i] ^= 0x01;
        let _ = parse_jwk_or_set(&flipped, Some("x"));
    }
}
