#!/usr/bin/env bash
# MTUs from the interfaces and fragmentation (RFC 4787 REQ-13, 13a), in
# network namespaces, MASQUERADE mode, no MTU in the configuration:
#   A. WAN link at 1400 (both ends) before masq starts: a 1450-byte UDP
#      datagram without DF from a LAN host arrives whole at a socket on the
#      WAN host; with DF the sender learns MTU 1400 from ICMP 3/4.
#   B. While masq runs, WAN back to 1500 and the LAN link at 1400: 1450
#      bytes without DF from the WAN host to the subscriber's mapping arrive
#      whole at the subscriber's socket; with DF the WAN host learns 1400.
#   C. LAN back to 1500, WAN to 1300: 1350 bytes without DF arrive whole,
#      with DF the sender learns 1300. Then a LAN MTU of 3000: clamped to
#      2030 (one AF_XDP frame), and the log says so.
# The same checks run against the kernel's MASQUERADE (iptables, masq not
# running) on a fresh topology, and both results are printed side by side.
# Needs root. Usage: tests/netns/mtu.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="${1:-target/debug/masq}"
topo_test mtu
PY="$PWD/tests/netns/mtu.py"
WANH=198.18.0.2
EXT=198.18.0.1
CHECKS=(a_nodf a_df b_nodf b_df c_nodf c_df)
declare -A WANT=(
    [a_nodf]="1450 ok" [a_df]=1400 [b_nodf]="1450 ok" [b_df]=1400
    [c_nodf]="1350 ok" [c_df]=1300
)
declare -A TITLE=(
    [a_nodf]="A LAN->WAN 1450 no DF, WAN MTU 1400: arrives whole"
    [a_df]="A LAN->WAN 1450 DF: sender's path MTU"
    [b_nodf]="B WAN->LAN 1450 no DF, LAN MTU 1400: arrives whole"
    [b_df]="B WAN->LAN 1450 DF: sender's path MTU"
    [c_nodf]="C LAN->WAN 1350 no DF, WAN MTU 1300: arrives whole"
    [c_df]="C LAN->WAN 1350 DF: sender's path MTU"
)
declare -A GOT

# wan_mtu N / lan_mtu N: the link's MTU on both of its ends.
wan_mtu() { ns box ip link set wan0 mtu "$1"; ns wan ip link set w0 mtu "$1"; }
lan_mtu() { ns box ip link set lan0 mtu "$1"; ns sw ip link set s0 mtu "$1"; }

# forward RUN CHECK PORT SIZE df|nodf: LAN host to a socket on the WAN host.
forward() {
    local run="$1" check="$2" port="$3" size="$4" df="$5" out
    if [ "$df" = nodf ]; then
        ns wan python3 "$PY" recv "$port" "$size" > "$WORK/recv.txt" & local r=$!
        PIDS+=("$r")
        sleep 0.3
        ns lan1 python3 "$PY" send "$WANH" "$port" "$size" nodf
        wait "$r" || true
        out="$(cat "$WORK/recv.txt")"
    else
        out="$(ns lan1 python3 "$PY" send "$WANH" "$port" "$size" df)"
    fi
    GOT[$run,$check]="$out"
}

# reverse RUN CHECK PORT SIZE df|nodf: the WAN host answers a subscriber's
# datagram, from the port it was sent to, to the mapping it came from.
reverse() {
    local run="$1" check="$2" port="$3" size="$4" df="$5" out
    ns wan python3 "$PY" reply "$port" "$size" "$df" > "$WORK/reply.txt" & local r=$!
    PIDS+=("$r")
    sleep 0.3
    out="$(ns lan1 python3 "$PY" ask "$WANH" "$port" "$size")"
    wait "$r" || true
    if [ "$df" = df ]; then out="$(cat "$WORK/reply.txt")"; fi
    GOT[$run,$check]="$out"
}

# followed LAN WAN: masq's log says it took these interface MTUs.
followed() {
    wait_log "MTU now: LAN lan0 $1 (the interface's), WAN wan0 $2" \
        || fail "masq did not follow the MTUs to LAN $1, WAN $2"
    ok "masq followed: $(grep 'MTU now' "$WORK/masq.log" | tail -1 | sed 's/^masq: //')"
}

# checks RUN FOLLOW: the three phases; FOLLOW non-empty waits for masq to
# follow each MTU change (masq run), empty sleeps (kernel run).
checks() {
    local run="$1" follow="$2"
    forward "$run" a_nodf 6001 1450 nodf
    forward "$run" a_df 6002 1450 df
    wan_mtu 1500
    lan_mtu 1400
    if [ -n "$follow" ]; then followed 1400 1500; else sleep 0.5; fi
    reverse "$run" b_nodf 6003 1450 nodf
    reverse "$run" b_df 6004 1450 df
    lan_mtu 1500
    wan_mtu 1300
    if [ -n "$follow" ]; then followed 1500 1300; else sleep 0.5; fi
    forward "$run" c_nodf 6005 1350 nodf
    forward "$run" c_df 6006 1350 df
}

# --- masq ---
P="mqm$$"
topo_up "$P"
wan_mtu 1400
masq_config masquerade > "$WORK/masq.toml"
if grep -q mtu "$WORK/masq.toml"; then fail "the configuration names an MTU"; fi
"$MASQ" check-config "$WORK/masq.toml" > "$WORK/check.txt" || fail "check-config"
grep -q '^# wan_mtu unset: the WAN MTU is the MTU of "wan0"' "$WORK/check.txt" \
    || fail "check-config does not say where the WAN MTU comes from: $(grep mtu "$WORK/check.txt")"
ok "check-config: $(grep '^# wan_mtu' "$WORK/check.txt")"
masq_start "$MASQ" || true
grep -q "masq: running" "$WORK/masq.log" || fail "masq did not start"
grep -q "WAN next hop" "$WORK/masq.log" || fail "masq did not resolve the WAN next hop"
grep -q "MTU: LAN lan0 1500 (the interface's), WAN wan0 1400 (the interface's)" "$WORK/masq.log" \
    || fail "the start line does not give the interfaces' MTUs: $(grep MTU "$WORK/masq.log")"
ok "start: $(grep 'masq: MTU:' "$WORK/masq.log" | sed 's/^masq: //')"
checks masq follow
# An interface MTU larger than one AF_XDP frame holds: clamped, and said.
ns box ip link set lan0 mtu 3000 || fail "ip link set lan0 mtu 3000"
wait_log "MTU now: LAN lan0 2030 (the interface's 3000, clamped: a frame must fit one 2048-byte AF_XDP frame)" \
    || fail "masq did not clamp a LAN MTU of 3000: $(grep 'MTU now' "$WORK/masq.log" | tail -1)"
ok "masq clamped: $(grep 'MTU now' "$WORK/masq.log" | tail -1 | sed 's/^masq: //')"
metrics > "$WORK/m" || fail "no /metrics"
cut_n="$(metric masq_packets_fragmented_total)"
sent_n="$(metric masq_fragments_sent_total)"
kill "$MASQ_PID"
wait "$MASQ_PID" 2>/dev/null || true
MASQ_PID=""
topo_down "$P"

# --- the kernel's MASQUERADE, the control ---
P="mqk$$"
TOPO_PREFIX="$P"
topo_up "$P"
wan_mtu 1400
ns box sysctl -qw net.ipv4.ip_forward=1
ns box iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE
checks kernel ""

# --- side by side ---
printf '%-56s %-10s %-10s %-10s\n' "check" "expected" "masq" "kernel"
masq_bad=0
kernel_bad=0
for c in "${CHECKS[@]}"; do
    printf '%-56s %-10s %-10s %-10s\n' "${TITLE[$c]}" "${WANT[$c]}" "${GOT[masq,$c]}" "${GOT[kernel,$c]}"
    [ "${GOT[masq,$c]}" = "${WANT[$c]}" ] || masq_bad=1
    [ "${GOT[kernel,$c]}" = "${WANT[$c]}" ] || kernel_bad=1
done
[ "$masq_bad" = 0 ] || fail "masq did not pass every check (table above)"
[ "$cut_n" -ge 3 ] && [ "$sent_n" -ge 6 ] \
    || fail "masq_packets_fragmented_total $cut_n, masq_fragments_sent_total $sent_n: the three datagrams without DF were not cut by masq"
ok "masq cut $cut_n datagrams into $sent_n fragments (/metrics)"
[ "$kernel_bad" = 0 ] || fail "the kernel's MASQUERADE did not pass every check (table above): the topology is wrong"
ok "masq and the kernel's MASQUERADE pass the same ${#CHECKS[@]} checks"
echo "mtu: all $passed checks passed"
