//! Keystore import cost: `keyward_keystore::open` of a fixture file with `Limits::default()`,
//! exactly the call the keystores service makes at import (it then only base64-encodes what
//! was found). Each file's KDF and MAC iteration counts dominate; see `fixtures/keystores/`.
//!
//! - PKCS#12, OpenSSL 3 defaults (`modern.p12`): PBES2/PBKDF2-HMAC-SHA256 AES-256-CBC for the
//!   key and the certificates, SHA-256 MAC, 2,048 iterations each; RSA-2048 key.
//! - PKCS#12, `openssl -legacy` (`legacy.p12`): PKCS#12 KDF with 3DES for the key, RC2-40 for
//!   the certificates, SHA-1 MAC, 2,048 iterations each; P-256 key.
//! - JKS (`ks.jks`, `rsa.jks`): keytool 17, a key entry with its own password plus (ks.jks) a
//!   trusted CA; SHA-1 integrity digest, Sun's SHA-1 XOR key protection.
//! - JCEKS (`ks.jceks`): PBEWithMD5AndTripleDES key protection (keytool: 200,000 iterations).
//!
//! Run: `cargo bench -p keyward-keystore --bench open`.

use divan::{Bencher, black_box};
use keyward_keystore::{KeystoreType, Limits, open};

fn main() {
    divan::main();
}

#[derive(Debug, Clone, Copy)]
enum File {
    Pkcs12Modern,
    Pkcs12Legacy,
    JksEc,
    JksRsa,
    JceksEc,
}

impl File {
    fn bytes(self) -> &'static [u8] {
        match self {
            File::Pkcs12Modern => include_bytes!("../../../fixtures/keystores/modern.p12"),
            File::Pkcs12Legacy => include_bytes!("../../../fixtures/keystores/legacy.p12"),
            File::JksEc => include_bytes!("../../../fixtures/keystores/ks.jks"),
            File::JksRsa => include_bytes!("../../../fixtures/keystores/rsa.jks"),
            File::JceksEc => include_bytes!("../../../fixtures/keystores/ks.jceks"),
        }
    }
    fn open_args(self) -> (KeystoreType, &'static [u8], Option<&'static [u8]>) {
        match self {
            File::Pkcs12Modern | File::Pkcs12Legacy => (KeystoreType::Pkcs12, b"p12pass1", None),
            File::JksEc | File::JksRsa | File::JceksEc => {
                (KeystoreType::Jks, b"storepw1", Some(b"keypw12"))
            }
        }
    }
}

const FILES: [File; 5] = [
    File::Pkcs12Modern,
    File::Pkcs12Legacy,
    File::JksEc,
    File::JksRsa,
    File::JceksEc,
];

#[divan::bench(args = FILES)]
fn import(bencher: Bencher, file: File) {
    let bytes = file.bytes();
    let (declared, password, key_password) = file.open_args();
    let limits = Limits::default();
    bencher.bench_local(|| {
        let ks = open(black_box(bytes), declared, password, key_password, &limits).expect("open");
        assert!(!ks.entries.is_empty());
        ks
    });
}
