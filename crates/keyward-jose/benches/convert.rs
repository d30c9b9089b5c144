//! Certificate → JWK conversion cost, against the floor of what it cannot avoid.
//!
//! - `jwk_json`: certificate DER → complete JWK (key material, use, alg, x5c, x5t, x5t#S256,
//!   RFC 7638 kid) serialised to a JSON string, through the public API exactly as the service
//!   calls it (`parse_certificates` → `order_leaf_first` → `jwk_from_certificate_chain` →
//!   `Jwk::to_json`; before the typed model, `serde_json::to_string`: the same bytes).
//! - `jwk_json_from_pem`: the same from the PEM text.
//! - `floor`: bare x509-parser parse + SHA-1 + SHA-256 of the same DER.
//!
//! Run: `cargo bench -p keyward-jose`.

use divan::{Bencher, black_box};
use keyward_jose::{
    Algorithm, KeyUse, jwk_from_certificate_chain, order_leaf_first, parse_certificates, pem,
};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

const RSA2048_PEM: &[u8] = include_bytes!("../../../fixtures/rsa2048.pem");
const P256_PEM: &[u8] = include_bytes!("../../../fixtures/p256.pem");

fn main() {
    divan::main();
}

#[derive(Debug, Clone, Copy)]
enum Key {
    Rsa2048,
    P256,
}

impl Key {
    fn pem(self) -> &'static [u8] {
        match self {
            Key::Rsa2048 => RSA2048_PEM,
            Key::P256 => P256_PEM,
        }
    }
    fn der(self) -> Vec<u8> {
        pem::scan(self.pem()).expect("fixture PEM").remove(0).der
    }
    fn alg(self) -> Algorithm {
        match self {
            Key::Rsa2048 => Algorithm::RS256,
            Key::P256 => Algorithm::ES256,
        }
    }
}

const KEYS: [Key; 2] = [Key::Rsa2048, Key::P256];

fn convert(input: &[u8], alg: Algorithm) -> String {
    let chain = order_leaf_first(parse_certificates(input).expect("parse")).expect("chain");
    let jwk = jwk_from_certificate_chain(&chain, KeyUse::Signature, alg, None).expect("jwk");
    jwk.to_json()
}

#[divan::bench(args = KEYS)]
fn jwk_json(bencher: Bencher, key: Key) {
    let der = key.der();
    let alg = key.alg();
    bencher.bench_local(|| convert(black_box(&der), alg));
}

#[divan::bench(args = KEYS)]
fn jwk_json_from_pem(bencher: Bencher, key: Key) {
    let pem = key.pem();
    let alg = key.alg();
    bencher.bench_local(|| convert(black_box(pem), alg));
}

#[divan::bench(args = KEYS)]
fn floor(bencher: Bencher, key: Key) {
    let der = key.der();
    bencher.bench_local(|| {
        let der = black_box(&der);
        let (_, cert) = X509Certificate::from_der(der).expect("parse");
        let sha1 = Sha1::digest(der);
        let sha256 = Sha256::digest(der);
        black_box((cert.tbs_certificate.subject_pki.raw.len(), sha1, sha256));
    });
}
