//! PKCS#12: the raw input, password "p12pass1", with a low iteration cap so the fuzzer spends its time
//! in parsing rather than in key derivation.
#![no_main]

use keyward_keystore::{KeystoreType, Limits, detect, open};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_kdf_iterations: 2_000,
        ..Limits::default()
    };
    let _ = detect(data);
    if let Ok(ks) = open(data, KeystoreType::Pkcs12, b"p12pass1", None, &limits) {
        let _ = ks.require("x");
    }
});
