#!/usr/bin/env bash
# Floods and exhaustion in network namespaces (SNAT, the standard topology,
# one worker on the last core, the flood senders on the other cores).
#
# Run 1 (floods; a table of 1024 sessions, 200 per subscriber): lan2 keeps a
# TCP connection to the WAN host busy with a line every 0.1 s for the whole
# run. Then, for FLOOD_SECONDS each (hping3 --flood):
#   1. a SYN flood from lan1, a new source port per packet;
#   2. a UDP flood from lan1's second address, the same way;
#   3. a SYN flood, then a UDP flood, from the WAN host at all eight pool
#      addresses with incrementing destination ports (from 10000 on);
#   4. UDP floods from six more LAN addresses, enough to fill the table.
# During each: lan2's connection never goes more than 1 s without a round
# trip; lan2 opens new TCP and UDP flows. After each: a LAN flooder holds
# exactly its limit and subscriber_session_limit rose; no subscriber ever
# held more than its limit nor the table more than max_sessions (sampled
# every 0.5 s); WAN floods are counted as no_mapping and make no session
# except through a mapping made from inside (endpoint-independent
# filtering); the full table counts session_table_full and refuses lan2's
# new flow with ICMP 3/13; masq's VmRSS stays under its bound (start + 1 KiB
# per session of the table + FLOOD_RSS_SLACK_MB, default 16).
#   5. Recovery: the flooders' sessions expire (FLOOD_RECOVERY=expire, the
#      default: the RFC minimum timers, TCP transitory 240 s, so about 4.5
#      minutes) or are flushed (FLOOD_RECOVERY=flush: seconds); the table is
#      back to its level before the floods; lan1 opens flows again; masq
#      alive, no panic, no UMEM frame unaccounted, a clean exit.
# Run 2 (exhaustion; one pool address with three blocks of 64 ports, two
# blocks at most per subscriber): lan1 takes two blocks and uses their 128
# ports, its next flows get ICMP 3/13 (EHOSTUNREACH at the socket, captured
# on the wire) and subscriber_ports_exhausted rises while lan2's new flows
# work; with the pool's three blocks held, a new subscriber gets 3/13 and
# pool_exhausted rises while lan1 and lan2 keep opening flows; lan2, which
# may hold a second block but finds none, still gets every free port of
# its one block, of either parity, before 3/13.
# Prints the figures: offered rate (the sender's interface), the rate masq
# received, frames its socket dropped, drops by reason, peak sessions,
# VmRSS before, at its peak and after.
# Needs root and hping3.
# A flood lasts FLOOD_SECONDS (default 5), or longer on a busy machine
# until its senders got FLOOD_MIN_FRAMES (default 5000) out, up to
# FLOOD_MAX_SECONDS (default 60).
# Usage: [FLOOD_SECONDS=5] [FLOOD_RECOVERY=expire|flush] tests/netns/flood.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="${1:-target/debug/masq}"
FLOOD_SECONDS="${FLOOD_SECONDS:-5}"
FLOOD_RECOVERY="${FLOOD_RECOVERY:-expire}"
FLOOD_MIN_FRAMES="${FLOOD_MIN_FRAMES:-5000}"
FLOOD_MAX_SECONDS="${FLOOD_MAX_SECONDS:-60}"
P="mqf$$"
TOPO_QUEUES=1           # one worker: max_sessions is the whole table
topo_test flood
START="$(date +%s)"
PEER="tests/netns/flood_peer.py"
PY=/usr/bin/python3

LAN1=192.168.50.11
LAN1B=192.168.50.21     # lan1's second address: the UDP flooder
LAN2=192.168.50.12
LAN2B=192.168.50.22     # lan2's second address: the refused subscriber of run 2
SPOOF=(192.168.50.31 192.168.50.32 192.168.50.33 192.168.50.34 192.168.50.35 192.168.50.36)
WANH=198.18.0.2
TCP_ECHO=7000
UDP_ECHO=7001
MAX_SESSIONS=1024       # the table (one worker)
LIMIT=200               # sessions per subscriber
BLOCK=64                # ports per block
BLOCKS=8                # blocks per subscriber: 512 ports, more than LIMIT
TRANSITORY=240          # TCP transitory timer (RFC minimum): a SYN flood's sessions
UDP_TIMEOUT=120         # UDP timer (RFC minimum)
# VmRSS may grow by at most 1 KiB per session of the table plus this slack:
# the tables are sized at start, so memory that grew with the frames
# offered (a million or more) would cross it.
RSS_SLACK_KB=$(( ${FLOOD_RSS_SLACK_MB:-16} * 1024 ))
# masq's worker gets the last core to itself; the flood senders run on the
# others (so that a sender never takes the worker's core).
NCPU="$(nproc)"
MASQ_CORE=$((NCPU - 1))
SENDER_CPUS="0-$((NCPU > 1 ? NCPU - 2 : 0))"

case "$FLOOD_RECOVERY" in expire|flush) ;; *) fail "FLOOD_RECOVERY is '$FLOOD_RECOVERY', not expire or flush" ;; esac
command -v hping3 > /dev/null || fail "hping3 is missing (Debian package hping3)"
[ -x "$MASQ" ] || fail "$MASQ is not an executable"

topo_up "$P"
ns lan1 ip addr add "$LAN1B/24" dev h1
ns lan2 ip addr add "$LAN2B/24" dev h2
# lan2's and the WAN host's TCP retransmit 10 ms after a loss at the
# least (instead of 200 ms, doubling): when masq is saturated and drops
# frames at its socket, lan2's connection then pauses over 1 s only if
# masq stopped carrying it, not because TCP backed off after random losses.
ns lan2 ip route change default via 192.168.50.1 dev h2 rto_min 10ms
ns wan ip route change "$TOPO_POOL" via 198.18.0.1 dev w0 rto_min 10ms

now() { date +%s.%N; }
admin() { "$MASQ" "$@" --socket "$WORK/masq.sock"; }
metrics() { ns box curl -sf --max-time 10 http://127.0.0.1:9469/metrics; }
# msum FILE REGEX: the sum of the samples in a /metrics dump matching ^REGEX.
msum() { awk -v re="^$2" '$0 ~ re {s += $NF} END {printf "%d\n", s}' "$1"; }
# js FILE EXPR: a Python expression over the JSON in FILE (as d).
js() { "$PY" -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1"; }
# drop FILE REASON: one drop counter of a `masq stats --json` answer.
drop() { js "$1" "d['drops']['$2']"; }
# subs_of FILE ADDR: sessions of one subscriber in a `masq subscribers --json` answer.
subs_of() { js "$1" "sum(s['sessions'] for s in d['subscribers'] if s['subscriber'] == '$2')"; }
txp() { ns "$1" cat "/sys/class/net/$2/statistics/tx_packets"; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$MASQ_PID/status"; }
# flows HOST tcp|udp N [--bind IP] [--even FIRST]: N new flows to the WAN
# echo servers (see flood_peer.py); one result word per flow.
flows() {
    local h="$1" kind="$2" n="$3"; shift 3
    local port=$TCP_ECHO
    [ "$kind" = udp ] && port=$UDP_ECHO
    ns "$h" "$PY" "$PEER" flows "$kind" "$WANH" "$port" "$n" "$@"
}
listening() {
    for _ in $(seq 50); do ns "$1" ss -Hln --"$2" "sport = :$3" | grep -q . && return 0; sleep 0.1; done
    return 1
}

# --- run 1: floods -------------------------------------------------------------
{
    masq_config snat | grep -v '^max_sessions'
    cat <<EOF
max_sessions = $MAX_SESSIONS
block_size = $BLOCK
cores = [$MASQ_CORE]

[limits]
sessions_per_subscriber = $LIMIT
blocks_per_subscriber = $BLOCKS

[timeouts]
udp = $UDP_TIMEOUT
tcp_transitory = $TRANSITORY
EOF
} > "$WORK/masq.toml"
"$MASQ" check-config "$WORK/masq.toml" > "$WORK/effective.toml" 2>&1 \
    || fail "check-config refused the configuration: $(cat "$WORK/effective.toml")"

ip netns exec "$P-wan" "$PY" "$PEER" echo tcp "$TCP_ECHO" & PIDS+=($!)
ip netns exec "$P-wan" "$PY" "$PEER" echo udp "$UDP_ECHO" & PIDS+=($!)
listening wan tcp "$TCP_ECHO" || fail "no TCP echo server on the WAN host"
listening wan udp "$UDP_ECHO" || fail "no UDP echo server on the WAN host"
masq_start "$MASQ" || fail "masq did not start or resolve its next hop"
[ "$(awk '/^Name:/ {print $2}' "/proc/$MASQ_PID/status")" = masq ] || fail "PID $MASQ_PID is not masq"

# --- 1. before any flood ---------------------------------------------------------
ip netns exec "$P-lan2" "$PY" "$PEER" keepalive "$WANH" "$TCP_ECHO" > "$WORK/keepalive.log" 2>&1 & PIDS+=($!)
KEEPALIVE=$!
for _ in $(seq 50); do [ "$(wc -l < "$WORK/keepalive.log")" -ge 5 ] && break; sleep 0.1; done
[ "$(grep -cv '^error' "$WORK/keepalive.log")" -ge 5 ] \
    || fail "lan2's TCP connection to $WANH:$TCP_ECHO does not echo: $(head -3 "$WORK/keepalive.log")"
r="$(flows lan2 udp 1)"
[ "$r" = ok ] || fail "a UDP exchange from lan2 failed before any flood: $r"
sleep 1
"$PY" "$PEER" sample "$WORK/masq.sock" "$MASQ_PID" 0.5 > "$WORK/samples.jsonl" 2> "$WORK/sampler.log" & PIDS+=($!)
admin stats --json > "$WORK/pre.json" || fail "masq stats"
metrics > "$WORK/pre.prom" || fail "GET /metrics"
PRE_SESSIONS="$(js "$WORK/pre.json" "d['totals']['sessions']")"
RSS0="$(rss)"
RSS_BOUND=$((RSS0 + MAX_SESSIONS + RSS_SLACK_KB))
FLOODS_T0="$(now)"
ok "before the floods: lan2's TCP connection echoes every 0.1 s, a UDP exchange works; $PRE_SESSIONS session(s), VmRSS $RSS0 kB (bound $RSS_BOUND kB)"

FIGURES=()
TOTAL_SENT=0
PROBE_FAILS=()
PROBES=0
# probe_new: lan2 opens one new TCP and one new UDP flow; failures are kept.
probe_new() {
    local t u
    t="$(flows lan2 tcp 1)"
    u="$(flows lan2 udp 1)"
    PROBES=$((PROBES + 1))
    [ "$t" = ok ] || PROBE_FAILS+=("tcp:$t")
    [ "$u" = ok ] || PROBE_FAILS+=("udp:$u")
}
# flood NAME SENDER_NS SENDER_DEV PROBE [hping3 ARGS]...: one hping3 per
# argument set (separated by "--"), run in parallel (see FLOOD_SECONDS);
# with PROBE=yes lan2 opens new flows meanwhile, with PROBE=full one new
# UDP flow once the table is seen full (FULL_SEEN, FULL_PROBE). Leaves the
# figures in FL_* and the stats before/after in $WORK/NAME.{0,1}.json.
flood() {
    local name="$1" host="$2" dev="$3" probe="$4"; shift 4
    local pids=() args=() i=0
    admin stats --json > "$WORK/$name.0.json" || fail "masq stats"
    metrics > "$WORK/$name.0.prom" || fail "GET /metrics"
    local tx0
    tx0="$(txp "$host" "$dev")"
    FL_T0="$(now)"
    PROBE_FAILS=()
    PROBES=0
    while :; do
        if [ $# -eq 0 ] || [ "$1" = -- ]; then
            ip netns exec "$P-$host" taskset -c "$SENDER_CPUS" nice -n 19 hping3 "${args[@]}" \
                > "$WORK/hping-$name-$i.txt" 2>&1 & PIDS+=($!)
            pids+=($!)
            i=$((i + 1))
            args=()
            [ $# -eq 0 ] && break
            shift
        else
            args+=("$1")
            shift
        fi
    done
    # FLOOD_SECONDS, or longer (FLOOD_MAX_SECONDS at most) until the
    # senders got FLOOD_MIN_FRAMES out on a machine busy with other work.
    local start end
    start="$(date +%s)"
    while :; do
        local p
        for p in "${pids[@]}"; do
            kill -0 "$p" 2>/dev/null || fail "$name: hping3 exited early: $(cat "$WORK"/hping-"$name"-*.txt)"
        done
        # A few rounds only: lan2's own sessions stay far under its limit.
        if [ "$probe" = yes ] && [ "$PROBES" -lt 4 ]; then probe_new; fi
        if [ "$probe" = full ] && [ -z "$FULL_PROBE" ]; then
            # Once the table is seen full, lan2 tries a new flow in it.
            admin stats --json > "$WORK/$name.full.json" || fail "masq stats"
            FULL_SEEN="$(js "$WORK/$name.full.json" "d['totals']['sessions']")"
            if [ "$FULL_SEEN" -ge "$MAX_SESSIONS" ]; then FULL_PROBE="$(flows lan2 udp 1)"; fi
        fi
        sleep 1
        end="$(date +%s)"
        [ $((end - start)) -ge "$FLOOD_SECONDS" ] || continue
        [ "$probe" = full ] && [ -z "$FULL_PROBE" ] && [ $((end - start)) -lt "$FLOOD_MAX_SECONDS" ] && continue
        [ $(($(txp "$host" "$dev") - tx0)) -ge "$FLOOD_MIN_FRAMES" ] && break
        [ $((end - start)) -ge "$FLOOD_MAX_SECONDS" ] && break
    done
    for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" || true; done
    FL_T1="$(now)"
    local tx1
    tx1="$(txp "$host" "$dev")"
    admin stats --json > "$WORK/$name.1.json" || fail "masq stats"
    metrics > "$WORK/$name.1.prom" || fail "GET /metrics"
    FL_SECS="$("$PY" -c "print(f'{$FL_T1 - $FL_T0:.1f}')")"
    FL_SENT=$((tx1 - tx0))
    TOTAL_SENT=$((TOTAL_SENT + FL_SENT))
    FL_HPING="$(cat "$WORK"/hping-"$name"-*.txt | awk '/packets transmitted/ {s += $1} END {print s + 0}')"
    local side=lan
    [ "$host" = wan ] && side=wan
    FL_RX=$(($(js "$WORK/$name.1.json" "d['totals']['rx_${side}_packets']") - $(js "$WORK/$name.0.json" "d['totals']['rx_${side}_packets']")))
    local x0 x1
    x0="$(msum "$WORK/$name.0.prom" 'masq_xsk_rx_dropped_total')"
    x1="$(msum "$WORK/$name.1.prom" 'masq_xsk_rx_dropped_total')"
    FL_XSK=$((x1 - x0))
    FL_DROPS="$("$PY" - "$WORK/$name.0.json" "$WORK/$name.1.json" <<'PY'
import json, sys
a, b = (json.load(open(f))["drops"] for f in sys.argv[1:3])
print(" ".join(f"{k}={b[k] - a.get(k, 0)}" for k in sorted(b) if b[k] != a.get(k, 0)) or "none")
PY
)"
    read -r FL_N FL_PEAK FL_RSS _ <<<"$("$PY" "$PEER" peak "$WORK/samples.jsonl" "$FL_T0" "$FL_T1")"
    [ "$FL_SENT" -gt 0 ] || fail "$name: the flood sent nothing: $(cat "$WORK"/hping-"$name"-*.txt)"
    FIGURES+=("$(printf '%-12s %5ss offered %8d pps (%d sent, hping3 %d)  masq rx %8d pps  xsk rx dropped %d  peak sessions %d  peak VmRSS %d kB  drops: %s' \
        "$name" "$FL_SECS" "$("$PY" -c "print(int($FL_SENT / $FL_SECS))")" "$FL_SENT" "$FL_HPING" \
        "$("$PY" -c "print(int($FL_RX / $FL_SECS))")" "$FL_XSK" "$FL_PEAK" "$FL_RSS" "$FL_DROPS")")
    echo "flood: figures: ${FIGURES[-1]}"
}
# keepalive_ok WHAT T0 T1: lan2's connection had a round trip at least
# every second between T0 and T1, and is alive.
keepalive_ok() {
    local gap n err
    sleep 1.2
    read -r gap n err <<<"$("$PY" "$PEER" gap "$WORK/keepalive.log" "$2" "$3")"
    [ "$err" = none ] || fail "$1: lan2's TCP connection failed: $(grep '^error' "$WORK/keepalive.log")"
    kill -0 "$KEEPALIVE" 2>/dev/null || fail "$1: lan2's TCP client exited: $(tail -2 "$WORK/keepalive.log")"
    "$PY" -c "import sys; sys.exit(not $gap <= 1.0)" \
        || fail "$1: lan2's TCP connection went $gap s without a round trip (at most 1 s allowed; in the last flood masq's socket dropped $FL_XSK of $FL_SENT frames sent)"
    KA="longest gap ${gap} s, $n round trips"
}
# bounded WHAT: the table never held more than max_sessions, VmRSS stayed
# under its bound (samples between FL_T0 and FL_T1).
bounded() {
    [ "$FL_N" -ge 1 ] || fail "$1: no sample of masq's state during the flood: $(tail -3 "$WORK/sampler.log")"
    [ "$FL_PEAK" -le "$MAX_SESSIONS" ] || fail "$1: $FL_PEAK sessions in a table of $MAX_SESSIONS"
    [ "$FL_RSS" -le "$RSS_BOUND" ] || fail "$1: masq's VmRSS reached $FL_RSS kB, over the bound of $RSS_BOUND kB (before: $RSS0 kB)"
}
# lan_flood_checks WHAT FLOODER: the flooder hit its session limit (counted,
# never exceeded), lan2's flows kept working, memory and table bounded.
lan_flood_checks() {
    local what="$1" who="$2" l0 l1 top now_n
    keepalive_ok "$what" "$FL_T0" "$FL_T1"
    [ "$PROBES" -ge 1 ] || fail "$what: lan2 opened no new flow during the flood"
    [ "${#PROBE_FAILS[@]}" -eq 0 ] || fail "$what: lan2's new flows during the flood failed: ${PROBE_FAILS[*]} (of $PROBES tries)"
    l0="$(drop "$WORK/$what.0.json" subscriber_session_limit)"
    l1="$(drop "$WORK/$what.1.json" subscriber_session_limit)"
    [ "$l1" -gt "$l0" ] || fail "$what: subscriber_session_limit stayed at $l1"
    read -r _ _ _ top <<<"$("$PY" "$PEER" peak "$WORK/samples.jsonl" "$FL_T0" "$FL_T1" "$who")"
    admin subscribers --json > "$WORK/$what.subs.json" || fail "masq subscribers"
    now_n="$(subs_of "$WORK/$what.subs.json" "$who")"
    [ "$top" -le "$LIMIT" ] || fail "$what: $who held $top sessions, over its limit of $LIMIT"
    [ "$now_n" -eq "$LIMIT" ] || fail "$what: $who holds $now_n sessions after the flood, expected its limit $LIMIT"
    bounded "$what"
    ok "$what: $who holds exactly its limit of $LIMIT sessions (peak $top), subscriber_session_limit $l0 -> $l1; table peak $FL_PEAK <= $MAX_SESSIONS; lan2: $PROBES new TCP+UDP flows ok, $KA; VmRSS peak $FL_RSS kB <= $RSS_BOUND"
}

# --- 2. floods from the LAN -----------------------------------------------------
flood syn-lan lan1 h1 yes -S -p 9 --flood "$WANH"
lan_flood_checks syn-lan "$LAN1"
SYN_END="$(date +%s)"
flood udp-lan lan1 h1 yes --udp -a "$LAN1B" -p 9 --flood "$WANH"
lan_flood_checks udp-lan "$LAN1B"

# --- 3. floods from the WAN at the pool -------------------------------------------
# A fixed source port (40000) tells the floods' packets from everything else.
wan_flood_checks() {
    local what="$1" n0 n1 rx fwd
    keepalive_ok "$what" "$FL_T0" "$FL_T1"
    n0="$(drop "$WORK/$what.0.json" no_mapping)"
    n1="$(drop "$WORK/$what.1.json" no_mapping)"
    # The WAN frames masq received and did not forward to the LAN: the
    # flood's, less the few that met a mapping.
    fwd=$(($(js "$WORK/$what.1.json" "d['totals']['tx_lan_packets']") - $(js "$WORK/$what.0.json" "d['totals']['tx_lan_packets']")))
    rx=$((FL_RX - fwd))
    if [ "$rx" -le 0 ] || [ $(( (n1 - n0) * 10 )) -lt $((rx * 9)) ]; then
        fail "$what: no_mapping rose by $((n1 - n0)) for the $rx WAN frames masq received and did not forward (expected at least 90 %)"
    fi
    admin sessions --json --limit 100000 > "$WORK/$what.sessions.json" || fail "masq sessions"
    # Endpoint-independent filtering lets the flood in only through a mapping
    # made from inside: every session from the flood's port shares its
    # protocol and outside endpoint with a session made from inside, held
    # when the flood began or now.
    "$PY" - "$WORK/$what.sessions0.json" "$WORK/$what.sessions.json" "$WANH:40000" \
        > "$WORK/$what.check.txt" <<'PY' || fail "$what: $(cat "$WORK/$what.check.txt")"
import json, sys
before, after = (json.load(open(f))["sessions"] for f in sys.argv[1:3])
flood = [s for s in after if s["remote"] == sys.argv[3]]
mine = {(s["protocol"], s["outside"]) for s in before + after if s["remote"] != sys.argv[3]}
bad = [s for s in flood if (s["protocol"], s["outside"]) not in mine]
if bad:
    print(f"{len(bad)} session(s) from the flood on no mapping: {bad[:3]}")
    sys.exit(1)
print(f"{len(flood)} session(s) through the {len(mine)} mapping(s) made from inside")
PY
    bounded "$what"
    [ "$PROBES" -ge 1 ] || fail "$what: lan2 opened no new flow during the flood"
    [ "${#PROBE_FAILS[@]}" -eq 0 ] || fail "$what: lan2's new flows during the flood failed: ${PROBE_FAILS[*]} (of $PROBES tries)"
    ok "$what: no_mapping +$((n1 - n0)) of the $rx WAN frames not forwarded; no session on an unmapped port ($(cat "$WORK/$what.check.txt")); lan2: $PROBES new TCP+UDP flows ok, $KA; table peak $FL_PEAK; VmRSS peak $FL_RSS kB"
}
pool_args() {
    local sep="" a
    for a in 0 1 2 3 4 5 6 7; do
        printf '%s' "$sep"
        printf '%s\n' "$@" "198.19.0.$a"
        sep=$'--\n'
    done
}
mapfile -t A < <(pool_args -S -s 40000 -k -p ++10000 --flood)
admin sessions --json --limit 100000 > "$WORK/syn-wan.sessions0.json" || fail "masq sessions"
flood syn-wan wan w0 yes "${A[@]}"
wan_flood_checks syn-wan
mapfile -t A < <(pool_args --udp -s 40000 -k -p ++10000 --flood)
admin sessions --json --limit 100000 > "$WORK/udp-wan.sessions0.json" || fail "masq sessions"
flood udp-wan wan w0 yes "${A[@]}"
wan_flood_checks udp-wan

# --- 4. many subscribers fill the table ---------------------------------------------
A=()
for s in "${SPOOF[@]}"; do A+=(--udp -a "$s" -p 9 --flood "$WANH" --); done
unset 'A[-1]'
FULL_PROBE=""
FULL_SEEN=0
flood fill-lan lan1 h1 full "${A[@]}"
FILL_END="$(date +%s)"
keepalive_ok fill-lan "$FL_T0" "$FL_T1"
f0="$(drop "$WORK/fill-lan.0.json" session_table_full)"
f1="$(drop "$WORK/fill-lan.1.json" session_table_full)"
[ "$f1" -gt "$f0" ] || fail "fill-lan: session_table_full stayed at $f1"
[ "$FULL_SEEN" -eq "$MAX_SESSIONS" ] || fail "fill-lan: the table was seen with $FULL_SEEN sessions, expected it full ($MAX_SESSIONS)"
read -r _ _ _ top <<<"$("$PY" "$PEER" peak "$WORK/samples.jsonl" "$FL_T0" "$FL_T1" "${SPOOF[@]}")"
[ "$top" -le "$LIMIT" ] || fail "fill-lan: a flooding subscriber held $top sessions, over its limit of $LIMIT"
bounded fill-lan
[ "$FULL_PROBE" = EHOSTUNREACH ] || fail "fill-lan: a new UDP flow from lan2 in the full table ended '$FULL_PROBE', expected EHOSTUNREACH (ICMP 3/13)"
ok "fill-lan: ${#SPOOF[@]} flooding subscribers fill the table to exactly $MAX_SESSIONS (each <= $top, peak sampled $FL_PEAK), session_table_full $f0 -> $f1; lan2's new flow in the full table is refused with ICMP 3/13, its connection keeps going ($KA); VmRSS peak $FL_RSS kB"

# --- 5. recovery --------------------------------------------------------------------
FLOODERS=("$LAN1" "$LAN1B" "${SPOOF[@]}")
flooder_sessions() {
    admin subscribers --json > "$WORK/rec.subs.json" || fail "masq subscribers"
    local n=0 a
    for a in "${FLOODERS[@]}"; do n=$((n + $(subs_of "$WORK/rec.subs.json" "$a"))); done
    echo "$n"
}
R0="$(date +%s)"
if [ "$FLOOD_RECOVERY" = flush ]; then
    for a in "${FLOODERS[@]}"; do admin flush --subscriber "$a" > /dev/null || fail "masq flush --subscriber $a"; done
    left="$(flooder_sessions)"
    [ "$left" -eq 0 ] || fail "recovery: the flooders hold $left session(s) after masq flush"
    ok "recovery (flush): the flooders' sessions are gone after masq flush --subscriber"
else
    # Every session of the floods and of lan2's probes was made by the end
    # of the last flood and lasts TRANSITORY s (TCP) or UDP_TIMEOUT s at
    # most: wait for the table to be back where it was.
    deadline=$((FILL_END + TRANSITORY + 60))
    echo "flood: waiting (up to $((deadline - $(date +%s))) s) for the flood's sessions to expire"
    while :; do
        admin stats --json > "$WORK/rec.json" || fail "masq stats"
        held="$(js "$WORK/rec.json" "d['totals']['sessions']")"
        [ "$held" -le "$PRE_SESSIONS" ] && break
        [ "$(date +%s)" -lt "$deadline" ] || fail "recovery: $held session(s) left $((deadline - FILL_END)) s after the last flood, expected $PRE_SESSIONS at most"
        sleep 5
    done
    left="$(flooder_sessions)"
    [ "$left" -eq 0 ] || fail "recovery: the flooders hold $left session(s)"
    e0="$(js "$WORK/pre.json" "d['totals']['sessions_expired']")"
    e1="$(js "$WORK/rec.json" "d['totals']['sessions_expired']")"
    ok "recovery (expiry): $((e1 - e0)) sessions expired; the table is back to $held session(s) (before the floods: $PRE_SESSIONS) $(( $(date +%s) - SYN_END )) s after the SYN flood ended"
fi
RECOVERY_S=$(( $(date +%s) - R0 ))
for h in "lan1 tcp" "lan1 udp" "lan2 tcp" "lan2 udp"; do
    read -r host kind <<<"$h"
    r="$(flows "$host" "$kind" 2)"
    [ "$r" = "ok ok" ] || fail "recovery: new $kind flows from $host ended '$r'"
done
r="$(flows lan1 udp 2 --bind "$LAN1B")"
[ "$r" = "ok ok" ] || fail "recovery: new UDP flows from $LAN1B ended '$r'"
keepalive_ok recovery "$FLOODS_T0" "$(now)"
KA_ALL="$KA"
kill -0 "$MASQ_PID" 2>/dev/null || fail "masq is not running after the floods"
! grep -qi panic "$WORK/masq.log" || fail "masq's log reports a panic"
metrics > "$WORK/post.prom" || fail "GET /metrics"
grep -q '^masq_umem_frames_unaccounted' "$WORK/post.prom" || fail "/metrics has no masq_umem_frames_unaccounted"
un="$(msum "$WORK/post.prom" 'masq_umem_frames_unaccounted')"
[ "$un" -eq 0 ] || fail "masq_umem_frames_unaccounted is $un after the floods"
RSS_AFTER="$(rss)"
[ "$RSS_AFTER" -le "$RSS_BOUND" ] || fail "recovery: masq's VmRSS is $RSS_AFTER kB, over the bound of $RSS_BOUND kB"
read -r _ PEAK_ALL RSS_PEAK _ <<<"$("$PY" "$PEER" peak "$WORK/samples.jsonl" 0 "$(now)")"
ok "recovery: lan1 (both addresses) and lan2 open new TCP and UDP flows; lan2's connection never paused over 1 s in the whole run ($KA_ALL); masq alive, no panic, no UMEM frame unaccounted; VmRSS $RSS0 -> peak $RSS_PEAK -> $RSS_AFTER kB"
# The connection closes while masq still runs, so that the WAN host's end
# closes too and the second run cannot meet it under the same tuple.
kill "$KEEPALIVE" 2>/dev/null || true
sleep 0.5
masq_stop || fail "masq exited with an error after the floods"
grep -q "frames unaccounted 0" "$WORK/report.txt" || fail "masq's report: $(grep -i unaccounted "$WORK/report.txt")"
! grep -qi panic "$WORK/masq.log" || fail "masq's log reports a panic"
ok "masq stopped cleanly after the floods (report: frames unaccounted 0)"
mv "$WORK/masq.log" "$WORK/masq-floods.log"
mv "$WORK/report.txt" "$WORK/report-floods.txt"

# --- 6. exhaustion --------------------------------------------------------------------
# One pool address, ports 1024-1215: three blocks of 64; two blocks at most
# per subscriber.
XPOOL=198.19.0.1
{
    masq_config snat | grep -v '^pool'
    cat <<EOF
pool = ["$XPOOL/32"]
port_min = 1024
port_max = 1215
block_size = $BLOCK
cores = [$MASQ_CORE]

[limits]
sessions_per_subscriber = 1000
blocks_per_subscriber = 2
EOF
} > "$WORK/masq.toml"
"$MASQ" check-config "$WORK/masq.toml" > "$WORK/effective2.toml" 2>&1 \
    || fail "check-config refused the exhaustion configuration: $(cat "$WORK/effective2.toml")"
for h in lan1:h1 lan2:h2; do
    ip netns exec "$P-${h%:*}" tcpdump -U --immediate-mode -nni "${h#*:}" -w "$WORK/${h%:*}.pcap" icmp \
        2> "$WORK/tcpdump-${h%:*}.log" & PIDS+=($!)
done
for h in lan1 lan2; do
    for _ in $(seq 50); do grep -q "listening on" "$WORK/tcpdump-$h.log" && break; sleep 0.1; done
    grep -q "listening on" "$WORK/tcpdump-$h.log" || fail "tcpdump on $h did not start: $(cat "$WORK/tcpdump-$h.log")"
done
masq_start "$MASQ" || fail "masq (exhaustion run) did not start or resolve its next hop"
n313() { tcpdump -nn -r "$WORK/$1.pcap" "icmp[0] = 3 and icmp[1] = 13 and dst host $2" 2>/dev/null | wc -l; }
# outcome RESULTS...: "OK UNREACHABLE", the counts among flows' results.
outcome() {
    local n_ok=0 n_un=0 x
    for x in "$@"; do case "$x" in ok) n_ok=$((n_ok + 1)) ;; EHOSTUNREACH) n_un=$((n_un + 1)) ;; esac; done
    echo "$n_ok $n_un"
}
admin stats --json > "$WORK/x0.json" || fail "masq stats"
r="$(flows lan2 udp 2)"
[ "$r" = "ok ok" ] || fail "exhaustion: lan2's first flows ended '$r'"
ip netns exec "$P-lan2" "$PY" "$PEER" keepalive "$WANH" "$TCP_ECHO" > "$WORK/keepalive.log" 2>&1 & PIDS+=($!)
KEEPALIVE=$!
X_T0="$(now)"
# (a) lan1 takes the other two blocks and uses every port of them.
extra=4
read -r -a res <<<"$(flows lan1 udp $((2 * BLOCK + extra)))"
read -r n_ok n_un <<<"$(outcome "${res[@]}")"
if [ "$n_ok" -ne $((2 * BLOCK)) ] || [ "$n_un" -ne "$extra" ]; then
    fail "ports exhausted: $((2 * BLOCK + extra)) UDP flows from lan1 gave $n_ok ok and $n_un EHOSTUNREACH, expected $((2 * BLOCK)) and $extra: ${res[*]}"
fi
admin stats --json > "$WORK/x1.json" || fail "masq stats"
p0="$(drop "$WORK/x0.json" subscriber_ports_exhausted)"
p1="$(drop "$WORK/x1.json" subscriber_ports_exhausted)"
[ $((p1 - p0)) -ge "$extra" ] || fail "ports exhausted: subscriber_ports_exhausted rose by $((p1 - p0)), expected at least $extra"
sleep 0.5
c="$(n313 lan1 "$LAN1")"
[ "$c" -ge "$extra" ] || fail "ports exhausted: $c ICMP 3/13 to $LAN1 captured, expected $extra"
r="$(flows lan2 udp 3)"
[ "$r" = "ok ok ok" ] || fail "ports exhausted: lan2's new flows ended '$r' while lan1 had no port left"
ok "ports exhausted: lan1's $((2 * BLOCK)) flows fill its two blocks, the next $extra get ICMP 3/13 (EHOSTUNREACH, $c captured), subscriber_ports_exhausted $p0 -> $p1; lan2's new flows work"
# (b) lan2 and lan1 hold the pool's three blocks: a new subscriber gets none.
read -r -a res <<<"$(flows lan2 udp 2 --bind "$LAN2B")"
[ "${res[*]}" = "EHOSTUNREACH EHOSTUNREACH" ] \
    || fail "pool exhausted: the new subscriber $LAN2B's flows ended '${res[*]}', expected EHOSTUNREACH (ICMP 3/13) twice"
admin stats --json > "$WORK/x2.json" || fail "masq stats"
q0="$(drop "$WORK/x1.json" pool_exhausted)"
q1="$(drop "$WORK/x2.json" pool_exhausted)"
[ $((q1 - q0)) -ge 2 ] || fail "pool exhausted: pool_exhausted rose by $((q1 - q0)), expected at least 2"
sleep 0.5
c="$(n313 lan2 "$LAN2B")"
[ "$c" -ge 2 ] || fail "pool exhausted: $c ICMP 3/13 to $LAN2B captured, expected 2"
admin subscribers --json > "$WORK/x.subs.json" || fail "masq subscribers"
nb="$(js "$WORK/x.subs.json" "sum(len(s['blocks']) for s in d['subscribers'])")"
[ "$nb" -eq 3 ] || fail "pool exhausted: $nb blocks held, expected the pool's 3"
nd="$(js "$WORK/x.subs.json" "sum(1 for s in d['subscribers'] if s['subscriber'] == '$LAN2B')")"
[ "$nd" -eq 0 ] || fail "pool exhausted: $LAN2B is listed as a subscriber"
r="$(flows lan2 udp 2) $(flows lan2 tcp 1) $(flows lan1 tcp 1)"
[ "$r" = "ok ok ok ok" ] || fail "pool exhausted: the existing subscribers' new flows ended '$r'"
ok "pool exhausted: lan1 and lan2 hold the pool's 3 blocks; the new subscriber $LAN2B gets ICMP 3/13 ($c captured), pool_exhausted $q0 -> $q1; lan2 (UDP, TCP) and lan1 (TCP) still open flows"
# (c) lan2 may hold a second block but the pool has none: it still gets
# every free port of its one block, of either parity, then 3/13.
admin sessions --subscriber "$LAN2" --json --limit 100000 > "$WORK/x.sessions.json" || fail "masq sessions"
used="$(js "$WORK/x.sessions.json" "len({s['outside'] for s in d['sessions'] if s['protocol'] == 'udp'})")"
free=$((BLOCK - used))
# Even inside ports only: the block's free odd ports are what they get
# once its even ones run out.
read -r -a res <<<"$(flows lan2 udp $((free + 2)) --even 20000)"
read -r n_ok n_un <<<"$(outcome "${res[@]}")"
if [ "$n_ok" -ne "$free" ] || [ "$n_un" -ne 2 ]; then
    fail "pool exhausted: lan2's block had $free free UDP ports; $((free + 2)) new flows gave $n_ok ok and $n_un EHOSTUNREACH, expected $free and 2: ${res[*]}"
fi
admin stats --json > "$WORK/x3.json" || fail "masq stats"
q2="$(drop "$WORK/x3.json" pool_exhausted)"
[ $((q2 - q1)) -ge 2 ] || fail "pool exhausted: pool_exhausted rose by $((q2 - q1)) when lan2's block was full, expected at least 2"
keepalive_ok "exhaustion" "$X_T0" "$(now)"
ok "pool exhausted: lan2 (one block of two allowed) uses all $free free ports of its block, then gets ICMP 3/13, pool_exhausted $q1 -> $q2; lan2's connection kept going through run 2 ($KA)"
masq_stop || fail "masq (exhaustion run) exited with an error"
! grep -qi panic "$WORK/masq.log" || fail "masq's log reports a panic (exhaustion run)"
ok "masq stopped cleanly after the exhaustion run"

echo "flood: figures ($MASQ, FLOOD_SECONDS=$FLOOD_SECONDS; offered: the sender's interface tx_packets; masq rx: its rx counter):"
for f in "${FIGURES[@]}"; do echo "  $f"; done
echo "  VmRSS before $RSS0 kB, peak $RSS_PEAK kB, after recovery $RSS_AFTER kB (bound $RSS_BOUND kB) over $TOTAL_SENT frames offered; peak sessions $PEAK_ALL of $MAX_SESSIONS; recovery ($FLOOD_RECOVERY) took $RECOVERY_S s"
echo "flood: $passed passed, 0 failed ($(( $(date +%s) - START )) s)"
