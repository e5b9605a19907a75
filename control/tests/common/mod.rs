//! What the tests of the control crate share: the names of the metric
//! families masq exports, read from `src/metrics.rs`, and `masq
//! check-config` run on a text.

// Each test crate uses only some of these.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Runs `masq check-config` on `text`: (success, stdout, stderr).
pub fn check_config(name: &str, text: &str) -> (bool, String, String) {
    // Tests run in parallel threads: each call has a file of its own.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("masq-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{n}-{name}"));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_masq"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
