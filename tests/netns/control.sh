#!/usr/bin/env bash
# The control plane in network namespaces, in MASQUERADE mode: flows made
# by real hosts are listed by `masq sessions --json` with the tuples the
# WAN host saw; /metrics rises with traffic and passes promtool; the WAN
# address is changed, removed and restored with `ip addr` and masq follows
# (old sessions gone, new flows from the new address, counters moved); the
# WAN link flaps; SIGHUP applies a good reload and refuses a bad one.
# Needs root. Usage: tests/netns/control.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="${1:-target/debug/masq}"
P="mqc$$"
topo_test control

topo_up "$P"
{ masq_config masquerade; echo 'port_max = 32767'; } > "$WORK/masq.toml"
masq_start "$MASQ" || fail "masq did not start or resolve its next hop"
SOCK="$WORK/masq.sock"
[ "$(stat -c %a "$SOCK")" = 600 ] || fail "admin socket mode is $(stat -c %a "$SOCK"), not 600"
ok "admin socket $SOCK has mode 0600"

udp_echo_start
sleep 0.5

# flow HOST: one UDP exchange from a fresh socket; prints
# "INSIDE_PORT SEEN_SOURCE" or fails.
flow() {
    ns "$1" python3 -c "
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(1.5); s.bind(('0.0.0.0',0))
for attempt in range(3):
    s.sendto(b'x',('198.18.0.2',5353))
    try:
        print(s.getsockname()[1], s.recvfrom(2048)[0].decode()); break
    except socket.timeout:
        pass
else:
    sys.exit('no echo')"
}

# --- flows, sessions --json, /metrics -------------------------------------
metrics > "$WORK/m" || fail "GET /metrics"
rx0="$(metric 'masq_packets_total\{direction="rx",side="lan"')"
declare -A seen
for h in lan1 lan2; do
    read -r port src <<<"$(flow "$h")" || fail "UDP from $h"
    case "$src" in 198.18.0.1:*) ;; *) fail "$h: the WAN host saw $src, not the WAN address" ;; esac
    seen[$h]="$port $src"
done
ok "UDP from both LAN hosts leaves from the WAN address 198.18.0.1"
admin sessions --json > "$WORK/sessions.json" || fail "masq sessions --json"
for h in lan1 lan2; do
    read -r port src <<<"${seen[$h]}"
    ip="192.168.50.1${h#lan}"
    python3 - "$WORK/sessions.json" "$ip:$port" "$src" <<'PY' || fail "sessions --json lacks $h's flow ($ip:$port -> $src)"
import json, sys
d = json.load(open(sys.argv[1]))
want = [s for s in d["sessions"] if s["protocol"] == "udp" and s["inside"] == sys.argv[2]
        and s["outside"] == sys.argv[3] and s["remote"] == "198.18.0.2:5353"]
sys.exit(0 if len(want) == 1 else 1)
PY
done
if grep -qE 'Some\(|None|"[A-Z][a-z]+[A-Z]' "$WORK/sessions.json"; then fail "Rust Debug text in sessions --json: $(cat "$WORK/sessions.json")"; fi
ok "masq sessions --json lists both flows with the inside, outside and remote tuples the hosts saw"
admin sessions --subscriber 192.168.50.11 --json | python3 -c "
import json,sys; d=json.load(sys.stdin)
sys.exit(0 if d['count'] >= 1 and all(s['inside'].startswith('192.168.50.11:') for s in d['sessions']) else 1)" \
    || fail "sessions --subscriber"
ext="$(echo "${seen[lan1]}" | cut -d' ' -f2)"
admin sessions --external "$ext" --json | python3 -c "
import json,sys; d=json.load(sys.stdin)
sys.exit(0 if d['count'] == 1 and d['sessions'][0]['outside'] == '$ext' else 1)" \
    || fail "sessions --external $ext"
ok "sessions --subscriber and --external select the right flows"
admin subscribers --json | python3 -c "
import json,sys; d=json.load(sys.stdin)
subs={s['subscriber']: s for s in d['subscribers']}
assert set(subs) >= {'192.168.50.11','192.168.50.12'}, subs
for s in subs.values():
    assert s['blocks'] and all(b['external'] == '198.18.0.1' for b in s['blocks']), s
" || fail "masq subscribers --json"
admin subscribers | grep -q "^192.168.50.11 " || fail "masq subscribers (table)"
admin stats --json | python3 -c "
import json,sys; d=json.load(sys.stdin)
assert d['totals']['sessions'] >= 2 and d['external_address'] == '198.18.0.1', d" || fail "masq stats --json"
ok "masq subscribers and stats (JSON and tables) answer from the workers' snapshots"

for _ in $(seq 20); do flow lan1 > /dev/null; done
metrics > "$WORK/m" || fail "GET /metrics"
rx1="$(metric 'masq_packets_total\{direction="rx",side="lan"')"
[ "$rx1" -ge $((rx0 + 20)) ] || fail "LAN rx packets went from $rx0 to $rx1 over 22 flows"
[ "$(metric 'masq_sessions\{protocol="udp"')" -ge 22 ] || fail "masq_sessions{protocol=udp} below 22"
[ "$(metric 'masq_port_blocks\{address="198.18.0.1",state="in_use"')" -ge 2 ] || fail "port blocks in use"
grep -q '^masq_xsk_fill_ring_empty_total{side="wan",worker="0"}' "$WORK/m" || fail "no AF_XDP ring statistics"
grep -q '^masq_drops_total{reason="no_mapping",worker="0"}' "$WORK/m" || fail "no drop counters"
promtool check metrics < "$WORK/m" > "$WORK/promtool.txt" 2>&1 || { cat "$WORK/promtool.txt" >&2; fail "promtool check metrics"; }
ok "/metrics: LAN rx rose $rx0 -> $rx1, sessions and blocks shown, promtool check metrics passes ($(grep -c '^masq_' "$WORK/m") samples)"

# --- the WAN address changes ----------------------------------------------
# As a DHCP renewal with a new lease does: the new address is added, then
# the old one removed (promote_secondaries keeps the new one).
ns box sysctl -qw net.ipv4.conf.wan0.promote_secondaries=1
ns box ip addr add 198.18.0.5/24 dev wan0
ns box ip addr del 198.18.0.1/24 dev wan0
ns box ip route replace default via 198.18.0.2
wait_log "address 198.18.0.1 -> 198.18.0.5" || fail "masq did not see the address change"
read -r _ src <<<"$(flow lan1)" || fail "UDP after the address change"
case "$src" in 198.18.0.5:*) ;; *) fail "after the change the WAN host saw $src" ;; esac
admin sessions --json > "$WORK/sessions.json"
python3 -c "
import json,sys; d=json.load(open('$WORK/sessions.json'))
old=[s for s in d['sessions'] if s['outside'].startswith('198.18.0.1:')]
new=[s for s in d['sessions'] if s['outside'].startswith('198.18.0.5:')]
sys.exit(0 if not old and len(new) == 1 else 1)" || fail "sessions on the old address remain: $(cat "$WORK/sessions.json")"
metrics > "$WORK/m"
[ "$(metric 'masq_external_address_changes_total')" -ge 1 ] || fail "address change counter"
[ "$(metric 'masq_sessions_removed_total\{cause="address_change"')" -ge 22 ] || fail "removed sessions not counted"
grep -q '^masq_external_address_info{address="198.18.0.5"} 1' "$WORK/m" || fail "external address info"
ok "address 198.18.0.1 -> 198.18.0.5: new flows leave from .5, old sessions gone ($(metric 'masq_sessions_removed_total\{cause="address_change"') removed), counters moved"
admin flush --external 198.18.0.9 --json | python3 -c "
import json,sys; d=json.load(sys.stdin); sys.exit(0 if d['flushed'] == 0 else 1)" || fail "flush --external of an address without sessions flushed some"
admin flush --external 198.18.0.5 --json | python3 -c "
import json,sys; d=json.load(sys.stdin); sys.exit(0 if d['flushed'] == 1 else 1)" || fail "flush --external 198.18.0.5 did not flush its one session"
admin sessions --external 198.18.0.5 --json | python3 -c "
import json,sys; d=json.load(sys.stdin); sys.exit(0 if d['count'] == 0 else 1)" || fail "a session on 198.18.0.5 outlived flush --external"
ok "flush --external IP removes the sessions on that address only"

# --- the address goes away and comes back ---------------------------------
ns box ip addr flush dev wan0
wait_log "198.18.0.5 -> none" || fail "masq did not see the address removal"
if flow lan1 > /dev/null 2>&1; then fail "traffic was translated with no WAN address"; fi
metrics > "$WORK/m"
[ "$(metric 'masq_external_address_up')" -eq 0 ] || fail "masq_external_address_up not 0"
[ "$(metric 'masq_drops_total\{reason="no_external_address"')" -ge 1 ] || fail "no_external_address not counted"
ns box ip addr add 198.18.0.9/24 dev wan0
ns box ip route replace default via 198.18.0.2
wait_log "none -> 198.18.0.9" || fail "masq did not see the new address"
read -r _ src <<<"$(flow lan2)" || fail "UDP after the address returned"
case "$src" in 198.18.0.9:*) ;; *) fail "after the return the WAN host saw $src" ;; esac
ok "no address: translation stops with no_external_address counted; a new address (.9) resumes it"

# --- the WAN link flaps ----------------------------------------------------
ns box ip link set wan0 down
sleep 0.5
ns box ip link set wan0 up
ns box ip route replace default via 198.18.0.2
sleep 1
kill -0 "$MASQ_PID" || fail "masq died when the link went down"
read -r _ src <<<"$(flow lan1)" || fail "UDP after the link flap"
case "$src" in 198.18.0.9:*) ;; *) fail "after the flap the WAN host saw $src" ;; esac
ok "WAN link down/up survived: traffic resumes from 198.18.0.9"

# --- the default route moves to another gateway -----------------------------
# next_hops GATEWAY: how often masq has said it moved to GATEWAY.
next_hops() { grep -c "WAN next hop is $1\$" "$WORK/masq.log" || true; }
ns wan ip addr add 198.18.0.3/24 dev w0
n2="$(next_hops 198.18.0.2)"
ns box ip route add default via 198.18.0.2 metric 100
ns box ip route del default via 198.18.0.2 metric 0
ns box ip route add default via 198.18.0.3 metric 50
wait_log "WAN next hop 198.18.0.3 is " || fail "masq did not move to the lower-metric default route via 198.18.0.3"
read -r _ src <<<"$(flow lan1)" || fail "UDP through the next hop 198.18.0.3"
ns box ip route del default via 198.18.0.3 metric 50
for _ in $(seq 50); do [ "$(next_hops 198.18.0.2)" -gt "$n2" ] && break; sleep 0.1; done
[ "$(next_hops 198.18.0.2)" -gt "$n2" ] || fail "masq did not go back to 198.18.0.2 when the metric 50 route went"
flow lan1 > /dev/null || fail "UDP after going back to 198.18.0.2"
ok "default route via 198.18.0.3 with a lower metric moved the next hop there, and its removal moved it back"

# --- SIGHUP ---------------------------------------------------------------
printf '[timeouts]\nudp = 600\n' >> "$WORK/masq.toml"
kill -HUP "$MASQ_PID"
wait_log "reloaded .*timeouts" || fail "good reload not applied"
admin sessions --json | python3 -c "
import json,sys; d=json.load(sys.stdin)
sys.exit(0 if d['sessions'] and max(s['expires_in_s'] for s in d['sessions']) > 300 else 1)" \
    || fail "sessions did not take the 600 s UDP timer"
sed -i 's/^udp = 600$/udp = 60/' "$WORK/masq.toml"
kill -HUP "$MASQ_PID"
wait_log "refused, running configuration kept: .*timeouts.udp" || fail "bad reload not refused with its key"
sed -i 's/^udp = 60$/udp = 600/; s/^workers = 1$/workers = 2/' "$WORK/masq.toml"
kill -HUP "$MASQ_PID"
wait_log "refused, running configuration kept: .*workers" || fail "restart-only change not refused"
metrics > "$WORK/m"
[ "$(metric 'masq_config_reloads_total\{result="ok"')" -eq 1 ] || fail "reload ok count"
[ "$(metric 'masq_config_reloads_total\{result="failed"')" -eq 2 ] || fail "reload failed count"
flow lan1 > /dev/null || fail "traffic after the refused reloads"
ok "SIGHUP: UDP timer 300 -> 600 s applied to live sessions; udp = 60 and workers = 2 refused by key; traffic unaffected"

admin flush --subscriber 192.168.50.12 --json | python3 -c "
import json,sys; sys.exit(0 if json.load(sys.stdin)['flushed'] >= 1 else 1)" || fail "flush --subscriber"
[ "$(admin sessions --subscriber 192.168.50.12 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')" = 0 ] \
    || fail "sessions remain after the flush"
ok "masq flush --subscriber removes that subscriber's sessions"

masq_stop || fail "masq exited with an error"
[ ! -e "$SOCK" ] || fail "admin socket left behind"
ok "masq stopped cleanly and removed its admin socket"

# --- started before the WAN interface has an address ------------------------
{ masq_config masquerade; echo 'port_max = 32767'; } > "$WORK/masq.toml"
ns box ip addr flush dev wan0
# The address comes once masq has said it has none (a fixed delay races a
# slow start on a loaded machine).
(wait_log "no IPv4 address yet" 100; ns box ip addr add 198.18.0.1/24 dev wan0; ns box ip route replace default via 198.18.0.2) & PIDS+=($!)
masq_start "$MASQ" || fail "masq did not start without a WAN address"
grep -q "no IPv4 address yet" "$WORK/masq.log" || fail "no word of the missing address at start"
wait_log "none -> 198.18.0.1" || fail "masq did not take the address added after start"
read -r _ src <<<"$(flow lan1)" || fail "UDP once the address came"
case "$src" in 198.18.0.1:*) ;; *) fail "the WAN host saw $src" ;; esac
masq_stop || fail "masq exited with an error"
ok "started with no WAN address; translation began when 198.18.0.1 was added"
echo "control: $passed passed, 0 failed"
