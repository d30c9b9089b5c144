//! JKS / JCEKS: the input is the keystore body without its 20-byte integrity digest; the target
//! appends the right digest for the store password "storepw1" (key password "keypw12"), so
//! mutations reach the entry parser instead of stopping at the digest check. The raw input is
//! tried as is, too.
#![no_main]

use keyward_keystore::{KeystoreType, Limits, open};
use libfuzzer_sys::fuzz_target;
use sha1::{Digest, Sha1};

fuzz_target!(|body: &[u8]| {
    let limits = Limits {
        max_kdf_iterations: 2_000,
        ..Limits::default()
    };
    let _ = open(body, KeystoreType::Jks, b"storepw1", None, &limits);
    let mut h = Sha1::new();
    for u in "storepw1".encode_utf16() {
        h.update(u.to_be_bytes());
    }
    h.update(b"Mighty Aphrodite");
    h.update(body);
    let mut sealed = body.to_vec();
    sealed.extend_from_slice(&h.finalize());
    if let Ok(ks) = open(
        &sealed,
        KeystoreType::Jks,
        b"storepw1",
        Some(b"keypw12"),
        &limits,
    ) {
        let _ = ks.require("x");
    }
});
