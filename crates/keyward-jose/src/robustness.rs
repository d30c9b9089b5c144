//! No-panic tests: every prefix and a spread of bit flips of every fixture go through every
//! parser, which must return `Ok` or `Err` and never panic; plus property tests on random
//! bytes and random PEM-looking text.

use proptest::prelude::*;

use crate::jwk::{Jwk, PublicKey, jwk_from_certificate_chain};
use crate::test_support::fixture;
use crate::x509::{order_leaf_first, parse_certificates, parse_der};
use crate::{Algorithm, KeyUse, b64, pem};

const FILES: &[&str] = &[
    "rsa1024.pem",
    "rsa2048.der",
    "rsapss2048.pem",
    "chain-cycle.pem",
    "p256.pem",
    "p384.pem",
    "p521-lz.pem",
    "secp256k1.pem",
    "ed25519.pem",
    "ed448.pem",
    "x25519.pem",
    "x448.pem",
    "chain-shuffled.pem",
    "garbage.pem",
    "truncated.der",
    "rfc/rfc7517-appendix-b.pem",
];

/// Run every entry point on `input`; only panics matter.
fn exercise(input: &[u8]) {
    let _ = pem::scan(input);
    let _ = PublicKey::from_spki_der(input);
    let _ = parse_der(input);
    if let Ok(certs) = parse_certificates(input)
        && let Ok(chain) = order_leaf_first(certs)
    {
        for (u, a) in [
            (KeyUse::Signature, Algorithm::RS256),
            (KeyUse::Signature, Algorithm::ES256),
            (KeyUse::Signature, Algorithm::EdDSA),
            (KeyUse::Encryption, Algorithm::ECDH_ES),
        ] {
            if let Ok(jwk) = jwk_from_certificate_chain(&chain, u, a, None) {
                assert!(serde_json::to_string(&jwk).is_ok());
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(input) {
        let _ = b64::decode_url(s);
        let _ = b64::decode_standard_lenient(s);
        if let Ok(jwk) = serde_json::from_str::<Jwk>(s) {
            let _ = jwk.thumbprint_sha256();
        }
    }
}

/// The DER of a fixture (PEM fixtures are decoded first, so flips hit the ASN.1).
fn ders(name: &str) -> Vec<Vec<u8>> {
    let raw = fixture(name);
    match pem::scan(&raw) {
        Ok(blocks) if !blocks.is_empty() => blocks.into_iter().map(|b| b.der).collect(),
        _ => vec![raw],
    }
}

#[test]
fn every_prefix_of_every_fixture() {
    for name in FILES {
        let raw = fixture(name);
        for end in 0..=raw.len() {
            exercise(&raw[..end]);
        }
        for der in ders(name) {
            for end in 0..=der.len() {
                exercise(&der[..end]);
            }
            // the SPKI alone, truncated everywhere
            if let Ok(cert) = parse_der(&der) {
                for end in 0..=cert.spki_der.len() {
                    let _ = PublicKey::from_spki_der(&cert.spki_der[..end]);
                }
            }
        }
    }
}

#[test]
fn bit_flips_of_every_fixture() {
    for name in FILES {
        for der in ders(name) {
            // every bit of the first 64 bytes (headers, lengths, OIDs), then every 7th byte
            let positions = (0..der.len().min(64)).chain((64..der.len()).step_by(7));
            for i in positions {
                for bit in 0..8 {
                    let mut flipped = der.clone();
                    flipped[i] ^= 1 << bit;
                    exercise(&flipped);
                }
            }
            if let Ok(cert) = parse_der(&der) {
                for i in 0..cert.spki_der.len() {
                    for bit in 0..8 {
                        let mut flipped = cert.spki_der.clone();
                        flipped[i] ^= 1 << bit;
                        let _ = PublicKey::from_spki_der(&flipped);
                    }
                }
            }
        }
    }
}

#[test]
fn oversized_inputs_are_refused_not_processed() {
    let pem = String::from_utf8(fixture("p256.pem")).unwrap();
    let big = pem.repeat(1000);
    assert!(parse_certificates(big.as_bytes()).is_err());
    let zeros = vec![0u8; 1 << 20];
    exercise(&zeros);
    let mut long_der = vec![0x30, 0x84, 0x7f, 0xff, 0xff, 0xff];
    long_der.extend_from_slice(&[0u8; 64]);
    exercise(&long_der);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(&input);
    }

    #[test]
    fn random_pem_like_text_never_panics(
        body in "[A-Za-z0-9+/=: \r\n-]{0,300}",
        label in "(CERTIFICATE|PRIVATE KEY|X|)",
        end in any::<bool>(),
    ) {
        let mut text = format!("junk\n-----BEGIN {label}-----\n{body}\n");
        if end {
            text.push_str(&format!("-----END {label}-----\n"));
        }
        exercise(text.as_bytes());
    }

    #[test]
    fn base64url_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let enc = b64::url(&bytes);
        prop_assert!(!enc.contains('=') && !enc.contains('+') && !enc.contains('/'));
        prop_assert_eq!(b64::decode_url(&enc).unwrap(), bytes.clone());
        let std = b64::standard(&bytes);
        prop_assert_eq!(std.len() % 4, 0);
        prop_assert_eq!(b64::decode_standard_lenient(&std).unwrap(), bytes);
    }

    #[test]
    fn mutated_certificates_never_panic(
        idx in 0usize..FILES.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        for mut der in ders(FILES[idx]) {
            if der.is_empty() { continue; }
            for (pos, val) in &edits {
                let i = pos % der.len();
                der[i] = *val;
            }
            exercise(&der);
        }
    }
}
