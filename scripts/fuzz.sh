#!/usr/bin/env bash
# Fuzzing of masq-core with cargo-fuzz (dataplane/core/fuzz).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Runs each target (default: all five, entry views icmp_error config pcp) for
# SECONDS (default 600) with libFuzzer, on the growing corpus
# dataplane/core/fuzz/corpus/<target> plus the committed seeds
# dataplane/core/fuzz/seeds/<target> (config also with the dictionary
# dataplane/core/fuzz/config.dict), then prints the executions, speed and
# coverage of each run and whether a crash artifact exists; exits non-zero
# if one does (dataplane/core/fuzz/artifacts/<target>/).
#
# The toolchain is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its
# nightly-only flags. The core forbids unsafe code, so by default no
# sanitizer is built in (about 4x more executions per second; debug
# assertions and overflow checks stay on); FUZZ_SANITIZER=address brings
# AddressSanitizer back. FUZZ_JOBS=N runs N libFuzzer workers per target.
#
# Replaying a crash:  (cd dataplane/core && RUSTC_BOOTSTRAP=1 cargo fuzz run
#   -s none TARGET fuzz/artifacts/TARGET/crash-...), or for entry
#   MASQ_TRACE=<hex of the input> cargo test -p masq-tests --test fuzz_replay trace -- --nocapture
#   (MASQ_TRACE_ICMP=<hex> ... trace_icmp_error for icmp_error).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
core="$root/dataplane/core"
fuzz="$core/fuzz"

secs="${1:-600}"
case "$secs" in
    -h | --help)
        sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *[!0-9]* | "")
        echo "fuzz.sh: SECONDS must be a whole number, not '$secs'" >&2
        exit 2
        ;;
esac
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(entry views icmp_error config pcp)
fi
sanitizer="${FUZZ_SANITIZER:-none}"
jobs="${FUZZ_JOBS:-1}"

export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

cd "$core"
echo "fuzz.sh: building ${targets[*]} (sanitizer: $sanitizer)" >&2
cargo fuzz build -s "$sanitizer"

logs="$fuzz/target/fuzz-logs"
mkdir -p "$logs"
summary=()
for t in "${targets[@]}"; do
    corpus="$fuzz/corpus/$t"
    seeds="$fuzz/seeds/$t"
    mkdir -p "$corpus" "$fuzz/artifacts/$t"
    log="$logs/$t.log"
    echo "fuzz.sh: $t for ${secs}s (log: ${log#"$root"/})" >&2
    args=(-max_total_time="$secs" -print_final_stats=1)
    if [ "$jobs" -gt 1 ]; then
        args+=(-jobs="$jobs" -workers="$jobs")
    fi
    if [ -f "$fuzz/$t.dict" ]; then
        args+=(-dict="$fuzz/$t.dict")
    fi
    dirs=("$corpus")
    [ -d "$seeds" ] && dirs+=("$seeds")
    set +e
    cargo fuzz run -s "$sanitizer" "$t" "${dirs[@]}" -- "${args[@]}" >"$log" 2>&1
    rc=$?
    set -e
    # With -jobs, libFuzzer copies each worker's fuzz-N.log into its own
    # output when the worker ends.
    rm -f fuzz-*.log
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{s += $1} END {print s + 0}')"
    speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | awk '{s += $1} END {print s + 0}')"
    last="$(grep -E '^#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse|INITED)' "$log" | tail -n 1 || true)"
    cov="$(sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([0-9]*\).*/cov \1, ft \2, corpus \3/p' <<<"$last")"
    crashes="$(find "$fuzz/artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)"
    summary+=("$t: ${runs} executions, ${speed} exec/s, ${cov:-no coverage line}, exit ${rc}, ${crashes} crash artifact(s)")
done

echo
echo "fuzz.sh summary (${secs}s per target):"
status=0
for line in "${summary[@]}"; do
    echo "  $line"
done
for t in "${targets[@]}"; do
    found="$(find "$fuzz/artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \))"
    if [ -n "$found" ]; then
        status=1
        echo "  crash artifacts of $t:"
        while IFS= read -r f; do
            echo "    ${f#"$root"/} ($(od -An -tx1 -v "$f" | tr -d ' \n' | cut -c1-120))"
        done <<<"$found"
    fi
done
if [ "$status" -eq 0 ]; then
    echo "  no crash artifacts"
fi
exit "$status"
