//! The one error type of the crate. Every `Display` is a complete sentence for an API user,
//! naming the request field it is about (`file`, `password`, `keyStoreType`, `alias`) where
//! there is one.

use crate::KeystoreType;

/// Why a keystore could not be opened, or an entry not found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `file` is empty.
    #[error("file value can not be empty!")]
    Empty,

    /// The `file` is larger than [`crate::Limits::max_bytes`].
    #[error("The keystore file is {size} bytes long, more than the allowed {max} bytes!")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        max: usize,
    },

    /// A `keyStoreType` string that is not one of the API's names.
    #[error("Unknown keyStoreType ({0})! Supported values: JKS, PKCS12")]
    UnknownType(String),

    /// The declared `keyStoreType` and the magic of the file disagree.
    #[error("keyStoreType ({declared}) does not match the file, which is a {actual} keystore!")]
    TypeMismatch {
        /// What the request said.
        declared: KeystoreType,
        /// What the bytes are.
        actual: KeystoreType,
    },

    /// The bytes are none of the supported keystore formats.
    #[error("The file is not a {declared} keystore (nor any other supported keystore type)!")]
    NotAKeystore {
        /// What the request said.
        declared: KeystoreType,
    },

    /// JKS/JCEKS integrity digest or PKCS#12 MAC mismatch (or undecryptable MAC-less PKCS#12).
    #[error("Keystore password is wrong or the file is damaged!")]
    WrongStorePassword,

    /// The store opened but a private key cannot be decrypted with the key password.
    #[error("Key password is wrong{}!", alias_suffix(.alias))]
    WrongKeyPassword {
        /// The entry, when the format tells which one.
        alias: Option<String>,
    },

    /// A password that cannot be used by this format (not UTF-8; JCEKS: not printable ASCII).
    #[error("password value {0}!")]
    PasswordEncoding(&'static str),

    /// [`crate::Keystore::require`] with an alias the store does not hold.
    #[error("Alias ({alias}) is not found in the keystore! Aliases: {available}")]
    AliasNotFound {
        /// The alias asked for.
        alias: String,
        /// The aliases present, comma separated (`none` when the store is empty).
        available: String,
    },

    /// More entries (or certificates, or PKCS#12 bags) than [`crate::Limits::max_entries`].
    #[error("The keystore holds {count} entries, more than the allowed {max}!")]
    TooManyEntries {
        /// Entries counted so far (a lower bound when the count was cut short).
        count: u64,
        /// The limit.
        max: usize,
    },

    /// A KDF or MAC iteration count above [`crate::Limits::max_kdf_iterations`], checked before
    /// anything is derived.
    #[error("The keystore's {what} uses {iterations} iterations, more than the allowed {max}!")]
    TooManyIterations {
        /// `integrity MAC`, `key encryption`, `certificate encryption`, ...
        what: &'static str,
        /// The count found in the file (saturated at `u64::MAX`).
        iterations: u64,
        /// The effective limit.
        max: u64,
    },

    /// An algorithm this reader does not implement, named.
    #[error("The keystore uses an unsupported algorithm ({0})!")]
    UnsupportedAlgorithm(String),

    /// An entry of a kind this reader does not implement.
    #[error("Entry ({alias}) of the keystore is {kind}, which is not supported!")]
    UnsupportedEntry {
        /// The entry's alias.
        alias: String,
        /// What it is.
        kind: &'static str,
    },

    /// Truncated, garbage, or structurally invalid content.
    #[error("The keystore file is truncated or damaged: {0}!")]
    Malformed(String),
}

fn alias_suffix(alias: &Option<String>) -> String {
    match alias {
        Some(a) => format!(" for alias ({a})"),
        None => String::new(),
    }
}

impl Error {
    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        Self::Malformed(what.into())
    }
}
