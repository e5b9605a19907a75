#!/usr/bin/env bash
# Subscribers open their own ports: PCP (RFC 6887) and NAT-PMP (RFC 6886)
# on UDP 5351 of the box's LAN address, in MASQUERADE mode. PCP requests
# are built by tests/netns/pcp.py. A MAP gives an endpoint-independent
# mapping on the WAN address that a WAN host reaches before the LAN host
# sent anything, from any remote unless FILTER options limit it; renewals
# keep the endpoint, another nonce is refused, lifetimes are clamped,
# lifetime 0 closes the port; PEER makes the session its mapping's
# outbound flows then use; every result code but NO_RESOURCES (in the
# second run) from a request that calls for it; `masq sessions` marks the
# mappings PCP and /metrics counts the requests by opcode and result; a
# SIGHUP applies a new quota and keeps the mappings. The
# real NAT-PMP client natpmpc asks the public address and maps UDP and TCP
# ports that a WAN host reaches, and deletes them. The WAN address changes:
# the client hears an unsolicited ANNOUNCE and its refreshed MAP gets the
# new address. A second run, snat with one pool address of one port
# block: the start-up ANNOUNCE, a MAP on the pool address, NO_RESOURCES for
# a second subscriber, and the per-subscriber rate limit.
# Needs root. Usage: tests/netns/pcp.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="${1:-target/debug/masq}"
P="mqp$$"
topo_test pcp
topo_up "$P"
GW=192.168.50.1
EXT=198.18.0.1
WAN=198.18.0.2
# Subscribers on lan1 besides .11: .21 (quota), .22 (MAP before any
# traffic), .23 (filters), .24 (the address change); on lan2 besides .12
# (natpmpc): .32 (a second subscriber). 10.99.0.11 on lan1 is outside the
# inside prefixes (the box routes it back to lan0). The WAN host has a
# second address, .3, a remote that a FILTER refuses.
for a in 21 22 23 24; do ns lan1 ip addr add "192.168.50.$a/24" dev h1; done
ns lan1 ip addr add 10.99.0.11/32 dev h1
ns lan2 ip addr add 192.168.50.32/24 dev h2
ns box ip route add 10.99.0.11/32 dev lan0
ns wan ip addr add 198.18.0.3/24 dev w0

# pcp HOST ARGS...: tests/netns/pcp.py ARGS in HOST.
pcp() { local h="$1"; shift; ns "$h" /usr/bin/python3 tests/netns/pcp.py "$@"; }
# field NAME LINE: the value of NAME= in a line of pcp.py.
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }
# ask HOST RESULT ARGS...: one request (pcp.py ask ARGS) whose result must
# be RESULT; its line in R.
ask() {
    local h="$1" want="$2"
    shift 2
    R="$(pcp "$h" ask "$@" --expect "$want" 2>&1)" || fail "pcp.py ask $* from $h: wanted $want, got: $R"
}
# port_of LINE: the external port of a response line; ip_of: its address.
port_of() { local e; e="$(field external "$1")"; echo "${e##*:}"; }
ip_of() { local e; e="$(field external "$1")"; echo "${e%:*}"; }

# UDP sinks on LAN hosts: each datagram logged as "DATA from IP:PORT" in
# $WORK/sink.IP.PORT.
cat > "$WORK/udp_sink.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
with open(sys.argv[3], "a") as f:
    while True:
        data, addr = s.recvfrom(2048)
        f.write("%s from %s:%d\n" % (data.decode(errors="replace"), addr[0], addr[1]))
        f.flush()
PY
# sink HOST IP PORT: starts a sink; its PID in SINK.
sink() {
    : > "$WORK/sink.$2.$3"
    ip netns exec "$P-$1" python3 "$WORK/udp_sink.py" "$2" "$3" "$WORK/sink.$2.$3" & SINK=$!
    PIDS+=("$SINK")
    for _ in $(seq 50); do ns "$1" ss -lun | grep -q "$2:$3 " && return 0; sleep 0.1; done
    fail "the sink on $2:$3 did not start"
}
# wan_send DST:PORT MARKER [SRC_IP [SRC_PORT]]: one datagram from the WAN host.
wan_send() {
    ns wan python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('${3:-0.0.0.0}', ${4:-0}))
h, p = '$1'.rsplit(':', 1)
s.sendto(b'$2', (h, int(p)))"
}
# seen SINK MARKER [TENTHS]: whether MARKER reached the sink (default 3 s).
seen() {
    for _ in $(seq "${3:-30}"); do grep -q "^$2 " "$WORK/sink.$1" && return 0; sleep 0.1; done
    return 1
}
# reach DST:PORT SINK MARKER [SRC_IP [SRC_PORT]]: a WAN host's datagram
# reaches the sink, in at most 3 tries 1 s apart; TRIES says how many.
# When none does, the sink's log and masq's drop counters are printed.
reach() {
    for TRIES in 1 2 3; do
        wan_send "$1" "$3" "${4:-0.0.0.0}" "${5:-0}"
        seen "$2" "$3" 10 && return 0
    done
    echo "pcp: the sink $2 heard: $(tr '\n' ';' < "$WORK/sink.$2")" >&2
    drops
    return 1
}
# drops: masq's drop counters above 0, on standard error.
drops() { metrics | grep '^masq_drops_total' | awk '$NF > 0' >&2 || true; }
# wan_curl URL: the body, from the WAN host.
wan_curl() { ns wan curl -sf --max-time 3 "$1"; }

# An HTTP server on each LAN host, answering with a marker of its own.
# (python3 -m http.server would look its address up in the DNS between
# bind and listen, which here waits for timeouts.)
cat > "$WORK/httpd.py" <<'PY'
import http.server, os, socketserver, sys
os.chdir(sys.argv[1])
class Server(http.server.ThreadingHTTPServer):
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
S = Server((sys.argv[2], int(sys.argv[3])), http.server.SimpleHTTPRequestHandler)
S.serve_forever()
PY
# httpd HOST IP PORT: serves $WORK/www-HOST, whose marker names HOST.
httpd() {
    mkdir -p "$WORK/www-$1" && echo "hello from $1" > "$WORK/www-$1/marker"
    ip netns exec "$P-$1" python3 "$WORK/httpd.py" "$WORK/www-$1" "$2" "$3" > /dev/null 2>&1 & PIDS+=($!)
    for _ in $(seq 50); do ns "$1" ss -ltn | grep -q "$2:$3 " && return 0; sleep 0.1; done
    fail "the HTTP server on $2:$3 did not start"
}
httpd lan1 192.168.50.22 8000
httpd lan2 192.168.50.12 8001
udp_echo_start
# lan1 listens on UDP 5350 for unsolicited announcements all along.
ip netns exec "$P-lan1" /usr/bin/python3 tests/netns/pcp.py listen "$WORK/announce" 200 & PIDS+=($!)
for _ in $(seq 50); do grep -q listening "$WORK/announce" 2>/dev/null && break; sleep 0.1; done

# ---- the main run ----
{
    masq_config masquerade
    printf '[pcp]\nenabled = true\nmin_lifetime = 120\nmax_lifetime = 3600\n'
    printf 'mappings_per_subscriber = 3\nthird_party = false\n'
    # Above the pace of this script's requests; the limit is checked in
    # the second run.
    printf 'requests_per_second = 1000\n'
} > "$WORK/masq.toml"
started="$(date +%s)"
masq_start "$MASQ" || fail "masq did not start"
for _ in $(seq 10); do
    R="$(pcp lan1 ask announce --src 192.168.50.11 2>&1)" || true
    [ "$(field result "$R")" = SUCCESS ] && break
done
[ "$(field result "$R")" = SUCCESS ] || fail "ANNOUNCE from lan1: $R"
epoch1="$(field epoch "$R")"
[ "$epoch1" -le $(($(date +%s) - started + 2)) ] || fail "ANNOUNCE epoch $epoch1 is older than the run"
ok "ANNOUNCE request on $GW:5351 answered SUCCESS, epoch $epoch1"
for _ in $(seq 30); do grep -q "to=224.0.0.1 .*kind=pcp .*opcode=ANNOUNCE result=SUCCESS" "$WORK/announce" && break; sleep 0.1; done
grep -q "to=224.0.0.1 .*kind=pcp .*opcode=ANNOUNCE result=SUCCESS" "$WORK/announce" \
    || fail "no start-up ANNOUNCE to 224.0.0.1:5350 reached lan1: $(cat "$WORK/announce")"
ok "start-up: unsolicited ANNOUNCE to 224.0.0.1:5350 reached lan1 ($(grep -c 'opcode=ANNOUNCE' "$WORK/announce") so far)"

# --- MAP UDP from an address that has sent nothing through the NAT ---
sink lan1 192.168.50.22 7000
N22=0123456789abcdef00000022
ask lan1 SUCCESS map --src 192.168.50.22 --proto udp --port 7000 --nonce "$N22" --lifetime 300
[ "$(ip_of "$R")" = "$EXT" ] || fail "MAP: external address $(ip_of "$R"), not $EXT: $R"
[ "$(field lifetime "$R")" = 300 ] || fail "MAP: lifetime $(field lifetime "$R"), not 300"
U22="$(port_of "$R")"
[ "$U22" -ge 1024 ] || fail "MAP: external port $U22 below port_min"
reach "$EXT:$U22" 192.168.50.22.7000 from-wan-2 || fail "a WAN datagram to $EXT:$U22 did not reach 192.168.50.22:7000"
first="$TRIES"
grep -q "^from-wan-2 from $WAN:" "$WORK/sink.192.168.50.22.7000" || fail "the datagram did not come from $WAN"
reach "$EXT:$U22" 192.168.50.22.7000 from-wan-3 198.18.0.3 || fail "a datagram from another remote (198.18.0.3) did not reach the mapping"
ok "MAP udp 192.168.50.22:7000 -> $EXT:$U22 (lifetime 300): WAN datagrams from $WAN and 198.18.0.3 reach the listener before the host sent anything (in $first of at most 3 tries)"

ask lan1 SUCCESS map --src 192.168.50.22 --proto udp --port 7000 --nonce "$N22" --lifetime 300
[ "$(field external "$R")" = "$EXT:$U22" ] || fail "renewal moved the mapping: $R"
ok "renewal with the same nonce keeps $EXT:$U22"
ask lan1 SUCCESS map --src 192.168.50.22 --proto udp --port 7000 --nonce "$N22" --lifetime 30
[ "$(field lifetime "$R")" = 120 ] || fail "lifetime 30 granted as $(field lifetime "$R"), not min_lifetime 120"
ask lan1 SUCCESS map --src 192.168.50.22 --proto udp --port 7000 --nonce "$N22" --lifetime 1000000
[ "$(field lifetime "$R")" = 3600 ] || fail "lifetime 1000000 granted as $(field lifetime "$R"), not max_lifetime 3600"
ok "lifetimes clamped: 30 -> 120, 1000000 -> 3600"
ask lan1 NOT_AUTHORIZED map --src 192.168.50.22 --proto udp --port 7000 --nonce ffffffffffffffffffffffff --lifetime 300
ok "the same mapping with another nonce: NOT_AUTHORIZED"

# --- MAP TCP, suggesting the UDP mapping's port number ---
N22T=0123456789abcdef10000022
ask lan1 SUCCESS map --src 192.168.50.22 --proto tcp --port 8000 --nonce "$N22T" --suggest "$EXT:$U22" --lifetime 300
T22="$(port_of "$R")"
[ "$T22" = "$U22" ] || fail "MAP tcp: suggested free port $U22 not honoured, got $T22"
body="$(wan_curl "http://$EXT:$T22/marker")" || { drops; fail "curl from the WAN host to $EXT:$T22"; }
[ "$body" = "hello from lan1" ] || fail "curl through the TCP mapping got '$body'"
ok "MAP tcp 192.168.50.22:8000 -> $EXT:$T22 (the suggested port): curl from the WAN host fetches the LAN host's page"

admin sessions > "$WORK/sessions.txt" || fail "masq sessions"
grep -i "pcp" "$WORK/sessions.txt" | grep -qwF "$EXT:$U22" || fail "masq sessions does not mark the mapping $EXT:$U22 as PCP: $(cat "$WORK/sessions.txt")"
grep -i "pcp" "$WORK/sessions.txt" | grep -qwF "$EXT:$T22" || fail "masq sessions does not mark the mapping tcp $EXT:$T22 as PCP"
admin sessions --json > "$WORK/sessions.json" || fail "masq sessions --json"
grep -qi pcp "$WORK/sessions.json" || fail "masq sessions --json does not mark PCP mappings"
ok "masq sessions (text and JSON) lists both mappings marked PCP: $(grep -i pcp "$WORK/sessions.txt" | grep -wF "$EXT:$U22" | head -1 | tr -s ' ')"
admin subscribers --json > "$WORK/subscribers.json" || fail "masq subscribers --json"
n="$(/usr/bin/python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(sum(s["pcp_mappings"] for s in d["subscribers"] if s["subscriber"] == "192.168.50.22"))' "$WORK/subscribers.json")"
[ "$n" = 2 ] || fail "masq subscribers: 192.168.50.22 holds $n PCP mappings, not 2: $(cat "$WORK/subscribers.json")"
ok "masq subscribers counts 192.168.50.22's two PCP mappings"

# --- deletion: the UDP port is closed at once, the TCP one still open ---
ask lan1 SUCCESS map --src 192.168.50.22 --proto udp --port 7000 --nonce "$N22" --lifetime 0
[ "$(field lifetime "$R")" = 0 ] || fail "deletion answered lifetime $(field lifetime "$R")"
wan_send "$EXT:$U22" after-delete-2
wan_send "$EXT:$U22" after-delete-3 198.18.0.3
wan_curl "http://$EXT:$T22/marker" > /dev/null || fail "the TCP mapping stopped working when the UDP one was deleted"
sleep 1
if grep -q "^after-delete" "$WORK/sink.192.168.50.22.7000"; then
    fail "datagrams reached 192.168.50.22:7000 after its mapping was deleted (the sessions the mapping admitted outlived it): $(cat "$WORK/sink.192.168.50.22.7000")"
fi
ask lan1 SUCCESS map --src 192.168.50.22 --proto tcp --port 8000 --nonce "$N22T" --lifetime 0
if wan_curl "http://$EXT:$T22/marker" > /dev/null 2>&1; then fail "the TCP port stayed open after deletion"; fi
ok "lifetime 0 deletes: no datagram from either remote reaches the UDP listener, curl to the TCP port fails"

# --- PEER: the session to one remote, which later outbound flows use ---
sink lan1 192.168.50.11 7100
PEER_SINK="$SINK"
ask lan1 SUCCESS peer --src 192.168.50.11 --proto udp --port 7100 --remote "$WAN:9100" --lifetime 300
Q="$(port_of "$R")"
[ "$(ip_of "$R")" = "$EXT" ] || fail "PEER: external $(field external "$R")"
[ "$(field remote "$R")" = "$WAN:9100" ] || fail "PEER: remote in the response $(field remote "$R")"
admin sessions > "$WORK/sessions.txt"
grep -wF "$EXT:$Q" "$WORK/sessions.txt" | grep -wF "$WAN:9100" | grep -qi pcp \
    || fail "masq sessions lacks the PEER session $EXT:$Q <-> $WAN:9100 marked PCP: $(cat "$WORK/sessions.txt")"
reach "$EXT:$Q" 192.168.50.11.7100 from-peer "$WAN" 9100 || fail "the peer $WAN:9100 did not reach 192.168.50.11:7100 through $EXT:$Q"
kill "$PEER_SINK"; wait "$PEER_SINK" 2>/dev/null || true
seen_src="$(udp_ask lan1 x 2 3 192.168.50.11 7100)" || fail "no echo to 192.168.50.11:7100 from $WAN:5353"
[ "$seen_src" = "$EXT:$Q" ] || fail "a flow from 192.168.50.11:7100 to $WAN:5353 left as $seen_src, not the PEER's $EXT:$Q"
ok "PEER udp 192.168.50.11:7100 <-> $WAN:9100 as $EXT:$Q: listed before any traffic, the peer reaches the host, and a flow to another remote leaves from $EXT:$Q"

# --- FILTER: only 198.18.0.3 may reach the mapping ---
sink lan1 192.168.50.23 7200
ask lan1 SUCCESS map --src 192.168.50.23 --proto udp --port 7200 --filter 198.18.0.3/128:0 --lifetime 300
F="$(port_of "$R")"
wan_send "$EXT:$F" filtered-out "$WAN"
reach "$EXT:$F" 192.168.50.23.7200 filtered-in 198.18.0.3 || fail "the remote the FILTER admits (198.18.0.3) did not reach the mapping $EXT:$F"
sleep 0.5
if grep -q "^filtered-out" "$WORK/sink.192.168.50.23.7200"; then fail "$WAN, refused by the FILTER, reached the listener"; fi
ok "FILTER 198.18.0.3/32: 198.18.0.3 reaches $EXT:$F, $WAN does not"

# --- result codes ---
ask lan1 UNSUPP_VERSION map --src 192.168.50.11 --version 3 --port 7300
[ "$(field version "$R")" = 2 ] || fail "UNSUPP_VERSION answered with version $(field version "$R"), not 2"
ask lan1 UNSUPP_VERSION announce --src 192.168.50.11 --version 1
ok "versions 3 and 1: UNSUPP_VERSION, answered as version 2"
ask lan1 UNSUPP_OPCODE 10 --src 192.168.50.11
ok "opcode 10: UNSUPP_OPCODE"
ask lan1 MALFORMED_REQUEST map --src 192.168.50.11 --port 7300 --truncate 40
ask lan1 MALFORMED_REQUEST map --src 192.168.50.11 --proto 0 --port 7300
ok "a MAP cut to 40 octets, and protocol 0 with internal port 7300: MALFORMED_REQUEST"
ask lan1 UNSUPP_OPTION map --src 192.168.50.11 --port 7300 --option 100:
ok "unknown mandatory option 100: UNSUPP_OPTION"
ask lan1 MALFORMED_OPTION map --src 192.168.50.11 --port 7300 --option "3:$(printf '00%.0s' $(seq 16))"
ask lan1 MALFORMED_OPTION map --src 192.168.50.11 --port 7300 --prefer-failure --option 2:
ok "FILTER with 16 octets, PREFER_FAILURE twice: MALFORMED_OPTION"
ask lan1 UNSUPP_PROTOCOL map --src 192.168.50.11 --proto 47 --port 0
ask lan1 UNSUPP_PROTOCOL map --src 192.168.50.11 --proto 0 --port 0
ok "protocol 47 and protocol 0 (all protocols): UNSUPP_PROTOCOL"
ask lan1 ADDRESS_MISMATCH map --src 192.168.50.11 --client 192.168.50.99 --port 7300
ok "client address field 192.168.50.99 from 192.168.50.11: ADDRESS_MISMATCH"
ask lan1 EXCESSIVE_REMOTE_PEERS map --src 192.168.50.11 --port 7300 \
    --filter 198.18.0.2/128:0 --filter 198.18.0.3/128:0 --filter 198.18.0.4/128:0 \
    --filter 198.18.0.5/128:0 --filter 198.18.0.6/128:0
ok "five FILTER options: EXCESSIVE_REMOTE_PEERS"
ask lan1 CANNOT_PROVIDE_EXTERNAL map --src 192.168.50.11 --port 7300 --suggest "$EXT:80" --prefer-failure
ok "PREFER_FAILURE with port 80 (below port_min): CANNOT_PROVIDE_EXTERNAL"
R="$(pcp lan1 ask map --src 10.99.0.11 --port 7300 2>&1)" || true
case "$(field result "$R")" in
    NOT_AUTHORIZED) ok "a request from 10.99.0.11, outside the inside prefixes: NOT_AUTHORIZED" ;;
    none) ok "a request from 10.99.0.11, outside the inside prefixes: dropped unanswered" ;;
    *) fail "a request from outside the inside prefixes got: $R" ;;
esac

# A second subscriber cannot take the first's address or port.
ask lan2 ADDRESS_MISMATCH map --src 192.168.50.32 --client 192.168.50.11 --port 7100
ask lan2 NOT_AUTHORIZED map --src 192.168.50.32 --third-party 192.168.50.11 --port 7100
ask lan2 CANNOT_PROVIDE_EXTERNAL map --src 192.168.50.32 --port 7500 --suggest "$EXT:$Q" --prefer-failure
ask lan2 SUCCESS map --src 192.168.50.32 --port 7500 --suggest "$EXT:$Q" --lifetime 120
[ "$(port_of "$R")" != "$Q" ] || fail "192.168.50.32 was given 192.168.50.11's port $Q"
ok "192.168.50.32 cannot map 192.168.50.11: ADDRESS_MISMATCH, THIRD_PARTY NOT_AUTHORIZED; its PREFER_FAILURE for .11's port $Q: CANNOT_PROVIDE_EXTERNAL, without it port $(port_of "$R")"
ask lan2 SUCCESS map --src 192.168.50.32 --port 7501 --option 200:00000000 --lifetime 120
ok "an unknown optional option (200) is ignored: SUCCESS"

# The quota: three mappings per subscriber.
for p in 7301 7302 7303; do ask lan1 SUCCESS map --src 192.168.50.21 --port "$p" --nonce "00000000000000000000$p"; done
ask lan1 USER_EX_QUOTA map --src 192.168.50.21 --port 7304
quota_life="$(field lifetime "$R")"
ask lan1 SUCCESS map --src 192.168.50.21 --port 7303 --nonce 000000000000000000007303 --lifetime 0
ask lan1 SUCCESS map --src 192.168.50.21 --port 7304
ok "mappings_per_subscriber = 3: the fourth MAP gets USER_EX_QUOTA (lifetime $quota_life); after a deletion it succeeds"

# --- NAT-PMP with natpmpc (lan2, 192.168.50.12) ---
natpmp() { ns lan2 timeout 15 natpmpc -g "$GW" "$@" > "$WORK/natpmpc.out" 2>&1 || fail "natpmpc $*: $(cat "$WORK/natpmpc.out")"; }
natpmp
grep -q "^Public IP address : $EXT\$" "$WORK/natpmpc.out" || fail "natpmpc public address: $(cat "$WORK/natpmpc.out")"
ok "natpmpc: public IP address $EXT"
sink lan2 192.168.50.12 7001
natpmp -a 7777 7001 udp 300
NU="$(sed -n 's/^Mapped public port \([0-9]*\) protocol UDP to local port 7001 liftime 300$/\1/p' "$WORK/natpmpc.out")"
[ -n "$NU" ] || fail "natpmpc udp mapping: $(cat "$WORK/natpmpc.out")"
reach "$EXT:$NU" 192.168.50.12.7001 natpmp-udp || fail "a WAN datagram to $EXT:$NU did not reach 192.168.50.12:7001"
natpmp -a 8081 8001 tcp 300
NT="$(sed -n 's/^Mapped public port \([0-9]*\) protocol TCP to local port 8001 liftime 300$/\1/p' "$WORK/natpmpc.out")"
[ -n "$NT" ] || fail "natpmpc tcp mapping: $(cat "$WORK/natpmpc.out")"
body="$(wan_curl "http://$EXT:$NT/marker")" || { drops; fail "curl from the WAN host to $EXT:$NT"; }
[ "$body" = "hello from lan2" ] || fail "curl through the NAT-PMP TCP mapping got '$body'"
ok "natpmpc: udp 7001 -> $EXT:$NU and tcp 8001 -> $EXT:$NT (lifetime 300), each reached from the WAN host"
admin sessions | grep -wF "192.168.50.12:7001" | grep -qi pcp || fail "masq sessions does not list the NAT-PMP mapping as PCP"
natpmp -a "$NU" 7001 udp 0
natpmp -a "$NT" 8001 tcp 0
wan_send "$EXT:$NU" natpmp-after-delete
if wan_curl "http://$EXT:$NT/marker" > /dev/null 2>&1; then fail "the NAT-PMP TCP port stayed open after deletion"; fi
sleep 1
if grep -q "^natpmp-after-delete" "$WORK/sink.192.168.50.12.7001"; then fail "a datagram reached 192.168.50.12:7001 after its NAT-PMP mapping was deleted"; fi
ok "natpmpc lifetime 0 deletes both: the UDP listener hears nothing more, curl fails"

# --- /metrics ---
metrics > "$WORK/m" || fail "GET /metrics"
for r in success unsupp_version not_authorized malformed_request unsupp_opcode unsupp_option malformed_option \
    unsupp_protocol user_ex_quota cannot_provide_external address_mismatch excessive_remote_peers; do
    n="$(awk -v r="$r" 'tolower($0) ~ "^masq_pcp_requests_total\\{.*result=\"" r "\"" {s += $NF} END {printf "%d\n", s}' "$WORK/m")"
    [ "$n" -ge 1 ] || fail "masq_pcp_requests_total{result=\"$r\"} is $n: $(grep '^masq_pcp' "$WORK/m")"
done
# Held now: .11's PEER, .23's filtered MAP, .32's two, .21's three.
held="$(metric 'masq_pcp_mappings')"
[ "$held" -eq 7 ] || fail "masq_pcp_mappings is $held, not 7"
ok "/metrics: masq_pcp_requests_total counts every result produced ($(grep -c '^masq_pcp_requests_total' "$WORK/m") series); masq_pcp_mappings 7"

# --- SIGHUP: a new quota applies, the mappings stay ---
sed -i 's/^mappings_per_subscriber = 3$/mappings_per_subscriber = 4/' "$WORK/masq.toml"
kill -HUP "$MASQ_PID"
wait_log "reloaded .*pcp" || fail "the [pcp] reload was not applied: $(grep reload "$WORK/masq.log")"
ask lan1 SUCCESS map --src 192.168.50.21 --port 7305
reach "$EXT:$F" 192.168.50.23.7200 after-reload 198.18.0.3 || fail "the FILTER mapping $EXT:$F did not survive the reload"
metrics > "$WORK/m" || fail "GET /metrics"
[ "$(metric 'masq_pcp_mappings')" -eq 8 ] || fail "masq_pcp_mappings is $(metric 'masq_pcp_mappings') after the reload and one more MAP, not 8"
ok "SIGHUP with mappings_per_subscriber = 4: a 4th MAP of 192.168.50.21 succeeds, the FILTER mapping is still reached, 8 mappings held"

# --- the WAN address changes: ANNOUNCE, and the refreshed MAP moves ---
sink lan1 192.168.50.24 7400
N24=0123456789abcdef00000024
ask lan1 SUCCESS map --src 192.168.50.24 --port 7400 --nonce "$N24" --lifetime 600
old="$(field external "$R")"
reach "$old" 192.168.50.24.7400 before-change || fail "the mapping $old did not work before the change"
lines="$(wc -l < "$WORK/announce")"
ask lan1 SUCCESS announce --src 192.168.50.11
epoch_before="$(field epoch "$R")"
ns box sysctl -qw net.ipv4.conf.wan0.promote_secondaries=1
ns box ip addr add 198.18.0.5/24 dev wan0
ns box ip addr del "$EXT/24" dev wan0
ns box ip route replace default via "$WAN"
wait_log "address $EXT -> 198.18.0.5" || fail "masq did not see the address change"
# The start-up announcements go on (their interval doubles), so those of
# the change are told apart by their epoch, started again.
[ "$epoch_before" -ge 3 ] || fail "the run is too young ($epoch_before s) to tell the announcements apart"
announced() {
    tail -n +$((lines + 1)) "$WORK/announce" | grep 'opcode=ANNOUNCE result=SUCCESS' \
        | awk -v e="$epoch_before" '{for (i = 1; i <= NF; i++) if ($i ~ /^epoch=/ && substr($i, 7) + 0 < e) print}'
}
for _ in $(seq 100); do [ -n "$(announced)" ] && break; sleep 0.1; done
[ -n "$(announced)" ] || fail "no unsolicited ANNOUNCE with a new epoch reached lan1 after the address change: $(cat "$WORK/announce")"
ok "address $EXT -> 198.18.0.5: unsolicited ANNOUNCE with a new epoch reached lan1 (to $(announced | sed -n 's/^to=\([^ ]*\) .*/\1/p' | sort -u | tr '\n' ' '))"
ask lan1 SUCCESS announce --src 192.168.50.11
epoch_after="$(field epoch "$R")"
[ "$epoch_after" -lt "$epoch_before" ] || fail "epoch not reset by the address change: $epoch_before before, $epoch_after after"
ask lan1 SUCCESS map --src 192.168.50.24 --port 7400 --nonce "$N24" --lifetime 600
new="$(field external "$R")"
[ "${new%:*}" = 198.18.0.5 ] || fail "the refreshed MAP got $new, not the new address"
reach "$new" 192.168.50.24.7400 after-change || fail "a WAN datagram to $new did not reach 192.168.50.24:7400"
ok "the refreshed MAP (same nonce) moved $old -> $new, reached from the WAN host; epoch $epoch_before -> $epoch_after"
if tail -n +$((lines + 1)) "$WORK/announce" | grep -q "kind=natpmp .*opcode=128 .*external=198.18.0.5"; then
    ok "NAT-PMP public address notice with 198.18.0.5 reached lan1"
else
    fail "no NAT-PMP public address notice (RFC 6886 3.2.1) after the change: $(cat "$WORK/announce")"
fi
masq_stop || fail "masq exited with an error"
ok "masq stopped cleanly"

# ---- the second run: snat, one pool address of one port block, a low
# request rate ----
POOL1=198.19.0.1
# The WAN host routes the pool to 198.18.0.1: the box takes it back.
ns box ip addr add "$EXT/24" dev wan0
ns box ip addr del 198.18.0.5/24 dev wan0
ns box ip route replace default via "$WAN"
{
    masq_config snat | sed "s|^pool = .*|pool = [\"$POOL1/32\"]|"
    printf 'port_min = 1024\nport_max = 1535\nblock_size = 512\n'
    printf '[pcp]\nrequests_per_second = 5\n'
} > "$WORK/masq.toml"
before="$(grep -c 'opcode=ANNOUNCE' "$WORK/announce" || true)"
masq_start "$MASQ" || fail "masq did not start again"
for _ in $(seq 50); do
    [ "$(grep -c 'opcode=ANNOUNCE' "$WORK/announce" || true)" -gt "$before" ] && break
    sleep 0.1
done
[ "$(grep -c 'opcode=ANNOUNCE' "$WORK/announce" || true)" -gt "$before" ] || fail "no ANNOUNCE after the restart"
ok "restarted: lan1 heard the start-up ANNOUNCE again"
sink lan1 192.168.50.11 7600
for _ in $(seq 10); do
    R="$(pcp lan1 ask map --src 192.168.50.11 --port 7600 2>&1)" || true
    [ "$(field result "$R")" != none ] && break
done
[ "$(field result "$R")" = SUCCESS ] || fail "MAP from 192.168.50.11 in the one-block run: $R"
[ "$(ip_of "$R")" = "$POOL1" ] || fail "snat: MAP got $(field external "$R"), not the pool address $POOL1"
reach "$(field external "$R")" 192.168.50.11.7600 snat-in || fail "snat: a WAN datagram to $(field external "$R") did not reach 192.168.50.11:7600"
kill "$SINK"; wait "$SINK" 2>/dev/null || true
seen_src="$(udp_ask lan1 x 2 3 192.168.50.11 7600)" || fail "no echo to 192.168.50.11:7600"
[ "$seen_src" = "$(field external "$R")" ] || fail "snat: a flow from 192.168.50.11:7600 left as $seen_src, not the mapping's $(field external "$R")"
ok "snat: MAP udp 192.168.50.11:7600 -> $(field external "$R") (the pool address), reached from the WAN host; its outbound flow leaves from it"
ask lan2 NO_RESOURCES map --src 192.168.50.12 --port 7600
ok "one port block, held by 192.168.50.11: a MAP from 192.168.50.12 gets NO_RESOURCES (lifetime $(field lifetime "$R"))"
R="$(pcp lan2 burst 40 --src 192.168.50.32)"
answered="${R##*answered=}"
[ "$answered" -ge 1 ] && [ "$answered" -lt 40 ] || fail "40 requests at once with requests_per_second = 5: $R"
metrics > "$WORK/m" || fail "GET /metrics"
limited="$(metric 'masq_pcp_dropped_total\{reason="rate_limited"')"
[ "$limited" -eq $((40 - answered)) ] \
    || fail "$((40 - answered)) requests dropped, masq_pcp_dropped_total{reason=\"rate_limited\"} is $limited: $(grep '^masq_pcp_dropped' "$WORK/m")"
ok "requests_per_second = 5: $answered of 40 requests at once answered, the rest dropped and counted"
masq_stop || fail "masq exited with an error"
echo "pcp: $passed passed, 0 failed"
