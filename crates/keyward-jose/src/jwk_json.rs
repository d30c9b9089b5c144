//! JWK JSON in: one JWK (RFC 7517 §4) or a JWK Set (RFC 7517 §5), from the clipboard, a URL or
//! an import file.
//!
//! [`parse_jwk_or_set`] selects the key and validates it completely:
//!
//! - **Selection.** A JWK Set (`{"keys":[…]}`) with exactly one key gives that key; with more,
//!   `kid` is required ([`Error::KidRequired`]). A given `kid` must match exactly one key
//!   ([`Error::KidNotFound`], [`Error::KidAmbiguous`]), even when the set has one key. For a
//!   single JWK object the `kid` argument is not used.
//! - **Members.** `kty` is `RSA`, `EC`, `OKP` or `oct`; the members required by RFC 7518 §6 /
//!   RFC 8037 §2 are present, strings, and valid base64url (trailing `=` padding is tolerated and
//!   removed). EC `x`/`y` (and `d`) are exactly the field size (32/48/66/32 octets) and the point
//!   is on the curve; OKP `x` (and `d`) have the curve's key length; RSA `n` is 1024 to 16384
//!   bits and no RSA member has a leading zero octet; `oct` `k` is not empty.
//! - **Private members** agree with the public ones: EC/OKP public keys are derived from `d` and
//!   compared; RSA `n = p·q` and the CRT values are checked (as for key files); `p`, `q`, `dp`,
//!   `dq`, `qi` come all together, with `d`. Multi-prime keys (`oth`) are refused.
//! - **`use` / `alg`**, when present, must suit the key ([`crate::alg::check`]); RFC 9864's
//!   `Ed25519` / `Ed448` are accepted for the matching OKP curve.
//! - **Unique members** (RFC 7517 §4): a member name given twice in any object of the document
//!   is refused, naming it ([`crate::json`]).
//! - **Public keys** pass [`crate::validation`]: RSA `n` odd without small factors, `e` odd,
//!   `3 ≤ e < n`, `e < 2^256`; no small-order or non-canonical OKP public key; no all-zero
//!   X25519/X448 `d`. An RSA `d` given without the CRT members must invert `e` (checked as
//!   `(2^e)^d ≡ 2 mod n`).
//! - **Limits**: at most [`MAX_JWK_INPUT`] bytes and [`MAX_JWK_SET_KEYS`] keys.
//!
//! The result is normalised: octet members re-encoded without padding, only the members of the
//! key type kept, `kid`/`use`/`alg`/`key_ops`/`x5c`/`x5t`/`x5t#S256` kept as given. No `kid` is
//! computed.

use serde_json::{Map, Value};

use crate::alg::{self, Algorithm, KeyUse};
use crate::b64;
use crate::error::{AlgorithmError, Error};
use crate::json::JsonError;
use crate::jwk::{
    self, EcCurve, Jwk, KeyDescriptor, KeyParams, KeyType, OkpCurve, RsaCrt, RsaPrivate,
};
use crate::key::{self, PrivateKey};
use crate::validation;

/// Largest JWK / JWK Set document accepted (1 MiB, Apinizer's default `urlOptionSizeLimit`).
pub const MAX_JWK_INPUT: usize = 1 << 20;
/// Most keys accepted in one JWK Set.
pub const MAX_JWK_SET_KEYS: usize = 100;

fn invalid(detail: impl Into<String>) -> Error {
    Error::InvalidJwk {
        detail: detail.into(),
    }
}

/// Read one JWK or a JWK Set, select the key (by `kid` for a set) and validate it.
pub fn parse_jwk_or_set(json: &[u8], kid: Option<&str>) -> Result<Jwk, Error> {
    if json.len() > MAX_JWK_INPUT {
        return Err(invalid("the document is larger than 1 MiB"));
    }
    if json.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(invalid("the document is empty"));
    }
    let value = crate::json::from_slice(json).map_err(|e| match e {
        JsonError::Syntax { line, column } => invalid(format!(
            "the document is not valid JSON (line {line}, column {column})"
        )),
        // RFC 7517 §4: member names MUST be unique.
        JsonError::Duplicate {
            member,
            line,
            column,
        } => invalid(format!(
            "member \"{member}\" is given more than once (line {line}, column {column}; RFC 7517 §4: member names must be unique)"
        )),
    })?;
    let Some(object) = value.as_object() else {
        return Err(invalid(
            "the document is not a JSON object (a JWK or a JWK Set)",
        ));
    };
    let Some(keys) = object.get("keys") else {
        return validate(object);
    };
    let Some(keys) = keys.as_array() else {
        return Err(invalid(
            "the \"keys\" member of the JWK Set is not an array",
        ));
    };
    if keys.is_empty() {
        return Err(invalid("the JWK Set holds no keys"));
    }
    if keys.len() > MAX_JWK_SET_KEYS {
        return Err(invalid(format!(
            "the JWK Set holds {} keys, more than the accepted {MAX_JWK_SET_KEYS}",
            keys.len()
        )));
    }
    let kid = kid.filter(|k| !k.trim().is_empty());
    let chosen = match (kid, keys.as_slice()) {
        (None, [one]) => one,
        (None, many) => return Err(Error::KidRequired { count: many.len() }),
        (Some(kid), all) => {
            let matching: Vec<&Value> = all
                .iter()
                .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
                .collect();
            match matching.as_slice() {
                [] => {
                    return Err(Error::KidNotFound {
                        kid: kid.to_owned(),
                    });
                }
                [one] => *one,
                many => {
                    return Err(Error::KidAmbiguous {
                        kid: kid.to_owned(),
                        count: many.len(),
                    });
                }
            }
        }
    };
    let Some(object) = chosen.as_object() else {
        return Err(invalid(
            "the selected key of the JWK Set is not a JSON object",
        ));
    };
    validate(object)
}

/// A string member: absent (or `null`) → `None`; not a string → error.
fn string(obj: &Map<String, Value>, name: &str) -> Result<Option<String>, Error> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("member \"{name}\" must be a string"))),
    }
}

/// An array-of-strings member.
fn strings(obj: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, Error> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    invalid(format!("member \"{name}\" must be an array of strings"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid(format!(
            "member \"{name}\" must be an array of strings"
        ))),
    }
}

/// A base64url octet member, decoded.
fn octets(obj: &Map<String, Value>, name: &str) -> Result<Option<Vec<u8>>, Error> {
    match string(obj, name)? {
        None => Ok(None),
        Some(s) => b64::decode_url(&s)
            .map(Some)
            .map_err(|_| invalid(format!("member \"{name}\" is not valid base64url"))),
    }
}

fn required(obj: &Map<String, Value>, kty: KeyType, name: &'static str) -> Result<Vec<u8>, Error> {
    octets(obj, name)?.ok_or_else(|| Error::MissingMember {
        kty: kty.jose().to_owned(),
        member: name,
    })
}

fn validate(obj: &Map<String, Value>) -> Result<Jwk, Error> {
    let kty_text = string(obj, "kty")?.ok_or_else(|| invalid("member \"kty\" is missing"))?;
    let kty = KeyType::from_jose(&kty_text).ok_or(Error::UnknownKeyType { kty: kty_text })?;
    let key_use = string(obj, "use")?;
    let key_ops = strings(obj, "key_ops")?;
    let alg = string(obj, "alg")?;
    let kid = string(obj, "kid")?;
    let x5c = strings(obj, "x5c")?;
    let x5t = string(obj, "x5t")?;
    let x5t_s256 = string(obj, "x5t#S256")?;
    for (name, value, len) in [("x5t", &x5t, 20), ("x5t#S256", &x5t_s256, 32)] {
        if let Some(v) = value
            && b64::decode_url(v).map(|d| d.len()) != Ok(len)
        {
            return Err(invalid(format!(
                "member \"{name}\" must be the base64url of a {len}-byte digest"
            )));
        }
    }
    if let Some(chain) = &x5c
        && chain
            .iter()
            .any(|c| b64::decode_standard_lenient(c).is_err())
    {
        return Err(invalid(
            "member \"x5c\" must hold standard base64 DER certificates",
        ));
    }
    let params = match kty {
        KeyType::Rsa => rsa(obj)?,
        KeyType::Ec => ec(obj)?,
        KeyType::Okp => okp(obj)?,
        KeyType::Oct => {
            let k = required(obj, kty, "k")?;
            if k.is_empty() {
                return Err(invalid("member \"k\" must not be empty"));
            }
            KeyParams::Oct { k: b64::url(&k) }
        }
    };
    check_use_and_alg(key_use.as_deref(), alg.as_deref(), &params.descriptor())?;
    Ok(Jwk {
        key_use,
        key_ops,
        alg,
        kid,
        params,
        x5c,
        x5t,
        x5t_s256,
    })
}

fn check_use_and_alg(
    key_use: Option<&str>,
    alg: Option<&str>,
    descriptor: &KeyDescriptor,
) -> Result<(), Error> {
    let key_use = match key_use {
        None => None,
        Some(u) => Some(KeyUse::from_jose(u).ok_or_else(|| {
            invalid(format!(
                "member \"use\" ({u}) is not valid! Accepted values: sig, enc"
            ))
        })?),
    };
    match alg {
        // RFC 9864 fully specified EdDSA algorithms.
        Some(name @ ("Ed25519" | "Ed448")) => {
            let fits = descriptor.okp_curve.map(|c| c.jose()) == Some(name)
                && key_use != Some(KeyUse::Encryption);
            if !fits {
                return Err(invalid(format!(
                    "member \"alg\" ({name}) is not valid for {}",
                    alg::describe(descriptor)
                )));
            }
            Ok(())
        }
        Some(name) => {
            let algorithm = Algorithm::parse(name)?;
            alg::check(
                descriptor,
                key_use.unwrap_or(algorithm.key_use()),
                algorithm,
            )?;
            Ok(())
        }
        None => match key_use {
            Some(u) if alg::accepted(descriptor, u).is_empty() => {
                let other = match u {
                    KeyUse::Signature => KeyUse::Encryption,
                    KeyUse::Encryption => KeyUse::Signature,
                };
                Err(AlgorithmError::UseNotSupported {
                    key: alg::describe(descriptor),
                    key_use: u.api_name(),
                    accepted_use: other.api_name(),
                }
                .into())
            }
            _ => Ok(()),
        },
    }
}

fn rsa(obj: &Map<String, Value>) -> Result<KeyParams, Error> {
    let kty = KeyType::Rsa;
    if obj.contains_key("oth") {
        return Err(invalid(
            "multi-prime RSA keys (member \"oth\") are not supported",
        ));
    }
    let n = required(obj, kty, "n")?;
    let e = required(obj, kty, "e")?;
    let names = ["d", "p", "q", "dp", "dq", "qi"];
    let mut private: Vec<Option<Vec<u8>>> = Vec::with_capacity(names.len());
    for name in names {
        private.push(octets(obj, name)?);
    }
    for (name, value) in [("n", Some(&n)), ("e", Some(&e))].into_iter().chain(
        names
            .iter()
            .copied()
            .zip(private.iter().map(Option::as_ref)),
    ) {
        match value.map(Vec::as_slice) {
            Some([]) => return Err(invalid(format!("member \"{name}\" is empty"))),
            Some([0, ..]) => {
                return Err(invalid(format!(
                    "member \"{name}\" must not start with a zero octet (RFC 7518 §6.3: minimal encoding)"
                )));
            }
            _ => {}
        }
    }
    validation::rsa_public(&n, &e).map_err(to_jwk)?;
    let [d, p, q, dp, dq, qi] = [0, 1, 2, 3, 4, 5].map(|i| private.get(i).cloned().flatten());
    let crt_present = [&p, &q, &dp, &dq, &qi].iter().any(|v| v.is_some());
    let private = match (d, crt_present) {
        (None, false) => None,
        (None, true) => {
            return Err(Error::MissingMember {
                kty: kty.jose().to_owned(),
                member: "d",
            });
        }
        (Some(d), false) => {
            if d.len() > n.len() || (d.len() == n.len() && d >= n) {
                return Err(invalid("member \"d\" must be below n"));
            }
            // RFC 7518 §6.3.2.1: d alone is a complete private key; it must invert e.
            key::check_rsa_exponent(&n, &e, &d).map_err(to_jwk)?;
            Some(RsaPrivate {
                d: b64::url(&d),
                crt: None,
            })
        }
        (Some(d), true) => {
            let mut all = Vec::with_capacity(5);
            for (name, v) in [("p", p), ("q", q), ("dp", dp), ("dq", dq), ("qi", qi)] {
                all.push(v.ok_or(Error::MissingMember {
                    kty: kty.jose().to_owned(),
                    member: name,
                })?);
            }
            let [p, q, dp, dq, qi] =
                [0, 1, 2, 3, 4].map(|i| all.get(i).cloned().unwrap_or_default());
            key::check_rsa(&n, &e, &d, &p, &q, &dp, &dq, &qi).map_err(to_jwk)?;
            Some(RsaPrivate {
                d: b64::url(&d),
                crt: Some(RsaCrt {
                    p: b64::url(&p),
                    q: b64::url(&q),
                    dp: b64::url(&dp),
                    dq: b64::url(&dq),
                    qi: b64::url(&qi),
                }),
            })
        }
    };
    Ok(KeyParams::Rsa {
        n: b64::url_public(&n),
        e: b64::url_public(&e),
        private,
    })
}

/// A key error, told as a JWK error (its detail names the member).
fn to_jwk(e: Error) -> Error {
    match e {
        Error::InvalidPrivateKey { detail } | Error::InvalidPublicKey { detail } => {
            Error::InvalidJwk { detail }
        }
        other => other,
    }
}

fn ec(obj: &Map<String, Value>) -> Result<KeyParams, Error> {
    let kty = KeyType::Ec;
    let crv = string(obj, "crv")?.ok_or(Error::MissingMember {
        kty: kty.jose().to_owned(),
        member: "crv",
    })?;
    let curve = EcCurve::from_jose(&crv).ok_or(Error::UnsupportedCurve { curve: crv })?;
    let len = curve.coordinate_len();
    let x = required(obj, kty, "x")?;
    let y = required(obj, kty, "y")?;
    let d = octets(obj, "d")?;
    for (name, value) in [("x", Some(&x)), ("y", Some(&y)), ("d", d.as_ref())] {
        if let Some(v) = value
            && v.len() != len
        {
            return Err(invalid(format!(
                "member \"{name}\" must be {len} bytes long for curve {}, not {} (RFC 7518 §6.2: left-padded to the field size)",
                curve.jose(),
                v.len()
            )));
        }
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    jwk::ec_coordinates_of_point(curve, &point).map_err(|_| {
        invalid(format!(
            "the point (x, y) is not on the {} curve",
            curve.jose()
        ))
    })?;
    if let Some(d) = &d {
        let derived = key::ec_from_scalar(curve, d).map_err(|_| {
            invalid(format!(
                "member \"d\" is zero or not below the order of the {} curve",
                curve.jose()
            ))
        })?;
        let PrivateKey::Ec { x: dx, y: dy, .. } = derived else {
            return Err(invalid("member \"d\" is not an EC private key"));
        };
        if dx != x || dy != y {
            return Err(invalid(
                "member \"d\" does not belong to the public key (x, y)",
            ));
        }
    }
    Ok(KeyParams::Ec {
        crv: curve,
        x: b64::url_public(&x),
        y: b64::url_public(&y),
        d: d.map(|d| b64::url(&d)),
    })
}

fn okp(obj: &Map<String, Value>) -> Result<KeyParams, Error> {
    let kty = KeyType::Okp;
    let crv = string(obj, "crv")?.ok_or(Error::MissingMember {
        kty: kty.jose().to_owned(),
        member: "crv",
    })?;
    let curve = OkpCurve::from_jose(&crv).ok_or_else(|| {
        invalid(format!(
            "member \"crv\" ({crv}) is not valid for key type OKP! Accepted values: Ed25519, Ed448, X25519, X448"
        ))
    })?;
    let len = curve.key_len();
    let x = required(obj, kty, "x")?;
    let d = octets(obj, "d")?;
    for (name, value) in [("x", Some(&x)), ("d", d.as_ref())] {
        if let Some(v) = value
            && v.len() != len
        {
            return Err(invalid(format!(
                "member \"{name}\" must be {len} bytes long for curve {}, not {}",
                curve.jose(),
                v.len()
            )));
        }
    }
    // RFC 7748 §6, RFC 8032 §5: no small-order or non-canonical public key.
    validation::okp_public(curve, &x).map_err(to_jwk)?;
    if let Some(d) = &d {
        validation::okp_private(curve, d).map_err(to_jwk)?;
        if key::okp_public_of(curve, d).as_ref() != Some(&x) {
            return Err(invalid("member \"d\" does not belong to the public key x"));
        }
    }
    Ok(KeyParams::Okp {
        crv: curve,
        x: b64::url_public(&x),
        d: d.map(|d| b64::url(&d)),
    })
}

#[cfg(test)]
#[path = "jwk_json_tests.rs"]
mod tests;
