//! keyward-jose: the pure JOSE / X.509 conversion core of keyward.
//!
//! It reads X.509 certificates as users upload them (PEM bundles, DER, bare base64), orders a
//! chain leaf first, reads the public key of the leaf, validates the requested `useType` and
//! `algorithm` against that key, and builds the complete RFC 7517 JWK: exact key material
//! (RFC 7518 §6, RFC 8037 §2), `x5c`, `x5t`, `x5t#S256`, and an RFC 7638 thumbprint `kid`.
//!
//! Invariants of the whole crate:
//! - **No I/O, no async, no global state.** Every function is a pure computation over its
//!   arguments; the caller reads files and sockets.
//! - **No panic on any input.** Nothing derived from input is unwrapped or indexed without a
//!   bound check; every failure is an [`Error`] (or [`AlgorithmError`]) whose `Display` is a
//!   complete sentence fit for an API user. Tests feed every prefix and bit flips of every
//!   fixture to the parsers.
//! - **Bounded work.** At most [`MAX_CERTIFICATES`] certificates per input; RSA moduli of
//!   1024 to 16384 bits; chain ordering is quadratic in at most that many certificates.
//! - **One algorithm table.** [`alg`] is the single source of truth for which algorithm goes with
//!   which key type, curve and use; both spellings of the API (JOSE `RSA-OAEP-256` and enum
//!   `RSA_OAEP_256`) parse, and the JOSE name is what is emitted.
//! - **Encodings by the RFCs**: base64url without padding for JWK members, standard padded
//!   base64 for `x5c`, EC coordinates left-padded to the field size, RSA integers minimal.
//!
//! Module map: [`b64`] (base64 alphabets), [`pem`] (PEM scanner), [`x509`] (certificates and
//! chains), [`kty`] (key types and curves), [`alg`] (algorithm table), [`jwk`] (the typed JWK model,
//! its serialisation and the conversions into it), [`thumbprint`] (RFC 7638, over the required
//! members only), [`validation`] (public-key validation: RSA, small-order OKP points), [`key`] (private/public key files in every format, encrypted ones included, and
//! their JWKs), [`json`] (JSON with unique member names), [`jwk_json`] (JWK / JWK Set JSON in, validated), [`generate`](mod@generate) (key generation and
//! `keyIdType` kids), [`error`].

#![forbid(unsafe_code)]
// No unwrap/expect/panic outside tests: failures are values (see the invariants above).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable
    )
)]

pub mod alg;
pub mod b64;
pub mod error;
pub mod generate;
pub mod json;
pub mod jwk;
pub mod jwk_json;
pub mod key;
pub mod kty;
pub mod pem;
pub mod thumbprint;
pub mod validation;
pub mod x509;

pub use alg::{Algorithm, KeyUse, accepted, check};
pub use error::{AlgorithmError, Error, MAX_CERTIFICATES};
pub use generate::{GenerateSpec, KeyIdType, generate, key_id};
pub use jwk::{
    EcCurve, Jwk, KeyDescriptor, KeyParams, KeyType, OkpCurve, PublicKey, RsaCrt, RsaPrivate,
    jwk_from_certificate_chain,
};
pub use jwk_json::parse_jwk_or_set;
pub use key::{KeyMaterial, PrivateKey, jwk_from_key, parse_key, private_key_from_pkcs8_der};
pub use pem::PemBlock;
pub use x509::{Certificate, order_leaf_first, parse_certificates};

#[cfg(test)]
mod robustness;

#[cfg(test)]
pub(crate) mod test_support {
    //! Fixtures for the unit tests (the repository's `fixtures/` folder).

    /// Bytes of `fixtures/<name>`.
    pub fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
    }

    /// The value of member `name` of `jwk` (a string member), as the JSON has it.
    pub fn m(jwk: &crate::Jwk, name: &str) -> Option<String> {
        let mut found = None;
        jwk.members(|n, v| {
            if let (true, crate::jwk::Member::Text(s)) = (n == name, v) {
                found = Some(s.to_owned());
            }
        });
        found
    }

    /// Every single-key fixture: (name, kty, crv).
    pub const KEY_FIXTURES: &[(&str, &str, Option<&str>)] = &[
        ("rsa1024", "RSA", None),
        ("rsa2048", "RSA", None),
        ("rsa3072", "RSA", None),
        ("rsa4096", "RSA", None),
        ("rsapss2048", "RSA", None),
        ("p256", "EC", Some("P-256")),
        ("p384", "EC", Some("P-384")),
        ("p521", "EC", Some("P-521")),
        ("secp256k1", "EC", Some("secp256k1")),
        ("p256-lz", "EC", Some("P-256")),
        ("p521-lz", "EC", Some("P-521")),
        ("ed25519", "OKP", Some("Ed25519")),
        ("ed448", "OKP", Some("Ed448")),
        ("x25519", "OKP", Some("X25519")),
        ("x448", "OKP", Some("X448")),
    ];
}
