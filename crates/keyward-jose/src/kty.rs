//! Key types and curves (`kty`, `crv`): the names of RFC 7518 §6.1, §6.2.1.1, RFC 8037 §2 and
//! RFC 8812 §3.1, and the sizes of their material.
//!
//! A leaf module: [`crate::alg`] (which algorithm suits which key) and [`crate::jwk`] (the JWK
//! model) both build on it, and it needs neither.

/// JWK key type (`kty`, RFC 7518 §6.1, RFC 8037 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `RSA`
    Rsa,
    /// `EC`
    Ec,
    /// `oct` (API: `OCT`)
    Oct,
    /// `OKP`
    Okp,
}

impl KeyType {
    /// The JWK `kty` value: `RSA`, `EC`, `oct`, `OKP`.
    pub fn jose(&self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::Ec => "EC",
            KeyType::Oct => "oct",
            KeyType::Okp => "OKP",
        }
    }

    /// The API spelling (`type` field): `RSA`, `EC`, `OCT`, `OKP`.
    pub fn api_name(&self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::Ec => "EC",
            KeyType::Oct => "OCT",
            KeyType::Okp => "OKP",
        }
    }

    /// Parse the JWK `kty` value (case-sensitive, RFC 7517 §4.1).
    pub fn from_jose(s: &str) -> Option<KeyType> {
        match s {
            "RSA" => Some(KeyType::Rsa),
            "EC" => Some(KeyType::Ec),
            "oct" => Some(KeyType::Oct),
            "OKP" => Some(KeyType::Okp),
            _ => None,
        }
    }
}

/// The EC curves of the API (`crv`, RFC 7518 §6.2.1.1, RFC 8812 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcCurve {
    /// `P-256` (secp256r1, prime256v1)
    P256,
    /// `P-384` (secp384r1)
    P384,
    /// `P-521` (secp521r1)
    P521,
    /// `secp256k1` (RFC 8812)
    Secp256k1,
}

impl EcCurve {
    /// The JWK `crv` value.
    pub fn jose(&self) -> &'static str {
        match self {
            EcCurve::P256 => "P-256",
            EcCurve::P384 => "P-384",
            EcCurve::P521 => "P-521",
            EcCurve::Secp256k1 => "secp256k1",
        }
    }

    /// Parse the JWK `crv` value.
    pub fn from_jose(s: &str) -> Option<EcCurve> {
        match s {
            "P-256" => Some(EcCurve::P256),
            "P-384" => Some(EcCurve::P384),
            "P-521" => Some(EcCurve::P521),
            "secp256k1" => Some(EcCurve::Secp256k1),
            _ => None,
        }
    }

    /// Octets of one coordinate (RFC 7518 §6.2.1.2): 32, 48, 66, 32.
    pub fn coordinate_len(&self) -> usize {
        match self {
            EcCurve::P256 | EcCurve::Secp256k1 => 32,
            EcCurve::P384 => 48,
            EcCurve::P521 => 66,
        }
    }
}

/// The OKP curves (`crv`, RFC 8037 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OkpCurve {
    /// `Ed25519` (signature)
    Ed25519,
    /// `Ed448` (signature)
    Ed448,
    /// `X25519` (key agreement)
    X25519,
    /// `X448` (key agreement)
    X448,
}

impl OkpCurve {
    /// The JWK `crv` value.
    pub fn jose(&self) -> &'static str {
        match self {
            OkpCurve::Ed25519 => "Ed25519",
            OkpCurve::Ed448 => "Ed448",
            OkpCurve::X25519 => "X25519",
            OkpCurve::X448 => "X448",
        }
    }

    /// Parse the JWK `crv` value.
    pub fn from_jose(s: &str) -> Option<OkpCurve> {
        match s {
            "Ed25519" => Some(OkpCurve::Ed25519),
            "Ed448" => Some(OkpCurve::Ed448),
            "X25519" => Some(OkpCurve::X25519),
            "X448" => Some(OkpCurve::X448),
            _ => None,
        }
    }

    /// Octets of the public key: 32, 57, 32, 56.
    pub fn key_len(&self) -> usize {
        match self {
            OkpCurve::Ed25519 | OkpCurve::X25519 => 32,
            OkpCurve::Ed448 => 57,
            OkpCurve::X448 => 56,
        }
    }
}

/// What [`crate::alg::check`] needs to know of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDescriptor {
    /// The key type.
    pub kty: KeyType,
    /// The curve, for EC keys.
    pub ec_curve: Option<EcCurve>,
    /// The curve, for OKP keys.
    pub okp_curve: Option<OkpCurve>,
}
