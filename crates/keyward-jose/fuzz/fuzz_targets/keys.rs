//! Key files in every format, without a password and with the password "pw". The crate's own
//! KDF caps apply (PBKDF2 / PKCS#12 10M iterations, scrypt log N 20): a mutated encrypted key may
//! legitimately take seconds, which libFuzzer reports as a slow unit or timeout.
#![no_main]

use keyward_jose::parse_key;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_key(data, None);
    let _ = parse_key(data, Some(b"pw"));
});
