#!/usr/bin/env bash
# The main job on an embedded default: a Linux gateway doing what
# `iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE` does. Two LAN hosts
# behind a switch, the box (masq in `masquerade` mode, its WAN address on
# wan0), a WAN host; all joined by veth. The printout shows the LAN hosts'
# traffic leaving from the box's address (UDP, TCP, ping, GRE), the box's
# own ping and curl working the whole time, the WAN address changing as a
# new DHCP lease would (old sessions removed, new flows from the new
# address), and then a short second act in `snat` mode with a pool.
# Installs what is missing; needs root. scripts/test.sh runs it and checks
# the printout (tests/netns/demo_check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. scripts/topology.sh

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: run as root (it creates network namespaces and attaches XDP programs)" >&2
    exit 1
fi
ensure_cargo
ensure_packages pkg-config clang llvm m4 libelf-dev zlib1g-dev iproute2 ethtool tcpdump \
    iputils-ping curl python3 python3-scapy natpmpc

# MASQ_BIN: a masq binary already built (scripts/test.sh runs the demo on
# its debug build); otherwise a release build.
MASQ="${MASQ_BIN:-}"
if [ -z "$MASQ" ]; then
    echo "demo: building masq (release)"
    cargo build -q --release --locked -p masq
    MASQ=target/release/masq
fi

P="mqdemo$$"
topo_session
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

topo_up "$P"
say "Topology: lan1 192.168.50.11 and lan2 192.168.50.12 -> box (masq, lan0 | wan0 198.18.0.1) -> WAN host 198.18.0.2"
masq_config masquerade > "$WORK/masq.toml"
sed 's/^/  masq.toml| /' "$WORK/masq.toml"
say "masq check-config: how the gateway and the NAT share the WAN address"
ns box "$MASQ" check-config --config "$WORK/masq.toml" 2>&1 | sed -n '/^# How the box/,$p' | sed 's/^/  /'
masq_start "$MASQ" --stats-interval 2 || { sed 's/^/  /' "$WORK/masq.log"; exit 1; }
sed 's/^/  /' "$WORK/masq.log"

# The WAN host: what arrives (tcpdump), a UDP echo naming the source it
# saw, an HTTP server, and a GRE responder that answers each GRE packet.
ip netns exec "$P-wan" tcpdump -Q in -nni w0 -w "$WORK/wan.pcap" ip 2>/dev/null & PIDS+=($!)
udp_echo_start
mkdir -p "$WORK/www" && head -c 4194304 /dev/urandom > "$WORK/www/file.bin"
(cd "$WORK/www" && exec ip netns exec "$P-wan" python3 -m http.server 8080 --bind 198.18.0.2 >/dev/null 2>&1) & PIDS+=($!)
cat > "$WORK/gre_answer.py" <<'PY'
from scapy.all import GRE, IP, Raw, send, sniff
def answer(p):
    if p[IP].src != "198.18.0.2":
        send(IP(src="198.18.0.2", dst=p[IP].src) / GRE() / Raw(b"answer to " + bytes(p[Raw].load)), verbose=0)
sniff(iface="w0", filter="ip proto 47 and dst host 198.18.0.2", prn=answer, store=0)
PY
ip netns exec "$P-wan" /usr/bin/python3 "$WORK/gre_answer.py" & PIDS+=($!)
sleep 1.5

# The box talks for itself the whole time: one ping a fifth of a second
# through every act, counted at the end.
ip netns exec "$P-box" ping -i 0.2 -W 1 198.18.0.2 > "$WORK/box_ping.txt" 2>&1 & BOX_PING=$!; PIDS+=("$BOX_PING")

say "ping from both LAN hosts to the WAN host"
for h in lan1 lan2; do ns "$h" ping -c 3 -i 0.2 198.18.0.2 | sed "s/^/  $h| /" | grep -E "bytes from|packet loss"; done

say "UDP: the WAN host says where each datagram came from"
for h in lan1 lan2; do echo "  $h| the WAN host saw $(udp_ask "$h" "hello from $h")"; done

say "HTTP download (curl from lan1, 4 MiB)"
ns lan1 curl -s -o /dev/null -w '  lan1| HTTP %{http_code}, %{size_download} bytes in %{time_total} s\n' http://198.18.0.2:8080/file.bin

gre_from() {
    ns "$1" /usr/bin/python3 -c "
from scapy.all import GRE, IP, Raw, conf, sr1
conf.verb = 0
a = sr1(IP(dst='198.18.0.2') / GRE() / Raw(b'GRE from $1'), timeout=3, filter='ip proto 47')
print('  $1| ' + ('answer from %s: %s' % (a[IP].src, bytes(a[Raw].load).decode()) if a else 'no answer'))"
}
say "GRE (IP protocol 47, no ports): out from lan1, the WAN host answers"
gre_from lan1

say "A LAN host opens a port of its own (NAT-PMP with natpmpc), and the WAN host connects to it"
# A one-line web server on lan1 (http.server would first look its own
# name up in the DNS, which nobody answers here).
cat > "$WORK/lan1_www.py" <<'PY'
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.168.50.11", 8000))
s.listen()
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nserved by lan1\n")
    c.close()
PY
ip netns exec "$P-lan1" /usr/bin/python3 "$WORK/lan1_www.py" & PIDS+=($!)
ns lan1 natpmpc -g 192.168.50.1 -a 0 8000 tcp 600 > "$WORK/natpmpc.txt" 2>&1 || true
grep -E "Public IP address|Mapped public port" "$WORK/natpmpc.txt" | sed 's/^/  lan1| natpmpc: /'
pub=$(sed -nE 's/.*Mapped public port ([0-9]+) protocol TCP.*/\1/p' "$WORK/natpmpc.txt" | head -1)
sleep 0.3
echo "  wan| curl http://198.18.0.1:${pub:-?}/: $(ns wan curl -s --max-time 3 "http://198.18.0.1:${pub:-0}/" || echo FAILED)"

# box_curl: the box's own HTTP download from the WAN host, in one line.
box_curl() {
    ns box curl -s --max-time 5 -o /dev/null -w '  box| curl: HTTP %{http_code}, %{size_download} bytes\n' \
        http://198.18.0.2:8080/file.bin || echo "  box| curl: FAILED"
}
say "The box itself, while masq runs: curl and ping to the WAN host from the box's own stack"
box_curl
ns box ping -c 3 -i 0.2 -W 1 198.18.0.2 | sed 's/^/  box| /' | grep -E "packet loss" || true

say "masq sessions"
$MASQ sessions --socket "$WORK/masq.sock" --limit 12 | sed 's/^/  /'

say "The WAN address changes, as a new DHCP lease would: 198.18.0.1 -> 198.18.0.5"
ns box sysctl -qw net.ipv4.conf.wan0.promote_secondaries=1
ns box ip addr add 198.18.0.5/24 dev wan0
ns box ip addr del 198.18.0.1/24 dev wan0
wait_log "address 198.18.0.1 -> 198.18.0.5" || { echo "demo: masq did not see the change" >&2; exit 1; }
grep "198.18.0.1 -> 198.18.0.5" "$WORK/masq.log" | sed 's/^/  /'
for h in lan1 lan2; do echo "  $h| the WAN host saw $(udp_ask "$h" "hello again from $h")"; done
gre_from lan2
box_curl
say "masq sessions after the change (those of 198.18.0.1 are gone)"
$MASQ sessions --socket "$WORK/masq.sock" --limit 12 | sed 's/^/  /'
say "Prometheus /metrics on the box (127.0.0.1:9469), a few of its series"
ns box curl -sf http://127.0.0.1:9469/metrics \
    | grep -E '^masq_(packets_total|sessions\{|external_address_info|sessions_removed_total|drops_total\{reason="no_mapping")' \
    | grep -v ' 0$' | sed 's/^/  /'

kill -INT "$BOX_PING" 2>/dev/null || true
sleep 0.3
say "The box's own ping through the whole act (one every 0.2 s)"
grep -E "packet loss" "$WORK/box_ping.txt" | sed 's/^/  box| /' || true
kill -INT "${PIDS[0]}" 2>/dev/null || true
sleep 0.5
say "Source addresses the WAN host received packets from (tcpdump on the WAN host)"
tcpdump -nr "$WORK/wan.pcap" 2>/dev/null | awk '$2=="IP" {split($3, a, "."); print a[1] "." a[2] "." a[3] "." a[4]}' \
    | sort | uniq -c | sed 's/^/  /'

masq_stop || true
say "masq's report at exit (sessions it held, drops by reason, worker figures)"
sed 's/^/  /' "$WORK/report.txt"

say "Second act: snat mode, the pool $TOPO_POOL instead of the box's own address"
masq_config snat > "$WORK/masq.toml"
masq_start "$MASQ" || { sed 's/^/  /' "$WORK/masq.log"; exit 1; }
for h in lan1 lan2; do echo "  $h| the WAN host saw $(udp_ask "$h" "hello from $h")"; done
masq_stop || true
say "demo: done; namespaces removed"
