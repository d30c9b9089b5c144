//! Private and public keys in every common file format, detected (never asked), and their JWKs.
//!
//! [`parse_key`] reads, without being told the format:
//!
//! | Input | Format |
//! |---|---|
//! | `PRIVATE KEY` | PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey` (RFC 5208, RFC 5958): RSA, RSASSA-PSS, EC named curves P-256/P-384/P-521/secp256k1 (RFC 5915), Ed25519/Ed448/X25519/X448 (RFC 8410) |
//! | `ENCRYPTED PRIVATE KEY` | PKCS#8 `EncryptedPrivateKeyInfo`: PBES2 (RFC 8018 §6.2) with PBKDF2 (HMAC-SHA-1/224/256/384/512) or scrypt (RFC 7914), AES-128/192/256-CBC or DES-EDE3-CBC; and the legacy PKCS#12 PBE `pbeWithSHAAnd3-KeyTripleDES-CBC` (RFC 7292 App. C) |
//! | `RSA PRIVATE KEY` | PKCS#1 `RSAPrivateKey` (RFC 8017 §A.1.2), plain or OpenSSL "traditional" encrypted (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: AES-256-CBC,…`) |
//! | `EC PRIVATE KEY` | SEC 1 `ECPrivateKey` (RFC 5915), plain or traditional encrypted; an `EC PARAMETERS` block beside it is ignored |
//! | `PUBLIC KEY` | `SubjectPublicKeyInfo` ([`PublicKey::from_spki_der`]) |
//! | `RSA PUBLIC KEY` | PKCS#1 `RSAPublicKey` |
//! | `CERTIFICATE` | the certificate's public key (of the leaf, when several form a chain) |
//!
//! and the raw DER of each of them (recognised by its ASN.1 shape), the bare base64 of that DER,
//! and the base64 of PEM text (how the Apinizer API carries key `content`). A file holding a
//! private key and certificates gives the private key.
//!
//! Rules:
//! - Encrypted input without a password → [`Error::PasswordRequired`]; a password that does not
//!   decrypt (bad padding, or a plaintext that is not a key) → [`Error::WrongPassword`]; never
//!   garbage.
//! - Key-derivation work is capped ([`MAX_PBKDF2_ITERATIONS`], [`MAX_SCRYPT_LOG_N`],
//!   [`MAX_SCRYPT_R`], [`MAX_SCRYPT_P`]) and checked **before** any derivation runs, so a crafted
//!   file cannot pin a core.
//! - EC and OKP public keys are always derived from the private key; when the file also carries
//!   the public key (SEC 1 `publicKey`, PKCS#8 v2 `publicKey`), both must be equal.
//! - RSA: `n = p·q`, `dp = d mod (p−1)`, `dq = d mod (q−1)`, `qi = q⁻¹ mod p`, `e·dp ≡ 1 (mod p−1)`
//!   are checked; CRT values stored as zero are computed. Multi-prime keys are refused.
//! - JWK members ([`PrivateKey::to_jwk`], [`jwk_from_key`]) are base64url without padding; EC `d`
//!   is left-padded to the field size (32/48/66/32 octets, RFC 7518 §6.2.2.1), OKP `d` is the raw
//!   private key (32/57/32/56 octets, RFC 8037 §2), RSA members are minimal (RFC 7518 §6.3).

mod decrypt;
mod rsa_math;

use std::fmt;

use der::asn1::{AnyRef, BitStringRef, OctetStringRef, UintRef};
use der::{Decode, Encode, Reader, SliceReader, Tag, Tagged};
use zeroize::Zeroizing;

use crate::alg::{self, Algorithm, KeyUse};
use crate::error::{Error, MAX_CERTIFICATES};
use crate::jwk::{
    self, EcCurve, Jwk, KeyDescriptor, KeyParams, KeyType, OkpCurve, PublicKey, RsaCrt, RsaPrivate,
};
use crate::{b64, pem, x509};

pub use decrypt::{
    MAX_PBKDF2_ITERATIONS, MAX_PKCS12_ITERATIONS, MAX_SCRYPT_LOG_N, MAX_SCRYPT_P, MAX_SCRYPT_R,
};

/// Secret octets, wiped from memory when dropped.
pub type SecretBytes = Zeroizing<Vec<u8>>;

/// The largest key input [`parse_key`] reads (1 MiB).
pub const MAX_KEY_INPUT: usize = 1 << 20;

/// A private key, with its material in JWK form (octets, not yet base64url) and its public part.
///
/// Built only by this module, so the invariants hold: public members match the private ones,
/// EC `d`/`x`/`y` have the field size, OKP `d`/`x` the curve's key size, RSA members are
/// minimal and consistent. `Debug` never prints private members.
#[derive(Clone, PartialEq, Eq)]
pub enum PrivateKey {
    /// RSA (RFC 8017 §3.2, two primes).
    Rsa {
        /// Modulus, minimal big-endian.
        n: Vec<u8>,
        /// Public exponent, minimal.
        e: Vec<u8>,
        /// Private exponent, minimal.
        d: SecretBytes,
        /// First prime factor.
        p: SecretBytes,
        /// Second prime factor.
        q: SecretBytes,
        /// `d mod (p-1)`.
        dp: SecretBytes,
        /// `d mod (q-1)`.
        dq: SecretBytes,
        /// `q^-1 mod p`.
        qi: SecretBytes,
    },
    /// EC on a named curve.
    Ec {
        /// The curve.
        curve: EcCurve,
        /// Private scalar, exactly `curve.coordinate_len()` octets.
        d: SecretBytes,
        /// Public x coordinate, field size.
        x: Vec<u8>,
        /// Public y coordinate, field size.
        y: Vec<u8>,
    },
    /// Ed25519, Ed448, X25519, X448 (RFC 8037 §2).
    Okp {
        /// The curve.
        curve: OkpCurve,
        /// The raw private key, `curve.key_len()` octets (56 for X448, 57 for Ed448, 32 else).
        d: SecretBytes,
        /// The raw public key.
        x: Vec<u8>,
    },
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivateKey::Rsa { n, .. } => f
                .debug_struct("PrivateKey::Rsa")
                .field("bits", &jwk::bit_length(n))
                .finish_non_exhaustive(),
            PrivateKey::Ec { curve, .. } => f
                .debug_struct("PrivateKey::Ec")
                .field("curve", curve)
                .finish_non_exhaustive(),
            PrivateKey::Okp { curve, .. } => f
                .debug_struct("PrivateKey::Okp")
                .field("curve", curve)
                .finish_non_exhaustive(),
        }
    }
}

/// What [`parse_key`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyMaterial {
    /// A private key (the public key is inside it).
    Private(PrivateKey),
    /// A public key only (from `PUBLIC KEY`, `RSA PUBLIC KEY` or a certificate).
    Public(PublicKey),
}

impl KeyMaterial {
    /// The public key, whatever was found.
    pub fn public_key(&self) -> PublicKey {
        match self {
            KeyMaterial::Private(k) => k.public_key(),
            KeyMaterial::Public(k) => k.clone(),
        }
    }

    /// Key type and curve, for [`alg::check`].
    pub fn descriptor(&self) -> KeyDescriptor {
        match self {
            KeyMaterial::Private(k) => k.descriptor(),
            KeyMaterial::Public(k) => k.descriptor(),
        }
    }

    /// `true` for a private key.
    pub fn is_private(&self) -> bool {
        matches!(self, KeyMaterial::Private(_))
    }
}

impl PrivateKey {
    /// The public key of this private key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            PrivateKey::Rsa { n, e, .. } => PublicKey::Rsa {
                n: n.clone(),
                e: e.clone(),
            },
            PrivateKey::Ec { curve, x, y, .. } => PublicKey::Ec {
                curve: *curve,
                x: x.clone(),
                y: y.clone(),
            },
            PrivateKey::Okp { curve, x, .. } => PublicKey::Okp {
                curve: *curve,
                x: x.clone(),
            },
        }
    }

    /// Key type and curve, for [`alg::check`].
    pub fn descriptor(&self) -> KeyDescriptor {
        match self {
            PrivateKey::Rsa { .. } => KeyDescriptor {
                kty: KeyType::Rsa,
                ec_curve: None,
                okp_curve: None,
            },
            PrivateKey::Ec { curve, .. } => KeyDescriptor {
                kty: KeyType::Ec,
                ec_curve: Some(*curve),
                okp_curve: None,
            },
            PrivateKey::Okp { curve, .. } => KeyDescriptor {
                kty: KeyType::Okp,
                ec_curve: None,
                okp_curve: Some(*curve),
            },
        }
    }

    /// The private JWK: `kty`, the public members and `d` (RSA also `p`, `q`, `dp`, `dq`,
    /// `qi`); no `use`, `alg` or `kid`.
    pub fn to_jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_public_key(&self.public_key());
        match (&mut jwk.params, self) {
            (
                KeyParams::Rsa { private, .. },
                PrivateKey::Rsa {
                    d,
                    p,
                    q,
                    dp,
                    dq,
                    qi,
                    ..
                },
            ) => {
                *private = Some(RsaPrivate {
                    d: b64::url(d),
                    crt: Some(RsaCrt {
                        p: b64::url(p),
                        q: b64::url(q),
                        dp: b64::url(dp),
                        dq: b64::url(dq),
                        qi: b64::url(qi),
                    }),
                });
            }
            (KeyParams::Ec { d: slot, .. }, PrivateKey::Ec { d, .. })
            | (KeyParams::Okp { d: slot, .. }, PrivateKey::Okp { d, .. }) => {
                *slot = Some(b64::url(d));
            }
            // `public_key` is of the same type as `self`.
            _ => {}
        }
        jwk
    }

    /// DER of an unencrypted PKCS#8 `PrivateKeyInfo` (RFC 5208, version 1) holding this key:
    /// RSA as `rsaEncryption` + PKCS#1 (RSASSA-PSS inputs come out as `rsaEncryption`), EC as
    /// `id-ecPublicKey` + named curve + SEC 1 `ECPrivateKey` with its public key, OKP as
    /// RFC 8410 `CurvePrivateKey`. [`private_key_from_pkcs8_der`] reads it back to an equal key.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, Error> {
        let encode_err = |_: der::Error| Error::InvalidPrivateKey {
            detail: "the key could not be encoded as PKCS#8".to_owned(),
        };
        let (oid, params, private): (&[u8], Option<&[u8]>, SecretBytes) = match self {
            PrivateKey::Rsa {
                n,
                e,
                d,
                p,
                q,
                dp,
                dq,
                qi,
            } => {
                fn u(b: &[u8]) -> Result<UintRef<'_>, Error> {
                    UintRef::new(b).map_err(|_| Error::InvalidPrivateKey {
                        detail: "the key could not be encoded as PKCS#8".to_owned(),
                    })
                }
                let pkcs1 = pkcs1::RsaPrivateKeyRef {
                    modulus: u(n)?,
                    public_exponent: u(e)?,
                    private_exponent: u(d)?,
                    prime1: u(p)?,
                    prime2: u(q)?,
                    exponent1: u(dp)?,
                    exponent2: u(dq)?,
                    coefficient: u(qi)?,
                    other_prime_infos: None,
                };
                (
                    jwk::RSA_ENCRYPTION_OID,
                    None,
                    Zeroizing::new(pkcs1.to_der().map_err(encode_err)?),
                )
            }
            PrivateKey::Ec { curve, d, x, y } => {
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                let sec1 = sec1::EcPrivateKey {
                    private_key: d,
                    parameters: None,
                    public_key: Some(&point),
                };
                (
                    jwk::EC_PUBLIC_KEY_OID,
                    Some(jwk::ec_curve_oid(*curve)),
                    Zeroizing::new(sec1.to_der().map_err(encode_err)?),
                )
            }
            PrivateKey::Okp { curve, d, .. } => {
                let inner = OctetStringRef::new(d).map_err(encode_err)?;
                (
                    jwk::okp_curve_oid(*curve),
                    None,
                    Zeroizing::new(inner.to_der().map_err(encode_err)?),
                )
            }
        };
        let oid_err = |_| Error::InvalidPrivateKey {
            detail: "the key could not be encoded as PKCS#8".to_owned(),
        };
        let oid = der::asn1::ObjectIdentifier::from_bytes(oid).map_err(oid_err)?;
        let params_oid = match params {
            Some(p) => Some(der::asn1::ObjectIdentifier::from_bytes(p).map_err(oid_err)?),
            None => None,
        };
        let parameters = match (&params_oid, self) {
            (Some(p), _) => Some(AnyRef::from(p)),
            // RFC 8017 §A.1: rsaEncryption parameters are NULL.
            (None, PrivateKey::Rsa { .. }) => Some(AnyRef::NULL),
            (None, _) => None,
        };
        let info = pkcs8::PrivateKeyInfoRef::new(
            spki::AlgorithmIdentifier { oid, parameters },
            OctetStringRef::new(&private).map_err(encode_err)?,
        );
        info.to_der().map_err(encode_err)
    }
}

/// Read a key in any supported format (see the module documentation).
///
/// `password` is used only when the key is encrypted; an empty password counts as none.
pub fn parse_key(input: &[u8], password: Option<&[u8]>) -> Result<KeyMaterial, Error> {
    parse_key_at(input, password, 0)
}

fn parse_key_at(input: &[u8], password: Option<&[u8]>, depth: u8) -> Result<KeyMaterial, Error> {
    if input.len() > MAX_KEY_INPUT {
        return Err(not_a_key("the content is larger than 1 MiB"));
    }
    if input.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::KeyEmpty);
    }
    if pem::find(input, b"-----BEGIN ").is_some() {
        return from_pem(input, password);
    }
    if input.first() == Some(&0x30) {
        return from_der(input, password);
    }
    match b64::decode_standard_lenient_bytes(input) {
        Ok(bytes) if bytes.first() == Some(&0x30) => from_der(&bytes, password),
        // base64 of PEM text (the API's `content`), once.
        Ok(bytes) if depth == 0 && pem::find(&bytes, b"-----BEGIN ").is_some() => {
            parse_key_at(&bytes, password, 1)
        }
        _ => Err(not_a_key(
            "it is neither PEM (-----BEGIN ...-----), nor DER, nor base64 of either",
        )),
    }
}

fn not_a_key(detail: &str) -> Error {
    Error::NotAKey {
        detail: detail.to_owned(),
    }
}

fn invalid(detail: &str) -> Error {
    Error::InvalidPrivateKey {
        detail: detail.to_owned(),
    }
}

/// Where a key block came from.
enum Source<'a> {
    Pkcs8(&'a [u8]),
    EncryptedPkcs8(&'a [u8]),
    Pkcs1(&'a [u8]),
    Sec1(&'a [u8]),
    /// Traditional OpenSSL encryption of a PKCS#1 (`rsa` true) or SEC 1 key.
    Legacy {
        der: &'a [u8],
        rsa: bool,
        headers: &'a decrypt::LegacyHeaders,
    },
    Spki(&'a [u8]),
    Pkcs1Public(&'a [u8]),
}

fn from_pem(input: &[u8], password: Option<&[u8]>) -> Result<KeyMaterial, Error> {
    let (blocks, legacy) = match pem::scan(input) {
        Ok(blocks) => (blocks, None),
        Err(Error::PemHeaders { label }) => {
            let (stripped, headers) = decrypt::strip_legacy_headers(input, &label)?;
            (pem::scan(&stripped)?, Some(headers))
        }
        Err(e) => return Err(e),
    };
    let mut private = Vec::new();
    let mut public = Vec::new();
    let mut certificates = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let der = block.der.as_slice();
        let headers = legacy.as_ref().filter(|h| h.block_index == i);
        match (block.label.as_str(), headers) {
            ("RSA PRIVATE KEY", Some(headers)) => private.push(Source::Legacy {
                der,
                rsa: true,
                headers,
            }),
            ("EC PRIVATE KEY", Some(headers)) => private.push(Source::Legacy {
                der,
                rsa: false,
                headers,
            }),
            (label, Some(_)) => {
                return Err(Error::PemHeaders {
                    label: label.to_owned(),
                });
            }
            ("PRIVATE KEY", None) => private.push(Source::Pkcs8(der)),
            ("ENCRYPTED PRIVATE KEY", None) => private.push(Source::EncryptedPkcs8(der)),
            ("RSA PRIVATE KEY", None) => private.push(Source::Pkcs1(der)),
            ("EC PRIVATE KEY", None) => private.push(Source::Sec1(der)),
            ("PUBLIC KEY", None) => public.push(Source::Spki(der)),
            ("RSA PUBLIC KEY", None) => public.push(Source::Pkcs1Public(der)),
            ("CERTIFICATE" | "X509 CERTIFICATE", None) => certificates.push(der),
            ("EC PARAMETERS", None) => {}
            (other, None) => {
                return Err(Error::UnsupportedKeyLabel {
                    label: other.to_owned(),
                });
            }
        }
    }
    for (list, what) in [(&private, "private keys"), (&public, "public keys")] {
        match list.as_slice() {
            [] => continue,
            [one] => return decode_source(one, password),
            many => {
                return Err(Error::SeveralKeys {
                    count: many.len(),
                    what,
                });
            }
        }
    }
    match certificates.as_slice() {
        [] => Err(not_a_key("the PEM content holds no key and no certificate")),
        [one] => certificate_key(one),
        many if many.len() > MAX_CERTIFICATES => Err(Error::TooManyCertificates {
            max: MAX_CERTIFICATES,
        }),
        many => {
            let certs = many
                .iter()
                .map(|der| x509::parse_der(der))
                .collect::<Result<Vec<_>, _>>()?;
            let chain = x509::order_leaf_first(certs)?;
            let leaf = chain.first().ok_or(Error::EmptyChain)?;
            Ok(KeyMaterial::Public(PublicKey::from_spki_der(
                &leaf.spki_der,
            )?))
        }
    }
}

fn certificate_key(der: &[u8]) -> Result<KeyMaterial, Error> {
    let cert = x509::parse_der(der)?;
    Ok(KeyMaterial::Public(PublicKey::from_spki_der(
        &cert.spki_der,
    )?))
}

fn decode_source(source: &Source<'_>, password: Option<&[u8]>) -> Result<KeyMaterial, Error> {
    let private = match source {
        Source::Pkcs8(der) => private_key_from_pkcs8_der(der)?,
        Source::EncryptedPkcs8(der) => {
            let plain = decrypt::decrypt_pkcs8(der, password)?;
            private_key_from_pkcs8_der(&plain)?
        }
        Source::Pkcs1(der) => rsa_from_pkcs1_der(der)?,
        Source::Sec1(der) => ec_from_sec1_der(der, None)?,
        Source::Legacy { der, rsa, headers } => {
            let plain = decrypt::decrypt_legacy(der, headers, password, *rsa)?;
            if *rsa {
                rsa_from_pkcs1_der(&plain)?
            } else {
                ec_from_sec1_der(&plain, None)?
            }
        }
        Source::Spki(der) => return Ok(KeyMaterial::Public(PublicKey::from_spki_der(der)?)),
        Source::Pkcs1Public(der) => {
            return Ok(KeyMaterial::Public(jwk::rsa_public_from_pkcs1_der(der)?));
        }
    };
    Ok(KeyMaterial::Private(private))
}

/// The ASN.1 shapes a DER key input can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// SEQUENCE { INTEGER, SEQUENCE, OCTET STRING, ... }
    Pkcs8,
    /// SEQUENCE { SEQUENCE, OCTET STRING }
    EncryptedPkcs8,
    /// SEQUENCE { INTEGER, INTEGER, INTEGER, ... } (9 or more)
    Pkcs1,
    /// SEQUENCE { INTEGER 1, OCTET STRING, ... }
    Sec1,
    /// SEQUENCE { SEQUENCE, BIT STRING }
    Spki,
    /// SEQUENCE { INTEGER, INTEGER }
    Pkcs1Public,
    /// SEQUENCE { SEQUENCE, SEQUENCE, BIT STRING }
    Certificate,
}

/// Recognise a DER input by the tags of its outer SEQUENCE's first elements.
fn shape(der: &[u8]) -> Option<Shape> {
    let outer = AnyRef::from_der(der).ok()?;
    if outer.tag() != Tag::Sequence {
        return None;
    }
    let mut reader = SliceReader::new(outer.value()).ok()?;
    let mut tags = Vec::new();
    let mut first_int: Option<&[u8]> = None;
    while !reader.is_finished() && tags.len() < 10 {
        let any: AnyRef<'_> = reader.decode().ok()?;
        if tags.is_empty() && any.tag() == Tag::Integer {
            first_int = Some(any.value());
        }
        tags.push(any.tag());
    }
    use Tag::{BitString, Integer, OctetString, Sequence};
    match tags.as_slice() {
        [Integer, OctetString, ..] if first_int == Some(&[1][..]) => Some(Shape::Sec1),
        [Integer, Sequence, OctetString, ..] => Some(Shape::Pkcs8),
        [Sequence, OctetString] => Some(Shape::EncryptedPkcs8),
        [Integer, Integer, Integer, ..] => Some(Shape::Pkcs1),
        [Sequence, BitString] => Some(Shape::Spki),
        [Integer, Integer] => Some(Shape::Pkcs1Public),
        [Sequence, Sequence, BitString] => Some(Shape::Certificate),
        _ => None,
    }
}

fn from_der(der: &[u8], password: Option<&[u8]>) -> Result<KeyMaterial, Error> {
    let source = match shape(der) {
        Some(Shape::Pkcs8) => Source::Pkcs8(der),
        Some(Shape::EncryptedPkcs8) => Source::EncryptedPkcs8(der),
        Some(Shape::Pkcs1) => Source::Pkcs1(der),
        Some(Shape::Sec1) => Source::Sec1(der),
        Some(Shape::Spki) => Source::Spki(der),
        Some(Shape::Pkcs1Public) => Source::Pkcs1Public(der),
        Some(Shape::Certificate) => return certificate_key(der),
        None => {
            return Err(not_a_key(
                "the DER data is not a PKCS#8, PKCS#1, SEC 1, SubjectPublicKeyInfo or certificate structure",
            ));
        }
    };
    decode_source(&source, password)
}

/// Read an unencrypted PKCS#8 `PrivateKeyInfo` (RFC 5208) or `OneAsymmetricKey` (RFC 5958)
/// DER: RSA, RSASSA-PSS, EC (named curves) and the RFC 8410 curves.
pub fn private_key_from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, Error> {
    let info = pkcs8::PrivateKeyInfoRef::from_der(der)
        .map_err(|_| invalid("the PKCS#8 PrivateKeyInfo is not valid DER"))?;
    let oid = info.algorithm.oid.as_bytes();
    let private = info.private_key.as_bytes();
    if jwk::RSA_OIDS.contains(&oid) {
        return rsa_from_pkcs1_der(private);
    }
    if oid == jwk::EC_PUBLIC_KEY_OID {
        let curve = match info.algorithm.parameters {
            Some(p) if p.tag() == Tag::ObjectIdentifier => Some(
                jwk::ec_curve_of_oid(p.value()).ok_or_else(|| Error::UnsupportedCurve {
                    curve: format!("with OID {}", jwk::dotted_oid(p.value())),
                })?,
            ),
            Some(p) if p.tag() == Tag::Sequence => {
                return Err(Error::UnsupportedCurve {
                    curve: "(explicit curve parameters instead of a named curve)".to_owned(),
                });
            }
            Some(p) if p.tag() != Tag::Null => {
                return Err(Error::UnsupportedCurve {
                    curve: "(unreadable curve parameters)".to_owned(),
                });
            }
            _ => None,
        };
        let key = ec_from_sec1_der(private, curve)?;
        if let (Some(pk), PrivateKey::Ec { curve, x, y, .. }) = (&info.public_key, &key) {
            let bytes = pk
                .as_bytes()
                .ok_or_else(|| invalid("the PKCS#8 public key BIT STRING has unused bits"))?;
            let (px, py) = jwk::ec_coordinates_of_point(*curve, bytes)?;
            if &px != x || &py != y {
                return Err(mismatch());
            }
        }
        return Ok(key);
    }
    if let Some(curve) = jwk::okp_curve_of_oid(oid) {
        // RFC 8410 §3: parameters MUST be absent.
        if info.algorithm.parameters.is_some() {
            return Err(invalid(&format!(
                "the {} algorithm identifier must not carry parameters (RFC 8410)",
                curve.jose()
            )));
        }
        let inner = <&OctetStringRef>::from_der(private)
            .map_err(|_| invalid("the RFC 8410 CurvePrivateKey is not an OCTET STRING"))?;
        let key = okp_from_raw(curve, inner.as_bytes())?;
        if let (Some(pk), PrivateKey::Okp { x, .. }) = (&info.public_key, &key) {
            let bytes: Option<&[u8]> = BitStringRef::as_bytes(pk);
            if bytes != Some(x.as_slice()) {
                return Err(mismatch());
            }
        }
        return Ok(key);
    }
    let dotted = jwk::dotted_oid(oid);
    Err(Error::UnsupportedKeyAlgorithm {
        algorithm: if oid == [0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01] {
            format!("DSA (OID {dotted})")
        } else {
            format!("with OID {dotted}")
        },
    })
}

fn mismatch() -> Error {
    invalid("the public key stored in the file does not belong to the private key")
}

/// PKCS#1 `RSAPrivateKey` DER → checked RSA private key.
pub(crate) fn rsa_from_pkcs1_der(der: &[u8]) -> Result<PrivateKey, Error> {
    let key = pkcs1::RsaPrivateKeyRef::from_der(der)
        .map_err(|_| invalid("the PKCS#1 RSAPrivateKey is not valid DER"))?;
    if key.other_prime_infos.is_some() {
        return Err(invalid(
            "multi-prime RSA keys (more than two primes) are not supported",
        ));
    }
    let public_der = key
        .public_key()
        .to_der()
        .map_err(|_| invalid("the RSA public part could not be read"))?;
    let PublicKey::Rsa { n, e } = jwk::rsa_public_from_pkcs1_der(&public_der)? else {
        return Err(invalid("the RSA public part could not be read"));
    };
    let crt = rsa_math::check_and_complete(&rsa_math::RsaParts {
        n: &n,
        e: &e,
        d: key.private_exponent.as_bytes(),
        p: key.prime1.as_bytes(),
        q: key.prime2.as_bytes(),
        dp: key.exponent1.as_bytes(),
        dq: key.exponent2.as_bytes(),
        qi: key.coefficient.as_bytes(),
    })?;
    Ok(PrivateKey::Rsa {
        n,
        e,
        d: crt.d,
        p: crt.p,
        q: crt.q,
        dp: crt.dp,
        dq: crt.dq,
        qi: crt.qi,
    })
}

/// Check the consistency of RSA private members (see [`rsa_math`]); for JWK input.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_rsa(
    n: &[u8],
    e: &[u8],
    d: &[u8],
    p: &[u8],
    q: &[u8],
    dp: &[u8],
    dq: &[u8],
    qi: &[u8],
) -> Result<(), Error> {
    rsa_math::check_and_complete(&rsa_math::RsaParts {
        n,
        e,
        d,
        p,
        q,
        dp,
        dq,
        qi,
    })
    .map(|_| ())
}

/// Check that a lone private exponent `d` belongs to `(n, e)` (see [`rsa_math`]); for JWK input.
pub(crate) fn check_rsa_exponent(n: &[u8], e: &[u8], d: &[u8]) -> Result<(), Error> {
    rsa_math::check_private_exponent(n, e, d)
}

/// SEC 1 `ECPrivateKey` DER → EC private key. `outer` is the curve named by an enclosing
/// PKCS#8 AlgorithmIdentifier; the SEC 1 parameters, when present, must agree with it.
pub(crate) fn ec_from_sec1_der(der: &[u8], outer: Option<EcCurve>) -> Result<PrivateKey, Error> {
    let key = sec1::EcPrivateKey::from_der(der)
        .map_err(|_| invalid("the SEC 1 ECPrivateKey is not valid DER"))?;
    let inner =
        match key.parameters.and_then(|p| p.named_curve()) {
            Some(oid) => Some(jwk::ec_curve_of_oid(oid.as_bytes()).ok_or_else(|| {
                Error::UnsupportedCurve {
                    curve: format!("with OID {}", jwk::dotted_oid(oid.as_bytes())),
                }
            })?),
            None => None,
        };
    let curve = match (outer, inner) {
        (Some(a), Some(b)) if a != b => {
            return Err(invalid(&format!(
                "the PKCS#8 algorithm names curve {} but the EC key names curve {}",
                a.jose(),
                b.jose()
            )));
        }
        (Some(c), _) | (None, Some(c)) => c,
        (None, None) => {
            return Err(Error::UnsupportedCurve {
                curve: "(none: the EC key names no curve)".to_owned(),
            });
        }
    };
    let derived = ec_from_scalar(curve, key.private_key)?;
    if let (Some(stored), PrivateKey::Ec { x, y, .. }) = (key.public_key, &derived) {
        let (px, py) = jwk::ec_coordinates_of_point(curve, stored)?;
        if &px != x || &py != y {
            return Err(mismatch());
        }
    }
    Ok(derived)
}

/// EC private scalar (big-endian, at most the field size; shorter values are left-padded) →
/// private key with its derived public point. The scalar must be in `[1, n-1]`.
pub(crate) fn ec_from_scalar(curve: EcCurve, scalar: &[u8]) -> Result<PrivateKey, Error> {
    let len = curve.coordinate_len();
    if scalar.is_empty() || scalar.len() > len {
        return Err(invalid(&format!(
            "the {} private key must be at most {len} bytes long, not {}",
            curve.jose(),
            scalar.len()
        )));
    }
    let mut d = Zeroizing::new(vec![0u8; len - scalar.len()]);
    d.extend_from_slice(scalar);
    macro_rules! derive {
        ($sk:ty) => {{
            use elliptic_curve::sec1::ToSec1Point as _;
            <$sk>::from_slice(&d).ok().and_then(|sk| {
                let p = sk.public_key().to_sec1_point(false);
                Some((p.x()?.to_vec(), p.y()?.to_vec()))
            })
        }};
    }
    let xy = match curve {
        EcCurve::P256 => derive!(p256::SecretKey),
        EcCurve::P384 => derive!(p384::SecretKey),
        EcCurve::P521 => derive!(p521::SecretKey),
        EcCurve::Secp256k1 => derive!(k256::SecretKey),
    };
    match xy {
        Some((x, y)) if x.len() == len && y.len() == len => Ok(PrivateKey::Ec { curve, d, x, y }),
        _ => Err(invalid(&format!(
            "the private scalar is zero or not below the order of the {} curve",
            curve.jose()
        ))),
    }
}

/// Raw OKP private key (RFC 8032 / RFC 7748 octets) → private key with its derived public key.
pub(crate) fn okp_from_raw(curve: OkpCurve, raw: &[u8]) -> Result<PrivateKey, Error> {
    crate::validation::okp_private(curve, raw)?;
    let x = okp_public_of(curve, raw).ok_or_else(|| {
        invalid(&format!(
            "an {} private key must be {} bytes long, not {}",
            curve.jose(),
            curve.key_len(),
            raw.len()
        ))
    })?;
    Ok(PrivateKey::Okp {
        curve,
        d: Zeroizing::new(raw.to_vec()),
        x,
    })
}

/// The public key of a raw OKP private key, `None` when the length is wrong.
pub(crate) fn okp_public_of(curve: OkpCurve, raw: &[u8]) -> Option<Vec<u8>> {
    match curve {
        OkpCurve::Ed25519 => {
            let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(raw.try_into().ok()?);
            let sk = ed25519_dalek::SigningKey::from_bytes(&bytes);
            Some(sk.verifying_key().to_bytes().to_vec())
        }
        OkpCurve::X25519 => {
            let bytes: [u8; 32] = raw.try_into().ok()?;
            let sk = x25519_dalek::StaticSecret::from(bytes);
            Some(x25519_dalek::PublicKey::from(&sk).to_bytes().to_vec())
        }
        OkpCurve::Ed448 => {
            if raw.len() != 57 {
                return None;
            }
            let sk = ed448_goldilocks::SigningKey::try_from(raw).ok()?;
            Some(sk.verifying_key().to_bytes().to_vec())
        }
        OkpCurve::X448 => {
            let bytes: [u8; 56] = raw.try_into().ok()?;
            let sk = x448::StaticSecret::from(bytes);
            Some(x448::PublicKey::from(&sk).as_bytes().to_vec())
        }
    }
}

/// The JWK of a key: private (with `d`, and for RSA `p`, `q`, `dp`, `dq`, `qi`) or public,
/// with `use` and `alg` after [`alg::check`], and `kid` = `kid` when given and not blank, else
/// the RFC 7638 SHA-256 thumbprint (which covers the public members only).
pub fn jwk_from_key(
    key: &KeyMaterial,
    key_use: KeyUse,
    alg: Algorithm,
    kid: Option<&str>,
) -> Result<Jwk, Error> {
    alg::check(&key.descriptor(), key_use, alg)?;
    let mut jwk = match key {
        KeyMaterial::Private(k) => k.to_jwk(),
        KeyMaterial::Public(k) => Jwk::from_public_key(k),
    };
    jwk.key_use = Some(key_use.jose().to_owned());
    jwk.alg = Some(alg.jose_name().to_owned());
    jwk.kid = Some(match kid {
        Some(k) if !k.trim().is_empty() => k.to_owned(),
        _ => jwk.thumbprint_sha256(),
    });
    Ok(jwk)
}

#[cfg(test)]
mod tests;
