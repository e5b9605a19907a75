#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test of masq.
#
#   scripts/test.sh                 everything (about 25 minutes on 2 cores)
#   MASQ_FUZZ_SECONDS=0 scripts/test.sh   skip the short fuzzing run
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

ensure_cargo
if [ "$(id -u)" -ne 0 ]; then
    echo "[test] error: run as root: the dataplane tests create network namespaces" >&2
    exit 1
fi
# Build: clang/llvm/m4/libelf/zlib for xsk-rs and the XDP program, g++ for
# libFuzzer. Namespace tests: iproute2, ethtool, tcpdump, ping, curl, python3,
# prometheus (the server scrapes masq and answers the dashboard's queries;
# promtool checks the /metrics output), traceroute and
# scapy (the CGN features: TTL expiry, fragments). Benchmark
# smoke runs: iptables and nftables (the kernel NATs compared with), a font
# for the chart, scapy for the TRex profile check, luac for the pktgen script.
# systemd-analyze (package systemd) verifies control/masq.service.
# natpmpc: the real NAT-PMP client of tests/netns/pcp.sh. bird2: the
# routing daemons of tests/netns/scaleout.sh (each run with its own
# configuration and control socket in a namespace, never the service).
ensure_packages pkg-config g++ clang llvm m4 libelf-dev zlib1g-dev \
    iproute2 ethtool tcpdump iputils-ping curl python3 prometheus traceroute \
    iptables nftables fonts-dejavu-core python3-scapy lua5.4 iperf3 hping3 \
    systemd dnsmasq-base natpmpc bird2

# Each step starts by checking that /dev/null is still the null device: a
# step that replaced it with a regular file (a redirect after it was
# removed) would feed its writes to every later reader, cargo's rustc
# probes among them. The step that did it is named.
last_step="setup"
step() {
    if [ ! -c /dev/null ]; then
        echo "[test] error: /dev/null is no longer a character device after: $last_step" >&2
        exit 1
    fi
    last_step="$*"
    printf '\n[test] %s\n' "$*"
}

step "toolchain: $(cargo --version), $(rustc --version)"

step "format check"
cargo fmt --all --check || { echo "[test] run 'cargo fmt --all' to fix the layout above" >&2; exit 1; }

step "build (all targets)"
cargo build --workspace --all-targets --locked

step "lints (clippy, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "unit, table-driven, timer, property and fuzz-replay tests"
cargo test --workspace --locked

step "the systemd unit: systemd-analyze verify, its command lines (control/tests/systemd_unit.rs, not skipped)"
MASQ_REQUIRE_SYSTEMD=1 cargo test -p masq --locked --test systemd_unit

step "dataplane end to end in network namespaces (tests/netns/e2e.sh)"
tests/netns/e2e.sh target/debug/masq
step "the box and the NAT on one WAN address: the box's curl, ping, DNS, TCP server, long session and traceroute while subscribers hold every block, kernel MASQUERADE as the control (tests/netns/router.sh)"
tests/netns/router.sh target/debug/masq
step "subscribers open their own ports: PCP MAP, PEER, ANNOUNCE and every result code (tests/netns/pcp.py), natpmpc's UDP and TCP mappings reached from the WAN host, the ANNOUNCE after an address change (tests/netns/pcp.sh)"
tests/netns/pcp.sh target/debug/masq
step "scale-out over BGP and ECMP with BIRD 2: three boxes, the access router's resilient group, kill -9, a stalled worker, a lost WAN next hop (BFD), drain; convergence measured (tests/netns/scaleout.sh)"
tests/netns/scaleout.sh target/debug/masq
step "two workers on two-queue veths (tests/netns/workers.sh)"
tests/netns/workers.sh target/debug/masq
step "control plane: address following, /metrics, admin CLI, SIGHUP (tests/netns/control.sh)"
tests/netns/control.sh target/debug/masq
step "a real Prometheus: the front door (statuses, type, port in use), scrapes under traffic, every panel query of the Grafana dashboard answered (tests/netns/prometheus.sh)"
tests/netns/prometheus.sh target/debug/masq
step "masq under the systemd unit's capabilities, no_new_privs and read-only file system (tests/netns/systemd.sh)"
tests/netns/systemd.sh target/debug/masq
step "NAT event logging: IPFIX to a collector, syslog, metrics (tests/netns/eventlog.sh)"
tests/netns/eventlog.sh target/debug/masq
step "CGN features: static mappings, NAT-generated ICMP, MSS clamping, fragments, exclusions, IPFIX (tests/netns/cgn.sh)"
tests/netns/cgn.sh target/debug/masq
step "MTUs from the interfaces, followed while running; datagrams without DF cut into fragments both ways, 3/4 with DF; the kernel's MASQUERADE side by side (tests/netns/mtu.sh)"
tests/netns/mtu.sh target/debug/masq
step "faults under load: privileges, link flap, address removal, bad reload, stalled worker, SIGKILL and restart, another XDP program left alone (tests/netns/faults.sh)"
tests/netns/faults.sh target/debug/masq
step "malformed traffic: bad headers, checksums, options, fragments, protocols, TTL, broadcast, spoofed sources, unmapped ports; each counted by name, nothing leaked, a ping alongside loses nothing (tests/netns/malformed.sh)"
tests/netns/malformed.sh target/debug/masq
step "every IP protocol: GRE and ESP out and back (scapy), a second subscriber refused in masquerade and given the other address of a 2-address snat pool, sessions and metrics by protocol; the box's own GRE/ESP tunnels on the WAN address beside them; the kernel's MASQUERADE as the control (tests/netns/protocols.sh)"
tests/netns/protocols.sh target/debug/masq
step "floods and exhaustion: SYN/UDP floods from LAN and WAN, a full table, recovery after the timers, port and pool exhaustion (tests/netns/flood.sh, about 5 minutes)"
tests/netns/flood.sh target/debug/masq
step "soak: 45 s of mixed TCP/UDP/ICMP traffic, then the timers run out (scripts/soak.sh, about 7 minutes)"
MASQ_BIN=target/debug/masq scripts/soak.sh 45

step "the demo: scripts/demo.sh on the debug build, its printout checked (tests/netns/demo_check.sh)"
MASQ_BIN=target/debug/masq scripts/demo.sh > target/demo.txt 2>&1 || { cat target/demo.txt; exit 1; }
tests/netns/demo_check.sh target/demo.txt || { cat target/demo.txt; exit 1; }

step "core demo (in-memory frames)"
cargo run -q --locked -p masq-tests --example core_demo >/dev/null

step "core benchmark smoke run (figures from a quick run are not results)"
scripts/bench.sh core --quick

step "end-to-end benchmark smoke run: every system and measurement once, debug build (figures are not results)"
MASQ_BIN_DIR=target/debug bench/e2e.sh --quick --out target/bench/e2e-smoke

step "bare-metal kit: TRex profiles against stand-ins, pktgen script syntax"
/usr/bin/python3 bench/trex/check_profiles.py
luac5.4 -p bench/pktgen/nat44.lua && echo "luac5.4: bench/pktgen/nat44.lua parses"

# Every fuzz target (entry, views, icmp_error, config, pcp) for a bounded time.
fuzz_seconds="${MASQ_FUZZ_SECONDS:-15}"
if [ "$fuzz_seconds" -gt 0 ]; then
    step "fuzzing, ${fuzz_seconds} s per target"
    scripts/fuzz.sh "$fuzz_seconds" entry views icmp_error config pcp
fi

step "all tests passed"
