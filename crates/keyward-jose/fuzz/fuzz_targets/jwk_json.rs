//! JWK / JWK Set JSON, without a kid and with a fixed kid.
#![no_main]

use keyward_jose::parse_jwk_or_set;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_jwk_or_set(data, None);
    let _ = parse_jwk_or_set(data, Some("k1"));
});
