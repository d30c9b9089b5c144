//! Base64 in the two alphabets JOSE uses.
//!
//! - base64url without padding (RFC 4648 §5, RFC 7515 §2 "Base64url Encoding") for every JWK
//!   member holding octets: `n`, `e`, `x`, `y`, `d`, `k`, `x5t`, `x5t#S256`, ...
//! - standard base64 *with* padding (RFC 4648 §4) for `x5c` entries (RFC 7517 §4.7), and for
//!   PEM bodies (RFC 7468 §2).
//!
//! All encoding and decoding goes through `base64ct` (constant time, strict canonical form).

use base64ct::{Base64, Base64Unpadded, Base64UrlUnpadded, Encoding};

use crate::error::Error;

/// base64url without padding (RFC 7515 §2).
pub fn url(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Standard base64 with `=` padding (RFC 4648 §4), as `x5c` requires (RFC 7517 §4.7).
pub fn standard(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

/// [`url`] of **public** bytes (public key material, digests), by table lookup.
///
/// Not constant time, hence faster than `base64ct`: for what anyone may read anyway. Secret
/// members (`d`, `p`, `q`, `dp`, `dq`, `qi`, `k`) go through [`url`].
pub fn url_public(bytes: &[u8]) -> String {
    encode_public(bytes, URL_ALPHABET, false)
}

/// [`standard`] of **public** bytes (certificates for `x5c`), by table lookup; see
/// [`url_public`].
pub fn standard_public(bytes: &[u8]) -> String {
    encode_public(bytes, STANDARD_ALPHABET, true)
}

const STANDARD_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn encode_public(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let sextet = |v: u32| alphabet[(v & 0x3f) as usize];
    let full = bytes.len() / 3;
    let mut out = Vec::with_capacity(bytes.len().div_ceil(3) * 4);
    out.resize(full * 4, 0);
    // Six octets to eight characters at a time, then the last three if `full` is odd.
    let pairs = full / 2;
    let (wide, narrow) = out.split_at_mut(pairs * 8);
    for (o, c) in wide.chunks_exact_mut(8).zip(bytes.chunks_exact(6)) {
        let v = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], 0, 0]);
        let s = |shift: u32| alphabet[((v >> shift) & 0x3f) as usize];
        o.copy_from_slice(&[s(58), s(52), s(46), s(40), s(34), s(28), s(22), s(16)]);
    }
    let tail = bytes.get(pairs * 6..full * 3).unwrap_or_default();
    for (o, c) in narrow.chunks_exact_mut(4).zip(tail.chunks_exact(3)) {
        let v = u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2]);
        o.copy_from_slice(&[sextet(v >> 18), sextet(v >> 12), sextet(v >> 6), sextet(v)]);
    }
    match *bytes.get(full * 3..).unwrap_or_default() {
        [a] => {
            let v = u32::from(a) << 16;
            out.extend_from_slice(&[sextet(v >> 18), sextet(v >> 12)]);
            if pad {
                out.extend_from_slice(b"==");
            }
        }
        [a, b] => {
            let v = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[sextet(v >> 18), sextet(v >> 12), sextet(v >> 6)]);
            if pad {
                out.push(b'=');
            }
        }
        _ => {}
    }
    // Every byte comes from an ASCII alphabet.
    String::from_utf8(out).unwrap_or_default()
}

/// Strict base64url decoding (RFC 7515 §2).
///
/// Trailing `=` padding is tolerated (producers in the wild pad) and ignored; anything else
/// outside the base64url alphabet, whitespace included, and non-canonical trailing bits are
/// refused.
pub fn decode_url(s: &str) -> Result<Vec<u8>, Error> {
    let trimmed = s.trim_end_matches('=');
    if s.len() - trimmed.len() > 2 {
        return Err(url_error());
    }
    Base64UrlUnpadded::decode_vec(trimmed).map_err(|_| url_error())
}

/// Standard base64 decoding that ignores ASCII whitespace anywhere (line breaks of PEM bodies,
/// pasted text). Padding may be present or absent.
pub fn decode_standard_lenient(s: &str) -> Result<Vec<u8>, Error> {
    decode_standard_lenient_bytes(s.as_bytes())
}

/// [`decode_standard_lenient`] over bytes (input that may not be UTF-8 at all).
pub(crate) fn decode_standard_lenient_bytes(s: &[u8]) -> Result<Vec<u8>, Error> {
    let compact: Vec<u8> = s
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let Ok(text) = std::str::from_utf8(&compact) else {
        return Err(standard_error());
    };
    if text.contains('=') {
        Base64::decode_vec(text).map_err(|_| standard_error())
    } else {
        Base64Unpadded::decode_vec(text).map_err(|_| standard_error())
    }
}

fn url_error() -> Error {
    Error::Base64 {
        what: "The value".to_owned(),
        alphabet: "base64url",
    }
}

fn standard_error() -> Error {
    Error::Base64 {
        what: "The value".to_owned(),
        alphabet: "base64",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_is_unpadded_and_url_safe() {
        assert_eq!(url(&[0xfb, 0xff]), "-_8");
        assert_eq!(url(b"a"), "YQ");
        assert_eq!(url(&[]), "");
    }

    #[test]
    fn public_encoders_equal_base64ct() {
        // every length up to 3 blocks, every byte value in every position
        for len in 0..=20usize {
            for seed in 0..=255u8 {
                let bytes: Vec<u8> = (0..len)
                    .map(|i| {
                        seed.wrapping_mul(31)
                            .wrapping_add((i as u8).wrapping_mul(97))
                    })
                    .collect();
                assert_eq!(url_public(&bytes), url(&bytes));
                assert_eq!(standard_public(&bytes), standard(&bytes));
            }
        }
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(url_public(&all), url(&all));
        assert_eq!(standard_public(&all), standard(&all));
    }

    #[test]
    fn standard_is_padded_with_plus_and_slash() {
        assert_eq!(standard(&[0xfb, 0xff]), "+/8=");
        assert_eq!(standard(b"a"), "YQ==");
    }

    #[test]
    fn decode_url_tolerates_padding_only() {
        assert_eq!(decode_url("YQ").unwrap(), b"a");
        assert_eq!(decode_url("YQ==").unwrap(), b"a");
        assert_eq!(decode_url("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(decode_url("YQ===").is_err());
        assert!(decode_url("+/8").is_err(), "standard alphabet refused");
        assert!(decode_url("Y Q").is_err(), "whitespace refused");
        assert!(
            decode_url("YR").is_err(),
            "non-canonical trailing bits refused"
        );
        assert!(decode_url("Y").is_err());
    }

    #[test]
    fn decode_standard_lenient_ignores_whitespace() {
        assert_eq!(decode_standard_lenient("Y Q=\r\n=").unwrap(), b"a");
        assert_eq!(decode_standard_lenient("YQ").unwrap(), b"a");
        assert_eq!(decode_standard_lenient("+/8=").unwrap(), vec![0xfb, 0xff]);
        assert!(decode_standard_lenient("-_8=").is_err());
        assert!(decode_standard_lenient("!!!!").is_err());
    }

    #[test]
    fn errors_are_sentences() {
        let e = decode_url("%%").unwrap_err().to_string();
        assert_eq!(e, "The value is not valid base64url!");
    }
}
