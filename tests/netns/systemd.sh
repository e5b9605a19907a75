#!/usr/bin/env bash
# control/masq.service's confinement lets masq run, in network namespaces
# (MASQUERADE mode). This machine's PID 1 is not systemd, so the unit
# itself cannot be started here; masq is run as the unit would run it:
#   * the capability bounding set read from the unit's
#     CapabilityBoundingSet=, no inheritable capabilities, no_new_privs
#     (NoNewPrivileges=yes), all through setpriv;
#   * the whole file system read-only but for the admin socket's directory
#     (ProtectSystem=strict with RuntimeDirectory=), /proc/sys and /sys
#     read-only (ProtectKernelTunables=yes), in a mount namespace of its own;
# and with that it translates UDP, serves /metrics and the admin socket,
# after a SIGKILL starts again and removes the killed run's programs (known
# by the ids recorded beside the admin socket), reloads on the unit's
# ExecReload= command and detaches its programs at stop. control/tests/systemd_unit.rs runs systemd-analyze verify on it.
# Needs root. Usage: tests/netns/systemd.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="${1:-target/debug/masq}"
UNIT=control/masq.service
P="mqd$$"
topo_test systemd

# CapabilityBoundingSet=CAP_A CAP_B -> +a,+b (setpriv's form).
caps="$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT" | tr ' ' '\n' | sed -n 's/^CAP_\(.*\)/+\L\1/p' | paste -sd, -)"
[ -n "$caps" ] || fail "no CapabilityBoundingSet= in $UNIT"
grep -qx 'NoNewPrivileges=yes' "$UNIT" || fail "$UNIT does not set NoNewPrivileges=yes"
grep -qx 'ProtectSystem=strict' "$UNIT" || fail "$UNIT does not set ProtectSystem=strict"
reload="$(sed -n 's/^ExecReload=//p' "$UNIT")"
[ "$reload" = '/bin/kill -HUP $MAINPID' ] || fail "ExecReload= is $reload"

topo_up "$P"
mkdir -p "$WORK/run"
{ masq_config masquerade | grep -v '^admin_socket'; echo 'port_max = 32767'; echo "admin_socket = \"$WORK/run/masq.sock\""; } > "$WORK/masq.toml"
udp_echo_start

# In its own mount namespace: the runtime directory becomes a mount of its
# own and stays writable; every other mount but /dev and /proc is made
# read-only, and /proc/sys too.
cat > "$WORK/confine.sh" <<'SH'
set -e
run="$1" caps="$2"
shift 2
mount --bind "$run" "$run"
mount --bind /proc/sys /proc/sys
findmnt -rn -o TARGET | sort -u | while read -r m; do
    case "$m" in "$run" | /dev | /dev/* | /proc) continue ;; esac
    mount -o remount,bind,ro "$m" 2> /dev/null || true
done
exec setpriv --bounding-set "-all,$caps" --inh-caps=-all --no-new-privs -- "$@"
SH
# start_confined: masq run, confined, in the box; waits for its next hop.
start_confined() {
    ip netns exec "$P-box" unshare --mount --propagation private \
        sh "$WORK/confine.sh" "$WORK/run" "$caps" "$MASQ" run --config "$WORK/masq.toml" \
        > "$WORK/report.txt" 2> "$WORK/masq.log" &
    MASQ_PID=$!
    wait_log "WAN next hop is" 100
}
start_confined || fail "masq did not start under the unit's confinement ($caps)"

# The confinement took effect.
# The capability numbers of linux/capability.h that a unit may name here.
mask="$(python3 -c "
bits = {'net_admin': 12, 'net_raw': 13, 'ipc_lock': 14, 'sys_admin': 21,
        'sys_nice': 23, 'sys_resource': 24, 'perfmon': 38, 'bpf': 39}
print('%016x' % sum(1 << bits[n] for n in '$caps'.replace('+', '').split(',')))")" \
    || fail "a capability of $caps has no number here"
bnd="$(awk '$1 == "CapBnd:" {print $2}' "/proc/$MASQ_PID/status")"
[ "$bnd" = "$mask" ] || fail "CapBnd $bnd, expected $mask ($caps)"
[ "$(awk '$1 == "NoNewPrivs:" {print $2}' "/proc/$MASQ_PID/status")" = 1 ] || fail "no no_new_privs"
awk '$5 == "/" {print $6}' "/proc/$MASQ_PID/mountinfo" | grep -q '^ro' || fail "/ is not read-only for masq"
awk -v r="$WORK/run" '$5 == r {print $6}' "/proc/$MASQ_PID/mountinfo" | grep -q '^rw' || fail "$WORK/run is not writable for masq"
awk '$5 == "/proc/sys" {print $6}' "/proc/$MASQ_PID/mountinfo" | grep -q '^ro' || fail "/proc/sys is not read-only for masq"
ok "masq started with the bounding set $caps, no_new_privs, / and /proc/sys read-only, only $WORK/run writable"

src="$(udp_ask lan1 x 0.7 3)" || fail "no UDP echo through the confined masq"
case "$src" in 198.18.0.1:*) ;; *) fail "the WAN host saw $src" ;; esac
metrics > "$WORK/m" || fail "/metrics not served"
[ "$(metric 'masq_sessions\{protocol="udp"')" -ge 1 ] || fail "no UDP session in /metrics"
"$MASQ" stats --json --socket "$WORK/run/masq.sock" > /dev/null || fail "the admin socket does not answer"
ok "confined: UDP leaves from 198.18.0.1, /metrics and the admin socket answer"

# A killed run leaves its programs attached (nothing crosses untranslated).
# The next run, with the same bounding set (no CAP_SYS_ADMIN, so it cannot
# read a program's name), knows them by the ids the killed run recorded
# beside its admin socket, removes them and translates.
[ -s "$WORK/run/masq.sock.xdp" ] || fail "no record of the XDP programs beside the admin socket"
kill -KILL "$MASQ_PID"
wait "$MASQ_PID" 2> /dev/null || true
MASQ_PID=""
ns box ip link show lan0 | grep -q " xdp" || fail "the killed run's program is gone from lan0"
mv "$WORK/masq.log" "$WORK/masq-killed.log"
start_confined || fail "masq did not start again under the unit's confinement after a SIGKILL"
for i in lan0 wan0; do
    grep -q "removed a stale XDP program from $i" "$WORK/masq.log" || fail "the stale program on $i was not removed"
done
src="$(udp_ask lan1 y 0.7 3)" || fail "no UDP echo after the restart"
case "$src" in 198.18.0.1:*) ;; *) fail "after the restart the WAN host saw $src" ;; esac
ok "SIGKILL: the programs stay attached; a run with the same bounding set knows them by their recorded ids, removes them and translates"

printf '[timeouts]\nudp = 600\n' >> "$WORK/masq.toml"
MAINPID="$MASQ_PID"
${reload//\$MAINPID/$MAINPID}
wait_log "reloaded .*timeouts" || fail "ExecReload= ($reload) did not reload"
ok "ExecReload= ($reload) applied a reload"

masq_stop || fail "masq exited with an error"
if ns box ip link show lan0 | grep -q " xdp"; then fail "XDP program left on lan0"; fi
if ns box ip link show wan0 | grep -q " xdp"; then fail "XDP program left on wan0"; fi
[ ! -e "$WORK/run/masq.sock" ] || fail "admin socket left behind"
[ ! -e "$WORK/run/masq.sock.xdp" ] || fail "the record of the XDP programs left behind"
if grep -qi "panic" "$WORK/masq.log"; then fail "a panic in masq's log"; fi
ok "confined masq stopped cleanly: programs detached, admin socket and record removed"
echo "$TEST_NAME: $passed passed, 0 failed"
