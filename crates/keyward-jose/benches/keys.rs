//! Private key → JWK and key generation cost.
//!
//! - `key_to_jwk`: a private key file (PEM) → complete private JWK (every private member, `use`,
//!   `alg`, RFC 7638 `kid`) serialised to JSON, through the calls the keys service makes
//!   (`parse_key` → `jwk_from_key` → `Jwk::to_json`). The encrypted PKCS#8 case
//!   (PBES2, PBKDF2-HMAC-SHA256, 2,048 iterations, AES-256-CBC) shows the KDF's share; the
//!   public keys of the same pairs (SPKI PEM → public JWK) show what the private key checks
//!   cost (RSA: the RFC 8017 consistency checks; EC: the public point from `d`).
//! - `generate` / `generate_rsa`: `generate` with the operating system's RNG (as the service
//!   does), then the RFC 7638 `kid` and the JSON text. RSA is slow and its time varies with the
//!   primes found, so it takes few samples.
//!
//! Run: `cargo bench -p keyward-jose --bench keys`.

use divan::{Bencher, black_box};
use keyward_jose::jwk::{EcCurve, OkpCurve};
use keyward_jose::{Algorithm, GenerateSpec, KeyUse, generate, jwk_from_key, parse_key};
use rand_core::UnwrapErr;

fn main() {
    divan::main();
}

#[derive(Debug, Clone, Copy)]
enum KeyFile {
    Rsa2048Pkcs8,
    P256Pkcs8,
    Rsa2048Pkcs8Pbkdf2,
    Rsa2048Spki,
    P256Spki,
}

impl KeyFile {
    fn pem(self) -> &'static [u8] {
        match self {
            KeyFile::Rsa2048Pkcs8 => include_bytes!("../../../fixtures/keys/rsa2048.p8.pem"),
            KeyFile::P256Pkcs8 => include_bytes!("../../../fixtures/keys/p256.p8.pem"),
            KeyFile::Rsa2048Pkcs8Pbkdf2 => {
                include_bytes!("../../../fixtures/keys/rsa2048.p8-pbes2-aes256.pem")
            }
            KeyFile::Rsa2048Spki => include_bytes!("../../../fixtures/keys/rsa2048.spki.pem"),
            KeyFile::P256Spki => include_bytes!("../../../fixtures/keys/p256.spki.pem"),
        }
    }
    fn password(self) -> Option<&'static [u8]> {
        match self {
            KeyFile::Rsa2048Pkcs8Pbkdf2 => Some(b"keyward-pw"),
            _ => None,
        }
    }
    fn alg(self) -> Algorithm {
        match self {
            KeyFile::P256Pkcs8 | KeyFile::P256Spki => Algorithm::ES256,
            _ => Algorithm::RS256,
        }
    }
}

const KEY_FILES: [KeyFile; 5] = [
    KeyFile::Rsa2048Pkcs8,
    KeyFile::P256Pkcs8,
    KeyFile::Rsa2048Pkcs8Pbkdf2,
    KeyFile::Rsa2048Spki,
    KeyFile::P256Spki,
];

#[divan::bench(args = KEY_FILES)]
fn key_to_jwk(bencher: Bencher, file: KeyFile) {
    let (pem, password, alg) = (file.pem(), file.password(), file.alg());
    bencher.bench_local(|| {
        let key = parse_key(black_box(pem), password).expect("key");
        let jwk = jwk_from_key(&key, KeyUse::Signature, alg, None).expect("jwk");
        jwk.to_json()
    });
}

fn generate_json(spec: &GenerateSpec) -> String {
    let mut rng = UnwrapErr(getrandom::SysRng);
    let mut jwk = generate(spec, &mut rng).expect("generate");
    jwk.kid = Some(jwk.thumbprint_sha256());
    jwk.to_json()
}

#[derive(Debug, Clone, Copy)]
struct Spec(GenerateSpec);

impl std::fmt::Display for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            GenerateSpec::Rsa { bits } => write!(f, "RSA {bits}"),
            GenerateSpec::Ec { curve } => write!(f, "EC {}", curve.jose()),
            GenerateSpec::Oct { bits } => write!(f, "OCT {bits}"),
            GenerateSpec::Okp { curve } => write!(f, "OKP {}", curve.jose()),
        }
    }
}

const FAST: [Spec; 9] = [
    Spec(GenerateSpec::Ec {
        curve: EcCurve::P256,
    }),
    Spec(GenerateSpec::Ec {
        curve: EcCurve::P384,
    }),
    Spec(GenerateSpec::Ec {
        curve: EcCurve::P521,
    }),
    Spec(GenerateSpec::Ec {
        curve: EcCurve::Secp256k1,
    }),
    Spec(GenerateSpec::Oct { bits: 128 }),
    Spec(GenerateSpec::Oct { bits: 192 }),
    Spec(GenerateSpec::Oct { bits: 256 }),
    Spec(GenerateSpec::Okp {
        curve: OkpCurve::Ed25519,
    }),
    Spec(GenerateSpec::Okp {
        curve: OkpCurve::X25519,
    }),
];

#[divan::bench(args = FAST)]
fn generate_fast(bencher: Bencher, spec: Spec) {
    bencher.bench_local(|| generate_json(black_box(&spec.0)));
}

const RSA: [Spec; 3] = [
    Spec(GenerateSpec::Rsa { bits: 2048 }),
    Spec(GenerateSpec::Rsa { bits: 3072 }),
    Spec(GenerateSpec::Rsa { bits: 4096 }),
];

/// One key per sample: the time is dominated by the prime search, whose length is random.
#[divan::bench(args = RSA, sample_count = 15, sample_size = 1)]
fn generate_rsa(bencher: Bencher, spec: Spec) {
    bencher.bench_local(|| generate_json(black_box(&spec.0)));
}
