//! A minimal, bounds-checked DER reader: just enough to walk the outer layers of PKCS#12 and
//! `EncryptedPrivateKeyInfo` without trusting any length. Definite lengths only (DER).

use crate::Error;

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const OID: u8 = 0x06;
pub(crate) const CTX0: u8 = 0xA0;
pub(crate) const CTX1: u8 = 0xA1;

/// One TLV: its tag, its value and its complete encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

/// A cursor over a run of TLVs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8], what: &'static str) -> Self {
        Self { rest: input, what }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn err(&self) -> Error {
        Error::malformed(format!("the {} is not valid DER", self.what))
    }

    /// The next TLV, any tag.
    pub(crate) fn any(&mut self) -> Result<Tlv<'a>, Error> {
        let input = self.rest;
        let (&tag, after_tag) = input.split_first().ok_or_else(|| self.err())?;
        if tag & 0x1F == 0x1F {
            // High tag numbers never occur in the structures read here.
            return Err(self.err());
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or_else(|| self.err())?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 || n > 4 {
                // 0x80 is BER's indefinite length; more than 4 length octets cannot fit.
                return Err(self.err());
            }
            let bytes = after_len.get(..n).ok_or_else(|| self.err())?;
            after_len = after_len.get(n..).ok_or_else(|| self.err())?;
            bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if len > after_len.len() {
            return Err(self.err());
        }
        let (value, rest) = after_len.split_at(len);
        let header = input.len() - after_len.len();
        let raw = input.get(..header + len).ok_or_else(|| self.err())?;
        self.rest = rest;
        Ok(Tlv { tag, value, raw })
    }

    /// The next TLV, which must carry `tag`.
    pub(crate) fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, Error> {
        let tlv = self.any()?;
        if tlv.tag != tag {
            return Err(self.err());
        }
        Ok(tlv)
    }

    /// The next TLV if it carries `tag`; nothing consumed otherwise.
    pub(crate) fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, Error> {
        match self.rest.first() {
            Some(&t) if t == tag => self.expect(tag).map(Some),
            _ => Ok(None),
        }
    }

    /// A reader over the value of the next TLV, which must carry `tag` (a constructed type).
    pub(crate) fn nested(&mut self, tag: u8) -> Result<Reader<'a>, Error> {
        let tlv = self.expect(tag)?;
        Ok(Reader::new(tlv.value, self.what))
    }

    /// The rest must be empty.
    pub(crate) fn finish(&self) -> Result<(), Error> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.err())
        }
    }

    /// A non-negative INTEGER as u64, saturating at `u64::MAX` for larger values.
    pub(crate) fn uint_saturating(&mut self) -> Result<u64, Error> {
        let tlv = self.expect(INTEGER)?;
        let v = tlv.value;
        match v.first() {
            None => return Err(self.err()),
            Some(&b) if b & 0x80 != 0 => return Err(self.err()),
            _ => {}
        }
        let significant: &[u8] = {
            let zeros = v.iter().take_while(|&&b| b == 0).count();
            v.get(zeros..).unwrap_or_default()
        };
        if significant.len() > 8 {
            return Ok(u64::MAX);
        }
        Ok(significant
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

/// Reads the single TLV spanning all of `input`.
pub(crate) fn single<'a>(input: &'a [u8], tag: u8, what: &'static str) -> Result<Tlv<'a>, Error> {
    let mut r = Reader::new(input, what);
    let tlv = r.expect(tag)?;
    r.finish()?;
    Ok(tlv)
}

/// DER encoding of the length `len`.
pub(crate) fn encode_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// Dotted text of a DER OID value (for error messages). Malformed content gives `?`.
pub(crate) fn oid_text(value: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in value.iter().take(64) {
        if acc > (u64::MAX >> 7) {
            return "?".into();
        }
        acc = (acc << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let (first, second) = match acc {
                    0..=39 => (0, acc),
                    40..=79 => (1, acc - 40),
                    _ => (2, acc - 80),
                };
                arcs.push(first);
                arcs.push(second);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    if arcs.is_empty() {
        return "?".into();
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_text_known() {
        // 1.2.840.113549.1.12.1.3
        let v = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x0C, 0x01, 0x03];
        assert_eq!(oid_text(&v), "1.2.840.113549.1.12.1.3");
    }

    #[test]
    fn lengths() {
        let mut r = Reader::new(&[0x30, 0x82, 0x00, 0x01, 0x05], "test");
        let t = r.any().unwrap();
        assert_eq!(t.value, &[0x05]);
        assert!(Reader::new(&[0x30, 0x80, 0, 0], "t").any().is_err());
        assert!(
            Reader::new(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF], "t")
                .any()
                .is_err()
        );
        let mut out = Vec::new();
        encode_len(300, &mut out);
        assert_eq!(out, [0x82, 0x01, 0x2C]);
    }

    #[test]
    fn integers() {
        let mut r = Reader::new(&[0x02, 0x03, 0x00, 0x98, 0x96], "t");
        assert_eq!(r.uint_saturating().unwrap(), 0x9896);
        let mut r = Reader::new(&[0x02, 0x01, 0x80], "t");
        assert!(r.uint_saturating().is_err());
        let mut r = Reader::new(&[0x02, 0x09, 1, 0, 0, 0, 0, 0, 0, 0, 0], "t");
        assert_eq!(r.uint_saturating().unwrap(), u64::MAX);
    }
}
