//! keyward-keystore: the pure keystore reader of keyward.
//!
//! It opens the keystore files users upload — PKCS#12 (`.p12`/`.pfx`), Java JKS and JCEKS — and
//! hands back their entries as raw DER: unencrypted PKCS#8 private keys with their certificate
//! chains (leaf first), trusted certificates, and secret keys. Turning those into JWKs is the
//! job of `keyward-jose`; this crate knows nothing about JOSE.
//!
//! Invariants of the whole crate:
//! - **No I/O, no async, no global state**; no unsafe code.
//! - **No panic on any input.** Every length read from the input is checked against what is
//!   left and against [`Limits`] before anything is allocated; failures are [`Error`] values
//!   whose `Display` is a complete sentence for an API user. Tests feed every prefix and
//!   thousands of bit flips of every fixture, and random bytes, to [`open`].
//! - **Bounded work.** Input size, entry count and every KDF/MAC iteration count are capped by
//!   [`Limits`], and the caps are checked *before* any key derivation: a PKCS#12 file with a
//!   10,000,000-iteration MAC is refused without deriving anything.
//! - **Integrity first.** JKS/JCEKS: the SHA-1 integrity digest is verified over the whole file
//!   before any entry is parsed; PKCS#12: the MAC is verified (by `p12-keystore`) before any bag
//!   is decrypted.
//!
//! Module map: [`open`] and [`detect`] here; `pkcs12` (pre-scan + `p12-keystore`), `jks`
//! (in-house JKS/JCEKS reader), `javaser` (a minimal Java deserializer for JCEKS secret keys),
//! `der` and `cursor` (bounds-checked readers), [`error`].

#![forbid(unsafe_code)]
// No unwrap/expect/panic outside tests: failures are values (see the invariants above).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::indexing_slicing
    )
)]

mod cursor;
mod der;
pub mod error;
mod javaser;
mod jks;
mod pkcs12;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use error::Error;
pub use jks::MAX_CHAIN_LEN;

/// The keystore formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeystoreType {
    /// Java `JKS` (magic `FEEDFEED`).
    Jks,
    /// Java `JCEKS` (magic `CECECECE`). Not an API name: detected from the magic; a file
    /// declared `JKS` may be JCEKS.
    Jceks,
    /// PKCS#12 / PFX (a DER SEQUENCE).
    Pkcs12,
}

impl KeystoreType {
    /// The name as the API (and Java) spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            KeystoreType::Jks => "JKS",
            KeystoreType::Jceks => "JCEKS",
            KeystoreType::Pkcs12 => "PKCS12",
        }
    }
}

impl fmt::Display for KeystoreType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeystoreType {
    type Err = Error;

    /// The API's `keyStoreType` values, case-sensitive: `JKS` or `PKCS12`.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "JKS" => Ok(KeystoreType::Jks),
            "PKCS12" => Ok(KeystoreType::Pkcs12),
            other => Err(Error::UnknownType(other.to_owned())),
        }
    }
}

/// The content of an opened keystore, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Keystore {
    /// Every entry.
    pub entries: Vec<Entry>,
}

/// One keystore entry.
#[derive(Clone, PartialEq, Eq)]
pub enum Entry {
    /// A private key and its certificate chain.
    PrivateKey {
        /// The alias (JKS/JCEKS: as stored, keytool lowercases; PKCS#12: friendlyName or a
        /// stand-in, see [`open`]).
        alias: String,
        /// The decrypted key as unencrypted PKCS#8 `PrivateKeyInfo` DER, byte for byte as stored.
        pkcs8_der: Vec<u8>,
        /// X.509 certificates, DER, leaf first (possibly empty).
        chain_der: Vec<Vec<u8>>,
    },
    /// A trusted certificate (X.509 DER).
    TrustedCertificate {
        /// The alias.
        alias: String,
        /// The certificate DER.
        der: Vec<u8>,
    },
    /// A secret key (JCEKS secret entries, PKCS#12 secret bags).
    SecretKey {
        /// The alias.
        alias: String,
        /// Java algorithm name (`AES`, `DESede`, `HmacSHA256`, ...) or a dotted OID.
        algorithm: String,
        /// The raw key bytes.
        key: Vec<u8>,
    },
}

impl Entry {
    /// The entry's alias.
    pub fn alias(&self) -> &str {
        match self {
            Entry::PrivateKey { alias, .. }
            | Entry::TrustedCertificate { alias, .. }
            | Entry::SecretKey { alias, .. } => alias,
        }
    }
}

/// Key material never appears in debug output.
impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::PrivateKey {
                alias, chain_der, ..
            } => f
                .debug_struct("PrivateKey")
                .field("alias", alias)
                .field("pkcs8_der", &"<redacted>")
                .field("chain_len", &chain_der.len())
                .finish(),
            Entry::TrustedCertificate { alias, der } => f
                .debug_struct("TrustedCertificate")
                .field("alias", alias)
                .field("der_len", &der.len())
                .finish(),
            Entry::SecretKey {
                alias, algorithm, ..
            } => f
                .debug_struct("SecretKey")
                .field("alias", alias)
                .field("algorithm", algorithm)
                .field("key", &"<redacted>")
                .finish(),
        }
    }
}

impl Keystore {
    /// The entry with this alias: exact match first, then ASCII case-insensitive (Java's
    /// keystores treat aliases case-insensitively and keytool stores them lowercased).
    pub fn entry(&self, alias: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.alias() == alias)
            .or_else(|| {
                self.entries
                    .iter()
                    .find(|e| e.alias().eq_ignore_ascii_case(alias))
            })
    }

    /// Every alias, in file order.
    pub fn aliases(&self) -> Vec<&str> {
        self.entries.iter().map(Entry::alias).collect()
    }

    /// Like [`Keystore::entry`], but a missing alias is the API error
    /// `Alias (x) is not found in the keystore! Aliases: a, b`.
    pub fn require(&self, alias: &str) -> Result<&Entry, Error> {
        self.entry(alias).ok_or_else(|| Error::AliasNotFound {
            alias: alias.to_owned(),
            available: if self.entries.is_empty() {
                "none".to_owned()
            } else {
                self.aliases().join(", ")
            },
        })
    }
}

/// Caps on the work [`open`] may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted file.
    pub max_bytes: usize,
    /// Most entries (PKCS#12: bags and safes) accepted.
    pub max_entries: usize,
    /// Highest KDF or MAC iteration count accepted (PKCS#12 is also capped at 1,000,000 by
    /// `p12-keystore`). scrypt counts N·p here, and its memory is capped at 64 MiB. All
    /// derivations of one file together: [`TOTAL_KDF_FACTOR`] times this.
    pub max_kdf_iterations: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 4 << 20,
            max_entries: 256,
            max_kdf_iterations: 1_000_000,
        }
    }
}

/// All key derivations of one [`open`] together may run at most this many times
/// [`Limits::max_kdf_iterations`] iterations (a JCEKS with 256 keys of 1,000,000 iterations each
/// is refused before the first one is derived).
pub const TOTAL_KDF_FACTOR: u64 = 4;

/// Iteration accounting for one [`open`]: every count is charged *before* it is derived.
pub(crate) struct Work {
    max_each: u64,
    max_total: u64,
    spent: u64,
}

impl Work {
    pub(crate) fn new(max_each: u64) -> Self {
        Self {
            max_each,
            max_total: max_each.saturating_mul(TOTAL_KDF_FACTOR),
            spent: 0,
        }
    }

    /// Charges one derivation of `iterations` iterations.
    pub(crate) fn charge(&mut self, what: &'static str, iterations: u64) -> Result<(), Error> {
        if iterations > self.max_each {
            return Err(Error::TooManyIterations {
                what,
                iterations,
                max: self.max_each,
            });
        }
        self.spent = self.spent.saturating_add(iterations);
        if self.spent > self.max_total {
            return Err(Error::TooManyIterations {
                what: "key derivations (all together)",
                iterations: self.spent,
                max: self.max_total,
            });
        }
        Ok(())
    }
}

/// The type announced by the first bytes: JKS/JCEKS magic, or a PKCS#12 PFX header
/// (`SEQUENCE { INTEGER 3, ...`). Says nothing about validity beyond that.
pub fn detect(bytes: &[u8]) -> Option<KeystoreType> {
    if let Some(t) = jks::magic_type(bytes) {
        return Some(t);
    }
    // 30 <len> 02 01 03, with a short or 1..=4-octet long length.
    let (&first, rest) = bytes.split_first()?;
    if first != der::SEQUENCE {
        return None;
    }
    let (&len0, rest) = rest.split_first()?;
    let skip = match len0 {
        0..=0x7F => 0,
        0x81..=0x84 => usize::from(len0 & 0x7F),
        _ => return None,
    };
    match rest.get(skip..skip + 3) {
        Some([0x02, 0x01, 0x03]) => Some(KeystoreType::Pkcs12),
        _ => None,
    }
}

/// Opens a keystore.
///
/// - `declared` is the request's `keyStoreType`. `JKS` accepts JKS and JCEKS files (Java's
///   JCEKS provider reads both, too); `PKCS12` only PKCS#12. A file of another known type is
///   [`Error::TypeMismatch`].
/// - `key_password` defaults to `store_password`. JKS/JCEKS try it first, then the store
///   password. PKCS#12 verifies the MAC with the store password and decrypts with it; if that
///   fails and a different key password is given, the content is decrypted with that (OpenSSL's
///   `-twopass` files).
/// - PKCS#12 aliases: the key's friendlyName, else its leaf certificate's, else the hex
///   localKeyId, else `key-N`; certificates outside every key chain become trusted-certificate
///   entries named by friendlyName or subject; duplicates get `#2`, `#3`, ...
pub fn open(
    bytes: &[u8],
    declared: KeystoreType,
    store_password: &[u8],
    key_password: Option<&[u8]>,
    limits: &Limits,
) -> Result<Keystore, Error> {
    if bytes.is_empty() {
        return Err(Error::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            size: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let actual = detect(bytes);
    match (declared, actual) {
        (
            KeystoreType::Jks | KeystoreType::Jceks,
            Some(KeystoreType::Jks | KeystoreType::Jceks),
        ) => jks::open(bytes, store_password, key_password, limits),
        (KeystoreType::Pkcs12, Some(KeystoreType::Pkcs12)) => {
            pkcs12::open(bytes, store_password, key_password, limits)
        }
        (declared, Some(actual)) => Err(Error::TypeMismatch { declared, actual }),
        (declared, None) => Err(Error::NotAKeystore { declared }),
    }
}
