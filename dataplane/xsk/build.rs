//! Compiles the XDP program (xdp/masq.c) with clang into $OUT_DIR/masq.o,
//! which src/xdp.rs embeds.
use std::{env, path::PathBuf, process::Command};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let src =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir")).join("xdp/masq.c");
    println!("cargo:rerun-if-changed={}", src.display());
    println!("cargo:rerun-if-env-changed=BPF_CLANG");
    // libbpf's own headers (bpf/bpf_helpers.h), exported by libbpf-sys to
    // crates that depend on it directly.
    let bpf_inc = env::var("DEP_BPF_INCLUDE")
        .expect("DEP_BPF_INCLUDE: libbpf-sys must be a direct dependency");
    // <linux/types.h> needs <asm/types.h> from Debian's multiarch folder,
    // which `-target bpf` does not search.
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("target arch");
    let multiarch = format!("/usr/include/{arch}-linux-gnu");
    let clang = env::var("BPF_CLANG").unwrap_or_else(|_| "clang".into());
    let obj = out.join("masq.o");
    let status = Command::new(&clang)
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-I{bpf_inc}"))
        .arg(format!("-I{multiarch}"))
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(&obj)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {clang} (install clang): {e}"));
    assert!(status.success(), "clang failed on {}", src.display());
}
