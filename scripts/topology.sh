# The test and demo topology; sourced, not run.
#
#   ${P}-lan1 (192.168.50.11) ─┐
#                              ├─ ${P}-sw (bridge) ── ${P}-box ── ${P}-wan (198.18.0.2)
#   ${P}-lan2 (192.168.50.12) ─┘     lan0 192.168.50.1   wan0 198.18.0.1
#
# The box runs masq between lan0 and wan0 with IP forwarding off, so only
# masq moves traffic between the sides. The WAN host routes the SNAT pool
# (198.19.0.0/29) to the box and is the box's default gateway.

TOPO_POOL="198.19.0.0/29"

# ns NAME CMD...: run in a namespace of this topology.
ns() { local n="$1"; shift; ip netns exec "$TOPO_PREFIX-$n" "$@"; }

topo_up() {
    TOPO_PREFIX="$1"
    local p="$TOPO_PREFIX"
    for n in lan1 lan2 sw box wan; do ip netns add "$p-$n"; done
    ip link add h1 netns "$p-lan1" type veth peer name s1 netns "$p-sw"
    ip link add h2 netns "$p-lan2" type veth peer name s2 netns "$p-sw"
    # TOPO_QUEUES queues on the box's links (one worker per queue pair).
    local q="numtxqueues ${TOPO_QUEUES:-1} numrxqueues ${TOPO_QUEUES:-1}"
    # shellcheck disable=SC2086
    ip link add lan0 netns "$p-box" $q type veth peer name s0 netns "$p-sw" $q
    # shellcheck disable=SC2086
    ip link add wan0 netns "$p-box" $q type veth peer name w0 netns "$p-wan" $q
    ns sw ip link add br0 type bridge
    for i in s0 s1 s2; do ns sw ip link set "$i" master br0 up; done
    ns sw ip link set br0 up
    ns lan1 ip addr add 192.168.50.11/24 dev h1
    ns lan2 ip addr add 192.168.50.12/24 dev h2
    ns box ip addr add 192.168.50.1/24 dev lan0
    ns box ip addr add 198.18.0.1/24 dev wan0
    ns wan ip addr add 198.18.0.2/24 dev w0
    for n in lan1 lan2 sw box wan; do ns "$n" ip link set lo up; done
    ns lan1 ip link set h1 up
    ns lan2 ip link set h2 up
    ns box ip link set lan0 up
    ns box ip link set wan0 up
    ns wan ip link set w0 up
    ns lan1 ip route add default via 192.168.50.1
    ns lan2 ip route add default via 192.168.50.1
    ns box ip route add default via 198.18.0.2
    ns wan ip route add "$TOPO_POOL" via 198.18.0.1
    ns box sysctl -qw net.ipv4.ip_forward=0
    # veth would hand AF_XDP frames with unfinished checksums.
    ns lan1 ethtool -K h1 tx off >/dev/null
    ns lan2 ethtool -K h2 tx off >/dev/null
    ns wan ethtool -K w0 tx off >/dev/null
}

topo_down() {
    local p="$1"
    for n in lan1 lan2 sw box wan; do ip netns del "$p-$n" 2>/dev/null || true; done
}

# masq_config MODE: a configuration for this topology on stdout.
masq_config() {
    local mode="$1"
    echo 'lan = "lan0"'
    echo 'wan = "wan0"'
    echo "mode = \"$mode\""
    echo 'inside = ["192.168.50.0/24"]'
    if [ "$mode" = snat ]; then echo "pool = [\"$TOPO_POOL\"]"; fi
    echo 'max_sessions = 65536'
    echo 'max_subscribers = 1024'
    echo 'ring_size = 512'
    echo "workers = ${TOPO_QUEUES:-1}"
    echo "admin_socket = \"${WORK:-/run/masq}/masq.sock\""
}

# The state of a run: WORK (a scratch folder), MASQ_PID, PIDS (helpers).
topo_session() {
    WORK="$(mktemp -d)"
    MASQ_PID=""
    PIDS=()
    trap topo_cleanup EXIT
}

# topo_test NAME: the test helpers `ok MESSAGE` (counts a passed check)
# and `fail MESSAGE` (prints masq's log and exits 1), for a test run.
topo_test() {
    TEST_NAME="$1"
    passed=0
    topo_session
}
ok() { echo "$TEST_NAME: ok: $*"; passed=$((passed + 1)); }
fail() {
    echo "$TEST_NAME: FAIL: $*" >&2
    if [ -f "$WORK/masq.log" ]; then sed 's/^/  masq| /' "$WORK/masq.log" >&2; fi
    exit 1
}

# Stops every process the run started (by PID) and removes the topology.
topo_cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -n "$MASQ_PID" ]; then kill "$MASQ_PID" 2>/dev/null || true; wait "$MASQ_PID" 2>/dev/null || true; fi
    if [ -n "${TOPO_PREFIX:-}" ]; then topo_down "$TOPO_PREFIX"; fi
    rm -rf "$WORK"
}

# masq_start BINARY [ARGS...]: runs masq in the box with $WORK/masq.toml,
# report in $WORK/report.txt, log in $WORK/masq.log; waits until it has
# resolved the WAN next hop (at most 10 s). Returns non-zero if it did not.
masq_start() {
    local bin="$1"
    shift
    ip netns exec "$TOPO_PREFIX-box" "$bin" run --config "$WORK/masq.toml" "$@" \
        > "$WORK/report.txt" 2> "$WORK/masq.log" &
    MASQ_PID=$!
    for _ in $(seq 100); do grep -q "WAN next hop" "$WORK/masq.log" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

# Helpers of the namespace tests (masq started by masq_start, MASQ the
# binary, metrics on the default 127.0.0.1:9469 of the box):
#   metrics: the /metrics text;  metric NAME_AND_LABELS_REGEX: the sum of
#   the matching samples in $WORK/m;  admin ARGS: `masq ARGS` on the run's
#   admin socket;  wait_log REGEX [TENTHS]: waits for a line of masq's log.
metrics() { ns box curl -sf --max-time 10 http://127.0.0.1:9469/metrics; }
metric() { awk -v re="^$1" '$0 ~ re {s += $NF} END {printf "%d\n", s}' "$WORK/m"; }
admin() { "$MASQ" "$@" --socket "$WORK/masq.sock"; }
wait_log() {
    for _ in $(seq "${2:-50}"); do grep -q "$1" "$WORK/masq.log" && return 0; sleep 0.1; done
    return 1
}

# udp_echo_start: a UDP server on the WAN host (port 5353) that answers
# each datagram with the source it saw, "IP:PORT".
udp_echo_start() {
    cat > "$WORK/udp_echo.py" <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
while True:
    data, addr = s.recvfrom(2048)
    s.sendto(f"{addr[0]}:{addr[1]}".encode(), addr)
PY
    ip netns exec "$TOPO_PREFIX-wan" python3 "$WORK/udp_echo.py" & PIDS+=($!)
}

# udp_ask HOST MESSAGE [TIMEOUT] [TRIES] [SRC_IP SRC_PORT]: sends MESSAGE
# from HOST to the WAN host's UDP port 5353 from one socket (bound to
# SRC_IP:SRC_PORT when given) and prints the answer; resends after TIMEOUT
# seconds (default 2), TRIES times in all (default 2).
udp_ask() {
    ns "$1" python3 -c "
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(${3:-2})
s.bind(('${5:-0.0.0.0}', ${6:-0}))
for attempt in range(${4:-2}):
    s.sendto(b'$2',('198.18.0.2',5353))
    try:
        print(s.recvfrom(2048)[0].decode()); break
    except socket.timeout:
        pass
else:
    sys.exit('no echo')"
}

# masq_stop: SIGTERM, and the exit status of masq.
masq_stop() {
    local rc=0
    kill -TERM "$MASQ_PID"
    wait "$MASQ_PID" || rc=$?
    MASQ_PID=""
    return "$rc"
}
