#!/usr/bin/env bash
# masq seen through a real Prometheus, in network namespaces (MASQUERADE
# mode, one worker):
#   * the front door: /metrics and /healthz answer 200 with Prometheus's
#     text type (version=0.0.4), other paths 404, other methods 405 with
#     Allow: GET; a second masq on the same metrics_listen fails start-up
#     naming metrics_listen, before attaching anything, and the first one
#     keeps serving and translating;
#   * Debian's prometheus (a temporary configuration and storage, listening
#     on the box's loopback) scrapes /metrics every second without error
#     while ping, TCP (HTTP downloads) and UDP flows run through masq and a
#     SIGHUP reload is applied;
#   * every panel query of control/grafana/masq-dashboard.json, with
#     Grafana's variables filled in as Grafana does for that dashboard
#     (tests/netns/dashboard_queries.py), returns data through Prometheus's
#     /api/v1/query, and the panels that traffic moves are above zero.
#     Every panel must have data; none is exempt.
# Needs root. Usage: tests/netns/prometheus.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="${1:-target/debug/masq}"
P="mqp$$"
DASHBOARD=control/grafana/masq-dashboard.json
topo_test prometheus
command -v prometheus > /dev/null || fail "prometheus is missing (Debian package prometheus)"

topo_up "$P"
{ masq_config masquerade; echo 'port_max = 32767'; } > "$WORK/masq.toml"
masq_start "$MASQ" || fail "masq did not start or resolve its next hop"
udp_echo_start
sleep 0.3
udp_ask lan1 x 0.7 3 > /dev/null || fail "no UDP echo through masq"

# --- the front door ------------------------------------------------------------
# http_head METHOD PATH: "STATUS CONTENT_TYPE" of masq's answer; the
# response head in $WORK/head.
http_head() {
    ns box curl -s -o /dev/null -D "$WORK/head" -X "$1" --max-time 5 \
        -w '%{http_code} %{content_type}' "http://127.0.0.1:9469$2"
}
TYPE="text/plain; version=0.0.4; charset=utf-8"
[ "$(http_head GET /metrics)" = "200 $TYPE" ] || fail "GET /metrics: $(http_head GET /metrics)"
[ "$(http_head GET /healthz)" = "200 $TYPE" ] || fail "GET /healthz: $(http_head GET /healthz)"
[ "$(ns box curl -s --max-time 5 http://127.0.0.1:9469/healthz)" = ok ] || fail "/healthz body is not ok"
[ "$(http_head GET /other)" = "404 $TYPE" ] || fail "GET /other: $(http_head GET /other)"
for m in POST PUT DELETE; do
    [ "$(http_head "$m" /metrics)" = "405 $TYPE" ] || fail "$m /metrics: $(http_head "$m" /metrics)"
    grep -qi '^Allow: GET' "$WORK/head" || fail "$m /metrics: no Allow: GET in $(cat "$WORK/head")"
done
ok "/metrics and /healthz 200 as $TYPE; other paths 404; POST, PUT, DELETE 405 with Allow: GET"

# A second masq with the same configuration: the port is taken.
rc=0
timeout 20 ip netns exec "$P-box" "$MASQ" run --config "$WORK/masq.toml" > /dev/null 2> "$WORK/second.log" || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "a second masq on the same metrics_listen did not fail start-up (exit $rc)"
grep -q "metrics_listen 127.0.0.1:9469: .*in use" "$WORK/second.log" \
    || fail "the second masq's error does not name metrics_listen: $(cat "$WORK/second.log")"
if grep -qi "xdp" "$WORK/second.log"; then fail "the second masq touched the XDP programs: $(cat "$WORK/second.log")"; fi
udp_ask lan2 x 0.7 3 > /dev/null || fail "no UDP echo through the first masq after the second one failed"
[ "$(http_head GET /healthz)" = "200 $TYPE" ] || fail "the first masq stopped serving /healthz"
ok "a second masq on 127.0.0.1:9469 failed start-up before attaching: $(head -c 120 "$WORK/second.log")"

# --- Prometheus scraping masq under traffic -------------------------------------
cat > "$WORK/prometheus.yml" <<'EOF'
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: masq
    static_configs:
      - targets: ["127.0.0.1:9469"]
EOF
mkdir -p "$WORK/prometheus-data"
ip netns exec "$P-box" prometheus --config.file="$WORK/prometheus.yml" \
    --storage.tsdb.path="$WORK/prometheus-data" --web.listen-address=127.0.0.1:9090 \
    > "$WORK/prometheus.log" 2>&1 & PIDS+=($!)
PROM_PID=$!
PROM=http://127.0.0.1:9090
for _ in $(seq 100); do
    ns box curl -sf --max-time 1 -o /dev/null "$PROM/-/ready" && break
    kill -0 "$PROM_PID" 2> /dev/null || { cat "$WORK/prometheus.log" >&2; fail "prometheus exited"; }
    sleep 0.2
done
ns box curl -sf --max-time 1 -o /dev/null "$PROM/-/ready" || { tail -20 "$WORK/prometheus.log" >&2; fail "prometheus not ready within 20 s"; }

# Traffic for at most 60 s: pings from lan2, and from lan1 a new UDP flow
# every 0.1 s and an HTTP download every 0.3 s.
mkdir -p "$WORK/www"
head -c 200000 /dev/urandom > "$WORK/www/blob"
ip netns exec "$P-wan" python3 -m http.server 8080 --bind 198.18.0.2 --directory "$WORK/www" > /dev/null 2>&1 & PIDS+=($!)
# Started with ip netns exec itself, so that PIDS holds their own PIDs.
ip netns exec "$P-lan2" ping -q -i 0.2 -w 60 198.18.0.2 > /dev/null 2>&1 & PIDS+=($!)
ip netns exec "$P-lan1" python3 -c "
import socket, time, urllib.request
end = time.time() + 60
next_get = 0
while time.time() < end:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.1)
    try:
        s.sendto(b'x', ('198.18.0.2', 5353))
        s.recvfrom(64)
    except OSError:
        pass
    s.close()
    if time.time() >= next_get:
        next_get = time.time() + 0.3
        try:
            urllib.request.urlopen('http://198.18.0.2:8080/blob', timeout=2).read()
        except OSError:
            pass
    time.sleep(0.1)
" > "$WORK/traffic.log" 2>&1 & PIDS+=($!)

# prom_value QUERY: the first sample's value of an instant query, or "none".
prom_value() {
    ns box curl -sf --max-time 5 -G "$PROM/api/v1/query" --data-urlencode "query=$1" \
        | python3 -c "import json,sys; r=json.load(sys.stdin)['data']['result']; print(r[0]['value'][1] if r else 'none')"
}
for _ in $(seq 40); do
    [ "$(prom_value 'up{job="masq"}')" = 1 ] && break
    sleep 0.5
done
[ "$(prom_value 'up{job="masq"}')" = 1 ] || fail "prometheus does not see masq up: $(ns box curl -s "$PROM/api/v1/targets")"

# A reload after the first scrapes, so that the reload panel moves.
sleep 3
printf '[timeouts]\nudp = 600\n' >> "$WORK/masq.toml"
kill -HUP "$MASQ_PID"
wait_log "reloaded .*timeouts" || fail "the reload was not applied"
sleep 4

# Panels that the traffic above must move (by title, as in the dashboard).
moving=(
    "Packets/s by direction and side"
    "Bits/s by direction and side"
    "Live sessions by protocol"
    "Subscribers"
    "Session table occupancy"
    "Port blocks per address"
    "XDP program redirect / pass per side"
    "Worker busy ratio"
    "External address"
    "External address up"
    "Config reloads by result"
)
args=()
for t in "${moving[@]}"; do args+=(--moving "$t"); done
ip netns exec "$P-box" python3 tests/netns/dashboard_queries.py "$DASHBOARD" "$PROM" \
    --retry 20 "${args[@]}" > "$WORK/queries.txt" 2>&1 \
    || { cat "$WORK/queries.txt" >&2; fail "dashboard panel queries without data (above)"; }
sed 's/^/  /' "$WORK/queries.txt"
scrapes="$(prom_value 'count_over_time(up{job="masq"}[5m])')"
[ "$(prom_value 'min_over_time(up{job="masq"}[5m])')" = 1 ] || fail "some scrapes of masq failed: $(ns box curl -s -G "$PROM/api/v1/query" --data-urlencode 'query=up{job="masq"}[5m]'); $(ns box curl -s "$PROM/api/v1/targets")"
ok "prometheus scraped masq $scrapes times without a failure; $(tail -1 "$WORK/queries.txt")"

kill "$PROM_PID"
wait "$PROM_PID" 2> /dev/null || true
masq_stop || fail "masq exited with an error"
ok "prometheus and masq stopped"
echo "$TEST_NAME: $passed passed, 0 failed"
