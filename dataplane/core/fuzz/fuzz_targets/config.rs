//! The configuration parser of the control crate on arbitrary text: no
//! panic, and what it accepts validates, prints (`check-config`) and parses
//! back to the same configuration (`masq_tests::fuzz_config::run`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    masq_tests::fuzz_config::run(data);
});
