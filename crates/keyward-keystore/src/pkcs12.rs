//! PKCS#12 through `p12-keystore`, behind a pre-scan of our own.
//!
//! The pre-scan walks the outer DER layers (PFX, MacData, AuthenticatedSafe, plain SafeContents)
//! and reads every iteration count and algorithm it can see *before* anything is derived: a
//! 10,000,000-iteration MAC is refused in microseconds. It also counts bags and names
//! unsupported algorithms. Then `p12-keystore` verifies the MAC and decrypts; its raw archive
//! (`Pkcs12Archive`) is turned into entries here, building each key's chain leaf first.

use p12_keystore::error::Error as P12Error;
use p12_keystore::{Pkcs12Archive, secret::SecretKeyType};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::der::{self, Reader};
use crate::{Entry, Error, Keystore, Limits, Work};

/// `p12-keystore` refuses more than this many iterations whatever our limit says.
const P12_KEYSTORE_MAX_ITERATIONS: u64 = 1_000_000;
/// scrypt: 128 · N · r bytes of memory at most.
const MAX_SCRYPT_MEMORY: u64 = 64 << 20;

// OID values (DER contents).
const OID_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01];
const OID_ENCRYPTED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x06];
const OID_SHROUDED_KEY_BAG: &[u8] = &[
    0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x0C, 0x0A, 0x01, 0x02,
];
const OID_SECRET_BAG: &[u8] = &[
    0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x0C, 0x0A, 0x01, 0x05,
];
const OID_PBES2: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0D];
const OID_PBKDF2: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0C];
const OID_PBMAC1: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0E];
const OID_SCRYPT: &[u8] = &[0x2B, 0x06, 0x01, 0x04, 0x01, 0xDA, 0x47, 0x04, 0x0B];
/// 1.2.840.113549.1.12.1.x prefix (PKCS#12 PBE schemes).
const OID_PKCS12_PBE_PREFIX: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x0C, 0x01];
/// 2.16.840.1.101.3.4.1.x prefix (AES).
const OID_AES_PREFIX: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01];
const OID_SHA1: &[u8] = &[0x2B, 0x0E, 0x03, 0x02, 0x1A];
/// 2.16.840.1.101.3.4.2.x prefix (SHA-2).
const OID_SHA2_PREFIX: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];

/// What the pre-scan learned.
struct Scan<'a> {
    has_mac: bool,
    version: &'a [u8],
    auth_safe: &'a [u8],
}

fn check_iterations(what: &'static str, iterations: u64, work: &mut Work) -> Result<(), Error> {
    work.charge(what, iterations)
}

fn pbe_name(last: u8) -> &'static str {
    match last {
        1 => "pbeWithSHAAnd128BitRC4",
        2 => "pbeWithSHAAnd40BitRC4",
        3 => "pbeWithSHAAnd3-KeyTripleDES-CBC",
        4 => "pbeWithSHAAnd2-KeyTripleDES-CBC",
        5 => "pbeWithSHAAnd128BitRC2-CBC",
        6 => "pbeWithSHAAnd40BitRC2-CBC",
        _ => "PKCS#12 PBE",
    }
}

/// Checks one encryption AlgorithmIdentifier (raw TLV): supported scheme, iterations in bounds.
fn check_encryption(alg: der::Tlv<'_>, what: &'static str, work: &mut Work) -> Result<(), Error> {
    let mut r = Reader::new(alg.value, "encryption algorithm");
    let oid = r.expect(der::OID)?.value;
    if let Some(last) = oid.strip_prefix(OID_PKCS12_PBE_PREFIX) {
        match last {
            [3] | [6] => {}
            [n] => {
                return Err(Error::UnsupportedAlgorithm(format!(
                    "{} ({})",
                    pbe_name(*n),
                    der::oid_text(oid)
                )));
            }
            _ => return Err(Error::UnsupportedAlgorithm(der::oid_text(oid))),
        }
        let mut p = r.nested(der::SEQUENCE)?;
        p.expect(der::OCTET_STRING)?;
        let iterations = p.uint_saturating()?;
        return check_iterations(what, iterations, work);
    }
    if oid != OID_PBES2 {
        return Err(Error::UnsupportedAlgorithm(format!(
            "encryption scheme {}",
            der::oid_text(oid)
        )));
    }
    let mut params = r.nested(der::SEQUENCE)?;
    let mut kdf = params.nested(der::SEQUENCE)?;
    let kdf_oid = kdf.expect(der::OID)?.value;
    let mut kp = kdf.nested(der::SEQUENCE)?;
    kp.any()?; // salt
    if kdf_oid == OID_PBKDF2 {
        let iterations = kp.uint_saturating()?;
        check_iterations(what, iterations, work)?;
    } else if kdf_oid == OID_SCRYPT {
        let n = kp.uint_saturating()?;
        let r_ = kp.uint_saturating()?;
        let p_ = kp.uint_saturating()?;
        let memory = 128u64.saturating_mul(n).saturating_mul(r_);
        if memory > MAX_SCRYPT_MEMORY {
            return Err(Error::UnsupportedAlgorithm(format!(
                "scrypt with N={n}, r={r_}: {memory} bytes of memory, more than the allowed {MAX_SCRYPT_MEMORY}"
            )));
        }
        check_iterations(what, n.saturating_mul(p_), work)?;
    } else {
        return Err(Error::UnsupportedAlgorithm(format!(
            "key derivation {}",
            der::oid_text(kdf_oid)
        )));
    }
    let mut enc = params.nested(der::SEQUENCE)?;
    let enc_oid = enc.expect(der::OID)?.value;
    match enc_oid.strip_prefix(OID_AES_PREFIX) {
        Some([2] | [22] | [42]) => Ok(()),
        _ => Err(Error::UnsupportedAlgorithm(format!(
            "PBES2 cipher {}",
            der::oid_text(enc_oid)
        ))),
    }
}

fn count_entry(count: &mut u64, limits: &Limits) -> Result<(), Error> {
    *count += 1;
    if *count > limits.max_entries as u64 {
        return Err(Error::TooManyEntries {
            count: *count,
            max: limits.max_entries,
        });
    }
    Ok(())
}

fn prescan<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Scan<'a>, Error> {
    let mut work = Work::new(limits.max_kdf_iterations.min(P12_KEYSTORE_MAX_ITERATIONS));
    let pfx = der::single(bytes, der::SEQUENCE, "PKCS12 file")?;
    let mut r = Reader::new(pfx.value, "PKCS12 file");
    let version = r.expect(der::INTEGER)?;
    if version.value != [3] {
        return Err(Error::malformed("the PKCS12 file is not version 3"));
    }
    let auth_safe = r.expect(der::SEQUENCE)?;
    let mac = r.optional(der::SEQUENCE)?;
    r.finish()?;

    // MacData first: its iteration count is the cheapest DoS lever.
    if let Some(mac) = mac {
        let mut m = Reader::new(mac.value, "PKCS12 MAC");
        let mut digest_info = m.nested(der::SEQUENCE)?;
        let mut alg = digest_info.nested(der::SEQUENCE)?;
        let oid = alg.expect(der::OID)?.value;
        let sha2_ok = matches!(oid.strip_prefix(OID_SHA2_PREFIX), Some([1..=6]));
        if oid == OID_PBMAC1 {
            return Err(Error::UnsupportedAlgorithm("PBMAC1 integrity MAC".into()));
        }
        if oid != OID_SHA1 && !sha2_ok {
            return Err(Error::UnsupportedAlgorithm(format!(
                "integrity MAC digest {}",
                der::oid_text(oid)
            )));
        }
        m.expect(der::OCTET_STRING)?; // salt
        let iterations = if m.is_empty() {
            1
        } else {
            m.uint_saturating()?
        };
        m.finish()?;
        check_iterations("integrity MAC", iterations, &mut work)?;
    }

    // AuthenticatedSafe: ContentInfo { data OID, [0] OCTET STRING (SEQUENCE OF ContentInfo) }.
    let mut ci = Reader::new(auth_safe.value, "PKCS12 content");
    if ci.expect(der::OID)?.value != OID_DATA {
        return Err(Error::UnsupportedAlgorithm(
            "PKCS12 public-key integrity mode (signed data)".into(),
        ));
    }
    let mut wrapped = ci.nested(der::CTX0)?;
    let safes = wrapped.expect(der::OCTET_STRING)?;
    wrapped.finish()?;
    let safes = der::single(safes.value, der::SEQUENCE, "PKCS12 content")?;
    let mut safes = Reader::new(safes.value, "PKCS12 content");
    let mut count = 0u64;
    while !safes.is_empty() {
        count_entry(&mut count, limits)?;
        let mut safe = safes.nested(der::SEQUENCE)?;
        let oid = safe.expect(der::OID)?.value;
        let mut content = safe.nested(der::CTX0)?;
        if oid == OID_DATA {
            let bags = content.expect(der::OCTET_STRING)?;
            let bags = der::single(bags.value, der::SEQUENCE, "PKCS12 bags")?;
            let mut bags = Reader::new(bags.value, "PKCS12 bags");
            while !bags.is_empty() {
                count_entry(&mut count, limits)?;
                let mut bag = bags.nested(der::SEQUENCE)?;
                let bag_id = bag.expect(der::OID)?.value;
                let mut value = bag.nested(der::CTX0)?;
                if bag_id == OID_SHROUDED_KEY_BAG {
                    let mut epki = value.nested(der::SEQUENCE)?;
                    check_encryption(epki.expect(der::SEQUENCE)?, "key encryption", &mut work)?;
                } else if bag_id == OID_SECRET_BAG {
                    // SecretBag { OID, [0] OCTET STRING (EncryptedPrivateKeyInfo) }: best effort.
                    let inner = (|| {
                        let mut sb = value.nested(der::SEQUENCE)?;
                        sb.expect(der::OID)?;
                        let mut v = sb.nested(der::CTX0)?;
                        let os = v.expect(der::OCTET_STRING)?;
                        let epki = der::single(os.value, der::SEQUENCE, "secret bag")?;
                        Reader::new(epki.value, "secret bag").expect(der::SEQUENCE)
                    })();
                    if let Ok(alg) = inner {
                        check_encryption(alg, "secret key encryption", &mut work)?;
                    }
                }
            }
        } else if oid == OID_ENCRYPTED_DATA {
            // EncryptedData { version, EncryptedContentInfo { type, alg, [0] content } }
            let mut ed = content.nested(der::SEQUENCE)?;
            ed.expect(der::INTEGER)?;
            let mut eci = ed.nested(der::SEQUENCE)?;
            eci.expect(der::OID)?;
            check_encryption(
                eci.expect(der::SEQUENCE)?,
                "certificate encryption",
                &mut work,
            )?;
        } else {
            return Err(Error::UnsupportedAlgorithm(format!(
                "PKCS12 content type {}",
                der::oid_text(oid)
            )));
        }
    }
    Ok(Scan {
        has_mac: mac.is_some(),
        version: version.raw,
        auth_safe: auth_safe.raw,
    })
}

/// The same PFX without its MacData (after the MAC has been verified with the store password),
/// so `p12-keystore` can decrypt with a different key password.
fn without_mac(scan: &Scan<'_>) -> Vec<u8> {
    let len = scan.version.len() + scan.auth_safe.len();
    let mut out = vec![der::SEQUENCE];
    der::encode_len(len, &mut out);
    out.extend_from_slice(scan.version);
    out.extend_from_slice(scan.auth_safe);
    out
}

fn is_decrypt_failure(e: &P12Error) -> bool {
    matches!(
        e,
        P12Error::Pkcs5Error(_)
            | P12Error::UnpadError
            | P12Error::DerError(_)
            | P12Error::InvalidPrivateKey
            | P12Error::InvalidLength
    )
}

fn map_p12_error(e: P12Error) -> Error {
    match e {
        P12Error::MacError(_) => Error::WrongStorePassword,
        P12Error::UnsupportedEncryptionScheme | P12Error::UnsupportedMacAlgorithm => {
            Error::UnsupportedAlgorithm("PKCS12 encryption or MAC scheme".into())
        }
        P12Error::UnsupportedCertificateType => {
            Error::UnsupportedAlgorithm("PKCS12 certificate bag type other than X.509".into())
        }
        P12Error::UnsupportedContentType => {
            Error::UnsupportedAlgorithm("PKCS12 content type".into())
        }
        P12Error::X509Error(_) => Error::malformed("a certificate in the PKCS12 file is invalid"),
        other => Error::malformed(format!("the PKCS12 content cannot be read ({other})")),
    }
}

fn password_str(password: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(password).map_err(|_| Error::PasswordEncoding("must be valid UTF-8 text"))
}

pub(crate) fn open(
    bytes: &[u8],
    store_password: &[u8],
    key_password: Option<&[u8]>,
    limits: &Limits,
) -> Result<Keystore, Error> {
    let scan = prescan(bytes, limits)?;
    let store_pw = password_str(store_password)?;
    let archive = match Pkcs12Archive::from_pkcs12(bytes, store_pw) {
        Ok(a) => a,
        Err(e) if is_decrypt_failure(&e) => {
            // The MAC (if any) passed with the store password, but the content does not decrypt.
            match key_password.filter(|k| *k != store_password) {
                Some(kp) => {
                    let kp = password_str(kp)?;
                    let stripped = without_mac(&scan);
                    match Pkcs12Archive::from_pkcs12(&stripped, kp) {
                        Ok(a) => a,
                        Err(e) if is_decrypt_failure(&e) => {
                            return Err(if scan.has_mac {
                                Error::WrongKeyPassword { alias: None }
                            } else {
                                Error::WrongStorePassword
                            });
                        }
                        Err(e) => return Err(map_p12_error(e)),
                    }
                }
                None if scan.has_mac => return Err(Error::WrongKeyPassword { alias: None }),
                None => return Err(Error::WrongStorePassword),
            }
        }
        Err(e) => return Err(map_p12_error(e)),
    };
    let total = archive.keys.len() + archive.certs.len() + archive.secrets.len();
    if total > limits.max_entries {
        return Err(Error::TooManyEntries {
            count: total as u64,
            max: limits.max_entries,
        });
    }
    Ok(Keystore {
        entries: to_entries(archive),
    })
}

/// What chain building needs from a certificate.
struct CertInfo<'a> {
    subject: &'a [u8],
    issuer: &'a [u8],
    /// The SPKI's subjectPublicKey bits.
    public_key: &'a [u8],
}

fn cert_info(der: &[u8]) -> Option<CertInfo<'_>> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let spki = cert.tbs_certificate.subject_pki.raw;
    let mut r = Reader::new(
        der::single(spki, der::SEQUENCE, "certificate").ok()?.value,
        "c",
    );
    r.expect(der::SEQUENCE).ok()?;
    let bits = r.expect(der::BIT_STRING).ok()?.value;
    Some(CertInfo {
        subject: cert.tbs_certificate.subject.as_raw(),
        issuer: cert.tbs_certificate.issuer.as_raw(),
        public_key: bits.get(1..)?,
    })
}

/// The public key bits a PKCS#8 key carries or implies, in the form SPKI's subjectPublicKey
/// holds them: EC → the `publicKey` of ECPrivateKey (when present); RSA → SEQUENCE { n, e }
/// rebuilt from RSAPrivateKey. Other keys → None (matched by localKeyId only).
fn pkcs8_public_key(pkcs8: &[u8]) -> Option<Vec<u8>> {
    let info = der::single(pkcs8, der::SEQUENCE, "private key").ok()?;
    let mut r = Reader::new(info.value, "private key");
    r.expect(der::INTEGER).ok()?;
    let mut alg = r.nested(der::SEQUENCE).ok()?;
    let oid = alg.expect(der::OID).ok()?.value;
    let key = r.expect(der::OCTET_STRING).ok()?.value;
    const RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
    const EC: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
    let inner = der::single(key, der::SEQUENCE, "private key").ok()?;
    let mut k = Reader::new(inner.value, "private key");
    if oid == RSA {
        k.expect(der::INTEGER).ok()?; // version
        let n = k.expect(der::INTEGER).ok()?.raw;
        let e = k.expect(der::INTEGER).ok()?.raw;
        let mut out = vec![der::SEQUENCE];
        der::encode_len(n.len() + e.len(), &mut out);
        out.extend_from_slice(n);
        out.extend_from_slice(e);
        Some(out)
    } else if oid == EC {
        k.expect(der::INTEGER).ok()?;
        k.expect(der::OCTET_STRING).ok()?;
        k.optional(der::CTX0).ok()?;
        let mut pk = k.nested(der::CTX1).ok()?;
        let bits = pk.expect(der::BIT_STRING).ok()?.value;
        match bits.split_first() {
            Some((0, rest)) => Some(rest.to_vec()),
            _ => None,
        }
    } else {
        None
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn secret_algorithm(t: SecretKeyType) -> String {
    match t {
        SecretKeyType::Aes
        | SecretKeyType::Aes128Cbc
        | SecretKeyType::Aes192Cbc
        | SecretKeyType::Aes256Cbc => "AES".into(),
        SecretKeyType::DesCbc => "DES".into(),
        SecretKeyType::DesEde3Cbc => "DESede".into(),
        SecretKeyType::Blowfish => "Blowfish".into(),
        SecretKeyType::Rc2Cbc => "RC2".into(),
        SecretKeyType::Rc4 => "ARCFOUR".into(),
        SecretKeyType::Camelia => "Camellia".into(),
        SecretKeyType::HmacSha1 => "HmacSHA1".into(),
        SecretKeyType::HmacSha224 => "HmacSHA224".into(),
        SecretKeyType::HmacSha256 => "HmacSHA256".into(),
        SecretKeyType::HmacSha384 => "HmacSHA384".into(),
        SecretKeyType::HmacSha512 => "HmacSHA512".into(),
        SecretKeyType::Unknown(oid) => oid.to_string(),
    }
}

/// Unique alias: `name`, else `name#2`, `name#3`, ...
fn unique(aliases: &mut Vec<String>, name: String) -> String {
    let mut candidate = name.clone();
    let mut n = 2u32;
    while aliases.contains(&candidate) {
        candidate = format!("{name}#{n}");
        n += 1;
    }
    aliases.push(candidate.clone());
    candidate
}

fn to_entries(archive: Pkcs12Archive) -> Vec<Entry> {
    let infos: Vec<Option<CertInfo<'_>>> = archive
        .certs
        .iter()
        .map(|c| cert_info(c.cert.as_der()))
        .collect();
    let mut used = vec![false; archive.certs.len()];
    let mut aliases: Vec<String> = Vec::new();
    let mut entries = Vec::new();

    for (ki, key) in archive.keys.iter().enumerate() {
        let pkcs8 = key.key.as_der();
        // Leaf: same localKeyId, else same public key.
        let by_id = key.local_key_id.as_ref().and_then(|id| {
            archive
                .certs
                .iter()
                .position(|c| c.local_key_id.as_deref() == Some(id.as_ref()))
        });
        let leaf = by_id.or_else(|| {
            let pk = pkcs8_public_key(pkcs8)?;
            infos
                .iter()
                .position(|i| i.as_ref().is_some_and(|i| i.public_key == pk.as_slice()))
        });
        let mut chain_idx: Vec<usize> = Vec::new();
        if let Some(mut cur) = leaf {
            chain_idx.push(cur);
            while let Some(Some(info)) = infos.get(cur) {
                if info.issuer == info.subject || chain_idx.len() >= infos.len() {
                    break;
                }
                let next = infos.iter().enumerate().position(|(j, other)| {
                    !chain_idx.contains(&j)
                        && other.as_ref().is_some_and(|o| o.subject == info.issuer)
                });
                match next {
                    Some(j) => {
                        chain_idx.push(j);
                        cur = j;
                    }
                    None => break,
                }
            }
        }
        for &i in &chain_idx {
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
        }
        let leaf_name = leaf
            .and_then(|i| archive.certs.get(i))
            .and_then(|c| c.friendly_name.clone());
        let name = key
            .friendly_name
            .clone()
            .or(leaf_name)
            .or_else(|| key.local_key_id.as_ref().map(|id| hex(id.as_ref())))
            .unwrap_or_else(|| format!("key-{}", ki + 1));
        entries.push(Entry::PrivateKey {
            alias: unique(&mut aliases, name),
            pkcs8_der: pkcs8.to_vec(),
            chain_der: chain_idx
                .iter()
                .filter_map(|&i| archive.certs.get(i).map(|c| c.cert.as_der().to_vec()))
                .collect(),
        });
    }

    for (ci, cert) in archive.certs.iter().enumerate() {
        if used.get(ci).copied().unwrap_or(false) {
            continue;
        }
        let name = cert.friendly_name.clone().unwrap_or_else(|| {
            let subject = cert.cert.subject();
            if subject.is_empty() {
                format!("certificate-{}", ci + 1)
            } else {
                subject.to_owned()
            }
        });
        entries.push(Entry::TrustedCertificate {
            alias: unique(&mut aliases, name),
            der: cert.cert.as_der().to_vec(),
        });
    }

    for secret in &archive.secrets {
        let name = secret
            .friendly_name
            .clone()
            .unwrap_or_else(|| hex(secret.key.local_key_id().as_ref()));
        entries.push(Entry::SecretKey {
            alias: unique(&mut aliases, name),
            algorithm: secret_algorithm(secret.key.key_type()),
            key: secret.key.key().to_vec(),
        });
    }
    entries
}

/// The file rebuilt without its MacData.
#[cfg(test)]
pub(crate) fn prescan_for_tests(bytes: &[u8]) -> Vec<u8> {
    match prescan(bytes, &Limits::default()) {
        Ok(scan) => without_mac(&scan),
        Err(e) => panic!("{e}"),
    }
}

#[cfg(test)]
pub(crate) fn pkcs8_public_key_for_tests(pkcs8: &[u8]) -> Option<Vec<u8>> {
    pkcs8_public_key(pkcs8)
}
