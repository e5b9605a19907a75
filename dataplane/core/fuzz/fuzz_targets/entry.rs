//! The core's entry point: a two-shard NAT driven by a decoded sequence of
//! frames (raw or templated), clock steps and timer runs, with every
//! property of `masq_tests::fuzz::run` checked after each operation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    masq_tests::fuzz::run(data);
});
