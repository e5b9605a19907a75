#!/usr/bin/env bash
# Two workers on two-queue veths: many UDP flows from two LAN hosts, each
# answered by the WAN host; every flow must come back to its socket, and
# the hand-off counters must show that frames crossed between workers.
# Needs root and two cores. Usage: tests/netns/workers.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="${1:-target/debug/masq}"
P="mqw$$"
topo_test workers

if [ "$(nproc)" -lt 2 ]; then
    echo "workers: needs 2 cores, this machine has $(nproc)" >&2
    exit 1
fi
TOPO_QUEUES=2
topo_up "$P"
masq_config snat > "$WORK/masq.toml"
masq_start "$MASQ" || true
grep -q "2 worker(s)" "$WORK/masq.log" || fail "masq did not start two workers"

cat > "$WORK/udp_echo.py" <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
while True:
    data, addr = s.recvfrom(2048)
    s.sendto(data, addr)
PY
ip netns exec "$P-wan" python3 "$WORK/udp_echo.py" & PIDS+=($!)
sleep 0.5

# FLOWS sockets per LAN host, each sending ROUNDS datagrams and expecting
# every echo back on the same socket.
cat > "$WORK/flows.py" <<'PY'
import socket, sys
flows, rounds = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(flows):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect(("198.18.0.2", 5353))
    socks.append(s)
bad = 0
for r in range(rounds):
    for i, s in enumerate(socks):
        msg = f"{i}:{r}".encode()
        s.send(msg)
    for i, s in enumerate(socks):
        want = f"{i}:{r}".encode()
        got = None
        # A datagram lost on a busy 2-core machine is sent once more; a
        # wrong translation never brings the right echo back at all.
        for attempt in range(2):
            if attempt:
                s.send(want)
            try:
                while got != want:
                    got = s.recv(100)
            except socket.timeout:
                continue
            break
        if got != want:
            bad += 1
print(f"{flows * rounds - bad} of {flows * rounds} echoes right")
sys.exit(1 if bad else 0)
PY
for h in lan1 lan2; do
    out="$(ns "$h" python3 "$WORK/flows.py" 200 3)" || fail "$h: $out"
    ok "$h: $out"
done

masq_stop || fail "masq exited with an error"
handed="$(grep -o 'handed off [0-9]* in [0-9]*' "$WORK/report.txt" | awk '{s += $3 + $5} END {print s + 0}')"
[ "$handed" -gt 0 ] || fail "no frame crossed between workers: $(grep '^worker' "$WORK/report.txt")"
grep '^worker' "$WORK/report.txt" | sed 's/^/workers: /'
ok "$handed frames crossed between the two workers"
[ "$(grep -c 'frames unaccounted 0$' "$WORK/report.txt")" -eq 2 ] || fail "UMEM frames unaccounted for"
ok "every UMEM frame of both workers accounted for at exit"
echo "workers: $passed passed, 0 failed"
