//! The JSON Web Key model (RFC 7517) and the conversion of public keys and certificates into it.
//!
//! Key material follows RFC 7518 §6 and RFC 8037 §2 exactly:
//! - RSA `n`, `e`: unsigned big-endian, minimal (no leading zero octet; RFC 7518 §6.3.1.1,
//!   §6.3.1.2), base64url.
//! - EC `x`, `y`: the full field size, left-padded with zero octets — 32 / 48 / 66 / 32 octets
//!   for P-256 / P-384 / P-521 / secp256k1 (RFC 7518 §6.2.1.2, §6.2.1.3; RFC 8812 §3.1).
//! - OKP `x`: the raw public key, 32 / 57 / 32 / 56 octets for Ed25519 / Ed448 / X25519 / X448
//!   (RFC 8037 §2, RFC 8032 §5.1.5 and §5.2.5, RFC 7748 §5).
//! - `x5c`: standard base64 **with padding** of each DER certificate, leaf first
//!   (RFC 7517 §4.7); `x5t` / `x5t#S256`: base64url of the raw SHA-1 / SHA-256 digest of the
//!   leaf DER (RFC 7517 §4.8, §4.9).
//! - `kid`: the caller's, or the RFC 7638 SHA-256 thumbprint (see [`crate::thumbprint`]).
//!
//! SubjectPublicKeyInfo reading ([`PublicKey::from_spki_der`]): RSA (rsaEncryption, and
//! RSASSA-PSS-keyed SPKI, RFC 4055 §1.2), EC named curves (RFC 5480 §2.1.1), and the
//! RFC 8410 §3 OKP keys. EC points are checked to be on their curve; compressed points
//! (SEC 1 §2.3.3) are decompressed with the `p256`/`p384`/`p521`/`k256` arithmetic.

use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use x509_parser::asn1_rs::{FromDer, Oid, Tag};
use x509_parser::public_key::RSAPublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::alg::{self, Algorithm, KeyUse};
use crate::b64;
use crate::error::Error;
use crate::thumbprint;
use crate::x509::Certificate;

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

/// A public key, with its material already in JWK form (octets, not yet base64url).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA: minimal big-endian modulus and exponent.
    Rsa {
        /// Modulus, no leading zero octet.
        n: Vec<u8>,
        /// Public exponent, no leading zero octet.
        e: Vec<u8>,
    },
    /// EC: coordinates of exactly `curve.coordinate_len()` octets.
    Ec {
        /// The curve.
        curve: EcCurve,
        /// x coordinate, left-padded.
        x: Vec<u8>,
        /// y coordinate, left-padded.
        y: Vec<u8>,
    },
    /// OKP: the raw public key of exactly `curve.key_len()` octets.
    Okp {
        /// The curve.
        curve: OkpCurve,
        /// The public key.
        x: Vec<u8>,
    },
}

/// Smallest and largest RSA modulus accepted, in bits.
pub const RSA_MIN_BITS: usize = 1024;
/// See [`RSA_MIN_BITS`].
pub const RSA_MAX_BITS: usize = 16384;

// OID contents (DER, without tag and length).
/// rsaEncryption 1.2.840.113549.1.1.1 (RFC 8017 Appendix C).
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-RSASSA-PSS 1.2.840.113549.1.1.10 (RFC 4055 §3.1).
const OID_RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
/// id-ecPublicKey 1.2.840.10045.2.1 (RFC 5480 §2.1.1).
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// secp256r1 1.2.840.10045.3.1.7 (RFC 5480 §2.1.1.1).
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1 1.3.132.0.34.
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1 1.3.132.0.35.
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// secp256k1 1.3.132.0.10 (SEC 2 §2.4.1).
const OID_SECP256K1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x0a];
/// id-X25519 1.3.101.110, id-X448 1.3.101.111, id-Ed25519 1.3.101.112, id-Ed448 1.3.101.113
/// (RFC 8410 §3).
const OID_X25519: &[u8] = &[0x2b, 0x65, 0x6e];
const OID_X448: &[u8] = &[0x2b, 0x65, 0x6f];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];
/// Names for a few OIDs users do upload, for clearer errors.
const OID_DSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01];

impl PublicKey {
    /// Read a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        let spki = match SubjectPublicKeyInfo::from_der(der) {
            Ok(([], spki)) => spki,
            Ok(_) => return Err(bad_key("unexpected bytes follow the SubjectPublicKeyInfo")),
            Err(_) => return Err(bad_key("the SubjectPublicKeyInfo is not valid DER")),
        };
        if spki.subject_public_key.unused_bits != 0 {
            return Err(bad_key("the public key BIT STRING has unused bits"));
        }
        let key: &[u8] = &spki.subject_public_key.data;
        let oid = spki.algorithm.algorithm.as_bytes();
        match oid {
            OID_RSA | OID_RSA_PSS => rsa_key(key),
            OID_EC => {
                let curve = ec_curve(spki.algorithm.parameters.as_ref())?;
                let (x, y) = ec_point(curve, key)?;
                Ok(PublicKey::Ec { curve, x, y })
            }
            OID_ED25519 | OID_ED448 | OID_X25519 | OID_X448 => {
                let curve = match oid {
                    OID_ED25519 => OkpCurve::Ed25519,
                    OID_ED448 => OkpCurve::Ed448,
                    OID_X25519 => OkpCurve::X25519,
                    _ => OkpCurve::X448,
                };
                // RFC 8410 §3: "the parameters MUST be absent".
                if spki.algorithm.parameters.is_some() {
                    return Err(bad_key(&format!(
                        "the {} algorithm identifier must not carry parameters (RFC 8410)",
                        curve.jose()
                    )));
                }
                if key.len() != curve.key_len() {
                    return Err(bad_key(&format!(
                        "an {} public key must be {} bytes long, not {}",
                        curve.jose(),
                        curve.key_len(),
                        key.len()
                    )));
                }
                crate::validation::okp_public(curve, key)?;
                Ok(PublicKey::Okp {
                    curve,
                    x: key.to_vec(),
                })
            }
            other => {
                let dotted = oid_string(other);
                let algorithm = if other == OID_DSA {
                    format!("DSA (OID {dotted})")
                } else {
                    format!("with OID {dotted}")
                };
                Err(Error::UnsupportedKeyAlgorithm { algorithm })
            }
        }
    }

    /// Key type and curve, for [`crate::alg::check`].
    pub fn descriptor(&self) -> KeyDescriptor {
        match self {
            PublicKey::Rsa { .. } => KeyDescriptor {
                kty: KeyType::Rsa,
                ec_curve: None,
                okp_curve: None,
            },
            PublicKey::Ec { curve, .. } => KeyDescriptor {
                kty: KeyType::Ec,
                ec_curve: Some(*curve),
                okp_curve: None,
            },
            PublicKey::Okp { curve, .. } => KeyDescriptor {
                kty: KeyType::Okp,
                ec_curve: None,
                okp_curve: Some(*curve),
            },
        }
    }
}

fn bad_key(detail: &str) -> Error {
    Error::InvalidPublicKey {
        detail: detail.to_owned(),
    }
}

fn oid_string(content: &[u8]) -> String {
    Oid::new(std::borrow::Cow::Borrowed(content)).to_id_string()
}

/// RSAPublicKey (RFC 8017 §A.1.1) → minimal n, e.
fn rsa_key(key: &[u8]) -> Result<PublicKey, Error> {
    let rsa = match RSAPublicKey::from_der(key) {
        Ok(([], rsa)) => rsa,
        _ => {
            return Err(bad_key(
                "the RSA public key is not a valid RSAPublicKey structure",
            ));
        }
    };
    let n = unsigned_minimal(rsa.modulus)
        .ok_or_else(|| bad_key("the RSA modulus must be a positive integer"))?;
    let e = unsigned_minimal(rsa.exponent)
        .ok_or_else(|| bad_key("the RSA public exponent must be a positive integer"))?;
    crate::validation::rsa_public(&n, &e)?;
    Ok(PublicKey::Rsa { n, e })
}

/// A DER INTEGER content as an unsigned minimal big-endian octet string (RFC 7518 §6.3.1.1:
/// "zero-length ... or leading zero octets MUST NOT" — strip the sign octet). `None` for zero
/// or a negative value.
fn unsigned_minimal(int: &[u8]) -> Option<Vec<u8>> {
    if int.first().is_none_or(|b| b & 0x80 != 0) {
        return None;
    }
    let start = int.iter().position(|b| *b != 0)?;
    Some(int[start..].to_vec())
}

fn bit_len(minimal: &[u8]) -> usize {
    match minimal.first() {
        Some(first) => minimal.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

/// The namedCurve parameter of an id-ecPublicKey SPKI (RFC 5480 §2.1.1).
fn ec_curve(params: Option<&x509_parser::asn1_rs::Any<'_>>) -> Result<EcCurve, Error> {
    let Some(params) = params else {
        return Err(Error::UnsupportedCurve {
            curve: "(none: the EC key names no curve)".to_owned(),
        });
    };
    if params.tag() != Tag::Oid {
        let what = if params.tag() == Tag::Sequence {
            "(explicit curve parameters instead of a named curve)"
        } else {
            "(implicit or unreadable curve parameters)"
        };
        return Err(Error::UnsupportedCurve {
            curve: what.to_owned(),
        });
    }
    match params.data {
        OID_P256 => Ok(EcCurve::P256),
        OID_P384 => Ok(EcCurve::P384),
        OID_P521 => Ok(EcCurve::P521),
        OID_SECP256K1 => Ok(EcCurve::Secp256k1),
        other => Err(Error::UnsupportedCurve {
            curve: format!("with OID {}", oid_string(other)),
        }),
    }
}

/// Validate a SEC 1 point (§2.3.4) on `curve` and return its fixed-length affine coordinates.
/// Uncompressed (`04||X||Y`) and compressed (`02||X`, `03||X`) points are accepted; the point
/// must lie on the curve and must not be the identity.
fn ec_point(curve: EcCurve, point: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let len = curve.coordinate_len();
    let shape_ok = match point.first() {
        Some(0x04) => point.len() == 1 + 2 * len,
        Some(0x02 | 0x03) => point.len() == 1 + len,
        _ => false,
    };
    if !shape_ok {
        return Err(bad_key(&format!(
            "the {} point is not a SEC 1 compressed or uncompressed point of the right length",
            curve.jose()
        )));
    }
    macro_rules! coordinates {
        ($pk:ty) => {{
            use elliptic_curve::sec1::ToSec1Point as _;
            <$pk>::from_sec1_bytes(point).ok().and_then(|pk| {
                let p = pk.to_sec1_point(false);
                Some((p.x()?.to_vec(), p.y()?.to_vec()))
            })
        }};
    }
    let xy = match curve {
        EcCurve::P256 => coordinates!(p256::PublicKey),
        EcCurve::P384 => coordinates!(p384::PublicKey),
        EcCurve::P521 => coordinates!(p521::PublicKey),
        EcCurve::Secp256k1 => coordinates!(k256::PublicKey),
    };
    match xy {
        Some((x, y)) if x.len() == len && y.len() == len => Ok((x, y)),
        _ => Err(bad_key(&format!(
            "the point is not on the {} curve",
            curve.jose()
        ))),
    }
}

/// A JSON Web Key (RFC 7517 §4), with every member this service reads or writes.
///
/// Serialises in RFC 7517 member order — `kty`, `use`, `key_ops`, `alg`, `kid`, the key
/// material, then `x5c`, `x5t`, `x5t#S256` — and leaves out absent members. Unknown members are
/// ignored on input.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Jwk {
    /// Key type (RFC 7517 §4.1).
    pub kty: String,
    /// Public key use, `sig` or `enc` (RFC 7517 §4.2).
    #[serde(rename = "use", skip_serializing_if = "Option::is_none", default)]
    pub key_use: Option<String>,
    /// Key operations (RFC 7517 §4.3).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub key_ops: Option<Vec<String>>,
    /// Algorithm (RFC 7517 §4.4).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub alg: Option<String>,
    /// Key ID (RFC 7517 §4.5).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kid: Option<String>,
    /// Curve, EC and OKP (RFC 7518 §6.2.1.1, RFC 8037 §2).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crv: Option<String>,
    /// RSA modulus (RFC 7518 §6.3.1.1).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<String>,
    /// RSA public exponent (RFC 7518 §6.3.1.2).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e: Option<String>,
    /// EC x coordinate / OKP public key (RFC 7518 §6.2.1.2, RFC 8037 §2).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x: Option<String>,
    /// EC y coordinate (RFC 7518 §6.2.1.3).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub y: Option<String>,
    /// Private exponent / EC and OKP private key (RFC 7518 §6.3.2.1, §6.2.2.1, RFC 8037 §2).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub d: Option<String>,
    /// RSA first prime factor (RFC 7518 §6.3.2.2).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub p: Option<String>,
    /// RSA second prime factor (RFC 7518 §6.3.2.3).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub q: Option<String>,
    /// RSA first factor CRT exponent (RFC 7518 §6.3.2.4).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dp: Option<String>,
    /// RSA second factor CRT exponent (RFC 7518 §6.3.2.5).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dq: Option<String>,
    /// RSA first CRT coefficient (RFC 7518 §6.3.2.6).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub qi: Option<String>,
    /// Symmetric key value (RFC 7518 §6.4.1).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub k: Option<String>,
    /// X.509 certificate chain: standard padded base64 DER, leaf first (RFC 7517 §4.7).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x5c: Option<Vec<String>>,
    /// base64url SHA-1 of the leaf DER (RFC 7517 §4.8).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x5t: Option<String>,
    /// base64url SHA-256 of the leaf DER (RFC 7517 §4.9).
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none", default)]
    pub x5t_s256: Option<String>,
}

impl Jwk {
    /// The public JWK of a key: `kty` and its material only.
    pub fn from_public_key(key: &PublicKey) -> Jwk {
        match key {
            PublicKey::Rsa { n, e } => Jwk {
                kty: KeyType::Rsa.jose().to_owned(),
                n: Some(b64::url(n)),
                e: Some(b64::url(e)),
                ..Jwk::default()
            },
            PublicKey::Ec { curve, x, y } => Jwk {
                kty: KeyType::Ec.jose().to_owned(),
                crv: Some(curve.jose().to_owned()),
                x: Some(b64::url(x)),
                y: Some(b64::url(y)),
                ..Jwk::default()
            },
            PublicKey::Okp { curve, x } => Jwk {
                kty: KeyType::Okp.jose().to_owned(),
                crv: Some(curve.jose().to_owned()),
                x: Some(b64::url(x)),
                ..Jwk::default()
            },
        }
    }

    /// RFC 7638 SHA-256 thumbprint, base64url.
    pub fn thumbprint_sha256(&self) -> Result<String, Error> {
        thumbprint::thumbprint_sha256(self)
    }

    /// RFC 7638 SHA-1 thumbprint, base64url.
    pub fn thumbprint_sha1(&self) -> Result<String, Error> {
        thumbprint::thumbprint_sha1(self)
    }

    /// The same JWK without any private or secret member: `d`, `p`, `q`, `dp`, `dq`, `qi` and
    /// also `k` (so an `oct` JWK comes out with no key value at all; callers that must refuse
    /// a public-only export of a symmetric key check `kty` first).
    pub fn public_only(&self) -> Jwk {
        Jwk {
            d: None,
            p: None,
            q: None,
            dp: None,
            dq: None,
            qi: None,
            k: None,
            ..self.clone()
        }
    }
}

/// The complete JWK of the leaf of `chain` (leaf first, as [`crate::x509::order_leaf_first`]
/// returns it): key material from the leaf's SPKI, `use` and `alg` after [`alg::check`],
/// `x5c` of the whole chain, `x5t` and `x5t#S256` of the leaf, and `kid` = `kid` when given
/// (and not blank), else the RFC 7638 SHA-256 thumbprint.
pub fn jwk_from_certificate_chain(
    chain: &[Certificate],
    key_use: KeyUse,
    alg: Algorithm,
    kid: Option<&str>,
) -> Result<Jwk, Error> {
    let leaf = chain.first().ok_or(Error::EmptyChain)?;
    let key = PublicKey::from_spki_der(&leaf.spki_der)?;
    alg::check(&key.descriptor(), key_use, alg)?;
    let mut jwk = Jwk::from_public_key(&key);
    jwk.key_use = Some(key_use.jose().to_owned());
    jwk.alg = Some(alg.jose_name().to_owned());
    jwk.x5c = Some(chain.iter().map(|c| b64::standard(&c.der)).collect());
    jwk.x5t = Some(b64::url(&Sha1::digest(&leaf.der)));
    jwk.x5t_s256 = Some(b64::url(&Sha256::digest(&leaf.der)));
    jwk.kid = Some(match kid {
        Some(k) if !k.trim().is_empty() => k.to_owned(),
        _ => jwk.thumbprint_sha256()?,
    });
    Ok(jwk)
}

// Helpers shared with `key` and `jwk_json` (same rules as the SPKI reader above).

/// Read a PKCS#1 `RSAPublicKey` DER (RFC 8017 §A.1.1) with the rules of
/// [`PublicKey::from_spki_der`]: minimal `n`/`e`, then [`crate::validation::rsa_public`].
pub(crate) fn rsa_public_from_pkcs1_der(der: &[u8]) -> Result<PublicKey, Error> {
    rsa_key(der)
}

/// Validate a SEC 1 point on `curve` (uncompressed or compressed, on the curve, not the
/// identity) and return its fixed-length affine coordinates.
pub(crate) fn ec_coordinates_of_point(
    curve: EcCurve,
    point: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), Error> {
    ec_point(curve, point)
}

/// The named curve of an OID content (no tag and length), if it is one of ours.
pub(crate) fn ec_curve_of_oid(oid: &[u8]) -> Option<EcCurve> {
    match oid {
        OID_P256 => Some(EcCurve::P256),
        OID_P384 => Some(EcCurve::P384),
        OID_P521 => Some(EcCurve::P521),
        OID_SECP256K1 => Some(EcCurve::Secp256k1),
        _ => None,
    }
}

/// The OID content of a named curve (RFC 5480 §2.1.1.1, SEC 2).
pub(crate) fn ec_curve_oid(curve: EcCurve) -> &'static [u8] {
    match curve {
        EcCurve::P256 => OID_P256,
        EcCurve::P384 => OID_P384,
        EcCurve::P521 => OID_P521,
        EcCurve::Secp256k1 => OID_SECP256K1,
    }
}

/// The OKP curve of an algorithm OID content (RFC 8410 §3), if it is one.
pub(crate) fn okp_curve_of_oid(oid: &[u8]) -> Option<OkpCurve> {
    match oid {
        OID_ED25519 => Some(OkpCurve::Ed25519),
        OID_ED448 => Some(OkpCurve::Ed448),
        OID_X25519 => Some(OkpCurve::X25519),
        OID_X448 => Some(OkpCurve::X448),
        _ => None,
    }
}

/// The algorithm OID content of an OKP curve (RFC 8410 §3).
pub(crate) fn okp_curve_oid(curve: OkpCurve) -> &'static [u8] {
    match curve {
        OkpCurve::Ed25519 => OID_ED25519,
        OkpCurve::Ed448 => OID_ED448,
        OkpCurve::X25519 => OID_X25519,
        OkpCurve::X448 => OID_X448,
    }
}

/// The OID contents of rsaEncryption and id-RSASSA-PSS, and of id-ecPublicKey.
pub(crate) const RSA_OIDS: [&[u8]; 2] = [OID_RSA, OID_RSA_PSS];
/// See [`RSA_OIDS`].
pub(crate) const EC_PUBLIC_KEY_OID: &[u8] = OID_EC;
/// rsaEncryption, the OID written by [`crate::key::PrivateKey::to_pkcs8_der`].
pub(crate) const RSA_ENCRYPTION_OID: &[u8] = OID_RSA;

/// Dotted form of an OID content, for messages.
pub(crate) fn dotted_oid(content: &[u8]) -> String {
    oid_string(content)
}

/// Bit length of a minimal big-endian unsigned integer.
pub(crate) fn bit_length(minimal: &[u8]) -> usize {
    bit_len(minimal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{KEY_FIXTURES, fixture};
    use crate::x509::{order_leaf_first, parse_certificates};

    fn leaf(name: &str) -> Certificate {
        parse_certificates(&fixture(name)).unwrap().remove(0)
    }

    fn key_of(name: &str) -> PublicKey {
        PublicKey::from_spki_der(&leaf(name).spki_der).unwrap()
    }

    fn decoded(s: &Option<String>) -> Vec<u8> {
        b64::decode_url(s.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn rfc7517_appendix_b() {
        let expected: serde_json::Value =
            serde_json::from_slice(&fixture("rfc/rfc7517-appendix-b.json")).unwrap();
        let chain = parse_certificates(&fixture("rfc/rfc7517-appendix-b.pem")).unwrap();
        let jwk =
            jwk_from_certificate_chain(&chain, KeyUse::Signature, Algorithm::RS256, Some("1b94c"))
                .unwrap();
        assert_eq!(jwk.kty, "RSA");
        assert_eq!(jwk.key_use.as_deref(), Some("sig"));
        assert_eq!(jwk.kid.as_deref(), Some("1b94c"));
        assert_eq!(jwk.n.as_deref(), expected["n"].as_str());
        assert_eq!(jwk.e.as_deref(), expected["e"].as_str());
        assert_eq!(jwk.e.as_deref(), Some("AQAB"));
        let x5c = jwk.x5c.as_ref().unwrap();
        assert_eq!(x5c.len(), 1);
        assert_eq!(Some(x5c[0].as_str()), expected["x5c"][0].as_str());
    }

    #[test]
    fn every_key_fixture_converts_with_exact_lengths() {
        for (name, kty, crv) in KEY_FIXTURES {
            let key = key_of(&format!("{name}.pem"));
            let jwk = Jwk::from_public_key(&key);
            assert_eq!(jwk.kty, *kty, "{name}");
            assert_eq!(jwk.crv.as_deref(), *crv, "{name}");
            match key {
                PublicKey::Rsa { ref n, ref e } => {
                    assert_ne!(n[0], 0, "{name}: n minimal");
                    assert_ne!(e[0], 0, "{name}: e minimal");
                    assert_eq!(decoded(&jwk.e), vec![1, 0, 1]);
                    let bits: usize = name
                        .trim_start_matches("rsapss")
                        .trim_start_matches("rsa")
                        .parse()
                        .unwrap();
                    assert_eq!(bit_len(n), bits, "{name}");
                    assert_eq!(decoded(&jwk.n).len(), bits / 8, "{name}");
                }
                PublicKey::Ec { curve, .. } => {
                    assert_eq!(decoded(&jwk.x).len(), curve.coordinate_len(), "{name}");
                    assert_eq!(decoded(&jwk.y).len(), curve.coordinate_len(), "{name}");
                }
                PublicKey::Okp { curve, .. } => {
                    assert_eq!(decoded(&jwk.x).len(), curve.key_len(), "{name}");
                    assert!(jwk.y.is_none());
                }
            }
        }
    }

    #[test]
    fn ec_coordinates_keep_their_leading_zero_octet() {
        for (name, len) in [("p256-lz.pem", 32), ("p521-lz.pem", 66)] {
            let jwk = Jwk::from_public_key(&key_of(name));
            let x = decoded(&jwk.x);
            assert_eq!(x.len(), len, "{name}");
            assert_eq!(x[0], 0, "{name}: fixture has x starting with 0x00");
            assert_eq!(decoded(&jwk.y).len(), len, "{name}");
        }
    }

    #[test]
    fn compressed_points_are_decompressed() {
        for name in [
            "p256.pem",
            "p384.pem",
            "p521.pem",
            "secp256k1.pem",
            "p521-lz.pem",
        ] {
            let spki = leaf(name).spki_der;
            let PublicKey::Ec { curve, x, y } = PublicKey::from_spki_der(&spki).unwrap() else {
                panic!("{name} is EC");
            };
            let mut compressed = vec![if y[y.len() - 1] & 1 == 1 { 3 } else { 2 }];
            compressed.extend_from_slice(&x);
            let spki_c = rebuild_ec_spki(&spki, &compressed);
            let again = PublicKey::from_spki_der(&spki_c).unwrap();
            assert_eq!(
                again,
                PublicKey::Ec {
                    curve,
                    x: x.clone(),
                    y: y.clone()
                },
                "{name}"
            );
            // the other parity gives the other y, still on the curve
            compressed[0] ^= 1;
            let other = PublicKey::from_spki_der(&rebuild_ec_spki(&spki, &compressed)).unwrap();
            assert_ne!(other, again);
        }
    }

    /// Replace the point of an EC SPKI: SEQUENCE { algId, BIT STRING }.
    fn rebuild_ec_spki(spki: &[u8], point: &[u8]) -> Vec<u8> {
        let (_, parsed) = SubjectPublicKeyInfo::from_der(spki).unwrap();
        let total = spki.len();
        let old_point_len = parsed.subject_public_key.data.len();
        // algId DER = everything between the outer header and the BIT STRING
        let outer_header = if spki[1] & 0x80 != 0 {
            2 + (spki[1] & 0x7f) as usize
        } else {
            2
        };
        let bit_header = if old_point_len + 1 < 128 { 2 } else { 3 };
        let alg_id = &spki[outer_header..total - old_point_len - 1 - bit_header];
        let mut bits = vec![0x03];
        der_len(&mut bits, point.len() + 1);
        bits.push(0);
        bits.extend_from_slice(point);
        let mut body = alg_id.to_vec();
        body.extend_from_slice(&bits);
        let mut out = vec![0x30];
        der_len(&mut out, body.len());
        out.extend_from_slice(&body);
        out
    }

    fn der_len(out: &mut Vec<u8>, len: usize) {
        if len < 128 {
            out.push(len as u8);
        } else if len < 256 {
            out.extend_from_slice(&[0x81, len as u8]);
        } else {
            out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
        }
    }

    #[test]
    fn points_off_the_curve_are_refused() {
        for name in ["p256.pem", "p384.pem", "p521.pem", "secp256k1.pem"] {
            let spki = leaf(name).spki_der;
            let PublicKey::Ec { x, mut y, curve } = PublicKey::from_spki_der(&spki).unwrap() else {
                panic!()
            };
            let last = y.len() - 1;
            y[last] ^= 1;
            let mut point = vec![4];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let err = PublicKey::from_spki_der(&rebuild_ec_spki(&spki, &point)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "The public key is not valid: the point is not on the {} curve",
                    curve.jose()
                )
            );
            // wrong length, the identity, hybrid encodings
            for bad in [&point[..point.len() - 1], &[0u8][..], &[6u8; 65][..]] {
                assert!(PublicKey::from_spki_der(&rebuild_ec_spki(&spki, bad)).is_err());
            }
        }
    }

    #[test]
    fn other_curves_and_algorithms_are_named_in_errors() {
        // brainpoolP256r1 1.3.36.3.3.2.8.1.1.7 SPKI with some point
        let spki = leaf("p256.pem").spki_der;
        let swapped = replace_bytes(
            &spki,
            OID_P256,
            &[0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07],
        );
        let err = PublicKey::from_spki_der(&swapped).unwrap_err();
        assert_eq!(
            err.to_string(),
            "The elliptic curve with OID 1.3.36.3.3.2.8.1.1.7 is not supported! Accepted values: P-256, P-384, P-521, secp256k1"
        );
        // DSA algorithm OID in place of id-ecPublicKey (same length, 7 bytes)
        let dsa = replace_bytes(&spki, OID_EC, OID_DSA);
        assert_eq!(
            PublicKey::from_spki_der(&dsa).unwrap_err().to_string(),
            "The public key algorithm DSA (OID 1.2.840.10040.4.1) is not supported! Accepted values: RSA, EC (P-256, P-384, P-521, secp256k1), Ed25519, Ed448, X25519, X448"
        );
    }

    fn replace_bytes(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = haystack
            .windows(from.len())
            .position(|w| w == from)
            .unwrap();
        let mut out = haystack[..at].to_vec();
        out.extend_from_slice(to);
        out.extend_from_slice(&haystack[at + from.len()..]);
        // fix the lengths of the enclosing SEQUENCEs when sizes differ (only for +1 here)
        if to.len() != from.len() {
            let delta = to.len() as isize - from.len() as isize;
            // outer SEQUENCE (short form assumed), algId SEQUENCE, OID
            out[1] = (out[1] as isize + delta) as u8;
            out[3] = (out[3] as isize + delta) as u8;
            let oid_len_at = at - 1;
            out[oid_len_at] = (out[oid_len_at] as isize + delta) as u8;
        }
        out
    }

    #[test]
    fn rsa_minimal_encoding() {
        assert_eq!(
            unsigned_minimal(&[0x00, 0x80, 0x01]),
            Some(vec![0x80, 0x01])
        );
        assert_eq!(unsigned_minimal(&[0x00, 0x00, 0x01]), Some(vec![0x01]));
        assert_eq!(unsigned_minimal(&[0x7f]), Some(vec![0x7f]));
        assert_eq!(unsigned_minimal(&[0x80]), None, "negative");
        assert_eq!(unsigned_minimal(&[0x00]), None, "zero");
        assert_eq!(unsigned_minimal(&[]), None);
        assert_eq!(bit_len(&[0x01, 0x00]), 9);
        assert_eq!(bit_len(&[0x80]), 8);
        let PublicKey::Rsa { n, .. } = key_of("rsa2048.pem") else {
            panic!()
        };
        assert_eq!(n.len(), 256);
        assert!(n[0] & 0x80 != 0);
    }

    #[test]
    fn rsa_size_limits() {
        let key = |n: &[u8], e: &[u8]| {
            let mut body = Vec::new();
            for int in [n, e] {
                body.push(0x02);
                der_len(&mut body, int.len());
                body.extend_from_slice(int);
            }
            let mut seq = vec![0x30];
            der_len(&mut seq, body.len());
            seq.extend_from_slice(&body);
            rsa_key(&seq)
        };
        let PublicKey::Rsa { n: real, .. } = key_of("rsa1024.pem") else {
            panic!("an RSA fixture")
        };
        let n1024 = [&[0x00u8][..], &real].concat();
        assert!(key(&n1024, &[1, 0, 1]).is_ok());
        let n1016 = [&[0x00u8, 0xc1][..], &[0x55; 126][..]].concat();
        assert_eq!(
            key(&n1016, &[1, 0, 1]).unwrap_err(),
            Error::RsaKeySize { bits: 1016 }
        );
        assert_eq!(
            key(&n1016, &[1, 0, 1]).unwrap_err().to_string(),
            "The RSA key size (1016 bits) is not supported! Accepted values: 1024 to 16384 bits"
        );
        assert!(key(&n1024, &[1]).is_err(), "e = 1");
        assert!(key(&n1024, &[2]).is_err(), "even e");
        assert!(key(&n1024, &[0]).is_err(), "e = 0");
        assert!(key(&n1024, &[0xff]).is_err(), "negative e");
        assert!(key(&[0x80; 129], &[3]).is_err(), "negative n");
    }

    #[test]
    fn rsassa_pss_keyed_spki_is_read_as_rsa() {
        let cert = leaf("rsapss2048.pem");
        // the SPKI names id-RSASSA-PSS, not rsaEncryption
        assert!(
            cert.spki_der
                .windows(OID_RSA_PSS.len())
                .any(|w| w == OID_RSA_PSS)
        );
        let chain = vec![cert];
        let jwk =
            jwk_from_certificate_chain(&chain, KeyUse::Signature, Algorithm::PS256, None).unwrap();
        assert_eq!(jwk.kty, "RSA");
        assert_eq!(decoded(&jwk.n).len(), 256);
    }

    #[test]
    fn okp_lengths_are_exact() {
        let spki = leaf("ed25519.pem").spki_der;
        let PublicKey::Okp { x, .. } = PublicKey::from_spki_der(&spki).unwrap() else {
            panic!()
        };
        assert_eq!(x.len(), 32);
        // shorten the key by one byte: 30 2a { 30 05 { 06 03 OID }, 03 21 { 00, key } }
        let mut short = spki.clone();
        short.pop();
        short[1] -= 1;
        short[10] -= 1;
        assert_eq!(
            PublicKey::from_spki_der(&short).unwrap_err().to_string(),
            "The public key is not valid: an Ed25519 public key must be 32 bytes long, not 31"
        );
    }

    #[test]
    fn spki_garbage() {
        for bad in [
            &[][..],
            &[0x30, 0x00][..],
            &[0x30, 0x03, 0x02, 0x01, 0x00][..],
            b"hello",
        ] {
            assert!(PublicKey::from_spki_der(bad).is_err());
        }
        let mut spki = leaf("p256.pem").spki_der;
        spki.push(0);
        assert_eq!(
            PublicKey::from_spki_der(&spki).unwrap_err().to_string(),
            "The public key is not valid: unexpected bytes follow the SubjectPublicKeyInfo"
        );
    }

    #[test]
    fn descriptors() {
        assert_eq!(
            key_of("secp256k1.pem").descriptor(),
            KeyDescriptor {
                kty: KeyType::Ec,
                ec_curve: Some(EcCurve::Secp256k1),
                okp_curve: None
            }
        );
        assert_eq!(
            key_of("x448.pem").descriptor().okp_curve,
            Some(OkpCurve::X448)
        );
        assert_eq!(key_of("rsa1024.pem").descriptor().kty, KeyType::Rsa);
    }

    #[test]
    fn names_of_types_and_curves() {
        for k in [KeyType::Rsa, KeyType::Ec, KeyType::Oct, KeyType::Okp] {
            assert_eq!(KeyType::from_jose(k.jose()), Some(k));
        }
        assert_eq!(KeyType::Oct.jose(), "oct");
        assert_eq!(KeyType::Oct.api_name(), "OCT");
        for c in [
            EcCurve::P256,
            EcCurve::P384,
            EcCurve::P521,
            EcCurve::Secp256k1,
        ] {
            assert_eq!(EcCurve::from_jose(c.jose()), Some(c));
        }
        assert_eq!(
            [
                EcCurve::P256,
                EcCurve::P384,
                EcCurve::P521,
                EcCurve::Secp256k1
            ]
            .map(|c| c.coordinate_len()),
            [32, 48, 66, 32]
        );
        for c in [
            OkpCurve::Ed25519,
            OkpCurve::Ed448,
            OkpCurve::X25519,
            OkpCurve::X448,
        ] {
            assert_eq!(OkpCurve::from_jose(c.jose()), Some(c));
        }
        assert_eq!(
            [
                OkpCurve::Ed25519,
                OkpCurve::Ed448,
                OkpCurve::X25519,
                OkpCurve::X448
            ]
            .map(|c| c.key_len()),
            [32, 57, 32, 56]
        );
    }

    #[test]
    fn jwk_from_chain_given_root_first() {
        let certs = parse_certificates(&fixture("chain-root-first.pem")).unwrap();
        let root_first: Vec<Vec<u8>> = certs.iter().map(|c| c.der.clone()).collect();
        let chain = order_leaf_first(certs).unwrap();
        let jwk =
            jwk_from_certificate_chain(&chain, KeyUse::Signature, Algorithm::RS256, None).unwrap();
        let x5c = jwk.x5c.clone().unwrap();
        assert_eq!(x5c.len(), 3);
        // leaf first: the reverse of the upload
        let expected: Vec<String> = root_first.iter().rev().map(|d| b64::standard(d)).collect();
        assert_eq!(x5c, expected);
        for entry in &x5c {
            assert!(entry.len() % 4 == 0, "padded");
            assert!(
                !entry.contains('-') && !entry.contains('_'),
                "standard alphabet"
            );
            assert_eq!(b64::decode_standard_lenient(entry).unwrap()[0], 0x30);
        }
        // the key is the leaf's
        let leaf_key = PublicKey::from_spki_der(&chain[0].spki_der).unwrap();
        assert_eq!(jwk.n, Jwk::from_public_key(&leaf_key).n);
        // x5t and x5t#S256: base64url of the raw 20 / 32 byte digests of the leaf
        let x5t = decoded(&jwk.x5t);
        let x5t256 = decoded(&jwk.x5t_s256);
        assert_eq!(x5t.len(), 20);
        assert_eq!(x5t256.len(), 32);
        assert_eq!(x5t, Sha1::digest(&chain[0].der).to_vec());
        assert_eq!(x5t256, Sha256::digest(&chain[0].der).to_vec());
        assert_eq!(crate::x509::upper_hex(&x5t), chain[0].sha1_thumbprint);
        for t in [jwk.x5t.as_ref().unwrap(), jwk.x5t_s256.as_ref().unwrap()] {
            assert!(!t.contains('=') && !t.contains('+') && !t.contains('/'));
        }
        // kid = RFC 7638 thumbprint when not given
        assert_eq!(
            jwk.kid,
            Some(Jwk::from_public_key(&leaf_key).thumbprint_sha256().unwrap())
        );
        assert_eq!(jwk.kid.as_ref().unwrap().len(), 43);
    }

    #[test]
    fn kid_given_wins_and_blank_is_absent() {
        let chain = parse_certificates(&fixture("p256.pem")).unwrap();
        let given =
            jwk_from_certificate_chain(&chain, KeyUse::Signature, Algorithm::ES256, Some("my-kid"))
                .unwrap();
        assert_eq!(given.kid.as_deref(), Some("my-kid"));
        let thumb =
            jwk_from_certificate_chain(&chain, KeyUse::Signature, Algorithm::ES256, None).unwrap();
        for blank in ["", "  "] {
            let j = jwk_from_certificate_chain(
                &chain,
                KeyUse::Signature,
                Algorithm::ES256,
                Some(blank),
            )
            .unwrap();
            assert_eq!(j.kid, thumb.kid);
        }
    }

    #[test]
    fn algorithm_is_checked_against_the_leaf() {
        let chain = parse_certificates(&fixture("p384.pem")).unwrap();
        let err = jwk_from_certificate_chain(&chain, KeyUse::Signature, Algorithm::ES256, None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "algorithm (ES256) is not valid for an EC key on curve P-384 with useType SIGNATURE! Accepted values: ES384"
        );
        let enc =
            jwk_from_certificate_chain(&chain, KeyUse::Encryption, Algorithm::ECDH_ES_A256KW, None)
                .unwrap();
        assert_eq!(enc.key_use.as_deref(), Some("enc"));
        assert_eq!(enc.alg.as_deref(), Some("ECDH-ES+A256KW"));
        let ed = parse_certificates(&fixture("ed25519.pem")).unwrap();
        assert!(
            jwk_from_certificate_chain(&ed, KeyUse::Encryption, Algorithm::ECDH_ES, None).is_err()
        );
        let x = parse_certificates(&fixture("x25519.pem")).unwrap();
        assert!(jwk_from_certificate_chain(&x, KeyUse::Signature, Algorithm::EdDSA, None).is_err());
        assert_eq!(
            jwk_from_certificate_chain(&[], KeyUse::Signature, Algorithm::EdDSA, None).unwrap_err(),
            Error::EmptyChain
        );
    }

    #[test]
    fn serialisation_order_and_absent_members() {
        let chain = parse_certificates(&fixture("p256.pem")).unwrap();
        let jwk =
            jwk_from_certificate_chain(&chain, KeyUse::Signature, Algorithm::ES256, Some("k1"))
                .unwrap();
        let json = serde_json::to_string(&jwk).unwrap();
        let keys: Vec<&str> = [
            "\"kty\"",
            "\"use\"",
            "\"alg\"",
            "\"kid\"",
            "\"crv\"",
            "\"x\"",
            "\"y\"",
            "\"x5c\"",
            "\"x5t\"",
            "\"x5t#S256\"",
        ]
        .into_iter()
        .collect();
        let positions: Vec<usize> = keys.iter().map(|k| json.find(k).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{json}");
        assert!(json.starts_with(
            r#"{"kty":"EC","use":"sig","alg":"ES256","kid":"k1","crv":"P-256","x":""#
        ));
        for absent in ["\"n\"", "\"d\"", "null", "key_ops", "\"k\""] {
            assert!(!json.contains(absent), "{absent} in {json}");
        }
        let back: Jwk = serde_json::from_str(&json).unwrap();
        assert_eq!(back, jwk);
        // unknown members are ignored
        let with_extra: Jwk = serde_json::from_str(r#"{"kty":"oct","k":"AA","ext":true}"#).unwrap();
        assert_eq!(with_extra.k.as_deref(), Some("AA"));
    }

    #[test]
    fn public_only_drops_private_members() {
        let jwk = Jwk {
            kty: "RSA".into(),
            n: Some("n".into()),
            e: Some("e".into()),
            d: Some("d".into()),
            p: Some("p".into()),
            q: Some("q".into()),
            dp: Some("dp".into()),
            dq: Some("dq".into()),
            qi: Some("qi".into()),
            kid: Some("kid".into()),
            ..Jwk::default()
        };
        let public = jwk.public_only();
        assert_eq!(
            public,
            Jwk {
                kty: "RSA".into(),
                n: Some("n".into()),
                e: Some("e".into()),
                kid: Some("kid".into()),
                ..Jwk::default()
            }
        );
        let oct = Jwk {
            kty: "oct".into(),
            k: Some("secret".into()),
            ..Jwk::default()
        };
        assert_eq!(oct.public_only().k, None);
    }

    #[test]
    fn rfc8037_okp_jwk_round_trip() {
        let jwk: Jwk = serde_json::from_slice(&fixture("rfc/rfc8037-appendix-a.json")).unwrap();
        let x = decoded(&jwk.x);
        assert_eq!(x.len(), 32);
        let rebuilt = Jwk::from_public_key(&PublicKey::Okp {
            curve: OkpCurve::Ed25519,
            x,
        });
        assert_eq!(rebuilt, jwk);
        assert_eq!(
            rebuilt.thumbprint_sha256().unwrap(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
