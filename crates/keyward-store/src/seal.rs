//! Encryption at rest: the envelope every secret the store keeps is sealed in.
//!
//! Each record gets its own random 256-bit data key (DEK). The payload is encrypted with
//! AES-256-GCM under the DEK (random 96-bit nonce); the additional data binds the project,
//! environment, table, field and object the record belongs to, so a ciphertext moved to another
//! row does not open. The DEK itself is encrypted with AES-256-GCM under a key-encryption key (KEK)
//! with additional data `kek_id ‖ record type ‖ record id`. Rotating the KEK re-wraps the DEK only
//! ([`Keyring::rewrap`]); the payload ciphertext is untouched.
//!
//! Stored form (version 1):
//!
//! ```text
//! 0x01 ‖ kek_id (8) ‖ wrap nonce (12) ‖ wrapped DEK (32 + 16 tag) ‖ nonce (12) ‖ ciphertext ‖ tag (16)
//! ```
//!
//! A KEK is identified by `kek_id`, the first 8 bytes of `SHA-256("keyward kek id" ‖ key)`, so a
//! record names the key that opens it without revealing anything about that key.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64ct::{Base64, Encoding};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// The version byte every sealed record starts with.
pub const VERSION: u8 = 1;
const ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const WRAPPED_LEN: usize = KEY_LEN + TAG_LEN;
const HEADER_LEN: usize = 1 + ID_LEN + NONCE_LEN + WRAPPED_LEN;
/// Bytes a sealed record adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + NONCE_LEN + TAG_LEN;

/// Identifies a key-encryption key.
pub type KekId = [u8; ID_LEN];

/// Why a sealed record cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Too short, or an unknown version byte.
    #[error("the sealed record is malformed")]
    Malformed,
    /// The record was sealed under a key-encryption key this keyring does not hold.
    #[error("the record is sealed under master key {0}, which was not given")]
    UnknownKey(String),
    /// Authentication failed: the record was altered, moved to another row, or the key is wrong.
    #[error("the sealed record does not authenticate (altered, moved or wrong key)")]
    Rejected,
    /// The store was opened without a keyring.
    #[error("the store has no master key")]
    NoKey,
}

/// Why a master key is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("it is not base64")]
    NotBase64,
    #[error("it decodes to {0} bytes instead of 32")]
    Length(usize),
}

/// A key-encryption key (the master key). Its bytes are wiped when it is dropped.
pub struct Kek {
    id: KekId,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({})", self.id_hex())
    }
}

impl Kek {
    pub fn from_bytes(key: &[u8; KEY_LEN]) -> Kek {
        let mut h = Sha256::new();
        h.update(b"keyward kek id");
        h.update(key);
        let digest = h.finalize();
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest[..ID_LEN]);
        Kek {
            id,
            cipher: Aes256Gcm::new_from_slice(key).expect("32-byte key"),
        }
    }

    /// Parses the base64 text of 32 bytes (standard alphabet, padded; surrounding whitespace such
    /// as a key file's final newline is ignored).
    pub fn from_base64(text: &str) -> Result<Kek, KeyError> {
        let mut buf = Zeroizing::new([0u8; 64]);
        let decoded = Base64::decode(text.trim().as_bytes(), &mut buf[..])
            .map_err(|_| KeyError::NotBase64)?;
        if decoded.len() != KEY_LEN {
            return Err(KeyError::Length(decoded.len()));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(decoded);
        Ok(Kek::from_bytes(&key))
    }

    /// A fresh random key and its base64 text (to be written to a key file).
    pub fn generate() -> (Kek, Zeroizing<String>) {
        let key = Zeroizing::new(random::<KEY_LEN>());
        let text = Zeroizing::new(Base64::encode_string(&key[..]));
        (Kek::from_bytes(&key), text)
    }

    pub fn id(&self) -> KekId {
        self.id
    }

    /// The key id as 16 hex digits (safe to print: it reveals nothing about the key).
    pub fn id_hex(&self) -> String {
        hex(&self.id)
    }
}

/// The hex form of a key id.
pub fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Which row and column a sealed record lives in (what the wrapped DEK is bound to).
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub table: &'a str,
    pub field: &'a str,
    /// The row's primary key.
    pub row: &'a str,
}

/// Everything a sealed payload is bound to.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub record: Record<'a>,
    /// Empty for records that belong to no project (settings).
    pub project: &'a str,
    /// Empty for records that belong to no environment.
    pub environment: &'a str,
    /// The named object (key, keystore, JWK, setting) the record belongs to.
    pub object: &'a str,
}

/// Appends length-prefixed parts, so that no two different part lists encode alike.
fn parts(out: &mut Vec<u8>, parts: &[&[u8]]) {
    for p in parts {
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p);
    }
}

impl Record<'_> {
    fn wrap_aad(&self, kek: &KekId) -> Vec<u8> {
        let mut out = b"keyward dek".to_vec();
        out.push(VERSION);
        parts(
            &mut out,
            &[
                kek,
                self.table.as_bytes(),
                self.field.as_bytes(),
                self.row.as_bytes(),
            ],
        );
        out
    }
}

impl Binding<'_> {
    fn payload_aad(&self) -> Vec<u8> {
        let mut out = b"keyward data".to_vec();
        out.push(VERSION);
        parts(
            &mut out,
            &[
                self.project.as_bytes(),
                self.environment.as_bytes(),
                self.record.table.as_bytes(),
                self.object.as_bytes(),
                self.record.field.as_bytes(),
            ],
        );
        out
    }
}

/// The master key records are sealed under, plus older ones that still open records during a
/// rotation.
#[derive(Debug)]
pub struct Keyring {
    primary: Kek,
    previous: Vec<Kek>,
}

/// The parts of a sealed record.
struct Parsed<'a> {
    kek: KekId,
    wrap_nonce: &'a [u8],
    wrapped: &'a [u8],
    /// Payload nonce ‖ ciphertext ‖ tag.
    body: &'a [u8],
}

fn parse(sealed: &[u8]) -> Result<Parsed<'_>, SealError> {
    if sealed.len() < OVERHEAD || sealed[0] != VERSION {
        return Err(SealError::Malformed);
    }
    let mut kek = [0u8; ID_LEN];
    kek.copy_from_slice(&sealed[1..1 + ID_LEN]);
    let rest = &sealed[1 + ID_LEN..];
    let (wrap_nonce, rest) = rest.split_at(NONCE_LEN);
    let (wrapped, body) = rest.split_at(WRAPPED_LEN);
    Ok(Parsed {
        kek,
        wrap_nonce,
        wrapped,
        body,
    })
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b
}

fn nonce(bytes: &[u8]) -> Nonce<aes_gcm::aead::consts::U12> {
    Nonce::try_from(bytes).expect("12-byte nonce")
}

impl Keyring {
    /// `primary` seals every new record; `previous` keys only open (and are re-wrapped away from
    /// by [`Keyring::rewrap`]). Previous keys equal to the primary are dropped.
    pub fn new(primary: Kek, previous: Vec<Kek>) -> Keyring {
        let mut kept: Vec<Kek> = Vec::new();
        for k in previous {
            if k.id != primary.id && !kept.iter().any(|o| o.id == k.id) {
                kept.push(k);
            }
        }
        Keyring {
            primary,
            previous: kept,
        }
    }

    pub fn primary(&self) -> &Kek {
        &self.primary
    }

    pub fn previous(&self) -> &[Kek] {
        &self.previous
    }

    fn find(&self, id: &KekId) -> Result<&Kek, SealError> {
        std::iter::once(&self.primary)
            .chain(&self.previous)
            .find(|k| &k.id == id)
            .ok_or_else(|| SealError::UnknownKey(hex(id)))
    }

    /// The key id a sealed record names.
    pub fn kek_of(sealed: &[u8]) -> Result<KekId, SealError> {
        Ok(parse(sealed)?.kek)
    }

    /// Seals `plaintext` under a fresh DEK wrapped by the primary key.
    pub fn seal(&self, binding: &Binding<'_>, plaintext: &[u8]) -> Vec<u8> {
        let dek = Zeroizing::new(random::<KEY_LEN>());
        let wrap_nonce = random::<NONCE_LEN>();
        let payload_nonce = random::<NONCE_LEN>();
        let wrapped = self
            .primary
            .cipher
            .encrypt(
                &nonce(&wrap_nonce),
                Payload {
                    msg: &dek[..],
                    aad: &binding.record.wrap_aad(&self.primary.id),
                },
            )
            .expect("AES-GCM encryption of 32 bytes");
        let cipher = Aes256Gcm::new_from_slice(&dek[..]).expect("32-byte key");
        let body = cipher
            .encrypt(
                &nonce(&payload_nonce),
                Payload {
                    msg: plaintext,
                    aad: &binding.payload_aad(),
                },
            )
            .expect("AES-GCM encryption within its size limit");
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
        out.push(VERSION);
        out.extend_from_slice(&self.primary.id);
        out.extend_from_slice(&wrap_nonce);
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&payload_nonce);
        out.extend_from_slice(&body);
        out
    }

    fn unwrap_dek(
        &self,
        record: &Record<'_>,
        p: &Parsed<'_>,
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, SealError> {
        let kek = self.find(&p.kek)?;
        let mut plain = kek
            .cipher
            .decrypt(
                &nonce(p.wrap_nonce),
                Payload {
                    msg: p.wrapped,
                    aad: &record.wrap_aad(&p.kek),
                },
            )
            .map_err(|_| SealError::Rejected)?;
        let mut dek = Zeroizing::new([0u8; KEY_LEN]);
        if plain.len() == KEY_LEN {
            dek.copy_from_slice(&plain);
        }
        let ok = plain.len() == KEY_LEN;
        plain.zeroize();
        if ok {
            Ok(dek)
        } else {
            Err(SealError::Rejected)
        }
    }

    /// Opens a record sealed by [`Keyring::seal`] with the same binding.
    pub fn open(
        &self,
        binding: &Binding<'_>,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let p = parse(sealed)?;
        let dek = self.unwrap_dek(&binding.record, &p)?;
        let cipher = Aes256Gcm::new_from_slice(&dek[..]).expect("32-byte key");
        let (payload_nonce, body) = p.body.split_at(NONCE_LEN);
        cipher
            .decrypt(
                &nonce(payload_nonce),
                Payload {
                    msg: body,
                    aad: &binding.payload_aad(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Rejected)
    }

    /// Re-wraps a record's DEK under the primary key (payload untouched). `None` when it already
    /// is under the primary key.
    pub fn rewrap(&self, record: &Record<'_>, sealed: &[u8]) -> Result<Option<Vec<u8>>, SealError> {
        let p = parse(sealed)?;
        if p.kek == self.primary.id {
            return Ok(None);
        }
        let dek = self.unwrap_dek(record, &p)?;
        let wrap_nonce = random::<NONCE_LEN>();
        let wrapped = self
            .primary
            .cipher
            .encrypt(
                &nonce(&wrap_nonce),
                Payload {
                    msg: &dek[..],
                    aad: &record.wrap_aad(&self.primary.id),
                },
            )
            .expect("AES-GCM encryption of 32 bytes");
        let mut out = Vec::with_capacity(sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&self.primary.id);
        out.extend_from_slice(&wrap_nonce);
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(p.body);
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Kek {
        Kek::from_bytes(&[byte; 32])
    }

    fn binding<'a>(row: &'a str, environment: &'a str) -> Binding<'a> {
        Binding {
            record: Record {
                table: "crypto_key_entries",
                field: "content",
                row,
            },
            project: "p1",
            environment,
            object: "k1",
        }
    }

    #[test]
    fn round_trip() {
        let ring = Keyring::new(key(1), Vec::new());
        let b = binding("r1", "e1");
        let plain = b"-----BEGIN PRIVATE KEY-----secret";
        let sealed = ring.seal(&b, plain);
        assert_eq!(sealed.len(), plain.len() + OVERHEAD);
        assert_eq!(sealed[0], VERSION);
        assert!(!sealed.windows(8).any(|w| plain.windows(8).any(|p| p == w)));
        assert_eq!(&ring.open(&b, &sealed).unwrap()[..], plain);
        // Two seals of the same plaintext differ (fresh DEK and nonces).
        assert_ne!(ring.seal(&b, plain), sealed);
        // Empty plaintexts work too.
        assert!(ring.open(&b, &ring.seal(&b, b"")).unwrap().is_empty());
    }

    #[test]
    fn moved_between_rows_is_refused() {
        let ring = Keyring::new(key(1), Vec::new());
        let sealed = ring.seal(&binding("r1", "e1"), b"secret");
        // Another row id (the wrapped DEK is bound to it).
        assert_eq!(
            ring.open(&binding("r2", "e1"), &sealed),
            Err(SealError::Rejected)
        );
        // Same row id, another environment (the payload is bound to it).
        assert_eq!(
            ring.open(&binding("r1", "e2"), &sealed),
            Err(SealError::Rejected)
        );
        // Another field.
        let mut other = binding("r1", "e1");
        other.record.field = "file";
        assert_eq!(ring.open(&other, &sealed), Err(SealError::Rejected));
        let mut other = binding("r1", "e1");
        other.project = "p2";
        assert_eq!(ring.open(&other, &sealed), Err(SealError::Rejected));
        let mut other = binding("r1", "e1");
        other.object = "k2";
        assert_eq!(ring.open(&other, &sealed), Err(SealError::Rejected));
    }

    #[test]
    fn every_tampered_byte_is_refused() {
        let ring = Keyring::new(key(1), Vec::new());
        let b = binding("r1", "e1");
        let sealed = ring.seal(&b, b"secret material");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(ring.open(&b, &bad).is_err(), "byte {i} flipped yet opened");
        }
        assert_eq!(ring.open(&b, &sealed[..10]), Err(SealError::Malformed));
        assert_eq!(
            ring.open(&b, &sealed[..sealed.len() - 1]).unwrap_err(),
            SealError::Rejected
        );
    }

    #[test]
    fn wrong_key_is_refused() {
        let b = binding("r1", "e1");
        let sealed = Keyring::new(key(1), Vec::new()).seal(&b, b"secret");
        let other = Keyring::new(key(2), Vec::new());
        assert_eq!(
            other.open(&b, &sealed),
            Err(SealError::UnknownKey(key(1).id_hex()))
        );
        // A record claiming the other key's id still does not open with it.
        let mut forged = sealed.clone();
        forged[1..9].copy_from_slice(&key(2).id());
        assert_eq!(other.open(&b, &forged), Err(SealError::Rejected));
    }

    #[test]
    fn rewrap_moves_records_to_the_new_key() {
        let b = binding("r1", "e1");
        let old = Keyring::new(key(1), Vec::new());
        let sealed = old.seal(&b, b"secret");
        let both = Keyring::new(key(2), vec![key(1)]);
        // During the rotation both keys open it.
        assert_eq!(&both.open(&b, &sealed).unwrap()[..], b"secret");
        let moved = both.rewrap(&b.record, &sealed).unwrap().unwrap();
        // The payload is untouched, only the wrapped DEK changed.
        assert_eq!(moved[HEADER_LEN..], sealed[HEADER_LEN..]);
        assert_eq!(both.rewrap(&b.record, &moved).unwrap(), None);
        let new_only = Keyring::new(key(2), Vec::new());
        assert_eq!(&new_only.open(&b, &moved).unwrap()[..], b"secret");
        assert!(old.open(&b, &moved).is_err());
        // Re-wrapping binds to the row, too.
        let mut elsewhere = b.record;
        elsewhere.row = "r2";
        assert_eq!(both.rewrap(&elsewhere, &sealed), Err(SealError::Rejected));
    }

    #[test]
    fn key_text() {
        let (kek, text) = Kek::generate();
        let again = Kek::from_base64(&format!("{}\n", text.as_str())).unwrap();
        assert_eq!(again.id(), kek.id());
        assert_eq!(
            Kek::from_base64("not base64!").map(|k| k.id()),
            Err(KeyError::NotBase64)
        );
        assert_eq!(
            Kek::from_base64("AAAA").map(|k| k.id()),
            Err(KeyError::Length(3))
        );
        assert_eq!(kek.id_hex().len(), 16);
        assert!(!format!("{kek:?}").contains(text.as_str()));
    }
}
