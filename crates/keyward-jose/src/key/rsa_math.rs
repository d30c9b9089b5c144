//! RSA private key consistency (RFC 8017 §3.2), with `crypto-bigint`.
//!
//! Checks, all on values at one fixed precision (so no operation can meet mismatched widths):
//! `p, q > 1`, `n = p·q`, `0 < d < n`, `dp = d mod (p−1)`, `dq = d mod (q−1)`,
//! `qi = q⁻¹ mod p`, `e·dp ≡ 1 (mod p−1)`, `e·dq ≡ 1 (mod q−1)`. CRT values given as zero (some
//! encoders write zeros when they do not know them) are computed instead of compared. The cost is
//! a handful of multiplications and reductions: microseconds, whatever the input.

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, NonZero, Odd};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::jwk::RSA_MAX_BITS;

/// The members of an RSA private key as unsigned big-endian octets (leading zeros allowed).
pub(crate) struct RsaParts<'a> {
    pub n: &'a [u8],
    pub e: &'a [u8],
    pub d: &'a [u8],
    pub p: &'a [u8],
    pub q: &'a [u8],
    pub dp: &'a [u8],
    pub dq: &'a [u8],
    pub qi: &'a [u8],
}

/// The private members, minimal big-endian, checked and completed.
pub(crate) struct Completed {
    pub d: Zeroizing<Vec<u8>>,
    pub p: Zeroizing<Vec<u8>>,
    pub q: Zeroizing<Vec<u8>>,
    pub dp: Zeroizing<Vec<u8>>,
    pub dq: Zeroizing<Vec<u8>>,
    pub qi: Zeroizing<Vec<u8>>,
}

fn bad(detail: &str) -> Error {
    Error::InvalidPrivateKey {
        detail: detail.to_owned(),
    }
}

/// Strip leading zero octets (an all-zero or empty value becomes empty).
fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// Check the key and compute missing CRT values.
pub(crate) fn check_and_complete(parts: &RsaParts<'_>) -> Result<Completed, Error> {
    let all = [
        parts.n, parts.e, parts.d, parts.p, parts.q, parts.dp, parts.dq, parts.qi,
    ];
    let longest = all.iter().map(|v| trim(v).len()).max().unwrap_or(0);
    if longest * 8 > RSA_MAX_BITS {
        return Err(Error::RsaKeySize { bits: longest * 8 });
    }
    // Twice the width of the longest value, plus a limb: every product below fits.
    let precision = u32::try_from(longest * 16 + 64)
        .map_err(|_| bad("the RSA key is too large"))?
        .next_multiple_of(64);
    let uint = |bytes: &[u8]| -> Result<BoxedUint, Error> {
        BoxedUint::from_be_slice(trim(bytes), precision)
            .map_err(|_| bad("the RSA key is too large"))
    };
    let n = uint(parts.n)?;
    let e = uint(parts.e)?;
    let d = Zeroizing::new(uint(parts.d)?);
    let p = Zeroizing::new(uint(parts.p)?);
    let q = Zeroizing::new(uint(parts.q)?);
    let one = BoxedUint::one_with_precision(precision);
    let zero = BoxedUint::zero_with_precision(precision);

    if trim(parts.p).is_empty() || trim(parts.q).is_empty() {
        return Err(bad("the RSA key does not carry its prime factors p and q"));
    }
    if *p <= one || *q <= one {
        return Err(bad("the RSA prime factors must be greater than 1"));
    }
    let product = Option::<BoxedUint>::from(p.checked_mul(&*q));
    if product.as_ref() != Some(&n) {
        return Err(bad(
            "the modulus n is not the product of the primes p and q",
        ));
    }
    if *d == zero || *d >= n {
        return Err(bad("the private exponent d must be between 1 and n - 1"));
    }
    let p_nz = nonzero(&p)?;
    let p_minus_1 = nonzero(&p.wrapping_sub(&one))?;
    let q_minus_1 = nonzero(&q.wrapping_sub(&one))?;

    let dp = complete(
        parts.dp,
        &uint,
        || Ok(d.rem(&p_minus_1)),
        "dp",
        "d mod (p - 1)",
    )?;
    let dq = complete(
        parts.dq,
        &uint,
        || Ok(d.rem(&q_minus_1)),
        "dq",
        "d mod (q - 1)",
    )?;
    let qi = complete(
        parts.qi,
        &uint,
        || {
            Option::<BoxedUint>::from(q.invert_mod(&p_nz))
                .ok_or_else(|| bad("the primes p and q are not coprime"))
        },
        "qi",
        "the inverse of q modulo p",
    )?;
    for (crt, modulus, name) in [(&dp, &p_minus_1, "p"), (&dq, &q_minus_1, "q")] {
        let ed = Option::<BoxedUint>::from(e.checked_mul(&**crt))
            .ok_or_else(|| bad("the RSA key is too large"))?;
        if ed.rem(modulus) != one {
            return Err(bad(&format!(
                "the private exponent does not invert the public exponent modulo {name} - 1"
            )));
        }
    }
    let out = |v: &BoxedUint| Zeroizing::new(v.to_be_bytes_trimmed_vartime().into_vec());
    Ok(Completed {
        d: out(&d),
        p: out(&p),
        q: out(&q),
        dp: out(&dp),
        dq: out(&dq),
        qi: out(&qi),
    })
}

/// For a private key given as `d` alone (RFC 7518 §6.3.2.1 without the CRT members): check
/// that `d` inverts `e`, as `(2^e)^d ≡ 2 (mod n)`. Both `e·d ≡ 1 (mod λ(n))` and
/// `(mod φ(n))` pass; a `d` that does not belong to `(n, e)` fails except with negligible
/// probability. `n` must be odd (checked by [`crate::validation::rsa_public`] before). The cost
/// is one modular exponentiation with `d` (tens of milliseconds at 16384 bits).
pub(crate) fn check_private_exponent(n: &[u8], e: &[u8], d: &[u8]) -> Result<(), Error> {
    let n = trim(n);
    if n.len() * 8 > RSA_MAX_BITS {
        return Err(Error::RsaKeySize { bits: n.len() * 8 });
    }
    let precision = u32::try_from(n.len() * 8)
        .map_err(|_| bad("the RSA key is too large"))?
        .max(64)
        .next_multiple_of(64);
    let uint = |bytes: &[u8], precision: u32| -> Result<BoxedUint, Error> {
        BoxedUint::from_be_slice(trim(bytes), precision)
            .map_err(|_| bad("the RSA key is too large"))
    };
    let modulus = Option::<Odd<BoxedUint>>::from(Odd::new(uint(n, precision)?))
        .ok_or_else(|| bad("the RSA modulus (n) is even"))?;
    let params = BoxedMontyParams::new_vartime(modulus);
    // e and d are below n (checked by the callers), so n's precision holds them.
    let e = uint(e, precision)?;
    let d = Zeroizing::new(uint(d, precision)?);
    let two = uint(&[2], precision)?;
    let back = BoxedMontyForm::new(two.clone(), &params)
        .pow(&e)
        .pow(&d)
        .retrieve();
    if back != two {
        return Err(bad(
            "the private exponent (d) does not belong to the public key (n, e): (m^e)^d is not m mod n",
        ));
    }
    Ok(())
}

fn nonzero(v: &BoxedUint) -> Result<NonZero<BoxedUint>, Error> {
    Option::from(NonZero::new(v.clone())).ok_or_else(|| bad("an RSA prime factor is not valid"))
}

/// The given CRT value when non-zero (it must equal the computed one), else the computed one.
fn complete(
    given: &[u8],
    uint: &dyn Fn(&[u8]) -> Result<BoxedUint, Error>,
    compute: impl FnOnce() -> Result<BoxedUint, Error>,
    name: &str,
    what: &str,
) -> Result<Zeroizing<BoxedUint>, Error> {
    let computed = Zeroizing::new(compute()?);
    if trim(given).is_empty() {
        return Ok(computed);
    }
    let given = Zeroizing::new(uint(given)?);
    if *given != *computed {
        return Err(bad(&format!("{name} is not {what}")));
    }
    Ok(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be(v: u64) -> Vec<u8> {
        v.to_be_bytes().to_vec()
    }

    /// p = 61, q = 53, n = 3233, e = 17, d = 2753, dp = 53, dq = 49, qi = 38 (the classic
    /// textbook key).
    fn parts<'a>(v: &'a [Vec<u8>; 8]) -> RsaParts<'a> {
        RsaParts {
            n: &v[0],
            e: &v[1],
            d: &v[2],
            p: &v[3],
            q: &v[4],
            dp: &v[5],
            dq: &v[6],
            qi: &v[7],
        }
    }

    fn textbook() -> [Vec<u8>; 8] {
        [
            be(3233),
            be(17),
            be(2753),
            be(61),
            be(53),
            be(53),
            be(49),
            be(38),
        ]
    }

    #[test]
    fn textbook_key_checks_and_trims() {
        let v = textbook();
        let c = check_and_complete(&parts(&v)).unwrap();
        assert_eq!(*c.d, vec![0x0a, 0xc1]);
        assert_eq!(*c.dp, vec![53]);
        assert_eq!(*c.qi, vec![38]);
    }

    #[test]
    fn missing_crt_values_are_computed() {
        let mut v = textbook();
        v[5] = vec![0];
        v[6] = vec![];
        v[7] = vec![0, 0];
        let c = check_and_complete(&parts(&v)).unwrap();
        assert_eq!(
            (c.dp.to_vec(), c.dq.to_vec(), c.qi.to_vec()),
            (vec![53], vec![49], vec![38])
        );
    }

    #[test]
    fn inconsistencies_are_refused() {
        let cases: [(usize, u64, &str); 6] = [
            (
                0,
                3235,
                "the modulus n is not the product of the primes p and q",
            ),
            (5, 52, "dp is not d mod (p - 1)"),
            (6, 48, "dq is not d mod (q - 1)"),
            (7, 37, "qi is not the inverse of q modulo p"),
            (3, 1, "the RSA prime factors must be greater than 1"),
            (2, 0, "the private exponent d must be between 1 and n - 1"),
        ];
        for (i, value, msg) in cases {
            let mut v = textbook();
            v[i] = be(value);
            let err = check_and_complete(&parts(&v)).err().unwrap();
            assert_eq!(
                err.to_string(),
                format!("The private key is not valid: {msg}"),
                "member {i}"
            );
        }
        // a d that is consistent with dp/dq by construction but e does not match
        let mut v = textbook();
        v[1] = be(19);
        assert!(
            check_and_complete(&parts(&v))
                .err()
                .unwrap()
                .to_string()
                .contains("does not invert the public exponent")
        );
        let mut v = textbook();
        v[3] = vec![];
        assert!(check_and_complete(&parts(&v)).is_err());
        let huge = vec![0xff; 2100];
        let mut v = textbook();
        v[0] = huge;
        assert_eq!(
            check_and_complete(&parts(&v)).err().unwrap(),
            Error::RsaKeySize { bits: 16800 }
        );
    }
}
