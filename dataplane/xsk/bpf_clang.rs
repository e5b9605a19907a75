//! The clang call that compiles an XDP program, shared by the build scripts
//! of masq-xsk (xdp/masq.c) and masq-bench (xdp/gen.c), which include this
//! file. Both depend on libbpf-sys directly, for its headers.
use std::{env, path::Path, process::Command};

/// Compiles `src` into the BPF object `obj`, with `include` searched for
/// headers beside libbpf's.
pub fn compile(src: &Path, obj: &Path, include: &[&Path]) {
    println!("cargo:rerun-if-env-changed=BPF_CLANG");
    println!("cargo:rerun-if-changed={}", src.display());
    // libbpf's own headers (bpf/bpf_helpers.h), exported by libbpf-sys to
    // crates that depend on it directly.
    let bpf_inc = env::var("DEP_BPF_INCLUDE")
        .expect("DEP_BPF_INCLUDE: libbpf-sys must be a direct dependency");
    // <linux/types.h> needs <asm/types.h> from Debian's multiarch folder,
    // which `-target bpf` does not search.
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("target arch");
    let clang = env::var("BPF_CLANG").unwrap_or_else(|_| "clang".into());
    let status = Command::new(&clang)
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-I{bpf_inc}"))
        .arg(format!("-I/usr/include/{arch}-linux-gnu"))
        .args(include.iter().map(|d| format!("-I{}", d.display())))
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(obj)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {clang} (install clang): {e}"));
    assert!(status.success(), "clang failed on {}", src.display());
}
