#!/usr/bin/env bash
# What the control plane costs with many live sessions, on the namespace
# topology (scripts/topology.sh): masq (release, one worker, a table of
# 1 048 576 sessions) holds SESSIONS UDP sessions made by one LAN host; the
# script times REPS scrapes of /metrics (curl, in the box) and REPS full
# listings `masq sessions --json`, and prints one JSON line each with the
# median, min and max in seconds, and the sessions the listing returned.
#
#   bench/control.sh [SESSIONS] [REPS]      (root; defaults 50000 20)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/topology.sh

SESSIONS="${1:-50000}"
REPS="${2:-20}"
MASQ=target/release/masq
[ -x "$MASQ" ] || { echo "control bench: build first: cargo build --release -p masq" >&2; exit 2; }

topo_test control-bench
topo_up "mqcb$$"
masq_config snat | sed 's/^max_sessions = .*/max_sessions = 1048576/' > "$WORK/masq.toml"
printf '[limits]\nsessions_per_subscriber = 1048576\n' >> "$WORK/masq.toml"
masq_start "$MASQ" || fail "masq did not start"
grep -q '^max_sessions = 1048576$' "$WORK/masq.toml" || fail "table size not set"

# One socket, SESSIONS remote ports: SESSIONS sessions of one mapping.
ns lan1 python3 -c "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', 4000))
for i in range($SESSIONS):
    s.sendto(b'x', ('198.18.0.2', 1024 + i % 64000))
    if i % 256 == 255:
        time.sleep(0.001)  # stay under the copy-mode rings
"
sleep 1
live="$("$MASQ" stats --json --socket "$WORK/masq.sock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["sessions"])')"
echo "control bench: $live live sessions, table of 1048576" >&2

# stats NAME: one JSON line from seconds on stdin.
stats() {
    python3 -c "
import json, statistics, sys
v = sorted(float(x) for x in sys.stdin.read().split())
print(json.dumps({'name': '$1', 'value': round(statistics.median(v), 5), 'unit': 's',
                  'min': v[0], 'max': v[-1], 'runs': len(v), 'sessions': $live}))"
}
for _ in $(seq "$REPS"); do
    ns box curl -sf -o /dev/null -w '%{time_total}\n' http://127.0.0.1:9469/metrics
done | stats metrics_scrape_s
for _ in $(seq "$REPS"); do
    t0="$(date +%s.%N)"
    n="$("$MASQ" sessions --json --limit 2000000 --socket "$WORK/masq.sock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')"
    t1="$(date +%s.%N)"
    [ "$n" = "$live" ] || fail "the listing returned $n of $live sessions"
    python3 -c "print($t1 - $t0)"
done | stats sessions_listing_s
masq_stop || fail "masq exited with an error"
