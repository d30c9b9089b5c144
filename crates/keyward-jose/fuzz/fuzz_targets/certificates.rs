//! Certificate upload: PEM bundle / DER / bare base64 in, then chain ordering of whatever parsed.
#![no_main]

use keyward_jose::{order_leaf_first, parse_certificates};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = parse_certificates(data) {
        let _ = order_leaf_first(certs);
    }
});
