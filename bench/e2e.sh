#!/usr/bin/env bash
# End-to-end throughput on the namespace topology (scripts/topology.sh):
# 60-byte UDP frames over FLOWS flows into the box's LAN interface, counted
# and dropped by an XDP sink on the WAN host (masq-gen sink). Systems:
#
#   masq      masq, one worker on core 0 (copy mode on veth)
#   iptables  the kernel's `iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE`
#
# Generators (masq-gen, pinned to core 1):
#
#   packet    an AF_PACKET socket on the first LAN host (qdisc bypassed,
#             sendmmsg); frames cross the switch as ordinary socket
#             buffers. Used for both systems, in the same run.
#   live      the kernel's live-frames test run, from the switch straight
#             into the box's lan0: much faster, but only for masq. Frames
#             it redirects into a veth whose XDP program passes them to the
#             stack arrive with a corrupted destination MAC once the test
#             run recycles their pages (lan0 counts them as `otherhost`),
#             so the kernel's NAT cannot be driven this way. masq is not
#             affected: AF_XDP copies each frame inside the XDP program.
#
# Prints one JSON line per (system, generator): the median delivered Mpps
# of REPS runs with min and max, and the median offered Mpps.
#
#   bench/e2e.sh [FLOWS] [SECONDS] [REPS]     (root; defaults 10000 5 3)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/topology.sh

FLOWS="${1:-10000}"
SECS="${2:-5}"
REPS="${3:-3}"
GEN=target/release/masq-gen
MASQ=target/release/masq
[ -x "$GEN" ] && [ -x "$MASQ" ] || { echo "e2e: build first: cargo build --release -p masq-xsk -p masq" >&2; exit 2; }
command -v iptables >/dev/null || { echo "e2e: iptables is missing (apt-get install iptables)" >&2; exit 2; }

topo_session
run_one() { # SYSTEM GENERATOR -> prints "delivered_mpps offered_mpps"
    local system="$1" generator="$2" p="mqb$$$RANDOM"
    topo_up "$p"
    case "$system" in
        masq)
            masq_config snat > "$WORK/masq.toml"
            masq_start "$MASQ" || { sed 's/^/  masq| /' "$WORK/masq.log" >&2; return 1; }
            ;;
        iptables)
            ns box sysctl -qw net.ipv4.ip_forward=1
            ns box iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE
            ns box ping -c 1 -W 2 198.18.0.2 >/dev/null
            ;;
    esac
    local mac
    mac="$(ns box cat /sys/class/net/lan0/address)"
    ip netns exec "$p-wan" "$GEN" sink w0 "$((SECS + 2))" > "$WORK/sink.txt" &
    local sink=$!
    sleep 1
    if [ "$generator" = live ]; then
        ip netns exec "$p-sw" taskset -c 1 "$GEN" send s0 "$mac" 192.168.50.0 198.18.0.2 "$FLOWS" "$SECS" > "$WORK/gen.txt"
    else
        ip netns exec "$p-lan1" taskset -c 1 "$GEN" send-packet h1 "$mac" 192.168.50.0 198.18.0.2 "$FLOWS" "$SECS" > "$WORK/gen.txt"
    fi
    wait "$sink"
    if [ "$system" = masq ]; then masq_stop || true; fi
    topo_down "$p"
    TOPO_PREFIX=""
    local got sent
    got="$(awk '{print $2}' "$WORK/sink.txt")"
    sent="$(awk '{print $2}' "$WORK/gen.txt")"
    echo "e2e: $system, $generator generator: offered $sent, delivered $got in $SECS s" >&2
    awk -v g="$got" -v o="$sent" -v s="$SECS" 'BEGIN {printf "%.3f %.3f\n", g / s / 1e6, o / s / 1e6}'
}

for run in "masq packet" "iptables packet" "masq live"; do
    set -- $run
    : > "$WORK/vals"
    for _ in $(seq "$REPS"); do run_one "$1" "$2" >> "$WORK/vals"; done
    median() { sort -n | awk '{v[NR] = $1} END {printf "%s %s %s\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR]}'; }
    read -r med lo hi < <(cut -d' ' -f1 "$WORK/vals" | median)
    read -r offered _ _ < <(cut -d' ' -f2 "$WORK/vals" | median)
    printf '{"name":"mpps_%s_flows","value":%s,"unit":"Mpps","min":%s,"max":%s,"runs":%d,"system":"%s","generator":"%s","offered_mpps":%s}\n' \
        "$FLOWS" "$med" "$lo" "$hi" "$REPS" "$1" "$2" "$offered"
done
