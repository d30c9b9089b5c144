//! The algorithm table: the single source of truth for which `alg` goes with which key and use.
//!
//! Names: every algorithm has its JOSE name (RFC 7518 §3.1 and §4.1, RFC 8037 §3.1, RFC 8812
//! §3.2, draft-madden-jose-ecdh-1pu for ECDH-1PU) and the enum name of Apinizer's generate
//! endpoint (`RSA256`, `RSA_OAEP_256`, `DIR`, ...). [`Algorithm::parse`] accepts both; the JOSE
//! name is what is stored and emitted.
//!
//! Rules ([`accepted`], [`check`]), per key type and `useType`:
//!
//! | Key | SIGNATURE | ENCRYPTION |
//! |---|---|---|
//! | RSA | RS256/384/512, PS256/384/512 (RFC 7518 §3.3, §3.5) | RSA1_5, RSA-OAEP, RSA-OAEP-256/384/512 (RFC 7518 §4.2, §4.3) |
//! | EC | ES256 ↔ P-256, ES384 ↔ P-384, ES512 ↔ P-521 (RFC 7518 §3.4), ES256K ↔ secp256k1 (RFC 8812 §3.2) | ECDH-ES(+A128KW/A192KW/A256KW) (RFC 7518 §4.6), ECDH-1PU(+A*KW) |
//! | OKP Ed25519/Ed448 | EdDSA (RFC 8037 §3.1) | — (RFC 8037 §3.1: Ed keys only sign) |
//! | OKP X25519/X448 | — (RFC 8037 §3.2: X keys only agree) | ECDH-ES(+A*KW), ECDH-1PU(+A*KW) (RFC 8037 §3.2) |
//! | oct | HS256/384/512 (RFC 7518 §3.2) | A128/192/256KW (§4.4), A128/192/256GCMKW (§4.7), dir (§4.5), PBES2-* (§4.8) |

use std::fmt;
use std::str::FromStr;

use crate::error::AlgorithmError;
use crate::kty::{EcCurve, KeyDescriptor, KeyType, OkpCurve};

/// `useType` of the API, `use` of the JWK (RFC 7517 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUse {
    /// `SIGNATURE` / `sig`.
    Signature,
    /// `ENCRYPTION` / `enc`.
    Encryption,
}

impl KeyUse {
    /// Both uses.
    pub const ALL: &'static [KeyUse] = &[KeyUse::Signature, KeyUse::Encryption];

    /// Parse the API spelling, `SIGNATURE` or `ENCRYPTION` (case-sensitive).
    pub fn parse(s: &str) -> Result<KeyUse, AlgorithmError> {
        match s {
            "SIGNATURE" => Ok(KeyUse::Signature),
            "ENCRYPTION" => Ok(KeyUse::Encryption),
            "" => Err(AlgorithmError::EmptyUse),
            other => Err(AlgorithmError::UnknownUse {
                given: other.to_owned(),
            }),
        }
    }

    /// The JWK `use` value (RFC 7517 §4.2): `sig` or `enc`.
    pub fn jose(&self) -> &'static str {
        match self {
            KeyUse::Signature => "sig",
            KeyUse::Encryption => "enc",
        }
    }

    /// The API spelling: `SIGNATURE` or `ENCRYPTION`.
    pub fn api_name(&self) -> &'static str {
        match self {
            KeyUse::Signature => "SIGNATURE",
            KeyUse::Encryption => "ENCRYPTION",
        }
    }

    /// Parse the JWK `use` value, `sig` or `enc`.
    pub fn from_jose(s: &str) -> Option<KeyUse> {
        match s {
            "sig" => Some(KeyUse::Signature),
            "enc" => Some(KeyUse::Encryption),
            _ => None,
        }
    }
}

impl fmt::Display for KeyUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.api_name())
    }
}

impl FromStr for KeyUse {
    type Err = AlgorithmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyUse::parse(s)
    }
}

/// Every JOSE algorithm the API knows.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    RSA1_5,
    RSA_OAEP,
    RSA_OAEP_256,
    RSA_OAEP_384,
    RSA_OAEP_512,
    ES256,
    ES384,
    ES512,
    ES256K,
    ECDH_ES,
    ECDH_ES_A128KW,
    ECDH_ES_A192KW,
    ECDH_ES_A256KW,
    ECDH_1PU,
    ECDH_1PU_A128KW,
    ECDH_1PU_A192KW,
    ECDH_1PU_A256KW,
    HS256,
    HS384,
    HS512,
    A128KW,
    A192KW,
    A256KW,
    A128GCMKW,
    A192GCMKW,
    A256GCMKW,
    Dir,
    PBES2_HS256_A128KW,
    PBES2_HS384_A192KW,
    PBES2_HS512_A256KW,
    EdDSA,
}

use Algorithm as A;

/// (algorithm, JOSE name, generate-endpoint enum name, use).
const TABLE: &[(Algorithm, &str, &str, KeyUse)] = &[
    (A::RS256, "RS256", "RSA256", KeyUse::Signature),
    (A::RS384, "RS384", "RSA384", KeyUse::Signature),
    (A::RS512, "RS512", "RSA512", KeyUse::Signature),
    (A::PS256, "PS256", "PS256", KeyUse::Signature),
    (A::PS384, "PS384", "PS384", KeyUse::Signature),
    (A::PS512, "PS512", "PS512", KeyUse::Signature),
    (A::RSA1_5, "RSA1_5", "RSA1_5", KeyUse::Encryption),
    (A::RSA_OAEP, "RSA-OAEP", "RSA_OAEP", KeyUse::Encryption),
    (
        A::RSA_OAEP_256,
        "RSA-OAEP-256",
        "RSA_OAEP_256",
        KeyUse::Encryption,
    ),
    (
        A::RSA_OAEP_384,
        "RSA-OAEP-384",
        "RSA_OAEP_384",
        KeyUse::Encryption,
    ),
    (
        A::RSA_OAEP_512,
        "RSA-OAEP-512",
        "RSA_OAEP_512",
        KeyUse::Encryption,
    ),
    (A::ES256, "ES256", "ES256", KeyUse::Signature),
    (A::ES384, "ES384", "ES384", KeyUse::Signature),
    (A::ES512, "ES512", "ES512", KeyUse::Signature),
    (A::ES256K, "ES256K", "ES256K", KeyUse::Signature),
    (A::ECDH_ES, "ECDH-ES", "ECDH_ES", KeyUse::Encryption),
    (
        A::ECDH_ES_A128KW,
        "ECDH-ES+A128KW",
        "ECDH_ES_A128KW",
        KeyUse::Encryption,
    ),
    (
        A::ECDH_ES_A192KW,
        "ECDH-ES+A192KW",
        "ECDH_ES_A192KW",
        KeyUse::Encryption,
    ),
    (
        A::ECDH_ES_A256KW,
        "ECDH-ES+A256KW",
        "ECDH_ES_A256KW",
        KeyUse::Encryption,
    ),
    (A::ECDH_1PU, "ECDH-1PU", "ECDH_1PU", KeyUse::Encryption),
    (
        A::ECDH_1PU_A128KW,
        "ECDH-1PU+A128KW",
        "ECDH_1PU_A128KW",
        KeyUse::Encryption,
    ),
    (
        A::ECDH_1PU_A192KW,
        "ECDH-1PU+A192KW",
        "ECDH_1PU_A192KW",
        KeyUse::Encryption,
    ),
    (
        A::ECDH_1PU_A256KW,
        "ECDH-1PU+A256KW",
        "ECDH_1PU_A256KW",
        KeyUse::Encryption,
    ),
    (A::HS256, "HS256", "HS256", KeyUse::Signature),
    (A::HS384, "HS384", "HS384", KeyUse::Signature),
    (A::HS512, "HS512", "HS512", KeyUse::Signature),
    (A::A128KW, "A128KW", "A128KW", KeyUse::Encryption),
    (A::A192KW, "A192KW", "A192KW", KeyUse::Encryption),
    (A::A256KW, "A256KW", "A256KW", KeyUse::Encryption),
    (A::A128GCMKW, "A128GCMKW", "A128GCMKW", KeyUse::Encryption),
    (A::A192GCMKW, "A192GCMKW", "A192GCMKW", KeyUse::Encryption),
    (A::A256GCMKW, "A256GCMKW", "A256GCMKW", KeyUse::Encryption),
    (A::Dir, "dir", "DIR", KeyUse::Encryption),
    (
        A::PBES2_HS256_A128KW,
        "PBES2-HS256+A128KW",
        "PBES2_HS256_A128KW",
        KeyUse::Encryption,
    ),
    (
        A::PBES2_HS384_A192KW,
        "PBES2-HS384+A192KW",
        "PBES2_HS384_A192KW",
        KeyUse::Encryption,
    ),
    (
        A::PBES2_HS512_A256KW,
        "PBES2-HS512+A256KW",
        "PBES2_HS512_A256KW",
        KeyUse::Encryption,
    ),
    (A::EdDSA, "EdDSA", "EdDSA", KeyUse::Signature),
];

const RSA_SIG: &[Algorithm] = &[A::RS256, A::RS384, A::RS512, A::PS256, A::PS384, A::PS512];
const RSA_ENC: &[Algorithm] = &[
    A::RSA1_5,
    A::RSA_OAEP,
    A::RSA_OAEP_256,
    A::RSA_OAEP_384,
    A::RSA_OAEP_512,
];
const EC_SIG: &[Algorithm] = &[A::ES256, A::ES384, A::ES512, A::ES256K];
/// ECDH for EC (RFC 7518 §4.6) and OKP X25519/X448 (RFC 8037 §3.2) keys.
const ECDH: &[Algorithm] = &[
    A::ECDH_ES,
    A::ECDH_ES_A128KW,
    A::ECDH_ES_A192KW,
    A::ECDH_ES_A256KW,
    A::ECDH_1PU,
    A::ECDH_1PU_A128KW,
    A::ECDH_1PU_A192KW,
    A::ECDH_1PU_A256KW,
];
const OKP_SIG: &[Algorithm] = &[A::EdDSA];
const OCT_SIG: &[Algorithm] = &[A::HS256, A::HS384, A::HS512];
const OCT_ENC: &[Algorithm] = &[
    A::A128KW,
    A::A192KW,
    A::A256KW,
    A::A128GCMKW,
    A::A192GCMKW,
    A::A256GCMKW,
    A::Dir,
    A::PBES2_HS256_A128KW,
    A::PBES2_HS384_A192KW,
    A::PBES2_HS512_A256KW,
];

impl Algorithm {
    /// Every algorithm, in the order of the Apinizer table.
    pub const ALL: &'static [Algorithm] = &[
        A::RS256,
        A::RS384,
        A::RS512,
        A::PS256,
        A::PS384,
        A::PS512,
        A::RSA1_5,
        A::RSA_OAEP,
        A::RSA_OAEP_256,
        A::RSA_OAEP_384,
        A::RSA_OAEP_512,
        A::ES256,
        A::ES384,
        A::ES512,
        A::ES256K,
        A::ECDH_ES,
        A::ECDH_ES_A128KW,
        A::ECDH_ES_A192KW,
        A::ECDH_ES_A256KW,
        A::ECDH_1PU,
        A::ECDH_1PU_A128KW,
        A::ECDH_1PU_A192KW,
        A::ECDH_1PU_A256KW,
        A::HS256,
        A::HS384,
        A::HS512,
        A::A128KW,
        A::A192KW,
        A::A256KW,
        A::A128GCMKW,
        A::A192GCMKW,
        A::A256GCMKW,
        A::Dir,
        A::PBES2_HS256_A128KW,
        A::PBES2_HS384_A192KW,
        A::PBES2_HS512_A256KW,
        A::EdDSA,
    ];

    /// Parse either spelling: the JOSE name (`RS256`, `RSA-OAEP-256`, `ECDH-ES+A128KW`,
    /// `PBES2-HS256+A128KW`, `dir`, `EdDSA`) or the generate-endpoint enum name (`RSA256`,
    /// `RSA_OAEP_256`, `ECDH_ES_A128KW`, `PBES2_HS256_A128KW`, `DIR`). Case-sensitive.
    ///
    /// A key type (`RSA`, `EC`, `OCT`, `OKP`, `oct`, in any case) is refused with
    /// [`AlgorithmError::KeyTypeGiven`], anything else unknown with [`AlgorithmError::Unknown`].
    pub fn parse(s: &str) -> Result<Algorithm, AlgorithmError> {
        if s.is_empty() {
            return Err(AlgorithmError::Empty);
        }
        if let Some((alg, ..)) = TABLE
            .iter()
            .find(|(_, jose, enum_name, _)| *jose == s || *enum_name == s)
        {
            return Ok(*alg);
        }
        if ["RSA", "EC", "OCT", "OKP"]
            .iter()
            .any(|kty| kty.eq_ignore_ascii_case(s))
        {
            return Err(AlgorithmError::KeyTypeGiven {
                given: s.to_owned(),
            });
        }
        Err(AlgorithmError::Unknown {
            given: s.to_owned(),
            accepted: join(Algorithm::ALL),
        })
    }

    /// The RFC 7518 (and RFC 8037 / RFC 8812) spelling, e.g. `RSA-OAEP-256`, `dir`,
    /// `ECDH-1PU+A128KW`.
    pub fn jose_name(&self) -> &'static str {
        self.row().1
    }

    /// The enum name of Apinizer's generate endpoint, e.g. `RSA256`, `RSA_OAEP_256`, `DIR`.
    pub fn enum_name(&self) -> &'static str {
        self.row().2
    }

    /// Whether the algorithm signs/MACs or encrypts/wraps keys.
    pub fn key_use(&self) -> KeyUse {
        self.row().3
    }

    fn row(&self) -> &'static (Algorithm, &'static str, &'static str, KeyUse) {
        // TABLE holds every variant (checked by a test); the fallback row is never reached.
        TABLE.iter().find(|row| row.0 == *self).unwrap_or(&TABLE[0])
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.jose_name())
    }
}

impl FromStr for Algorithm {
    type Err = AlgorithmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::parse(s)
    }
}

/// The algorithms valid for `key` with `key_use`, in table order (empty when the key cannot be
/// used that way at all, e.g. an Ed25519 key for encryption).
pub fn accepted(key: &KeyDescriptor, key_use: KeyUse) -> Vec<Algorithm> {
    let sig = key_use == KeyUse::Signature;
    match key.kty {
        KeyType::Rsa => if sig { RSA_SIG } else { RSA_ENC }.to_vec(),
        KeyType::Ec if sig => match key.ec_curve {
            // RFC 7518 §3.4: the curve fixes the algorithm; RFC 8812 §3.2 for secp256k1.
            Some(EcCurve::P256) => vec![A::ES256],
            Some(EcCurve::P384) => vec![A::ES384],
            Some(EcCurve::P521) => vec![A::ES512],
            Some(EcCurve::Secp256k1) => vec![A::ES256K],
            None => EC_SIG.to_vec(),
        },
        KeyType::Ec => ECDH.to_vec(),
        KeyType::Okp => match (key.okp_curve, sig) {
            // RFC 8037 §3.1: Ed25519/Ed448 sign only.
            (Some(OkpCurve::Ed25519 | OkpCurve::Ed448), true) => OKP_SIG.to_vec(),
            (Some(OkpCurve::Ed25519 | OkpCurve::Ed448), false) => Vec::new(),
            // RFC 8037 §3.2: X25519/X448 key agreement only.
            (Some(OkpCurve::X25519 | OkpCurve::X448), true) => Vec::new(),
            (Some(OkpCurve::X25519 | OkpCurve::X448), false) => ECDH.to_vec(),
            (None, true) => OKP_SIG.to_vec(),
            (None, false) => ECDH.to_vec(),
        },
        KeyType::Oct => if sig { OCT_SIG } else { OCT_ENC }.to_vec(),
    }
}

/// Check that `alg` may be used with `key` for `key_use` (see the table at the top).
pub fn check(key: &KeyDescriptor, key_use: KeyUse, alg: Algorithm) -> Result<(), AlgorithmError> {
    let ok = accepted(key, key_use);
    if ok.contains(&alg) {
        return Ok(());
    }
    if ok.is_empty() {
        let other = match key_use {
            KeyUse::Signature => KeyUse::Encryption,
            KeyUse::Encryption => KeyUse::Signature,
        };
        return Err(AlgorithmError::UseNotSupported {
            key: describe(key),
            key_use: key_use.api_name(),
            accepted_use: other.api_name(),
        });
    }
    Err(AlgorithmError::NotValidForKey {
        algorithm: alg.jose_name(),
        key: describe(key),
        key_use: key_use.api_name(),
        accepted: join(&ok),
    })
}

/// The key in words, for messages: `an RSA key`, `an EC key on curve P-384`,
/// `an OKP key on curve Ed25519`, `an OCT key`.
pub fn describe(key: &KeyDescriptor) -> String {
    match key.kty {
        KeyType::Rsa => "an RSA key".to_owned(),
        KeyType::Oct => "an OCT key".to_owned(),
        KeyType::Ec => match key.ec_curve {
            Some(c) => format!("an EC key on curve {}", c.jose()),
            None => "an EC key".to_owned(),
        },
        KeyType::Okp => match key.okp_curve {
            Some(c) => format!("an OKP key on curve {}", c.jose()),
            None => "an OKP key".to_owned(),
        },
    }
}

fn join(algs: &[Algorithm]) -> String {
    algs.iter()
        .map(|a| a.jose_name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa() -> KeyDescriptor {
        KeyDescriptor {
            kty: KeyType::Rsa,
            ec_curve: None,
            okp_curve: None,
        }
    }
    fn ec(c: EcCurve) -> KeyDescriptor {
        KeyDescriptor {
            kty: KeyType::Ec,
            ec_curve: Some(c),
            okp_curve: None,
        }
    }
    fn okp(c: OkpCurve) -> KeyDescriptor {
        KeyDescriptor {
            kty: KeyType::Okp,
            ec_curve: None,
            okp_curve: Some(c),
        }
    }
    fn oct() -> KeyDescriptor {
        KeyDescriptor {
            kty: KeyType::Oct,
            ec_curve: None,
            okp_curve: None,
        }
    }
    const SIG: KeyUse = KeyUse::Signature;
    const ENC: KeyUse = KeyUse::Encryption;

    #[test]
    fn table_is_complete_and_unique() {
        assert_eq!(TABLE.len(), Algorithm::ALL.len());
        for (i, alg) in Algorithm::ALL.iter().enumerate() {
            assert_eq!(TABLE[i].0, *alg, "TABLE and ALL in the same order");
            assert_eq!(alg.row().0, *alg);
        }
        for a in Algorithm::ALL {
            for b in Algorithm::ALL {
                if a != b {
                    assert_ne!(a.jose_name(), b.jose_name());
                    assert_ne!(a.enum_name(), b.enum_name());
                    assert_ne!(a.jose_name(), b.enum_name());
                }
            }
        }
    }

    #[test]
    fn both_spellings_parse_to_the_same_algorithm() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::parse(alg.jose_name()).unwrap(), *alg);
            assert_eq!(Algorithm::parse(alg.enum_name()).unwrap(), *alg);
            assert_eq!(alg.to_string(), alg.jose_name());
            assert_eq!(alg.jose_name().parse::<Algorithm>().unwrap(), *alg);
        }
        let pairs = [
            ("RS256", "RSA256", A::RS256),
            ("RSA-OAEP-256", "RSA_OAEP_256", A::RSA_OAEP_256),
            ("RSA-OAEP", "RSA_OAEP", A::RSA_OAEP),
            ("ECDH-ES+A128KW", "ECDH_ES_A128KW", A::ECDH_ES_A128KW),
            ("ECDH-1PU+A256KW", "ECDH_1PU_A256KW", A::ECDH_1PU_A256KW),
            (
                "PBES2-HS256+A128KW",
                "PBES2_HS256_A128KW",
                A::PBES2_HS256_A128KW,
            ),
            ("dir", "DIR", A::Dir),
            ("EdDSA", "EdDSA", A::EdDSA),
        ];
        for (jose, enum_name, alg) in pairs {
            assert_eq!(Algorithm::parse(jose).unwrap(), alg);
            assert_eq!(Algorithm::parse(enum_name).unwrap(), alg);
            assert_eq!(alg.jose_name(), jose);
            assert_eq!(alg.enum_name(), enum_name);
        }
    }

    #[test]
    fn key_type_as_algorithm_is_refused_with_its_own_message() {
        for kty in ["RSA", "EC", "OCT", "OKP", "oct", "rsa", "Ec"] {
            let err = Algorithm::parse(kty).unwrap_err();
            assert_eq!(
                err,
                AlgorithmError::KeyTypeGiven {
                    given: kty.to_owned()
                }
            );
        }
        assert_eq!(
            Algorithm::parse("RSA").unwrap_err().to_string(),
            "algorithm value must be a JOSE algorithm name such as RS256 or ES256, not a key type (RSA)!"
        );
    }

    #[test]
    fn unknown_and_empty_algorithm() {
        let msg = Algorithm::parse("FOO").unwrap_err().to_string();
        assert!(
            msg.starts_with(
                "algorithm (FOO) is not a known algorithm! Accepted values: RS256, RS384, "
            ),
            "{msg}"
        );
        assert!(msg.ends_with("PBES2-HS512+A256KW, EdDSA"), "{msg}");
        assert_eq!(Algorithm::parse("").unwrap_err(), AlgorithmError::Empty);
        // case-sensitive: lower-case JOSE names are not JOSE names
        assert!(matches!(
            Algorithm::parse("rs256"),
            Err(AlgorithmError::Unknown { .. })
        ));
        assert!(matches!(
            Algorithm::parse("RS256 "),
            Err(AlgorithmError::Unknown { .. })
        ));
    }

    #[test]
    fn key_use_names() {
        assert_eq!(KeyUse::parse("SIGNATURE").unwrap(), SIG);
        assert_eq!(KeyUse::parse("ENCRYPTION").unwrap(), ENC);
        assert_eq!(SIG.jose(), "sig");
        assert_eq!(ENC.jose(), "enc");
        assert_eq!(SIG.api_name(), "SIGNATURE");
        assert_eq!(ENC.to_string(), "ENCRYPTION");
        assert_eq!(KeyUse::from_jose("enc"), Some(ENC));
        assert_eq!(KeyUse::from_jose("ENC"), None);
        assert_eq!(
            KeyUse::parse("signature").unwrap_err().to_string(),
            "useType (signature) is not valid! Accepted values: SIGNATURE, ENCRYPTION"
        );
        assert_eq!(KeyUse::parse("").unwrap_err(), AlgorithmError::EmptyUse);
    }

    #[test]
    fn algorithm_use_matches_table() {
        for alg in [A::RS256, A::PS512, A::ES256K, A::HS384, A::EdDSA] {
            assert_eq!(alg.key_use(), SIG, "{alg}");
        }
        for alg in [
            A::RSA1_5,
            A::RSA_OAEP_512,
            A::ECDH_1PU,
            A::A128GCMKW,
            A::Dir,
            A::PBES2_HS256_A128KW,
        ] {
            assert_eq!(alg.key_use(), ENC, "{alg}");
        }
        // accepted() never offers an algorithm of the other use
        let keys = [
            rsa(),
            ec(EcCurve::P256),
            ec(EcCurve::P384),
            ec(EcCurve::P521),
            ec(EcCurve::Secp256k1),
            okp(OkpCurve::Ed25519),
            okp(OkpCurve::Ed448),
            okp(OkpCurve::X25519),
            okp(OkpCurve::X448),
            oct(),
        ];
        for key in &keys {
            for u in [SIG, ENC] {
                for alg in accepted(key, u) {
                    assert_eq!(alg.key_use(), u);
                }
            }
        }
    }

    #[test]
    fn rsa_rules() {
        for alg in [A::RS256, A::RS384, A::RS512, A::PS256, A::PS384, A::PS512] {
            check(&rsa(), SIG, alg).unwrap();
            assert!(check(&rsa(), ENC, alg).is_err());
        }
        for alg in [
            A::RSA1_5,
            A::RSA_OAEP,
            A::RSA_OAEP_256,
            A::RSA_OAEP_384,
            A::RSA_OAEP_512,
        ] {
            check(&rsa(), ENC, alg).unwrap();
            assert!(check(&rsa(), SIG, alg).is_err());
        }
        for alg in [A::ES256, A::HS256, A::EdDSA, A::ECDH_ES, A::A128KW, A::Dir] {
            assert!(check(&rsa(), SIG, alg).is_err());
            assert!(check(&rsa(), ENC, alg).is_err());
        }
        assert_eq!(
            check(&rsa(), ENC, A::RS256).unwrap_err().to_string(),
            "algorithm (RS256) is not valid for an RSA key with useType ENCRYPTION! Accepted values: RSA1_5, RSA-OAEP, RSA-OAEP-256, RSA-OAEP-384, RSA-OAEP-512"
        );
    }

    #[test]
    fn ec_signature_algorithm_is_fixed_by_the_curve() {
        let pairs = [
            (EcCurve::P256, A::ES256),
            (EcCurve::P384, A::ES384),
            (EcCurve::P521, A::ES512),
            (EcCurve::Secp256k1, A::ES256K),
        ];
        for (curve, good) in pairs {
            check(&ec(curve), SIG, good).unwrap();
            for (_, other) in pairs.iter().filter(|(c, _)| *c != curve) {
                let err = check(&ec(curve), SIG, *other).unwrap_err();
                assert!(matches!(err, AlgorithmError::NotValidForKey { .. }));
            }
        }
        assert_eq!(
            check(&ec(EcCurve::P384), SIG, A::ES256)
                .unwrap_err()
                .to_string(),
            "algorithm (ES256) is not valid for an EC key on curve P-384 with useType SIGNATURE! Accepted values: ES384"
        );
        for alg in [A::RS256, A::PS256, A::HS256, A::EdDSA] {
            assert!(check(&ec(EcCurve::P256), SIG, alg).is_err());
        }
    }

    #[test]
    fn ec_encryption_is_ecdh_on_every_curve() {
        for curve in [
            EcCurve::P256,
            EcCurve::P384,
            EcCurve::P521,
            EcCurve::Secp256k1,
        ] {
            for alg in ECDH {
                check(&ec(curve), ENC, *alg).unwrap();
                assert!(check(&ec(curve), SIG, *alg).is_err());
            }
            for alg in [A::RSA_OAEP, A::A128KW, A::Dir, A::ES256] {
                assert!(check(&ec(curve), ENC, alg).is_err());
            }
        }
    }

    #[test]
    fn okp_ed_keys_sign_only_with_eddsa() {
        for curve in [OkpCurve::Ed25519, OkpCurve::Ed448] {
            check(&okp(curve), SIG, A::EdDSA).unwrap();
            for alg in [A::ES256, A::RS256, A::HS256] {
                assert!(check(&okp(curve), SIG, alg).is_err());
            }
            for alg in ECDH {
                let err = check(&okp(curve), ENC, *alg).unwrap_err();
                assert!(
                    matches!(err, AlgorithmError::UseNotSupported { .. }),
                    "{err}"
                );
            }
            assert!(accepted(&okp(curve), ENC).is_empty());
        }
        assert_eq!(
            check(&okp(OkpCurve::Ed25519), ENC, A::ECDH_ES)
                .unwrap_err()
                .to_string(),
            "useType ENCRYPTION is not valid for an OKP key on curve Ed25519! Accepted values: SIGNATURE"
        );
    }

    #[test]
    fn okp_x_keys_only_agree() {
        for curve in [OkpCurve::X25519, OkpCurve::X448] {
            for alg in ECDH {
                check(&okp(curve), ENC, *alg).unwrap();
            }
            let err = check(&okp(curve), SIG, A::EdDSA).unwrap_err();
            assert!(matches!(err, AlgorithmError::UseNotSupported { .. }));
            assert!(accepted(&okp(curve), SIG).is_empty());
            assert!(check(&okp(curve), ENC, A::RSA_OAEP).is_err());
        }
        assert_eq!(
            check(&okp(OkpCurve::X448), SIG, A::EdDSA)
                .unwrap_err()
                .to_string(),
            "useType SIGNATURE is not valid for an OKP key on curve X448! Accepted values: ENCRYPTION"
        );
    }

    #[test]
    fn oct_rules() {
        for alg in OCT_SIG {
            check(&oct(), SIG, *alg).unwrap();
            assert!(check(&oct(), ENC, *alg).is_err());
        }
        for alg in OCT_ENC {
            check(&oct(), ENC, *alg).unwrap();
            assert!(check(&oct(), SIG, *alg).is_err());
        }
        for alg in [A::RS256, A::ES256, A::EdDSA, A::ECDH_ES, A::RSA_OAEP] {
            assert!(check(&oct(), SIG, alg).is_err());
            assert!(check(&oct(), ENC, alg).is_err());
        }
        assert!(
            check(&oct(), SIG, A::A128KW)
                .unwrap_err()
                .to_string()
                .ends_with("Accepted values: HS256, HS384, HS512")
        );
    }

    #[test]
    fn every_error_is_a_sentence_naming_the_field() {
        let errors = [
            Algorithm::parse("").unwrap_err(),
            Algorithm::parse("EC").unwrap_err(),
            Algorithm::parse("nope").unwrap_err(),
            KeyUse::parse("").unwrap_err(),
            KeyUse::parse("x").unwrap_err(),
            check(&rsa(), SIG, A::ES256).unwrap_err(),
            check(&okp(OkpCurve::X25519), SIG, A::EdDSA).unwrap_err(),
        ];
        for e in errors {
            let m = e.to_string();
            assert!(
                m.starts_with("algorithm") || m.starts_with("useType"),
                "{m}"
            );
            assert!(m.contains('!'), "{m}");
        }
    }
}
