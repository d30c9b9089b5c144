//! Public-key validation: the rules every public key passes wherever it enters (certificate
//! SubjectPublicKeyInfo, PEM/DER key files and their private keys, JWK JSON, keystores' entries,
//! which go through the same readers).
//!
//! **RSA** ([`rsa_public`]), `n` and `e` minimal big-endian:
//! - `n` has 1024 to 16384 bits ([`RSA_MIN_BITS`], [`RSA_MAX_BITS`]);
//! - `n` is odd and has no prime factor below 752 (NIST SP 800-89 §5.3.3, partial public-key
//!   validation for RSA; RFC 8017 §3.1: `n` is a product of odd primes);
//! - `e` is odd and `3 ≤ e < n` (RFC 8017 §3.1: "3 <= e <= n-1");
//! - `e < 2^256` (FIPS 186-5 §A.1.1 and NIST SP 800-56B Rev. 2 §6.2.1: `2^16 < e < 2^256`).
//!   Only the upper bound is enforced: `e = 3` and other exponents below `2^16` are still found
//!   in certificates and keys in the wild and are valid for RFC 8017, so refusing them would
//!   refuse real trust anchors; a gigantic `e` only serves to make verification slow (and is
//!   refused by Go's `crypto/rsa`, which caps `e` at 2^31 − 1, and by OpenSSL's FIPS provider).
//!
//! **OKP** ([`okp_public`]):
//! - X25519 / X448 (RFC 7748 §6.1, §6.2; RFC 7748 §7 "check for the all-zero value"): a public
//!   key whose Diffie-Hellman result with any (clamped) scalar is all zero is refused. This is
//!   exactly the set of small-order points (0, 1, p − 1, the two points of order 8 on Curve25519,
//!   and each of their non-canonical encodings); it is computed, not listed, with one fixed
//!   scalar, since clamping makes every scalar a multiple of the cofactor. Non-canonical
//!   encodings of other points are accepted, as RFC 7748 §5 requires.
//! - Ed25519 / Ed448 (RFC 8032 §5.1.3, §5.2.3): the encoding must decode to a point, be the
//!   canonical encoding of that point (`y < p`, no stray sign bit on `x = 0`), and the point
//!   must not have small order (a "weak" key verifies forged signatures for many messages).
//!   Ed448's decoder also refuses points with a torsion component.
//! - An all-zero X25519 / X448 private key is refused by [`okp_private`] (RFC 7748 §6: the
//!   private key is 32 / 56 *random* bytes; all-zero is the sign of a placeholder).

use crate::error::Error;
use crate::jwk::{RSA_MAX_BITS, RSA_MIN_BITS, bit_length};
use crate::kty::OkpCurve;

/// Largest public exponent accepted, in bits (FIPS 186-5 §A.1.1: `e < 2^256`).
pub const RSA_MAX_EXPONENT_BITS: usize = 256;

/// Trial division bound of NIST SP 800-89 §5.3.3 ("no factors smaller than 752").
const SMALL_FACTOR_BOUND: u16 = 752;

fn bad(detail: String) -> Error {
    Error::InvalidPublicKey { detail }
}

/// Check an RSA public key (`n`, `e` minimal big-endian, no leading zero octet); see the module
/// documentation. Errors name the member at fault (`n` or `e`).
pub fn rsa_public(n: &[u8], e: &[u8]) -> Result<(), Error> {
    let bits = bit_length(n);
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(Error::RsaKeySize { bits });
    }
    if n.last().is_none_or(|b| b & 1 == 0) {
        return Err(bad(
            "the RSA modulus (n) is even, so it is not a product of two odd primes (RFC 8017 §3.1)"
                .to_owned(),
        ));
    }
    if let Some(p) = small_factor(n) {
        return Err(bad(format!(
            "the RSA modulus (n) is divisible by {p} (NIST SP 800-89 §5.3.3: no prime factor below {SMALL_FACTOR_BOUND})"
        )));
    }
    let e_bits = bit_length(e);
    if e_bits > RSA_MAX_EXPONENT_BITS {
        return Err(bad(format!(
            "the RSA public exponent (e) has {e_bits} bits; it must be below 2^{RSA_MAX_EXPONENT_BITS} (FIPS 186-5 §A.1.1)"
        )));
    }
    if e_bits < 2 || e == [2] {
        return Err(bad(
            "the RSA public exponent (e) must be at least 3 (RFC 8017 §3.1)".to_owned(),
        ));
    }
    if e.last().is_none_or(|b| b & 1 == 0) {
        return Err(bad(
            "the RSA public exponent (e) must be odd (RFC 8017 §3.1)".to_owned(),
        ));
    }
    // Minimal encodings: a longer value is larger; equal lengths compare bytewise.
    if e.len() > n.len() || (e.len() == n.len() && e >= n) {
        return Err(bad(
            "the RSA public exponent (e) must be below the modulus n (RFC 8017 §3.1)".to_owned(),
        ));
    }
    Ok(())
}

/// The smallest odd prime below [`SMALL_FACTOR_BOUND`] dividing `n` (big-endian), if any.
///
/// One pass over `n` in 64-bit words for [`SMALL_PRIMES`] together: the primes are grouped into
/// products `Q < 2^62`, and for each `Q` a word-by-word Montgomery reduction gives
/// `r ≡ n · 2^(-64·words) (mod Q)`. Since 2 is invertible modulo an odd prime, `p | n` exactly
/// when `p | r`, which a multiplication by the inverse of `p` tells (Granlund and Montgomery,
/// "Division by invariant integers using multiplication", 1994, §9). No division at run time:
/// about 20 · 2 multiplications per word instead of 132 divisions per octet.
fn small_factor(n: &[u8]) -> Option<u16> {
    let groups = GROUPS.groups.get(..GROUPS.len).unwrap_or_default();
    let mut residues = [0u64; GROUPS.len];
    for chunk in n.rchunks(8) {
        let word = chunk.iter().fold(0u64, |w, b| w << 8 | u64::from(*b));
        for (r, g) in residues.iter_mut().zip(groups) {
            // r < 2^62 + 2, so t < 2^65 and t + m·q < 2^127; the sum is divisible by 2^64.
            let t = u128::from(*r) + u128::from(word);
            let m = (t as u64).wrapping_mul(g.neg_inverse);
            *r = ((t + u128::from(m) * u128::from(g.product)) >> 64) as u64;
        }
    }
    residues
        .iter()
        .zip(groups)
        .flat_map(|(r, g)| {
            let primes = SMALL_PRIMES.primes.get(g.first..g.end).unwrap_or_default();
            primes.iter().map(move |p| (*r, p))
        })
        .find(|(r, p)| r.wrapping_mul(p.inverse) <= p.max_quotient)
        .map(|(_, p)| p.value)
}

/// An odd prime below [`SMALL_FACTOR_BOUND`] with its constants for a divisibility test.
#[derive(Clone, Copy)]
struct SmallPrime {
    value: u16,
    /// `value⁻¹ mod 2^64`.
    inverse: u64,
    /// `(2^64 − 1) / value`: `x` is a multiple of `value` iff `x · inverse mod 2^64` is at most this.
    max_quotient: u64,
}

/// Consecutive [`SMALL_PRIMES`] `first..end` and their product, `< 2^62`.
#[derive(Clone, Copy)]
struct PrimeGroup {
    product: u64,
    /// `−product⁻¹ mod 2^64` (Montgomery reduction).
    neg_inverse: u64,
    first: usize,
    end: usize,
}

/// The odd primes below [`SMALL_FACTOR_BOUND`], ascending (132 of them).
struct SmallPrimes {
    primes: [SmallPrime; 132],
}

struct PrimeGroups {
    groups: [PrimeGroup; 32],
    len: usize,
}

/// `x⁻¹ mod 2^64` for odd `x` (Newton's iteration doubles the correct low bits each step).
const fn inverse_mod_2_64(x: u64) -> u64 {
    let mut inv = x; // correct to 3 bits for odd x
    let mut i = 0;
    while i < 5 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(x.wrapping_mul(inv)));
        i += 1;
    }
    inv
}

const SMALL_PRIMES: SmallPrimes = {
    let zero = SmallPrime {
        value: 0,
        inverse: 0,
        max_quotient: 0,
    };
    let mut primes = [zero; 132];
    let mut count = 0;
    let mut c: u16 = 3;
    while c < SMALL_FACTOR_BOUND {
        let mut d: u16 = 3;
        let mut prime = true;
        while d * d <= c {
            if c.is_multiple_of(d) {
                prime = false;
            }
            d += 2;
        }
        if prime {
            primes[count] = SmallPrime {
                value: c,
                inverse: inverse_mod_2_64(c as u64),
                max_quotient: u64::MAX / c as u64,
            };
            count += 1;
        }
        c += 2;
    }
    assert!(count == 132);
    SmallPrimes { primes }
};

const GROUPS: PrimeGroups = {
    let empty = PrimeGroup {
        product: 1,
        neg_inverse: 0,
        first: 0,
        end: 0,
    };
    let mut groups = [empty; 32];
    let mut len = 0;
    let mut i = 0;
    while i < SMALL_PRIMES.primes.len() {
        let first = i;
        let mut product: u64 = 1;
        while i < SMALL_PRIMES.primes.len()
            && product < (1u64 << 62) / SMALL_PRIMES.primes[i].value as u64
        {
            product *= SMALL_PRIMES.primes[i].value as u64;
            i += 1;
        }
        groups[len] = PrimeGroup {
            product,
            neg_inverse: inverse_mod_2_64(product).wrapping_neg(),
            first,
            end: i,
        };
        len += 1;
    }
    PrimeGroups { groups, len }
};

/// Check an OKP public key (`x`, already of the curve's length); see the module documentation.
pub fn okp_public(curve: OkpCurve, x: &[u8]) -> Result<(), Error> {
    let small = || {
        bad(format!(
            "the {} public key (x) is a point of small order (RFC 7748 §6, RFC 8032 §5)",
            curve.jose()
        ))
    };
    let length = || {
        bad(format!(
            "an {} public key must be {} bytes long, not {}",
            curve.jose(),
            curve.key_len(),
            x.len()
        ))
    };
    // Any scalar will do: clamping makes it a multiple of the cofactor (8 and 4).
    const SCALAR: u8 = 0x5a;
    match curve {
        OkpCurve::X25519 => {
            let u: [u8; 32] = x.try_into().map_err(|_| length())?;
            if x25519_dalek::x25519([SCALAR; 32], u) == [0u8; 32] {
                return Err(small());
            }
        }
        OkpCurve::X448 => {
            let u: [u8; 56] = x.try_into().map_err(|_| length())?;
            if x448::x448_unchecked([SCALAR; 56], u) == [0u8; 56] {
                return Err(small());
            }
        }
        OkpCurve::Ed25519 => {
            let bytes: [u8; 32] = x.try_into().map_err(|_| length())?;
            let key =
                ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| not_a_point(curve))?;
            if key.to_edwards().compress().to_bytes() != bytes {
                return Err(non_canonical(curve));
            }
            if key.is_weak() {
                return Err(small());
            }
        }
        OkpCurve::Ed448 => {
            let bytes: [u8; 57] = x.try_into().map_err(|_| length())?;
            // Refuses points off the curve, the identity, and points with a torsion component.
            let key = ed448_goldilocks::VerifyingKey::from_bytes(&bytes).map_err(|_| {
                bad(format!(
                    "the {} public key (x) is not a point of the curve's prime-order subgroup (RFC 8032 §5.2.3)",
                    curve.jose()
                ))
            })?;
            let canonical = key.to_edwards().to_affine().compress().to_bytes();
            if canonical.as_slice() != bytes.as_slice() {
                return Err(non_canonical(curve));
            }
        }
    }
    Ok(())
}

fn not_a_point(curve: OkpCurve) -> Error {
    bad(format!(
        "the {} public key (x) does not decode to a curve point (RFC 8032 §5.1.3)",
        curve.jose()
    ))
}

fn non_canonical(curve: OkpCurve) -> Error {
    bad(format!(
        "the {} public key (x) is not the canonical encoding of its point (RFC 8032 §5.1.3)",
        curve.jose()
    ))
}

/// Check a raw OKP private key (`d`): an all-zero X25519 / X448 key is refused.
pub fn okp_private(curve: OkpCurve, d: &[u8]) -> Result<(), Error> {
    if matches!(curve, OkpCurve::X25519 | OkpCurve::X448)
        && d.len() == curve.key_len()
        && d.iter().all(|b| *b == 0)
    {
        return Err(Error::InvalidPrivateKey {
            detail: format!(
                "the {} private key (d) is all zero (RFC 7748 §6: it must be random)",
                curve.jose()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// A 1024-bit odd modulus with no factor below 752 (not necessarily a product of two
    /// primes: only the rules are tested here).
    fn modulus() -> Vec<u8> {
        let mut n = vec![0xff; 128];
        // Make it odd and free of factors below 752 by search over the last octet pair.
        for low in 0u16..=u16::MAX {
            let [a, b] = low.to_be_bytes();
            n[126] = a;
            n[127] = b | 1;
            if small_factor(&n).is_none() {
                return n;
            }
        }
        unreachable!()
    }

    fn message(r: Result<(), Error>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    fn is_small_prime(c: u16) -> bool {
        c >= 2
            && (2..c)
                .take_while(|d| d * d <= c)
                .all(|d| !c.is_multiple_of(d))
    }

    /// `n mod m` for a big-endian `n` and a small `m`.
    fn remainder(n: &[u8], m: u32) -> u32 {
        n.iter()
            .fold(0u32, |r, b| (r * 256 + u32::from(*b)) % m.max(1))
    }

    /// The plain definition: the smallest odd prime below the bound dividing `n`.
    fn small_factor_by_division(n: &[u8]) -> Option<u16> {
        (3..SMALL_FACTOR_BOUND)
            .step_by(2)
            .filter(|c| is_small_prime(*c))
            .find(|p| remainder(n, u32::from(*p)) == 0)
    }

    /// `n · k` for a big-endian `n` and a small `k`.
    fn times(n: &[u8], k: u32) -> Vec<u8> {
        let mut carry = 0u32;
        let mut out: Vec<u8> = n
            .iter()
            .rev()
            .map(|b| {
                let v = u32::from(*b) * k + carry;
                carry = v >> 8;
                v as u8
            })
            .collect();
        while carry > 0 {
            out.push(carry as u8);
            carry >>= 8;
        }
        out.reverse();
        out
    }

    #[test]
    fn small_factor_agrees_with_division() {
        let primes: Vec<u16> = (3..SMALL_FACTOR_BOUND)
            .filter(|c| is_small_prime(*c))
            .collect();
        assert_eq!(
            SMALL_PRIMES.primes.map(|p| p.value).to_vec(),
            primes,
            "the table"
        );
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for len in [0usize, 1, 7, 8, 9, 63, 128, 129, 256, 512, 2048] {
            for _ in 0..20 {
                let n: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                assert_eq!(small_factor(&n), small_factor_by_division(&n), "{n:02x?}");
                // a multiple of each prime (and of two, the smaller is named)
                let p = primes[next() as usize % primes.len()];
                let q = primes[next() as usize % primes.len()];
                let multiple = times(&times(&n, u32::from(p)), u32::from(q));
                let want = small_factor_by_division(&multiple);
                assert_eq!(small_factor(&multiple), want);
                if n.iter().any(|b| *b != 0) {
                    assert!(want.is_some_and(|f| f <= p.min(q)));
                }
            }
        }
        for p in &primes {
            assert_eq!(small_factor(&times(&[1], u32::from(*p))), Some(*p));
            assert_eq!(
                small_factor(&times(&[0xff; 300], u32::from(*p))),
                small_factor_by_division(&times(&[0xff; 300], u32::from(*p)))
            );
        }
        assert_eq!(
            small_factor(&[0xff; 256]),
            small_factor_by_division(&[0xff; 256])
        );
        assert_eq!(small_factor(&[1]), None);
        assert_eq!(small_factor(&[0x02, 0xef]), Some(751), "751 itself");
        assert_eq!(
            small_factor(&[0x02, 0xf5]),
            None,
            "757, a prime above the bound"
        );
    }

    #[test]
    fn small_primes_are_the_primes() {
        let primes: Vec<u16> = (2..30).filter(|c| is_small_prime(*c)).collect();
        assert_eq!(primes, [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert_eq!(remainder(&[0x01, 0x00], 7), 256 % 7);
        assert_eq!(remainder(&[], 7), 0);
    }

    #[test]
    fn rsa_exponents() {
        let n = modulus();
        assert_eq!(rsa_public(&n, &[1, 0, 1]), Ok(()));
        assert_eq!(
            rsa_public(&n, &[3]),
            Ok(()),
            "e = 3 is accepted (RFC 8017 §3.1)"
        );
        assert!(message(rsa_public(&n, &[1])).contains("(e) must be at least 3"));
        assert!(message(rsa_public(&n, &[2])).contains("(e) must be at least 3"));
        assert!(message(rsa_public(&n, &[1, 0, 0])).contains("(e) must be odd"));
        // 2^256 - 1 is accepted, 2^256 + 1 is not.
        assert_eq!(rsa_public(&n, &[0xff; 32]), Ok(()));
        let mut big = vec![1u8];
        big.extend([0u8; 31]);
        big.push(1);
        assert!(message(rsa_public(&n, &big)).contains("(e) has 257 bits"));
        assert!(message(rsa_public(&n, &n)).contains("(e) has 1024 bits"));
    }

    #[test]
    fn rsa_moduli() {
        let mut n = modulus();
        assert_eq!(
            rsa_public(&n[1..], &[3]),
            Err(Error::RsaKeySize { bits: 1016 })
        );
        n[127] &= 0xfe;
        assert!(message(rsa_public(&n, &[3])).contains("(n) is even"));
        // 3 · 5 · 7 · … : a multiple of 751 (the largest prime below 752).
        let mut m = vec![0u8; 128];
        m[0] = 0x80;
        let r = remainder(&m, 751);
        let add = (751 - r) as u16;
        let [a, b] = add.to_be_bytes();
        m[126] = a;
        m[127] = b;
        assert_eq!(remainder(&m, 751), 0);
        if m[127] & 1 == 0 {
            // make it odd while keeping the factor: add 751
            let v = u16::from_be_bytes([m[126], m[127]]) + 751;
            [m[126], m[127]] = v.to_be_bytes();
        }
        let msg = message(rsa_public(&m, &[3]));
        assert!(msg.contains("divisible by"), "{msg}");
    }

    /// RFC 7748 §6.1: the all-zero u and the other small-order points of Curve25519 (with
    /// non-canonical encodings of 0, 1 and p−1); libsodium refuses the same list.
    #[test]
    fn x25519_small_order_points() {
        let small = [
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0100000000000000000000000000000000000000000000000000000000000000",
            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
            "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
            // the same with the top bit set (RFC 7748 §5: masked)
            "0000000000000000000000000000000000000000000000000000000000000080",
            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
        ];
        for h in small {
            let msg = message(okp_public(OkpCurve::X25519, &hex(h)));
            assert!(msg.contains("small order"), "{h}: {msg}");
        }
        // RFC 7748 §6.1 Alice's public key is fine.
        let alice = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        assert_eq!(okp_public(OkpCurve::X25519, &alice), Ok(()));
        assert!(message(okp_public(OkpCurve::X25519, &alice[1..])).contains("32 bytes"));
    }

    #[test]
    fn x448_small_order_points() {
        let p_minus_1: Vec<u8> = {
            // p = 2^448 - 2^224 - 1, little-endian: p - 1 = fe ff.. (28 bytes) fe ff.. (28 bytes)
            let mut v = vec![0xff; 56];
            v[0] = 0xfe;
            v[28] = 0xfe;
            v
        };
        let mut one = vec![0u8; 56];
        one[0] = 1;
        let mut p = p_minus_1.clone();
        p[0] = 0xff; // p itself, a non-canonical 0
        for u in [vec![0u8; 56], one, p_minus_1, p] {
            let msg = message(okp_public(OkpCurve::X448, &u));
            assert!(msg.contains("small order"), "{u:?}: {msg}");
        }
        // RFC 7748 §6.2 Alice's public key.
        let alice = hex(
            "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bbc836647241d953d40c5b12da88120d53177f80e532c41fa0",
        );
        assert_eq!(okp_public(OkpCurve::X448, &alice), Ok(()));
    }

    #[test]
    fn ed25519_weak_and_non_canonical_keys() {
        // The identity (y = 1) and y = 1 with the sign bit set (not canonical: x = 0).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(message(okp_public(OkpCurve::Ed25519, &identity)).contains("small order"));
        let mut signed = identity;
        signed[31] = 0x80;
        let msg = message(okp_public(OkpCurve::Ed25519, &signed));
        assert!(msg.contains("canonical") || msg.contains("decode"), "{msg}");
        // y = p + 1 (≡ 1): non-canonical encoding of the identity.
        let mut y = [0xffu8; 32];
        y[0] = 0xee;
        y[31] = 0x7f;
        let msg = message(okp_public(OkpCurve::Ed25519, &y));
        assert!(msg.contains("canonical"), "{msg}");
        // The point of order 2 (y = -1 = p - 1).
        let mut minus_one = [0xffu8; 32];
        minus_one[0] = 0xec;
        minus_one[31] = 0x7f;
        assert!(message(okp_public(OkpCurve::Ed25519, &minus_one)).contains("small order"));
        // RFC 8032 §7.1 TEST 1 public key.
        let good = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        assert_eq!(okp_public(OkpCurve::Ed25519, &good), Ok(()));
    }

    #[test]
    fn ed448_identity_and_non_canonical() {
        let mut identity = [0u8; 57];
        identity[0] = 1;
        assert!(message(okp_public(OkpCurve::Ed448, &identity)).contains("prime-order subgroup"));
        // RFC 8032 §7.4 "Blank" public key; then with a stray bit in the last octet.
        let good = hex(
            "5fd7449b59b461fd2ce787ec616ad46a1da1342485a70e1f8a0ea75d80e96778edf124769b46c7061bd6783df1e50f6cd1fa1abeafe8256180",
        );
        assert_eq!(okp_public(OkpCurve::Ed448, &good), Ok(()));
        let mut stray = good.clone();
        stray[56] |= 0x01;
        assert!(okp_public(OkpCurve::Ed448, &stray).is_err());
    }

    /// `haystack` with the first occurrence of `from` replaced by `to` (same length).
    fn patched(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let at = haystack
            .windows(from.len())
            .position(|w| w == from)
            .expect("pattern present");
        let mut out = haystack.to_vec();
        out[at..at + to.len()].copy_from_slice(to);
        out
    }

    fn der_of_pem(name: &str) -> Vec<u8> {
        let text = crate::test_support::fixture(name);
        crate::pem::scan(&text).unwrap().remove(0).der
    }

    /// Every entry path meets the same rules: SPKI (PEM and DER), PKCS#1 public and private
    /// keys, certificates.
    #[test]
    fn entry_paths_apply_the_rules() {
        use crate::jwk::PublicKey;
        use crate::key::parse_key;
        let spki = crate::test_support::fixture("keys/rsa2048.spki.der");
        let PublicKey::Rsa { n, .. } = PublicKey::from_spki_der(&spki).unwrap() else {
            panic!()
        };
        let mut even = n.clone();
        *even.last_mut().unwrap() &= 0xfe;
        let bad_spki = patched(&spki, &n, &even);
        let msg = |r: Result<crate::key::KeyMaterial, Error>| r.unwrap_err().to_string();
        assert!(msg(parse_key(&bad_spki, None)).contains("(n) is even"));
        let pkcs1 = crate::test_support::fixture("keys/rsa2048.pkcs1.der");
        let bad_private = patched(&pkcs1, &n, &even);
        assert!(msg(parse_key(&bad_private, None)).contains("(n) is even"));
        let cert = der_of_pem("keys/rsa2048.cert.pem");
        let bad_cert = patched(&cert, &n, &even);
        let err = crate::x509::parse_der(&bad_cert).unwrap_err().to_string();
        assert!(
            err.contains("its public key is not valid: the RSA modulus (n) is even"),
            "{err}"
        );
        // An X25519 SPKI holding the all-zero point.
        let x = der_of_pem("keys/x25519.spki.pem");
        let (head, _) = x.split_at(x.len() - 32);
        let zero = [head, &[0u8; 32][..]].concat();
        assert!(
            PublicKey::from_spki_der(&zero)
                .unwrap_err()
                .to_string()
                .contains("small order")
        );
        // An Ed25519 SPKI holding the identity.
        let ed = der_of_pem("keys/ed25519.spki.pem");
        let (head, _) = ed.split_at(ed.len() - 32);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = [head, &identity[..]].concat();
        assert!(msg(parse_key(&weak, None)).contains("small order"));
    }

    #[test]
    fn all_zero_x_private_keys() {
        assert!(message(okp_private(OkpCurve::X25519, &[0; 32])).contains("(d) is all zero"));
        assert!(okp_private(OkpCurve::X448, &[0; 56]).is_err());
        assert_eq!(okp_private(OkpCurve::Ed25519, &[0; 32]), Ok(()));
        assert_eq!(okp_private(OkpCurve::X25519, &[1; 32]), Ok(()));
    }
}
