#!/usr/bin/env bash
# Benchmarks of masq.
#
#   scripts/bench.sh core [--quick]   in-memory benchmark of the NAT core
#                                     (target/release/bench-core); its JSON
#                                     lines are also written to
#                                     target/bench/core.jsonl
#   scripts/bench.sh e2e              end-to-end benchmark (not built yet)
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: scripts/bench.sh MODE [ARGS]

modes:
  core [--quick]   in-memory benchmark of the NAT core on one thread; prints
                   one JSON object per measurement and writes them to
                   target/bench/core.jsonl (--quick: a short smoke run)
  e2e              end-to-end benchmark through real interfaces (not built yet)
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
        echo "bench.sh: the e2e benchmark is not built yet" >&2
        exit 2
        ;;
    *)
        echo "bench.sh: unknown mode '$mode'" >&2
        usage >&2
        exit 2
        ;;
esac
