#!/usr/bin/env bash
# NAT event logging in network namespaces, in SNAT mode: masq sends IPFIX
# to tests/netns/ipfix_collector.py on the WAN host and syslog lines to its
# stderr. UDP flows from both LAN hosts give port block allocations and
# session creations (RFC 8158 natEvent 16 and 4) that name the tuples the
# WAN host saw, without destinations; a subscriber past its session limit
# gives a quota-exceeded record (natEvent 13, natQuotaExceededEvent 3) and
# a syslog warning; /metrics counts the records; at exit the logger sends
# what is queued.
# Needs root. Usage: tests/netns/eventlog.sh [path/to/masq]
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/topology.sh

MASQ="${1:-target/debug/masq}"
P="mqe$$"
topo_test eventlog

topo_up "$P"
{
    masq_config snat
    echo '[limits]'
    echo 'sessions_per_subscriber = 3'
    echo '[log]'
    echo 'ipfix = "198.18.0.2:4739"'
    echo 'syslog = "stderr"'
    echo 'sessions = true'
    echo 'template_interval = 1'
} > "$WORK/masq.toml"
ip netns exec "$P-wan" python3 tests/netns/ipfix_collector.py --listen 198.18.0.2:4739 \
    --out "$WORK/records.jsonl" 2> "$WORK/collector.log" & PIDS+=($!)
# The collector listens before masq sends its first templates (data records
# that come before their template cannot be read).
for _ in $(seq 50); do
    ns wan ss -Hln -u 'sport = :4739' | grep -q . && break
    sleep 0.1
done

udp_echo_start
masq_start "$MASQ" || fail "masq did not start or resolve its next hop"
grep -q "event log: ipfix 198.18.0.2:4739, syslog stderr, session events on, without destinations" \
    "$WORK/masq.log" || fail "no event log line at start"
ok "masq starts with the event log"

# flows HOST N: N UDP exchanges from fresh sockets; prints one
# "INSIDE_PORT SEEN_SOURCE" line per answered one (a refused flow gets none).
flows() {
    ns "$1" python3 -c "
import socket,sys
for _ in range($2):
    s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(0.5); s.bind(('0.0.0.0',0))
    for attempt in range(2):
        s.sendto(b'x',('198.18.0.2',5353))
        try:
            print(s.getsockname()[1], s.recvfrom(2048)[0].decode()); break
        except socket.timeout:
            pass"
}
flows lan1 1 > "$WORK/lan1.txt"
flows lan2 5 > "$WORK/lan2.txt"
[ "$(wc -l < "$WORK/lan1.txt")" = 1 ] || fail "lan1's flow was not answered"
[ "$(wc -l < "$WORK/lan2.txt")" = 3 ] || fail "lan2: $(wc -l < "$WORK/lan2.txt") flows answered, not its limit of 3"
ok "flows pass, lan2 is held to 3 sessions"

# The collector got them within the 100 ms flush (give it a second).
sleep 1
curl_metrics() { ns box curl -sf --max-time 10 http://127.0.0.1:9469/metrics; }
curl_metrics > "$WORK/m" || fail "GET /metrics"
# One more flow just before the stop: its record is sent by the final flush
# at the latest.
flows lan1 1 >> "$WORK/lan1.txt"
masq_stop || fail "masq exited with an error"
sleep 0.5
[ "$(wc -l < "$WORK/lan1.txt")" = 2 ] || fail "lan1's last flow was not answered"

python3 - "$WORK/records.jsonl" "$WORK/lan1.txt" "$WORK/lan2.txt" <<'PY' || fail "the IPFIX records do not match the flows"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
def have(what, **kv):
    got = [r for r in recs if all(r.get(k) == v for k, v in kv.items())]
    if not got:
        sys.exit(f"no {what} record with {kv}; got {recs}")
    return got
for path, inside in ((sys.argv[2], "192.168.50.11"), (sys.argv[3], "192.168.50.12")):
    blocks = have("block allocation", natEvent=16, sourceIPv4Address=inside, templateId=258)
    for line in open(path):
        port, seen = line.split()
        ext, ext_port = seen.split(":")
        s = have("session create", natEvent=4, templateId=256, protocolIdentifier=17,
                 sourceIPv4Address=inside, sourceTransportPort=int(port),
                 postNATSourceIPv4Address=ext, postNAPTSourceTransportPort=int(ext_port))
        b = blocks[0]
        if not (b["postNATSourceIPv4Address"] == ext and b["portRangeStart"] <= int(ext_port) <= b["portRangeEnd"]):
            sys.exit(f"port {seen} is outside {inside}'s block {b}")
        if "destinationIPv4Address" in s[0]:
            sys.exit("a destination was logged")
have("quota exceeded", natEvent=13, natQuotaExceededEvent=3, maxEntriesPerUser=3,
     sourceIPv4Address="192.168.50.12", templateId=262)
seqs = {}
for r in recs:
    seqs.setdefault((r["exporter"], r["sequence"]), 0)
    seqs[(r["exporter"], r["sequence"])] += 1
# Each message's sequence number counts the data records before it.
total = 0
for (exp, seq), n in sorted(seqs.items(), key=lambda x: x[0][1]):
    if seq != total:
        sys.exit(f"sequence {seq}, expected {total}")
    total += n
PY
ok "IPFIX: block allocations, session creations with the tuples the hosts saw (no destination, the last one flushed at exit), lan2's quota exceeded (maxEntriesPerUser 3), sequence numbers"

grep -q '^<134>1 .* masq - - - block-allocate subscriber=192.168.50.11 ' "$WORK/masq.log" \
    || fail "no syslog block-allocate line on stderr"
grep -q '^<134>1 .* masq - - - session-create proto=17 inside=192.168.50.12:' "$WORK/masq.log" \
    || fail "no syslog session-create line on stderr"
grep -q '^<132>1 .* masq - - - exhausted resource=sessions-per-subscriber subscriber=192.168.50.12 ' "$WORK/masq.log" \
    || fail "no syslog exhausted line on stderr"
if grep -q 'session-create.*remote=' "$WORK/masq.log"; then fail "syslog logged a destination"; fi
ok "syslog lines on stderr"

n="$(metric 'masq_eventlog_records_total\{output="ipfix"\}')"
got="$(wc -l < "$WORK/records.jsonl")"
[ "$((n + 1))" = "$got" ] || fail "masq_eventlog_records_total{output=\"ipfix\"} is $n, the collector got $got (one after the scrape)"
[ "$(metric 'masq_eventlog_send_errors_total')" = 0 ] || fail "send errors"
[ "$(metric 'masq_eventlog_dropped_total')" = 0 ] || fail "events dropped"
ok "/metrics: $n IPFIX records (all the collector got before the scrape), no send error, nothing dropped"

echo "eventlog: $passed checks passed"
