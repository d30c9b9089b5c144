//! Reading X.509 certificates (RFC 5280) as users upload them, and putting a chain in order.
//!
//! [`parse_certificates`] accepts three encodings and tells which one is wrong when it fails:
//! PEM text with one or more `CERTIFICATE` blocks (RFC 7468 §5), one raw DER certificate
//! (RFC 5280 §4.1), or the bare base64 of one DER certificate. At most
//! [`MAX_CERTIFICATES`] per input.
//!
//! [`order_leaf_first`] turns a set of certificates in any order into the one linear chain
//! `leaf, issuer of leaf, issuer of that, ...` that `x5c` requires (RFC 7517 §4.7). The
//! links are found by **names and key identifiers only** — the issuer Name of the child equals
//! the subject Name of the parent, byte for byte (RFC 5280 §4.1.2.4; §7.1 allows more lenient
//! comparison, which we do not need since both come from the same CA), and when both the
//! child's AuthorityKeyIdentifier (§4.2.1.1) and the parent's SubjectKeyIdentifier (§4.2.1.2)
//! are present they must be equal. **Signatures are not verified**: the chain is a
//! presentation order, not a trust decision.

use sha1::{Digest as _, Sha1};
use time::OffsetDateTime;
use x509_parser::asn1_rs::{Any, FromDer, Tag};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::x509::X509Name;

use crate::error::{Error, MAX_CERTIFICATES};
use crate::{b64, pem};

/// One parsed certificate, owning its DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The complete certificate DER (what `x5c`, `x5t` and `x5t#S256` are computed from).
    pub der: Vec<u8>,
    /// Subject DN, Java `X500Principal` style, most specific first: `CN=a, O=b, C=US`.
    pub subject_dn: String,
    /// Issuer DN, same style.
    pub issuer_dn: String,
    /// Start of the validity period (RFC 5280 §4.1.2.5).
    pub not_before: OffsetDateTime,
    /// End of the validity period.
    pub not_after: OffsetDateTime,
    /// Upper-case hex of SHA-1 over the DER (40 characters), the classic certificate thumbprint.
    pub sha1_thumbprint: String,
    /// The complete SubjectPublicKeyInfo DER (RFC 5280 §4.1.2.7).
    pub spki_der: Vec<u8>,
    /// The public key, read and validated once, at parse (`None` when keyward does not convert
    /// its algorithm, size or curve: the JWK builder reads the SPKI again to say why).
    pub(crate) public_key: Option<crate::jwk::PublicKey>,
    /// SHA-1 of the DER (`x5t`; [`Certificate::sha1_thumbprint`] is its hex).
    pub(crate) sha1: [u8; 20],
}

/// Labels accepted as certificates. `X509 CERTIFICATE` is an old alias (RFC 7468 §5.1).
const CERTIFICATE_LABELS: &[&str] = &["CERTIFICATE", "X509 CERTIFICATE"];

/// Read one or more certificates: PEM text with `CERTIFICATE` blocks, one raw DER certificate,
/// or the bare base64 of one DER certificate.
///
/// Any other PEM label (`PRIVATE KEY`, ...) is refused with an error naming it. Empty input,
/// garbage, truncated DER and trailing bytes after the DER are refused with an error saying
/// what is wrong. More than [`MAX_CERTIFICATES`] certificates are refused.
pub fn parse_certificates(input: &[u8]) -> Result<Vec<Certificate>, Error> {
    if input.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::Empty);
    }
    // PEM: a BEGIN boundary anywhere.
    if pem::find(input, b"-----BEGIN ").is_some() {
        let (blocks, more) = pem::scan_limited(input, MAX_CERTIFICATES)?;
        if more {
            return Err(Error::TooManyCertificates {
                max: MAX_CERTIFICATES,
            });
        }
        if let Some(other) = blocks
            .iter()
            .find(|b| !CERTIFICATE_LABELS.contains(&b.label.as_str()))
        {
            return Err(Error::NotOnlyCertificates {
                label: other.label.clone(),
            });
        }
        let several = blocks.len() > 1;
        return blocks
            .into_iter()
            .enumerate()
            .map(|(i, block)| {
                parse_der(&block.der).map_err(|e| match e {
                    Error::InvalidCertificate { detail } if several => Error::InvalidCertificate {
                        detail: format!("PEM block {} of the input: {detail}", i + 1),
                    },
                    other => other,
                })
            })
            .collect();
    }
    // DER: a SEQUENCE tag.
    if input.first() == Some(&0x30) {
        return Ok(vec![parse_der(input)?]);
    }
    // Bare base64 of a DER certificate.
    if let Ok(der) = b64::decode_standard_lenient_bytes(input)
        && der.first() == Some(&0x30)
    {
        return Ok(vec![parse_der(&der)?]);
    }
    Err(Error::InvalidCertificate {
        detail: "the input is neither PEM (-----BEGIN CERTIFICATE-----), nor DER, nor base64 of a DER certificate".to_owned(),
    })
}

/// Parse exactly one DER certificate (no bytes may follow it).
///
/// A certificate whose RSA or OKP public key fails [`crate::validation`] (even modulus, bad
/// exponent, small-order point, ...) is refused here, at upload, not only when a JWK is made
/// from it; keys of algorithms keyward does not convert (DSA, other curves) and RSA sizes
/// outside the JWK range are kept as they are.
pub fn parse_der(der: &[u8]) -> Result<Certificate, Error> {
    let cert = parse_x509(der)?;
    let tbs = &cert.tbs_certificate;
    let public_key = match crate::jwk::PublicKey::from_spki(&tbs.subject_pki) {
        Ok(key) => Some(key),
        Err(Error::InvalidPublicKey { detail }) => {
            return Err(invalid(&format!("its public key is not valid: {detail}")));
        }
        Err(_) => None,
    };
    let sha1: [u8; 20] = Sha1::digest(der).into();
    Ok(Certificate {
        der: der.to_vec(),
        subject_dn: dn_string(&tbs.subject),
        issuer_dn: dn_string(&tbs.issuer),
        not_before: tbs.validity.not_before.to_datetime(),
        not_after: tbs.validity.not_after.to_datetime(),
        sha1_thumbprint: upper_hex(&sha1),
        spki_der: tbs.subject_pki.raw.to_vec(),
        public_key,
        sha1,
    })
}

fn parse_x509(der: &[u8]) -> Result<X509Certificate<'_>, Error> {
    if der.is_empty() {
        return Err(invalid("the DER data is empty"));
    }
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok((rest, _)) => Err(invalid(&format!(
            "{} unexpected bytes follow the certificate",
            rest.len()
        ))),
        Err(x509_parser::nom::Err::Incomplete(_)) => Err(invalid("the DER data is truncated")),
        Err(x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e)) => {
            // A certificate shorter than its outer length says is "truncated", whatever the
            // inner parser reported.
            if declared_len(der).is_some_and(|n| n > der.len()) {
                Err(invalid("the DER data is truncated"))
            } else {
                Err(invalid(&format!(
                    "the DER structure is not a certificate ({e})"
                )))
            }
        }
    }
}

/// Total length (header + content) declared by the outer DER header, if readable.
fn declared_len(der: &[u8]) -> Option<usize> {
    let first = *der.get(1)?;
    if first < 0x80 {
        return Some(2 + first as usize);
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return None;
    }
    let bytes = der.get(2..2 + n)?;
    let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
    Some(len.saturating_add(2 + n))
}

fn invalid(detail: &str) -> Error {
    Error::InvalidCertificate {
        detail: detail.to_owned(),
    }
}

/// Upper-case hex.
pub(crate) fn upper_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Distinguished names
// ---------------------------------------------------------------------------------------------

/// Short names used by Java's `X500Principal.toString()` (RFC 1779 / RFC 2253 keywords).
fn attribute_keyword(oid: &str) -> Option<&'static str> {
    ATTRIBUTE_KEYWORDS
        .iter()
        .find(|(dotted, _, _)| *dotted == oid)
        .map(|(_, _, keyword)| *keyword)
}

/// The attribute types named by keyword: dotted OID, its DER content, keyword.
const ATTRIBUTE_KEYWORDS: &[(&str, &[u8], &str)] = &[
    ("2.5.4.3", &[0x55, 0x04, 3], "CN"),
    ("2.5.4.6", &[0x55, 0x04, 6], "C"),
    ("2.5.4.7", &[0x55, 0x04, 7], "L"),
    ("2.5.4.8", &[0x55, 0x04, 8], "ST"),
    ("2.5.4.9", &[0x55, 0x04, 9], "STREET"),
    ("2.5.4.10", &[0x55, 0x04, 10], "O"),
    ("2.5.4.11", &[0x55, 0x04, 11], "OU"),
    ("2.5.4.4", &[0x55, 0x04, 4], "SURNAME"),
    ("2.5.4.5", &[0x55, 0x04, 5], "SERIALNUMBER"),
    ("2.5.4.12", &[0x55, 0x04, 12], "T"),
    ("2.5.4.42", &[0x55, 0x04, 42], "GIVENNAME"),
    ("2.5.4.43", &[0x55, 0x04, 43], "INITIALS"),
    ("2.5.4.44", &[0x55, 0x04, 44], "GENERATION"),
    ("2.5.4.46", &[0x55, 0x04, 46], "DNQUALIFIER"),
    (
        "0.9.2342.19200300.100.1.1",
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01],
        "UID",
    ),
    (
        "0.9.2342.19200300.100.1.25",
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
        "DC",
    ),
    (
        "1.2.840.113549.1.9.1",
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01],
        "EMAILADDRESS",
    ),
];

/// A Name as text, Java `X500Principal` style: RDNs most specific first (the reverse of the
/// DER order, as RFC 4514 §2.1 prescribes), joined by `", "`, multi-valued RDNs joined by
/// `" + "`. Special characters are escaped as RFC 4514 §2.4 says; values that are not strings
/// are written `#` + hex of their content. Unknown attribute types are written as dotted OIDs.
pub fn dn_string(name: &X509Name<'_>) -> String {
    let rdns: Vec<_> = name.iter_rdn().collect();
    let mut out = String::with_capacity(name.as_raw().len());
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push_str(" + ");
            }
            let oid = atv.attr_type();
            match attribute_keyword_of_der(oid.as_bytes()) {
                Some(key) => out.push_str(key),
                None => {
                    let dotted = oid.to_id_string();
                    out.push_str(attribute_keyword(&dotted).unwrap_or(&dotted));
                }
            }
            out.push('=');
            out.push_str(&attribute_value(atv.attr_value()));
        }
    }
    out
}

/// [`attribute_keyword`] of a DER OID content, without writing the OID out. `None` sends the
/// caller to the dotted form (an OID not in the table, or one not encoded canonically).
fn attribute_keyword_of_der(oid: &[u8]) -> Option<&'static str> {
    ATTRIBUTE_KEYWORDS
        .iter()
        .find(|(_, der, _)| *der == oid)
        .map(|(_, _, keyword)| *keyword)
}

fn attribute_value(value: &Any<'_>) -> String {
    let data = value.data;
    let text: Option<String> = match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString => std::str::from_utf8(data).ok().map(str::to_owned),
        // TeletexString: in practice Latin-1.
        Tag::T61String => Some(data.iter().map(|b| char::from(*b)).collect()),
        Tag::BmpString => {
            if !data.len().is_multiple_of(2) {
                None
            } else {
                let units: Vec<u16> = data
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16(&units).ok()
            }
        }
        Tag::UniversalString => {
            if !data.len().is_multiple_of(4) {
                None
            } else {
                data.chunks_exact(4)
                    .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                    .collect()
            }
        }
        _ => None,
    };
    match text {
        Some(t) => escape_rfc4514(&t),
        None => format!("#{}", upper_hex(data).to_lowercase()),
    }
}

/// RFC 4514 §2.4 escaping.
fn escape_rfc4514(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let needs = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if c == '\0' {
            out.push_str("\\00");
            continue;
        }
        if needs {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Chain ordering
// ---------------------------------------------------------------------------------------------

/// What the chain builder needs of one certificate.
struct Links {
    subject: Vec<u8>,
    issuer: Vec<u8>,
    /// keyIdentifier of the AuthorityKeyIdentifier extension (RFC 5280 §4.2.1.1).
    aki: Option<Vec<u8>>,
    /// SubjectKeyIdentifier (RFC 5280 §4.2.1.2).
    ski: Option<Vec<u8>>,
}

fn links(cert: &Certificate) -> Result<Links, Error> {
    let x = parse_x509(&cert.der)?;
    let mut aki = None;
    let mut ski = None;
    for ext in x.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| k.0.to_vec());
            }
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0.to_vec()),
            _ => {}
        }
    }
    Ok(Links {
        subject: x.tbs_certificate.subject.as_raw().to_vec(),
        issuer: x.tbs_certificate.issuer.as_raw().to_vec(),
        aki,
        ski,
    })
}

/// Whether `parent` issued `child`, by names and key identifiers (no signature check).
fn issued(parent: &Links, child: &Links) -> bool {
    if child.issuer != parent.subject {
        return false;
    }
    match (&child.aki, &parent.ski) {
        (Some(a), Some(s)) => a == s,
        _ => true,
    }
}

/// Put certificates given in any order into one chain, leaf first (RFC 7517 §4.7: "The PKIX
/// certificate containing the key value MUST be the first certificate"; each following one
/// certifies the one before).
///
/// Exact duplicates (same DER) are dropped. There must be exactly one leaf (a certificate that
/// issued no other in the set), and following issuers from it must visit every certificate
/// once. Two leaves, an unrelated certificate, a certificate with two possible issuers, one
/// that issued two others, or a cycle are refused with an error saying which certificates are
/// involved. A self-signed root ends the chain. One certificate is trivially a chain.
///
/// The check is by names and key identifiers only; signatures are **not** verified.
pub fn order_leaf_first(certs: Vec<Certificate>) -> Result<Vec<Certificate>, Error> {
    let mut unique: Vec<Certificate> = Vec::with_capacity(certs.len());
    for c in certs {
        if !unique.iter().any(|u| u.der == c.der) {
            unique.push(c);
        }
    }
    match unique.len() {
        0 => return Err(Error::EmptyChain),
        1 => return Ok(unique),
        _ => {}
    }
    let info = unique.iter().map(links).collect::<Result<Vec<_>, _>>()?;
    let n = unique.len();
    // parent_of[i]: indexes of the certificates that could have issued i (never i itself).
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (c, child) in info.iter().enumerate() {
        for (p, parent) in info.iter().enumerate() {
            if p != c && issued(parent, child) {
                parents[c].push(p);
                children[p].push(c);
            }
        }
    }
    let name = |i: usize| format!("\"{}\"", unique[i].subject_dn);
    let names = |ix: &[usize]| {
        ix.iter()
            .map(|i| name(*i))
            .collect::<Vec<_>>()
            .join(" and ")
    };

    if let Some(i) = (0..n).find(|i| parents[*i].is_empty() && children[*i].is_empty()) {
        return Err(Error::Chain {
            reason: format!(
                "the certificate {} is not related to the other certificates (it neither issued nor was issued by any of them)!",
                name(i)
            ),
        });
    }
    if let Some(i) = (0..n).find(|i| parents[*i].len() > 1) {
        return Err(Error::Chain {
            reason: format!(
                "the certificate {} could have been issued by more than one of the uploaded certificates ({})!",
                name(i),
                names(&parents[i])
            ),
        });
    }
    if let Some(i) = (0..n).find(|i| children[*i].len() > 1) {
        return Err(Error::Chain {
            reason: format!(
                "the certificate {} issued more than one of the uploaded certificates ({}); upload one chain at a time!",
                name(i),
                names(&children[i])
            ),
        });
    }
    let leaves: Vec<usize> = (0..n).filter(|i| children[*i].is_empty()).collect();
    let leaf = match leaves.as_slice() {
        [one] => *one,
        [] => {
            return Err(Error::Chain {
                reason:
                    "the certificates issue each other in a cycle, so there is no leaf certificate!"
                        .to_owned(),
            });
        }
        many => {
            return Err(Error::Chain {
                reason: format!(
                    "there is more than one leaf certificate ({}); upload one chain at a time!",
                    names(many)
                ),
            });
        }
    };
    let mut order = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    let mut at = leaf;
    loop {
        if seen[at] {
            return Err(Error::Chain {
                reason: "the certificates issue each other in a cycle!".to_owned(),
            });
        }
        seen[at] = true;
        order.push(at);
        match parents[at].first() {
            Some(p) => at = *p,
            None => break,
        }
    }
    if order.len() != n {
        let missing: Vec<usize> = (0..n).filter(|i| !seen[*i]).collect();
        return Err(Error::Chain {
            reason: format!(
                "the certificates {} are not part of the chain of the leaf {}!",
                names(&missing),
                name(leaf)
            ),
        });
    }
    let mut slots: Vec<Option<Certificate>> = unique.into_iter().map(Some).collect();
    Ok(order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::fixture;

    #[test]
    fn attribute_keyword_table_der_matches_dotted() {
        for (dotted, der, _) in ATTRIBUTE_KEYWORDS {
            let oid = x509_parser::asn1_rs::Oid::new(std::borrow::Cow::Borrowed(*der));
            assert_eq!(oid.to_id_string(), *dotted);
        }
    }

    fn one(name: &str) -> Certificate {
        let mut v = parse_certificates(&fixture(name)).unwrap();
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn pem_der_and_bare_base64_give_the_same_certificate() {
        let pem = one("rsa2048.pem");
        let der = one("rsa2048.der");
        assert_eq!(pem, der);
        let bare = b64::standard(&der.der);
        assert_eq!(one_from(bare.as_bytes()), der);
        // bare base64 folded over lines, with CRLF
        let folded: String = bare
            .as_bytes()
            .chunks(64)
            .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(one_from(folded.as_bytes()), der);
        // CRLF PEM
        let crlf = String::from_utf8(fixture("rsa2048.pem"))
            .unwrap()
            .replace('\n', "\r\n");
        assert_eq!(one_from(crlf.as_bytes()), der);
    }

    fn one_from(input: &[u8]) -> Certificate {
        let mut v = parse_certificates(input).unwrap();
        assert_eq!(v.len(), 1);
        v.remove(0)
    }

    #[test]
    fn fields_of_a_certificate() {
        let c = one("rsa2048.pem");
        assert_eq!(c.subject_dn, "CN=keyward rsa2048, O=keyward fixtures");
        assert_eq!(c.issuer_dn, c.subject_dn);
        assert_eq!(c.sha1_thumbprint.len(), 40);
        assert!(
            c.sha1_thumbprint
                .chars()
                .all(|ch| ch.is_ascii_digit() || ('A'..='F').contains(&ch))
        );
        assert_eq!(c.sha1_thumbprint, upper_hex(&Sha1::digest(&c.der)));
        assert!(c.not_after > c.not_before);
        assert_eq!((c.not_after - c.not_before).whole_days(), 3650);
        // the SPKI is a complete DER SEQUENCE inside the certificate
        assert_eq!(c.spki_der[0], 0x30);
        assert!(c.der.windows(c.spki_der.len()).any(|w| w == c.spki_der));
    }

    #[test]
    fn rfc7517_appendix_b_names_are_most_specific_first() {
        let c = one("rfc/rfc7517-appendix-b.pem");
        assert_eq!(
            c.subject_dn,
            "CN=Brian Campbell, O=Ping Identity Corp., L=Denver, ST=CO, C=US"
        );
        assert_eq!(c.not_before.year(), 2013);
        assert_eq!(c.not_after.year(), 2018);
    }

    #[test]
    fn several_pem_blocks() {
        let v = parse_certificates(&fixture("chain-root-first.pem")).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].subject_dn, "CN=keyward chain root, O=keyward fixtures");
        assert_eq!(v[2].subject_dn, "CN=keyward chain leaf, O=keyward fixtures");
    }

    #[test]
    fn private_key_blocks_are_refused_by_label() {
        let mut input = fixture("rsa2048.pem");
        input.extend_from_slice(&fixture("rsa2048.key"));
        let err = parse_certificates(&input).unwrap_err();
        assert_eq!(
            err,
            Error::NotOnlyCertificates {
                label: "PRIVATE KEY".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "pemEncodedFile must contain only certificates (-----BEGIN CERTIFICATE-----), but a \"PRIVATE KEY\" block was found!"
        );
        assert!(matches!(
            parse_certificates(&fixture("p256.key")),
            Err(Error::NotOnlyCertificates { .. })
        ));
    }

    #[test]
    fn bad_inputs_have_messages() {
        assert_eq!(parse_certificates(b"").unwrap_err(), Error::Empty);
        assert_eq!(parse_certificates(b" \r\n\t").unwrap_err(), Error::Empty);
        assert_eq!(
            parse_certificates(b"").unwrap_err().to_string(),
            "pemEncodedFile value can not be empty!"
        );
        let garbage = parse_certificates(&fixture("garbage.pem")).unwrap_err();
        assert_eq!(
            garbage,
            Error::PemBadBase64 {
                label: "CERTIFICATE".into()
            }
        );
        let truncated = parse_certificates(&fixture("truncated.der")).unwrap_err();
        assert_eq!(
            truncated.to_string(),
            "pemEncodedFile does not contain a valid X.509 certificate: the DER data is truncated"
        );
        let mut trailing = fixture("rsa2048.der");
        trailing.extend_from_slice(b"junk");
        assert_eq!(
            parse_certificates(&trailing).unwrap_err().to_string(),
            "pemEncodedFile does not contain a valid X.509 certificate: 4 unexpected bytes follow the certificate"
        );
        let text = parse_certificates(b"hello world").unwrap_err();
        assert!(
            text.to_string()
                .starts_with("pemEncodedFile does not contain a valid X.509 certificate: the input is neither PEM"),
            "{text}"
        );
        // the second of two blocks is broken: the message says which
        let mut two = fixture("p256.pem");
        two.extend_from_slice(
            b"-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n",
        );
        let e = parse_certificates(&two).unwrap_err().to_string();
        assert!(
            e.starts_with("pemEncodedFile does not contain a valid X.509 certificate: PEM block 2 of the input: "),
            "{e}"
        );
        // a PEM CERTIFICATE block holding something else
        let not_cert = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
        let e = parse_certificates(not_cert.as_bytes()).unwrap_err();
        assert!(matches!(e, Error::InvalidCertificate { .. }), "{e}");
        // an SPKI is DER but not a certificate
        let spki = one("p256.pem").spki_der;
        assert!(matches!(
            parse_certificates(&spki),
            Err(Error::InvalidCertificate { .. })
        ));
    }

    #[test]
    fn at_most_sixteen_certificates() {
        let pem = String::from_utf8(fixture("p256.pem")).unwrap();
        assert_eq!(
            parse_certificates(pem.repeat(16).as_bytes()).unwrap().len(),
            16
        );
        assert_eq!(
            parse_certificates(pem.repeat(17).as_bytes()).unwrap_err(),
            Error::TooManyCertificates { max: 16 }
        );
    }

    fn subjects(chain: &[Certificate]) -> Vec<&str> {
        chain.iter().map(|c| c.subject_dn.as_str()).collect()
    }

    const LEAF: &str = "CN=keyward chain leaf, O=keyward fixtures";
    const INTERMEDIATE: &str = "CN=keyward chain intermediate, O=keyward fixtures";
    const ROOT: &str = "CN=keyward chain root, O=keyward fixtures";

    #[test]
    fn chain_in_any_order_comes_out_leaf_first() {
        for f in ["chain-root-first.pem", "chain-shuffled.pem"] {
            let chain = order_leaf_first(parse_certificates(&fixture(f)).unwrap()).unwrap();
            assert_eq!(subjects(&chain), vec![LEAF, INTERMEDIATE, ROOT], "{f}");
        }
        // every permutation of the three
        let certs = parse_certificates(&fixture("chain-root-first.pem")).unwrap();
        for order in [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ] {
            let input: Vec<Certificate> = order.iter().map(|i| certs[*i].clone()).collect();
            let chain = order_leaf_first(input).unwrap();
            assert_eq!(subjects(&chain), vec![LEAF, INTERMEDIATE, ROOT]);
        }
        // a partial chain (no root) is still a chain
        let partial = vec![certs[1].clone(), certs[2].clone()];
        assert_eq!(
            subjects(&order_leaf_first(partial).unwrap()),
            vec![LEAF, INTERMEDIATE]
        );
    }

    #[test]
    fn duplicates_are_dropped_and_one_is_a_chain() {
        let certs = parse_certificates(&fixture("chain-shuffled.pem")).unwrap();
        let mut doubled = certs.clone();
        doubled.extend(certs.clone());
        assert_eq!(order_leaf_first(doubled).unwrap().len(), 3);
        let single = vec![certs[0].clone()];
        assert_eq!(order_leaf_first(single).unwrap().len(), 1);
        assert_eq!(order_leaf_first(Vec::new()).unwrap_err(), Error::EmptyChain);
    }

    #[test]
    fn unrelated_certificate_is_refused() {
        let mut certs = parse_certificates(&fixture("chain-root-first.pem")).unwrap();
        certs.push(one("p256.pem"));
        let err = order_leaf_first(certs).unwrap_err();
        assert_eq!(
            err.to_string(),
            "The certificates do not form a single certificate chain: the certificate \"CN=keyward p256, O=keyward fixtures\" is not related to the other certificates (it neither issued nor was issued by any of them)!"
        );
    }

    #[test]
    fn two_leaves_are_refused() {
        // the ed25519 CA issued both x25519 and x448: two leaves under one issuer
        let certs = vec![one("ed25519.pem"), one("x25519.pem"), one("x448.pem")];
        let err = order_leaf_first(certs).unwrap_err();
        assert!(
            err.to_string()
                .contains("issued more than one of the uploaded certificates"),
            "{err}"
        );
        // two unrelated self-signed certificates
        let err = order_leaf_first(vec![one("p256.pem"), one("p384.pem")]).unwrap_err();
        assert!(matches!(err, Error::Chain { .. }), "{err}");
    }

    #[test]
    fn two_separate_chains_are_refused() {
        let mut certs = parse_certificates(&fixture("chain-shuffled.pem")).unwrap();
        certs.retain(|c| c.subject_dn != ROOT);
        certs.push(one("ed25519.pem"));
        certs.push(one("x25519.pem"));
        let err = order_leaf_first(certs).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "The certificates do not form a single certificate chain: there is more than one leaf certificate (\"{LEAF}\" and \"CN=keyward x25519, O=keyward fixtures\"); upload one chain at a time!"
            )
        );
    }

    #[test]
    fn cycles_are_refused() {
        let certs = parse_certificates(&fixture("chain-cycle.pem")).unwrap();
        assert_eq!(certs.len(), 2);
        let err = order_leaf_first(certs).unwrap_err();
        assert_eq!(
            err.to_string(),
            "The certificates do not form a single certificate chain: the certificates issue each other in a cycle, so there is no leaf certificate!"
        );
    }

    #[test]
    fn names_alone_do_not_link_when_key_identifiers_differ() {
        let a = Links {
            subject: b"A".to_vec(),
            issuer: b"B".to_vec(),
            aki: Some(vec![1]),
            ski: Some(vec![9]),
        };
        let b = Links {
            subject: b"B".to_vec(),
            issuer: b"B".to_vec(),
            aki: None,
            ski: Some(vec![2]),
        };
        assert!(!issued(&b, &a));
        let b_matching = Links {
            ski: Some(vec![1]),
            ..b
        };
        assert!(issued(&b_matching, &a));
        let b_no_ski = Links {
            ski: None,
            ..b_matching
        };
        assert!(
            issued(&b_no_ski, &a),
            "names alone link when a key id is absent"
        );
    }

    #[test]
    fn dn_escaping() {
        assert_eq!(escape_rfc4514("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape_rfc4514(" #x "), "\\ #x\\ ");
        assert_eq!(escape_rfc4514("#x"), "\\#x");
        assert_eq!(escape_rfc4514(""), "");
    }

    #[test]
    fn declared_length() {
        assert_eq!(declared_len(&[0x30, 0x03, 1, 2, 3]), Some(5));
        assert_eq!(declared_len(&[0x30, 0x82, 0x01, 0x00]), Some(4 + 256));
        assert_eq!(declared_len(&[0x30]), None);
        assert_eq!(declared_len(&[0x30, 0x80]), None);
    }
}
