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

use serde::de::{self, Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};
use sha2::{Digest, Sha256};
use x509_parser::asn1_rs::{FromDer, Oid, Tag};
use x509_parser::public_key::RSAPublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::alg::{self, Algorithm, KeyUse};
use crate::b64;
use crate::error::Error;
use crate::json;
pub use crate::kty::{EcCurve, KeyDescriptor, KeyType, OkpCurve};
use crate::thumbprint::{self, RequiredMembers};
use crate::x509::Certificate;

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
        PublicKey::from_spki(&spki)
    }

    /// [`PublicKey::from_spki_der`] of an already parsed SubjectPublicKeyInfo (a certificate's).
    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, Error> {
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

/// A JSON Web Key (RFC 7517 §4): the members common to every key type, and the key type's own
/// members in [`KeyParams`], so that members of two key types cannot be mixed.
///
/// Serialises ([`Jwk::to_json`], or `Serialize`: the same bytes) in RFC 7517 member order —
/// `kty`, `use`, `key_ops`, `alg`, `kid`, the key material (`crv`, `n`, `e`, `x`, `y`, `d`, `p`,
/// `q`, `dp`, `dq`, `qi`, `k`, in this order), then `x5c`, `x5t`, `x5t#S256` — and leaves out
/// absent members. `Deserialize` reads the members of the JWK's `kty` (a member of another key
/// type is refused, unknown members are ignored) and checks nothing else: validated input goes
/// through [`crate::jwk_json::parse_jwk_or_set`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    /// Public key use, `sig` or `enc` (RFC 7517 §4.2).
    pub key_use: Option<String>,
    /// Key operations (RFC 7517 §4.3).
    pub key_ops: Option<Vec<String>>,
    /// Algorithm (RFC 7517 §4.4).
    pub alg: Option<String>,
    /// Key ID (RFC 7517 §4.5).
    pub kid: Option<String>,
    /// `kty` and the members of that key type.
    pub params: KeyParams,
    /// X.509 certificate chain: standard padded base64 DER, leaf first (RFC 7517 §4.7).
    pub x5c: Option<Vec<String>>,
    /// base64url SHA-1 of the leaf DER (RFC 7517 §4.8).
    pub x5t: Option<String>,
    /// base64url SHA-256 of the leaf DER (RFC 7517 §4.9).
    pub x5t_s256: Option<String>,
}

/// The key type (`kty`) and its members (RFC 7518 §6, RFC 8037 §2), octet values as base64url
/// text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyParams {
    /// `RSA` (RFC 7518 §6.3).
    Rsa {
        /// Modulus (§6.3.1.1).
        n: String,
        /// Public exponent (§6.3.1.2).
        e: String,
        /// The private members, if any (§6.3.2).
        private: Option<RsaPrivate>,
    },
    /// `EC` (RFC 7518 §6.2).
    Ec {
        /// Curve (§6.2.1.1).
        crv: EcCurve,
        /// x coordinate (§6.2.1.2).
        x: String,
        /// y coordinate (§6.2.1.3).
        y: String,
        /// ECC private key (§6.2.2.1).
        d: Option<String>,
    },
    /// `OKP` (RFC 8037 §2).
    Okp {
        /// Curve.
        crv: OkpCurve,
        /// Public key.
        x: String,
        /// Private key.
        d: Option<String>,
    },
    /// `oct` (RFC 7518 §6.4).
    Oct {
        /// Key value (§6.4.1).
        k: String,
    },
}

/// The private members of an RSA JWK (RFC 7518 §6.3.2): `d`, and the CRT members, which come
/// all together or not at all (§6.3.2: "if the producer includes any of the other private key
/// parameters, then all of the others MUST be present"; `oth` is not supported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaPrivate {
    /// Private exponent (§6.3.2.1).
    pub d: String,
    /// `p`, `q`, `dp`, `dq`, `qi` (§6.3.2.2 to §6.3.2.6).
    pub crt: Option<RsaCrt>,
}

/// The CRT members of an RSA private key (RFC 7518 §6.3.2.2 to §6.3.2.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaCrt {
    /// First prime factor.
    pub p: String,
    /// Second prime factor.
    pub q: String,
    /// First factor CRT exponent.
    pub dp: String,
    /// Second factor CRT exponent.
    pub dq: String,
    /// First CRT coefficient.
    pub qi: String,
}

/// Members holding private key material in the asymmetric key types (RFC 7518 §6.2.2.1,
/// §6.3.2; RFC 8037 §2), `oth` included though keyward refuses it. The one list: the store's
/// split of a stored JWK into public and sealed parts and [`Jwk::public_only`] follow it.
pub const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth"];

/// The private members of a JWK of type `kty`, in this order: every member of
/// [`PRIVATE_MEMBERS`], whatever the key type (a stray one is never published), then `k` of an
/// `oct` key (RFC 7518 §6.4.1).
pub fn private_members(kty: &str) -> impl Iterator<Item = &'static str> {
    PRIVATE_MEMBERS
        .iter()
        .copied()
        .chain((kty == "oct").then_some("k"))
}

/// Whether member `name` of a JWK of type `kty` is one of its [`private_members`].
pub fn is_private_member(kty: &str, name: &str) -> bool {
    private_members(kty).any(|m| m == name)
}

/// One member value, as [`Jwk::members`] lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    /// A string.
    Text(&'a str),
    /// An array of strings (`key_ops`, `x5c`).
    List(&'a [String]),
}

impl KeyParams {
    /// The key type.
    pub fn kty(&self) -> KeyType {
        match self {
            KeyParams::Rsa { .. } => KeyType::Rsa,
            KeyParams::Ec { .. } => KeyType::Ec,
            KeyParams::Okp { .. } => KeyType::Okp,
            KeyParams::Oct { .. } => KeyType::Oct,
        }
    }

    /// Key type and curve, for [`crate::alg::check`].
    pub fn descriptor(&self) -> KeyDescriptor {
        let (ec_curve, okp_curve) = match self {
            KeyParams::Ec { crv, .. } => (Some(*crv), None),
            KeyParams::Okp { crv, .. } => (None, Some(*crv)),
            KeyParams::Rsa { .. } | KeyParams::Oct { .. } => (None, None),
        };
        KeyDescriptor {
            kty: self.kty(),
            ec_curve,
            okp_curve,
        }
    }

    /// The members RFC 7638 hashes.
    pub fn required_members(&self) -> RequiredMembers<'_> {
        match self {
            KeyParams::Rsa { n, e, .. } => RequiredMembers::Rsa { e, n },
            KeyParams::Ec { crv, x, y, .. } => RequiredMembers::Ec {
                crv: crv.jose(),
                x,
                y,
            },
            KeyParams::Okp { crv, x, .. } => RequiredMembers::Okp { crv: crv.jose(), x },
            KeyParams::Oct { k } => RequiredMembers::Oct { k },
        }
    }

    /// Whether any private member is present (`k` of an `oct` key is one).
    pub fn has_private(&self) -> bool {
        match self {
            KeyParams::Rsa { private, .. } => private.is_some(),
            KeyParams::Ec { d, .. } | KeyParams::Okp { d, .. } => d.is_some(),
            KeyParams::Oct { .. } => true,
        }
    }

    /// The key material members in serialisation order: `crv`, `n`, `e`, `x`, `y`, `d`, `p`,
    /// `q`, `dp`, `dq`, `qi`, `k`.
    fn members(&self, mut visit: impl FnMut(&'static str, &str)) {
        match self {
            KeyParams::Rsa { n, e, private } => {
                visit("n", n);
                visit("e", e);
                if let Some(RsaPrivate { d, crt }) = private {
                    visit("d", d);
                    if let Some(RsaCrt { p, q, dp, dq, qi }) = crt {
                        visit("p", p);
                        visit("q", q);
                        visit("dp", dp);
                        visit("dq", dq);
                        visit("qi", qi);
                    }
                }
            }
            KeyParams::Ec { crv, x, y, d } => {
                visit("crv", crv.jose());
                visit("x", x);
                visit("y", y);
                if let Some(d) = d {
                    visit("d", d);
                }
            }
            KeyParams::Okp { crv, x, d } => {
                visit("crv", crv.jose());
                visit("x", x);
                if let Some(d) = d {
                    visit("d", d);
                }
            }
            KeyParams::Oct { k } => visit("k", k),
        }
    }
}

impl Jwk {
    /// A JWK of `params` with no other member.
    pub fn new(params: KeyParams) -> Jwk {
        Jwk {
            key_use: None,
            key_ops: None,
            alg: None,
            kid: None,
            params,
            x5c: None,
            x5t: None,
            x5t_s256: None,
        }
    }

    /// The public JWK of a key: `kty` and its material only.
    pub fn from_public_key(key: &PublicKey) -> Jwk {
        Jwk::new(match key {
            PublicKey::Rsa { n, e } => KeyParams::Rsa {
                n: b64::url_public(n),
                e: b64::url_public(e),
                private: None,
            },
            PublicKey::Ec { curve, x, y } => KeyParams::Ec {
                crv: *curve,
                x: b64::url_public(x),
                y: b64::url_public(y),
                d: None,
            },
            PublicKey::Okp { curve, x } => KeyParams::Okp {
                crv: *curve,
                x: b64::url_public(x),
                d: None,
            },
        })
    }

    /// The key type.
    pub fn kty(&self) -> KeyType {
        self.params.kty()
    }

    /// RFC 7638 SHA-256 thumbprint, base64url.
    pub fn thumbprint_sha256(&self) -> String {
        thumbprint::thumbprint_sha256(&self.params.required_members())
    }

    /// RFC 7638 SHA-1 thumbprint, base64url.
    pub fn thumbprint_sha1(&self) -> String {
        thumbprint::thumbprint_sha1(&self.params.required_members())
    }

    /// The same JWK without its private members ([`PRIVATE_MEMBERS`]); `None` for an `oct`
    /// key, whose only material is the secret `k` (callers that must refuse a public-only
    /// export of a symmetric key say so).
    pub fn public_only(&self) -> Option<Jwk> {
        let params = match &self.params {
            KeyParams::Rsa { n, e, .. } => KeyParams::Rsa {
                n: n.clone(),
                e: e.clone(),
                private: None,
            },
            KeyParams::Ec { crv, x, y, .. } => KeyParams::Ec {
                crv: *crv,
                x: x.clone(),
                y: y.clone(),
                d: None,
            },
            KeyParams::Okp { crv, x, .. } => KeyParams::Okp {
                crv: *crv,
                x: x.clone(),
                d: None,
            },
            KeyParams::Oct { .. } => return None,
        };
        Some(Jwk {
            params,
            ..self.clone()
        })
    }

    /// Every present member, in serialisation order (see [`Jwk`]).
    pub fn members(&self, mut visit: impl FnMut(&'static str, Member<'_>)) {
        visit("kty", Member::Text(self.kty().jose()));
        fn text(v: &Option<String>) -> Option<Member<'_>> {
            v.as_deref().map(Member::Text)
        }
        fn list(v: &Option<Vec<String>>) -> Option<Member<'_>> {
            v.as_deref().map(Member::List)
        }
        for (name, value) in [
            ("use", text(&self.key_use)),
            ("key_ops", list(&self.key_ops)),
            ("alg", text(&self.alg)),
            ("kid", text(&self.kid)),
        ] {
            if let Some(value) = value {
                visit(name, value);
            }
        }
        self.params
            .members(|name, value| visit(name, Member::Text(value)));
        for (name, value) in [
            ("x5c", list(&self.x5c)),
            ("x5t", text(&self.x5t)),
            ("x5t#S256", text(&self.x5t_s256)),
        ] {
            if let Some(value) = value {
                visit(name, value);
            }
        }
    }

    /// The JSON text of the JWK, compact, written in one pass into one buffer (the same bytes
    /// as `serde_json::to_string`).
    pub fn to_json(&self) -> String {
        let mut size = 16;
        self.members(|name, value| {
            size += name.len()
                + 6
                + match value {
                    Member::Text(s) => s.len(),
                    Member::List(items) => items.iter().map(|s| s.len() + 3).sum::<usize>() + 2,
                };
        });
        let mut out = String::with_capacity(size);
        out.push('{');
        self.members(|name, value| {
            if out.len() > 1 {
                out.push(',');
            }
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
            match value {
                Member::Text(s) => json::write_string(&mut out, s),
                Member::List(items) => {
                    out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        json::write_string(&mut out, item);
                    }
                    out.push(']');
                }
            }
        });
        out.push('}');
        out
    }
}

impl Serialize for Jwk {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let mut result = Ok(());
        self.members(|name, value| {
            if result.is_ok() {
                result = match value {
                    Member::Text(s) => map.serialize_entry(name, s),
                    Member::List(items) => map.serialize_entry(name, items),
                };
            }
        });
        result?;
        map.end()
    }
}

/// Every member `Deserialize` reads, flat, as RFC 7517 names them.
#[derive(serde::Deserialize)]
struct FlatJwk {
    kty: String,
    #[serde(rename = "use")]
    key_use: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    kid: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    d: Option<String>,
    p: Option<String>,
    q: Option<String>,
    dp: Option<String>,
    dq: Option<String>,
    qi: Option<String>,
    k: Option<String>,
    x5c: Option<Vec<String>>,
    x5t: Option<String>,
    #[serde(rename = "x5t#S256")]
    x5t_s256: Option<String>,
}

impl<'de> Deserialize<'de> for Jwk {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Jwk, D::Error> {
        let flat = FlatJwk::deserialize(deserializer)?;
        let kty = flat.kty.as_str();
        let foreign = |allowed: &[&str]| -> Result<(), D::Error> {
            let present = [
                ("crv", flat.crv.is_some()),
                ("n", flat.n.is_some()),
                ("e", flat.e.is_some()),
                ("x", flat.x.is_some()),
                ("y", flat.y.is_some()),
                ("d", flat.d.is_some()),
                ("p", flat.p.is_some()),
                ("q", flat.q.is_some()),
                ("dp", flat.dp.is_some()),
                ("dq", flat.dq.is_some()),
                ("qi", flat.qi.is_some()),
                ("k", flat.k.is_some()),
            ];
            match present
                .iter()
                .find(|(name, is)| *is && !allowed.contains(name))
            {
                Some((name, _)) => Err(de::Error::custom(format!(
                    "member \"{name}\" is not a member of key type {kty}"
                ))),
                None => Ok(()),
            }
        };
        let need = |member: &'static str, v: Option<String>| {
            v.ok_or_else(|| {
                de::Error::custom(Error::MissingMember {
                    kty: kty.to_owned(),
                    member,
                })
            })
        };
        let params = match KeyType::from_jose(kty) {
            Some(KeyType::Rsa) => {
                foreign(&["n", "e", "d", "p", "q", "dp", "dq", "qi"])?;
                let crt = match (flat.p, flat.q, flat.dp, flat.dq, flat.qi) {
                    (None, None, None, None, None) => None,
                    (p, q, dp, dq, qi) => Some(RsaCrt {
                        p: need("p", p)?,
                        q: need("q", q)?,
                        dp: need("dp", dp)?,
                        dq: need("dq", dq)?,
                        qi: need("qi", qi)?,
                    }),
                };
                let private = match (flat.d, crt) {
                    (None, None) => None,
                    (d, crt) => Some(RsaPrivate {
                        d: need("d", d)?,
                        crt,
                    }),
                };
                KeyParams::Rsa {
                    n: need("n", flat.n)?,
                    e: need("e", flat.e)?,
                    private,
                }
            }
            Some(KeyType::Ec) => {
                foreign(&["crv", "x", "y", "d"])?;
                let crv = need("crv", flat.crv)?;
                KeyParams::Ec {
                    crv: EcCurve::from_jose(&crv)
                        .ok_or_else(|| de::Error::custom(Error::UnsupportedCurve { curve: crv }))?,
                    x: need("x", flat.x)?,
                    y: need("y", flat.y)?,
                    d: flat.d,
                }
            }
            Some(KeyType::Okp) => {
                foreign(&["crv", "x", "d"])?;
                let crv = need("crv", flat.crv)?;
                KeyParams::Okp {
                    crv: OkpCurve::from_jose(&crv)
                        .ok_or_else(|| de::Error::custom(Error::UnsupportedCurve { curve: crv }))?,
                    x: need("x", flat.x)?,
                    d: flat.d,
                }
            }
            Some(KeyType::Oct) => {
                foreign(&["k"])?;
                KeyParams::Oct {
                    k: need("k", flat.k)?,
                }
            }
            None => {
                return Err(de::Error::custom(Error::UnknownKeyType {
                    kty: kty.to_owned(),
                }));
            }
        };
        Ok(Jwk {
            key_use: flat.key_use,
            key_ops: flat.key_ops,
            alg: flat.alg,
            kid: flat.kid,
            params,
            x5c: flat.x5c,
            x5t: flat.x5t,
            x5t_s256: flat.x5t_s256,
        })
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
    let key = match &leaf.public_key {
        Some(key) => key,
        // The reason it was not read (an unsupported algorithm, size or curve).
        None => &PublicKey::from_spki_der(&leaf.spki_der)?,
    };
    alg::check(&key.descriptor(), key_use, alg)?;
    let mut jwk = Jwk::from_public_key(key);
    jwk.key_use = Some(key_use.jose().to_owned());
    jwk.alg = Some(alg.jose_name().to_owned());
    jwk.x5c = Some(chain.iter().map(|c| b64::standard_public(&c.der)).collect());
    jwk.x5t = Some(b64::url_public(&leaf.sha1));
    jwk.x5t_s256 = Some(b64::url_public(&Sha256::digest(&leaf.der)));
    jwk.kid = Some(match kid {
        Some(k) if !k.trim().is_empty() => k.to_owned(),
        _ => jwk.thumbprint_sha256(),
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
    use crate::test_support::{KEY_FIXTURES, fixture, m};
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
        assert_eq!(jwk.kty().jose(), "RSA");
        assert_eq!(jwk.key_use.as_deref(), Some("sig"));
        assert_eq!(jwk.kid.as_deref(), Some("1b94c"));
        assert_eq!(m(&jwk, "n").as_deref(), expected["n"].as_str());
        assert_eq!(m(&jwk, "e").as_deref(), expected["e"].as_str());
        assert_eq!(m(&jwk, "e").as_deref(), Some("AQAB"));
        let x5c = jwk.x5c.as_ref().unwrap();
        assert_eq!(x5c.len(), 1);
        assert_eq!(Some(x5c[0].as_str()), expected["x5c"][0].as_str());
    }

    #[test]
    fn every_key_fixture_converts_with_exact_lengths() {
        for (name, kty, crv) in KEY_FIXTURES {
            let key = key_of(&format!("{name}.pem"));
            let jwk = Jwk::from_public_key(&key);
            assert_eq!(jwk.kty().jose(), *kty, "{name}");
            assert_eq!(m(&jwk, "crv").as_deref(), *crv, "{name}");
            match key {
                PublicKey::Rsa { ref n, ref e } => {
                    assert_ne!(n[0], 0, "{name}: n minimal");
                    assert_ne!(e[0], 0, "{name}: e minimal");
                    assert_eq!(decoded(&m(&jwk, "e")), vec![1, 0, 1]);
                    let bits: usize = name
                        .trim_start_matches("rsapss")
                        .trim_start_matches("rsa")
                        .parse()
                        .unwrap();
                    assert_eq!(bit_len(n), bits, "{name}");
                    assert_eq!(decoded(&m(&jwk, "n")).len(), bits / 8, "{name}");
                }
                PublicKey::Ec { curve, .. } => {
                    assert_eq!(
                        decoded(&m(&jwk, "x")).len(),
                        curve.coordinate_len(),
                        "{name}"
                    );
                    assert_eq!(
                        decoded(&m(&jwk, "y")).len(),
                        curve.coordinate_len(),
                        "{name}"
                    );
                }
                PublicKey::Okp { curve, .. } => {
                    assert_eq!(decoded(&m(&jwk, "x")).len(), curve.key_len(), "{name}");
                    assert!(m(&jwk, "y").is_none());
                }
            }
        }
    }

    #[test]
    fn ec_coordinates_keep_their_leading_zero_octet() {
        for (name, len) in [("p256-lz.pem", 32), ("p521-lz.pem", 66)] {
            let jwk = Jwk::from_public_key(&key_of(name));
            let x = decoded(&m(&jwk, "x"));
            assert_eq!(x.len(), len, "{name}");
            assert_eq!(x[0], 0, "{name}: fixture has x starting with 0x00");
            assert_eq!(decoded(&m(&jwk, "y")).len(), len, "{name}");
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
        assert_eq!(jwk.kty().jose(), "RSA");
        assert_eq!(decoded(&m(&jwk, "n")).len(), 256);
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
        assert_eq!(m(&jwk, "n"), m(&Jwk::from_public_key(&leaf_key), "n"));
        // x5t and x5t#S256: base64url of the raw 20 / 32 byte digests of the leaf
        let x5t = decoded(&jwk.x5t);
        let x5t256 = decoded(&jwk.x5t_s256);
        assert_eq!(x5t.len(), 20);
        assert_eq!(x5t256.len(), 32);
        assert_eq!(x5t, sha1::Sha1::digest(&chain[0].der).to_vec());
        assert_eq!(x5t256, Sha256::digest(&chain[0].der).to_vec());
        assert_eq!(crate::x509::upper_hex(&x5t), chain[0].sha1_thumbprint);
        for t in [jwk.x5t.as_ref().unwrap(), jwk.x5t_s256.as_ref().unwrap()] {
            assert!(!t.contains('=') && !t.contains('+') && !t.contains('/'));
        }
        // kid = RFC 7638 thumbprint when not given
        assert_eq!(
            jwk.kid,
            Some(Jwk::from_public_key(&leaf_key).thumbprint_sha256())
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
        assert_eq!(m(&with_extra, "k").as_deref(), Some("AA"));
    }

    #[test]
    fn public_only_drops_private_members() {
        let jwk = Jwk {
            kid: Some("kid".into()),
            ..Jwk::new(KeyParams::Rsa {
                n: "n".into(),
                e: "e".into(),
                private: Some(RsaPrivate {
                    d: "d".into(),
                    crt: Some(RsaCrt {
                        p: "p".into(),
                        q: "q".into(),
                        dp: "dp".into(),
                        dq: "dq".into(),
                        qi: "qi".into(),
                    }),
                }),
            })
        };
        assert_eq!(
            jwk.to_json(),
            r#"{"kty":"RSA","kid":"kid","n":"n","e":"e","d":"d","p":"p","q":"q","dp":"dp","dq":"dq","qi":"qi"}"#
        );
        let public = jwk.public_only().unwrap();
        assert_eq!(
            public.to_json(),
            r#"{"kty":"RSA","kid":"kid","n":"n","e":"e"}"#
        );
        assert!(!public.params.has_private() && jwk.params.has_private());
        let oct = Jwk::new(KeyParams::Oct { k: "secret".into() });
        assert_eq!(oct.public_only(), None);
    }

    /// The one list of private members is what the typed model writes as private: every member
    /// a private key adds to its public JWK is in it (and `k` of `oct`), and no public member is.
    #[test]
    fn private_members_are_the_ones_the_model_writes() {
        let names = |jwk: &Jwk| {
            let mut v = Vec::new();
            jwk.members(|n, _| v.push(n));
            v
        };
        for file in ["rsa2048.p8.pem", "p256.p8.pem", "ed25519.p8.pem"] {
            let crate::KeyMaterial::Private(key) =
                crate::parse_key(&fixture(&format!("keys/{file}")), None).unwrap()
            else {
                panic!("{file}")
            };
            let full = key.to_jwk();
            let kty = full.kty().jose();
            let public = names(&full.public_only().unwrap());
            for name in names(&full) {
                assert_eq!(
                    is_private_member(kty, name),
                    !public.contains(&name),
                    "{file}: {name}"
                );
            }
        }
        assert!(is_private_member("oct", "k") && !is_private_member("EC", "k"));
        assert!(is_private_member("EC", "oth") && !is_private_member("RSA", "n"));
    }

    /// The JWK as the flat, derived model of keyward ≤ 0.x wrote it: the typed model must
    /// give the same bytes (stored JWKs, thumbprints and API answers depend on them).
    #[derive(serde::Serialize)]
    struct LegacyJwk {
        kty: String,
        #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
        key_use: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        key_ops: Option<Vec<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        alg: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        kid: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        crv: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        n: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        e: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        x: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        y: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        d: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        p: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        q: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        dp: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        dq: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        qi: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        k: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        x5c: Option<Vec<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        x5t: Option<String>,
        #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
        x5t_s256: Option<String>,
    }

    fn legacy(jwk: &Jwk) -> String {
        let flat = LegacyJwk {
            kty: jwk.kty().jose().to_owned(),
            key_use: jwk.key_use.clone(),
            key_ops: jwk.key_ops.clone(),
            alg: jwk.alg.clone(),
            kid: jwk.kid.clone(),
            crv: m(jwk, "crv"),
            n: m(jwk, "n"),
            e: m(jwk, "e"),
            x: m(jwk, "x"),
            y: m(jwk, "y"),
            d: m(jwk, "d"),
            p: m(jwk, "p"),
            q: m(jwk, "q"),
            dp: m(jwk, "dp"),
            dq: m(jwk, "dq"),
            qi: m(jwk, "qi"),
            k: m(jwk, "k"),
            x5c: jwk.x5c.clone(),
            x5t: jwk.x5t.clone(),
            x5t_s256: jwk.x5t_s256.clone(),
        };
        serde_json::to_string(&flat).unwrap()
    }

    /// The old canonical form (`format!` over the flat members), for RFC 7638.
    fn legacy_thumbprint(jwk: &Jwk) -> String {
        let q = |name: &str| serde_json::to_string(&m(jwk, name).unwrap()).unwrap();
        let canonical = match jwk.kty() {
            KeyType::Rsa => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, q("e"), q("n")),
            KeyType::Ec => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                q("crv"),
                q("x"),
                q("y")
            ),
            KeyType::Okp => format!(r#"{{"crv":{},"kty":"OKP","x":{}}}"#, q("crv"), q("x")),
            KeyType::Oct => format!(r#"{{"k":{},"kty":"oct"}}"#, q("k")),
        };
        b64::url(&Sha256::digest(canonical.as_bytes()))
    }

    fn same_bytes_as_before(jwk: &Jwk, what: &str) {
        let old = legacy(jwk);
        assert_eq!(jwk.to_json(), old, "{what}");
        assert_eq!(serde_json::to_string(jwk).unwrap(), old, "{what}");
        assert_eq!(jwk.thumbprint_sha256(), legacy_thumbprint(jwk), "{what}");
        let back: Jwk = serde_json::from_str(&old).unwrap();
        assert_eq!(&back, jwk, "{what}");
    }

    #[test]
    fn serialisation_is_byte_identical_to_the_flat_model() {
        // every certificate fixture, with use/alg, a kid that needs escaping, and key_ops
        let odd_kid = "k\"\\/\u{1}\u{7f}é\t\n";
        for (name, kty, _) in KEY_FIXTURES {
            let chain = parse_certificates(&fixture(&format!("{name}.pem"))).unwrap();
            let key = PublicKey::from_spki_der(&chain[0].spki_der).unwrap();
            let (key_use, alg) = [KeyUse::Signature, KeyUse::Encryption]
                .into_iter()
                .find_map(|u| {
                    crate::alg::accepted(&key.descriptor(), u)
                        .first()
                        .map(|a| (u, *a))
                })
                .unwrap();
            for kid in [None, Some(odd_kid)] {
                let mut jwk = jwk_from_certificate_chain(&chain, key_use, alg, kid).unwrap();
                assert_eq!(jwk.kty().jose(), *kty);
                same_bytes_as_before(&jwk, name);
                jwk.key_ops = Some(vec!["verify".into(), odd_kid.into()]);
                same_bytes_as_before(&jwk, name);
                same_bytes_as_before(&Jwk::from_public_key(&key), name);
            }
        }
        // chains
        for file in ["chain-root-first.pem", "chain-shuffled.pem"] {
            let chain = order_leaf_first(parse_certificates(&fixture(file)).unwrap()).unwrap();
            let jwk = jwk_from_certificate_chain(&chain, KeyUse::Signature, Algorithm::RS256, None)
                .unwrap();
            same_bytes_as_before(&jwk, file);
        }
        // private keys of every type, the RFC vectors, oct and d-only RSA
        let keys = std::fs::read_dir(format!(
            "{}/../../fixtures/keys",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut seen = 0;
        for entry in keys {
            let path = entry.unwrap().path();
            let Ok(crate::KeyMaterial::Private(key)) =
                crate::parse_key(&std::fs::read(&path).unwrap(), None)
            else {
                continue;
            };
            let jwk = key.to_jwk();
            same_bytes_as_before(&jwk, &path.display().to_string());
            same_bytes_as_before(&jwk.public_only().unwrap(), &path.display().to_string());
            seen += 1;
        }
        assert!(seen >= 10, "{seen} private key fixtures");
        for file in [
            "rfc/rfc7638-section-3.1.json",
            "rfc/rfc8037-appendix-a.json",
        ] {
            let jwk: Jwk = serde_json::from_slice(&fixture(file)).unwrap();
            same_bytes_as_before(&jwk, file);
        }
        same_bytes_as_before(&Jwk::new(KeyParams::Oct { k: "AAEC".into() }), "oct");
        same_bytes_as_before(
            &Jwk::new(KeyParams::Rsa {
                n: "bg".into(),
                e: "AQAB".into(),
                private: Some(RsaPrivate {
                    d: "ZA".into(),
                    crt: None,
                }),
            }),
            "d-only RSA",
        );
    }

    #[test]
    fn members_of_other_key_types_cannot_be_read() {
        for (json, err) in [
            (
                r#"{"kty":"RSA","n":"AQ","e":"AQAB","crv":"P-256"}"#,
                "member \"crv\" is not a member of key type RSA",
            ),
            (
                r#"{"kty":"oct","k":"AA","d":"AA"}"#,
                "member \"d\" is not a member of key type oct",
            ),
            (
                r#"{"kty":"EC","crv":"P-256","x":"AA"}"#,
                "The JWK has no \"y\" member, which is required for key type EC!",
            ),
            (
                r#"{"kty":"RSA","n":"AQ","e":"AQAB","d":"AA","p":"AA"}"#,
                "The JWK has no \"q\" member, which is required for key type RSA!",
            ),
            (r#"{"kty":"DSA"}"#, "DSA"),
        ] {
            let got = serde_json::from_str::<Jwk>(json).unwrap_err().to_string();
            assert!(got.contains(err), "{json}: {got}");
        }
    }

    #[test]
    fn module_dependencies_point_one_way() {
        // kty ← alg ← jwk → thumbprint: the algorithm table and RFC 7638 know no JWK model,
        // and the key types know nothing else (issue #12: the alg ↔ jwk ↔ thumbprint cycle).
        let src = |f: &str| {
            std::fs::read_to_string(format!("{}/src/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap()
        };
        for (file, forbidden) in [
            ("alg.rs", &["use crate::jwk", "use crate::thumbprint"][..]),
            (
                "thumbprint.rs",
                &["use crate::jwk", "use crate::alg", "use crate::kty"][..],
            ),
            ("kty.rs", &["use crate::"][..]),
        ] {
            let text = src(file);
            let code = text.split("#[cfg(test)]").next().unwrap();
            for f in forbidden {
                assert!(!code.contains(f), "{file} uses {f}");
            }
        }
    }

    #[test]
    fn rfc8037_okp_jwk_round_trip() {
        let jwk: Jwk = serde_json::from_slice(&fixture("rfc/rfc8037-appendix-a.json")).unwrap();
        let x = decoded(&m(&jwk, "x"));
        assert_eq!(x.len(), 32);
        let rebuilt = Jwk::from_public_key(&PublicKey::Okp {
            curve: OkpCurve::Ed25519,
            x,
        });
        assert_eq!(rebuilt, jwk);
        assert_eq!(
            rebuilt.thumbprint_sha256(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
