//! Compiles the XDP program (xdp/masq.c) with clang into $OUT_DIR, where
//! src/xdp.rs embeds it, after writing its `masq_stats.h` there from the
//! loader's own table of the program's counters (src/xdp/stats.rs).
use std::{env, fs, path::PathBuf};

#[path = "bpf_clang.rs"]
mod bpf_clang;
#[path = "src/xdp/stats.rs"]
mod stats;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    println!("cargo:rerun-if-changed=src/xdp/stats.rs");
    println!("cargo:rerun-if-changed=bpf_clang.rs");
    fs::write(out.join("masq_stats.h"), stats::c_header()).expect("write masq_stats.h");
    bpf_clang::compile(&dir.join("xdp/masq.c"), &out.join("masq.o"), &[&out]);
}
