//! Compiles the generator's XDP programs (xdp/gen.c) with clang into
//! $OUT_DIR, where src/gen/xdp.rs embeds them.
use std::{env, path::PathBuf};

#[path = "../dataplane/xsk/bpf_clang.rs"]
mod bpf_clang;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    println!("cargo:rerun-if-changed=../dataplane/xsk/bpf_clang.rs");
    bpf_clang::compile(&dir.join("xdp/gen.c"), &out.join("gen.o"), &[]);
}
