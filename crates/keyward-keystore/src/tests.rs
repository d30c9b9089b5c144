//! Tests against the fixtures of `fixtures/keystores/` (made by `fixtures/generate-keystores.sh`
//! with openssl 3 and keytool 17; see its manifest.json), plus no-panic tests.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::{Entry, Error, Keystore, KeystoreType, Limits, detect, open};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/keystores")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn manifest() -> Vec<Json> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    let v: Json = serde_json::from_str(&text).unwrap();
    v["files"].as_array().unwrap().clone()
}

fn declared(t: &str) -> KeystoreType {
    match t {
        "PKCS12" => KeystoreType::Pkcs12,
        // JCEKS is not an API name: the API declares such files as JKS.
        "JKS" | "JCEKS" => KeystoreType::Jks,
        other => panic!("type {other}"),
    }
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn open_fixture(f: &Json) -> Result<Keystore, Error> {
    let bytes = fixture(f["file"].as_str().unwrap());
    let kp = f["keyPassword"].as_str().unwrap();
    open(
        &bytes,
        declared(f["type"].as_str().unwrap()),
        f["storePassword"].as_str().unwrap().as_bytes(),
        (!kp.is_empty()).then_some(kp.as_bytes()),
        &Limits::default(),
    )
}

fn cn(der: &[u8]) -> String {
    let (_, c) = X509Certificate::from_der(der).unwrap();
    c.subject()
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn every_fixture_opens_and_matches_the_manifest() {
    let mut checked_keys = 0;
    for f in manifest() {
        let file = f["file"].as_str().unwrap();
        if file == "bigiter.p12" {
            continue;
        }
        let ks = open_fixture(&f).unwrap_or_else(|e| panic!("{file}: {e}"));
        let expected: Vec<&str> = f["aliases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["alias"].as_str().unwrap())
            .collect();
        let mut got = ks.aliases();
        got.sort_unstable();
        let mut want = expected.clone();
        want.sort_unstable();
        assert_eq!(got, want, "{file}: aliases");
        for a in f["aliases"].as_array().unwrap() {
            let alias = a["alias"].as_str().unwrap();
            let entry = ks.entry(alias).unwrap();
            match (a["holds"].as_str().unwrap(), entry) {
                (
                    "privateKey",
                    Entry::PrivateKey {
                        pkcs8_der,
                        chain_der,
                        ..
                    },
                ) => {
                    assert_eq!(
                        sha256_hex(pkcs8_der),
                        a["pkcs8Sha256"].as_str().unwrap(),
                        "{file}/{alias}: PKCS#8 differs from OpenSSL's"
                    );
                    assert_eq!(
                        chain_der.len() as u64,
                        a["chainLength"].as_u64().unwrap(),
                        "{file}/{alias}: chain length"
                    );
                    checked_keys += 1;
                }
                ("trustedCertificate", Entry::TrustedCertificate { der, .. }) => {
                    assert!(X509Certificate::from_der(der).is_ok(), "{file}/{alias}");
                }
                ("secretKey", Entry::SecretKey { algorithm, key, .. }) => {
                    assert_eq!(
                        algorithm,
                        a["algorithm"].as_str().unwrap(),
                        "{file}/{alias}"
                    );
                    assert_eq!(
                        key.len() as u64,
                        a["keyLength"].as_u64().unwrap(),
                        "{file}/{alias}"
                    );
                }
                (want, got) => panic!("{file}/{alias}: expected {want}, got {got:?}"),
            }
        }
    }
    assert_eq!(checked_keys, 10); // every key of the manifest but bigiter.p12's
}

#[test]
fn jceks_is_also_accepted_when_declared_jceks() {
    let ks = open(
        &fixture("ks.jceks"),
        KeystoreType::Jceks,
        b"storepw1",
        Some(b"keypw12"),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(ks.entries.len(), 2);
}

#[test]
fn chain_is_leaf_first() {
    let ks = open(
        &fixture("chain.p12"),
        KeystoreType::Pkcs12,
        b"p12pass1",
        None,
        &Limits::default(),
    )
    .unwrap();
    // The CA certificates are part of the key's chain, not separate entries.
    assert_eq!(ks.aliases(), ["leaf"]);
    let Entry::PrivateKey { chain_der, .. } = ks.entry("leaf").unwrap() else {
        panic!("not a key");
    };
    let names: Vec<String> = chain_der.iter().map(|d| cn(d)).collect();
    assert_eq!(
        names,
        [
            "keyward keystore leaf",
            "keyward keystore intermediate",
            "keyward keystore root"
        ]
    );
}

#[test]
fn leaf_is_found_by_public_key_without_local_key_id() {
    // Feed the builder an archive with no localKeyIds at all.
    let ks = open(
        &fixture("chain.p12"),
        KeystoreType::Pkcs12,
        b"p12pass1",
        None,
        &Limits::default(),
    )
    .unwrap();
    let Entry::PrivateKey {
        pkcs8_der,
        chain_der,
        ..
    } = ks.entry("leaf").unwrap()
    else {
        panic!("not a key");
    };
    let pk = crate::pkcs12::pkcs8_public_key_for_tests(pkcs8_der).unwrap();
    let (_, leaf) = X509Certificate::from_der(&chain_der[0]).unwrap();
    assert_eq!(pk, leaf.public_key().subject_public_key.data.as_ref());
    // RSA: n and e rebuilt as RSAPublicKey.
    let ks = open(
        &fixture("modern.p12"),
        KeystoreType::Pkcs12,
        b"p12pass1",
        None,
        &Limits::default(),
    )
    .unwrap();
    let Entry::PrivateKey {
        pkcs8_der,
        chain_der,
        ..
    } = ks.entry("modern").unwrap()
    else {
        panic!("not a key");
    };
    let pk = crate::pkcs12::pkcs8_public_key_for_tests(pkcs8_der).unwrap();
    let (_, leaf) = X509Certificate::from_der(&chain_der[0]).unwrap();
    assert_eq!(pk, leaf.public_key().subject_public_key.data.as_ref());
}

#[test]
fn wrong_store_password() {
    for f in manifest() {
        let file = f["file"].as_str().unwrap();
        if file == "bigiter.p12" {
            continue;
        }
        let err = open(
            &fixture(file),
            declared(f["type"].as_str().unwrap()),
            b"not-the-password",
            None,
            &Limits::default(),
        )
        .unwrap_err();
        // nopbe.p12: nothing is encrypted, but the MAC fails; nomac.p12: nothing decrypts.
        assert_eq!(err, Error::WrongStorePassword, "{file}");
        assert_eq!(
            err.to_string(),
            "Keystore password is wrong or the file is damaged!"
        );
    }
}

#[test]
fn wrong_key_password() {
    for (file, alias) in [("ks.jks", "k"), ("rsa.jks", "rsa"), ("ks.jceks", "k")] {
        let err = open(
            &fixture(file),
            KeystoreType::Jks,
            b"storepw1",
            Some(b"wrongkeypw"),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::WrongKeyPassword {
                alias: Some(alias.into())
            },
            "{file}"
        );
        assert_eq!(
            err.to_string(),
            format!("Key password is wrong for alias ({alias})!")
        );
        // No key password: the store password is tried, and it is not the key's.
        let err = open(
            &fixture(file),
            KeystoreType::Jks,
            b"storepw1",
            None,
            &Limits::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::WrongKeyPassword { .. }),
            "{file}: {err}"
        );
    }
    // The truststore has no keys: any key password is fine.
    assert!(
        open(
            &fixture("trust.jks"),
            KeystoreType::Jks,
            b"storepw1",
            Some(b"whatever"),
            &Limits::default()
        )
        .is_ok()
    );
}

#[test]
fn pkcs12_with_a_different_key_password_falls_back_to_the_store_password() {
    // A key password that is not the file's is harmless when the store password decrypts.
    let ks = open(
        &fixture("modern.p12"),
        KeystoreType::Pkcs12,
        b"p12pass1",
        Some(b"other"),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(ks.aliases(), ["modern"]);
}

#[test]
fn pkcs12_key_password_decrypts_when_the_store_password_does_not() {
    // Like OpenSSL's -twopass: content encrypted with another password than the store's.
    // nomac.p12 has no MAC, so a wrong store password and the right key password open it.
    let ks = open(
        &fixture("nomac.p12"),
        KeystoreType::Pkcs12,
        b"storepw1",
        Some(b"p12pass1"),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(ks.aliases(), ["nomac"]);
    // Both wrong: with no MAC, it is the store password that is reported.
    let err = open(
        &fixture("nomac.p12"),
        KeystoreType::Pkcs12,
        b"storepw1",
        Some(b"keypw12"),
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(err, Error::WrongStorePassword);
}

#[test]
fn pkcs12_without_mac_rebuild_is_equivalent() {
    let bytes = fixture("modern.p12");
    let scan = crate::pkcs12::prescan_for_tests(&bytes);
    assert_eq!(detect(&scan), Some(KeystoreType::Pkcs12));
    let a = open(
        &bytes,
        KeystoreType::Pkcs12,
        b"p12pass1",
        None,
        &Limits::default(),
    )
    .unwrap();
    let b = open(
        &scan,
        KeystoreType::Pkcs12,
        b"p12pass1",
        None,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(a, b);
}

#[test]
fn timings() {
    let limits = Limits::default();
    for (file, t, store, key) in [
        ("modern.p12", KeystoreType::Pkcs12, "p12pass1", None),
        ("java.p12", KeystoreType::Pkcs12, "storepw1", None),
        ("ks.jks", KeystoreType::Jks, "storepw1", Some("keypw12")),
        ("ks.jceks", KeystoreType::Jks, "storepw1", Some("keypw12")),
        ("bigiter.p12", KeystoreType::Pkcs12, "p12pass1", None),
    ] {
        let bytes = fixture(file);
        let start = Instant::now();
        let r = open(&bytes, t, store.as_bytes(), key.map(str::as_bytes), &limits);
        eprintln!(
            "open {file}: {:?} ({})",
            start.elapsed(),
            if r.is_ok() { "ok" } else { "refused" }
        );
    }
}

#[test]
fn declared_type_must_match() {
    let err = open(
        &fixture("modern.p12"),
        KeystoreType::Jks,
        b"p12pass1",
        None,
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "keyStoreType (JKS) does not match the file, which is a PKCS12 keystore!"
    );
    let err = open(
        &fixture("ks.jks"),
        KeystoreType::Pkcs12,
        b"storepw1",
        None,
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "keyStoreType (PKCS12) does not match the file, which is a JKS keystore!"
    );
    let err = open(
        &fixture("ks.jceks"),
        KeystoreType::Pkcs12,
        b"storepw1",
        None,
        &Limits::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::TypeMismatch {
            declared: KeystoreType::Pkcs12,
            actual: KeystoreType::Jceks
        }
    );
    let err = open(
        b"hello",
        KeystoreType::Pkcs12,
        b"",
        None,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotAKeystore { .. }));
}

#[test]
fn type_names() {
    assert_eq!("JKS".parse::<KeystoreType>().unwrap(), KeystoreType::Jks);
    assert_eq!(
        "PKCS12".parse::<KeystoreType>().unwrap(),
        KeystoreType::Pkcs12
    );
    let err = "BCFKS".parse::<KeystoreType>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "Unknown keyStoreType (BCFKS)! Supported values: JKS, PKCS12"
    );
    assert!("pkcs12".parse::<KeystoreType>().is_err());
    assert_eq!(detect(&fixture("modern.p12")), Some(KeystoreType::Pkcs12));
    assert_eq!(detect(&fixture("ks.jks")), Some(KeystoreType::Jks));
    assert_eq!(detect(&fixture("ks.jceks")), Some(KeystoreType::Jceks));
    assert_eq!(detect(b"\x30\x03\x02\x01\x02"), None);
    assert_eq!(detect(b""), None);
}

#[test]
fn unknown_alias() {
    let ks = open(
        &fixture("ks.jks"),
        KeystoreType::Jks,
        b"storepw1",
        Some(b"keypw12"),
        &Limits::default(),
    )
    .unwrap();
    assert!(ks.require("k").is_ok());
    assert!(ks.require("K").is_ok(), "case-insensitive like Java");
    let err = ks.require("x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Alias (x) is not found in the keystore! Aliases: ca, k"
    );
    let empty = Keystore::default();
    assert_eq!(
        empty.require("x").unwrap_err().to_string(),
        "Alias (x) is not found in the keystore! Aliases: none"
    );
}

#[test]
fn bigiter_is_refused_fast() {
    let bytes = fixture("bigiter.p12");
    let start = Instant::now();
    let err = open(
        &bytes,
        KeystoreType::Pkcs12,
        b"p12pass1",
        None,
        &Limits::default(),
    )
    .unwrap_err();
    let elapsed = start.elapsed();
    assert_eq!(
        err,
        Error::TooManyIterations {
            what: "integrity MAC",
            iterations: 10_000_000,
            max: 1_000_000
        }
    );
    assert_eq!(
        err.to_string(),
        "The keystore's integrity MAC uses 10000000 iterations, more than the allowed 1000000!"
    );
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[test]
fn jceks_iterations_are_capped_before_deriving() {
    let err = open(
        &fixture("ks.jceks"),
        KeystoreType::Jks,
        b"storepw1",
        Some(b"keypw12"),
        &Limits {
            max_kdf_iterations: 1000,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::TooManyIterations {
            what: "key encryption",
            iterations: 200_000, // keytool 17's jdk.jceks.iterationCount default
            max: 1000
        }
    );
}

#[test]
fn all_derivations_together_are_capped() {
    let mut work = crate::Work::new(1000);
    for _ in 0..4 {
        work.charge("key encryption", 1000).unwrap();
    }
    let err = work.charge("key encryption", 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "The keystore's key derivations (all together) uses 4001 iterations, more than the allowed 4000!"
    );
    // secret.jceks: two secret keys of 200,000 iterations fit in 4 × 200,000 ...
    let limits = Limits {
        max_kdf_iterations: 200_000,
        ..Limits::default()
    };
    let ok = open(
        &fixture("secret.jceks"),
        KeystoreType::Jks,
        b"storepw1",
        Some(b"keypw12"),
        &limits,
    );
    assert!(ok.is_ok());
    // ... and a wrong key password costs two tries per key (key, then store password): still
    // within 4 × 200,000 for the first key, which then fails.
    let err = open(
        &fixture("secret.jceks"),
        KeystoreType::Jks,
        b"storepw1",
        Some(b"wrong1"),
        &limits,
    )
    .unwrap_err();
    assert!(matches!(err, Error::WrongKeyPassword { .. }), "{err}");
}

#[test]
fn limits() {
    let err = open(
        &fixture("trust.jks"),
        KeystoreType::Jks,
        b"storepw1",
        None,
        &Limits {
            max_entries: 1,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "The keystore holds 2 entries, more than the allowed 1!"
    );
    let err = open(
        &fixture("chain.p12"),
        KeystoreType::Pkcs12,
        b"p12pass1",
        None,
        &Limits {
            max_entries: 2,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::TooManyEntries { .. }), "{err}");
    let err = open(
        &fixture("modern.p12"),
        KeystoreType::Pkcs12,
        b"p12pass1",
        None,
        &Limits {
            max_bytes: 100,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, Error::TooLarge { max: 100, .. }));
    assert_eq!(
        open(b"", KeystoreType::Jks, b"", None, &Limits::default()).unwrap_err(),
        Error::Empty
    );
}

#[test]
fn debug_output_hides_key_material() {
    let ks = open(
        &fixture("java.p12"),
        KeystoreType::Pkcs12,
        b"storepw1",
        None,
        &Limits::default(),
    )
    .unwrap();
    let dbg = format!("{ks:?}");
    assert!(dbg.contains("<redacted>"));
}

// ------------------------------------------------------------------------------ robustness

/// Limits for the no-panic loops: low KDF cap so JCEKS (200,000 MD5 rounds) stays quick.
fn fuzz_limits() -> Limits {
    Limits {
        max_kdf_iterations: 20_000,
        ..Limits::default()
    }
}

/// Recomputes a JKS/JCEKS integrity digest so mutations reach the entry parser.
fn reseal(body: &[u8], password: &str) -> Vec<u8> {
    use sha1::Sha1;
    let mut h = Sha1::new();
    for u in password.encode_utf16() {
        h.update(u.to_be_bytes());
    }
    h.update(b"Mighty Aphrodite");
    h.update(body);
    let mut out = body.to_vec();
    out.extend_from_slice(&h.finalize());
    out
}

fn exercise(bytes: &[u8], store: &str, key: Option<&str>) {
    let limits = fuzz_limits();
    for t in [KeystoreType::Jks, KeystoreType::Pkcs12] {
        if let Ok(ks) = open(bytes, t, store.as_bytes(), key.map(str::as_bytes), &limits) {
            let _ = ks.aliases();
            let _ = ks.require("nope");
        }
    }
    let _ = detect(bytes);
}

/// A deterministic generator (xorshift) for bit positions.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn every_prefix_never_panics() {
    for f in manifest() {
        let file = f["file"].as_str().unwrap();
        let bytes = fixture(file);
        let store = f["storePassword"].as_str().unwrap();
        let key = f["keyPassword"].as_str().filter(|k| !k.is_empty());
        for n in 0..bytes.len() {
            exercise(&bytes[..n], store, key);
            if file.ends_with("jks") || file.ends_with("jceks") {
                // Prefix of the body, resealed: reaches the entry parser.
                let body = &bytes[..n.min(bytes.len().saturating_sub(20))];
                exercise(&reseal(body, store), store, key);
            }
        }
    }
}

#[test]
fn bit_flips_never_panic() {
    const FLIPS: usize = 2000;
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let started = Instant::now();
    for f in manifest() {
        let file = f["file"].as_str().unwrap();
        if file == "bigiter.p12" {
            continue; // refused before any parsing beyond the MAC: covered by prefixes.
        }
        let bytes = fixture(file);
        let store = f["storePassword"].as_str().unwrap();
        let key = f["keyPassword"].as_str().filter(|k| !k.is_empty());
        let java = file.ends_with("jks") || file.ends_with("jceks");
        for i in 0..FLIPS {
            let mut m = bytes.clone();
            let bits = m.len() * 8;
            let b1 = (xorshift(&mut state) as usize) % bits;
            m[b1 / 8] ^= 1 << (b1 % 8);
            if i % 4 == 0 {
                // Sometimes a second flip, or a byte forced to an extreme length value.
                let b2 = (xorshift(&mut state) as usize) % bits;
                m[b2 / 8] = if i % 8 == 0 { 0xFF } else { 0x00 };
            }
            if java {
                let body = &m[..m.len() - 20];
                exercise(&reseal(body, store), store, key);
            } else {
                exercise(&m, store, key);
            }
        }
    }
    eprintln!("bit flips took {:?}", started.elapsed());
}

#[test]
fn crafted_lengths_are_refused_without_allocating() {
    // The kind of input that made the `jks` crate allocate 103 GB: huge counts and lengths.
    let mut body = Vec::new();
    body.extend_from_slice(&0xFEED_FEEDu32.to_be_bytes());
    body.extend_from_slice(&2u32.to_be_bytes());
    body.extend_from_slice(&1u32.to_be_bytes());
    body.extend_from_slice(&1u32.to_be_bytes()); // private key
    body.extend_from_slice(&[0, 1, b'a']);
    body.extend_from_slice(&0u64.to_be_bytes());
    body.extend_from_slice(&0x7FFF_FFF0u32.to_be_bytes()); // key length
    let sealed = reseal(&body, "pw");
    let err = open(&sealed, KeystoreType::Jks, b"pw", None, &Limits::default()).unwrap_err();
    assert!(matches!(err, Error::Malformed(_)), "{err}");

    let mut body = Vec::new();
    body.extend_from_slice(&0xFEED_FEEDu32.to_be_bytes());
    body.extend_from_slice(&2u32.to_be_bytes());
    body.extend_from_slice(&u32::MAX.to_be_bytes()); // entry count
    let err = open(
        &reseal(&body, "pw"),
        KeystoreType::Jks,
        b"pw",
        None,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::TooManyEntries { .. }), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(&bytes, "pw", None);
    }

    #[test]
    fn random_jks_bodies_never_panic(
        kind in prop_oneof![Just(0xFEED_FEEDu32), Just(0xCECE_CECEu32)],
        count in 0u32..4,
        rest in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut body = Vec::new();
        body.extend_from_slice(&kind.to_be_bytes());
        body.extend_from_slice(&2u32.to_be_bytes());
        body.extend_from_slice(&count.to_be_bytes());
        body.extend_from_slice(&rest);
        exercise(&reseal(&body, "pw"), "pw", None);
    }
}
