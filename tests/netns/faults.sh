#!/usr/bin/env bash
# Faults under load, in network namespaces (MASQUERADE mode, one worker),
# while hping3 pushes a steady UDP stream from lan1 through masq:
#   * privileges: after setup the control thread keeps only cap_net_admin,
#     the worker and the HTTP threads none, every thread has no_new_privs;
#   * the WAN link goes down and up: masq survives, traffic resumes;
#   * the WAN address is removed (drops counted as no_external_address)
#     and comes back: translation resumes;
#   * a bad configuration is sent with SIGHUP: refused by key, the running
#     one kept, traffic unaffected;
#   * a worker stalls (fault injection: `masq pause-worker`): the control
#     thread reports it in its log, /healthz (503), masq_worker_stalled and
#     `masq stats`, stays responsive, and reports the recovery;
#   * an HTTP client that trickles its request, or one that never reads,
#     holds neither the control thread nor other HTTP clients;
#   * masq is killed with SIGKILL: its XDP programs stay attached and
#     nothing passes; a restart removes them and traffic resumes;
#   * a clean stop detaches the programs (with the reduced privileges);
#   * another XDP program on the LAN interface (a pass program attached
#     with ip): masq refuses to start, names it, and leaves it attached.
# Needs root. Usage: tests/netns/faults.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="${1:-target/debug/masq}"
P="mqf$$"
topo_test faults

topo_up "$P"
{
    masq_config masquerade
    echo 'port_max = 32767'
    echo 'stall_timeout = 1'
} > "$WORK/masq.toml"
masq_start "$MASQ" --fault-injection || fail "masq did not start or resolve its next hop"

udp_echo_start

# probe HOST: one UDP exchange through masq (3 tries of 0.7 s); prints
# what the WAN host saw as the source.
probe() { udp_ask "$1" x 0.7 3; }
# The LAN packets masq has received so far.
lan_rx() { metrics > "$WORK/m" && metric 'masq_packets_total\{direction="rx",side="lan"'; }
# load_flows: whether the load is translated now (masq's LAN receive
# counter moves by more than 500 packets in half a second).
load_flows() {
    local a b
    a="$(lan_rx)"
    sleep 0.5
    b="$(lan_rx)"
    [ "$((b - a))" -gt 500 ]
}
healthz() { ns box curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:9469/healthz; }
sleep 0.3
probe lan2 > /dev/null || fail "no UDP echo through masq before the faults"

# --- privileges after setup -------------------------------------------------
caps_of() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$MASQ_PID/task/$1/status"; }
http_threads=0
for t in /proc/"$MASQ_PID"/task/*; do
    tid="${t##*/}"
    name="$(cat "$t/comm")"
    eff="$(caps_of "$tid" CapEff)"
    prm="$(caps_of "$tid" CapPrm)"
    nnp="$(caps_of "$tid" NoNewPrivs)"
    case "$name" in
        masq-worker-*) want=0000000000000000 ;;
        masq-http) want=0000000000000000 http_threads=$((http_threads + 1)) ;;
        *) want=0000000000001000 ;; # cap_net_admin (bit 12)
    esac
    [ "$eff" = "$want" ] && [ "$prm" = "$want" ] || fail "thread $name: CapEff $eff CapPrm $prm, expected $want"
    [ "$nnp" = 1 ] || fail "thread $name: NoNewPrivs $nnp"
    [ "$name" = masq ] && bnd="$(caps_of "$tid" CapBnd)"
done
[ "$http_threads" -ge 2 ] || fail "$http_threads masq-http threads (the server and its accept thread expected)"
[ "${bnd:-}" = 0000000000001000 ] || fail "bounding set of the control thread: ${bnd:-none}"
grep -q "privileges: control thread keeps cap_net_admin" "$WORK/masq.log" || fail "no privileges line in the log"
ok "after setup: control thread cap_net_admin only (effective, permitted, bounding), worker and HTTP threads none, no_new_privs on every thread"

# --- the load -----------------------------------------------------------------
# hping3 with a fixed source port (-k): one session, about 10 kpps.
ip netns exec "$P-lan1" hping3 --udp -q -k -s 40000 -p 9 -i u100 198.18.0.2 > /dev/null 2>&1 & PIDS+=($!)
sleep 0.5
load_flows || fail "the hping3 load does not reach masq"

# --- WAN link down and up under load ------------------------------------------
ns box ip link set wan0 down
sleep 1
ns box ip link set wan0 up
ns box ip route replace default via 198.18.0.2
sleep 1
kill -0 "$MASQ_PID" || fail "masq died when the link went down under load"
probe lan2 > /dev/null || fail "no UDP echo after the link flap"
load_flows || fail "the load is not translated after the link flap"
ok "WAN link down 1 s and up under load: masq survived, the load and new flows pass again"

# --- WAN address removed under load -------------------------------------------
metrics > "$WORK/m"
d0="$(metric 'masq_drops_total\{reason="no_external_address"')"
ns box ip addr flush dev wan0
wait_log "198.18.0.1 -> none" || fail "masq did not see the address removal"
sleep 1
metrics > "$WORK/m"
d1="$(metric 'masq_drops_total\{reason="no_external_address"')"
[ "$((d1 - d0))" -gt 1000 ] || fail "no_external_address drops went $d0 -> $d1 during a second of load"
ns box ip addr add 198.18.0.1/24 dev wan0
ns box ip route replace default via 198.18.0.2
wait_log "none -> 198.18.0.1" || fail "masq did not take the address back"
src="$(probe lan2)" || fail "no UDP echo after the address came back"
case "$src" in 198.18.0.1:*) ;; *) fail "after the address came back the WAN host saw $src" ;; esac
load_flows || fail "the load is not translated after the address came back"
ok "address removed under load: $((d1 - d0)) packets dropped as no_external_address; translation resumed when it came back"

# --- a bad reload under load ----------------------------------------------------
metrics > "$WORK/m"
s0="$(metric 'masq_sessions\{')"
cp "$WORK/masq.toml" "$WORK/good.toml"
echo 'max_sessions = "plenty"' >> "$WORK/masq.toml"
kill -HUP "$MASQ_PID"
wait_log "refused, running configuration kept: .*max_sessions" || fail "bad reload not refused by key"
metrics > "$WORK/m"
[ "$(metric 'masq_config_reloads_total\{result="failed"')" -eq 1 ] || fail "failed reload not counted"
[ "$(metric 'masq_sessions\{')" -ge "$s0" ] || fail "sessions dropped from $s0 after the refused reload"
probe lan2 > /dev/null || fail "no UDP echo after the refused reload"
load_flows || fail "the load is not translated after the refused reload"
cp "$WORK/good.toml" "$WORK/masq.toml"
ok "a bad reload under load (max_sessions = \"plenty\") was refused by key; $s0 sessions kept, traffic unaffected"

# --- a stalled worker -----------------------------------------------------------
[ "$(healthz)" = 200 ] || fail "/healthz not 200 before the stall"
admin pause-worker --worker 0 --seconds 4 > /dev/null || fail "masq pause-worker refused"
wait_log "worker 0 stalled" 40 || fail "the stall was not reported within 4 s"
[ "$(healthz)" = 503 ] || fail "/healthz not 503 during the stall"
metrics > "$WORK/m" || fail "/metrics not served during the stall"
[ "$(metric 'masq_worker_stalled\{worker="0"')" -eq 1 ] || fail "masq_worker_stalled not 1 during the stall"
admin stats --json > "$WORK/stats.json" || fail "masq stats did not answer during the stall"
python3 -c "
import json,sys; d=json.load(open('$WORK/stats.json'))
sys.exit(0 if d['workers_stalled'] and d['workers_stalled'][0].startswith('worker 0') else 1)" \
    || fail "masq stats does not name the stalled worker: $(cat "$WORK/stats.json")"
wait_log "worker 0 recovered" 60 || fail "the recovery was not reported"
[ "$(healthz)" = 200 ] || fail "/healthz not 200 after the recovery"
metrics > "$WORK/m"
[ "$(metric 'masq_worker_stalled\{worker="0"')" -eq 0 ] || fail "masq_worker_stalled not back to 0"
[ "$(metric 'masq_worker_stalls_total\{worker="0"')" -eq 1 ] || fail "masq_worker_stalls_total not 1"
probe lan2 > /dev/null || fail "no UDP echo after the stall"
load_flows || fail "the load is not translated after the stall"
ok "a worker paused 4 s: reported stalled (log, /healthz 503, masq_worker_stalled, masq stats) while the control thread kept answering; recovery reported, traffic resumed"

# --- clients that trickle an HTTP request, or never read ----------------------
# One byte every 0.2 s for 6 s, and 300 requests sent at once through a
# 4 KiB receive buffer that is never read: the HTTP threads hold them, the
# control thread never touches their sockets, so the admin socket and
# /healthz still answer at once.
ip netns exec "$P-box" python3 -c "
import socket,time
s=socket.create_connection(('127.0.0.1',9469))
for b in b'GET /metrics HTTP/1.0\r\nX-Slow: aaaaaaaaaaa':
    try:
        s.send(bytes([b]))
    except OSError:
        break
    time.sleep(0.2)" & slow=$!
PIDS+=($slow)
ip netns exec "$P-box" python3 -c "
import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,4096)
s.connect(('127.0.0.1',9469))
s.sendall(b'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'*300)
time.sleep(8)" & sleeper=$!
PIDS+=($sleeper)
sleep 1
timeout 3 "$MASQ" stats --json --socket "$WORK/masq.sock" > /dev/null || fail "the admin socket did not answer within 3 s while an HTTP client trickled its request and another never read"
[ "$(healthz)" = 200 ] || fail "/healthz not served while a client trickled its request and another never read"
metrics > "$WORK/m" || fail "/metrics not served while a client trickled its request and another never read"
ok "a client trickling an HTTP request one byte per 0.2 s, and one pipelining 300 requests that it never reads, hold neither the control thread nor other HTTP clients"

# --- SIGKILL under load, and a restart --------------------------------------------
kill -KILL "$MASQ_PID"
wait "$MASQ_PID" 2> /dev/null || true
MASQ_PID=""
ns box ip link show lan0 | grep -q " xdp" || fail "no XDP program left on lan0 after SIGKILL (expected the stale one)"
if probe lan2 > /dev/null 2>&1; then fail "traffic passed while masq was dead"; fi
mv "$WORK/masq.log" "$WORK/masq-killed.log"
masq_start "$MASQ" || fail "masq did not restart after SIGKILL"
grep -q "removed a stale XDP program from lan0" "$WORK/masq.log" || fail "stale program on lan0 not reported removed"
grep -q "removed a stale XDP program from wan0" "$WORK/masq.log" || fail "stale program on wan0 not reported removed"
probe lan2 > /dev/null || fail "no UDP echo after the restart"
load_flows || fail "the load is not translated after the restart"
if admin pause-worker --worker 0 --seconds 1 > /dev/null 2>&1; then fail "pause-worker accepted without --fault-injection"; fi
ok "SIGKILL under load: programs left attached and nothing passed; the restart removed them and traffic resumed"

metrics > "$WORK/m"
[ "$(metric 'masq_umem_frames_unaccounted')" -eq 0 ] || fail "UMEM frames unaccounted"
if grep -qi "panic" "$WORK/masq.log" "$WORK/masq-killed.log"; then fail "a panic in masq's log"; fi
masq_stop || fail "masq exited with an error"
if ns box ip link show lan0 | grep -q " xdp"; then fail "XDP program left on lan0 after a clean stop"; fi
if ns box ip link show wan0 | grep -q " xdp"; then fail "XDP program left on wan0 after a clean stop"; fi
ok "clean stop under load: programs detached with the reduced privileges, no UMEM frame unaccounted, no panic"

# --- another XDP program on the LAN interface -----------------------------------
cat > "$WORK/foreign.c" <<'C'
#include <linux/bpf.h>
__attribute__((section("xdp"), used)) int foreign_pass(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] __attribute__((section("license"), used)) = "GPL";
C
clang -O2 -g -target bpf -I"/usr/include/$(uname -m)-linux-gnu" -c "$WORK/foreign.c" -o "$WORK/foreign.o" \
    || fail "cannot compile the foreign XDP program"
ns box ip link set dev lan0 xdpdrv obj "$WORK/foreign.o" sec xdp || fail "ip did not attach the foreign program"
xdp_id() { ns box ip -d link show "$1" | sed -n 's|.*prog/xdp id \([0-9]*\) name \([^ ]*\).*|\1 \2|p'; }
foreign="$(xdp_id lan0)"
[ "${foreign#* }" = foreign_pass ] || fail "the foreign program is not on lan0: '$foreign'"
if timeout 10 ip netns exec "$P-box" "$MASQ" run --config "$WORK/masq.toml" > /dev/null 2> "$WORK/foreign.log"; then
    fail "masq started over another XDP program"
fi
want="interface lan0 has another XDP program attached (id ${foreign% *}, name foreign_pass); masq does not remove it"
grep -qF "$want" "$WORK/foreign.log" || fail "masq did not name the foreign program: $(cat "$WORK/foreign.log")"
[ "$(xdp_id lan0)" = "$foreign" ] || fail "the foreign program on lan0 was removed or replaced: '$(xdp_id lan0)'"
[ -z "$(xdp_id wan0)" ] || fail "masq left a program on wan0 when it refused to start: $(xdp_id wan0)"
ns box ip link set dev lan0 xdpdrv off
ok "another XDP program on lan0 (id ${foreign% *}, foreign_pass): masq refused to start, named it, and left it attached"

echo "$TEST_NAME: $passed passed, 0 failed"
