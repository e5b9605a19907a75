//! ICMP errors about live sessions (RFC 5508): a two-shard NAT with UDP,
//! TCP, echo, hairpinned, port-forwarded and one-to-one sessions, then
//! errors from either side built from a session's tuple with mutations
//! (type and code, truncation, embedded header fields and checksums,
//! outer options, fragment bits, TTL and checksums, errors in errors),
//! every property of `masq_tests::fuzz::icmp_error::run` checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    masq_tests::fuzz::icmp_error::run(data);
});
