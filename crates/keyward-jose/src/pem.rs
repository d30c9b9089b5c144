//! Tolerant multi-block PEM scanner (RFC 7468).
//!
//! What users upload is rarely textbook PEM: bundles with several blocks, "Bag Attributes" text
//! between them (OpenSSL `pkcs12` output), CRLF line ends, a block pasted onto one line. The
//! scanner is driven by the encapsulation boundaries (RFC 7468 §2), not by lines:
//!
//! - anything outside `-----BEGIN <label>-----` … `-----END <label>-----` is ignored
//!   (RFC 7468 §2 "parsers SHOULD ignore whitespace and other non-base64 characters" between
//!   blocks; we ignore any text there);
//! - inside a block, ASCII whitespace is ignored anywhere (RFC 7468 §3, lax parsing);
//! - RFC 1421 headers (`Proc-Type:`, `DEK-Info:`) are refused with their own error, since
//!   they mean a legacy encrypted key;
//! - a block whose body is not base64 is refused with an error naming the block's label;
//! - a BEGIN without its END (the same label, RFC 7468 §2) is refused.
//!
//! The scanner never panics and never allocates more than the input size per block.

use crate::b64;
use crate::error::Error;

/// One PEM block: its label and its decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label between `BEGIN ` and the closing dashes, e.g. `CERTIFICATE`.
    pub label: String,
    /// The decoded body (DER for every label in use).
    pub der: Vec<u8>,
}

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";
/// Labels longer than this are not labels (RFC 7468 labels are short words).
const MAX_LABEL: usize = 64;

/// Encodes one PEM block (RFC 7468 §2): standard base64 wrapped at 64 columns, `\n` line ends.
pub fn encode(label: &str, der: &[u8]) -> String {
    let body = b64::standard(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in body.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Scan `input` for PEM blocks, in order.
///
/// Returns an empty list when the input holds no BEGIN line at all.
pub fn scan(input: &[u8]) -> Result<Vec<PemBlock>, Error> {
    scan_limited(input, usize::MAX).map(|(blocks, _)| blocks)
}

/// Like [`scan`], but stops after `max` blocks. The flag tells whether more blocks followed.
pub(crate) fn scan_limited(input: &[u8], max: usize) -> Result<(Vec<PemBlock>, bool), Error> {
    let mut blocks = Vec::new();
    let mut rest = input;
    while let Some(start) = find(rest, BEGIN) {
        if blocks.len() >= max {
            return Ok((blocks, true));
        }
        let after_begin = &rest[start + BEGIN.len()..];
        let label_end = find(after_begin, DASHES).ok_or(Error::PemMalformed)?;
        let label_bytes = &after_begin[..label_end];
        if label_bytes.len() > MAX_LABEL || label_bytes.iter().any(|b| !(0x20..0x7f).contains(b)) {
            return Err(Error::PemMalformed);
        }
        // Printable ASCII only, so this conversion cannot fail; map just in case.
        let label = String::from_utf8(label_bytes.to_vec()).map_err(|_| Error::PemMalformed)?;
        let label = label.trim().to_owned();
        if label.is_empty() {
            return Err(Error::PemMalformed);
        }
        let body_and_rest = &after_begin[label_end + DASHES.len()..];

        // Find the END boundary of this block: "-----END " + label + "-----".
        let mut end_marker = Vec::with_capacity(END.len() + label.len() + DASHES.len());
        end_marker.extend_from_slice(END);
        end_marker.extend_from_slice(label.as_bytes());
        end_marker.extend_from_slice(DASHES);
        let Some(body_len) = find(body_and_rest, &end_marker) else {
            return Err(Error::PemMissingEnd { label });
        };
        let body = &body_and_rest[..body_len];
        // A BEGIN (or an END of another label) inside the body means this block never ended.
        if find(body, BEGIN).is_some() || find(body, END).is_some() {
            return Err(Error::PemMissingEnd { label });
        }
        if body.contains(&b':') {
            return Err(Error::PemHeaders { label });
        }
        if body.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(Error::PemEmptyBlock { label });
        }
        let der = b64::decode_standard_lenient_bytes(body).map_err(|_| Error::PemBadBase64 {
            label: label.clone(),
        })?;
        blocks.push(PemBlock { label, der });
        rest = &body_and_rest[body_len + end_marker.len()..];
    }
    Ok((blocks, false))
}

/// Position of the first occurrence of `needle` in `haystack`.
///
/// Jumps between occurrences of the needle's first byte (`-` for every boundary, a byte that
/// base64 bodies never contain), so a scan is one pass over the input.
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    let mut from = 0;
    while let Some(offset) = haystack.get(from..)?.iter().position(|b| *b == first) {
        let at = from + offset;
        // No room left for the needle here means no room at any later position either.
        if haystack.get(at..at + needle.len())? == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "-----BEGIN CERTIFICATE-----\nYWJj\n-----END CERTIFICATE-----\n";

    #[test]
    fn single_block() {
        let blocks = scan(ONE.as_bytes()).unwrap();
        assert_eq!(
            blocks,
            vec![PemBlock {
                label: "CERTIFICATE".into(),
                der: b"abc".to_vec()
            }]
        );
    }

    #[test]
    fn several_blocks_text_between_and_crlf() {
        let input = "Bag Attributes\r\n    localKeyID: 01 02\r\n-----BEGIN CERTIFICATE-----\r\nYW\r\nJj\r\n-----END CERTIFICATE-----\r\nsubject=CN = x\r\n-----BEGIN PRIVATE KEY-----\r\nZGVm\r\n-----END PRIVATE KEY-----\r\ntrailing";
        let blocks = scan(input.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "CERTIFICATE");
        assert_eq!(blocks[0].der, b"abc");
        assert_eq!(blocks[1].label, "PRIVATE KEY");
        assert_eq!(blocks[1].der, b"def");
    }

    #[test]
    fn block_on_one_line() {
        let input = "-----BEGIN CERTIFICATE----- YWJj -----END CERTIFICATE-----";
        assert_eq!(scan(input.as_bytes()).unwrap()[0].der, b"abc");
    }

    #[test]
    fn no_block_is_an_empty_list() {
        assert!(scan(b"hello").unwrap().is_empty());
        assert!(scan(b"").unwrap().is_empty());
    }

    #[test]
    fn bad_base64_names_the_label() {
        let input = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        let err = scan(input.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            Error::PemBadBase64 {
                label: "CERTIFICATE".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "The PEM block \"CERTIFICATE\" does not contain valid base64 content!"
        );
    }

    #[test]
    fn begin_without_end() {
        let input = "-----BEGIN CERTIFICATE-----\nYWJj\n";
        assert_eq!(
            scan(input.as_bytes()).unwrap_err(),
            Error::PemMissingEnd {
                label: "CERTIFICATE".into()
            }
        );
        // END of another label does not close the block
        let input = "-----BEGIN CERTIFICATE-----\nYWJj\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            scan(input.as_bytes()),
            Err(Error::PemMissingEnd { .. })
        ));
        // a second BEGIN before the END
        let input = "-----BEGIN CERTIFICATE-----\nYWJj\n-----BEGIN CERTIFICATE-----\nYWJj\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            scan(input.as_bytes()),
            Err(Error::PemMissingEnd { .. })
        ));
    }

    #[test]
    fn headers_are_refused() {
        let input = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nYWJj\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(
            scan(input.as_bytes()).unwrap_err(),
            Error::PemHeaders {
                label: "RSA PRIVATE KEY".into()
            }
        );
    }

    #[test]
    fn malformed_and_empty() {
        assert_eq!(
            scan(b"-----BEGIN CERTIFICATE\nYWJj").unwrap_err(),
            Error::PemMalformed
        );
        assert_eq!(
            scan(b"-----BEGIN -----\n-----END -----").unwrap_err(),
            Error::PemMalformed
        );
        assert!(matches!(
            scan(b"-----BEGIN X-----\n \n-----END X-----"),
            Err(Error::PemEmptyBlock { .. })
        ));
    }

    #[test]
    fn limited_scan_reports_more() {
        let input = ONE.repeat(3);
        let (blocks, more) = scan_limited(input.as_bytes(), 2).unwrap();
        assert_eq!(blocks.len(), 2);
        assert!(more);
        let (blocks, more) = scan_limited(input.as_bytes(), 3).unwrap();
        assert_eq!(blocks.len(), 3);
        assert!(!more);
    }

    #[test]
    fn encode_round_trips_and_wraps_at_64() {
        let der: Vec<u8> = (0..=255u8).collect();
        let text = encode("CERTIFICATE", &der);
        assert!(text.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(text.ends_with("-----END CERTIFICATE-----\n"));
        assert!(
            text.lines()
                .all(|l| l.len() <= 64 || l.starts_with("-----"))
        );
        assert_eq!(
            scan(text.as_bytes()).unwrap(),
            vec![PemBlock {
                label: "CERTIFICATE".into(),
                der
            }]
        );
    }

    #[test]
    fn find_positions() {
        assert_eq!(find(b"ab-----c", b"-----"), Some(2));
        assert_eq!(find(b"-- -----", b"-----"), Some(3));
        assert_eq!(find(b"----", b"-----"), None);
        assert_eq!(find(b"", b"-"), None);
        assert_eq!(find(b"abc", b""), None);
        assert_eq!(find(b"xx-", b"-y"), None);
    }

    #[test]
    fn non_utf8_input_never_panics() {
        let mut input = b"-----BEGIN CERTIFICATE-----\n".to_vec();
        input.extend_from_slice(&[0xff, 0xfe, 0x00]);
        input.extend_from_slice(b"\n-----END CERTIFICATE-----");
        assert!(scan(&input).is_err());
        assert!(scan(&[0xff; 100]).unwrap().is_empty());
    }
}
