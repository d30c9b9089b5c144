//! PEM scanner: any bytes in, blocks or an error out, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = keyward_jose::pem::scan(data);
});
