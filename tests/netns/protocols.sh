#!/usr/bin/env bash
# Every IP protocol crosses: GRE and ESP (scapy, tests/netns/protocols.py)
# from subscribers to a WAN host that answers them, on the standard
# topology. In masquerade mode the WAN host sees the box's address and no
# private one, the answers reach the subscriber; a second subscriber to
# the same remote host and protocol is refused (protocol_conflict, ICMP
# 3/13 at the subscriber) while the first keeps working; `masq sessions`
# lists the sessions by protocol name, /metrics counts them and the syslog
# event log records them (proto=47, ports 0). In snat
# mode with two pool addresses the second subscriber gets the other one.
# Then the control run: the kernel's MASQUERADE (iptables, masq stopped)
# on the same topology and the same checks, printed side by side.
# Needs root and python3-scapy. Usage: tests/netns/protocols.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="${1:-target/debug/masq}"
P="mqp$$"
PY=(/usr/bin/python3 "$PWD/tests/netns/protocols.py")
WANH=198.18.0.2
topo_test protocols

topo_up "$P"
ip netns exec "$P-wan" tcpdump -U -Q in -nni w0 -w "$WORK/wan.pcap" ip 2>/dev/null & PIDS+=($!)
ip netns exec "$P-wan" "${PY[@]}" respond "$WORK/wan.log" > "$WORK/respond.out" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do grep -q ready "$WORK/respond.out" && break; sleep 0.1; done
grep -q ready "$WORK/respond.out" || fail "the WAN responder did not start: $(cat "$WORK/respond.out")"

# ask HOST PROTO MARKER: the subscriber's GRE/ESP packet and what came back.
ask() { ns "$1" "${PY[@]}" ask "$2" "$WANH" "$3" "${4:-2}"; }
# seen MARKER: the source the WAN host saw the packet with MARKER from.
seen() { awk -v m="$1" '$3 == m {print $2}' "$WORK/wan.log" | tail -1; }

declare -A RESULT
# check RUN NAME EXPECTED GOT: records one result of RUN (masq, kernel).
check() { RESULT["$1|$2"]="$4"; [ "$4" = "$3" ]; }

# out_and_back RUN ADDR: GRE and ESP from lan1, seen on the WAN from ADDR
# (a regex), answered back to lan1.
out_and_back() {
    local run="$1" addr="$2" p got
    for p in gre esp; do
        got="$(ask lan1 "$p" "$run-$p-1")"
        check "$run" "$p from lan1: answer" "reply $WANH" "$got" || return 1
        check "$run" "$p from lan1: WAN source" ok \
            "$(seen "$run-$p-1" | grep -qE "^$addr\$" && echo ok || echo "$(seen "$run-$p-1")")" || return 1
    done
}

# --- masq, masquerade mode ---------------------------------------------------
{ masq_config masquerade; printf '[log]\nsyslog = "stderr"\nsessions = true\n'; } > "$WORK/masq.toml"
masq_start "$MASQ" || true
grep -q "masq: running" "$WORK/masq.log" || fail "masq did not start"
out_and_back masq '198\.18\.0\.1' || fail "masq: GRE/ESP out and back: ${RESULT[*]}"
ok "masquerade: GRE and ESP from lan1 left from 198.18.0.1 and the WAN host's answers reached lan1"

got="$(ask lan2 gre masq-gre-2)"
check masq "gre from lan2, same remote" "refused 3/13 192.168.50.1" "$got" ||
    fail "masquerade: a second subscriber's GRE to the same remote: '$got'"
[ -z "$(seen masq-gre-2)" ] || fail "lan2's refused GRE reached the WAN host"
ok "masquerade: lan2's GRE to the same remote refused with ICMP 3/13 from the box ($got)"
got="$(ask lan1 gre masq-gre-3)"
check masq "gre from lan1 after the refusal" "reply $WANH" "$got" || fail "lan1's GRE after lan2 was refused: '$got'"
ok "masquerade: lan1's GRE keeps working"

metrics > "$WORK/m" || fail "no /metrics"
[ "$(metric 'masq_drops_total\{reason="protocol_conflict"')" -ge 1 ] || fail "protocol_conflict not counted"
[ "$(metric 'masq_sessions\{protocol="gre"')" = 1 ] || fail "masq_sessions{protocol=\"gre\"} is not 1: $(grep 'protocol="gre"' "$WORK/m")"
[ "$(metric 'masq_sessions\{protocol="esp"')" = 1 ] || fail "masq_sessions{protocol=\"esp\"} is not 1"
[ "$(metric 'masq_sessions\{protocol="sctp"')" = 0 ] || fail "masq_sessions{protocol=\"sctp\"} is not 0"
ok "/metrics: protocol_conflict counted, masq_sessions gre 1, esp 1, sctp 0"
admin sessions > "$WORK/sessions.txt" || fail "masq sessions"
for p in gre esp; do
    grep -qE "^$p +192\.168\.50\.11 +198\.18\.0\.1 +$WANH " "$WORK/sessions.txt" ||
        fail "masq sessions does not list lan1's $p session: $(cat "$WORK/sessions.txt")"
done
admin sessions --json > "$WORK/sessions.json" || fail "masq sessions --json"
python3 - "$WORK/sessions.json" <<'PY' || fail "masq sessions --json: $(cat "$WORK/sessions.json")"
import json, sys
s = json.load(open(sys.argv[1]))["sessions"]
got = sorted((x["protocol"], x["protocol_number"], x["inside"], x["outside"]) for x in s)
want = [("esp", 50, "192.168.50.11", "198.18.0.1"), ("gre", 47, "192.168.50.11", "198.18.0.1")]
sys.exit(0 if got == want else f"{got} != {want}")
PY
ok "masq sessions (text and JSON) lists them: $(grep -E '^(gre|esp) ' "$WORK/sessions.txt" | tr -s ' ' | paste -sd ';')"
masq_stop || fail "masq exited with an error"
grep -q '^<134>1 .* session-create proto=47 inside=192\.168\.50\.11:0 outside=198\.18\.0\.1:0 at=' "$WORK/masq.log" ||
    fail "no syslog session-create line for lan1's GRE session"
ok "logged like other sessions: $(grep -m1 -o 'session-create proto=47 .*' "$WORK/masq.log")"

# --- masq, snat with two pool addresses --------------------------------------
masq_config snat | sed 's|^pool = .*|pool = ["198.19.0.2/31"]|' > "$WORK/masq.toml"
masq_start "$MASQ" || true
grep -q "masq: running" "$WORK/masq.log" || fail "masq did not start in snat mode"
got1="$(ask lan1 gre snat-gre-1)"
got2="$(ask lan2 gre snat-gre-2)"
[ "$got1" = "reply $WANH" ] && [ "$got2" = "reply $WANH" ] || fail "snat: GRE from both subscribers: '$got1' '$got2'"
a1="$(seen snat-gre-1)" a2="$(seen snat-gre-2)"
case "$a1 $a2" in
    "198.19.0.2 198.19.0.3" | "198.19.0.3 198.19.0.2") ;;
    *) fail "snat: the two subscribers' GRE left from '$a1' and '$a2'" ;;
esac
RESULT["masq|snat pool of 2: two subscribers"]="$a1, $a2"
ok "snat with two addresses: lan1's GRE from $a1, lan2's from $a2, both answered"
masq_stop || fail "masq exited with an error"

# --- control: the kernel's MASQUERADE ----------------------------------------
ns box sysctl -qw net.ipv4.ip_forward=1
ns box iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE
kernel_ok=yes
out_and_back kernel '198\.18\.0\.1' || kernel_ok=no
got="$(ask lan2 gre kernel-gre-2)"
check kernel "gre from lan2, same remote" "refused 3/13 192.168.50.1" "$got" || true
RESULT["kernel|gre from lan2: WAN source"]="$(seen kernel-gre-2)"
got="$(ask lan1 gre kernel-gre-3)"
check kernel "gre from lan1 after the refusal" "reply $WANH" "$got" || true
ns box iptables -t nat -F
ns box sysctl -qw net.ipv4.ip_forward=0

printf '\n%-36s | %-28s | %s\n' check masq "kernel MASQUERADE"
for k in "gre from lan1: answer" "gre from lan1: WAN source" "esp from lan1: answer" \
    "esp from lan1: WAN source" "gre from lan2, same remote" "gre from lan2: WAN source" \
    "gre from lan1 after the refusal" "snat pool of 2: two subscribers"; do
    printf '%-36s | %-28s | %s\n' "$k" "${RESULT[masq|$k]:--}" "${RESULT[kernel|$k]:--}"
done
echo
[ "$kernel_ok" = yes ] || fail "the control run (kernel MASQUERADE) did not pass GRE/ESP out and back"
ok "control: the kernel's MASQUERADE passes the same GRE/ESP out-and-back checks"

# The WAN link carried the GRE and ESP of both runs from the box's address
# and the pool, never a private address (tcpdump stopped first, so every
# packet is in the file).
kill -INT "${PIDS[0]}" 2>/dev/null || true
sleep 0.5
wan_count() { (tcpdump -nr "$WORK/wan.pcap" "$1" 2>/dev/null || true) | wc -l; }
n="$(wan_count 'src 198.18.0.1 and (ip proto 47 or ip proto 50)')"
[ "$n" -ge 3 ] || fail "$n GRE/ESP packets from 198.18.0.1 captured on the WAN link, expected at least 3"
[ "$(wan_count 'src net 198.19.0.2/31 and ip proto 47')" -ge 2 ] || fail "no GRE from the snat pool captured"
leaked="$(wan_count 'net 192.168.50.0/24')"
[ "$leaked" = 0 ] || fail "$leaked packet(s) with a private address on the WAN link"
ok "$n GRE/ESP packets from 198.18.0.1 and the snat run's from the pool captured on the WAN link, no private address"
echo "protocols: $passed passed, 0 failed"
