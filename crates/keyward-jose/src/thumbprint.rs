//! JWK Thumbprint (RFC 7638).
//!
//! RFC 7638 §3.2: the hash input is a JSON object holding **only the required members** of the
//! key type, in lexicographic order of their names, with no whitespace, UTF-8 encoded:
//!
//! | kty | members (in this order) |
//! |---|---|
//! | RSA | `e`, `kty`, `n` (RFC 7638 §3.2) |
//! | EC | `crv`, `kty`, `x`, `y` (RFC 7638 §3.2) |
//! | OKP | `crv`, `kty`, `x` (RFC 8037 §2) |
//! | oct | `k`, `kty` (RFC 7638 §3.2) |
//!
//! The string is built by hand in that order — never through a map, whose iteration order is
//! not ours to rely on. String values are written with JSON escaping (RFC 7638 §3.3); base64url
//! values never need any. The result is the base64url (unpadded) digest.

use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::b64;
use crate::error::Error;
use crate::jwk::Jwk;

/// The RFC 7638 §3.2 hash input of `jwk`.
pub fn canonical_json(jwk: &Jwk) -> Result<String, Error> {
    let need = |member: &'static str, v: &Option<String>| -> Result<String, Error> {
        match v {
            Some(s) => Ok(json_string(s)),
            None => Err(Error::MissingMember {
                kty: jwk.kty.clone(),
                member,
            }),
        }
    };
    match jwk.kty.as_str() {
        "RSA" => Ok(format!(
            r#"{{"e":{},"kty":"RSA","n":{}}}"#,
            need("e", &jwk.e)?,
            need("n", &jwk.n)?
        )),
        "EC" => Ok(format!(
            r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
            need("crv", &jwk.crv)?,
            need("x", &jwk.x)?,
            need("y", &jwk.y)?
        )),
        "OKP" => Ok(format!(
            r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
            need("crv", &jwk.crv)?,
            need("x", &jwk.x)?
        )),
        "oct" => Ok(format!(r#"{{"k":{},"kty":"oct"}}"#, need("k", &jwk.k)?)),
        other => Err(Error::UnknownKeyType {
            kty: other.to_owned(),
        }),
    }
}

/// RFC 7638 thumbprint with SHA-256, base64url.
pub fn thumbprint_sha256(jwk: &Jwk) -> Result<String, Error> {
    Ok(b64::url(&Sha256::digest(canonical_json(jwk)?.as_bytes())))
}

/// RFC 7638 thumbprint with SHA-1, base64url (for the API's `keyIdType=SHA1`).
pub fn thumbprint_sha1(jwk: &Jwk) -> Result<String, Error> {
    Ok(b64::url(&Sha1::digest(canonical_json(jwk)?.as_bytes())))
}

/// A JSON string literal (RFC 8259 §7 escaping, as serde_json writes it).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::fixture;

    fn rfc_jwk(name: &str) -> Jwk {
        serde_json::from_slice(&fixture(name)).unwrap()
    }

    #[test]
    fn rfc7638_section_3_1() {
        let jwk = rfc_jwk("rfc/rfc7638-section-3.1.json");
        assert_eq!(
            thumbprint_sha256(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // optional members (alg, kid) do not enter the hash input
        let canonical = canonical_json(&jwk).unwrap();
        assert!(canonical.starts_with(
            r#"{"e":"AQAB","kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4"#
        ));
        assert!(!canonical.contains("kid") && !canonical.contains(' '));
        assert_eq!(
            jwk.thumbprint_sha256().unwrap(),
            thumbprint_sha256(&jwk).unwrap()
        );
    }

    #[test]
    fn rfc8037_appendix_a_3() {
        let jwk = rfc_jwk("rfc/rfc8037-appendix-a.json");
        assert_eq!(
            canonical_json(&jwk).unwrap(),
            r#"{"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#
        );
        assert_eq!(
            thumbprint_sha256(&jwk).unwrap(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn member_order_for_every_key_type() {
        let ec = Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some("X".into()),
            y: Some("Y".into()),
            kid: Some("ignored".into()),
            d: Some("ignored".into()),
            ..Jwk::default()
        };
        assert_eq!(
            canonical_json(&ec).unwrap(),
            r#"{"crv":"P-256","kty":"EC","x":"X","y":"Y"}"#
        );
        let oct = Jwk {
            kty: "oct".into(),
            k: Some("K".into()),
            ..Jwk::default()
        };
        assert_eq!(canonical_json(&oct).unwrap(), r#"{"k":"K","kty":"oct"}"#);
        assert_eq!(
            thumbprint_sha1(&oct).unwrap().len(),
            27,
            "20 bytes base64url"
        );
        assert_eq!(
            thumbprint_sha256(&oct).unwrap().len(),
            43,
            "32 bytes base64url"
        );
    }

    #[test]
    fn missing_members_and_unknown_kty() {
        let ec = Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some("X".into()),
            ..Jwk::default()
        };
        let err = canonical_json(&ec).unwrap_err();
        assert_eq!(
            err.to_string(),
            "The JWK has no \"y\" member, which is required for key type EC!"
        );
        let odd = Jwk {
            kty: "DSA".into(),
            ..Jwk::default()
        };
        assert!(matches!(
            canonical_json(&odd),
            Err(Error::UnknownKeyType { .. })
        ));
    }

    #[test]
    fn values_are_json_escaped() {
        assert_eq!(json_string("a\"b\\c\u{1}"), r#""a\"b\\c\u0001""#);
        assert_eq!(json_string("é\n"), serde_json::to_string("é\n").unwrap());
    }
}
