#!/usr/bin/env bash
# End-to-end throughput of masq on the namespace topology
# (scripts/topology.sh): 60-byte UDP frames over FLOWS flows, replayed by
# the kernel's live-frames test run (masq-gen send) from the switch into
# the box's LAN interface, translated by masq (one worker), counted and
# dropped by an XDP sink on the WAN host (masq-gen sink). Prints one JSON
# line: the median delivered Mpps of REPS runs, with min and max.
#
#   bench/e2e.sh [FLOWS] [SECONDS] [REPS]     (root; defaults 10000 5 3)
#
# The kernel's own MASQUERADE cannot be measured with this generator yet:
# frames it redirects into a veth whose XDP program passes them to the
# stack arrive with a corrupted destination MAC (counted as `otherhost` by
# the box's lan0) once the test run recycles their pages, so almost none
# reach IP. masq is not affected: AF_XDP copies each frame into its UMEM
# inside the XDP program.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/topology.sh

FLOWS="${1:-10000}"
SECS="${2:-5}"
REPS="${3:-3}"
GEN=target/release/masq-gen
MASQ=target/release/masq
[ -x "$GEN" ] && [ -x "$MASQ" ] || { echo "e2e: build first: cargo build --release -p masq-xsk -p masq" >&2; exit 2; }

topo_session
run_one() { # SYSTEM -> prints delivered Mpps
    local system="$1" p="mqb$$$RANDOM"
    topo_up "$p"
    case "$system" in
        masq)
            masq_config snat > "$WORK/masq.toml"
            masq_start "$MASQ" || { sed 's/^/  masq| /' "$WORK/masq.log" >&2; return 1; }
            ;;
    esac
    local mac
    mac="$(ns box cat /sys/class/net/lan0/address)"
    ip netns exec "$p-wan" "$GEN" sink w0 "$((SECS + 2))" > "$WORK/sink.txt" &
    local sink=$!
    sleep 1
    ip netns exec "$p-sw" taskset -c 1 "$GEN" send s0 "$mac" 192.168.50.0 198.18.0.2 "$FLOWS" "$SECS" > "$WORK/gen.txt"
    wait "$sink"
    if [ "$system" = masq ]; then masq_stop || true; fi
    topo_down "$p"
    TOPO_PREFIX=""
    local got sent
    got="$(awk '{print $2}' "$WORK/sink.txt")"
    sent="$(awk '{print $2}' "$WORK/gen.txt")"
    echo "e2e: $system: sent $sent, delivered $got in ${SECS} s" >&2
    awk -v g="$got" -v s="$SECS" 'BEGIN {printf "%.3f\n", g / s / 1e6}'
}

for system in masq; do
    vals=()
    for _ in $(seq "$REPS"); do vals+=("$(run_one "$system")"); done
    printf '%s\n' "${vals[@]}" | sort -n | awk -v sys="$system" -v f="$FLOWS" '
        {v[NR] = $1} END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "{\"name\":\"mpps_%s_flows\",\"value\":%s,\"unit\":\"Mpps\",\"min\":%s,\"max\":%s,\"runs\":%d,\"system\":\"%s\"}\n", f, m, v[1], v[NR], NR, sys
        }'
done
