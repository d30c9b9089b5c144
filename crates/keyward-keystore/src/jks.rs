//! JKS (`sun.security.provider.JavaKeyStore`) and JCEKS (`com.sun.crypto.provider.JceKeyStore`)
//! reader, written from the format description in the JDK sources.
//!
//! ```text
//! u32 magic (FEEDFEED | CECECECE), u32 version (1 | 2), u32 count, count × entry,
//! 20-byte SHA-1( password as UTF-16BE ‖ "Mighty Aphrodite" ‖ every preceding byte )
//! entry: u32 tag, UTF alias, u64 date (ms), then
//!   tag 1 private key:  u32-length EncryptedPrivateKeyInfo, u32 chain length,
//!                       chain × ( [v2: UTF cert type] u32-length DER )
//!   tag 2 trusted cert: [v2: UTF cert type] u32-length DER
//!   tag 3 secret key (JCEKS only): a Java-serialized javax.crypto.SealedObject
//! ```
//!
//! Order of work: the integrity digest over everything before the 20-byte trailer is checked
//! first (one hash over the input, no length trusted); then the entries are parsed with every
//! length checked against what is left and against [`Limits`]; only then are keys decrypted.

use md5::Md5;
use sha1::{Digest, Sha1};

use crate::cursor::Cursor;
use crate::der::{self, Reader};
use crate::javaser::{self, Value};
use crate::{Entry, Error, Keystore, KeystoreType, Limits, Work};

pub(crate) const JKS_MAGIC: u32 = 0xFEED_FEED;
pub(crate) const JCEKS_MAGIC: u32 = 0xCECE_CECE;
const DIGEST_LEN: usize = 20;
const HEADER_LEN: usize = 12;
/// Longest certificate chain accepted for one private key entry.
pub const MAX_CHAIN_LEN: usize = 32;

/// DER value of OID 1.3.6.1.4.1.42.2.17.1.1 (Sun's JKS key protector).
const OID_JKS_KEY_PROTECTOR: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x2A, 0x02, 0x11, 0x01, 0x01];
/// DER value of OID 1.3.6.1.4.1.42.2.19.1 (PBEWithMD5AndTripleDES).
const OID_PBE_MD5_TDES: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0x2A, 0x02, 0x13, 0x01];

enum Raw<'a> {
    Key {
        alias: String,
        protected: &'a [u8],
        chain: Vec<&'a [u8]>,
    },
    Cert {
        alias: String,
        der: &'a [u8],
    },
    Secret {
        alias: String,
        sealed: Value,
    },
}

/// Password chars as Java sees them (UTF-16 code units), from UTF-8 bytes.
fn utf16_units(password: &[u8]) -> Result<Vec<u16>, Error> {
    let s = std::str::from_utf8(password)
        .map_err(|_| Error::PasswordEncoding("must be valid UTF-8 text"))?;
    Ok(s.encode_utf16().collect())
}

fn utf16be(units: &[u16]) -> Vec<u8> {
    units.iter().flat_map(|u| u.to_be_bytes()).collect()
}

/// Verifies the trailer: SHA-1(password UTF-16BE ‖ "Mighty Aphrodite" ‖ body).
fn verify_integrity(bytes: &[u8], store_password: &[u8]) -> Result<(), Error> {
    let body_len = bytes
        .len()
        .checked_sub(DIGEST_LEN)
        .filter(|&n| n >= HEADER_LEN)
        .ok_or_else(|| Error::malformed("the keystore is shorter than its header and digest"))?;
    let (body, trailer) = bytes.split_at(body_len);
    let pw = utf16be(&utf16_units(store_password)?);
    let mut h = Sha1::new();
    h.update(&pw);
    h.update(b"Mighty Aphrodite");
    h.update(body);
    if h.finalize().as_slice() != trailer {
        return Err(Error::WrongStorePassword);
    }
    Ok(())
}

pub(crate) fn open(
    bytes: &[u8],
    store_password: &[u8],
    key_password: Option<&[u8]>,
    limits: &Limits,
) -> Result<Keystore, Error> {
    verify_integrity(bytes, store_password)?;
    let body = bytes
        .get(..bytes.len().saturating_sub(DIGEST_LEN))
        .unwrap_or_default();
    let mut cur = Cursor::new(body, "keystore");
    let magic = cur.u32()?;
    let jceks = match magic {
        JKS_MAGIC => false,
        JCEKS_MAGIC => true,
        _ => return Err(Error::malformed("the keystore has no JKS or JCEKS magic")),
    };
    let version = cur.u32()?;
    if version != 1 && version != 2 {
        return Err(Error::malformed(format!(
            "the keystore has the unknown format version {version}"
        )));
    }
    let count = cur.u32()?;
    if u64::from(count) > limits.max_entries as u64 {
        return Err(Error::TooManyEntries {
            count: u64::from(count),
            max: limits.max_entries,
        });
    }
    let mut raws: Vec<Raw<'_>> = Vec::new();
    for _ in 0..count {
        let tag = cur.u32()?;
        let alias = cur.utf()?;
        let _date = cur.u64()?;
        match tag {
            1 => {
                let n = cur.len_u32()?;
                let protected = cur.take(n)?;
                let chain_len = cur.u32()?;
                if chain_len as usize > MAX_CHAIN_LEN {
                    return Err(Error::malformed(format!(
                        "the certificate chain of alias ({alias}) has {chain_len} certificates, more than the allowed {MAX_CHAIN_LEN}"
                    )));
                }
                let mut chain = Vec::new();
                for _ in 0..chain_len {
                    chain.push(read_cert(&mut cur, version, &alias)?);
                }
                raws.push(Raw::Key {
                    alias,
                    protected,
                    chain,
                });
            }
            2 => {
                let der = read_cert(&mut cur, version, &alias)?;
                raws.push(Raw::Cert { alias, der });
            }
            3 if jceks => {
                let sealed = javaser::read_stream(&mut cur)?;
                raws.push(Raw::Secret { alias, sealed });
            }
            _ => {
                return Err(Error::malformed(format!(
                    "the keystore holds an entry of unknown kind {tag}"
                )));
            }
        }
    }
    if cur.remaining() != 0 {
        return Err(Error::malformed(
            "the keystore has unexpected bytes after its last entry",
        ));
    }

    let mut passwords: Vec<&[u8]> = vec![key_password.unwrap_or(store_password)];
    if key_password.is_some_and(|k| k != store_password) {
        passwords.push(store_password);
    }

    let mut work = Work::new(limits.max_kdf_iterations);
    let mut entries = Vec::new();
    for raw in raws {
        entries.push(match raw {
            Raw::Cert { alias, der } => Entry::TrustedCertificate {
                alias,
                der: der.to_vec(),
            },
            Raw::Key {
                alias,
                protected,
                chain,
            } => {
                let pkcs8_der = recover_key(protected, &passwords, &alias, &mut work)?;
                Entry::PrivateKey {
                    alias,
                    pkcs8_der,
                    chain_der: chain.into_iter().map(<[u8]>::to_vec).collect(),
                }
            }
            Raw::Secret { alias, sealed } => {
                let (algorithm, key) = unseal_secret(&sealed, &passwords, &alias, &mut work)?;
                Entry::SecretKey {
                    alias,
                    algorithm,
                    key,
                }
            }
        });
    }
    Ok(Keystore { entries })
}

fn read_cert<'a>(cur: &mut Cursor<'a>, version: u32, alias: &str) -> Result<&'a [u8], Error> {
    if version == 2 {
        let cert_type = cur.utf()?;
        if cert_type != "X.509" {
            return Err(Error::UnsupportedAlgorithm(format!(
                "certificate type {cert_type} of alias {alias}"
            )));
        }
    }
    let n = cur.len_u32()?;
    cur.take(n)
}

/// Decrypts a protected private key (`EncryptedPrivateKeyInfo`) with the first password that
/// works.
fn recover_key(
    protected: &[u8],
    passwords: &[&[u8]],
    alias: &str,
    work: &mut Work,
) -> Result<Vec<u8>, Error> {
    let epki = der::single(protected, der::SEQUENCE, "encrypted private key")?;
    let mut r = Reader::new(epki.value, "encrypted private key");
    let mut alg = r.nested(der::SEQUENCE)?;
    let oid = alg.expect(der::OID)?.value;
    let params = alg.any().ok();
    alg.finish()?;
    let data = r.expect(der::OCTET_STRING)?.value;
    r.finish()?;

    let wrong = || Error::WrongKeyPassword {
        alias: Some(alias.to_owned()),
    };
    let mut last = wrong();
    for pw in passwords {
        let result = if oid == OID_JKS_KEY_PROTECTOR {
            jks_recover(data, pw)
        } else if oid == OID_PBE_MD5_TDES {
            let params = params.ok_or_else(|| {
                Error::malformed("the encrypted private key has no PBE parameters")
            })?;
            pbe_md5_tdes_decrypt(params, data, pw, work).and_then(|plain| {
                // The padding check alone lets 1 in 256 wrong passwords through: also require
                // one DER SEQUENCE spanning the plaintext.
                match der::single(&plain, der::SEQUENCE, "private key") {
                    Ok(_) => Ok(plain),
                    Err(_) => Err(wrong()),
                }
            })
        } else {
            return Err(Error::UnsupportedAlgorithm(format!(
                "key protection {} of alias {alias}",
                der::oid_text(oid)
            )));
        };
        match result {
            Ok(plain) => {
                der::single(&plain, der::SEQUENCE, "private key")?;
                return Ok(plain);
            }
            Err(Error::WrongKeyPassword { .. }) => last = wrong(),
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Sun's JKS key protector: salt(20) ‖ XOR-encrypted key ‖ check(20); keystream blocks are
/// SHA-1(password ‖ previous block), starting from the salt; check = SHA-1(password ‖ key).
fn jks_recover(protected: &[u8], password: &[u8]) -> Result<Vec<u8>, Error> {
    let units = utf16_units(password)?;
    let pw = utf16be(&units);
    if protected.len() < 2 * DIGEST_LEN {
        return Err(Error::malformed("the protected private key is too short"));
    }
    let (salt, rest) = protected.split_at(DIGEST_LEN);
    let (encrypted, check) = rest.split_at(rest.len() - DIGEST_LEN);
    let mut plain = Vec::with_capacity(encrypted.len());
    let mut block = salt.to_vec();
    for chunk in encrypted.chunks(DIGEST_LEN) {
        let mut h = Sha1::new();
        h.update(&pw);
        h.update(&block);
        block = h.finalize().to_vec();
        plain.extend(chunk.iter().zip(block.iter()).map(|(c, k)| c ^ k));
    }
    let mut h = Sha1::new();
    h.update(&pw);
    h.update(&plain);
    if h.finalize().as_slice() != check {
        return Err(Error::WrongKeyPassword { alias: None });
    }
    Ok(plain)
}

/// `PBEWithMD5AndTripleDES` (Sun's `PBES1Core` for DESede): each half of the 8-byte salt is
/// hashed `iterations` times as MD5(previous ‖ password) (the first half reversed when both halves
/// are equal); the two 16-byte results give the 24-byte key and the 8-byte IV; DESede-CBC,
/// PKCS#5 padding. `params` is the DER `PBEParameter` (salt, iteration count).
fn pbe_md5_tdes_decrypt(
    params: der::Tlv<'_>,
    data: &[u8],
    password: &[u8],
    work: &mut Work,
) -> Result<Vec<u8>, Error> {
    use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};

    if params.tag != der::SEQUENCE {
        return Err(Error::malformed("the PBE parameters are not valid DER"));
    }
    let mut p = Reader::new(params.value, "PBE parameters");
    let salt = p.expect(der::OCTET_STRING)?.value;
    let iterations = p.uint_saturating()?;
    p.finish()?;
    let salt: [u8; 8] = salt
        .try_into()
        .map_err(|_| Error::malformed("the PBE salt is not 8 bytes long"))?;
    // Java's PBEKey: printable ASCII only, one byte per char.
    if !password.iter().all(|b| (0x20..=0x7E).contains(b)) {
        return Err(Error::PasswordEncoding(
            "must be printable ASCII for JCEKS keys",
        ));
    }
    if data.is_empty() || !data.len().is_multiple_of(8) {
        return Err(Error::malformed(
            "the encrypted key is not a whole number of DES blocks",
        ));
    }
    // Checked and charged before anything is derived.
    work.charge("key encryption", iterations)?;
    let mut salt = salt;
    if salt[..4] == salt[4..] {
        salt[..4].reverse();
    }
    let mut derived = [0u8; 32];
    for (half, out) in salt.chunks(4).zip(derived.chunks_mut(16)) {
        let mut state = half.to_vec();
        for _ in 0..iterations {
            let mut h = Md5::new();
            h.update(&state);
            h.update(password);
            state = h.finalize().to_vec();
        }
        // After zero iterations Java copies the 4 salt bytes; the rest stays zero.
        for (o, s) in out.iter_mut().zip(state.iter()) {
            *o = *s;
        }
    }
    let (key, iv) = derived.split_at(24);
    let cipher = cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, iv)
        .map_err(|_| Error::malformed("the derived DESede key has a wrong size"))?;
    cipher
        .decrypt_padded_vec::<Pkcs7>(data)
        .map_err(|_| Error::WrongKeyPassword { alias: None })
}

/// Opens a JCEKS `SealedObjectForKeyProtector` and reads the `SecretKeySpec` (or `KeyRep`) in
/// it → (algorithm, key bytes).
fn unseal_secret(
    sealed: &Value,
    passwords: &[&[u8]],
    alias: &str,
    work: &mut Work,
) -> Result<(String, Vec<u8>), Error> {
    let unsupported = |kind| Error::UnsupportedEntry {
        alias: alias.to_owned(),
        kind,
    };
    if sealed.class() != Some("com.sun.crypto.provider.SealedObjectForKeyProtector") {
        return Err(unsupported("a sealed object of an unknown class"));
    }
    let seal_alg = match sealed.field("sealAlg") {
        Some(Value::Str(s)) => s.as_str(),
        _ => return Err(unsupported("a sealed object without its algorithm")),
    };
    if seal_alg != "PBEWithMD5AndTripleDES" {
        return Err(Error::UnsupportedAlgorithm(format!(
            "{seal_alg} sealing alias {alias}"
        )));
    }
    let (Some(Value::Bytes(params)), Some(Value::Bytes(content))) = (
        sealed.field("encodedParams"),
        sealed.field("encryptedContent"),
    ) else {
        return Err(unsupported("a sealed object without its content"));
    };
    let params = der::single(params, der::SEQUENCE, "PBE parameters")?;
    let mut last = Error::WrongKeyPassword {
        alias: Some(alias.to_owned()),
    };
    for pw in passwords {
        let plain = match pbe_md5_tdes_decrypt(params, content, pw, work) {
            Ok(p) => p,
            Err(Error::WrongKeyPassword { .. }) => continue,
            Err(e) => return Err(e),
        };
        let mut cur = Cursor::new(&plain, "sealed secret key");
        let key = match javaser::read_stream(&mut cur) {
            Ok(v) if cur.remaining() == 0 => v,
            // Garbage after a lucky padding byte: a wrong password.
            _ => {
                last = Error::WrongKeyPassword {
                    alias: Some(alias.to_owned()),
                };
                continue;
            }
        };
        let (alg_field, key_field) = match key.class() {
            Some("javax.crypto.spec.SecretKeySpec") => ("algorithm", "key"),
            Some("java.security.KeyRep") => ("algorithm", "encoded"),
            _ => return Err(unsupported("a secret key of an unknown class")),
        };
        match (key.field(alg_field), key.field(key_field)) {
            (Some(Value::Str(a)), Some(Value::Bytes(k))) => return Ok((a.clone(), k.clone())),
            _ => return Err(unsupported("a secret key without algorithm or bytes")),
        }
    }
    Err(last)
}

/// The type a JKS-family magic announces.
pub(crate) fn magic_type(bytes: &[u8]) -> Option<KeystoreType> {
    let m = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
    match m {
        JKS_MAGIC => Some(KeystoreType::Jks),
        JCEKS_MAGIC => Some(KeystoreType::Jceks),
        _ => None,
    }
}
