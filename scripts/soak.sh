#!/usr/bin/env bash
# Soak test of masq: in the namespace topology of scripts/topology.sh, both
# LAN hosts send mixed traffic through masq for SECONDS (iperf3 TCP streams
# both ways at 50 Mbit/s, iperf3 UDP streams out at 20 Mbit/s, ping
# every 50 ms, a churn of short HTTP connections (curl) and of short UDP
# flows and ICMP echoes from fresh sockets and identifiers), sampling
# /metrics and masq's RSS every 10 s (every SECONDS/10 s in runs under
# 100 s). Then the traffic stops, and after the
# timers have run out it checks, printing PASS or FAIL for each:
#   1. RSS flat: the median RSS of the last fifth of the traffic phase is at
#      most max(2 MiB, 2 %) above the median of its second fifth;
#   2. UMEM frames: masq_umem_frames_unaccounted is 0 at every sample and in
#      the report at exit, and the kernel counted no invalid AF_XDP
#      descriptor (a descriptor the kernel drops never comes back);
#   3. sessions return to 0 (metrics and `masq sessions`), subscribers to 0,
#      and every port block is free again after the block hold; every
#      session created was expired and every block allocated released;
#   4. masq stayed alive, answered every scrape, logged nothing but its
#      usual lines (no error, warning or panic), and stopped on SIGTERM with
#      exit status 0 and its report;
#   5. traffic flowed: ping loss, failed curl requests, failed UDP and ICMP
#      churn exchanges each at most 1 %, every iperf3 test moved bytes.
# Samples go to target/soak/RUN/samples.csv, with masq's log, its report
# and the summary. Exits 1 on any FAIL, 2 on a bad argument.
#
# The timers are the smallest the configuration accepts (RFC minimums):
# udp 120 s, tcp_transitory 240 s, icmp 60 s, block_hold 120 s, so the
# checks after the traffic take about 6 to 7 minutes whatever SECONDS is.
#
# Usage: scripts/soak.sh [SECONDS]     (as root; default 600, at least 30)
#        MASQ_BIN=path/to/masq scripts/soak.sh 60   (that binary, no build)
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    cat <<'EOF'
usage: scripts/soak.sh [SECONDS]
  Runs mixed TCP/UDP/ICMP traffic through masq for SECONDS (default 600,
  at least 30), then checks that RSS stayed flat, every UMEM frame is
  accounted for, sessions, subscribers and port blocks return to zero after
  their timers, the log holds no error and masq stops cleanly, and that the
  traffic flowed. Needs root. MASQ_BIN=path uses that masq binary instead
  of building the release one. Results: target/soak/.
EOF
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
esac
if [ $# -gt 1 ]; then
    echo "soak: one argument at most (SECONDS); see scripts/soak.sh -h" >&2
    exit 2
fi
DURATION="${1:-600}"
if ! [[ "$DURATION" =~ ^[0-9]+$ ]] || [ "$((10#$DURATION))" -lt 30 ]; then
    echo "soak: SECONDS must be a whole number of seconds, at least 30 (got '$DURATION'); see scripts/soak.sh -h" >&2
    exit 2
fi
DURATION=$((10#$DURATION))
if [ "$(id -u)" -ne 0 ]; then
    echo "soak: run as root (it creates network namespaces and attaches XDP programs)" >&2
    exit 1
fi

. scripts/lib.sh
. scripts/topology.sh

ensure_packages iproute2 ethtool iputils-ping curl python3 iperf3
if [ -n "${MASQ_BIN:-}" ]; then
    MASQ="$MASQ_BIN"
else
    ensure_cargo
    ensure_packages pkg-config clang llvm m4 libelf-dev zlib1g-dev
    echo "soak: building masq (release)"
    cargo build -q --release --locked -p masq
    MASQ=target/release/masq
fi
[ -x "$MASQ" ] || { echo "soak: $MASQ is not an executable" >&2; exit 1; }
PY=/usr/bin/python3
HELPER="$PWD/scripts/soak_helper.py"

# Timers (the smallest masq accepts) and what the waits after the traffic
# are made of.
T_UDP=120
T_TCP_TRANS=240
T_ICMP=60
T_HOLD=120
LONGEST=$T_TCP_TRANS
INTERVAL=10
if [ "$DURATION" -lt 100 ]; then INTERVAL=$((DURATION / 10 > 2 ? DURATION / 10 : 2)); fi
MARGIN=$((2 * INTERVAL + 15))
# Bounds of the checks (see the header).
RSS_BOUND_KIB=2048
RSS_BOUND_PCT=2
LOSS_BOUND_PCT=1

P="mqsoak$$"
topo_session
RUN_DIR="target/soak/$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$RUN_DIR"
CSV="$RUN_DIR/samples.csv"
SUMMARY="$RUN_DIR/summary.txt"
FAILED=0
SCRAPE_FAILURES=0
TRAFFIC=()

topo_up "$P"
{
    masq_config snat
    echo 'metrics_listen = "127.0.0.1:9469"'
    echo
    echo '[limits]'
    echo 'sessions_per_subscriber = 16384'
    echo 'blocks_per_subscriber = 16'
    echo
    echo '[timeouts]'
    echo "udp = $T_UDP"
    echo 'tcp_established = 7440'
    echo "tcp_transitory = $T_TCP_TRANS"
    echo "icmp = $T_ICMP"
    echo "block_hold = $T_HOLD"
} > "$WORK/masq.toml"
"$MASQ" check-config "$WORK/masq.toml" > /dev/null
masq_start "$MASQ" || { sed 's/^/  masq| /' "$WORK/masq.log" >&2; echo "soak: masq did not start" >&2; exit 1; }
[ "$(cat "/proc/$MASQ_PID/comm")" = masq ] || { echo "soak: pid $MASQ_PID is not masq" >&2; exit 1; }
echo "soak: $P: masq $MASQ (pid $MASQ_PID) in $P-box, ${DURATION} s of traffic, samples every ${INTERVAL} s to $CSV"

# --- the WAN host's services ------------------------------------------------
for port in 5201 5202 5203 5204; do
    ip netns exec "$P-wan" iperf3 -s -1 -p "$port" > "$WORK/iperf-server-$port.txt" 2>&1 & PIDS+=($!)
done
mkdir -p "$WORK/www"
head -c 16384 /dev/urandom > "$WORK/www/page.bin"
(cd "$WORK/www" && exec ip netns exec "$P-wan" "$PY" -m http.server 8080 --bind 198.18.0.2 > /dev/null 2>&1) & PIDS+=($!)
ip netns exec "$P-wan" "$PY" "$HELPER" echo 7777 & PIDS+=($!)
for _ in $(seq 50); do
    listening="$(ns wan ss -Htln | awk '{print $4}' | grep -cE ':(5201|5202|5203|5204|8080)$' || true)"
    udp="$(ns wan ss -Huln | awk '{print $4}' | grep -cE ':7777$' || true)"
    [ "$listening" -eq 5 ] && [ "$udp" -eq 1 ] && break
    sleep 0.1
done
if [ "$listening" -ne 5 ] || [ "$udp" -ne 1 ]; then
    echo "soak: the WAN host's servers did not start" >&2
    exit 1
fi

# --- traffic ------------------------------------------------------------------
start_us=${EPOCHREALTIME/./}
elapsed() { local n=${EPOCHREALTIME/./}; printf '%d.%03d' $(((n - start_us) / 1000000)) $(((n - start_us) / 1000 % 1000)); }
bg() { "$@" & TRAFFIC+=($!); PIDS+=($!); }
iperf() { # HOST PORT NAME ARGS...
    local h="$1" port="$2" name="$3"
    shift 3
    exec ip netns exec "$P-$h" iperf3 -c 198.18.0.2 -p "$port" -t "$DURATION" --connect-timeout 5000 -J "$@" \
        > "$WORK/$name.json" 2> "$WORK/$name.err"
}
bg iperf lan1 5201 lan1-tcp -b 50M
bg iperf lan2 5202 lan2-tcp-reverse -b 50M -R
bg iperf lan1 5203 lan1-udp -u -b 20M
# UDP only from the inside: a UDP mapping is refreshed by outbound packets
# only (inbound_refresh = false, the default), so a stream the WAN host
# sends alone (-R) loses its mapping after the udp timer.
bg iperf lan2 5204 lan2-udp -u -b 20M
for h in lan1 lan2; do
    bg ip netns exec "$P-$h" ping -q -i 0.05 -w "$DURATION" 198.18.0.2 > "$WORK/$h-ping.txt" 2>&1
    # A new TCP connection (a new source port, so a new session) each time.
    bg ip netns exec "$P-$h" bash -c "end=\$((SECONDS + $DURATION)); while [ \$SECONDS -lt \$end ]; do
        curl -s -o /dev/null --max-time 5 -w '%{http_code}\n' http://198.18.0.2:8080/page.bin; sleep 0.1; done" \
        > "$WORK/$h-curl.txt" 2>&1
    bg ip netns exec "$P-$h" "$PY" "$HELPER" churn --dst 198.18.0.2 --port 7777 \
        --seconds "$DURATION" --rate 20 --icmp-every 4 > "$WORK/$h-churn.json"
done

alive() { kill -0 "$MASQ_PID" 2>/dev/null; }
# sample PHASE: one row of the CSV and a progress line.
sample() {
    alive || return 1
    if ns box curl -sf --max-time 5 http://127.0.0.1:9469/metrics > "$WORK/m"; then
        "$PY" "$HELPER" sample --metrics "$WORK/m" --pid "$MASQ_PID" --t "$(elapsed)" --phase "$1" --csv "$CSV"
    else
        SCRAPE_FAILURES=$((SCRAPE_FAILURES + 1))
        echo "soak: GET /metrics failed at $(elapsed) s"
    fi
}
# sleep_until SECONDS: waits until that many seconds after the start.
sleep_until() {
    local n=${EPOCHREALTIME/./} want=$(($1 * 1000000))
    local left=$((want - (n - start_us)))
    if [ "$left" -gt 0 ]; then sleep "$((left / 1000000)).$(printf '%06d' $((left % 1000000)))"; fi
}

DIED=0
at=$INTERVAL
while [ "$at" -le "$DURATION" ]; do
    sleep_until "$at"
    sample traffic || { DIED=1; break; }
    at=$((at + INTERVAL))
done

# --- stop the traffic (each process by its PID) -----------------------------
for _ in $(seq 150); do
    running=0
    for pid in "${TRAFFIC[@]}"; do kill -0 "$pid" 2>/dev/null && running=$((running + 1)); done
    [ "$running" -eq 0 ] && break
    sleep 0.1
done
for pid in "${TRAFFIC[@]}"; do kill "$pid" 2>/dev/null || true; done
declare -A STATUS
names=(lan1-tcp lan2-tcp-reverse lan1-udp lan2-udp)
for i in "${!TRAFFIC[@]}"; do
    rc=0
    wait "${TRAFFIC[$i]}" || rc=$?
    STATUS[$i]=$rc
done
# A curl the loops started last may still be running for up to its 5 s.
sleep 5
stop_s="$(elapsed)"
stop_at=${stop_s%.*}
echo "soak: traffic stopped at $stop_s s; waiting for the timers (udp ${T_UDP} s, tcp transitory ${T_TCP_TRANS} s, icmp ${T_ICMP} s, then the ${T_HOLD} s block hold)"

# --- wait for the timers ------------------------------------------------------
ZERO_AT=""
FREE_AT=""
if [ "$DIED" -eq 0 ]; then
    at=$((stop_at + INTERVAL))
    while :; do
        sleep_until "$at"
        sample settle || { DIED=1; break; }
        read -r s subs in_use held <<<"$("$PY" "$HELPER" last "$CSV" sessions subscribers blocks_in_use blocks_held)"
        if [ -z "$ZERO_AT" ] && [ "$s" -eq 0 ] && [ "$subs" -eq 0 ] && [ "$in_use" -eq 0 ]; then ZERO_AT=$at; fi
        if [ -n "$ZERO_AT" ] && [ "$held" -eq 0 ]; then FREE_AT=$at; break; fi
        if [ -z "$ZERO_AT" ] && [ "$at" -ge $((stop_at + LONGEST + MARGIN)) ]; then break; fi
        if [ -n "$ZERO_AT" ] && [ "$at" -ge $((ZERO_AT + T_HOLD + MARGIN)) ]; then break; fi
        at=$((at + INTERVAL))
    done
fi

# --- checks -------------------------------------------------------------------
verdict() { # OK|FAIL NAME DETAIL
    printf '%-4s %s: %s\n' "$1" "$2" "$3" | tee -a "$SUMMARY"
    if [ "$1" = FAIL ]; then FAILED=1; fi
}
: > "$SUMMARY"
echo
echo "== soak checks ==" | tee -a "$SUMMARY"
SOCK="$WORK/masq.sock"
if [ "$DIED" -eq 0 ] && alive; then
    ns box curl -sf --max-time 5 http://127.0.0.1:9469/metrics > "$WORK/m-end" || SCRAPE_FAILURES=$((SCRAPE_FAILURES + 1))
    "$MASQ" sessions --json --socket "$SOCK" > "$WORK/sessions.json" || echo '{}' > "$WORK/sessions.json"
    "$MASQ" sessions --socket "$SOCK" --limit 20 > "$WORK/sessions.txt" 2>&1 || true
    "$MASQ" subscribers --json --socket "$SOCK" > "$WORK/subscribers.json" || echo '{}' > "$WORK/subscribers.json"
    MASQ_RC=0
    masq_stop || MASQ_RC=$?
else
    DIED=1
    MASQ_RC=0
    wait "$MASQ_PID" || MASQ_RC=$?
    MASQ_PID=""
fi

# 1. RSS flat.
if read -r m2 m5 growth rmin rmax n2 n5 rfirst rlast < <("$PY" "$HELPER" rss "$CSV"); then
    bound=$((m2 * RSS_BOUND_PCT / 100))
    [ "$bound" -ge "$RSS_BOUND_KIB" ] || bound=$RSS_BOUND_KIB
    detail="median of the 2nd fifth $m2 KiB ($n2 samples), of the last fifth $m5 KiB ($n5), growth $growth KiB (bound $bound KiB); min $rmin max $rmax KiB"
    if [ "$growth" -le "$bound" ]; then verdict PASS "rss flat" "$detail"; else verdict FAIL "rss flat" "$detail"; fi
else
    verdict FAIL "rss flat" "too few samples to compare fifths"
fi

# 2. UMEM frames accounted for.
read -r umin umax <<<"$("$PY" "$HELPER" column-range "$CSV" unaccounted)"
read -r xmin xmax <<<"$("$PY" "$HELPER" column-range "$CSV" xsk_invalid)"
samples="$(($(wc -l < "$CSV") - 1))"
rep_bad="$(grep -E '^worker [0-9]+:' "$WORK/report.txt" 2>/dev/null | grep -vc 'frames unaccounted 0$' || true)"
rep_n="$(grep -cE '^worker [0-9]+:' "$WORK/report.txt" 2>/dev/null || true)"
rep_n="${rep_n:-0}" rep_bad="${rep_bad:-0}" umin="${umin:--1}" umax="${umax:--1}" xmin="${xmin:--1}" xmax="${xmax:--1}"
detail="masq_umem_frames_unaccounted min $umin max $umax over $samples samples, 0 on $((rep_n - rep_bad)) of $rep_n worker(s) in the report at exit; AF_XDP invalid descriptors $xmax"
if [ "$umin" -eq 0 ] && [ "$umax" -eq 0 ] && [ "$xmin" -eq 0 ] && [ "$xmax" -eq 0 ] \
    && [ "$rep_n" -ge 1 ] && [ "$rep_bad" -eq 0 ]; then
    verdict PASS "umem frames" "$detail"
else
    verdict FAIL "umem frames" "$detail"
fi

# 3. Sessions, subscribers and blocks back to zero.
if [ "$DIED" -eq 0 ] && [ -s "$WORK/m-end" ]; then
    read -r s subs in_use held free created expired removed balloc brel \
        <<<"$("$PY" "$HELPER" last "$CSV" sessions subscribers blocks_in_use blocks_held blocks_free created expired removed blocks_allocated blocks_released)"
    listed="$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("count", -1))' "$WORK/sessions.json")"
    subs_listed="$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["subscribers"]) if "subscribers" in d else -1)' "$WORK/subscribers.json")"
    detail="sessions $s (masq sessions lists $listed), subscribers $subs (masq subscribers lists $subs_listed), blocks in use $in_use, held $held, free $free; created $created = expired $expired + removed $removed, blocks allocated $balloc, released $brel"
    if [ -z "$ZERO_AT" ]; then
        detail="not zero within ${LONGEST} + ${MARGIN} s after the traffic: $detail"
    elif [ -z "$FREE_AT" ]; then
        detail="zero $((ZERO_AT - stop_at)) s after the traffic, but blocks still held ${T_HOLD} + ${MARGIN} s later: $detail"
    else
        detail="zero $((ZERO_AT - stop_at)) s and every block free $((FREE_AT - stop_at)) s after the traffic: $detail"
    fi
    if [ -n "$ZERO_AT" ] && [ -n "$FREE_AT" ] && [ "$s" -eq 0 ] && [ "$listed" -eq 0 ] && [ "$subs" -eq 0 ] \
        && [ "$subs_listed" -eq 0 ] && [ "$in_use" -eq 0 ] && [ "$held" -eq 0 ] \
        && [ "$created" -eq $((expired + removed)) ] && [ "$balloc" -eq "$brel" ]; then
        verdict PASS "back to zero" "$detail"
    else
        verdict FAIL "back to zero" "$detail"
        sed 's/^/  left| /' "$WORK/sessions.txt"
    fi
else
    verdict FAIL "back to zero" "masq died or did not answer; nothing to check"
fi

# 4. Alive, clean log, clean stop.
why=()
if [ "$DIED" -ne 0 ]; then
    why+=("masq died during the run (exit status $MASQ_RC)")
elif [ "$MASQ_RC" -ne 0 ]; then
    why+=("exit status $MASQ_RC after SIGTERM")
fi
[ "$SCRAPE_FAILURES" -eq 0 ] || why+=("$SCRAPE_FAILURES scrape(s) of /metrics failed")
grep -q '^== masq report ==$' "$WORK/report.txt" || why+=("no report at exit")
[ ! -e "$SOCK" ] || why+=("admin socket left behind")
# Until masq first names the WAN next hop (what masq_start waits for) it
# says what it found at start; such lines may be anything but a complaint.
# After that, in a run where nothing changes, only the next hop and the
# stop are expected: any other line (a stall, a netlink error, a reload)
# fails the check.
bad_log="$(awk '
    /panicked|RUST_BACKTRACE/ { print; next }
    !started && /^masq: WAN next hop / { started = 1; next }
    !started { if (tolower($0) ~ /error|warn|fail|refus|abort|stall|panic/) print; next }
    /^masq: WAN next hop / { next }
    /^masq: stopped; XDP programs detached$/ { next }
    { print }
' "$WORK/masq.log")"
[ -z "$bad_log" ] || why+=("unexpected log line(s): $(echo "$bad_log" | head -5 | paste -sd '|')")
grep -q '^masq: stopped; XDP programs detached$' "$WORK/masq.log" || why+=("no stop line in the log")
if [ "${#why[@]}" -eq 0 ]; then
    verdict PASS "clean run" "alive through $samples samples, every scrape answered, log clean ($(wc -l < "$WORK/masq.log") lines), SIGTERM: exit 0 with the report"
else
    verdict FAIL "clean run" "$(printf '%s; ' "${why[@]}")"
fi

# 5. Traffic flowed.
why=()
facts=()
for h in lan1 lan2; do
    read -r tx rx < <(sed -nE 's/^([0-9]+) packets transmitted, ([0-9]+) received.*/\1 \2/p' "$WORK/$h-ping.txt") || true
    if [ -z "${tx:-}" ] || [ "$tx" -eq 0 ]; then why+=("$h ping: no summary"); continue; fi
    loss=$(( (tx - rx) * 10000 / tx ))
    facts+=("$h ping $rx/$tx")
    [ "$loss" -le $((LOSS_BOUND_PCT * 100)) ] || why+=("$h ping lost $((tx - rx)) of $tx")
    tx=""
done
for i in "${!names[@]}"; do
    n="${names[$i]}"
    bytes="" lost=""
    read -r bytes lost < <("$PY" "$HELPER" iperf "$WORK/$n.json" 2>&1 | head -1) || true
    if [ "${STATUS[$i]}" -ne 0 ]; then why+=("iperf3 $n exit ${STATUS[$i]}: ${bytes:-} ${lost:-}"); continue; fi
    if ! [[ "${bytes:-}" =~ ^[0-9]+$ ]] || [ "$bytes" -eq 0 ]; then why+=("iperf3 $n moved no bytes (${bytes:-?} ${lost:-})"); continue; fi
    facts+=("iperf3 $n $((bytes / 1048576)) MiB${lost:+ (udp loss $lost %)}")
done
for h in lan1 lan2; do
    ok="$(grep -c '^200$' "$WORK/$h-curl.txt" || true)"
    all="$(grep -c . "$WORK/$h-curl.txt" || true)"
    facts+=("$h curl $ok/$all")
    if [ "$ok" -eq 0 ] || [ $(( (all - ok) * 100 )) -gt $((LOSS_BOUND_PCT * all)) ]; then why+=("$h curl $ok of $all answered"); fi
    read -r uok ufail iok ifail < <("$PY" -c '
import json,sys
d=json.load(open(sys.argv[1])); print(d["udp_ok"], d["udp_fail"], d["icmp_ok"], d["icmp_fail"])' "$WORK/$h-churn.json" 2>/dev/null) \
        || { why+=("$h churn: no counts"); continue; }
    facts+=("$h udp flows $uok/$((uok + ufail)) icmp echoes $iok/$((iok + ifail))")
    if [ "$uok" -eq 0 ] || [ $((ufail * 100)) -gt $((LOSS_BOUND_PCT * (uok + ufail))) ]; then why+=("$h udp flows: $ufail of $((uok + ufail)) failed"); fi
    if [ "$iok" -eq 0 ] || [ $((ifail * 100)) -gt $((LOSS_BOUND_PCT * (iok + ifail))) ]; then why+=("$h icmp echoes: $ifail of $((iok + ifail)) failed"); fi
done
if [ "${#why[@]}" -eq 0 ]; then
    verdict PASS "traffic" "$(printf '%s, ' "${facts[@]}" | sed 's/, $//')"
else
    verdict FAIL "traffic" "$(printf '%s; ' "${why[@]}") (${facts[*]})"
fi

# --- summary ------------------------------------------------------------------
{
    echo
    echo "== soak summary =="
    echo "traffic ${DURATION} s, samples every ${INTERVAL} s: $CSV"
    if [ -s "$CSV" ]; then
        read -r pmin pmax <<<"$("$PY" "$HELPER" column-range "$CSV" sessions traffic 2>/dev/null || echo '? ?')"
        read -r _ pin <<<"$("$PY" "$HELPER" column-range "$CSV" pps_in traffic 2>/dev/null || echo '? ?')"
        read -r _ pout <<<"$("$PY" "$HELPER" column-range "$CSV" pps_out traffic 2>/dev/null || echo '? ?')"
        read -r created expired drops <<<"$("$PY" "$HELPER" last "$CSV" created expired drops)"
        echo "sessions during the traffic: $pmin to $pmax; created $created, expired $expired"
        echo "rss (KiB): first sample ${rfirst:-?}, last of the traffic ${rlast:-?}, after the timers $("$PY" "$HELPER" last "$CSV" rss_kib)"
        echo "packets per second (largest sample): in $pin, out $pout"
        echo "drops: $drops in all: $([ -s "$WORK/m-end" ] && "$PY" "$HELPER" drops "$WORK/m-end" || echo '?')"
        if [ -s "$WORK/m-end" ]; then
            echo "kernel AF_XDP counters: $("$PY" "$HELPER" sums "$WORK/m-end" masq_xsk_rx_dropped_total \
                masq_xsk_rx_ring_full_total masq_xsk_fill_ring_empty_total masq_xsk_tx_ring_empty_total)"
            echo "frames the XDP program redirected / the worker received: $("$PY" "$HELPER" sums "$WORK/m-end" \
                'masq_xdp_frames_total{action=redirect}' 'masq_packets_total{direction=rx}')"
        fi
    fi
    echo "masq log: $RUN_DIR/masq.log, report: $RUN_DIR/report.txt"
} | tee -a "$SUMMARY"
cp "$WORK/masq.log" "$WORK/report.txt" "$WORK/masq.toml" "$RUN_DIR/" 2>/dev/null || true
for f in "$WORK"/*-ping.txt "$WORK"/*-curl.txt "$WORK"/*-churn.json "$WORK"/lan*.json; do
    [ -e "$f" ] && cp "$f" "$RUN_DIR/"
done
if [ "$FAILED" -ne 0 ]; then
    echo "soak: FAIL (see above; files in $RUN_DIR)"
    exit 1
fi
echo "soak: all checks passed (files in $RUN_DIR)"
