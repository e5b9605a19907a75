#!/usr/bin/env bash
# Malformed and unusual traffic through the live dataplane, in SNAT mode on
# the standard topology (lan2 also has a one-to-one address). scapy
# (tests/netns/malformed.py) on lan1 and on the WAN host sends bursts of bad
# frames of each kind: frames cut short at every layer, bad IHL and total
# lengths, bad IPv4, TCP, UDP and ICMP checksums (new flows and established
# ones), IP options (valid and malformed), tiny, overlapping, flag-rewriting
# and oversized fragments, GRE/SCTP/253 (translated address-only), protocol
# 0 and short DCCP, TTL 0 and 1 both ways, broadcast
# and multicast (IP and Ethernet), LAN sources that are the NAT's own
# addresses, WAN frames to unmapped ports or from inside and pool sources.
# Each burst must be counted by its named counter (masq_drops_total or
# masq_xdp_dropped_total) exactly, or be translated as it should be (counted
# in captures on the far side); nothing leaks untranslated; a ping from lan2
# runs throughout and loses nothing; afterwards masq still runs, has not
# panicked, carries new TCP and UDP flows and accounts for every UMEM frame.
# Needs root and python3-scapy. Usage: tests/netns/malformed.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="${1:-target/debug/masq}"
P="mqm$$"
topo_test malformed
T0="$(date +%s)"

LAN1=192.168.50.11
WANH=198.18.0.2
POOL_IP=198.19.0.1      # a pool address the WAN bursts are sent to
ONE2ONE=198.19.1.1      # lan2's one-to-one address
UNMAPPED=2000           # a NAT port no mapping uses
N=100                   # frames (or datagrams) per burst
PY=(/usr/bin/python3 tests/netns/malformed.py)

topo_up "$P"
# Where br_netfilter is loaded the bridge itself validates IPv4 headers and
# drops bad ones before the box sees them: this switch must not.
if ns sw test -e /proc/sys/net/bridge/bridge-nf-call-iptables; then
    ns sw sysctl -qw net.bridge.bridge-nf-call-iptables=0
fi
# No IPv6 chatter (router solicitations, MLD) in the pass counters.
for n in lan1 lan2 box wan; do ns "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
ns wan ip route add "$ONE2ONE" via 198.18.0.1
{
    masq_config snat
    cat <<EOF

[[static]]
inside = "192.168.50.12"
outside = "$ONE2ONE"

[icmp]
rate = 100000
rate_per_subscriber = 100000
EOF
} > "$WORK/masq.toml"

# --- the far ends: a UDP sink and echo, an HTTP server, captures ------------
cat > "$WORK/udp.py" <<'PY'
# udp.py PORT echo|sink: answers "from IP:PORT" to each datagram, or drops it.
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, addr = s.recvfrom(65535)
    if sys.argv[2] == "echo":
        s.sendto(f"from {addr[0]}:{addr[1]}".encode(), addr)
PY
ip netns exec "$P-wan" python3 "$WORK/udp.py" 9 sink & PIDS+=($!)
ip netns exec "$P-wan" python3 "$WORK/udp.py" 5353 echo & PIDS+=($!)
ip netns exec "$P-lan1" python3 "$WORK/udp.py" 42001 sink & PIDS+=($!)
mkdir -p "$WORK/www" && head -c 100000 /dev/urandom > "$WORK/www/blob"
(cd "$WORK/www" && exec ip netns exec "$P-wan" python3 -m http.server 8080 --bind "$WANH" > /dev/null 2>&1) & PIDS+=($!)
# Incoming frames only: what masq (or the box's kernel) sent to each end.
ip netns exec "$P-wan" tcpdump -U -Q in -nni w0 -w "$WORK/wan.pcap" ip 2> "$WORK/tcpdump-wan.log" & PIDS+=($!)
ip netns exec "$P-lan1" tcpdump -U -Q in -nni h1 -w "$WORK/lan1.pcap" ip 2> "$WORK/tcpdump-lan1.log" & PIDS+=($!)
for h in wan lan1; do
    for _ in $(seq 50); do grep -q "listening on" "$WORK/tcpdump-$h.log" && break; sleep 0.1; done
    grep -q "listening on" "$WORK/tcpdump-$h.log" || fail "tcpdump on $h did not start: $(cat "$WORK/tcpdump-$h.log")"
done
for s in "wan 9" "wan 5353" "lan1 42001"; do
    read -r h port <<<"$s"
    for _ in $(seq 50); do ns "$h" ss -Hlnu "sport = :$port" | grep -q . && break; sleep 0.1; done
done

masq_start "$MASQ" || true
grep -q "masq: running" "$WORK/masq.log" || fail "masq did not start"
grep -q "WAN next hop" "$WORK/masq.log" || fail "masq did not resolve the WAN next hop"
LAN_MAC="$(ns box cat /sys/class/net/lan0/address)"
WAN_MAC="$(ns box cat /sys/class/net/wan0/address)"

# --- the ping that must lose nothing -----------------------------------------
ns lan2 ping -c 3 -i 0.2 -W 2 "$WANH" > /dev/null || fail "lan2 cannot ping $WANH through masq"
ip netns exec "$P-lan2" ping -i 0.02 "$WANH" > "$WORK/ping.txt" 2>&1 &
PING_PID=$!
PIDS+=("$PING_PID")

# --- helpers ------------------------------------------------------------------
metrics() { ns box curl -sf --max-time 10 http://127.0.0.1:9469/metrics; }
admin() { "$MASQ" "$@" --socket "$WORK/masq.sock"; }
declare -A DESC
while read -r name _ desc; do DESC[$name]="$desc"; done < <("${PY[@]}" cases)

# counter FILE KEY: one named counter in a /metrics dump, summed over
# workers. KEY: drop:REASON (masq_drops_total), xdp:SIDE:REASON
# (masq_xdp_dropped_total) or pass:SIDE (frames the XDP program passed).
counter() {
    local name l1 l2 kind a b
    IFS=: read -r kind a b <<<"$2"
    case "$kind" in
        drop) name=masq_drops_total l1="reason=\"$a\"" l2="" ;;
        xdp) name=masq_xdp_dropped_total l1="side=\"$a\"" l2="reason=\"$b\"" ;;
        pass) name=masq_xdp_frames_total l1="side=\"$a\"" l2='action="pass"' ;;
        *) fail "bad counter key $2" ;;
    esac
    awk -v n="$name{" -v l1="$l1" -v l2="$l2" \
        'index($1, n) == 1 && index($1, l1) && index($1, l2) {s += $NF} END {printf "%d\n", s}' "$1"
}

# One scapy sender on lan1 and one on the WAN host, each reading commands
# from a FIFO (fd 7: LAN, fd 8: WAN) and answering one line each.
mkfifo "$WORK/lan.cmd" "$WORK/wan.cmd"
ip netns exec "$P-lan1" "${PY[@]}" serve h1 "$LAN_MAC" < "$WORK/lan.cmd" > "$WORK/lan.out" 2>&1 & PIDS+=($!)
exec 7> "$WORK/lan.cmd"
ip netns exec "$P-wan" "${PY[@]}" serve w0 "$WAN_MAC" < "$WORK/wan.cmd" > "$WORK/wan.out" 2>&1 & PIDS+=($!)
exec 8> "$WORK/wan.cmd"
for side in lan wan; do
    for _ in $(seq 100); do grep -q ready "$WORK/$side.out" && break; sleep 0.1; done
    grep -q ready "$WORK/$side.out" || fail "the scapy sender on the $side side did not start: $(cat "$WORK/$side.out")"
done

# send SIDE CASE COUNT [KEY=VALUE...]: scapy on lan1 (lan) or the WAN host
# (wan) sends COUNT frames of CASE to the box; prints how many went out
# (fails on anything else).
send() {
    local side="$1" c="$2" n="$3" lines out
    shift 3
    lines="$(wc -l < "$WORK/$side.out")"
    if [ "$side" = lan ]; then echo "$c $n $*" >&7; else echo "$c $n src=$WANH $*" >&8; fi
    for _ in $(seq 300); do
        [ "$(wc -l < "$WORK/$side.out")" -gt "$lines" ] && break
        sleep 0.02
    done
    out="$(sed -n "$((lines + 1))p" "$WORK/$side.out")"
    case "$out" in
        "sent $c "*) echo "${out##* }" ;;
        "refused $c "*) echo "$out" ;;
        *) fail "scapy ($side $c): '$out' $(tail -3 "$WORK/$side.out")" ;;
    esac
}

BAD_FRAMES=0
KINDS=0
declare -A CASES_USED
BAD_LAN=0
BAD_WAN=0
IDBASE=4096
# burst SIDE CASE "KEY=VALUE..." EXPECT...: sends $N frames (or datagrams)
# of CASE and checks each EXPECT: "KEY=D" (the counter KEY rose by exactly
# D) or "KEY>=D" (by at least D; for counters that other traffic moves too).
burst() {
    local side="$1" c="$2" params="$3"
    shift 3
    IDBASE=$((IDBASE + 1000))
    metrics > "$WORK/m0" || fail "GET /metrics"
    local sent
    # shellcheck disable=SC2086
    sent="$(send "$side" "$c" "$N" idbase="$IDBASE" $params)"
    local e key want got done_all
    # Wait (5 s at most) until every counter got there, then give any
    # excess a moment to show.
    for _ in $(seq 50); do
        metrics > "$WORK/m1" || fail "GET /metrics"
        done_all=1
        for e in "$@"; do
            key="${e%%[>=]*}" want="${e##*[=]}"
            got=$(($(counter "$WORK/m1" "$key") - $(counter "$WORK/m0" "$key")))
            [ "$got" -ge "$want" ] || done_all=0
        done
        [ "$done_all" = 1 ] && break
        sleep 0.1
    done
    sleep 0.2
    metrics > "$WORK/m1" || fail "GET /metrics"
    local said=""
    for e in "$@"; do
        key="${e%%[>=]*}" want="${e##*[=]}"
        got=$(($(counter "$WORK/m1" "$key") - $(counter "$WORK/m0" "$key")))
        case "$e" in
            *">="*) [ "$got" -ge "$want" ] || fail "$side $c ($params): $key rose by $got, expected at least $want (sent $sent frames: ${DESC[$c]})" ;;
            *) [ "$got" -eq "$want" ] || fail "$side $c ($params): $key rose by $got, expected $want (sent $sent frames: ${DESC[$c]})" ;;
        esac
        said="$said $key +$got"
    done
    BAD_FRAMES=$((BAD_FRAMES + sent))
    KINDS=$((KINDS + 1))
    CASES_USED[$c]=1
    if [ "$side" = lan ]; then BAD_LAN=$((BAD_LAN + sent)); else BAD_WAN=$((BAD_WAN + sent)); fi
    ok "$side ${c}${params:+ ($params)}: $sent frame(s), ${DESC[$c]}:$said"
}
# pcap FILE KEY=VALUE...: packets of a capture matching all (malformed.py).
pcap() { "${PY[@]}" pcap "$@"; }
# mapping PROTO INSIDE: the external IP:PORT of a session of lan1.
mapping() {
    admin sessions --subscriber "$LAN1" --json | python3 -c "
import json, sys
for s in json.load(sys.stdin)['sessions']:
    if s['protocol'] == sys.argv[1] and s['inside'] == sys.argv[2]:
        print(s['outside']); break" "$1" "$2"
}

# --- LAN side: frames cut short ----------------------------------------------
out="$(send lan eth_short 1)"
case "$out" in
    "refused eth_short "*) ok "lan eth_short: the sending kernel refuses frames shorter than an Ethernet header (${out#refused eth_short }); none can reach masq" ;;
    *) fail "a 10-byte frame was sent ($out): this test needs a check for it" ;;
esac
L="dst=$WANH"
for c in eth_only ip_cut12 ip_cut19 ihl0 ihl4 ihl_long ver6 tlen_long tlen_short; do
    burst lan "$c" "$L" "xdp:lan:bad_ip_header=$N"
done
burst lan ip_badsum "$L sport=43001" "drop:bad_ip_checksum=$N"
burst lan tcp_cut "$L sport=43002" "drop:truncated=$N"
burst lan udp_cut "$L sport=43003" "drop:truncated=$N"
burst lan tcp_doff "$L sport=43004" "drop:bad_l4_header=$N"
burst lan udp_len "$L sport=43005" "drop:bad_l4_header=$N"
burst lan icmp_cut "$L sport=43006" "drop:bad_l4_header=$N"

# --- LAN side: checksums, new flows (refused) and established (carried) ------
burst lan udp_badsum "$L sport=43010" "drop:bad_l4_checksum=$N"
burst lan tcp_syn_badsum "$L sport=43011" "drop:bad_l4_checksum=$N"
burst lan echo_badsum "$L sport=43012" "drop:bad_l4_checksum=$N"
burst lan tcp_ack "$L sport=43013" "drop:tcp_not_syn=$N"
# Established flows: one good packet opens each, then bad checksums follow
# the session's rewrite (incremental, so they stay bad for the far end).
for open in "udp sport=42001 dport=9" "tcp_syn sport=42002 dport=9" "echo sport=42003"; do
    read -r c params <<<"$open"
    # shellcheck disable=SC2086
    send lan "$c" 1 $params > /dev/null
done
sleep 0.3
burst lan udp_badsum "$L sport=42001 dport=9" "drop:bad_l4_checksum=0"
burst lan tcp_ack_badsum "$L sport=42002 dport=9" "drop:bad_l4_checksum=0" "drop:tcp_not_syn=0"
burst lan echo_badsum "$L sport=42003" "drop:bad_l4_checksum=0"

# --- LAN side: IP options ------------------------------------------------------
burst lan opt_valid "$L sport=43020" "drop:bad_ip_options=0"
burst lan opt_rr "$L sport=43021" "drop:bad_ip_options=0"
burst lan opt_len0 "$L sport=43022" "drop:bad_ip_options=$N"
burst lan opt_overrun "$L sport=43023" "drop:bad_ip_options=$N"

# --- LAN side: fragments -------------------------------------------------------
burst lan frag_tiny_tcp "$L sport=43030" "drop:bad_fragment=$N"
burst lan frag_tiny_udp "$L sport=43031" "drop:bad_fragment=$N"
burst lan frag_beyond "$L sport=43032" "drop:bad_fragment=$N"
burst lan frag_tcp_off1 "$L sport=43033" "drop:bad_fragment=$N"
burst lan frag_overlap "$L sport=43034" "drop:bad_fragment=0" "drop:fragment_of_dropped=0" "drop:fragment_timeout=0" "drop:fragment_table_full=0"

# --- LAN side: protocols, ICMP errors, TTL ---------------------------------------
# Other protocols are translated address-only (one session each, reused).
for c in proto47 proto132 proto253; do burst lan "$c" "$L" "drop:unsupported_protocol=0" "drop:protocol_conflict=0"; done
burst lan proto0 "$L" "drop:unsupported_protocol=$N"
burst lan dccp_cut "$L" "drop:bad_l4_header=$N"
burst lan icmp_err_unknown "$L sport=43040" "drop:icmp_error_no_session=$N"
burst lan icmp_err_cut "$L sport=43041" "drop:icmp_error_malformed=$N"
burst lan icmp_err_badsum "$L sport=43042" "drop:bad_icmp_checksum=$N"
burst lan udp "$L sport=43050 ttl=0" "drop:ttl_expired=$N"
burst lan udp "$L sport=43051 ttl=1" "drop:ttl_expired=$N"

# --- LAN side: destinations never translated --------------------------------------
for d in 127.0.0.1 0.1.2.3 240.0.0.1; do
    burst lan udp "dst=$d sport=43060" "drop:martian_destination=$N"
done
for d in 255.255.255.255 192.168.50.255 224.0.0.1 239.1.1.1; do
    burst lan udp "dst=$d sport=43061" "pass:lan>=$N"
done
burst lan udp "$L sport=43062 mac=ff:ff:ff:ff:ff:ff" "pass:lan>=$N"
burst lan udp "$L sport=43063 mac=01:00:5e:00:00:01" "pass:lan>=$N"

# --- LAN side: sources that are not the subscriber's ------------------------------
for s in 198.19.0.3 198.18.0.1 "$ONE2ONE"; do
    burst lan udp "$L src=$s sport=43070" "xdp:lan:spoofed_source=$N"
done
# A WAN host's address is not the NAT's own: the box's kernel decides
# (forwarding is off); it must not leave translated or not.
burst lan udp "$L src=$WANH sport=43070" "pass:lan>=$N" "xdp:lan:spoofed_source=0"

# --- WAN side: to a pool address ---------------------------------------------------
W="dst=$POOL_IP dport=$UNMAPPED"
for c in eth_only ip_cut12 ip_cut19 ihl0 ihl4 ihl_long ver6 tlen_long tlen_short; do
    burst wan "$c" "$W" "xdp:wan:bad_ip_header=$N"
done
burst wan ip_badsum "$W" "drop:bad_ip_checksum=$N"
burst wan tcp_cut "$W" "drop:truncated=$N"
burst wan udp_cut "$W" "drop:truncated=$N"
burst wan tcp_doff "$W" "drop:bad_l4_header=$N"
burst wan udp_len "$W" "drop:bad_l4_header=$N"
burst wan opt_len0 "$W" "drop:bad_ip_options=$N"
burst wan opt_overrun "$W" "drop:bad_ip_options=$N"
# Unmapped ports and unsolicited traffic.
burst wan tcp_syn "$W" "drop:no_mapping=$N"
burst wan tcp_ack "$W" "drop:no_mapping=$N"
burst wan udp "$W" "drop:no_mapping=$N"
burst wan udp_badsum "$W" "drop:no_mapping=$N"
burst wan icmp_err_unknown "$W" "drop:icmp_error_no_session=$N"
burst wan icmp_err_cut "$W" "drop:icmp_error_malformed=$N"
burst wan icmp_err_badsum "$W" "drop:bad_icmp_checksum=$N"
# Not for the NAT at all: in snat mode the pool is not the box's.
burst wan echo "$W" "xdp:wan:not_for_nat=$N"
burst wan icmp_cut "$W" "xdp:wan:not_for_nat=$N"
burst wan tcp_syn "dst=$POOL_IP dport=22" "xdp:wan:not_for_nat=$N"
# Other protocols go to the NAT (address-only sessions); from a host with
# no session they are not its to translate: given back, which a worker
# can only count (pass_after_redirect).
for c in proto47 proto132 proto253; do
    burst wan "$c" "$W src=198.18.0.9" "xdp:wan:not_for_nat=0" "drop:pass_after_redirect=$N"
done
burst wan udp "$W mac=ff:ff:ff:ff:ff:ff" "xdp:wan:not_for_nat=$N"
# Fragments.
burst wan frag_tiny_tcp "$W" "drop:bad_fragment=$N"
burst wan frag_tiny_udp "$W" "drop:bad_fragment=$N"
burst wan frag_beyond "$W" "drop:bad_fragment=$N"
burst wan frag_overlap "$W" "drop:no_mapping=$N" "drop:fragment_of_dropped=$((2 * N))"
burst wan frag_tcp_off1 "$W" "drop:no_mapping=$N" "drop:bad_fragment=$N"
# Sources that cannot be on the WAN side (ingress filtering).
burst wan udp "$W src=$LAN1" "drop:martian_source=$N"
burst wan udp "$W src=198.19.0.2" "drop:martian_source=$N"

# --- WAN side: established flows and TTL -------------------------------------------
ext="$(mapping udp "$LAN1:42001")"
[ -n "$ext" ] || fail "no session for lan1's UDP flow from port 42001: $(admin sessions --subscriber "$LAN1")"
E="dst=${ext%:*} dport=${ext#*:} sport=9"
burst wan udp_badsum "$E" "drop:bad_l4_checksum=0" "drop:no_mapping=0"
burst wan udp "$E ttl=1" "drop:ttl_expired=$N"
burst wan udp "$E ttl=0" "drop:ttl_expired=$N"
burst wan echo "dst=$ONE2ONE sport=7 ttl=1" "drop:ttl_expired=$N"
burst wan echo "dst=$ONE2ONE sport=7 ttl=0" "drop:ttl_expired=$N"

# --- captures: what was carried, and that nothing leaked -----------------------------
# The errors about the last burst are the last frames the checks count:
# wait until the capture holds them (at most about 10 s) before it stops,
# as a fixed pause lost them on a loaded machine.
for _ in $(seq 20); do
    got="$(pcap "$WORK/wan.pcap" proto=icmp icmp_type=11 src="$ONE2ONE" dst="$WANH" 2>/dev/null)" || got=""
    [ "$got" = "$((2 * N))" ] && break
    sleep 0.2
done
sleep 0.5
for pid in "${PIDS[@]}"; do
    case "$(ps -o comm= -p "$pid" 2>/dev/null)" in tcpdump) kill -INT "$pid" ;; esac
done
sleep 0.5
# expect_pcap FILE COUNT WHAT KEY=VALUE...
expect_pcap() {
    local f="$1" want="$2" what="$3" got
    shift 3
    got="$(pcap "$WORK/$f" "$@")" || fail "reading $f: $got"
    [ "$got" = "$want" ] || fail "$what: $got packet(s) in $f matching '$*', expected $want"
    ok "$what: $got in $f"
}
expect_pcap wan.pcap "$N" "established UDP with bad checksums carried, still bad (from the pool)" \
    proto=udp src=198.19.0. dport=9 badsum=1
expect_pcap wan.pcap 1 "the good datagram that opened that UDP session" proto=udp src=198.19.0. dport=9 badsum=0 options=0
expect_pcap wan.pcap "$N" "established TCP with bad checksums carried, still bad" proto=tcp src=198.19.0. dport=9 badsum=1
for p in gre sctp p253; do
    expect_pcap wan.pcap "$N" "$p translated address-only (from the pool)" proto="$p" src=198.19.0.
done
expect_pcap wan.pcap "$N" "established ICMP echo with bad checksums carried, still bad" proto=icmp icmp_type=8 src=198.19.0. badsum=1
expect_pcap lan1.pcap "$N" "inbound UDP with bad checksums on lan1's session carried to lan1, still bad" \
    proto=udp dst="$LAN1" dport=42001 badsum=1
expect_pcap wan.pcap "$((2 * N))" "UDP with valid IP options (router alert, record route) translated, options and checksums kept" \
    proto=udp src=198.19.0. dport=9 options=1 badsum=0 ttl=63
expect_pcap wan.pcap "$((3 * N))" "overlapping fragments all translated (the receiver reassembles or refuses them)" \
    proto=udp src=198.19.0. frag=1
expect_pcap wan.pcap "$N" "TCP first fragments before an offset-8 fragment translated; the offset-8 ones not" \
    proto=tcp src=198.19.0. frag=1
expect_pcap lan1.pcap "$((2 * N))" "TTL 0 and 1 from lan1: time exceeded from the box's LAN address" \
    proto=icmp icmp_type=11 src=192.168.50.1 dst="$LAN1"
expect_pcap wan.pcap "$((2 * N))" "TTL 0 and 1 to lan1's mapping: time exceeded from ${ext%:*}" \
    proto=icmp icmp_type=11 src="${ext%:*}" dst="$WANH"
expect_pcap wan.pcap "$((2 * N))" "TTL 0 and 1 pings to the one-to-one address: time exceeded from $ONE2ONE" \
    proto=icmp icmp_type=11 src="$ONE2ONE" dst="$WANH"
for cls in multicast bcast martian; do
    expect_pcap wan.pcap 0 "no $cls destination reached the WAN" dst_class="$cls"
done
expect_pcap wan.pcap 0 "no untranslated inside source reached the WAN" src=192.168.50.
for s in 198.19.0.3 198.18.0.1 "$WANH"; do
    expect_pcap wan.pcap 0 "no LAN frame spoofing $s reached the WAN" src="$s" proto=udp sport=43070
done
expect_pcap lan1.pcap 0 "nothing sent to the unmapped port $UNMAPPED reached lan1" dport="$UNMAPPED"
expect_pcap lan1.pcap 0 "no WAN frame from an inside or pool source reached lan1" proto=udp src=198.19.0.2

# --- afterwards ---------------------------------------------------------------------
kill -0 "$MASQ_PID" 2>/dev/null || fail "masq is no longer running"
if grep -qi panic "$WORK/masq.log"; then fail "masq's log shows a panic"; fi
out="$(ns lan1 python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.5)
for attempt in range(3):
    s.sendto(b'x', ('$WANH', 5353))
    try:
        print(s.recvfrom(2048)[0].decode()); break
    except socket.timeout:
        pass
else:
    sys.exit('no reply')")" || fail "a new UDP flow from lan1 got no answer"
case "$out" in "from 198.19.0."*) ;; *) fail "a new UDP flow from lan1 was seen as '$out'" ;; esac
ns lan1 curl -sf --max-time 10 -o "$WORK/blob" "http://$WANH:8080/blob" || fail "a new TCP flow (HTTP) from lan1 failed"
cmp -s "$WORK/blob" "$WORK/www/blob" || fail "the HTTP download differs"
ok "masq still runs, no panic in its log; new flows from lan1 work (UDP ${out#from }, 100 kB over HTTP intact)"
metrics > "$WORK/m" || fail "GET /metrics"
unacc="$(awk '/^masq_umem_frames_unaccounted/ {s += $NF} END {printf "%d\n", s}' "$WORK/m")"
grep -q '^masq_umem_frames_unaccounted' "$WORK/m" || fail "/metrics has no masq_umem_frames_unaccounted"
[ "$unacc" = 0 ] || fail "masq_umem_frames_unaccounted is $unacc"
ok "masq_umem_frames_unaccounted is 0"
stalls="$(awk '/^masq_worker_stalls_total/ {s += $NF} END {printf "%d\n", s}' "$WORK/m")"
grep -q '^masq_worker_stalls_total' "$WORK/m" || fail "/metrics has no masq_worker_stalls_total"
[ "$stalls" = 0 ] || fail "the worker stalled $stalls time(s) during the run: $(grep stall "$WORK/masq.log")"
ok "no worker stalled (masq_worker_stalls_total 0)"
# The same counters in `masq stats --json`.
admin stats --json > "$WORK/stats.json" || fail "masq stats --json"
python3 - "$WORK/stats.json" "$(counter "$WORK/m" drop:bad_ip_options)" "$(counter "$WORK/m" xdp:lan:spoofed_source)" \
    "$(counter "$WORK/m" xdp:wan:not_for_nat)" <<'PY' || fail "masq stats --json disagrees with /metrics: $(cat "$WORK/stats.json")"
import json, sys
d = json.load(open(sys.argv[1]))
got = (d["drops"]["bad_ip_options"], d["xdp_drops"]["lan"]["spoofed_source"], d["xdp_drops"]["wan"]["not_for_nat"])
want = tuple(int(x) for x in sys.argv[2:5])
sys.exit(0 if got == want and min(got) > 0 else f"stats {got}, metrics {want}")
PY
ok "masq stats --json shows the same bad_ip_options, spoofed_source and not_for_nat counts as /metrics"

# The ping: every request answered once. The request in flight when ping
# is stopped cannot be answered; any other gap is a loss.
kill -INT "$PING_PID"
wait "$PING_PID" || true
tx="$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$WORK/ping.txt")"
[ -n "$tx" ] || fail "ping printed no summary: $(tail -3 "$WORK/ping.txt")"
if grep -q "DUP!" "$WORK/ping.txt"; then fail "ping got duplicate replies: $(grep -m3 'DUP!' "$WORK/ping.txt")"; fi
missing="$(python3 - "$WORK/ping.txt" "$tx" <<'PY'
import re, sys
seen = {int(m.group(1)) for m in re.finditer(r"icmp_seq=(\d+) ", open(sys.argv[1]).read())}
tx = int(sys.argv[2])
print(" ".join(str(s) for s in range(1, tx) if s not in seen))
PY
)"
[ -z "$missing" ] || fail "the ping from lan2 lost $(wc -w <<<"$missing") of $tx request(s): icmp_seq $missing"
[ "$tx" -ge 100 ] || fail "the ping sent only $tx requests"
ok "the ping from lan2 ran throughout: $tx requests, none lost"

echo "malformed: bad inputs tried: $BAD_FRAMES frames in $KINDS bursts of ${#CASES_USED[@]} kinds ($BAD_LAN LAN-side, $BAD_WAN WAN-side)"
echo "malformed: $passed passed, 0 failed ($(($(date +%s) - T0)) s)"
