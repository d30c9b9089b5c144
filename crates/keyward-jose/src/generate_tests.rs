use rand_core::UnwrapErr;

use super::*;
use crate::jwk_json::parse_jwk_or_set;
use crate::test_support::{fixture, m};

fn rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

fn decoded(s: &Option<String>) -> Vec<u8> {
    b64::decode_url(s.as_deref().unwrap()).unwrap()
}

/// The generated private JWK passes the full JWK validator (which derives the public key from
/// `d`, and checks n = p·q and the CRT values for RSA).
fn validated(jwk: &Jwk) -> Jwk {
    let back = parse_jwk_or_set(serde_json::to_string(jwk).unwrap().as_bytes(), None).unwrap();
    assert_eq!(&back, jwk);
    back
}

#[test]
fn ec_keys_sign_and_verify() {
    use p256::ecdsa::signature::{Signer, Verifier};
    for curve in [
        EcCurve::P256,
        EcCurve::P384,
        EcCurve::P521,
        EcCurve::Secp256k1,
    ] {
        let jwk = generate(&GenerateSpec::Ec { curve }, &mut rng()).unwrap();
        validated(&jwk);
        assert_eq!(m(&jwk, "crv").as_deref(), Some(curve.jose()));
        for m in [&m(&jwk, "x"), &m(&jwk, "y"), &m(&jwk, "d")] {
            assert_eq!(decoded(m).len(), curve.coordinate_len());
        }
        assert_eq!((&jwk.key_use, &jwk.alg, &jwk.kid), (&None, &None, &None));
    }
    // ES256 with the generated key: private JWK → sign, public JWK → verify
    let jwk = generate(
        &GenerateSpec::Ec {
            curve: EcCurve::P256,
        },
        &mut rng(),
    )
    .unwrap();
    let signing = p256::ecdsa::SigningKey::from_slice(&decoded(&m(&jwk, "d"))).unwrap();
    let point = [&[4u8][..], &decoded(&m(&jwk, "x")), &decoded(&m(&jwk, "y"))].concat();
    let verifying = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    let sig: p256::ecdsa::Signature = signing.sign(b"keyward");
    assert!(verifying.verify(b"keyward", &sig).is_ok());
    assert!(verifying.verify(b"other", &sig).is_err());
}

#[test]
fn okp_keys_sign_and_agree() {
    use ed25519_dalek::{Signer, Verifier};
    let ed = generate(
        &GenerateSpec::Okp {
            curve: OkpCurve::Ed25519,
        },
        &mut rng(),
    )
    .unwrap();
    validated(&ed);
    let d: [u8; 32] = decoded(&m(&ed, "d")).try_into().unwrap();
    let x: [u8; 32] = decoded(&m(&ed, "x")).try_into().unwrap();
    let sig = ed25519_dalek::SigningKey::from_bytes(&d).sign(b"keyward");
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
    assert!(vk.verify(b"keyward", &sig).is_ok());

    let a = generate(
        &GenerateSpec::Okp {
            curve: OkpCurve::X25519,
        },
        &mut rng(),
    )
    .unwrap();
    let b = generate(
        &GenerateSpec::Okp {
            curve: OkpCurve::X25519,
        },
        &mut rng(),
    )
    .unwrap();
    validated(&a);
    let secret = |j: &Jwk| {
        x25519_dalek::StaticSecret::from(<[u8; 32]>::try_from(decoded(&m(j, "d"))).unwrap())
    };
    let public =
        |j: &Jwk| x25519_dalek::PublicKey::from(<[u8; 32]>::try_from(decoded(&m(j, "x"))).unwrap());
    assert_eq!(
        secret(&a).diffie_hellman(&public(&b)).to_bytes(),
        secret(&b).diffie_hellman(&public(&a)).to_bytes()
    );
    for curve in [OkpCurve::Ed448, OkpCurve::X448] {
        assert!(matches!(
            generate(&GenerateSpec::Okp { curve }, &mut rng()),
            Err(Error::InvalidGenerateParameter {
                field: "curveType",
                ..
            })
        ));
    }
}

#[test]
fn rsa_2048_keys_are_consistent_and_sign() {
    let jwk = generate(&GenerateSpec::Rsa { bits: 2048 }, &mut rng()).unwrap();
    validated(&jwk);
    assert_eq!(decoded(&m(&jwk, "n")).len(), 256);
    assert_eq!(m(&jwk, "e").as_deref(), Some("AQAB"));
    // sign with the private members, verify with the public ones (RSASSA-PSS, SHA-256)
    let uint = |s: &Option<String>| rsa::BoxedUint::from_be_slice_vartime(&decoded(s));
    let key = rsa::PrivateKey::from_components(
        uint(&m(&jwk, "n")),
        uint(&m(&jwk, "e")),
        uint(&m(&jwk, "d")),
        vec![uint(&m(&jwk, "p")), uint(&m(&jwk, "q"))],
    )
    .unwrap();
    let digest = sha2::Sha256::digest(b"keyward");
    let sig = key
        .sign_with_rng(&mut rng(), rsa::Pss::<sha2::Sha256>::new(), &digest)
        .unwrap();
    let public = rsa::PublicKey::new(uint(&m(&jwk, "n")), uint(&m(&jwk, "e"))).unwrap();
    assert!(
        public
            .verify(rsa::Pss::<sha2::Sha256>::new(), &digest, &sig)
            .is_ok()
    );
    // the rsa crate's PKCS#1 of that key, read by the key module and written as PKCS#8,
    // reads back to the same JWK
    let pkcs1 = rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_der(&key).unwrap();
    let crate::key::KeyMaterial::Private(read) =
        crate::key::parse_key(pkcs1.as_bytes(), None).unwrap()
    else {
        panic!()
    };
    let again = crate::key::private_key_from_pkcs8_der(&read.to_pkcs8_der().unwrap()).unwrap();
    assert_eq!(again.to_jwk(), jwk);
}

use sha2::Digest as _;

#[test]
fn oct_keys_and_bad_sizes() {
    for bits in [128u32, 192, 256] {
        let jwk = generate(&GenerateSpec::Oct { bits }, &mut rng()).unwrap();
        assert_eq!(decoded(&m(&jwk, "k")).len() * 8, bits as usize);
        assert_eq!(jwk.kty().jose(), "oct");
        validated(&jwk);
    }
    let a = generate(&GenerateSpec::Oct { bits: 256 }, &mut rng()).unwrap();
    let b = generate(&GenerateSpec::Oct { bits: 256 }, &mut rng()).unwrap();
    assert_ne!(m(&a, "k"), m(&b, "k"));
    assert_eq!(
        generate(&GenerateSpec::Oct { bits: 512 }, &mut rng())
            .unwrap_err()
            .to_string(),
        "keySize (512) is not valid! Accepted values: 128, 192, 256"
    );
    assert_eq!(
        generate(&GenerateSpec::Rsa { bits: 1024 }, &mut rng())
            .unwrap_err()
            .to_string(),
        "keySize (1024) is not valid! Accepted values: 2048, 3072, 4096"
    );
}

#[test]
fn key_id_formats_byte_for_byte() {
    let rfc: Jwk = serde_json::from_slice(&fixture("rfc/rfc7638-section-3.1.json")).unwrap();
    assert_eq!(
        key_id(KeyIdType::Timestamp, &rfc, 1_735_689_600).as_deref(),
        Some("1735689600")
    );
    assert_eq!(
        key_id(KeyIdType::Timestamp, &rfc, -5).as_deref(),
        Some("-5")
    );
    assert_eq!(
        key_id(KeyIdType::IsoDate, &rfc, 1_735_689_600).as_deref(),
        Some("2025-01-01T00:00:00Z")
    );
    assert_eq!(
        key_id(KeyIdType::IsoDate, &rfc, 1_700_000_007).as_deref(),
        Some("2023-11-14T22:13:27Z")
    );
    assert_eq!(key_id(KeyIdType::IsoDate, &rfc, i64::MAX), None);
    assert_eq!(
        key_id(KeyIdType::Sha256, &rfc, 0).as_deref(),
        Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    );
    assert_eq!(
        key_id(KeyIdType::Thumbprint, &rfc, 0),
        key_id(KeyIdType::Sha256, &rfc, 0)
    );
    let sha1 = key_id(KeyIdType::Sha1, &rfc, 0).unwrap();
    assert_eq!(sha1.len(), 27);
    assert_eq!(sha1, rfc.thumbprint_sha1());
    assert_eq!(key_id(KeyIdType::None, &rfc, 0), None);
    // oct: the thumbprint hashes the secret (documented), and still works
    let oct = Jwk::new(crate::jwk::KeyParams::Oct {
        k: "c2VjcmV0".into(),
    });
    assert_eq!(
        key_id(KeyIdType::Sha256, &oct, 0).map(|s| s.len()),
        Some(43)
    );
    for t in [
        KeyIdType::Timestamp,
        KeyIdType::Sha256,
        KeyIdType::Sha1,
        KeyIdType::IsoDate,
        KeyIdType::None,
        KeyIdType::Thumbprint,
    ] {
        assert_eq!(KeyIdType::parse(t.api_name()).unwrap(), t);
    }
    assert_eq!(
        KeyIdType::parse("UUID").unwrap_err().to_string(),
        "keyIdType (UUID) is not valid! Accepted values: TIMESTAMP, SHA256, SHA1, ISO_DATE, NONE, THUMBPRINT"
    );
}

#[test]
fn curve_type_names() {
    assert_eq!(parse_ec_curve_type("P521").unwrap(), EcCurve::P521);
    assert_eq!(
        parse_ec_curve_type("SECP256K1").unwrap(),
        EcCurve::Secp256k1
    );
    assert!(parse_ec_curve_type("P-192").is_err());
    assert_eq!(parse_okp_curve_type("ED25519").unwrap(), OkpCurve::Ed25519);
    assert_eq!(
        parse_okp_curve_type("X448").unwrap_err().to_string(),
        "curveType (X448) is not valid! Accepted values: ED25519, X25519"
    );
}

#[test]
fn every_key_id_type_round_trips_its_api_name() {
    for kind in KeyIdType::ALL {
        assert_eq!(KeyIdType::parse(kind.api_name()).ok(), Some(*kind));
    }
    assert_eq!(KeyIdType::ALL.len(), 6);
}
