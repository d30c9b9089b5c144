use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::*;
use crate::test_support::{fixture, m};

const PW: &[u8] = b"keyward-pw";

#[derive(Debug, Clone)]
struct Entry {
    file: String,
    format: String,
    password: bool,
    kty: String,
    crv: Option<String>,
    private: bool,
    key: String,
}

fn manifest() -> Vec<Entry> {
    let v: serde_json::Value = serde_json::from_slice(&fixture("keys/manifest.json")).unwrap();
    assert_eq!(v["password"], "keyward-pw");
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| Entry {
            file: f["file"].as_str().unwrap().to_owned(),
            format: f["format"].as_str().unwrap().to_owned(),
            password: f["password"].is_string(),
            kty: f["kty"].as_str().unwrap().to_owned(),
            crv: f["crv"].as_str().map(str::to_owned),
            private: f["private"].as_bool().unwrap(),
            key: f["key"].as_str().unwrap().to_owned(),
        })
        .collect()
}

fn key_file(name: &str) -> Vec<u8> {
    fixture(&format!("keys/{name}"))
}

fn parse(name: &str) -> KeyMaterial {
    parse_key(&key_file(name), Some(PW)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn private(name: &str) -> PrivateKey {
    match parse(name) {
        KeyMaterial::Private(k) => k,
        other => panic!("{name}: {other:?}"),
    }
}

fn decoded(s: &Option<String>) -> Vec<u8> {
    b64::decode_url(s.as_deref().unwrap()).unwrap()
}

/// DER TLV with a definite length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

#[test]
fn every_manifest_file_is_read_with_its_type() {
    let entries = manifest();
    assert!(entries.len() >= 40);
    for e in &entries {
        let key = parse(&e.file);
        let desc = key.descriptor();
        assert_eq!(desc.kty.jose(), e.kty, "{}", e.file);
        let crv = desc
            .ec_curve
            .map(|c| c.jose())
            .or(desc.okp_curve.map(|c| c.jose()));
        assert_eq!(crv.map(str::to_owned), e.crv, "{}", e.file);
        assert_eq!(key.is_private(), e.private, "{}", e.file);
        assert!(!e.format.is_empty());
    }
}

#[test]
fn every_encoding_of_one_key_gives_the_same_key() {
    let mut groups: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for e in manifest() {
        groups.entry(e.key.clone()).or_default().push(e);
    }
    for (name, entries) in groups {
        let reference = entries
            .iter()
            .find(|e| e.private)
            .map(|e| private(&e.file))
            .unwrap_or_else(|| panic!("{name} has no private file"));
        for e in &entries {
            match parse(&e.file) {
                KeyMaterial::Private(k) => assert_eq!(k, reference, "{}", e.file),
                KeyMaterial::Public(p) => assert_eq!(p, reference.public_key(), "{}", e.file),
            }
        }
    }
}

#[test]
fn encrypted_files_need_the_right_password() {
    for e in manifest().iter().filter(|e| e.password) {
        let bytes = key_file(&e.file);
        for none in [None, Some(&b""[..])] {
            assert_eq!(
                parse_key(&bytes, none).unwrap_err(),
                Error::PasswordRequired,
                "{}",
                e.file
            );
        }
        for wrong in [&b"keyward-pX"[..], b"x", b"keyward-pw "] {
            assert_eq!(
                parse_key(&bytes, Some(wrong)).unwrap_err(),
                Error::WrongPassword,
                "{}",
                e.file
            );
        }
    }
    assert_eq!(
        Error::PasswordRequired.to_string(),
        "password value can not be empty! The private key is encrypted."
    );
    assert_eq!(
        Error::WrongPassword.to_string(),
        "The password is wrong: the encrypted private key could not be decrypted with it!"
    );
    // a password given for a plain key is ignored
    assert!(parse_key(&key_file("p256.p8.pem"), Some(b"whatever")).is_ok());
}

/// Re-encode an `EncryptedPrivateKeyInfo` with a changed PBES2 KDF.
fn with_kdf(file: &str, change: impl FnOnce(&mut pkcs5::pbes2::Kdf)) -> Vec<u8> {
    let raw = key_file(file);
    let der = crate::pem::scan(&raw).unwrap().remove(0).der;
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der).unwrap();
    let mut scheme = info.encryption_algorithm.clone();
    let pkcs5::EncryptionScheme::Pbes2(params) = &mut scheme else {
        panic!()
    };
    change(&mut params.kdf);
    pkcs8::EncryptedPrivateKeyInfoRef {
        encryption_algorithm: scheme,
        encrypted_data: info.encrypted_data,
    }
    .to_der()
    .unwrap()
}

#[test]
fn huge_kdf_work_is_refused_before_any_work() {
    let started = Instant::now();
    let pbkdf2 = with_kdf("rsa2048.p8-pbes2-aes256.pem", |kdf| {
        let pkcs5::pbes2::Kdf::Pbkdf2(p) = kdf else {
            panic!()
        };
        p.iteration_count = 1 << 31;
    });
    assert_eq!(
        parse_key(&pbkdf2, Some(PW)).unwrap_err().to_string(),
        "The encrypted private key asks for PBKDF2 iterations 2147483648, more than the accepted maximum of 10000000! Re-encrypt it with cheaper parameters."
    );
    for (what, change) in [
        ("scrypt cost N 2097152", 0),
        ("scrypt block size r 9", 1),
        ("scrypt parallelisation p 17", 2),
        // Each parameter within its bound, the products not (the fuzz target's slow-KDF probe).
        ("scrypt memory N·r 8388608", 3),
        ("scrypt work N·r·p 8388608", 4),
    ] {
        let der = with_kdf("p256.p8-scrypt.pem", |kdf| {
            let pkcs5::pbes2::Kdf::Scrypt(s) = kdf else {
                panic!()
            };
            match change {
                0 => s.cost_parameter = 1 << 21,
                1 => s.block_size = 9,
                2 => s.parallelization = 17,
                3 => {
                    s.cost_parameter = 1 << 20;
                    s.block_size = 8;
                }
                _ => {
                    s.cost_parameter = 1 << 16;
                    s.block_size = 8;
                    s.parallelization = 16;
                }
            }
        });
        let msg = parse_key(&der, Some(PW)).unwrap_err().to_string();
        assert!(msg.contains(what), "{msg}");
    }
    // PKCS#12 PBE: SEQUENCE { SEQUENCE { OID, SEQUENCE { salt, 2^31 - 1 } }, OCTET STRING }
    let oid = tlv(
        0x06,
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x03],
    );
    let params = tlv(
        0x30,
        &[tlv(0x04, &[1; 8]), tlv(0x02, &[0x7f, 0xff, 0xff, 0xff])].concat(),
    );
    let crafted = tlv(
        0x30,
        &[tlv(0x30, &[oid, params].concat()), tlv(0x04, &[0; 16])].concat(),
    );
    assert_eq!(
        parse_key(&crafted, Some(PW)).unwrap_err(),
        Error::KdfTooExpensive {
            what: "PKCS#12 KDF iterations",
            value: 0x7fff_ffff,
            max: MAX_PKCS12_ITERATIONS
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // a modest count still works
    let fine = with_kdf("rsa2048.p8-pbes2-aes256.pem", |_| {});
    assert!(parse_key(&fine, Some(PW)).is_ok());
}

#[test]
fn unsupported_encryptions_are_named() {
    // pbeWithSHAAnd40BitRC2-CBC
    let oid = tlv(
        0x06,
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x06],
    );
    let params = tlv(0x30, &[tlv(0x04, &[1; 8]), tlv(0x02, &[8])].concat());
    let crafted = tlv(
        0x30,
        &[tlv(0x30, &[oid, params].concat()), tlv(0x04, &[0; 16])].concat(),
    );
    assert_eq!(
        parse_key(&crafted, Some(PW)).unwrap_err().to_string(),
        "The private key encryption pbeWithSHAAnd40BitRC2-CBC (OID 1.2.840.113549.1.12.1.6) is not supported! Accepted values: PBES2 (PBKDF2 or scrypt, with AES-CBC or DES-EDE3-CBC), pbeWithSHAAnd3-KeyTripleDES-CBC, and OpenSSL legacy PEM encryption (AES-128-CBC, AES-192-CBC, AES-256-CBC, DES-EDE3-CBC)"
    );
    // legacy PEM with DES-CBC
    let pem = String::from_utf8(key_file("rsa2048.pkcs1-legacy-des3.pem")).unwrap();
    let des = pem.replace("DES-EDE3-CBC", "DES-CBC");
    assert!(matches!(
        parse_key(des.as_bytes(), Some(PW)).unwrap_err(),
        Error::UnsupportedKeyEncryption { algorithm } if algorithm == "DES-CBC (legacy PEM DEK-Info)"
    ));
    // headers that are not Proc-Type 4,ENCRYPTED
    let odd = pem.replace("Proc-Type: 4,ENCRYPTED", "Comment: hello");
    assert_eq!(
        parse_key(odd.as_bytes(), Some(PW)).unwrap_err(),
        Error::PemHeaders {
            label: "RSA PRIVATE KEY".into()
        }
    );
    // bad IV
    let iv = pem.lines().find(|l| l.starts_with("DEK-Info")).unwrap();
    let short = pem.replace(iv, "DEK-Info: DES-EDE3-CBC,0011");
    assert_eq!(
        parse_key(short.as_bytes(), Some(PW))
            .unwrap_err()
            .to_string(),
        "The private key is not valid: the DEK-Info header does not hold a valid IV"
    );
}

#[test]
fn legacy_pem_blocks_in_bundles() {
    // certificate first, then the encrypted traditional key: the right block is decrypted
    let mut bundle = key_file("rsa2048.cert.pem");
    bundle.extend_from_slice(b"some text\n");
    bundle.extend_from_slice(&key_file("rsa2048.pkcs1-legacy-aes128.pem"));
    let key = parse_key(&bundle, Some(PW)).unwrap();
    assert_eq!(
        key,
        KeyMaterial::Private(private("rsa2048.p8.pem")),
        "private key wins over the certificate"
    );
    // CRLF line ends
    let crlf = String::from_utf8(key_file("p256.sec1-legacy-aes256.pem"))
        .unwrap()
        .replace('\n', "\r\n");
    assert_eq!(
        parse_key(crlf.as_bytes(), Some(PW)).unwrap(),
        KeyMaterial::Private(private("p256.p8.pem"))
    );
}

#[test]
fn detection_of_encodings() {
    let reference = KeyMaterial::Private(private("rsa2048.p8.pem"));
    // base64 of the PEM text (the API's `content`)
    let pem_b64 = b64::standard(&key_file("rsa2048.pkcs1.pem"));
    assert_eq!(parse_key(pem_b64.as_bytes(), None).unwrap(), reference);
    // base64 of the encrypted DER
    let enc_b64 = b64::standard(&key_file("rsa2048.p8-pbes2-aes256.der"));
    assert_eq!(parse_key(enc_b64.as_bytes(), Some(PW)).unwrap(), reference);
    // certificate DER → public key
    let cert_der = crate::pem::scan(&key_file("rsa2048.cert.pem"))
        .unwrap()
        .remove(0)
        .der;
    assert_eq!(
        parse_key(&cert_der, None).unwrap(),
        KeyMaterial::Public(private("rsa2048.p8.pem").public_key())
    );
    // a chain of certificates → the leaf's key
    let chain = parse_key(&fixture("chain-root-first.pem"), None).unwrap();
    let leaf = parse_key(&fixture("chain-leaf.pem"), None).unwrap();
    assert_eq!(chain, leaf);
    assert_eq!(
        parse_key(&fixture("chain-leaf.key"), None)
            .unwrap()
            .public_key(),
        leaf.public_key()
    );
}

#[test]
fn refusals_name_the_problem() {
    assert_eq!(parse_key(b" \n\t", None).unwrap_err(), Error::KeyEmpty);
    assert_eq!(
        parse_key(b"hello world", None).unwrap_err().to_string(),
        "The key content is not a supported key: it is neither PEM (-----BEGIN ...-----), nor DER, nor base64 of either"
    );
    assert_eq!(
        parse_key(&[0x30, 0x03, 0x02, 0x01, 0x05], None)
            .unwrap_err()
            .to_string(),
        "The key content is not a supported key: the DER data is not a PKCS#8, PKCS#1, SEC 1, SubjectPublicKeyInfo or certificate structure"
    );
    let openssh = b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    assert_eq!(
        parse_key(openssh, None).unwrap_err().to_string(),
        "The PEM block \"OPENSSH PRIVATE KEY\" is not supported for keys! Accepted values: PRIVATE KEY, ENCRYPTED PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY, PUBLIC KEY, RSA PUBLIC KEY, CERTIFICATE"
    );
    let mut two = key_file("p256.p8.pem");
    two.extend_from_slice(&key_file("p384.p8.pem"));
    assert_eq!(
        parse_key(&two, None).unwrap_err().to_string(),
        "The key content holds 2 private keys: upload exactly one key!"
    );
    let mut two_public = key_file("p256.spki.pem");
    two_public.extend_from_slice(&key_file("rsa2048.pkcs1-public.pem"));
    assert_eq!(
        parse_key(&two_public, None).unwrap_err(),
        Error::SeveralKeys {
            count: 2,
            what: "public keys"
        }
    );
    assert!(parse_key(&vec![b'A'; MAX_KEY_INPUT + 1], None).is_err());
    // DSA PKCS#8 (OID 1.2.840.10040.4.1)
    let dsa = pkcs8::PrivateKeyInfoRef::new(
        spki::AlgorithmIdentifierRef {
            oid: der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10040.4.1"),
            parameters: None,
        },
        OctetStringRef::new(&[2, 1, 5]).unwrap(),
    )
    .to_der()
    .unwrap();
    assert_eq!(
        parse_key(&dsa, None).unwrap_err().to_string(),
        "The public key algorithm DSA (OID 1.2.840.10040.4.1) is not supported! Accepted values: RSA, EC (P-256, P-384, P-521, secp256k1), Ed25519, Ed448, X25519, X448"
    );
}

#[test]
fn mismatched_public_and_private_keys_are_refused() {
    let mismatch = "The private key is not valid: the public key stored in the file does not belong to the private key";
    // SEC 1 with the public point of another P-256 key
    let der = crate::pem::scan(&key_file("p256.sec1.pem"))
        .unwrap()
        .remove(0)
        .der;
    let sec1 = sec1::EcPrivateKey::from_der(&der).unwrap();
    let PrivateKey::Ec { x, y, .. } = ec_from_scalar(EcCurve::P256, &[7; 32]).unwrap() else {
        panic!()
    };
    let other = [&[4u8][..], &x, &y].concat();
    let crafted = sec1::EcPrivateKey {
        public_key: Some(&other),
        ..sec1.clone()
    }
    .to_der()
    .unwrap();
    assert_eq!(parse_key(&crafted, None).unwrap_err().to_string(), mismatch);
    // the same key with its own point re-encoded compressed is fine
    let own = sec1.public_key.unwrap();
    let mut compressed = vec![2 + (own[64] & 1)];
    compressed.extend_from_slice(&own[1..33]);
    let ok = sec1::EcPrivateKey {
        public_key: Some(&compressed),
        ..sec1.clone()
    }
    .to_der()
    .unwrap();
    assert_eq!(parse_key(&ok, None).unwrap(), parse("p256.sec1.pem"));
    // SEC 1 naming another curve than the PKCS#8 wrapper
    let p8 = crate::pem::scan(&key_file("p256.p8.pem"))
        .unwrap()
        .remove(0)
        .der;
    let info = pkcs8::PrivateKeyInfoRef::from_der(&p8).unwrap();
    let inner = sec1::EcPrivateKey {
        parameters: Some(sec1::EcParameters::NamedCurve(
            der::asn1::ObjectIdentifier::new_unwrap("1.3.132.0.34"),
        )),
        ..sec1::EcPrivateKey::from_der(info.private_key.as_bytes()).unwrap()
    }
    .to_der()
    .unwrap();
    let wrapped =
        pkcs8::PrivateKeyInfoRef::new(info.algorithm, OctetStringRef::new(&inner).unwrap())
            .to_der()
            .unwrap();
    assert_eq!(
        parse_key(&wrapped, None).unwrap_err().to_string(),
        "The private key is not valid: the PKCS#8 algorithm names curve P-256 but the EC key names curve P-384"
    );
    // PKCS#8 v2 (OneAsymmetricKey) Ed25519 with its public key: right and wrong
    let ed = crate::pem::scan(&key_file("ed25519.p8.pem"))
        .unwrap()
        .remove(0)
        .der;
    let info = pkcs8::PrivateKeyInfoRef::from_der(&ed).unwrap();
    let PrivateKey::Okp { x, .. } = private("ed25519.p8.pem") else {
        panic!()
    };
    let mut wrong = x.clone();
    wrong[0] ^= 1;
    for (public, ok) in [(&x, true), (&wrong, false)] {
        let v2 = pkcs8::PrivateKeyInfoRef {
            public_key: Some(BitStringRef::from_bytes(public).unwrap()),
            ..info.clone()
        }
        .to_der()
        .unwrap();
        match parse_key(&v2, None) {
            Ok(k) => assert!(ok && k == KeyMaterial::Private(private("ed25519.p8.pem"))),
            Err(e) => assert!(!ok && e.to_string() == mismatch, "{e}"),
        }
    }
    // an Ed25519 private key of the wrong length
    let short = pkcs8::PrivateKeyInfoRef::new(
        info.algorithm,
        OctetStringRef::new(&OctetStringRef::new(&[1; 31]).unwrap().to_der().unwrap()).unwrap(),
    )
    .to_der()
    .unwrap();
    assert_eq!(
        parse_key(&short, None).unwrap_err().to_string(),
        "The private key is not valid: an Ed25519 private key must be 32 bytes long, not 31"
    );
}

fn pkcs1_der(file: &str) -> Vec<u8> {
    crate::pem::scan(&key_file(file)).unwrap().remove(0).der
}

#[test]
fn rsa_consistency_and_missing_crt_values() {
    let der = pkcs1_der("rsa2048.pkcs1.pem");
    let key = pkcs1::RsaPrivateKeyRef::from_der(&der).unwrap();
    let zero = UintRef::new(&[0]).unwrap();
    let no_crt = pkcs1::RsaPrivateKeyRef {
        exponent1: zero,
        exponent2: zero,
        coefficient: zero,
        ..key.clone()
    }
    .to_der()
    .unwrap();
    assert_eq!(
        parse_key(&no_crt, None).unwrap(),
        KeyMaterial::Private(private("rsa2048.p8.pem")),
        "CRT values are computed"
    );
    let swapped = pkcs1::RsaPrivateKeyRef {
        prime2: key.exponent1,
        ..key.clone()
    }
    .to_der()
    .unwrap();
    assert_eq!(
        parse_key(&swapped, None).unwrap_err().to_string(),
        "The private key is not valid: the modulus n is not the product of the primes p and q"
    );
    let bad_dp = pkcs1::RsaPrivateKeyRef {
        exponent1: key.exponent2,
        ..key.clone()
    }
    .to_der()
    .unwrap();
    assert_eq!(
        parse_key(&bad_dp, None).unwrap_err().to_string(),
        "The private key is not valid: dp is not d mod (p - 1)"
    );
}

#[test]
fn private_jwks_have_the_rfc_member_sizes() {
    let cases = [
        ("rsa2048.p8.pem", Algorithm::RS256, 0),
        ("rsapss2048.p8.pem", Algorithm::PS256, 0),
        ("p256.p8.pem", Algorithm::ES256, 32),
        ("p384.sec1.pem", Algorithm::ES384, 48),
        ("p521.p8.pem", Algorithm::ES512, 66),
        ("secp256k1.sec1.pem", Algorithm::ES256K, 32),
        ("ed25519.p8.pem", Algorithm::EdDSA, 32),
        ("ed448.p8.pem", Algorithm::EdDSA, 57),
        ("x25519.p8.pem", Algorithm::ECDH_ES, 32),
        ("x448.p8.pem", Algorithm::ECDH_ES_A128KW, 56),
    ];
    for (file, alg, d_len) in cases {
        let key = parse(file);
        let jwk = jwk_from_key(&key, alg.key_use(), alg, None).unwrap();
        assert_eq!(jwk.alg.as_deref(), Some(alg.jose_name()));
        assert_eq!(jwk.key_use.as_deref(), Some(alg.key_use().jose()));
        // kid = thumbprint of the public members only
        let public = Jwk::from_public_key(&key.public_key());
        assert_eq!(jwk.kid, Some(public.thumbprint_sha256()), "{file}");
        assert_eq!(jwk.public_only().unwrap().kid, jwk.kid);
        let json = serde_json::to_string(&jwk).unwrap();
        assert!(!json.contains('='), "{file}: unpadded");
        if d_len == 0 {
            for m in [
                &m(&jwk, "d"),
                &m(&jwk, "p"),
                &m(&jwk, "q"),
                &m(&jwk, "dp"),
                &m(&jwk, "dq"),
                &m(&jwk, "qi"),
                &m(&jwk, "n"),
                &m(&jwk, "e"),
            ] {
                let v = decoded(m);
                assert_ne!(v[0], 0, "{file}: minimal");
            }
            assert_eq!(decoded(&m(&jwk, "n")).len(), 256);
        } else {
            assert_eq!(decoded(&m(&jwk, "d")).len(), d_len, "{file}");
        }
        // the private JWK is accepted by the JWK validator as it is
        let back = crate::jwk_json::parse_jwk_or_set(json.as_bytes(), None).unwrap();
        assert_eq!(back, jwk, "{file}");
        // public material only
        let pub_jwk = jwk_from_key(
            &KeyMaterial::Public(key.public_key()),
            alg.key_use(),
            alg,
            Some("given"),
        )
        .unwrap();
        assert_eq!(pub_jwk.kid.as_deref(), Some("given"));
        assert_eq!(m(&pub_jwk, "d"), None);
        assert_eq!(
            pub_jwk,
            Jwk {
                kid: Some("given".into()),
                ..jwk.public_only().unwrap()
            }
        );
    }
    assert_eq!(
        jwk_from_key(
            &parse("ed25519.p8.pem"),
            KeyUse::Encryption,
            Algorithm::ECDH_ES,
            None
        )
        .unwrap_err()
        .to_string(),
        "useType ENCRYPTION is not valid for an OKP key on curve Ed25519! Accepted values: SIGNATURE"
    );
    assert!(
        jwk_from_key(
            &parse("p256.p8.pem"),
            KeyUse::Signature,
            Algorithm::ES384,
            None
        )
        .is_err()
    );
}

#[test]
fn rfc8037_ed25519_private_key_derives_its_public_key() {
    // RFC 8037 Appendix A.1
    let d = b64::decode_url("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A").unwrap();
    let key = okp_from_raw(OkpCurve::Ed25519, &d).unwrap();
    let expected: Jwk = serde_json::from_slice(&fixture("rfc/rfc8037-appendix-a.json")).unwrap();
    assert_eq!(m(&key.to_jwk(), "x"), m(&expected, "x"));
}

#[test]
fn pkcs8_round_trip_of_every_private_key() {
    for e in manifest().iter().filter(|e| e.private) {
        let key = private(&e.file);
        let der = key.to_pkcs8_der().unwrap();
        assert_eq!(private_key_from_pkcs8_der(&der).unwrap(), key, "{}", e.file);
        assert_eq!(
            parse_key(&der, None).unwrap(),
            KeyMaterial::Private(key.clone())
        );
        assert!(!format!("{key:?}").contains(&format!("{:?}", &m(&key.to_jwk(), "d"))));
    }
    assert_eq!(
        format!("{:?}", private("p256.p8.pem")),
        "PrivateKey::Ec { curve: P256, .. }"
    );
}

/// Every entry point; only panics matter.
fn exercise(input: &[u8], password: Option<&[u8]>) {
    let _ = parse_key(input, password);
    let _ = private_key_from_pkcs8_der(input);
    let _ = rsa_from_pkcs1_der(input);
    let _ = ec_from_sec1_der(input, None);
    let _ = decrypt::decrypt_pkcs8(input, password);
}

fn der_of(file: &str) -> Vec<u8> {
    let raw = key_file(file);
    match crate::pem::scan(&raw) {
        Ok(blocks) if !blocks.is_empty() => blocks.last().unwrap().der.clone(),
        _ => raw,
    }
}

#[test]
fn every_prefix_of_every_key_fixture() {
    for e in manifest() {
        let raw = key_file(&e.file);
        // text prefixes: cheap paths (no password, so no KDF runs)
        for end in (0..=raw.len()).step_by(3) {
            exercise(&raw[..end], None);
        }
        let der = der_of(&e.file);
        for end in 0..=der.len() {
            exercise(&der[..end], None);
        }
    }
}

#[test]
fn bit_flips_of_every_key_fixture() {
    for e in manifest() {
        let der = der_of(&e.file);
        // with the password only where a KDF run is cheap (not scrypt)
        let password = (e.password && !e.format.contains("scrypt")).then_some(PW);
        let positions = (0..der.len().min(48)).chain((48..der.len()).step_by(23));
        for i in positions {
            for bit in [0, 3, 7] {
                let mut flipped = der.clone();
                flipped[i] ^= 1 << bit;
                exercise(&flipped, password);
                if e.password && i < 8 {
                    exercise(&flipped, None);
                }
            }
        }
    }
}

#[test]
fn legacy_header_text_never_panics() {
    let pem = String::from_utf8(key_file("rsa2048.pkcs1-legacy-aes256.pem")).unwrap();
    let head: String = pem.lines().take(4).collect::<Vec<_>>().join("\n");
    for end in 0..=head.len() {
        let mut text = head[..end].to_owned();
        text.push_str("\nAAAA\n-----END RSA PRIVATE KEY-----\n");
        let _ = parse_key(text.as_bytes(), Some(PW));
        let _ = parse_key(text.as_bytes(), None);
    }
    for junk in [
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,zz\n\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN RSA PRIVATE KEY-----\n:\n-----END RSA PRIVATE KEY-----\n",
        "-----BEGIN PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899aabbccddeeff\n\nAAAA\n-----END PRIVATE KEY-----\n",
    ] {
        assert!(parse_key(junk.as_bytes(), Some(PW)).is_err());
    }
}
