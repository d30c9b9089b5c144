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
use crate::json::write_string;

/// The members RFC 7638 §3.2 hashes, for each key type (values as they appear in the JWK: the
/// base64url text, the `crv` name). The caller (the JWK model) says which members; this module
/// needs no JWK type, so it depends on nothing but JSON and base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequiredMembers<'a> {
    /// RSA: `e`, `n` (RFC 7638 §3.2).
    Rsa {
        /// `e`
        e: &'a str,
        /// `n`
        n: &'a str,
    },
    /// EC: `crv`, `x`, `y` (RFC 7638 §3.2).
    Ec {
        /// `crv`
        crv: &'a str,
        /// `x`
        x: &'a str,
        /// `y`
        y: &'a str,
    },
    /// OKP: `crv`, `x` (RFC 8037 §2).
    Okp {
        /// `crv`
        crv: &'a str,
        /// `x`
        x: &'a str,
    },
    /// oct: `k` (RFC 7638 §3.2).
    Oct {
        /// `k`
        k: &'a str,
    },
}

/// The RFC 7638 §3.2 hash input: the required members in lexicographic order, no whitespace.
pub fn canonical_json(members: &RequiredMembers<'_>) -> String {
    let mut out = String::with_capacity(match members {
        RequiredMembers::Rsa { e, n } => 32 + e.len() + n.len(),
        RequiredMembers::Ec { crv, x, y } => 40 + crv.len() + x.len() + y.len(),
        RequiredMembers::Okp { crv, x } => 32 + crv.len() + x.len(),
        RequiredMembers::Oct { k } => 24 + k.len(),
    });
    let member = |out: &mut String, name: &str, value: &str| {
        out.push_str(name);
        write_string(out, value);
    };
    match members {
        RequiredMembers::Rsa { e, n } => {
            member(&mut out, "{\"e\":", e);
            member(&mut out, ",\"kty\":\"RSA\",\"n\":", n);
        }
        RequiredMembers::Ec { crv, x, y } => {
            member(&mut out, "{\"crv\":", crv);
            member(&mut out, ",\"kty\":\"EC\",\"x\":", x);
            member(&mut out, ",\"y\":", y);
        }
        RequiredMembers::Okp { crv, x } => {
            member(&mut out, "{\"crv\":", crv);
            member(&mut out, ",\"kty\":\"OKP\",\"x\":", x);
        }
        RequiredMembers::Oct { k } => {
            member(&mut out, "{\"k\":", k);
            out.push_str(",\"kty\":\"oct\"");
        }
    }
    out.push('}');
    out
}

/// RFC 7638 thumbprint with SHA-256, base64url.
pub fn thumbprint_sha256(members: &RequiredMembers<'_>) -> String {
    b64::url_public(&Sha256::digest(canonical_json(members).as_bytes()))
}

/// RFC 7638 thumbprint with SHA-1, base64url (for the API's `keyIdType=SHA1`).
pub fn thumbprint_sha1(members: &RequiredMembers<'_>) -> String {
    b64::url_public(&Sha1::digest(canonical_json(members).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwk::Jwk;
    use crate::test_support::fixture;

    fn rfc_jwk(name: &str) -> Jwk {
        serde_json::from_slice(&fixture(name)).unwrap()
    }

    #[test]
    fn rfc7638_section_3_1() {
        let jwk = rfc_jwk("rfc/rfc7638-section-3.1.json");
        let members = jwk.params.required_members();
        assert_eq!(
            thumbprint_sha256(&members),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        // optional members (alg, kid) do not enter the hash input
        let canonical = canonical_json(&members);
        assert!(canonical.starts_with(
            r#"{"e":"AQAB","kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4"#
        ));
        assert!(!canonical.contains("kid") && !canonical.contains(' '));
        assert_eq!(jwk.thumbprint_sha256(), thumbprint_sha256(&members));
    }

    #[test]
    fn rfc8037_appendix_a_3() {
        let jwk = rfc_jwk("rfc/rfc8037-appendix-a.json");
        let members = jwk.params.required_members();
        assert_eq!(
            canonical_json(&members),
            r#"{"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#
        );
        assert_eq!(
            thumbprint_sha256(&members),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn member_order_for_every_key_type() {
        let ec = RequiredMembers::Ec {
            crv: "P-256",
            x: "X",
            y: "Y",
        };
        assert_eq!(
            canonical_json(&ec),
            r#"{"crv":"P-256","kty":"EC","x":"X","y":"Y"}"#
        );
        let oct = RequiredMembers::Oct { k: "K" };
        assert_eq!(canonical_json(&oct), r#"{"k":"K","kty":"oct"}"#);
        assert_eq!(
            canonical_json(&RequiredMembers::Rsa { e: "E", n: "N" }),
            r#"{"e":"E","kty":"RSA","n":"N"}"#
        );
        assert_eq!(thumbprint_sha1(&oct).len(), 27, "20 bytes base64url");
        assert_eq!(thumbprint_sha256(&oct).len(), 43, "32 bytes base64url");
    }

    #[test]
    fn values_are_json_escaped() {
        // Values the model did not produce itself (a deserialised JWK) are escaped as
        // serde_json escapes them (RFC 7638 §3.3).
        let odd = "a\"b\\c\u{1}é\n";
        assert_eq!(
            canonical_json(&RequiredMembers::Oct { k: odd }),
            format!(
                r#"{{"k":{},"kty":"oct"}}"#,
                serde_json::to_string(odd).unwrap()
            )
        );
    }
}
