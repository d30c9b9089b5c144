//! A bounds-checked big-endian byte cursor (Java `DataInputStream` semantics).

use crate::Error;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(input: &'a [u8], what: &'static str) -> Self {
        Self {
            input,
            pos: 0,
            what,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    pub(crate) fn truncated(&self) -> Error {
        Error::malformed(format!("the {} ends too early", self.what))
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.truncated())?;
        let out = self
            .input
            .get(self.pos..end)
            .ok_or_else(|| self.truncated())?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A Java `int` length: non-negative and no longer than what is left.
    pub(crate) fn len_u32(&mut self) -> Result<usize, Error> {
        let n = self.u32()?;
        if n > i32::MAX as u32 {
            return Err(Error::malformed(format!(
                "the {} holds a negative length",
                self.what
            )));
        }
        let n = n as usize;
        if n > self.remaining() {
            return Err(self.truncated());
        }
        Ok(n)
    }

    /// `DataInput.readUTF`: u16 length, then Java modified UTF-8.
    pub(crate) fn utf(&mut self) -> Result<String, Error> {
        let len = usize::from(self.u16()?);
        let bytes = self.take(len)?;
        modified_utf8(bytes).ok_or_else(|| {
            Error::malformed(format!(
                "the {} holds a name that is not valid text",
                self.what
            ))
        })
    }
}

/// Decodes Java's modified UTF-8 (CESU-8 with `C0 80` for NUL). Unpaired surrogates fail.
pub(crate) fn modified_utf8(bytes: &[u8]) -> Option<String> {
    let mut units: Vec<u16> = Vec::new();
    let mut i = 0;
    while let Some(&a) = bytes.get(i) {
        let a = u16::from(a);
        if a < 0x80 {
            units.push(a);
            i += 1;
        } else if a & 0xE0 == 0xC0 {
            let b = u16::from(*bytes.get(i + 1)?);
            if b & 0xC0 != 0x80 {
                return None;
            }
            units.push(((a & 0x1F) << 6) | (b & 0x3F));
            i += 2;
        } else if a & 0xF0 == 0xE0 {
            let b = u16::from(*bytes.get(i + 1)?);
            let c = u16::from(*bytes.get(i + 2)?);
            if b & 0xC0 != 0x80 || c & 0xC0 != 0x80 {
                return None;
            }
            units.push(((a & 0x0F) << 12) | ((b & 0x3F) << 6) | (c & 0x3F));
            i += 3;
        } else {
            return None;
        }
    }
    String::from_utf16(&units).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_utf8_cases() {
        assert_eq!(modified_utf8(b"abc").as_deref(), Some("abc"));
        assert_eq!(modified_utf8(&[0xC0, 0x80]).as_deref(), Some("\0"));
        assert_eq!(modified_utf8("é€".as_bytes()).as_deref(), Some("é€"));
        // U+1F600 as a CESU-8 surrogate pair.
        assert_eq!(
            modified_utf8(&[0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80]).as_deref(),
            Some("\u{1F600}")
        );
        assert!(modified_utf8(&[0xED, 0xA0, 0xBD]).is_none());
        assert!(modified_utf8(&[0xC3]).is_none());
        assert!(modified_utf8(&[0xF0, 0x9F, 0x98, 0x80]).is_none());
    }

    #[test]
    fn bounds() {
        let mut c = Cursor::new(&[0, 0, 0, 5, 1], "t");
        assert!(c.len_u32().is_err());
        let mut c = Cursor::new(&[0xFF, 0xFF, 0xFF, 0xFF], "t");
        assert!(c.len_u32().is_err());
        let mut c = Cursor::new(&[0, 2, b'h'], "t");
        assert!(c.utf().is_err());
    }
}
