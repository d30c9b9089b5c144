//! Password-based decryption of private keys, with capped key-derivation work.
//!
//! - PKCS#8 `EncryptedPrivateKeyInfo` with PBES2 (RFC 8018 §6.2): the `pkcs5` crate, after the
//!   KDF parameters have been checked against [`MAX_PBKDF2_ITERATIONS`] / [`MAX_SCRYPT_LOG_N`] /
//!   [`MAX_SCRYPT_R`] / [`MAX_SCRYPT_P`].
//! - PKCS#8 with the PKCS#12 PBE `pbeWithSHAAnd3-KeyTripleDES-CBC` (OID 1.2.840.113549.1.12.1.3,
//!   RFC 7292 App. C): a shim — the PKCS#12 KDF of RFC 7292 App. B.2 with SHA-1 (password as
//!   a NUL-terminated BMPString, ID 1 for the key, ID 2 for the IV), then DES-EDE3-CBC with
//!   PKCS#7 padding. Iterations capped by [`MAX_PKCS12_ITERATIONS`].
//! - OpenSSL "traditional" PEM encryption (`Proc-Type: 4,ENCRYPTED` + `DEK-Info: <cipher>,<iv hex>`):
//!   key = `EVP_BytesToKey(MD5, salt = iv[0..8], password, count = 1)` — `D1 = MD5(pw ‖ salt)`,
//!   `Di = MD5(Di−1 ‖ pw ‖ salt)`, concatenated and cut to the key length — then the cipher in CBC
//!   mode with PKCS#7 padding. Ciphers: AES-128/192/256-CBC, DES-EDE3-CBC.
//!
//! A wrong password shows up as a padding failure or as a plaintext that is not the expected
//! structure; both give [`Error::WrongPassword`].

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockCipherDecrypt, BlockModeDecrypt, KeyInit, KeyIvInit};
use der::asn1::{AnyRef, OctetStringRef};
use der::{Decode, Reader, SliceReader, Tag, Tagged};
use md5::{Digest, Md5};
use sha1::Sha1;
use zeroize::Zeroizing;

use super::SecretBytes;
use crate::error::Error;
use crate::{jwk, pem};

/// Most PBKDF2 iterations accepted in an encrypted key (OpenSSL 3 writes 2048; 10 million take
/// seconds already).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Most PKCS#12-KDF iterations accepted (`pbeWithSHAAnd3-KeyTripleDES-CBC`).
pub const MAX_PKCS12_ITERATIONS: u64 = 10_000_000;
/// Largest scrypt cost accepted: `N ≤ 2^20` (OpenSSL writes 2^14).
pub const MAX_SCRYPT_LOG_N: u8 = 20;
/// Largest scrypt block size `r` accepted (memory is `128·r·N` bytes: at most 1 GiB).
pub const MAX_SCRYPT_R: u16 = 8;
/// Largest scrypt parallelisation `p` accepted.
pub const MAX_SCRYPT_P: u16 = 16;
/// Largest scrypt memory accepted, as `N·r` (memory is `128·N·r` bytes: at most 256 MiB). Each
/// bound alone still allowed 1 GiB and, with `p`, over a minute of CPU for one uploaded file
/// (found by the `keys` fuzz target's slow-KDF probe, FUZZING.md).
pub const MAX_SCRYPT_N_TIMES_R: u64 = 1 << 21;
/// Largest total scrypt work accepted, as `N·r·p` (OpenSSL's default 2^14·8·1 is 2^17).
pub const MAX_SCRYPT_WORK: u64 = 1 << 22;

/// Longest salt read by the PKCS#12 KDF shim.
const MAX_SALT: usize = 1024;

/// PBES2 1.2.840.113549.1.5.13.
const OID_PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
/// PKCS#12 PBE OIDs 1.2.840.113549.1.12.1.n.
const OID_PKCS12_PBE_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01];
/// PBES1 OIDs 1.2.840.113549.1.5.n.
const OID_PBES1_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05];

fn require(password: Option<&[u8]>) -> Result<&[u8], Error> {
    password
        .filter(|p| !p.is_empty())
        .ok_or(Error::PasswordRequired)
}

fn unsupported(algorithm: String) -> Error {
    Error::UnsupportedKeyEncryption { algorithm }
}

fn invalid(detail: &str) -> Error {
    Error::InvalidPrivateKey {
        detail: detail.to_owned(),
    }
}

/// Decrypt a PKCS#8 `EncryptedPrivateKeyInfo` DER; the plaintext is a `PrivateKeyInfo` DER.
pub(crate) fn decrypt_pkcs8(der: &[u8], password: Option<&[u8]>) -> Result<SecretBytes, Error> {
    let (algorithm, data) = encrypted_info(der)?;
    let oid = algorithm.oid.as_bytes();
    let plain = if oid == OID_PBES2 {
        let params = algorithm
            .parameters
            .ok_or_else(|| invalid("the PBES2 parameters are missing"))?;
        let params = pkcs5::pbes2::Parameters::try_from(params).map_err(|_| {
            unsupported(
                "PBES2 with a key-derivation function or cipher that cannot be read".to_owned(),
            )
        })?;
        let password = require(password)?;
        check_pbes2_work(&params.kdf)?;
        match params.decrypt(password, data) {
            Ok(plain) => Zeroizing::new(plain),
            Err(pkcs5::Error::DecryptFailed) => return Err(Error::WrongPassword),
            Err(_) => {
                return Err(unsupported(format!(
                    "PBES2 with cipher OID {}",
                    params.encryption.oid()
                )));
            }
        }
    } else if oid.starts_with(OID_PKCS12_PBE_PREFIX) && oid.len() == OID_PKCS12_PBE_PREFIX.len() + 1
    {
        match oid.last() {
            Some(3) => pkcs12_3des(algorithm.parameters, data, require(password)?)?,
            _ => {
                let name = match oid.last() {
                    Some(1) => "pbeWithSHAAnd128BitRC4",
                    Some(2) => "pbeWithSHAAnd40BitRC4",
                    Some(4) => "pbeWithSHAAnd2-KeyTripleDES-CBC",
                    Some(5) => "pbeWithSHAAnd128BitRC2-CBC",
                    Some(6) => "pbeWithSHAAnd40BitRC2-CBC",
                    _ => "PKCS#12 PBE",
                };
                return Err(unsupported(format!(
                    "{name} (OID {})",
                    jwk::dotted_oid(oid)
                )));
            }
        }
    } else if oid.starts_with(OID_PBES1_PREFIX) {
        return Err(unsupported(format!("PBES1 (OID {})", jwk::dotted_oid(oid))));
    } else {
        return Err(unsupported(format!("with OID {}", jwk::dotted_oid(oid))));
    };
    // A wrong password that happened to give valid padding gives garbage, not a PrivateKeyInfo.
    if pkcs8::PrivateKeyInfoRef::from_der(&plain).is_err() {
        return Err(Error::WrongPassword);
    }
    Ok(plain)
}

/// `EncryptedPrivateKeyInfo ::= SEQUENCE { AlgorithmIdentifier, OCTET STRING }`, read without
/// interpreting the algorithm (the `pkcs8` type refuses PKCS#12 PBE OIDs).
fn encrypted_info(der: &[u8]) -> Result<(spki::AlgorithmIdentifierRef<'_>, &[u8]), Error> {
    let bad = || invalid("the PKCS#8 EncryptedPrivateKeyInfo is not valid DER");
    let outer = AnyRef::from_der(der).map_err(|_| bad())?;
    if outer.tag() != Tag::Sequence {
        return Err(bad());
    }
    let mut reader = SliceReader::new(outer.value()).map_err(|_| bad())?;
    let algorithm: spki::AlgorithmIdentifierRef<'_> = reader.decode().map_err(|_| bad())?;
    let data: &OctetStringRef = reader.decode().map_err(|_| bad())?;
    if !reader.is_finished() {
        return Err(bad());
    }
    Ok((algorithm, data.as_bytes()))
}

/// Refuse KDF parameters above the caps, before any work.
fn check_pbes2_work(kdf: &pkcs5::pbes2::Kdf) -> Result<(), Error> {
    if let Some(p) = kdf.pbkdf2() {
        if p.iteration_count > MAX_PBKDF2_ITERATIONS {
            return Err(Error::KdfTooExpensive {
                what: "PBKDF2 iterations",
                value: u64::from(p.iteration_count),
                max: u64::from(MAX_PBKDF2_ITERATIONS),
            });
        }
        if p.iteration_count == 0 {
            return Err(invalid("the PBKDF2 iteration count is zero"));
        }
    }
    if let Some(s) = kdf.scrypt() {
        let max_n = 1u64 << MAX_SCRYPT_LOG_N;
        let checks = [
            ("scrypt cost N", s.cost_parameter, max_n),
            (
                "scrypt block size r",
                u64::from(s.block_size),
                u64::from(MAX_SCRYPT_R),
            ),
            (
                "scrypt parallelisation p",
                u64::from(s.parallelization),
                u64::from(MAX_SCRYPT_P),
            ),
        ];
        for (what, value, max) in checks {
            if value > max {
                return Err(Error::KdfTooExpensive { what, value, max });
            }
        }
        // Within the bounds above the products cannot overflow (2^20 · 8 · 16 = 2^27).
        let n_r = s.cost_parameter * u64::from(s.block_size);
        let work = n_r * u64::from(s.parallelization);
        for (what, value, max) in [
            ("scrypt memory N·r", n_r, MAX_SCRYPT_N_TIMES_R),
            ("scrypt work N·r·p", work, MAX_SCRYPT_WORK),
        ] {
            if value > max {
                return Err(Error::KdfTooExpensive { what, value, max });
            }
        }
    }
    Ok(())
}

/// `pbeWithSHAAnd3-KeyTripleDES-CBC`: params `SEQUENCE { salt OCTET STRING, iterations INTEGER }`
/// (RFC 7292 App. C).
fn pkcs12_3des(
    params: Option<AnyRef<'_>>,
    data: &[u8],
    password: &[u8],
) -> Result<SecretBytes, Error> {
    let bad = || invalid("the pbeWithSHAAnd3-KeyTripleDES-CBC parameters are not valid");
    let params = params.ok_or_else(bad)?;
    let (salt, iterations) = params
        .sequence(|r: &mut SliceReader<'_>| -> der::Result<(&[u8], u64)> {
            let salt: &OctetStringRef = r.decode()?;
            let iterations: u64 = r.decode()?;
            Ok((salt.as_bytes(), iterations))
        })
        .map_err(|_| bad())?;
    if iterations > MAX_PKCS12_ITERATIONS {
        return Err(Error::KdfTooExpensive {
            what: "PKCS#12 KDF iterations",
            value: iterations,
            max: MAX_PKCS12_ITERATIONS,
        });
    }
    if iterations == 0 || salt.len() > MAX_SALT {
        return Err(bad());
    }
    let bmp = bmp_password(password);
    let key = pkcs12_kdf_sha1(&bmp, salt, 1, iterations, 24);
    let iv = pkcs12_kdf_sha1(&bmp, salt, 2, iterations, 8);
    cbc_decrypt::<des::TdesEde3>(&key, &iv, data).ok_or(Error::WrongPassword)
}

/// The password as a NUL-terminated BMPString (RFC 7292 App. B.1): UTF-16BE of the UTF-8
/// password (bytes as Latin-1 when it is not UTF-8), then two zero octets.
fn bmp_password(password: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(2 * password.len() + 2));
    match std::str::from_utf8(password) {
        Ok(s) => {
            for unit in s.encode_utf16() {
                out.extend_from_slice(&unit.to_be_bytes());
            }
        }
        Err(_) => {
            for b in password {
                out.extend_from_slice(&[0, *b]);
            }
        }
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// The PKCS#12 KDF (RFC 7292 App. B.2) with SHA-1 (u = 20, v = 64).
fn pkcs12_kdf_sha1(
    password: &[u8],
    salt: &[u8],
    id: u8,
    iterations: u64,
    out_len: usize,
) -> Zeroizing<Vec<u8>> {
    const U: usize = 20;
    const V: usize = 64;
    let stretch = |src: &[u8]| -> Vec<u8> {
        if src.is_empty() {
            return Vec::new();
        }
        let len = V * src.len().div_ceil(V);
        src.iter().copied().cycle().take(len).collect()
    };
    let mut i_buf = Zeroizing::new(stretch(salt));
    i_buf.extend_from_slice(&stretch(password));
    let mut out = Zeroizing::new(Vec::with_capacity(out_len + U));
    loop {
        let mut hasher = Sha1::new();
        hasher.update([id; V]);
        hasher.update(&*i_buf);
        let mut a = hasher.finalize();
        for _ in 1..iterations {
            a = Sha1::digest(a);
        }
        out.extend_from_slice(&a);
        if out.len() >= out_len {
            out.truncate(out_len);
            return out;
        }
        // I_j = (I_j + B + 1) mod 2^(8v), B = A repeated to v octets.
        let b: Zeroizing<Vec<u8>> = Zeroizing::new(a.iter().copied().cycle().take(V).collect());
        for block in i_buf.chunks_mut(V) {
            let mut carry: u16 = 1;
            for (x, y) in block.iter_mut().rev().zip(b.iter().rev()) {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = sum.to_be_bytes()[1];
                carry = sum >> 8;
            }
        }
    }
}

/// CBC decryption with PKCS#7 padding; `None` on a bad key/IV length or bad padding.
fn cbc_decrypt<C: BlockCipherDecrypt + KeyInit>(
    key: &[u8],
    iv: &[u8],
    data: &[u8],
) -> Option<SecretBytes> {
    let dec = cbc::Decryptor::<C>::new_from_slices(key, iv).ok()?;
    dec.decrypt_padded_vec::<Pkcs7>(data)
        .ok()
        .map(Zeroizing::new)
}

/// Ciphers (all in CBC mode) of OpenSSL's traditional PEM encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegacyCipher {
    Aes128,
    Aes192,
    Aes256,
    DesEde3,
}

impl LegacyCipher {
    fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "AES-128-CBC" => Some(Self::Aes128),
            "AES-192-CBC" => Some(Self::Aes192),
            "AES-256-CBC" => Some(Self::Aes256),
            "DES-EDE3-CBC" => Some(Self::DesEde3),
            _ => None,
        }
    }

    fn key_len(self) -> usize {
        match self {
            Self::Aes128 => 16,
            Self::Aes192 | Self::DesEde3 => 24,
            Self::Aes256 => 32,
        }
    }

    fn iv_len(self) -> usize {
        match self {
            Self::DesEde3 => 8,
            _ => 16,
        }
    }
}

/// The RFC 1421 headers of one traditional encrypted PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LegacyHeaders {
    /// Index of the block among all PEM blocks of the input.
    pub block_index: usize,
    cipher: LegacyCipher,
    iv: Vec<u8>,
}

/// Find the first block labelled `label` that carries RFC 1421 headers, read its `Proc-Type`
/// and `DEK-Info`, and return the input with those header lines removed (so the PEM scanner can
/// read it) together with the headers.
pub(crate) fn strip_legacy_headers(
    input: &[u8],
    label: &str,
) -> Result<(Vec<u8>, LegacyHeaders), Error> {
    let headers_error = || Error::PemHeaders {
        label: label.to_owned(),
    };
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut from = 0;
    let (start, body_start, body_end) = loop {
        let rest = input.get(from..).ok_or_else(headers_error)?;
        let at = from + pem::find(rest, begin.as_bytes()).ok_or_else(headers_error)?;
        let body_start = at + begin.len();
        let after = input.get(body_start..).ok_or_else(headers_error)?;
        let body_end = body_start + pem::find(after, end.as_bytes()).ok_or_else(headers_error)?;
        let body = input.get(body_start..body_end).ok_or_else(headers_error)?;
        if body.contains(&b':') {
            break (at, body_start, body_end);
        }
        from = body_end;
    };
    let body = input.get(body_start..body_end).ok_or_else(headers_error)?;
    let text = std::str::from_utf8(body).map_err(|_| headers_error())?;
    let mut lines = text
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .peekable();
    let mut proc_type = None;
    let mut dek_info = None;
    while let Some(line) = lines.peek() {
        let Some((name, value)) = line.split_once(':') else {
            break;
        };
        match name.trim() {
            "Proc-Type" => proc_type = Some(value.trim().to_owned()),
            "DEK-Info" => dek_info = Some(value.trim().to_owned()),
            _ => return Err(headers_error()),
        }
        lines.next();
    }
    let base64_body: Vec<&str> = lines.collect();
    if base64_body.iter().any(|l| l.contains(':')) || proc_type.as_deref() != Some("4,ENCRYPTED") {
        return Err(headers_error());
    }
    let dek_info = dek_info.ok_or_else(headers_error)?;
    let (cipher_name, iv_hex) = dek_info.split_once(',').ok_or_else(headers_error)?;
    let cipher = LegacyCipher::parse(cipher_name.trim())
        .ok_or_else(|| unsupported(format!("{} (legacy PEM DEK-Info)", cipher_name.trim())))?;
    let iv = hex_decode(iv_hex.trim())
        .filter(|iv| iv.len() == cipher.iv_len())
        .ok_or_else(|| invalid("the DEK-Info header does not hold a valid IV"))?;

    let mut block_index = 0;
    let mut scan = input.get(..start).unwrap_or_default();
    while let Some(at) = pem::find(scan, b"-----BEGIN ") {
        block_index += 1;
        scan = scan.get(at + 1..).unwrap_or_default();
    }
    let mut stripped = Vec::with_capacity(input.len());
    stripped.extend_from_slice(input.get(..body_start).unwrap_or_default());
    stripped.push(b'\n');
    for line in base64_body {
        stripped.extend_from_slice(line.as_bytes());
        stripped.push(b'\n');
    }
    stripped.extend_from_slice(input.get(body_end..).unwrap_or_default());
    Ok((
        stripped,
        LegacyHeaders {
            block_index,
            cipher,
            iv,
        },
    ))
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(text, 16).ok()
        })
        .collect()
}

/// Decrypt the body of a traditional encrypted PEM block; the plaintext must be a PKCS#1
/// `RSAPrivateKey` (`rsa`) or a SEC 1 `ECPrivateKey`.
pub(crate) fn decrypt_legacy(
    der: &[u8],
    headers: &LegacyHeaders,
    password: Option<&[u8]>,
    rsa: bool,
) -> Result<SecretBytes, Error> {
    let password = require(password)?;
    let salt = headers.iv.get(..8).ok_or(Error::WrongPassword)?;
    let key = evp_bytes_to_key_md5(password, salt, headers.cipher.key_len());
    let iv = &headers.iv;
    let plain = match headers.cipher {
        LegacyCipher::Aes128 => cbc_decrypt::<aes::Aes128>(&key, iv, der),
        LegacyCipher::Aes192 => cbc_decrypt::<aes::Aes192>(&key, iv, der),
        LegacyCipher::Aes256 => cbc_decrypt::<aes::Aes256>(&key, iv, der),
        LegacyCipher::DesEde3 => cbc_decrypt::<des::TdesEde3>(&key, iv, der),
    }
    .ok_or(Error::WrongPassword)?;
    let structured = if rsa {
        pkcs1::RsaPrivateKeyRef::from_der(&plain).is_ok()
    } else {
        sec1::EcPrivateKey::from_der(&plain).is_ok()
    };
    if !structured {
        return Err(Error::WrongPassword);
    }
    Ok(plain)
}

/// OpenSSL `EVP_BytesToKey` with MD5 and one iteration.
fn evp_bytes_to_key_md5(password: &[u8], salt: &[u8], key_len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(key_len + 16));
    let mut previous: Option<Zeroizing<Vec<u8>>> = None;
    while out.len() < key_len {
        let mut h = Md5::new();
        if let Some(p) = &previous {
            h.update(p.as_slice());
        }
        h.update(password);
        h.update(salt);
        let digest = Zeroizing::new(h.finalize().to_vec());
        out.extend_from_slice(&digest);
        previous = Some(digest);
    }
    out.truncate(key_len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs12_kdf_matches_known_vector() {
        // Known answer from the OpenSSL/BouncyCastle PKCS#12 KDF test set: password "smeg",
        // salt 0A58CF64530D823F, 1 iteration, ID 1, 24 bytes.
        let bmp = bmp_password(b"smeg");
        let salt = [0x0a, 0x58, 0xcf, 0x64, 0x53, 0x0d, 0x82, 0x3f];
        let key = pkcs12_kdf_sha1(&bmp, &salt, 1, 1, 24);
        assert_eq!(
            crate::x509::upper_hex(&key),
            "8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3"
        );
        let iv = pkcs12_kdf_sha1(&bmp, &salt, 2, 1, 8);
        assert_eq!(crate::x509::upper_hex(&iv), "79993DFE048D3B76");
    }

    #[test]
    fn bmp_password_is_utf16be_nul_terminated() {
        assert_eq!(*bmp_password(b"ab"), vec![0, b'a', 0, b'b', 0, 0]);
        assert_eq!(*bmp_password("é".as_bytes()), vec![0, 0xe9, 0, 0]);
        assert_eq!(*bmp_password(&[0xff]), vec![0, 0xff, 0, 0]);
    }

    #[test]
    fn evp_bytes_to_key_is_openssl_compatible() {
        // key = MD5(pw || salt) || MD5(D1 || pw || salt)
        let key = evp_bytes_to_key_md5(b"pw", &[1, 2, 3, 4, 5, 6, 7, 8], 32);
        let d1 = Md5::digest([&b"pw"[..], &[1, 2, 3, 4, 5, 6, 7, 8]].concat());
        let d2 = Md5::digest([&d1[..], &b"pw"[..], &[1, 2, 3, 4, 5, 6, 7, 8]].concat());
        assert_eq!(&key[..16], &d1[..]);
        assert_eq!(&key[16..], &d2[..]);
    }

    #[test]
    fn legacy_cipher_names() {
        assert_eq!(
            LegacyCipher::parse("aes-256-cbc"),
            Some(LegacyCipher::Aes256)
        );
        assert_eq!(LegacyCipher::parse("DES-CBC"), None);
        assert_eq!(LegacyCipher::DesEde3.iv_len(), 8);
        assert_eq!(hex_decode("0aFF"), Some(vec![0x0a, 0xff]));
        assert_eq!(hex_decode("0"), None);
        assert_eq!(hex_decode("zz"), None);
    }
}
