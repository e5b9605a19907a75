#!/usr/bin/env bash
# End-to-end test of masq in network namespaces: two LAN hosts reach a WAN
# host with ping, UDP and HTTP through masq; the WAN host sees only pool
# addresses; replies reach the right host; unsolicited WAN traffic never
# reaches the LAN; the box's own address keeps answering; SIGTERM detaches
# the XDP programs. Needs root. Usage: tests/netns/e2e.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="${1:-target/debug/masq}"
P="mqt$$"
topo_test e2e

topo_up "$P"
masq_config snat > "$WORK/masq.toml"
masq_start "$MASQ" || true
grep -q "masq: running" "$WORK/masq.log" || fail "masq did not start"
grep -q "WAN next hop" "$WORK/masq.log" || fail "masq did not resolve the WAN next hop"

# Capture what leaves the box on the WAN link, and what reaches lan1.
ip netns exec "$P-wan" tcpdump -Q in -nni w0 -w "$WORK/wan.pcap" ip 2>/dev/null & PIDS+=($!)
ip netns exec "$P-lan1" tcpdump -nni h1 -w "$WORK/lan1.pcap" ip 2>/dev/null & PIDS+=($!)
sleep 1

# Servers on the WAN host: UDP echo that reports the source it saw, HTTP.
cat > "$WORK/udp_echo.py" <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
while True:
    data, addr = s.recvfrom(2048)
    s.sendto(data + b" from " + f"{addr[0]}:{addr[1]}".encode(), addr)
PY
ip netns exec "$P-wan" python3 "$WORK/udp_echo.py" & PIDS+=($!)
mkdir -p "$WORK/www" && head -c 1048576 /dev/urandom > "$WORK/www/blob"
(cd "$WORK/www" && exec ip netns exec "$P-wan" python3 -m http.server 8080 --bind 198.18.0.2 >/dev/null 2>&1) & PIDS+=($!)
sleep 1

for h in lan1 lan2; do
    ns "$h" ping -c 3 -i 0.2 -W 2 198.18.0.2 > /dev/null || fail "ping from $h"
    ok "ping from $h through masq"
    reply="$(udp_ask "$h" "hello-$h")" || fail "UDP from $h"
    case "$reply" in
        "hello-$h from 198.19.0."*) ok "UDP from $h: the WAN host saw ${reply#* from }" ;;
        *) fail "UDP from $h: unexpected reply '$reply'" ;;
    esac
    ns "$h" curl -sf --max-time 10 -o "$WORK/$h.blob" http://198.18.0.2:8080/blob || fail "HTTP download on $h"
    cmp -s "$WORK/$h.blob" "$WORK/www/blob" || fail "HTTP download on $h differs"
    ok "HTTP download of 1 MiB on $h"
done

# A datagram to a closed port: the ICMP port unreachable must come back
# through masq with its embedded header restored, or the LAN host's kernel
# could not match it to the connected socket (ECONNREFUSED).
ns lan1 python3 -c "
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(3)
s.connect(('198.18.0.2',9999)); s.send(b'x')
try:
    s.recv(100); sys.exit('no error')
except ConnectionRefusedError:
    pass
" || fail "ICMP port unreachable did not reach the LAN host's socket"
ok "ICMP port unreachable came back to the LAN socket (embedded header restored)"

# The box itself keeps working while masq runs: ping its LAN and WAN
# addresses, and TCP to a service on it (port 222, outside the NAT ports).
ip netns exec "$P-box" python3 -m http.server 222 --bind 0.0.0.0 >/dev/null 2>&1 & PIDS+=($!)
sleep 1
ns lan1 ping -c 2 -i 0.2 -W 2 192.168.50.1 > /dev/null || fail "ping to the box's own LAN address"
ns wan ping -c 2 -i 0.2 -W 2 198.18.0.1 > /dev/null || fail "ping to the box's own WAN address"
ns lan1 curl -sf --max-time 5 -o /dev/null http://192.168.50.1:222/ || fail "TCP to the box from the LAN"
ns wan curl -sf --max-time 5 -o /dev/null http://198.18.0.1:222/ || fail "TCP to the box from the WAN"
ok "the box's own addresses answer ping and TCP from both sides (kernel path)"
if ns box ip neigh show nud permanent | grep -q .; then fail "static neighbour entries exist"; fi

# Unsolicited traffic from the WAN to a pool address and NAT port.
ns wan python3 -c "
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
for p in range(40000,40010): s.sendto(b'probe',('198.19.0.1',p))"
sleep 1

for pid in "${PIDS[@]:0:2}"; do kill -INT "$pid" 2>/dev/null || true; done
sleep 0.5
# Source addresses of what the box sent (a.b.c.d or a.b.c.d.port).
srcs="$(tcpdump -nr "$WORK/wan.pcap" 2>/dev/null | awk '$2=="IP" {split($3, a, "."); print a[1] "." a[2] "." a[3] "." a[4]}' | sort -u)"
echo "$srcs" | grep -q '^198\.19\.0\.' || fail "no translated traffic captured on the WAN link"
for a in $srcs; do
    case "$a" in
        198.19.0.[0-7]) ;;        # the pool
        198.18.0.1) ;;            # the box's own kernel (next-hop resolution)
        *) fail "the WAN host received traffic from $a" ;;
    esac
done
ok "the WAN host received traffic only from the pool and the box itself: $(echo $srcs | tr '\n' ' ')"
if tcpdump -nr "$WORK/lan1.pcap" 2>/dev/null | grep -q probe; then fail "unsolicited WAN traffic reached the LAN"; fi
if tcpdump -nr "$WORK/lan1.pcap" 2>/dev/null | grep -q '\.4000[0-9]:'; then fail "unsolicited WAN traffic reached the LAN"; fi
ok "unsolicited WAN traffic did not reach the LAN"

masq_stop || fail "masq exited with an error"
grep -q "drop no_mapping" "$WORK/report.txt" || fail "the report shows no no_mapping drops"
grep -q "udp  192.168.50.1[12]:" "$WORK/report.txt" || fail "the report lists no UDP session"
ok "masq stopped cleanly; report: $(grep -c '^  \(udp\|tcp\|icmp\) ' "$WORK/report.txt") sessions listed, no_mapping counted"
if ns box ip link show lan0 | grep -q xdp; then fail "XDP program left on lan0"; fi
ok "XDP programs detached"

# Started again at once, now in masquerade mode: it comes up and carries
# traffic from the WAN interface's address.
masq_config masquerade > "$WORK/masq.toml"
masq_start "$MASQ" || true
grep -qF "masq: running: masquerade to the address of wan0 (now 198.18.0.1)" "$WORK/masq.log" || fail "masq did not restart in masquerade mode"
reply="$(udp_ask lan2 again)" || fail "UDP after the restart"
case "$reply" in
    "again from 198.18.0.1:"*) ok "restarted within a second in masquerade mode; the WAN host saw ${reply#* from }" ;;
    *) fail "after the restart: unexpected reply '$reply'" ;;
esac
masq_stop || fail "masq exited with an error"
echo "e2e: $passed passed, 0 failed"
