#!/usr/bin/env bash
# The main job on an embedded default: three kinds of namespace (two LAN
# hosts behind a switch, the NAT box, a WAN host) joined by veth, masq
# translating real traffic between them, and a printout of what the WAN
# host saw and of what masq holds. Installs what is missing; needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. scripts/topology.sh

if [ "$(id -u)" -ne 0 ]; then
    echo "demo: run as root (it creates network namespaces and attaches XDP programs)" >&2
    exit 1
fi
ensure_cargo
ensure_packages pkg-config clang llvm m4 libelf-dev zlib1g-dev iproute2 ethtool tcpdump iputils-ping curl python3

echo "demo: building masq (release)"
cargo build -q --release --locked -p masq

P="mqdemo$$"
topo_session
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

topo_up "$P"
say "Topology: lan1 192.168.50.11 and lan2 192.168.50.12 -> box (masq, lan0 | wan0 198.18.0.1) -> WAN host 198.18.0.2; SNAT pool $TOPO_POOL"
masq_config snat > "$WORK/masq.toml"
sed 's/^/  masq.toml| /' "$WORK/masq.toml"
masq_start target/release/masq --stats-interval 2 || { sed 's/^/  /' "$WORK/masq.log"; exit 1; }
sed 's/^/  /' "$WORK/masq.log"

ip netns exec "$P-wan" tcpdump -Q in -nni w0 -w "$WORK/wan.pcap" ip 2>/dev/null & PIDS+=($!)
cat > "$WORK/udp_echo.py" <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
while True:
    data, addr = s.recvfrom(2048)
    s.sendto(data + b" (the WAN host saw you as " + f"{addr[0]}:{addr[1]}".encode() + b")", addr)
PY
ip netns exec "$P-wan" python3 "$WORK/udp_echo.py" & PIDS+=($!)
mkdir -p "$WORK/www" && head -c 4194304 /dev/urandom > "$WORK/www/file.bin"
(cd "$WORK/www" && exec ip netns exec "$P-wan" python3 -m http.server 8080 --bind 198.18.0.2 >/dev/null 2>&1) & PIDS+=($!)
sleep 1

say "ping from both LAN hosts to the WAN host"
for h in lan1 lan2; do ns "$h" ping -c 3 -i 0.2 198.18.0.2 | sed "s/^/  $h| /" | grep -E "bytes from|packet loss"; done

say "UDP exchange"
for h in lan1 lan2; do
    ns "$h" python3 -c "
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b'hello from $h',('198.18.0.2',5353)); print('  $h| reply:', s.recvfrom(2048)[0].decode())"
done

say "HTTP download (curl from lan1, 4 MiB)"
ns lan1 curl -s -o /dev/null -w '  lan1| HTTP %{http_code}, %{size_download} bytes in %{time_total} s\n' http://198.18.0.2:8080/file.bin

say "Unsolicited UDP from the WAN host to a pool address (dropped by masq)"
ns wan python3 -c "
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
[s.sendto(b'probe',('198.19.0.1',p)) for p in range(40000,40005)]"
echo "  sent 5 probes to 198.19.0.1:40000-40004"
sleep 2.5
sed -n 's/^masq: rx/  masq stats: rx/p' "$WORK/masq.log" | tail -1

say "masq sessions (the admin CLI, answered from the workers' snapshots)"
target/release/masq sessions --socket "$WORK/masq.sock" --limit 12 | sed 's/^/  /'
say "masq subscribers"
target/release/masq subscribers --socket "$WORK/masq.sock" | sed 's/^/  /'
say "Prometheus /metrics on the box (127.0.0.1:9469), a few of its series"
ns box curl -sf http://127.0.0.1:9469/metrics \
    | grep -E '^masq_(packets_total|sessions\{|subscribers|port_blocks\{|drops_total\{reason="no_mapping")' \
    | grep -v ' 0$' | sed 's/^/  /'

kill -INT "${PIDS[0]}" 2>/dev/null || true
sleep 0.5
say "Source addresses the WAN host received packets from (tcpdump on the WAN host)"
tcpdump -nr "$WORK/wan.pcap" 2>/dev/null | awk '$2=="IP" {split($3, a, "."); print a[1] "." a[2] "." a[3] "." a[4]}' \
    | sort | uniq -c | sed 's/^/  /'

masq_stop || true
say "masq's report at exit (sessions it held, drops by reason, worker figures)"
sed 's/^/  /' "$WORK/report.txt"
say "demo: done; namespaces removed"
