//! Compiles the XDP programs (xdp/masq.c, xdp/gen.c) with clang into
//! $OUT_DIR, where src/xdp.rs and src/gen.rs embed them, after writing
//! masq.c's `masq_stats.h` there from the loader's own table of the
//! program's counters (src/xdp/stats.rs).
use std::{env, fs, path::PathBuf, process::Command};

#[path = "src/xdp/stats.rs"]
mod stats;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir")).join("xdp");
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
    println!("cargo:rerun-if-changed=src/xdp/stats.rs");
    fs::write(out.join("masq_stats.h"), stats::c_header()).expect("write masq_stats.h");
    for name in ["masq", "gen"] {
        let src = dir.join(format!("{name}.c"));
        println!("cargo:rerun-if-changed={}", src.display());
        let status = Command::new(&clang)
            .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
            .arg(format!("-I{bpf_inc}"))
            .arg(format!("-I{multiarch}"))
            .arg(format!("-I{}", out.display()))
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(out.join(format!("{name}.o")))
            .status()
            .unwrap_or_else(|e| panic!("cannot run {clang} (install clang): {e}"));
        assert!(status.success(), "clang failed on {}", src.display());
    }
}
