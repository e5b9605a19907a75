#!/usr/bin/env bash
# Records the rtnetlink messages this kernel sends while a scratch box's
# interfaces, addresses, routes and neighbours change, one a line ("TYPE
# FLAGS HEX", with "MARK STEP" lines between the steps), for the
# captured-message tests of control/src/kernel (tests/captured.rs holds
# such a recording). Needs root.
# Usage: scripts/rtnl-capture.sh [OUTPUT]   (default: rtnl-capture.txt)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="$(realpath "${1:-rtnl-capture.txt}")"
cargo build -q -p masq --example rtnl_capture
BIN="$PWD/target/debug/examples/rtnl_capture"
N="rtnl$$"
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi
    for n in box wan lan; do ip netns del "$N-$n" 2>/dev/null || true; done
}
trap cleanup EXIT
box() { ip -n "$N-box" "$@"; }
for n in box wan lan; do ip netns add "$N-$n"; done
ip link add wan0 netns "$N-box" type veth peer name w0 netns "$N-wan"
ip link add lan0 netns "$N-box" type veth peer name h0 netns "$N-lan"
box link set wan0 address 02:00:00:00:01:01
box link set lan0 address 02:00:00:00:02:01
ip -n "$N-wan" link set w0 address 02:00:00:00:01:02
ip -n "$N-lan" link set h0 address 02:00:00:00:02:0b
for i in lo wan0 lan0; do box link set "$i" up; done
ip -n "$N-wan" link set w0 up
ip -n "$N-lan" link set h0 up
ip -n "$N-wan" addr add 198.18.0.2/24 dev w0
ip -n "$N-wan" addr add 198.18.0.3/24 dev w0
ip -n "$N-lan" addr add 192.168.50.11/24 dev h0
box addr add 198.18.0.1/24 dev wan0
box addr add 192.168.50.1/24 dev lan0
box route add default via 198.18.0.2 metric 100
ip netns exec "$N-box" sysctl -qw net.ipv4.conf.wan0.promote_secondaries=1
sleep 0.5
: > "$OUT"
mark() { sleep 0.3; echo "MARK $*" >> "$OUT"; }
dump_once() { ip netns exec "$N-box" "$BIN" dump-once >> "$OUT"; }
ip netns exec "$N-box" "$BIN" dump >> "$OUT" & PID=$!
sleep 0.5
mark addr-add-secondary; box addr add 198.18.0.5/24 dev wan0
mark addr-del-primary; box addr del 198.18.0.1/24 dev wan0
mark route-add-lower-metric; box route add default via 198.18.0.3 metric 50
mark route-replace-same-metric; box route replace default via 198.18.0.2 metric 50
mark route-del-lower; box route del default via 198.18.0.2 metric 50
mark route-other-table; box route add default via 198.18.0.2 table 100
mark route-multipath; box route add default metric 200 nexthop via 198.18.0.2 dev wan0 nexthop via 198.18.0.3 dev wan0
mark route-via-lan; box route add default via 192.168.50.7 dev lan0 metric 10
mark neigh-use-wan; box neigh replace 198.18.0.2 dev wan0 use nud none; sleep 0.3
mark neigh-use-lan; box neigh replace 192.168.50.11 dev lan0 use nud none; sleep 0.3
mark neigh-stale; box neigh change 198.18.0.2 dev wan0 lladdr 02:00:00:00:01:02 nud stale
mark neigh-use-stale; box neigh replace 198.18.0.2 dev wan0 use nud none; sleep 6
mark neigh-failed; box neigh replace 198.18.0.99 dev wan0 use nud none; sleep 4
mark dump-with-neighbours; dump_once
mark link-down; box link set wan0 down
mark dump-after-link-down; dump_once
mark link-up; box link set wan0 up
mark addr-flush; box addr flush dev wan0
mark link-del; box link del lan0
mark end
sleep 0.5
echo "rtnl-capture: $(grep -vc '^MARK' "$OUT") messages in $OUT"
