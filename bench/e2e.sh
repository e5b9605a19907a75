#!/usr/bin/env bash
# End-to-end benchmark on the namespace topology (scripts/topology.sh):
# masq side by side with the kernel's NAT and with a plain AF_XDP L2
# forwarder, all driven by the same generator and counted by the same sink.
#
# Systems (each in a fresh topology for every measurement):
#   masq          masq run, one worker pinned to the NAT core
#   iptables      iptables -t nat -A POSTROUTING -o wan0 -j MASQUERADE
#                 (iptables-legacy where installed, so that it is xtables
#                 and not a second nf_tables run)
#   nftables      an nftables `masquerade` rule on oifname "wan0"
#   l2-forwarder  masq run --l2-forward: the same AF_XDP worker with only
#                 the MACs rewritten, the I/O ceiling of this topology
#
# The kernel's NAT gets the same core as masq's worker: lan0's receive
# packet steering sends its stack work to the NAT core.
#
# Traffic: masq-gen send, pinned to the generator core in the switch's
# namespace, replays 60-byte UDP frames (64 on the wire) through the
# kernel's live-frames XDP test run straight into the box's lan0, from
# 100.64.0.0/20 (4096 subscribers) to 198.18.1.0/24 (256 destinations) port
# 9. masq-gen sink on the WAN host counts and drops them at XDP, in a window
# that opens after a warm-up. Measurements (JSON `name`):
#   mpps_1flow, mpps_10k, mpps_1m   delivered Mpps over 1, 10 000, 1 048 576 flows
#   new_flows_per_s                 delivered frames per second when every
#                                   frame is a new flow (each one a new session)
#   rtt_p50_us, rtt_p99_us          UDP echo from a LAN host to the WAN host
#                                   through the box, 1000 probes per second
#   cpu_s_per_mpkt                  busy seconds of the NAT core (from
#                                   /proc/stat) per million frames delivered,
#                                   in the 10k-flow run
#
#   bench/e2e.sh [--quick] [--reps N] [--seconds S] [--warmup S]
#                [--systems "masq iptables nftables l2-forwarder"]
#                [--measures "mpps_1flow mpps_10k mpps_1m new_flows rtt"]
#                [--out DIR]
#
# Needs root and target/release/{masq,masq-gen,bench-report} (scripts/bench.sh
# e2e builds them; MASQ_BIN_DIR=target/debug uses a debug build, for a smoke
# run only). Exits 1 when a run gave no result or delivered nothing. Writes DIR/runs.jsonl (one line per run), and through
# bench-report DIR/summary.jsonl, DIR/table.md and DIR/chart.png. The
# kernel's conntrack limits are raised for the run and restored after it.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/topology.sh

REPS=3
SECS=5
WARMUP=2
SYSTEMS="masq iptables nftables l2-forwarder"
MEASURES="mpps_1flow mpps_10k mpps_1m new_flows rtt"
OUT=target/bench/e2e
RTT_COUNT=2000
NAT_CORE="${NAT_CORE:-0}"
GEN_CORE="${GEN_CORE:-1}"
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) REPS=1 SECS=1 WARMUP=1 RTT_COUNT=200 ;;
        --reps) REPS="$2"; shift ;;
        --seconds) SECS="$2"; shift ;;
        --warmup) WARMUP="$2"; shift ;;
        --systems) SYSTEMS="$2"; shift ;;
        --measures) MEASURES="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "e2e: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
for s in $SYSTEMS; do
    case "$s" in masq | iptables | nftables | l2-forwarder) ;; *) echo "e2e: unknown system '$s'" >&2; exit 2 ;; esac
done
for m in $MEASURES; do
    case "$m" in mpps_1flow | mpps_10k | mpps_1m | new_flows | rtt) ;; *) echo "e2e: unknown measure '$m'" >&2; exit 2 ;; esac
done
BIN="${MASQ_BIN_DIR:-target/release}"
GEN=$BIN/masq-gen
MASQ=$BIN/masq
REPORT=$BIN/bench-report
for b in "$GEN" "$MASQ" "$REPORT"; do
    [ -x "$b" ] || { echo "e2e: $b is missing: run scripts/bench.sh e2e (it builds first)" >&2; exit 2; }
done
IPT=iptables
command -v iptables-legacy >/dev/null && IPT=iptables-legacy
case " $SYSTEMS " in *" iptables "*) command -v "$IPT" >/dev/null || { echo "e2e: iptables is missing (apt-get install iptables)" >&2; exit 2; } ;; esac
case " $SYSTEMS " in *" nftables "*) command -v nft >/dev/null || { echo "e2e: nft is missing (apt-get install nftables)" >&2; exit 2; } ;; esac

BENCH_POOL=198.19.0.0/24
topo_session
# The 1M-flow and new-flow runs need more conntrack entries than the
# kernel's default; the limits are global (the initial namespace's).
modprobe nf_conntrack 2>/dev/null || true
CT=/proc/sys/net/netfilter
saved_ct=""
if [ -w "$CT/nf_conntrack_max" ]; then
    saved_ct="$(cat "$CT/nf_conntrack_max") $(cat "$CT/nf_conntrack_buckets")"
    echo 4194304 > "$CT/nf_conntrack_max"
    echo 1048576 > "$CT/nf_conntrack_buckets"
fi
restore_ct() {
    if [ -n "$saved_ct" ]; then
        set -- $saved_ct
        echo "$1" > "$CT/nf_conntrack_max"
        echo "$2" > "$CT/nf_conntrack_buckets"
    fi
}
trap 'restore_ct; topo_cleanup' EXIT

mkdir -p "$OUT"
RUNS="$OUT/runs.jsonl"
: > "$RUNS"

bench_config() {
    cat <<EOF
lan = "lan0"
wan = "wan0"
mode = "snat"
inside = ["100.64.0.0/10", "192.168.50.0/24"]
pool = ["$BENCH_POOL"]
workers = 1
cores = [$NAT_CORE]
max_sessions = 8388608
max_subscribers = 65536
admin_socket = "$WORK/masq.sock"
metrics_listen = "off"
EOF
}

# start_system SYSTEM: brings the system up in the box of the current
# topology.
start_system() {
    local system="$1"
    ns box ip route add 100.64.0.0/10 dev lan0
    ns wan ip route add "$BENCH_POOL" via 198.18.0.1
    case "$system" in
        masq | l2-forwarder)
            bench_config > "$WORK/masq.toml"
            local extra=()
            if [ "$system" = l2-forwarder ]; then
                extra=(--l2-forward)
                # Replies to inside hosts cross the forwarder untranslated.
                ns wan ip route add 192.168.50.0/24 via 198.18.0.1
            fi
            masq_start "$MASQ" "${extra[@]}" || { sed 's/^/  masq| /' "$WORK/masq.log" >&2; return 1; }
            ;;
        iptables | nftables)
            ns box sysctl -qw net.ipv4.ip_forward=1
            if [ "$system" = iptables ]; then
                ns box "$IPT" -t nat -A POSTROUTING -o wan0 -j MASQUERADE
            else
                ns box nft -f - <<'EOF'
table ip masq_bench {
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan0" masquerade
    }
}
EOF
            fi
            # Stack work of lan0 on the NAT core, as masq's worker.
            printf '%x' $((1 << NAT_CORE)) | ns box tee /sys/class/net/lan0/queues/rx-0/rps_cpus >/dev/null
            # A veth takes frames redirected to it only with an XDP program.
            # (Not through `ns`: $! must be the program, not a subshell.)
            ip netns exec "$TOPO_PREFIX-box" "$GEN" pass --iface lan0 --seconds 3600 &
            PIDS+=($!)
            ns box ping -c 1 -W 2 198.18.0.2 >/dev/null
            sleep 0.2
            ;;
    esac
}

stop_system() {
    local system="$1"
    if [ "$system" = masq ] || [ "$system" = l2-forwarder ]; then masq_stop || true; fi
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    PIDS=()
}

# calc EXPR [FORMAT]: arithmetic on decimals.
calc() { awk "BEGIN { printf \"${2:-%.3f}\", $1 }"; }

# json_field NAME: the number after "NAME": on stdin.
json_field() { sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p"; }

record() { # SYSTEM NAME VALUE UNIT REP [EXTRA_JSON]
    printf '{"system":"%s","name":"%s","value":%s,"unit":"%s","rep":%d%s}\n' "$1" "$2" "$3" "$4" "$5" "${6:-}" >> "$RUNS"
}

# run_traffic SYSTEM MEASURE REP: one throughput run.
run_traffic() {
    local system="$1" measure="$2" rep="$3" flows hosts=4096 dsts=256
    case "$measure" in
        mpps_1flow) flows=1 hosts=1 dsts=1 ;;
        mpps_10k) flows=10000 ;;
        mpps_1m) flows=1048576 ;;
        new_flows) flows=0 ;;
    esac
    local mac
    mac="$(ns box cat /sys/class/net/lan0/address)"
    ns wan "$GEN" sink --iface w0 --warmup "$WARMUP" --seconds "$SECS" --core "$NAT_CORE" > "$WORK/sink.json" &
    local sink=$!
    sleep 0.3
    ns sw taskset -c "$GEN_CORE" "$GEN" send --iface s0 --dst-mac "$mac" --src 100.64.0.0 --dst 198.18.1.0 \
        --flows "$flows" --hosts "$hosts" --dsts "$dsts" --seconds "$(calc "$WARMUP + $SECS + 0.5")" > "$WORK/gen.json"
    wait "$sink"
    local mpps frames secs core offered
    if [ ! -s "$WORK/sink.json" ]; then
        echo "e2e: $system $measure: the sink reported nothing" >&2
        return 1
    fi
    mpps="$(json_field mpps < "$WORK/sink.json")"
    frames="$(json_field frames < "$WORK/sink.json")"
    secs="$(json_field seconds < "$WORK/sink.json")"
    core="$(json_field core_busy_s < "$WORK/sink.json")"
    offered="$(json_field mpps < "$WORK/gen.json")"
    if [ "$frames" -eq 0 ]; then
        echo "e2e: $system $measure: nothing delivered (offered $offered Mpps)" >&2
        return 1
    fi
    local extra=",\"offered_mpps\":$offered,\"flows\":$flows"
    if [ "$measure" = new_flows ]; then
        local rate
        rate="$(calc "$frames / $secs" %.0f)"
        record "$system" new_flows_per_s "$rate" "flows/s" "$rep" "$extra"
        echo "e2e: $system new flows: $rate/s (offered $offered Mpps)" >&2
    else
        record "$system" "$measure" "$mpps" Mpps "$rep" "$extra"
        echo "e2e: $system $measure: $mpps Mpps delivered (offered $offered Mpps)" >&2
        if [ "$measure" = mpps_10k ] && [ "$frames" -gt 0 ]; then
            record "$system" cpu_s_per_mpkt "$(calc "$core / ($frames / 1000000)" %.4f)" "s/Mpkt" "$rep"
        fi
    fi
}

# run_rtt SYSTEM REP: round trips from a LAN host to the WAN host's echo.
run_rtt() {
    local system="$1" rep="$2"
    # The hosts' ends on the generator core: the NAT core is the NAT's.
    ip netns exec "$TOPO_PREFIX-wan" taskset -c "$GEN_CORE" "$GEN" echo --listen 0.0.0.0:7 --seconds 3600 &
    PIDS+=($!)
    sleep 0.3
    if ! ns lan1 taskset -c "$GEN_CORE" "$GEN" rtt --to 198.18.0.2:7 --count "$RTT_COUNT" --rate 1000 > "$WORK/rtt.json"; then
        echo "e2e: $system: no round trip answered" >&2
        return 1
    fi
    local p50 p99 got
    p50="$(json_field p50_us < "$WORK/rtt.json")"
    p99="$(json_field p99_us < "$WORK/rtt.json")"
    got="$(json_field received < "$WORK/rtt.json")"
    record "$system" rtt_p50_us "$p50" us "$rep" ",\"received\":$got,\"sent\":$RTT_COUNT"
    record "$system" rtt_p99_us "$p99" us "$rep" ",\"received\":$got,\"sent\":$RTT_COUNT"
    echo "e2e: $system round trip: p50 $p50 us, p99 $p99 us ($got/$RTT_COUNT answered)" >&2
}

total=$(($(wc -w <<< "$SYSTEMS") * $(wc -w <<< "$MEASURES") * REPS))
run_no=0
failed=0
echo "e2e: $REPS repetition(s) of [$MEASURES] on [$SYSTEMS]; ${WARMUP}s warm-up + ${SECS}s window; NAT core $NAT_CORE, generator core $GEN_CORE" >&2
# Systems interleave within each repetition, so that drift in the machine
# spreads over all of them.
for rep in $(seq "$REPS"); do
    for measure in $MEASURES; do
        for system in $SYSTEMS; do
            run_no=$((run_no + 1))
            echo "e2e: [$run_no/$total] rep $rep, $system, $measure" >&2
            topo_up "mqe$$$RANDOM"
            if start_system "$system"; then
                if [ "$measure" = rtt ]; then
                    run_rtt "$system" "$rep" || failed=$((failed + 1))
                else
                    run_traffic "$system" "$measure" "$rep" || failed=$((failed + 1))
                fi
            else
                echo "e2e: $system did not start; no result for this run" >&2
                failed=$((failed + 1))
            fi
            stop_system "$system"
            topo_down "$TOPO_PREFIX"
            TOPO_PREFIX=""
        done
    done
done
"$REPORT" "$RUNS" "$OUT"
echo "e2e: runs in $RUNS; summary in $OUT/summary.jsonl, $OUT/table.md, $OUT/chart.png" >&2
if [ "$failed" -gt 0 ]; then
    echo "e2e: $failed of $total run(s) gave no result (see above)" >&2
    exit 1
fi
