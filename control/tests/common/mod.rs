//! What the tests that hold other files to the code share: the names of
//! the metric families masq exports, read from `src/metrics.rs`.

// Each test crate uses only some of these.
#![allow(dead_code)]

use std::collections::BTreeSet;

const METRICS_RS: &str = include_str!("../../src/metrics.rs");

/// Whether `b` may appear in a metric name after its first character.
pub fn is_name_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
}

/// The metric families masq exports: every string literal in
/// `src/metrics.rs` that is exactly a `masq_…` name (not the bare prefix),
/// plus the AF_XDP ones
/// (`masq_xsk_<stat>_total`, which the exporter names from the table with
/// `format!`).
pub fn exported() -> BTreeSet<String> {
    let bytes = METRICS_RS.as_bytes();
    let mut names: BTreeSet<String> = masq_xsk::worker::XSK_STATISTICS
        .iter()
        .map(|(stat, _)| format!("masq_xsk_{stat}_total"))
        .collect();
    let mut i = 0;
    while let Some(off) = METRICS_RS[i..].find("\"masq_") {
        let start = i + off + 1;
        let mut end = start;
        while end < bytes.len() && is_name_byte(bytes[end]) {
            end += 1;
        }
        if bytes.get(end) == Some(&b'"') && end > start + "masq_".len() {
            names.insert(METRICS_RS[start..end].to_string());
        }
        i = end;
    }
    names
}
