//! The PCP and NAT-PMP server of the control crate on arbitrary requests
//! with a fake NAT: no panic, every answer a response with a known result
//! code, counters that add up (`masq_tests::fuzz_pcp::run`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    masq_tests::fuzz_pcp::run(data);
});
