#!/usr/bin/env bash
# Scale-out over BGP and ECMP with real BIRD 2 daemons (docs/scale-out.md).
#
#   sub ── ar ──┬── box1 ──┬── ur ── wan
# (200 subs)    ├── box2 ──┤
#   AS 65000    └── box3 ──┘  AS 65100
#                AS 65001
#
# Three masq boxes (snat, disjoint pools 198.51.100.0/28, .16/28, .32/28)
# each run BIRD (tests/netns/scaleout/box.conf): it learns the routes masq
# holds in kernel table 4269, announces the pool (realm 1) to the upstream
# router ur and the access route 0.0.0.0/0 (realm 2) to the access router
# ar, and takes its default route from ur over BGP; BFD (100 ms x 3) on
# both links. ar (access.conf) merges the boxes' access routes into one
# ECMP route in table 100 and tests/netns/scaleout/follower.py keeps a
# resilient nexthop group (hash on the source address) equal to its next
# hops, which the default route uses: a subscriber stays on its box. No
# static route to a pool anywhere. The wan host answers UDP and TCP with
# the source it saw (tests/netns/scaleout/probe.py), so a subscriber
# learns which box served it.
#
# Checks: sessions up, each pool on ur only via its box (a box's BIRD
# does not announce another's pool), ar's default over three boxes;
# subscribers spread over every box; kill -9 of one masq
# (MASQ_SCALEOUT_KILLS times, 3 by default): withdrawal on ar and ur, the
# killed box's subscribers move, a flow from a subscriber of each other box
# loses nothing and stays; restart re-announces; a stalled worker and a
# lost WAN next hop (BFD) withdraw, recovery re-announces; masq drain takes
# the box out of ar's ECMP and keeps its pool on ur; masq's interface
# deleted or set down under it comes back with its routes. The times are
# measured and printed (no timing assertions).
# Needs root. Usage: tests/netns/scaleout.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="$(realpath "${1:-target/debug/masq}")"
KILLS="${MASQ_SCALEOUT_KILLS:-3}"
HERE="$(pwd)/tests/netns/scaleout"
P="mqs$$"
NSS=(sub ar ur wan box1 box2 box3)
BOXES=(1 2 3)
WAN_HOST=203.0.113.10
PORT=7000
SUBS=()
# 200 subscribers over 64 buckets: nearly every bucket has one (a box that
# comes back takes over only buckets idle for idle_timer).
for i in $(seq 10 209); do SUBS+=("10.0.0.$i"); done
declare -A MASQ_PIDS=()
topo_test scaleout

scaleout_cleanup() {
    for b in "${!MASQ_PIDS[@]}"; do kill -9 "${MASQ_PIDS[$b]}" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${MASQ_PIDS[@]}" "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    for x in "${NSS[@]}"; do ip netns del "$P-$x" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap scaleout_cleanup EXIT
# fail MESSAGE: the logs of the daemons, then exit 1.
fail() {
    echo "$TEST_NAME: FAIL: $*" >&2
    for f in "$WORK"/*.log; do
        [ -f "$f" ] && tail -n 30 "$f" | sed "s#^#  $(basename "$f" .log)| #" >&2
    done
    exit 1
}

n() { local x="$1"; shift; ip netns exec "$P-$x" "$@"; }
# bg NS CMD...: a background process in NS, its PID kept for the cleanup.
bg() { local x="$1"; shift; ip netns exec "$P-$x" "$@" & PIDS+=($!); }
birdc_() { local x="$1"; shift; birdc -s "$WORK/$x.ctl" "$@"; }
probe() { local x="$1"; shift; n "$x" python3 "$HERE/probe.py" "$@"; }
# box_of ADDRESS: the box whose pool holds ADDRESS (0 for none).
box_of() {
    local last="${1##*.}"
    case "$1" in 198.51.100.*) [ "$last" -lt 48 ] && echo $((last / 16 + 1)) || echo 0 ;; *) echo 0 ;; esac
}
pool_of() { echo "198.51.100.$((($1 - 1) * 16))/28"; }
# wait_for TENTHS CMD...: until CMD succeeds, at most TENTHS tenths of a second.
wait_for() {
    local t="$1"; shift
    for _ in $(seq "$t"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}

# --- the topology --------------------------------------------------------
for x in "${NSS[@]}"; do ip netns add "$P-$x"; n "$x" ip link set lo up; done
# veth pair: NS1 IF1 ADDR1 NS2 IF2 ADDR2 (ADDR with its prefix length).
link() {
    ip link add "$2" netns "$P-$1" type veth peer name "$5" netns "$P-$4"
    n "$1" ip addr add "$3" dev "$2"
    n "$4" ip addr add "$6" dev "$5"
    for e in "$1 $2" "$4 $5"; do
        # shellcheck disable=SC2086
        set -- $e
        n "$1" ip link set "$2" up
        # veth would hand AF_XDP frames with unfinished checksums.
        n "$1" ethtool -K "$2" tx off >/dev/null
    done
}
link sub s0 10.0.0.2/24 ar sub 10.0.0.1/24
for a in "${SUBS[@]}"; do echo "addr add $a/24 dev s0"; done | n sub ip -batch -
n sub ip route add default via 10.0.0.1
for b in "${BOXES[@]}"; do
    link "box$b" lan0 "172.16.$b.2/30" ar "box$b" "172.16.$b.1/30"
    link "box$b" wan0 "172.17.$b.2/30" ur "box$b" "172.17.$b.1/30"
    n "box$b" sysctl -qw net.ipv4.ip_forward=0
done
link wan w0 "$WAN_HOST/24" ur wan 203.0.113.1/24
n wan ip route add default via 203.0.113.1
n ur sysctl -qw net.ipv4.ip_forward=1
n ar sysctl -qw net.ipv4.ip_forward=1
# The multipath hash on the source address only: a subscriber's flows
# all take one bucket of the resilient group.
n ar sysctl -qw net.ipv4.fib_multipath_hash_policy=3
n ar sysctl -qw net.ipv4.fib_multipath_hash_fields=0x0001

# --- BIRD ----------------------------------------------------------------
# bird_start NS: BIRD in NS with $WORK/NS.conf, control socket $WORK/NS.ctl.
bird_start() {
    bg "$1" bird -f -c "$WORK/$1.conf" -s "$WORK/$1.ctl" -P "$WORK/$1.pid" 2> "$WORK/bird-$1.log"
}
for b in "${BOXES[@]}"; do
    cat > "$WORK/box$b.conf" <<CONF
log stderr all;
router id 172.17.$b.2;
define UPSTREAM = 172.17.$b.1;
define ACCESS = 172.16.$b.1;
define POOL = [$(pool_of "$b")];
include "$HERE/box.conf";
CONF
done
{
    echo "log stderr all;"
    echo "router id 172.16.0.1;"
    echo "include \"$HERE/access.conf\";"
    for b in "${BOXES[@]}"; do
        echo "protocol bgp box$b from masq_box { neighbor 172.16.$b.2 as 65001; }"
    done
} > "$WORK/ar.conf"
{
    echo "log stderr all;"
    echo "router id 172.17.0.1;"
    echo "include \"$HERE/upstream.conf\";"
    for b in "${BOXES[@]}"; do
        echo "protocol bgp box$b from masq_box {"
        echo "    neighbor 172.17.$b.2 as 65001;"
        echo "    ipv4 { import where net ~ [$(pool_of "$b")]; };"
        echo "}"
    done
} > "$WORK/ur.conf"
for x in ar ur box1 box2 box3; do bird_start "$x"; done
bg ar python3 "$HERE/follower.py" --table 100 --group 100 --log "$WORK/follower.log"
# Route changes with their times, for the figures.
bg ar ip -ts -o monitor route > "$WORK/ar.mon"
bg ur ip -ts -o monitor route > "$WORK/ur.mon"

# default_from_ur B: box B's default route is BIRD's, via ur.
default_from_ur() { grep -q "^default via 172.17.$1.1 dev wan0 proto bird" <<<"$(n "box$1" ip route show default)"; }
# bgp_up NS PROTOCOL: the BGP session is established.
bgp_up() { grep -q Established <<<"$(birdc_ "$1" show protocols "$2")"; }
for b in "${BOXES[@]}"; do
    for s in "box$b upstream" "box$b access" "ar box$b" "ur box$b"; do
        # shellcheck disable=SC2086
        wait_for 200 bgp_up $s || fail "the BGP session $s did not come up: $(birdc_ ${s% *} show protocols all ${s#* } 2>&1 | tail -n 20)"
    done
    wait_for 50 default_from_ur "$b" || fail "box$b has no default route from ur: $(n "box$b" ip route)"
done
ok "every box's BGP sessions (to ar and to ur) are up; each box's default route comes from ur over BGP"

# --- masq ----------------------------------------------------------------
for b in "${BOXES[@]}"; do
    cat > "$WORK/box$b.toml" <<CONF
lan = "lan0"
wan = "wan0"
mode = "snat"
inside = ["10.0.0.0/16"]
pool = ["$(pool_of "$b")"]
max_sessions = 65536
max_subscribers = 1024
ring_size = 512
workers = 1
stall_timeout = 1
metrics_listen = "127.0.0.1:9469"
admin_socket = "$WORK/box$b.sock"

[routing]
enabled = true
name = "box$b"
CONF
done
# masq_start_box B: masq on box B; waits until it holds its routes.
masq_start_box() {
    ip netns exec "$P-box$1" "$MASQ" run --config "$WORK/box$1.toml" --fault-injection \
        > /dev/null 2> "$WORK/masq-box$1.log" &
    MASQ_PIDS[$1]=$!
    wait_for 100 holds_routes "$1" || fail "masq on box$1 holds no routes in table 4269: $(n "box$1" ip route show table 4269)"
}
# holds_routes B: box B's table 4269 has its pool (realm 1) and access route (realm 2).
holds_routes() {
    local t
    t="$(n "box$1" ip route show table 4269)"
    grep -q "^$(pool_of "$1") dev masq-routes proto 250 .*realm 1" <<<"$t" &&
        grep -q "^default dev masq-routes proto 250 .*realm 2" <<<"$t"
}
for b in "${BOXES[@]}"; do masq_start_box "$b"; done

# ar_has B / ar_lacks B: box B is (is not) among the next hops of ar's
# table-100 route and of the resilient group the default route uses.
ar_hops() { n ar ip -o route show table 100 default; }
ar_group() { n ar ip nexthop show id 100 2>/dev/null; }
group_gateways() {
    local ids
    ids="$(ar_group | sed -n 's/^id 100 group \([0-9/]*\).*/\1/p' | tr / ' ')"
    for i in $ids; do n ar ip nexthop show id "$i" | sed -n 's/.* via \([0-9.]*\) .*/\1/p'; done
}
# (Here-strings, not pipes into grep -q: with pipefail a writer cut off
# by grep's early exit would fail the test.)
ar_has() { grep -q "via 172.16.$1.2 " <<<"$(ar_hops)" && grep -qx "172.16.$1.2" <<<"$(group_gateways)"; }
ar_lacks() { ! grep -q "via 172.16.$1.2 " <<<"$(ar_hops)" && ! grep -qx "172.16.$1.2" <<<"$(group_gateways)"; }
# ur_has B / ur_lacks B: ur's route to box B's pool (through box B).
ur_has() { grep -q "via 172.17.$1.2 dev box$1 proto bird" <<<"$(n ur ip route show "$(pool_of "$1")")"; }
ur_lacks() { [ -z "$(n ur ip route show "$(pool_of "$1")")" ]; }
for b in "${BOXES[@]}"; do
    wait_for 100 ar_has "$b" || fail "ar does not route over box$b: $(ar_hops); $(ar_group)"
    wait_for 100 ur_has "$b" || fail "ur has no route to box$b's pool: $(n ur ip route)"
done
grep -q "^default nhid 100" <<<"$(n ar ip route show default)" || fail "ar's default route does not use the group: $(n ar ip route show default)"
grep -q "type resilient buckets 64" <<<"$(ar_group)" || fail "ar's group is not resilient: $(ar_group)"
ok "ar's default route uses a resilient group of the three boxes: $(ar_group | cut -d' ' -f1-6)"
for b in "${BOXES[@]}"; do
    p="$(pool_of "$b")"
    r="$(birdc_ ur show route "$p" all)"
    [ "$(grep -c "\[box" <<<"$r")" = 1 ] && grep -q "\[box$b " <<<"$r" \
        || fail "ur's BIRD should have $p only from box$b: $r"
    grep -q "via 172.17.$b.2 dev box$b" <<<"$(n ur ip route get "${p%/*}")" || fail "ur reaches $p otherwise: $(n ur ip route get "${p%/*}")"
done
ok "ur has each pool only as a BGP route from its own box"
# No static route to a pool anywhere: only BIRD's on ur, masq's own on the boxes.
for x in "${NSS[@]}"; do
    r="$(n "$x" ip route show table all | grep "198\.51\.100\." || true)"
    case "$x" in
        ur) r="$(grep -v "proto bird" <<<"$r" || true)" ;;
        box*) r="$(grep -v "table 4269 proto 250" <<<"$r" || true)" ;;
    esac
    [ -z "$r" ] || fail "a route to a pool in $x that is not BGP's or masq's: $r"
done
ok "no static route to a pool anywhere (ur's are BIRD's, the boxes' are masq's own in table 4269)"

# A route to box2's pool in box1's table 4269, as masq would hold it: box1's
# BIRD learns it and does not announce it (the POOL guard of box.conf).
other="$(pool_of 2)"
n box1 ip route add "$other" dev masq-routes table 4269 proto 250 realm 1
learnt() { grep -q "^${other//./\\.}" <<<"$(birdc_ box1 show route table masqt "$other")"; }
wait_for 30 learnt || fail "box1's BIRD did not learn $other from table 4269: $(birdc_ box1 show route table masqt)"
r="$(birdc_ box1 show route export upstream)"
grep -q "^$(pool_of 1) " <<<"$r" || fail "box1's BIRD does not announce its own pool: $r"
! grep -q "^$other " <<<"$r" || fail "box1's BIRD announces box2's pool $other: $r"
n box1 ip route del "$other" table 4269
ok "a box announces only its own pool: box2's pool in box1's table 4269 is learnt by box1's BIRD and not exported"

# --- traffic -------------------------------------------------------------
bg wan python3 "$HERE/probe.py" serve "$PORT"
# assign FILE: asks from every subscriber; FILE gets "SUBSCRIBER BOX" lines.
assign() {
    probe sub ask "$WAN_HOST" "$PORT" "${SUBS[@]}" | while read -r s a; do echo "$s $(box_of "$a")"; done > "$1"
}
echo_up() { grep -q ":$PORT " <<<"$(n wan ss -lun)"; }
wait_for 50 echo_up || fail "the UDP echo did not start"
assign "$WORK/assign0"
for b in "${BOXES[@]}"; do
    c="$(awk -v b="$b" '$2 == b' "$WORK/assign0" | wc -l)"
    [ "$c" -ge 1 ] || fail "box$b serves no subscriber: $(awk '{print $2}' "$WORK/assign0" | sort | uniq -c | tr '\n' ' ')"
done
[ "$(awk '$2 == 0' "$WORK/assign0" | wc -l)" = 0 ] || fail "subscribers without an answer from a pool: $(awk '$2 == 0' "$WORK/assign0" | tr '\n' ' ')"
ok "${#SUBS[@]} subscribers spread over every box: $(awk '{print "box" $2}' "$WORK/assign0" | sort | uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}')"
for b in "${BOXES[@]}"; do
    s="$(awk -v b="$b" '$2 == b {print $1; exit}' "$WORK/assign0")"
    a="$(probe sub tcp "$WAN_HOST" "$PORT" "$s")" || fail "TCP from $s"
    [ "$(box_of "$a")" = "$b" ] || fail "TCP from $s (box$b) seen as $a"
done
ok "TCP from a subscriber of each box goes out through that box's pool"

# --- figures -------------------------------------------------------------
# after LOG T0 REGEX: milliseconds from T0 to the first line of LOG (an
# `ip -ts -o monitor` log, or the follower's) that matches REGEX, "-" if none.
after() { python3 "$HERE/probe.py" first "$WORK/$1" "$2" "$3" | cut -d' ' -f1; }
# added LOG T0 REGEX: the follower's own share (added_ms) of that line.
added() { python3 "$HERE/probe.py" first "$WORK/$1" "$2" "$3" | sed -n 's/.*added_ms=\([0-9.]*\).*/\1/p'; }
now() { date +%s.%N; }
# Regexes: box B's next hop gone from (back in) ar's table-100 route, gone
# from the follower's group; its pool deleted from (added to) ur; masq's
# pool route deleted on the box.
ar_gone() { echo "^(?!.*via 172\\.16\\.$1\\.2 ).*table 100"; }
ar_back() { echo "^default.*via 172\\.16\\.$1\\.2 .*table 100|^default.*table 100.*via 172\\.16\\.$1\\.2 "; }
fol_gone() { echo "gateways=(?!.*172\\.16\\.$1\\.2(,| ))"; }
ur_gone() { local p; p="$(pool_of "$1")"; echo "^Deleted ${p//./\\.}"; }
ur_back() { local p; p="$(pool_of "$1")"; echo "^${p//./\\.} via"; }
masq_gone() { echo "^Deleted $(pool_of "$1" | sed 's/\./\\./g') dev masq-routes"; }
# stats V...: "median (min..max)" of the numbers among V.
stats() {
    printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -n | awk '{a[NR] = $1}
        END {if (NR == 0) {print "-"; exit}
             m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
             printf "%g (%g..%g, %d runs)\n", m, a[1], a[NR], NR}'
}
# balanced: every member of ar's group holds at least 21 of the 64 buckets
# (after a box comes back, the group moves idle buckets to it).
balanced() {
    local c
    c="$(n ar ip nexthop bucket show id 100 | awk '{print $NF}' | sort | uniq -c | awk '$1 >= 21' | wc -l)"
    [ "$c" = "$(group_gateways | wc -l)" ]
}
# withdrawn WHAT B T0 TENTHS: box B's routes leave ar and ur (within
# TENTHS of a second) after an event at T0; W_MASQ, W_AR, W_UR: the ms to
# masq's deletion of its pool route, to ar's and ur's withdrawal.
withdrawn() {
    wait_for "$4" ar_lacks "$2" || fail "$1: ar still routes over box$2: $(ar_hops); $(ar_group)"
    wait_for "$4" ur_lacks "$2" || fail "$1: ur still has box$2's pool: $(n ur ip route)"
    W_MASQ="$(after "box$2.mon" "$3" "$(masq_gone "$2")")"
    W_AR="$(after ar.mon "$3" "$(ar_gone "$2")")"
    W_UR="$(after ur.mon "$3" "$(ur_gone "$2")")"
}
# announced WHAT B T0 TENTHS: box B's routes are back on ar and ur; A_AR,
# A_UR: the ms from T0.
announced() {
    wait_for "$4" ar_has "$2" || fail "$1: ar does not route over box$2 again: $(ar_hops); $(ar_group)"
    wait_for "$4" ur_has "$2" || fail "$1: ur has no route to box$2's pool: $(n ur ip route)"
    A_AR="$(after ar.mon "$3" "$(ar_back "$2")")"
    A_UR="$(after ur.mon "$3" "$(ur_back "$2")")"
}
for b in "${BOXES[@]}"; do bg "box$b" ip -ts -o monitor route link > "$WORK/box$b.mon"; done

F_MASQ=() F_AR=() F_FOL=() F_ADD=() F_UR=() F_GAP=() F_LOST=() F_RAR=() F_RUR=()
# --- kill -9 -------------------------------------------------------------
for r in $(seq "$KILLS"); do
    b=$(((r - 1) % 3 + 1))
    wait_for 100 balanced || fail "ar's group did not balance: $(n ar ip nexthop bucket show id 100 | awk '{print $NF}' | sort | uniq -c | tr '\n' ' ')"
    assign "$WORK/before$r"
    [ "$(awk '$2 == 0' "$WORK/before$r" | wc -l)" = 0 ] || fail "kill $r: subscribers without an answer before the kill: $(awk '$2 == 0 {print $1}' "$WORK/before$r" | tr '\n' ' ')"
    mover="$(awk -v b="$b" '$2 == b {print $1; exit}' "$WORK/before$r")"
    [ -n "$mover" ] || fail "kill $r: box$b serves no subscriber"
    streams=()
    for o in "${BOXES[@]}"; do
        [ "$o" = "$b" ] && continue
        s="$(awk -v b="$o" '$2 == b {print $1; exit}' "$WORK/before$r")"
        [ -n "$s" ] || fail "kill $r: box$o serves no subscriber: $(awk '{print $2}' "$WORK/before$r" | sort | uniq -c | tr '\n' ' ')"
        streams+=("$s")
    done
    bg sub python3 "$HERE/probe.py" flows "$WAN_HOST" "$PORT" 3 "$WORK/flows$r" --stream "${streams[@]}" --mover "$mover"
    flows_pid=$!
    sleep 1
    t0="$(now)"
    kill -9 "${MASQ_PIDS[$b]}"
    wait "${MASQ_PIDS[$b]}" 2>/dev/null || true
    unset "MASQ_PIDS[$b]"
    withdrawn "kill $r" "$b" "$t0" 30
    wait "$flows_pid" || fail "kill $r: the flows did not run"
    # The kernel deletes the routes with the interface without a route
    # notification of each: the interface's deletion is the event.
    F_MASQ+=("$(after "box$b.mon" "$t0" "^Deleted .*masq-routes")")
    F_AR+=("$W_AR")
    F_FOL+=("$(after follower.log "$t0" "$(fol_gone "$b")")")
    F_ADD+=("$(added follower.log "$t0" "$(fol_gone "$b")")")
    F_UR+=("$W_UR")
    lost=0
    while read -r kind src sent answered seen; do
        if [ "$kind" = stream ]; then
            want="$(awk -v s="$src" '$1 == s {print $2}' "$WORK/before$r")"
            boxes="$(tr ',' '\n' <<<"$seen" | while IFS=@ read -r a _; do box_of "$a"; done | sort -u | tr '\n' ' ')"
            [ "$boxes" = "$want " ] || fail "kill $r: the flow of $src (box$want) went through box(es) $boxes"
            lost=$((lost + sent - answered))
            [ "$sent" = "$answered" ] || fail "kill $r: the flow of $src (box$want, not killed) lost $((sent - answered)) of $sent datagrams"
        else
            gap="$(tr ',' '\n' <<<"$seen" | while IFS=@ read -r a ms; do [ "$(box_of "$a")" != "$b" ] && echo "$ms"; done | head -n1)"
            [ -n "$gap" ] || fail "kill $r: $src of box$b found no other box: $seen"
            F_GAP+=("$gap")
        fi
    done < <(python3 "$HERE/probe.py" summary "$WORK/flows$r" "$t0")
    F_LOST+=("$lost")
    assign "$WORK/after$r"
    moved="$(join <(sort "$WORK/before$r") <(sort "$WORK/after$r") | awk -v b="$b" '
        $2 == b && ($3 == b || $3 == 0) {print "stayed: " $0}
        $2 != b && $2 != $3 {print "moved: " $0}')"
    [ -z "$moved" ] || fail "kill $r of box$b: subscribers (before, after): $moved"
    ok "kill -9 $r of masq on box$b: withdrawn on ar in ${F_AR[-1]} ms (group ${F_FOL[-1]} ms), on ur in ${F_UR[-1]} ms; $mover on another box after ${F_GAP[-1]} ms; flows of ${streams[*]} on the other boxes lost $lost datagrams and stayed; only box$b's $(awk -v b="$b" '$2 == b' "$WORK/before$r" | wc -l) subscribers moved"
    t1="$(now)"
    masq_start_box "$b"
    announced "restart $r" "$b" "$t1" 100
    F_RAR+=("$A_AR")
    F_RUR+=("$A_UR")
    ok "masq restarted on box$b: announced on ar ${F_RAR[-1]} ms and on ur ${F_RUR[-1]} ms after the start"
done

# --- a stalled worker ----------------------------------------------------
b=1
wait_for 100 balanced || fail "ar's group did not balance"
t0="$(now)"
"$MASQ" pause-worker --worker 0 --seconds 4 --socket "$WORK/box$b.sock" > /dev/null || fail "masq pause-worker on box$b"
withdrawn "a stalled worker" "$b" "$t0" 40
S_MASQ="$W_MASQ" S_AR="$W_AR" S_UR="$W_UR"
announced "after the stall" "$b" "$t0" 100
S_BACK_AR="$A_AR" S_BACK_UR="$A_UR"
ok "a worker of box$b stalled for 4 s (stall_timeout 1 s): masq removed its routes after $S_MASQ ms, ar $S_AR ms, ur $S_UR ms; announced again on ar at $S_BACK_AR ms, on ur at $S_BACK_UR ms"

# --- a lost WAN next hop -------------------------------------------------
b=2
t0="$(now)"
n ur nft -f - <<NFT
table inet scaleout {
    chain drop_in { type filter hook prerouting priority -300; iifname "box$b" drop; }
    chain drop_fwd { type filter hook forward priority -300; oifname "box$b" drop; }
    chain drop_out { type filter hook output priority -300; oifname "box$b" drop; }
}
NFT
withdrawn "a lost WAN next hop" "$b" "$t0" 50
L_MASQ="$W_MASQ" L_AR="$W_AR" L_UR="$W_UR"
no_default() { [ -z "$(n "box$1" ip route show default)" ]; }
wait_for 20 no_default "$b" || fail "box$b kept its default route: $(n "box$b" ip route show default)"
r="$(birdc_ "box$b" show protocols all upstream)"
grep -q "BFD session down" <<<"$r" || fail "box$b's upstream session did not go down by BFD: $r"
h="$(n "box$b" curl -s --max-time 5 -w ' %{http_code}' http://127.0.0.1:9469/healthz || true)"
[ "${h##* }" = 503 ] || fail "box$b without a WAN next hop: /healthz answered $h"
L_DEF="$(after "box$b.mon" "$t0" "^Deleted default via 172\\.17\\.$b\\.1 ")"
t1="$(now)"
n ur nft delete table inet scaleout
announced "the WAN link back" "$b" "$t1" 150
L_BACK_AR="$A_AR" L_BACK_UR="$A_UR"
ok "box$b's WAN link dropped on ur: BFD took its default route after $L_DEF ms (/healthz 503), masq removed its routes at $L_MASQ ms, ar $L_AR ms, ur $L_UR ms; the link back: announced on ar $L_BACK_AR ms, on ur $L_BACK_UR ms later"

# --- drain ---------------------------------------------------------------
b=3
t0="$(now)"
"$MASQ" drain --socket "$WORK/box$b.sock" > /dev/null || fail "masq drain on box$b"
drained() { grep -q "^default dev masq-routes proto 250 .*realm 3" <<<"$(n "box$1" ip route show table 4269)"; }
wait_for 20 drained "$b" || fail "masq drain: box$b's access route is not in realm 3: $(n "box$b" ip route show table 4269)"
wait_for 30 ar_lacks "$b" || fail "masq drain: ar still routes over box$b: $(ar_hops)"
r="$(birdc_ ar show route all protocol "box$b")"
grep -q "BGP.community:.*(65535,0)" <<<"$r" && grep -q "BGP.local_pref: 0" <<<"$r" \
    || fail "masq drain: ar's route from box$b lacks GRACEFUL_SHUTDOWN / local preference 0: $r"
ur_has "$b" || fail "masq drain: ur lost box$b's pool: $(n ur ip route)"
D_AR="$(after ar.mon "$t0" "$(ar_gone "$b")")"
assign "$WORK/drained"
[ "$(awk -v b="$b" '$2 == b' "$WORK/drained" | wc -l)" = 0 ] || fail "masq drain: box$b still serves new flows: $(awk -v b="$b" '$2 == b' "$WORK/drained" | tr '\n' ' ')"
ok "masq drain on box$b: announced with (65535,0), local preference 0 on ar, out of its ECMP after $D_AR ms; the pool stays on ur; no new flow goes to box$b"
t0="$(now)"
"$MASQ" drain --undo --socket "$WORK/box$b.sock" > /dev/null || fail "masq drain --undo on box$b"
wait_for 30 ar_has "$b" || fail "masq drain --undo: ar does not route over box$b again: $(ar_hops)"
D_BACK_AR="$(after ar.mon "$t0" "$(ar_back "$b")")"
ok "masq drain --undo on box$b: back in ar's ECMP after $D_BACK_AR ms"

# --- masq's interface deleted or set down under it -------------------------
b=2
n "box$b" ip link del masq-routes
wait_for 50 holds_routes "$b" || fail "box$b's interface deleted: masq did not make it again with its routes: $(n "box$b" ip route show table 4269)"
wait_for 50 ar_has "$b" && wait_for 50 ur_has "$b" || fail "box$b's interface deleted: its routes are not announced again: ar $(ar_hops); ur $(n ur ip route show "$(pool_of "$b")")"
n "box$b" ip link set masq-routes down
wait_for 50 holds_routes "$b" || fail "box$b's interface set down: masq did not set it up with its routes: $(n "box$b" ip route show table 4269)"
wait_for 50 ar_has "$b" && wait_for 50 ur_has "$b" || fail "box$b's interface set down: its routes are not announced again"
# A deleted link is first said to go down, then to be gone: masq's log
# may name either for the deletion.
for line in "interface masq-routes made again" "interface masq-routes went down"; do
    grep -q "masq: routing: $line" "$WORK/masq-box$b.log" || fail "box$b's log lacks '$line': $(tail -5 "$WORK/masq-box$b.log")"
done
m="$(n "box$b" curl -s --max-time 5 http://127.0.0.1:9469/metrics)"
grep -qx 'masq_healthy 1' <<<"$m" && grep -qx 'masq_routes_held{realm="pool"} 1' <<<"$m" \
    && grep -qx 'masq_routes_held{realm="access"} 1' <<<"$m" && grep -qx 'masq_routes_held{realm="draining"} 0' <<<"$m" \
    || fail "box$b's /metrics: $(grep -E 'masq_healthy|masq_routes_held' <<<"$m" | tr '\n' ' ')"
changes="$(sed -n 's/^masq_health_changes_total //p' <<<"$m")"
[ "${changes:-0}" -ge 2 ] || fail "box$b's masq_health_changes_total is ${changes:-absent} after its WAN link was dropped and back"
ok "box$b's interface deleted, then set down, under masq: made again / set up, its routes held and announced again; /metrics: masq_healthy 1, routes held pool 1 access 1, $changes health changes"

# --- the figures ---------------------------------------------------------
echo
echo "scaleout: figures (ms; kill -9: median (min..max) of $KILLS; MASQ_SCALEOUT_KILLS sets the count)"
{
    echo "kill -9 of masq -> its TUN interface (and routes) gone|$(stats "${F_MASQ[@]}")"
    echo "kill -9 of masq -> route withdrawn on ar (BIRD's table 100)|$(stats "${F_AR[@]}")"
    echo "kill -9 of masq -> ar's resilient group updated (follower)|$(stats "${F_FOL[@]}")"
    echo "  of which the follower's own time (event to group)|$(stats "${F_ADD[@]}")"
    echo "kill -9 of masq -> pool withdrawn on ur|$(stats "${F_UR[@]}")"
    echo "kill -9 of masq -> its subscriber answered via another box|$(stats "${F_GAP[@]}")"
    echo "datagrams lost by flows on the other boxes (100/s)|$(stats "${F_LOST[@]}")"
    echo "masq restart -> announced on ar|$(stats "${F_RAR[@]}")"
    echo "masq restart -> announced on ur|$(stats "${F_RUR[@]}")"
    echo "worker stalled (stall_timeout 1 s) -> masq's routes removed|$S_MASQ"
    echo "worker stalled -> withdrawn on ar / ur|$S_AR / $S_UR"
    echo "worker stalled 4 s -> announced again on ar / ur|$S_BACK_AR / $S_BACK_UR"
    echo "WAN dropped -> box's default route gone (BFD 100 ms x 3)|$L_DEF"
    echo "WAN dropped -> masq's routes removed|$L_MASQ"
    echo "WAN dropped -> withdrawn on ar / ur|$L_AR / $L_UR"
    echo "WAN back -> announced on ar / ur|$L_BACK_AR / $L_BACK_UR"
    echo "masq drain -> out of ar's ECMP|$D_AR"
    echo "masq drain --undo -> back in ar's ECMP|$D_BACK_AR"
} | awk -F'|' '{printf "  %-62s %s\n", $1, $2}'
echo "scaleout: all $passed checks passed"
