#!/usr/bin/env bash
# Benchmarks of masq.
#
#   scripts/bench.sh core [--quick]   in-memory benchmark of the NAT core
#                                     (target/release/bench-core); its JSON
#                                     lines are also written to
#                                     target/bench/core.jsonl
#   scripts/bench.sh e2e [--quick] [--reps N] [--seconds S] ...
#                                     masq, iptables, nftables and an L2
#                                     forwarder side by side on the
#                                     namespace topology (bench/e2e.sh; as
#                                     root; results in target/bench/e2e/)
#   scripts/bench.sh control [SESSIONS REPS]
#                                     /metrics scrape and session listing
#                                     times with many live sessions
#                                     (bench/control.sh; as root)
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: scripts/bench.sh MODE [ARGS]

modes:
  core [--quick]   in-memory benchmark of the NAT core on one thread; prints
                   one JSON object per measurement and writes them to
                   target/bench/core.jsonl (--quick: a short smoke run)
  e2e [--quick] [--reps N] [--seconds S] [--warmup S] [--systems LIST]
      [--measures LIST] [--out DIR]
                   masq, iptables MASQUERADE, nftables masquerade and a plain
                   AF_XDP L2 forwarder through the namespace topology, with
                   the same generator and sink: delivered Mpps at 1, 10k and
                   1M flows, new flows per second, round trip p50/p99, CPU
                   per Mpkt (bench/e2e.sh, as root; defaults 3 reps of 5 s;
                   writes runs.jsonl, summary.jsonl, table.md and chart.png
                   to target/bench/e2e/; bench/e2e.sh --help for the rest)
  control [SESSIONS REPS]
                   seconds per /metrics scrape and per full `masq sessions
                   --json` with SESSIONS live sessions (bench/control.sh, as
                   root; defaults 50000 20)
USAGE
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mode="${1:-}"
case "$mode" in
    "" | -h | --help | help)
        usage
        [ -n "$mode" ] && exit 0
        exit 2
        ;;
    core)
        shift
        if [ -f scripts/lib.sh ]; then
            . scripts/lib.sh
            ensure_cargo
        fi
        cargo build --release -p masq-bench
        target_dir="$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
            sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
        target_dir="${target_dir:-$root/target}"
        mkdir -p "$target_dir/bench"
        out="$target_dir/bench/core.jsonl"
        "$target_dir/release/bench-core" "$@" | tee "$out"
        echo "bench.sh: results in $out" >&2
        ;;
    e2e)
        shift
        . scripts/lib.sh
        ensure_cargo
        ensure_packages pkg-config clang llvm m4 libelf-dev zlib1g-dev iproute2 ethtool \
            iptables nftables fonts-dejavu-core
        cargo build --release --locked -p masq-bench -p masq
        exec bench/e2e.sh "$@"
        ;;
    control)
        shift
        . scripts/lib.sh
        ensure_cargo
        cargo build --release --locked -p masq
        exec bench/control.sh "$@"
        ;;
    *)
        echo "bench.sh: unknown mode '$mode'" >&2
        usage >&2
        exit 2
        ;;
esac
