#!/usr/bin/env bash
# The box and the NAT share the WAN address (masquerade mode, default
# ports): while subscribers hold every port block of the WAN address, the
# box itself curls the WAN host 20 times, pings it (0 % loss), asks
# dnsmasq there for a name, is reached on a TCP server of its own, keeps a
# long TCP session up and traceroutes the WAN host; subscribers' flows
# still translate. With kernel_ports = "none" the box's curls fail (so
# the checks can). The same checks run with the kernel's MASQUERADE
# (iptables, masq not running) as the control, printed side by side.
# Needs root. Usage: tests/netns/router.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="${1:-target/debug/masq}"
P="mqr$$"
topo_test router
topo_up "$P"
WAN=198.18.0.2
BOX=198.18.0.1
SUBS=100 # subscriber addresses on lan1: 192.168.50.100 ..

for i in $(seq 0 $((SUBS - 1))); do ns lan1 ip addr add "192.168.50.$((100 + i))/24" dev h1; done

# The WAN host: UDP echo (5353), HTTP (8080), dnsmasq (53), a line echo
# server for the box's long session (7000).
udp_echo_start
mkdir -p "$WORK/www" && echo hello > "$WORK/www/index.html"
(cd "$WORK/www" && exec ip netns exec "$P-wan" python3 -m http.server 8080 --bind "$WAN" >/dev/null 2>&1) & PIDS+=($!)
ip netns exec "$P-wan" dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-dhcp-interface=w0 \
    --listen-address="$WAN" --bind-interfaces --pid-file="$WORK/dnsmasq.pid" \
    --address=/router.test/203.0.113.7 > "$WORK/dnsmasq.log" 2>&1 & PIDS+=($!)
cat > "$WORK/line_echo.py" <<'PY'
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7000)); s.listen()
def serve(c):
    f = c.makefile("rwb")
    for line in f:
        f.write(line); f.flush()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
ip netns exec "$P-wan" python3 "$WORK/line_echo.py" & PIDS+=($!)
# A TCP server of the box, on a port below port_min: answers "box".
ip netns exec "$P-box" python3 -c "
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('$BOX', 999)); s.listen()
while True:
    c, _ = s.accept(); c.sendall(b'box\\n'); c.close()" & PIDS+=($!)
for _ in $(seq 100); do
    ns box ss -ltn | grep -q "$BOX:999 " && ns wan ss -ltn | grep -q ":8080 " && break
    sleep 0.1
done

# Subscribers: 3 UDP flows from each address, kept open and refreshed.
cat > "$WORK/subs.py" <<PY
import socket, time, sys
socks = []
for i in range($SUBS):
    for k in range(3):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("192.168.50.%d" % (100 + i), 40000 + k))
        socks.append(s)
while True:
    for s in socks:
        try: s.sendto(b"busy", ("$WAN", 5353))
        except OSError: pass
    time.sleep(2)
PY

# The box's long TCP session: a line a second; prints how many came back
# and whether it ever broke.
cat > "$WORK/long.py" <<PY
import socket, sys, time
c = socket.create_connection(("$WAN", 7000), timeout=5)
f = c.makefile("rwb")
n = 0
end = time.time() + float(sys.argv[1])
try:
    while time.time() < end:
        f.write(b"line %d\n" % n); f.flush()
        if f.readline() != b"line %d\n" % n: break
        n += 1
        time.sleep(1)
    print("sent %d answered %d" % (n, n))
except OSError as e:
    print("broke after %d: %s" % (n, e))
PY

cat > "$WORK/dns.py" <<'PY'
import socket, struct, sys
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in "router.test".split(".")) + b"\0"
q += struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(q, (sys.argv[1], 53))
r = s.recv(512)
print(".".join(str(b) for b in r[-4:]) if struct.unpack(">H", r[6:8])[0] else "no answer")
PY

# The checks from the box; results in $WORK/res.$1 as "name: value".
box_checks() {
    local run="$1" out="$WORK/res.$1" good=0
    : > "$out"
    ns box python3 "$WORK/long.py" 14 > "$WORK/long.$run" 2>&1 & local long=$!
    for _ in $(seq 20); do
        ns box curl -sf --max-time 3 -o /dev/null "http://$WAN:8080/" && good=$((good + 1))
    done
    echo "curl from the box: $good/20" >> "$out"
    local loss
    loss="$(ns box ping -c 20 -i 0.2 -W 2 "$WAN" | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p')"
    echo "ping from the box (20 at 0.2 s): ${loss:-?}% loss" >> "$out"
    echo "DNS from the box (dnsmasq): $(ns box python3 "$WORK/dns.py" "$WAN" 2>&1 | tail -1)" >> "$out"
    if [ "$(ns wan python3 -c "import socket; print(socket.create_connection(('$BOX', 999), timeout=3).recv(9).decode().strip())" 2>&1)" = box ]; then r=yes; else r=no; fi
    echo "TCP server of the box (port 999) from the WAN host: $r" >> "$out"
    if ns box traceroute -n -q 1 -w 2 -m 5 "$WAN" > "$WORK/trace.$run" 2>&1 && grep -q " $WAN " "$WORK/trace.$run"; then r=yes; else r=no; fi
    echo "traceroute (UDP) from the box reaches the WAN host: $r" >> "$out"
    if ns box traceroute -I -n -q 1 -w 2 -m 5 "$WAN" > "$WORK/traceI.$run" 2>&1 && grep -q " $WAN " "$WORK/traceI.$run"; then r=yes; else r=no; fi
    echo "traceroute (ICMP) from the box reaches the WAN host: $r" >> "$out"
    # A subscriber with a block: a new flow and a ping still translate.
    local reply
    reply="$(ns lan1 python3 -c "
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2)
s.bind(('192.168.50.100',41000))
for _ in range(3):
    s.sendto(b'x',('$WAN',5353))
    try: print(s.recv(100).decode()); break
    except socket.timeout: pass
else: print('none')")"
    echo "subscriber UDP seen by the WAN host as: ${reply%:*}" >> "$out"
    if ns lan1 ping -I 192.168.50.100 -c 5 -i 0.2 -W 2 "$WAN" > /dev/null; then r=yes; else r=no; fi
    echo "subscriber ping: $r" >> "$out"
    wait "$long" || true
    echo "long TCP session of the box (14 s): $(cat "$WORK/long.$run")" >> "$out"
}

# ---- masq, default masquerade configuration ----
masq_config masquerade > "$WORK/masq.toml"
"$MASQ" check-config "$WORK/masq.toml" > "$WORK/check.txt" || fail "check-config"
grep -q "^# kernel_ports = auto .* keeps TCP/UDP ports $(ns box cat /proc/sys/net/ipv4/ip_local_port_range | awk '{print $1"-"$2}')" "$WORK/check.txt" \
    || fail "check-config does not explain the kernel's ports: $(grep '^#' "$WORK/check.txt")"
ok "check-config: $(grep -m1 'hands out' "$WORK/check.txt" | sed 's/^# //')"
masq_start "$MASQ" || fail "masq did not start"
grep -q "address sharing: kernel_ports = auto" "$WORK/masq.log" || fail "no address sharing line at start"
ip netns exec "$P-lan1" python3 "$WORK/subs.py" & SUBS_PID=$!; PIDS+=("$SUBS_PID")
full=""
for _ in $(seq 50); do
    metrics > "$WORK/m" || true
    used="$(metric "masq_port_blocks\\{address=\"$BOX\",state=\"in_use\"")"
    free="$(metric "masq_port_blocks\\{address=\"$BOX\",state=\"free\"")"
    if [ "$used" -gt 0 ] && [ "$free" -eq 0 ]; then full=1; break; fi
    sleep 0.2
done
[ -n "$full" ] || fail "the subscribers do not hold every block (in use $used, free $free)"
ok "subscribers hold every port block of $BOX: $used in use, $free free"
box_checks masq
metrics > "$WORK/m"
used2="$(metric "masq_port_blocks\\{address=\"$BOX\",state=\"in_use\"")"
free2="$(metric "masq_port_blocks\\{address=\"$BOX\",state=\"free\"")"
echo "port blocks of $BOX after the checks: $used2 in use, $free2 free" >> "$WORK/res.masq"
sessions="$(admin sessions --limit 100000 2>/dev/null | grep -c "192.168.50.1[0-9][0-9]" || true)"
echo "subscriber sessions listed by masq: $sessions" >> "$WORK/res.masq"
masq_stop || fail "masq did not exit cleanly"

# The checks can fail: with kernel_ports = "none" (the NAT's range covers
# the kernel's ephemeral ports, as before) the box's own curls are the
# NAT's.
echo 'kernel_ports = "none"' >> "$WORK/masq.toml"
masq_start "$MASQ" || fail "masq did not start with kernel_ports = none"
good=0
for _ in $(seq 5); do ns box curl -sf --max-time 2 -o /dev/null "http://$WAN:8080/" && good=$((good + 1)); done
loss="$(ns box ping -c 5 -i 0.2 -W 1 "$WAN" | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' || true)"
masq_stop || fail "masq did not exit cleanly"
[ "$good" -lt 5 ] || fail "with kernel_ports = none the box still got $good/5 curls"
ok "with kernel_ports = \"none\" the box's own TCP breaks as it did before: $good/5 curls (its ping, which the echo table serves, ${loss}% loss)"
kill "$SUBS_PID" 2>/dev/null || true; wait "$SUBS_PID" 2>/dev/null || true

# ---- snat, with a pool address that is also the box's ----
OWN=198.19.0.1
ns box ip addr add "$OWN/32" dev wan0
masq_config snat > "$WORK/masq.toml"
ns box "$MASQ" check-config "$WORK/masq.toml" > "$WORK/check-snat.txt" 2>&1 || fail "check-config (snat)"
grep -q "^# kernel_ports = auto .*: on $OWN the box's own stack keeps" "$WORK/check-snat.txt" \
    || fail "check-config (snat) does not name $OWN: $(grep '^#' "$WORK/check-snat.txt")"
masq_start "$MASQ" || fail "masq did not start in snat mode"
good=0
for _ in $(seq 10); do ns box curl -sf --max-time 3 --interface "$OWN" -o /dev/null "http://$WAN:8080/" && good=$((good + 1)); done
loss="$(ns box ping -I "$OWN" -c 10 -i 0.2 -W 2 "$WAN" | sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' || true)"
dns="$(ns box python3 -c "
import socket, struct
q = struct.pack('>HHHHHH', 1, 0x0100, 1, 0, 0, 0) + b'\\6router\\4test\\0' + struct.pack('>HH', 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); s.bind(('$OWN', 0))
s.sendto(q, ('$WAN', 53)); r = s.recv(512); print('.'.join(str(b) for b in r[-4:]))" 2>&1 | tail -1)"
reply="$(udp_ask lan2 snat 2>&1 || true)"
masq_stop || fail "masq did not exit cleanly (snat)"
ns box ip addr del "$OWN/32" dev wan0
[ "$good" = 10 ] && [ "$loss" = 0 ] && [ "$dns" = 203.0.113.7 ] \
    || fail "snat, from the box's pool address $OWN: $good/10 curls, ${loss}% ping loss, DNS $dns"
case "$reply" in 198.19.0.*) ;; *) fail "snat: a subscriber's UDP came back as '$reply'" ;; esac
ok "snat with $OWN also the box's: $good/10 curls, ${loss}% ping loss and DNS ($dns) from $OWN; a subscriber still seen as ${reply%:*}"

# ---- the control: the kernel's MASQUERADE ----
ns box sysctl -qw net.ipv4.ip_forward=1
ns box iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE
ip netns exec "$P-lan1" python3 "$WORK/subs.py" & SUBS_PID=$!; PIDS+=("$SUBS_PID")
sleep 2
box_checks kernel
echo "port blocks of $BOX after the checks: (no port blocks)" >> "$WORK/res.kernel"
echo "subscriber sessions listed by masq: (conntrack)" >> "$WORK/res.kernel"
kill "$SUBS_PID" 2>/dev/null || true

printf '%-58s | %-34s | %s\n' "check" "masq (masquerade)" "kernel MASQUERADE"
paste -d'\t' "$WORK/res.masq" "$WORK/res.kernel" | while IFS=$'\t' read -r a b; do
    printf '%-58s | %-34s | %s\n' "${a%%: *}" "${a#*: }" "${b#*: }"
done

# The verdicts, for masq.
r="$WORK/res.masq"
grep -q "^curl from the box: 20/20" "$r" || fail "curl: $(grep curl "$r")"
grep -q "^ping from the box .*: 0% loss" "$r" || fail "ping: $(grep '^ping' "$r")"
grep -q "^DNS from the box (dnsmasq): 203.0.113.7" "$r" || fail "DNS: $(grep DNS "$r")"
grep -q "^TCP server of the box (port 999) from the WAN host: yes" "$r" || fail "TCP server of the box"
grep -q "^traceroute (UDP) from the box reaches the WAN host: yes" "$r" || fail "traceroute: $(cat "$WORK/trace.masq")"
grep -q "^traceroute (ICMP) from the box reaches the WAN host: yes" "$r" || fail "traceroute -I: $(cat "$WORK/traceI.masq")"
grep -q "^subscriber UDP seen by the WAN host as: $BOX" "$r" || fail "subscriber flow: $(grep 'subscriber UDP' "$r")"
grep -q "^subscriber ping: yes" "$r" || fail "subscriber ping"
grep -q "^long TCP session of the box (14 s): sent 1[0-9] answered" "$r" || fail "long session: $(cat "$WORK/long.masq")"
grep -q "after the checks: $used in use, 0 free" "$r" || fail "blocks changed: $(grep 'port blocks' "$r")"
ok "every check from the box passed while subscribers held every block; the kernel's MASQUERADE as the control beside it"
echo "$TEST_NAME: $passed checks passed"
