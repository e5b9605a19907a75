//! The packet views of `masq_core::wire` on arbitrary bytes: no getter or
//! setter may panic once `new_checked` accepted a buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    masq_tests::fuzz::views(data);
});
