//! Key generation for `POST /jwks/generate`, and the key ids of its `keyIdType`.
//!
//! Pure: the caller passes the random number generator (any `rand_core` 0.10 [`CryptoRng`],
//! e.g. `rand_core::UnwrapErr(getrandom::SysRng)`), and the current time to [`key_id`].
//! RSA generation takes about 0.1–0.5 s in release builds (seconds in debug builds): run it off
//! the async runtime (`spawn_blocking`).
//!
//! | Spec | Crate | Result |
//! |---|---|---|
//! | RSA 2048 / 3072 / 4096 | `rsa` 0.10 (`e` = 65537) | `n`, `e`, `d`, `p`, `q`, `dp`, `dq`, `qi` |
//! | EC P-256 / P-384 / P-521 / secp256k1 | `p256`, `p384`, `p521`, `k256` | `crv`, `x`, `y`, `d` (field size) |
//! | OKP Ed25519 / X25519 | `ed25519-dalek`, `x25519-dalek` (32 random octets) | `crv`, `x`, `d` |
//! | oct 128 / 192 / 256 bits | the RNG | `k` |
//!
//! Ed448 and X448 are not offered, as in Apinizer (they are read from files, see [`crate::key`]).

use rand_core::CryptoRng;
use time::OffsetDateTime;
use time::macros::format_description;
use zeroize::Zeroizing;

use crate::b64;
use crate::error::Error;
use crate::jwk::{EcCurve, Jwk, KeyParams, OkpCurve};
use crate::key;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerateSpec {
    /// RSA with a modulus of `bits`: 2048, 3072 or 4096.
    Rsa {
        /// Modulus size.
        bits: u32,
    },
    /// EC on `curve`.
    Ec {
        /// The curve.
        curve: EcCurve,
    },
    /// A symmetric key of `bits`: 128, 192 or 256.
    Oct {
        /// Key size.
        bits: u32,
    },
    /// OKP on `curve`: Ed25519 or X25519.
    Okp {
        /// The curve.
        curve: OkpCurve,
    },
}

/// Generate a private JWK (no `use`, `alg` or `kid`: the caller adds them).
pub fn generate<R: CryptoRng + ?Sized>(spec: &GenerateSpec, rng: &mut R) -> Result<Jwk, Error> {
    match *spec {
        GenerateSpec::Rsa { bits } => {
            if !matches!(bits, 2048 | 3072 | 4096) {
                return Err(Error::InvalidGenerateParameter {
                    field: "keySize",
                    given: bits.to_string(),
                    accepted: "2048, 3072, 4096",
                });
            }
            let size = usize::try_from(bits).map_err(|_| generation("the key size"))?;
            let key = rsa::PrivateKey::new(rng, size).map_err(|_| generation("RSA"))?;
            let der = rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_der(&key)
                .map_err(|_| generation("RSA encoding"))?;
            Ok(key::rsa_from_pkcs1_der(der.as_bytes())?.to_jwk())
        }
        GenerateSpec::Ec { curve } => {
            use elliptic_curve::Generate as _;
            let scalar: Zeroizing<Vec<u8>> = Zeroizing::new(match curve {
                EcCurve::P256 => p256::SecretKey::generate_from_rng(rng).to_bytes().to_vec(),
                EcCurve::P384 => p384::SecretKey::generate_from_rng(rng).to_bytes().to_vec(),
                EcCurve::P521 => p521::SecretKey::generate_from_rng(rng).to_bytes().to_vec(),
                EcCurve::Secp256k1 => k256::SecretKey::generate_from_rng(rng).to_bytes().to_vec(),
            });
            Ok(key::ec_from_scalar(curve, &scalar)?.to_jwk())
        }
        GenerateSpec::Okp { curve } => {
            if !matches!(curve, OkpCurve::Ed25519 | OkpCurve::X25519) {
                return Err(Error::InvalidGenerateParameter {
                    field: "curveType",
                    given: curve.jose().to_owned(),
                    accepted: "ED25519, X25519",
                });
            }
            let mut raw = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(raw.as_mut());
            Ok(key::okp_from_raw(curve, raw.as_ref())?.to_jwk())
        }
        GenerateSpec::Oct { bits } => {
            if !matches!(bits, 128 | 192 | 256) {
                return Err(Error::InvalidGenerateParameter {
                    field: "keySize",
                    given: bits.to_string(),
                    accepted: "128, 192, 256",
                });
            }
            let len = usize::try_from(bits / 8).map_err(|_| generation("the key size"))?;
            let mut k = Zeroizing::new(vec![0u8; len]);
            rng.fill_bytes(&mut k);
            Ok(Jwk::new(KeyParams::Oct { k: b64::url(&k) }))
        }
    }
}

fn generation(what: &str) -> Error {
    Error::Generate {
        detail: format!("{what} key generation failed"),
    }
}

/// Parse the generate endpoint's EC `curveType`: `P256`, `P384`, `P521`, `SECP256K1` (the JOSE
/// names `P-256`, … and `secp256k1` are accepted too).
pub fn parse_ec_curve_type(s: &str) -> Result<EcCurve, Error> {
    match s {
        "P256" | "P-256" => Ok(EcCurve::P256),
        "P384" | "P-384" => Ok(EcCurve::P384),
        "P521" | "P-521" => Ok(EcCurve::P521),
        "SECP256K1" | "secp256k1" => Ok(EcCurve::Secp256k1),
        other => Err(Error::InvalidGenerateParameter {
            field: "curveType",
            given: other.to_owned(),
            accepted: "P256, P384, P521, SECP256K1",
        }),
    }
}

/// Parse the generate endpoint's OKP `curveType`: `ED25519` or `X25519` (also `Ed25519`).
pub fn parse_okp_curve_type(s: &str) -> Result<OkpCurve, Error> {
    match s {
        "ED25519" | "Ed25519" => Ok(OkpCurve::Ed25519),
        "X25519" => Ok(OkpCurve::X25519),
        other => Err(Error::InvalidGenerateParameter {
            field: "curveType",
            given: other.to_owned(),
            accepted: "ED25519, X25519",
        }),
    }
}

/// How the generate endpoint names a new key (`keyIdType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyIdType {
    /// `TIMESTAMP` (Apinizer's default).
    Timestamp,
    /// `SHA256`.
    Sha256,
    /// `SHA1`.
    Sha1,
    /// `ISO_DATE`.
    IsoDate,
    /// `NONE`.
    None,
    /// `THUMBPRINT`.
    Thumbprint,
}

impl KeyIdType {
    /// Every kind, in the API's order.
    pub const ALL: &'static [KeyIdType] = &[
        KeyIdType::Timestamp,
        KeyIdType::Sha256,
        KeyIdType::Sha1,
        KeyIdType::IsoDate,
        KeyIdType::None,
        KeyIdType::Thumbprint,
    ];

    /// Parse the API spelling (`TIMESTAMP`, `SHA256`, `SHA1`, `ISO_DATE`, `NONE`,
    /// `THUMBPRINT`; case-sensitive).
    pub fn parse(s: &str) -> Result<KeyIdType, Error> {
        match s {
            "TIMESTAMP" => Ok(KeyIdType::Timestamp),
            "SHA256" => Ok(KeyIdType::Sha256),
            "SHA1" => Ok(KeyIdType::Sha1),
            "ISO_DATE" => Ok(KeyIdType::IsoDate),
            "NONE" => Ok(KeyIdType::None),
            "THUMBPRINT" => Ok(KeyIdType::Thumbprint),
            other => Err(Error::InvalidGenerateParameter {
                field: "keyIdType",
                given: other.to_owned(),
                accepted: "TIMESTAMP, SHA256, SHA1, ISO_DATE, NONE, THUMBPRINT",
            }),
        }
    }

    /// The API spelling.
    pub fn api_name(&self) -> &'static str {
        match self {
            KeyIdType::Timestamp => "TIMESTAMP",
            KeyIdType::Sha256 => "SHA256",
            KeyIdType::Sha1 => "SHA1",
            KeyIdType::IsoDate => "ISO_DATE",
            KeyIdType::None => "NONE",
            KeyIdType::Thumbprint => "THUMBPRINT",
        }
    }
}

/// The `kid` of `jwk` for `kind`, byte for byte:
///
/// - `TIMESTAMP`: `now_unix_seconds` as a decimal integer, e.g. `1735689600` (a `-` sign
///   before times before 1970).
/// - `ISO_DATE`: `now_unix_seconds` in UTC as `YYYY-MM-DDThh:mm:ssZ`, e.g.
///   `2025-01-01T00:00:00Z` (4-digit year; `None` outside years 0000–9999).
/// - `SHA256` and `THUMBPRINT`: the RFC 7638 JWK thumbprint with SHA-256, base64url without
///   padding (43 characters).
/// - `SHA1`: the RFC 7638 JWK thumbprint with SHA-1, base64url without padding (27 characters).
/// - `NONE`: no kid (`None`).
///
/// The thumbprints hash the RFC 7638 required members only (never private members), **except
/// for `oct` keys, whose required member is the secret `k` itself**: a SHA-based kid of a
/// symmetric key is a hash of the secret, published in the kid. smallstep refuses this; we
/// follow Apinizer and allow it — prefer `TIMESTAMP`, `ISO_DATE` or a given kid for `oct` keys.
pub fn key_id(kind: KeyIdType, jwk: &Jwk, now_unix_seconds: i64) -> Option<String> {
    match kind {
        KeyIdType::Timestamp => Some(now_unix_seconds.to_string()),
        KeyIdType::IsoDate => {
            let at = OffsetDateTime::from_unix_timestamp(now_unix_seconds).ok()?;
            if !(0..=9999).contains(&at.year()) {
                return None;
            }
            let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
            at.format(&format).ok()
        }
        KeyIdType::Sha256 | KeyIdType::Thumbprint => Some(jwk.thumbprint_sha256()),
        KeyIdType::Sha1 => Some(jwk.thumbprint_sha1()),
        KeyIdType::None => None,
    }
}

#[cfg(test)]
#[path = "generate_tests.rs"]
mod tests;
