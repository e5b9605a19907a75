#!/usr/bin/env bash
# The carrier-grade features of masq in network namespaces, in one run with
# one configuration: a static port forward (WAN -> 198.19.0.1:8080 reaches
# lan1:8000, client address untouched); a one-to-one mapping (lan2 is
# 198.19.1.1 both ways); ICMP time exceeded from the box for TTL 1
# (traceroute); MSS clamping of SYN and SYN-ACK; fragmented UDP both ways,
# fragments sent in order and in reverse (outbound), last first (inbound);
# ICMP 3/4 "fragmentation needed"
# with the WAN MTU; excluded destinations forwarded untranslated by the
# kernel; ICMP 3/13 when a subscriber hits its session limit (counted in
# /metrics and `masq stats`, other subscribers unaffected); IPFIX records
# (port blocks, sessions) that match `masq subscribers` and `masq sessions`.
# Needs root. Usage: tests/netns/cgn.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="${1:-target/debug/masq}"
P="mqg$$"
topo_test cgn
T0="$(date +%s)"

LAN1=192.168.50.11
LAN2=192.168.50.12
WANH=198.18.0.2
ONE2ONE=198.19.1.1      # lan2's one-to-one address (outside the pool)
FWD_IP=198.19.0.1       # the static port forward: $FWD_IP:8080 -> lan1:8000
WAN_MTU=1400
MSS=1360
LIMIT=4                 # sessions per subscriber

topo_up "$P"
ns wan ip route add "$ONE2ONE" via 198.18.0.1
{
    masq_config snat
    cat <<EOF
exclude = ["198.51.100.0/24"]
mss_clamp = $MSS
lan_mtu = 1500
wan_mtu = $WAN_MTU

[[static]]
proto = "tcp"
inside = "$LAN1:8000"
outside = "$FWD_IP:8080"

[[static]]
inside = "$LAN2"
outside = "$ONE2ONE"

[icmp]
rate = 1000
rate_per_subscriber = 10

[fragments]
max_datagrams = 1024
max_held = 64
timeout = 2

[log]
ipfix = "$WANH:4739"
sessions = true
destinations = false

[limits]
sessions_per_subscriber = $LIMIT
EOF
} > "$WORK/masq.toml"
"$MASQ" check-config "$WORK/masq.toml" > "$WORK/effective.toml" 2>&1 \
    || fail "check-config refused the configuration: $(cat "$WORK/effective.toml")"

# --- helpers on the hosts ---------------------------------------------------
cat > "$WORK/srv.py" <<'PY'
# srv.py udp PORT: echo "from IP:PORT " + datagram to the sender.
# srv.py whoami PORT: HTTP; the body is "client IP:PORT" of the peer.
import http.server, socket, sys
kind, port = sys.argv[1], int(sys.argv[2])
if kind == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    while True:
        data, addr = s.recvfrom(65535)
        s.sendto(f"from {addr[0]}:{addr[1]} ".encode() + data, addr)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"client {self.client_address[0]}:{self.client_address[1]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("0.0.0.0", port), H).serve_forever()
PY
cat > "$WORK/ask.py" <<'PY'
# ask.py DST PORT MESSAGE: one UDP exchange (3 tries); prints
# "REPLY_SOURCE_IP:PORT LOCAL_PORT REPLY".
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.5)
for attempt in range(3):
    s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
    try:
        data, addr = s.recvfrom(65535)
        print(f"{addr[0]}:{addr[1]} {s.getsockname()[1]} {data.decode()}")
        break
    except socket.timeout:
        pass
else:
    sys.exit("no reply")
PY
ask() { ns "$1" python3 "$WORK/ask.py" "$2" "$3" "$4"; }
flush_sub() { admin flush --subscriber "$1" > /dev/null || fail "masq flush --subscriber $1"; }
# pcap FILE FILTER [tcpdump options]: the matching packets, one a line.
pcap() { local f="$1" flt="$2"; shift 2; tcpdump -nn "$@" -r "$f" "$flt" 2>/dev/null; }

# --- start: IPFIX collector, captures, masq, servers -------------------------
[ -f tests/netns/ipfix_collector.py ] || fail "tests/netns/ipfix_collector.py is missing"
ip netns exec "$P-wan" python3 tests/netns/ipfix_collector.py --listen "$WANH:4739" --out "$WORK/ipfix.jsonl" \
    > "$WORK/collector.log" 2>&1 & PIDS+=($!)
ip netns exec "$P-wan" tcpdump -U --immediate-mode -nni w0 -w "$WORK/wan.pcap" ip 2> "$WORK/tcpdump-wan.log" & PIDS+=($!)
ip netns exec "$P-lan1" tcpdump -U --immediate-mode -nni h1 -w "$WORK/lan1.pcap" ip 2> "$WORK/tcpdump-lan1.log" & PIDS+=($!)
ip netns exec "$P-lan2" tcpdump -U --immediate-mode -nni h2 -w "$WORK/lan2.pcap" ip 2> "$WORK/tcpdump-lan2.log" & PIDS+=($!)
ip netns exec "$P-wan" python3 "$WORK/srv.py" udp 5353 & PIDS+=($!)
ip netns exec "$P-lan2" python3 "$WORK/srv.py" udp 5353 & PIDS+=($!)
ip netns exec "$P-lan1" python3 "$WORK/srv.py" whoami 8000 & PIDS+=($!)
mkdir -p "$WORK/www" && head -c 200000 /dev/urandom > "$WORK/www/blob"
(cd "$WORK/www" && exec ip netns exec "$P-wan" python3 -m http.server 8080 --bind "$WANH" > /dev/null 2>&1) & PIDS+=($!)
# listening HOST tcp|udp PORT: waits (5 s at most) for a listener.
listening() {
    for _ in $(seq 50); do ns "$1" ss -Hln --"$2" "sport = :$3" | grep -q . && return 0; sleep 0.1; done
    return 1
}
# masq sends its IPFIX templates at start: the collector must be listening.
listening wan udp 4739 || fail "the IPFIX collector is not listening: $(cat "$WORK/collector.log")"
for s in "wan udp 5353" "lan2 udp 5353" "lan1 tcp 8000" "wan tcp 8080"; do
    read -r h proto port <<<"$s"
    listening "$h" "$proto" "$port" || fail "no $proto server on $h port $port"
done
for h in wan lan1 lan2; do
    for _ in $(seq 50); do grep -q "listening on" "$WORK/tcpdump-$h.log" && break; sleep 0.1; done
    grep -q "listening on" "$WORK/tcpdump-$h.log" || fail "tcpdump on $h did not start: $(cat "$WORK/tcpdump-$h.log")"
done
masq_start "$MASQ" || true
grep -q "masq: running" "$WORK/masq.log" || fail "masq did not start"
grep -q "WAN next hop" "$WORK/masq.log" || fail "masq did not resolve the WAN next hop"

# --- 1. static port forward -------------------------------------------------
body="$(ns wan curl -sf --max-time 5 "http://$FWD_IP:8080/")" \
    || fail "static forward: curl http://$FWD_IP:8080/ from the WAN host failed"
case "$body" in
    "client $WANH:"*) ok "static forward: WAN -> $FWD_IP:8080 reached lan1:8000, which saw the client as ${body#client }" ;;
    *) fail "static forward: lan1's server answered '$body', not the WAN host's address $WANH" ;;
esac

# --- 2. one-to-one ----------------------------------------------------------
ns wan ping -c 2 -i 0.2 -W 2 "$ONE2ONE" > "$WORK/ping.txt" \
    || fail "one-to-one: the WAN host cannot ping $ONE2ONE: $(tail -2 "$WORK/ping.txt")"
out="$(ask wan "$ONE2ONE" 5353 in)" || fail "one-to-one: no UDP answer from $ONE2ONE:5353"
read -r from _ reply <<<"$out"
[ "$from" = "$ONE2ONE:5353" ] || fail "one-to-one: the answer to $ONE2ONE:5353 came from $from"
case "$reply" in
    "from $WANH:"*) ;;
    *) fail "one-to-one: lan2's echo saw '$reply', not the WAN host $WANH as the sender" ;;
esac
out="$(ask lan2 "$WANH" 5353 out)" || fail "one-to-one: no UDP answer to lan2"
read -r _ lport reply <<<"$out"
case "$reply" in
    "from $ONE2ONE:"*) ;;
    *) fail "one-to-one: the WAN host saw lan2's datagram as '$reply', not from $ONE2ONE" ;;
esac
n="$(pcap "$WORK/wan.pcap" "src host $ONE2ONE and udp" | wc -l)"
[ "$n" -ge 1 ] || fail "one-to-one: no UDP from $ONE2ONE captured on the WAN host"
n="$(pcap "$WORK/wan.pcap" "src host $LAN2" | wc -l)"
[ "$n" -eq 0 ] || fail "one-to-one: $n packet(s) from $LAN2 reached the WAN untranslated"
ok "one-to-one: the WAN host pings and reaches $ONE2ONE:5353 on lan2 (sender $WANH kept); lan2's port $lport leaves as $(echo "$reply" | cut -d' ' -f2)"

# --- 3. TTL expiry (traceroute) ---------------------------------------------
ns lan1 traceroute -n -q1 -w2 -m2 "$WANH" > "$WORK/traceroute.txt" 2>&1 \
    || fail "traceroute: $(cat "$WORK/traceroute.txt")"
hop1="$(awk '$1 == 1 {print $2}' "$WORK/traceroute.txt")"
hop2="$(awk '$1 == 2 {print $2}' "$WORK/traceroute.txt")"
[ "$hop1" = 192.168.50.1 ] || fail "traceroute: hop 1 is '$hop1', not the box's LAN address: $(cat "$WORK/traceroute.txt")"
[ "$hop2" = "$WANH" ] || fail "traceroute: hop 2 is '$hop2', not $WANH: $(cat "$WORK/traceroute.txt")"
# The time exceeded is a real ICMP 11/0 from the box, quoting lan1's probe.
pcap "$WORK/lan1.pcap" "icmp[0] = 11 and icmp[1] = 0 and src host 192.168.50.1" -v > "$WORK/te.txt"
grep -q "time exceeded in-transit" "$WORK/te.txt" || fail "traceroute: no ICMP 11/0 from 192.168.50.1 captured on lan1"
grep -Eq "$LAN1\.[0-9]+ > $WANH\.[0-9]+: (\[[^]]*\] )?UDP" "$WORK/te.txt" \
    || fail "traceroute: the ICMP time exceeded does not quote lan1's untranslated probe: $(cat "$WORK/te.txt")"
ok "TTL expiry: traceroute hop 1 is 192.168.50.1 (ICMP 11/0 quoting the probe), hop 2 is $WANH"

# --- 4. MSS clamping ----------------------------------------------------------
flush_sub "$LAN1"
ns lan1 curl -sf --max-time 10 -o "$WORK/blob" "http://$WANH:8080/blob" || fail "MSS: HTTP from lan1 to $WANH:8080 failed"
cmp -s "$WORK/blob" "$WORK/www/blob" || fail "MSS: the download differs"
syn_lan="$(pcap "$WORK/lan1.pcap" "src host $LAN1 and dst port 8080 and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn" -v | grep -o 'mss [0-9]*' | head -1)"
syn_wan="$(pcap "$WORK/wan.pcap" "dst host $WANH and dst port 8080 and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn" -v | grep -o 'mss [0-9]*' | head -1)"
synack_wan="$(pcap "$WORK/wan.pcap" "src host $WANH and src port 8080 and tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)" -v | grep -o 'mss [0-9]*' | head -1)"
synack_lan="$(pcap "$WORK/lan1.pcap" "dst host $LAN1 and src port 8080 and tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)" -v | grep -o 'mss [0-9]*' | head -1)"
[ "$syn_lan" = "mss 1460" ] || fail "MSS: lan1's SYN carried '$syn_lan', expected mss 1460 before clamping"
[ "$syn_wan" = "mss $MSS" ] || fail "MSS: the SYN reached the WAN host with '$syn_wan', expected mss $MSS"
if [ -z "$synack_lan" ] || [ "${synack_lan#mss }" -gt "$MSS" ]; then
    fail "MSS: the SYN-ACK reached lan1 with '$synack_lan' (sent as '$synack_wan'), expected at most $MSS"
fi
# Checksums of what masq rewrote: tcpdump -vv verifies each TCP segment's.
for c in "lan1.pcap:dst host $LAN1" "wan.pcap:dst host $WANH"; do
    pcap "$WORK/${c%%:*}" "tcp port 8080 and ${c#*:}" -vv > "$WORK/cksum.txt"
    segs="$(grep -c 'Flags \[' "$WORK/cksum.txt" || true)"
    good="$(grep -c 'cksum 0x[0-9a-f]* (correct)' "$WORK/cksum.txt" || true)"
    if [ "$segs" -lt 10 ] || [ "$good" -ne "$segs" ]; then
        fail "MSS: $((segs - good)) of $segs TCP segment(s) ${c#*:} with a bad checksum: $(grep -m3 incorrect "$WORK/cksum.txt")"
    fi
done
big="$(pcap "$WORK/lan1.pcap" "tcp and src port 8080 and dst host $LAN1" | sed -n 's/.*, length \([0-9]*\).*/\1/p' | sort -n | tail -1)"
if [ -z "$big" ] || [ "$big" -gt "$MSS" ]; then fail "MSS: the WAN server sent segments of '$big' bytes to lan1, more than $MSS"; fi
ok "MSS clamping: SYN $syn_lan -> $syn_wan at the WAN host; SYN-ACK $synack_wan -> $synack_lan at lan1; largest segment $big; 200 kB download intact, checksums correct"

# --- 5. fragmented UDP, in order and in reverse -------------------------------
flush_sub "$LAN1"
cat > "$WORK/frag.py" <<'PY'
# Sends a 3000-byte UDP datagram to the WAN echo as 1000-byte fragments (in
# order, then reversed with another port and IP id) and reads the echo (its
# fragments reassembled by lan1's kernel) from a socket bound to that port.
import socket, sys
from scapy.all import IP, UDP, Raw, conf, fragment, send
conf.verb = 0
src, dst = sys.argv[1], sys.argv[2]
for order, sport, ipid in (("in-order", 41001, 0x4101), ("reversed", 41002, 0x4102)):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", sport)); s.settimeout(2)
    data = bytes((i * 7 + sport) & 0xFF for i in range(3000))
    frags = fragment(IP(src=src, dst=dst, id=ipid) / UDP(sport=sport, dport=5353) / Raw(data), fragsize=1000)
    if order == "reversed":
        frags = frags[::-1]
    result = "no reply"
    for attempt in range(2):
        send(frags)
        try:
            reply, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        head, _, echoed = reply.partition(b" ")
        head2, _, echoed = echoed.partition(b" ")
        if head != b"from" or echoed != data:
            result = f"bad reply of {len(reply)} bytes: {reply[:40]!r}"
        else:
            result = f"ok {len(frags)} {len(reply)} {head2.decode()}"
        break
    print(order, sport, result)
    s.close()
PY
ns lan1 /usr/bin/python3 "$WORK/frag.py" "$LAN1" "$WANH" > "$WORK/frag.txt" 2>&1 || fail "fragments: $(cat "$WORK/frag.txt")"
for order in in-order reversed; do
    read -r _ sport res nfr nrep seen <<<"$(grep "^$order " "$WORK/frag.txt")" || fail "fragments ($order): $(cat "$WORK/frag.txt")"
    [ "$res" = ok ] || fail "fragments ($order, source port $sport): $(grep "^$order " "$WORK/frag.txt")"
    case "$seen" in 198.19.0.[0-7]:*) ;; *) fail "fragments ($order): the WAN echo saw the datagram from $seen, not a pool address" ;; esac
    ok "fragmented UDP ($order): $nfr fragments from lan1:$sport reassembled at the WAN host from $seen; its $nrep-byte reply, fragmented by the WAN host, reached lan1 whole"
done
n="$(pcap "$WORK/lan1.pcap" "dst host $LAN1 and ip[6:2] & 0x3fff != 0" | wc -l)"
[ "$n" -ge 4 ] || fail "fragments: only $n reply fragment(s) captured on lan1 (the replies should arrive fragmented)"
# Inbound, last fragment first: lan1 opens a mapping with a small datagram,
# then the WAN host sends a 3000-byte datagram to it as reversed fragments.
ip netns exec "$P-lan1" python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 41003)); s.settimeout(2)
s.sendto(b'open', ('$WANH', 5353))
print(s.recvfrom(2048)[0].decode().split()[1], flush=True)
s.settimeout(6)
data, addr = s.recvfrom(65535)
print(len(data), data == bytes(i & 0xFF for i in range(3000)), '%s:%d' % addr, flush=True)
" > "$WORK/inbound.txt" 2>&1 & inbound_pid=$!
PIDS+=("$inbound_pid")
for _ in $(seq 30); do [ -s "$WORK/inbound.txt" ] && break; sleep 0.1; done
mapping="$(head -1 "$WORK/inbound.txt")"
case "$mapping" in 198.19.0.[0-7]:*) ;; *) fail "fragments (inbound): no mapping for lan1:41003: $(cat "$WORK/inbound.txt")" ;; esac
ns wan /usr/bin/python3 -c "
from scapy.all import IP, UDP, Raw, conf, fragment, send
conf.verb = 0
pkt = IP(src='$WANH', dst='${mapping%:*}', id=0x4103) / UDP(sport=5353, dport=${mapping#*:}) / Raw(bytes(i & 0xFF for i in range(3000)))
send(fragment(pkt, fragsize=1000)[::-1])" || fail "fragments (inbound): scapy on the WAN host failed"
wait "$inbound_pid" || fail "fragments (inbound): lan1 did not receive the datagram sent to $mapping as reversed fragments: $(cat "$WORK/inbound.txt")"
read -r len same from < <(sed -n 2p "$WORK/inbound.txt")
if [ "$len" != 3000 ] || [ "$same" != True ] || [ "$from" != "$WANH:5353" ]; then
    fail "fragments (inbound): lan1 received '$(sed -n 2p "$WORK/inbound.txt")', expected 3000 bytes intact from $WANH:5353"
fi
ok "fragmented UDP (inbound, reversed): 4 fragments from the WAN host to lan1's mapping $mapping, last first, reached lan1:41003 whole"

# --- 6. fragmentation needed (ICMP 3/4) --------------------------------------
flush_sub "$LAN1"
fits=$((WAN_MTU - 28))
ns lan1 ping -M "do" -s "$fits" -c 1 -W 2 "$WANH" > "$WORK/ping.txt" 2>&1 \
    || fail "frag needed: a DF ping of exactly $WAN_MTU bytes did not pass: $(cat "$WORK/ping.txt")"
ns lan1 ping -M "do" -s 1450 -c 1 -W 2 "$WANH" > "$WORK/ping.txt" 2>&1 || true
grep -Eq "From [0-9.]+ .*Frag(mentation)? needed.*mtu = $WAN_MTU" "$WORK/ping.txt" \
    || fail "frag needed: a DF ping of 1478 bytes did not get 'Frag needed ... mtu = $WAN_MTU' from the box: $(cat "$WORK/ping.txt")"
pcap "$WORK/lan1.pcap" "icmp[0] = 3 and icmp[1] = 4 and dst host $LAN1" -v | grep -q "unreachable - need to frag (mtu $WAN_MTU)" \
    || fail "frag needed: no ICMP 3/4 with next-hop MTU $WAN_MTU captured on lan1"
src34="$(grep -Eo "From [0-9.]+" "$WORK/ping.txt" | head -1)"
ok "frag needed: a DF ping of $WAN_MTU bytes passes; one of 1478 bytes gets ICMP 3/4 (mtu = $WAN_MTU) ${src34,}"

# --- 7. excluded destinations ------------------------------------------------
flush_sub "$LAN1"
ns box sysctl -qw net.ipv4.ip_forward=1
ns wan ip addr add 198.51.100.1/32 dev w0
ns box ip route add 198.51.100.0/24 via "$WANH"
ns wan ip route add 192.168.50.0/24 via 198.18.0.1
ns lan1 ping -c 2 -i 0.2 -W 2 198.51.100.1 > "$WORK/ping.txt" || fail "exclusion: lan1 cannot ping 198.51.100.1: $(tail -2 "$WORK/ping.txt")"
ns lan1 ping -c 2 -i 0.2 -W 2 "$WANH" > "$WORK/ping.txt" || fail "exclusion: lan1 cannot ping $WANH with forwarding on"
n_ex="$(pcap "$WORK/wan.pcap" "icmp[0] = 8 and src host $LAN1 and dst host 198.51.100.1" | wc -l)"
[ "$n_ex" -ge 2 ] || fail "exclusion: the WAN host saw $n_ex echo request(s) from $LAN1 to 198.51.100.1, expected 2 untranslated"
n_tr="$(pcap "$WORK/wan.pcap" "src host $LAN1 and not dst host 198.51.100.1" | wc -l)"
[ "$n_tr" -eq 0 ] || fail "exclusion: $n_tr packet(s) from $LAN1 to other destinations left untranslated: $(pcap "$WORK/wan.pcap" "src host $LAN1 and not dst host 198.51.100.1" | head -3)"
n_pool="$(pcap "$WORK/wan.pcap" "icmp[0] = 8 and src net 198.19.0.0/29 and dst host $WANH" | wc -l)"
[ "$n_pool" -ge 2 ] || fail "exclusion: no translated echo requests to $WANH captured"
ns box sysctl -qw net.ipv4.ip_forward=0
ns wan ip route del 192.168.50.0/24
ok "exclusion: lan1 -> 198.51.100.1 crossed untranslated (source $LAN1, kernel forwarding); lan1 -> $WANH still left from the pool"

# --- 8. session limit: ICMP 3/13 ---------------------------------------------
flush_sub "$LAN1"
metrics > "$WORK/m0" || fail "GET /metrics"
limit_drops() { awk '/^masq_drops_total\{reason="subscriber_session_limit"/ {s += $NF} END {printf "%d\n", s}' "$1"; }
before="$(limit_drops "$WORK/m0")"
nflows=$((LIMIT + 2))
ns lan1 python3 -c "
import errno, socket
socks, res = [], []
for i in range($nflows):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
    s.connect(('$WANH', 5353)); socks.append(s)
    r = 'timeout'
    for attempt in range(2):
        s.send(b'flow%d' % i)
        try:
            s.recv(2048); r = 'ok'; break
        except socket.timeout:
            pass
        except OSError as e:
            r = errno.errorcode.get(e.errno, str(e.errno)); break
    res.append(r)
print(' '.join(res))" > "$WORK/flows.txt" 2>&1 || fail "session limit: $(cat "$WORK/flows.txt")"
read -r -a res < "$WORK/flows.txt"
n_ok=0; n_unreach=0
for r in "${res[@]}"; do
    case "$r" in ok) n_ok=$((n_ok + 1)) ;; EHOSTUNREACH) n_unreach=$((n_unreach + 1)) ;; esac
done
if [ "$n_ok" -ne "$LIMIT" ] || [ "$n_unreach" -ne $((nflows - LIMIT)) ]; then
    fail "session limit: $nflows UDP flows from lan1 ended '${res[*]}', expected $LIMIT ok then EHOSTUNREACH (ICMP 3/13)"
fi
n313="$(pcap "$WORK/lan1.pcap" "icmp[0] = 3 and icmp[1] = 13 and dst host $LAN1" | wc -l)"
[ "$n313" -ge $((nflows - LIMIT)) ] || fail "session limit: $n313 ICMP 3/13 captured on lan1, expected $((nflows - LIMIT))"
src313="$(pcap "$WORK/lan1.pcap" "icmp[0] = 3 and icmp[1] = 13 and dst host $LAN1" | awk '{print $3; exit}')"
metrics > "$WORK/m1" || fail "GET /metrics"
after="$(limit_drops "$WORK/m1")"
[ "$after" -gt "$before" ] || fail "session limit: masq_drops_total{reason=\"subscriber_session_limit\"} stayed at $after"
gen() { awk '/^masq_icmp_generated_total/ {s += $NF} END {printf "%d\n", s}' "$1"; }
[ "$(gen "$WORK/m1")" -ge "$(($(gen "$WORK/m0") + n313))" ] \
    || fail "masq_icmp_generated_total went $(gen "$WORK/m0") -> $(gen "$WORK/m1") with $n313 ICMP 3/13 captured"
admin stats > "$WORK/stats.txt" || fail "masq stats"
grep -Eq "^drop subscriber_session_limit +[1-9]" "$WORK/stats.txt" \
    || fail "session limit: masq stats shows no subscriber_session_limit drops: $(grep '^drop' "$WORK/stats.txt")"
admin sessions --subscriber "$LAN1" --json > "$WORK/sessions.json" || fail "masq sessions"
admin subscribers --json > "$WORK/subscribers.json" || fail "masq subscribers"
flush_sub "$LAN2"
out="$(ask lan2 "$WANH" 5353 still)" || fail "session limit: lan2 got no UDP answer while lan1 was at its limit"
read -r _ _ reply <<<"$out"
case "$reply" in "from $ONE2ONE:"*) ;; *) fail "session limit: lan2's flow seen as '$reply'" ;; esac
ok "session limit: $LIMIT of $nflows UDP flows from lan1 pass, the others get ICMP 3/13 from $src313 (EHOSTUNREACH at the socket); subscriber_session_limit $before -> $after in /metrics and masq stats; lan2 unaffected"

# --- 9. IPFIX -----------------------------------------------------------------
# The ports reserved for the static forward are never given out dynamically.
python3 - "$WORK/subscribers.json" "$FWD_IP" 8080 <<'PY' || fail "the static forward's port is inside a dynamic block: $(cat "$WORK/subscribers.json")"
import json, sys
d = json.load(open(sys.argv[1])); ip, port = sys.argv[2], int(sys.argv[3])
sys.exit(any(b["external"] == ip and b["first_port"] <= port <= b["last_port"]
             for s in d["subscribers"] for b in s["blocks"]))
PY
ok "static forward: no dynamic port block on $FWD_IP covers its port 8080"
# natEvent values of RFC 8158 / IANA: 4 NAT44 session create, 16 port block
# allocation, 13 quota exceeded (natQuotaExceededEvent 3: entries per user).
for _ in $(seq 50); do
    grep -q '"natEvent": 13,' "$WORK/ipfix.jsonl" 2>/dev/null && break
    sleep 0.1
done
if grep -q "ipfix_collector:" "$WORK/collector.log"; then fail "IPFIX: the collector could not decode: $(head -3 "$WORK/collector.log")"; fi
python3 - "$WORK/ipfix.jsonl" "$WORK/sessions.json" "$WORK/subscribers.json" "$LAN1" "$LIMIT" > "$WORK/ipfix_check.txt" 2>&1 <<'PY' \
    || fail "IPFIX: $(cat "$WORK/ipfix_check.txt")"
import json, sys
try:
    recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
except FileNotFoundError:
    sys.exit("the collector received no record")
sessions = json.load(open(sys.argv[2]))["sessions"]
subs = {s["subscriber"]: s for s in json.load(open(sys.argv[3]))["subscribers"]}
lan1, limit = sys.argv[4], int(sys.argv[5])
PROTO = {"tcp": 6, "udp": 17, "icmp": 1}
def ev(n): return [r for r in recs if r.get("natEvent") == n]
blocks, creates, quotas = ev(16), ev(4), ev(13)
assert blocks, f"no port block allocation record (natEvent 16) among {len(recs)} records"
assert creates, f"no NAT44 session create record (natEvent 4) among {len(recs)} records"
assert lan1 in subs and subs[lan1]["blocks"], f"masq subscribers lists no block of {lan1}"
got = [(r.get("sourceIPv4Address"), r.get("postNATSourceIPv4Address"),
        r.get("portRangeStart"), r.get("portRangeEnd")) for r in blocks]
for b in subs[lan1]["blocks"]:
    want = (lan1, b["external"], b["first_port"], b["last_port"])
    assert want in got, f"no block allocation record {want}; records: {got}"
assert sessions, f"masq sessions lists no session of {lan1}"
got = [(r.get("protocolIdentifier"), r.get("sourceIPv4Address"), r.get("sourceTransportPort"),
        r.get("postNATSourceIPv4Address"), r.get("postNAPTSourceTransportPort")) for r in creates]
for s in sessions:
    ip, port = s["inside"].rsplit(":", 1)
    xip, xport = s["outside"].rsplit(":", 1)
    want = (PROTO[s["protocol"]], ip, int(port), xip, int(xport))
    assert want in got, f"no session create record {want}; records: {got}"
q = [r for r in quotas if r.get("sourceIPv4Address") == lan1 and r.get("natQuotaExceededEvent") == 3]
assert q and q[0].get("maxEntriesPerUser") == limit, \
    f"no quota exceeded record (entries per user, max {limit}) for {lan1}: {quotas}"
print(f"{len(recs)} records decoded; lan1's {len(subs[lan1]['blocks'])} block(s) in port block allocations (16), "
      f"its {len(sessions)} live session(s) in session creates (4), its limit of {limit} in a quota exceeded (13)")
PY
ok "IPFIX: $(cat "$WORK/ipfix_check.txt")"

masq_stop || fail "masq exited with an error"
ok "masq stopped cleanly"
echo "cgn: $passed passed, 0 failed ($(( $(date +%s) - T0 )) s)"
